/**
 * Durability of the master: when is every commit it acknowledged on a replica, and what the
 * daemon does to keep it so. Pure: no I/O.
 *
 * The rule: the master's semi-sync never falls back to asynchronous by itself (its timeout is
 * longer than any outage and it waits even with no replica attached: STRICT_TIMEOUT_MS), so a
 * master that is cut off, hung, or isolated with its clients never acknowledges a commit no
 * replica has, however long it stays away. Only pandora_ha, while it sees the master and sees
 * that no replica has acknowledged anything for ha_semisync_timeout seconds, switches it to
 * asynchronous (writes go on) — and records that it did, because from then on the master may
 * hold acknowledged commits that no replica has: an automatic failover is held until a replica
 * has caught up and semi-sync is in force again.
 */
import { STRICT_TIMEOUT_MS } from "../dialect";
import type { NodeObservation } from "../types";

/** The server's own semi-sync settings can never fall back to asynchronous by themselves. */
export function isStrict(m: NodeObservation): boolean {
  const d = m.semiSyncDetail;
  return !!m.semiSync?.sourceEnabled && !!d?.naming && d.waitNoReplica && (d.timeoutMs ?? 0) >= STRICT_TIMEOUT_MS;
}

/**
 * Why `m` is not durable right now, or undefined when it is: strict semi-sync in force (then every
 * commit it acknowledged is on a replica — with no replica attached its commits wait, and none is
 * acknowledged). The daemon's own record of an asynchronous period (state.async) counts too: the
 * caller adds it.
 */
export function notDurable(m: NodeObservation): string | undefined {
  const s = m.semiSync;
  const d = m.semiSyncDetail;
  if (!s || !d?.naming) return "no semi-synchronous replication on this server";
  if (!s.sourceEnabled) return "semi-sync is switched off on it";
  if (!isStrict(m)) return `semi-sync may fall back to asynchronous by itself (timeout ${d.timeoutMs ?? "?"} ms, wait with no replica ${d.waitNoReplica ? "on" : "off"})`;
  if (!s.sourceActive) return "semi-sync is not active";
  return undefined;
}

/** The daemon's memory of acknowledgements on the current master. */
export interface AckTracker {
  host: string;
  yesTx: number;
  /** Last time a replica acknowledged (or nothing was waiting with a replica attached). */
  lastAck: number;
}

export type DurabilityStep =
  | { kind: "none" }
  /** Make the master semi-synchronous with no fallback of its own. */
  | { kind: "strict"; reason: string }
  /**
   * No replica acknowledges: let writes go on without one (recorded; failovers are held). `byHand`:
   * an administrator switched semi-sync off on the master; recorded as such, not undone until a
   * replica follows it again.
   */
  | { kind: "async"; reason: string; byHand?: boolean }
  /** Semi-sync is in force again and a replica has everything committed in the asynchronous period. */
  | { kind: "durable_again" };

export interface DurabilityInput {
  master: NodeObservation;
  tracker: AckTracker | undefined;
  /** The daemon switched this master to asynchronous (and it has not been durable since). */
  isAsync: boolean;
  /** A replica follows the master with its IO thread connected. */
  replicaFollowing: boolean;
  /** A replica has received everything the master had committed when semi-sync was switched back on. */
  caughtUp: boolean;
  now: number;
  timeoutMs: number;
}

/** What to do for the master's durability this cycle, and the tracker to keep. */
export function durabilityStep(i: DurabilityInput): { step: DurabilityStep; tracker: AckTracker | undefined } {
  const { master: m, now } = i;
  const s = m.semiSync;
  const d = m.semiSyncDetail;
  if (!s || !d?.naming) return { step: { kind: "none" }, tracker: undefined };
  const prev = i.tracker?.host === m.host ? i.tracker : undefined;
  const acking = s.clients >= 1 && (d.waitSessions === 0 || (prev !== undefined && d.yesTx > prev.yesTx));
  const tracker: AckTracker = { host: m.host, yesTx: d.yesTx, lastAck: acking || !prev ? now : prev.lastAck };
  if (i.isAsync && !s.sourceEnabled) {
    // Asynchronous by our decision: semi-sync again once a replica follows (it acknowledges what it receives from then on).
    if (i.replicaFollowing) return { step: { kind: "strict", reason: "a replica follows it again" }, tracker: { ...tracker, lastAck: now } };
    return { step: { kind: "none" }, tracker };
  }
  if (i.isAsync && !notDurable(m) && i.caughtUp) return { step: { kind: "durable_again" }, tracker };
  // Switched off by hand (SET GLOBAL rpl_semi_sync_master_enabled = OFF: the way to let writes go
  // on while the only replica is silent): the administrator's decision, recorded, not fought.
  if (!s.sourceEnabled && !i.isAsync) return { step: { kind: "async", reason: "semi-sync switched off on it by hand", byHand: true }, tracker };
  if (!isStrict(m)) return { step: { kind: "strict", reason: "semi-sync without a fallback of its own" }, tracker };
  if (now - tracker.lastAck >= i.timeoutMs) {
    const why = s.clients < 1 ? "no replica attached" : `no acknowledgement while ${d.waitSessions} commits wait`;
    return { step: { kind: "async", reason: `${why} for ${Math.round((now - tracker.lastAck) / 100) / 10} s` }, tracker };
  }
  return { step: { kind: "none" }, tracker };
}
