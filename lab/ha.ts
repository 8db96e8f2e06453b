/**
 * pandora_ha in the lab: it runs on every server host, pfms1 and pfms2 (installed and started by
 * the plan's runtime step, as `pulumi up` would), and the lab talks to each the way an
 * administrator does: `pandora_ha status` over SSH, its structured log, its pid file. Every
 * function takes the server host's name; without one, pfms1's. Also the part of Pandora's schema the daemon and
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
import type { LabHost } from "./layout";
import { paths } from "./layout";
import { PANDORA_SCHEMA } from "./pandora-schema";
import type { RunResult } from "./proc";
import { run, sleep } from "./proc";

export const HA_PID_FILE = "/var/run/pandora_ha.pid";
export const HA_LOG_FILE = "/var/log/pandora/pandora_ha.log";

/** The lab's server hosts (pfms1, pfms2), in order. */
export function serverHosts(lab: Lab): LabHost[] {
  return lab.state.hosts.filter((h) => h.kind === "server");
}

/** The server host `name`, or the first (pfms1). */
export function serverHost(lab: Lab, name?: string): LabHost {
  const h = name === undefined ? serverHosts(lab)[0] : serverHosts(lab).find((x) => x.name === name);
  if (!h) throw new Error(`no server host '${name}' in the lab (server hosts: ${serverHosts(lab).map((x) => x.name).join(", ")})`);
  return h;
}

/** Runs a command on a server host over SSH (as root, like an administrator). */
export function onServer(lab: Lab, command: string, timeoutMs = 60_000, server?: string): Promise<RunResult> {
  return run("ssh", [...sshArgs(serverHost(lab, server).address, lab.state.sshPort), command], { timeoutMs });
}

/** `pandora_ha <args>` on a server host (the conf path is appended where the command takes it). */
export function haCommand(lab: Lab, args: string, timeoutMs = 60_000, server?: string): Promise<RunResult> {
  return onServer(lab, `pandora_ha ${args}`, timeoutMs, server);
}

export async function haStatusJson(lab: Lab, server?: string): Promise<StatusReport & { daemonRunning: boolean }> {
  const r = await haCommand(lab, `status ${PANDORA_PATHS.serverConf} --json`, 30_000, server);
  if (r.code !== 0) throw new Error(`pandora_ha status failed: ${(r.stderr || r.stdout).trim()}`);
  return JSON.parse(r.stdout) as StatusReport & { daemonRunning: boolean };
}

/**
 * The status of the daemon that acts (holds the actor lock), with its host; undefined while
 * none or more than one claims it. Only the acting daemon keeps the durability record.
 */
export async function actingStatus(lab: Lab): Promise<(StatusReport & { daemonRunning: boolean; server: string }) | undefined> {
  const all = await Promise.all(serverHosts(lab).map((h) => haStatusJson(lab, h.name).then((r) => ({ ...r, server: h.name }), () => undefined)));
  const acting = all.filter((r) => r?.daemonRunning && r.daemon.actor);
  return acting.length === 1 ? acting[0] : undefined;
}

/** The daemon's pid on a server host, when it runs. */
export function daemonPid(lab: Lab, server?: string): number | undefined {
  const f = paths.inHost(serverHost(lab, server).name, HA_PID_FILE.replace(/^\/var\/run/, "/run"));
  try {
    const pid = Number(readFileSync(f, "utf8").trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Starts the daemon on a server host (detached, as the runtime step does without systemd); env through env(1): sshd passes none. */
export async function startDaemon(lab: Lab, env: Record<string, string> = {}, server?: string): Promise<void> {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ");
  const r = await onServer(lab, `${vars ? `env ${vars} ` : ""}pandora_ha -d -p ${HA_PID_FILE} ${PANDORA_PATHS.serverConf}`, 30_000, server);
  if (r.code !== 0) throw new Error(`pandora_ha did not start: ${(r.stderr || r.stdout).trim()}`);
}

/**
 * Stops the daemon: SIGKILL (a crash) or SIGTERM (a clean stop), and waits for it to be gone (up
 * to 20 s: a clean stop includes pandora_server's, whose init script takes about 7 s).
 */
export async function stopDaemon(lab: Lab, signal: "SIGKILL" | "SIGTERM", server?: string): Promise<void> {
  const pid = daemonPid(lab, server);
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

/** The daemon's structured log on a server host (or another log file there), from byte `from` on. */
export function readHaLog(lab: Lab, from = 0, file = HA_LOG_FILE, server?: string): { lines: LogLine[]; end: number } {
  const f = paths.inHost(serverHost(lab, server).name, file);
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
 * Prints the daemons' logs as they grow, each from its byte in `from` (server host → offset),
 * for up to `ms`, and stops 1.5 s after any of them says a failover or switchover ended (or
 * failed) or the budget was spent. A line is led by its server host's name when there are two.
 */
export async function followHaLogs(lab: Lab, from: Map<string, number>, ms: number, print: (s: string) => void): Promise<void> {
  const servers = serverHosts(lab).map((h) => h.name);
  const pos = new Map(servers.map((s) => [s, from.get(s) ?? 0]));
  const end = Date.now() + ms;
  let settleUntil = 0;
  while (Date.now() < end && (!settleUntil || Date.now() < settleUntil)) {
    for (const server of servers) {
      const r = readHaLog(lab, pos.get(server), HA_LOG_FILE, server);
      pos.set(server, r.end);
      for (const l of r.lines) {
        const d = describeLogLine(l);
        if (d) print(servers.length > 1 ? d.split("\n").map((x) => `${server}  ${x}`).join("\n") : d);
        if (!settleUntil && (/^(failover|switchover)_(end|failure)$/.test(l.event ?? "") || l.event === "budget_exhausted")) settleUntil = Date.now() + 1500;
      }
    }
    await sleep(100);
  }
}

export function haLogSize(lab: Lab, server?: string): number {
  return readHaLog(lab, Number.MAX_SAFE_INTEGER, HA_LOG_FILE, server).end;
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
