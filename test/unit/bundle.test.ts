/**
 * The pandora_ha bundle (lib/bundle.ts): one self-contained file that Node runs, and the plan
 * step that carries it (gzip + base64 on stdin, its hash in the triggers).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { OPTIONAL_EXTERNALS, buildDaemonBundle } from "../../lib/bundle";
import { parseConfig } from "../../lib/config";
import { buildPlan, bundleHash, stepBundle, stepTriggers } from "../../lib/plan";
import type { HostStep } from "../../lib/plan";
import { stackConfig } from "./mocks";

describe("buildDaemonBundle", () => {
  const b = buildDaemonBundle();

  test("is built once per process and hashed", () => {
    expect(buildDaemonBundle()).toBe(b);
    expect(b.hash).toBe(createHash("sha256").update(b.js).digest("hex").slice(0, 16));
    expect(b.js.length).toBeGreaterThan(0);
  });

  test("CommonJS for Node, no source map, no shebang", () => {
    expect(b.js.startsWith("#!")).toBe(false);
    expect(b.js.startsWith('"use strict";')).toBe(true);
    expect(b.js).not.toMatch(/sourceMappingURL/);
  });

  test("self-contained: at run time it requires Node's own modules only (and optional ones, inside try/catch)", () => {
    const builtins = new Set(builtinModules);
    expect(b.externals.length).toBeGreaterThan(0);
    for (const e of b.externals) expect(e.startsWith("node:") || builtins.has(e) || OPTIONAL_EXTERNALS.includes(e), e).toBe(true);
  });

  test("runs with node from a directory of its own, and exits with the code main returns", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pha-bundle-"));
    try {
      const file = path.join(dir, "pandora_ha.js");
      writeFileSync(file, b.js, { mode: 0o644 });
      const r = spawnSync(process.execPath, [file, "--help"], { cwd: dir, encoding: "utf8", timeout: 30_000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
      expect(r.error).toBeUndefined();
      expect(r.stderr).not.toMatch(/Cannot find module/);
      expect(r.signal).toBeNull();
      expect(typeof r.status).toBe("number");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the pandora-ha step carries the bundle", () => {
  const cfg = parseConfig(stackConfig({
    platform: "existing",
    dbNodes: [{ name: "db1", host: "10.0.0.11" }, { name: "db2", host: "10.0.0.12" }],
    servers: [{ name: "pfms1", host: "10.0.0.21" }],
    ssh: { user: "root", port: 22, privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----" },
  }));
  const plan = buildPlan(cfg, { binlogVolumes: false });
  const step = plan.find((s) => s.id === "servers/pfms1/pandora-ha")!;

  test("as a gzip + base64 shell variable that is not exported, ahead of the script", () => {
    const bundle = stepBundle(step);
    const m = /^DAEMON_JS_GZ_B64='([A-Za-z0-9+/=]+)'$/m.exec(bundle);
    expect(m).not.toBeNull();
    expect(gunzipSync(Buffer.from(m![1], "base64")).toString("utf8")).toBe(buildDaemonBundle().js);
    expect(bundle).not.toMatch(/export DAEMON_JS_GZ_B64/);
    expect(bundle.indexOf("DAEMON_JS_GZ_B64='")).toBeLessThan(bundle.indexOf("# ---- server-pandora-ha.sh"));
  });

  test("its triggers: the scripts' hash, the bundle's hash and its unit in plain text; a daemon change changes them, a script-only step keeps one hash", () => {
    const t = stepTriggers(step);
    expect(t).toEqual([expect.stringMatching(/^[0-9a-f]{16}$/), buildDaemonBundle().hash, expect.stringMatching(/^systemd unit \(\/etc\/systemd\/system\/pandora_ha\.service\)\n[^]*^\[Unit\]$/m)]);
    const changedDaemon: HostStep = { ...step, blobs: { DAEMON_JS_GZ_B64: { content: () => `${buildDaemonBundle().js}\n// v2` } } };
    const t2 = stepTriggers(changedDaemon);
    expect(t2[0]).toBe(t[0]);
    expect(t2[1]).not.toBe(t[1]);
    const conf = plan.find((s) => s.id === "servers/pfms1/pandora-conf")!;
    expect(stepTriggers(conf)).toEqual([bundleHash(stepBundle(conf))]);
  });
});
