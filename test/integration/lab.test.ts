/**
 * The lab, for real: MariaDB 10.11 servers, sshd and iptables on this machine's loopback
 * addresses, deployed by the Pulumi program's own host steps over SSH.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { actingStatus, haCommand, readHaLog, serverHosts, startDaemon, stopDaemon } from "../../lab/ha";
import { PANDORA_PATHS } from "../../lib/render/pandora";
import { hostPids, inHost, killQuiet } from "../../lab/hosts";
import type { Lab, UpResult } from "../../lab/lab";
import { down, fault, findHost, labIsLive, runResyncTool, status, up } from "../../lab/lab";
import { DEFAULT_SERVERS, labHosts, paths, LAB_DIR } from "../../lab/layout";
import { alive, run } from "../../lab/proc";
import { labStackConfig } from "../../lab/stack";
import { sshArgs } from "../../lab/deploy";
import { labRules } from "../../lab/faults";
import { installMocks, settle } from "../unit/mocks";
import { missingKeys, startNodeWriter, writerTableSql } from "../../lab/writer";
import { eventually, family, pandoraConnection, requireLabMachine, sql } from "./helpers";

const quiet = () => undefined;

async function countOn(lab: Lab, node: string, table: string): Promise<number> {
  const [r] = await sql<{ n: number }>(lab, node, `SELECT COUNT(*) AS n FROM ${table}`);
  return Number(r.n);
}

/** The names of the command resources the Pulumi program registers for this stack config. */
async function programCommands(config: Record<string, string>): Promise<string[]> {
  vi.resetModules();
  const registered = installMocks("lab");
  pulumi.runtime.setAllConfig(config, ["pandora-ha:ssh"]);
  await import("../../index");
  await settle();
  // Not the on-destroy companions: they run nothing on `pulumi up` (create is `true`).
  return registered.filter((r) => r.type === "command:remote:Command" && !r.name.endsWith("-on-destroy")).map((r) => r.name).sort();
}

describe("a 2-node lab", () => {
  let first: UpResult;
  let lab: Lab;

  beforeAll(async () => {
    await requireLabMachine();
    first = await up(2, quiet);
    lab = first.lab;
  }, 300_000);

  test("comes up: node1 the writable master, node2 a read-only replica of it", async () => {
    expect(first.changed).toBeGreaterThan(0);
    const s = await status(lab);
    expect(s.map((n) => [n.name, n.role, n.readOnly])).toEqual([
      ["node1", "master", false],
      ["node2", "replica", true],
    ]);
    expect(s[1]).toMatchObject({ ioRunning: "Yes", sqlRunning: "Yes", source: "127.0.1.1", serverId: 2 });
  });

  test("the lab ran exactly the steps the Pulumi program registers for the same config", async () => {
    // Each step's command is named `<cluster>-<step id>` (index.ts names the cluster pandora-ha).
    const ran = (JSON.parse(readFileSync(paths.stepsRan, "utf8")) as string[]).map((id) => `pandora-ha-${id.replace(/\//g, "-")}`).sort();
    const config = labStackConfig(2, lab.state.servers, lab.state.sshPort, lab.secrets, readFileSync(paths.adminKey, "utf8"), lab.state.flavor);
    const registered = await programCommands(config);
    expect(ran.length).toBeGreaterThan(10);
    expect(ran).toEqual(registered);
    // What the steps install under /usr/share stays in the host (an overlay), as on a real one.
    for (const f of ["pandora_ha.js", "bin/pandora_ha", "pandora_ha_resync_slave.sh"]) {
      expect(existsSync(paths.inHost("pfms1", `/usr/share/pandora-ha/${f}`)), f).toBe(true);
    }
    expect(existsSync(paths.inHost("node1", "/usr/share/pandora-ha/pandora_ha.js"))).toBe(false);
  });

  test("a row written on the master appears on the replica; the application account cannot write there", async () => {
    await sql(lab, "node1", "CREATE TABLE IF NOT EXISTS lab_rows (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
    await sql(lab, "node1", "INSERT INTO lab_rows (v) VALUES (42)");
    await eventually("the row on node2", async () => (await sql(lab, "node2", "SELECT v FROM lab_rows WHERE v = 42")).length === 1);
    await expect(sql(lab, "node2", "INSERT INTO lab_rows (v) VALUES (1)")).rejects.toThrow(/read-only|read_only/);
  });

  test("a second deploy changes nothing", async () => {
    const again = await up(2, quiet);
    expect(again.steps.filter((s) => s.changed.length).map((s) => `${s.id}: ${s.changed.join("; ")}`)).toEqual([]);
    expect(again.changed).toBe(0);
  }, 120_000);

  test("a broken replica is rebuilt by the resync tool while the master takes writes; no acknowledged row is missing", async () => {
    await sql(lab, "node1", writerTableSql("resync_rows"));
    await eventually("resync_rows on node2", async () => (await sql(lab, "node2", "SHOW TABLES LIKE 'resync_rows'")).length === 1);
    // Break node2: replication stopped, and a row of its own (written as root, past read_only).
    const broke = await inHost("node2", family(lab).client, ["-e",
      `STOP REPLICA; SET GLOBAL read_only=OFF; INSERT INTO pandora.resync_rows (k, v) VALUES ('diverged', -1); ${family(lab).readOnlyAgain}`]);
    expect(broke.stderr).toBe("");
    const writer = startNodeWriter(lab, "node1", "resync_rows");
    await eventually("the writer to get going", async () => writer.acked.length > 20);

    const r = await runResyncTool(lab, "127.0.1.1", "127.0.1.2");
    const acked = await writer.stop();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").pop()).toMatch(/finished: 127\.0\.1\.2 replicates from 127\.0\.1\.1 \(IO Yes, SQL Yes\)/);
    expect(acked.length).toBeGreaterThan(20);

    await eventually("node2 to catch up, holding every acknowledged key", async () => {
      const c = await pandoraConnection(lab, "node2");
      try {
        return (await missingKeys(c, "resync_rows", acked)).length === 0;
      } finally {
        c.destroy();
      }
    }).catch(async (e) => {
      // What to look at when it does not: node2's replication, and what pandora_ha did meanwhile.
      const st = await sql(lab, "node2", "SHOW REPLICA STATUS").catch((x) => [String(x)]);
      const ha = readHaLog(lab).lines.filter((l) => l.event || l.error || l.warning).slice(-15);
      throw new Error(`${(e as Error).message}\nnode2: ${JSON.stringify(st)}\npandora_ha: ${ha.map((l) => JSON.stringify(l)).join("\n")}`);
    });
    // The diverged row is gone from the rebuilt node, kept in the datadir moved aside.
    expect(await sql(lab, "node2", "SELECT k FROM resync_rows WHERE v = -1")).toEqual([]);
    const log = readFileSync(paths.inHost("pfms1", "/var/log/pandora/pandora_ha_resync.log"), "utf8");
    expect(log).toMatch(/resync of 127\.0\.1\.2 from 127\.0\.1\.1 started/);
    expect(log).not.toContain(lab.secrets.passwords.replPassword);
  }, 240_000);

  test("the resync tool refuses to overwrite a writable node, and changes nothing", async () => {
    const r = await runResyncTool(lab, "127.0.1.2", "127.0.1.1");
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split("\n").pop()).toMatch(/MASTER 127\.0\.1\.2 is read-only: it is not the master; nothing was changed/);
    const s = await status(lab);
    expect(s.map((n) => n.role)).toEqual(["master", "replica"]);
  });

  test("a redeploy never reseeds a node that holds data of its own: the seed step refuses, nothing is moved", async () => {
    // pandora_ha would rejoin node2 at once (its history is still a prefix of node1's): this test
    // is about the seed step alone. Every server host's daemon is stopped.
    for (const h of serverHosts(lab)) await stopDaemon(lab, "SIGTERM", h.name);
    // node2 leaves the cluster and gets a database that exists nowhere else.
    const r = await inHost("node2", family(lab).client, ["-e",
      `STOP REPLICA; RESET REPLICA ALL; SET GLOBAL read_only=OFF; CREATE DATABASE foreign_data; CREATE TABLE foreign_data.keep (id INT); ${family(lab).readOnlyAgain}`]);
    expect(r.stderr).toBe("");
    const before = readdirSync(paths.inHost("node2", "/var/lib")).filter((d) => d.startsWith("mysql"));
    await expect(up(2, quiet)).rejects.toThrow(/refusing to seed: this node replicates from nobody and its datadir holds data: foreign_data \(1 tables\)/);
    expect(readdirSync(paths.inHost("node2", "/var/lib")).filter((d) => d.startsWith("mysql"))).toEqual(before);
    expect(await inHost("node2", family(lab).client, ["-N", "-e", "SELECT COUNT(*) FROM foreign_data.keep"]).then((x) => x.stdout.trim())).toBe("0");
    // The operator decides: the resync tool rebuilds it (the old datadir is kept aside).
    const rs = await runResyncTool(lab, "127.0.1.1", "127.0.1.2");
    expect(rs.code, rs.stderr).toBe(0);
    expect(readdirSync(paths.inHost("node2", "/var/lib")).filter((d) => d.startsWith("mysql.pandora-ha.")).length).toBeGreaterThan(
      before.filter((d) => d.startsWith("mysql.pandora-ha.")).length,
    );
    for (const h of serverHosts(lab)) await startDaemon(lab, {}, h.name);
    expect((await up(2, quiet)).changed).toBe(0);
  }, 240_000);

  test("fault crash kills the server; restart brings it back and replication resumes", async () => {
    expect(await fault(lab, "node2", "crash")).toMatch(/kill -9/);
    expect((await status(lab))[1].role).toBe("down");
    await sql(lab, "node1", "INSERT INTO lab_rows (v) VALUES (43)");
    await fault(lab, "node2", "restart");
    await eventually("node2 replicating again with the row written while it was down", async () => {
      const s = (await status(lab))[1];
      return s.ioRunning === "Yes" && (await sql(lab, "node2", "SELECT v FROM lab_rows WHERE v = 43")).length === 1;
    });
  }, 120_000);

  test("fault hang: the server accepts TCP but never answers (a probe fails in about a second); resume", async () => {
    await fault(lab, "node2", "hang");
    const t = Date.now();
    const s = (await status(lab))[1];
    expect(s.role).toBe("down");
    expect(Date.now() - t).toBeLessThan(5000);
    await fault(lab, "node2", "resume");
    await eventually("node2 answering", async () => (await status(lab))[1].role === "replica");
  }, 60_000);

  test("fault isolate cuts a node off from every host and heal restores it", async () => {
    let insert: Promise<unknown> | undefined;
    await sql(lab, "node1", "CREATE TABLE IF NOT EXISTS lab_rows (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
    // node2's crash in an earlier test may have let node1 go on asynchronously (its connection
    // refused: allowed); what follows holds once pandora_ha has it durable (strict) again.
    await eventually("pandora_ha seeing node1 durable", async () => {
      const m = (await actingStatus(lab))?.durability.lastMaster;
      return m?.host === "127.0.1.1" && m.durable;
    }, 60_000);
    try {
      await fault(lab, "node2", "isolate");
      expect((await status(lab))[1].role).toBe("down"); // not even the lab's own probe gets through
      expect(await sql(lab, "node2", "SELECT 1").catch((e: Error) => e.message)).toMatch(/connect|timeout|ETIMEDOUT/i);
      // No replica acknowledges, and the silent one may be promoted by a pandora_ha this one
      // cannot see: the commit waits (strict semi-sync), never acknowledged asynchronously. With
      // two DB nodes the master hears from no peer and gets no lease (its replica only times
      // out): after ha_guard_timeout its guard stops it, and the waiting commit gets an error.
      insert = sql(lab, "node1", "INSERT INTO lab_rows (v) VALUES (44)", [], 60_000).catch((e: Error) => e);
      await eventually("node1's guard stopping it", async () => / fenced: killed the server \(pid \d+\)/.test(readFileSync(paths.inHost("node1", "/var/log/pandora_ha_guard.log"), "utf8")), 20_000);
      expect(await insert).toBeInstanceOf(Error);
    } finally {
      expect(await fault(lab, "node2", "heal")).toMatch(/3 isolation rules removed/);
      // Healed: one writable master, the other replicating from it. node1 (restarted read-only)
      // is the master again when it answers before pandora_ha sees node2 back; when it is still
      // in crash recovery then (MySQL's takes longer), its connection refused, node2 is promoted
      // (node1 was durable at the last look). The tests below want node1: a switchover back.
      let healed = await status(lab);
      await eventually("one writable master and the other replicating from it", async () => {
        healed = await status(lab);
        return healed.length === 2 && healed.some((n) => n.role === "master" && n.readOnly === false) && healed.some((n) => n.role === "replica");
      }, 90_000);
      if (healed[1].role === "master") {
        // node1's tail (the waiting commit) is rebuilt first on MySQL (the clone plugin): the
        // switchover waits until the acting daemon has it replicating, neither diverged nor resyncing.
        const a1 = findHost(lab, "node1").address;
        await eventually("node1 rebuilt and replicating, as the acting daemon sees it", async () => {
          const st = await actingStatus(lab);
          const n1 = (await status(lab))[0];
          return !!st && !st.diverged[a1] && st.resyncs[a1]?.state !== "running" && n1.role === "replica" && n1.ioRunning === "Yes" && n1.sqlRunning === "Yes";
        }, 90_000);
        // Asked of the acting daemon (the other refuses: it does not hold the actor lock).
        const sw = await haCommand(lab, `switchover ${PANDORA_PATHS.serverConf} ${a1}`, 90_000, (await actingStatus(lab))?.server);
        expect(sw.code, sw.stdout + sw.stderr).toBe(0);
      }
      await eventually("node1 the writable master and node2 replicating from it", async () => {
        const [a, b] = await status(lab);
        return a.role === "master" && a.readOnly === false && b.role === "replica";
      }, 60_000);
    }
  }, 120_000);

  test("fault isolate --from cuts only that pair: replication stops, the lab still reaches both", async () => {
    try {
      await fault(lab, "node2", "isolate", "node1");
      await eventually("node2's replication to lose node1", async () => (await status(lab))[1].ioRunning !== "Yes", 30_000);
      expect((await status(lab)).map((n) => n.role)).toEqual(["master", "replica"]);
    } finally {
      await fault(lab, "node2", "heal");
    }
    await eventually("replication back", async () => (await status(lab))[1].ioRunning === "Yes", 30_000);
  }, 90_000);

  test("fault isolate --from pfms1 cuts only the server host's view of the node", async () => {
    const pfms1 = findHost(lab, "pfms1");
    const probe = (addr: string) =>
      run("ssh", [...sshArgs(pfms1.address, lab.state.sshPort), `ssh -o ConnectTimeout=2 root@${addr} true`], { timeoutMs: 20_000 });
    try {
      await fault(lab, "node1", "isolate", "pfms1");
      expect((await probe("127.0.1.1")).code).not.toBe(0);
      const other = await probe("127.0.1.2");
      expect(other.code, other.stderr).toBe(0);
      expect((await status(lab))[0].role).toBe("master"); // the lab (not pfms1) still reaches it
    } finally {
      await fault(lab, "node1", "heal");
    }
    expect((await probe("127.0.1.1")).code).toBe(0);
  }, 60_000);

  test("bad fault arguments are refused with the reason", async () => {
    await expect(fault(lab, "node9", "crash")).rejects.toThrow(/no lab host 'node9'/);
    await expect(fault(lab, "pfms1", "crash")).rejects.toThrow(/not a database node/);
    await expect(fault(lab, "node1", "crash", "node2")).rejects.toThrow(/--from goes with isolate only/);
  });

  test("the CLI: status --json, and usage errors exit 2", async () => {
    const tsx = path.join(__dirname, "..", "..", "node_modules", ".bin", "tsx");
    const cli = path.join(__dirname, "..", "..", "lab", "cli.ts");
    const st = await run(tsx, [cli, "status", "--json"]);
    expect(st.code, st.stderr).toBe(0);
    const j = JSON.parse(st.stdout) as { nodes: Array<{ name: string; role: string }>; adminUser: string; adminOptionFile: string; haHostsFile: string };
    // The admin's password is in a 0600 option file, never in the output.
    expect(st.stdout).not.toContain(lab.secrets.passwords.haDbPassword);
    expect(statSync(j.adminOptionFile).mode & 0o777).toBe(0o600);
    expect(j.nodes.map((n) => n.role)).toEqual(["master", "replica"]);
    expect(j.adminUser).toBe("pandora_ha");
    // A host's file, read from outside through the host's own mounts (the shared data_in/conf).
    expect(readFileSync(j.haHostsFile, "utf8")).toBe("127.0.1.1");
    for (const args of [["up", "--nodes", "4"], ["fault", "node1", "explode"], ["frobnicate"], ["status", "--jsn"]]) {
      const r = await run(tsx, [cli, ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^lab: /);
    }
  }, 60_000);

  afterAll(async () => {
    await down(quiet);
  }, 120_000);
});

describe("a 3-node lab", () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = (await up(3, quiet)).lab;
  }, 300_000);

  afterAll(async () => {
    await down(quiet);
  }, 120_000);

  test("two replicas seeded from node1; a row reaches both", async () => {
    const s = await status(lab);
    expect(s.map((n) => [n.name, n.role, n.source])).toEqual([
      ["node1", "master", null],
      ["node2", "replica", "127.0.1.1"],
      ["node3", "replica", "127.0.1.1"],
    ]);
    expect(new Set(s.map((n) => n.serverId)).size).toBe(3);
    await sql(lab, "node1", "CREATE TABLE three (id INT PRIMARY KEY)");
    await sql(lab, "node1", "INSERT INTO three VALUES (1), (2), (3)");
    for (const n of ["node2", "node3"]) await eventually(`rows on ${n}`, async () => (await countOn(lab, n, "three")) === 3);
  });

  test("down leaves no process, no firewall rule and no state behind", async () => {
    await fault(lab, "node3", "isolate");
    await fault(lab, "node2", "hang");
    const pids = labHosts(3, lab.state.servers).flatMap((h) => hostPids(h.name));
    expect(pids.length).toBeGreaterThanOrEqual(3 * 3 + 1); // sshd + mysqld_safe/mariadbd-safe + the server per node, sshd+ on pfms1
    await down(quiet);
    // Ended: gone, or a zombie waiting for PID 1 (this machine's init reaps lazily).
    expect(pids.filter(alive)).toEqual([]);
    expect(await labRules()).toEqual([]);
    expect(existsSync(LAB_DIR)).toBe(false);
    const listening = await run("ss", ["-Hltn"]);
    expect(listening.stdout).not.toMatch(/127\.0\.1\.\d+:(22|2222|3306)\b/);
  }, 120_000);

  test("files left by a machine that stopped under a lab (processes gone) are cleared before the tests start", async () => {
    await up(2, quiet);
    expect(labIsLive()).toBe(true);
    await expect(requireLabMachine()).rejects.toThrow(/a lab is already up/);
    // What a stopped machine leaves: every process gone, the state directory kept.
    for (const p of labHosts(2, DEFAULT_SERVERS).flatMap((h) => hostPids(h.name))) killQuiet(p, "SIGKILL");
    await eventually("the lab's processes to end", async () => !labIsLive());
    expect(existsSync(paths.state)).toBe(true);
    await requireLabMachine();
    expect(existsSync(LAB_DIR)).toBe(false);
    expect(await labRules()).toEqual([]);
  }, 120_000);
});
