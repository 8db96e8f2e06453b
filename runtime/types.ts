/**
 * The daemon's shared vocabulary: what a probe observes on one node, and the interface that
 * isolates the SQL dialect (MariaDB 10.6+, MySQL/Percona 8.0, MySQL/Percona 8.4).
 */

export type Flavor = "mariadb" | "mysql80" | "mysql84";

/** A replica's view of its source, read from SHOW SLAVE/REPLICA STATUS (either field naming). */
export interface ReplicaStatus {
  sourceHost: string;
  sourcePort: number;
  /** IO thread: connected and fetching ("yes"), trying to (re)connect ("connecting"), stopped ("no"). */
  io: "yes" | "connecting" | "no";
  sqlRunning: boolean;
  lastIoError: string;
  lastSqlError: string;
  /** null when the server does not know (IO or SQL thread stopped). */
  secondsBehind: number | null;
  /** Everything received into the relay log: MariaDB Gtid_IO_Pos, MySQL Retrieved_Gtid_Set. */
  receivedGtid: string;
  /** Replication positions by GTID: MariaDB Using_Gtid <> No, MySQL Auto_Position = 1. */
  usingGtid: boolean;
}

export interface SemiSyncStatus {
  /** Source side enabled (rpl_semi_sync_master_enabled / rpl_semi_sync_source_enabled). */
  sourceEnabled: boolean;
  /** Source side active right now (Rpl_semi_sync_master_status / _source_status): OFF = fell back to async. */
  sourceActive: boolean;
  /** Replicas currently acknowledging (Rpl_semi_sync_master_clients / _source_clients). */
  clients: number;
  /** Replica side enabled. */
  replicaEnabled: boolean;
}

/** What the daemon needs beyond SemiSyncStatus to keep a master durable (same rows, more of them). */
export interface SemiSyncDetail {
  /** Which names the server uses: rpl_semi_sync_source_* or rpl_semi_sync_master_* (undefined: no semi-sync). */
  naming?: "source" | "master";
  /** rpl_semi_sync_*_wait_no_replica / _wait_no_slave: commits wait even with no replica attached. */
  waitNoReplica: boolean;
  timeoutMs: number | null;
  /** Sessions waiting for an acknowledgement right now. */
  waitSessions: number;
  /** Commits acknowledged by a replica / not acknowledged, since the server started. */
  yesTx: number;
  noTx: number;
}

/** One probe of one node. */
export interface NodeObservation {
  /** The host string as listed in ha_hosts (what pandora_ha_hosts.conf publishes). */
  host: string;
  reachable: boolean;
  /** Why it was not reachable (or a query failed). */
  error?: string;
  /** Consecutive failed probes, this one included (0 when reachable). */
  failures: number;
  /** When this observation was taken (ms since epoch). */
  at: number;
  flavor?: Flavor;
  version?: string;
  serverId?: number;
  readOnly?: boolean;
  /** MySQL/Percona super_read_only (undefined on MariaDB). */
  superReadOnly?: boolean;
  /** Undefined: not a replica (no replication configured). */
  replica?: ReplicaStatus;
  /**
   * The node's own history: MariaDB @@gtid_binlog_state (every domain-server's last GTID),
   * MySQL @@gtid_executed.
   */
  gtidHistory?: string;
  /** What the node has applied: MariaDB @@gtid_current_pos, MySQL @@gtid_executed. */
  gtidExecuted?: string;
  semiSync?: SemiSyncStatus;
  semiSyncDetail?: SemiSyncDetail;
  /** Seconds since the server started (SHOW GLOBAL STATUS Uptime). */
  uptime?: number;
  /** How long the daemon's timed write (the heartbeat row) has been waiting on this node, if one is in flight. */
  writePendingMs?: number;
  /** What the server says that write waits for (PROCESSLIST state), read once it has waited a second. */
  writeState?: string;
  /** The latest failed probe was refused (nothing listens: the server is down), not a time-out. */
  refused?: boolean;
  /** When the current run of failed probes began (ms since epoch; undefined when reachable). */
  failingSince?: number;
  /** Highest promotion epoch recorded on the node (0: none) and the master it names. */
  epoch?: number;
  epochMaster?: string;
}

export interface ChangeSourceArgs {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** Result of comparing two nodes' GTID histories. */
export interface HistoryComparison {
  /** Every transaction of `a` is also in `b`. */
  prefix: boolean;
  /** Transactions `a` has and `b` lacks, in the flavor's notation ("" when prefix). */
  errant: string;
  /** How many transactions that is (best effort: sequence arithmetic). */
  errantCount: number;
}

/**
 * Everything flavor-specific the daemon says or reads. Statements are plain SQL strings (values
 * that come from users go through `values` of the connector, never spliced in, except where
 * the server accepts no placeholder: then they are quoted with `quote`).
 */
export interface Dialect {
  flavor: Flavor;
  /** SHOW SLAVE STATUS (MariaDB, 8.0) or SHOW REPLICA STATUS (8.0.22+, 8.4). */
  replicaStatusSql: string;
  /** Parses the rows of replicaStatusSql (either field naming); undefined when no replication is configured. */
  parseReplicaStatus(rows: Array<Record<string, unknown>>): ReplicaStatus | undefined;
  /** One query per variable (MariaDB 10.11 misreports a boolean beside an aggregate). Each returns one row with column `v`. */
  readOnlySql: string;
  /** undefined on MariaDB (no super_read_only in 10.11). */
  superReadOnlySql?: string;
  gtidHistorySql: string;
  gtidExecutedSql: string;
  /** Returns rows (Variable_name, Value) of the semi-sync variables and status. */
  semiSyncSql: string[];
  parseSemiSync(rows: Array<Record<string, unknown>>): SemiSyncStatus;
  /** Make the node refuse writes from everyone but replication (MySQL: super_read_only; MariaDB: read_only). */
  fenceSql: string[];
  /** Make it writable (MySQL: super_read_only OFF then read_only OFF). */
  writableSql: string[];
  stopReplicaSql: string;
  /**
   * MySQL: one row (column `id`) per replication applier (the multi-threaded coordinator) that
   * can be KILLed. Asked to stop in the middle of a transaction whose end never arrives (the IO
   * thread stopped, the source dead), it waits 60 s; killed, it stops at once. undefined on
   * MariaDB, whose applier stops without that wait.
   */
  applierThreadSql?: string;
  /** Stop fetching from the source, keep applying: what was received is then final (before a drain). */
  stopIoThreadSql: string;
  /**
   * Starting a replication thread while both are stopped discards the relay log (MariaDB with
   * MASTER_USE_GTID: fetching restarts from gtid_slave_pos). MySQL keeps it.
   */
  startPurgesStoppedRelayLog: boolean;
  startReplicaSql: string;
  startSqlThreadSql: string;
  /** Forget the source entirely (RESET SLAVE ALL / RESET REPLICA ALL). Only after a drain. */
  resetReplicaAllSql: string;
  /**
   * Statements that point a node at a new source by GTID (MariaDB: gtid_slave_pos from its own
   * history when `fromOwnHistory`, MASTER_USE_GTID=slave_pos; MySQL: SOURCE_AUTO_POSITION=1).
   */
  changeSourceSql(a: ChangeSourceArgs, fromOwnHistory: boolean): string[];
  /** SELECT that waits until `gtid` is applied or `timeoutS` passes; one row, column `v`: 0 = applied. */
  waitForGtidSql(gtid: string, timeoutS: number): { sql: string; values: unknown[] };
  /** Is the binlog history in `a` contained in `b`? (MariaDB gtid_binlog_state per domain-server; MySQL sets.) */
  compareHistory(a: string, b: string): HistoryComparison;
  /** Has position `b` (what a node applied or received) reached `a`? (MariaDB per domain; MySQL sets.) */
  comparePositions(a: string, b: string): HistoryComparison;
  /** Position `a` with `extra` added (MariaDB: per domain the furthest; MySQL: union). */
  unionPositions(a: string, extra: string): string;
}
