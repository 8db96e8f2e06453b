/**
 * Split-brain merge (MariaDB), before a diverged node's tail is undone or the node is resynced:
 * the monitoring rows Pandora wrote on the cut-off side while it had lost the master (module
 * data, string data, events) are inserted into the master, so a repair loses no monitoring data.
 * What the manual does by hand with mysqldump, sed and a time window, done by transaction.
 *
 * The rule: the cut-off side's writes since the split are exactly its diverged transactions (the
 * GTIDs it has and the master lacks). They are read from its own binary log on its host, over
 * SSH (`mariadb-binlog --start-position=<common GTID position>`, filtered there to the merged
 * tables), so a row is taken whatever its timestamp (skewed agent clocks, old buffered data).
 * Only what those transactions inserted is taken, net of what they deleted again: an event that
 * existed before the split and was validated (updated) on the cut-off side is not an insert, so
 * an event the master deleted meanwhile never comes back. Events are read back from the node by
 * its id_evento (their final state there; a new id on the master); module data is taken from
 * the row images, exactly. A row the master already holds (same data point, same event) is not
 * inserted twice, and the merged GTID ranges are recorded on the master (`pandora_ha_merged`,
 * replicated) in the same transaction as the rows: a second run takes nothing.
 *
 * The row images are the row events themselves, as mariadb-binlog's BINLOG statements carry them,
 * decoded here (binlog-events.ts: a double is its 8 bytes, text its bytes). What that decoder
 * does not read (compressed events, rare column types, text not in UTF-8) is read again through
 * `mariadb-binlog -v --base64-output=decode-rows` and its printed values (doubles with 20 digits;
 * the text it prints ambiguously, control characters, resolved against the node's row).
 *
 * Streamed: the rows are inserted into the master, in batches inside that one transaction, while
 * the rest of the binlog is still being read. Should the tail update or delete a data row it
 * inserted itself (its net rows are then not its inserts), that transaction is abandoned and the
 * net rows are written in one of their own once everything is read.
 *
 * MariaDB only (GTID positions of mariadb-binlog, BINLOG_GTID_POS); MySQL/Percona are refused.
 */
import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import { format } from "mysql2/promise";
import type { EncodedRows } from "./binlog-events";
import { BinlogEvents, BinlogUnsupported, decodeRows } from "./binlog-events";
import { parseMariaGtids } from "../dialect";
import type { SshSettings } from "../exec";
import { shq, sshArgs } from "../exec";
import { NodeConnection } from "../observe/probe";
import { BINLOG_LINES, commonPosition } from "./truncate";

export const MERGED_TABLES = ["tagente_datos", "tagente_datos_string", "tevento"];
/** On the master: which diverged transactions were merged (one row per GTID range and merge). */
export const MERGE_LOG_TABLE = "pandora_ha_merged";
/** tevento: what makes two events the same event (not its state, which a validation changes). */
const EVENT_KEY = ["id_agente", "id_grupo", "evento", "utimestamp", "event_type", "criticity", "source", "id_extra"];
/** Rows per batch (read back, compared with the master, inserted): the first ones smaller, so that inserting begins early. */
const BATCH = 5000;
const FIRST_BATCH = 250;
/** At most this much SQL text per INSERT (max_allowed_packet is 16 MB by default). */
const INSERT_BYTES = 4 << 20;

type Row = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Pure: mariadb-binlog's decoded rows

/**
 * One row event of a transaction; images hold its values (index 0 is the first column): as
 * mariadb-binlog -v prints them (strings), or decoded from the event.
 */
export interface RowChange {
  kind: "insert" | "update" | "delete";
  table: string;
  before?: unknown[];
  after?: unknown[];
}

export interface DecodedTransaction {
  gtid: { domain: bigint; server: bigint; seq: bigint };
  changes: RowChange[];
  /** Statement events (DDL, statement-logged DML) naming a merged table: the merge refuses them. */
  statements: string[];
  /** BinlogRowsParser: the merged tables' rows events, decoded into `changes` once the transaction is taken. */
  encoded?: EncodedRows[];
  /** BinlogRowsParser: why its rows cannot be decoded here (read through `-v` instead). */
  unsupported?: string;
}

/** What mergeScript's filter prints after a transaction that has no COMMIT. */
export const CUT_SHORT_MARK = "# pandora_ha: the transaction above was cut short";
const GTID_LINE = /^#\d{6}\s.*\sGTID (\d+)-(\d+)-(\d+)(\s|$)/;
const ROW_HEAD = /^### (INSERT INTO|UPDATE|DELETE FROM) `([^`]*)`\.`([^`]*)`$/;
const NAMES_MERGED = new RegExp(`\\b(${MERGED_TABLES.join("|")})\\b`, "i");

/**
 * What both readers of mariadb-binlog's output share: a transaction begins at its GTID comment
 * line and is handed to `onTransaction` once its last line is read (the next GTID, or end());
 * a statement naming a merged table is kept on it.
 */
abstract class TransactionLines {
  readonly transactions: DecodedTransaction[] = [];
  protected tx?: DecodedTransaction;

  constructor(
    protected readonly db: string,
    private readonly onTransaction?: (tx: DecodedTransaction) => void,
  ) {}

  abstract push(line: string): void;

  /** The output ended: its last transaction is complete. */
  end(): void {
    const tx = this.tx;
    this.tx = undefined;
    this.reset();
    if (tx) this.onTransaction?.(tx);
  }

  /** Forgets the row event being read. */
  protected abstract reset(): void;

  /** A comment line: a transaction begins at its GTID; one cut short by a crash is dropped. */
  protected comment(line: string): void {
    if (line === CUT_SHORT_MARK) return this.dropCutShort();
    const g = GTID_LINE.exec(line);
    if (!g) return;
    this.end();
    this.tx = { gtid: { domain: BigInt(g[1]), server: BigInt(g[2]), seq: BigInt(g[3]) }, changes: [], statements: [] };
    this.transactions.push(this.tx);
  }

  /** The transaction being read never ended (no COMMIT): its server's recovery rolled it back. */
  private dropCutShort(): void {
    const tx = this.tx;
    if (!tx) return;
    this.transactions.splice(this.transactions.indexOf(tx), 1);
    this.tx = undefined;
    this.reset();
  }

  protected statement(line: string): void {
    if (this.tx && NAMES_MERGED.test(line)) this.tx.statements.push(line);
  }
}

/**
 * Reads `mariadb-binlog -v --base64-output=decode-rows` output line by line (the whole output
 * or what mergeScript's verbose filter keeps) into transactions, keeping the row events of `db`
 * with their values as printed.
 */
export class DecodedRowsParser extends TransactionLines {
  private change?: RowChange;
  private image?: string[];

  push(line: string): void {
    if (line.startsWith("###   @")) return this.value(line);
    if (line.startsWith("### ")) return this.rowLine(line);
    if (line.startsWith("#")) return this.comment(line);
    this.statement(line);
  }

  protected reset(): void {
    this.change = this.image = undefined;
  }

  /** "###   @N=value", the bulk of the output: one value of the current image (N read without a regex). */
  private value(line: string): void {
    const img = this.image;
    if (!img) return;
    let n = 0;
    let i = 7;
    for (let c = line.charCodeAt(i); c >= 48 && c <= 57; c = line.charCodeAt(++i)) n = n * 10 + c - 48;
    if (line.charCodeAt(i) !== 61 || n < 1) return;
    if (n === img.length + 1) img.push(line.slice(i + 1));
    else img[n - 1] = line.slice(i + 1);
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

/**
 * Reads mariadb-binlog's default output (or what mergeScript's filter keeps) into transactions:
 * the base64 lines of a BINLOG statement are whole events (a line holds no padding but an event's
 * last), decoded by BinlogEvents; the merged tables' rows events of `db` are kept encoded.
 */
export class BinlogRowsParser extends TransactionLines {
  private readonly events: BinlogEvents;
  /** The BINLOG statement being read: its events' bytes, and the base64 of the event not ended yet. */
  private block?: Buffer[];
  private pending = "";

  constructor(db: string, onTransaction?: (tx: DecodedTransaction) => void, tables: string[] = MERGED_TABLES) {
    super(db, onTransaction);
    this.events = new BinlogEvents(db, new Set(tables));
  }

  push(line: string): void {
    if (this.block) return this.blockLine(line, this.block);
    if (line === "BINLOG '") this.block = [];
    else if (line.startsWith("#")) this.comment(line);
    else this.statement(line);
  }

  protected reset(): void {
    this.block = undefined;
    this.pending = "";
  }

  private blockLine(line: string, block: Buffer[]): void {
    if (!line.startsWith("'")) {
      this.pending += line;
      if (line.endsWith("=")) this.flush(block);
      return;
    }
    this.flush(block);
    this.block = undefined;
    for (const data of block) {
      for (let at = 0; at + 19 <= data.length; ) {
        const len = data.readUInt32LE(at + 9);
        const e = this.events.event(data.subarray(at, at + len));
        if (e && this.tx && typeof e === "string") this.tx.unsupported ??= e;
        else if (e && this.tx && typeof e !== "string") (this.tx.encoded ??= []).push(e);
        at += Math.max(len, 19);
      }
    }
  }

  private flush(block: Buffer[]): void {
    if (this.pending) block.push(Buffer.from(this.pending, "base64"));
    this.pending = "";
  }
}

/** A column as information_schema describes it. */
export interface Column {
  name: string;
  unsigned: boolean;
  numeric?: boolean;
  /** CHARACTER_SET_NAME (null: not text, or binary). */
  charset?: string | null;
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
    if (!body.includes("\\x")) return { value: body, ambiguous: false };
    return { value: body.replace(/\\x([01][0-9a-f])/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), ambiguous: /\\x[01][0-9a-f]/.test(body) };
  }
  if (!printed.endsWith(")")) return { value: printed, ambiguous: false };
  const pair = /^(-?\d+) \((\d+)\)$/.exec(printed);
  if (pair) return { value: col.unsigned ? pair[2] : pair[1], ambiguous: false };
  return { value: printed, ambiguous: false };
}

/** How mariadb-binlog prints a string value (for telling which stored value a printed one is). */
export function binlogText(value: string): string {
  return `'${value.replace(/[\x00-\x1f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}'`;
}

/** What the diverged transactions leave inserted, per table: the row images, in order. */
export function netInserts(txs: DecodedTransaction[]): Map<string, unknown[][]> {
  const changes = txs.flatMap((t) => t.changes);
  const out = new Map<string, unknown[][]>();
  for (const table of new Set(changes.map((c) => c.table))) {
    const mine = changes.filter((c) => c.table === table);
    // Only inserts (the usual tail): all of them, without matching images.
    if (mine.every((c) => c.kind === "insert")) out.set(table, mine.flatMap((c) => (c.after ? [c.after] : [])));
    else out.set(table, netOf(mine));
  }
  return out;
}

/** What identifies a row image when images are compared. */
const imageKey = (img: unknown[]) => JSON.stringify(img);

/** Inserts net of updates and deletes: a change to a row the tail inserted changes or removes it; to an older row, nothing. */
function netOf(changes: RowChange[]): unknown[][] {
  const t = new Map<string, unknown[][]>();
  for (const c of changes) {
    if (c.before && c.kind !== "insert") {
      const same = t.get(imageKey(c.before));
      if (!same?.length) continue;
      same.shift();
      if (!same.length) t.delete(imageKey(c.before));
    }
    if (c.after && c.kind !== "delete") t.set(imageKey(c.after), [...(t.get(imageKey(c.after)) ?? []), c.after]);
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

/** Whether a transaction is still to merge: the master's history lacks it (diverged) and no recorded range covers it. */
function mergeFilter(masterHistory: string, merged: GtidRange[]): { diverged: (tx: DecodedTransaction) => boolean; unmerged: (tx: DecodedTransaction) => boolean } {
  const master = parseMariaGtids(masterHistory);
  return {
    diverged: ({ gtid: g }) => (master.get(`${g.domain}-${g.server}`)?.seq ?? -1n) < g.seq,
    unmerged: ({ gtid: g }) => !merged.some((r) => r.domain === g.domain && r.server === g.server && r.from <= g.seq && g.seq <= r.to),
  };
}

/**
 * The transactions still to merge: those the master's history lacks (diverged) and that no
 * recorded range covers (not merged before).
 */
export function toMerge(txs: DecodedTransaction[], masterHistory: string, merged: GtidRange[]): DecodedTransaction[] {
  const f = mergeFilter(masterHistory, merged);
  return txs.filter((tx) => f.diverged(tx) && f.unmerged(tx));
}

/** How the tail is read: its rows events as BINLOG statements (decoded here), or as mariadb-binlog -v prints them. */
export type ReadMode = "events" | "verbose";

/**
 * What runs on the node's host: its binlog from `start` through mariadb-binlog, and only the
 * lines the merge reads sent back: transaction GTIDs, statements naming a merged table, and
 * either the BINLOG statements of the merged tables' row events (and of each file's format
 * description), or (verbose) their rows as `-v` prints them. The filter runs in the C locale and
 * prefers mawk (measured: half gawk's time here).
 */
export function mergeScript(start: string, binlogDir: string, files: string[], mode: ReadMode = "events"): string {
  const tables = MERGED_TABLES.join("|");
  const gtid = "/^#[0-9][0-9][0-9][0-9][0-9][0-9] .*GTID [0-9]/";
  const statement = `/^[^#]/ && tolower($0) ~ /(^|[^a-z_])(${tables})([^a-z_]|$)/ { print }`;
  // A transaction without its COMMIT (cut short by a crash; the restarted server rolled it back
  // and began a new file) is marked, so that the parser drops it.
  const { fileStart, txOpens, txEnds } = BINLOG_LINES;
  const ends = [`${txOpens} { open = 1; next }`, `${txEnds} { open = 0; next }`, `END { if (open) print "${CUT_SHORT_MARK}" }`];
  const filter =
    mode === "verbose"
      ? [
          // The values, nine lines in ten, first.
          "/^###   @/ { if (keep) print; next }",
          `/^### (INSERT INTO|UPDATE|DELETE FROM) / { keep = ($NF ~ /\.\`(${tables})\`$/) }`,
          "/^###/ { if (keep) print; next }",
          `${gtid} { keep = 0; print; next }`,
          `${fileStart} { if (open) print "${CUT_SHORT_MARK}"; open = 0; next }`,
          ...ends,
          statement,
        ]
      : [
          "/^BINLOG '$/ { blk = 1; keep = fde || want; fde = want = 0; if (keep) print; next }",
          "blk { if (keep) print; if (substr($0, 1, 1) == \"'\") blk = 0; next }",
          `${fileStart} { if (open) print "${CUT_SHORT_MARK}"; open = 0; fde = 1; next }`,
          `/^#[0-9][0-9][0-9][0-9][0-9][0-9] .*[ \t]Table_map: \`[^\`]*\`\.\`(${tables})\` mapped to number / { want = 1; next }`,
          `${gtid} { print; next }`,
          ...ends,
          statement,
        ];
  const options = mode === "verbose" ? "-v --base64-output=decode-rows " : "";
  const script = [
    "set -euo pipefail",
    "bin=$(command -v mariadb-binlog || command -v mysqlbinlog)",
    "awk=$(command -v mawk || command -v awk)",
    `cd ${shq(binlogDir)}`,
    `"$bin" ${options}--start-position=${shq(start)} ${files.map(shq).join(" ")} | LC_ALL=C "$awk" ${shq(filter.join("\n"))}`,
  ].join("\n");
  return `if [ "$(id -u)" = 0 ]; then bash -c ${shq(script)}; else sudo -n bash -c ${shq(script)}; fi`;
}

// ---------------------------------------------------------------------------------------------
// Reading the node

/** A promise's rejection marked handled (it is still seen by whoever awaits it). */
const mute = (p: Promise<unknown>) => void p.catch(() => undefined);

/**
 * Runs `remote` on `host` over SSH, handing each line of its output to `onLine` as it arrives
 * (split here: readline costs more than the parser). `signal` ends it.
 */
function sshLines(ssh: SshSettings, host: string, remote: string, timeoutMs: number, onLine: (l: string) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("ssh", sshArgs(ssh, host, remote), { stdio: ["ignore", "pipe", "pipe"], signal });
    let err = "";
    let failed: Error | undefined;
    let rest = "";
    const t = setTimeout(() => {
      failed = new Error(`reading the binary log on ${host}: no end after ${timeoutMs} ms`);
      p.kill("SIGKILL");
    }, timeoutMs);
    const lines = (text: string, last: boolean) => {
      if (failed) return;
      let i = 0;
      try {
        for (let j = text.indexOf("\n"); j >= 0; j = text.indexOf("\n", i)) {
          onLine(text.slice(i, j));
          i = j + 1;
        }
        rest = text.slice(i);
        if (last && rest) onLine(rest);
      } catch (e) {
        failed = e as Error;
        p.kill("SIGKILL");
      }
    };
    p.stderr.on("data", (d) => (err = (err + d).slice(-2000)));
    p.stdout.setEncoding("utf8");
    p.stdout.on("data", (d: string) => lines(rest + d, false));
    p.on("error", (e) => (failed ??= e));
    p.on("close", (code) => {
      clearTimeout(t);
      if (!failed && code === 0) lines(rest, true);
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

/** A row of information_schema.COLUMNS as columnsOf reads it. */
export interface SchemaColumn {
  t: string;
  c: string;
  ty: string;
  dt: string;
  cs: string | null;
}

/** The columns of each table, in order. */
export function columnsFrom(rows: SchemaColumn[]): Map<string, Column[]> {
  const out = new Map<string, Column[]>();
  const numeric = /^(tinyint|smallint|mediumint|int|bigint|decimal|float|double)$/i;
  for (const r of rows) out.set(r.t, [...(out.get(r.t) ?? []), { name: r.c, unsigned: /unsigned/i.test(r.ty), numeric: numeric.test(r.dt), charset: r.cs }]);
  return out;
}

async function columnsOf(c: NodeConnection): Promise<Map<string, Column[]>> {
  const rows = await c.admin<SchemaColumn>(
    "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS ty, DATA_TYPE AS dt, CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS " +
      "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?) ORDER BY TABLE_NAME, ORDINAL_POSITION",
    [MERGED_TABLES],
  );
  return columnsFrom(rows);
}

/** The node's database and binlog files, checked to reach back to `start`. */
async function binlogSource(c: NodeConnection, start: string): Promise<{ db: string; dir: string; files: string[] }> {
  const [base] = await c.admin<{ v: string; db: string }>("SELECT @@global.log_bin_basename AS v, DATABASE() AS db");
  const files = (await c.admin<{ Log_name: string }>("SHOW BINARY LOGS")).map((l) => l.Log_name);
  if (!files.length) throw new Error("no binary logs");
  await checkBinlogsReach(c, files, start);
  return { db: String(base.db), dir: String(base.v).replace(/\/[^/]*$/, ""), files };
}

/** A merged table as both sides have it; its rows are arrays of the inserted columns' values. */
interface TableShape {
  table: string;
  /** The node's columns, in the order of its binlog images. */
  cols: Column[];
  /** The columns inserted: those the master has too (not tevento's id_evento: a new id there). */
  columns: string[];
  /** Where each inserted column is in the node's images. */
  at: number[];
  /** Compared with the master's rows (indices into columns): a row it already has is not inserted again. */
  key: number[];
  /** An indexed column of the key (index into columns): the master's rows with the batch's values of it are compared. */
  lookup: number;
  /** Per inserted column: numeric on the master. */
  numeric: boolean[];
}

/** The merged tables both the node and the master have. */
function shapesOf(nodeCols: Map<string, Column[]>, masterCols: Map<string, Column[]>): Map<string, TableShape> {
  const out = new Map<string, TableShape>();
  for (const [table, cols] of nodeCols) {
    const there = new Map((masterCols.get(table) ?? []).map((c) => [c.name, c]));
    if (!there.size) continue;
    const columns = cols.map((c) => c.name).filter((n) => there.has(n) && !(table === "tevento" && n === "id_evento"));
    const keyNames = table === "tevento" ? EVENT_KEY.filter((k) => columns.includes(k)) : columns;
    const key = keyNames.map((k) => columns.indexOf(k));
    const at = columns.map((n) => cols.findIndex((c) => c.name === n));
    const numeric = columns.map((n) => !!there.get(n)?.numeric);
    // All three tables have an index on utimestamp.
    out.set(table, { table, cols, columns, at, key, lookup: columns.indexOf(keyNames.includes("utimestamp") ? "utimestamp" : keyNames[0]), numeric });
  }
  return out;
}

/**
 * The images of a table as rows (the inserted columns' values). A value mariadb-binlog printed
 * ambiguously is taken from the node's row that has the other values and prints the same.
 */
async function imagesToRows(c: NodeConnection, s: TableShape, images: unknown[][]): Promise<unknown[][]> {
  const { table, cols, at } = s;
  const out: unknown[][] = [];
  for (const img of images) {
    if (img.length !== cols.length) throw new Error(`${table}: a row of ${img.length} columns, the table has ${cols.length} (changed since the split?)`);
    const row: unknown[] = [];
    let unsure = false;
    for (const i of at) {
      const v = binlogValue(String(img[i]), cols[i]);
      row.push(v.value);
      unsure ||= v.ambiguous;
    }
    out.push(unsure ? await resolved(c, s, img as string[]) : row);
  }
  return out;
}

/** A row holding ambiguously printed text, as the node has it: its row with the other values that prints the same. */
async function resolved(c: NodeConnection, s: TableShape, img: string[]): Promise<unknown[]> {
  const { table, cols, at } = s;
  const values = img.map((p, i) => binlogValue(p, cols[i]));
  const unsure = cols.flatMap((_, i) => (values[i].ambiguous ? [i] : []));
  const sure = cols.flatMap((_, i) => (values[i].ambiguous ? [] : [i]));
  const cands = await c.admin<Row>(
    `SELECT ${unsure.map((i) => `\`${cols[i].name}\``).join(", ")} FROM \`${table}\` WHERE ${sure.map((i) => `\`${cols[i].name}\` <=> ?`).join(" AND ") || "1"}`,
    sure.map((i) => values[i].value),
  );
  const hit = cands.find((r) => unsure.every((i) => r[cols[i].name] !== null && binlogText(String(r[cols[i].name])) === img[i]));
  if (!hit) throw new Error(`${table}: a row of the diverged tail is no longer on the node and its text cannot be decoded exactly (${img.join(", ").slice(0, 200)})`);
  return at.map((i) => (values[i].ambiguous ? hit[cols[i].name] : values[i].value));
}

/** Events by id as they are on the node now (an event deleted there since: none). */
async function eventsOnNode(c: NodeConnection, s: TableShape, ids: string[]): Promise<unknown[][]> {
  const rows = await c.admin<Row>("SELECT * FROM tevento WHERE id_evento IN (?) ORDER BY id_evento", [ids]);
  return rows.map((r) => s.columns.map((n) => r[n]));
}

/** How a reader's row images become the inserted columns' values. */
interface ImageValues {
  rows(c: NodeConnection, s: TableShape, images: unknown[][]): Promise<unknown[][]>;
  /** Column `at` of an image as a string (tevento's id), null when NULL or absent. */
  id(img: unknown[] | undefined, at: number, col: Column): string | null;
}

/** mariadb-binlog -v's printed values (ambiguous text resolved against the node). */
const PRINTED: ImageValues = {
  rows: imagesToRows,
  id: (img, at, col) => (img ? binlogValue(String(img[at]), col).value : null),
};

/** Values decoded from the events: as they are (a column the event did not log cannot be inserted). */
const DECODED: ImageValues = {
  rows: async (_c, s, images) => {
    const whole = s.at.length === s.cols.length && s.at.every((c, i) => c === i);
    return images.map((img) => {
      for (const i of s.at) if (img[i] === undefined) throw new BinlogUnsupported(`${s.table}: a row image without its ${s.cols[i].name} (binlog_row_image is not FULL)`);
      return whole ? img : s.at.map((i) => img[i]);
    });
  },
  id: (img, at) => (img?.[at] === undefined || img[at] === null ? null : String(img[at])),
};

// ---------------------------------------------------------------------------------------------
// Writing the master

/** A key value as compared: numbers by value (the binlog's "2.50" is the master's 2.5), text as it is. */
const norm = (v: unknown, numeric: boolean) => (v === null || v === undefined ? null : numeric ? String(Number(v)) : String(v));

/** The lowest and highest of integer values (undefined when one is not a safe integer). */
function integerSpan(values: unknown[]): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    const n = typeof v === "number" ? v : Number(v);
    if (!Number.isSafeInteger(n)) return undefined;
    if (n < lo) lo = n;
    if (n > hi) hi = n;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/**
 * The rows of a batch that the master does not hold yet, compared in full with its rows that
 * have the batch's values of the lookup column: those in the batch's span of it (one range on
 * its index: mostly none), or, when the span holds many more rows than the batch, those with
 * the batch's values (one IN list).
 */
async function notOnMaster(q: (sql: string, values?: unknown[]) => Promise<Row[]>, s: TableShape, rows: unknown[][]): Promise<unknown[][]> {
  const values = rows.map((r) => r[s.lookup]).filter((v) => v !== null && v !== undefined);
  if (!values.length) return rows;
  const names = s.key.map((k) => s.columns[k]);
  const select = `SELECT ${names.map((n) => `\`${n}\``).join(", ")} FROM \`${s.table}\` WHERE \`${s.columns[s.lookup]}\``;
  const span = integerSpan(values);
  const cap = 4 * rows.length + 1000;
  let there = span ? await q(`${select} BETWEEN ${span[0]} AND ${span[1]} LIMIT ${cap + 1}`) : undefined;
  if (!there || there.length > cap) there = await q(`${select} IN (?)`, [[...new Set(values)]]);
  if (!there.length) return rows;
  const keyOf = (values: unknown[]) => JSON.stringify(values.map((v, i) => norm(v, s.numeric[s.key[i]])));
  const have = new Map<string, number>();
  for (const r of there) {
    const k = keyOf(names.map((n) => r[n]));
    have.set(k, (have.get(k) ?? 0) + 1);
  }
  return rows.filter((r) => {
    const k = keyOf(s.key.map((i) => r[i]));
    const n = have.get(k) ?? 0;
    if (n) have.set(k, n - 1);
    return !n;
  });
}

/** Rows in INSERT statements of at most INSERT_BYTES (about: the values' printed length). */
function* insertChunks(rows: unknown[][]): Generator<unknown[][]> {
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    for (const v of rows[i]) bytes += typeof v === "string" ? v.length + 3 : 8;
    if (bytes >= INSERT_BYTES || i === rows.length - 1) {
      yield rows.slice(from, i + 1);
      from = i + 1;
      bytes = 0;
    }
  }
}

/** A statement of the merge's transaction: SQL, and what a LOAD DATA LOCAL INFILE reads. */
interface Statement {
  sql: string;
  values?: unknown[];
  infile?: Buffer;
}

/** A value as LOAD DATA reads it (FIELDS ESCAPED BY '\\'): NULL as \N; backslash, tab, newline and NUL escaped. */
function field(v: unknown): string {
  if (v === null || v === undefined) return "\\N";
  if (typeof v === "number") return String(v);
  const s = String(v);
  return /[\\\t\n\0]/.test(s) ? s.replace(/[\\\t\n\0]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\0")) : s;
}

/**
 * A batch's rows as statements: one LOAD DATA LOCAL INFILE of tab-separated UTF-8 in its default
 * format (fields ended by tabs, lines by newlines, escapes by backslashes), which the master
 * parses no SQL for (measured: a sixth less of its time than INSERTs of the same rows); or, when
 * the master does not take local files or a value is binary, INSERTs of at most INSERT_BYTES.
 */
function statementsFor(s: TableShape, rows: unknown[][], load: boolean): Statement[] {
  if (!rows.length) return [];
  const columns = s.columns.map((x) => `\`${x}\``).join(", ");
  if (load && !rows.some((r) => r.some((v) => Buffer.isBuffer(v)))) {
    let text = "";
    for (const r of rows) {
      text += field(r[0]);
      for (let i = 1; i < r.length; i++) text += `\t${field(r[i])}`;
      text += "\n";
    }
    const sql = `LOAD DATA LOCAL INFILE 'pandora_ha_merge' INTO TABLE \`${s.table}\` CHARACTER SET utf8mb4 (${columns})`;
    return [{ sql, infile: Buffer.from(text) }];
  }
  const head = `INSERT INTO \`${s.table}\` (${columns}) VALUES ?`;
  return [...insertChunks(rows)].map((chunk) => ({ sql: format(head, [chunk] as Parameters<typeof format>[1]) }));
}

/**
 * One merge's writes into the master: one transaction on a connection of its own, a batch at a
 * time. A batch is made into rows (events read back from the node) and compared with the
 * master's committed rows on the master's own connection while the batch before it is inserted.
 * Each statement runs on the session that began the transaction, or fails: a reconnect in
 * between would commit its rows one by one.
 */
class MasterWriter {
  readonly inserted: Record<string, number> = {};
  /** Rows offered (what the tail left; events as read back from the node). */
  taken = 0;
  private readonly c: NodeConnection;
  private session?: number;
  private aborted = false;
  private prepared: Promise<unknown> = Promise.resolve();
  private written: Promise<unknown>;

  constructor(
    private readonly node: NodeConnection,
    private readonly master: NodeConnection,
    private readonly shapes: Map<string, TableShape>,
    private readonly values: ImageValues,
    private readonly load: boolean,
  ) {
    this.c = new NodeConnection(master.opts);
    this.written = this.c.admin("START TRANSACTION").then(() => (this.session = this.c.threadId));
    mute(this.written);
  }

  /** A statement of the transaction (a LOAD DATA one fails on any warning: a value it changed). */
  private async q(st: Statement): Promise<void> {
    if (this.aborted || !this.c.connected || this.c.threadId !== this.session) throw new Error("the merge's transaction on the master was lost");
    const infile = st.infile;
    const [r] = await this.c.query<{ warningStatus?: number }>(st.sql, st.values ?? [], 300_000, infile && (() => Readable.from([infile])));
    if (infile && r?.warningStatus) throw new Error(`${st.sql.slice(0, 80)}: ${r.warningStatus} warnings (a value did not fit: changed since the split?)`);
  }

  /** Queues a batch of `table`'s row images. */
  add(table: string, images: unknown[][]): void {
    const s = this.shapes.get(table);
    if (s && images.length) this.queue(s, () => this.values.rows(this.node, s, images));
  }

  /** Queues a batch of events, by id. */
  addEvents(ids: string[]): void {
    const s = this.shapes.get("tevento");
    if (s && ids.length) this.queue(s, () => eventsOnNode(this.node, s, ids));
  }

  /** Prepares a batch (its rows, those the master lacks, its statements) while the one before is inserted. */
  private queue(s: TableShape, make: () => Promise<unknown[][]>): void {
    const statements = this.prepared.then(async () => {
      const all = await make();
      this.taken += all.length;
      const rows = await notOnMaster((sql, v) => this.master.admin<Row>(sql, v, 300_000), s, all);
      this.inserted[s.table] = (this.inserted[s.table] ?? 0) + rows.length;
      return statementsFor(s, rows, this.load);
    });
    this.prepared = statements;
    this.written = Promise.all([this.written, statements]).then(async ([, list]) => {
      for (const st of list) await this.q(st);
    });
    mute(statements);
    mute(this.written);
  }

  /** Once every batch is in: the merged ranges recorded, COMMIT. `onPrepared` when the last batch was compared. */
  async commit(ranges: GtidRange[], node: string, onPrepared: () => void): Promise<Record<string, number>> {
    try {
      await this.prepared;
      onPrepared();
      await this.written;
      const total = Object.values(this.inserted).reduce((a, b) => a + b, 0);
      for (const g of ranges) {
        const values = [String(g.domain), String(g.server), String(g.from), String(g.to), node, total];
        await this.q({ sql: `INSERT INTO ${MERGE_LOG_TABLE} VALUES (?, ?, ?, ?, ?, NOW(3), ?)`, values });
      }
      await this.q({ sql: "COMMIT" });
      return this.inserted;
    } finally {
      this.abort();
    }
  }

  /** Closes the connection: the server rolls back whatever was not committed. */
  abort(): void {
    this.aborted = true;
    this.c.close();
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

/** What the taker needs from the master and both schemas before it takes the first transaction. */
interface TakerSetup {
  filter: ReturnType<typeof mergeFilter>;
  shapes: Map<string, TableShape>;
  /** The master takes LOAD DATA LOCAL INFILE (local_infile). */
  load: boolean;
}

/**
 * Takes the node's transactions as they are read. Those still to merge go to the writer in
 * batches: data rows as their images, events as their ids (read back from the node at the end
 * state, so an event the tail updated or deleted is taken as it is now, or not at all). An
 * update or delete that meets a data row the tail inserted itself switches to `net`: the
 * streamed transaction is abandoned, and finish() writes the tail's net rows (netInserts).
 */
class TailTaker {
  diverged = 0;
  alreadyMerged = 0;
  readonly merged: DecodedTransaction[] = [];
  net = false;
  private setup?: TakerSetup;
  private waiting: DecodedTransaction[] = [];
  private writer?: MasterWriter;
  private readonly batches = new Map<string, unknown[][]>();
  private readonly limits = new Map<string, number>();
  /** Per data table: every image the tail inserted, and (once an update or delete needs it) their keys. */
  private readonly inserts = new Map<string, unknown[][]>();
  private readonly keys = new Map<string, Set<string>>();
  private readonly events = { all: new Set<string>(), pending: new Set<string>() };
  private eventId?: (img: unknown[] | undefined) => string | null;

  constructor(
    private readonly node: NodeConnection,
    private readonly master: NodeConnection,
    private readonly values: ImageValues,
  ) {}

  start(setup: TakerSetup): void {
    const ev = setup.shapes.get("tevento");
    if (ev) {
      const at = ev.cols.findIndex((col) => col.name === "id_evento");
      if (at < 0) throw new Error("tevento has no id_evento");
      this.eventId = (img) => this.values.id(img, at, ev.cols[at]);
    }
    this.setup = setup;
    // Its connection and transaction opened while the node's binlog is on its way.
    this.write();
    for (const tx of this.waiting.splice(0)) this.take(tx);
  }

  take(tx: DecodedTransaction): void {
    const setup = this.setup;
    if (!setup) return void this.waiting.push(tx);
    if (!setup.filter.diverged(tx)) return;
    this.diverged++;
    if (!setup.filter.unmerged(tx)) return void this.alreadyMerged++;
    if (tx.statements.length) throw new Error(`the diverged transactions hold statements on merged tables (${tx.statements[0].slice(0, 200)}): merge by hand`);
    if (tx.unsupported) throw new BinlogUnsupported(`${tx.gtid.domain}-${tx.gtid.server}-${tx.gtid.seq}: ${tx.unsupported}`);
    if (tx.encoded) {
      tx.changes = tx.encoded.flatMap((e) => (setup.shapes.has(e.map.table) ? decodeRows(e, setup.shapes.get(e.map.table)!.cols) : []));
      tx.encoded = undefined;
    }
    this.merged.push(tx);
    for (const c of tx.changes) {
      if (c.table === "tevento") this.event(c);
      else if (!this.net && setup.shapes.has(c.table)) this.data(c);
    }
    this.flush(false);
  }

  private data(c: RowChange): void {
    if (c.kind === "insert") {
      if (!c.after) return;
      const all = this.inserts.get(c.table) ?? this.inserts.set(c.table, []).get(c.table)!;
      all.push(c.after);
      this.keys.get(c.table)?.add(imageKey(c.after));
      const batch = this.batches.get(c.table) ?? this.batches.set(c.table, []).get(c.table)!;
      batch.push(c.after);
      return;
    }
    if (!c.before) return;
    let keys = this.keys.get(c.table);
    if (!keys) this.keys.set(c.table, (keys = new Set((this.inserts.get(c.table) ?? []).map(imageKey))));
    if (keys.has(imageKey(c.before))) {
      this.net = true;
      this.writer?.abort();
    }
  }

  /** Events by id: inserted ones taken; an update that changes the id of one renames it. */
  private event(c: RowChange): void {
    if (!this.eventId) return;
    const after = this.eventId(c.after);
    if (c.kind === "insert" && after !== null) {
      this.events.all.add(after);
      this.events.pending.add(after);
    }
    const before = this.eventId(c.before);
    if (c.kind === "update" && before !== null && after !== null && before !== after && this.events.all.delete(before)) {
      this.events.pending.delete(before);
      this.events.all.add(after);
      this.events.pending.add(after);
    }
  }

  private write(): MasterWriter {
    this.writer ??= new MasterWriter(this.node, this.master, this.setup!.shapes, this.values, this.setup!.load);
    return this.writer;
  }

  /** Full batches to the writer (all of them when `all`); a table's batches grow from FIRST_BATCH to BATCH. */
  private flush(all: boolean): void {
    if (this.net) return;
    for (const [table, batch] of this.batches) {
      const limit = this.limits.get(table) ?? FIRST_BATCH;
      if (batch.length < limit && !(all && batch.length)) continue;
      this.write().add(table, batch.splice(0));
      this.limits.set(table, Math.min(BATCH, limit * 2));
    }
    const limit = this.limits.get("tevento") ?? FIRST_BATCH;
    if (this.events.pending.size >= limit || (all && this.events.pending.size)) {
      this.write().addEvents([...this.events.pending]);
      this.events.pending.clear();
      this.limits.set("tevento", Math.min(BATCH, limit * 2));
    }
  }

  /** Everything read: the writer with every batch queued (undefined when nothing is to merge). */
  finish(): MasterWriter | undefined {
    if (!this.merged.length) {
      this.abort();
      return undefined;
    }
    if (!this.net) {
      this.flush(true);
      return this.write();
    }
    this.writer = undefined;
    const w = this.write();
    for (const [table, images] of netInserts(this.merged)) {
      if (table === "tevento" || !this.setup!.shapes.has(table)) continue;
      for (let i = 0; i < images.length; i += BATCH) w.add(table, images.slice(i, i + BATCH));
    }
    const ids = [...this.events.all];
    for (let i = 0; i < ids.length; i += BATCH) w.addEvents(ids.slice(i, i + BATCH));
    return w;
  }

  abort(): void {
    this.writer?.abort();
  }
}

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
  /**
   * Where the time went (ms): reading the node's binlog (batches are inserted meanwhile), then
   * preparing the last batches, then writing the rest and committing.
   */
  ms: { read: number; prepare: number; write: number };
  /** Why the tail was read through `mariadb-binlog -v` (what the event decoder does not read); absent when it was not. */
  verbose?: string;
}

/**
 * Reads the node's diverged transactions into `taker` (streamed into the master meanwhile),
 * while the master's merged ranges and both schemas are read.
 */
async function readInto(ssh: SshSettings, node: MergeSide, master: MergeSide, start: string, taker: TailTaker, mode: ReadMode): Promise<void> {
  const source = await binlogSource(node.conn, start);
  const onTx = (tx: DecodedTransaction) => taker.take(tx);
  const parser = mode === "events" ? new BinlogRowsParser(source.db, onTx) : new DecodedRowsParser(source.db, onTx);
  const stop = new AbortController();
  const script = mergeScript(start, source.dir, source.files, mode);
  const reading = sshLines(ssh, node.host, script, 600_000, (l) => parser.push(l), stop.signal);
  mute(reading);
  try {
    // One after the other on each connection: a failed statement closes it (mergedRanges expects one).
    const ofMaster = async () => [await mergedRanges(master.conn), await columnsOf(master.conn), await master.conn.admin<{ v: unknown }>("SELECT @@global.local_infile AS v")] as const;
    const [[merged, masterCols, [local]], nodeCols] = await Promise.all([ofMaster(), columnsOf(node.conn)]);
    const load = Number(local?.v) === 1;
    taker.start({ filter: mergeFilter(master.history, merged), shapes: shapesOf(nodeCols, masterCols), load });
    await reading;
    parser.end();
  } catch (e) {
    stop.abort();
    taker.abort();
    throw e;
  }
}

/** One way of reading the tail, from the node's binlog to COMMIT on the master. */
async function mergeBy(ssh: SshSettings, node: MergeSide, master: MergeSide, start: string, mode: ReadMode): Promise<MergeReport> {
  let t = Date.now();
  const lap = () => -t + (t = Date.now());
  const taker = new TailTaker(node.conn, master.conn, mode === "events" ? DECODED : PRINTED);
  await readInto(ssh, node, master, start, taker, mode);
  const ms = { read: lap(), prepare: 0, write: 0 };
  const report: MergeReport = { diverged: taker.diverged, alreadyMerged: taker.alreadyMerged, inserted: {}, alreadyThere: 0, summary: "", ms };
  const writer = taker.finish();
  if (!writer) return report;
  report.inserted = await writer.commit(gtidRanges(taker.merged), node.host, () => (ms.prepare = lap()));
  ms.write = lap();
  const total = Object.values(report.inserted).reduce((a, b) => a + b, 0);
  report.alreadyThere = writer.taken - total;
  const what = Object.entries(report.inserted).filter(([, n]) => n).map(([t, n]) => `${n} ${t} rows`);
  if (what.length) report.summary = `; ${what.join(", ")} written there during the split copied to ${master.host}`;
  return report;
}

/**
 * Inserts into `master` the monitoring rows (MERGED_TABLES) that `node`'s diverged transactions
 * inserted, whatever their timestamps; never an event the master deleted; idempotent. Throws
 * (committing nothing) when the node is not MariaDB, its binlogs no longer reach the split, or
 * the tail changed a merged table's definition or wrote it by statement.
 */
export async function mergeDivergedWrites(ssh: SshSettings, node: MergeSide, master: MergeSide): Promise<MergeReport> {
  const [v] = await node.conn.admin<{ v: string }>("SELECT VERSION() AS v");
  if (!/mariadb/i.test(String(v?.v))) throw new Error(`${node.host} runs ${v?.v}: the split-brain merge reads MariaDB binary logs only`);
  const start = commonPosition(node.history, master.history);
  if (!start) throw new Error(`no common point between ${node.host} (${node.history}) and ${master.host} (${master.history})`);
  try {
    return await mergeBy(ssh, node, master, start, "events");
  } catch (e) {
    if (!(e instanceof BinlogUnsupported)) throw e;
    return { ...(await mergeBy(ssh, node, master, start, "verbose")), verbose: e.message };
  }
}
