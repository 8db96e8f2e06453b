/**
 * Split-brain merge (MariaDB), before a diverged node's tail is undone or the node is resynced:
 * the monitoring rows Pandora wrote on the cut-off side while it had lost the master (module
 * data, string data, events) are inserted into the master, so a repair loses no monitoring data.
 * What the manual does by hand with mysqldump, sed and a time window, done by transaction.
 *
 * The rule: the cut-off side's writes since the split are exactly its diverged transactions (the
 * GTIDs it has and the master lacks). They are read from its own binary log, decoded on its host
 * (`mariadb-binlog -v --base64-output=decode-rows --start-position=<common GTID position>`, over
 * SSH, filtered there to the merged tables), so a row is taken whatever its timestamp (skewed
 * agent clocks, old buffered data). Only what those transactions inserted is taken, net of what
 * they deleted again: an event that existed before the split and was validated (updated) on the
 * cut-off side is not an insert, so an event the master deleted meanwhile never comes back.
 * Events are read back from the node by its id_evento (their final state there; a new id on the
 * master); module data is taken from the row images (exact: doubles are printed with 20
 * digits, and the text that mariadb-binlog prints ambiguously, control characters, is resolved
 * against the node's row). A row the master already holds (same data point, same event) is not
 * inserted twice, and the merged GTID ranges are recorded on the master (`pandora_ha_merged`,
 * replicated) in the same transaction as the rows: a second run takes nothing.
 *
 * MariaDB only (GTID positions of mariadb-binlog, BINLOG_GTID_POS); MySQL/Percona are refused.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { parseMariaGtids } from "./dialect";
import type { SshSettings } from "./exec";
import { shq, sshArgs } from "./exec";
import { NodeConnection } from "./probe";
import { commonPosition } from "./truncate";

export const MERGED_TABLES = ["tagente_datos", "tagente_datos_string", "tevento"];
/** On the master: which diverged transactions were merged (one row per GTID range and merge). */
export const MERGE_LOG_TABLE = "pandora_ha_merged";
/** tevento: what makes two events the same event (not its state, which a validation changes). */
const EVENT_KEY = ["id_agente", "id_grupo", "evento", "utimestamp", "event_type", "criticity", "source", "id_extra"];
const BATCH = 2000;

type Row = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Pure: mariadb-binlog's decoded rows

/** One row event of a transaction; images hold the values as printed (index 0 is @1). */
export interface RowChange {
  kind: "insert" | "update" | "delete";
  table: string;
  before?: string[];
  after?: string[];
}

export interface DecodedTransaction {
  gtid: { domain: bigint; server: bigint; seq: bigint };
  changes: RowChange[];
  /** Statement events (DDL, statement-logged DML) naming a merged table: the merge refuses them. */
  statements: string[];
}

const GTID_LINE = /^#\d{6}\s.*\sGTID (\d+)-(\d+)-(\d+)(\s|$)/;
const ROW_HEAD = /^### (INSERT INTO|UPDATE|DELETE FROM) `([^`]*)`\.`([^`]*)`$/;
const NAMES_MERGED = new RegExp(`\\b(${MERGED_TABLES.join("|")})\\b`, "i");

/**
 * Reads `mariadb-binlog -v --base64-output=decode-rows` output line by line (the whole output
 * or what mergeScript's filter keeps) into transactions, keeping the row events of `db`.
 */
export class DecodedRowsParser {
  readonly transactions: DecodedTransaction[] = [];
  private tx?: DecodedTransaction;
  private change?: RowChange;
  private image?: string[];

  constructor(private readonly db: string) {}

  push(line: string): void {
    if (line.startsWith("###   @")) {
      // The bulk of the output: one value of the current image.
      const eq = line.indexOf("=");
      if (this.image && eq > 0) this.image[Number(line.slice(7, eq)) - 1] = line.slice(eq + 1);
      return;
    }
    if (line.startsWith("### ")) return this.rowLine(line);
    if (line.startsWith("#")) {
      const g = GTID_LINE.exec(line);
      if (!g) return;
      this.change = undefined;
      this.image = undefined;
      this.tx = { gtid: { domain: BigInt(g[1]), server: BigInt(g[2]), seq: BigInt(g[3]) }, changes: [], statements: [] };
      this.transactions.push(this.tx);
      return;
    }
    if (this.tx && NAMES_MERGED.test(line)) this.tx.statements.push(line);
  }

  /** A row event's head, or where its before (WHERE) or after (SET) image begins. */
  private rowLine(line: string): void {
    if (!this.tx) return;
    if (line === "### SET" || line === "### WHERE") {
      if (!this.change) return;
      this.image = [];
      if (line === "### SET") this.change.after = this.image;
      else this.change.before = this.image;
      return;
    }
    const h = ROW_HEAD.exec(line);
    this.image = undefined;
    if (!h) return;
    const kind = h[1] === "INSERT INTO" ? "insert" : h[1] === "UPDATE" ? "update" : "delete";
    this.change = h[2] === this.db ? { kind, table: h[3] } : undefined;
    if (this.change) this.tx.changes.push(this.change);
  }
}

/** A column as information_schema describes it. */
export interface Column {
  name: string;
  unsigned: boolean;
  numeric?: boolean;
}

/**
 * One printed value as the column's value: NULL, a number (an integer printed as
 * "signed (unsigned)" is read by the column's sign) or a string. `ambiguous` when the string
 * holds a "\xHH" below 0x20: mariadb-binlog prints control characters that way but a backslash
 * as it is, so the text alone cannot tell a newline from the four characters "\x0a".
 */
export function binlogValue(printed: string, col: Column): { value: string | null; ambiguous: boolean } {
  if (printed === "NULL") return { value: null, ambiguous: false };
  if (printed.length >= 2 && printed.startsWith("'") && printed.endsWith("'")) {
    const body = printed.slice(1, -1);
    return { value: body.replace(/\\x([01][0-9a-f])/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), ambiguous: /\\x[01][0-9a-f]/.test(body) };
  }
  const pair = /^(-?\d+) \((\d+)\)$/.exec(printed);
  if (pair) return { value: col.unsigned ? pair[2] : pair[1], ambiguous: false };
  return { value: printed, ambiguous: false };
}

/** How mariadb-binlog prints a string value (for telling which stored value a printed one is). */
export function binlogText(value: string): string {
  return `'${value.replace(/[\x00-\x1f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}'`;
}

/** What the diverged transactions leave inserted, per table: the row images, in order. */
export function netInserts(txs: DecodedTransaction[]): Map<string, string[][]> {
  const changes = txs.flatMap((t) => t.changes);
  const out = new Map<string, string[][]>();
  for (const table of new Set(changes.map((c) => c.table))) {
    const mine = changes.filter((c) => c.table === table);
    // Only inserts (the usual tail): all of them, without matching images.
    if (mine.every((c) => c.kind === "insert")) out.set(table, mine.flatMap((c) => (c.after ? [c.after] : [])));
    else out.set(table, netOf(mine));
  }
  return out;
}

/** Inserts net of updates and deletes: a change to a row the tail inserted changes or removes it; to an older row, nothing. */
function netOf(changes: RowChange[]): string[][] {
  const t = new Map<string, string[][]>();
  const k = (img: string[]) => JSON.stringify(img);
  for (const c of changes) {
    if (c.before && c.kind !== "insert") {
      const same = t.get(k(c.before));
      if (!same?.length) continue;
      same.shift();
      if (!same.length) t.delete(k(c.before));
    }
    if (c.after && c.kind !== "delete") t.set(k(c.after), [...(t.get(k(c.after)) ?? []), c.after]);
  }
  return [...t.values()].flat();
}

export interface GtidRange {
  domain: bigint;
  server: bigint;
  from: bigint;
  to: bigint;
}

/** The transactions' GTIDs as one range per (domain, server), lowest to highest seq. */
export function gtidRanges(txs: DecodedTransaction[]): GtidRange[] {
  const m = new Map<string, GtidRange>();
  for (const { gtid: g } of txs) {
    const key = `${g.domain}-${g.server}`;
    const r = m.get(key);
    if (!r) m.set(key, { domain: g.domain, server: g.server, from: g.seq, to: g.seq });
    else {
      if (g.seq < r.from) r.from = g.seq;
      if (g.seq > r.to) r.to = g.seq;
    }
  }
  return [...m.values()];
}

/**
 * The transactions still to merge: those the master's history lacks (diverged) and that no
 * recorded range covers (not merged before).
 */
export function toMerge(txs: DecodedTransaction[], masterHistory: string, merged: GtidRange[]): DecodedTransaction[] {
  const master = parseMariaGtids(masterHistory);
  return txs.filter(({ gtid: g }) => {
    if ((master.get(`${g.domain}-${g.server}`)?.seq ?? -1n) >= g.seq) return false;
    return !merged.some((r) => r.domain === g.domain && r.server === g.server && r.from <= g.seq && g.seq <= r.to);
  });
}

/**
 * What runs on the node's host: its binlog from `start` decoded, and only the lines the merge
 * reads (transaction GTIDs, row events of the merged tables, statements naming them) sent back.
 */
export function mergeScript(start: string, binlogDir: string, files: string[]): string {
  const tables = MERGED_TABLES.join("|");
  const awk = [
    `/^### (INSERT INTO|UPDATE|DELETE FROM) / { keep = ($NF ~ /\\.\`(${tables})\`$/) }`,
    "/^###/ { if (keep) print; next }",
    "/^#[0-9][0-9][0-9][0-9][0-9][0-9] .*GTID [0-9]/ { keep = 0; print; next }",
    `/^[^#]/ && tolower($0) ~ /(^|[^a-z_])(${tables})([^a-z_]|$)/ { print }`,
  ].join("\n");
  const script = [
    "set -euo pipefail",
    "bin=$(command -v mariadb-binlog || command -v mysqlbinlog)",
    `cd ${shq(binlogDir)}`,
    `"$bin" -v --base64-output=decode-rows --start-position=${shq(start)} ${files.map(shq).join(" ")} | awk ${shq(awk)}`,
  ].join("\n");
  return `if [ "$(id -u)" = 0 ]; then bash -c ${shq(script)}; else sudo -n bash -c ${shq(script)}; fi`;
}

// ---------------------------------------------------------------------------------------------
// Reading the node

/** Runs `remote` on `host` over SSH, handing each line of its output to `onLine`. */
function sshLines(ssh: SshSettings, host: string, remote: string, timeoutMs: number, onLine: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("ssh", sshArgs(ssh, host, remote), { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    let failed: Error | undefined;
    const t = setTimeout(() => {
      failed = new Error(`reading the binary log on ${host}: no end after ${timeoutMs} ms`);
      p.kill("SIGKILL");
    }, timeoutMs);
    p.stderr.on("data", (d) => (err = (err + d).slice(-2000)));
    const lines = createInterface({ input: p.stdout, crlfDelay: Infinity });
    lines.on("line", (l) => {
      try {
        onLine(l);
      } catch (e) {
        failed ??= e as Error;
        p.kill("SIGKILL");
      }
    });
    const ended = new Promise((r) => lines.once("close", r));
    p.on("error", (e) => (failed ??= e));
    p.on("close", async (code) => {
      clearTimeout(t);
      await ended;
      if (failed) reject(failed);
      else if (code !== 0) reject(new Error(`reading the binary log on ${host} failed (exit ${code}): ${err.trim()}`));
      else resolve();
    });
  });
}

/** Throws unless the node still has every binlog since `start` (none purged since the split). */
async function checkBinlogsReach(c: NodeConnection, files: string[], start: string): Promise<void> {
  const [r] = await c.admin<{ v: string | null }>("SELECT BINLOG_GTID_POS(?, 4) AS v", [files[0]]);
  const first = parseMariaGtids(String(r?.v ?? ""));
  for (const p of parseMariaGtids(start).values()) {
    for (const f of first.values()) {
      if (f.domain === p.domain && f.seq > p.seq) throw new Error(`its binary logs begin after the split (${files[0]} starts at ${r?.v}, the split at ${start}): merge by hand, then resync`);
    }
  }
}

async function columnsOf(c: NodeConnection): Promise<Map<string, Column[]>> {
  const rows = await c.admin<{ t: string; c: string; ty: string; dt: string }>(
    "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS ty, DATA_TYPE AS dt FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?) ORDER BY TABLE_NAME, ORDINAL_POSITION",
    [MERGED_TABLES],
  );
  const out = new Map<string, Column[]>();
  const numeric = /^(tinyint|smallint|mediumint|int|bigint|decimal|float|double)$/i;
  for (const r of rows) out.set(r.t, [...(out.get(r.t) ?? []), { name: r.c, unsigned: /unsigned/i.test(r.ty), numeric: numeric.test(r.dt) }]);
  return out;
}

/** Decodes the node's diverged transactions since `start`. */
async function readDiverged(ssh: SshSettings, host: string, c: NodeConnection, start: string): Promise<DecodedTransaction[]> {
  const [base] = await c.admin<{ v: string; db: string }>("SELECT @@global.log_bin_basename AS v, DATABASE() AS db");
  const files = (await c.admin<{ Log_name: string }>("SHOW BINARY LOGS")).map((l) => l.Log_name);
  if (!files.length) throw new Error("no binary logs");
  await checkBinlogsReach(c, files, start);
  const parser = new DecodedRowsParser(String(base.db));
  await sshLines(ssh, host, mergeScript(start, String(base.v).replace(/\/[^/]*$/, ""), files), 600_000, (l) => parser.push(l));
  return parser.transactions;
}

/**
 * The images of a table as rows of the node's columns. A value mariadb-binlog printed
 * ambiguously is taken from the node's row that has the other values and prints the same.
 */
async function imagesToRows(c: NodeConnection, table: string, cols: Column[], images: string[][]): Promise<Row[]> {
  const out: Row[] = [];
  for (const img of images) {
    if (img.length !== cols.length) throw new Error(`${table}: a row of ${img.length} columns, the table has ${cols.length} (changed since the split?)`);
    const row: Row = {};
    const unsure: number[] = [];
    cols.forEach((col, i) => {
      const v = binlogValue(img[i], col);
      row[col.name] = v.value;
      if (v.ambiguous) unsure.push(i);
    });
    if (unsure.length) {
      const sure = cols.filter((_, i) => !unsure.includes(i));
      const cands = await c.admin<Row>(
        `SELECT ${unsure.map((i) => `\`${cols[i].name}\``).join(", ")} FROM \`${table}\` WHERE ${sure.map((s) => `\`${s.name}\` <=> ?`).join(" AND ") || "1"}`,
        sure.map((s) => row[s.name]),
      );
      const hit = cands.find((r) => unsure.every((i) => r[cols[i].name] !== null && binlogText(String(r[cols[i].name])) === img[i]));
      if (!hit) throw new Error(`${table}: a row of the diverged tail is no longer on the node and its text cannot be decoded exactly (${img.join(", ").slice(0, 200)})`);
      for (const i of unsure) row[cols[i].name] = hit[cols[i].name];
    }
    out.push(row);
  }
  return out;
}

/** The events the tail inserted, as they are on the node now (an event deleted there since: none). */
async function insertedEvents(c: NodeConnection, cols: Column[], images: string[][]): Promise<Row[]> {
  const idAt = cols.findIndex((col) => col.name === "id_evento");
  if (idAt < 0) throw new Error("tevento has no id_evento");
  const ids = images.map((img) => binlogValue(img[idAt], cols[idAt]).value);
  const out: Row[] = [];
  for (let i = 0; i < ids.length; i += BATCH) out.push(...(await c.admin<Row>("SELECT * FROM tevento WHERE id_evento IN (?) ORDER BY id_evento", [ids.slice(i, i + BATCH)])));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing the master

interface TablePlan {
  table: string;
  columns: string[];
  /** Compared with the master's rows: a row it already has is not inserted again. */
  key: string[];
  /** An indexed column of the key: the master's rows with the batch's values of it are compared. */
  lookup: string;
  numeric: Set<string>;
  rows: Row[];
}

/** A key value as compared: numbers by value (the binlog's "2.50" is the master's 2.5), text as it is. */
const norm = (v: unknown, numeric: boolean) => (v === null || v === undefined ? null : numeric ? String(Number(v)) : String(v));

/**
 * The rows of a batch that the master does not hold yet: its rows with the batch's values of
 * the lookup column (one IN list on its index) compared in full.
 */
async function notOnMaster(q: (sql: string, values?: unknown[]) => Promise<Row[]>, p: TablePlan, rows: Row[]): Promise<Row[]> {
  const keyOf = (r: Row) => JSON.stringify(p.key.map((k) => norm(r[k], p.numeric.has(k))));
  const probes = [...new Set(rows.map((r) => r[p.lookup]).filter((v) => v !== null && v !== undefined))];
  const there = probes.length ? await q(`SELECT ${p.key.map((k) => `\`${k}\``).join(", ")} FROM \`${p.table}\` WHERE \`${p.lookup}\` IN (?)`, [probes]) : [];
  const have = new Map<string, number>();
  for (const r of there) have.set(keyOf(r), (have.get(keyOf(r)) ?? 0) + 1);
  return rows.filter((r) => {
    const n = have.get(keyOf(r)) ?? 0;
    if (n) have.set(keyOf(r), n - 1);
    return !n;
  });
}

/**
 * In one transaction on a connection of its own: each table's rows that the master does not
 * hold yet inserted, and the merged ranges recorded. Returns the rows inserted per table.
 */
async function writeMaster(master: NodeConnection, plans: TablePlan[], ranges: GtidRange[], node: string): Promise<Record<string, number>> {
  const c = new NodeConnection(master.opts);
  const q = (sql: string, values: unknown[] = []) => c.admin<Row>(sql, values, 300_000);
  const inserted: Record<string, number> = {};
  try {
    await q("START TRANSACTION");
    for (const p of plans) {
      inserted[p.table] = 0;
      for (let i = 0; i < p.rows.length; i += BATCH) {
        const rows = await notOnMaster(q, p, p.rows.slice(i, i + BATCH));
        if (!rows.length) continue;
        await q(`INSERT INTO \`${p.table}\` (${p.columns.map((x) => `\`${x}\``).join(", ")}) VALUES ?`, [rows.map((r) => p.columns.map((x) => r[x]))]);
        inserted[p.table] += rows.length;
      }
    }
    const total = Object.values(inserted).reduce((a, b) => a + b, 0);
    for (const g of ranges) {
      await q(`INSERT INTO ${MERGE_LOG_TABLE} VALUES (?, ?, ?, ?, ?, NOW(3), ?)`, [String(g.domain), String(g.server), String(g.from), String(g.to), node, total]);
    }
    await q("COMMIT");
    return inserted;
  } finally {
    // A failure before COMMIT closed the connection: the server rolled everything back.
    c.close();
  }
}

/** The ranges merged before (the record table created on the first merge). */
async function mergedRanges(master: NodeConnection): Promise<GtidRange[]> {
  const read = () => master.admin<Record<string, string>>(`SELECT domain_id AS d, server_id AS s, seq_from AS f, seq_to AS t FROM ${MERGE_LOG_TABLE}`);
  let rows: Record<string, string>[];
  try {
    rows = await read();
  } catch (e) {
    if ((e as { errno?: number }).errno !== 1146) throw e;
    await master.admin(
      `CREATE TABLE IF NOT EXISTS ${MERGE_LOG_TABLE} (domain_id INT UNSIGNED NOT NULL, server_id INT UNSIGNED NOT NULL, ` +
        "seq_from BIGINT UNSIGNED NOT NULL, seq_to BIGINT UNSIGNED NOT NULL, node VARCHAR(255) NOT NULL, merged_at DATETIME(3) NOT NULL, " +
        "rows_merged INT UNSIGNED NOT NULL, PRIMARY KEY (domain_id, server_id, seq_from)) ENGINE=InnoDB",
    );
    rows = await read();
  }
  return rows.map((r) => ({ domain: BigInt(r.d), server: BigInt(r.s), from: BigInt(r.f), to: BigInt(r.t) }));
}

// ---------------------------------------------------------------------------------------------
// The merge

/** A DB node as the merge sees it: its SSH host, an admin connection, its gtid_binlog_state. */
export interface MergeSide {
  host: string;
  conn: NodeConnection;
  history: string;
}

export interface MergeReport {
  /** Diverged transactions read from the node's binlog since the split. */
  diverged: number;
  /** Of those, merged by an earlier run (skipped). */
  alreadyMerged: number;
  /** Rows inserted into the master, per table. */
  inserted: Record<string, number>;
  /** Rows the tail left that the master already had (not inserted again). */
  alreadyThere: number;
  /** For the daemon's event: "" when nothing was inserted. */
  summary: string;
  /** Where the time went (ms): reading the node's binlog, preparing the rows, writing the master. */
  ms: { read: number; prepare: number; write: number };
}

/**
 * Inserts into `master` the monitoring rows (MERGED_TABLES) that `node`'s diverged transactions
 * inserted, whatever their timestamps; never an event the master deleted; idempotent. Throws
 * (touching nothing) when the node is not MariaDB, its binlogs no longer reach the split, or the
 * tail changed a merged table's definition or wrote it by statement.
 */
export async function mergeDivergedWrites(ssh: SshSettings, node: MergeSide, master: MergeSide): Promise<MergeReport> {
  const [v] = await node.conn.admin<{ v: string }>("SELECT VERSION() AS v");
  if (!/mariadb/i.test(String(v?.v))) throw new Error(`${node.host} runs ${v?.v}: the split-brain merge reads MariaDB binary logs only`);
  const start = commonPosition(node.history, master.history);
  if (!start) throw new Error(`no common point between ${node.host} (${node.history}) and ${master.host} (${master.history})`);
  let t = Date.now();
  const lap = () => -t + (t = Date.now());
  const all = await readDiverged(ssh, node.host, node.conn, start);
  const ms = { read: lap(), prepare: 0, write: 0 };
  const diverged = toMerge(all, master.history, []);
  const txs = toMerge(diverged, master.history, await mergedRanges(master.conn));
  const refused = txs.flatMap((t) => t.statements);
  if (refused.length) throw new Error(`the diverged transactions hold statements on merged tables (${refused[0].slice(0, 200)}): merge by hand`);
  const report: MergeReport = { diverged: diverged.length, alreadyMerged: diverged.length - txs.length, inserted: {}, alreadyThere: 0, summary: "", ms };
  if (!txs.length) return report;

  const nodeCols = await columnsOf(node.conn);
  const masterCols = await columnsOf(master.conn);
  const plans: TablePlan[] = [];
  for (const [table, images] of netInserts(txs)) {
    const cols = nodeCols.get(table);
    const there = new Set((masterCols.get(table) ?? []).map((c) => c.name));
    if (!cols || !there.size || !images.length) continue;
    const rows = table === "tevento" ? await insertedEvents(node.conn, cols, images) : await imagesToRows(node.conn, table, cols, images);
    const columns = cols.map((c) => c.name).filter((n) => there.has(n) && !(table === "tevento" && n === "id_evento"));
    const key = table === "tevento" ? EVENT_KEY.filter((k) => columns.includes(k)) : columns;
    // All three tables have an index on utimestamp.
    const numeric = new Set((masterCols.get(table) ?? []).filter((c) => c.numeric).map((c) => c.name));
    plans.push({ table, columns, key, lookup: key.includes("utimestamp") ? "utimestamp" : key[0], numeric, rows });
  }
  ms.prepare = lap();
  report.inserted = await writeMaster(master.conn, plans, gtidRanges(txs), node.host);
  ms.write = lap();
  const total = Object.values(report.inserted).reduce((a, b) => a + b, 0);
  report.alreadyThere = plans.reduce((a, p) => a + p.rows.length, 0) - total;
  const what = Object.entries(report.inserted).filter(([, n]) => n).map(([t, n]) => `${n} ${t} rows`);
  if (what.length) report.summary = `; ${what.join(", ")} written there during the split copied to ${master.host}`;
  return report;
}

// ---------------------------------------------------------------------------------------------
// Deprecated: today's caller (runtime/actions.ts) until it is switched to mergeDivergedWrites

interface TableSpec {
  table: string;
  /** Columns copied. */
  columns: string[];
  /** Columns compared: a row is on the master when all of them match (default: all copied). */
  key?: string[];
}

const LEGACY_TABLES: TableSpec[] = [
  { table: "tagente_datos", columns: ["id_agente_modulo", "datos", "utimestamp"] },
  { table: "tagente_datos_string", columns: ["id_agente_modulo", "datos", "utimestamp"] },
  {
    table: "tevento",
    columns: ["id_agente", "id_grupo", "evento", "timestamp", "utimestamp", "estado", "event_type", "criticity", "source", "id_extra"],
    // Not estado: an event validated on one side since the split is still the same event.
    key: ["id_agente", "id_grupo", "evento", "utimestamp", "event_type", "criticity", "source", "id_extra"],
  },
];

const key = (r: Row, cols: string[]) => JSON.stringify(cols.map((c) => (r[c] === null || r[c] === undefined ? null : String(r[c]))));

async function tableExists(c: NodeConnection, table: string): Promise<boolean> {
  const rows = await c.admin("SELECT 1 AS v FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", [table]);
  return rows.length > 0;
}
