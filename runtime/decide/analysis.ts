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
import type { DaemonState, DivergedNode } from "../state";
import { failoversInWindow } from "../state";
import type { Dialect, HistoryComparison, NodeObservation } from "../types";

export interface AnalysisSettings {
  connectRetries: number;
  failoverBudget: number;
  failoverWindow: number;
  lagWarning: number;
  /** Seconds a master that only times out must stay silent before it counts as dead. */
  silenceTimeout: number;
  /** Seconds to wait for every node after a total outage. */
  outageWait: number;
  /** pandora_ha keeps the master semi-synchronous (ha_semisync 1). */
  semiSync: boolean;
  /** Seconds the master's timed write may wait (not for a semi-sync acknowledgement) before its writes count as stalled. */
  writeTimeout: number;
}

export interface HistoryOps {
  /** Positions (what a node applied or received): has `b` reached `a`? */
  compare(a: string, b: string): HistoryComparison;
  /** Position `a` with `b` added. */
  union(a: string, b: string): string;
  /** Binlog histories (MariaDB gtid_binlog_state): is `a` contained in `b`? Shows divergence. */
  compareHistories(a: string, b: string): HistoryComparison;
}

/** The GTID arithmetic of a dialect, as the analysis takes it. */
export function historyOps(d: Pick<Dialect, "compareHistory" | "comparePositions" | "unionPositions">): HistoryOps {
  return { compare: (a, b) => d.comparePositions(a, b), union: (a, b) => d.unionPositions(a, b), compareHistories: (a, b) => d.compareHistory(a, b) };
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
  /** Each node's history (gtidHistory) one cycle ago: what a replica had then must be on the master now. */
  previous?: Record<string, string>;
  /** A failover asked by hand (`pandora_ha failover … --force`): the budget and the durability hold are overridden. */
  force?: boolean;
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
  /** `stalled`: the master answers reads but its writes stall: it is stopped before the candidate is promoted. */
  | { kind: "dead_master"; master: string; candidate: string; reason: string; overridden?: string[]; pastDurability?: boolean; stalled?: boolean }
  /** Dead master but too few replicas reachable to decide alone, or none fit to promote. */
  | { kind: "no_candidate"; master: string; detail: string }
  /**
   * Dead master, but promoting would risk acknowledged commits that only it has (it was not
   * durable at the daemon's last look, or the daemon never saw it), or a total outage is not
   * over: no automatic failover. It becomes the master again when it returns; `pandora_ha
   * failover --force` promotes anyway.
   */
  | { kind: "failover_held"; master: string; candidate?: string; lacking?: number; detail: string }
  /** Dead master, but the failover budget is spent: fence and alert instead. */
  | { kind: "budget_exhausted"; master: string; failovers: number; windowS: number }
  /** The master is up for the daemon, but this replica lost it: warn, no failover. */
  | { kind: "replica_link_broken"; replica: string; master: string; detail: string }
  | { kind: "replica_stopped"; replica: string; detail: string }
  /** A replica of the master whose IO thread is stopped (a failover that failed half-way, a STOP SLAVE): started again. */
  | { kind: "restart_replication"; replica: string; detail: string }
  | { kind: "lagging_replica"; replica: string; seconds: number }
  /** Semi-sync fell back to async on the master: a failover now may lose acknowledged writes. */
  | { kind: "semi_sync_off"; master: string }
  /** A node other than the master is writable: fence it (read-only, clients killed) at once. */
  | { kind: "stale_master"; node: string; epoch: number; detail: string }
  /** The master is up but read-only (restarted, or a promotion was interrupted): make it writable. */
  | { kind: "master_read_only"; master: string; reason: string }
  /** The master was made read-only by hand (seen writable, not restarted since, not fenced by us): left so. */
  | { kind: "master_read_only_by_hand"; master: string }
  /** A replica holds transactions the master lacks (written on it by hand): reported. */
  | { kind: "errant_replica"; node: string; errant: string; count: number }
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
  "restart_replication",
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
export function received(n: NodeObservation, h: HistoryOps): string {
  const executed = n.gtidExecuted ?? "";
  const relay = n.replica?.receivedGtid ?? "";
  if (!relay) return executed;
  if (!executed) return relay;
  return h.union(executed, relay);
}

/**
 * Replicas that may witness but never be promoted automatically, with why: those held (disabled,
 * being resynced) and those holding errant transactions (a write made there by hand would become
 * the cluster's history, and its replication stops at the master's next write in that domain).
 */
function unfit(input: AnalysisInput): Record<string, string> {
  const out: Record<string, string> = { ...input.held };
  for (const [host, errant] of Object.entries(input.state.errant ?? {})) out[host] ??= `holds errant transactions ${errant}`;
  return out;
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

/** Why a failover asked by hand cannot happen, from the conditions the analysis named instead. */
export function refusal(conds: Condition[], confPath: string): string {
  const c = conds[0];
  if (!c) return "nothing to decide";
  switch (c.kind) {
    case "healthy":
    case "master_read_only":
    case "master_read_only_by_hand":
    case "semi_sync_off":
      return `the master ${"master" in c ? c.master : ""} answers: use pandora_ha switchover ${confPath} <host>`;
    case "master_suspect":
      return `${c.master} failed ${c.failures} probes and is not dead yet for the daemon: try again in a few seconds`;
    case "master_unreachable_from_daemon":
      return `${c.replicasSeeingIt.join(", ")} still replicate from ${c.master}: it is alive (check this host's network)`;
    case "need_secondary_check":
      return `${c.replicas.join(", ")} not asked yet whether they reach ${c.master}: try again`;
    case "master_and_replicas_unreachable":
      return `${c.master} and every replica are unreachable from here: this host may be the one cut off`;
    case "no_candidate":
      return c.detail;
    case "failover_held":
      return `${c.detail}; add --force to promote anyway`;
    case "budget_exhausted":
      return `the failover budget is spent (${c.failovers} in ${c.windowS} s); add --force to promote anyway`;
    default:
      return conds.map((x) => x.kind).join(", ");
  }
}

export function analyze(input: AnalysisInput): Condition[] {
  const reachable = input.nodes.filter((n) => n.reachable);
  if (!reachable.length) return [{ kind: "no_node_reachable" }];
  const out: Condition[] = [];
  const known = whoIsMaster(input, reachable, out);
  if (!known) return out;
  const m = input.nodes.find((n) => n.host === known.master);
  if (m && m.reachable) return [...out, ...reachableMaster(input, m, known.epoch)];
  return [...out, ...lostMaster(input, known.master, known.epoch)];
}

/**
 * 1. Who is the master. A newer epoch anywhere wins (another daemon promoted, or ours restarted
 * without its state); before any epoch, the one writable node. Undefined (with the reason in
 * `out`) when it cannot be told.
 */
function whoIsMaster(input: AnalysisInput, reachable: NodeObservation[], out: Condition[]): { master: string; epoch: number } | undefined {
  const { nodes, state } = input;
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
      out.push({ kind: "no_master", detail: `no epoch recorded and ${writable.length} writable nodes (${writable.map((n) => n.host).join(", ")}): fix by hand` });
      return undefined;
    } else {
      const roots = reachable.filter((n) => !n.replica);
      const followers = reachable.filter((n) => n.replica && roots.some((r) => r.host === n.replica!.sourceHost));
      // Only when every node answers: a lone reachable node must not crown itself.
      if (!(roots.length === 1 && reachable.length === nodes.length && followers.length === reachable.length - 1)) {
        out.push({ kind: "no_master", detail: "no epoch recorded, no writable node, and replication does not point at one node" });
        return undefined;
      }
      master = roots[0].host;
      out.push({ kind: "adopt_master", master, epoch: Math.max(epoch, 1), reason: `${master} is read-only but every other node replicates from it` });
    }
  }
  return { master, epoch };
}

/**
 * The master answers reads, but the daemon's timed write has waited ha_write_timeout seconds, and
 * not for a semi-sync acknowledgement (no session waits for one): its binary-log volume is full or
 * its disk hangs. Promoted away from like a dead master, when the replicas still follow it (they
 * have everything it committed: nothing new can have been).
 */
function stalledMaster(input: AnalysisInput, m: NodeObservation, epoch: number): Condition | undefined {
  const stalledMs = m.writePendingMs ?? 0;
  if (m.readOnly !== false || stalledMs < input.settings.writeTimeout * 1000 || (m.semiSyncDetail?.waitSessions ?? 0) > 0) return undefined;
  // A lock (a backup's, FLUSH TABLES WITH READ LOCK, a long transaction's) is not a stalled disk.
  if (/lock|semi-sync/i.test(m.writeState ?? "")) return undefined;
  const followers = input.nodes.filter((n) => ok(n) && n.host !== m.host && n.readOnly !== false && n.replica?.sourceHost === m.host && !input.state.diverged[n.host]);
  const candidates = followers.filter((n) => !unfit(input)[n.host]);
  const what = `${m.host} answers but its writes have stalled for ${Math.round(stalledMs / 1000)} s`;
  if (!candidates.length) return { kind: "no_candidate", master: m.host, detail: `${what}, and no replica fit to promote follows it` };
  const c = promotion(input, m.host, epoch, followers, candidates);
  return c.kind === "dead_master" ? { ...c, stalled: true, reason: `${what} (binary-log volume full or disk hung); ${c.candidate} follows it with everything it committed` } : c;
}

/** 2. The master answers: fence rivals, rejoin strays, warn about replication. */
function reachableMaster(input: AnalysisInput, m: NodeObservation, epoch: number): Condition[] {
  const { nodes, state, settings, history } = input;
  const held = input.held ?? {};
  const out: Condition[] = [];
  const master = m.host;
  const stalled = stalledMaster(input, m, epoch);
  if (stalled) return [stalled];
  const others = nodes.filter((n) => n.host !== master);
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
      else if (div.retry && input.now >= div.retry.at) out.push({ kind: "rejoin", node: n.host, detail: `tried again (${div.retry.tries} failed: ${div.retry.cause})` });
      else out.push({ kind: "diverged", node: n.host, info: div });
      continue;
    }
    if (!follows) {
      out.push({ kind: "rejoin", node: n.host, detail: r ? `replicates from ${r.sourceHost}, not ${master}` : "replicates from nobody" });
      continue;
    }
    // What a replica had a cycle ago must be on the master by now: anything else was written on it.
    const before = input.previous?.[n.host];
    const errant = before !== undefined && m.gtidHistory !== undefined ? history.compareHistories(before, m.gtidHistory) : undefined;
    if (errant && !errant.prefix) out.push({ kind: "errant_replica", node: n.host, errant: errant.errant, count: errant.errantCount });
    if (r.io === "no") out.push({ kind: "restart_replication", replica: n.host, detail: `IO thread stopped${r.lastIoError ? ` (last error: ${r.lastIoError})` : ""}${r.sqlRunning ? "" : ", SQL thread too"}` });
    else if (r.io !== "yes") out.push({ kind: "replica_link_broken", replica: n.host, master, detail: r.lastIoError || `IO thread ${r.io}` });
    else if (!r.sqlRunning) out.push({ kind: "replica_stopped", replica: n.host, detail: r.lastSqlError || "SQL thread stopped" });
    else if (r.secondsBehind !== null && r.secondsBehind > settings.lagWarning) out.push({ kind: "lagging_replica", replica: n.host, seconds: r.secondsBehind });
  }
  if (m.readOnly && !others.some((n) => ok(n) && n.readOnly === false) && !(m.replica && m.replica.io === "yes")) out.push(readOnlyMaster(state, m));
  // MariaDB keeps Rpl_semi_sync_master_status ON with no replica attached: count the clients.
  const semi = m.semiSync;
  // When pandora_ha keeps the master durable it switches it to asynchronous itself, and says so;
  // otherwise (ha_semisync 0) the server's own fallback is reported here.
  if (!settings.semiSync && m.readOnly === false && semi?.sourceEnabled && (!semi.sourceActive || (semi.clients === 0 && others.some(ok)))) out.push({ kind: "semi_sync_off", master });
  if (!out.length) out.push({ kind: "healthy", master });
  return out;
}

/**
 * The master is read-only. Made writable again when it restarted (every node starts
 * read-only), when pandora_ha fenced it itself (a switchover that failed half-way) or never saw
 * it writable (a promotion interrupted); left read-only, with an event, when it was seen
 * writable and has not restarted since: somebody set read_only by hand.
 */
function readOnlyMaster(state: AnalysisInput["state"], m: NodeObservation): Condition {
  const w = state.lastWritable;
  if (state.fenced.includes(m.host)) return { kind: "master_read_only", master: m.host, reason: "fenced by pandora_ha in a failover or switchover that did not complete" };
  if (!w || w.host !== m.host) return { kind: "master_read_only", master: m.host, reason: "never seen writable since it was named master (an interrupted promotion)" };
  if (m.uptime !== undefined && m.uptime + 2 < w.uptime + (m.at - w.at) / 1000) return { kind: "master_read_only", master: m.host, reason: `restarted ${m.uptime} s ago (every node starts read-only)` };
  return { kind: "master_read_only_by_hand", master: m.host };
}

/** 3. The master does not answer the daemon: is it dead for everyone, and may we promote? */
function lostMaster(input: AnalysisInput, master: string, epoch: number): Condition[] {
  const { nodes, state, settings } = input;
  const held = unfit(input);
  const m = nodes.find((n) => n.host === master);
  const failures = m?.failures ?? 0;
  if (failures < settings.connectRetries) return [{ kind: "master_suspect", master, failures }];
  // A refused connection is a dead server; a time-out is only silence, which must last.
  const silentMs = m?.failingSince !== undefined ? input.now - m.failingSince : 0;
  if (!m?.refused && silentMs < settings.silenceTimeout * 1000) return [{ kind: "master_suspect", master, failures }];
  const out: Condition[] = [];
  const others = nodes.filter((n) => n.host !== master);
  // A writable node carrying an older epoch is a stale master, never a candidate: fence it.
  const stale = others.filter((n) => ok(n) && n.readOnly === false && (n.epoch ?? 0) < epoch);
  for (const n of stale) out.push({ kind: "stale_master", node: n.host, epoch: n.epoch ?? 0, detail: `writable with epoch ${n.epoch ?? 0} while ${master} holds epoch ${epoch}` });
  const seen = others.filter((n) => ok(n) && !stale.includes(n));
  // Witnesses: the replicas whose view of the master counts (held ones too); candidates: those
  // of them that may be promoted.
  const witnesses = seen.filter((n) => !state.diverged[n.host]);
  const candidates = witnesses.filter((n) => !held[n.host]);
  if (!seen.length && !stale.length) return [...out, { kind: "master_and_replicas_unreachable", master }];
  if (!candidates.length) {
    const why = [...stale.map((n) => `${n.host} stale`), ...seen.map((n) => `${n.host} ${held[n.host] ?? "diverged"}`)];
    return [...out, { kind: "no_candidate", master, detail: `no reachable replica fit to promote (${why.join("; ")})` }];
  }
  const lost = lostForWitnesses(input, master, witnesses);
  if (lost) return [...out, lost];
  // A majority of the replicas must be reachable: two daemons that each see a different
  // minority can then never both promote.
  const replicaCount = nodes.length - 1;
  const needed = Math.floor(replicaCount / 2) + 1;
  if (seen.length < needed) return [...out, { kind: "no_candidate", master, detail: `only ${seen.length} of ${replicaCount} replicas reachable; ${needed} needed to decide` }];
  return [...out, promotion(input, master, epoch, witnesses, candidates)];
}

/**
 * Has each witness lost the master? Its IO thread says so, or it is not following the master at
 * all (a promotion interrupted after RESET), or the secondary check failed. Held replicas are
 * witnesses too: one still streaming from the master means it is alive. Undefined when every
 * witness lost it.
 */
function lostForWitnesses(input: AnalysisInput, master: string, witnesses: NodeObservation[]): Condition | undefined {
  const seeing: string[] = [];
  const unasked: string[] = [];
  for (const c of witnesses) {
    const r = c.replica;
    const lostByThread = !r || r.sourceHost !== master || r.io !== "yes";
    if (lostByThread || input.secondary[c.host] === false) continue;
    if (input.secondary[c.host] === undefined) unasked.push(c.host);
    else seeing.push(c.host);
  }
  if (unasked.length) return { kind: "need_secondary_check", master, replicas: unasked };
  if (seeing.length) return { kind: "master_unreachable_from_daemon", master, replicasSeeingIt: seeing };
  return undefined;
}

/** The master is dead for everyone: whom to promote, or why not now. */
function promotion(input: AnalysisInput, master: string, epoch: number, witnesses: NodeObservation[], candidates: NodeObservation[]): Condition {
  const { state, settings, history, now } = input;
  const held = unfit(input);
  const best = mostAdvanced(candidates, history)!;
  // A held or errant replica may be the one that acknowledged the last commits (semi-sync):
  // never promote past what it received.
  for (const h of witnesses.filter((n) => held[n.host])) {
    const cmp = history.compare(received(h, history), received(best, history));
    if (!cmp.prefix) {
      return { kind: "no_candidate", master, detail: `${best.host} lacks ${cmp.errantCount} transactions ${h.host} (${held[h.host]}) received (${cmp.errant}): promoting it would lose them` };
    }
  }
  // A promotion a killed daemon left half-done: writable, detached, and carrying the current epoch.
  const alreadyPromoted = best.readOnly === false && !best.replica && (best.epoch ?? 0) >= epoch;
  const overridden: string[] = [];
  let pastDurability = false;
  if (!alreadyPromoted) {
    const risk = writesAtRisk(input, master, best);
    if (risk && !input.force) return risk;
    if (risk) {
      overridden.push(risk.detail);
      pastDurability = true;
    }
    const inWindow = failoversInWindow(state, now, settings.failoverWindow);
    if (inWindow.length >= settings.failoverBudget) {
      if (!input.force) return { kind: "budget_exhausted", master, failovers: inWindow.length, windowS: settings.failoverWindow };
      overridden.push(`the failover budget (${inWindow.length} in ${settings.failoverWindow} s)`);
    }
  }
  const why = witnesses.map((c) => (c.replica ? `${c.host} IO ${c.replica.io}${input.secondary[c.host] === false ? ", cannot reach it either" : ""}` : `${c.host} not replicating`));
  const m = input.nodes.find((n) => n.host === master);
  const reason = `${master} ${m?.refused ? "refused" : "failed"} ${m?.failures ?? 0} probes; ${why.join("; ")}`;
  return { kind: "dead_master", master, candidate: best.host, reason, ...(overridden.length ? { overridden } : {}), ...(pastDurability ? { pastDurability } : {}) };
}

/**
 * May promoting `best` lose a commit the dead master acknowledged? Not when the daemon's last look
 * found it durable (semi-sync in force with no fallback of its own: every acknowledged commit is
 * on a replica, and the most advanced replica has what any of them received). Otherwise the
 * master may hold acknowledged commits no replica has: held. With ha_semisync 0 (asynchronous by
 * choice) only when `best` lacks something the master had at that look. After a total outage,
 * held until every node has answered (or ha_outage_wait has passed), so that the most advanced
 * becomes master whichever comes back first.
 */
function writesAtRisk(input: AnalysisInput, master: string, best: NodeObservation): Extract<Condition, { kind: "failover_held" }> | undefined {
  const { state, settings, history, now } = input;
  const seen = state.lastMaster?.host === master ? state.lastMaster : undefined;
  const back = state.outageBackAt ?? now;
  if (state.allDownSince !== undefined && now - back < settings.outageWait * 1000) {
    const left = Math.ceil((settings.outageWait * 1000 - (now - back)) / 1000);
    return { kind: "failover_held", master, candidate: best.host, detail: `every node was down: waiting for ${master} too (up to ${left} s more) so that the most advanced node becomes master` };
  }
  if (!seen) return { kind: "failover_held", master, candidate: best.host, detail: `pandora_ha never saw ${master} answer, so it cannot tell what ${master} acknowledged` };
  if (seen.durable) return undefined;
  const lacks = history.compare(seen.gtid, received(best, history));
  const at = new Date(seen.at).toISOString();
  if (!settings.semiSync && lacks.prefix) return undefined;
  const missing = lacks.prefix ? "" : `; ${best.host} lacks ${lacks.errantCount} of the transactions it had then (${lacks.errant})`;
  return {
    kind: "failover_held",
    master,
    candidate: best.host,
    lacking: lacks.errantCount,
    detail: `${master} was not durable at the last look (${at}: ${seen.why ?? "asynchronous"}), so it may have acknowledged commits no replica has${missing}`,
  };
}
