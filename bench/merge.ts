/**
 * npm run bench -- merge [--rows 100000] [--history 1000000] [--trials 3]
 *
 * Brings up its own 2-node lab, gives both nodes the same HISTORY rows of older monitoring data
 * (a Pandora database keeps weeks of it; 0: an empty one), and makes a split brain: node1 (the master) is cut off from pfms1
 * and node2, pandora_ha promotes node2, and ROWS monitoring rows are written on node1 in
 * transactions of 1000 (80 % tagente_datos, 15 % tagente_datos_string, 5 % tevento, timestamps
 * inside the split, so that the manual's time window finds them all). node1 is then made
 * read-only and the same rows are merged into node2 TRIALS times each way, the master cleaned
 * of them in between: the manual's (`mysqldump -n -t --skip-create-options --where=<window>` of
 * each table, tevento's ids replaced by NULL with its sed, piped into `mysql` on the master — a
 * pipe, where the manual writes dump files and copies them: kinder to it) and ours
 * (mergeDivergedWrites: node1's binlog read over SSH and decoded, deduplicated against the
 * master, streamed into it in one transaction, recorded). Before each run the master is cleaned
 * and InnoDB's purge of the cleaned rows awaited. Prints the median times, rows/s and the ratio.
 */
import { inHost } from "../lab/hosts";
import { run, sleep } from "../lab/proc";
import type { Lab } from "../lab/lab";
import { down, fault, findHost, requireNoLiveLab, statusExtras, up } from "../lab/lab";
import { paths } from "../lab/layout";
import { publishedMaster } from "../lab/writer";
import type { SshSettings } from "../runtime/exec";
import type { MergeSide } from "../runtime/act/merge";
import { MERGE_LOG_TABLE, mergeDivergedWrites } from "../runtime/act/merge";
import { NodeConnection } from "../runtime/observe/probe";
import { waitDurable } from "./failover";

/** How this machine reaches the lab's DB hosts over SSH (root, the lab's key). */
export function labSsh(lab: Lab): SshSettings {
  return { sshKey: paths.adminKey, sshPort: lab.state.sshPort, sshUser: "root", probeTimeout: 2, bindAddress: undefined };
}

/**
 * A lab node as the merge sees it (admin connection, gtid_binlog_state). Its host key is
 * forgotten from root's known_hosts first: every lab has new ones.
 */
export async function labMergeSide(lab: Lab, node: string): Promise<MergeSide> {
  const host = findHost(lab, node).address;
  await run("ssh-keygen", ["-R", host]);
  const conn = new NodeConnection({ host, port: lab.cfg.dbPort, user: lab.cfg.haDbUser, password: lab.secrets.passwords.haDbPassword, database: lab.cfg.dbName, timeoutMs: 5000 });
  const [r] = await conn.admin<{ v: string }>("SELECT @@global.gtid_binlog_state AS v");
  return { host, conn, history: String(r.v) };
}

const T0 = 1_760_000_000;
const MODULE = 900_000;

/** The same older monitoring data on every node, written on each (not binlogged): the weeks before the split. */
export async function writeHistory(lab: Lab, rows: number): Promise<void> {
  const strings = Math.floor(rows / 10);
  const events = Math.floor(rows / 50);
  const sql = [
    "SET SESSION sql_log_bin = 0",
    "USE pandora",
    `INSERT INTO pandora.tagente_datos SELECT seq % 5000, seq * 0.25, ${T0 - 1 - 45 * 86400} + seq % (45 * 86400) FROM seq_1_to_${rows}`,
    strings ? `INSERT INTO pandora.tagente_datos_string SELECT seq % 5000, CONCAT('old ', seq), ${T0 - 1 - 45 * 86400} + seq % (45 * 86400) FROM seq_1_to_${strings}` : "",
    events ? `INSERT INTO pandora.tevento (id_agente, evento, utimestamp, event_type, id_extra) SELECT seq % 50, CONCAT('old ', seq), ${T0 - 1 - 45 * 86400} + seq, 'system', 'history' FROM seq_1_to_${events}` : "",
  ].filter(Boolean);
  await Promise.all(
    lab.state.hosts.filter((h) => h.kind === "db").map(async (h) => {
      const r = await inHost(h.name, "mariadb", ["-e", sql.join(";\n")], { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`${h.name}: history: ${r.stderr.trim()}`);
    }),
  );
}

/** ROWS rows on node1 in transactions of 1000: module data, string data and events, in the window [T0, T0 + ROWS). */
export async function writeDiverged(c: NodeConnection, rows: number): Promise<void> {
  for (let a = 0; a < rows; a += 1000) {
    const b = Math.min(rows, a + 1000) - 1;
    const n = b - a + 1;
    const strings = Math.floor(n * 0.15);
    const events = Math.floor(n * 0.05);
    const datos = n - strings - events;
    await c.admin("START TRANSACTION");
    await c.admin(`INSERT INTO tagente_datos SELECT ${MODULE} + seq % 500, seq * 0.37, ${T0} + seq FROM seq_${a}_to_${a + datos - 1}`);
    if (strings) await c.admin(`INSERT INTO tagente_datos_string SELECT ${MODULE} + seq % 500, CONCAT('value ', seq), ${T0} + seq FROM seq_${a}_to_${a + strings - 1}`);
    if (events)
      await c.admin(
        `INSERT INTO tevento (id_agente, id_grupo, evento, timestamp, utimestamp, event_type, criticity, id_extra) ` +
          `SELECT seq % 50, 2, CONCAT('Module&#x20;', seq, '&#x20;going&#x20;up'), FROM_UNIXTIME(${T0} + seq), ${T0} + seq, 'going_up_critical', 4, 'bench' FROM seq_${a}_to_${a + events - 1}`,
      );
    await c.admin("COMMIT");
  }
}

/** The manual's way, piped: each table's rows in the window dumped from node1, loaded into node2. */
export async function manualMerge(lab: Lab, node: string, master: string, rows: number, since: string, until: string): Promise<void> {
  const cnf = statusExtras(lab).adminOptionFile;
  const where = `FROM_UNIXTIME(utimestamp) > "${since}" AND FROM_UNIXTIME(utimestamp) < "${until}"`;
  const dump = (t: string) => `mysqldump --defaults-extra-file=${cnf} -h ${node} -n -t --skip-create-options --databases pandora --tables ${t} --where='${where}'`;
  const load = `mysql --defaults-extra-file=${cnf} -h ${master} pandora`;
  const script = [
    "set -euo pipefail",
    `${dump("tagente_datos")} | ${load}`,
    `${dump("tagente_datos_string")} | ${load}`,
    `${dump("tevento")} | sed -e "s/([0-9]*,/(NULL,/gi" | ${load}`,
  ].join("\n");
  const r = await run("bash", ["-c", script], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`mysqldump | mysql failed: ${r.stderr.trim()} (${rows} rows)`);
}

/**
 * Removes the bench's rows (and the merge's record) from the master, and waits (up to 20 s) for
 * InnoDB to purge them: otherwise the purge of 100,000 deleted rows runs during the next trial,
 * on the same indexes and the same 2 cores.
 */
export async function clean(c: NodeConnection): Promise<void> {
  await c.admin(`DELETE FROM tagente_datos WHERE id_agente_modulo >= ${MODULE}`);
  await c.admin(`DELETE FROM tagente_datos_string WHERE id_agente_modulo >= ${MODULE}`);
  await c.admin("DELETE FROM tevento WHERE id_extra = 'bench'");
  await c.admin(`DELETE FROM ${MERGE_LOG_TABLE}`).catch(() => undefined);
  for (let i = 0; i < 200; i++) {
    const [s] = await c.admin<{ Status: string }>("SHOW ENGINE INNODB STATUS");
    const history = Number(/History list length (\d+)/.exec(String(s?.Status))?.[1] ?? 0);
    if (history < 100) return;
    await sleep(100);
  }
}

export async function counted(c: NodeConnection): Promise<number> {
  const [r] = await c.admin<{ n: string }>(
    `SELECT (SELECT COUNT(*) FROM tagente_datos WHERE id_agente_modulo >= ${MODULE}) + (SELECT COUNT(*) FROM tagente_datos_string WHERE id_agente_modulo >= ${MODULE}) + ` +
      "(SELECT COUNT(*) FROM tevento WHERE id_extra = 'bench') AS n",
  );
  return Number(r.n);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

export interface SplitBrain {
  /** node1 (cut off, read-only now) and node2 (the master) as the merge sees them. */
  node: MergeSide;
  master: MergeSide;
  /** The manual's time window around the diverged rows. */
  since: string;
  until: string;
  close(): void;
}

/**
 * The bench's split brain on a fresh lab: HISTORY older rows on both nodes, node1 cut off,
 * node2 promoted, ROWS rows written on node1, node1 made read-only.
 */
export async function splitBrain(lab: Lab, rows: number, history: number, log: (l: string) => void): Promise<SplitBrain> {
  if (history) {
    const h = Date.now();
    await writeHistory(lab, history);
    log(`history: ${history} tagente_datos rows (and a tenth as many string rows, a fiftieth as many events) on both nodes in ${((Date.now() - h) / 1000).toFixed(1)} s`);
  }
  // pandora_ha fails over only from a master it has seen durable (a replica acknowledging).
  await waitDurable(lab, 30_000);
  await fault(lab, "node1", "isolate", "pfms1");
  await fault(lab, "node1", "isolate", "node2");
  const node2 = findHost(lab, "node2").address;
  for (let i = 0; publishedMaster(lab) !== node2; i++) {
    if (i > 300) throw new Error("no failover to node2 within 30 s");
    await sleep(100);
  }
  const side1 = await labMergeSide(lab, "node1");
  // Its commits would wait for a replica's acknowledgement for ever: asynchronous, as after a fallback.
  await side1.conn.admin("SET GLOBAL rpl_semi_sync_master_enabled = OFF");
  const w = Date.now();
  await writeDiverged(side1.conn, rows);
  await side1.conn.admin("SET GLOBAL read_only = 1");
  side1.conn.close();
  log(`split brain: node2 promoted; ${rows} rows written on the cut-off node1 in ${((Date.now() - w) / 1000).toFixed(1)} s`);
  const node = await labMergeSide(lab, "node1");
  const master = await labMergeSide(lab, "node2");
  // The first commit without a replica waits out the semi-sync timeout: not part of either time.
  await master.conn.admin("CREATE TABLE IF NOT EXISTS pha_bench_warm (x INT) ENGINE=InnoDB");
  await master.conn.admin("INSERT INTO pha_bench_warm VALUES (1)", [], 30_000);
  const [win] = await master.conn.admin<{ a: string; b: string }>(`SELECT FROM_UNIXTIME(${T0 - 1}) AS a, FROM_UNIXTIME(${T0 + rows + 1}) AS b`);
  return { node, master, since: win.a, until: win.b, close: () => [node, master].forEach((s) => s.conn.close()) };
}

async function run2(lab: Lab, rows: number, history: number, trials: number, log: (l: string) => void): Promise<void> {
  const { node, master, since, until, close } = await splitBrain(lab, rows, history, log);
  const times = { manual: [] as number[], ours: [] as number[] };
  for (let t = 1; t <= trials; t++) {
    await clean(master.conn);
    let s = Date.now();
    await manualMerge(lab, node.host, master.host, rows, since, until);
    times.manual.push(Date.now() - s);
    const m = await counted(master.conn);
    await clean(master.conn);
    s = Date.now();
    const r = await mergeDivergedWrites(labSsh(lab), node, master);
    times.ours.push(Date.now() - s);
    const o = await counted(master.conn);
    const how = r.verbose ? `; read through mariadb-binlog -v: ${r.verbose}` : "";
    log(`trial ${t}: mysqldump | mysql ${times.manual[t - 1]} ms (${m} rows), ours ${times.ours[t - 1]} ms (${o} rows, ${r.diverged} transactions; ${JSON.stringify(r.ms)}${how})`);
    if (m !== rows || o !== rows) throw new Error(`expected ${rows} rows on the master each way (manual ${m}, ours ${o})`);
  }
  const line = (name: string, ms: number) => `| ${name.padEnd(34)} | ${(ms / 1000).toFixed(2).padStart(8)} | ${String(Math.round(rows / (ms / 1000))).padStart(9)} |`;
  log("");
  log(`split-brain merge of ${rows} rows into a database holding ${history} older tagente_datos rows (${trials} trials, median)`);
  log(`| ${"".padEnd(34)} | time (s) |    rows/s |`);
  log(`|${"-".repeat(36)}|----------|-----------|`);
  log(line("manual: mysqldump | sed | mysql", median(times.manual)));
  log(line("pandora_ha: binlog transactions", median(times.ours)));
  log(`ratio (manual / ours): ${(median(times.manual) / median(times.ours)).toFixed(2)}`);
  close();
}

export async function benchMerge(rows: number, history: number, trials: number): Promise<void> {
  const log = (l: string) => process.stdout.write(`${l}\n`);
  await requireNoLiveLab("the merge benchmark");
  // One server host: what this benchmark measures involves one daemon (the figures recorded so far).
  const { lab } = await up(2, () => undefined, 1);
  try {
    await run2(lab, rows, history, trials, log);
  } finally {
    await down(() => undefined);
  }
}
