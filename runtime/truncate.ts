/**
 * Truncating a returning old master's unacknowledged tail (MariaDB), so it can rejoin instead of
 * being reseeded. The tail is the transactions it committed that the new master never received
 * (in flight when it crashed or was cut off; never acknowledged to a client under semi-sync
 * AFTER_SYNC). Nothing is dropped: on the node's own host the tail is first archived (replayable
 * binlog SQL and the decoded rows, in /var/lib/pandora-ha/diverged/, 0600), then undone with
 * `mariadb-binlog --flashback` without binary logging, then the node's binlog history is reset
 * to the common point and it replicates from the new master by GTID. A tail holding DDL, or
 * longer than MAX_TRUNCATE transactions, is not touched: the node stays fenced and diverged.
 */
import type { Ctx } from "./actions";
import { runSsh, shq } from "./exec";
import { parseMariaGtids } from "./dialect";
import type { NodeSession } from "./probe";
import type { HistoryComparison } from "./types";

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

export function truncateScript(start: string, binlogDir: string, files: string[], archiveName: string): string {
  return [
    "set -euo pipefail",
    `dir=${shq(ARCHIVE_DIR)}; name=${shq(archiveName)}; start=${shq(start)}`,
    `files=(${files.map(shq).join(" ")})`,
    "bin=$(command -v mariadb-binlog || command -v mysqlbinlog)",
    `cd ${shq(binlogDir)}`,
    'mkdir -p "$dir" && chmod 0700 "$dir"',
    // 1. Archive: replayable SQL and the decoded rows, before anything is undone.
    'umask 077; "$bin" --start-position="$start" "${files[@]}" > "$dir/$name.binlog.sql"',
    '"$bin" -v --base64-output=decode-rows --start-position="$start" "${files[@]}" > "$dir/$name.rows.txt"',
    // 2. Only row events can be undone.
    'if grep -Eiq "^(CREATE|ALTER|DROP|TRUNCATE|RENAME|GRANT|REVOKE)[[:space:]]" "$dir/$name.rows.txt"; then echo "the tail holds DDL: not undone" >&2; exit 4; fi',
    'n=$(grep -c "^#.*GTID [0-9]" "$dir/$name.rows.txt" || true)',
    // 3. Undo without writing the undo to the binlog (the binlog is reset next).
    '"$bin" --flashback --start-position="$start" "${files[@]}" > "$dir/$name.flashback.sql"',
    'cli=$(command -v mariadb || command -v mysql)',
    '"$cli" --init-command="SET SESSION sql_log_bin=0" < "$dir/$name.flashback.sql"',
    'echo "undone $n transactions; archived in $dir/$name.binlog.sql and $dir/$name.rows.txt"',
  ].join("\n");
}

/**
 * Archives and undoes `s`'s tail against the master's history, then resets its binlog history
 * to the common point, so that it can replicate from the master by GTID. Returns what was done;
 * throws with the reason otherwise (the caller marks it diverged).
 */
export async function undoTail(ctx: Ctx, s: NodeSession, masterHistory: string, cmp: HistoryComparison, epoch: number): Promise<string> {
  const d = s.dialect!;
  if (d.flavor !== "mariadb") throw new Error(`${d.flavor}: the tail cannot be truncated in place (reseed it)`);
  if (cmp.errantCount > MAX_TRUNCATE) throw new Error(`${cmp.errantCount} diverged transactions (more than ${MAX_TRUNCATE}): reseed it`);
  const mine = s.last?.gtidHistory ?? "";
  const start = commonPosition(mine, masterHistory);
  if (!start) throw new Error(`no common point with the master's history (${masterHistory})`);
  let how: string;
  if (ctx.state.undone[s.host] === cmp.errant) {
    // Undone by an earlier try that stopped before the reset: undoing again would corrupt.
    how = `tail ${cmp.errant} already undone`;
  } else {
    const [base] = await s.conn.query<{ v: string }>("SELECT @@global.log_bin_basename AS v");
    const logs = await s.conn.query<{ Log_name: string }>("SHOW BINARY LOGS");
    const binlogDir = String(base.v).replace(/\/[^/]*$/, "");
    const name = `${s.host}-epoch${epoch}-${new Date().toISOString().replace(/[:.]/g, "")}`;
    const script = truncateScript(start, binlogDir, logs.map((l) => l.Log_name), name);
    const remote = `if [ "$(id -u)" = 0 ]; then bash -c ${shq(script)}; else sudo -n bash -c ${shq(script)}; fi`;
    const r = await runSsh(ctx.settings, s.host, remote, 120_000);
    if (r.code !== 0) throw new Error(`undoing the tail on ${s.host} failed (exit ${r.code}): ${r.output}`);
    ctx.state.undone[s.host] = cmp.errant;
    ctx.saveState();
    how = r.output.split("\n").pop() ?? "";
  }
  await s.conn.admin(d.stopReplicaSql);
  await s.conn.admin("RESET MASTER");
  await s.conn.admin("SET GLOBAL gtid_slave_pos = ?", [start]);
  delete ctx.state.undone[s.host];
  ctx.saveState();
  return `${how}; history reset to ${start}`;
}
