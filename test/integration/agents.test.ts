/**
 * Real Pandora agents on the lab (Debian's pandora_agent 4.1 and tentacle_client), configured
 * from the program's own agentConfig output: primary pfms1, secondary pfms2,
 * `secondary_mode on_error`, a value a second. What the manual's data-server HA promises an
 * administrator: the agents' values reach the database through pfms1's Tentacle and data
 * server, and when pfms1's Tentacle stops they keep arriving, through pfms2's.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SEQ_MODULE, agentConf, agentLog, labAgents, setAgents } from "../../lab/agents";
import { onServer, serverHosts } from "../../lab/ha";
import type { Lab } from "../../lab/lab";
import { down, status, up } from "../../lab/lab";
import { eventually, requireLabMachine, sql } from "./helpers";

const quiet = () => undefined;
const AGENTS = 2;

describe("real agents on the two-server lab", () => {
  let lab: Lab;
  const master = async () => (await status(lab)).find((n) => n.role === "master" && n.readOnly === false)!.name;
  /** The seq values stored per agent, in order. */
  const stored = async (): Promise<Map<string, number[]>> => {
    const rows = await sql<{ agent: string; v: number }>(
      lab,
      await master(),
      "SELECT a.nombre AS agent, d.datos AS v FROM tagente_datos d JOIN tagente_modulo m ON m.id_agente_modulo = d.id_agente_modulo " +
        "JOIN tagente a ON a.id_agente = m.id_agente WHERE m.nombre = ? ORDER BY a.nombre, d.datos",
      [SEQ_MODULE],
    );
    const out = new Map<string, number[]>();
    for (const r of rows) out.set(r.agent, [...(out.get(r.agent) ?? []), Number(r.v)]);
    return out;
  };
  /** Values 1..n, each once: nothing lost, nothing stored twice. */
  const gapless = (vs: number[]) => vs.every((v, i) => v === i + 1);

  beforeAll(async () => {
    await requireLabMachine();
    lab = (await up(2, quiet)).lab;
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
});
