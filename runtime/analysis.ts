/**
 * The pure heart of pandora_ha: from one set of observations (every node, as probed this cycle),
 * the daemon's memory and the secondary checks, name the cluster's conditions. No I/O here; each
 * condition maps to exactly one action in actions.ts. The README's truth table is this file.
 *
 * Who is the master: the node named by the highest promotion epoch any reachable node carries
 * (the epoch table is replicated, so every node knows it); before any epoch exists, the one
 * writable node. A master is dead only when the daemon has lost it for `connectRetries`
 * consecutive probes AND every reachable replica has lost it too: its IO thread is not connected
 * or, asked from its own host, it cannot reach the master (secondary check). Anything less is a
 * warning, never a promotion.
 */
import type { DaemonState, DivergedNode } from "./state";
import { failoversInWindow } from "./state";
import type { HistoryComparison, NodeObservation } from "./types";

export interface AnalysisSettings {
  connectRetries: number;
  failoverBudget: number;
  failoverWindow: number;
  lagWarning: number;
}

export interface HistoryOps {
  compare(a: string, b: string): HistoryComparison;
  union(a: string, b: string): string;
}

export interface AnalysisInput {
  /** Every node of ha_hosts, in that order. */
  nodes: NodeObservation[];
  state: DaemonState;
  settings: AnalysisSettings;
  history: HistoryOps;
  now: number;
  /** Secondary checks: replica host → could it reach the master from its own host (undefined: not asked). */
  secondary: Record<string, boolean | undefined>;
  /**
   * Nodes held out of automatic actions, with why (disabled in the console, being resynced): never
   * promoted, rejoined or warned about. Still fenced when writable beside the master. The master
   * itself is never held.
   */
  held?: Record<string, string>;
}

export type Condition =
  /** The daemon reaches no node at all: it may be the one cut off. Nothing is done. */
  | { kind: "no_node_reachable" }
  /** No master known yet and none can be told (no writable node, no epoch). */
  | { kind: "no_master"; detail: string }
  /** A master is known from the cluster (an epoch newer than ours, or the first writable node). */
  | { kind: "adopt_master"; master: string; epoch: number; reason: string }
  | { kind: "healthy"; master: string }
  /** The master failed some probes, fewer than connectRetries: wait. */
  | { kind: "master_suspect"; master: string; failures: number }
  /** The daemon lost the master but these replicas still replicate from it: no failover. */
  | { kind: "master_unreachable_from_daemon"; master: string; replicasSeeingIt: string[] }
  /** The daemon lost the master and sees no replica either: it may be isolated itself. */
  | { kind: "master_and_replicas_unreachable"; master: string }
  /** Ask these replicas, from their own hosts, whether they reach the master. */
  | { kind: "need_secondary_check"; master: string; replicas: string[] }
  /** The master is dead for everyone: promote `candidate`. */
  | { kind: "dead_master"; master: string; candidate: string; reason: string }
  /** Dead master but too few replicas reachable to decide alone, or none fit to promote. */
  | { kind: "no_candidate"; master: string; detail: string }
  /** Dead master, but the failover budget is spent: fence and alert instead. */
  | { kind: "budget_exhausted"; master: string; failovers: number; windowS: number }
  /** The master is up for the daemon, but this replica lost it: warn, no failover. */
  | { kind: "replica_link_broken"; replica: string; master: string; detail: string }
  | { kind: "replica_stopped"; replica: string; detail: string }
  | { kind: "lagging_replica"; replica: string; seconds: number }
  /** Semi-sync fell back to async on the master: a failover now may lose acknowledged writes. */
  | { kind: "semi_sync_off"; master: string }
  /** A node other than the master is writable: fence it (read-only, clients killed) at once. */
  | { kind: "stale_master"; node: string; epoch: number; detail: string }
  /** The master is up but read-only (restarted, or a promotion was interrupted): make it writable. */
  | { kind: "master_read_only"; master: string }
  /** A read-only node that does not replicate from the master: rejoin it (or find it diverged). */
  | { kind: "rejoin"; node: string; detail: string }
  /** A node whose history is not a prefix of the master's: it stays fenced; its rows are kept. */
  | { kind: "diverged"; node: string; info: DivergedNode }
  /** A diverged node now replicates from the master (resynced): forget it. */
  | { kind: "diverged_cleared"; node: string };

export type ConditionKind = Condition["kind"];

/** Conditions that change the cluster, in the order their actions run. */
export const ACTION_ORDER: ConditionKind[] = [
  "adopt_master",
  "stale_master",
  "dead_master",
  "master_read_only",
  "rejoin",
  "diverged_cleared",
];

const ok = (n: NodeObservation | undefined): boolean => !!n && n.reachable;

/** One line per node, for timelines and logs. */
export function describeNode(n: NodeObservation): string {
  if (!n.reachable) return `${n.host}: unreachable (${n.failures} failed probes${n.error ? `: ${n.error}` : ""})`;
  const r = n.replica;
  const repl = r ? `replica of ${r.sourceHost} io=${r.io} sql=${r.sqlRunning ? "yes" : "no"} lag=${r.secondsBehind ?? "-"}` : "not replicating";
  return `${n.host}: read_only=${n.readOnly ? 1 : 0} ${repl} epoch=${n.epoch ?? 0} history=${n.gtidHistory ?? "-"}`;
}

/** The replica's full history: what it applied plus what waits in its relay log. */
function received(n: NodeObservation, h: HistoryOps): string {
  const executed = n.gtidExecuted ?? "";
  const relay = n.replica?.receivedGtid ?? "";
  if (!relay) return executed;
  if (!executed) return relay;
  return h.union(executed, relay);
}

/**
 * The most advanced of `nodes`: the one whose history contains every other's; when none does
 * (diverged replicas), the one the others have the fewest transactions beyond; ties by order.
 */
export function mostAdvanced(nodes: NodeObservation[], h: HistoryOps): NodeObservation | undefined {
  let best: NodeObservation | undefined;
  let bestScore = Infinity;
  for (const c of nodes) {
    const mine = received(c, h);
    let score = 0;
    for (const o of nodes) if (o !== c) score += h.compare(received(o, h), mine).errantCount;
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

export function analyze(input: AnalysisInput): Condition[] {
  const { nodes, state, settings, history, now } = input;
  const held = input.held ?? {};
  const out: Condition[] = [];
  const reachable = nodes.filter((n) => n.reachable);
  if (!reachable.length) return [{ kind: "no_node_reachable" }];

  // 1. Who is the master. A newer epoch anywhere wins (another daemon promoted, or ours
  // restarted without its state).
  let master = state.master;
  let epoch = state.epoch;
  const newest = reachable.reduce<NodeObservation | undefined>((a, n) => ((n.epoch ?? 0) > (a?.epoch ?? 0) ? n : a), undefined);
  if (newest && (newest.epoch ?? 0) > state.epoch && newest.epochMaster && nodes.some((n) => n.host === newest.epochMaster)) {
    master = newest.epochMaster;
    epoch = newest.epoch ?? 0;
    out.push({ kind: "adopt_master", master, epoch, reason: `epoch ${epoch} recorded on ${newest.host} names ${master}` });
  } else if (master === undefined) {
    const writable = reachable.filter((n) => n.readOnly === false);
    if (writable.length === 1) {
      master = writable[0].host;
      out.push({ kind: "adopt_master", master, epoch: Math.max(epoch, 1), reason: `${master} is the only writable node` });
    } else if (writable.length > 1) {
      return [{ kind: "no_master", detail: `no epoch recorded and ${writable.length} writable nodes (${writable.map((n) => n.host).join(", ")}): fix by hand` }];
    } else {
      const roots = reachable.filter((n) => !n.replica);
      const followers = reachable.filter((n) => n.replica && roots.some((r) => r.host === n.replica!.sourceHost));
      // Only when every node answers: a lone reachable node must not crown itself.
      if (roots.length === 1 && reachable.length === nodes.length && followers.length === reachable.length - 1) {
        master = roots[0].host;
        out.push({ kind: "adopt_master", master, epoch: Math.max(epoch, 1), reason: `${master} is read-only but every other node replicates from it` });
      } else return [{ kind: "no_master", detail: "no epoch recorded, no writable node, and replication does not point at one node" }];
    }
  }

  const m = nodes.find((n) => n.host === master);
  const others = nodes.filter((n) => n.host !== master);

  // 2. Master reachable.
  if (m && m.reachable) {
    for (const n of others.filter(ok)) {
      if (n.readOnly === false) {
        out.push({ kind: "stale_master", node: n.host, epoch: n.epoch ?? 0, detail: `writable while ${master} holds epoch ${epoch}` });
        continue;
      }
      if (held[n.host]) continue;
      const div = state.diverged[n.host];
      const r = n.replica;
      const follows = !!r && r.sourceHost === master;
      if (div) {
        if (follows && r.io === "yes" && r.sqlRunning) out.push({ kind: "diverged_cleared", node: n.host });
        else out.push({ kind: "diverged", node: n.host, info: div });
        continue;
      }
      if (!follows) {
        out.push({ kind: "rejoin", node: n.host, detail: r ? `replicates from ${r.sourceHost}, not ${master}` : "replicates from nobody" });
        continue;
      }
      if (r.io !== "yes") out.push({ kind: "replica_link_broken", replica: n.host, master: master!, detail: r.lastIoError || `IO thread ${r.io}` });
      else if (!r.sqlRunning) out.push({ kind: "replica_stopped", replica: n.host, detail: r.lastSqlError || "SQL thread stopped" });
      else if (r.secondsBehind !== null && r.secondsBehind > settings.lagWarning) out.push({ kind: "lagging_replica", replica: n.host, seconds: r.secondsBehind });
    }
    if (m.readOnly && !others.some((n) => ok(n) && n.readOnly === false) && !(m.replica && m.replica.io === "yes")) {
      out.push({ kind: "master_read_only", master: m.host });
    }
    // MariaDB keeps Rpl_semi_sync_master_status ON with no replica attached: count the clients.
    const semi = m.semiSync;
    if (m.readOnly === false && semi?.sourceEnabled && (!semi.sourceActive || (semi.clients === 0 && others.some(ok)))) out.push({ kind: "semi_sync_off", master: m.host });
    if (!out.some((c) => c.kind !== "adopt_master")) out.push({ kind: "healthy", master: m.host });
    return out;
  }

  // 3. Master not reachable from the daemon.
  const failures = m?.failures ?? 0;
  if (failures < settings.connectRetries) {
    out.push({ kind: "master_suspect", master: master!, failures });
    return out;
  }
  // A writable node carrying an older epoch is a stale master, never a candidate: fence it.
  const stale = others.filter((n) => ok(n) && n.readOnly === false && (n.epoch ?? 0) < epoch);
  for (const n of stale) out.push({ kind: "stale_master", node: n.host, epoch: n.epoch ?? 0, detail: `writable with epoch ${n.epoch ?? 0} while ${master} holds epoch ${epoch}` });
  const seen = others.filter((n) => ok(n) && !stale.includes(n));
  // Witnesses: the replicas whose view of the master counts (held ones too); candidates: those
  // of them that may be promoted.
  const witnesses = seen.filter((n) => !state.diverged[n.host]);
  const candidates = witnesses.filter((n) => !held[n.host]);
  if (!seen.length && !stale.length) {
    out.push({ kind: "master_and_replicas_unreachable", master: master! });
    return out;
  }
  if (!candidates.length) {
    const why = [...stale.map((n) => `${n.host} stale`), ...seen.map((n) => `${n.host} ${held[n.host] ?? "diverged"}`)];
    out.push({ kind: "no_candidate", master: master!, detail: `no reachable replica fit to promote (${why.join("; ")})` });
    return out;
  }
  // Has each replica lost the master? Its IO thread says so, or it is not following the master
  // at all (a promotion interrupted after RESET), or the secondary check failed. Held replicas
  // are witnesses too: one still streaming from the master means it is alive.
  const seeing: string[] = [];
  const unasked: string[] = [];
  for (const c of witnesses) {
    const r = c.replica;
    const lostByThread = !r || r.sourceHost !== master || r.io !== "yes";
    if (lostByThread || input.secondary[c.host] === false) continue;
    if (input.secondary[c.host] === undefined) unasked.push(c.host);
    else seeing.push(c.host);
  }
  if (unasked.length) {
    out.push({ kind: "need_secondary_check", master: master!, replicas: unasked });
    return out;
  }
  if (seeing.length) {
    out.push({ kind: "master_unreachable_from_daemon", master: master!, replicasSeeingIt: seeing });
    return out;
  }
  // A majority of the replicas must be reachable: two daemons that each see a different
  // minority can then never both promote.
  const replicaCount = nodes.length - 1;
  const needed = Math.floor(replicaCount / 2) + 1;
  if (seen.length < needed) {
    out.push({ kind: "no_candidate", master: master!, detail: `only ${seen.length} of ${replicaCount} replicas reachable; ${needed} needed to decide` });
    return out;
  }
  const inWindow = failoversInWindow(state, now, settings.failoverWindow);
  const best = mostAdvanced(candidates, history)!;
  // A held replica may be the one that acknowledged the last commits (semi-sync): never promote
  // past what it received.
  for (const h of witnesses.filter((n) => held[n.host])) {
    const cmp = history.compare(received(h, history), received(best, history));
    if (cmp.prefix) continue;
    out.push({
      kind: "no_candidate",
      master: master!,
      detail: `${best.host} lacks ${cmp.errantCount} transactions ${h.host} (${held[h.host]}) received (${cmp.errant}): promoting it would lose them`,
    });
    return out;
  }
  // A promotion a killed daemon left half-done: writable, detached, and carrying the current epoch.
  const alreadyPromoted = best.readOnly === false && !best.replica && (best.epoch ?? 0) >= epoch;
  if (inWindow.length >= settings.failoverBudget && !alreadyPromoted) {
    out.push({ kind: "budget_exhausted", master: master!, failovers: inWindow.length, windowS: settings.failoverWindow });
    return out;
  }
  const why = witnesses.map((c) => (c.replica ? `${c.host} IO ${c.replica.io}${input.secondary[c.host] === false ? ", cannot reach it either" : ""}` : `${c.host} not replicating`));
  out.push({
    kind: "dead_master",
    master: master!,
    candidate: best.host,
    reason: `${master} failed ${failures} probes; ${why.join("; ")}`,
  });
  return out;
}
