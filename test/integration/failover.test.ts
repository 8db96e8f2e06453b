/**
 * pandora_ha on the lab, with real faults: the daemon runs on pfms1 (installed and started by
 * the plan's runtime step), a writer records the key of every insert the master acknowledged, and
 * after each scenario the cluster must have exactly one writable node, pandora_ha_hosts.conf must
 * name it, and no acknowledged key may be missing from it. Each scenario gets a fresh lab.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { PANDORA_PATHS } from "../../lib/render/pandora";
import type { LogLine } from "../../lab/ha";
import { daemonPid, haCommand, haLogSize, haStatusJson, readHaLog, startDaemon, stopDaemon } from "../../lab/ha";
import { fault } from "../../lab/lab";
import { paths } from "../../lab/layout";
import { sleep } from "../../lab/proc";
import type { HaSettings } from "../../runtime/conf";
import { syncConsoleTable } from "../../runtime/publish/console";
import { insertEvents } from "../../runtime/publish/events";
import { NodeConnection } from "../../runtime/observe/probe";
import { eventually, family } from "./helpers";
import { freshLabEachTest } from "./scenario";

describe("pandora_ha on a 2-node lab", () => {
  const sc = freshLabEachTest(2);
  const { addr, published } = sc;

  test("master crash: node2 promoted, published, every acknowledged row on it", async () => {
    const w = sc.startWriter();
    await sleep(1500);
    await fault(sc.lab, "node1", "crash");
    const end = await sc.waitForEvent("failover_end");
    const acked = await (async () => {
      await sleep(1000);
      return w.stop();
    })();
    await sc.expectOneMasterNothingLost(acked, "node2");
    expect(end.message).toMatch(/127\.0\.1\.2 is the master \(epoch 2\)/);
    const st = await haStatusJson(sc.lab);
    expect(st.lastFailover?.phases.map((p) => p.phase)).toEqual(["detect", "decide", "fence", "drain", "promote", "epoch", "repoint", "publish", "restart-server"]);
    expect(st.epoch).toBe(2);
    // The epoch is in the database, replicated: node2 carries it.
    const [e] = await sc.adminQuery<{ epoch: number; master: string }>("node2", "SELECT epoch, master FROM pandora_ha_epoch ORDER BY epoch DESC LIMIT 1");
    expect(e).toMatchObject({ epoch: 2, master: addr("node2") });
  }, 120_000);

  test("master hang: promoted after the secondary check; its server stopped over SSH, so it never wakes writable", async () => {
    const w = sc.startWriter();
    await sleep(1500);
    await fault(sc.lab, "node1", "hang");
    await sc.waitForEvent("failover_end");
    expect(sc.log().some((l) => l.check === "secondary" && l.reaches === false)).toBe(true);
    const tl = sc.log().find((l) => l.timeline)!.timeline as { phases: Array<{ phase: string; detail: string }> };
    expect(tl.phases.find((p) => p.phase === "fence")!.detail).toMatch(/silent: marked fenced, its server being stopped over SSH/);
    const stopped = await sc.waitForEvent("fenced", 15_000);
    expect(stopped.message).toMatch(/^127\.0\.1\.1 fenced: its server, silent, was stopped \(kill -9 over SSH\)/);
    await fault(sc.lab, "node1", "resume");
    // Restarted (mariadbd-safe), read-only like every node: never writable beside node2, then rejoined.
    let writable = 0;
    await eventually("node1 rejoined", async () => {
      const [ro] = await sc.adminQuery<{ v: number }>("node1", "SELECT @@global.read_only AS v").catch(() => [{ v: 1 }]);
      if (Number(ro.v) === 0) writable++;
      return sc.events("rejoined").length + sc.events("diverged").length > 0;
    }, 60_000);
    expect(writable).toBe(0);
    expect(sc.events("diverged")).toEqual([]);
    await sc.expectOneMasterNothingLost(await w.stop(), "node2");
  }, 120_000);

  test("daemon↔master cut only: no failover, a warning", async () => {
    const w = sc.startWriter(2);
    await fault(sc.lab, "node1", "isolate", "pfms1");
    const e = await sc.waitForEvent("no_failover");
    expect(e.message).toMatch(/still replicate from it/);
    await sleep(3000);
    expect(sc.events("failover_start")).toEqual([]);
    expect(published()).toBe(addr("node1"));
    await fault(sc.lab, "node1", "heal");
    await sc.expectOneMasterNothingLost(await w.stop(), "node1");
  }, 120_000);

  test("replica↔master cut only: no failover, a warning", async () => {
    const w = sc.startWriter(2);
    await fault(sc.lab, "node2", "isolate", "node1");
    const e = await sc.waitForEvent("replica_link_broken");
    expect(e.message).toMatch(/no failover/);
    await sleep(3000);
    expect(sc.events("failover_start")).toEqual([]);
    expect(published()).toBe(addr("node1"));
    await fault(sc.lab, "node2", "heal");
    await sc.expectOneMasterNothingLost(await w.stop(), "node1");
  }, 120_000);

  test("master isolated from everything: failover; fenced when healed, then rejoins", async () => {
    const w = sc.startWriter();
    await sleep(1500);
    await fault(sc.lab, "node1", "isolate");
    await sc.waitForEvent("failover_end");
    await sleep(2000);
    await fault(sc.lab, "node1", "heal");
    await sc.waitForEvent("fenced");
    const r = await sc.waitForEvent("rejoined");
    expect(r.node).toBe(addr("node1"));
    const acked = await w.stop();
    await sc.expectOneMasterNothingLost(acked, "node2");
    const [s] = await sc.replicaStatus("node1");
    await eventually("node1 replicating from node2", async () => {
      const [x] = await sc.replicaStatus("node1");
      return x?.Master_Host === addr("node2") && x?.Slave_IO_Running === "Yes" && x?.Slave_SQL_Running === "Yes";
    });
    expect(s).toBeDefined();
  }, 120_000);

  test("master isolated under writes: its guard stops it before node2 is promoted, so it is read-only the moment the cut heals", async () => {
    const w = sc.startWriter();
    await sleep(1500);
    await fault(sc.lab, "node1", "isolate");
    await sc.waitForEvent("failover_end");
    const tl = sc.log().find((l) => l.timeline)!.timeline as { phases: Array<{ phase: string; start: number; detail: string }> };
    const promoted = tl.phases.find((p) => p.phase === "promote")!.start;
    expect(tl.phases.find((p) => p.phase === "guard")?.detail).toMatch(/127\.0\.1\.1's guard has stopped it if it is cut off/);
    // The guard's line, with its time: node1's server was killed before node2 became writable.
    const guardLog = readFileSync(paths.inHost("node1", "/var/log/pandora_ha_guard.log"), "utf8");
    const line = guardLog.split("\n").find((l) => / fenced: killed the server \(pid \d+\): a writable, strictly semi-synchronous master/.test(l));
    expect(line, guardLog).toBeDefined();
    expect(Date.parse(line!.split(" ")[0])).toBeLessThan(promoted);
    // Healed: every answer node1 gives says read-only, from the first one on.
    await fault(sc.lab, "node1", "heal");
    const seen: number[] = [];
    await eventually("node1 rejoined as a replica of node2", async () => {
      const [ro] = await sc.adminQuery<{ v: number }>("node1", "SELECT @@global.read_only AS v", 1000).catch(() => []);
      if (ro) seen.push(Number(ro.v));
      const [x] = await sc.replicaStatus("node1", 1000).catch(() => []);
      return x?.Master_Host === addr("node2") && x?.Slave_IO_Running === "Yes";
    }, 60_000);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((v) => v === 0)).toEqual([]);
    await sc.expectOneMasterNothingLost(await w.stop(), "node2");
  }, 120_000);

  test("master isolated, no commit waiting there: made read-only on its own connection the moment it greets again, then rejoins", async () => {
    // No writer: nothing waits for an acknowledgement on node1, so read_only takes at once. (With
    // commits waiting, read_only waits behind them and the fence is the kill over SSH.) node1's
    // guard is stopped first, as with ha.guardTimeout 0: otherwise it has stopped node1's server
    // by the time the cut heals (the test above), and the fence on return is what remains.
    process.kill(Number(readFileSync(paths.inHost("node1", "/run/pandora_ha_guard.pid"), "utf8").trim()), "SIGTERM");
    await fault(sc.lab, "node1", "isolate");
    await sc.waitForEvent("failover_end");
    const from = haLogSize(sc.lab);
    await fault(sc.lab, "node1", "heal");
    await sc.waitForEvent("rejoined");
    const fenced = readHaLog(sc.lab, from).lines.find((l) => l.fence_on_return === addr("node1"));
    expect(fenced?.failed).toBeUndefined();
    expect(typeof fenced?.ms).toBe("number");
    await sc.expectOneMaster("node2");
  }, 120_000);

  test("split brain (ha_semisync 0): monitoring data written on the cut-off old master is merged into the new one, then it rejoins", async () => {
    // With semi-sync left to the servers (ha_semisync 0, my.cnf's 5 s fallback), node1 cut off
    // from pfms1 and node2 falls back to asynchronous and takes the writes of clients that still
    // reach it: a real split brain. (With ha_semisync 1 it never acknowledges them: see the
    // durability scenarios.)
    await sc.setTokens({ ha_semisync: "0" });
    // The servers' own settings again (my.cnf's 5 s fallback): the daemon with ha_semisync 1 had made node1 strict.
    const [p, noReplica] = family(sc.lab).mysql ? ["rpl_semi_sync_source", "wait_no_replica"] : ["rpl_semi_sync_master", "wait_no_slave"];
    await sc.adminQuery("node1", `SET GLOBAL ${p}_timeout = 5000`);
    await sc.adminQuery("node1", `SET GLOBAL ${p}_${noReplica} = OFF`);
    await fault(sc.lab, "node1", "isolate", "pfms1");
    await fault(sc.lab, "node1", "isolate", "node2");
    await sc.waitForEvent("failover_end");
    const now = Math.floor(Date.now() / 1000);
    const values = Array.from({ length: 50 }, (_, i) => `(${7000 + i}, ${i}.5, ${now})`).join(", ");
    await sc.adminQuery("node1", `INSERT INTO tagente_datos (id_agente_modulo, datos, utimestamp) VALUES ${values}`);
    await sc.adminQuery("node1", `INSERT INTO tevento (evento, utimestamp, timestamp, event_type, criticity) VALUES ('written during the split', ${now}, NOW(), 'system', 2)`);
    // The new master gets monitoring data of its own meanwhile.
    await sc.adminQuery("node2", `INSERT INTO tagente_datos (id_agente_modulo, datos, utimestamp) VALUES (8000, 1, ${now})`);
    await fault(sc.lab, "node1", "heal");
    await sc.waitForEvent("fenced");
    if (family(sc.lab).mysql) {
      // The MySQL family has no merge: the old master stays read-only and out of replication
      // with every row it took during the split, and the event says to resync it.
      const d = await sc.waitForEvent("diverged");
      expect(d.message).toMatch(/127\.0\.1\.1 holds \d+ transactions the master 127\.0\.1\.2 lacks .*its rows are kept\. Resync it: pandora_ha resync/);
      expect(await sc.readOnly("node1")).toBe(true);
      const count = async (n: string) => Number((await sc.adminQuery<{ n: number }>(n, "SELECT COUNT(*) AS n FROM tagente_datos WHERE id_agente_modulo BETWEEN 7000 AND 8000"))[0].n);
      expect([await count("node1"), await count("node2")]).toEqual([50, 1]);
      await sc.expectOneMaster("node2");
      return;
    }
    const r = await sc.waitForEvent("rejoined");
    expect(r.message).toMatch(/archived and undone; 50 tagente_datos rows, \d+ tevento rows written there during the split copied to 127\.0\.1\.2/);
    const [n2] = await sc.adminQuery<{ n: number }>("node2", "SELECT COUNT(*) AS n FROM tagente_datos WHERE id_agente_modulo BETWEEN 7000 AND 8000");
    expect(Number(n2.n)).toBe(51);
    const [e2] = await sc.adminQuery<{ n: number }>("node2", "SELECT COUNT(*) AS n FROM tevento WHERE evento = 'written during the split'");
    expect(Number(e2.n)).toBe(1);
    // Events both sides had before the split are not copied twice.
    const dup = await sc.adminQuery("node2", "SELECT evento, utimestamp, COUNT(*) AS n FROM tevento GROUP BY evento, utimestamp, id_extra HAVING n > 1");
    expect(dup).toEqual([]);
    // node1 replicates from node2 and ends with the same data (its own rows undone, then replicated back).
    await eventually("node1 with node2's tagente_datos", async () => {
      const [n1] = await sc.adminQuery<{ n: number }>("node1", "SELECT COUNT(*) AS n FROM tagente_datos WHERE id_agente_modulo BETWEEN 7000 AND 8000");
      return Number(n1.n) === 51;
    });
    await sc.expectOneMaster("node2");
    // The diverged transactions are archived on node1's host, readable by root only.
    const archives = readdirSync(paths.inHost("node1", "/var/lib/pandora-ha/diverged"));
    expect(archives.some((f) => f.endsWith(".rows.txt"))).toBe(true);
  }, 120_000);

  test("replica lagging at the crash: its relay log is applied before promotion, nothing lost", async () => {
    await sc.adminQuery("node2", "STOP REPLICA SQL_THREAD");
    const w = sc.startWriter();
    await sleep(3000);
    const [st] = await sc.replicaStatus("node2");
    expect(st.Slave_SQL_Running).toBe("No");
    await fault(sc.lab, "node1", "crash");
    await sc.waitForEvent("failover_end");
    const acked = await w.stop();
    await sc.expectOneMasterNothingLost(acked, "node2");
    const tl = sc.log().find((l) => l.timeline)!.timeline as { phases: Array<{ phase: string; detail: string }> };
    expect(tl.phases.find((p) => p.phase === "drain")!.detail).toMatch(/applied everything received \((0-1-\d+|[0-9a-f-]{36}:1-\d+)\)/);
  }, 120_000);

  test("daemon killed in the middle of a failover and restarted: one writable node", async () => {
    await stopDaemon(sc.lab, "SIGKILL");
    await startDaemon(sc.lab, { PANDORA_HA_PAUSE_AFTER: "promote" });
    const w = sc.startWriter(4);
    await sleep(1500);
    await fault(sc.lab, "node1", "crash");
    await eventually("the daemon paused after promote", async () => sc.log().some((l) => String(l.test_hook ?? "").includes("promote")));
    // node2 is writable, but no epoch, no publication yet: kill the daemon right there.
    expect(await sc.readOnly("node2")).toBe(false);
    expect(published()).toBe(addr("node1"));
    await stopDaemon(sc.lab, "SIGKILL");
    await startDaemon(sc.lab);
    await sc.waitForEvent("failover_end");
    await sc.expectOneMasterNothingLost(await w.stop(), "node2");
    const [e] = await sc.adminQuery<{ epoch: number }>("node2", "SELECT MAX(epoch) AS epoch FROM pandora_ha_epoch");
    expect(Number(e.epoch)).toBe(2);
  }, 120_000);

  test("a flapping master: the failover budget holds, the master is made writable when it returns", async () => {
    const w = sc.startWriter(4);
    await sleep(1000);
    await fault(sc.lab, "node1", "crash");
    await sc.waitForEvent("failover_end");
    await fault(sc.lab, "node1", "restart");
    await eventually("node1 back as a replica", async () => sc.events("rejoined").length > 0, 40_000);
    // The new master is durable again once node1 acknowledges its commits: only then may it fail
    // over without losing any (before, the failover is held: see the durability scenarios).
    await sc.waitForEvent("semi_sync_on");
    await fault(sc.lab, "node2", "crash");
    const b = await sc.waitForEvent("budget_exhausted");
    expect(b.message).toMatch(/budget is spent \(1 in 3600 s\)/);
    await sleep(3000);
    expect(sc.events("failover_start")).toHaveLength(1);
    expect(published()).toBe(addr("node2"));
    await fault(sc.lab, "node2", "restart");
    await sc.waitForEvent("master_writable");
    await sc.expectOneMasterNothingLost(await w.stop(), "node2");
  }, 150_000);

  test("two daemons: one acts, the other watches; exactly one failover; the watcher takes over when the actor's host freezes", async () => {
    // A second pandora_ha on pfms1 with its own pid file, state, log and HTTP port.
    const { log: logB } = await sc.startSecondDaemon();
    await eventually("the second daemon watching", async () => logB().some((l) => l.actor === false || l.event === "daemon_start"));
    await sleep(1500);
    const actorOf = (lines: LogLine[]) => [...lines].reverse().find((l) => typeof l.actor === "boolean")?.actor === true;
    // (The first daemon's "acting" line predates this scenario's part of its log: read it whole.)
    expect([actorOf(readHaLog(sc.lab).lines), actorOf(logB())]).toEqual([true, false]);

    await fault(sc.lab, "node1", "crash");
    await sc.waitForEvent("failover_end");
    await sleep(2000);
    expect(sc.events("failover_start")).toHaveLength(1);
    expect(logB().filter((l) => l.event === "failover_start")).toEqual([]);
    // The watcher follows the new epoch.
    await eventually("the watcher adopting node2", async () => logB().some((l) => l.event === "master_adopted" && /127\.0\.1\.2 \(epoch 2\)/.test(String(l.message))));

    // The actor freezes, as a host that died or was cut off (its connections stay open, no FIN
    // reaches the servers): its lock goes with its idle connections, and the watcher takes the
    // lock and acts (here: node1 back, rejoined by it).
    const frozen = daemonPid(sc.lab)!;
    process.kill(frozen, "SIGSTOP");
    // (Without the idle timeout on the lock's connection this would take hours: wait_timeout.)
    await eventually("the second daemon acting", async () => actorOf(logB()), 30_000);
    await fault(sc.lab, "node1", "restart");
    await eventually("node1 rejoined by the second daemon", async () => logB().some((l) => l.event === "rejoined"), 40_000);
    await sc.expectOneMaster("node2");
    process.kill(frozen, "SIGKILL");
  }, 150_000);

  test("a server with master 0 runs a pandora_ha that only watches: the master dies, it promotes nothing", async () => {
    await stopDaemon(sc.lab, "SIGTERM");
    const confPath = paths.inHost("pfms1", PANDORA_PATHS.serverConf);
    const original = readFileSync(confPath, "utf8");
    writeFileSync(confPath, original.replace(/^master \d$/m, "master 0"), { mode: 0o600 });
    expect(readFileSync(confPath, "utf8")).toMatch(/^master 0$/m);
    const from = haLogSize(sc.lab);
    await startDaemon(sc.lab);
    const mine = () => readHaLog(sc.lab, from).lines;
    await eventually("the daemon saying it only watches", async () => mine().some((l) => l.actor === false && /master 0/.test(String(l.message))));
    await fault(sc.lab, "node1", "crash");
    await eventually("the daemon seeing node1 down", async () => mine().some((l) => l.event === "node_down"));
    await sleep(4000);
    expect(mine().filter((l) => l.event === "failover_start")).toEqual([]);
    expect(mine().some((l) => l.actor === true)).toBe(false);
    expect(await sc.readOnly("node2")).toBe(true);
    // A switchover asked of it is refused, and says why.
    await fault(sc.lab, "node1", "restart");
    const r = await haCommand(sc.lab, `switchover ${PANDORA_PATHS.serverConf} ${addr("node2")}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/master 0: its pandora_ha never acts/);
    writeFileSync(confPath, original, { mode: 0o600 });
  }, 120_000);

  // -------------------------------------------------------------------------------------------
  // The console's Manage HA view (tdatabase), as Pandora's console reads and writes it.

  interface ConsoleRow {
    host: string;
    status: number;
    db_status: number;
    replication_status: number;
    master: number;
    mysql_version?: string;
    last_error: string;
    action: number;
    disabled?: number;
  }
  const consoleRows = async (node: string): Promise<Record<string, ConsoleRow>> =>
    Object.fromEntries((await sc.adminQuery<ConsoleRow>(node, "SELECT * FROM tdatabase")).map((r) => [r.host, r]));
  const consoleRow = async (node: string, host: string) => (await consoleRows(node))[addr(host)];

  test("the console's HA view follows the cluster; a resync asked there rebuilds a diverged node", async () => {
    await eventually("a tdatabase row per node, node1 the master, both online", async () => {
      const r = await consoleRows("node1");
      return r[addr("node1")]?.master === 1 && r[addr("node1")]?.status === 1 && r[addr("node2")]?.status === 1 && r[addr("node2")]?.replication_status === 1;
    });
    const rows = await consoleRows("node1");
    expect(rows[addr("node1")]).toMatchObject({ db_status: 1, replication_status: 1, last_error: "", action: 0 });
    expect(rows[addr("node1")].mysql_version).toMatch(family(sc.lab).version);
    expect(rows[addr("node2")]).toMatchObject({ master: 0, db_status: 1 });
    // The table is replicated: the replica shows the same view.
    await eventually("node2 carrying the view", async () => (await consoleRow("node2", "node1"))?.master === 1);
    // The daemon's own writes (events, the console's rows) never land on a read-only node, though
    // its account could write there (READ_ONLY ADMIN): node2's history does not move.
    const gtidOf = (node: string) => sc.history(node);
    const before2 = await gtidOf("node2");
    const c2 = new NodeConnection({ host: addr("node2"), port: sc.lab.cfg.dbPort, user: sc.lab.cfg.haDbUser, password: sc.lab.secrets.passwords.haDbPassword, database: sc.lab.cfg.dbName, timeoutMs: 5000 });
    try {
      const ev = { time: new Date().toISOString(), type: "warning" as const, severity: "warning" as const, message: "must not land", key: "pandora_ha:test" };
      await expect(insertEvents((q, v) => c2.query(q, v), [ev])).rejects.toThrow(/read-only/);
      const view = { status: 5, db_status: 0, replication_status: 0, replication_delay: 0, master: 0, mysql_version: "x", last_error: "must not land", utimestamp: 1 };
      const views = new Map([[addr("node2"), view], ["10.9.9.9", view]]);
      expect(await syncConsoleTable(c2, { sshPort: 22, sshUser: "root", dbPort: sc.lab.cfg.dbPort } as HaSettings, views)).toMatchObject({ created: [] });
    } finally {
      c2.close();
    }
    expect(await gtidOf("node2")).toBe(before2);
    expect((await consoleRow("node2", "node2")).last_error).not.toBe("must not land");

    // An older console schema (no mysql_version, no utimestamp): the other columns are still kept.
    await sc.adminQuery("node1", "ALTER TABLE tdatabase DROP COLUMN mysql_version, DROP COLUMN utimestamp");

    // node2 leaves replication and takes a DDL of its own: it cannot be undone, so it is diverged.
    await sc.adminQuery("node2", "STOP REPLICA");
    await sc.adminQuery("node2", "RESET REPLICA ALL");
    // (The HA admin writes past read_only; on MySQL super_read_only stops it until lifted.)
    if (family(sc.lab).mysql) await sc.adminQuery("node2", "SET GLOBAL super_read_only = OFF");
    await sc.adminQuery("node2", "CREATE TABLE pha_local_ddl (id INT PRIMARY KEY) ENGINE=InnoDB");
    if (family(sc.lab).mysql) await sc.adminQuery("node2", "SET GLOBAL super_read_only = ON");
    const d = await sc.waitForEvent("diverged");
    expect(d.node).toBe(addr("node2"));
    await eventually("node2 pending resync in the console", async () => (await consoleRow("node1", "node2"))?.status === 2, 20_000);
    expect((await consoleRow("node1", "node2")).last_error).toMatch(/^diverged: holds 1 transactions the master lacks/);

    // The resync icon: the console sets action 8 on the node's row.
    await sc.adminQuery("node1", `UPDATE tdatabase SET action = 8 WHERE host = '${addr("node2")}'`);
    await eventually("the resync started", async () => sc.events("resync").some((e) => /started \(requested in the console\)/.test(String(e.message))), 20_000);
    expect((await consoleRow("node1", "node2")).action).toBe(0);
    await eventually("the resync finished", async () => sc.events("resync").some((e) => /finished in \d+ s/.test(String(e.message))), 120_000);
    await eventually("node2 online again in the console", async () => {
      const r = await consoleRow("node1", "node2");
      return r?.status === 1 && r.replication_status === 1 && r.last_error === "";
    }, 20_000);
    await eventually("node2 no longer diverged", async () => sc.events("rejoined").some((e) => /no longer diverged/.test(String(e.message))));
    expect(await sc.adminQuery("node2", "SHOW TABLES LIKE 'pha_local_ddl'")).toEqual([]);
    // The events are Pandora events too.
    await eventually("the resync events in tevento", async () => {
      const ev = await sc.adminQuery<{ evento: string }>("node1", "SELECT evento FROM tevento WHERE id_extra = 'pandora_ha:resync:127.0.1.2' ORDER BY id_evento");
      return ev.length >= 2 && /started \(requested in the console\)/.test(ev[0].evento) && /finished/.test(ev[ev.length - 1].evento);
    });
    await sc.expectOneMaster("node1");
  }, 240_000);

  test("a node disabled in the console is never promoted; enabled again, a promote asked there is a switchover", async () => {
    await eventually("node2's row", async () => (await consoleRow("node1", "node2"))?.status === 1);
    await sc.adminQuery("node1", `UPDATE tdatabase SET disabled = 1 WHERE host = '${addr("node2")}'`);
    await eventually("node2 disabled for the daemon", async () => sc.events("console").some((e) => /disabled in the console/.test(String(e.message))), 20_000);
    await eventually("node2 shown disabled", async () => (await consoleRow("node1", "node2"))?.status === 4, 20_000);

    await fault(sc.lab, "node1", "crash");
    const e = await sc.waitForEvent("no_failover");
    expect(e.message).toMatch(/127\.0\.1\.2 disabled in the console/);
    await sleep(3000);
    expect(sc.events("failover_start")).toEqual([]);
    expect(await sc.readOnly("node2")).toBe(true);
    expect(published()).toBe(addr("node1"));

    // The master returns (read-only, as every node starts): made writable again, still the master.
    await fault(sc.lab, "node1", "restart");
    await sc.expectOneMaster("node1");
    await sc.adminQuery("node1", `UPDATE tdatabase SET disabled = 0 WHERE host = '${addr("node2")}'`);
    await eventually("node2 enabled", async () => sc.events("console").some((x) => /enabled in the console/.test(String(x.message))), 20_000);

    // Promote (action 3) on node2's row: a planned switchover.
    const w = sc.startWriter(4);
    await sleep(1000);
    await sc.adminQuery("node1", `UPDATE tdatabase SET action = 3 WHERE host = '${addr("node2")}'`);
    await sc.waitForEvent("switchover_end", 30_000);
    await sleep(500);
    await sc.expectOneMasterNothingLost(await w.stop(), "node2");
    await eventually("the console's view on the new master names it", async () => {
      const r = await consoleRows("node2");
      return r[addr("node2")]?.master === 1 && r[addr("node1")]?.master === 0 && r[addr("node2")]?.action === 0;
    });
  }, 150_000);

  test("planned switchover: no write lost, the old master replicates from the new one", async () => {
    const w = sc.startWriter();
    await sleep(1500);
    const r = await haCommand(sc.lab, `switchover ${PANDORA_PATHS.serverConf} ${addr("node2")}`, 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/switchover: 127\.0\.1\.1 → 127\.0\.1\.2 \(epoch 2\) completed/);
    await sleep(1000);
    await sc.expectOneMasterNothingLost(await w.stop(), "node2");
    await eventually("node1 replicating from node2", async () => {
      const [x] = await sc.replicaStatus("node1");
      return x?.Master_Host === addr("node2") && x?.Slave_SQL_Running === "Yes";
    });
    // A switchover is not counted against the failover budget.
    const st = await haStatusJson(sc.lab);
    expect(st.failoverBudget.used).toBe(0);
  }, 120_000);
});
