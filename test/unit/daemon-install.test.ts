/**
 * scripts/server-pandora-ha.sh, for real, on temporary paths: a stand-in daemon (a small Node
 * program that honours `-d` and `-p` like pandora_ha) is installed, started, left alone when
 * nothing changed, restarted when its bundle changes; with and without a service manager
 * (a fake `systemctl` that records its calls); Node is chosen by version.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, test } from "vitest";
import { alive } from "../../lab/proc";
import { NODE_DIST_URL } from "../../lib/plan";
import { renderPandoraHaUnit } from "../../lib/render/pandora";

const SCRIPT = path.join(__dirname, "..", "..", "scripts", "server-pandora-ha.sh");

/** Like pandora_ha: `-d` re-runs itself detached and returns once the pid file names the child. */
const FAKE_DAEMON = `"use strict";
const fs = require("fs");
const { spawn } = require("child_process");
const args = process.argv.slice(2);
const pidFile = args[args.indexOf("-p") + 1];
if (args.includes("-d")) {
  const child = spawn(process.execPath, [process.argv[1], ...args.filter((a) => a !== "-d")], { detached: true, stdio: "ignore" });
  child.unref();
  const t0 = Date.now();
  const poll = () => {
    try { if (Number(fs.readFileSync(pidFile, "utf8")) === child.pid) process.exit(0); } catch {}
    if (Date.now() - t0 > 9000) process.exit(1);
    setTimeout(poll, 50);
  };
  poll();
} else {
  fs.writeFileSync(pidFile, process.pid + "\\n");
  process.on("SIGTERM", () => { try { fs.unlinkSync(pidFile); } catch {} process.exit(0); });
  setInterval(() => {}, 1000);
}
`;

/** A fake systemctl: records its calls, keeps "enabled" in a file, runs the unit's daemon. */
const FAKE_SYSTEMCTL = `#!/usr/bin/env bash
echo "$*" >>"$FAKE_SYSTEMCTL_LOG"
running() { [[ -r "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }
start() { setsid "$DAEMON_RUNNER" -p "$PID_FILE" "$PANDORA_CONF" </dev/null >/dev/null 2>&1 & }
case "$1" in
  daemon-reload) ;;
  is-enabled) [[ -e "$FAKE_SYSTEMCTL_ENABLED" ]] ;;
  enable) touch "$FAKE_SYSTEMCTL_ENABLED" ;;
  is-active) running ;;
  start) start ;;
  restart) if running; then kill "$(cat "$PID_FILE")"; while [[ -e "$PID_FILE" ]]; do sleep 0.05; done; fi; start ;;
  show) if running; then cat "$PID_FILE"; else echo 0; fi ;;
  *) exit 1 ;;
esac
`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) {
    const pidFile = path.join(d, "run", "pandora_ha.pid");
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
      } catch {
        // gone
      }
    }
    rmSync(d, { recursive: true, force: true });
  }
});

interface Host {
  dir: string;
  env: Record<string, string>;
  pidFile: string;
  js: string;
  /** The wrapper the service runs. */
  runner: string;
  /** The command line's copy. */
  bin: string;
  unit: string;
}

function host(opts: { systemd?: boolean } = {}): Host {
  const dir = mkdtempSync(path.join(tmpdir(), "pha-daemon-"));
  dirs.push(dir);
  for (const d of ["run", "etc", "fakebin", "systemd-run"]) mkdirSync(path.join(dir, d));
  const conf = path.join(dir, "etc", "pandora_server.conf");
  writeFileSync(conf, "servername pfms1\n");
  const pidFile = path.join(dir, "run", "pandora_ha.pid");
  const js = path.join(dir, "share", "pandora_ha.js");
  const runner = path.join(dir, "share", "bin", "pandora_ha");
  const bin = path.join(dir, "bin", "pandora_ha");
  const unit = path.join(dir, "systemd", "pandora_ha.service");
  writeFileSync(path.join(dir, "fakebin", "systemctl"), FAKE_SYSTEMCTL, { mode: 0o755 });
  const env: Record<string, string> = {
    PATH: `${path.join(dir, "fakebin")}:${path.dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    PHA_STEP: "server-pandora-ha",
    PHA_STATE_DIR: path.join(dir, "pha-state"),
    PHA_SYSTEMD_DIR: path.join(dir, opts.systemd ? "systemd-run" : "no-systemd"),
    FAKE_SYSTEMCTL_LOG: path.join(dir, "systemctl.log"),
    FAKE_SYSTEMCTL_ENABLED: path.join(dir, "enabled"),
    DAEMON_JS: js,
    DAEMON_RUNNER: runner,
    DAEMON_BIN: bin,
    UNIT_PATH: unit,
    UNIT_B64: Buffer.from(renderPandoraHaUnit({ conf, pidFile, bin: runner })).toString("base64"),
    PANDORA_CONF: conf,
    PID_FILE: pidFile,
    STATE_DIR: path.join(dir, "state"),
    NODE_MIN_MAJOR: "18",
    NODE_DIR: path.join(dir, "opt-node"),
    NODE_DIST_URL,
    DAEMON_JS_GZ_B64: gzipSync(FAKE_DAEMON).toString("base64"),
  };
  return { dir, env, pidFile, js, runner, bin, unit };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  out: string;
}
function install(h: Host, over: Record<string, string> = {}): Run {
  const r = spawnSync("bash", [SCRIPT], { env: { ...h.env, ...over }, encoding: "utf8", timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out: r.stdout + r.stderr };
}
const daemonPid = (h: Host): number => Number(readFileSync(h.pidFile, "utf8").trim());
const changedLines = (r: Run) => r.stdout.split("\n").filter((l) => / changed: /.test(l));
const v2 = (h: Host) => ({ DAEMON_JS_GZ_B64: gzipSync(`${FAKE_DAEMON}// v2\n`).toString("base64") });

describe("server-pandora-ha.sh without a service manager", () => {
  test("installs the bundle, the wrapper, the unit and the state dir, and starts the daemon with -d -p", () => {
    const h = host();
    const r = install(h);
    expect(r.status, r.out).toBe(0);
    expect(readFileSync(h.js, "utf8")).toBe(FAKE_DAEMON);
    expect(statSync(h.js).mode & 0o777).toBe(0o644);
    expect(statSync(h.runner).mode & 0o777).toBe(0o755);
    expect(statSync(h.bin).mode & 0o777).toBe(0o755);
    const wrapper = readFileSync(h.runner, "utf8");
    expect(wrapper).toMatch(/^#!\/bin\/sh\n/);
    expect(wrapper).toMatch(new RegExp(`^exec '/[^']+/node' '${h.js}' "\\$@"$`, "m"));
    expect(readFileSync(h.bin, "utf8")).toBe(wrapper);
    const unit = readFileSync(h.unit, "utf8");
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^StartLimitIntervalSec=0$/m);
    expect(unit).toContain(`ExecStart=${h.runner} -p `);
    expect(statSync(h.env.STATE_DIR).mode & 0o777).toBe(0o700);
    const pid = daemonPid(h);
    expect(alive(pid)).toBe(true);
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toContain(h.js);
    expect(r.stdout).toMatch(new RegExp(`changed: started pandora_ha without a service manager \\(pid ${pid}\\)`));
  });

  test("a second run with the same bundle changes nothing and leaves the daemon alone", () => {
    const h = host();
    expect(install(h).status).toBe(0);
    const pid = daemonPid(h);
    const mtime = statSync(h.js).mtimeMs;
    const r = install(h);
    expect(r.status, r.out).toBe(0);
    expect(changedLines(r)).toEqual([]);
    expect(r.stdout).toMatch(new RegExp(`unchanged: pandora_ha running \\(pid ${pid}\\)`));
    expect(daemonPid(h)).toBe(pid);
    expect(statSync(h.js).mtimeMs).toBe(mtime);
  });

  test("a new bundle restarts the daemon (SIGTERM, then a new one); a daemon that died is started again", () => {
    const h = host();
    expect(install(h).status).toBe(0);
    const old = daemonPid(h);
    const r = install(h, v2(h));
    expect(r.status, r.out).toBe(0);
    const pid = daemonPid(h);
    expect(pid).not.toBe(old);
    expect(alive(old)).toBe(false);
    expect(alive(pid)).toBe(true);
    expect(r.stdout).toMatch(new RegExp(`changed: restarted pandora_ha for the new daemon or configuration \\(pid ${old} -> ${pid}\\)`));
    process.kill(pid, "SIGKILL");
    const again = install(h, v2(h));
    expect(again.status, again.out).toBe(0);
    expect(again.stdout).toMatch(/changed: started pandora_ha/);
    expect(alive(daemonPid(h))).toBe(true);
  });

  test("a daemon older than the installed bundle (a run that failed before restarting it) is restarted", () => {
    const h = host();
    expect(install(h).status).toBe(0);
    const old = daemonPid(h);
    const later = Date.now() / 1000 + 30;
    utimesSync(h.js, later, later);
    const r = install(h);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`changed: restarted pandora_ha for the new daemon or configuration \\(pid ${old} -> \\d+\\)`));
    expect(alive(old)).toBe(false);
  });

  test("a pandora_server.conf changed after the daemon started restarts it (it reads the conf when it starts)", () => {
    const h = host();
    expect(install(h).status).toBe(0);
    const old = daemonPid(h);
    const later = Date.now() / 1000 + 30;
    utimesSync(h.env.PANDORA_CONF, later, later);
    const r = install(h);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`changed: restarted pandora_ha for the new daemon or configuration \\(pid ${old} -> \\d+\\)`));
    expect(alive(old)).toBe(false);
    expect(alive(daemonPid(h))).toBe(true);
  });

  test("a package upgrade that puts its own /usr/bin/pandora_ha back: ours again, the running daemon left alone", () => {
    const h = host();
    expect(install(h).status).toBe(0);
    const pid = daemonPid(h);
    writeFileSync(h.bin, "#!/usr/bin/perl\n# the package's pandora_ha\n");
    const r = install(h);
    expect(r.status, r.out).toBe(0);
    expect(readFileSync(h.bin, "utf8")).toBe(readFileSync(h.runner, "utf8"));
    expect(changedLines(r)).toEqual([expect.stringContaining(`changed: ${h.bin}`)]);
    expect(daemonPid(h)).toBe(pid);
  });

  test("a pandora_ha that is not ours holding the pid file is stopped before ours starts", () => {
    const h = host();
    const other = path.join(h.dir, "other", "pandora_ha");
    mkdirSync(path.dirname(other));
    writeFileSync(other, "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000);\n");
    const foreign = spawnSync("bash", ["-c", `setsid ${JSON.stringify(process.execPath)} ${JSON.stringify(other)} </dev/null >/dev/null 2>&1 & echo $!`], { encoding: "utf8" });
    const fpid = Number(foreign.stdout.trim());
    writeFileSync(h.pidFile, `${fpid}\n`);
    const r = install(h);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`changed: stopped a pandora_ha that is not ours \\(pid ${fpid}: `));
    expect(alive(fpid)).toBe(false);
    expect(daemonPid(h)).not.toBe(fpid);
    expect(alive(daemonPid(h))).toBe(true);
  });

  test("a pid file naming a live process that is no pandora_ha is stale: left running, the file replaced", () => {
    const h = host();
    const other = spawnSync("bash", ["-c", "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $!"], { encoding: "utf8" });
    const opid = Number(other.stdout.trim());
    try {
      writeFileSync(h.pidFile, `${opid}\n`);
      const r = install(h);
      expect(r.status, r.out).toBe(0);
      expect(r.stdout).not.toMatch(/not ours/);
      expect(alive(opid)).toBe(true);
      expect(daemonPid(h)).not.toBe(opid);
      expect(alive(daemonPid(h))).toBe(true);
    } finally {
      process.kill(opid, "SIGKILL");
    }
  });

  test("a daemon that does not come up fails the step with its output", () => {
    const h = host();
    const r = install(h, { DAEMON_JS_GZ_B64: gzipSync('console.error("bad configuration"); process.exit(2);\n').toString("base64") });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/bad configuration/);
    expect(r.stderr).toMatch(/ERROR: .* exited with status 2/);
  });

  test("an undecodable bundle stops the step before anything is installed", () => {
    const h = host();
    const r = install(h, { DAEMON_JS_GZ_B64: Buffer.from("not gzip").toString("base64") });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/DAEMON_JS_GZ_B64 is not a gzip-compressed file in base64/);
    expect(existsSync(h.js) || existsSync(h.runner) || existsSync(h.bin) || existsSync(h.unit)).toBe(false);
  });
});

describe("server-pandora-ha.sh with systemd", () => {
  const calls = (h: Host): string[] => {
    const f = h.env.FAKE_SYSTEMCTL_LOG;
    const lines = existsSync(f) ? readFileSync(f, "utf8").trim().split("\n").filter(Boolean) : [];
    writeFileSync(f, "");
    return lines.filter((l) => !/^(is-enabled|is-active|show) /.test(l));
  };

  test("first run: daemon-reload, enable, start; second: nothing; new bundle or unit: restart", () => {
    const h = host({ systemd: true });
    const first = install(h);
    expect(first.status, first.out).toBe(0);
    expect(calls(h)).toEqual(["daemon-reload", "enable pandora_ha.service", "start pandora_ha.service"]);
    expect(first.stdout).toMatch(/changed: started pandora_ha\.service \(pid \d+\)/);
    const pid = daemonPid(h);

    const second = install(h);
    expect(second.status, second.out).toBe(0);
    expect(calls(h)).toEqual([]);
    expect(changedLines(second)).toEqual([]);
    expect(second.stdout).toMatch(new RegExp(`unchanged: pandora_ha\\.service running \\(pid ${pid}\\)`));

    const third = install(h, v2(h));
    expect(third.status, third.out).toBe(0);
    expect(calls(h)).toEqual(["restart pandora_ha.service"]);
    expect(daemonPid(h)).not.toBe(pid);

    const unit = Buffer.from(`${renderPandoraHaUnit({ conf: h.env.PANDORA_CONF, pidFile: h.pidFile, bin: h.runner })}# v2\n`).toString("base64");
    const fourth = install(h, { ...v2(h), UNIT_B64: unit });
    expect(fourth.status, fourth.out).toBe(0);
    expect(calls(h)).toEqual(["daemon-reload", "restart pandora_ha.service"]);
  });
});

describe("server-pandora-ha.sh: which Node", () => {
  /** A `node` that reports VERSION and otherwise is the real one. */
  function fakeNode(file: string, version: string): void {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `#!/bin/sh\n[ "$1" = --version ] && { echo ${version}; exit 0; }\nexec ${JSON.stringify(process.execPath)} "$@"\n`);
    chmodSync(file, 0o755);
  }

  test("ours in NODE_DIR first when recent enough", () => {
    const h = host();
    fakeNode(path.join(h.env.NODE_DIR, "bin", "node"), "v20.99.0");
    const r = install(h);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toContain(`unchanged: Node v20.99.0 at ${h.env.NODE_DIR}/bin/node`);
    expect(readFileSync(h.runner, "utf8")).toContain(`exec '${h.env.NODE_DIR}/bin/node' `);
  });

  test("one older than NODE_MIN_MAJOR is passed over for the OS's", () => {
    const h = host();
    fakeNode(path.join(h.env.NODE_DIR, "bin", "node"), "v16.20.2");
    const r = install(h);
    expect(r.status, r.out).toBe(0);
    expect(readFileSync(h.runner, "utf8")).not.toContain(h.env.NODE_DIR);
    expect(r.stdout).toMatch(new RegExp(`unchanged: Node ${process.version} at /`));
  });
});

describe("server-pandora-ha.sh: the official Node build where the OS offers none recent enough", () => {
  /**
   * Ubuntu 22.04 as far as the script can tell (os-release, apt offering nodejs 12), a `curl`
   * that serves nodejs.org's files from a local directory, and a build whose `node` reports
   * v21.99.0 (then is the real one); NODE_MIN_MAJOR 21 makes the machine's Node too old.
   */
  function dist(h: Host, tamper = false): Record<string, string> {
    const d = h.dir;
    writeFileSync(path.join(d, "os-release"), 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n');
    writeFileSync(path.join(d, "fakebin", "apt-cache"), "#!/bin/sh\nprintf 'nodejs:\\n  Installed: (none)\\n  Candidate: 12.22.9~dfsg-1ubuntu3\\n'\n", { mode: 0o755 });
    const served = path.join(d, "served");
    const build = path.join(d, "build", "node-v21.99.0-linux-x64", "bin");
    mkdirSync(served);
    mkdirSync(build, { recursive: true });
    writeFileSync(path.join(build, "node"), `#!/bin/sh\n[ "$1" = --version ] && { echo v21.99.0; exit 0; }\nexec ${JSON.stringify(process.execPath)} "$@"\n`, { mode: 0o755 });
    const tarball = "node-v21.99.0-linux-x64.tar.gz";
    const arch = process.arch === "arm64" ? "arm64" : "x64";
    const name = tarball.replace("x64", arch);
    const t = spawnSync("tar", ["-czf", path.join(served, name), "-C", path.join(d, "build"), "node-v21.99.0-linux-x64"]);
    expect(t.status).toBe(0);
    const sum = spawnSync("sha256sum", [path.join(served, name)], { encoding: "utf8" }).stdout.split(" ")[0];
    const other = arch === "x64" ? "arm64" : "x64";
    writeFileSync(
      path.join(served, "SHASUMS256.txt"),
      [`${"0".repeat(64)}  node-v21.99.0-linux-${other}.tar.gz`, `${"1".repeat(64)}  node-v21.99.0-linux-${arch}.tar.xz`, `${tamper ? "f".repeat(64) : sum}  ${name}`, ""].join("\n"),
    );
    writeFileSync(
      path.join(d, "fakebin", "curl"),
      `#!/usr/bin/env bash\nwhile (($#)); do case $1 in -o) out=$2; shift 2 ;; --retry) shift 2 ;; -*) shift ;; *) url=$1; shift ;; esac; done\necho "$url" >>${JSON.stringify(path.join(d, "curl.log"))}\ncp ${JSON.stringify(served)}/"\${url##*/}" "$out"\n`,
      { mode: 0o755 },
    );
    return { PHA_OS_RELEASE: path.join(d, "os-release"), NODE_MIN_MAJOR: "21" };
  }

  test("downloaded from NODE_DIST_URL, checked against SHASUMS256.txt, unpacked into NODE_DIR; the next run keeps it", () => {
    const h = host();
    const env = dist(h);
    const r = install(h, env);
    expect(r.status, r.out).toBe(0);
    const arch = process.arch === "arm64" ? "arm64" : "x64";
    expect(readFileSync(path.join(h.dir, "curl.log"), "utf8")).toBe(`${NODE_DIST_URL}/SHASUMS256.txt\n${NODE_DIST_URL}/node-v21.99.0-linux-${arch}.tar.gz\n`);
    expect(r.stdout).toContain(`changed: Node v21.99.0 in ${h.env.NODE_DIR} (node-v21.99.0-linux-${arch}.tar.gz, SHA-256 checked)`);
    expect(statSync(h.env.NODE_DIR).mode & 0o777).toBe(0o755);
    expect(readFileSync(h.runner, "utf8")).toContain(`exec '${h.env.NODE_DIR}/bin/node' `);
    expect(alive(daemonPid(h))).toBe(true);
    rmSync(path.join(h.dir, "curl.log"));
    const again = install(h, env);
    expect(again.status, again.out).toBe(0);
    expect(changedLines(again)).toEqual([]);
    expect(existsSync(path.join(h.dir, "curl.log"))).toBe(false);
  });

  test("a download that does not match its SHA-256 is refused; nothing is unpacked", () => {
    const h = host();
    const r = install(h, dist(h, true));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR: node-v21\.99\.0-linux-\w+\.tar\.gz does not match its SHA-256 in https:\/\/nodejs\.org\/dist\/latest-v20\.x\/SHASUMS256\.txt/);
    expect(existsSync(h.env.NODE_DIR)).toBe(false);
    expect(existsSync(h.js) || existsSync(h.runner) || existsSync(h.bin)).toBe(false);
  });
});
