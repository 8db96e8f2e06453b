/**
 * No acknowledged write lost, one writable node: the faults of issue 8 on the lab's real
 * servers, each under a writer that records the keys it made itself (lab/writer.ts). After each:
 * every acknowledged key on the final master, exactly one writable node, pandora_ha_hosts.conf
 * naming it.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { defaultDbPaths } from "../../lib/render/mycnf";
import { PANDORA_PATHS } from "../../lib/render/pandora";
import { haCommand, haStatusJson, startDaemon, stopDaemon } from "../../lab/ha";
import { inHost } from "../../lab/hosts";
import { diskIsFull } from "../../lab/faults";
import { fault } from "../../lab/lab";
import { LAB_FLAVOR_ENV, paths } from "../../lab/layout";
import { sleep } from "../../lab/proc";
import { startNodeWriter } from "../../lab/writer";
import { eventually, family } from "./helpers";
import { TABLE, freshLabEachTest } from "./scenario";

const CONF = PANDORA_PATHS.serverConf;
/** Run again on MySQL by the mysql project (vitest.config.mts), which sets the lab's flavor. */
const mysqlLab = process.env[LAB_FLAVOR_ENV] === "mysql";

describe("pandora_ha: no acknowledged write lost (2-node lab)", () => {
  const sc = freshLabEachTest(2);
  const { addr, published } = sc;

  /** Every node crashed, in `order`, under the writer; resolves with the keys acknowledged before. */
  async function wholeOutage(order: [string, string]): Promise<string[]> {
    const w = sc.startWriter(4);
    await sleep(1500);
    for (const n of order) await fault(sc.lab, n, "crash");
    await sc.waitForEvent("total_outage");
    return w.stop();
  }

  /** node1, the master, back last: it is the master again, nothing lost, no failover happened. */
  async function masterBackLast(acked: string[]): Promise<void> {
    await fault(sc.lab, "node1", "restart");
    await sc.waitForEvent("master_writable");
    await sc.expectOneMasterNothingLost(acked, "node1");
    expect(sc.events("failover_start")).toEqual([]);
  }

  test("semi-sync fallback, then the master dies: no automatic failover; the master returns and nothing is lost", async () => {
    const w = sc.startWriter(16);
    await sleep(1000);
    // The replica loses the master for 9 s: nothing acknowledges node1's commits, so after
    // ha_semisync_timeout (5 s) pandora_ha lets them go on asynchronously, and says so.
    await fault(sc.lab, "node2", "isolate", "node1");
    const off = await sc.waitForEvent("semi_sync_off", 20_000);
    expect(off.message).toMatch(/127\.0\.1\.1 switched to asynchronous commits by pandora_ha/);
    await sleep(9000 - 5000);
    const ackedBeforeCrash = w.acked.length;
    await fault(sc.lab, "node1", "crash");
    const held = await sc.waitForEvent("failover_held");
    expect(held.message).toMatch(/127\.0\.1\.1 was not durable at the last look .*asynchronous/);
    await sleep(3000);
    expect(sc.events("failover_start")).toEqual([]);
    expect(await sc.readOnly("node2")).toBe(true);
    expect((await haStatusJson(sc.lab)).conditions.map((c) => c.kind)).toContain("failover_held");
    // node1 returns: still the master, writable again; node2 catches up; semi-sync in force again.
    await fault(sc.lab, "node2", "heal");
    await fault(sc.lab, "node1", "restart");
    await sc.waitForEvent("master_writable");
    await sc.waitForEvent("semi_sync_on", 30_000);
    const acked = await w.stop();
    expect(ackedBeforeCrash).toBeGreaterThan(0);
    await sc.expectOneMasterNothingLost(acked, "node1");
    await eventually("node2 holding every acknowledged key", async () => (await sc.missing("node2", acked)).length === 0);
  }, 150_000);

  test("a master cut off with its clients never acknowledges a commit the new master lacks", async () => {
    // node1 loses pfms1 and node2, but a client on this machine still reaches it and writes.
    const direct = startNodeWriter(sc.lab, "node1", TABLE, 4);
    const w = sc.startWriter(8);
    await sleep(1000);
    await fault(sc.lab, "node1", "isolate", "pfms1");
    await fault(sc.lab, "node1", "isolate", "node2");
    const cutAt = direct.acked.length;
    await sc.waitForEvent("failover_end", 40_000);
    // Held for far longer than any semi-sync timeout: its commits wait, none is acknowledged.
    await sleep(8000);
    expect(direct.acked.length - cutAt).toBeLessThanOrEqual(4); // at most the ones in flight at the cut
    await fault(sc.lab, "node1", "heal");
    await sc.waitForEvent("fenced");
    await sc.waitForEvent("rejoined", 40_000);
    const acked = [...(await direct.stop()), ...(await w.stop())];
    await sc.expectOneMasterNothingLost(acked, "node2");
  }, 150_000);

  test("a 2.5 s network blip on the master, twice, under the writer: no failover, nothing lost", async () => {
    const w = sc.startWriter(16);
    await sleep(1000);
    for (let i = 0; i < 2; i++) {
      await fault(sc.lab, "node1", "isolate");
      await sleep(2500);
      await fault(sc.lab, "node1", "heal");
      await sleep(4000);
    }
    expect(sc.events("failover_start")).toEqual([]);
    expect(published()).toBe(addr("node1"));
    expect((await haStatusJson(sc.lab)).failoverBudget.used).toBe(0);
    await sc.expectOneMasterNothingLost(await w.stop(), "node1");
  }, 120_000);

  test("a failover that fails after its drain (daemon killed) leaves no replica with its IO thread stopped", async () => {
    await stopDaemon(sc.lab, "SIGKILL");
    await startDaemon(sc.lab, { PANDORA_HA_PAUSE_AFTER: "drain" });
    const w = sc.startWriter(4);
    await sleep(1000);
    await fault(sc.lab, "node1", "crash");
    await eventually("the daemon paused after the drain", async () => sc.log().some((l) => String(l.test_hook ?? "").includes("drain")));
    await stopDaemon(sc.lab, "SIGKILL");
    // The master returns before any daemon finished the failover: node2's IO thread was stopped by the drain.
    await fault(sc.lab, "node1", "restart");
    const [before] = await sc.replicaStatus("node2");
    expect(before.Slave_IO_Running).toBe("No");
    await startDaemon(sc.lab);
    await sc.waitForEvent("replication_restarted");
    await eventually("node2 replicating from node1 again", async () => {
      const [x] = await sc.replicaStatus("node2");
      return x?.Master_Host === addr("node1") && x.Slave_IO_Running === "Yes" && x.Slave_SQL_Running === "Yes";
    });
    await eventually("node1 durable again (its semi-sync replica back)", async () => (await haStatusJson(sc.lab)).durability.lastMaster?.durable === true);
    await sc.expectOneMasterNothingLost(await w.stop(), "node1");
  }, 120_000);

  test("budget spent and the master never returns: pandora_ha failover refuses, then promotes with --force (named in the event)", async () => {
    await sc.setTokens({ ha_failover_budget: "0" });
    const w = sc.startWriter(4);
    await sleep(1000);
    await fault(sc.lab, "node1", "crash");
    await sc.waitForEvent("budget_exhausted");
    // Asked once the restarted daemon acts: a daemon that took the lock on only one node backs
    // off for a few cycles and, meanwhile, refuses as a watcher would.
    await eventually("the restarted daemon acting", async () => (await haStatusJson(sc.lab)).daemon.actor);
    const refused = await haCommand(sc.lab, `failover ${CONF} ${addr("node2")}`, 60_000);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/the failover budget is spent .*add --force/);
    expect(await sc.readOnly("node2")).toBe(true);
    const bad = await haCommand(sc.lab, `failover ${CONF} 10.9.9.9 --force`);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/10\.9\.9\.9 is not in ha_hosts/);
    const forced = await haCommand(sc.lab, `failover ${CONF} ${addr("node2")} --force`, 120_000);
    expect(forced.code, forced.stderr).toBe(0);
    const start = sc.events("failover_start").find((e) => /by hand/.test(String(e.message)));
    expect(start?.message).toMatch(/failover by hand to 127\.0\.1\.2 \(--force overrides: the failover budget \(0 in 3600 s\)\)/);
    await sc.expectOneMasterNothingLost(await w.stop(), "node2");
  }, 120_000);

  /** `node` replicates from `source` with both threads running and no error. */
  async function replicating(node: string, source: string): Promise<boolean> {
    const [x] = await sc.replicaStatus(node);
    return x?.Master_Host === addr(source) && x.Slave_IO_Running === "Yes" && x.Slave_SQL_Running === "Yes" && !x.Last_IO_Errno && !x.Last_SQL_Errno;
  }

  /** `master` durable again: pandora_ha says so and a replica acknowledges its commits. */
  async function durableAgain(master: string): Promise<void> {
    await eventually(`${master} durable again (a replica acknowledging its commits)`, async () => {
      const [c] = await sc.adminQuery<{ Value: string }>(master, `SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_${family(sc.lab).mysql ? "source" : "master"}_clients'`);
      const seen = (await haStatusJson(sc.lab)).durability.lastMaster;
      return Number(c?.Value) >= 1 && seen?.host === addr(master) && seen.durable === true;
    }, 30_000);
  }

  // MySQL names its next binary log after the highest-numbered file in the directory: the lab
  // cannot put it on a small filesystem (lab/faults.ts), so there the fault must refuse untouched.
  if (mysqlLab) test("disk-full on a MySQL host: refused, naming why, nothing changed", async () => {
    await expect(fault(sc.lab, "node1", "disk-full")).rejects.toThrow(/refused on the MySQL family: MySQL names its next binary log/);
    expect(await diskIsFull("node1")).toBe(false);
    const links = await inHost("node1", "find", [defaultDbPaths("mysql", sc.lab.cfg.os).datadir, "-maxdepth", "1", "-type", "l"]);
    expect(links.code, links.stderr).toBe(0);
    expect(links.stdout.trim()).toBe("");
  }, 60_000);
  else test("a master whose binary-log volume is full (writes stall, reads answer): stopped, failed over, and once space is back it rejoins cleanly, nothing lost", async () => {
    const w = sc.startWriter(32);
    await sleep(1500);
    const filled = await fault(sc.lab, "node1", "disk-full");
    expect(filled).toMatch(/kB free/);
    const start = await sc.waitForEvent("failover_start", 40_000);
    expect(start.message).toMatch(/promoting 127\.0\.1\.2/);
    await sc.waitForEvent("failover_end", 40_000);
    const tl = sc.log().find((l) => l.timeline)!.timeline as { reason: string; phases: Array<{ phase: string; detail: string }> };
    expect(tl.reason).toMatch(/127\.0\.1\.1 answers but its writes have stalled for \d+ s/);
    expect(tl.phases.find((p) => p.phase === "fence")!.detail).toMatch(/stopped \(kill -9 over SSH\)/);
    // The killed server starts again by itself (mariadbd-safe); its crash recovery met the transaction
    // the full volume cut short. Its volume still full, pandora_ha tries to rejoin it: that may fail
    // (then it is tried again later, never given up as diverged) or succeed.
    await eventually("pandora_ha trying to rejoin node1, its volume still full", async () => sc.events("rejoin_failed").length + sc.events("rejoined").length > 0, 60_000);
    for (const e of sc.log().filter((l) => l.truncate || l.merge || l.event === "rejoin_failed")) process.stdout.write(`node1, volume full: ${JSON.stringify(e)}\n`);
    // Space back: it rejoins the new master, with what its binary log holds beyond node2 (commits
    // never acknowledged) archived and undone.
    expect(await fault(sc.lab, "node1", "disk-free")).toMatch(/freed/);
    const rejoined = await sc.waitForEvent("rejoined", 60_000);
    process.stdout.write(`node1: ${String(rejoined.message)}\n`);
    expect(rejoined.message).toMatch(/^127\.0\.1\.1 rejoined as a replica of 127\.0\.1\.2/);
    expect(sc.events("diverged")).toEqual([]);
    await eventually("node1 replicating from node2, both threads running", () => replicating("node1", "node2"), 30_000);
    await durableAgain("node2");
    await sleep(2000);
    const acked = await w.stop();
    await sc.expectOneMasterNothingLost(acked, "node2");
    await eventually("node1 holding every acknowledged key", async () => (await sc.missing("node1", acked)).length === 0);
    // Nothing of its own left: node1's history is contained in node2's.
    await eventually("node1's history within node2's", async () => {
      const [a, b] = await Promise.all(["node1", "node2"].map((n) => sc.history(n)));
      return (await sc.dialect("node2")).compareHistory(a, b).prefix && (await replicating("node1", "node2"));
    });
    // The next fault finds replication healthy: the master goes back to node1, node2 follows it.
    const w2 = sc.startWriter(4);
    await sleep(1000);
    const sw = await haCommand(sc.lab, `switchover ${CONF} ${addr("node1")}`, 60_000);
    expect(sw.code, sw.stderr).toBe(0);
    await eventually("node2 replicating from node1", () => replicating("node2", "node1"), 30_000);
    await sleep(1000);
    const acked2 = await w2.stop();
    await sc.expectOneMasterNothingLost([...acked, ...acked2], "node1");
    await eventually("node2 holding every acknowledged key", async () => (await sc.missing("node2", [...acked, ...acked2])).length === 0);
  }, 240_000);

  // MariaDB's own case: a replica's position is a GTID state it can be given by hand (MySQL's auto-position asks by its whole history).
  if (!mysqlLab) test("a replica the master refuses (error 1236) because it asks from far behind what it holds: rejoined from what its binary log holds", async () => {
    const w = sc.startWriter(4);
    await sleep(2000);
    // The state the rejoin left an old master in before it read the binary log files: its position
    // set to a stale GTID state (0-1-2) that the master's binary log no longer reaches back to.
    await sc.adminQuery("node1", "FLUSH BINARY LOGS");
    await eventually("node1's older binary logs purged", async () => {
      const [m] = await sc.adminQuery<{ File: string }>("node1", "SHOW MASTER STATUS");
      await sc.adminQuery("node1", `PURGE BINARY LOGS TO '${m.File}'`);
      return (await sc.adminQuery("node1", "SHOW BINARY LOGS")).length === 1;
    });
    const set = await inHost("node2", "mariadb", ["-e", "STOP SLAVE; SET GLOBAL gtid_slave_pos = '0-1-2'; START SLAVE"]);
    expect(set.stderr).toBe("");
    const repaired = await sc.waitForEvent("replication_restarted", 30_000);
    expect(repaired.message).toMatch(/127\.0\.1\.2: IO thread stopped \(last error: .*1236.*\): the master refused its position .*; rejoined from what its binary log holds/);
    await eventually("node2 replicating from node1 again", () => replicating("node2", "node1"), 30_000);
    await durableAgain("node1");
    const acked = await w.stop();
    await sc.expectOneMasterNothingLost(acked, "node1");
    await eventually("node2 holding every acknowledged key", async () => (await sc.missing("node2", acked)).length === 0);
  }, 120_000);

  test("an errant transaction on the replica is reported and keeps it from being promoted; a read_only set on the master by hand is left so, with an event", async () => {
    const f = family(sc.lab);
    await eventually("the writer's table replicated to node2", async () => (await inHost("node2", f.client, ["-N", "-e", "SHOW TABLES FROM pandora LIKE 'pha_writer'"])).stdout.trim() === TABLE);
    const errant = await inHost("node2", f.client, ["-e", `SET GLOBAL read_only=OFF; INSERT INTO pandora.pha_writer (k, v) VALUES ('by-hand', 0); ${f.readOnlyAgain}`]);
    expect(errant.stderr).toBe("");
    // node2's own transaction: MariaDB's domain-server-seq, MySQL's server_uuid:n.
    const own = f.mysql ? "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:\\d+" : "0-2-\\d+";
    const e = await sc.waitForEvent("errant_transaction");
    expect(e.message).toMatch(new RegExp(`127\\.0\\.1\\.2 holds 1 transactions the master lacks \\(${own}\\)`));
    // read_only by hand on the master: not undone behind the administrator's back.
    await sc.adminQuery("node1", "SET GLOBAL read_only = ON");
    const ro = await sc.waitForEvent("master_read_only");
    expect(ro.message).toMatch(/read_only was set by hand, so it is left so/);
    await sleep(3000);
    expect(await sc.readOnly("node1")).toBe(true);
    expect(sc.events("master_writable")).toEqual([]);
    await sc.adminQuery("node1", "SET GLOBAL read_only = OFF");
    await sc.expectOneMaster("node1");
    // The errant replica is never promoted: the master's crash is not failed over to it.
    await fault(sc.lab, "node1", "crash");
    const nf = await sc.waitForEvent("no_failover");
    expect(nf.message).toMatch(new RegExp(`no reachable replica fit to promote \\(127\\.0\\.1\\.2 holds errant transactions ${own}\\)`));
    await sleep(2000);
    expect(await sc.readOnly("node2")).toBe(true);
  }, 120_000);

  test("every node down, the replica back first: held until the master returns; it stays the master", async () => {
    await sc.setTokens({ ha_outage_wait: "30" });
    const acked = await wholeOutage(["node2", "node1"]);
    await fault(sc.lab, "node2", "restart");
    const held = await sc.waitForEvent("failover_held");
    expect(held.message).toMatch(/every node was down: waiting for 127\.0\.1\.1 too/);
    await sleep(2000);
    expect(await sc.readOnly("node2")).toBe(true);
    await masterBackLast(acked);
  }, 120_000);

  test("the daemon remembers the master across its restarts: restarted while every node is down, it still waits for the master", async () => {
    const acked = await wholeOutage(["node1", "node2"]);
    await stopDaemon(sc.lab, "SIGTERM");
    await startDaemon(sc.lab);
    await fault(sc.lab, "node2", "restart");
    await sc.waitForEvent("failover_held");
    await masterBackLast(acked);
  }, 120_000);
});

describe("pandora_ha: an actor frozen mid-failover (2-node lab, two daemons)", () => {
  const sc = freshLabEachTest(2);

  test("it resumes after the other daemon took over and drops its old decision; the epoch refuses a conflicting row", async () => {
    // The lab's daemon (A) will pause 25 s after its drain; a second daemon (B) watches.
    await stopDaemon(sc.lab, "SIGKILL");
    await startDaemon(sc.lab, { PANDORA_HA_PAUSE_AFTER: "drain:25" });
    const { log: logB, pid: pidB } = await sc.startSecondDaemon();
    await eventually("B watching the master", async () => logB().some((l) => l.event === "master_adopted"));
    await sleep(2000);
    const w = sc.startWriter(4);
    await sleep(1000);
    await fault(sc.lab, "node1", "crash");
    await eventually("A paused after its drain", async () => sc.log().some((l) => String(l.test_hook ?? "").includes("paused after drain")));
    // A freezes (SIGSTOP) for 12 s: its lock goes with its idle connections; B takes over and fails over.
    const pidA = Number(readFileSync(paths.inHost("pfms1", "/run/pandora_ha.pid"), "utf8"));
    process.kill(pidA, "SIGSTOP");
    await eventually("B's failover", async () => logB().some((l) => l.event === "failover_end"), 40_000);
    await sleep(Math.max(0, 12_000));
    process.kill(pidA, "SIGCONT");
    // A's pause ends: it must not act on its old decision.
    const failure = await sc.waitForEvent("failover_failure", 40_000);
    expect(failure.message).toMatch(/no longer holds the actor lock|another pandora_ha promoted meanwhile|decision is dropped/);
    expect(sc.events("failover_end")).toEqual([]);
    const epochs = await sc.adminQuery<{ epoch: number; master: string }>("node2", "SELECT epoch, master FROM pandora_ha_epoch ORDER BY epoch");
    expect(epochs.map((e) => [Number(e.epoch), e.master])).toEqual([[1, sc.addr("node1")], [2, sc.addr("node2")]]);
    await sc.expectOneMasterNothingLost(await w.stop(), "node2");
    process.kill(pidB(), "SIGKILL");
  }, 150_000);
});
