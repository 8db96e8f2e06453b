import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { OSES, parseConfig } from "../../lib/config";
import {
  MARIADB_REJECTED_OPTIONS,
  MYSQL84_REFUSED_OPTIONS,
  MYSQL84_REFUSED_PREFIXES,
  myCnfPath,
  parseCnfSection,
  renderMyCnf,
} from "../../lib/render/mycnf";
import type { MyCnfInput } from "../../lib/render/mycnf";
import {
  consoleRemoteConfigLine,
  pandoraServerTokens,
  renderAgentSnippet,
  renderPandoraHaUnit,
  renderTentacleConf,
} from "../../lib/render/pandora";
import { stackConfig } from "./mocks";

const base: MyCnfInput = {
  flavor: "percona80",
  os: "rocky9",
  serverId: 1,
  reportHost: "db1",
  port: 3306,
  dbName: "pandora",
  innodbBufferPoolSize: "4096M",
  semiSync: true,
  semiSyncTimeoutMs: 5000,
};

const mysqld = (i: MyCnfInput) => new Map(parseCnfSection(renderMyCnf(i), "mysqld").map(([k, v]) => [k, v]));
const keysOf = (i: MyCnfInput) => parseCnfSection(renderMyCnf(i), "mysqld").map(([k]) => k);
const plugins = (i: MyCnfInput) => parseCnfSection(renderMyCnf(i), "mysqld").filter(([k]) => k === "plugin-load-add").map(([, v]) => v);
/** An option as the server reads it: '-' and '_' alike, without the `loose-` prefix. */
const optionName = (k: string) => k.replace(/-/g, "_").replace(/^loose_/, "");

// Every key of the manual's my.cnf, with the name each flavor uses for it.
const MANUAL_KEYS: Array<[percona: string, mariadb: string]> = [
  ["server_id", "server_id"],
  ["datadir", "datadir"],
  ["socket", "socket"],
  ["log-error", "log-error"],
  ["pid-file", "pid-file"],
  ["innodb_buffer_pool_size", "innodb_buffer_pool_size"],
  ["innodb_lock_wait_timeout", "innodb_lock_wait_timeout"],
  ["innodb_file_per_table", "innodb_file_per_table"],
  ["innodb_flush_method", "innodb_flush_method"],
  ["innodb_log_file_size", "innodb_log_file_size"],
  ["innodb_log_buffer_size", "innodb_log_buffer_size"],
  ["thread_cache_size", "thread_cache_size"],
  ["max_connections", "max_connections"],
  ["key_buffer_size", "key_buffer_size"],
  ["read_buffer_size", "read_buffer_size"],
  ["read_rnd_buffer_size", "read_rnd_buffer_size"],
  ["sort_buffer_size", "sort_buffer_size"],
  ["join_buffer_size", "join_buffer_size"],
  ["sql_mode", "sql_mode"],
  ["binlog-do-db", "binlog-do-db"],
  ["replicate-do-db", "replicate-do-db"],
  ["max_binlog_size", "max_binlog_size"],
  ["binlog-format", "binlog-format"],
  ["binlog_expire_logs_seconds", "binlog_expire_logs_seconds"],
  ["sync_source_info", "sync_master_info"],
  ["sync_binlog", "sync_binlog"],
  ["port", "port"],
  ["report-port", "report-port"],
  ["report-host", "report-host"],
  ["sync_relay_log", "sync_relay_log"],
  ["replica_compressed_protocol", "slave_compressed_protocol"],
  ["replica_parallel_workers", "slave_parallel_threads"],
  ["innodb_flush_log_at_trx_commit", "innodb_flush_log_at_trx_commit"],
  ["innodb_flush_log_at_timeout", "innodb_flush_log_at_timeout"],
];

/** The name a flavor's file uses for a manual key: MariaDB's, or 8.4's redo log capacity for the log file size. */
function manualKey(flavor: MyCnfInput["flavor"], [pk, mk]: [string, string]): string {
  if (flavor === "mariadb1011") return mk;
  return pk === "innodb_log_file_size" && (flavor === "percona84" || flavor === "mysql") ? "innodb_redo_log_capacity" : pk;
}

describe("my.cnf", () => {
  test.each(["percona84", "percona80", "mysql", "mariadb1011"] as const)("%s: every key the manual requires, with the manual's values", (flavor) => {
    const m = mysqld({ ...base, flavor });
    for (const keys of MANUAL_KEYS) expect(m.has(manualKey(flavor, keys)), `${flavor} lacks ${manualKey(flavor, keys)}`).toBe(true);
    expect(m.get("binlog-format")).toBe("ROW");
    expect(m.get("binlog-do-db")).toBe("pandora");
    expect(m.get("replicate-do-db")).toBe("pandora");
    expect(m.get("binlog_expire_logs_seconds")).toBe("172800");
    expect(m.get("innodb_buffer_pool_size")).toBe("4096M");
    expect(m.get("max_connections")).toBe("200");
    expect(m.get("sql_mode")).toBe('""');
    expect(m.get("sync_binlog")).toBe("1");
    expect(m.get("innodb_flush_log_at_trx_commit")).toBe("2");
    // Deliberate deviation: the manual's 1800 s leaves redo unflushed for 30 min and breaks mariabackup.
    expect(m.get("innodb_flush_log_at_timeout")).toBe("1");
    expect(m.get("report-host")).toBe("db1");
    expect(m.get("log-bin")).toBeDefined();
  });

  test("percona80: GTIDs, super_read_only, semi-sync AFTER_SYNC through the plugins; the clone plugin only when seeding by clone", () => {
    const m = mysqld(base);
    expect(m.get("gtid-mode")).toBe("ON");
    expect(m.get("enforce-gtid-consistency")).toBe("ON");
    expect(m.get("super_read_only")).toBe("ON");
    expect(m.get("read_only")).toBe("ON");
    expect(m.get("loose-rpl_semi_sync_source_wait_point")).toBe("AFTER_SYNC");
    expect(m.get("loose-rpl_semi_sync_source_timeout")).toBe("5000");
    // percona80's default is xtrabackup (what its existing installs were seeded with).
    expect(plugins(base)).toEqual(["semisync_source.so", "semisync_replica.so"]);
    expect(plugins({ ...base, seedMethod: "clone" })).toEqual(["mysql_clone.so", "semisync_source.so", "semisync_replica.so"]);
  });

  test("mariadb1011: no option MariaDB 10.11 rejects, MariaDB's own names for semi-sync and strict GTIDs", () => {
    for (const semiSync of [true, false]) {
      const keys = keysOf({ ...base, flavor: "mariadb1011", os: "ubuntu2204", semiSync });
      for (const bad of MARIADB_REJECTED_OPTIONS) expect(keys, `MariaDB file has ${bad}`).not.toContain(bad);
      expect(keys.filter((k) => /replica_|source_|_source|_replica/.test(k))).toEqual([]);
    }
    const m = mysqld({ ...base, flavor: "mariadb1011" });
    expect(m.get("rpl_semi_sync_master_wait_point")).toBe("AFTER_SYNC");
    expect(m.get("rpl_semi_sync_master_enabled")).toBe("ON");
    expect(m.get("rpl_semi_sync_slave_enabled")).toBe("ON");
    expect(m.get("rpl_semi_sync_master_wait_no_slave")).toBe("OFF");
    expect(m.get("gtid_strict_mode")).toBe("ON");
    expect(m.get("read_only")).toBe("ON");
    expect(m.get("log_slave_updates")).toBe("ON");
    expect(m.get("collation-server")).not.toMatch(/0900/);
  });

  test("no semi-sync settings when ha.semiSync is false", () => {
    for (const flavor of ["percona84", "percona80", "mysql", "mariadb1011"] as const) {
      expect(renderMyCnf({ ...base, flavor, semiSync: false })).not.toMatch(/semi_sync|semisync/);
    }
  });

  test("server_id is unique per node across the cluster", () => {
    const cfg = parseConfig(stackConfig({ adminCidrs: ["203.0.113.4/32"], pandoraServerPackages: ["/tmp/p.rpm"], dbNodes: [{ name: "a" }, { name: "b" }, { name: "c", serverId: 10 }] }));
    const ids = cfg.dbNodes.map((n) => mysqld({ ...base, serverId: n.serverId, reportHost: n.name }).get("server_id"));
    expect(ids).toEqual(["1", "2", "10"]);
    expect(new Set(ids).size).toBe(3);
  });

  test("binary logs go to their own volume when given, relay logs stay in the datadir", () => {
    const m = mysqld({ ...base, binlogDir: "/var/lib/mysql-binlog" });
    expect(m.get("log-bin")).toBe("/var/lib/mysql-binlog/binlog");
    expect(m.get("log-bin-index")).toBe("/var/lib/mysql-binlog/binlog.index");
    expect(m.get("relay-log")).toBe("/var/lib/mysql/relay-bin");
  });

  test("OS-specific paths: /etc/my.cnf on Rocky, /etc/mysql/my.cnf on Ubuntu (manual)", () => {
    expect(myCnfPath("rocky8")).toBe("/etc/my.cnf");
    expect(myCnfPath("ubuntu2404")).toBe("/etc/mysql/my.cnf");
    expect(mysqld({ ...base, os: "rocky8" }).get("socket")).toBe("/var/lib/mysql/mysql.sock");
    expect(mysqld({ ...base, os: "ubuntu2204" }).get("socket")).toBe("/var/run/mysqld/mysqld.sock");
  });

  test("per flavor: Percona 8.4 where Percona 8.0 is; the OS's MySQL where its packages put things (Rocky: /var/log/mysql)", () => {
    const paths = (flavor: MyCnfInput["flavor"], os: MyCnfInput["os"]) => {
      const m = mysqld({ ...base, flavor, os });
      return [m.get("socket"), m.get("log-error"), m.get("pid-file"), m.get("datadir")];
    };
    for (const os of OSES) expect(paths("percona84", os), os).toEqual(paths("percona80", os));
    expect(paths("mysql", "rocky9")).toEqual(["/var/lib/mysql/mysql.sock", "/var/log/mysql/mysqld.log", "/var/run/mysqld/mysqld.pid", "/var/lib/mysql"]);
    expect(paths("mysql", "ubuntu2404")).toEqual(["/var/run/mysqld/mysqld.sock", "/var/log/mysql/error.log", "/var/run/mysqld/mysqld.pid", "/var/lib/mysql"]);
  });

  test("no password in my.cnf (it is world-readable); the lab's paths override the defaults", () => {
    const text = renderMyCnf({ ...base, paths: { datadir: "/lab/db1/data" }, extra: { innodb_buffer_pool_size: "64M" } });
    expect(text).not.toMatch(/password/i);
    expect(parseCnfSection(text, "mysqld").find(([k]) => k === "datadir")?.[1]).toBe("/lab/db1/data");
    expect(() => renderMyCnf({ ...base, serverId: 0 })).toThrow(/server_id/);
  });
});

describe("my.cnf for MySQL 8.4 and 9.x (percona84, mysql; the mysql file also for 8.0.30+)", () => {
  const FLAVORS = ["percona84", "mysql"] as const;
  const SEEDS = { percona84: ["clone", "xtrabackup"], mysql: ["clone"] } as const;

  test.each(FLAVORS)("%s: none of the options those servers refuse to start with, on any OS, with or without semi-sync", (flavor) => {
    for (const os of OSES)
      for (const semiSync of [true, false])
        for (const seedMethod of SEEDS[flavor]) {
          const text = renderMyCnf({ ...base, flavor, os, semiSync, seedMethod });
          const names = [...parseCnfSection(text, "mysqld"), ...parseCnfSection(text, "client")].map(([k]) => optionName(k));
          const what = `${flavor} ${os} semiSync ${semiSync} ${seedMethod}`;
          for (const bad of MYSQL84_REFUSED_OPTIONS) expect(names, `${what} has ${bad}`).not.toContain(bad);
          for (const prefix of MYSQL84_REFUSED_PREFIXES) expect(names.filter((n) => n.startsWith(prefix)), what).toEqual([]);
          // Nothing by its master/slave name at all: 8.4's names only.
          expect(names.filter((n) => /master|slave/.test(n)), what).toEqual([]);
        }
  });

  test("the refused options are the lab's list (mysql-lab-notes.md), with the slave_ twin of replica_parallel_type", () => {
    expect([...MYSQL84_REFUSED_OPTIONS].sort()).toEqual([
      "binlog_transaction_dependency_tracking",
      "default_authentication_plugin",
      "expire_logs_days",
      "innodb_log_file_size",
      "innodb_log_files_in_group",
      "master_info_repository",
      "relay_log_info_repository",
      "replica_parallel_type",
      "slave_parallel_type",
      "transaction_write_set_extraction",
    ]);
    expect(MYSQL84_REFUSED_PREFIXES).toEqual(["rpl_semi_sync_master_", "rpl_semi_sync_slave_"]);
    // The percona80 file does hold some of them (8.0 reads them): the check above can fail.
    const percona80 = keysOf({ ...base, seedMethod: "xtrabackup" }).map(optionName);
    expect(MYSQL84_REFUSED_OPTIONS.filter((o) => percona80.includes(o))).toEqual(["innodb_log_file_size", "master_info_repository", "relay_log_info_repository"]);
  });

  test.each(FLAVORS)("%s: the replacements: redo log capacity, binlog_expire_logs_seconds, semi-sync and clone plugins, source/replica names", (flavor) => {
    const m = mysqld({ ...base, flavor });
    // The manual's innodb_log_file_size 64M times the 2 log files it had.
    expect(m.get("innodb_redo_log_capacity")).toBe("128M");
    expect(m.get("binlog_expire_logs_seconds")).toBe("172800");
    expect(plugins({ ...base, flavor })).toEqual(["mysql_clone.so", "semisync_source.so", "semisync_replica.so"]);
    expect(Object.fromEntries([...m].filter(([k]) => k.startsWith("loose-rpl_semi_sync_")))).toEqual({
      "loose-rpl_semi_sync_source_enabled": "ON",
      "loose-rpl_semi_sync_replica_enabled": "ON",
      "loose-rpl_semi_sync_source_wait_point": "AFTER_SYNC",
      "loose-rpl_semi_sync_source_timeout": "5000",
      "loose-rpl_semi_sync_source_wait_for_replica_count": "1",
      "loose-rpl_semi_sync_source_wait_no_replica": "OFF",
    });
    for (const [k, v] of [
      ["gtid-mode", "ON"],
      ["enforce-gtid-consistency", "ON"],
      ["super_read_only", "ON"],
      ["read_only", "ON"],
      ["sync_source_info", "1"],
      ["log_replica_updates", "ON"],
      ["replica_parallel_workers", "4"],
      ["replica_preserve_commit_order", "ON"],
      ["replica_net_timeout", "5"],
    ]) expect(m.get(k), `${flavor} ${k}`).toBe(v);
    // caching_sha2_password, the server's default: no authentication option at all.
    expect([...m.keys()].filter((k) => /auth/.test(k))).toEqual([]);
    // Without clone, no clone plugin.
    expect(plugins({ ...base, flavor, seedMethod: "xtrabackup", semiSync: false })).toEqual([]);
  });

  test.each(FLAVORS)("%s: each change from the manual and from percona80 is a comment in the file", (flavor) => {
    const text = renderMyCnf({ ...base, flavor });
    expect(text).toMatch(/^innodb_redo_log_capacity = 128M {2}# manual: innodb_log_file_size = 64M \(x 2 files\), deprecated since 8\.0\.30 and refused by 9\.x; the same redo space$/m);
    expect(text).toMatch(/^# master-info-repository, relay-log-info-repository: not written \(TABLE is the default since 8\.0\.23; 8\.4\+ refuses them\)$/m);
    expect(text).toMatch(/^# Accounts: caching_sha2_password, the server's default \(8\.4\+ refuses default_authentication_plugin/m);
    expect(text).toMatch(/^plugin-load-add = mysql_clone\.so {2}# seedMethod clone: /m);
    expect(text).toMatch(new RegExp(`^# Flavor: ${flavor}; node: db1\\.$`, "m"));
  });
});

describe("percona80 and mariadb1011 files: unchanged in substance", () => {
  // Rendered by the code before the 8.4 flavors (same `base`): every option, value and order.
  const fixture = (name: string) => readFileSync(path.join(__dirname, "..", "fixtures", "mycnf", name), "utf8");
  const sections = (text: string) => ({ mysqld: parseCnfSection(text, "mysqld"), client: parseCnfSection(text, "client") });
  const clonePlugin = ([k, v]: [string, string | undefined]) => k === "plugin-load-add" && v === "mysql_clone.so";

  test("percona80 seeded by xtrabackup: the same options and values, in the same order", () => {
    expect(sections(renderMyCnf({ ...base, seedMethod: "xtrabackup" }))).toEqual(sections(fixture("percona80-rocky9.cnf")));
  });

  test("percona80 seeded by clone (not its default): the same, plus the clone plugin once", () => {
    const before = sections(fixture("percona80-rocky9.cnf"));
    expect(sections(renderMyCnf(base))).toEqual(before);
    const now = sections(renderMyCnf({ ...base, seedMethod: "clone" }));
    expect(now.client).toEqual(before.client);
    expect(now.mysqld.filter((l) => !clonePlugin(l))).toEqual(before.mysqld);
    expect(now.mysqld.filter(clonePlugin)).toHaveLength(1);
  });

  test("mariadb1011: the same options and values, whatever seedMethod says", () => {
    for (const seedMethod of [undefined, "mariabackup", "clone"] as const) {
      const text = renderMyCnf({ ...base, flavor: "mariadb1011", os: "ubuntu2204", seedMethod });
      expect(sections(text), String(seedMethod)).toEqual(sections(fixture("mariadb1011-ubuntu2204.cnf")));
    }
  });
});

/** Asks the real mariadbd (10.11, from Debian) to read a my.cnf: its effective values, or its errors. */
function mariadbdReads(cnf: string): { ok: boolean; errors: string; values: Map<string, string> } {
  const which = spawnSync("sh", ["-c", "command -v mariadbd"], { encoding: "utf8" });
  if (which.status !== 0) throw new Error("mariadbd not found: apt-get install -y mariadb-server (CI installs it)");
  const dir = mkdtempSync(path.join(tmpdir(), "pha-cnf-"));
  const file = path.join(dir, "my.cnf");
  writeFileSync(file, cnf);
  const r = spawnSync("mariadbd", [`--defaults-file=${file}`, "--help", "--verbose"], { encoding: "utf8" });
  const values = new Map<string, string>();
  for (const line of r.stdout.split("\n")) {
    const m = /^([a-z0-9-]+)\s+(.+)$/.exec(line.trim());
    if (m) values.set(m[1], m[2].trim());
  }
  const errors = r.stderr.split("\n").filter((l) => l.includes("[ERROR]")).join("\n");
  return { ok: r.status === 0 && errors === "", errors, values };
}

describe("my.cnf read by a real MariaDB 10.11 server", () => {
  const lab = (dir: string) => ({ datadir: `${dir}/data`, socket: `${dir}/s.sock`, logError: `${dir}/err.log`, pidFile: `${dir}/p.pid`, tmpdir: dir });

  test("the MariaDB file is accepted and means what we wrote", () => {
    const r = mariadbdReads(renderMyCnf({ ...base, flavor: "mariadb1011", os: "ubuntu2204", serverId: 7, paths: lab("/tmp/pha") }));
    expect(r.errors).toBe("");
    expect(r.ok).toBe(true);
    expect(r.values.get("server-id")).toBe("7");
    expect(r.values.get("read-only")).toBe("TRUE");
    expect(r.values.get("gtid-strict-mode")).toBe("TRUE");
    expect(r.values.get("rpl-semi-sync-master-enabled")).toBe("TRUE");
    expect(r.values.get("rpl-semi-sync-master-wait-point")).toBe("AFTER_SYNC");
    expect(r.values.get("rpl-semi-sync-master-wait-no-slave")).toBe("FALSE");
    expect(r.values.get("binlog-format")).toBe("ROW");
    expect(r.values.get("log-slave-updates")).toBe("TRUE");
    expect(r.values.get("slave-net-timeout")).toBe("5");
    expect(r.values.get("report-host")).toBe("db1");
  });

  test("the Percona file is refused by MariaDB (the check above can fail)", () => {
    const r = mariadbdReads(renderMyCnf({ ...base, paths: lab("/tmp/pha") }));
    expect(r.ok).toBe(false);
    expect(r.errors).toMatch(/unknown variable/);
  });
});

describe("pandora_server.conf tokens", () => {
  const cfg = parseConfig(stackConfig({
    platform: "existing",
    dbNodes: [{ name: "db1", host: "10.0.0.11" }, { name: "db2", host: "10.0.0.12" }],
    servers: [{ name: "pfms1", host: "10.0.0.21", master: 2 }, { name: "pfms2", host: "10.0.0.22" }],
    ssh: { user: "root", port: 22, privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----" },
    ha: { connectRetries: 3, splitbrainAutofix: true, sshUser: "pandora" },
  }));

  test("every HA token the original reads, per server, with distinct servername and master", () => {
    const t1 = new Map(pandoraServerTokens(cfg, cfg.servers[0]));
    const t2 = new Map(pandoraServerTokens(cfg, cfg.servers[1]));
    for (const tok of ["servername", "master", "ha_hosts", "ha_dbuser", "ha_dbpass", "repl_dbuser", "repl_dbpass", "ha_sshuser", "ha_sshport", "ha_resync", "ha_resync_log", "ha_connect_retries", "splitbrain_autofix", "restart", "dbhost", "dbuser", "dbpass", "dbname"])
      expect(t1.has(tok), tok).toBe(true);
    expect(t1.get("servername")).toBe("pfms1");
    expect(t2.get("servername")).toBe("pfms2");
    expect(t1.get("master")).toBe("2");
    expect(t2.get("master")).toBe("1");
    expect(t1.get("restart")).toBe("0");
    expect(t1.get("splitbrain_autofix")).toBe("1");
    expect(t1.get("ha_connect_retries")).toBe("3");
    expect(t1.get("ha_sshuser")).toBe("pandora");
    expect(t1.get("ha_hosts")).toEqual({ join: [{ ref: "address:db1" }, { ref: "address:db2" }], sep: "," });
  });

  test("pandora_ha's tokens: files, services, probing, failover budget; ha_bind_address only when set, ha_http_address only when that is loopback", () => {
    const t = new Map(pandoraServerTokens(cfg, cfg.servers[0]));
    expect(Object.fromEntries([...t].filter(([k]) => /^(ha_(hosts_file|pid_file|interval|sshkey|probe_|failover_|connect_delay)|pandora_service_cmd|tentacle_service)/.test(k)))).toEqual({
      ha_connect_delay: "0.5",
      ha_hosts_file: "/var/spool/pandora/data_in/conf/pandora_ha_hosts.conf",
      ha_pid_file: "/var/run/pandora_ha.pid",
      pandora_service_cmd: "/etc/init.d/pandora_server",
      tentacle_service_cmd: "/etc/init.d/tentacle_serverd",
      tentacle_service_watchdog: "1",
      ha_interval: "10",
      ha_sshkey: "/root/.ssh/id_pandora_ha",
      ha_probe_interval: "0.5",
      ha_probe_timeout: "1",
      ha_failover_budget: "1",
      ha_failover_window: "3600",
    });
    expect(t.get("ha_guard_timeout")).toBe("4");
    expect(t.has("ha_bind_address")).toBe(false);
    const bound = { ...cfg.servers[0], bindAddress: "10.0.0.21" };
    expect(new Map(pandoraServerTokens(cfg, bound)).get("ha_bind_address")).toBe("10.0.0.21");
    // The HTTP endpoint stays on 127.0.0.1 (the daemon's default), unless the bind address is a
    // loopback one itself: server hosts sharing one machine's network each get their own.
    expect(t.has("ha_http_address")).toBe(false);
    expect(new Map(pandoraServerTokens(cfg, bound)).has("ha_http_address")).toBe(false);
    const lab = new Map(pandoraServerTokens(cfg, { ...cfg.servers[0], bindAddress: "127.0.1.101" }));
    expect([lab.get("ha_bind_address"), lab.get("ha_http_address")]).toEqual(["127.0.1.101", "127.0.1.101"]);
    // Token names as server-pandora-conf.sh accepts them, each once.
    const names = pandoraServerTokens(cfg, bound).map(([k]) => k);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[a-z0-9_]+$/);
  });

  test("passwords are references to secrets, never literals", () => {
    const t = new Map(pandoraServerTokens(cfg, cfg.servers[0]));
    expect(t.get("ha_dbpass")).toEqual({ ref: "secret:haDbPassword" });
    expect(t.get("repl_dbpass")).toEqual({ ref: "secret:replPassword" });
    expect(t.get("dbpass")).toEqual({ ref: "secret:pandoraDbPassword" });
  });
});

describe("pandora_ha.service", () => {
  test("the daemon in the foreground with its pid file, restarted always, after the network", () => {
    const u = renderPandoraHaUnit({ conf: "/etc/pandora/pandora_server.conf", pidFile: "/var/run/pandora_ha.pid" });
    expect(u).toMatch(/^\[Unit\]$/m);
    expect(u).toMatch(/^After=network-online\.target$/m);
    expect(u).toMatch(/^Wants=network-online\.target$/m);
    expect(u).toMatch(/^Type=simple$/m);
    expect(u).toMatch(/^ExecStart=\/usr\/share\/pandora-ha\/bin\/pandora_ha -p \/var\/run\/pandora_ha\.pid \/etc\/pandora\/pandora_server\.conf$/m);
    expect(u).not.toMatch(/ -d /);
    expect(u).toMatch(/^Restart=always$/m);
    expect(u).toMatch(/^RestartSec=1$/m);
    // Stopping it stops the whole control group (the default).
    expect(u).not.toMatch(/KillMode/);
    expect(u).toMatch(/^WantedBy=multi-user\.target$/m);
    expect(u.endsWith("\n")).toBe(true);
    expect(renderPandoraHaUnit({ conf: "/c", pidFile: "/p", bin: "/opt/x/pandora_ha" })).toMatch(/^ExecStart=\/opt\/x\/pandora_ha -p \/p \/c$/m);
  });
});

describe("Tentacle, agent and console", () => {
  test("tentacle_server.conf: port, incoming directory, filters, password only when set", () => {
    const plain = renderTentacleConf({ port: 41121 });
    expect(plain).toMatch(/^port 41121$/m);
    expect(plain).toMatch(/^directory \/var\/spool\/pandora\/data_in$/m);
    expect(plain).toMatch(/^filters .*\.conf:conf;.*\.md5:md5;/m);
    expect(plain).not.toMatch(/^password/m);
    const pw = renderTentacleConf({ port: 41999, password: "s3cr3tTentacle", sslCert: "/etc/t.crt", sslKey: "/etc/t.key" });
    expect(pw).toMatch(/^port 41999$/m);
    expect(pw).toMatch(/^password s3cr3tTentacle$/m);
    expect(pw).toMatch(/^ssl_cert \/etc\/t.crt$/m);
  });

  test("tentacle_server.conf: daemon 1 (Pandora's init script and Type=forking unit wait for the fork), the log in a directory of its own", () => {
    const c = renderTentacleConf({ port: 41121 });
    // Exactly one daemon line, and it says 1.
    expect(c.match(/^daemon .*$/gm)).toEqual(["daemon 1"]);
    expect(c.match(/^log_file .*$/gm)).toEqual(["log_file /var/log/tentacle/tentacle.log"]);
    expect(c).toMatch(/^addresses 0\.0\.0\.0$/m);
    expect(c).toMatch(/^max_size 2000000$/m);
    expect(c.endsWith("\n")).toBe(true);
    // Every line is a comment or `key value` (how Tentacle reads it).
    for (const l of c.trimEnd().split("\n")) expect(l).toMatch(/^(#.*|[a-z_]+ \S.*)$/);
    const lab = renderTentacleConf({ port: 41122, addresses: "127.0.0.1", incomingDir: "/tmp/in", logFile: "/tmp/log/t.log" });
    expect(lab).toMatch(/^addresses 127\.0\.0\.1$/m);
    expect(lab).toMatch(/^directory \/tmp\/in$/m);
    expect(lab).toMatch(/^log_file \/tmp\/log\/t\.log$/m);
    expect(lab).toMatch(/^daemon 1$/m);
  });

  test("agent fragment: primary, secondary on_error, never a password", () => {
    const s = renderAgentSnippet({ primary: "10.0.0.21", secondary: "10.0.0.22", port: 41121, passwordProtected: true });
    expect(s).toMatch(/^server_ip 10\.0\.0\.21$/m);
    expect(s).toMatch(/^secondary_mode on_error$/m);
    expect(s).toMatch(/^secondary_server_ip 10\.0\.0\.22$/m);
    expect(s).toMatch(/^secondary_server_port 41121$/m);
    expect(s).toMatch(/^secondary_transfer_mode tentacle$/m);
    expect(s).toMatch(/^secondary_server_path \/var\/spool\/pandora\/data_in$/m);
    expect(s).not.toMatch(/^server_pwd/m);
    const single = renderAgentSnippet({ primary: "lb.example", port: 41121, passwordProtected: false });
    expect(single).not.toMatch(/secondary/);
  });

  test("console line", () => {
    expect(consoleRemoteConfigLine()).toBe('$config["remote_config"] = "/var/spool/pandora/data_in";');
  });
});
