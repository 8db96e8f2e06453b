/**
 * The lab's stand-in Pandora FMS data server (lab/dataserver, installed as pfms1's
 * /usr/bin/pandora_server with lab/stubs/pandora_server.init as its init script), whole, against
 * the lab's real MariaDB, checked against the measured facts of the real server
 * (../shared/reference/pandora-server-facts.md): pandora_ha keeps it running through its init
 * script; a file dropped in data_in is deleted and its values land in tagente_datos /
 * tagente_datos_string (tagente autocreated, tagente_modulo, tagente_estado), at the file's
 * mtime; an unparsable one becomes `<file>_BADXML`; its tserver row is refreshed every
 * server_keepalive; restart-server takes the real 9–10 s; and with `restart 0`, when the master
 * is killed, it shuts itself down 0.2–0.9 s later and exits about 6.5 s after that, a file it
 * took meanwhile gone with its values, a file arriving after it stopped taking still there.
 * pandora_ha is stopped after the first test, so that nothing restarts the server behind the
 * test's back.
 */
import { existsSync, readFileSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PANDORA_PATHS } from "../../lib/render/pandora";
import { confTokens } from "../../lab/dataserver/conf";
import { onServer, serverHost, stopDaemon } from "../../lab/ha";
import type { Lab } from "../../lab/lab";
import { down, fault, up } from "../../lab/lab";
import { paths } from "../../lab/layout";
import { sleep } from "../../lab/proc";
import { eventually, requireLabMachine, sql } from "./helpers";

const quiet = () => undefined;
const LOG = "/var/log/pandora/pandora_server.log";
const PID_FILE = "/run/pandora_server.pid";

describe("the stand-in data server on pfms1", () => {
  let lab: Lab;
  let host = "pfms1";
  const inHost = (p: string) => paths.inHost(host, p);
  const dataIn = (name: string) => inHost(path.posix.join(PANDORA_PATHS.incomingDir, name));
  const init = (verb: string) => onServer(lab, `/etc/init.d/pandora_server ${verb}`, 90_000);
  const log = () => (existsSync(inHost(LOG)) ? readFileSync(inHost(LOG), "utf8") : "");

  /** Drops an agent file the way Tentacle does (complete, under its final name at once). */
  function drop(name: string, agent: string, modules: Array<[name: string, type: string, data: string]>, mtime?: Date): void {
    const body = modules.map(([n, t, d]) => `  <module><name><![CDATA[${n}]]></name><type>${t}</type><data><![CDATA[${d}]]></data></module>`).join("\n");
    const tmp = dataIn(`.${name}.tmp`);
    writeFileSync(tmp, `<?xml version='1.0' encoding='UTF-8'?>\n<agent_data agent_name='${agent}' interval='1' version='4.1' os_version='Debian 12' timestamp='2001/02/03 04:05:06'>\n${body}\n</agent_data>\n`);
    if (mtime) utimesSync(tmp, mtime, mtime);
    renameSync(tmp, dataIn(name));
  }

  function setTokens(tokens: Record<string, string>): void {
    const f = inHost(PANDORA_PATHS.serverConf);
    let text = readFileSync(f, "utf8");
    for (const [k, v] of Object.entries(tokens)) {
      const line = new RegExp(`^${k}\\s.*$`, "m");
      text = line.test(text) ? text.replace(line, `${k} ${v}`) : `${text.replace(/\n?$/, "\n")}${k} ${v}\n`;
    }
    writeFileSync(f, text);
  }

  /** The server's pid while it runs (alive and not a zombie). */
  function serverPid(): number | undefined {
    try {
      const pid = Number(readFileSync(inHost(PID_FILE), "utf8"));
      return /^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8")) ? undefined : pid;
    } catch {
      return undefined;
    }
  }

  const datos = async (node: string, v: number) =>
    Number((await sql<{ n: number }>(lab, node, "SELECT COUNT(*) AS n FROM tagente_datos WHERE datos = ?", [v]))[0].n);

  beforeAll(async () => {
    await requireLabMachine();
    // pfms1 alone: the tests drive its server by hand with its daemon stopped, and kill the
    // master; pfms2's daemon would fail over meanwhile.
    lab = (await up(2, quiet, 1)).lab;
    host = serverHost(lab).name;
  }, 300_000);

  afterAll(async () => {
    await down(quiet);
  }, 120_000);

  test("pandora_ha starts it through its init script (pandora_service_cmd) and it runs on the published master", async () => {
    await eventually("status-server answering 0", async () => (await init("status-server")).code === 0, 30_000);
    const published = readFileSync(inHost(PANDORA_PATHS.haHostsFile), "utf8").split("\n")[0];
    expect(log()).toContain(`database ${published}:${lab.cfg.dbPort}/${lab.cfg.dbName}`);
    // From here on the test drives the server itself: stopping pandora_ha stops it (as the original).
    await stopDaemon(lab, "SIGTERM");
    expect((await init("status-server")).code).toBe(1);
    expect((await init("start-server")).code).toBe(0);
  }, 90_000);

  test("a dropped file: deleted, its values in tagente_datos / tagente_datos_string at the file's mtime, the agent autocreated", async () => {
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    drop("dropped.data", "agent-a", [["cpu", "generic_data", "4101.5"], ["up", "generic_proc", "1"], ["motd", "generic_data_string", "all & fine"]], mtime);
    const t = mtime.getTime() / 1000;
    // The server writes statement by statement (autocommit, as the real one): the file is done
    // when its last module's status row holds the file's time, not when its first value is there.
    await eventually("the file's three status rows at its mtime on node1", async () =>
      Number((await sql<{ n: number }>(lab, "node1",
        "SELECT COUNT(*) AS n FROM tagente_estado e JOIN tagente a USING (id_agente) WHERE a.nombre = 'agent-a' AND e.utimestamp = ?", [t]))[0].n) === 3, 20_000);
    expect(await datos("node1", 4101.5)).toBe(1);
    expect(existsSync(dataIn("dropped.data"))).toBe(false);
    const [agent] = await sql<{ id: number; server_name: string }>(lab, "node1", "SELECT id_agente AS id, server_name FROM tagente WHERE nombre = 'agent-a'");
    expect(agent.server_name).toBe(confTokens(readFileSync(inHost(PANDORA_PATHS.serverConf), "utf8")).get("servername"));
    const mods = await sql<{ nombre: string; id_tipo_modulo: number; datos: string; estado: number; utimestamp: number }>(
      lab, "node1",
      "SELECT m.nombre, m.id_tipo_modulo, e.datos, e.estado, e.utimestamp FROM tagente_modulo m JOIN tagente_estado e USING (id_agente_modulo) WHERE m.id_agente = ? ORDER BY m.nombre",
      [agent.id],
    );
    expect(mods.map((m) => [m.nombre, m.id_tipo_modulo, m.datos, m.estado, Number(m.utimestamp)])).toEqual([["cpu", 1, "4101.5", 0, t], ["motd", 3, "all&#x20;&amp;&#x20;fine", 0, t], ["up", 2, "1", 0, t]]);
    const [s] = await sql<{ datos: string; utimestamp: number }>(lab, "node1", "SELECT datos, utimestamp FROM tagente_datos_string WHERE datos = 'all&#x20;&amp;&#x20;fine'");
    expect(Number(s.utimestamp)).toBe(t);
    const [d] = await sql<{ utimestamp: number }>(lab, "node1", "SELECT utimestamp FROM tagente_datos WHERE datos = 4101.5");
    expect(Number(d.utimestamp)).toBe(t);
    const ev = await sql<{ evento: string }>(lab, "node1", "SELECT evento FROM tevento WHERE event_type = 'new_agent' AND id_agente = ?", [agent.id]);
    expect(ev.map((e) => e.evento)).toEqual(["Agent&#x20;[agent-a]&#x20;created"]);
    // It replicates like every other write.
    await eventually("the value on node2", async () => (await datos("node2", 4101.5)) === 1);
  }, 60_000);

  test("an unparsable file becomes <file>_BADXML after two tries, 2 s apart", async () => {
    writeFileSync(dataIn("broken.data"), "<agent_data agent_name='agent-b'><module><name>x</name>");
    const t = Date.now();
    await eventually("broken.data_BADXML", async () => existsSync(dataIn("broken.data_BADXML")), 15_000);
    expect(Date.now() - t).toBeGreaterThanOrEqual(2000);
    expect(existsSync(dataIn("broken.data"))).toBe(false);
    await eventually("its event", async () => (await sql(lab, "node1", "SELECT 1 FROM tevento WHERE event_type = 'error' AND evento LIKE '%broken.data%'")).length === 1);
  }, 30_000);

  test("restart-server takes the real time; then tserver: one row, status 1, keepalive refreshed every server_keepalive", async () => {
    setTokens({ server_keepalive: "1", server_threshold: "0.1" });
    const t = Date.now();
    const r = await init("restart-server");
    const took = (Date.now() - t) / 1000;
    process.stdout.write(`stand-in restart-server: ${took.toFixed(2)} s\n`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // kill → 6.5 s shutdown → seen at the 7th poll; then 1–2 s start-up and sleep 1.
    expect(took).toBeGreaterThanOrEqual(8.5);
    expect(took).toBeLessThan(11.5);
    const name = confTokens(readFileSync(inHost(PANDORA_PATHS.serverConf), "utf8")).get("servername");
    const row = async () => sql<{ status: number; ka: number; n: number }>(lab, "node1", "SELECT status, UNIX_TIMESTAMP(keepalive) AS ka, server_keepalive AS n FROM tserver WHERE name = ?", [name]);
    await eventually("the tserver row", async () => (await row()).length === 1);
    const [a] = await row();
    await sleep(2500);
    const rows = await row();
    expect(rows).toHaveLength(1);
    expect(Number(rows[0].status)).toBe(1);
    expect(Number(rows[0].n)).toBe(1);
    expect(Number(rows[0].ka) - Number(a.ka)).toBeGreaterThanOrEqual(2);
    expect(Math.abs(Number(rows[0].ka) - Date.now() / 1000)).toBeLessThan(3);
  }, 90_000);

  test("restart 0 and the master killed: shut down 0.2–0.9 s later, exit ~6.5 s after; a file taken meanwhile lost, later ones kept", async () => {
    drop("warm.data", "agent-a", [["cpu", "generic_data", "4102"]]);
    await eventually("the warm-up value", async () => (await datos("node1", 4102)) === 1);
    const pid = serverPid();
    expect(pid).toBeDefined();
    const before = log().length;
    const tKill = Date.now();
    // crash() sends its kill -9 before its first await; it then waits for the process to be gone.
    const crashing = fault(lab, "node1", "crash");
    drop("lost.data", "agent-a", [["cpu", "generic_data", "4103"]]);
    let tSig = 0;
    while (Date.now() - tKill < 5000 && !tSig) {
      if (log().slice(before).includes("Shutdown by signal")) tSig = Date.now();
      else await sleep(20);
    }
    await crashing;
    expect(tSig, log().slice(before)).toBeGreaterThan(0);
    drop("kept.data", "agent-a", [["cpu", "generic_data", "4104"]]);
    let tExit = 0;
    while (Date.now() - tSig < 15_000 && !tExit) {
      if (!serverPid()) tExit = Date.now();
      else await sleep(50);
    }
    process.stdout.write(`stand-in after kill -9 of the master: "Shutdown by signal" +${tSig - tKill} ms, exit +${tExit - tSig} ms after it\n`);
    expect(tSig - tKill).toBeGreaterThanOrEqual(190);
    expect(tSig - tKill).toBeLessThan(1000);
    expect(tExit).toBeGreaterThan(0);
    expect(tExit - tSig).toBeGreaterThanOrEqual(6300);
    expect(tExit - tSig).toBeLessThan(7600);
    // Taken (deleted) while the database was dead: gone, not renamed; the later one still queued on disk.
    expect(existsSync(dataIn("lost.data"))).toBe(false);
    expect(existsSync(dataIn("lost.data_BADXML"))).toBe(false);
    expect(existsSync(dataIn("kept.data"))).toBe(true);
    await fault(lab, "node1", "restart");
    expect(await datos("node1", 4103)).toBe(0);
    expect(await datos("node2", 4103)).toBe(0);
    expect(await datos("node1", 4102)).toBe(1);
    expect((await init("status-server")).code).toBe(1);
  }, 120_000);
});
