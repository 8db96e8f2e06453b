/**
 * npm run bench -- seed --size 1G
 *
 * Seeds the replica of a lab master holding SIZE of monitoring-like data twice, in one run:
 * the manual's procedure (backup into a directory on the master, prepare, rsync over SSH,
 * start, replicate) and ours (the resync tool: the backup streamed into a directory beside the
 * replica's datadir, zstd-compressed off loopback, prepared there and swapped in). Prints both
 * times, MB/s and the ratio. On a lab of `--flavor mysql` (PANDORA_HA_LAB_FLAVOR=mysql) ours
 * only: the resync tool by the clone plugin (the manual's MySQL procedure needs xtrabackup, which
 * Debian does not package).
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { inHost } from "../lab/hosts";
import { down, requireNoLiveLab, runResyncTool, status, up } from "../lab/lab";
import { labFamily } from "../lab/layout";
import { runOk } from "../lab/proc";

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([MG])$/i.exec(s);
  if (!m) throw new Error(`--size must be like 512M or 1G (got '${s}')`);
  return Math.round(Number(m[1]) * (m[2].toUpperCase() === "G" ? 1024 : 1) * 1024 * 1024);
}

/** The lab's family: MySQL's client and SQL, or MariaDB's (set once the lab is up). */
let fam = labFamily(undefined);

async function rootSql(host: string, sql: string): Promise<string> {
  // MySQL caches information_schema's table sizes for a day by default.
  const pre = fam.mysql ? "SET SESSION information_schema_stats_expiry = 0; SET SESSION cte_max_recursion_depth = 100001; " : "";
  const r = await inHost(host, fam.client, ["-N", "-B", "-e", pre + sql], { timeoutMs: 1_800_000 });
  if (r.code !== 0) throw new Error(`${host}: ${sql.slice(0, 60)}…: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * Fills pandora.tagente_datos_bench on node1 (tagente_datos' shape and indexes) until data +
 * indexes reach `bytes`. Rows are doubled without the secondary indexes, which are then built
 * sorted (fast even with the lab's small buffer pool). Not binlogged: the replica is reseeded.
 */
async function fill(bytes: number, log: (l: string) => void): Promise<number> {
  const t = Date.now();
  await rootSql(
    "node1",
    "SET sql_log_bin=0; USE pandora; CREATE TABLE pandora.tagente_datos_bench (id_agente_modulo INT UNSIGNED NOT NULL, " +
      "datos DOUBLE, utimestamp BIGINT NOT NULL DEFAULT 0) ENGINE=InnoDB; " +
      (fam.mysql
        ? "INSERT INTO pandora.tagente_datos_bench WITH RECURSIVE s (seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < 100000) SELECT FLOOR(RAND()*5000), ROUND(RAND()*100, 2), 1700000000 + seq FROM s"
        : "INSERT INTO pandora.tagente_datos_bench SELECT FLOOR(RAND()*5000), ROUND(RAND()*100, 2), 1700000000 + seq FROM seq_1_to_100000"),
  );
  const size = async () =>
    Number(
      (await rootSql("node1", "ANALYZE TABLE pandora.tagente_datos_bench; SELECT data_length + index_length FROM information_schema.tables WHERE table_name = 'tagente_datos_bench'"))
        .split("\n")
        .pop(),
    );
  // The indexes add about 80 % to the rows' size: fill the rows to 55 % of the target.
  let have = await size();
  while (have < bytes * 0.55) {
    const rows = Number(await rootSql("node1", "SELECT COUNT(*) FROM pandora.tagente_datos_bench"));
    const add = Math.min(rows, Math.ceil(((bytes * 0.55 - have) / have) * rows) + 1000);
    await rootSql(
      "node1",
      `SET sql_log_bin=0; INSERT INTO pandora.tagente_datos_bench SELECT FLOOR(RAND()*5000), ROUND(RAND()*100, 2), utimestamp + ${rows} FROM pandora.tagente_datos_bench LIMIT ${add}`,
    );
    have = await size();
    log(`  rows: ${(have / 1048576).toFixed(0)} MB`);
  }
  await rootSql("node1", "SET sql_log_bin=0; ALTER TABLE pandora.tagente_datos_bench ADD KEY idx (id_agente_modulo, utimestamp), ADD KEY ts (utimestamp)");
  have = await size();
  log(`filled the master with ${(have / 1048576).toFixed(0)} MB (rows and indexes) in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  return have;
}

async function datadirBytes(host: string): Promise<number> {
  const r = await inHost(host, "du", ["-sb", "/var/lib/mysql"]);
  return Number(r.stdout.split(/\s/)[0]);
}

async function replicaCount(): Promise<string> {
  return rootSql("node2", "SELECT COUNT(*) FROM pandora.tagente_datos_bench");
}

export async function benchSeed(size: string, trials: number): Promise<void> {
  const bytes = parseSize(size);
  await requireNoLiveLab("the benchmark");
  const log = (l: string) => process.stdout.write(`${l}\n`);
  log(`bringing up a 2-node lab`);
  // One server host: what this benchmark measures involves one daemon (the figures recorded so far).
  const { lab } = await up(2, () => undefined, 1);
  fam = labFamily(lab.state.flavor);
  try {
    await rootSql("node2", fam.mysql ? "STOP REPLICA" : "STOP SLAVE"); // the fill is not replicated; the replica is reseeded anyway
    const filled = await fill(bytes, log);
    const datadir = await datadirBytes("node1");
    // Same start for both: the master's files in the page cache.
    await inHost("node1", "sh", ["-c", "find /var/lib/mysql -type f -exec cat {} + >/dev/null"]);

    const script = readFileSync(path.join(__dirname, "manual-seed.sh"), "utf8");
    const manualRun = async (): Promise<number> => {
      const t = Date.now();
      const r = await inHost("node2", "bash", ["-c", script], {
        env: { ...process.env, MASTER: "127.0.1.1", REPL_USER: lab.cfg.replUser, REPL_PASSWORD: lab.secrets.passwords.replPassword },
        timeoutMs: 3_600_000,
      });
      const secs = (Date.now() - t) / 1000;
      if (r.code !== 0) throw new Error(`the manual procedure failed: ${r.stderr.trim().split("\n").slice(-5).join("\n")}`);
      phases.push(r.stdout.split("\n").filter((l) => l.startsWith("phase ")).map((l) => l.slice(6)).join(", "));
      return secs;
    };
    const oursRun = async (): Promise<number> => {
      const t = Date.now();
      const r = await runResyncTool(lab, "127.0.1.1", "127.0.1.2", 3_600_000);
      const secs = (Date.now() - t) / 1000;
      if (r.code !== 0) throw new Error(`our resync failed: ${r.stderr.trim().split("\n").slice(-5).join("\n")}`);
      return secs;
    };
    const verify = async (after: string) => {
      const s = await status(lab);
      if (s[1].ioRunning !== "Yes" || s[1].sqlRunning !== "Yes") throw new Error(`node2 does not replicate after ${after}`);
      const n = await replicaCount();
      if (n !== expectedRows) throw new Error(`node2 has ${n} rows after ${after}, the master ${expectedRows}`);
    };
    const expectedRows = await rootSql("node1", "SELECT COUNT(*) FROM pandora.tagente_datos_bench");
    const phases: string[] = [];
    const manualTimes: number[] = [];
    const oursTimes: number[] = [];
    // Alternate the two, so that neither always runs on a warmer machine.
    for (let i = 0; i < trials; i++) {
      if (!fam.mysql) {
        log(`trial ${i + 1}/${trials}: the manual's way (backup to a directory, prepare, rsync over SSH)`);
        manualTimes.push(await manualRun());
        await verify("the manual procedure");
      }
      log(`trial ${i + 1}/${trials}: ours (pandora_ha_resync_slave.sh: ${fam.mysql ? "the clone plugin into a directory beside the datadir" : "streamed, prepared beside the datadir"})`);
      oursTimes.push(await oursRun());
      await verify("our resync");
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const oursSecs = median(oursTimes);

    const mb = datadir / 1048576;
    const table = [["method", "median s", "MB/s", "speed-up", "each trial (s)"]];
    const manualSecs = manualTimes.length ? median(manualTimes) : undefined;
    if (manualSecs !== undefined) table.push(["manual (backup, prepare, rsync)", manualSecs.toFixed(1), (mb / manualSecs).toFixed(0), "1.00", manualTimes.map((x) => x.toFixed(1)).join(" ")]);
    table.push([
      fam.mysql ? "pandora-ha (clone plugin)" : "pandora-ha (streamed)",
      oursSecs.toFixed(1),
      (mb / oursSecs).toFixed(0),
      manualSecs !== undefined ? (manualSecs / oursSecs).toFixed(2) : "-",
      oursTimes.map((x) => x.toFixed(1)).join(" "),
    ]);
    const w = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
    log("");
    log(`data: ${(filled / 1048576).toFixed(0)} MB in tables, ${mb.toFixed(0)} MB datadir, ${expectedRows} rows; replica verified after each seed`);
    if (phases.length) log(`manual phases (s), per trial: ${phases.join(" | ")}`);
    for (const r of table) log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  "));
    log(`machine: ${(await runOk("nproc", [])).trim()} cores, ${(await runOk("uname", ["-r"])).trim()}`);
  } finally {
    await down(() => undefined);
  }
}
