/**
 * pandora_ha's command line: bad arguments and bad configuration give a clear message and exit 2
 * before anything is touched (no pid file, no connection); check-config lists every problem.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { main } from "../../runtime/cli";

const FIX = join(__dirname, "../fixtures/conf");
let out = "";
let err = "";

beforeEach(() => {
  out = "";
  err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

/** A valid conf whose pid file and state dir live in a temporary directory. */
function conf(): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "pha-cli-"));
  const path = join(dir, "pandora_server.conf");
  writeFileSync(
    path,
    `${readFileSync(join(FIX, "valid-defaults.conf"), "utf8")}\nha_pid_file ${dir}/pandora_ha.pid\nha_state_dir ${dir}/state\nha_log_file ${dir}/ha.log\nha_resync ${dir}/resync.sh\n`,
  );
  return { path, dir };
}

describe("pandora_ha command line", () => {
  test("check-config: OK for a valid file, exit 0", async () => {
    expect(await main(["check-config", conf().path])).toBe(0);
    expect(out).toMatch(/OK — ha_hosts /);
    // The fixture keeps the original's defaults: every account is the Pandora one.
    expect(out).toMatch(/: warning: ha_dbuser is the Pandora account/);
  });

  test("check-config: every problem with its line and token, exit 2", async () => {
    const f = join(FIX, "multi-mistakes.conf");
    expect(await main(["check-config", f])).toBe(2);
    expect(err).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+: \\w+: `, "m"));
    expect(err).toMatch(/9 problem\(s\)/);
  });

  test("from the repository, as an administrator checks a conf before deploying: npm run pandora_ha -- check-config", () => {
    const f = join(FIX, "multi-mistakes.conf");
    const r = spawnSync("npm", ["run", "-s", "pandora_ha", "--", "check-config", f], { cwd: join(__dirname, "../.."), encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/9 problem\(s\)/);
    const ok = spawnSync("npm", ["run", "-s", "pandora_ha", "--", "check-config", conf().path], { cwd: join(__dirname, "../.."), encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/OK — ha_hosts /);
  });

  test("running the daemon with a bad file: exit 2, no pid file written", async () => {
    const { dir } = conf();
    const bad = join(dir, "bad.conf");
    writeFileSync(bad, `ha_hosts 10.0.0.1\ndbpass secret-pass-1\nha_pid_file ${dir}/pandora_ha.pid\n`);
    expect(await main(["-p", join(dir, "x.pid"), bad])).toBe(2);
    expect(err).toMatch(/ha_hosts/);
    expect(err).toMatch(/nothing was done/);
    expect(existsSync(join(dir, "x.pid"))).toBe(false);
    expect(existsSync(join(dir, "pandora_ha.pid"))).toBe(false);
  });

  test.each([
    [["-x", "a.conf"], /unknown option -x/],
    [["-p"], /-p needs a pid file path/],
    [["a.conf", "b.conf"], /expected one pandora_server.conf path, got 2 arguments/],
    [[], /expected one pandora_server.conf path/],
    [["status"], /status takes the pandora_server.conf path/],
    [["status", "a.conf", "--yaml"], /status takes the pandora_server.conf path and optionally --json/],
    [["switchover", "a.conf"], /switchover takes/],
    [["resync", "a.conf", "m"], /resync takes/],
    [["failover", "a.conf"], /failover takes the pandora_server.conf path and the host to promote/],
    [["failover", "a.conf", "db2", "--now"], /failover: unknown option --now/],
    [["check-config"], /check-config takes one argument/],
  ])("bad arguments %j: exit 2 with the usage", async (argv, message) => {
    expect(await main(argv)).toBe(2);
    expect(err).toMatch(message);
  });

  test("switchover and resync name hosts of ha_hosts only; resync needs two different ones", async () => {
    const { path } = conf();
    expect(await main(["switchover", path, "10.9.9.9"])).toBe(2);
    expect(err).toMatch(/10\.9\.9\.9 is not in ha_hosts/);
    err = "";
    expect(await main(["resync", path, "10.9.9.9", "db2"])).toBe(2);
    expect(err).toMatch(/is not in ha_hosts/);
    err = "";
    expect(await main(["failover", path, "10.9.9.9", "--force"])).toBe(2);
    expect(err).toMatch(/10\.9\.9\.9 is not in ha_hosts/);
  });

  test("resync runs ha_resync with the original's arguments, exits with its code, and logs its start and end", async () => {
    const { path, dir } = conf();
    // Loopback hosts on a port nobody listens on: the events cannot reach tevento, and say so.
    const text = readFileSync(path, "utf8").replace(/^ha_hosts .*$/m, "ha_hosts 127.0.0.1,127.0.0.2").replace(/^dbport .*$/m, "");
    writeFileSync(path, `${text}\ndbport 1\n`);
    writeFileSync(join(dir, "resync.sh"), `#!/bin/sh\necho "$@" > ${dir}/args\nexit 3\n`);
    chmodSync(join(dir, "resync.sh"), 0o755);
    expect(await main(["resync", path, "127.0.0.1", "127.0.0.2"])).toBe(3);
    expect(readFileSync(join(dir, "args"), "utf8").trim()).toBe(`${path} 127.0.0.1 127.0.0.2`);
    const events = readFileSync(join(dir, "ha.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event?: string; message?: string });
    expect(events.map((e) => e.message)).toEqual(["resync of 127.0.0.2 from 127.0.0.1 started", `resync of 127.0.0.2 from 127.0.0.1 failed (exit 3, see /var/log/pandora/pandora_ha_resync.log)`]);
    expect(err).toMatch(/the resync events were not written to tevento on 127\.0\.0\.1/);
  });

  test("a second daemon with the same pid file is refused while the first runs", async () => {
    const { path, dir } = conf();
    const pid = join(dir, "p.pid");
    writeFileSync(pid, `${process.pid}\n`);
    expect(await main(["-p", pid, path])).toBe(1);
    expect(err).toMatch(new RegExp(`already running \\(pid ${process.pid}`));
  });
});
