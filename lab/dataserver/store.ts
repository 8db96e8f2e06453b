/**
 * What the stand-in data server writes for one agent file, in Pandora's tables with the real
 * schema (lab/pandora-schema.ts): the value → table mapping, the timestamp rule, the encoding of
 * its own event texts, and the statements, run through an injected `query` so that they can be
 * tested without a database.
 *
 * Agent names (and aliases), module names and string data are stored HTML-entity encoded, as the
 * real server's `safe_input` does (& < > " ' \ ( ) as entities, character codes 0–32 as
 * `&#x<hex>;`): pandoraEncoded() of runtime/act/agent-files.ts, the function pandora_ha compares
 * them with. A numeric value written with a decimal comma is taken with a point, as the real
 * server does.
 *
 * Module types (ttipo_modulo ids of the real pandoradb_data.sql): numeric ones go to
 * tagente_datos, string ones to tagente_datos_string. The incremental types (generic_data_inc,
 * generic_data_inc_abs) need the previous value and tagente_datos_inc: left out (the module is
 * skipped, with a log line), as are unknown types and modules without a type.
 */
import { pandoraEncoded } from "../../runtime/act/agent-files";
import type { AgentData, AgentModule } from "./xml";

export const MODULE_TYPES: Record<string, { id: number; kind: "numeric" | "string" }> = {
  generic_data: { id: 1, kind: "numeric" },
  generic_proc: { id: 2, kind: "numeric" },
  generic_data_string: { id: 3, kind: "string" },
  async_proc: { id: 21, kind: "numeric" },
  async_data: { id: 22, kind: "numeric" },
  async_string: { id: 23, kind: "string" },
};

export type DataTable = "tagente_datos" | "tagente_datos_string";

export type ModulePlan =
  /** `value`: as stored (a string encoded like safe_input). */
  | { store: true; table: DataTable; typeId: number; value: number | string }
  | { store: false; reason: string };

const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** Where a module's value goes, or why it is not stored. */
export function planModule(m: AgentModule): ModulePlan {
  if (!m.name) return { store: false, reason: "a module without a name" };
  if (!m.type) return { store: false, reason: `module ${m.name} has no type` };
  const t = MODULE_TYPES[m.type];
  if (!t) return { store: false, reason: `module ${m.name}: type ${m.type} is not handled by the stand-in` };
  if (m.data === undefined) return { store: false, reason: `module ${m.name} has no data` };
  if (t.kind === "string") return { store: true, table: "tagente_datos_string", typeId: t.id, value: pandoraEncoded(m.data) };
  const data = m.data.replace(",", ".");
  if (!NUMBER.test(data)) return { store: false, reason: `module ${m.name} (${m.type}): '${m.data}' is not a number` };
  return { store: true, table: "tagente_datos", typeId: t.id, value: Number(data) };
}

export interface DataTime {
  /** DATETIME text, local time: YYYY-MM-DD HH:MM:SS. */
  datetime: string;
  /** Seconds since the epoch. */
  utimestamp: number;
}

const pad = (n: number) => String(n).padStart(2, "0");

export function toDataTime(ms: number): DataTime {
  const d = new Date(ms);
  const datetime = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return { datetime, utimestamp: Math.floor(ms / 1000) };
}

/** An agent timestamp (`YYYY/MM/DD HH:MM:SS` or with `-`), as local time; undefined when unusable. */
export function parseAgentTimestamp(s: string | undefined): number | undefined {
  const m = /^\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})\s*$/.exec(s ?? "");
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  const ms = new Date(y, mo - 1, d, h, mi, se).getTime();
  return Number.isNaN(ms) || new Date(ms).getMonth() !== mo - 1 ? undefined : ms;
}

/** The data's time: the file's mtime, unless use_xml_timestamp 1 and the XML has a usable one. */
export function dataTime(useXmlTimestamp: boolean, xmlTimestamp: string | undefined, mtimeMs: number): DataTime {
  const xml = useXmlTimestamp ? parseAgentTimestamp(xmlTimestamp) : undefined;
  return toDataTime(xml ?? mtimeMs);
}

/**
 * Event text as the real server stores it, HTML-entity encoded (`Agent&#x20;[x]&#x20;created`):
 * blanks as &#x20;, and & < > " ' as entities (the console decodes them).
 */
export function encodeEventText(s: string): string {
  const map: Record<string, string> = { " ": "&#x20;", "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#039;" };
  return s.replace(/[ &<>"']/g, (c) => map[c]);
}

export type Query = (sql: string, values?: unknown[]) => Promise<unknown>;

/** Rows of a SELECT, or the insertId of an INSERT, out of what `query` resolved to. */
const rowsOf = (r: unknown) => (Array.isArray(r) ? (r as Array<Record<string, unknown>>) : []);
const insertIdOf = (r: unknown) => Number((r as { insertId?: number }).insertId);

export interface StoreContext {
  serverName: string;
  autocreate: boolean;
  autocreateGroup: number;
  /** When the server processes the file (tagente.ultimo_contacto). */
  now: DataTime;
  /** The data's time (dataTime()). */
  time: DataTime;
  log: (level: number, msg: string) => void;
}

export interface StoreResult {
  agentId?: number;
  created: boolean;
  stored: Array<{ module: string; table: DataTable }>;
  skipped: string[];
}

async function findOrCreateAgent(q: Query, a: AgentData, ctx: StoreContext): Promise<{ id?: number; created: boolean }> {
  const name = a.agentName!;
  const stored = pandoraEncoded(name);
  const found = rowsOf(await q("SELECT id_agente FROM tagente WHERE nombre = ? LIMIT 1", [stored]));
  if (found.length) return { id: Number(found[0].id_agente), created: false };
  if (!ctx.autocreate) return { created: false };
  const interval = Math.max(1, Math.floor(Number(a.attrs.interval)) || 300);
  const r = await q(
    "INSERT INTO tagente (nombre, alias, direccion, comentarios, id_grupo, intervalo, os_version, agent_version, server_name, " +
      "ultimo_contacto, ultimo_contacto_remoto, modo, timezone_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
    [stored, pandoraEncoded(a.attrs.agent_alias || name), a.attrs.address || null, a.attrs.description ?? "", ctx.autocreateGroup, interval, a.attrs.os_version ?? "",
      a.attrs.version ?? "", ctx.serverName, ctx.now.datetime, ctx.time.datetime, Math.trunc(Number(a.attrs.timezone_offset)) || 0],
  );
  const id = insertIdOf(r);
  await q(
    "INSERT INTO tevento (id_agente, id_grupo, estado, timestamp, evento, utimestamp, event_type, criticity) VALUES (?, ?, 0, ?, ?, ?, 'new_agent', 2)",
    [id, ctx.autocreateGroup, ctx.now.datetime, encodeEventText(`Agent [${name}] created`), ctx.now.utimestamp],
  );
  return { id, created: true };
}

async function findOrCreateModule(q: Query, agentId: number, m: AgentModule, typeId: number, interval: number): Promise<number> {
  const name = pandoraEncoded(m.name);
  const found = rowsOf(await q("SELECT id_agente_modulo FROM tagente_modulo WHERE id_agente = ? AND nombre = ? LIMIT 1", [agentId, name]));
  if (found.length) return Number(found[0].id_agente_modulo);
  // id_modulo 1: a data server module.
  const r = await q("INSERT INTO tagente_modulo (id_agente, id_tipo_modulo, nombre, descripcion, module_interval, id_modulo) VALUES (?, ?, ?, ?, ?, 1)", [
    agentId, typeId, name, m.description ?? "", interval,
  ]);
  const id = insertIdOf(r);
  // Status 4: not initialised, until its first value.
  await q("INSERT INTO tagente_estado (id_agente_modulo, id_agente, datos, estado, known_status, last_status, last_known_status, current_interval) VALUES (?, ?, '', 4, 4, 4, 4, ?)", [
    id, agentId, interval,
  ]);
  return id;
}

/**
 * Writes one file's agent data: the agent (found by name, autocreated when allowed, its contact
 * times refreshed), each module (created on its first value) with its value in tagente_datos or
 * tagente_datos_string and its status row in tagente_estado. Statements run one by one
 * (autocommit, like the real server's); the first error propagates to the caller, which
 * swallows it.
 */
export async function storeAgentData(q: Query, a: AgentData, ctx: StoreContext): Promise<StoreResult> {
  const res: StoreResult = { created: false, stored: [], skipped: [] };
  if (!a.agentName) {
    ctx.log(3, "a file without agent_data/agent_name: nothing stored");
    return res;
  }
  const agent = await findOrCreateAgent(q, a, ctx);
  res.agentId = agent.id;
  res.created = agent.created;
  if (agent.id === undefined) {
    ctx.log(3, `agent ${a.agentName} does not exist and autocreate is 0: nothing stored`);
    return res;
  }
  if (agent.created) ctx.log(1, `Agent ${a.agentName} created (id ${agent.id})`);
  await q("UPDATE tagente SET ultimo_contacto = ?, ultimo_contacto_remoto = ?, agent_version = ?, os_version = ? WHERE id_agente = ?", [
    ctx.now.datetime, ctx.time.datetime, a.attrs.version ?? "", a.attrs.os_version ?? "", agent.id,
  ]);
  const interval = Math.max(1, Math.floor(Number(a.attrs.interval)) || 300);
  for (const m of a.modules) {
    const plan = planModule(m);
    if (!plan.store) {
      res.skipped.push(plan.reason);
      ctx.log(3, plan.reason);
      continue;
    }
    const id = await findOrCreateModule(q, agent.id, m, plan.typeId, interval);
    await q(`INSERT INTO ${plan.table} (id_agente_modulo, datos, utimestamp) VALUES (?, ?, ?)`, [id, plan.value, ctx.time.utimestamp]);
    await q(
      "UPDATE tagente_estado SET datos = ?, timestamp = ?, utimestamp = ?, estado = 0, known_status = 0, last_status = 0, last_known_status = 0, " +
        "last_try = ?, last_execution_try = ?, current_interval = ? WHERE id_agente_modulo = ?",
      [String(plan.value), ctx.time.datetime, ctx.time.utimestamp, ctx.now.datetime, ctx.now.utimestamp, interval, id],
    );
    res.stored.push({ module: m.name, table: plan.table });
  }
  return res;
}
