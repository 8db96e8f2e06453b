/**
 * Real Pandora agents on the lab (Debian's pandora_agent 4.1 and tentacle_client), configured
 * from the program's own agentConfig output: primary pfms1, secondary pfms2,
 * `secondary_mode on_error`, a value a second. What the manual's data-server HA promises an
 * administrator: the agents' values reach the database through pfms1's Tentacle and data
 * server, and when pfms1's Tentacle stops they keep arriving, through pfms2's. Then the master
 * crashed, hung, and cut off with its site: after each, both data servers on the new master,
 * every value the agents made stored, every acknowledged key there, one writable node.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { agentConf, agentLog, connectedServers, finalSeqReport, labAgents, lostDiagnosis, setAgents, storedSeq } from "../../lab/agents";
import { haStatusJson, onServer, serverHosts } from "../../lab/ha";
import type { Lab } from "../../lab/lab";
import { raiseFailoverBudget } from "../../lab/faults";
import { down, fault, status, up } from "../../lab/lab";
import { sleep } from "../../lab/proc";
import { missingKeys, startPublishedWriter, writerTableSql } from "../../lab/writer";
import { eventually, pandoraConnection, requireLabMachine, sql } from "./helpers";

const quiet = () => undefined;
const AGENTS = 2;
/** Agents during the faults: enough that files are taken while the master is in trouble. */
const FAULT_AGENTS = 10;

describe("real agents on the two-server lab", () => {
  let lab: Lab;
  const master = async () => (await status(lab)).find((n) => n.role === "master" && n.readOnly === false)!.name;
  /** The seq values stored per agent on the master, in order. */
  const stored = async (): Promise<Map<string, number[]>> => storedSeq(async (q, v) => sql(lab, await master(), q, v));
  /** Values 1..n, each once: nothing lost, nothing stored twice. */
  const gapless = (vs: number[]) => vs.every((v, i) => v === i + 1);

  beforeAll(async () => {
    await requireLabMachine();
    lab = (await up(2, quiet)).lab;
    // Three failovers in a row, within the default budget's hour.
    await raiseFailoverBudget(lab);
    await setAgents(lab, AGENTS);
  }, 400_000);

  afterAll(async () => {
    if (lab) await down(quiet);
  }, 120_000);

  test("each agent's pandora_agent.conf is the program's fragment with the password filled in, sending every second", () => {
    const conf = agentConf(lab, "agent1");
    const pfms = serverHosts(lab).map((h) => h.address);
    for (const line of [`server_ip ${pfms[0]}`, "server_port 41121", "transfer_mode tentacle", "secondary_mode on_error", `secondary_server_ip ${pfms[1]}`, "interval 1", "agent_name agent1"])
      expect(conf.split("\n")).toContain(line);
    expect(conf).toContain(`server_pwd ${lab.secrets.passwords.tentaclePassword}`);
    expect(conf).not.toMatch(/^# server_pwd/m);
    expect(labAgents().map((a) => a.name)).toEqual(["agent1", "agent2"]);
  });

  test("their values are stored, one a second, none lost or twice", async () => {
    await eventually("5 values of each agent stored", async () => {
      const s = await stored();
      return s.size === AGENTS && [...s.values()].every((vs) => vs.length >= 5);
    }, 60_000);
    for (const [agent, vs] of await stored()) expect(gapless(vs), `${agent}: ${vs.join(",")}`).toBe(true);
    for (let n = 1; n <= AGENTS; n++) expect(agentLog(`agent${n}`)).not.toMatch(/\[error\]/);
  }, 90_000);

  test("pfms1's Tentacle stopped: the agents deliver to pfms2, and every value is still stored once", async () => {
    const before = await stored();
    const stop = await onServer(lab, "/etc/init.d/tentacle_serverd stop", 30_000, "pfms1");
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    const stoppedAt = Date.now();
    // Values made while pfms1 refuses reach the database through pfms2 (its data server).
    await eventually("values sent while pfms1's Tentacle was down stored", async () => {
      const s = await stored();
      return [...s.entries()].every(([a, vs]) => vs.length >= (before.get(a)?.length ?? 0) + 4);
    }, 60_000);
    // The value of the file pfms1 refused was sent to pfms2 at once (secondary_mode on_error;
    // the agent keeps no buffer): stored, so through pfms2's Tentacle and data server.
    for (let n = 1; n <= AGENTS; n++) expect(agentLog(`agent${n}`)).toMatch(new RegExp(`Cannot connect to ${lab.state.hosts.find((h) => h.name === "pfms1")!.address.replace(/\./g, "\\.")} on port 41121`));
    expect(Date.now() - stoppedAt).toBeLessThan(60_000);
    for (const [agent, vs] of await stored()) expect(gapless(vs), `${agent}: ${vs.join(",")}`).toBe(true);
  }, 90_000);

  /**
   * Read-only or not, each DB node, every 200 ms until `stop`: the most nodes seen writable at
   * once. A node that does not answer within a second (hung, cut off) takes no write either.
   */
  function watchWritable(): { stop: () => Promise<number> } {
    let running = true;
    let most = 0;
    const nodes = lab.state.hosts.filter((h) => h.kind === "db").map((h) => h.name);
    const readOnly = (n: string) =>
      Promise.race([sql<{ v: number }>(lab, n, "SELECT @@global.read_only AS v").then((r) => Number(r[0].v), () => 1), sleep(1000).then(() => 1)]);
    const loop = (async () => {
      while (running) {
        const ro = await Promise.all(nodes.map(readOnly));
        most = Math.max(most, ro.filter((v) => v === 0).length);
        await sleep(200);
      }
    })();
    return { stop: async () => ((running = false), await loop, most) };
  }

  /** `node` answering again, restarted when it does not within 10 s (a server the fence or the guard stopped). */
  async function upAgain(node: string): Promise<void> {
    for (let i = 0; i < 20; i++) {
      if (await sql(lab, node, "SELECT 1").then(() => true, () => false)) return;
      await sleep(500);
    }
    await fault(lab, node, "restart");
  }

  /**
   * A fault on the master under FAULT_AGENTS agents and a writer of keys, then its repair; then
   * what the administrator must get: both data servers on the new master, Tentacle on both, every
   * value the agents made stored (copies reported), every acknowledged key there, one writable node.
   */
  async function underAgents(what: string, inject: (old: string) => Promise<void>, repair: (old: string) => Promise<void>): Promise<void> {
    await setAgents(lab, FAULT_AGENTS);
    const old = await master();
    const next = old === "node1" ? "node2" : "node1";
    const table = `pha_agents_${what}`;
    await sql(lab, old, writerTableSql(table));
    const w = startPublishedWriter(lab, table, 4);
    const writable = watchWritable();
    await sleep(3000);
    const newRows = async () => Number((await sql<{ n: number }>(lab, next, "SELECT COUNT(*) AS n FROM tagente_datos"))[0].n);
    const before = await newRows();
    const faultAt = Date.now();
    await inject(old);
    await eventually(`${next} writable`, async () => Number((await sql<{ v: number }>(lab, next, "SELECT @@global.read_only AS v").catch(() => [{ v: 1 }]))[0].v) === 0, 60_000);
    await repair(old);
    await eventually("agent values stored on the new master", async () => (await newRows()) > before, 60_000);
    // Both servers' data servers against the new master (the watcher's too).
    const servers = serverHosts(lab).map((h) => h.address).sort();
    await eventually("both data servers connected to the new master", async () => (await connectedServers(lab, (q, v) => sql(lab, next, q, v))).join() === servers.join(), 90_000);
    for (const h of serverHosts(lab)) expect((await onServer(lab, "/etc/init.d/tentacle_serverd status", 30_000, h.name)).code, h.name).toBe(0);
    await upAgain(old);
    const nextAddr = lab.state.hosts.find((h) => h.name === next)!.address;
    await eventually(`${old} replicating from ${next}`, async () => {
      const n = (await status(lab)).find((x) => x.name === old);
      return n?.source === nextAddr && n.ioRunning === "Yes" && n.sqlRunning === "Yes";
    }, 90_000);
    const acked = await w.stop();
    const r = await finalSeqReport(lab, async (q, v) => sql(lab, next, q, v));
    process.stdout.write(`agents across the ${what}: ${r.stored} values stored, ${r.lost} lost, ${r.twice} stored twice\n`);
    expect(r.lost, r.lost ? `${JSON.stringify(r.missing)}\n${lostDiagnosis(lab, r.missing, faultAt - 10_000)}` : "").toBe(0);
    const c = await pandoraConnection(lab, next);
    try {
      expect(await missingKeys(c, table, acked)).toEqual([]);
    } finally {
      c.destroy();
    }
    expect(await writable.stop()).toBe(1);
    expect((await status(lab)).filter((n) => n.readOnly === false).map((n) => n.name)).toEqual([next]);
  }

  test("the master killed (kill -9) under the agents: both data servers follow the new master, Tentacle runs on both, no agent value and no acknowledged write lost", async () => {
    // pfms1's Tentacle back (the test before stopped it).
    expect((await onServer(lab, "/etc/init.d/tentacle_serverd start", 30_000, "pfms1")).code).toBe(0);
    await underAgents("crash", (old) => fault(lab, old, "crash").then(() => undefined), (old) => fault(lab, old, "restart").then(() => undefined));
  }, 300_000);

  test("the master hung (SIGSTOP) under the agents: the same, and it never wakes writable", async () => {
    await underAgents("hang", (old) => fault(lab, old, "hang").then(() => undefined), (old) => fault(lab, old, "resume").then(() => undefined));
  }, 300_000);

  test("site A cut from site B under the agents, then healed: the same, never two writable nodes", async () => {
    await underAgents(
      "partition",
      () => fault(lab, "pfms1", "partition").then(() => undefined),
      // Cut for a while after the promotion: the data server on the far side meanwhile.
      async () => {
        await sleep(10_000);
        await fault(lab, "pfms1", "heal");
      },
    );
  }, 300_000);
});
