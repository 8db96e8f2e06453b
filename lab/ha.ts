/**
 * pandora_ha in the lab: it runs on pfms1 (installed and started by the plan's runtime step, as
 * `pulumi up` would), and the lab talks to it the way an administrator does: `pandora_ha status`
 * over SSH, its structured log, its pid file. Also the part of Pandora's schema the daemon and
 * the split-brain merge touch, which the Pandora console installer creates on a real cluster.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import * as mysql from "mysql2/promise";
import { PANDORA_PATHS } from "../lib/render/pandora";
import { formatPhase } from "../runtime/cli";
import type { StatusReport } from "../runtime/daemon";
import type { Timeline } from "../runtime/state";
import { sshArgs } from "./deploy";
import type { Lab } from "./lab";
import { paths } from "./layout";
import { PANDORA_SCHEMA } from "./pandora-schema";
import type { RunResult } from "./proc";
import { run, sleep } from "./proc";

export const HA_PID_FILE = "/var/run/pandora_ha.pid";
export const HA_LOG_FILE = "/var/log/pandora/pandora_ha.log";

export function serverHost(lab: Lab) {
  return lab.state.hosts.find((h) => h.kind === "server")!;
}

/** Runs a command on pfms1 over SSH (as root, like an administrator). */
export function onServer(lab: Lab, command: string, timeoutMs = 60_000): Promise<RunResult> {
  return run("ssh", [...sshArgs(serverHost(lab).address, lab.state.sshPort), command], { timeoutMs });
}

/** `pandora_ha <args>` on pfms1 (the conf path is appended where the command takes it). */
export function haCommand(lab: Lab, args: string, timeoutMs = 60_000): Promise<RunResult> {
  return onServer(lab, `pandora_ha ${args}`, timeoutMs);
}

export async function haStatusJson(lab: Lab): Promise<StatusReport & { daemonRunning: boolean }> {
  const r = await haCommand(lab, `status ${PANDORA_PATHS.serverConf} --json`, 30_000);
  if (r.code !== 0) throw new Error(`pandora_ha status failed: ${(r.stderr || r.stdout).trim()}`);
  return JSON.parse(r.stdout) as StatusReport & { daemonRunning: boolean };
}

/** The daemon's pid on pfms1, when it runs. */
export function daemonPid(lab: Lab): number | undefined {
  const f = paths.inHost(serverHost(lab).name, HA_PID_FILE.replace(/^\/var\/run/, "/run"));
  try {
    const pid = Number(readFileSync(f, "utf8").trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Starts the daemon on pfms1 (detached, as the runtime step does without systemd); env through env(1): sshd passes none. */
export async function startDaemon(lab: Lab, env: Record<string, string> = {}): Promise<void> {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ");
  const r = await onServer(lab, `${vars ? `env ${vars} ` : ""}pandora_ha -d -p ${HA_PID_FILE} ${PANDORA_PATHS.serverConf}`, 30_000);
  if (r.code !== 0) throw new Error(`pandora_ha did not start: ${(r.stderr || r.stdout).trim()}`);
}

/**
 * Stops the daemon: SIGKILL (a crash) or SIGTERM (a clean stop), and waits for it to be gone (up
 * to 20 s: a clean stop includes pandora_server's, whose init script takes about 7 s).
 */
export async function stopDaemon(lab: Lab, signal: "SIGKILL" | "SIGTERM"): Promise<void> {
  const pid = daemonPid(lab);
  if (!pid) return;
  process.kill(pid, signal);
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    await sleep(100);
  }
}

export interface LogLine {
  time: string;
  event?: string;
  severity?: string;
  message?: string;
  [k: string]: unknown;
}

/** The daemon's structured log on pfms1 (or another log file there), from byte `from` on. */
export function readHaLog(lab: Lab, from = 0, file = HA_LOG_FILE): { lines: LogLine[]; end: number } {
  const f = paths.inHost(serverHost(lab).name, file);
  if (!existsSync(f)) return { lines: [], end: 0 };
  const size = statSync(f).size;
  if (size <= from) return { lines: [], end: size };
  const text = readFileSync(f).subarray(from, size).toString("utf8");
  const cut = text.lastIndexOf("\n") + 1;
  const lines = text
    .slice(0, cut)
    .split("\n")
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
  return { lines, end: from + Buffer.byteLength(text.slice(0, cut)) };
}

/** One human line for a log entry (events and failover phases), or undefined for the rest. */
export function describeLogLine(l: LogLine): string | undefined {
  const t = l.time.slice(11, 23);
  if (l.event) return `${t}  ${String(l.severity).padEnd(8)} ${l.event.padEnd(20)} ${l.message}`;
  if (l.check) return `${t}  check    secondary            ${String(l.replica)} reaches ${String(l.master)}: ${String(l.reaches)}`;
  const tl = l.timeline as Timeline | undefined;
  if (tl?.phases) {
    const t0 = tl.phases[0]?.start ?? 0;
    return tl.phases.map((p) => `${t}  phase    ${formatPhase(p, t0)}`).join("\n");
  }
  return undefined;
}

/**
 * Prints the daemon's log as it grows, from byte `from`, for up to `ms`, and stops early once a
 * failover or switchover ends (or fails) or `until` matches a line.
 */
export async function followHaLog(lab: Lab, from: number, ms: number, print: (s: string) => void, until?: (l: LogLine) => boolean): Promise<number> {
  const end = Date.now() + ms;
  let pos = from;
  let settleUntil = 0;
  while (Date.now() < end && (!settleUntil || Date.now() < settleUntil)) {
    const r = readHaLog(lab, pos);
    pos = r.end;
    for (const l of r.lines) {
      const d = describeLogLine(l);
      if (d) print(d);
      if (!settleUntil && (/^(failover|switchover)_(end|failure)$/.test(l.event ?? "") || l.event === "budget_exhausted" || until?.(l))) settleUntil = Date.now() + 1500;
    }
    await sleep(100);
  }
  return pos;
}

export function haLogSize(lab: Lab): number {
  return readHaLog(lab, Number.MAX_SAFE_INTEGER).end;
}

/**
 * The tables of Pandora's schema the lab creates (lab/pandora-schema.ts: the real columns), as
 * the console installer creates them on a real cluster. Created through the master, so they
 * replicate.
 */
export const PANDORA_SCHEMA_SUBSET = PANDORA_SCHEMA;

export async function createPandoraSchema(lab: Lab, masterAddress: string): Promise<void> {
  const c = await mysql.createConnection({
    host: masterAddress,
    port: lab.cfg.dbPort,
    user: lab.cfg.pandoraDbUser,
    password: lab.secrets.passwords.pandoraDbPassword,
    database: lab.cfg.dbName,
    connectTimeout: 2000,
  });
  try {
    for (const q of PANDORA_SCHEMA_SUBSET) await c.query({ sql: q, timeout: 15_000 });
  } finally {
    c.destroy();
  }
}
