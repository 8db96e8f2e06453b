/**
 * The host scripts: lint (shellcheck, bash -n), real runs of the pure ones
 * (server-pandora-conf.sh, common.sh helpers) on temporary files, parameter checking of every
 * script, and the contract between lib/plan.ts and the scripts (names passed = names read,
 * names required ⊆ names passed).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { parseConfig } from "../../lib/config";
import { buildPlan, resolveValue, scriptBundle } from "../../lib/plan";
import type { HostStep } from "../../lib/plan";

const ROOT = path.join(__dirname, "..", "..");
const SCRIPTS = path.join(ROOT, "scripts");
const FIXTURE = path.join(ROOT, "test", "fixtures", "pandora_server.conf");

/** Tools with positional arguments (the original's interface), installed by a step, not run as one. */
const TOOL_SCRIPTS = ["pandora_ha_resync_slave.sh", "pandora_ha_guard.sh"];
const allScripts = readdirSync(SCRIPTS).filter((f) => f.endsWith(".sh")).sort();
/** Step scripts: parameters from the environment. */
const scriptNames = allScripts.filter((f) => !TOOL_SCRIPTS.includes(f));
const libNames = readdirSync(path.join(SCRIPTS, "lib")).filter((f) => f.endsWith(".sh")).map((f) => path.join("lib", f));
const allShellFiles = [...allScripts, ...libNames].map((f) => path.join(SCRIPTS, f));

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), "pha-test-"));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  while (tmpDirs.length) rmSync(tmpDirs.pop()!, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  out: string;
}
function run(cmd: string, args: string[], env: Record<string, string>, input?: string): Run {
  const r = spawnSync(cmd, args, { env, input, encoding: "utf8", timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out: r.stdout + r.stderr };
}
const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? "/usr/bin:/bin" });

/** The names a script lists in `require_env` (the parameters it cannot run without). */
function requiredVars(script: string): string[] {
  const text = readFileSync(path.join(SCRIPTS, script), "utf8").replace(/\\\n/g, " ");
  const m = /^require_env ([A-Z0-9_ ]+)$/m.exec(text);
  return m ? m[1].trim().split(/\s+/) : [];
}

describe("lint", () => {
  test("there are scripts to check", () => {
    expect(scriptNames.length).toBeGreaterThanOrEqual(10);
    expect(libNames).toContain(path.join("lib", "common.sh"));
  });

  test("shellcheck -x finds nothing in scripts/*.sh and scripts/lib/*.sh", () => {
    const r = spawnSync("shellcheck", ["-x", ...allShellFiles], { cwd: ROOT, encoding: "utf8" });
    if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error("shellcheck is not installed: apt-get install shellcheck");
    }
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
    // shellcheck -x over every script took 63 s on this machine while a lab ran beside it.
  }, 180_000);

  test.each(allShellFiles.map((f) => [path.relative(SCRIPTS, f), f]))("bash -n %s", (_name, file) => {
    const r = run("bash", ["-n", file], baseEnv());
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  test.each(allScripts)("%s has the standard header (strict mode, common.sh when not inlined)", (script) => {
    const text = readFileSync(path.join(SCRIPTS, script), "utf8");
    expect(text.startsWith("#!/usr/bin/env bash\n# ")).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);
    expect(text).toContain('if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then');
    // Never delete a datadir or relay log.
    expect(text).not.toMatch(/rm -r[f]?\s+[^\n]*(DATADIR|datadir|relay)/);
  });
});

describe("required parameters", () => {
  test.each(scriptNames)("%s declares its required parameters", (script) => {
    expect(requiredVars(script).length).toBeGreaterThan(0);
  });

  test.each(scriptNames)("%s run with only PATH set fails and names a missing variable", (script) => {
    const required = requiredVars(script);
    const r = run("bash", [path.join(SCRIPTS, script)], baseEnv());
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(required[0]);
    expect(r.stderr).toMatch(/missing/);
    expect(r.stdout).toBe("");
  });

  test.each(scriptNames)("%s inlined after common.sh (as the plan runs it) fails the same way", (script) => {
    const dir = tmp();
    const file = path.join(dir, "bundle.sh");
    writeFileSync(file, scriptBundle(script), { mode: 0o600 });
    const r = run("bash", [file], baseEnv());
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(requiredVars(script)[0]);
  });

  // Every other required variable is set to a value no validation accepts, so even a script
  // that did not stop at the missing one would stop before changing anything.
  const cases = scriptNames.flatMap((s) => requiredVars(s).map((v) => [s, v] as const));
  test.each(cases)("%s without %s stops and names it", (script, missing) => {
    const env = baseEnv();
    for (const v of requiredVars(script)) if (v !== missing) env[v] = "not valid!";
    const r = run("bash", [path.join(SCRIPTS, script)], env);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`\\b${missing}\\b`));
    expect(r.stdout).not.toMatch(/changed:/);
  });

  test.each(scriptNames)("%s with every parameter present but invalid stops before changing anything", (script) => {
    const env = baseEnv();
    for (const v of requiredVars(script)) env[v] = "not valid!";
    const r = run("bash", [path.join(SCRIPTS, script)], env);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR: .*[A-Z_]{4,}/);
    expect(r.stdout).not.toMatch(/changed:/);
  });
});

describe("plan ↔ scripts contract", () => {
  const existing = {
    "pandora-ha:platform": "existing",
    "pandora-ha:os": "ubuntu2204",
    "pandora-ha:dbFlavor": "mariadb1011",
    "pandora-ha:dbNodes": JSON.stringify([
      { name: "db1", host: "10.0.0.11" },
      { name: "db2", host: "10.0.0.12" },
    ]),
    "pandora-ha:servers": JSON.stringify([
      { name: "pfms1", host: "10.0.0.21" },
      { name: "pfms2", host: "10.0.0.22" },
    ]),
    "pandora-ha:ssh": JSON.stringify({
      user: "root",
      port: 22,
      privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
    }),
    "pandora-ha:sharedStorage": "nfs",
    "pandora-ha:nfsExport": "nas1:/export/pandora",
  };
  const plans: Array<[string, HostStep[]]> = [
    ["mariadb1011 on ubuntu2204", buildPlan(parseConfig(existing), { binlogVolumes: true, sharedSource: "nas1:/export/pandora" })],
    [
      "percona80 on rocky9",
      buildPlan(parseConfig({ ...existing, "pandora-ha:os": "rocky9", "pandora-ha:dbFlavor": "percona80" }), {
        binlogVolumes: true,
        sharedSource: "nas1:/export/pandora",
      }),
    ],
    [
      "mounted shared storage",
      buildPlan(
        parseConfig({
          ...Object.fromEntries(Object.entries(existing).filter(([k]) => k !== "pandora-ha:nfsExport")),
          "pandora-ha:sharedStorage": "mounted",
          "pandora-ha:sharedPath": "/mnt/cephfs/pandora",
        }),
        { binlogVolumes: true },
      ),
    ],
  ];

  test.each(plans)("%s: every step's script exists", (_name, steps) => {
    expect(steps.length).toBeGreaterThan(10);
    for (const s of steps) expect(existsSync(path.join(SCRIPTS, s.script)), `${s.id}: scripts/${s.script}`).toBe(true);
    // Every script is used by the plan: run as a step, or installed by one.
    expect(new Set(steps.flatMap((s) => [s.script, ...Object.values(s.files)]))).toEqual(new Set(allScripts));
  });

  test.each(plans)("%s: a guard step per DB node, after its bootstrap, watching every other node's address and port", (_name, steps) => {
    const db = [...new Set(steps.filter((s) => s.group === "db").map((s) => s.host))];
    expect(db.length).toBeGreaterThanOrEqual(2);
    for (const n of db) {
      const g = steps.find((s) => s.id === `db/${n}/guard`)!;
      expect(g.script).toBe("db-guard.sh");
      expect(g.dependsOn).toEqual([`db/${n}/bootstrap`]);
      expect(g.files).toEqual({ GUARD_B64: "pandora_ha_guard.sh" });
      expect(g.env.FENCE_AFTER_MS).toBe("4000");
      const peers = resolveValue(g.env.PEERS, (r) => r.replace(/^address:/, "@"));
      expect(peers).toBe(db.filter((o) => o !== n).map((o) => `@${o}:3306`).join(" "));
    }
  });

  test.each(plans)("%s: every parameter a step passes is read by its script", (_name, steps) => {
    for (const s of steps) {
      const text = readFileSync(path.join(SCRIPTS, s.script), "utf8");
      for (const name of [...Object.keys(s.env), ...Object.keys(s.secretEnv), ...Object.keys(s.files), ...Object.keys(s.blobs)]) {
        expect(new RegExp(`\\$\\{?${name}\\b|\\b${name}\\b`).test(text), `${s.id}: ${s.script} never reads ${name}`).toBe(true);
      }
    }
  });

  test.each(plans)("%s: every parameter a script requires is passed by its steps", (_name, steps) => {
    for (const s of steps) {
      const passed = new Set([...Object.keys(s.env), ...Object.keys(s.secretEnv), ...Object.keys(s.files), ...Object.keys(s.blobs), ...s.texts.flatMap((t) => (t.param ? [t.param] : []))]);
      for (const v of requiredVars(s.script)) expect(passed.has(v), `${s.id}: ${s.script} requires ${v}`).toBe(true);
    }
  });

  test.each(plans)("%s: secrets go in secretEnv, and the scripts mark them as secret", (_name, steps) => {
    for (const s of steps) {
      const text = readFileSync(path.join(SCRIPTS, s.script), "utf8");
      for (const name of Object.keys(s.secretEnv)) {
        expect(text, `${s.script} must list ${name} in PHA_SECRET_VARS`).toMatch(new RegExp(`PHA_SECRET_VARS=\\([^)]*\\b${name}\\b`));
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// server-pandora-conf.sh, for real

const SECRET_DBPASS = "Db&Pa\\ss%/w0rd";
const SECRET_HAPASS = "Ha\\\\n&amp;pw";
const TOKENS: Array<[string, string]> = [
  ["servername", "pfms1"],
  ["master", "1"],
  ["dbhost", "10.0.0.11"],
  ["dbport", "3306"],
  ["dbname", "pandora"],
  ["dbuser", "pandora"],
  ["dbpass", SECRET_DBPASS],
  ["ha_hosts", "10.0.0.11,10.0.0.12"],
  ["ha_dbuser", "pandora_ha"],
  ["ha_dbpass", SECRET_HAPASS],
  ["repl_dbuser", "slaveuser"],
  ["repl_dbpass", "R3plPass"],
  ["mta_from", "Pandora FMS HA <ha@example.com>"],
  ["ha_connect_delay", "1"],
  ["splitbrain_autofix", "0"],
  ["restart", "0"],
];
const tokensText = (t: Array<[string, string]>): string => t.map(([k, v]) => `${k} ${v}\n`).join("");

function confRun(conf: string, tokens: string, stateDir: string): Run {
  return run("bash", [path.join(SCRIPTS, "server-pandora-conf.sh")], {
    ...baseEnv(),
    PHA_STATE_DIR: stateDir,
    PANDORA_CONF: conf,
    PANDORA_TOKENS: tokens,
  });
}

function setup(): { dir: string; conf: string; state: string; original: string } {
  const dir = tmp();
  const conf = path.join(dir, "pandora_server.conf");
  const original = readFileSync(FIXTURE, "utf8");
  writeFileSync(conf, original);
  chmodSync(conf, 0o640);
  return { dir, conf, state: path.join(dir, "state"), original };
}

const lines = (s: string): string[] => s.split("\n");
const activeValue = (text: string, token: string): string[] =>
  lines(text)
    .filter((l) => new RegExp(`^[ \\t]*${token}([ \\t]|$)`).test(l))
    .map((l) => l.replace(new RegExp(`^[ \\t]*${token}[ \\t]*`), ""));

describe("server-pandora-conf.sh", () => {
  test("the fixture is realistic: commented tokens, a duplicate, values with spaces", () => {
    const f = readFileSync(FIXTURE, "utf8");
    expect(f).toMatch(/^#ha_hosts /m);
    expect(f).toMatch(/^# ha_dbuser /m);
    expect(activeValue(f, "dbhost")).toHaveLength(2);
    expect(f).toMatch(/^mta_from .+ .+$/m);
    expect(f).toMatch(/^$/m);
    expect(f).not.toMatch(/ha_connect_delay|splitbrain_autofix/);
  });

  test("sets every token exactly once and keeps every other line byte for byte, in order", () => {
    const { conf, state, original } = setup();
    const r = confRun(conf, tokensText(TOKENS), state);
    expect(r.status, r.out).toBe(0);
    const after = readFileSync(conf, "utf8");
    for (const [k, v] of TOKENS) expect(activeValue(after, k), k).toEqual([v]);

    // Drop the lines that are about a managed token (active, commented or the header) from
    // both files: what remains must be identical, in the same order.
    const managed = new Set(TOKENS.map(([k]) => k));
    const isManaged = (l: string): boolean => {
      const m = /^#?[ \t]*([a-z0-9_]+)([ \t]|$)/.exec(l);
      return (m !== null && managed.has(m[1])) || l === "# pandora-ha managed tokens";
    };
    expect(lines(after).filter((l) => !isManaged(l))).toEqual(lines(original).filter((l) => !isManaged(l)));
    // Mode kept; the original saved once.
    expect(statSync(conf).mode & 0o777).toBe(0o640);
    expect(readFileSync(`${conf}.pandora-ha.orig`, "utf8")).toBe(original);
  });

  test("a commented token is activated where it stands; a duplicate active line is commented out", () => {
    const { conf, state, original } = setup();
    expect(confRun(conf, tokensText(TOKENS), state).status).toBe(0);
    const before = lines(original);
    const after = lines(readFileSync(conf, "utf8"));
    const haHostsAt = before.indexOf("#ha_hosts host1,host2");
    expect(haHostsAt).toBeGreaterThan(0);
    expect(after[haHostsAt]).toBe("ha_hosts 10.0.0.11,10.0.0.12");
    const haDbuserAt = before.indexOf("# ha_dbuser root");
    expect(after[haDbuserAt]).toBe("ha_dbuser pandora_ha");
    // First active dbhost replaced in place, the later override commented out.
    expect(after[before.indexOf("dbhost localhost")]).toBe("dbhost 10.0.0.11");
    expect(after[before.indexOf("dbhost 127.0.0.1")]).toBe("#dbhost 127.0.0.1");
    // An unchanged token keeps its line as is.
    expect(after[before.indexOf("master 1")]).toBe("master 1");
    // Same number of lines up to the appended block.
    expect(after.slice(0, before.length - 1)).toHaveLength(before.length - 1);
  });

  test("tokens absent from the file are appended under one header", () => {
    const { conf, state } = setup();
    expect(confRun(conf, tokensText(TOKENS), state).status).toBe(0);
    const text = readFileSync(conf, "utf8");
    expect(text.split("# pandora-ha managed tokens").length - 1).toBe(1);
    expect(text.endsWith("# pandora-ha managed tokens\nha_connect_delay 1\nsplitbrain_autofix 0\n")).toBe(true);
    // A later run that adds one more token appends it without a second header.
    const r = confRun(conf, tokensText([...TOKENS, ["ha_max_resync_wait_retries", "3"]]), state);
    expect(r.status, r.out).toBe(0);
    const text2 = readFileSync(conf, "utf8");
    expect(text2.split("# pandora-ha managed tokens").length - 1).toBe(1);
    expect(text2.endsWith("splitbrain_autofix 0\nha_max_resync_wait_retries 3\n")).toBe(true);
    expect(r.stdout).toContain("ha_max_resync_wait_retries");
    expect(r.stdout).not.toContain("dbhost");
  });

  test("values with backslashes, &, % and / are written literally", () => {
    const { conf, state } = setup();
    expect(confRun(conf, tokensText(TOKENS), state).status).toBe(0);
    const after = lines(readFileSync(conf, "utf8"));
    expect(after).toContain(`dbpass ${SECRET_DBPASS}`);
    expect(after).toContain(`ha_dbpass ${SECRET_HAPASS}`);
    expect(after).toContain("mta_from Pandora FMS HA <ha@example.com>");
  });

  test("prints the names of changed tokens and never a value", () => {
    const { conf, state } = setup();
    const r = confRun(conf, tokensText(TOKENS), state);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\[pandora-ha server-pandora-conf\] changed: .*\bdbpass\b.*\bha_hosts\b/m);
    for (const secret of [SECRET_DBPASS, SECRET_HAPASS, "R3plPass", "Db&Pa"]) expect(r.out).not.toContain(secret);
    // master already had the wanted value: not reported.
    expect(r.stdout).not.toMatch(/\bmaster\b/);
  });

  test("a second run prints unchanged and leaves the file byte-identical (same mtime)", () => {
    const { conf, state } = setup();
    expect(confRun(conf, tokensText(TOKENS), state).status).toBe(0);
    const first = readFileSync(conf);
    const mtime = statSync(conf).mtimeMs;
    const orig = readFileSync(`${conf}.pandora-ha.orig`);
    const r = confRun(conf, tokensText(TOKENS), state);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toMatch(/unchanged: /);
    expect(r.stdout).not.toMatch(/\] changed: /);
    expect(readFileSync(conf).equals(first)).toBe(true);
    expect(statSync(conf).mtimeMs).toBe(mtime);
    expect(readFileSync(`${conf}.pandora-ha.orig`).equals(orig)).toBe(true);
  });

  test("a changed value is replaced in place, the backup of the original is not overwritten", () => {
    const { conf, state, original } = setup();
    expect(confRun(conf, tokensText(TOKENS), state).status).toBe(0);
    const changedTokens = TOKENS.map(([k, v]): [string, string] => (k === "dbhost" ? [k, "10.0.0.12"] : [k, v]));
    const r = confRun(conf, tokensText(changedTokens), state);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/changed: .*tokens: dbhost$/m);
    expect(activeValue(readFileSync(conf, "utf8"), "dbhost")).toEqual(["10.0.0.12"]);
    expect(readFileSync(`${conf}.pandora-ha.orig`, "utf8")).toBe(original);
  });

  test("a world-readable file loses its access for others, keeps the rest of its mode", () => {
    const { conf, state } = setup();
    chmodSync(conf, 0o644);
    const r = confRun(conf, tokensText(TOKENS), state);
    expect(r.status, r.out).toBe(0);
    expect(statSync(conf).mode & 0o777).toBe(0o640);
    expect(r.stdout).toMatch(/mode 644 -> 640/);
  });

  test("a missing PANDORA_CONF fails clearly", () => {
    const dir = tmp();
    const r = confRun(path.join(dir, "nope.conf"), tokensText(TOKENS), path.join(dir, "state"));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/PANDORA_CONF .*nope\.conf does not exist/);
    expect(existsSync(path.join(dir, "nope.conf"))).toBe(false);
  });

  test.each([
    ["an uppercase token", "dbhost 10.0.0.1\nDBPORT 3306\n", 2],
    ["a token without a value", "dbhost 10.0.0.1\ndbport 3306\nrestart\n", 3],
    ["a token with a dash", "ha-hosts a,b\n", 1],
    ["a token given twice", "dbhost a\ndbhost b\n", 2],
  ])("a malformed PANDORA_TOKENS (%s) fails naming the line and leaves the file untouched", (_what, tokens, lineNo) => {
    const { conf, state, original } = setup();
    const mtime = statSync(conf).mtimeMs;
    const r = confRun(conf, tokens, state);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`PANDORA_TOKENS line ${lineNo}\\b`));
    expect(readFileSync(conf, "utf8")).toBe(original);
    expect(statSync(conf).mtimeMs).toBe(mtime);
    expect(existsSync(`${conf}.pandora-ha.orig`)).toBe(false);
  });

  test("works on an empty file (everything appended)", () => {
    const dir = tmp();
    const conf = path.join(dir, "empty.conf");
    writeFileSync(conf, "");
    const r = confRun(conf, "dbhost 10.0.0.11\nrestart 0\n", path.join(dir, "state"));
    expect(r.status, r.out).toBe(0);
    expect(readFileSync(conf, "utf8")).toBe("# pandora-ha managed tokens\ndbhost 10.0.0.11\nrestart 0\n");
  });
});

// ---------------------------------------------------------------------------------------------
// common.sh helpers, run through bash

function common(body: string, env: Record<string, string> = {}): Run {
  const script = `set -euo pipefail\n. ${JSON.stringify(path.join(SCRIPTS, "lib", "common.sh"))}\n${body}\n`;
  return run("bash", ["-c", script], { ...baseEnv(), PHA_STEP: "test", ...env });
}

describe("common.sh", () => {
  test("clear_zombie_pid_file: a pid file naming a zombie goes; one naming a live process or nothing stays", () => {
    const dir = tmp();
    const cnf = path.join(dir, "my.cnf");
    const pidFile = path.join(dir, "mysqld.pid");
    writeFileSync(cnf, `[mysqld]\npid-file = ${pidFile}\n`);
    // A real zombie: a child that exits under a parent that never waits for it.
    const zombie = common(
      [
        `bash -c 'sleep 0.1 & echo $! > "$P"; exec sleep 30' >/dev/null 2>&1 &`,
        "parent=$!",
        "sleep 0.5",
        'clear_zombie_pid_file "$C"',
        'kill "$parent"',
        '[[ -e "$P" ]] && echo kept || echo removed',
      ].join("\n"),
      { C: cnf, P: pidFile },
    );
    expect(zombie.status, zombie.out).toBe(0);
    expect(zombie.stdout).toMatch(/removed .*mysqld\.pid: the server it names \(pid \d+\) is dead, a zombie[\s\S]*removed$/m);
    for (const content of [`${process.pid}\n`, "999999999\n"]) {
      writeFileSync(pidFile, content);
      const r = common('clear_zombie_pid_file "$C"; [[ -e "$P" ]] && echo kept', { C: cnf, P: pidFile });
      expect(r.stdout.trim(), content).toBe("kept");
    }
  });

  test("pha_lock: a second run refuses while the first holds the lock, changing nothing; once the first ended the lock is free", () => {
    const lock = path.join(tmp(), "state", "seed.lock");
    const r = common(
      [
        '( pha_lock "$L" "another seed of this node"; sleep 1 ) &',
        "sleep 0.3",
        'if ( pha_lock "$L" "another seed of this node" ) 2>"$L.err"; then echo second-ran; else echo "second refused: $(cat "$L.err")"; fi',
        "wait",
        '( pha_lock "$L" "another seed of this node" ) && echo third-ran',
      ].join("\n"),
      { L: lock },
    );
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toMatch(/^second refused: .*another seed of this node is running already \(lock .*seed\.lock\): nothing changed$/m);
    expect(r.stdout).not.toContain("second-ran");
    expect(r.stdout).toMatch(/^third-ran$/m);
  });

  test("require_host_list: host names and addresses separated by spaces, or nothing; a glob or a shell word is refused", () => {
    for (const ok of ["", "db1 10.0.0.2", "127.0.1.1 fe80::1"]) expect(common("require_host_list PEERS", { PEERS: ok }).status, ok).toBe(0);
    for (const bad of ["db1 *", "db1;reboot", "db1 -oProxyCommand=x"]) {
      const r = common("require_host_list PEERS", { PEERS: bad });
      expect(r.status, bad).not.toBe(0);
      expect(r.stderr).toMatch(/PEERS must be host names or addresses separated by spaces \(got '/);
    }
  });

  test("install_file_if_changed: 0 when written, 1 when already right, one backup of a foreign file", () => {
    const dir = tmp();
    const dest = path.join(dir, "f.conf");
    writeFileSync(dest, "theirs\n");
    const env = { PHA_STATE_DIR: path.join(dir, "state"), D: dest };
    const r = common(
      [
        'printf "ours 1\\n" | install_file_if_changed "$D" 0640 "$(id -u):$(id -g)"; echo "rc1=$?"',
        'printf "ours 1\\n" | install_file_if_changed "$D" 0640 "$(id -u):$(id -g)" || echo "rc2=$?"',
        'printf "ours 2\\n" | install_file_if_changed "$D" 0640 "$(id -u):$(id -g)"; echo "rc3=$?"',
        'printf "ours 2\\n" | install_file_if_changed "$D" 0600 "$(id -u):$(id -g)"; echo "rc4=$?"',
      ].join("\n"),
      env,
    );
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toMatch(/rc1=0[\s\S]*rc2=1[\s\S]*rc3=0[\s\S]*rc4=0/);
    expect(readFileSync(dest, "utf8")).toBe("ours 2\n");
    expect(statSync(dest).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${dest}.pandora-ha.orig`, "utf8")).toBe("theirs\n");
    // No temporary file left behind.
    expect(readdirSync(dir).sort()).toEqual(["f.conf", "f.conf.pandora-ha.orig", "state"]);
  });

  test("install_file_if_changed: a file it created is never backed up; a symlink is replaced, its target kept", () => {
    const dir = tmp();
    const created = path.join(dir, "new.conf");
    const target = path.join(dir, "alternative.cnf");
    const link = path.join(dir, "my.cnf");
    writeFileSync(target, "[mysqld]\nfrom the distribution\n");
    symlinkSync(target, link);
    const env = { PHA_STATE_DIR: path.join(dir, "state"), N: created, L: link };
    const r = common(
      [
        'echo a | install_file_if_changed "$N" 0644 "$(id -u):$(id -g)"',
        'echo b | install_file_if_changed "$N" 0644 "$(id -u):$(id -g)"',
        'echo ours | install_file_if_changed "$L" 0644 "$(id -u):$(id -g)"',
      ].join("\n"),
      env,
    );
    expect(r.status, r.out).toBe(0);
    expect(existsSync(`${created}.pandora-ha.orig`)).toBe(false);
    expect(readFileSync(created, "utf8")).toBe("b\n");
    expect(statSync(link).isFile()).toBe(true);
    expect(readFileSync(link, "utf8")).toBe("ours\n");
    expect(readFileSync(target, "utf8")).toBe("[mysqld]\nfrom the distribution\n");
    expect(readFileSync(`${link}.pandora-ha.orig`, "utf8")).toBe("[mysqld]\nfrom the distribution\n");
  });

  test("sql_quote and cnf_quote escape quotes and backslashes", () => {
    const r = common(`sql_quote "it's a \\\\ test"; echo; cnf_quote 'p"w\\d'; echo`);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toBe("'it''s a \\\\ test'\n\"p\\\"w\\\\d\"\n");
  });

  test("sh_quote makes one shell word of anything", () => {
    const nasty = `it's "$HOME" \\ \`id\` ; rm -rf /tmp/x`;
    const r = common(`eval "printf '%s' $(sh_quote "$V")"`, { V: nasty });
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toBe(nasty);
  });

  test("cnf_value reads [mysqld] keys, ignoring other sections and trailing comments", () => {
    const dir = tmp();
    const cnf = path.join(dir, "my.cnf");
    writeFileSync(
      cnf,
      "[client]\nsocket = /tmp/client.sock\n[mysqld]\nserver_id = 2  # unique\ndatadir = /var/lib/mysql\nsocket = /run/mysqld/mysqld.sock\nlog_error = /var/log/mysql/error.log\n",
    );
    const r = common(`for k in server_id datadir socket log-error pid-file; do printf '%s=%s\\n' "$k" "$(cnf_value "$F" "$k")"; done`, { F: cnf });
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toBe("server_id=2\ndatadir=/var/lib/mysql\nsocket=/run/mysqld/mysqld.sock\nlog-error=/var/log/mysql/error.log\npid-file=\n");
  });

  test("fstab_ensure adds once, refuses to repoint a mount point", () => {
    const dir = tmp();
    const fstab = path.join(dir, "fstab");
    writeFileSync(fstab, "# static\nUUID=root / ext4 defaults 0 1\n");
    const env = { PHA_FSTAB: fstab, PHA_STATE_DIR: path.join(dir, "state") };
    const r = common(
      [
        "pha_tmp_init",
        'fstab_ensure nas1:/export /mnt/shared nfs4 hard,nofail && echo added',
        'fstab_ensure nas1:/export /mnt/shared nfs4 hard,nofail || echo same',
      ].join("\n"),
      env,
    );
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toMatch(/added\n[\s\S]*same/);
    expect(readFileSync(fstab, "utf8")).toBe("# static\nUUID=root / ext4 defaults 0 1\nnas1:/export /mnt/shared nfs4 hard,nofail 0 0\n");
    const r2 = common("pha_tmp_init\nfstab_ensure other:/x /mnt/shared nfs4 hard", env);
    expect(r2.status).not.toBe(0);
    expect(r2.stderr).toMatch(/already mounts nas1:\/export on \/mnt\/shared/);
  });

  test("vertical_fields turns the client's -E output into Field<TAB>value lines, colons in values kept", () => {
    const vertical = [
      "*************************** 1. row ***************************",
      "                Slave_IO_State: Waiting for master to send event",
      "                   Master_Host: 127.0.1.1",
      "              Slave_IO_Running: Yes",
      "                Last_SQL_Error: Error 'x' on query: y",
      "            Replicate_Do_Table: ",
    ].join("\n");
    const r = common('vertical_fields <<<"$V" | while IFS=$\'\\t\' read -r k v; do printf "%s=[%s]\\n" "$k" "$v"; done', { V: vertical });
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toBe(
      "Slave_IO_State=[Waiting for master to send event]\nMaster_Host=[127.0.1.1]\nSlave_IO_Running=[Yes]\n" +
        "Last_SQL_Error=[Error 'x' on query: y]\nReplicate_Do_Table=[]\n",
    );
  });

  test("replica_field reads either spelling of SHOW REPLICA STATUS columns", () => {
    const r = common(
      [
        "s=$'Slave_IO_Running\\tYes\\nSlave_SQL_Running\\tNo\\nLast_SQL_Error\\tError: x: y'",
        'replica_field "$s" Replica_IO_Running Slave_IO_Running',
        'replica_field "$s" Replica_SQL_Running Slave_SQL_Running',
        'replica_field "$s" Last_SQL_Error',
        "s=$'Replica_IO_Running\\tConnecting'",
        'replica_field "$s" Replica_IO_Running Slave_IO_Running',
      ].join("\n"),
    );
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toBe("Yes\nNo\nError: x: y\nConnecting\n");
  });

  test("mask_secrets hides the values of the secret variables", () => {
    const r = common('PHA_SECRET_VARS=(PW); printf "ERROR near \'%s\' at line 1\\n" "$PW" | mask_secrets', { PW: "s&cr\\et" });
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toBe("ERROR near '<secret>' at line 1\n");
  });

  test("os_family tells rhel from debian by /etc/os-release", () => {
    const dir = tmp();
    const cases: Array<[string, string]> = [
      ['ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n', "rhel"],
      ['ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n', "debian"],
      ['ID=debian\nVERSION_ID="12"\n', "debian"],
    ];
    for (const [content, family] of cases) {
      const f = path.join(dir, "os-release");
      writeFileSync(f, content);
      const r = common("os_family", { PHA_OS_RELEASE: f });
      expect(r.stdout.trim()).toBe(family);
    }
    writeFileSync(path.join(dir, "os-release"), "ID=alpine\n");
    const r = common("os_family", { PHA_OS_RELEASE: path.join(dir, "os-release") });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unsupported operating system 'alpine'/);
  });
});

// ---------------------------------------------------------------------------------------------
// The cluster helpers of common.sh, against a stand-in database client

/**
 * A `mariadb` client stand-in: each host is a directory of FAKE_DB (none: it does not answer)
 * holding its answers: `read_only`, `epoch` (the highest pandora_ha_epoch row; none: no table)
 * and `uptime`.
 */
function fakeClient(): { bin: string; db: string; host: (h: string, files: Record<string, string>) => void } {
  const dir = tmp();
  const bin = path.join(dir, "bin");
  const db = path.join(dir, "db");
  for (const d of [bin, db]) mkdirSync(d);
  writeFileSync(
    path.join(bin, "mariadb"),
    [
      "#!/usr/bin/env bash",
      'host=local sql=""',
      'while (($#)); do case "$1" in -h) host=$2; shift 2 ;; -e) sql=$2; shift 2 ;; *) shift ;; esac; done',
      'd="$FAKE_DB/$host"',
      'echo "$host: $sql" >>"$FAKE_DB/queries"',
      "[[ -d \"$d\" ]] || { echo \"ERROR 2003 (HY000): Can't connect to server on '$host'\" >&2; exit 1; }",
      'case "$sql" in',
      '  *read_only*) cat "$d/read_only" ;;',
      "  *pandora_ha_epoch*) [[ -f \"$d/epoch\" ]] || { echo \"ERROR 1146 (42S02): Table 'pandora.pandora_ha_epoch' doesn't exist\" >&2; exit 1; }; cat \"$d/epoch\" ;;",
      "  *Uptime*) printf 'Uptime\\t%s\\n' \"$(cat \"$d/uptime\")\" ;;",
      "  *) exit 1 ;;",
      "esac",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  const host = (h: string, files: Record<string, string>) => {
    mkdirSync(path.join(db, h), { recursive: true });
    for (const [f, v] of Object.entries(files)) writeFileSync(path.join(db, h, f), `${v}\n`);
  };
  return { bin, db, host };
}

describe("common.sh: the cluster", () => {
  const master = (f: ReturnType<typeof fakeClient>, hosts: string) =>
    common(`pha_tmp_init\nc=$(pha_mktemp)\ncluster_master "$c" 3306 pandora ${hosts}`, { PATH: `${f.bin}:${process.env.PATH}`, FAKE_DB: f.db });

  test("cluster_master: before any epoch, the one writable node, wherever it is in the list", () => {
    const f = fakeClient();
    f.host("db1", { read_only: "1" });
    f.host("db2", { read_only: "0" });
    f.host("db3", { read_only: "1" });
    const r = master(f, "db1 db2 db3");
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toBe("db2\n");
  });

  test("cluster_master: the highest epoch any reachable node holds names the master, even beside a writable old one or when it does not answer", () => {
    const f = fakeClient();
    f.host("db1", { read_only: "0", epoch: "1\tdb1" }); // the old master, writable again, stale epoch
    f.host("db3", { read_only: "1", epoch: "3\tdb2" });
    expect(master(f, "db1 db2 db3").stdout).toBe("db2\n");
    f.host("db2", { read_only: "0", epoch: "3\tdb2" });
    expect(master(f, "db1 db2 db3").stdout).toBe("db2\n");
  });

  test("cluster_master: nobody writable and no epoch → status 1, nothing printed; two writable and no epoch → an error naming them", () => {
    const f = fakeClient();
    f.host("db1", { read_only: "1" });
    f.host("db2", { read_only: "1" });
    const none = master(f, "db1 db2 db3");
    expect(none.status).toBe(1);
    expect(none.stdout).toBe("");
    f.host("db2", { read_only: "0" });
    f.host("db1", { read_only: "0" });
    const two = master(f, "db1 db2");
    expect(two.status).not.toBe(0);
    expect(two.stderr).toMatch(/no promotion epoch yet and 2 nodes are writable \(db1 db2\)/);
  });

  test("remote_script_cmd: the script on stdin runs with exactly those parameters, quoting kept, stdin closed", () => {
    const r = common(`bash -c "$(remote_script_cmd "" A=1 "B=two words; \\$(id)" "C=it's")" <<<'echo "$A|$B|$C|$(cat)"'`);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toBe("1|two words; $(id)|it's|\n");
  });

  test("restart_pending: pending while the server started before the marker; a marker older than the server goes", () => {
    const f = fakeClient();
    const state = tmp();
    const env = { PATH: `${f.bin}:${process.env.PATH}`, FAKE_DB: f.db, PHA_STATE_DIR: state };
    const now = Math.floor(Date.now() / 1000);
    const marker = path.join(state, "restart-pending");
    f.host("local", { uptime: "100" });
    expect(common("restart_pending", env).status).toBe(1);
    writeFileSync(marker, `${now - 50}\n`);
    expect(common("restart_pending", env).status).toBe(0);
    expect(existsSync(marker)).toBe(true);
    writeFileSync(marker, `${now - 200}\n`);
    const gone = common("restart_pending", env);
    expect(gone.status).toBe(1);
    expect(gone.stdout).toMatch(/restarted since its my\.cnf changed: nothing pending/);
    expect(existsSync(marker)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// server-rolling-restart.sh against stand-ins: ssh (db-restart.sh on a node), the client, pandora_ha

/**
 * The cluster as files (see fakeClient) plus `source` (the node replicates from that host) and
 * `pending` (it owes a restart). ssh runs db-restart.sh's part: `check` answers from `pending`,
 * `restart` refuses a writable node and clears `pending`. pandora_ha: `status --json` (acting
 * unless FAKE_DB/not-acting exists) and `switchover`, which moves the roles and the epoch. Every
 * restart and switchover is appended to FAKE_DB/actions, in order.
 */
function fakeCluster(nodes: Record<string, { master?: boolean; pending?: boolean }>) {
  const f = fakeClient();
  const sh = (name: string, lines: string[]) => writeFileSync(path.join(f.bin, name), ["#!/usr/bin/env bash", ...lines, ""].join("\n"), { mode: 0o755 });
  // The client's SHOW REPLICA STATUS, MASTER_GTID_WAIT and GTID position, beside read_only and the epoch.
  const client = readFileSync(path.join(f.bin, "mariadb"), "utf8").replace(
    '  *) exit 1 ;;',
    [
      '  *"SHOW REPLICA STATUS"*) [[ -f "$d/source" ]] && printf "*** 1. row ***\\nMaster_Host: %s\\nSlave_IO_Running: Yes\\nSlave_SQL_Running: Yes\\n" "$(cat "$d/source")" ;;',
      '  *MASTER_GTID_WAIT*) echo 0 ;;',
      '  *gtid_binlog_pos*) echo 0-1-42 ;;',
      '  *) exit 1 ;;',
    ].join("\n"),
  );
  writeFileSync(path.join(f.bin, "mariadb"), client, { mode: 0o755 });
  sh("ssh", [
    'cmd=${!#}; host=${*: -2:1}; host=${host#*@}; cat >/dev/null',
    "req=$(grep -o \"'REQUEST=[a-z]*'\" <<<\"$cmd\" | tr -d \"'\" | cut -d= -f2)",
    'd="$FAKE_DB/$host"',
    'if [[ $req == check ]]; then [[ -f $d/pending ]] && echo "restart: pending" || echo "restart: none"; exit 0; fi',
    '[[ $(cat "$d/read_only") == 1 ]] || { echo "refusing to restart $host: it is writable" >&2; exit 1; }',
    'echo "restart $host" >>"$FAKE_DB/actions"; rm -f "$d/pending"; echo "[pandora-ha x] changed: restarted $host"',
  ]);
  sh("pandora_ha", [
    'case $1 in',
    '  status) if [[ -f $FAKE_DB/not-acting ]]; then echo \'{ "daemon": { "actor": false } }\'; else echo \'{ "daemon": { "actor": true } }\'; fi ;;',
    '  switchover) echo "switchover $3" >>"$FAKE_DB/actions"',
    '    for d in "$FAKE_DB"/*/; do h=$(basename "$d")',
    '      if [[ $h == "$3" ]]; then echo 0 >"$d/read_only"; rm -f "$d/source"; else echo 1 >"$d/read_only"; echo "$3" >"$d/source"; fi',
    '      printf "2\\t%s\\n" "$3" >"$d/epoch"; done ;;',
    'esac',
  ]);
  const masterName = Object.entries(nodes).find(([, n]) => n.master)![0];
  for (const [name, n] of Object.entries(nodes)) {
    f.host(name, { read_only: n.master ? "0" : "1", epoch: `1\t${masterName}`, ...(n.master ? {} : { source: masterName }), ...(n.pending ? { pending: "" } : {}) });
  }
  const key = path.join(f.db, "..", "key");
  const conf = path.join(f.db, "..", "pandora_server.conf");
  writeFileSync(key, "");
  writeFileSync(conf, "");
  const roll = (last = "1") =>
    run("bash", [path.join(SCRIPTS, "server-rolling-restart.sh")], {
      ...baseEnv(), PATH: `${f.bin}:${process.env.PATH}`, FAKE_DB: f.db, PHA_STEP: "servers/pfms1/rolling-restart", PHA_ACTOR_WAIT_S: "1",
      DB_HOSTS: Object.keys(nodes).join(" "), DB_PORT: "3306", DB_NAME: "pandora", HA_DB_USER: "pandora_ha", HA_DB_PASSWORD: "S3cretHaPassword",
      SSH_USER: "root", SSH_PORT: "22", KEY_FILE: key, DB_FLAVOR: "mariadb1011", MYCNF_PATH: "/etc/mysql/my.cnf", PANDORA_CONF: conf,
      LAST: last, MYCNF_SHA: "db1:0123456789abcdef", RESTART_SCRIPT_B64: Buffer.from(scriptBundle("db-restart.sh")).toString("base64"),
    });
  const actions = () => (existsSync(path.join(f.db, "actions")) ? readFileSync(path.join(f.db, "actions"), "utf8").trim().split("\n") : []);
  return { f, roll, actions };
}

describe("server-rolling-restart.sh: one node at a time, the master last", () => {
  test("every node owes a restart: the replicas one by one, then a switchover through pandora_ha, then the old master as a replica", () => {
    const c = fakeCluster({ db1: { master: true, pending: true }, db2: { pending: true }, db3: { pending: true } });
    const r = c.roll();
    expect(r.status, r.out).toBe(0);
    expect(c.actions()).toEqual(["restart db2", "restart db3", "switchover db2", "restart db1"]);
    expect(r.stdout).toMatch(/changed: switched over: db2 is the master, db1 a read-only replica of it/);
    expect(r.out).not.toContain("S3cretHaPassword");
    // Run again: nothing is pending, nothing happens.
    const again = c.roll();
    expect(again.status, again.out).toBe(0);
    expect(again.stdout).toMatch(/unchanged: every DB node runs its current my\.cnf/);
    expect(c.actions()).toHaveLength(4);
  });

  test("the master is the cluster's, not the first node: db3 named by the epoch is switched away from last", () => {
    const c = fakeCluster({ db1: { pending: true }, db2: { pending: true }, db3: { master: true, pending: true } });
    const r = c.roll();
    expect(r.status, r.out).toBe(0);
    expect(c.actions()).toEqual(["restart db1", "restart db2", "switchover db1", "restart db3"]);
  });

  test("only replicas owe a restart: no switchover", () => {
    const c = fakeCluster({ db1: { master: true }, db2: { pending: true } });
    expect(c.roll().status).toBe(0);
    expect(c.actions()).toEqual(["restart db2"]);
  });

  test("this host's pandora_ha is not the acting one: the master is left to the next server's step, and the last one fails naming why", () => {
    const c = fakeCluster({ db1: { master: true, pending: true }, db2: { pending: true } });
    writeFileSync(path.join(c.f.db, "not-acting"), "");
    const notLast = c.roll("0");
    expect(notLast.status, notLast.out).toBe(0);
    expect(notLast.stdout).toMatch(/left to the next server host's step/);
    expect(c.actions()).toEqual(["restart db2"]);
    const last = c.roll("1");
    expect(last.status).not.toBe(0);
    expect(last.stderr).toMatch(/db1 owes a restart, but no server host's pandora_ha that runs this step is the acting one/);
    expect(c.actions()).toEqual(["restart db2"]);
  });
});

// ---------------------------------------------------------------------------------------------
// server-ha-tools.sh and pandora_ha_resync_slave.sh, for real (what needs no database)

describe("the resync tool", () => {
  const b64 = (f: string) => Buffer.from(scriptBundle(f)).toString("base64");
  function installTools(dir: string): Run {
    return run("bash", [path.join(SCRIPTS, "server-ha-tools.sh")], {
      ...baseEnv(),
      PHA_STATE_DIR: path.join(dir, "state"),
      TOOLS_DIR: path.join(dir, "tools"),
      CLUSTER_ENV_PATH: path.join(dir, "etc", "cluster.env"),
      DB_FLAVOR: "mariadb1011",
      MYCNF_PATH: "/etc/mysql/my.cnf",
      DATADIR: "/var/lib/mysql",
      NODE_KEY_FILE: "/root/.ssh/id_pandora_ha",
      RESYNC_SCRIPT_B64: b64("pandora_ha_resync_slave.sh"),
      SEED_SCRIPT_B64: b64("db-seed.sh"),
    });
  }

  test("server-ha-tools.sh installs the tool, the seeding script and cluster.env; a second run changes nothing", () => {
    const dir = tmp();
    const first = installTools(dir);
    expect(first.status, first.out).toBe(0);
    expect(first.stdout.match(/changed: /g)).toHaveLength(3);
    expect(statSync(path.join(dir, "tools", "pandora_ha_resync_slave.sh")).mode & 0o777).toBe(0o755);
    expect(readFileSync(path.join(dir, "etc", "cluster.env"), "utf8")).toContain(`SEED_SCRIPT=${path.join(dir, "tools")}/db-seed.sh`);
    const second = installTools(dir);
    expect(second.status).toBe(0);
    expect(second.stdout).not.toMatch(/ changed: /);
  });

  function resync(args: string[], env: Record<string, string> = {}): Run {
    return run("bash", [path.join(SCRIPTS, "pandora_ha_resync_slave.sh"), ...args], { ...baseEnv(), ...env });
  }
  const lastLine = (r: Run) => r.stderr.trim().split("\n").pop() ?? "";

  test("wrong number of arguments: usage on the last line, non-zero", () => {
    for (const args of [[], ["/etc/pandora/pandora_server.conf"], ["a", "b", "c", "d"]]) {
      const r = resync(args);
      expect(r.status).not.toBe(0);
      expect(lastLine(r)).toMatch(/usage: pandora_ha_resync_slave\.sh <pandora_server\.conf> MASTER SLAVE/);
    }
  });

  test("bad configuration or hosts: the reason on the last line, nothing else runs", () => {
    const dir = tmp();
    installTools(dir);
    const env = { PHA_CLUSTER_ENV: path.join(dir, "etc", "cluster.env") };
    const conf = path.join(dir, "pandora_server.conf");
    writeFileSync(conf, "ha_dbuser pandora_ha\nha_dbpass secret1\nrepl_dbuser slaveuser\n");
    expect(lastLine(resync([path.join(dir, "missing.conf"), "db1", "db2"], env))).toMatch(/cannot read the configuration file .*missing\.conf/);
    expect(lastLine(resync([conf, "db1", "db1"], env))).toMatch(/MASTER and SLAVE are the same host \(db1\)/);
    expect(lastLine(resync([conf, "db1", "db 2"], env))).toMatch(/SLAVE must be a host name or IP address/);
    expect(lastLine(resync([conf, "db1", "db2"], env))).toMatch(/sets no repl_dbpass \(nor dbuser\/dbpass to fall back on\)/);
    writeFileSync(conf, "ha_dbuser pandora_ha\nha_dbpass secret1\nrepl_dbuser slaveuser\nrepl_dbpass secret2\nha_sshport 99999\n");
    expect(lastLine(resync([conf, "db1", "db2"], env))).toMatch(/SSH_PORT must be a TCP port number from 1 to 65535/);
    writeFileSync(conf, "ha_dbuser pandora_ha\nha_dbpass secret1\nrepl_dbuser slaveuser\nrepl_dbpass secret2\n");
    const noEnv = resync([conf, "db1", "db2"], { PHA_CLUSTER_ENV: path.join(dir, "nope.env") });
    expect(lastLine(noEnv)).toMatch(/nope\.env is missing: this host was not deployed by pandora-ha/);
    for (const r of [noEnv]) expect(r.out).not.toMatch(/secret1|secret2/);
  });
});

// ---------------------------------------------------------------------------------------------
// server-shared-storage.sh, for real: its refusals need nothing; the bind mounts run as root in
// a private mount namespace (unshare --mount), so nothing stays mounted once the test is done.

describe("server-shared-storage.sh", () => {
  const SCRIPT = path.join(SCRIPTS, "server-shared-storage.sh");
  const SUBS = ["conf", "collections", "md5", "netflow", "discovery"];
  /** A server host in a temporary directory: Pandora's directories, an fstab, a temp dir, a share (not created). */
  function host() {
    const d = tmp();
    const h = {
      d,
      share: path.join(d, "share"),
      incoming: path.join(d, "data_in"),
      attachment: path.join(d, "attachment"),
      fstab: path.join(d, "fstab"),
      tmpDir: path.join(d, "tmp"),
    };
    writeFileSync(h.fstab, "# static\n");
    mkdirSync(h.tmpDir);
    return h;
  }
  type Host = ReturnType<typeof host>;
  const env = (h: Host, over: Record<string, string> = {}): Record<string, string> => ({
    ...baseEnv(),
    PHA_FSTAB: h.fstab,
    PHA_STATE_DIR: path.join(h.d, "state"),
    TMPDIR: h.tmpDir,
    SHARED_KIND: "mounted",
    MOUNT_ROOT: h.share,
    INCOMING_DIR: h.incoming,
    SUBDIRS: SUBS.join(" "),
    ATTACHMENT_DIR: h.attachment,
    ...over,
  });
  /** Runs bash `body` as root in a private mount namespace, the script as $SCRIPT. */
  function inNamespace(body: string, e: Record<string, string>): Run {
    const probe = spawnSync("unshare", ["--mount", "true"], { encoding: "utf8" });
    if (probe.status !== 0) throw new Error(`these tests need root and unshare --mount (util-linux): ${probe.error ?? probe.stderr}`);
    return run("unshare", ["--mount", "bash", "-c", `set -euo pipefail\n${body}`], { ...e, SCRIPT });
  }
  /** Nothing written: the host directory holds its fstab (unchanged) and an empty temp dir only. */
  function expectUntouched(h: Host, r: Run): void {
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toMatch(/changed:/);
    expect(readdirSync(h.d).sort()).toEqual(["fstab", "tmp"]);
    expect(readdirSync(h.tmpDir)).toEqual([]);
    expect(readFileSync(h.fstab, "utf8")).toBe("# static\n");
  }

  test("mounted: a sharedPath that does not exist, or is a file, stops before changing anything, naming it", () => {
    const h = host();
    const missing = run("bash", [SCRIPT], env(h));
    expect(missing.stderr).toContain(`ERROR: the shared directory ${h.share} (sharedPath) does not exist or is not a directory`);
    expectUntouched(h, missing);
    writeFileSync(h.share, "");
    const file = run("bash", [SCRIPT], env(h));
    expect(file.stderr).toContain(`the shared directory ${h.share} (sharedPath) does not exist or is not a directory`);
    rmSync(h.share);
    expectUntouched(h, file);
  });

  test("SHARED_KIND: another value is refused; without it (nfs, the default) SHARED_SOURCE is required", () => {
    const h = host();
    const other = run("bash", [SCRIPT], env(h, { SHARED_KIND: "cephfs" }));
    expect(other.stderr).toContain("SHARED_KIND must be one of: nfs mounted (got 'cephfs')");
    expectUntouched(h, other);
    const e = env(h);
    delete e.SHARED_KIND;
    const nfs = run("bash", [SCRIPT], e);
    expect(nfs.stderr).toContain("required environment variable SHARED_SOURCE is missing");
    expectUntouched(h, nfs);
  });

  test("a share inside a directory it would replace, or holding one, is refused", () => {
    const h = host();
    for (const root of [path.join(h.incoming, "shared"), h.attachment, h.d]) {
      const r = run("bash", [SCRIPT], env(h, { MOUNT_ROOT: root }));
      expect(r.stderr, root).toMatch(new RegExp(`ERROR: MOUNT_ROOT ${root} and \\S+ overlap`));
      expectUntouched(h, r);
    }
  });

  test("mounted, as root: refused while the share is not mounted; then every directory bind-mounted from its twin under sharedPath, no file lost, bind lines only, a second run changes nothing", () => {
    const h = host();
    const put = (file: string, content: string) => {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, content);
    };
    put(path.join(h.share, "data_in", "conf", "a.conf"), "shared\n");
    put(path.join(h.incoming, "conf", "a.conf"), "local\n");
    put(path.join(h.incoming, "conf", "b.conf"), "b\n");
    put(path.join(h.incoming, "collections", "c.txt"), "c\n");
    put(path.join(h.attachment, "att.txt"), "att\n");
    put(path.join(h.incoming, "queued.data"), "own\n");
    mkdirSync(path.join(h.incoming, "md5"));
    const refused = run("bash", [SCRIPT], env(h));
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`ERROR: the shared directory ${h.share} (sharedPath) lies on the filesystem mounted on `);
    expect(refused.stdout).not.toMatch(/changed:/);
    expect(readFileSync(h.fstab, "utf8")).toBe("# static\n");
    // The host mounts the share: here a bind mount of the directory on itself.
    const r = inNamespace(
      [
        'mount --bind "$MOUNT_ROOT" "$MOUNT_ROOT"',
        'bash "$SCRIPT"',
        "echo '=== again'",
        'bash "$SCRIPT"',
        "echo '=== view'",
        'cat "$INCOMING_DIR/conf/a.conf" "$INCOMING_DIR/conf/b.conf" "$ATTACHMENT_DIR/att.txt"',
        'echo through >"$INCOMING_DIR/netflow/new.txt"',
      ].join("\n"),
      env(h),
    );
    expect(r.status, r.out).toBe(0);
    const [first, again, view] = r.stdout.split(/^=== \w+\n/m);
    const pairs = [...SUBS.map((s) => [path.join(h.incoming, s), path.join(h.share, "data_in", s)]), [h.attachment, path.join(h.share, "attachment")]];
    for (const [local, shared] of pairs) {
      expect(first).toContain(`changed: bind-mounted ${shared} on ${local}`);
      expect(again).toContain(`unchanged: ${local} is the shared ${shared}`);
    }
    expect(first.match(/its files copied onto the share first/g)).toHaveLength(3); // conf, collections, attachment
    expect(again).not.toMatch(/ changed: /);
    expect(first).toContain(`unchanged: ${h.share} is a mount point`);
    // Through the mounts: the share's a.conf won, the local b.conf was added.
    expect(view).toBe("shared\nb\natt\n");
    // Outside the namespace: nothing mounted, the share holds everything, the originals are intact.
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(h.d);
    const shared = (...p: string[]) => readFileSync(path.join(h.share, ...p), "utf8");
    expect([shared("data_in", "conf", "a.conf"), shared("data_in", "conf", "b.conf"), shared("data_in", "collections", "c.txt"), shared("attachment", "att.txt")]).toEqual(["shared\n", "b\n", "c\n", "att\n"]);
    expect(shared("data_in", "netflow", "new.txt")).toBe("through\n");
    expect(existsSync(path.join(h.incoming, "netflow", "new.txt"))).toBe(false);
    expect(readFileSync(path.join(h.incoming, "conf", "a.conf"), "utf8")).toBe("local\n");
    // data_in itself is never shared: its own files stay local.
    expect(readFileSync(path.join(h.incoming, "queued.data"), "utf8")).toBe("own\n");
    expect(existsSync(path.join(h.share, "data_in", "queued.data"))).toBe(false);
    // No line for the share itself: one bind line per directory.
    const opts = `bind,_netdev,nofail,x-systemd.requires-mounts-for=${h.share}`;
    expect(readFileSync(h.fstab, "utf8")).toBe(["# static", ...pairs.map(([local, twin]) => `${twin} ${local} none ${opts} 0 0`), ""].join("\n"));
  });

  test("mounted, as root: a sharedPath that is a mount point is taken without a warning", () => {
    const h = host();
    mkdirSync(h.share);
    const r = inNamespace('mount -t tmpfs pha-test "$MOUNT_ROOT"\nbash "$SCRIPT"', env(h));
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toContain(`unchanged: ${h.share} is a mount point (tmpfs), mounted by the host`);
    expect(r.stdout.match(/changed: bind-mounted /g)).toHaveLength(SUBS.length + 1);
    expect(r.stderr).not.toMatch(/WARNING/);
    expect(readFileSync(h.fstab, "utf8")).not.toMatch(new RegExp(`^\\S+ ${h.share} `, "m"));
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(h.d);
  });
});

// ---------------------------------------------------------------------------------------------
// pandora_ha_guard.sh and db-guard.sh, for real (what needs no database: with no server to
// ask, the guard never finds a master, so it stops nothing)

describe("the guard on a DB host", () => {
  const guard = path.join(SCRIPTS, "pandora_ha_guard.sh");
  const check = (conf: string): Run => {
    const dir = tmp();
    writeFileSync(path.join(dir, "guard.conf"), conf);
    return run("bash", [guard, "--check", path.join(dir, "guard.conf")], baseEnv());
  };
  const good = "# managed\nPEERS=127.0.1.2:3306 [::1]:3307 db3.example.com:3306\nDB_FLAVOR=mariadb1011\nFENCE_AFTER_MS=4000\n";

  test("--check accepts a conf with peers, flavor and fence time", () => {
    const r = check(good);
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  });

  test.each([
    ["FENCE_AFTER_MS=4000\nDB_FLAVOR=mariadb1011\nPEERS=db2\n", /PEERS entry 'db2' is not host:port/],
    ["PEERS=db2:3306\nDB_FLAVOR=mysql57\nFENCE_AFTER_MS=4000\n", /DB_FLAVOR must be one of/],
    ["PEERS=db2:3306\nDB_FLAVOR=mariadb1011\nFENCE_AFTER_MS=500\n", /FENCE_AFTER_MS must be a whole number of milliseconds from 1000 to 60000 \(got '500'\)/],
    ["PEERS=db2:3306\nDB_FLAVOR=mariadb1011\nFENCE_AFTER_MS=4000\nfence=1\n", /line 4: expected KEY=VALUE, got 'fence=1'/],
    ["PEERS=db2:3306\nDB_FLAVOR=mariadb1011\nFENCE_AFTER_MS=4000\nTIMEOUT=3\n", /line 4: unknown key TIMEOUT/],
    ["PEERS=\nDB_FLAVOR=mariadb1011\nFENCE_AFTER_MS=4000\n", /PEERS names no peer/],
    ["PEERS=db2:99999\nDB_FLAVOR=mariadb1011\nFENCE_AFTER_MS=4000\n", /PEERS entry 'db2:99999' has no valid port/],
  ])("--check refuses %j, naming what is wrong", (conf, msg) => {
    const r = check(conf);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(msg);
  });

  function step(dir: string, env: Record<string, string> = {}): Run {
    return run("bash", [path.join(SCRIPTS, "db-guard.sh")], {
      ...baseEnv(),
      PHA_STATE_DIR: path.join(dir, "state"),
      PHA_SYSTEMD_DIR: path.join(dir, "no-systemd"),
      GUARD_BIN: path.join(dir, "bin", "pandora_ha_guard"),
      GUARD_B64: Buffer.from(scriptBundle("pandora_ha_guard.sh")).toString("base64"),
      GUARD_CONF: path.join(dir, "etc", "guard.conf"),
      UNIT_PATH: path.join(dir, "pandora_ha_guard.service"),
      UNIT_B64: Buffer.from("[Service]\nExecStart=/bin/true\n").toString("base64"),
      PID_FILE: path.join(dir, "run", "guard.pid"),
      LOG_FILE: path.join(dir, "log", "guard.log"),
      // Port 1 on loopback refuses: contact, so nothing would be stopped even with a master.
      PEERS: "127.0.0.1:1",
      DB_FLAVOR: "mariadb1011",
      FENCE_AFTER_MS: "4000",
      ...env,
    });
  }
  const livePid = (dir: string): number | undefined => {
    try {
      const pid = Number(readFileSync(path.join(dir, "run", "guard.pid"), "utf8"));
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  };

  test("db-guard.sh without systemd: installs and starts it; again: unchanged; a new fence time restarts it; 0 stops it", async () => {
    const dir = tmp();
    try {
      const first = step(dir);
      expect(first.status, first.out).toBe(0);
      expect(first.stdout).toMatch(/changed: started pandora_ha_guard without a service manager \(pid \d+\)/);
      const pid = livePid(dir);
      expect(pid).toBeDefined();
      expect(readFileSync(path.join(dir, "etc", "guard.conf"), "utf8")).toContain("PEERS=127.0.0.1:1\nDB_FLAVOR=mariadb1011\nFENCE_AFTER_MS=4000\n");
      expect(statSync(path.join(dir, "bin", "pandora_ha_guard")).mode & 0o777).toBe(0o755);
      await new Promise((r) => setTimeout(r, 700));
      expect(readFileSync(path.join(dir, "log", "guard.log"), "utf8")).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[pandora_ha_guard\] guarding: peers 127\.0\.0\.1:1; a strict master silent for 4000 ms is stopped$/m);
      const second = step(dir);
      expect(second.status, second.out).toBe(0);
      expect(second.stdout).not.toMatch(/ changed: /);
      expect(livePid(dir)).toBe(pid);
      const third = step(dir, { FENCE_AFTER_MS: "5000" });
      expect(third.status, third.out).toBe(0);
      expect(livePid(dir)).not.toBe(pid);
      const off = step(dir, { FENCE_AFTER_MS: "0" });
      expect(off.status, off.out).toBe(0);
      expect(off.stdout).toMatch(/changed: stopped pandora_ha_guard/);
      expect(livePid(dir)).toBeUndefined();
    } finally {
      const pid = livePid(dir);
      if (pid) process.kill(pid, "SIGTERM");
    }
  });

  test("db-guard.sh with a bad PEERS entry: refused, naming it, nothing installed or started", () => {
    const dir = tmp();
    const r = step(dir, { PEERS: "127.0.0.1:1 db2" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/PEERS entry 'db2' is not host:port/);
    expect(existsSync(path.join(dir, "bin"))).toBe(false);
    expect(existsSync(path.join(dir, "run", "guard.pid"))).toBe(false);
  });
});
