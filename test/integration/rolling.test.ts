/**
 * A configuration change rolled out on a running cluster, for real: the lab up with pandora_ha
 * on pfms1 and a 16-connection keyed writer following pandora_ha_hosts.conf, then the stack
 * file changed (innodbBufferPoolSize 64M → 80M) and deployed again, as `npm run lab -- up` with a
 * changed Pulumi.lab.yaml does. Every node's read_only is sampled every 100 ms throughout. The
 * deployment must succeed with the nodes restarted one at a time — the replica first, the master
 * last after a planned switchover — with no failover, no failover budget spent, never two
 * writable nodes, no acknowledged key lost, and the new value in force everywhere; the next
 * deployment (the master has moved) must succeed and change nothing.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as mysql from "mysql2/promise";
import { describe, expect, test } from "vitest";
import { haStatusJson } from "../../lab/ha";
import { up } from "../../lab/lab";
import { paths } from "../../lab/layout";
import { sleep } from "../../lab/proc";
import type { LabSecrets } from "../../lab/stack";
import { LAB_STACK_ENV, LAB_STACK_FILE } from "../../lab/stack";
import { eventually } from "./helpers";
import type { Scenario } from "./scenario";
import { freshLabEachTest } from "./scenario";

const quiet = () => undefined;

/** Pulumi.lab.yaml with one key changed, in a file of its own. */
function changedStackFile(dir: string, key: string, value: string): string {
  const text = readFileSync(LAB_STACK_FILE, "utf8");
  const re = new RegExp(`^(\\s*pandora-ha:${key}:).*$`, "m");
  if (!re.test(text)) throw new Error(`Pulumi.lab.yaml has no pandora-ha:${key}`);
  const file = path.join(dir, "Pulumi.lab.yaml");
  writeFileSync(file, text.replace(re, `$1 ${value}`));
  return file;
}

interface Samples {
  rounds: number;
  /** Rounds in which more than one node answered read_only = 0, with who. */
  doubleWritable: Array<{ at: number; nodes: string[] }>;
  stop(): Promise<void>;
}

/** Every node's @@global.read_only, all at once, every 100 ms, over a connection per node. */
function sampleReadOnly(sc: Scenario): Samples {
  const nodes = sc.dbNodes();
  const conns = new Map<string, mysql.Connection | undefined>();
  const s: Samples = { rounds: 0, doubleWritable: [], stop: async () => undefined };
  let running = true;
  const one = async (node: string): Promise<boolean> => {
    try {
      let c = conns.get(node);
      if (!c) {
        c = await sc.admin(node);
        conns.set(node, c);
      }
      const [rows] = await c.query({ sql: "SELECT @@global.read_only AS v", timeout: 1000 });
      return Number((rows as Array<{ v: number }>)[0].v) === 0;
    } catch {
      conns.get(node)?.destroy();
      conns.set(node, undefined);
      return false;
    }
  };
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      const writable = await Promise.all(nodes.map(one));
      s.rounds++;
      const w = nodes.filter((_, i) => writable[i]);
      if (w.length > 1) s.doubleWritable.push({ at: t, nodes: w });
      await sleep(Math.max(0, 100 - (Date.now() - t)));
    }
  })();
  s.stop = async () => {
    running = false;
    await loop;
    for (const c of conns.values()) c?.destroy();
  };
  return s;
}

describe("a my.cnf change rolled out on a running 2-node lab", () => {
  const sc = freshLabEachTest(2);

  test("innodbBufferPoolSize 64M → 80M under a 16-connection writer: one node at a time, the master last after a switchover, nothing lost", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pha-rolling-"));
    const before = process.env[LAB_STACK_ENV];
    try {
      process.env[LAB_STACK_ENV] = changedStackFile(dir, "innodbBufferPoolSize", "80M");
      const w = sc.startWriter(16);
      await sleep(1500);
      const samples = sampleReadOnly(sc);
      const t0 = Date.now();
      const r = await up(2, quiet);
      const seconds = (Date.now() - t0) / 1000;
      await sleep(1500);
      await samples.stop();
      const acked = await w.stop();

      // The deployment succeeded; each configure step left its restart to the rolling restart.
      const step = (id: string) => r.steps.find((s) => s.id === id);
      for (const n of ["node1", "node2"]) expect(step(`db/${n}/configure`)?.changed.join("\n")).toMatch(/restart pending/);
      const roll = step("servers/pfms1/rolling-restart")!.changed;
      expect(roll).toEqual([
        "restarted the database server on 127.0.1.2: its my.cnf is in force",
        "switched over: 127.0.1.2 is the master, 127.0.1.1 a read-only replica of it",
        "restarted the database server on 127.0.1.1: its my.cnf is in force",
      ]);

      // Never two writable nodes (sampled every 100 ms), no failover, no budget spent.
      expect(samples.rounds).toBeGreaterThan(seconds * 5);
      expect(samples.doubleWritable).toEqual([]);
      expect(sc.events("failover_start")).toEqual([]);
      expect(sc.events("switchover_end")).toHaveLength(1);
      const st = await haStatusJson(sc.lab);
      expect(st.failoverBudget.used).toBe(0);
      expect(st.master).toBe(sc.addr("node2"));

      // Exactly one writable node, the published one, holding every acknowledged key.
      await sc.expectOneMasterNothingLost(acked, "node2");
      expect(acked.length).toBeGreaterThan(1000);
      for (const n of ["node1", "node2"]) {
        const [v] = await sc.adminQuery<{ v: string }>(n, "SELECT @@global.innodb_buffer_pool_size AS v");
        expect(Number(v.v), `${n}'s buffer pool`).toBe(80 * 1024 * 1024);
      }
      const [rs] = await sc.replicaStatus("node1");
      expect(rs).toMatchObject({ Master_Host: sc.addr("node2"), Slave_IO_Running: "Yes", Slave_SQL_Running: "Yes" });

      // The next deployment, with the master on node2: the seed step recognises it, nothing changes.
      const again = await up(2, quiet);
      expect(again.changed).toBe(0);
      expect(again.steps.find((s) => s.id === "replication/node2/seed")).toBeDefined();
      await sc.expectOneMaster("node2");
      expect(sc.events("failover_start")).toEqual([]);
    } finally {
      if (before === undefined) delete process.env[LAB_STACK_ENV];
      else process.env[LAB_STACK_ENV] = before;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe("a rotated replPassword on a running 2-node lab", () => {
  const sc = freshLabEachTest(2);

  test("the replica's stored source password follows it without a reseed: replication reconnects with the new one, nothing lost", async () => {
    const secrets = JSON.parse(readFileSync(paths.secrets, "utf8")) as LabSecrets;
    const old = secrets.passwords.replPassword;
    const rotated = randomBytes(12).toString("hex"); // 24 characters (MySQL takes at most 32 for replication)
    writeFileSync(paths.secrets, JSON.stringify({ ...secrets, passwords: { ...secrets.passwords, replPassword: rotated } }, null, 2), { mode: 0o600 });
    const w = sc.startWriter(4);
    await sleep(1000);
    const r = await up(2, quiet);
    const step = (id: string) => r.steps.find((s) => s.id === id)!;
    // Only the stored password: no copy of the master; the master keeps none.
    expect(step("db/node2/repl-password").changed).toEqual([`the replication password it keeps for ${sc.addr("node1")} (replPassword rotated; no reseed)`]);
    expect(step("db/node1/repl-password").changed).toEqual([]);
    expect(step("replication/node2/seed").changed).toEqual([]);
    for (const n of ["node1", "node2"]) expect(r.steps.find((s) => s.id === `db/${n}/bootstrap`)!.changed).toContain("account slaveuser@127.% (replication)");

    // The next connection of the replica logs in with the new password (the old one is refused).
    await sc.adminQuery("node2", "STOP REPLICA IO_THREAD");
    await sc.adminQuery("node2", "START REPLICA IO_THREAD");
    await eventually("node2 replicating again", async () => (await sc.replicaStatus("node2"))[0]?.Slave_IO_Running === "Yes", 30_000);
    const acked = await w.stop();
    await sc.expectOneMasterNothingLost(acked, "node1");
    const login = (password: string) =>
      mysql.createConnection({ host: sc.addr("node1"), port: 3306, user: "slaveuser", password, connectTimeout: 3000 }).then((c) => c.end().then(() => true), () => false);
    expect(await login(rotated)).toBe(true);
    expect(await login(old)).toBe(false);
    // Deployed again: nothing left to change.
    expect((await up(2, quiet)).changed).toBe(0);
  }, 300_000);
});
