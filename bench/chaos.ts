/**
 * npm run bench -- chaos --minutes N --seed S [--nodes 2|3] [--servers 1|2] [--agents N] [--faults a,b,...] [--keep]
 *
 * The fault campaign. Brings up its own lab with pandora_ha on pfms1 (and pfms2 with --servers 2;
 * failover budgets raised for the run), starts the keyed writer following pandora_ha_hosts.conf and a checker sampling every
 * node's @@global.read_only every 100 ms, then until N minutes have passed: a seeded PRNG picks
 * the next fault from the list (a shuffled bag, so every fault comes up), injects it, holds it,
 * repairs everything (heal, resume, disk-free, restart, daemon started) and waits, bounded, for
 * the cluster to converge: exactly one writable node, named by pandora_ha_hosts.conf, every other
 * node replicating from it (both threads running, at most 5 s behind). A fault that does not converge is recorded with why, and the cluster
 * is repaired by a resync before the next one. Every fault stays on this machine (127.0.0.0/8).
 * With --agents N, N real Pandora agents send a value a second through the server hosts all along
 * (lab/agents.ts), and the table counts their values lost and stored twice (against what each
 * agent made), once the run is over.
 * Prints a table; exit 1 when an acknowledged key or an agent value was lost, or two nodes were ever writable.
 */
import * as mysql from "mysql2/promise";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PANDORA_PATHS } from "../lib/render/pandora";
import * as faults from "../lab/faults";
import type { LogLine } from "../lab/ha";
import { HA_LOG_FILE, haCommand, readHaLog, serverHosts, startDaemon } from "../lab/ha";
import type { Lab } from "../lab/lab";
import { down, fault, findHost, requireNoLiveLab, up } from "../lab/lab";
import { sleep } from "../lab/proc";
import { asMariaNames } from "../lab/status";
import type { PhaseName } from "../runtime/state";
import type { SeqReport } from "../lab/agents";
import { finalSeqReport, setAgents } from "../lab/agents";
import type { Writer } from "../lab/writer";
import { missingKeys, publishedMaster, startPublishedWriter, writerTableSql } from "../lab/writer";

const TABLE = "pha_chaos";
/** How long the cluster has to converge after a fault's repair (by default). */
const CONVERGE_MS = 60_000;
/** A replica at most this far behind counts as replicating. */
const MAX_LAG_S = 5;
type Log = (line: string) => void;

/** Seeded PRNG (mulberry32): the same seed, the same campaign. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where each server host's daemon log ends now. */
const logEnds = (lab: Lab) => new Map(serverHosts(lab).map((h) => [h.name, readHaLog(lab, Number.MAX_SAFE_INTEGER, HA_LOG_FILE, h.name).end]));

/** Every server host's daemon log since `from` (logEnds), each line with its host when there are two. */
function logsSince(lab: Lab, from: Map<string, number>): LogLine[] {
  const servers = serverHosts(lab);
  return servers.flatMap((h) => readHaLog(lab, from.get(h.name) ?? 0, HA_LOG_FILE, h.name).lines.map((l) => (servers.length > 1 ? { ...l, server: h.name } : l)));
}

// ---------------------------------------------------------------------------------------------
// The checker: every node's read_only, every 100 ms, as a client on this machine sees it

export class Checker {
  /** Milliseconds during which two or more nodes answered read_only = 0 in the same round. */
  twoWritableMs = 0;
  private running = true;
  private readonly conns = new Map<string, mysql.Connection | undefined>();
  private readonly busy = new Set<string>();
  private readonly loop: Promise<void>;

  constructor(private readonly lab: Lab) {
    this.loop = this.run();
  }

  private async sample(address: string): Promise<boolean | undefined> {
    this.busy.add(address);
    try {
      let c = this.conns.get(address);
      c ??= await mysql.createConnection({
        host: address, port: this.lab.cfg.dbPort, user: this.lab.cfg.haDbUser, password: this.lab.secrets.passwords.haDbPassword, connectTimeout: 300,
      });
      this.conns.set(address, c);
      const [[r]] = (await c.query({ sql: "SELECT @@global.read_only AS v", timeout: 300 })) as unknown as [Array<{ v: number }>];
      return Number(r.v) === 0;
    } catch {
      this.conns.get(address)?.destroy();
      this.conns.set(address, undefined);
      return undefined;
    } finally {
      this.busy.delete(address);
    }
  }

  private async run(): Promise<void> {
    const nodes = this.lab.state.hosts.filter((h) => h.kind === "db").map((h) => h.address);
    let last = Date.now();
    while (this.running) {
      const t = Date.now();
      // A node still answering the previous round (hung) is unknown in this one.
      const round = nodes.map((a) => (this.busy.has(a) ? Promise.resolve(undefined) : this.sample(a)));
      const answers = await Promise.all(round.map((p) => Promise.race([p, sleep(90).then(() => undefined)])));
      if (answers.filter((w) => w === true).length >= 2) this.twoWritableMs += t - last;
      last = t;
      await sleep(Math.max(0, 100 - (Date.now() - t)));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const c of this.conns.values()) c?.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The faults

interface Ctx {
  lab: Lab;
  rng: () => number;
  /** The published master's node name, and the other DB nodes. */
  master(): string;
  replicas(): string[];
  /** The daemon was restarted with a pause hook: repair starts it plainly again. */
  armed: boolean;
  convergeMs: number;
  /** --keep: a fault that does not converge ends the run, the lab left as it is. */
  keep: boolean;
}

interface ChaosFault {
  name: string;
  /** Injects and holds the fault; returns what it did. The repair comes after. */
  run(ctx: Ctx): Promise<string>;
}

const pick = <T>(ctx: Ctx, xs: T[]): T => xs[Math.floor(ctx.rng() * xs.length)];

/** Waits (bounded) until pandora_ha_hosts.conf names another node than `old`; true when it did. */
async function failedOver(ctx: Ctx, old: string, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (ctx.master() !== old) return true;
  return false;
}

/** Master fault: inject, wait for a failover (or `ms`), then undo it. */
function onMaster(name: string, inject: (ctx: Ctx, n: string) => Promise<unknown>, undo: (ctx: Ctx, n: string) => Promise<unknown>, ms = 20_000): ChaosFault {
  return {
    name,
    run: async (ctx) => {
      const m = ctx.master();
      await inject(ctx, m);
      const moved = await failedOver(ctx, m, ms);
      await undo(ctx, m);
      return `${m}: ${moved ? `failover to ${ctx.master()}` : `no failover within ${ms / 1000} s`}`;
    },
  };
}

/** Replica fault: inject on a random replica, hold `ms`, undo. */
function onReplica(name: string, inject: (ctx: Ctx, n: string) => Promise<unknown>, undo: (ctx: Ctx, n: string) => Promise<unknown>, ms: number): ChaosFault {
  return {
    name,
    run: async (ctx) => {
      const r = pick(ctx, ctx.replicas());
      await inject(ctx, r);
      await sleep(ms);
      await undo(ctx, r);
      return `${r}: ${ms / 1000} s`;
    },
  };
}

const f = (kind: Parameters<typeof fault>[2], from?: (ctx: Ctx) => string) => (ctx: Ctx, n: string) => fault(ctx.lab, n, kind, from?.(ctx));

function blipFault(name: string, role: "master" | "replica"): ChaosFault {
  return {
    name,
    run: async (ctx) => {
      const n = role === "master" ? ctx.master() : pick(ctx, ctx.replicas());
      // A blip is 1–3 s (what must cause no failover); a longer cut is an isolation, a fault of its own.
      const s = 1 + Math.floor(ctx.rng() * 3);
      await (await faults.blip(findHost(ctx.lab, n), s)).healed;
      return `${n}: cut off for ${s} s`;
    },
  };
}

/** The daemon stopped after `phase` of the failover a master crash starts, killed -9 there, restarted. */
function daemonKillAt(phase: PhaseName): ChaosFault {
  return {
    name: `daemon-kill@${phase}`,
    run: async (ctx) => {
      ctx.armed = true;
      const { killed } = await faults.daemonKillAt(ctx.lab, phase, 30_000);
      const m = ctx.master();
      await faults.crash(m);
      const hit = await killed;
      await faults.daemonsRestart(ctx.lab);
      ctx.armed = false;
      await faults.restart(m, ctx.lab.cfg.os);
      return `${m} crashed; pandora_ha ${hit ? `on ${hit} killed -9 after ${phase}` : `never reached ${phase} in 30 s`}, restarted`;
    },
  };
}

export const CHAOS_FAULTS: ChaosFault[] = [
  onMaster("crash-master", f("crash"), f("restart")),
  onReplica("crash-replica", f("crash"), f("restart"), 3000),
  onMaster("hang-master", f("hang"), f("resume"), 15_000),
  onReplica("hang-replica", f("hang"), f("resume"), 4000),
  onMaster("restart-master", f("stop"), f("restart"), 15_000),
  onReplica("restart-replica", f("stop"), f("restart"), 1000),
  onMaster("isolate-master", f("isolate"), f("heal"), 15_000),
  onReplica("isolate-replica", f("isolate"), f("heal"), 5000),
  onMaster("cut-daemon-master", f("isolate", () => "pfms1"), f("heal"), 6000),
  onReplica("cut-replica-master", f("isolate", (ctx) => ctx.master()), f("heal"), 3000),
  {
    name: "semisync-fallback",
    run: async (ctx) => {
      // Every replica cut from the master longer than the semi-sync timeout: commits wait it out, then go async.
      const m = ctx.master();
      const hold = ctx.lab.cfg.ha.semiSyncTimeoutMs + 4000;
      for (const r of ctx.replicas()) await fault(ctx.lab, r, "isolate", m);
      await sleep(hold);
      for (const r of ctx.replicas()) await fault(ctx.lab, r, "heal");
      return `${ctx.replicas().join(", ")} cut from ${m} for ${hold / 1000} s`;
    },
  },
  {
    name: "partition",
    run: async (ctx) => {
      const detail = await fault(ctx.lab, "pfms1", "partition");
      await sleep(8000);
      await fault(ctx.lab, "pfms1", "heal");
      return `${detail.replace(/ \(.*$/, "")}, 8 s`;
    },
  },
  blipFault("blip-master", "master"),
  blipFault("blip-replica", "replica"),
  onMaster("disk-full-master", f("disk-full"), f("disk-free"), 10_000),
  ...faults.PAUSE_PHASES.map(daemonKillAt),
  {
    name: "daemon-kill-mid-failover",
    run: async (ctx) => {
      const m = ctx.master();
      const after = Math.floor(ctx.rng() * 1500);
      await faults.crash(m);
      await sleep(after);
      await faults.daemonKill(ctx.lab);
      await startDaemon(ctx.lab);
      await faults.restart(m, ctx.lab.cfg.os);
      return `${m} crashed; pandora_ha killed -9 ${after} ms later, restarted`;
    },
  },
  {
    name: "daemon-restart",
    run: async (ctx) => {
      await faults.daemonRestart(ctx.lab);
      return "pandora_ha restarted (SIGTERM, start)";
    },
  },
  {
    name: "daemon-kill",
    run: async (ctx) => {
      const pid = await faults.daemonKill(ctx.lab);
      await sleep(3000);
      await startDaemon(ctx.lab);
      return `pandora_ha killed -9 (pid ${pid}), started 3 s later`;
    },
  },
];


// ---------------------------------------------------------------------------------------------
// Repair and convergence

/** Undoes whatever a fault may have left: rules, stopped servers, a full disk, an armed or dead daemon. */
async function repair(ctx: Ctx): Promise<void> {
  await faults.settled();
  const dbs = ctx.lab.state.hosts.filter((h) => h.kind === "db");
  for (const h of ctx.lab.state.hosts) await faults.heal(h);
  for (const h of dbs) {
    faults.resume(h.name);
    if (await faults.diskIsFull(h.name)) await faults.diskFree(h.name, ctx.lab.cfg.os);
    if (!faults.dbPids(h.name).server.length) await faults.restart(h.name, ctx.lab.cfg.os);
  }
  if (ctx.armed) await faults.daemonsRestart(ctx.lab);
  else await faults.daemonsEnsure(ctx.lab);
  ctx.armed = false;
}

function adminConn(lab: Lab, address: string): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: address, port: lab.cfg.dbPort, user: lab.cfg.haDbUser, password: lab.secrets.passwords.haDbPassword, database: lab.cfg.dbName, connectTimeout: 1000,
  });
}

async function adminQuery(lab: Lab, address: string, sql: string): Promise<Array<Record<string, unknown>>> {
  const c = await adminConn(lab, address);
  try {
    const [rows] = await c.query({ sql, timeout: 2000 });
    return rows as Array<Record<string, unknown>>;
  } finally {
    c.destroy();
  }
}

/** How many acknowledged keys the published master lacks. */
async function lostKeys(lab: Lab, acked: string[]): Promise<number> {
  const c = await adminConn(lab, publishedMaster(lab));
  return (await missingKeys(c, TABLE, acked).finally(() => c.destroy())).length;
}

/** Why the cluster has not converged, or undefined when it has. */
export async function notConverged(lab: Lab): Promise<string | undefined> {
  const dbs = lab.state.hosts.filter((h) => h.kind === "db");
  const ro = await Promise.all(dbs.map((h) => adminQuery(lab, h.address, "SELECT @@global.read_only AS v").then((r) => Number(r[0].v) === 1, () => undefined)));
  const silent = dbs.filter((_, i) => ro[i] === undefined).map((h) => h.name);
  if (silent.length) return `${silent.join(", ")} not answering`;
  const writable = dbs.filter((_, i) => ro[i] === false);
  if (writable.length !== 1) return writable.length ? `${writable.map((h) => h.name).join(" and ")} writable` : "no writable node";
  const m = writable[0];
  if (publishedMaster(lab) !== m.address) return `${m.name} writable but pandora_ha_hosts.conf names '${publishedMaster(lab)}'`;
  for (const h of dbs.filter((x) => x !== m)) {
    const [s] = asMariaNames(await adminQuery(lab, h.address, "SHOW REPLICA STATUS"));
    if (!s) return `${h.name} not replicating (no replication configured)`;
    if (s.Master_Host !== m.address || s.Slave_IO_Running !== "Yes" || s.Slave_SQL_Running !== "Yes") {
      const err = String(s.Last_IO_Error || s.Last_SQL_Error || "").slice(0, 120);
      return `${h.name} replicating from ${String(s.Master_Host)} io/sql ${String(s.Slave_IO_Running)}/${String(s.Slave_SQL_Running)}${err ? `: ${err}` : ""}`;
    }
    // Replicating means caught up too: a replica that is far behind cannot be promoted in time.
    if (s.Seconds_Behind_Master === null || Number(s.Seconds_Behind_Master) > MAX_LAG_S) return `${h.name} ${String(s.Seconds_Behind_Master)} s behind the master`;
  }
  return undefined;
}

async function waitConverged(lab: Lab, ms: number): Promise<string | undefined> {
  let why: string | undefined = "not checked";
  for (const end = Date.now() + ms; Date.now() < end; await sleep(250)) {
    why = await notConverged(lab).catch((e: unknown) => `check failed: ${(e as Error).message}`);
    if (!why) return undefined;
  }
  return why;
}

/** The last warning or critical events of the daemons since `from` (to say why). */
function daemonSays(lab: Lab, from: Map<string, number>): string {
  const lines = logsSince(lab, from);
  const ev = lines.filter((l) => l.event && (l.severity === "critical" || l.severity === "warning"));
  // Why a rejoin or a merge was refused is only in the log's detail lines, not in an event.
  const refused = lines.filter((l) => l.refused || l.failed).slice(-2).map((l) => `${String(l.truncate ?? l.merge ?? "")} ${String(l.refused ?? l.failed).slice(0, 200)}`);
  return [...ev.slice(-2).map((l) => `${l.event}: ${String(l.message).slice(0, 140)}`), ...refused].join(" | ");
}

/** A cluster that did not converge by itself: every node that does not replicate from the master is resynced. */
async function forceConverge(ctx: Ctx): Promise<string> {
  const mAddr = findHost(ctx.lab, ctx.master()).address;
  const done: string[] = [];
  for (const r of ctx.replicas()) {
    const rAddr = findHost(ctx.lab, r).address;
    const [s] = await adminQuery(ctx.lab, rAddr, "SHOW REPLICA STATUS").then(asMariaNames, () => [undefined]);
    if (s?.Master_Host === mAddr && s.Slave_IO_Running === "Yes" && s.Slave_SQL_Running === "Yes") continue;
    const res = await haCommand(ctx.lab, `resync ${PANDORA_PATHS.serverConf} ${mAddr} ${rAddr}`, 150_000);
    done.push(`${r} resynced (exit ${res.code})`);
  }
  return done.join(", ") || "nothing to resync";
}

// ---------------------------------------------------------------------------------------------
// The campaign

export interface FaultResult {
  n: number;
  fault: string;
  detail: string;
  converged: boolean;
  convergedMs?: number;
  why?: string;
  lost: number;
  twoWritableMs: number;
}

export interface ChaosReport {
  seed: number;
  minutes: number;
  nodes: number;
  servers: number;
  acked: number;
  lost: number;
  twoWritableMs: number;
  /** With agents: what they made, counted once the run is over. */
  agentValues?: SeqReport;
  results: FaultResult[];
  /** A fault after which even a resync did not bring the cluster back: the run stopped there. */
  aborted?: string;
}

export interface ChaosOptions {
  minutes: number;
  seed: number;
  nodes?: 2 | 3;
  /**
   * Server hosts, each with its daemon (default 1, pfms1: the runs recorded so far; 2 is the
   * production layout, whose faults on the daemon hit pfms1's while pfms2's watches).
   */
  servers?: 1 | 2;
  /** Fault names to draw from (default: every one). */
  faults?: string[];
  writers?: number;
  /** Real Pandora agents sending all along (default 0). */
  agents?: number;
  /** Stop at the first fault that does not converge and leave the lab up as it is, to look at it. */
  keep?: boolean;
  /** How long the cluster has to converge after each repair (default 60 s). */
  convergeMs?: number;
  log?: Log;
}

/** One fault: inject, repair, wait for convergence, count what was lost meanwhile. */
async function oneFault(ctx: Ctx, fl: ChaosFault, n: number, st: { checker: Checker; writer: Writer; lost: number }, log: Log): Promise<FaultResult> {
  const from = logEnds(ctx.lab);
  const two0 = st.checker.twoWritableMs;
  log(`#${n} ${fl.name} ...`);
  let detail: string;
  try {
    detail = await fl.run(ctx);
  } catch (e) {
    detail = `injection failed: ${(e as Error).message.split("\n")[0]}`;
  }
  const t0 = Date.now();
  let why: string | undefined;
  try {
    await repair(ctx);
    why = await waitConverged(ctx.lab, ctx.convergeMs);
  } catch (e) {
    why = `repair failed: ${(e as Error).message.split("\n")[0]}`;
  }
  const convergedMs = why ? undefined : Date.now() - t0;
  if (why) {
    const said = daemonSays(ctx.lab, from);
    why = `${why}${said ? `; pandora_ha: ${said}` : ""}`;
    // --keep: left as it is to be looked at (its keys are counted once the run ends, if they can be).
    if (ctx.keep) return { n, fault: fl.name, detail, converged: false, why: `${why}; the lab is left as it is (--keep)`, lost: 0, twoWritableMs: st.checker.twoWritableMs - two0 };
    // The daemon's whole log of the fault, kept past the lab's end (the lab takes its hosts down).
    const kept = join(tmpdir(), `pha-chaos-${process.pid}-${n}.log`);
    writeFileSync(kept, logsSince(ctx.lab, from).map((l) => JSON.stringify(l)).join("\n"));
    why += ` (its log: ${kept})`;
    const forced = await forceConverge(ctx).catch((e: unknown) => `resync failed: ${(e as Error).message}`);
    const still = await waitConverged(ctx.lab, ctx.convergeMs);
    why += `; repaired by hand: ${forced}${still ? `; still not converged: ${still}` : ""}`;
  }
  const lostNow = await lostKeys(ctx.lab, [...st.writer.acked]);
  const r: FaultResult = { n, fault: fl.name, detail, converged: !why, convergedMs, why, lost: lostNow - st.lost, twoWritableMs: st.checker.twoWritableMs - two0 };
  st.lost = lostNow;
  log(`#${n} ${fl.name}: ${detail}; ${r.converged ? `converged in ${convergedMs} ms` : `NOT converged: ${why}`}; lost ${r.lost}, two writable ${r.twoWritableMs} ms`);
  return r;
}

/** The campaign on a lab that is up: the writer, the checker, the faults until the time is spent. */
async function campaign(lab: Lab, opts: ChaosOptions, log: Log): Promise<ChaosReport> {
  // disk-full is refused on MySQL hosts (lab/faults.ts): left out there, and said so.
  const mysql = lab.state.flavor === "mysql";
  if (mysql && opts.faults?.includes("disk-full-master")) throw new Error("disk-full-master: the lab cannot fill a MySQL server's binary log (lab/faults.ts); leave it out of --faults");
  const list = CHAOS_FAULTS.filter((x) => (!opts.faults || opts.faults.includes(x.name)) && !(mysql && x.name === "disk-full-master"));
  if (mysql && !opts.faults) log("MySQL lab: disk-full-master left out (the lab cannot fill a MySQL server's binary log)");
  const rng = prng(opts.seed);
  const name = (address: string) => lab.state.hosts.find((h) => h.address === address)?.name ?? "node1";
  const ctx: Ctx = {
    lab, rng, armed: false, keep: !!opts.keep, convergeMs: opts.convergeMs ?? CONVERGE_MS,
    master: () => name(publishedMaster(lab)),
    replicas: () => lab.state.hosts.filter((h) => h.kind === "db" && h.name !== ctx.master()).map((h) => h.name),
  };
  const st = { checker: new Checker(lab), writer: startPublishedWriter(lab, TABLE, opts.writers ?? 4), lost: 0 };
  const report: ChaosReport = { seed: opts.seed, minutes: opts.minutes, nodes: lab.state.nodes, servers: lab.state.servers, acked: 0, lost: 0, twoWritableMs: 0, results: [] };
  const end = Date.now() + opts.minutes * 60_000;
  let bag: ChaosFault[] = [];
  try {
    // Bounded: at most one fault per 5 s of the run, and none started once the time is spent.
    for (let n = 1; Date.now() < end && n <= opts.minutes * 12; n++) {
      if (!bag.length) bag = [...list].sort(() => rng() - 0.5);
      const r = await oneFault(ctx, bag.shift()!, n, st, log);
      report.results.push(r);
      if (opts.keep && !r.converged) {
        report.aborted = `after #${n} ${r.fault}: the lab is left up (--keep); take it down with npm run lab -- down`;
        break;
      }
      if (r.why?.includes("still not converged")) {
        report.aborted = `after #${n} ${r.fault} the cluster did not come back even after a resync`;
        break;
      }
      await sleep(1000);
    }
  } finally {
    const acked = await st.writer.stop();
    report.twoWritableMs = st.checker.twoWritableMs;
    await st.checker.stop();
    report.acked = acked.length;
  }
  try {
    report.lost = await lostKeys(lab, st.writer.acked);
    if (opts.agents) {
      const c = await adminConn(lab, publishedMaster(lab));
      report.agentValues = await finalSeqReport(lab, (q, v) => c.query(q, v)).finally(() => c.destroy());
    }
  } catch (e) {
    // A run stopped early may have no master answering: the keys cannot be counted.
    if (!report.aborted) throw e;
    report.aborted += `; acknowledged keys not counted (${(e as Error).message})`;
  }
  return report;
}

/** The campaign on a lab of its own (refuses while another lab is up; always takes it down). */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  // Each line with the seconds since the start: an agent's missing `seq` values (one a second) tell when.
  const t0 = Date.now();
  const log = opts.log ?? ((l: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${l}\n`));
  const unknown = (opts.faults ?? []).filter((x) => !CHAOS_FAULTS.some((y) => y.name === x));
  if (unknown.length) throw new Error(`unknown chaos faults: ${unknown.join(", ")} (known: ${CHAOS_FAULTS.map((x) => x.name).join(", ")})`);
  await requireNoLiveLab("the chaos benchmark");
  let kept = false;
  try {
    const { lab } = await up(opts.nodes ?? 2, () => undefined, opts.servers ?? 1);
    await faults.raiseFailoverBudget(lab);
    for (let i = 0; i < 100 && publishedMaster(lab) !== "127.0.1.1"; i++) await sleep(100);
    if (opts.agents) await setAgents(lab, opts.agents);
    await adminQuery(lab, "127.0.1.1", writerTableSql(TABLE));
    const report = await campaign(lab, opts, log);
    kept = !!opts.keep && !!report.aborted;
    return report;
  } finally {
    await faults.settled();
    if (!kept) await down(() => undefined);
  }
}

export function chaosTable(r: ChaosReport): string {
  const rows = r.results.map((x) =>
    `| ${String(x.n).padStart(2)} | ${x.fault.padEnd(24)} | ${(x.converged ? `yes, ${x.convergedMs} ms` : "NO").padEnd(14)} | ${String(x.twoWritableMs).padStart(15)} | ${String(x.lost).padStart(4)} | ${x.detail} |`);
  const survived = r.results.filter((x) => x.converged && x.lost === 0 && x.twoWritableMs === 0).length;
  const bad = r.results.filter((x) => !x.converged);
  return [
    `chaos: seed ${r.seed}, ${r.minutes} min, ${r.nodes} DB nodes, ${r.servers} server host${r.servers > 1 ? "s" : ""}`,
    `| #  | ${"fault".padEnd(24)} | ${"converged".padEnd(14)} | two writable ms | lost | what happened |`,
    `|----|${"-".repeat(26)}|${"-".repeat(16)}|-----------------|------|---------------|`,
    ...rows,
    "",
    `| acknowledged keys written | ${r.acked} |`,
    `| acknowledged keys lost | ${r.lost} |`,
    `| time with two writable nodes | ${r.twoWritableMs} ms |`,
    ...(r.agentValues ? [`| agent values stored / lost / stored twice | ${r.agentValues.stored} / ${r.agentValues.lost} / ${r.agentValues.twice} |`] : []),
    ...(r.agentValues?.lost ? ["", "agent values missing (seq = seconds after the agents started, the first 20 per agent):", ...Object.entries(r.agentValues.missing).map(([a, v]) => `  ${a}: ${v.join(" ")}`)] : []),
    `| faults injected / survived | ${r.results.length} / ${survived} |`,
    ...(bad.length ? ["", "did not converge:", ...bad.map((x) => `  #${x.n} ${x.fault}: ${x.why}`)] : []),
    ...(r.aborted ? ["", `run stopped early: ${r.aborted}`] : []),
  ].join("\n");
}

/** npm run bench -- chaos: prints the table; 1 when a key or an agent value was lost or two nodes were writable. */
export async function benchChaos(opts: ChaosOptions): Promise<number> {
  const r = await runChaos(opts);
  process.stdout.write(`\n${chaosTable(r)}\n`);
  return r.lost > 0 || r.twoWritableMs > 0 || (r.agentValues?.lost ?? 0) > 0 ? 1 : 0;
}
