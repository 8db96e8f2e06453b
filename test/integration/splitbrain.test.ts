/**
 * The split-brain merge on the lab (issue 8 case 9): node1, the master, is cut off from pfms1
 * and node2 while clients on this machine still write to it; node2 is promoted. What node1
 * wrote since — rows with far-past and future timestamps, text with control characters, events
 * — must reach node2; an event node2 deleted meanwhile (validated on node1) must not come back;
 * a second merge must change nothing; rows node2 had must not be doubled.
 *
 * The first test calls mergeDivergedWrites directly (node1 stays cut off from the daemon, so the
 * daemon never touches it). The second lets the daemon do it (heal, rejoin).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { labMergeSide, labSsh } from "../../bench/merge";
import { sshArgs } from "../../lab/deploy";
import { inHost } from "../../lab/hosts";
import { fault } from "../../lab/lab";
import { run } from "../../lab/proc";
import type { MergeSide } from "../../runtime/act/merge";
import { mergeDivergedWrites, mergeScript } from "../../runtime/act/merge";
import { ARCHIVE_DIR, commonPosition } from "../../runtime/act/truncate";
import { eventually } from "./helpers";
import type { Scenario } from "./scenario";
import { freshLabEachTest } from "./scenario";

const NOW = Math.floor(Date.now() / 1000);
const PAST = 1_000_000_000; // 2001: an agent's clock far behind, or old buffered data
const FUTURE = NOW + 10 * 365 * 86400;

/** The pre-split events, the split, then what each side writes during it. */
async function splitBrain(sc: Scenario): Promise<void> {
  await sc.adminQuery("node1", "INSERT INTO tevento (evento, utimestamp, timestamp, event_type, criticity, id_extra) VALUES " +
    `('validated on node1, deleted on node2', ${NOW - 60}, NOW(), 'system', 4, 'sb:e1'), ('kept by both', ${NOW - 60}, NOW(), 'system', 1, 'sb:e2')`);
  await eventually("node2 with the pre-split events", async () => (await sc.adminQuery("node2", "SELECT id_evento FROM tevento WHERE id_extra LIKE 'sb:%'")).length === 2);
  await fault(sc.lab, "node1", "isolate", "pfms1");
  await fault(sc.lab, "node1", "isolate", "node2");
  await sc.waitForEvent("failover_end");
  const w = (q: string) => sc.adminQuery("node1", q);
  // Its commits would wait for a replica's acknowledgement for ever: asynchronous, as after a fallback.
  await w("SET GLOBAL rpl_semi_sync_master_enabled = OFF");
  await w(`INSERT INTO tagente_datos VALUES (7100, 1.25, ${PAST}), (7101, 2.5, ${FUTURE}), (7102, 123456.789012345, ${NOW}), (7103, -3, 0), (7104, 42, ${NOW})`);
  await w(`INSERT INTO tagente_datos_string VALUES (7100, 'line1\\nline2', ${PAST}), (7101, 'C:\\\\x0a is text', ${FUTURE}), (7102, 'plain ✓', ${NOW})`);
  await w(`INSERT INTO tevento (evento, utimestamp, timestamp, event_type, criticity, id_extra) VALUES ('raised on node1', ${FUTURE}, NOW(), 'system', 3, 'sb:e3'), ('raised and deleted on node1', ${NOW}, NOW(), 'system', 3, 'sb:e4')`);
  await w("UPDATE tevento SET estado = 1, id_usuario = 'admin' WHERE id_extra IN ('sb:e1', 'sb:e3')");
  await w("DELETE FROM tevento WHERE id_extra = 'sb:e4'");
  await w("DELETE FROM tagente_datos WHERE id_agente_modulo = 7103");
  // node2, the new master: deletes the event node1 validated, receives the same data point and its own.
  await sc.adminQuery("node2", "DELETE FROM tevento WHERE id_extra = 'sb:e1'");
  await sc.adminQuery("node2", `INSERT INTO tagente_datos VALUES (7104, 42, ${NOW}), (7200, 1, ${NOW})`);
}

/** What `node` holds of the test's rows, in a stable order. */
async function snapshot(sc: Scenario, node = "node2"): Promise<unknown[]> {
  return [
    ...(await sc.adminQuery(node, "SELECT id_agente_modulo, datos, utimestamp FROM tagente_datos WHERE id_agente_modulo >= 7100 ORDER BY 1, 3, 2")),
    ...(await sc.adminQuery(node, "SELECT id_agente_modulo, HEX(datos) AS datos, utimestamp FROM tagente_datos_string WHERE id_agente_modulo >= 7100 ORDER BY 1, 3")),
    ...(await sc.adminQuery(node, "SELECT id_extra, evento, estado, id_usuario, utimestamp FROM tevento WHERE id_extra LIKE 'sb:%' ORDER BY id_extra")),
  ];
}

async function expectMerged(sc: Scenario): Promise<void> {
  const datos = await sc.adminQuery<{ m: number; d: number; u: number }>("node2", "SELECT id_agente_modulo AS m, datos AS d, utimestamp AS u FROM tagente_datos WHERE id_agente_modulo >= 7100 ORDER BY 1");
  expect(datos.map((r) => [Number(r.m), Number(r.d), Number(r.u)])).toEqual([
    [7100, 1.25, PAST], [7101, 2.5, FUTURE], [7102, 123456.789012345, NOW], [7104, 42, NOW], [7200, 1, NOW],
  ]);
  const strings = await sc.adminQuery<{ m: number; d: string }>("node2", "SELECT id_agente_modulo AS m, datos AS d FROM tagente_datos_string WHERE id_agente_modulo >= 7100 ORDER BY 1");
  expect(strings.map((r) => [Number(r.m), r.d])).toEqual([[7100, "line1\nline2"], [7101, "C:\\x0a is text"], [7102, "plain ✓"]]);
  const events = await sc.adminQuery<{ x: string; estado: number }>("node2", "SELECT id_extra AS x, estado FROM tevento WHERE id_extra LIKE 'sb:%' ORDER BY id_extra");
  // e1 (deleted on node2) stays deleted; e3 arrives validated, as node1 left it; e4 was deleted on node1.
  expect(events.map((e) => [e.x, Number(e.estado)])).toEqual([["sb:e2", 0], ["sb:e3", 1]]);
}

/**
 * PHA_RECORD_BINLOG_DIR=test/fixtures/binlog: records the unit tests' fixtures from this scenario —
 * what mergeScript sends back from node1's host, and the whole decoded log since the split.
 */
async function recordFixtures(sc: Scenario, node: MergeSide, master: MergeSide, dir: string): Promise<void> {
  const start = commonPosition(node.history, master.history)!;
  const files = (await sc.adminQuery<{ Log_name: string }>("node1", "SHOW BINARY LOGS")).map((l) => l.Log_name);
  const filtered = mergeScript(start, "/var/lib/mysql", files);
  const whole = `cd /var/lib/mysql && mariadb-binlog -v --base64-output=decode-rows --start-position='${start}' ${files.join(" ")}`;
  mkdirSync(dir, { recursive: true });
  for (const [name, script] of [["splitbrain.filtered.txt", filtered], ["splitbrain.rows.txt", whole]]) {
    const r = await run("ssh", [...sshArgs(sc.addr("node1"), sc.lab.state.sshPort), script]);
    if (r.code !== 0) throw new Error(`recording ${name}: ${r.stderr}`);
    writeFileSync(`${dir}/${name}`, r.stdout);
  }
  writeFileSync(`${dir}/splitbrain.json`, `${JSON.stringify({ node: node.history, master: master.history, start }, null, 2)}\n`);
}

describe("the split-brain merge on a 2-node lab", () => {
  const sc = freshLabEachTest(2);

  test("every row node1 wrote cut off is merged whatever its timestamp; a deleted event stays deleted; twice is once", async () => {
    await splitBrain(sc);
    await sc.adminQuery("node1", "SET GLOBAL read_only = 1"); // fenced, as the daemon does first
    const node = await labMergeSide(sc.lab, "node1");
    const master = await labMergeSide(sc.lab, "node2");
    if (process.env.PHA_RECORD_BINLOG_DIR) await recordFixtures(sc, node, master, process.env.PHA_RECORD_BINLOG_DIR);
    try {
      const first = await mergeDivergedWrites(labSsh(sc.lab), node, master);
      expect(first.inserted).toEqual({ tagente_datos: 3, tagente_datos_string: 3, tevento: 1 });
      expect(first.alreadyThere).toBe(1); // (7104, 42, now): node2 had it
      expect(first.summary).toBe("; 3 tagente_datos rows, 3 tagente_datos_string rows, 1 tevento rows written there during the split copied to 127.0.1.2");
      await expectMerged(sc);
      const after = await snapshot(sc);
      const again = await mergeDivergedWrites(labSsh(sc.lab), node, await labMergeSide(sc.lab, "node2"));
      expect(again).toMatchObject({ diverged: first.diverged, alreadyMerged: first.diverged, inserted: {}, summary: "" });
      expect(await snapshot(sc)).toEqual(after);
      const [rec] = await sc.adminQuery<{ n: number }>("node2", "SELECT COUNT(*) AS n FROM pandora_ha_merged WHERE node = '127.0.1.1'");
      expect(Number(rec.n)).toBeGreaterThan(0);
    } finally {
      node.conn.close();
      master.conn.close();
    }
  }, 120_000);

  test("through the daemon: healed, node1's rows merged, it rejoins and ends with node2's data", async () => {
    await splitBrain(sc);
    await run("ssh-keygen", ["-R", sc.addr("node1")]);
    await fault(sc.lab, "node1", "heal");
    const r = await sc.waitForEvent("rejoined", 60_000);
    expect(r.message).toMatch(/3 tagente_datos rows, 3 tagente_datos_string rows, 1 tevento rows written there during the split copied to 127\.0\.1\.2/);
    await expectMerged(sc);
    await eventually("node1 with node2's rows", async () => JSON.stringify(await snapshot(sc)) === JSON.stringify(await snapshot(sc, "node1")), 30_000);
    await sc.expectOneMaster("node2");
  }, 120_000);

  test("a rejoin that fails for a cause that passes (node1's archive volume full) is tried again once it passes: rejoined, never left diverged", async () => {
    await splitBrain(sc);
    // The volume the tail is archived on, full: the undo cannot archive, so it must not undo.
    const full = await inHost("node1", "bash", ["-c", `set -e; mkdir -p ${ARCHIVE_DIR}; mount -t tmpfs -o size=64k tmpfs ${ARCHIVE_DIR}; dd if=/dev/zero of=${ARCHIVE_DIR}/filler bs=4k 2>/dev/null || true`]);
    expect(full.stderr).toBe("");
    try {
      await run("ssh-keygen", ["-R", sc.addr("node1")]);
      await fault(sc.lab, "node1", "heal");
      const failed = await sc.waitForEvent("rejoin_failed", 60_000);
      expect(failed.message).toMatch(/^127\.0\.1\.1 holds \d+ transactions 127\.0\.1\.2 lacks .*; undoing its tail failed .*: it stays read-only and fenced, nothing of it is dropped; tried again in 5 s \(failure 1\)$/);
      // Its rows were copied to node2 by the first try; node1 is still fenced, its tail kept.
      await expectMerged(sc);
      const [ro] = await sc.adminQuery<{ v: number }>("node1", "SELECT @@global.read_only AS v");
      expect(Number(ro.v)).toBe(1);
      expect((await sc.adminQuery("node1", "SELECT 1 FROM tevento WHERE id_extra = 'sb:e3'")).length).toBe(1);
    } finally {
      expect((await inHost("node1", "umount", [ARCHIVE_DIR])).code).toBe(0);
    }
    const r = await sc.waitForEvent("rejoined", 60_000);
    expect(r.message).toMatch(/^127\.0\.1\.1 rejoined as a replica of 127\.0\.1\.2 after its \d+ diverged transactions .* were archived and undone/);
    expect(sc.events("diverged")).toEqual([]);
    await expectMerged(sc);
    await eventually("node1 with node2's rows", async () => JSON.stringify(await snapshot(sc)) === JSON.stringify(await snapshot(sc, "node1")), 30_000);
    await sc.expectOneMaster("node2");
  }, 150_000);
});
