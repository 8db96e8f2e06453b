/**
 * What a failover knew of the old master's tail, kept where every daemon finds it: one row per
 * promotion epoch in `pandora_ha_tail` on the new master (replicated with its data). Only the
 * daemon that failed over saw whether the old master was durable or the failover forced; once
 * the cut heals another daemon may be the one acting when the old master comes back, and it
 * must undo (or rebuild) that tail exactly when the one that decided would have.
 */
import { EPOCH_TABLE, shortError } from "../observe/probe";
import type { Ctx } from "./context";
import { session } from "./context";

export const TAIL_TABLE = "pandora_ha_tail";

/**
 * safe: durable at the last look, held so by pandora_ha (ha_semisync 1): its tail acknowledged
 * nothing. forced: promoted past the durability check: its tail may hold acknowledged commits.
 * unknown: neither (asynchronous, ha_semisync 0): kept, diverged.
 */
export type TailVerdict = "safe" | "forced" | "unknown";

/** Records on `master` (the new one, writable) what the failover at `epoch` knew of `oldMaster`'s tail; a failure is logged, the failover goes on (this daemon's own state still knows). */
export async function recordTail(ctx: Ctx, master: string, epoch: number, oldMaster: string, verdict: TailVerdict): Promise<void> {
  const c = session(ctx, master).conn;
  try {
    await c.admin(`CREATE TABLE IF NOT EXISTS ${TAIL_TABLE} (epoch INT UNSIGNED NOT NULL PRIMARY KEY, old_master VARCHAR(255) NOT NULL, verdict VARCHAR(16) NOT NULL) ENGINE=InnoDB`);
    await c.admin(`INSERT INTO ${TAIL_TABLE} VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE old_master = VALUES(old_master), verdict = VALUES(verdict)`, [epoch, oldMaster, verdict]);
  } catch (e) {
    ctx.events.log({ tail_record: oldMaster, epoch, failed: shortError(e) });
  }
}

/**
 * What the failover away from `host` (the first epoch after the last one naming it master)
 * recorded on `master`; undefined when nothing was (an older pandora_ha, or the record failed).
 */
export async function tailVerdict(ctx: Ctx, master: string, host: string): Promise<TailVerdict | undefined> {
  try {
    const [r] = await session(ctx, master).conn.admin<{ verdict: string }>(
      `SELECT verdict FROM ${TAIL_TABLE} WHERE old_master = ? AND epoch > IFNULL((SELECT MAX(epoch) FROM ${EPOCH_TABLE} WHERE master = ?), 0) ORDER BY epoch LIMIT 1`,
      [host, host],
    );
    const v = r?.verdict;
    return v === "safe" || v === "forced" || v === "unknown" ? v : undefined;
  } catch {
    return undefined;
  }
}
