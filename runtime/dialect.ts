/**
 * The SQL each database flavor speaks (runtime/types.ts `Dialect`): MariaDB 10.6+, MySQL/Percona
 * 8.0 (8.0.23+), and MySQL/Percona 8.4 and 9.x (one dialect: 9.x speaks 8.4's replication SQL,
 * measured on a real MySQL 9.7.4, ../shared/reference/mysql-lab-notes.md).
 *
 * - `dialectFor(SELECT VERSION())` picks the flavor and refuses anything untested.
 * - Status parsers read both field namings (MariaDB's Slave_/Master_, MySQL's Replica_/Source_)
 *   whatever the flavor, and both semi-sync namings (rpl_semi_sync_master/slave_*,
 *   rpl_semi_sync_source/replica_*).
 * - GTID arithmetic: MariaDB "domain-server-seq" histories (gtid_binlog_state) compared per
 *   (domain, server), positions (gtid_current_pos, Gtid_IO_Pos) per domain; MySQL
 *   "uuid[:tag]:a-b:c" sets with exact interval arithmetic (a position is a history there).
 *
 * Server outputs these parsers were checked against: test/fixtures/sql/ (MariaDB recorded live by
 * test/fixtures/sql/record-mariadb.ts; MySQL 8.0 transcribed from the reference manual); the
 * MySQL 9.7 lab runs the failover scenarios against the real server (the tests' `mysql` project).
 */
import type { ChangeSourceArgs, Dialect, HistoryComparison, ReplicaStatus, SemiSyncDetail, SemiSyncStatus } from "./types";

// ---------------------------------------------------------------------------------------------
// Quoting

/**
 * A single-quoted SQL string literal, for the statements that take no placeholders
 * (CHANGE MASTER TO / CHANGE REPLICATION SOURCE TO). Backslash and quote are escaped, and so are
 * NUL, CR, LF and Ctrl-Z, so the literal is one line. Assumes the session does not run with
 * sql_mode NO_BACKSLASH_ESCAPES (pandora-ha's my.cnf sets sql_mode="").
 */
export function quote(s: string): string {
  let out = "'";
  for (const ch of s) {
    switch (ch) {
      case "\\":
        out += "\\\\";
        break;
      case "'":
        out += "\\'";
        break;
      case "\0":
        out += "\\0";
        break;
      case "\n":
        out += "\\n";
        break;
      case "\r":
        out += "\\r";
        break;
      case "\x1a":
        out += "\\Z";
        break;
      default:
        out += ch;
    }
  }
  return out + "'";
}

// ---------------------------------------------------------------------------------------------
// Reading rows

/** Row values as text: NULL/undefined → "", Buffers decoded as UTF-8. */
function text(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Buffer.isBuffer(v)) return v.toString("utf8");
  return String(v);
}

/** The row with lower-cased column names (column case differs between servers and versions). */
function lowerKeys(row: Record<string, unknown>): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const [k, v] of Object.entries(row)) m.set(k.toLowerCase(), v);
  return m;
}

/** The value of the first of `names` the row has (names in lower case). */
function pick(row: Map<string, unknown>, ...names: string[]): unknown {
  for (const n of names) if (row.has(n)) return row.get(n);
  return undefined;
}

function intOrNull(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const s = text(v).trim();
  if (s === "" || s.toUpperCase() === "NULL") return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

function isOn(v: unknown): boolean {
  const s = text(v).trim().toUpperCase();
  return s === "ON" || s === "1" || s === "YES" || s === "TRUE";
}

/** GTID positions and sets without the whitespace servers put in them (MySQL: ",\n"). */
function compact(v: unknown): string {
  return text(v).replace(/\s+/g, "");
}

/**
 * SHOW SLAVE STATUS / SHOW REPLICA STATUS, either naming. Undefined when there is no row (never
 * configured, or after RESET SLAVE ALL) or the row names no source host.
 */
export function parseReplicaStatus(rows: Array<Record<string, unknown>>): ReplicaStatus | undefined {
  if (!rows || rows.length === 0) return undefined;
  const r = lowerKeys(rows[0]);
  const sourceHost = text(pick(r, "source_host", "master_host"));
  if (sourceHost === "") return undefined;
  const ioText = text(pick(r, "replica_io_running", "slave_io_running")).trim().toLowerCase();
  const io: ReplicaStatus["io"] = ioText === "yes" ? "yes" : ioText === "connecting" ? "connecting" : "no";
  let usingGtid: boolean;
  if (r.has("using_gtid")) {
    const u = text(r.get("using_gtid")).trim().toLowerCase();
    usingGtid = u !== "" && u !== "no";
  } else {
    usingGtid = intOrNull(r.get("auto_position")) === 1;
  }
  return {
    sourceHost,
    sourcePort: intOrNull(pick(r, "source_port", "master_port")) ?? 0,
    io,
    sqlRunning: text(pick(r, "replica_sql_running", "slave_sql_running")).trim().toLowerCase() === "yes",
    lastIoError: text(r.get("last_io_error")),
    lastSqlError: text(r.get("last_sql_error")),
    secondsBehind: intOrNull(pick(r, "seconds_behind_source", "seconds_behind_master")),
    receivedGtid: compact(pick(r, "gtid_io_pos", "retrieved_gtid_set")),
    usingGtid,
  };
}

/**
 * Rows (Variable_name, Value) of SHOW GLOBAL VARIABLES/STATUS LIKE 'rpl_semi_sync%', both
 * namings (source/replica preferred when a server shows both). Missing variables (plugin not
 * loaded) read as off / 0.
 */
export function parseSemiSync(rows: Array<Record<string, unknown>>): SemiSyncStatus {
  const m = variableMap(rows);
  const get = (...names: string[]) => {
    for (const n of names) if (m.has(n)) return m.get(n);
    return undefined;
  };
  return {
    sourceEnabled: isOn(get("rpl_semi_sync_source_enabled", "rpl_semi_sync_master_enabled")),
    sourceActive: isOn(get("rpl_semi_sync_source_status", "rpl_semi_sync_master_status")),
    clients: intOrNull(get("rpl_semi_sync_source_clients", "rpl_semi_sync_master_clients")) ?? 0,
    replicaEnabled: isOn(get("rpl_semi_sync_replica_enabled", "rpl_semi_sync_slave_enabled")),
  };
}

/** Rows (Variable_name, Value) as a map of lower-case names to trimmed values. */
function variableMap(rows: Array<Record<string, unknown>>): Map<string, string> {
  const m = new Map<string, string>();
  for (const row of rows ?? []) {
    const r = lowerKeys(row);
    const name = text(r.get("variable_name")).trim().toLowerCase();
    if (name) m.set(name, text(r.get("value")).trim());
  }
  return m;
}

/** The same rows as parseSemiSync, read for what keeping a master durable needs. */
export function parseSemiSyncDetail(rows: Array<Record<string, unknown>>): SemiSyncDetail {
  const m = variableMap(rows);
  const naming = m.has("rpl_semi_sync_source_enabled") ? "source" : m.has("rpl_semi_sync_master_enabled") ? "master" : undefined;
  const get = (suffix: string) => (naming ? m.get(`rpl_semi_sync_${naming}_${suffix}`) : undefined);
  return {
    naming,
    waitNoReplica: isOn(get(naming === "source" ? "wait_no_replica" : "wait_no_slave")),
    timeoutMs: intOrNull(get("timeout")),
    waitSessions: intOrNull(get("wait_sessions")) ?? 0,
    yesTx: intOrNull(get("yes_tx")) ?? 0,
    noTx: intOrNull(get("no_tx")) ?? 0,
  };
}

/**
 * A master's commits wait for a replica's acknowledgement for longer than any outage
 * (4294967295 ms, 49 days), even with no replica attached: it can never fall back to
 * asynchronous by itself — a master cut off from the cluster never acknowledges a commit no
 * replica has. Only pandora_ha, seeing the master and no replica acknowledging, switches it to
 * asynchronous (semiSyncStatements(…, "async")), and back.
 */
export const STRICT_TIMEOUT_MS = 4294967295;

/** What makes a node a durable master, an asynchronous one, or a replica that never stalls. */
export function semiSyncStatements(naming: "source" | "master", mode: "strict" | "async" | "replica"): string[] {
  const p = `rpl_semi_sync_${naming}`;
  const noReplica = `${p}_wait_no_${naming === "source" ? "replica" : "slave"}`;
  if (mode === "strict") return [`SET GLOBAL ${p}_timeout = ${STRICT_TIMEOUT_MS}`, `SET GLOBAL ${noReplica} = ON`, `SET GLOBAL ${p}_enabled = ON`];
  // Turning the source side off releases the sessions waiting for an acknowledgement.
  if (mode === "async") return [`SET GLOBAL ${p}_enabled = OFF`];
  // A replica's applier commits without waiting for replicas of its own (it has none).
  return [`SET GLOBAL ${noReplica} = OFF`];
}

// ---------------------------------------------------------------------------------------------
// MariaDB GTID lists: "domain-server-seq,..."

export interface MariaGtid {
  domain: bigint;
  server: bigint;
  seq: bigint;
}

/** Parses a MariaDB GTID list; one entry per (domain, server), the highest seq when repeated. */
export function parseMariaGtids(s: string): Map<string, MariaGtid> {
  const out = new Map<string, MariaGtid>();
  for (const raw of compact(s).split(",")) {
    if (raw === "") continue;
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(raw);
    if (!m) throw new Error(`not a MariaDB GTID list (domain-server-seq,...): ${JSON.stringify(s)}`);
    const g = { domain: BigInt(m[1]), server: BigInt(m[2]), seq: BigInt(m[3]) };
    const key = `${g.domain}-${g.server}`;
    const had = out.get(key);
    if (!had || had.seq < g.seq) out.set(key, g);
  }
  return out;
}

function sortedMaria(m: Map<string, MariaGtid>): MariaGtid[] {
  const cmp = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);
  return [...m.values()].sort((a, b) => cmp(a.domain, b.domain) || cmp(a.server, b.server));
}

const fmtMaria = (g: MariaGtid) => `${g.domain}-${g.server}-${g.seq}`;

/**
 * Is MariaDB history `a` (gtid_binlog_state: last seq per domain AND server) contained in `b`?
 *
 * Rule: every (domain, server, seqA) of `a` needs (domain, server, seqB) in `b` with seqB >= seqA.
 * Each entry failing it is errant, listed as "domain-server-seqA".
 *
 * The count is best effort, relying on gtid_strict_mode (seq numbers strictly increase within a
 * domain, across servers), per domain with errant entries: the highest errant seqA minus the
 * point where the histories part, i.e. the highest seq of an entry `b` shares with `a` (`a` has
 * the same (domain, server) at that seq or later) below the lowest errant seqA (0 if none); at
 * least 1 per domain. E.g. a = "0-1-13,0-2-14", b = "0-1-8": 6 (transactions 9..14).
 */
export function compareMariaHistory(a: string, b: string): HistoryComparison {
  const A = parseMariaGtids(a);
  const B = parseMariaGtids(b);
  const errant = sortedMaria(A).filter((g) => !((B.get(`${g.domain}-${g.server}`)?.seq ?? -1n) >= g.seq));
  let count = 0n;
  for (const domain of new Set(errant.map((g) => g.domain))) {
    const inDomain = errant.filter((g) => g.domain === domain);
    const lowest = inDomain.reduce((m, g) => (g.seq < m ? g.seq : m), inDomain[0].seq);
    const highest = inDomain.reduce((m, g) => (g.seq > m ? g.seq : m), 0n);
    let base = 0n;
    for (const o of B.values()) {
      const shared = (A.get(`${o.domain}-${o.server}`)?.seq ?? -1n) >= o.seq;
      if (o.domain === domain && shared && o.seq < lowest && o.seq > base) base = o.seq;
    }
    // An entry of `a` that `b` contains is shared history too (b went on past it).
    for (const o of A.values()) {
      const inB = (B.get(`${o.domain}-${o.server}`)?.seq ?? -1n) >= o.seq;
      if (o.domain === domain && inB && o.seq < lowest && o.seq > base) base = o.seq;
    }
    count += highest - base > 0n ? highest - base : 1n;
  }
  return { prefix: errant.length === 0, errant: errant.map(fmtMaria).join(","), errantCount: Number(count) };
}

/**
 * A MariaDB position (gtid_current_pos, Gtid_IO_Pos, or a union of them) per domain: the entry
 * with the highest seq. With gtid_strict_mode a position d-s-n means every transaction of domain
 * d up to seq n, whichever server wrote it (a failover changes the server, not the sequence).
 */
function mariaPosition(s: string): Map<bigint, MariaGtid> {
  const out = new Map<bigint, MariaGtid>();
  for (const g of parseMariaGtids(s).values()) {
    const had = out.get(g.domain);
    if (!had || had.seq < g.seq) out.set(g.domain, g);
  }
  return out;
}

/**
 * Has position `b` reached position `a`, domain by domain? Each domain where `b` stops short is
 * listed as `a`'s entry there, counted as the seq numbers between them. Positions cannot show a
 * divergence (two servers' transactions at the same seq): compareMariaHistory on binlog states does.
 */
export function compareMariaPositions(a: string, b: string): HistoryComparison {
  const B = mariaPosition(b);
  const short = [...mariaPosition(a).values()].filter((g) => (B.get(g.domain)?.seq ?? 0n) < g.seq).sort((x, y) => (x.domain < y.domain ? -1 : 1));
  const count = short.reduce((n, g) => n + (g.seq - (B.get(g.domain)?.seq ?? 0n)), 0n);
  return { prefix: short.length === 0, errant: short.map(fmtMaria).join(","), errantCount: Number(count) };
}

/** MariaDB position `a` with `extra` added: per domain the furthest entry, sorted by domain. */
export function unionMariaPositions(a: string, extra: string): string {
  const m = mariaPosition(a);
  for (const g of mariaPosition(extra).values()) if ((m.get(g.domain)?.seq ?? -1n) < g.seq) m.set(g.domain, g);
  return [...m.values()].sort((x, y) => (x.domain < y.domain ? -1 : 1)).map(fmtMaria).join(",");
}

// ---------------------------------------------------------------------------------------------
// MySQL GTID sets: "uuid:1-5:7,uuid2:1-3", 8.4 tags "uuid:tag:1-3"

/** Inclusive [first, last] ranges, sorted and merged. */
type Intervals = Array<[bigint, bigint]>;
/** Key: "uuid" or "uuid:tag" (both lower case). */
type GtidSet = Map<string, Intervals>;

function normalizeIntervals(iv: Intervals): Intervals {
  const s = [...iv].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const out: Intervals = [];
  for (const [lo, hi] of s) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) {
      if (hi > last[1]) last[1] = hi;
    } else {
      out.push([lo, hi]);
    }
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const TAG = /^[a-z_][a-z0-9_]{0,31}$/i;

function normalizeUuid(u: string): string {
  const h = u.replace(/-/g, "").toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Parses a MySQL GTID set (whitespace anywhere ignored, as servers print ",\n" between UUIDs). */
export function parseMysqlGtidSet(s: string): GtidSet {
  const bad = () => new Error(`not a MySQL GTID set (uuid[:tag]:a-b:c,...): ${JSON.stringify(s)}`);
  const set: GtidSet = new Map();
  for (const part of compact(s).split(",")) {
    if (part === "") continue;
    const [uuidText, ...rest] = part.split(":");
    if (!UUID.test(uuidText)) throw bad();
    const uuid = normalizeUuid(uuidText);
    let key = uuid;
    for (const item of rest) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(item);
      if (m) {
        const lo = BigInt(m[1]);
        const hi = m[2] === undefined ? lo : BigInt(m[2]);
        if (lo < 1n || hi < lo) throw bad();
        const iv = set.get(key) ?? [];
        iv.push([lo, hi]);
        set.set(key, iv);
      } else if (TAG.test(item)) {
        key = `${uuid}:${item.toLowerCase()}`;
      } else {
        throw bad();
      }
    }
  }
  for (const [k, iv] of set) set.set(k, normalizeIntervals(iv));
  return set;
}

/** Normalized text: UUIDs sorted, untagged intervals first then tags sorted, "," between UUIDs. */
export function formatMysqlGtidSet(set: GtidSet): string {
  const byUuid = new Map<string, Array<[string, Intervals]>>();
  for (const [key, iv] of set) {
    if (iv.length === 0) continue;
    const i = key.indexOf(":");
    const uuid = i < 0 ? key : key.slice(0, i);
    const tag = i < 0 ? "" : key.slice(i + 1);
    const list = byUuid.get(uuid) ?? [];
    list.push([tag, iv]);
    byUuid.set(uuid, list);
  }
  const fmtIv = ([lo, hi]: [bigint, bigint]) => (lo === hi ? `${lo}` : `${lo}-${hi}`);
  return [...byUuid.keys()]
    .sort()
    .map((uuid) => {
      const parts = [uuid];
      const tags = byUuid.get(uuid)!.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
      for (const [tag, iv] of tags) {
        if (tag) parts.push(tag);
        parts.push(...iv.map(fmtIv));
      }
      return parts.join(":");
    })
    .join(",");
}

function subtractIntervals(a: Intervals, b: Intervals): Intervals {
  const out: Intervals = [];
  for (const [lo0, hi] of a) {
    let lo = lo0;
    for (const [blo, bhi] of b) {
      if (bhi < lo || blo > hi) continue;
      if (blo > lo) out.push([lo, blo - 1n]);
      lo = bhi + 1n;
      if (lo > hi) break;
    }
    if (lo <= hi) out.push([lo, hi]);
  }
  return out;
}

/** Is MySQL GTID set `a` a subset of `b`? errant = a minus b (normalized), errantCount its size. */
export function compareMysqlHistory(a: string, b: string): HistoryComparison {
  const A = parseMysqlGtidSet(a);
  const B = parseMysqlGtidSet(b);
  const diff: GtidSet = new Map();
  let count = 0n;
  for (const [key, iv] of A) {
    const rest = subtractIntervals(iv, B.get(key) ?? []);
    if (rest.length === 0) continue;
    diff.set(key, rest);
    for (const [lo, hi] of rest) count += hi - lo + 1n;
  }
  return { prefix: diff.size === 0, errant: formatMysqlGtidSet(diff), errantCount: Number(count) };
}

/** The union of two MySQL GTID sets, normalized. */
export function unionMysqlHistory(a: string, extra: string): string {
  const A = parseMysqlGtidSet(a);
  for (const [key, iv] of parseMysqlGtidSet(extra)) {
    A.set(key, normalizeIntervals([...(A.get(key) ?? []), ...iv]));
  }
  return formatMysqlGtidSet(A);
}

// ---------------------------------------------------------------------------------------------
// Dialects

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid source port: ${port}`);
  return port;
}

/** Both namings match 'rpl_semi_sync%' (LIKE is case-insensitive here). */
const SEMI_SYNC_SQL: string[] = Object.freeze([
  "SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync%'",
  "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync%'",
]) as string[];

export const MARIADB: Dialect = Object.freeze({
  flavor: "mariadb" as const,
  replicaStatusSql: "SHOW SLAVE STATUS",
  parseReplicaStatus,
  readOnlySql: "SELECT @@global.read_only AS v",
  superReadOnlySql: undefined,
  gtidHistorySql: "SELECT @@global.gtid_binlog_state AS v",
  gtidExecutedSql: "SELECT @@global.gtid_current_pos AS v",
  semiSyncSql: SEMI_SYNC_SQL,
  parseSemiSync,
  fenceSql: ["SET GLOBAL read_only = ON"],
  writableSql: ["SET GLOBAL read_only = OFF"],
  stopReplicaSql: "STOP SLAVE",
  stopIoThreadSql: "STOP SLAVE IO_THREAD",
  startPurgesStoppedRelayLog: true,
  startReplicaSql: "START SLAVE",
  startSqlThreadSql: "START SLAVE SQL_THREAD",
  resetReplicaAllSql: "RESET SLAVE ALL",
  changeSourceSql(a: ChangeSourceArgs, fromOwnHistory: boolean): string[] {
    const change =
      `CHANGE MASTER TO MASTER_HOST=${quote(a.host)}, MASTER_PORT=${checkPort(a.port)}, ` +
      `MASTER_USER=${quote(a.user)}, MASTER_PASSWORD=${quote(a.password)}, ` +
      "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1";
    // A former master rejoining: its own binlog is its position (gtid_slave_pos only tracks
    // what it applied as a replica, before it was promoted).
    return fromOwnHistory ? ["SET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos", change] : [change];
  },
  waitForGtidSql(gtid: string, timeoutS: number) {
    // 0: reached; -1: timed out.
    return { sql: "SELECT MASTER_GTID_WAIT(?, ?) AS v", values: [gtid, timeoutS] };
  },
  compareHistory: compareMariaHistory,
  comparePositions: compareMariaPositions,
  unionPositions: unionMariaPositions,
});

/** Connection retries of a MySQL replica's IO thread, 1 s apart: a day (8.0's default). */
export const SOURCE_RETRY_COUNT = 86400;

function mysqlDialect(flavor: "mysql80" | "mysql84"): Dialect {
  return Object.freeze({
    flavor,
    replicaStatusSql: "SHOW REPLICA STATUS",
    parseReplicaStatus,
    readOnlySql: "SELECT @@global.read_only AS v",
    superReadOnlySql: "SELECT @@global.super_read_only AS v",
    gtidHistorySql: "SELECT @@global.gtid_executed AS v",
    gtidExecutedSql: "SELECT @@global.gtid_executed AS v",
    semiSyncSql: SEMI_SYNC_SQL,
    parseSemiSync,
    // super_read_only = ON implies read_only = ON.
    fenceSql: ["SET GLOBAL super_read_only = ON"],
    // read_only = OFF alone would leave super_read_only on.
    writableSql: ["SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"],
    stopReplicaSql: "STOP REPLICA",
    // The coordinator's name since 8.0.26, and before.
    applierThreadSql:
      "SELECT PROCESSLIST_ID AS id FROM performance_schema.threads WHERE NAME IN ('thread/sql/replica_sql', 'thread/sql/slave_sql') AND PROCESSLIST_ID IS NOT NULL",
    stopIoThreadSql: "STOP REPLICA IO_THREAD",
    startPurgesStoppedRelayLog: false,
    startReplicaSql: "START REPLICA",
    startSqlThreadSql: "START REPLICA SQL_THREAD",
    resetReplicaAllSql: "RESET REPLICA ALL",
    // Auto-positioning sends gtid_executed, so a rejoining former source needs nothing more.
    // SOURCE_RETRY_COUNT: 8.4 lowered its default to 10, after which (1 s apart) the IO thread
    // gives up for good and never reconnects when the source returns (measured on 9.7): a
    // day of retries, as 8.0's default was.
    changeSourceSql(a: ChangeSourceArgs, _fromOwnHistory: boolean): string[] {
      return [
        `CHANGE REPLICATION SOURCE TO SOURCE_HOST=${quote(a.host)}, SOURCE_PORT=${checkPort(a.port)}, ` +
          `SOURCE_USER=${quote(a.user)}, SOURCE_PASSWORD=${quote(a.password)}, ` +
          `SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=${SOURCE_RETRY_COUNT}, SOURCE_HEARTBEAT_PERIOD=1, GET_SOURCE_PUBLIC_KEY=1`,
      ];
    },
    waitForGtidSql(gtid: string, timeoutS: number) {
      // 0: reached; 1: timed out.
      return { sql: "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS v", values: [gtid, timeoutS] };
    },
    compareHistory: compareMysqlHistory,
    // A GTID set is exact: positions are histories.
    comparePositions: compareMysqlHistory,
    unionPositions: unionMysqlHistory,
  });
}

export const MYSQL80: Dialect = mysqlDialect("mysql80");
export const MYSQL84: Dialect = mysqlDialect("mysql84");

const SUPPORTED = "supported: MariaDB 10.6 or later, MySQL/Percona 8.0.23 or later 8.0, MySQL/Percona 8.4, MySQL 9.x";

/**
 * The dialect for a server's `SELECT VERSION()`: "10.11.6-MariaDB-0+deb12u1-log" → MariaDB,
 * "8.0.36" / "8.0.36-28" (Percona) → 8.0, "8.4.3-3" → 8.4, "9.7.4-2" (Debian's packaging
 * suffix) → 8.4's dialect. Throws for anything else (5.7, MariaDB before 10.6, 8.0 before 8.0.23
 * which lacks CHANGE REPLICATION SOURCE TO, the 8.1–8.3 innovation releases, 10.x and later
 * without "MariaDB", garbage).
 */
export function dialectFor(version: string): Dialect {
  const v = String(version ?? "").trim();
  // MariaDB's protocol handshake (and some proxies) prefix "5.5.5-".
  const m = /^(5\.5\.5-)?(\d+)\.(\d+)\.(\d+)(.*)$/.exec(v);
  if (m) {
    const [major, minor, patch] = [Number(m[2]), Number(m[3]), Number(m[4])];
    const rest = m[5];
    if (/mariadb/i.test(rest)) {
      if (major > 10 || (major === 10 && minor >= 6)) return MARIADB;
    } else if (!m[1] && (rest === "" || rest.startsWith("-"))) {
      if (major === 8 && minor === 0 && patch >= 23) return MYSQL80;
      if ((major === 8 && minor === 4) || major === 9) return MYSQL84;
    }
  }
  throw new Error(`unsupported database server version ${JSON.stringify(version)} (${SUPPORTED})`);
}
