import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { MARIADB, MYSQL80, MYSQL84, STRICT_TIMEOUT_MS, dialectFor, parseSemiSyncDetail, quote, semiSyncStatements } from "../../runtime/dialect";
import type { Dialect, ReplicaStatus, SemiSyncStatus } from "../../runtime/types";
import { replicaStatus } from "./observations";

const FIXTURES = path.join(__dirname, "..", "fixtures", "sql");
type Rows = Array<Record<string, unknown>>;
interface Query {
  sql: string;
  values?: unknown[];
  rows: Rows;
}
interface StateFixture {
  recorded: string;
  version: string;
  state: string;
  replicaStatus: Query;
  readOnly: Query;
  superReadOnly?: Query;
  gtidHistory: Query;
  gtidExecuted: Query;
  semiSync: Query[];
}
const load = <T = StateFixture>(name: string): T => JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8")) as T;
const v = (q: Query) => q.rows[0].v;

const MARIA_UP = { sourceEnabled: true, sourceActive: true, clients: 0, replicaEnabled: true };
const MYSQL_UP = { sourceEnabled: true, sourceActive: true, clients: 0, replicaEnabled: true };
const A = "8d5c1f3e-4a2b-11ef-a6c9-0242ac120002";
const B = "9e6d2a4f-4a2b-11ef-b7da-0242ac120003";
const C = "0c4f7b2e-4a2c-11ef-8a10-0242ac120004";
/** What the MySQL fixtures' replicas report, unless a fixture says otherwise. */
const replica = (over: Partial<ReplicaStatus>): ReplicaStatus => replicaStatus({ sourceHost: "10.0.0.11", receivedGtid: `${A}:1-1520`, ...over });

/** What every state fixture must parse into (a new fixture without an entry fails the suite). */
/** What MySQL 8.0 and 8.4 replicas and masters of the fixtures have applied. */
const MYSQL_HISTORY = `${A}:1-1520,\n${B}:1-3`;
/** A MySQL 8.0/8.4 replica whose IO thread cannot reach its source (both versions say the same). */
const MYSQL_CONNECTING = replica({
  io: "connecting",
  secondsBehind: null,
  lastIoError:
    "Error reconnecting to source 'repl@10.0.0.11:3306'. This was attempt 4/86400, with a delay of 1 seconds " +
    "between attempts. Message: Can't connect to MySQL server on '10.0.0.11:3306' (111)",
});

const EXPECTED: Record<string, { flavor: string; replica: ReplicaStatus | undefined; semiSync: SemiSyncStatus; history: string }> = {
  "mariadb-replica-running.json": {
    flavor: "mariadb",
    replica: {
      sourceHost: "127.0.3.1",
      sourcePort: 3306,
      io: "yes",
      sqlRunning: true,
      lastIoError: "",
      lastSqlError: "",
      secondsBehind: 0,
      receivedGtid: "0-1-8",
      usingGtid: true,
    },
    semiSync: MARIA_UP,
    history: "0-1-8",
  },
  "mariadb-replica-stopped.json": {
    flavor: "mariadb",
    replica: {
      sourceHost: "127.0.3.1",
      sourcePort: 3306,
      io: "no",
      sqlRunning: false,
      lastIoError: "",
      lastSqlError: "",
      secondsBehind: null,
      receivedGtid: "0-1-10",
      usingGtid: true,
    },
    semiSync: MARIA_UP,
    history: "0-1-10",
  },
  "mariadb-replica-sql-only.json": {
    flavor: "mariadb",
    replica: {
      sourceHost: "127.0.3.1",
      sourcePort: 3306,
      io: "no",
      sqlRunning: true,
      lastIoError: "",
      lastSqlError: "",
      secondsBehind: null,
      receivedGtid: "0-1-10",
      usingGtid: true,
    },
    semiSync: MARIA_UP,
    history: "0-1-10",
  },
  "mariadb-replica-connecting.json": {
    flavor: "mariadb",
    replica: {
      sourceHost: "127.0.3.1",
      sourcePort: 3306,
      io: "connecting",
      sqlRunning: true,
      lastIoError:
        "error reconnecting to master 'repl@127.0.3.1:3306' - retry-time: 1  maximum-retries: 100000  message: " +
        "Can't connect to server on '127.0.3.1' (111 \"Connection refused\")",
      lastSqlError: "",
      secondsBehind: null,
      receivedGtid: "0-1-12",
      usingGtid: true,
    },
    semiSync: MARIA_UP,
    history: "0-1-12",
  },
  "mariadb-rejoined.json": {
    flavor: "mariadb",
    replica: {
      sourceHost: "127.0.3.2",
      sourcePort: 3306,
      io: "yes",
      sqlRunning: true,
      lastIoError: "",
      lastSqlError: "",
      secondsBehind: 0,
      receivedGtid: "0-2-13",
      usingGtid: true,
    },
    semiSync: MARIA_UP,
    history: "0-1-12,0-2-13",
  },
  "mariadb-master.json": {
    flavor: "mariadb",
    replica: undefined,
    semiSync: { ...MARIA_UP, clients: 1 },
    history: "0-1-8",
  },
  "mariadb-master-semisync-off.json": {
    flavor: "mariadb",
    replica: undefined,
    semiSync: { ...MARIA_UP, sourceActive: false, clients: 1 },
    history: "0-1-9",
  },
  "mariadb-master-no-replica.json": {
    flavor: "mariadb",
    replica: undefined,
    semiSync: MARIA_UP,
    history: "0-1-11",
  },
  "mariadb-promoted.json": {
    flavor: "mariadb",
    replica: undefined,
    semiSync: MARIA_UP,
    history: "0-1-12,0-2-13",
  },
  "mysql80-replica-running.json": {
    flavor: "mysql80",
    replica: replica({}),
    semiSync: MYSQL_UP,
    history: MYSQL_HISTORY,
  },
  "mysql80-replica-connecting.json": {
    flavor: "mysql80",
    replica: MYSQL_CONNECTING,
    semiSync: MYSQL_UP,
    history: MYSQL_HISTORY,
  },
  "mysql80-replica-stopped.json": {
    flavor: "mysql80",
    replica: replica({ io: "no", sqlRunning: false, secondsBehind: null }),
    semiSync: MYSQL_UP,
    history: MYSQL_HISTORY,
  },
  "mysql80-replica-sql-error.json": {
    flavor: "mysql80",
    replica: replica({
      sqlRunning: false,
      secondsBehind: null,
      receivedGtid: `${A}:1-1521`,
      lastSqlError:
        "Coordinator stopped because there were error(s) in the worker(s). The most recent failure being: Worker 1 " +
        `failed executing transaction '${A}:1521' at source log binlog.000003, end_log_pos 48561. See error log ` +
        "and/or performance_schema.replication_applier_status_by_worker table for more details about this failure " +
        "or others, if any.",
    }),
    semiSync: MYSQL_UP,
    history: MYSQL_HISTORY,
  },
  "mysql80-master.json": {
    flavor: "mysql80",
    replica: undefined,
    semiSync: { ...MYSQL_UP, clients: 1 },
    history: MYSQL_HISTORY,
  },
  "mysql80-master-semisync-off.json": {
    flavor: "mysql80",
    replica: undefined,
    semiSync: { ...MYSQL_UP, sourceActive: false },
    history: `${A}:1-1530,\n${B}:1-3`,
  },
  "mysql84-replica-running.json": {
    flavor: "mysql84",
    replica: replica({}),
    semiSync: MYSQL_UP,
    history: MYSQL_HISTORY,
  },
  "mysql84-replica-connecting.json": {
    flavor: "mysql84",
    replica: MYSQL_CONNECTING,
    semiSync: MYSQL_UP,
    history: MYSQL_HISTORY,
  },
  "mysql84-master.json": {
    flavor: "mysql84",
    replica: undefined,
    semiSync: { ...MYSQL_UP, clients: 1 },
    history: MYSQL_HISTORY,
  },
  "percona80-replica-running.json": {
    flavor: "mysql80",
    replica: replica({ secondsBehind: 4 }),
    semiSync: MYSQL_UP,
    history: `${A}:1-1498,\n${B}:1-3`,
  },
  "percona80-replica-stopped-multi-interval.json": {
    flavor: "mysql80",
    replica: replica({ io: "no", sqlRunning: false, secondsBehind: null, receivedGtid: `${A}:1000-1520` }),
    semiSync: MYSQL_UP,
    history: `${C}:1-42,\n${A}:1-800:802-1520,\n${B}:1-3`,
  },
  "percona80-master-legacy-plugin.json": {
    flavor: "mysql80",
    replica: undefined,
    semiSync: { ...MYSQL_UP, clients: 1 },
    history: MYSQL_HISTORY,
  },
};

/** Fixtures that are not one node's state (statement transcripts, history pairs). */
const NOT_STATES = ["mariadb-statements.json", "mariadb-errant.json", "mariadb-relay-purged.json"];

describe("recorded and transcribed server outputs (test/fixtures/sql)", () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".json"));

  test("every state fixture has an expectation, and every expectation a fixture", () => {
    expect(files.filter((f) => !NOT_STATES.includes(f)).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  test("MySQL/Percona fixtures say they are transcribed; MariaDB ones name the live server", () => {
    for (const f of files) {
      const fx = load<{ recorded: string; version: string }>(f);
      if (f.startsWith("mariadb-")) {
        expect(fx.recorded).toMatch(/^live: mariadbd 10\.11\.\d+-MariaDB/);
        expect(fx.version).toMatch(/^10\.11\.\d+-MariaDB/);
      } else {
        expect(fx.recorded).toBe("transcribed from the MySQL reference manual, not from a live server");
        expect(Object.keys(fx)[0]).toBe("recorded");
      }
    }
  });

  for (const [file, want] of Object.entries(EXPECTED)) {
    test(`${file}: parsed with the dialect its version selects`, () => {
      const fx = load(file);
      const d = dialectFor(fx.version);
      expect(d.flavor).toBe(want.flavor);
      // The fixture holds the answers to exactly the queries the dialect issues.
      expect(fx.replicaStatus.sql).toBe(d.replicaStatusSql);
      expect(fx.readOnly.sql).toBe(d.readOnlySql);
      expect(fx.superReadOnly?.sql).toBe(d.superReadOnlySql);
      expect(fx.gtidHistory.sql).toBe(d.gtidHistorySql);
      expect(fx.gtidExecuted.sql).toBe(d.gtidExecutedSql);
      expect(fx.semiSync.map((q) => q.sql)).toEqual(d.semiSyncSql);

      expect(d.parseReplicaStatus(fx.replicaStatus.rows)).toEqual(want.replica);
      expect(d.parseSemiSync(fx.semiSync.flatMap((q) => q.rows))).toEqual(want.semiSync);
      expect(v(fx.gtidHistory)).toBe(want.history);
      // A node's own history always contains itself, whatever whitespace the server put in it.
      expect(d.compareHistory(String(v(fx.gtidHistory)), String(v(fx.gtidHistory)))).toEqual({ prefix: true, errant: "", errantCount: 0 });
      // read_only comes back as 0/1, replicas and the rejoined node fenced.
      expect(v(fx.readOnly)).toBe(want.replica ? 1 : 0);
      if (fx.superReadOnly) expect(v(fx.superReadOnly)).toBe(want.replica ? 1 : 0);
    });
  }

  test("either field naming parses the same whatever the dialect", () => {
    const maria = load("mariadb-replica-running.json").replicaStatus.rows;
    const mysql = load("mysql84-replica-running.json").replicaStatus.rows;
    expect(MYSQL84.parseReplicaStatus(maria)).toEqual(MARIADB.parseReplicaStatus(maria));
    expect(MARIADB.parseReplicaStatus(mysql)).toEqual(MYSQL84.parseReplicaStatus(mysql));
    const legacy = load("percona80-master-legacy-plugin.json").semiSync.flatMap((q) => q.rows);
    expect(MYSQL84.parseSemiSync(legacy)).toEqual({ sourceEnabled: true, sourceActive: true, clients: 1, replicaEnabled: true });
  });

  test("edge rows: no rows, empty host, NULL/\"NULL\"/string numbers, Using_Gtid No, Auto_Position 0, no plugin", () => {
    expect(MARIADB.parseReplicaStatus([])).toBeUndefined();
    expect(MARIADB.parseReplicaStatus([{ Master_Host: "", Slave_IO_Running: "No" }])).toBeUndefined();
    expect(
      MARIADB.parseReplicaStatus([
        {
          Master_Host: "db1",
          Master_Port: "3307",
          Slave_IO_Running: "Preparing",
          Slave_SQL_Running: "No",
          Seconds_Behind_Master: "NULL",
          Using_Gtid: "No",
          Gtid_IO_Pos: "",
        },
      ]),
    ).toEqual({
      sourceHost: "db1",
      sourcePort: 3307,
      io: "no",
      sqlRunning: false,
      lastIoError: "",
      lastSqlError: "",
      secondsBehind: null,
      receivedGtid: "",
      usingGtid: false,
    });
    const mysqlRow = {
      Source_Host: "db1",
      Source_Port: 3306,
      Replica_IO_Running: "Yes",
      Replica_SQL_Running: "Yes",
      Seconds_Behind_Source: "17",
      Auto_Position: 0,
      Retrieved_Gtid_Set: `${A}:1-5,\n${B}:1-2`,
    };
    expect(MYSQL80.parseReplicaStatus([mysqlRow])).toMatchObject({ secondsBehind: 17, usingGtid: false, receivedGtid: `${A}:1-5,${B}:1-2` });
    expect(MYSQL80.parseSemiSync([])).toEqual({ sourceEnabled: false, sourceActive: false, clients: 0, replicaEnabled: false });
  });
});

describe("the MariaDB statements, run against real servers (mariadb-statements.json)", () => {
  interface Stmt {
    step: string;
    sql: string;
    values?: unknown[];
    ok: boolean;
    result?: unknown;
    warnings?: Rows;
    error?: { errno: number; message: string };
  }
  const fx = load<{ version: string; statements: Stmt[] }>("mariadb-statements.json");
  const accepted = new Set(fx.statements.filter((s) => s.ok).map((s) => s.sql));
  const REPL_PASSWORD = "r'e\"p\\l;--%_\n`x";

  test("every statement the dialect emits today was accepted by the recorded server", () => {
    const emitted = [
      ...MARIADB.fenceSql,
      ...MARIADB.writableSql,
      MARIADB.stopReplicaSql,
      MARIADB.stopIoThreadSql,
      MARIADB.startReplicaSql,
      MARIADB.startSqlThreadSql,
      MARIADB.resetReplicaAllSql,
      MARIADB.replicaStatusSql,
      MARIADB.readOnlySql,
      MARIADB.waitForGtidSql("0-1-1", 1).sql,
      ...MARIADB.changeSourceSql({ host: "127.0.3.1", port: 3306, user: "repl", password: REPL_PASSWORD }, false),
      ...MARIADB.changeSourceSql({ host: "127.0.3.2", port: 3306, user: "repl", password: REPL_PASSWORD }, true),
    ];
    for (const sql of emitted) expect(accepted, sql).toContain(sql);
    expect(fx.statements.filter((s) => !s.ok).map((s) => s.step)).toEqual(["node2 fenced: an application write is refused"]);
  });

  test("MASTER_GTID_WAIT: 0 when reached, -1 on timeout, also as a prepared statement", () => {
    const waits = fx.statements.filter((s) => s.sql === MARIADB.waitForGtidSql("", 0).sql);
    expect(waits.find((s) => /never written/.test(s.step))).toMatchObject({ values: ["0-1-1000000", 0.5], result: [{ v: -1 }] });
    expect(waits.filter((s) => !/never written/.test(s.step)).map((s) => s.result)).toEqual(
      Array(waits.length - 1).fill([{ v: 0 }]),
    );
    expect(waits.some((s) => /prepared/.test(s.step))).toBe(true);
  });

  test("fenced: an account without READ_ONLY ADMIN cannot write; writable again: it can", () => {
    const refused = fx.statements.find((s) => s.step === "node2 fenced: an application write is refused")!;
    expect(refused.error?.errno).toBe(1290);
    expect(fx.statements.find((s) => s.step === "node2 fenced: read_only")?.result).toEqual([{ v: 1 }]);
    expect(fx.statements.find((s) => s.step === "node2 writable again: read_only")?.result).toEqual([{ v: 0 }]);
    expect(fx.statements.find((s) => s.step === "node2 writable again: an application write is accepted")).toMatchObject({
      ok: true,
      result: { affectedRows: 1 },
    });
  });

  test("STOP SLAVE on a node never configured as a replica is a note, not an error", () => {
    const s = fx.statements.find((x) => /never configured/.test(x.step))!;
    expect(s).toMatchObject({ ok: true, warnings: [{ Level: "Note", Code: 1255 }] });
  });

  test("RESET SLAVE ALL leaves no replication: SHOW SLAVE STATUS is empty", () => {
    const s = fx.statements.find((x) => x.step === "node2 promoted: no replication left")!;
    expect(s.result).toEqual([]);
    expect(MARIADB.parseReplicaStatus(s.result as Rows)).toBeUndefined();
  });

  test("quote() round trips through the server unchanged", () => {
    const trips = fx.statements.filter((s) => /^quote\(/.test(s.step));
    expect(trips.length).toBeGreaterThanOrEqual(8);
    for (const s of trips) {
      const original = JSON.parse(/^quote\((.*)\) round trip$/.exec(s.step)![1]) as string;
      expect(s.sql).toBe(`SELECT ${quote(original)} AS v`);
      expect(s.result).toEqual([{ v: original }]);
    }
  });
});

describe("MariaDB histories recorded across a failover", () => {
  const hist = (f: string) => String(v(load(f).gtidHistory));

  test("the old master's history is a prefix of the promoted node's; the rejoined node equals it", () => {
    expect(MARIADB.compareHistory(hist("mariadb-master.json"), hist("mariadb-promoted.json"))).toEqual({ prefix: true, errant: "", errantCount: 0 });
    expect(MARIADB.compareHistory(hist("mariadb-rejoined.json"), hist("mariadb-promoted.json")).prefix).toBe(true);
    expect(MARIADB.compareHistory(hist("mariadb-promoted.json"), hist("mariadb-master.json"))).toEqual({
      prefix: false,
      errant: "0-1-12,0-2-13",
      errantCount: 5, // transactions 9..13
    });
  });

  test("a thread started with both stopped discards the relay log (startPurgesStoppedRelayLog): why the drain starts the SQL thread first", () => {
    const fx = load<{ bothStopped: Query; appliedThen: Query; afterStart: Query; appliedAfter: Query }>("mariadb-relay-purged.json");
    const stopped = MARIADB.parseReplicaStatus(fx.bothStopped.rows)!;
    const started = MARIADB.parseReplicaStatus(fx.afterStart.rows)!;
    expect([stopped.io, stopped.sqlRunning, started.io, started.sqlRunning]).toEqual(["no", false, "no", true]);
    // One transaction received and not applied...
    expect(MARIADB.comparePositions(stopped.receivedGtid, String(v(fx.appliedThen)))).toMatchObject({ prefix: false, errantCount: 1 });
    // ...gone from the relay log once the SQL thread started, and never applied.
    expect(started.receivedGtid).toBe(String(v(fx.appliedAfter)));
    expect(String(v(fx.appliedAfter))).toBe(String(v(fx.appliedThen)));
    expect(MARIADB.startPurgesStoppedRelayLog).toBe(true);
    expect([MYSQL80.startPurgesStoppedRelayLog, MYSQL84.startPurgesStoppedRelayLog]).toEqual([false, false]);
  });

  test("an errant write on the rejoined node: one transaction, seen from both sides", () => {
    const fx = load<{ node1: { beforeErrantWrite: Query; gtidHistory: Query }; node2: { gtidHistory: Query } }>("mariadb-errant.json");
    const before = String(v(fx.node1.beforeErrantWrite));
    const n1 = String(v(fx.node1.gtidHistory));
    const n2 = String(v(fx.node2.gtidHistory));
    expect([before, n1, n2]).toEqual(["0-1-12,0-2-15", "0-2-15,0-1-16", "0-1-12,0-2-15"]);
    expect(MARIADB.compareHistory(before, n2)).toEqual({ prefix: true, errant: "", errantCount: 0 });
    expect(MARIADB.compareHistory(n1, n2)).toEqual({ prefix: false, errant: "0-1-16", errantCount: 1 });
    expect(MARIADB.compareHistory(n2, n1).prefix).toBe(true);
    expect(MARIADB.unionPositions(n2, n1)).toBe("0-1-16");
  });
});

describe("dialectFor", () => {
  const accepted: Array<[string, string]> = [
    ["10.11.6-MariaDB-0+deb12u1-log", "mariadb"],
    ["10.11.19-MariaDB-0+deb12u1-log", "mariadb"],
    ["10.6.16-MariaDB", "mariadb"],
    ["10.6.0-MariaDB", "mariadb"],
    ["11.4.2-MariaDB-ubu2404", "mariadb"],
    ["5.5.5-10.11.6-MariaDB-log", "mariadb"],
    ["8.0.36", "mysql80"],
    ["8.0.36-28", "mysql80"],
    ["8.0.23", "mysql80"],
    ["8.0.40-0ubuntu0.22.04.1", "mysql80"],
    ["8.4.3-3", "mysql84"],
    ["8.4.0", "mysql84"],
    [" 8.4.3 ", "mysql84"],
    ["9.7.4-2", "mysql84"], // Debian sid's mysql-server, measured
    ["9.7.0", "mysql84"],
    ["9.1.0", "mysql84"],
  ];
  test.each(accepted)("%s → %s", (version, flavor) => {
    expect(dialectFor(version).flavor).toBe(flavor);
  });

  test("returns the exported singletons", () => {
    expect(dialectFor("10.11.6-MariaDB")).toBe(MARIADB);
    expect(dialectFor("8.0.36-28")).toBe(MYSQL80);
    expect(dialectFor("8.4.3-3")).toBe(MYSQL84);
  });

  const rejected = [
    "5.7.44",
    "5.7.44-48-log",
    "10.5.23-MariaDB-0+deb11u1",
    "10.3.39-MariaDB",
    "8.0.22",
    "8.0.11",
    "8.1.0",
    "8.3.0",
    "5.5.5-8.0.36",
    "10.11.6",
    "MariaDB",
    "garbage",
    "",
  ];
  test.each(rejected)("rejects %j, naming it and what is supported", (version) => {
    const escaped = JSON.stringify(version).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    expect(() => dialectFor(version)).toThrow(new RegExp(`${escaped}.*supported: MariaDB 10\\.6`));
  });
});

describe("statement text", () => {
  const args = { host: "10.0.0.11", port: 3306, user: "repl", password: "s3cr'et\\" };

  test("MariaDB", () => {
    expect(MARIADB.flavor).toBe("mariadb");
    expect(MARIADB.replicaStatusSql).toBe("SHOW SLAVE STATUS");
    expect(MARIADB.readOnlySql).toBe("SELECT @@global.read_only AS v");
    expect(MARIADB.superReadOnlySql).toBeUndefined();
    expect(MARIADB.gtidHistorySql).toBe("SELECT @@global.gtid_binlog_state AS v");
    expect(MARIADB.gtidExecutedSql).toBe("SELECT @@global.gtid_current_pos AS v");
    expect(MARIADB.semiSyncSql).toEqual(["SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync%'", "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync%'"]);
    expect(MARIADB.fenceSql).toEqual(["SET GLOBAL read_only = ON"]);
    expect(MARIADB.writableSql).toEqual(["SET GLOBAL read_only = OFF"]);
    expect([MARIADB.stopReplicaSql, MARIADB.stopIoThreadSql, MARIADB.startReplicaSql, MARIADB.startSqlThreadSql, MARIADB.resetReplicaAllSql]).toEqual([
      "STOP SLAVE",
      "STOP SLAVE IO_THREAD",
      "START SLAVE",
      "START SLAVE SQL_THREAD",
      "RESET SLAVE ALL",
    ]);
    const change =
      "CHANGE MASTER TO MASTER_HOST='10.0.0.11', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='s3cr\\'et\\\\', " +
      "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1";
    expect(MARIADB.changeSourceSql(args, false)).toEqual([change]);
    expect(MARIADB.changeSourceSql(args, true)).toEqual(["SET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos", change]);
    expect(MARIADB.waitForGtidSql("0-1-100,0-2-150", 5)).toEqual({
      sql: "SELECT MASTER_GTID_WAIT(?, ?) AS v",
      values: ["0-1-100,0-2-150", 5],
    });
  });

  test.each([MYSQL80, MYSQL84])("MySQL/Percona %#", (d) => {
    expect(d.replicaStatusSql).toBe("SHOW REPLICA STATUS");
    expect(d.readOnlySql).toBe("SELECT @@global.read_only AS v");
    expect(d.superReadOnlySql).toBe("SELECT @@global.super_read_only AS v");
    expect(d.gtidHistorySql).toBe("SELECT @@global.gtid_executed AS v");
    expect(d.gtidExecutedSql).toBe("SELECT @@global.gtid_executed AS v");
    expect(d.fenceSql).toEqual(["SET GLOBAL super_read_only = ON"]);
    expect(d.writableSql).toEqual(["SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"]);
    expect([d.stopReplicaSql, d.stopIoThreadSql, d.startReplicaSql, d.startSqlThreadSql, d.resetReplicaAllSql]).toEqual([
      "STOP REPLICA",
      "STOP REPLICA IO_THREAD",
      "START REPLICA",
      "START REPLICA SQL_THREAD",
      "RESET REPLICA ALL",
    ]);
    const change =
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.0.0.11', SOURCE_PORT=3306, SOURCE_USER='repl', " +
      "SOURCE_PASSWORD='s3cr\\'et\\\\', SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=86400, SOURCE_HEARTBEAT_PERIOD=1, " +
      "GET_SOURCE_PUBLIC_KEY=1";
    expect(d.changeSourceSql(args, false)).toEqual([change]);
    expect(d.changeSourceSql(args, true)).toEqual([change]);
    expect(d.waitForGtidSql(`${A}:1-5`, 2.5)).toEqual({ sql: "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS v", values: [`${A}:1-5`, 2.5] });
  });

  /** Every statement text a dialect can produce. */
  const allSql = (d: Dialect): string[] => [
    d.replicaStatusSql,
    d.readOnlySql,
    ...(d.superReadOnlySql ? [d.superReadOnlySql] : []),
    d.gtidHistorySql,
    d.gtidExecutedSql,
    ...d.semiSyncSql,
    ...d.fenceSql,
    ...d.writableSql,
    d.stopReplicaSql,
    d.startReplicaSql,
    d.startSqlThreadSql,
    d.resetReplicaAllSql,
    ...d.changeSourceSql(args, false),
    ...d.changeSourceSql(args, true),
    d.waitForGtidSql("x", 1).sql,
  ];

  test.each([MYSQL84, MYSQL80])("%#: never emits the statements 8.4 removed, nor any SLAVE/MASTER keyword", (d) => {
    for (const sql of allSql(d)) {
      for (const removed of ["CHANGE MASTER", "SHOW SLAVE", "START SLAVE", "STOP SLAVE", "RESET SLAVE", "SHOW MASTER"]) {
        expect(sql.toUpperCase()).not.toContain(removed);
      }
      expect(sql).not.toMatch(/\b(slave|master)\b|master_/i);
    }
  });

  test("the port must be a port; host, user and password are quoted", () => {
    for (const d of [MARIADB, MYSQL80, MYSQL84]) {
      for (const port of [0, 65536, 3306.5, Number.NaN]) expect(() => d.changeSourceSql({ ...args, port }, false)).toThrow(/port/);
    }
    const evil = MARIADB.changeSourceSql({ host: "h', MASTER_PORT=1 -- ", port: 3306, user: "u", password: "p" }, false)[0];
    expect(evil).toContain("MASTER_HOST='h\\', MASTER_PORT=1 -- ', MASTER_PORT=3306");
  });
});

describe("quote", () => {
  test.each([
    ["plain", "'plain'"],
    ["", "''"],
    ["it's", "'it\\'s'"],
    ["back\\slash", "'back\\\\slash'"],
    ["\\'", "'\\\\\\''"],
    ['"double"', "'\"double\"'"],
    ["a\nb\rc", "'a\\nb\\rc'"],
    ["nul\0ctrlz\x1a", "'nul\\0ctrlz\\Z'"],
    ["ñ€😀 %_`", "'ñ€😀 %_`'"],
  ])("%j → %s", (input, want) => {
    expect(quote(input)).toBe(want);
  });
});

describe("MariaDB compareHistory", () => {
  const cmp = (a: string, b: string) => MARIADB.compareHistory(a, b);
  test.each([
    ["equal", "0-1-100", "0-1-100", true, "", 0],
    ["behind on the same server", "0-1-100", "0-1-150", true, "", 0],
    ["old master vs promoted replica", "0-1-100", "0-1-100,0-2-150", true, "", 0],
    ["empty a", "", "0-1-100", true, "", 0],
    ["both empty", "", "", true, "", 0],
    ["whitespace and newlines, any order", " 0-1-100,\n0-2-150 ", "0-2-150,0-1-100", true, "", 0],
    ["errant tail, b failed over after seq 100", "0-1-105", "0-1-100,0-2-150", false, "0-1-105", 5],
    ["errant tail on the same server", "0-1-105", "0-1-100", false, "0-1-105", 5],
    ["errant after b's own later writes (count from b's highest seq below)", "0-2-15,0-1-16", "0-1-13,0-2-15", false, "0-1-16", 1],
    ["a new server id b never saw", "0-1-100,0-3-120", "0-1-100,0-2-150", false, "0-3-120", 20],
    ["a new server id, b has nothing below it", "0-3-120", "0-2-150", false, "0-3-120", 120],
    ["both diverged: b's own entry below a's tail is not shared", "0-1-110", "0-1-100,0-2-105", false, "0-1-110", 10],
    ["two errant servers in one domain count once", "0-1-13,0-2-14", "0-1-8", false, "0-1-13,0-2-14", 6],
    ["a domain b never saw", "0-1-100,1-1-7", "0-1-100", false, "1-1-7", 7],
    ["against an empty history", "0-1-5", "", false, "0-1-5", 5],
    ["several errant entries add up", "0-1-105,1-2-9", "0-1-100,1-2-4", false, "0-1-105,1-2-9", 10],
  ])("%s", (_name, a, b, prefix, errant, errantCount) => {
    expect(cmp(a, b)).toEqual({ prefix, errant, errantCount });
  });

  test("repeated (domain, server) entries count by their highest seq", () => {
    expect(cmp("0-1-5,0-1-9", "0-1-8")).toEqual({ prefix: false, errant: "0-1-9", errantCount: 1 });
  });

  test("rejects what is not a MariaDB GTID list", () => {
    for (const bad of ["0-1", "a-b-c", `${A}:1-5`, "0-1-2-3"]) expect(() => cmp(bad, "")).toThrow(/MariaDB GTID/);
  });

});

describe("MariaDB comparePositions / unionPositions (per domain, gtid_strict_mode)", () => {
  const pos = (a: string, b: string) => MARIADB.comparePositions(a, b);
  test.each([
    ["equal", "0-1-100", "0-1-100", true, "", 0],
    ["behind", "0-1-100", "0-1-150", true, "", 0],
    // After a failover: applied up to the old master's 0-1-50, received the new master's 0-2-55.
    ["the server changed with a failover: the sequence counts", "0-1-50,0-2-55", "0-2-56", true, "", 0],
    ["b on the old master's server, a past it on the new one", "0-2-56", "0-1-50", false, "0-2-56", 6],
    ["what a history would call errant (a server b never wrote) is only a position here", "0-1-100,0-3-120", "0-2-150", true, "", 0],
    ["short in one domain", "0-1-105,1-2-9", "0-2-105,1-2-4", false, "1-2-9", 5],
    ["a domain b never saw", "0-1-100,1-1-7", "0-1-100", false, "1-1-7", 7],
    ["empty a", "", "0-1-5", true, "", 0],
    ["against an empty position", "0-1-5", "", false, "0-1-5", 5],
  ])("%s", (_name, a, b, prefix, errant, errantCount) => {
    expect(pos(a, b)).toEqual({ prefix, errant, errantCount });
  });

  test.each([
    ["0-1-50", "0-2-55", "0-2-55"],
    ["0-1-100,0-2-150", "0-1-120,0-3-7", "0-2-150"],
    ["0-1-100", "0-1-90", "0-1-100"],
    ["", "0-1-5", "0-1-5"],
    ["0-1-5", "", "0-1-5"],
    ["1-1-3,\n0-2-4", "0-1-9", "0-1-9,1-1-3"],
  ])("union %j + %j = %j", (a, extra, want) => {
    expect(MARIADB.unionPositions(a, extra)).toBe(want);
    expect(pos(a, want).prefix && pos(extra, want).prefix).toBe(true);
  });

  test("MySQL's positions are its GTID sets", () => {
    expect(MYSQL80.comparePositions(`${A}:1-5`, `${A}:1-4`)).toEqual(MYSQL80.compareHistory(`${A}:1-5`, `${A}:1-4`));
    expect(MYSQL84.unionPositions(`${A}:1-5`, `${A}:6-10,${B}:1`)).toBe(`${A}:1-10,${B}:1`);
  });
});

describe("MySQL compareHistory / unionPositions", () => {
  test.each([MYSQL80, MYSQL84])("%#: subset, errant and union with interval arithmetic", (d) => {
    const cases: Array<[string, string, boolean, string, number]> = [
      [`${A}:1-100`, `${A}:1-100`, true, "", 0],
      [`${A}:1-100`, `${A}:1-150`, true, "", 0],
      ["", `${A}:1-5`, true, "", 0],
      [`${A}:1-105`, `${A}:1-100`, false, `${A}:101-105`, 5],
      [`${A}:1-5:7`, `${A}:1-5`, false, `${A}:7`, 1],
      [`${A}:1-10:20-30`, `${A}:1-25`, false, `${A}:26-30`, 5],
      [`${A}:1-30`, `${A}:1-10:20-30`, false, `${A}:11-19`, 9],
      [`${A}:1-30`, `${A}:1-5:8:12-30`, false, `${A}:6-7:9-11`, 5],
      [`${A}:1-100,\n${B}:1-3`, `${B}:1-3,${A}:1-100`, true, "", 0],
      [`${A}:1-100,${B}:1-5`, `${A}:1-100,${B}:1-3`, false, `${B}:4-5`, 2],
      [`${A}:1-100,${C}:1-2`, `${A}:1-100,${B}:1-3`, false, `${C}:1-2`, 2],
      [`${A}:1-100`, "", false, `${A}:1-100`, 100],
      [` ${A.toUpperCase()}:1-3:4-6,\n  ${B}:1 `, `${A}:1-6,${B}:1-2`, true, "", 0],
      [`${A}:1-5:tag1:1-3`, `${A}:1-5`, false, `${A}:tag1:1-3`, 3],
      [`${A}:TAG1:1-3`, `${A}:tag1:1-5`, true, "", 0],
      [`${A}:1-3:tag_b:2:tag_a:4-5`, `${A}:1-3`, false, `${A}:tag_a:4-5:tag_b:2`, 3],
    ];
    for (const [a, b, prefix, errant, errantCount] of cases) {
      expect(d.compareHistory(a, b), `${a} vs ${b}`).toEqual({ prefix, errant, errantCount });
    }
    expect(d.unionPositions(`${A}:1-5`, `${A}:6-10,${B}:1`)).toBe(`${A}:1-10,${B}:1`);
    expect(d.unionPositions(`${A}:1-3:7-9`, `${A}:4-6`)).toBe(`${A}:1-9`);
    expect(d.unionPositions(`${B}:1-3,\n${A}:1-2`, "")).toBe(`${A}:1-2,${B}:1-3`);
    expect(d.unionPositions("", `${C}:5`)).toBe(`${C}:5`);
    expect(d.unionPositions(`${A}:1-2`, `${A}:tag1:1`)).toBe(`${A}:1-2:tag1:1`);
    expect(d.unionPositions(`${A}:1-2:10-12`, `${A}:2-11`)).toBe(`${A}:1-12`);
  });

  test("the transcribed replica with gaps and a third UUID against its source", () => {
    const replicaSet = String(v(load("percona80-replica-stopped-multi-interval.json").gtidHistory));
    const sourceSet = String(v(load("mysql80-master.json").gtidHistory));
    expect(MYSQL80.compareHistory(replicaSet, sourceSet)).toEqual({ prefix: false, errant: `${C}:1-42`, errantCount: 42 });
    expect(MYSQL80.compareHistory(sourceSet, replicaSet)).toEqual({ prefix: false, errant: `${A}:801`, errantCount: 1 });
    expect(MYSQL80.unionPositions(replicaSet, sourceSet)).toBe(`${C}:1-42,${A}:1-1520,${B}:1-3`);
  });

  test("large sequence numbers stay exact", () => {
    expect(MYSQL84.compareHistory(`${A}:1-9007199254740993`, `${A}:1-9007199254740991`)).toEqual({
      prefix: false,
      errant: `${A}:9007199254740992-9007199254740993`,
      errantCount: 2,
    });
  });

  test("rejects what is not a MySQL GTID set", () => {
    for (const bad of ["0-1-100", `${A}:0-5`, `${A}:9-5`, "not-a-uuid:1-5", `${A}:1-5:bad-tag!`]) {
      expect(() => MYSQL80.compareHistory(bad, "")).toThrow(/MySQL GTID set/);
    }
  });
});

describe("parseSemiSyncDetail and the durability statements", () => {
  const rows = (name: string) => load(name).semiSync.flatMap((q) => q.rows);
  test("both namings, from recorded and transcribed server output", () => {
    expect(parseSemiSyncDetail(rows("mariadb-master.json"))).toEqual({ naming: "master", waitNoReplica: false, timeoutMs: 1000, waitSessions: 0, yesTx: 1, noTx: 7 });
    expect(parseSemiSyncDetail(rows("mysql84-master.json"))).toEqual({ naming: "source", waitNoReplica: false, timeoutMs: 10000, waitSessions: 0, yesTx: 1517, noTx: 3 });
    expect(parseSemiSyncDetail(rows("percona80-master-legacy-plugin.json"))).toMatchObject({ naming: "master", timeoutMs: 10000, yesTx: 1517 });
    expect(parseSemiSyncDetail([])).toEqual({ naming: undefined, waitNoReplica: false, timeoutMs: null, waitSessions: 0, yesTx: 0, noTx: 0 });
  });
  test("strict never falls back by itself; async releases the waiting commits; a replica never stalls", () => {
    expect(semiSyncStatements("master", "strict")).toEqual([
      `SET GLOBAL rpl_semi_sync_master_timeout = ${STRICT_TIMEOUT_MS}`,
      "SET GLOBAL rpl_semi_sync_master_wait_no_slave = ON",
      "SET GLOBAL rpl_semi_sync_master_enabled = ON",
    ]);
    expect(semiSyncStatements("source", "strict")[1]).toBe("SET GLOBAL rpl_semi_sync_source_wait_no_replica = ON");
    expect(semiSyncStatements("source", "async")).toEqual(["SET GLOBAL rpl_semi_sync_source_enabled = OFF"]);
    expect(semiSyncStatements("master", "replica")).toEqual(["SET GLOBAL rpl_semi_sync_master_wait_no_slave = OFF"]);
  });
});
