/**
 * pandora_ha's command line, compatible with the original's:
 *   pandora_ha [-d] [-p pidfile] <pandora_server.conf>      run (foreground unless -d)
 *   pandora_ha check-config <conf>                           every problem with its line; exit 2 if any
 *   pandora_ha status <conf> [--json]                        the cluster as the daemon sees it
 *   pandora_ha switchover <conf> <host>                      planned, no write lost
 *   pandora_ha resync <conf> <master> <slave>                runs ha_resync (the resync tool)
 * Bad arguments or configuration: a message, exit 2, nothing touched.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { request } from "node:http";
import type { HaSettings } from "./conf";
import { confWarnings, formatProblems, readHaConf } from "./conf";
import type { StatusReport } from "./daemon";
import { Daemon } from "./daemon";
import { EventLog, insertEvents } from "./publish/events";
import { runShell } from "./exec";
import { NodeConnection, sessionOptions, shortError } from "./observe/probe";
import { serverRestarted } from "./act/actions";
import type { Phase, Timeline } from "./state";

export const USAGE = `usage:
  pandora_ha [-d] [-p pidfile] <pandora_server.conf>
  pandora_ha check-config <pandora_server.conf>
  pandora_ha status <pandora_server.conf> [--json]
  pandora_ha switchover <pandora_server.conf> <host>
  pandora_ha failover <pandora_server.conf> <host> [--force]
  pandora_ha resync <pandora_server.conf> <master> <slave>`;

class UsageError extends Error {}

type Out = (s: string) => void;
const out: Out = (s) => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
const err: Out = (s) => process.stderr.write(s.endsWith("\n") ? s : `${s}\n`);

function loadSettings(path: string): HaSettings {
  const { settings, problems } = readHaConf(path);
  if (!settings) throw new UsageError(`${formatProblems(path, problems)}\npandora_ha: ${problems.length} problem(s) in ${path}; nothing was done`);
  return settings;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const [cmd, ...rest] = argv;
    switch (cmd) {
      case "check-config":
        return checkConfig(rest);
      case "status":
        return await status(rest);
      case "switchover":
        return await switchoverCmd(rest);
      case "failover":
        return await failoverCmd(rest);
      case "resync":
        return await resync(rest);
      case "-h":
      case "--help":
      case "help":
        out(USAGE);
        return 0;
      default:
        return await runDaemon(argv);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(e.message);
      return 2;
    }
    err(`pandora_ha: ${shortError(e)}`);
    return 1;
  }
}

function checkConfig(args: string[]): number {
  if (args.length !== 1) throw new UsageError(`check-config takes one argument, the pandora_server.conf path\n${USAGE}`);
  const { settings, problems } = readHaConf(args[0]);
  if (!settings) {
    err(formatProblems(args[0], problems));
    err(`${problems.length} problem(s)`);
    return 2;
  }
  out(`${args[0]}: OK — ha_hosts ${settings.haHosts.join(", ")}; probe every ${settings.probeInterval} s (timeout ${settings.probeTimeout} s), down after ${settings.connectRetries} failed probes; failover budget ${settings.failoverBudget} per ${settings.failoverWindow} s`);
  for (const w of confWarnings(settings)) out(`${args[0]}: warning: ${w}`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The daemon

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Creates the pid file; refuses when it names a live process. */
function takePidFile(file: string): void {
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, "utf8").trim());
    if (pid > 0 && pid !== process.pid && pidAlive(pid)) throw new Error(`already running (pid ${pid}, pid file ${file})`);
    unlinkSync(file);
  }
  const fd = openSync(file, "wx", 0o644);
  writeSync(fd, `${process.pid}\n`);
  closeSync(fd);
}

async function runDaemon(argv: string[]): Promise<number> {
  let detach = false;
  let pidFile: string | undefined;
  const pos: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-d") detach = true;
    else if (a === "-p") {
      pidFile = argv[++i];
      if (!pidFile) throw new UsageError(`-p needs a pid file path\n${USAGE}`);
    } else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}\n${USAGE}`);
    else pos.push(a);
  }
  if (pos.length !== 1) throw new UsageError(`expected one pandora_server.conf path${pos.length ? `, got ${pos.length} arguments` : ""}\n${USAGE}`);
  const settings = loadSettings(pos[0]);
  pidFile ??= settings.pidFile;
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    if (pid > 0 && pidAlive(pid)) throw new Error(`already running (pid ${pid}, pid file ${pidFile})`);
  }

  if (detach) {
    const args = [process.argv[1], "-p", pidFile, pos[0]];
    const child = spawn(process.execPath, args, { detached: true, stdio: "ignore", env: { ...process.env, PANDORA_HA_DETACHED: "1" } });
    let exited: number | null = null;
    child.on("exit", (c) => (exited = c ?? 1));
    child.unref();
    for (let i = 0; i < 100; i++) {
      if (exited !== null) throw new Error(`the daemon exited at once (code ${exited}); see ${settings.logFile}`);
      try {
        if (Number(readFileSync(pidFile, "utf8").trim()) === child.pid) {
          out(`pandora_ha running (pid ${child.pid})`);
          return 0;
        }
      } catch {
        // not written yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the daemon did not write ${pidFile} within 10 s`);
  }

  takePidFile(pidFile);
  const foreground = !process.env.PANDORA_HA_DETACHED;
  const events = new EventLog(settings.logFile, foreground ? (l) => out(l) : undefined);
  const daemon = new Daemon(settings, events);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    events.emit("daemon_stop", "warning", `pandora_ha stopping (${signal}); stopping pandora_server as the original does`, { key: `daemon:${settings.serverName}` });
    await daemon.stop();
    // A restart after a failover finishes first (its timeline is logged), for at most 30 s.
    await Promise.race([serverRestarted(), new Promise((r) => setTimeout(r, 30_000).unref())]);
    await runShell(`${settings.pandoraServiceCmd} stop-server`, 60_000);
    try {
      unlinkSync(pidFile!);
    } catch {
      // gone
    }
    process.exit(0);
  };
  // A failure nobody awaited (a background write, say) is logged; it never ends the daemon.
  process.on("unhandledRejection", (e) => events.log({ error: `unhandled: ${shortError(e)}` }));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  await daemon.run();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Talking to a running daemon

function httpCall(s: HaSettings, method: string, path: string, timeoutMs: number): Promise<{ code: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: s.httpAddress, port: s.httpPort, method, path, timeout: timeoutMs }, (res) => {
      let data = "";
      res.on("data", (d) => (data += d));
      res.on("end", () => {
        try {
          resolve({ code: res.statusCode ?? 0, body: JSON.parse(data) });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function daemonStatus(s: HaSettings): Promise<StatusReport | undefined> {
  if (!s.httpPort) return undefined;
  try {
    const r = await httpCall(s, "GET", "/status", 3000);
    return r.code === 200 ? (r.body as StatusReport) : undefined;
  } catch {
    return undefined;
  }
}

/** A daemon object that only observes (no loop, no actions): for status and a daemon-less switchover. */
async function observer(s: HaSettings): Promise<Daemon> {
  const d = new Daemon({ ...s, httpPort: 0 }, new EventLog(s.logFile));
  await d.observe();
  return d;
}

async function status(args: string[]): Promise<number> {
  const json = args.includes("--json");
  const pos = args.filter((a) => a !== "--json");
  if (pos.length !== 1 || args.some((a) => a.startsWith("-") && a !== "--json")) throw new UsageError(`status takes the pandora_server.conf path and optionally --json\n${USAGE}`);
  const s = loadSettings(pos[0]);
  let report = await daemonStatus(s);
  let running = !!report;
  if (!report) {
    const d = await observer(s);
    report = d.status();
    await d.stop();
    running = false;
  }
  if (json) out(JSON.stringify({ daemonRunning: running, ...report }, null, 2));
  else out(formatStatus(report, running));
  return 0;
}

function ms(t: number): string {
  return `${t} ms`;
}

/** One phase of a timeline: name, offset from the first phase, duration, outcome, detail. */
export function formatPhase(p: Phase, t0: number): string {
  return `${p.phase.padEnd(15)} +${String(p.start - t0).padStart(5)} ms ${String(p.end - p.start).padStart(5)} ms ${p.ok ? "ok " : "ERR"} ${p.detail}`;
}

export function formatTimeline(t: Timeline): string[] {
  const t0 = t.phases[0]?.start ?? 0;
  return [
    `last ${t.kind}: ${t.from} → ${t.to} (epoch ${t.epoch}) ${t.ok ? "completed" : "FAILED"} in ${ms(t.totalMs)}; ${t.reason}`,
    ...t.phases.map((p) => `  ${formatPhase(p, t0)}`),
  ];
}

export function formatStatus(r: StatusReport, running: boolean): string {
  const head = ["node", "reach", "role", "read_only", "io/sql", "lag", "semi-sync", "epoch", "gtid"];
  const rows = r.nodes.map((n) => {
    const role = !n.reachable
      ? "down"
      : r.diverged[n.host]
        ? "diverged"
        : n.host === r.master
          ? "master"
          : n.replica
            ? `replica of ${n.replica.sourceHost}`
            : r.fenced.includes(n.host)
              ? "fenced"
              : "standalone";
    return [
      n.host,
      n.reachable ? "yes" : `no (${n.failures})`,
      role,
      n.readOnly === undefined ? "-" : n.readOnly ? "ON" : "OFF",
      n.replica ? `${n.replica.io}/${n.replica.sqlRunning ? "yes" : "no"}` : "-",
      n.replica?.secondsBehind === null || n.replica?.secondsBehind === undefined ? "-" : `${n.replica.secondsBehind} s`,
      n.semiSync ? (n.semiSync.sourceActive ? `on (${n.semiSync.clients})` : n.semiSync.sourceEnabled ? "fell back" : "off") : "-",
      n.epoch === undefined ? "-" : String(n.epoch),
      n.reachable ? n.gtidExecuted || "-" : (n.error ?? "").slice(0, 50),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const table = [head, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
  const lines = [
    `pandora_ha: ${running ? `running (pid ${r.daemon.pid}, ${r.daemon.actor ? "acting" : "watching"})` : "not running (one probe shown)"}`,
    `master: ${r.master ?? "unknown"}   published (pandora_ha_hosts.conf): ${r.published ?? "none"}   epoch: ${r.epoch}`,
    `failover budget: ${r.failoverBudget.used} of ${r.failoverBudget.allowed} used in the last ${r.failoverBudget.windowS} s`,
    `durability: ${durabilityLine(r)}`,
    "",
    ...table,
  ];
  const held = Object.entries(r.held ?? {});
  if (held.length) lines.push("", "held out of automatic actions:", ...held.map(([h, why]) => `  ${h}: ${why}`));
  const notable = r.conditions.filter((c) => c.kind !== "healthy");
  if (notable.length) lines.push("", "conditions:", ...notable.map((c) => `  ${c.kind}: ${JSON.stringify(Object.fromEntries(Object.entries(c).filter(([k]) => k !== "kind")))}`));
  if (r.lastFailover) lines.push("", ...formatTimeline(r.lastFailover));
  return lines.join("\n");
}

/** Whether the master's acknowledged commits are all on a replica, as the daemon last saw it. */
function durabilityLine(r: StatusReport): string {
  const a = r.durability?.async;
  if (a) return `ASYNCHRONOUS since ${new Date(a.since).toISOString()} on ${a.host} (${a.reason}): automatic failover held until a replica has caught up`;
  const m = r.durability?.lastMaster;
  if (!m) return "the master was not seen yet";
  return m.durable ? `semi-sync in force on ${m.host} (every acknowledged commit is on a replica)` : `${m.host} not durable: ${m.why ?? "?"}`;
}

async function switchoverCmd(args: string[]): Promise<number> {
  if (args.length !== 2) throw new UsageError(`switchover takes the pandora_server.conf path and the new master's host\n${USAGE}`);
  const s = loadSettings(args[0]);
  const target = requireHaHost(s, args[1]);
  return viaDaemon(s, `/switchover?host=${encodeURIComponent(target)}`, (d) => d.switchoverNow(target));
}

/** `failover <conf> <host> [--force]`: promotes by hand a replica of a master that is dead for everyone. */
async function failoverCmd(args: string[]): Promise<number> {
  const force = args.includes("--force");
  const rest = args.filter((a) => a !== "--force");
  const bad = rest.find((a) => a.startsWith("-"));
  if (bad) throw new UsageError(`failover: unknown option ${bad}\n${USAGE}`);
  if (rest.length !== 2) throw new UsageError(`failover takes the pandora_server.conf path and the host to promote (and --force)\n${USAGE}`);
  const s = loadSettings(rest[0]);
  const target = requireHaHost(s, rest[1]);
  return viaDaemon(s, `/failover?host=${encodeURIComponent(target)}${force ? "&force=1" : ""}`, (d) => d.failoverNow(target, force));
}

function requireHaHost(s: HaSettings, host: string): string {
  if (!s.haHosts.includes(host)) throw new UsageError(`${host} is not in ha_hosts (${s.haHosts.join(", ")})`);
  return host;
}

/** Asks the running daemon (its HTTP endpoint) or, when none runs, does it in this process; prints the timeline. */
async function viaDaemon(s: HaSettings, path: string, here: (d: Daemon) => Promise<unknown>): Promise<number> {
  let timeline: Timeline;
  if (await daemonStatus(s)) {
    const r = await httpCall(s, "POST", path, 300_000);
    if (r.code !== 200) throw new Error(`the daemon refused: ${(r.body as { error?: string }).error}`);
    timeline = r.body as Timeline;
  } else {
    const d = await observer(s);
    try {
      timeline = (await here(d)) as Timeline;
    } finally {
      await d.stop();
    }
  }
  out(formatTimeline(timeline).join("\n"));
  return timeline.ok ? 0 : 1;
}

async function resync(args: string[]): Promise<number> {
  if (args.length !== 3) throw new UsageError(`resync takes the pandora_server.conf path, the master and the slave\n${USAGE}`);
  const [conf, master, slave] = args;
  const s = loadSettings(conf);
  for (const h of [master, slave]) if (!s.haHosts.includes(h)) throw new UsageError(`${h} is not in ha_hosts (${s.haHosts.join(", ")})`);
  if (master === slave) throw new UsageError("master and slave are the same host");
  if (!existsSync(s.resyncScript)) throw new UsageError(`ha_resync ${s.resyncScript} does not exist`);
  const events = new EventLog(s.logFile);
  events.emit("resync", "warning", `resync of ${slave} from ${master} started`, { node: slave, key: `resync:${slave}` });
  // The tool appends what it says to ha_resync_log itself, with timestamps.
  const code = await new Promise<number>((resolve) => {
    const p = spawn(s.resyncScript, [conf, master, slave], { stdio: "inherit" });
    p.on("error", () => resolve(127));
    p.on("close", (c) => resolve(c ?? 1));
  });
  events.emit("resync", code === 0 ? "normal" : "critical", `resync of ${slave} from ${master} ${code === 0 ? "finished" : `failed (exit ${code}, see ${s.resyncLog})`}`, { node: slave, key: `resync:${slave}` });
  // The events also go to tevento on the master, as the daemon's do (best effort: it may be down).
  const c = new NodeConnection(sessionOptions(s, master, 5000));
  try {
    await events.flush((batch) => insertEvents((sql, values) => c.query(sql, values), batch));
  } catch (e) {
    err(`pandora_ha: the resync events were not written to tevento on ${master}: ${shortError(e)}`);
  } finally {
    c.close();
  }
  return code;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
