/**
 * A fake master for runtime/act/agent-files.ts's storedFiles: Pandora's rows as plain objects,
 * answered as MariaDB answers the queries storedFiles makes.
 */
import type { Query } from "../../runtime/act/agent-files";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface MasterRow {
  table: "tagente_datos" | "tagente_datos_string";
  agent: string;
  module: string;
  t: number;
  v: unknown;
}

/**
 * A master holding `rows` (ids given by first appearance): answers storedFiles' queries as MariaDB
 * would — the agents, the rows of agents at times, the modules of agents, a module's last row
 * before a time — after `delayMs`, recording each SQL and its parameters.
 */
export function fakeMaster(rows: MasterRow[], delayMs = 0) {
  const asked: Array<{ sql: string; values: unknown[] }> = [];
  const agents = [...new Set(rows.map((r) => r.agent))];
  const modules = [...new Set(rows.map((r) => `${r.agent}\0${r.module}`))];
  const aid = (r: MasterRow) => agents.indexOf(r.agent) + 1;
  const mid = (r: MasterRow) => modules.indexOf(`${r.agent}\0${r.module}`) + 1;
  const query: Query = async (sql, values) => {
    asked.push({ sql, values });
    if (delayMs) await sleep(delayMs);
    if (sql === "SELECT id_agente AS id, nombre FROM tagente") return agents.map((nombre, n) => ({ id: n + 1, nombre }));
    if (sql.startsWith("SELECT id_agente AS a, id_agente_modulo AS id, nombre FROM tagente_modulo")) {
      const [ids] = values as [number[]];
      return modules.map((k, n) => ({ a: agents.indexOf(k.split("\0")[0]) + 1, id: n + 1, nombre: k.split("\0")[1] })).filter((m) => ids.includes(m.a));
    }
    const last = /^SELECT datos AS v, utimestamp AS t FROM (\w+) WHERE id_agente_modulo IN \(\?\) AND utimestamp < \? ORDER BY utimestamp DESC LIMIT 1$/.exec(sql);
    if (last) {
      const [mods, t] = values as [number[], number];
      const before = rows.filter((r) => r.table === last[1] && mods.includes(mid(r)) && r.t < t).sort((a, b) => b.t - a.t);
      return before.slice(0, 1).map((r) => ({ v: r.v, t: r.t }));
    }
    const table = /JOIN (tagente_datos(?:_string)?) d ON d\.id_agente_modulo = m\.id_agente_modulo WHERE m\.id_agente IN \(\?\) AND d\.utimestamp IN \(\?\)$/.exec(sql)![1];
    const [ids, times] = values as [number[], number[]];
    return rows.filter((r) => r.table === table && ids.includes(aid(r)) && times.includes(r.t)).map((r) => ({ a: aid(r), module: r.module, t: r.t, v: r.v }));
  };
  return { query, asked };
}
