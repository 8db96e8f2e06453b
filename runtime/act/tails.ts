/**
 * What a failover knew of the old master's tail, kept where every daemon finds it: one row per
 * promotion epoch in `pandora_ha_tail` on the new master (replicated with its data). Only the
 * daemon that failed over saw whether the old master was durable or the failover forced; once
 * the cut heals another daemon may be the one acting when the old master comes back, and it
 * must undo (or rebuild) that tail exactly when the one that decided would have.
 */
import type { NodeConnection } from "../observe/probe";
import { EPOCH_TABLE, shortError } from "../observe/probe";
import type { Ctx } from "./context";
import { ActionError, session } from "./context";

export const TAIL_TABLE = "pandora_ha_tail";

/** Short: these statements run in the middle of a failover, before the replicas are repointed. */
const TAIL_TIMEOUT_MS = 5_000;

/**
 * safe: durable at the last look, held so by pandora_ha (ha_semisync 1): its tail acknowledged
 * nothing. forced: promoted past the durability check: its tail may hold acknowledged commits.
 * unknown: neither (asynchronous, ha_semisync 0): kept, diverged.
 */
export type TailVerdict = "safe" | "forced" | "unknown";

/**
 * Creates `table` in the connection's database unless it is there. Not CREATE TABLE IF NOT
 * EXISTS alone: that is written to the binary log even when the table exists, and a statement
 * no flashback can undo would then sit in the tail of a new master that dies before its replicas
 * follow it.
 */
export async function ensureTable(c: NodeConnection, table: string, columns: string, timeoutMs?: number): Promise<void> {
  const [there] = await c.admin("SELECT 1 AS x FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", [table], timeoutMs);
  if (!there) await c.admin(`CREATE TABLE IF NOT EXISTS ${table} (${columns}) ENGINE=InnoDB`, [], timeoutMs);
}

/** Records on `master` (the new one, writable) what the failover at `epoch` knew of `oldMaster`'s tail; a failure is logged, the failover goes on (this daemon's own state still knows). */
export async function recordTail(ctx: Ctx, master: string, epoch: number, oldMaster: string, verdict: TailVerdict): Promise<void> {
  const c = session(ctx, master).conn;
  try {
    await ensureTable(c, TAIL_TABLE, "epoch INT UNSIGNED NOT NULL PRIMARY KEY, old_master VARCHAR(255) NOT NULL, verdict VARCHAR(16) NOT NULL", TAIL_TIMEOUT_MS);
    await c.admin(
      `INSERT INTO ${TAIL_TABLE} VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE old_master = VALUES(old_master), verdict = VALUES(verdict)`,
      [epoch, oldMaster, verdict],
      TAIL_TIMEOUT_MS,
    );
  } catch (e) {
    ctx.events.log({ tail_record: oldMaster, epoch, failed: shortError(e) });
  }
}

/**
 * What the failover away from `host` (the first epoch after the last one naming it master)
 * recorded on `master`; undefined when nothing was (an older pandora_ha, the record failed, or
 * that tail is settled: see clearTail). Throws ActionError when it cannot be read: the verdict
 * decides whether a tail is undone, so a rejoin waits for it.
 */
export async function tailVerdict(ctx: Ctx, master: string, host: string): Promise<TailVerdict | undefined> {
  try {
    const [r] = await session(ctx, master).conn.admin<{ verdict: string }>(
      `SELECT verdict FROM ${TAIL_TABLE} WHERE old_master = ? AND epoch > IFNULL((SELECT MAX(epoch) FROM ${EPOCH_TABLE} WHERE master = ?), 0) ORDER BY epoch LIMIT 1`,
      [host, host],
    );
    const v = r?.verdict;
    return v === "safe" || v === "forced" || v === "unknown" ? v : undefined;
  } catch (e) {
    // No table yet: no failover recorded one.
    if ((e as { errno?: number }).errno === 1146) return undefined;
    throw new ActionError(`what the failover away from ${host} knew of its tail could not be read on ${master} (${shortError(e)})`);
  }
}

/**
 * `host`'s tail is settled (undone, rebuilt, or it replicates again after a resync): its verdict
 * rows are marked so, and a later divergence of `host` as a replica (its own writes) is never
 * judged by them. A failure is logged: the row then stays, as before this was recorded.
 */
export async function clearTail(ctx: Ctx, master: string, host: string): Promise<void> {
  try {
    await session(ctx, master).conn.admin(`UPDATE ${TAIL_TABLE} SET verdict = 'settled' WHERE old_master = ? AND verdict <> 'settled'`, [host], TAIL_TIMEOUT_MS);
  } catch (e) {
    if ((e as { errno?: number }).errno !== 1146) ctx.events.log({ tail_clear: host, failed: shortError(e) });
  }
}
