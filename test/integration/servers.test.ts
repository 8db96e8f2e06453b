/**
 * The production layout on the lab, its default: two Pandora server hosts, pfms1 (site A, with
 * node1) and pfms2 (site B, with node2), each with pandora_ha, the stand-in data server and
 * Tentacle, sharing data_in's subdirectories and the console's attachments over one shared
 * directory the hosts mount themselves (`sharedStorage: mounted`, the lab's stand-in for
 * NFS/EFS). What an administrator must get from it: one daemon acting, and after a failover —
 * whichever daemon ran it — both data servers writing to the new master.
 */
import { readFileSync, statSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { SHARED_DATA_IN_SUBDIRS, PANDORA_PATHS } from "../../lib/render/pandora";
import { confTokens } from "../../lab/dataserver/conf";
import { daemonKill } from "../../lab/faults";
import { actingStatus, describeLogLine, haCommand, haStatusJson, onServer, readHaLog, serverHosts, startDaemon } from "../../lab/ha";
import type { Lab } from "../../lab/lab";
import { down, fault, status, up } from "../../lab/lab";
import { labPlan } from "../../lab/deploy";
import { paths } from "../../lab/layout";
import { sleep } from "../../lab/proc";
import { missingKeys, startPublishedWriter, writerTableSql } from "../../lab/writer";
import { eventually, pandoraConnection, requireLabMachine, sql } from "./helpers";

const quiet = () => undefined;
const SERVERS = ["pfms1", "pfms2"];
const SERVER_LOG = "/var/log/pandora/pandora_server.log";
const TABLE = "servers_rows";

describe("the production layout: pfms1 and pfms2", () => {
  let lab: Lab;
  const serverLog = (s: string, from = 0) => readFileSync(paths.inHost(s, SERVER_LOG)).subarray(from).toString("utf8");
  const serverLogSize = (s: string) => statSync(paths.inHost(s, SERVER_LOG)).size;
  const database = (address: string) => `database ${address}:${lab.cfg.dbPort}/${lab.cfg.dbName}`;
  /** Which server host's daemon holds the actor lock (undefined: none, or both). */
  const actor = async () => (await actingStatus(lab))?.server;
  const writable = async () => (await status(lab)).filter((n) => n.readOnly === false).map((n) => n.name);
  const events = (s: string, type: string, from = 0) => readHaLog(lab, from, undefined, s).lines.filter((l) => l.event === type);
  const logFrom = new Map<string, number>();
  /** Both data servers have written their tserver row on `node` since `sinceSec` (start-up writes it at once). */
  const heartbeating = (node: string, sinceSec: number) =>
    eventually(`both data servers heartbeating in tserver on ${node}`, async () => {
      const rows = await sql<{ name: string }>(lab, node, "SELECT name FROM tserver WHERE status = 1 AND server_keepalive_utimestamp >= ? ORDER BY name", [sinceSec]);
      return rows.map((r) => r.name).join(",") === "pfms1,pfms2";
    }, 60_000);
  const nowSec = () => Math.floor(Date.now() / 1000);
  let failed = false;

  beforeAll(async () => {
    await requireLabMachine();
    lab = (await up(2, quiet)).lab;
    await sql(lab, "node1", writerTableSql(TABLE));
  }, 400_000);

  afterEach((ctx) => {
    failed ||= ctx.task.result?.state === "fail";
  });

  afterAll(async () => {
    // What each daemon did, when a test failed: the CI log explains it.
    if (lab && failed) {
      for (const s of SERVERS) {
        const lines = readHaLog(lab, 0, undefined, s).lines.map(describeLogLine).filter(Boolean);
        process.stderr.write(`\n--- pandora_ha on ${s}:\n${lines.join("\n")}\n---\n`);
      }
    }
    await down(quiet);
  }, 120_000);

  test("each runs pandora_ha (exactly one acts), a data server on the master and Tentacle; distinct servernames", async () => {
    expect(serverHosts(lab).map((h) => [h.name, h.address])).toEqual([["pfms1", "127.0.1.100"], ["pfms2", "127.0.1.101"]]);
    await eventually("exactly one daemon acting, the other watching", async () => (await actor()) !== undefined, 30_000);
    for (const s of SERVERS) expect((await haStatusJson(lab, s)).daemonRunning, s).toBe(true);
    const names = SERVERS.map((s) => confTokens(readFileSync(paths.inHost(s, PANDORA_PATHS.serverConf), "utf8")).get("servername"));
    expect(names).toEqual(["pfms1", "pfms2"]);
    await heartbeating("node1", 0);
    for (const s of SERVERS) {
      expect(serverLog(s), s).toContain(database("127.0.1.1"));
      const t = await onServer(lab, `${PANDORA_PATHS.tentacleServiceCmd} status`, 30_000, s);
      expect(t.code, `${s}: ${t.stdout}${t.stderr}`).toBe(0);
    }
  }, 120_000);

  test("data_in's shared subdirectories and the attachments are one directory on both hosts; data_in itself stays each host's own", async () => {
    const stamp = `lab-${process.pid}-${Date.now()}.txt`;
    const shared = [...SHARED_DATA_IN_SUBDIRS.map((d) => `${PANDORA_PATHS.incomingDir}/${d}`), PANDORA_PATHS.attachmentDir];
    for (const dir of shared) {
      const w = await onServer(lab, `findmnt -n --mountpoint ${dir} >/dev/null && echo ${dir} > ${dir}/${stamp}`, 30_000, "pfms1");
      expect(w.code, `${dir} a mount point on pfms1: ${w.stderr}`).toBe(0);
      const r = await onServer(lab, `findmnt -n --mountpoint ${dir} >/dev/null && cat ${dir}/${stamp} && rm ${dir}/${stamp}`, 30_000, "pfms2");
      expect(r.stdout.trim(), `${dir} on pfms2: ${r.stderr}`).toBe(dir);
    }
    const own = await onServer(lab, `echo own > ${PANDORA_PATHS.incomingDir}/${stamp}`, 30_000, "pfms1");
    expect(own.code).toBe(0);
    expect((await onServer(lab, `test -e ${PANDORA_PATHS.incomingDir}/${stamp}`, 30_000, "pfms2")).code).toBe(1);
    await onServer(lab, `rm -f ${PANDORA_PATHS.incomingDir}/${stamp}`, 30_000, "pfms1");
    // One pandora_ha_hosts.conf for both: node1.
    for (const s of SERVERS) expect((await onServer(lab, `cat ${PANDORA_PATHS.haHostsFile}`, 30_000, s)).stdout, s).toBe("127.0.1.1");
  }, 120_000);

  test("a switchover: the old master stays up, and both data servers follow; the watcher's by its own restart, not its watchdog", async () => {
    const acting = (await actor())!;
    const watcher = SERVERS.find((s) => s !== acting)!;
    const from = new Map(SERVERS.map((s) => [s, serverLogSize(s)]));
    const watcherLog = readHaLog(lab, Number.MAX_SAFE_INTEGER, undefined, watcher).end;
    const r = await haCommand(lab, `switchover ${PANDORA_PATHS.serverConf} 127.0.1.2`, 120_000, acting);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await eventually("node2 the one writable node", async () => (await writable()).join() === "node2", 30_000);
    // node1 stays up (fenced: read-only, its clients' connections killed). What moves the
    // watcher's data server must be its daemon following the switchover (the info line), not
    // its watchdog finding the server stopped (server_restarted): without the follow there is
    // no such line, and this test fails.
    for (const s of SERVERS) {
      await eventually(`${s}'s data server restarted against node2`, async () => serverLog(s, from.get(s)).includes(database("127.0.1.2")), 60_000);
    }
    // The line comes once the init script's restart-server returns, after the server's own
    // start-up line.
    const said = () => readHaLog(lab, watcherLog, undefined, watcher).lines;
    await eventually(`${watcher}'s daemon saying it restarted its server`, async () =>
      said().some((l) => l.info === "pandora_server restarted: it now uses 127.0.1.2"), 30_000);
    expect(said().filter((l) => l.event === "server_restarted")).toEqual([]);
    expect(await writable()).toEqual(["node2"]);
  }, 180_000);

  test("kill -9 of the master: one failover, both data servers restarted against the new master, nothing lost, one writable node", async () => {
    for (const s of SERVERS) logFrom.set(s, readHaLog(lab, Number.MAX_SAFE_INTEGER, undefined, s).end);
    const from = new Map(SERVERS.map((s) => [s, serverLogSize(s)]));
    const writer = startPublishedWriter(lab, TABLE, 4);
    const crashed = nowSec();
    await eventually("the writer to get going", async () => writer.acked.length > 50);
    await fault(lab, "node2", "crash");
    await eventually("node1 the one writable node, published", async () =>
      (await writable()).join() === "node1" && (await onServer(lab, `cat ${PANDORA_PATHS.haHostsFile}`, 30_000, "pfms2")).stdout === "127.0.1.1", 60_000);
    for (const s of SERVERS) {
      await eventually(`${s}'s data server restarted against node1`, async () => serverLog(s, from.get(s)).includes(database("127.0.1.1")), 60_000);
    }
    await heartbeating("node1", crashed);
    const acked = await writer.stop();
    const c = await pandoraConnection(lab, "node1");
    try {
      expect(await missingKeys(c, TABLE, acked)).toEqual([]);
    } finally {
      c.destroy();
    }
    // One daemon failed over (its failover ends after its own server's restart); the other followed it.
    await eventually("the failover's end", async () => SERVERS.some((s) => events(s, "failover_end", logFrom.get(s)).length > 0), 30_000);
    const ends = SERVERS.flatMap((s) => events(s, "failover_end", logFrom.get(s)).map(() => s));
    expect(ends).toHaveLength(1);
    expect(SERVERS.flatMap((s) => events(s, "failover_start", logFrom.get(s)).map(() => s))).toEqual(ends);
    await fault(lab, "node2", "restart");
    await eventually("node2 back as node1's replica", async () => {
      const n2 = (await status(lab)).find((n) => n.name === "node2");
      return n2?.role === "replica" && n2.source === "127.0.1.1" && n2.ioRunning === "Yes" && n2.sqlRunning === "Yes";
    }, 90_000);
    expect(await writable()).toEqual(["node1"]);
  }, 240_000);

  test("the acting daemon killed: the other takes over and fails over the next master crash; the killed one, started again, starts its own server", async () => {
    const first = (await actor())!;
    expect(first).toBeDefined();
    const other = SERVERS.find((s) => s !== first)!;
    await daemonKill(lab, first);
    await eventually(`${other}'s daemon acting`, async () => (await actor()) === other, 30_000);
    const from = new Map(SERVERS.map((s) => [s, serverLogSize(s)]));
    const otherLog = readHaLog(lab, Number.MAX_SAFE_INTEGER, undefined, other).end;
    const crashed = nowSec();
    await fault(lab, "node1", "crash");
    await eventually("node2 the one writable node, published", async () =>
      (await writable()).join() === "node2" && (await onServer(lab, `cat ${PANDORA_PATHS.haHostsFile}`, 30_000, first)).stdout === "127.0.1.2", 60_000);
    await eventually(`${other}'s failover to end`, async () => events(other, "failover_end", otherLog).length === 1, 30_000);
    await eventually(`${other}'s data server restarted against node2`, async () => serverLog(other, from.get(other)).includes(database("127.0.1.2")), 60_000);
    // Its own server shut itself down when the master died (restart 0), and nothing started it
    // again: the killed daemon, started again, does (its watchdog), against the file's node2.
    await startDaemon(lab, {}, first);
    await eventually(`${first}'s data server started against node2`, async () => serverLog(first, from.get(first)).includes(database("127.0.1.2")), 60_000);
    await heartbeating("node2", crashed);
    expect(await writable()).toEqual(["node2"]);
  }, 240_000);

  test("what pulumi destroy runs for servers/pfms2/pandora-ha: that daemon stops and stays stopped (run twice: the same); the cluster goes on under the other", async () => {
    const step = labPlan(lab.cfg).find((x) => x.id === "servers/pfms2/pandora-ha")!;
    expect(step.deleteCommand).toBeDefined();
    const master = await writable();
    for (let i = 0; i < 2; i++) expect((await onServer(lab, step.deleteCommand!, 120_000, "pfms2")).code, `run ${i + 1}`).toBe(0);
    expect((await haStatusJson(lab, "pfms2")).daemonRunning).toBe(false);
    await sleep(3000);
    expect((await haStatusJson(lab, "pfms2")).daemonRunning).toBe(false);
    expect((await haStatusJson(lab, "pfms1")).daemonRunning).toBe(true);
    expect(await writable()).toEqual(master);
  }, 240_000);
});
