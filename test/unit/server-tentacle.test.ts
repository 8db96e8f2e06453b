/**
 * scripts/server-tentacle.sh, for real, as root, on temporary paths: the conf rendered by
 * renderTentacleConf, the lab's stand-in Tentacle (lab/stubs/tentacle_server) started by the
 * lab's copy of Pandora's init script (lab/stubs/tentacle_serverd, its paths and user pointed at
 * the test's: user `nobody`), over /etc/init.d in a mount namespace of the test's own; and with
 * a fake systemctl whose unit names the user. What it shows: the conf is readable by the user
 * Tentacle runs as and by nobody else, the log directory exists and is that user's, the start
 * returns (daemon 1) and Tentacle runs as that user; a second run changes nothing; bad input
 * (no such user, no daemon 1, a directory it cannot write, a log in /var/log) fails naming the
 * key or the user, with nothing written.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { alive } from "../../lab/proc";
import { renderTentacleConf } from "../../lib/render/pandora";

const ROOT = path.join(__dirname, "..", "..");
const SCRIPT = path.join(ROOT, "scripts", "server-tentacle.sh");
const STAND_IN = path.join(ROOT, "lab", "stubs", "tentacle_server");
const INIT_STUB = path.join(ROOT, "lab", "stubs", "tentacle_serverd");
const SERVICE = "pha-test-tentacle";
const PASSWORD = "tentacleS3cretForTheUnitTest";
const NOBODY = { uid: 65534, group: "nogroup" };

/** A fake systemctl: records its calls; its unit runs the stand-in as FAKE_UNIT_USER, Type=forking. */
const FAKE_SYSTEMCTL = `#!/usr/bin/env bash
echo "$*" >>"$FAKE_SYSTEMCTL_LOG"
running() { [[ -r "$FAKE_PID_FILE" ]] && kill -0 "$(cat "$FAKE_PID_FILE")" 2>/dev/null; }
start() {
  local as=()
  [[ -n "$FAKE_UNIT_USER" ]] && as=(runuser -u "$FAKE_UNIT_USER" --)
  install -d -o "\${FAKE_UNIT_USER:-root}" "$(dirname "$FAKE_PID_FILE")"
  # Type=forking: done when the first process exits (bounded, as systemd's TimeoutStartSec).
  LAB_TENTACLE_PID_FILE=$FAKE_PID_FILE timeout 10 "\${as[@]}" "$FAKE_TENTACLE" -F "$FAKE_CONF" </dev/null >/dev/null 2>&1
}
case "$1" in
  cat) [[ "$2" == "${SERVICE}.service" ]] ;;
  show) printf '%s\\n' "$FAKE_UNIT_USER" ;;
  enable) ;;
  is-active) running ;;
  start) start ;;
  restart) if running; then kill "$(cat "$FAKE_PID_FILE")"; while running; do sleep 0.05; done; fi; start ;;
  *) exit 1 ;;
esac
`;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("these tests run server-tentacle.sh as it runs on a host: as root (chown, runuser, a mount namespace)");
  for (const bin of ["unshare", "runuser", "perl", "service"]) {
    const r = spawnSync("sh", ["-c", `command -v ${bin}`]);
    if (r.status !== 0) throw new Error(`${bin} is missing`);
  }
});

interface Host {
  dir: string;
  conf: string;
  incoming: string;
  logFile: string;
  pidFile: string;
  initd: string;
  port: number;
  env: Record<string, string>;
}

const dirs: string[] = [];
/** PIDs of the processes running the test's own copy of the stand-in (its path is unique). */
function standInPids(dir: string): number[] {
  const bin = path.join(dir, "bin", "tentacle_server");
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").includes(bin);
      } catch {
        return false;
      }
    })
    .map(Number);
}
afterEach(() => {
  for (const d of dirs.splice(0)) {
    // The Tentacles this test started, found by their program's path.
    for (const pid of standInPids(d)) if (alive(pid)) process.kill(pid, "SIGKILL");
    rmSync(d, { recursive: true, force: true });
  }
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function conf(h: Pick<Host, "port" | "incoming" | "logFile">, over: (c: string) => string = (c) => c): string {
  return over(renderTentacleConf({ port: h.port, addresses: "127.0.0.1", incomingDir: h.incoming, logFile: h.logFile, password: PASSWORD }));
}

/** A host: the stand-in as D/bin/tentacle_server, Pandora's init script (lab copy) as /etc/init.d/SERVICE. */
async function host(opts: { user?: string; systemd?: boolean; unitUser?: string } = {}): Promise<Host> {
  const dir = mkdtempSync(path.join(tmpdir(), "pha-tentacle-"));
  dirs.push(dir);
  chmodSync(dir, 0o755); // nobody must reach what is inside
  for (const d of ["bin", "initd", "run", "etc", "fakebin", "systemd-run"]) mkdirSync(path.join(dir, d));
  const incoming = path.join(dir, "data_in");
  mkdirSync(incoming);
  chownSync(incoming, NOBODY.uid, NOBODY.uid);
  const bin = path.join(dir, "bin", "tentacle_server");
  copyFileSync(STAND_IN, bin);
  chmodSync(bin, 0o755);
  const confPath = path.join(dir, "etc", "tentacle", "tentacle_server.conf");
  const pidFile = path.join(dir, "run", "tentacle_server.pid");
  const init = readFileSync(INIT_STUB, "utf8")
    .replace(/^TENTACLE_PATH=.*$/m, `TENTACLE_PATH=${path.join(dir, "bin")}`)
    .replace(/^TENTACLE_USER=.*$/m, `TENTACLE_USER="${opts.user ?? "nobody"}"`)
    .replace(/^TENTACLE_CONFIG_FILE=.*$/m, `TENTACLE_CONFIG_FILE=${confPath}`)
    .replace(/^PID_DIR=.*$/m, `PID_DIR=${path.join(dir, "run")}`)
    .replaceAll("@ADDRESS@", "127.0.0.1");
  writeFileSync(path.join(dir, "initd", SERVICE), init, { mode: 0o755 });
  writeFileSync(path.join(dir, "fakebin", "systemctl"), FAKE_SYSTEMCTL, { mode: 0o755 });
  const port = await freePort();
  const logFile = path.join(dir, "log", "tentacle", "tentacle.log");
  const env: Record<string, string> = {
    PATH: `${path.join(dir, "fakebin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    PHA_STEP: "server-tentacle",
    PHA_STATE_DIR: path.join(dir, "pha-state"),
    PHA_SYSTEMD_DIR: path.join(dir, opts.systemd ? "systemd-run" : "no-systemd"),
    TENTACLE_CONF_PATH: confPath,
    TENTACLE_SERVICE: SERVICE,
    TENTACLE_CONF: conf({ port, incoming, logFile }),
    FAKE_SYSTEMCTL_LOG: path.join(dir, "systemctl.log"),
    FAKE_UNIT_USER: opts.unitUser ?? "",
    FAKE_PID_FILE: pidFile,
    FAKE_TENTACLE: bin,
    FAKE_CONF: confPath,
  };
  return { dir, conf: confPath, incoming, logFile, pidFile, initd: path.join(dir, "initd"), port, env };
}

interface Run {
  status: number | null;
  stdout: string;
  out: string;
}
/** The step, as on a host: without systemd, over an /etc/init.d holding only the test's init script. */
function step(h: Host, over: Record<string, string> = {}, systemd = false): Run {
  const env = { ...h.env, ...over };
  const r = systemd
    ? spawnSync("bash", [SCRIPT], { env, encoding: "utf8", timeout: 60_000 })
    : spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", 'mount --bind "$1" /etc/init.d && exec bash "$2"', "sh", h.initd, SCRIPT], {
        env,
        encoding: "utf8",
        timeout: 60_000,
      });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, out: r.stdout + r.stderr };
}

const tentaclePid = (h: Host) => Number(readFileSync(h.pidFile, "utf8").trim());
const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);
const gid = (group: string) => Number(readFileSync("/etc/group", "utf8").split("\n").find((l) => l.startsWith(`${group}:`))!.split(":")[2]);
const changedLines = (r: Run) => r.stdout.split("\n").filter((l) => / changed: /.test(l));

describe("the lab's Tentacle stand-ins", () => {
  test("tentacle_server compiles (perl -c, warnings on); tentacle_serverd is shellcheck-clean", () => {
    const perl = spawnSync("perl", ["-wc", STAND_IN], { encoding: "utf8" });
    expect(perl.stderr.trim()).toBe(`${STAND_IN} syntax OK`);
    expect(perl.status).toBe(0);
    const sc = spawnSync("shellcheck", [INIT_STUB], { encoding: "utf8" });
    if (sc.error) throw new Error("shellcheck is not installed: apt-get install shellcheck");
    expect(sc.stdout + sc.stderr).toBe("");
    expect(sc.status).toBe(0);
  });
});

describe("server-tentacle.sh with Pandora's init script (no systemd)", () => {
  test("the conf is 0640 root:<the user's group>, the log directory the user's; Tentacle starts, forks and runs as that user", async () => {
    const h = await host();
    const r = step(h);
    expect(r.status, r.out).toBe(0);
    expect(r.out).not.toContain(PASSWORD);
    expect(statSync(h.conf)).toMatchObject({ uid: 0, gid: gid(NOBODY.group) });
    expect(mode(h.conf)).toBe("640");
    expect(readFileSync(h.conf, "utf8")).toBe(h.env.TENTACLE_CONF);
    const logDir = path.dirname(h.logFile);
    expect(statSync(logDir)).toMatchObject({ uid: NOBODY.uid, gid: gid(NOBODY.group) });
    expect(mode(logDir)).toBe("750");
    expect(r.stdout).toMatch(/changed: .*tentacle_server\.conf \(0640 root:nogroup; Tentacle runs as nobody\)/);
    expect(r.stdout).toMatch(/changed: started pha-test-tentacle/);
    const pid = tentaclePid(h);
    expect(alive(pid)).toBe(true);
    expect(uidOf(pid)).toBe(NOBODY.uid);
    // It opened its log (as nobody, in the directory the step made).
    expect(readFileSync(h.logFile, "utf8")).toMatch(/Server listening on 127\.0\.0\.1 port \d+ \(daemon, pid \d+\)/);
  });

  test("a second run changes nothing; a changed conf restarts Tentacle", async () => {
    const h = await host();
    expect(step(h).status).toBe(0);
    const pid = tentaclePid(h);
    const again = step(h);
    expect(again.status, again.out).toBe(0);
    expect(changedLines(again)).toEqual([]);
    expect(again.stdout).toMatch(/unchanged: pha-test-tentacle running/);
    expect(tentaclePid(h)).toBe(pid);
    const port = await freePort();
    const moved = step(h, { TENTACLE_CONF: conf({ ...h, port }) });
    expect(moved.status, moved.out).toBe(0);
    expect(moved.stdout).toMatch(/changed: restarted pha-test-tentacle/);
    expect(alive(pid)).toBe(false);
    expect(alive(tentaclePid(h))).toBe(true);
    expect(readFileSync(h.logFile, "utf8")).toContain(`port ${port} (daemon`);
  });

  test("a conf deployed the old way (0600 root:root, no daemon) with Tentacle down is fixed and Tentacle started", async () => {
    const h = await host();
    mkdirSync(path.dirname(h.conf), { recursive: true });
    writeFileSync(h.conf, conf(h, (c) => c.replace("daemon 1\n", "")), { mode: 0o600 });
    const r = step(h);
    expect(r.status, r.out).toBe(0);
    expect(mode(h.conf)).toBe("640");
    expect(readFileSync(h.conf, "utf8")).toMatch(/^daemon 1$/m);
    expect(alive(tentaclePid(h))).toBe(true);
  });

  test("the user Tentacle runs as does not exist: an error naming it, nothing written", async () => {
    const h = await host({ user: "pha-no-such-user" });
    const r = step(h);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/Tentacle runs as user pha-no-such-user \(TENTACLE_USER in \/etc\/init\.d\/pha-test-tentacle\), and no such user exists/);
    expect(existsSync(h.conf)).toBe(false);
    expect(existsSync(path.dirname(h.logFile))).toBe(false);
    expect(r.out).not.toContain(PASSWORD);
  });

  test.each([
    ["no daemon line", (c: string) => c.replace("daemon 1\n", ""), /TENTACLE_CONF: daemon must be 1 \(got 'nothing'\)/],
    ["daemon 0", (c: string) => c.replace("daemon 1\n", "daemon 0\n"), /TENTACLE_CONF: daemon must be 1 \(got '0'\)/],
    ["a log directly in /var/log", (c: string) => c.replace(/^log_file .*$/m, "log_file /var/log/tentacle.log"), /TENTACLE_CONF: log_file \/var\/log\/tentacle\.log is in \/var\/log/],
    ["a relative log", (c: string) => c.replace(/^log_file .*$/m, "log_file tentacle.log"), /TENTACLE_CONF: log_file must be an absolute path/],
    ["no directory", (c: string) => c.replace(/^directory .*\n/m, ""), /TENTACLE_CONF: directory \(where Tentacle stores agent files\) is missing/],
    ["a directory that does not exist", (c: string) => c.replace(/^directory .*$/m, "directory /nonexistent/data_in"), /TENTACLE_CONF: directory \/nonexistent\/data_in does not exist/],
  ])("bad conf (%s): an error naming the key, nothing written, Tentacle not started", async (_name, edit, message) => {
    const h = await host();
    const r = step(h, { TENTACLE_CONF: conf(h, edit) });
    expect(r.status).toBe(1);
    expect(r.out).toMatch(message);
    expect(r.out).not.toContain(PASSWORD);
    expect(existsSync(h.conf)).toBe(false);
    expect(existsSync(path.dirname(h.logFile))).toBe(false);
    expect(existsSync(h.pidFile)).toBe(false);
  });

  test("a directory the user cannot write: an error naming the directory and the user", async () => {
    const h = await host();
    chownSync(h.incoming, 0, 0);
    const r = step(h);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/TENTACLE_CONF: directory .*data_in is not writable by nobody, the user Tentacle runs as/);
    expect(existsSync(h.conf)).toBe(false);
  });
});

describe("server-tentacle.sh with systemd", () => {
  test("the user comes from the unit's User=; enabled, started, then unchanged", async () => {
    const h = await host({ systemd: true, unitUser: "nobody" });
    const r = step(h, {}, true);
    expect(r.status, r.out).toBe(0);
    expect(statSync(h.conf)).toMatchObject({ uid: 0, gid: gid(NOBODY.group) });
    expect(mode(h.conf)).toBe("640");
    expect(statSync(path.dirname(h.logFile)).uid).toBe(NOBODY.uid);
    expect(uidOf(tentaclePid(h))).toBe(NOBODY.uid);
    const calls = readFileSync(h.env.FAKE_SYSTEMCTL_LOG, "utf8");
    expect(calls).toMatch(/^show -p User --value pha-test-tentacle$/m);
    expect(calls).toMatch(/^enable pha-test-tentacle$/m);
    expect(calls).toMatch(/^start pha-test-tentacle$/m);
    const again = step(h, {}, true);
    expect(again.status, again.out).toBe(0);
    expect(changedLines(again)).toEqual([]);
  });

  test("a unit without User= runs Tentacle as root: root:root 0640", async () => {
    const h = await host({ systemd: true, unitUser: "" });
    const r = step(h, {}, true);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toMatch(/Tentacle runs as root/);
    expect(statSync(h.conf)).toMatchObject({ uid: 0, gid: 0 });
    expect(mode(h.conf)).toBe("640");
    expect(uidOf(tentaclePid(h))).toBe(0);
  });
});
