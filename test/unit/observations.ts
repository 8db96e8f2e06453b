/**
 * Observation factories shared by the tests of the pure parts of pandora_ha (analysis, the
 * console's view, the dialects' parsers): a cluster of MariaDB nodes db1 (master, epoch 1), db2,
 * db3 at a fixed clock.
 */
import { emptyState } from "../../runtime/state";
import type { DaemonState } from "../../runtime/state";
import type { NodeObservation, ReplicaStatus, SemiSyncStatus } from "../../runtime/types";

export const NOW = Date.parse("2025-01-15T10:00:00.000Z");
export const MIN = 60_000;
export const HOUR = 60 * MIN;

export const SEMI_UP: SemiSyncStatus = { sourceEnabled: true, sourceActive: true, clients: 1, replicaEnabled: true };

type Over = Partial<NodeObservation>;

/** A reachable MariaDB master: writable, no replication, epoch 1 naming db1. */
export function master(host: string, over: Over = {}): NodeObservation {
  return {
    host,
    reachable: true,
    failures: 0,
    at: NOW,
    flavor: "mariadb",
    readOnly: false,
    gtidHistory: "0-1-100",
    gtidExecuted: "0-1-100",
    epoch: 1,
    epochMaster: "db1",
    semiSync: { ...SEMI_UP },
    ...over,
  };
}

/** A healthy replication status of db1 (both threads running, no lag, by GTID). */
export function replicaStatus(over: Partial<ReplicaStatus> = {}): ReplicaStatus {
  return {
    sourceHost: "db1",
    sourcePort: 3306,
    io: "yes",
    sqlRunning: true,
    lastIoError: "",
    lastSqlError: "",
    secondsBehind: 0,
    receivedGtid: "0-1-100",
    usingGtid: true,
    ...over,
  };
}

/** A reachable read-only replica of db1 (both threads running, no lag). */
export function replica(host: string, r: Partial<ReplicaStatus> = {}, over: Over = {}): NodeObservation {
  return master(host, {
    readOnly: true,
    replica: replicaStatus(r),
    semiSync: { ...SEMI_UP, sourceActive: false, clients: 0 },
    ...over,
  });
}

/**
 * A node the daemon could not reach for `failures` consecutive probes, failing since
 * `silentMs` ago (long past ha_silence_timeout unless given); refused when the error says so.
 */
export function down(host: string, failures: number, error = "connect ETIMEDOUT", silentMs = 10_000): NodeObservation {
  return { host, reachable: false, failures, at: NOW, error, refused: /ECONNREFUSED/.test(error), failingSince: NOW - silentMs };
}

/** What the daemon remembers: db1 the master at epoch 1, last seen a second ago, durable. */
export function state(over: Partial<DaemonState> = {}): DaemonState {
  return { ...emptyState(), master: "db1", epoch: 1, lastMaster: { host: "db1", at: NOW - 1000, gtid: "0-1-100", durable: true, readOnly: false }, ...over };
}
