/**
 * my.cnf for one database node, per flavor. A complete file: it replaces the distribution's
 * my.cnf so nothing else is included behind our back.
 *
 * Starts from the manual's "OPTIMIZATION FOR PANDORA FMS" and "SPECIFIC PARAMETERS FOR BINARY
 * REPLICATION" sections and changes what failover safety needs (each change is commented in
 * the output): GTIDs, semi-sync AFTER_SYNC, crash-safe relay logs, short replica timeouts, and
 * every node starting read-only so that only pandora_ha (or the seeding step) makes one
 * writable. For MariaDB only options MariaDB 10.11 accepts are written (its equivalents of
 * MySQL 8 names, see shared/reference/mariadb-lab-notes.md). For percona84 and mysql only
 * options MySQL 8.4 and 9.x start with, which 8.0.30 reads too (mysql-lab-notes.md): the
 * redo log by innodb_redo_log_capacity, none of the options 8.4 removed.
 */
import type { DbFlavor, OsName, SeedMethod } from "../config";
import { defaultSeedMethod, mysqlFamily, osFamily } from "../config";

export interface MyCnfInput {
  flavor: DbFlavor;
  os: OsName;
  serverId: number;
  /** report-host: the node's own name. */
  reportHost: string;
  port: number;
  dbName: string;
  innodbBufferPoolSize: string;
  semiSync: boolean;
  semiSyncTimeoutMs: number;
  /** How replicas are seeded; clone loads the clone plugin. Default: the flavor's (defaultSeedMethod). */
  seedMethod?: SeedMethod;
  /** Directory for binary logs (its own volume, as the manual recommends); datadir when undefined. */
  binlogDir?: string;
  /** Overrides for the lab, which runs several servers on one machine. */
  paths?: Partial<DbPaths>;
  /** Extra settings appended to [mysqld] (lab sizing). */
  extra?: Record<string, string>;
}

export interface DbPaths {
  datadir: string;
  socket: string;
  logError: string;
  pidFile: string;
  tmpdir: string;
  bindAddress: string;
}

/**
 * Flavors whose servers (8.4, 9.x; the mysql flavor from 8.0.30 on) refuse the options 8.4
 * removed: their file is written without them.
 */
const WITHOUT_REMOVED_OPTIONS: readonly DbFlavor[] = ["percona84", "mysql"];

/** Where the packages put things, per flavor and OS family. */
export function defaultDbPaths(flavor: DbFlavor, os: OsName): DbPaths {
  const rhel = osFamily(os) === "rhel";
  const common = { datadir: "/var/lib/mysql", tmpdir: "/tmp", bindAddress: "0.0.0.0" };
  if (!mysqlFamily(flavor)) {
    return {
      ...common,
      socket: rhel ? "/var/lib/mysql/mysql.sock" : "/run/mysqld/mysqld.sock",
      logError: rhel ? "/var/log/mariadb/mariadb.log" : "/var/log/mysql/error.log",
      pidFile: "/run/mysqld/mysqld.pid",
    };
  }
  // Rocky's own mysql-server logs into /var/log/mysql (its my.cnf.d file); Percona's RPMs into /var/log.
  const rhelLog = flavor === "mysql" ? "/var/log/mysql/mysqld.log" : "/var/log/mysqld.log";
  return {
    ...common,
    socket: rhel ? "/var/lib/mysql/mysql.sock" : "/var/run/mysqld/mysqld.sock",
    logError: rhel ? rhelLog : "/var/log/mysql/error.log",
    pidFile: "/var/run/mysqld/mysqld.pid",
  };
}

/** Where the complete my.cnf goes: /etc/my.cnf on Rocky, /etc/mysql/my.cnf on Ubuntu (manual). */
export function myCnfPath(os: OsName): string {
  return osFamily(os) === "rhel" ? "/etc/my.cnf" : "/etc/mysql/my.cnf";
}

type Line = [key: string, value?: string, comment?: string] | string;

function section(title: string, lines: Line[]): string[] {
  const out = ["", `# ${title}`];
  for (const l of lines) {
    if (typeof l === "string") out.push(l);
    else {
      const [k, v, c] = l;
      out.push(`${v === undefined ? k : `${k} = ${v}`}${c ? `  # ${c}` : ""}`);
    }
  }
  return out;
}

/** The manual's innodb_log_file_size, and the number of log files it had (the 8.0 default). */
const REDO_LOG_FILE_MB = 64;
const REDO_LOG_FILES = 2;

function tuningLines(input: MyCnfInput): Line[] {
  const redo: Line = WITHOUT_REMOVED_OPTIONS.includes(input.flavor)
    ? [
        "innodb_redo_log_capacity",
        `${REDO_LOG_FILE_MB * REDO_LOG_FILES}M`,
        `manual: innodb_log_file_size = ${REDO_LOG_FILE_MB}M (x ${REDO_LOG_FILES} files), deprecated since 8.0.30 and refused by 9.x; the same redo space`,
      ]
    : ["innodb_log_file_size", `${REDO_LOG_FILE_MB}M`];
  return [
    ["innodb_buffer_pool_size", input.innodbBufferPoolSize],
    ["innodb_lock_wait_timeout", "90"],
    ["innodb_file_per_table", "ON"],
    ["innodb_flush_method", "O_DIRECT"],
    redo,
    ["innodb_log_buffer_size", "16M"],
    ["thread_cache_size", "8"],
    ["max_connections", "200"],
    ["key_buffer_size", "4M"],
    ["read_buffer_size", "128K"],
    ["read_rnd_buffer_size", "128K"],
    ["sort_buffer_size", "128K"],
    ["join_buffer_size", "4M"],
    ["sql_mode", '""'],
    ["innodb_flush_log_at_trx_commit", "2"],
    [
      "innodb_flush_log_at_timeout",
      "1",
      "manual: 1800; that leaves up to 30 min of redo unflushed on an OS crash and breaks mariabackup (MDEV-36159)",
    ],
  ];
}

function replicationLines(input: MyCnfInput, p: DbPaths): Line[] {
  const mysql = mysqlFamily(input.flavor);
  const binlogBase = `${input.binlogDir ?? p.datadir}/binlog`;
  const repl: Line[] = [
    ["log-bin", binlogBase],
    ["log-bin-index", `${binlogBase}.index`],
    ["relay-log", `${p.datadir}/relay-bin`],
    ["binlog-do-db", input.dbName],
    ["replicate-do-db", input.dbName],
    ["max_binlog_size", "100M"],
    ["binlog-format", "ROW"],
    ["binlog_expire_logs_seconds", "172800", "2 days"],
    ["sync_binlog", "1"],
    [mysql ? "sync_source_info" : "sync_master_info", "1"],
    ["sync_relay_log", "0"],
    ["relay_log_recovery", "ON", "crash-safe replica: refetch the relay log after a crash"],
    ["report-host", input.reportHost],
    ["report-port", String(input.port)],
    [mysql ? "log_replica_updates" : "log_slave_updates", "ON", "a promoted replica serves the others"],
    [mysql ? "replica_compressed_protocol" : "slave_compressed_protocol", "1"],
    [
      mysql ? "replica_parallel_workers" : "slave_parallel_threads",
      "4",
      "manual: 1; a promotion waits for the replica to apply its relay log, and parallel apply keeps that short under load",
    ],
    ...(mysql ? ([["replica_preserve_commit_order", "ON", "replicas commit in the source's order"]] as Line[]) : ([["slave_parallel_mode", "optimistic"]] as Line[])),
    [mysql ? "replica_net_timeout" : "slave_net_timeout", "5", "notice a dead or hung master in seconds, not 60"],
    ["read_only", "ON", "every node starts read-only; pandora_ha makes exactly one writable"],
  ];
  if (!mysql) {
    repl.push(["gtid_strict_mode", "ON", "a returning master's unacknowledged tail is refused, not silently skipped"]);
    return repl;
  }
  repl.push(
    ["super_read_only", "ON"],
    ["gtid-mode", "ON", "manual: off; GTIDs let failover repoint replicas without file/position arithmetic"],
    ["enforce-gtid-consistency", "ON"],
  );
  if (WITHOUT_REMOVED_OPTIONS.includes(input.flavor))
    repl.push("# master-info-repository, relay-log-info-repository: not written (TABLE is the default since 8.0.23; 8.4+ refuses them)");
  else repl.push(["master-info-repository", "TABLE"], ["relay-log-info-repository", "TABLE"]);
  if ((input.seedMethod ?? defaultSeedMethod(input.flavor)) === "clone")
    repl.push(["plugin-load-add", "mysql_clone.so", "seedMethod clone: a new replica copies the master with CLONE INSTANCE, no SSH between DB nodes"]);
  return repl;
}

function semiSyncLines(input: MyCnfInput): Line[] {
  if (!input.semiSync) return [];
  const t = String(input.semiSyncTimeoutMs);
  if (mysqlFamily(input.flavor)) {
    return [
      ["plugin-load-add", "semisync_source.so"],
      ["plugin-load-add", "semisync_replica.so"],
      ["loose-rpl_semi_sync_source_enabled", "ON"],
      ["loose-rpl_semi_sync_replica_enabled", "ON"],
      ["loose-rpl_semi_sync_source_wait_point", "AFTER_SYNC", "acknowledged means on the replica"],
      ["loose-rpl_semi_sync_source_timeout", t],
      ["loose-rpl_semi_sync_source_wait_for_replica_count", "1"],
      ["loose-rpl_semi_sync_source_wait_no_replica", "OFF", "a lone master does not stall writes"],
    ];
  }
  return [
    ["rpl_semi_sync_master_enabled", "ON"],
    ["rpl_semi_sync_slave_enabled", "ON"],
    ["rpl_semi_sync_master_wait_point", "AFTER_SYNC", "MariaDB defaults to AFTER_COMMIT"],
    ["rpl_semi_sync_master_timeout", t],
    ["rpl_semi_sync_master_wait_no_slave", "OFF", "replicas with the master side on do not stall"],
  ];
}

export function renderMyCnf(input: MyCnfInput): string {
  const p = { ...defaultDbPaths(input.flavor, input.os), ...input.paths };
  if (!Number.isInteger(input.serverId) || input.serverId < 1) throw new Error(`server_id must be a positive integer, got ${input.serverId}`);

  const base: Line[] = [
    ["server_id", String(input.serverId), "unique in the cluster"],
    ["datadir", p.datadir],
    ["socket", p.socket],
    ["log-error", p.logError],
    ["pid-file", p.pidFile],
    ["tmpdir", p.tmpdir],
    ["port", String(input.port)],
    ["bind-address", p.bindAddress],
    ["skip-name-resolve", "ON", "accounts are granted by address; no DNS on the connect path"],
    ["character-set-server", "utf8mb4"],
    ["collation-server", "utf8mb4_unicode_ci"],
  ];
  if (WITHOUT_REMOVED_OPTIONS.includes(input.flavor)) {
    base.push("# Accounts: caching_sha2_password, the server's default (8.4+ refuses default_authentication_plugin, 9.x has no mysql_native_password)");
    // The X Protocol listens on every address at 33060 unless told: Pandora never uses it.
    base.push(["mysqlx", "OFF", "no X Protocol listener (port 33060 on every address): Pandora speaks the classic protocol"]);
  }

  const semi = semiSyncLines(input);
  const extra: Line[] = Object.entries(input.extra ?? {}).map(([k, v]) => [k, v]);

  const lines = [
    "# Managed by pandora-ha. Changes here are replaced on the next `pulumi up`.",
    `# Flavor: ${input.flavor}; node: ${input.reportHost}.`,
    "[mysqld]",
    ...section("Node identity and paths", base),
    ...section("OPTIMIZATION FOR PANDORA FMS (manual)", tuningLines(input)),
    ...section("SPECIFIC PARAMETERS FOR BINARY REPLICATION (manual, plus failover safety)", replicationLines(input, p)),
    ...(semi.length ? section("Semi-synchronous replication: no acknowledged write lost on failover", semi) : []),
    ...(extra.length ? section("Site settings", extra) : []),
    "",
    "[client]",
    `socket = ${p.socket}`,
    "",
  ];
  return lines.join("\n");
}

/**
 * Options MySQL 8.4 and 9.x refuse to start with (mysql-lab-notes.md: `unknown variable`; with
 * replica_parallel_type its slave_ twin), spelt with '_' (my.cnf takes '-' for it too, and a
 * `loose-` prefix only hides them while the plugins are not loaded); and every name under the
 * prefixes. The percona84 and mysql files hold none of them.
 */
export const MYSQL84_REFUSED_OPTIONS = [
  "innodb_log_file_size",
  "innodb_log_files_in_group",
  "master_info_repository",
  "relay_log_info_repository",
  "expire_logs_days",
  "default_authentication_plugin",
  "transaction_write_set_extraction",
  "binlog_transaction_dependency_tracking",
  "replica_parallel_type",
  "slave_parallel_type",
];
export const MYSQL84_REFUSED_PREFIXES = ["rpl_semi_sync_master_", "rpl_semi_sync_slave_"];

/** Options MariaDB 10.11 refuses to start with (mariadb-lab-notes.md). */
export const MARIADB_REJECTED_OPTIONS = [
  "sync_source_info",
  "replica_compressed_protocol",
  "replica_parallel_workers",
  "gtid-mode",
  "gtid_mode",
  "enforce-gtid-consistency",
  "enforce_gtid_consistency",
  "super_read_only",
  "log_replica_updates",
  "skip_replica_start",
  "replica_net_timeout",
  "binlog_transaction_compression",
  "innodb_redo_log_capacity",
];

/** Parses `key = value` lines of one section (for tests and the lab). */
export function parseCnfSection(text: string, sectionName: string): Array<[string, string | undefined]> {
  const out: Array<[string, string | undefined]> = [];
  let inSection = false;
  for (const rawLine of text.split("\n")) {
    const line = rawLine.replace(/\s+#.*$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      inSection = sec[1] === sectionName;
      continue;
    }
    if (!inSection) continue;
    const eq = line.indexOf("=");
    if (eq < 0) out.push([line, undefined]);
    else out.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return out;
}
