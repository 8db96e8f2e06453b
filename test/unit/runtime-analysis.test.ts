/**
 * analyze(): the pure decision function of pandora_ha, table-driven over observation sets.
 * Every row asserts the exact list of condition kinds (in order) and the key fields of each.
 */
import { describe, expect, test } from "vitest";
import { analyze, describeNode, historyOps, mostAdvanced, received } from "../../runtime/decide/analysis";
import type { AnalysisSettings, Condition, HistoryOps } from "../../runtime/decide/analysis";
import { MARIADB, MYSQL80 } from "../../runtime/dialect";
import { teventoStatements } from "../../runtime/publish/events";
import type { HaEvent } from "../../runtime/publish/events";
import type { DaemonState } from "../../runtime/state";
import { commonPosition } from "../../runtime/act/truncate";
import type { NodeObservation } from "../../runtime/types";
import { HOUR, MIN, NOW, SEMI_UP, down, master, replica, state } from "./observations";

// ---------------------------------------------------------------------------------------------
// Factories

const MARIA_OPS: HistoryOps = historyOps(MARIADB);
const MYSQL_OPS: HistoryOps = historyOps(MYSQL80);

const SETTINGS: AnalysisSettings = { connectRetries: 2, failoverBudget: 1, failoverWindow: 3600, lagWarning: 30, silenceTimeout: 4, outageWait: 60, semiSync: true, writeTimeout: 5 };

interface Row {
  name: string;
  nodes: NodeObservation[];
  state?: DaemonState;
  settings?: Partial<AnalysisSettings>;
  secondary?: Record<string, boolean | undefined>;
  held?: Record<string, string>;
  previous?: Record<string, string>;
  force?: boolean;
  history?: HistoryOps;
  /** The exact kinds, in order. */
  kinds: Condition["kind"][];
  /** Key fields of each condition (same length as kinds). */
  match?: Array<Record<string, unknown>>;
}

function run(row: Omit<Row, "name" | "kinds" | "match">): Condition[] {
  return analyze({
    nodes: row.nodes,
    state: row.state ?? state(),
    settings: { ...SETTINGS, ...row.settings },
    history: row.history ?? MARIA_OPS,
    now: NOW,
    secondary: row.secondary ?? {},
    held: row.held,
    previous: row.previous,
    force: row.force,
  });
}

function check(rows: Row[]): void {
  test.each(rows.map((r) => [r.name, r] as const))("%s", (_name, row) => {
    const conds = run(row);
    expect(conds.map((c) => c.kind)).toEqual(row.kinds);
    if (row.match) {
      expect(row.match).toHaveLength(row.kinds.length);
      expect(conds).toMatchObject(row.match);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The truth table: 2 DB nodes + the daemon

describe("analyze: truth table (db1 master, db2 replica, the daemon)", () => {
  check([
    {
      name: "(1) daemon sees the master, replica IO yes: healthy",
      nodes: [master("db1"), replica("db2")],
      kinds: ["healthy"],
      match: [{ master: "db1" }],
    },
    {
      name: "(2a) daemon sees the master, replica IO connecting: replica_link_broken, no failover",
      nodes: [master("db1"), replica("db2", { io: "connecting" })],
      kinds: ["replica_link_broken"],
      match: [{ replica: "db2", master: "db1", detail: "IO thread connecting" }],
    },
    {
      name: "(2b) daemon sees the master, replica IO thread stopped (with its last error): restart_replication, no failover",
      nodes: [master("db1"), replica("db2", { io: "no", lastIoError: "error reconnecting to master 'db1:3306'" })],
      kinds: ["restart_replication"],
      match: [{ replica: "db2", detail: "IO thread stopped (last error: error reconnecting to master 'db1:3306')" }],
    },
    {
      name: "(3) daemon lost the master, replica IO yes, secondary not asked: need_secondary_check",
      nodes: [down("db1", 2), replica("db2")],
      kinds: ["need_secondary_check"],
      match: [{ master: "db1", replicas: ["db2"] }],
    },
    {
      name: "(4) ... secondary says the replica reaches it: master_unreachable_from_daemon (no failover)",
      nodes: [down("db1", 2), replica("db2")],
      secondary: { db2: true },
      kinds: ["master_unreachable_from_daemon"],
      match: [{ master: "db1", replicasSeeingIt: ["db2"] }],
    },
    {
      name: "(5) ... secondary says the replica cannot reach it either: dead_master, candidate db2",
      nodes: [down("db1", 2), replica("db2")],
      secondary: { db2: false },
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2", reason: "db1 failed 2 probes; db2 IO yes, cannot reach it either" }],
    },
    {
      name: "(6) daemon lost the master, replica IO connecting: dead_master without the secondary check",
      nodes: [down("db1", 2), replica("db2", { io: "connecting" })],
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2", reason: "db1 failed 2 probes; db2 IO connecting" }],
    },
    {
      name: "(6b) daemon lost the master, replica IO no: dead_master too",
      nodes: [down("db1", 3), replica("db2", { io: "no" })],
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2", reason: "db1 failed 3 probes; db2 IO no" }],
    },
    {
      // With two DB nodes, "the daemon lost the master and the replica" is "no node reachable":
      // analyze() returns no_node_reachable before anything else (nothing is done either way).
      // master_and_replicas_unreachable is never produced here (see the diverged rows below).
      name: "(7) daemon lost the master (2 failures) and the replica too: no_node_reachable, no failover",
      nodes: [down("db1", 2), down("db2", 2)],
      kinds: ["no_node_reachable"],
      match: [{ kind: "no_node_reachable" }],
    },
    {
      name: "(7b) 3 nodes: the master and both replicas lost: no_node_reachable, no failover",
      nodes: [down("db1", 5), down("db2", 1), down("db3", 3)],
      kinds: ["no_node_reachable"],
      match: [{ kind: "no_node_reachable" }],
    },
    {
      name: "(8) master failed once only (1 < connectRetries): master_suspect",
      nodes: [down("db1", 1), replica("db2", { io: "connecting" })],
      kinds: ["master_suspect"],
      match: [{ master: "db1", failures: 1 }],
    },
    {
      name: "(8b) connectRetries 3: two failures are still a suspicion",
      nodes: [down("db1", 2), replica("db2", { io: "connecting" })],
      settings: { connectRetries: 3 },
      kinds: ["master_suspect"],
      match: [{ master: "db1", failures: 2 }],
    },
    {
      name: "(9) no node reachable: no_node_reachable, nothing else",
      nodes: [down("db1", 4), down("db2", 4)],
      kinds: ["no_node_reachable"],
      match: [{ kind: "no_node_reachable" }],
    },
    {
      name: "(10) the secondary check could not be run (undefined): still need_secondary_check, never dead_master",
      nodes: [down("db1", 2), replica("db2")],
      secondary: { db2: undefined },
      kinds: ["need_secondary_check"],
      match: [{ master: "db1", replicas: ["db2"] }],
    },
    {
      name: "(10b) 3 nodes: one replica answered true, the other not asked: ask that one first",
      nodes: [down("db1", 2), replica("db2"), replica("db3")],
      secondary: { db2: true },
      kinds: ["need_secondary_check"],
      match: [{ master: "db1", replicas: ["db3"] }],
    },
    {
      name: "(10c) 3 nodes: db2 lost it by thread, db3 still reaches it (secondary true): no failover",
      nodes: [down("db1", 2), replica("db2", { io: "connecting" }), replica("db3")],
      secondary: { db3: true },
      kinds: ["master_unreachable_from_daemon"],
      match: [{ master: "db1", replicasSeeingIt: ["db3"] }],
    },
    {
      name: "(10d) 3 nodes: db2 IO connecting, db3 IO yes but cannot reach it (secondary false): dead_master",
      nodes: [down("db1", 2), replica("db2", { io: "connecting" }), replica("db3")],
      secondary: { db3: false },
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2", reason: "db1 failed 2 probes; db2 IO connecting; db3 IO yes, cannot reach it either" }],
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Nodes held out of automatic actions (disabled in the console, being resynced)

describe("analyze: held nodes", () => {
  const DISABLED = "disabled in the console";
  check([
    {
      name: "dead master, the only replica disabled: no_candidate naming why, no failover",
      nodes: [down("db1", 2), replica("db2", { io: "connecting" })],
      held: { db2: DISABLED },
      kinds: ["no_candidate"],
      match: [{ master: "db1", detail: "no reachable replica fit to promote (db2 disabled in the console)" }],
    },
    {
      name: "dead master, 3 nodes, db2 disabled: db3 promoted (it has all db2 received)",
      nodes: [down("db1", 2), replica("db2", { io: "connecting" }), replica("db3", { io: "connecting", receivedGtid: "0-1-120" })],
      held: { db2: DISABLED },
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db3", reason: "db1 failed 2 probes; db2 IO connecting; db3 IO connecting" }],
    },
    {
      name: "dead master, 3 nodes, db2 disabled but still streaming: a witness like any replica, asked too",
      nodes: [down("db1", 2), replica("db2"), replica("db3")],
      held: { db2: DISABLED },
      kinds: ["need_secondary_check"],
      match: [{ master: "db1", replicas: ["db2", "db3"] }],
    },
    {
      name: "dead master, 3 nodes, db2 disabled still reaches it (secondary true): no failover",
      nodes: [down("db1", 2), replica("db2"), replica("db3", { io: "connecting" })],
      held: { db2: DISABLED },
      secondary: { db2: true },
      kinds: ["master_unreachable_from_daemon"],
      match: [{ master: "db1", replicasSeeingIt: ["db2"] }],
    },
    {
      name: "dead master, 3 nodes, db2 disabled received more than db3: no failover (it may hold acknowledged commits)",
      nodes: [down("db1", 2), replica("db2", { io: "connecting", receivedGtid: "0-1-120" }), replica("db3", { io: "connecting", receivedGtid: "0-1-110" })],
      held: { db2: DISABLED },
      kinds: ["no_candidate"],
      match: [{ master: "db1", detail: "db3 lacks 10 transactions db2 (disabled in the console) received (0-1-120): promoting it would lose them" }],
    },
    {
      name: "a held replica that does not replicate is not rejoined",
      nodes: [master("db1"), replica("db2", {}, { replica: undefined })],
      held: { db2: "being resynced from db1" },
      kinds: ["healthy"],
      match: [{ master: "db1" }],
    },
    {
      name: "a held replica's broken link and lag raise nothing",
      nodes: [master("db1"), replica("db2", { io: "connecting", secondsBehind: 500 }), replica("db3", { secondsBehind: 40 })],
      held: { db2: DISABLED },
      kinds: ["lagging_replica"],
      match: [{ replica: "db3", seconds: 40 }],
    },
    {
      name: "a held diverged replica is neither cleared nor reported",
      nodes: [master("db1"), replica("db2")],
      state: state({ diverged: { db2: { since: NOW - HOUR, errant: "0-2-5", errantCount: 5 } } }),
      held: { db2: "being resynced from db1" },
      kinds: ["healthy"],
      match: [{ master: "db1" }],
    },
    {
      name: "a held node that is writable beside the master is still fenced",
      nodes: [master("db1"), replica("db2", {}, { readOnly: false, replica: undefined })],
      held: { db2: DISABLED },
      kinds: ["stale_master"],
      match: [{ node: "db2" }],
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Warnings with the master up

describe("analyze: replica and master warnings", () => {
  check([
    {
      name: "replica 31 s behind (> lagWarning 30): lagging_replica",
      nodes: [master("db1"), replica("db2", { secondsBehind: 31 })],
      kinds: ["lagging_replica"],
      match: [{ replica: "db2", seconds: 31 }],
    },
    {
      name: "replica 30 s behind (= lagWarning): healthy",
      nodes: [master("db1"), replica("db2", { secondsBehind: 30 })],
      kinds: ["healthy"],
      match: [{ master: "db1" }],
    },
    {
      name: "secondsBehind unknown (null) with both threads running: healthy",
      nodes: [master("db1"), replica("db2", { secondsBehind: null })],
      kinds: ["healthy"],
      match: [{ master: "db1" }],
    },
    {
      name: "SQL thread stopped: replica_stopped",
      nodes: [master("db1"), replica("db2", { sqlRunning: false, secondsBehind: null })],
      kinds: ["replica_stopped"],
      match: [{ replica: "db2", detail: "SQL thread stopped" }],
    },
    {
      name: "SQL thread stopped on an error: replica_stopped with the error",
      nodes: [master("db1"), replica("db2", { sqlRunning: false, lastSqlError: "Error 'Duplicate entry' on query" })],
      kinds: ["replica_stopped"],
      match: [{ replica: "db2", detail: "Error 'Duplicate entry' on query" }],
    },
    {
      name: "IO broken and SQL stopped: only replica_link_broken (IO first)",
      nodes: [master("db1"), replica("db2", { io: "connecting", sqlRunning: false })],
      kinds: ["replica_link_broken"],
      match: [{ replica: "db2", master: "db1" }],
    },
    {
      name: "semi-sync fell back to async on the master: semi_sync_off",
      nodes: [master("db1", { semiSync: { ...SEMI_UP, sourceActive: false, clients: 0 } }), replica("db2")],
      settings: { semiSync: false },
      kinds: ["semi_sync_off"],
      match: [{ master: "db1" }],
    },
    {
      name: "semi-sync not enabled at all: healthy (nothing fell back)",
      nodes: [master("db1", { semiSync: { sourceEnabled: false, sourceActive: false, clients: 0, replicaEnabled: false } }), replica("db2")],
      kinds: ["healthy"],
      match: [{ master: "db1" }],
    },
    {
      name: "3 nodes: one lagging, one stopped, semi-sync off: each reported, in node order",
      nodes: [master("db1", { semiSync: { ...SEMI_UP, sourceActive: false } }), replica("db2", { secondsBehind: 120 }), replica("db3", { sqlRunning: false })],
      settings: { semiSync: false },
      kinds: ["lagging_replica", "replica_stopped", "semi_sync_off"],
      match: [{ replica: "db2", seconds: 120 }, { replica: "db3" }, { master: "db1" }],
    },
    {
      name: "master reachable but read-only, no other writable node: master_read_only",
      nodes: [master("db1", { readOnly: true }), replica("db2")],
      kinds: ["master_read_only"],
      match: [{ master: "db1" }],
    },
    {
      name: "master read-only while another node is writable: stale_master only, never master_read_only",
      nodes: [master("db1", { readOnly: true }), master("db2")],
      kinds: ["stale_master"],
      match: [{ node: "db2", epoch: 1, detail: "writable while db1 holds epoch 1" }],
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// The failover budget

describe("analyze: failover budget", () => {
  const lost = () => [down("db1", 2), replica("db2", { io: "connecting" })];
  check([
    {
      name: "one failover 10 minutes ago, budget 1: budget_exhausted instead of dead_master",
      nodes: lost(),
      state: state({ failovers: [NOW - 10 * MIN] }),
      kinds: ["budget_exhausted"],
      match: [{ master: "db1", failovers: 1, windowS: 3600 }],
    },
    {
      name: "one failover 2 hours ago (outside the window): dead_master",
      nodes: lost(),
      state: state({ failovers: [NOW - 2 * HOUR] }),
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2" }],
    },
    {
      name: "one failover exactly failoverWindow ago: out of the window, dead_master",
      nodes: lost(),
      state: state({ failovers: [NOW - 3600 * 1000] }),
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2" }],
    },
    {
      name: "one failover 1 ms inside the window: budget_exhausted",
      nodes: lost(),
      state: state({ failovers: [NOW - 3600 * 1000 + 1] }),
      kinds: ["budget_exhausted"],
      match: [{ master: "db1", failovers: 1, windowS: 3600 }],
    },
    {
      name: "budget 0: budget_exhausted with no failover at all",
      nodes: lost(),
      settings: { failoverBudget: 0 },
      kinds: ["budget_exhausted"],
      match: [{ master: "db1", failovers: 0, windowS: 3600 }],
    },
    {
      name: "budget 2 with one failover in the window: dead_master",
      nodes: lost(),
      settings: { failoverBudget: 2 },
      state: state({ failovers: [NOW - 10 * MIN] }),
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2" }],
    },
    {
      name: "candidate already promoted (writable, no replication: interrupted promotion), budget spent: still finished",
      nodes: [down("db1", 2), master("db2")],
      state: state({ failovers: [NOW - 10 * MIN] }),
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2", reason: "db1 failed 2 probes; db2 not replicating" }],
    },
    {
      name: "candidate already promoted, budget 0: still finished",
      nodes: [down("db1", 2), master("db2")],
      settings: { failoverBudget: 0 },
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2" }],
    },
    {
      name: "flapping: after a failover to db2 (epoch 2) db2 dies, db1 replicates from it: budget_exhausted",
      nodes: [replica("db1", { sourceHost: "db2", io: "connecting" }, { epoch: 2, epochMaster: "db2" }), down("db2", 2)],
      state: state({ master: "db2", epoch: 2, failovers: [NOW - 60_000], lastMaster: { host: "db2", at: NOW - 1000, gtid: "0-1-100", durable: true, readOnly: false } }),
      kinds: ["budget_exhausted"],
      match: [{ master: "db2", failovers: 1, windowS: 3600 }],
    },
    {
      // db1 came back writable with epoch 1 (cut off, never fenced) while the cluster is at epoch
      // 2: a stale master, not an interrupted promotion (that one carries the current epoch). It
      // is fenced and never promoted, whatever the budget.
      name: "flapping: db2 (epoch 2) dies while the old master db1 is back writable with epoch 1: db1 fenced, never promoted",
      nodes: [master("db1"), down("db2", 2)],
      state: state({ master: "db2", epoch: 2, failovers: [NOW - 60_000] }),
      kinds: ["stale_master", "no_candidate"],
      match: [{ node: "db1", epoch: 1 }, { master: "db2" }],
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// After a failover: the old master, rejoin, divergence

describe("analyze: after a failover to db2 (epoch 2)", () => {
  const after = (over: Partial<DaemonState> = {}) => state({ master: "db2", epoch: 2, failovers: [NOW - 10 * MIN], ...over });
  const db2 = () => master("db2", { epoch: 2, epochMaster: "db2", gtidHistory: "0-1-100,0-2-150", gtidExecuted: "0-2-150" });
  const divergedInfo = { since: NOW - HOUR, errant: "0-1-101", errantCount: 1 };
  check([
    {
      name: "old master db1 back writable with epoch 1: stale_master db1",
      nodes: [master("db1"), db2()],
      state: after(),
      kinds: ["stale_master"],
      match: [{ node: "db1", epoch: 1, detail: "writable while db2 holds epoch 2" }],
    },
    {
      name: "db1 read-only, not replicating: rejoin",
      nodes: [master("db1", { readOnly: true, epoch: 2, epochMaster: "db2" }), db2()],
      state: after(),
      kinds: ["rejoin"],
      match: [{ node: "db1", detail: "replicates from nobody" }],
    },
    {
      name: "db1 read-only, replicating from db2: healthy",
      nodes: [replica("db1", { sourceHost: "db2" }, { epoch: 2, epochMaster: "db2" }), db2()],
      state: after(),
      kinds: ["healthy"],
      match: [{ master: "db2" }],
    },
    {
      name: "3 nodes: db3 still replicates from the old master: rejoin db3",
      nodes: [replica("db1", { sourceHost: "db2" }, { epoch: 2, epochMaster: "db2" }), db2(), replica("db3", { sourceHost: "db1" }, { epoch: 2, epochMaster: "db2" })],
      state: after(),
      kinds: ["rejoin"],
      match: [{ node: "db3", detail: "replicates from db1, not db2" }],
    },
    {
      name: "db1 diverged in state and not replicating: diverged",
      nodes: [master("db1", { readOnly: true, gtidHistory: "0-1-101" }), db2()],
      state: after({ diverged: { db1: divergedInfo } }),
      kinds: ["diverged"],
      match: [{ node: "db1", info: divergedInfo }],
    },
    {
      name: "db1 diverged by a rejoin that failed (disk full), its retry not due yet: diverged",
      nodes: [master("db1", { readOnly: true, gtidHistory: "0-1-101" }), db2()],
      state: after({ diverged: { db1: { ...divergedInfo, retry: { cause: "undoing its tail failed (disk full)", tries: 1, at: NOW + 1 } } } }),
      kinds: ["diverged"],
      match: [{ node: "db1" }],
    },
    {
      name: "db1 diverged by a rejoin that failed, its retry due: rejoin again",
      nodes: [master("db1", { readOnly: true, gtidHistory: "0-1-101" }), db2()],
      state: after({ diverged: { db1: { ...divergedInfo, retry: { cause: "undoing its tail failed (disk full)", tries: 2, at: NOW } } } }),
      kinds: ["rejoin"],
      match: [{ node: "db1", detail: "tried again (2 failed: undoing its tail failed (disk full))" }],
    },
    {
      name: "db1 diverged, replicating from db2 but IO connecting: still diverged",
      nodes: [replica("db1", { sourceHost: "db2", io: "connecting" }), db2()],
      state: after({ diverged: { db1: divergedInfo } }),
      kinds: ["diverged"],
      match: [{ node: "db1", info: divergedInfo }],
    },
    {
      name: "db1 diverged but now replicating from db2 healthily (resynced): diverged_cleared",
      nodes: [replica("db1", { sourceHost: "db2" }, { epoch: 2, epochMaster: "db2" }), db2()],
      state: after({ diverged: { db1: divergedInfo } }),
      kinds: ["diverged_cleared"],
      match: [{ node: "db1" }],
    },
    {
      name: "db1 diverged and writable again: stale_master first (fence it)",
      nodes: [master("db1"), db2()],
      state: after({ diverged: { db1: divergedInfo } }),
      kinds: ["stale_master"],
      match: [{ node: "db1", epoch: 1 }],
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Who is the master: epochs and fresh starts

describe("analyze: who is the master", () => {
  const fresh = () => state({ master: undefined, epoch: 0 });
  const noEpoch = { epoch: 0, epochMaster: undefined };
  check([
    {
      name: "a newer epoch on a node (3 naming db2, state db1 epoch 1): adopt_master db2 epoch 3 first",
      nodes: [replica("db1", { sourceHost: "db2" }, { epoch: 3, epochMaster: "db2" }), master("db2", { epoch: 3, epochMaster: "db2" })],
      kinds: ["adopt_master", "healthy"],
      match: [{ master: "db2", epoch: 3, reason: "epoch 3 recorded on db1 names db2" }, { master: "db2" }],
    },
    {
      name: "a newer epoch naming db2 while db1 is still writable at epoch 1: adopt_master db2, then stale_master db1",
      nodes: [master("db1"), master("db2", { epoch: 3, epochMaster: "db2" })],
      kinds: ["adopt_master", "stale_master"],
      match: [{ master: "db2", epoch: 3, reason: "epoch 3 recorded on db2 names db2" }, { node: "db1", epoch: 1, detail: "writable while db2 holds epoch 3" }],
    },
    {
      name: "a newer epoch naming a host outside ha_hosts is ignored",
      nodes: [master("db1", { epoch: 3, epochMaster: "db9" }), replica("db2", {}, { epoch: 3, epochMaster: "db9" })],
      kinds: ["healthy"],
      match: [{ master: "db1" }],
    },
    {
      name: "a newer epoch naming a dead master this daemon never saw answer: adopt it, then hold (it cannot tell what db2 acknowledged)",
      nodes: [replica("db1", { sourceHost: "db2", io: "connecting" }, { epoch: 2, epochMaster: "db2" }), down("db2", 2)],
      kinds: ["adopt_master", "failover_held"],
      match: [{ master: "db2", epoch: 2 }, { master: "db2", candidate: "db1", detail: "pandora_ha never saw db2 answer, so it cannot tell what db2 acknowledged" }],
    },
    {
      name: "a newer epoch naming a dead master last seen durable: adopt it, then the dead-master logic",
      nodes: [replica("db1", { sourceHost: "db2", io: "connecting" }, { epoch: 2, epochMaster: "db2" }), down("db2", 2)],
      state: state({ lastMaster: { host: "db2", at: NOW - 500, gtid: "0-1-100", durable: true, readOnly: false } }),
      kinds: ["adopt_master", "dead_master"],
      match: [{ master: "db2", epoch: 2 }, { master: "db2", candidate: "db1" }],
    },
    {
      name: "an epoch equal to ours changes nothing",
      nodes: [master("db1"), replica("db2")],
      kinds: ["healthy"],
      match: [{ master: "db1" }],
    },
    {
      name: "fresh start (no master, epoch 0), db1 the only writable node: adopt_master db1 epoch 1",
      nodes: [master("db1", noEpoch), replica("db2", {}, noEpoch)],
      state: fresh(),
      kinds: ["adopt_master", "healthy"],
      match: [{ master: "db1", epoch: 1, reason: "db1 is the only writable node" }, { master: "db1" }],
    },
    {
      name: "fresh start, epoch 1 already recorded on the nodes: adopt_master db1 epoch 1 from the epoch",
      nodes: [master("db1"), replica("db2")],
      state: fresh(),
      kinds: ["adopt_master", "healthy"],
      match: [{ master: "db1", epoch: 1, reason: "epoch 1 recorded on db1 names db1" }, { master: "db1" }],
    },
    {
      name: "fresh start with two writable nodes: no_master, nothing else",
      nodes: [master("db1", noEpoch), master("db2", noEpoch)],
      state: fresh(),
      kinds: ["no_master"],
      match: [{ detail: "no epoch recorded and 2 writable nodes (db1, db2): fix by hand" }],
    },
    {
      name: "fresh start, no writable node, db2 replicating from db1: adopt_master db1, then make it writable",
      nodes: [master("db1", { readOnly: true, ...noEpoch }), replica("db2", {}, noEpoch)],
      state: fresh(),
      kinds: ["adopt_master", "master_read_only"],
      match: [{ master: "db1", epoch: 1, reason: "db1 is read-only but every other node replicates from it" }, { master: "db1" }],
    },
    {
      name: "fresh start, no writable node, nobody replicating: no_master",
      nodes: [master("db1", { readOnly: true, ...noEpoch }), master("db2", { readOnly: true, ...noEpoch })],
      state: fresh(),
      kinds: ["no_master"],
      match: [{ detail: "no epoch recorded, no writable node, and replication does not point at one node" }],
    },
    {
      name: "fresh start, db1 unreachable, db2 read-only replicating from it: no_master",
      nodes: [down("db1", 3), replica("db2", { io: "connecting" }, noEpoch)],
      state: fresh(),
      kinds: ["no_master"],
      match: [{ detail: "no epoch recorded, no writable node, and replication does not point at one node" }],
    },
    {
      // "Every other node replicates from it" must hold for every node of ha_hosts, not only the
      // reachable ones: with db1 unreachable, a read-only db2 with no replication is no master.
      name: "fresh start, db1 unreachable, db2 read-only and not replicating: no_master (nothing replicates from db2)",
      nodes: [down("db1", 3), master("db2", { readOnly: true, ...noEpoch })],
      state: fresh(),
      kinds: ["no_master"],
      match: [{ detail: "no epoch recorded, no writable node, and replication does not point at one node" }],
    },
    {
      // The same with 3 nodes: a lone reachable read-only node must not crown itself.
      name: "fresh start, 3 nodes, only db3 reachable (read-only, not replicating): no_master",
      nodes: [down("db1", 3), down("db2", 3), master("db3", { readOnly: true, ...noEpoch })],
      state: fresh(),
      kinds: ["no_master"],
      match: [{ detail: "no epoch recorded, no writable node, and replication does not point at one node" }],
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Candidate choice and the majority rule

describe("analyze: candidate choice (MariaDB)", () => {
  check([
    {
      name: "3 nodes: db2 received 0-1-120, db3 0-1-110: candidate db2",
      nodes: [down("db1", 2), replica("db2", { io: "connecting", receivedGtid: "0-1-120" }), replica("db3", { io: "connecting", receivedGtid: "0-1-110" })],
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2", reason: "db1 failed 2 probes; db2 IO connecting; db3 IO connecting" }],
    },
    {
      name: "3 nodes: db2 received 0-1-110, db3 0-1-120: candidate db3",
      nodes: [down("db1", 2), replica("db2", { io: "connecting", receivedGtid: "0-1-110" }), replica("db3", { io: "connecting", receivedGtid: "0-1-120" })],
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db3" }],
    },
    {
      name: "3 nodes: executed history counts too (db3 applied 0-1-125, nothing in its relay log)",
      nodes: [
        down("db1", 2),
        replica("db2", { io: "connecting", receivedGtid: "0-1-120" }),
        replica("db3", { io: "connecting", receivedGtid: "" }, { gtidExecuted: "0-1-125", gtidHistory: "0-1-125" }),
      ],
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db3" }],
    },
    {
      name: "3 nodes, equal histories: the first in ha_hosts order",
      nodes: [down("db1", 2), replica("db2", { io: "connecting" }), replica("db3", { io: "connecting" })],
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2" }],
    },
    {
      // db2 has everything up to 0-1-110; db3 stopped at 0-1-100 and holds 3 errant writes
      // (0-2-101..103): db2 misses 3 transactions, db3 misses 10 of the master's: promote db2.
      name: "3 nodes: db2 received 0-1-110, db3 at 0-1-100 plus 3 errant (0-2-103): candidate db2",
      nodes: [
        down("db1", 2),
        replica("db2", { io: "connecting", receivedGtid: "0-1-110" }),
        replica("db3", { io: "connecting", receivedGtid: "" }, { gtidExecuted: "0-1-100,0-2-103", gtidHistory: "0-1-100,0-2-103" }),
      ],
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2" }],
    },
    {
      // db3 holds a write made there by hand: never the candidate.
      name: "3 nodes: db3, first in ha_hosts and as advanced as db2, holds errant transactions: candidate db2",
      nodes: [down("db1", 2), replica("db3", { io: "connecting", receivedGtid: "0-1-110" }, { gtidHistory: "0-1-100,0-3-101" }), replica("db2", { io: "connecting", receivedGtid: "0-1-110" })],
      state: state({ errant: { db3: "0-3-101" } }),
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2" }],
    },
    {
      // ...and what it received still counts: it may have acknowledged commits db2 lacks.
      name: "3 nodes: the errant db3 received 10 more than db2: no_candidate (promoting db2 would lose them)",
      nodes: [down("db1", 2), replica("db2", { io: "connecting", receivedGtid: "0-1-110" }), replica("db3", { io: "connecting", receivedGtid: "0-1-120" })],
      state: state({ errant: { db3: "0-3-101" } }),
      kinds: ["no_candidate"],
      match: [{ master: "db1", detail: "db2 lacks 10 transactions db3 (holds errant transactions 0-3-101) received (0-1-120): promoting it would lose them" }],
    },
    {
      name: "2 nodes: the only replica holds errant transactions: no_candidate naming them",
      nodes: [down("db1", 2), replica("db2", { io: "connecting" })],
      state: state({ errant: { db2: "0-2-101" } }),
      kinds: ["no_candidate"],
      match: [{ master: "db1", detail: "no reachable replica fit to promote (db2 holds errant transactions 0-2-101)" }],
    },
    {
      name: "3 nodes, only 1 of 2 replicas reachable: no_candidate (majority rule)",
      nodes: [down("db1", 2), replica("db2", { io: "connecting", receivedGtid: "0-1-120" }), down("db3", 2)],
      kinds: ["no_candidate"],
      match: [{ master: "db1", detail: "only 1 of 2 replicas reachable; 2 needed to decide" }],
    },
    {
      name: "4 nodes: db2 diverged (most advanced) is never the candidate: db3",
      nodes: [
        down("db1", 2),
        replica("db2", { io: "connecting", receivedGtid: "0-1-130" }),
        replica("db3", { io: "connecting", receivedGtid: "0-1-110" }),
        replica("db4", { io: "connecting", receivedGtid: "0-1-105" }),
      ],
      state: state({ diverged: { db2: { since: NOW - HOUR, errant: "0-2-7", errantCount: 1 } } }),
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db3", reason: "db1 failed 2 probes; db3 IO connecting; db4 IO connecting" }],
    },
    {
      // The only reachable replica is diverged: no candidate fit to promote (no_candidate), not
      // "replicas unreachable": db2 answers.
      name: "2 nodes: the only replica is diverged: no dead_master, no_candidate (not 'replicas unreachable')",
      nodes: [down("db1", 2), replica("db2", { io: "connecting", receivedGtid: "0-1-130" })],
      state: state({ diverged: { db2: { since: NOW - HOUR, errant: "0-2-7", errantCount: 1 } } }),
      kinds: ["no_candidate"],
      match: [{ master: "db1" }],
    },
    {
      // The diverged replica answers, so it counts toward the majority of replicas seen (two
      // daemons still overlap on one); it is just never the candidate.
      name: "3 nodes: db2 diverged, db3 fit: db3 promoted (db2 counts as seen, is never a candidate)",
      nodes: [down("db1", 2), replica("db2", { io: "connecting", receivedGtid: "0-1-130" }), replica("db3", { io: "connecting", receivedGtid: "0-1-110" })],
      state: state({ diverged: { db2: { since: NOW - HOUR, errant: "0-2-7", errantCount: 1 } } }),
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db3" }],
    },
  ]);

  test("two daemons, each seeing a different replica of 3 nodes, can never both promote", () => {
    const db2 = replica("db2", { io: "connecting", receivedGtid: "0-1-120" });
    const db3 = replica("db3", { io: "connecting", receivedGtid: "0-1-110" });
    // Daemon A sees db2 only, daemon B sees db3 only (db1 is dead for both).
    const a = run({ nodes: [down("db1", 2), db2, down("db3", 2)] });
    const b = run({ nodes: [down("db1", 2), down("db2", 2), db3] });
    expect(a).toEqual([{ kind: "no_candidate", master: "db1", detail: "only 1 of 2 replicas reachable; 2 needed to decide" }]);
    expect(b).toEqual([{ kind: "no_candidate", master: "db1", detail: "only 1 of 2 replicas reachable; 2 needed to decide" }]);
    expect([...a, ...b].some((c) => c.kind === "dead_master")).toBe(false);
    // ...even with the secondary checks answered "cannot reach it" and a fresh budget.
    const a2 = run({ nodes: [down("db1", 2), replica("db2"), down("db3", 2)], secondary: { db2: false }, settings: { failoverBudget: 5 } });
    const b2 = run({ nodes: [down("db1", 2), down("db2", 2), replica("db3")], secondary: { db3: false }, settings: { failoverBudget: 5 } });
    expect(a2.map((c) => c.kind)).toEqual(["no_candidate"]);
    expect(b2.map((c) => c.kind)).toEqual(["no_candidate"]);
  });
});

describe("analyze: candidate choice (MySQL 8.0 GTID sets)", () => {
  const A = "8d5c1f3e-4a2b-11ef-a6c9-0242ac120002";
  const B = "9e6d2a4f-4a2b-11ef-b7da-0242ac120003";
  const my = (host: string, received: string, executed = `${A}:1-100`): NodeObservation =>
    replica(host, { io: "connecting", receivedGtid: received }, { flavor: "mysql80", gtidExecuted: executed, gtidHistory: executed });
  check([
    {
      name: `db2 received ${"A"}:1-120, db3 A:1-110: candidate db2`,
      nodes: [down("db1", 2), my("db2", `${A}:1-120`), my("db3", `${A}:1-110`)],
      history: MYSQL_OPS,
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2" }],
    },
    {
      name: "db2 A:1-110, db3 A:1-120: candidate db3",
      nodes: [down("db1", 2), my("db2", `${A}:1-110`), my("db3", `${A}:1-120`)],
      history: MYSQL_OPS,
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db3" }],
    },
    {
      name: "Retrieved_Gtid_Set is partial (A:90-120) beside executed A:1-100; db3 executed A:1-115: candidate db2",
      nodes: [down("db1", 2), my("db2", `${A}:90-120`), my("db3", "", `${A}:1-115`)],
      history: MYSQL_OPS,
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2" }],
    },
    {
      name: "neither contains the other: the one the others are fewest transactions beyond (db3: 3 vs 10)",
      nodes: [down("db1", 2), my("db2", `${A}:1-100,${B}:1-3`), my("db3", `${A}:1-110`)],
      history: MYSQL_OPS,
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db3" }],
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// mostAdvanced, describeNode

describe("mostAdvanced", () => {
  const r = (host: string, received: string, executed = "0-1-100") => replica(host, { receivedGtid: received }, { gtidExecuted: executed });
  test("none: undefined", () => {
    expect(mostAdvanced([], MARIA_OPS)).toBeUndefined();
  });
  test("one node: that node", () => {
    const n = r("db2", "0-1-100");
    expect(mostAdvanced([n], MARIA_OPS)).toBe(n);
  });
  test("the one whose history contains the others', whatever the order", () => {
    const [a, b, c] = [r("db2", "0-1-110"), r("db3", "0-1-130"), r("db4", "0-1-120")];
    expect(mostAdvanced([a, b, c], MARIA_OPS)?.host).toBe("db3");
    expect(mostAdvanced([b, c, a], MARIA_OPS)?.host).toBe("db3");
    expect(mostAdvanced([c, a, b], MARIA_OPS)?.host).toBe("db3");
  });
  test("relay log and applied history are combined (executed 0-1-125 beats received 0-1-120)", () => {
    const a = r("db2", "0-1-120", "0-1-100");
    const b = r("db3", "", "0-1-125");
    expect(mostAdvanced([a, b], MARIA_OPS)?.host).toBe("db3");
  });
  test("a node without replication: its executed history", () => {
    const a = master("db2", { gtidExecuted: "0-1-140" });
    const b = r("db3", "0-1-130");
    expect(mostAdvanced([b, a], MARIA_OPS)?.host).toBe("db2");
  });
  test("ties: the first in order", () => {
    const [a, b] = [r("db2", "0-1-120"), r("db3", "0-1-120")];
    expect(mostAdvanced([a, b], MARIA_OPS)).toBe(a);
    expect(mostAdvanced([b, a], MARIA_OPS)).toBe(b);
  });
  test("MariaDB positions count per domain: a replica that applied the old master's 0-1-50 and received the new one's 0-2-55 is behind one at 0-2-56", () => {
    // With gtid_strict_mode the sequence runs on across a failover; only the server changes.
    const a = replica("db2", { receivedGtid: "0-2-55" }, { gtidExecuted: "0-1-50" });
    const b = replica("db3", { receivedGtid: "" }, { gtidExecuted: "0-2-56" });
    expect(MARIA_OPS.compare(received(a, MARIA_OPS), received(b, MARIA_OPS))).toEqual({ prefix: true, errant: "", errantCount: 0 });
    expect(MARIA_OPS.compare(received(b, MARIA_OPS), received(a, MARIA_OPS))).toEqual({ prefix: false, errant: "0-2-56", errantCount: 1 });
    expect(mostAdvanced([a, b], MARIA_OPS)?.host).toBe("db3");
    expect(mostAdvanced([b, a], MARIA_OPS)?.host).toBe("db3");
  });
  test("MariaDB: one short in one domain, ahead in another: the fewest transactions behind wins", () => {
    const a = r("db2", "0-1-110,1-1-5");
    const b = r("db3", "0-1-100,1-1-8");
    expect(mostAdvanced([a, b], MARIA_OPS)?.host).toBe("db2");
    expect(mostAdvanced([b, a], MARIA_OPS)?.host).toBe("db2");
  });
  test("MySQL sets", () => {
    const A = "8d5c1f3e-4a2b-11ef-a6c9-0242ac120002";
    const a = replica("db2", { receivedGtid: `${A}:50-130` }, { gtidExecuted: `${A}:1-100` });
    const b = replica("db3", { receivedGtid: "" }, { gtidExecuted: `${A}:1-120` });
    expect(mostAdvanced([b, a], MYSQL_OPS)?.host).toBe("db2");
  });
});

describe("describeNode", () => {
  test("a reachable master", () => {
    expect(describeNode(master("db1"))).toBe("db1: read_only=0 not replicating epoch=1 history=0-1-100");
  });
  test("a reachable replica", () => {
    expect(describeNode(replica("db2", { secondsBehind: 4 }, { gtidHistory: "0-1-96" }))).toBe("db2: read_only=1 replica of db1 io=yes sql=yes lag=4 epoch=1 history=0-1-96");
  });
  test("a replica with its threads stopped and no epoch, no history", () => {
    const n = replica("db3", { io: "connecting", sqlRunning: false, secondsBehind: null }, { epoch: undefined, gtidHistory: undefined });
    expect(describeNode(n)).toBe("db3: read_only=1 replica of db1 io=connecting sql=no lag=- epoch=0 history=-");
  });
  test("an unreachable node, with and without its error", () => {
    expect(describeNode(down("db1", 3, "connect ECONNREFUSED 127.0.1.1:3306"))).toBe("db1: unreachable (3 failed probes: connect ECONNREFUSED 127.0.1.1:3306)");
    expect(describeNode({ host: "db2", reachable: false, failures: 1, at: NOW })).toBe("db2: unreachable (1 failed probes)");
  });
});

// ---------------------------------------------------------------------------------------------
// truncate.commonPosition, events.teventoStatements

describe("commonPosition", () => {
  test("the old master's tail past the new master's history: the last shared transaction", () => {
    expect(commonPosition("0-1-105", "0-1-100,0-2-150")).toBe("0-1-100");
  });
  test("a prefix history returns its own position", () => {
    expect(commonPosition("0-1-100", "0-1-120")).toBe("0-1-100");
    expect(commonPosition("0-1-100", "0-1-100,0-2-150")).toBe("0-1-100");
  });
  test("the highest shared seq of the domain across servers", () => {
    expect(commonPosition("0-1-100,0-2-105", "0-1-100,0-2-103")).toBe("0-2-103");
  });
  test("multi-domain: one point per domain", () => {
    expect(commonPosition("0-1-105,1-1-50", "0-1-100,1-1-60")).toBe("0-1-100,1-1-50");
  });
  test("no common point in a domain: undefined", () => {
    expect(commonPosition("0-1-105", "0-2-150")).toBeUndefined();
    expect(commonPosition("0-1-100,1-1-5", "0-1-100")).toBeUndefined();
  });
});

describe("teventoStatements", () => {
  const e: HaEvent = {
    time: "2025-01-15T10:00:00.750Z",
    type: "failover_start",
    severity: "critical",
    node: "db1",
    message: "failover: db1 is dead; promoting db2 (epoch 2)",
    key: "pandora_ha:failover",
  };
  test("validate older open events with the same key, then insert the new one", () => {
    expect(teventoStatements(e)).toEqual([
      { sql: "UPDATE tevento SET estado = 1 WHERE id_extra = ? AND estado = 0 AND @@global.read_only = 0", values: ["pandora_ha:failover"] },
      {
        sql:
          "INSERT INTO tevento (id_agente, id_grupo, evento, timestamp, utimestamp, estado, event_type, criticity, source, id_extra) " +
          "SELECT 0, 0, ?, FROM_UNIXTIME(?), ?, 0, 'system', ?, 'pandora_ha', ? FROM DUAL WHERE @@global.read_only = 0",
        values: ["[pandora_ha] failover: db1 is dead; promoting db2 (epoch 2)", 1736935200, 1736935200, 4, "pandora_ha:failover"],
        mustWrite: true,
      },
    ]);
  });
  test("criticity per severity", () => {
    const crit = (severity: HaEvent["severity"]) => teventoStatements({ ...e, severity })[1].values[3];
    expect([crit("info"), crit("normal"), crit("warning"), crit("critical")]).toEqual([1, 2, 3, 4]);
  });
});

// ---------------------------------------------------------------------------------------------
// No acknowledged write lost (issue 8): evidence that lasts, durability at the last look, total
// outages, errant replicas, a master made read-only by hand, replication repaired.

describe("analyze: a master that only times out must stay silent (ha_silence_timeout 4 s)", () => {
  check([
    {
      name: "2 timed-out probes over 2.5 s (a blip): master_suspect, no secondary check, no failover",
      nodes: [down("db1", 2, "connect ETIMEDOUT", 2500), replica("db2")],
      secondary: { db2: false },
      kinds: ["master_suspect"],
      match: [{ master: "db1", failures: 2 }],
    },
    {
      name: "silent for 4 s and the replica cannot reach it either: dead_master",
      nodes: [down("db1", 5, "connect ETIMEDOUT", 4000), replica("db2")],
      secondary: { db2: false },
      kinds: ["dead_master"],
      match: [{ candidate: "db2", reason: "db1 failed 5 probes; db2 IO yes, cannot reach it either" }],
    },
    {
      name: "refused at once (nothing listens: the server is down): dead_master without waiting for the silence",
      nodes: [down("db1", 2, "connect ECONNREFUSED 127.0.1.1:3306", 600), replica("db2", { io: "connecting" })],
      kinds: ["dead_master"],
      match: [{ candidate: "db2", reason: "db1 refused 2 probes; db2 IO connecting" }],
    },
  ]);
});

describe("analyze: durability at the daemon's last look at the master", () => {
  const seen = (over: Partial<NonNullable<DaemonState["lastMaster"]>>) => state({ lastMaster: { host: "db1", at: NOW - 800, gtid: "0-1-100", durable: true, readOnly: false, ...over } });
  check([
    {
      name: "durable at the last look: dead_master (every acknowledged commit is on a replica)",
      nodes: [down("db1", 2, "ECONNREFUSED"), replica("db2", { io: "connecting", receivedGtid: "0-1-99" }, { gtidExecuted: "0-1-99", gtidHistory: "0-1-99" })],
      state: seen({ gtid: "0-1-100" }),
      kinds: ["dead_master"],
    },
    {
      name: "asynchronous at the last look (semi-sync had fallen back) and the candidate lacks 3: failover_held, lacking 3",
      nodes: [down("db1", 2, "ECONNREFUSED"), replica("db2", { io: "connecting", receivedGtid: "0-1-97" }, { gtidExecuted: "0-1-97", gtidHistory: "0-1-97" })],
      state: seen({ durable: false, why: "semi-sync is not active: no replica has caught up yet" }),
      kinds: ["failover_held"],
      match: [{ master: "db1", candidate: "db2", lacking: 3 }],
    },
    {
      name: "asynchronous at the last look, the candidate has everything the master had then: still held (later commits may exist only there)",
      nodes: [down("db1", 2, "ECONNREFUSED"), replica("db2", { io: "connecting" })],
      state: seen({ durable: false, why: "asynchronous: no replica attached for 5 s" }),
      kinds: ["failover_held"],
      match: [{ lacking: 0 }],
    },
    {
      name: "ha_semisync 0 (asynchronous by choice), the candidate has what the master had at the last look: dead_master",
      nodes: [down("db1", 2, "ECONNREFUSED"), replica("db2", { io: "connecting" })],
      state: seen({ durable: false, why: "no semi-synchronous replication on this server" }),
      settings: { semiSync: false },
      kinds: ["dead_master"],
    },
    {
      name: "ha_semisync 0 and the candidate lacks some of it: failover_held",
      nodes: [down("db1", 2, "ECONNREFUSED"), replica("db2", { io: "connecting", receivedGtid: "0-1-90" }, { gtidExecuted: "0-1-90", gtidHistory: "0-1-90" })],
      state: seen({ durable: false }),
      settings: { semiSync: false },
      kinds: ["failover_held"],
      match: [{ lacking: 10 }],
    },
    {
      name: "never seen answering (a daemon started with the master already dead, no memory of it): failover_held",
      nodes: [down("db1", 2, "ECONNREFUSED"), replica("db2", { io: "connecting" })],
      state: state({ lastMaster: undefined }),
      kinds: ["failover_held"],
      match: [{ detail: "pandora_ha never saw db1 answer, so it cannot tell what db1 acknowledged" }],
    },
    {
      name: "held, but asked by hand with --force: dead_master naming what was overridden",
      nodes: [down("db1", 2, "ECONNREFUSED"), replica("db2", { io: "connecting" })],
      state: seen({ durable: false, why: "asynchronous" }),
      force: true,
      kinds: ["dead_master"],
      match: [{ candidate: "db2", overridden: [expect.stringMatching(/^db1 was not durable at the last look/)] }],
    },
    {
      name: "budget spent, asked by hand with --force: dead_master, the budget named as overridden",
      nodes: [down("db1", 2, "ECONNREFUSED"), replica("db2", { io: "connecting" })],
      state: state({ failovers: [NOW - 60_000] }),
      force: true,
      kinds: ["dead_master"],
      match: [{ overridden: ["the failover budget (1 in 3600 s)"] }],
    },
    {
      name: "an interrupted promotion (writable, detached, current epoch) is finished whatever the durability",
      nodes: [down("db1", 2, "ECONNREFUSED"), master("db2", { epoch: 1 })],
      state: seen({ durable: false }),
      kinds: ["dead_master"],
    },
  ]);
});

describe("analyze: a total outage (every node was down)", () => {
  const outage = (backAgoMs: number) => state({ allDownSince: NOW - 300_000, outageBackAt: NOW - backAgoMs });
  check([
    {
      name: "the replica answers first (after a 5-minute outage), 10 s ago: failover_held, waiting for the master",
      nodes: [down("db1", 20, "ECONNREFUSED"), replica("db2", { io: "connecting" })],
      state: outage(10_000),
      kinds: ["failover_held"],
      match: [{ detail: "every node was down: waiting for db1 too (up to 50 s more) so that the most advanced node becomes master" }],
    },
    {
      name: "the master has not returned within ha_outage_wait of the replica's return, durable at the last look: dead_master",
      nodes: [down("db1", 200, "ECONNREFUSED"), replica("db2", { io: "connecting" })],
      state: outage(61_000),
      kinds: ["dead_master"],
    },
    {
      name: "the master answers first: it is restored (restarted: every node starts read-only)",
      nodes: [master("db1", { readOnly: true, uptime: 3, at: NOW }), down("db2", 5, "ECONNREFUSED")],
      state: state({ allDownSince: NOW - 10_000, lastWritable: { host: "db1", at: NOW - 20_000, uptime: 500 } }),
      kinds: ["master_read_only"],
      match: [{ master: "db1", reason: "restarted 3 s ago (every node starts read-only)" }],
    },
  ]);
});

describe("analyze: errant transactions, read_only by hand, stopped replication", () => {
  check([
    {
      name: "what db2 had a cycle ago is not on the master: errant_replica",
      nodes: [master("db1"), replica("db2", {}, { gtidHistory: "0-1-100,0-2-3" })],
      previous: { db2: "0-1-100,0-2-3" },
      kinds: ["errant_replica"],
      match: [{ node: "db2", errant: "0-2-3", count: 3 }],
    },
    {
      name: "a replica momentarily ahead of the master's probe (it applied a commit after the master was read): nothing",
      nodes: [master("db1", { gtidHistory: "0-1-105" }), replica("db2", {}, { gtidHistory: "0-1-106" })],
      previous: { db2: "0-1-104" },
      kinds: ["healthy"],
    },
    {
      name: "the master seen writable, read-only now, not restarted, not fenced by us: master_read_only_by_hand (held)",
      nodes: [master("db1", { readOnly: true, uptime: 520 }), replica("db2")],
      state: state({ lastWritable: { host: "db1", at: NOW - 20_000, uptime: 500 } }),
      kinds: ["master_read_only_by_hand"],
    },
    {
      name: "the master read-only after a switchover of ours failed half-way (fenced by us): made writable",
      nodes: [master("db1", { readOnly: true, uptime: 520 }), replica("db2")],
      state: state({ fenced: ["db1"], lastWritable: { host: "db1", at: NOW - 20_000, uptime: 500 } }),
      kinds: ["master_read_only"],
      match: [{ reason: "fenced by pandora_ha in a failover or switchover that did not complete" }],
    },
    {
      name: "a replica's IO thread stopped (a failover that failed after its drain): restart_replication",
      nodes: [master("db1"), replica("db2", { io: "no", lastIoError: "" })],
      kinds: ["restart_replication"],
      match: [{ replica: "db2" }],
    },
  ]);
});

describe("analyze: a master whose writes stall while its reads answer (ha_write_timeout 5 s)", () => {
  const stalledMaster = (ms: number, waitSessions = 0) =>
    master("db1", { writePendingMs: ms, semiSyncDetail: { naming: "master", waitNoReplica: true, timeoutMs: 4294967295, waitSessions, yesTx: 10, noTx: 0 } });
  check([
    {
      name: "the timed write has waited 6 s, nothing waits for a semi-sync acknowledgement: dead_master, stalled (the old master is stopped first)",
      nodes: [stalledMaster(6000), replica("db2")],
      kinds: ["dead_master"],
      match: [{ master: "db1", candidate: "db2", stalled: true, reason: expect.stringMatching(/^db1 answers but its writes have stalled for 6 s/) }],
    },
    {
      name: "waited 3 s only: healthy",
      nodes: [stalledMaster(3000), replica("db2")],
      kinds: ["healthy"],
    },
    {
      name: "waited 6 s but for a semi-sync acknowledgement (the replica is the problem): no failover",
      nodes: [stalledMaster(6000, 2), replica("db2", { io: "connecting" })],
      kinds: ["replica_link_broken"],
    },
    {
      name: "stalled, the budget spent: budget_exhausted",
      nodes: [stalledMaster(6000), replica("db2")],
      state: state({ failovers: [NOW - 60_000] }),
      kinds: ["budget_exhausted"],
    },
  ]);
});
