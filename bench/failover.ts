/**
 * npm run bench -- failover [--trials 20] [--writers 16] [--agents 20]
 *
 * Brings up its own 2-node lab with its two server hosts (pandora_ha, data server and Tentacle on
 * each; failover budget raised for the run), AGENTS real Pandora agents sending a value a second,
 * and a writer of WRITERS connections that follows pandora_ha_hosts.conf and records every
 * acknowledged insert; then TRIALS times: kill -9 the master, measure the time until the other
 * node is writable, until pandora_ha_hosts.conf names it, until the first agent value is stored
 * there (the monitoring gap: what the administrator sees) and until both data servers are
 * connected to it (each trial starts once the replica is durable and has applied what the master
 * had: a long-healthy cluster); restart the old master and wait until it replicates again. Prints median, p95
 * and max of each, the agent values lost and stored twice, the acknowledged rows lost, and the
 * daemon's RSS and CPU while idle. `--agents 0`: one server host, no agents (the database's
 * figures alone).
 */
import { readFileSync } from "node:fs";
import * as mysql from "mysql2/promise";
import { connectedServers, finalSeqReport, setAgents } from "../lab/agents";
import { daemonPid, haStatusJson, readHaLog, serverHosts } from "../lab/ha";
import type { Timeline } from "../runtime/state";
import type { Lab } from "../lab/lab";
import { down, fault, requireNoLiveLab, up } from "../lab/lab";
import { raiseFailoverBudget } from "../lab/faults";
import { asMariaNames } from "../lab/status";
import { dialectFor } from "../runtime/dialect";
import type { Dialect } from "../runtime/types";
import { sleep } from "../lab/proc";
import { missingKeys, publishedMaster, startPublishedWriter, writerTableSql } from "../lab/writer";

const TABLE = "pha_bench";

function stats(xs: number[]): { median: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { median: s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2, p95: at(0.95), max: s[s.length - 1] };
}

/** Until pandora_ha last saw the master durable (semi-sync in force, a replica acknowledging). */
export async function waitDurable(lab: Lab, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const d = (await haStatusJson(lab).catch(() => undefined))?.durability;
    if (d?.lastMaster?.durable && !d.async) return;
    if (Date.now() > end) throw new Error(`the master was not durable again within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

export async function benchFailover(trials: number, writers: number, kill: "crash" | "hang" = "crash", agents = 20): Promise<void> {
  const log = (l: string) => process.stdout.write(`${l}\n`);
  await requireNoLiveLab("the failover benchmark");
  const { lab } = await up(2, () => undefined, agents > 0 ? 2 : 1);
  try {
    await run(lab, trials, writers, kill, agents, log);
  } finally {
    await down(() => undefined);
  }
}

type Ask = <T>(host: string, q: string, values?: unknown[]) => Promise<T[]>;

/**
 * Until the replica applies what the master had a moment ago within 0.2 s (a long-healthy
 * cluster, not one still applying the previous trial's rejoin); `late` when it does not within 120 s.
 */
async function replicaCaughtUp(ask: Ask, d: Dialect, master: string, replica: string, late: (behindMs: number) => void): Promise<void> {
  let behindMs = Infinity;
  for (const end = Date.now() + 120_000; behindMs > 200 && Date.now() < end; ) {
    const [pos] = await ask<{ v: string }>(master, d.gtidExecutedSql);
    const w0 = Date.now();
    const wait = d.waitForGtidSql(String(pos.v), 60);
    await ask(replica, wait.sql, wait.values);
    behindMs = Date.now() - w0;
  }
  if (behindMs > 200) late(behindMs);
}

/**
 * From the fault at t0, polled every 20 ms for up to 60 s: when `newAddr` was writable (tw), named in
 * pandora_ha_hosts.conf (tp), held its first agent value (tg: a tagente_datos row beyond those it
 * had when it became writable, all replicated, since no data server writes there before) and had
 * both data servers connected (tb). `done`: every one seen.
 */
async function measureFailover(lab: Lab, ask: Ask, t0: number, newAddr: string, agents: boolean): Promise<{ tw: number; tp: number; tg: number; tb: number; done: boolean }> {
  const servers = serverHosts(lab).map((h) => h.address).sort().join();
  const rowsOn = async (host: string) => Number((await ask<{ n: number }>(host, "SELECT COUNT(*) AS n FROM tagente_datos"))[0].n);
  let tw = 0;
  let tp = 0;
  let tg = 0;
  let tb = 0;
  let rowsAtPromotion = 0;
  const done = () => !!(tw && tp && (!agents || (tg && tb)));
  while (!done() && Date.now() - t0 < 60_000) {
    try {
      if (!tp && publishedMaster(lab) === newAddr) tp = Date.now() - t0;
      if (!tw) {
        const [r] = await ask<{ v: number }>(newAddr, "SELECT @@global.read_only AS v");
        if (Number(r.v) === 0) {
          tw = Date.now() - t0;
          rowsAtPromotion = agents ? await rowsOn(newAddr) : 0;
        }
      } else if (agents && !tg && (await rowsOn(newAddr)) > rowsAtPromotion) tg = Date.now() - t0;
      else if (agents && tg && !tb && (await connectedServers(lab, (q, v) => ask(newAddr, q, v))).join() === servers) tb = Date.now() - t0;
    } catch {
      // retry
    }
    await sleep(20);
  }
  return { tw, tp, tg, tb, done: done() };
}

async function run(lab: Lab, trials: number, writers: number, kill: "crash" | "hang", agents: number, log: (l: string) => void): Promise<void> {
  const published = () => publishedMaster(lab);
  const nameOf = (address: string) => lab.state.hosts.find((h) => h.address === address)!.name;
  const db = (host: string, database = lab.cfg.dbName) =>
    mysql.createConnection({ host, port: lab.cfg.dbPort, user: lab.cfg.haDbUser, password: lab.secrets.passwords.haDbPassword, database, connectTimeout: 500 });

  // Every trial is a failover.
  await raiseFailoverBudget(lab);
  for (let i = 0; i < 100 && published() !== "127.0.1.1"; i++) await sleep(100);
  const c0 = await db(published());
  await c0.query(writerTableSql(TABLE));
  c0.destroy();

  // Idle footprint first, with the cluster healthy and no writer.
  await sleep(3000);
  const pid = daemonPid(lab)!;
  const cpu = () => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  const c1 = cpu();
  const idleS = 10;
  await sleep(idleS * 1000);
  const cpuPct = ((cpu() - c1) / idleS) * 100;
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

  await setAgents(lab, agents);
  const writer = startPublishedWriter(lab, TABLE, writers);
  const acked = writer.acked;

  const writable: number[] = [];
  const publishedMs: number[] = [];
  const gap: number[] = [];
  const bothServers: number[] = [];
  const ask: Ask = async <T>(host: string, q: string, values: unknown[] = []): Promise<T[]> => {
    const c = await db(host);
    try {
      return (await c.query(q, values))[0] as T[];
    } finally {
      c.destroy();
    }
  };
  // The family's SQL (MariaDB or MySQL: $PANDORA_HA_LAB_FLAVOR), from the server itself.
  const version = String((await ask<{ v: string }>(published(), "SELECT VERSION() AS v"))[0].v);
  const d = dialectFor(version);
  try {
    for (let t = 1; t <= trials; t++) {
      await sleep(2000);
      // Each trial starts from a durable master (its replica acknowledging again): before that a
      // crash is rightly not failed over (see "How failover decides").
      await waitDurable(lab, 60_000);
      const oldAddr = published();
      const newAddr = lab.state.hosts.find((h) => h.kind === "db" && h.address !== oldAddr)!.address;
      await replicaCaughtUp(ask, d, oldAddr, newAddr, (ms) => log(`trial ${t}: ${nameOf(newAddr)} still ${ms} ms behind after 120 s (it cannot keep up: fewer --writers)`));
      const before = acked.length;
      const t0 = Date.now();
      await fault(lab, nameOf(oldAddr), kill);
      const { tw, tp, tg, tb, done } = await measureFailover(lab, ask, t0, newAddr, agents > 0);
      if (!done) throw new Error(`trial ${t}: no failover within 60 s (writable ${tw} ms, published ${tp} ms, first agent value ${tg} ms, both servers ${tb} ms)`);
      writable.push(tw);
      publishedMs.push(tp);
      if (agents) {
        gap.push(tg);
        bothServers.push(tb);
      }
      const seen = agents ? `, first agent value there after ${tg} ms, both data servers on it after ${tb} ms` : "";
      log(`trial ${String(t).padStart(2)}: ${nameOf(oldAddr)} ${kill === "crash" ? "killed" : "hung"}; ${nameOf(newAddr)} writable after ${tw} ms, published after ${tp} ms${seen} (${acked.length - before} inserts acknowledged meanwhile)`);
      // The old master back as a replica before the next trial (a hung one is fenced when it wakes).
      await fault(lab, nameOf(oldAddr), kill === "crash" ? "restart" : "resume");
      const end = Date.now() + 60_000;
      for (;;) {
        try {
          const [r] = asMariaNames(await ask<Record<string, unknown>>(oldAddr, d.replicaStatusSql));
          if (r?.Master_Host === newAddr && r.Slave_IO_Running === "Yes" && r.Slave_SQL_Running === "Yes") break;
        } catch {
          // not yet
        }
        if (Date.now() > end) throw new Error(`trial ${t}: ${nameOf(oldAddr)} did not rejoin within 60 s`);
        await sleep(200);
      }
    }
  } finally {
    await writer.stop();
  }

  // The agents stopped and what they made counted (against their counters), once it is final.
  const c = await db(published());
  const lost = (await missingKeys(c, TABLE, acked)).length;
  const values = await finalSeqReport(lab, (q, v) => c.query(q, v));
  c.destroy();

  // Where the time went: the daemon's own timelines (detect = first failed probe → decision).
  const phases = new Map<string, number[]>();
  for (const l of readHaLog(lab).lines) {
    const t = l.timeline as Timeline | undefined;
    if (!t?.ok || t.kind !== "failover") continue;
    for (const ph of t.phases) phases.set(ph.phase, [...(phases.get(ph.phase) ?? []), ph.end - ph.start]);
  }

  const w = stats(writable);
  const p = stats(publishedMs);
  const line = (name: string, s: { median: number; p95: number; max: number }) =>
    `| ${name.padEnd(40)} | ${String(s.median).padStart(6)} | ${String(s.p95).padStart(6)} | ${String(s.max).padStart(6)} |`;
  log("");
  log(`pandora_ha failover on ${version}, ${trials} trials, ${kill === "crash" ? "kill -9" : "SIGSTOP (hang)"} of the master under a ${writers}-connection writer (ms)`);
  log(`| ${"".padEnd(40)} | median |    p95 |    max |`);
  log(`|${"-".repeat(42)}|--------|--------|--------|`);
  const what = kill === "crash" ? "kill -9" : "SIGSTOP";
  log(line(`${what} → new master writable`, w));
  log(line(`${what} → pandora_ha_hosts.conf rewritten`, p));
  if (agents) {
    log(line(`${what} → first agent value stored there`, stats(gap)));
    log(line(`${what} → both data servers connected`, stats(bothServers)));
  }
  log("");
  log("the daemon's failover timelines, per phase (ms):");
  log(`| ${"phase".padEnd(40)} | median |    p95 |    max |`);
  log(`|${"-".repeat(42)}|--------|--------|--------|`);
  for (const [name, xs] of phases) log(line(name, stats(xs)));
  log("");
  log(`acknowledged inserts: ${acked.length}, lost (checked by the keys the writer made): ${lost}`);
  if (agents) log(`agent values (${agents} real agents, one a second): ${values.stored} stored, ${values.lost} lost, ${values.twice} stored twice${values.lost ? ` (${JSON.stringify(values.missing)})` : ""}`);
  log(`daemon idle: RSS ${rssMb.toFixed(1)} MB, CPU ${cpuPct.toFixed(2)} % of one core (over ${idleS} s, probing every 0.5 s)`);
}
