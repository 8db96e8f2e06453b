/**
 * Tentacle as deployed starts (issue 9, item 4), and the lab's stand-in Tentacle against the
 * real client (/usr/bin/tentacle_client, Debian's pandorafms-agent).
 *
 * 1. Without the lab, on 127.0.0.1: the stand-in started the way Pandora's init script starts
 *    Tentacle (as an unprivileged user, `-F conf`, no `&`) with a conf deployed the old way
 *    (0600 root:root, no `daemon`, its log directory missing) fails each of the three ways
 *    measured with the real one; with the conf as the step now deploys it, it forks and serves.
 *    Then the protocol: the real client sends files (with the password, through the filters,
 *    byte for byte), is refused what the real server refuses, fetches a file; a file appears in
 *    its directory only once complete.
 * 2. On the lab (`up`): pfms1's Tentacle, deployed by the program's `servers/pfms1/tentacle`
 *    step and started by the lab's copy of Pandora's init script, runs as `pandora`, restarts
 *    through that script, and the real tentacle_client delivers a file into pfms1's data_in.
 * The Tentacle password reaches the client through its environment, never a command line.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Socket, createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { onServer } from "../../lab/ha";
import { LAB_PANDORA_UID } from "../../lab/hosts";
import type { Lab, UpResult } from "../../lab/lab";
import { down, up } from "../../lab/lab";
import { paths } from "../../lab/layout";
import type { RunResult } from "../../lab/proc";
import { alive, run, sleep } from "../../lab/proc";
import { PANDORA_PATHS, renderTentacleConf } from "../../lib/render/pandora";
import { eventually, requireLabMachine } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const STAND_IN = path.join(ROOT, "lab", "stubs", "tentacle_server");
const INIT_STUB = path.join(ROOT, "lab", "stubs", "tentacle_serverd");
const CLIENT = "/usr/bin/tentacle_client";
const NOBODY = { uid: 65534, gid: 65534 };
const quiet = () => undefined;

/**
 * The real tentacle_client with ARGS; the password, when given, is passed as its -x from the
 * environment by a one-line Perl wrapper, so it is on no command line.
 */
function tentacleClient(args: string[], password?: string, cwd?: string): Promise<RunResult> {
  const wrapper =
    'my $p = delete $ENV{PHA_TENTACLE_PW}; unshift @ARGV, "-x", $p if defined $p && $p ne ""; ' +
    `do "${CLIENT}"; die "cannot run ${CLIENT}: " . ($@ || $!) . "\\n";`;
  const env = { ...process.env, PHA_TENTACLE_PW: password ?? "" };
  const r = run("sh", ["-c", 'cd "$1" && shift && exec perl -e "$@"', "sh", cwd ?? "/", wrapper, "--", ...args], { env, timeoutMs: 30_000 });
  return r;
}

async function freePort(address = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, address, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function answers(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(1000);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
    s.connect(port, address);
  });
}

const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
/** Session id and parent of a process (/proc/PID/stat fields 6 and 4). */
function sessionOf(pid: number): { sid: number; ppid: number } {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
  return { ppid: Number(f[1]), sid: Number(f[3]) };
}

function requireClient(): void {
  if (!existsSync(CLIENT)) throw new Error(`${CLIENT} is missing: apt-get install pandorafms-agent (the real Tentacle client)`);
  if (process.getuid?.() !== 0) throw new Error("these tests start Tentacle as another user (runuser): run them as root");
}

// ---------------------------------------------------------------------------------------------
// 1. Without the lab

interface Box {
  dir: string;
  bin: string;
  conf: string;
  incoming: string;
  logFile: string;
  pidFile: string;
  init: string;
  port: number;
}

const boxes: string[] = [];
const children: ChildProcess[] = [];

/** The box's own Tentacles (perl running its copy of the stand-in), found by their program's path. */
function standInPids(b: Pick<Box, "bin">): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
        return /perl$/.test(argv[0]) && argv[1] === b.bin;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A directory `nobody` reaches: the stand-in as bin/tentacle_server, data_in and run/ its, init.d's script. */
async function box(): Promise<Box> {
  const dir = mkdtempSync(path.join(tmpdir(), "pha-tentacle-it-"));
  boxes.push(dir);
  chmodSync(dir, 0o755);
  for (const d of ["bin", "etc", "run", "data_in", "data_in/conf"]) mkdirSync(path.join(dir, d), { recursive: true });
  for (const d of ["run", "data_in", "data_in/conf"]) chownSync(path.join(dir, d), NOBODY.uid, NOBODY.gid);
  const bin = path.join(dir, "bin", "tentacle_server");
  copyFileSync(STAND_IN, bin);
  chmodSync(bin, 0o755);
  const conf = path.join(dir, "etc", "tentacle_server.conf");
  const init = path.join(dir, "tentacle_serverd");
  // The lab's copy of Pandora's init script, its paths and user pointed at the box's.
  writeFileSync(
    init,
    readFileSync(INIT_STUB, "utf8")
      .replace(/^TENTACLE_PATH=.*$/m, `TENTACLE_PATH=${path.join(dir, "bin")}`)
      .replace(/^TENTACLE_USER=.*$/m, 'TENTACLE_USER="nobody"')
      .replace(/^TENTACLE_CONFIG_FILE=.*$/m, `TENTACLE_CONFIG_FILE=${conf}`)
      .replace(/^PID_DIR=.*$/m, `PID_DIR=${path.join(dir, "run")}`)
      .replaceAll("@ADDRESS@", "127.0.0.1"),
    { mode: 0o755 },
  );
  return {
    dir,
    bin,
    conf,
    incoming: path.join(dir, "data_in"),
    logFile: path.join(dir, "log", "tentacle", "tentacle.log"),
    pidFile: path.join(dir, "run", "tentacle_server.pid"),
    init,
    port: await freePort(),
  };
}

function render(b: Box, password?: string): string {
  return renderTentacleConf({ port: b.port, addresses: "127.0.0.1", incomingDir: b.incoming, logFile: b.logFile, password });
}

/** The conf as the step deployed it before: no daemon line. */
const oldWay = (c: string) => c.replace(/^daemon 1\n/m, "");

/** Tentacle as Pandora's init script runs it: as the user, `-F conf`, in the foreground. */
function asInitScriptDoes(b: Box, extraEnv: Record<string, string> = {}): Promise<RunResult> {
  return run("runuser", ["-u", "nobody", "--", b.bin, "-F", b.conf], { env: { ...process.env, ...extraEnv }, timeoutMs: 15_000 });
}

/** The conf as the step now deploys it (0640 root:<nobody's group>, daemon 1, its log directory nobody's). */
function deployNow(b: Box, password?: string): void {
  writeFileSync(b.conf, render(b, password));
  chownSync(b.conf, 0, NOBODY.gid);
  chmodSync(b.conf, 0o640);
  mkdirSync(path.dirname(b.logFile), { recursive: true });
  chownSync(path.dirname(b.logFile), NOBODY.uid, NOBODY.gid);
}

async function startDaemon(b: Box): Promise<number> {
  const r = await run(b.init, ["start"], { timeoutMs: 15_000 });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const pid = Number(readFileSync(b.pidFile, "utf8").trim());
  expect(alive(pid)).toBe(true);
  return pid;
}

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.pid) {
      try {
        process.kill(-c.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
  for (const d of boxes.splice(0)) {
    for (const pid of standInPids({ bin: path.join(d, "bin", "tentacle_server") })) if (alive(pid)) process.kill(pid, "SIGKILL");
    rmSync(d, { recursive: true, force: true });
  }
});

describe("the stand-in Tentacle started as Pandora's init script starts it", () => {
  beforeAll(requireClient);

  test("the conf the old way fails all three ways: unreadable (exit 1), no log directory (exit 2), no fork (the start never returns)", async () => {
    const b = await box();
    // (1) 0600 root:root, as the step wrote it when no pandora group existed.
    writeFileSync(b.conf, oldWay(render(b)), { mode: 0o600 });
    const unreadable = await asInitScriptDoes(b);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr.trim()).toBe(`[err] Configuration file ${b.conf} is not readable.`);
    const viaInit = await run(b.init, ["start"], { timeoutMs: 15_000 });
    expect(viaInit.code).toBe(7);
    expect(viaInit.stderr).toContain(`[err] Configuration file ${b.conf} is not readable.`);
    expect(viaInit.stdout).toContain("Tentacle Server could not be started.");

    // (2) readable now, but /…/log/tentacle does not exist.
    chownSync(b.conf, 0, NOBODY.gid);
    chmodSync(b.conf, 0o640);
    const noLogDir = await asInitScriptDoes(b);
    expect(noLogDir.code).toBe(2);
    expect(noLogDir.stderr).toContain(`Cannot open log file ${b.logFile}: No such file or directory`);
    expect(await answers("127.0.0.1", b.port)).toBe(false);

    // (3) log directory there, still no `daemon 1`: it serves in the foreground, so the init
    // script's start (no `&`) does not return.
    mkdirSync(path.dirname(b.logFile), { recursive: true });
    chownSync(path.dirname(b.logFile), NOBODY.uid, NOBODY.gid);
    const start = spawn(b.init, ["start"], { detached: true, stdio: "ignore" });
    children.push(start);
    await eventually("the foreground Tentacle listening", () => answers("127.0.0.1", b.port), 10_000);
    await sleep(4000);
    expect(start.exitCode).toBeNull();
    const fg = standInPids(b);
    expect(fg.length).toBe(1);
    expect(uidOf(fg[0])).toBe(NOBODY.uid);
    process.kill(-start.pid!, "SIGTERM");
    await eventually("the foreground Tentacle gone", async () => !alive(fg[0]), 10_000);
  }, 60_000);

  test("the conf as the step deploys it now: the start returns, Tentacle forked (a session of its own, its pid written), runs as the user; stop and restart work", async () => {
    const b = await box();
    deployNow(b);
    const t0 = Date.now();
    const pid = await startDaemon(b);
    // The script's own `sleep 1`, then it is found.
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(uidOf(pid)).toBe(NOBODY.uid);
    const { sid, ppid } = sessionOf(pid);
    expect(sid).toBe(pid);
    expect(ppid).not.toBe(process.pid);
    expect(await answers("127.0.0.1", b.port)).toBe(true);
    expect(readFileSync(b.logFile, "utf8")).toMatch(new RegExp(`Server listening on 127\\.0\\.0\\.1 port ${b.port} \\(daemon, pid ${pid}\\)`));
    // answers() made a connection, served by a child of its own; the init script's status
    // names the newest matching process (`tail -n 1`, as Pandora's does), so let that child end.
    await eventually("the connection's child gone", async () => standInPids(b).length === 1, 10_000);
    const status = await run(b.init, ["status"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`running with PID ${pid}`);
    // Started twice: still one.
    expect((await run(b.init, ["start"])).stdout).toContain("already running");
    const restart = await run(b.init, ["restart"], { timeoutMs: 30_000 });
    expect(restart.code, restart.stdout).toBe(0);
    expect(alive(pid)).toBe(false);
    const again = Number(readFileSync(b.pidFile, "utf8").trim());
    expect(again).not.toBe(pid);
    expect(alive(again)).toBe(true);
    expect((await run(b.init, ["stop"], { timeoutMs: 30_000 })).code).toBe(0);
    expect(alive(again)).toBe(false);
    expect((await run(b.init, ["status"])).code).toBe(7);
    expect(existsSync(b.pidFile)).toBe(false);
  }, 60_000);
});

describe("the stand-in speaks Tentacle to the real tentacle_client", () => {
  const PASSWORD = `pw${randomBytes(9).toString("hex")}`;
  beforeAll(requireClient);

  async function served(password?: string): Promise<Box> {
    const b = await box();
    deployNow(b, password);
    await startDaemon(b);
    return b;
  }

  function payload(b: Box, name: string, bytes: Buffer | string): string {
    const dir = path.join(b.dir, "out");
    mkdirSync(dir, { recursive: true });
    const f = path.join(dir, name);
    writeFileSync(f, bytes);
    return f;
  }

  test("files arrive byte for byte, through the filters, with the password; the wrong one or none is refused", async () => {
    const b = await served(PASSWORD);
    const xml = payload(b, "agent1.1700000000.data", '<?xml version="1.0"?><agent_data agent_name="agent1"><module><name>m</name><type>generic_data</type><data>1</data></module></agent_data>\n');
    const big = payload(b, "big.data", randomBytes(1_500_000));
    const conf = payload(b, "0123abcd.conf", "server_ip 10.0.0.1\n");
    const sent = await tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), xml, big, conf], PASSWORD);
    expect(sent.code, sent.stderr).toBe(0);
    const same = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));
    expect(same(path.join(b.incoming, "agent1.1700000000.data"), xml)).toBe(true);
    expect(same(path.join(b.incoming, "big.data"), big)).toBe(true);
    expect(same(path.join(b.incoming, "conf", "0123abcd.conf"), conf)).toBe(true);
    expect(existsSync(path.join(b.incoming, "0123abcd.conf"))).toBe(false);
    // Stored by the user Tentacle runs as; no temporary file left.
    expect(statSync(path.join(b.incoming, "big.data")).uid).toBe(NOBODY.uid);
    expect(readdirSync(b.incoming).sort()).toEqual(["agent1.1700000000.data", "big.data", "conf"]);

    const other = payload(b, "agent2.data", "x\n");
    const wrong = await tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), other], "not-the-password");
    expect(wrong.code).toBe(1);
    const none = await tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), other]);
    expect(none.code).toBe(1);
    expect(existsSync(path.join(b.incoming, "agent2.data"))).toBe(false);
    const log = readFileSync(b.logFile, "utf8");
    expect(log).toMatch(/Invalid password from 127\.0\.0\.1/);
    expect(log).toMatch(/Client 127\.0\.0\.1 did not authenticate/);
    expect(log).not.toContain(PASSWORD);
  });

  test("refused as the real server refuses: a file that exists (no overwrite), one above max_size, an invalid name", async () => {
    const b = await served();
    const f = payload(b, "dup.data", "first\n");
    expect((await tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), f])).code).toBe(0);
    writeFileSync(f, "second\n");
    const dup = await tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), f]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain("Server responded SEND ERR.");
    expect(readFileSync(path.join(b.incoming, "dup.data"), "utf8")).toBe("first\n");
    const tooBig = await tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), payload(b, "huge.data", Buffer.alloc(2_000_001, 1))]);
    expect(tooBig.code).toBe(1);
    expect(tooBig.stderr).toContain("Server responded SEND ERR.");
    const bad = await tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), payload(b, "a=b.data", "x")]);
    expect(bad.code).toBe(1);
    expect(readdirSync(b.incoming).sort()).toEqual(["conf", "dup.data"]);
  });

  test("-g fetches a file (through the filters), as agents fetch their remote configuration", async () => {
    const b = await served(PASSWORD);
    writeFileSync(path.join(b.incoming, "conf", "feedbeef.conf"), "remote config\n");
    const here = path.join(b.dir, "got");
    mkdirSync(here);
    const got = await tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), "-g", "feedbeef.conf"], PASSWORD, here);
    expect(got.code, got.stderr).toBe(0);
    expect(readFileSync(path.join(here, "feedbeef.conf"), "utf8")).toBe("remote config\n");
    const missing = await tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), "-g", "nothere.conf"], PASSWORD, here);
    expect(missing.code).toBe(1);
  });

  test("a file appears only complete: nothing under its name while its bytes arrive, nothing at all when the client goes away", async () => {
    const b = await served();
    const sock = new Socket();
    let received = "";
    sock.on("data", (d) => (received += d.toString()));
    await new Promise<void>((resolve, reject) => sock.once("error", reject).connect(b.port, "127.0.0.1", () => resolve()));
    const lineCount = () => received.split("\n").length - 1;
    const body = randomBytes(100_000);
    sock.write(`SEND <slow.data> SIZE ${body.length}\n`);
    await eventually("SEND OK", async () => lineCount() >= 1, 5000);
    expect(received).toBe("SEND OK\n");
    sock.write(body.subarray(0, 60_000));
    await eventually("the first bytes written to a temporary file", async () => readdirSync(b.incoming).some((f) => f.startsWith(".slow.data.")), 5000);
    const tmp = readdirSync(b.incoming).find((f) => f.startsWith(".slow.data."))!;
    expect(tmp.endsWith("~")).toBe(true);
    expect(existsSync(path.join(b.incoming, "slow.data"))).toBe(false);
    sock.write(body.subarray(60_000));
    await eventually("the second SEND OK", async () => lineCount() >= 2, 5000);
    expect(readFileSync(path.join(b.incoming, "slow.data")).equals(body)).toBe(true);
    expect(readdirSync(b.incoming).sort()).toEqual(["conf", "slow.data"]);
    sock.write("QUIT\n");
    sock.destroy();

    // A client that goes away in the middle: no file, and its temporary file removed.
    const cut = new Socket();
    await new Promise<void>((resolve, reject) => cut.once("error", reject).connect(b.port, "127.0.0.1", () => resolve()));
    let ok = "";
    cut.on("data", (d) => (ok += d.toString()));
    cut.write("SEND <cut.data> SIZE 50000\n");
    await eventually("SEND OK", async () => ok === "SEND OK\n", 5000);
    cut.write(Buffer.alloc(20_000, 7));
    await sleep(300);
    cut.destroy();
    await eventually("the temporary file removed", async () => readdirSync(b.incoming).every((f) => !f.startsWith(".cut.data.")), 5000);
    expect(existsSync(path.join(b.incoming, "cut.data"))).toBe(false);
  });

  test("20 clients at once (max_connections 10): every file arrives", async () => {
    const b = await served(PASSWORD);
    const files = Array.from({ length: 20 }, (_, i) => payload(b, `agent${i}.data`, `<agent_data agent_name="agent${i}"/>\n`));
    const results = await Promise.all(files.map((f) => tentacleClient(["-a", "127.0.0.1", "-p", String(b.port), f], PASSWORD)));
    expect(results.map((r) => r.code)).toEqual(files.map(() => 0));
    for (let i = 0; i < 20; i++) expect(readFileSync(path.join(b.incoming, `agent${i}.data`), "utf8")).toBe(`<agent_data agent_name="agent${i}"/>\n`);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. On the lab

describe("on the lab: pfms1's Tentacle as the servers/pfms1/tentacle step deploys it", () => {
  let first: UpResult;
  let lab: Lab;
  const inPfms1 = (p: string) => paths.inHost("pfms1", p);
  const tentaclePid = () => Number(readFileSync(inPfms1("/run/tentacle/tentacle_server.pid"), "utf8").trim());

  beforeAll(async () => {
    requireClient();
    await requireLabMachine();
    first = await up(2, quiet);
    lab = first.lab;
  }, 300_000);

  afterAll(async () => {
    await down(quiet);
  }, 120_000);

  test("the step made the conf readable by pandora only, created /var/log/tentacle, rendered daemon 1 and started Tentacle", () => {
    const step = first.steps.find((s) => s.id === "servers/pfms1/tentacle")!;
    expect(step.changed.join("\n")).toMatch(/tentacle_server\.conf \(0640 root:pandora; Tentacle runs as pandora\)/);
    expect(step.changed.join("\n")).toMatch(/\/var\/log\/tentacle \(0750 pandora:pandora/);
    expect(step.changed.join("\n")).toMatch(/started tentacle_serverd/);
    const conf = statSync(inPfms1(PANDORA_PATHS.tentacleConf));
    expect([conf.uid, conf.gid, (conf.mode & 0o777).toString(8)]).toEqual([0, LAB_PANDORA_UID, "640"]);
    expect(readFileSync(inPfms1(PANDORA_PATHS.tentacleConf), "utf8")).toMatch(/^daemon 1$/m);
    const logDir = statSync(inPfms1(path.dirname(PANDORA_PATHS.tentacleLog)));
    expect([logDir.uid, logDir.gid, (logDir.mode & 0o777).toString(8)]).toEqual([LAB_PANDORA_UID, LAB_PANDORA_UID, "750"]);
  });

  test("Tentacle runs as pandora, forked (a session of its own), on pfms1's address, found by the init script", async () => {
    const pid = tentaclePid();
    expect(alive(pid)).toBe(true);
    expect(uidOf(pid)).toBe(LAB_PANDORA_UID);
    expect(sessionOf(pid).sid).toBe(pid);
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toEqual(
      expect.arrayContaining(["/usr/bin/tentacle_server", "-F", PANDORA_PATHS.tentacleConf]),
    );
    expect(await answers("127.0.1.100", lab.cfg.tentaclePort)).toBe(true);
    expect(readFileSync(inPfms1(PANDORA_PATHS.tentacleLog), "utf8")).toMatch(
      new RegExp(`Server listening on 127\\.0\\.1\\.100 port ${lab.cfg.tentaclePort} \\(daemon, pid ${pid}\\)`),
    );
    const status = await onServer(lab, `${PANDORA_PATHS.tentacleServiceCmd} status`);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`running with PID ${pid}`);
  });

  test("the real tentacle_client delivers an agent file into pfms1's data_in, with the stack's password", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pha-tentacle-agent-"));
    boxes.push(dir);
    const name = `lab-agent.${Date.now()}.data`;
    const f = path.join(dir, name);
    writeFileSync(f, `<?xml version="1.0"?><agent_data agent_name="lab-agent" timestamp="2026-01-01 00:00:00"><module><name>x</name><type>generic_data</type><data>7</data></module></agent_data>\n`);
    const r = await tentacleClient(["-a", "127.0.1.100", "-p", String(lab.cfg.tentaclePort), f], lab.secrets.passwords.tentaclePassword);
    expect(r.code, r.stderr).toBe(0);
    const landed = inPfms1(`${PANDORA_PATHS.incomingDir}/${name}`);
    expect(readFileSync(landed).equals(readFileSync(f))).toBe(true);
    expect(statSync(landed).uid).toBe(LAB_PANDORA_UID);
    // The wrong password stores nothing.
    const again = path.join(dir, `other.${name}`);
    writeFileSync(again, "x\n");
    expect((await tentacleClient(["-a", "127.0.1.100", "-p", String(lab.cfg.tentaclePort), again], "wrong")).code).toBe(1);
    expect(existsSync(inPfms1(`${PANDORA_PATHS.incomingDir}/other.${name}`))).toBe(false);
  });

  test("restart and start through the init script return (it forks); a second deploy leaves Tentacle alone", async () => {
    const before = tentaclePid();
    const t0 = Date.now();
    const restart = await onServer(lab, `${PANDORA_PATHS.tentacleServiceCmd} restart`, 90_000);
    expect(restart.code, restart.stdout + restart.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    const after = tentaclePid();
    expect(after).not.toBe(before);
    expect(alive(before)).toBe(false);
    expect(uidOf(after)).toBe(LAB_PANDORA_UID);
    const again = await up(2, quiet);
    const step = again.steps.find((s) => s.id === "servers/pfms1/tentacle")!;
    expect(step.changed).toEqual([]);
    expect(tentaclePid()).toBe(after);
  }, 180_000);
});
