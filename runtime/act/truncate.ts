/**
 * Truncating a returning old master's unacknowledged tail (MariaDB), so it can rejoin instead of
 * being reseeded. The tail is the transactions it committed that the new master never received
 * (in flight when it crashed or was cut off; never acknowledged to a client under semi-sync
 * AFTER_SYNC). Nothing is dropped: on the node's own host the tail is first archived (replayable
 * binlog SQL and the decoded rows, in /var/lib/pandora-ha/diverged/, 0600), then undone with
 * `mariadb-binlog --flashback` without binary logging, then the node's binlog history is reset
 * to the common point and it replicates from the new master by GTID. A tail holding DDL, or
 * longer than MAX_TRUNCATE transactions, is not touched: the node stays fenced and diverged.
 *
 * What the node holds is read from its binary log files, not only from @@gtid_binlog_state: a
 * MariaDB 10.11 crash recovery that meets a truncated event inside a transaction at the end of
 * the last binlog (the write a full binlog volume cut short, then kill -9) comes back with a
 * stale gtid_binlog_state (measured: 0-1-2, the state of a much earlier start, while the files
 * hold every transaction up to 0-1-3408) and writes that state into its new binlog's Gtid_list.
 */
import type { Ctx } from "./context";
import { runSsh, shq } from "../exec";
import { compareMariaHistory, parseMariaGtids } from "../dialect";
import type { NodeSession } from "../observe/probe";
import type { HistoryComparison } from "../types";

export const MAX_TRUNCATE = 10_000;
export const ARCHIVE_DIR = "/var/lib/pandora-ha/diverged";

/**
 * Per domain, the last transaction both histories hold: where the old node's tail starts. For
 * each domain, the highest seq among the old node's entries the new master fully has and the new
 * master's entry for each errant (domain, server). Undefined when a domain has no common point.
 */
export function commonPosition(oldHistory: string, masterHistory: string): string | undefined {
  const a = parseMariaGtids(oldHistory);
  const b = parseMariaGtids(masterHistory);
  const best = new Map<string, { server: bigint; seq: bigint }>();
  for (const [key, g] of a) {
    const have = b.get(key);
    const point = have && have.seq >= g.seq ? g : have;
    if (!point) continue;
    const d = String(g.domain);
    const cur = best.get(d);
    if (!cur || cur.seq < point.seq) best.set(d, { server: point.server, seq: point.seq });
  }
  const domains = new Set([...a.values()].map((g) => String(g.domain)));
  if ([...domains].some((d) => !best.has(d))) return undefined;
  return [...best.entries()].map(([d, p]) => `${d}-${p.server}-${p.seq}`).join(",");
}

/**
 * Archives `files` from `start` on, then undoes them (flashback). Every file it writes goes through
 * `cat`: mariadb-binlog exits 0 on a full disk with its output cut (measured: an empty archive, "0
 * transactions" undone, the node rejoined with its tail still applied), and cat does not. A tail
 * of complete transactions is expected (`expected`: its count by GTID, an estimate); an archive
 * with none means it is not whole, and nothing is undone.
 */
export function truncateScript(start: string, binlogDir: string, files: string[], archiveName: string, expected: number): string {
  return [
    "set -euo pipefail",
    `dir=${shq(ARCHIVE_DIR)}; name=${shq(archiveName)}; start=${shq(start)}; expected=${Math.trunc(expected)}`,
    // Until the undo is applied, a failure leaves nothing behind and says so (exit 3: retried).
    'trap \'rm -f "$dir/$name".*; exit 3\' ERR',
    `files=(${files.map(shq).join(" ")})`,
    "bin=$(command -v mariadb-binlog || command -v mysqlbinlog)",
    `cd ${shq(binlogDir)}`,
    'mkdir -p "$dir" && chmod 0700 "$dir"',
    // 1. Archive: replayable SQL and the decoded rows, before anything is undone.
    'umask 077; "$bin" --start-position="$start" "${files[@]}" | cat > "$dir/$name.binlog.sql"',
    '"$bin" -v --base64-output=decode-rows --start-position="$start" "${files[@]}" | cat > "$dir/$name.rows.txt"',
    // 2. Only row events can be undone.
    'if grep -Eiq "^(CREATE|ALTER|DROP|TRUNCATE|RENAME|GRANT|REVOKE)[[:space:]]" "$dir/$name.rows.txt"; then trap - ERR; echo "the tail holds DDL: not undone" >&2; exit 4; fi',
    // Transactions that ended (COMMIT after their Xid): not one a crash cut short, which holds no row.
    'n=$(grep -c "^COMMIT" "$dir/$name.rows.txt" || true)',
    // A transaction a crash cut short at the end of the tail was rolled back by the server's
    // recovery: the undo stops where it begins (undoing rows that are not there fails). One cut
    // short inside the tail (an earlier crash, then more transactions) cannot be skipped: kept.
    `cut=$(LC_ALL=C awk ${shq(CUT_SHORT_AWK)} "$dir/$name.rows.txt"); stop=`,
    'if [ "$cut" = inside ]; then trap - ERR; echo "a transaction inside the tail was cut short by a crash: not undone" >&2; exit 4; fi',
    'if [ -n "$cut" ]; then read -r k stop <<<"$cut"; files=("${files[@]:0:k}"); fi',
    'if [ "$expected" -gt 0 ] && [ "$n" -eq 0 ]; then echo "the archive holds none of the tail\'s $expected transactions: not undone" >&2; false; fi',
    // 3. Undo without writing the undo to the binlog (the binlog is reset next).
    '"$bin" --flashback --start-position="$start" ${stop:+--stop-position="$stop"} "${files[@]}" | cat > "$dir/$name.flashback.sql"',
    'if [ "$n" -gt 0 ] && ! grep -q "^COMMIT" "$dir/$name.flashback.sql"; then echo "the undo of $n transactions came out empty: not undone" >&2; false; fi',
    'cli=$(command -v mariadb || command -v mysql)',
    // 4. Applied: from here a failure may leave it half undone (not retried; the archive stays).
    "trap - ERR",
    '"$cli" --init-command="SET SESSION sql_log_bin=0" < "$dir/$name.flashback.sql"',
    'echo "undone $n transactions${stop:+ (the last one, cut short by a crash, had been rolled back by the server)}; archived in $dir/$name.binlog.sql and $dir/$name.rows.txt"',
  ].join("\n");
}

/**
 * Lines of mariadb-binlog's output (awk patterns) that tell where a transaction was cut short:
 * each file's header, and a transaction's START TRANSACTION (BEGIN on older servers) and COMMIT.
 * A DDL's event group has neither of the last two.
 */
export const BINLOG_LINES = {
  fileStart: "/^#[0-9][0-9][0-9][0-9][0-9][0-9] .*[ \t]Start: binlog v /",
  txOpens: "/^(START TRANSACTION|BEGIN)/",
  txEnds: "/^COMMIT/",
};

/**
 * Reads `mariadb-binlog -v` output of a node's files: a transaction a crash cut short (its events
 * written, not its Xid: a full disk, then kill -9) ends a file, and the restarted server begins
 * the next one. Prints nothing when every transaction ended (COMMIT); "K POS" when one was cut
 * short in file K (1-based) at its GTID event's position POS, and no transaction follows it;
 * "inside" when one does, or when two were cut short.
 */
export const CUT_SHORT_AWK = [
  "/^# at [0-9]+$/ { at = $3; next }",
  "function cutHere() { if (cut) inside = 1; cut = file; pos = from }",
  `${BINLOG_LINES.fileStart} { if (open) cutHere(); file++; open = 0; next }`,
  "/^#[0-9][0-9][0-9][0-9][0-9][0-9] .*[ \t]GTID [0-9]/ { if (cut) inside = 1; from = at; next }",
  `${BINLOG_LINES.txOpens} { open = 1 }`,
  `${BINLOG_LINES.txEnds} { open = 0 }`,
  'END { if (open) cutHere(); if (inside) print "inside"; else if (cut) print cut, pos }',
].join("\n");

/** A tail kept by rule (too long, DDL, no common point, not MariaDB) or half undone: only a resync clears it. */
export class TailKept extends Error {
  /** Kept only because this flavor cannot undo a tail in place: rebuilding the node instead is as safe as undoing it. */
  constructor(
    message: string,
    readonly reseed = false,
  ) {
    super(message);
  }
}

/**
 * Archives and undoes `s`'s tail (`mine`: its own history, read from its binary log files too)
 * against the master's history, then resets its binlog history to the common point, so that it
 * can replicate from the master by GTID. Returns what was done. Throws TailKept when a rule keeps
 * the tail (the caller marks it diverged); any other error is a failure that may pass (retried).
 */
export async function undoTail(ctx: Ctx, s: NodeSession, mine: string, masterHistory: string, cmp: HistoryComparison, epoch: number): Promise<string> {
  const d = s.dialect!;
  if (d.flavor !== "mariadb") throw new TailKept(`${d.flavor}: the tail cannot be truncated in place (reseed it)`, true);
  if (cmp.errantCount > MAX_TRUNCATE) throw new TailKept(`${cmp.errantCount} diverged transactions (more than ${MAX_TRUNCATE}): reseed it`);
  const start = commonPosition(mine, masterHistory);
  if (!start) throw new TailKept(`no common point with the master's history (${masterHistory})`);
  let how: string;
  if (ctx.state.undone[s.host] === cmp.errant) {
    // Undone by an earlier try that stopped before the reset: undoing again would corrupt.
    how = `tail ${cmp.errant} already undone`;
  } else {
    const { dir, files } = await binlogFiles(s);
    const name = `${s.host}-epoch${epoch}-${new Date().toISOString().replace(/[:.]/g, "")}`;
    const script = truncateScript(start, dir, files, name, cmp.errantCount);
    const remote = `if [ "$(id -u)" = 0 ]; then bash -c ${shq(script)}; else sudo -n bash -c ${shq(script)}; fi`;
    const r = await runSsh(ctx.settings, s.host, remote, 120_000);
    if (r.code === 4) throw new TailKept(`${s.host}: ${r.output}`);
    // 3: it stopped before applying anything (a full disk, a tool missing): tried again later.
    if (r.code === 3) throw new Error(`undoing the tail on ${s.host} failed before anything was undone: ${r.output}`);
    // Anything else (the apply failed, SSH dropped, a timeout): how much was undone is unknown.
    if (r.code !== 0) throw new TailKept(`undoing the tail on ${s.host} stopped part-way (exit ${r.code}: ${r.output}); what was undone is unknown, the archive is in ${ARCHIVE_DIR}: resync it`);
    ctx.state.undone[s.host] = cmp.errant;
    ctx.saveState();
    how = r.output.split("\n").pop() ?? "";
  }
  await resetHistory(s, start);
  delete ctx.state.undone[s.host];
  ctx.saveState();
  return `${how}; history reset to ${start}`;
}

/**
 * The node's binary log emptied and its replication position set to `position` (what its data
 * holds, a prefix of the master's history): it then fetches from the master whatever follows.
 */
export async function resetHistory(s: NodeSession, position: string): Promise<void> {
  await s.conn.admin(s.dialect!.stopReplicaSql);
  await s.conn.admin("RESET MASTER");
  await s.conn.admin("SET GLOBAL gtid_slave_pos = ?", [position]);
}

async function binlogFiles(s: NodeSession): Promise<{ dir: string; files: string[] }> {
  const [base] = await s.conn.query<{ v: string }>("SELECT @@global.log_bin_basename AS v");
  const logs = await s.conn.query<{ Log_name: string }>("SHOW BINARY LOGS");
  return { dir: String(base.v).replace(/\/[^/]*$/, ""), files: logs.map((l) => l.Log_name) };
}

// ---------------------------------------------------------------------------------------------
// What the binary log files hold

/** One binary log file: its Gtid_list header, and per domain-server its last complete transaction. */
export interface FileGtids {
  header: string;
  complete: string;
}

/**
 * Prints "H <the file's Gtid_list>" and "G <domain-server-seq>" for the last complete
 * transaction of each domain-server in it. A transaction counts once its end is in the file (its
 * Xid or COMMIT; a standalone one, such as DDL, its one event): not the one a crash cut short.
 */
const FILE_GTIDS_AWK = [
  "function gt(a, b) { return length(a) > length(b) || (length(a) == length(b) && a > b) }",
  'function done(  p, k) { split(pend, p, "-"); k = p[1] "-" p[2]; if (!(k in last) || gt(p[3], last[k])) last[k] = p[3]; pend = "" }',
  "inlist { h = h $0; if ($0 ~ /\\]/) inlist = 0; next }",
  "/^#[0-9]+ .*\tGtid list \\[/ { h = $0; inlist = ($0 !~ /\\]/); next }",
  '/^#[0-9]+ .*\tGTID [0-9]+-[0-9]+-[0-9]+/ { pend = $0; sub(/.*\tGTID /, "", pend); sub(/[^-0-9].*$/, "", pend); st = 1; next }',
  'pend != "" && st == 1 && /^(START TRANSACTION|BEGIN)/ { st = 2; next }',
  'pend != "" && st == 1 && /^#[0-9]+ / { done(); next }',
  'pend != "" && st == 2 && /^(COMMIT|ROLLBACK)/ && !/added by mysqlbinlog/ { done(); next }',
  'END { sub(/.*Gtid list \\[/, "", h); sub(/\\].*$/, "", h); gsub(/[# \t]/, "", h); print "H " h; for (k in last) print "G " k "-" last[k] }',
].join("\n");

export function fileGtidsScript(binlogDir: string, file: string): string {
  return [
    "set -euo pipefail",
    "bin=$(command -v mariadb-binlog || command -v mysqlbinlog)",
    `cd ${shq(binlogDir)}`,
    // A truncated last event is reported on stderr; the events before it are printed (exit 0).
    `"$bin" --base64-output=decode-rows ${shq(file)} 2>/dev/null | awk ${shq(FILE_GTIDS_AWK)}`,
  ].join("\n");
}

export function parseFileGtids(output: string): FileGtids {
  const lines = output.split("\n").map((l) => l.trim());
  const h = lines.find((l) => l.startsWith("H"));
  if (h === undefined) throw new Error(`unexpected output: ${output.slice(-300)}`);
  const header = h.slice(1).trim();
  const complete = lines.filter((l) => /^G \d+-\d+-\d+$/.test(l)).map((l) => l.slice(2));
  return { header: mergeStates(header), complete: mergeStates(complete.join(",")) };
}

/** MariaDB GTID lists merged: per domain-server the highest seq, sorted. */
export function mergeStates(...lists: string[]): string {
  const m = parseMariaGtids(lists.filter((l) => l.trim() !== "").join(","));
  const cmp = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);
  return [...m.values()].sort((a, b) => cmp(a.domain, b.domain) || cmp(a.server, b.server)).map((g) => `${g.domain}-${g.server}-${g.seq}`).join(",");
}

/**
 * Read newest first: the files older than `file` add nothing once `file` has transactions of its
 * own and everything it holds is in the Gtid_list of the file that follows it (written by the
 * server that wrote `file`, so the chain before it is intact). A Gtid_list written after a
 * recovery that lost the state lacks what the file before it holds, so the reading goes on.
 */
export function olderFilesAddNothing(file: FileGtids, newer: FileGtids | undefined): boolean {
  if (!newer || file.complete === "") return false;
  return compareMariaHistory(mergeStates(file.header, file.complete), newer.header).prefix;
}

/** Every domain-server's last transaction the node's binary log files hold (read over SSH on its host). */
export async function binlogFileHistory(ctx: Ctx, s: NodeSession): Promise<string> {
  const { dir, files } = await binlogFiles(s);
  let history = "";
  let newer: FileGtids | undefined;
  for (const f of [...files].reverse()) {
    const script = fileGtidsScript(dir, f);
    const r = await runSsh(ctx.settings, s.host, `if [ "$(id -u)" = 0 ]; then bash -c ${shq(script)}; else sudo -n bash -c ${shq(script)}; fi`, 120_000);
    if (r.code !== 0) throw new Error(`reading ${f} on ${s.host} failed (exit ${r.code}): ${r.output}`);
    const g = parseFileGtids(r.output);
    history = mergeStates(history, g.header, g.complete);
    if (olderFilesAddNothing(g, newer)) break;
    newer = g;
  }
  return history;
}

/** A node's own history: what its server reports, and what its binary log files hold. */
export interface OwnHistory {
  /** Both merged: every transaction the node holds. */
  history: string;
  /** @@gtid_binlog_state (MySQL: gtid_executed), as last probed. */
  reported: string;
  /** The files hold transactions the reported state lacks (a crash recovery lost the state). */
  stale: boolean;
}

/** MariaDB: the reported state checked against the binary log files; MySQL/Percona: as reported. */
export async function ownHistory(ctx: Ctx, s: NodeSession): Promise<OwnHistory> {
  const reported = s.last?.gtidHistory ?? "";
  if (s.dialect?.flavor !== "mariadb") return { history: reported, reported, stale: false };
  const files = await binlogFileHistory(ctx, s);
  return { history: mergeStates(reported, files), reported, stale: !compareMariaHistory(files, reported).prefix };
}
