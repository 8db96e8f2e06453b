/**
 * The agents' files, kept until their values are stored.
 *
 * Pandora's data server takes a `*.data` file from its incoming directory, deletes it, and only
 * then writes its values to the database, swallowing every error: a file it takes while the
 * master is dead, fenced or being replaced is gone, silently (pandora-server-facts.md). So
 * pandora_ha keeps a hard link to every agent file as it arrives (in `<incomingdir>/.pandora_ha_kept`,
 * the same filesystem, so no copy and the file's mtime — the data's time — unchanged). When the
 * server has taken a file while its master was in trouble (unreachable, read-only, being
 * replaced, from the first sight of it to the first sight of a writable master again; or up to
 * TROUBLE_BEFORE_MS before), its values are looked for on the master; a file whose values are not
 * there is handed back (linked into the incoming directory again, at most MAX_HAND_BACKS times)
 * for the server to take again. Only a master that answers and is writable is asked (the server
 * could store nothing on another; the files wait). Done before every start of the server by
 * pandora_ha (the old one stopped, so nothing is in flight) and, for files taken more than
 * VERIFY_AFTER_MS ago, every housekeeping round. Files taken while all was well are not looked at (a module whose values the
 * server does not keep would have its file handed back for nothing); files whose values are
 * there, and files the keep time after they were taken, are dropped.
 */
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, statSync, unlinkSync, watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import * as path from "node:path";

export const KEPT_DIR = ".pandora_ha_kept";
/** A file taken this long ago whose values are not on the master was lost by the server (its writes take milliseconds). */
export const VERIFY_AFTER_MS = 20_000;
const SCAN_MS = 200;
/** A file taken this long before trouble was seen may have met it (a probe sees a death up to a second late). */
export const TROUBLE_BEFORE_MS = 5000;
/** Marks of trouble closer than this make one period. */
const TROUBLE_GAP_MS = 3000;
const BATCH = 200;

// ---- what a file says ------------------------------------------------------------------------

export interface AgentValue {
  module: string;
  table: "tagente_datos" | "tagente_datos_string";
  /** Undefined where the server stores a value derived from it (incremental types): only the row's time is compared. */
  data: string | undefined;
}

export interface AgentFile {
  agent: string;
  /** The XML's own timestamp (epoch seconds, local time), when it has one: the data's time under `use_xml_timestamp 1`. */
  xmlTime?: number;
  values: AgentValue[];
}

/** The HTML named entities Pandora's safe_input writes: the XML five, and Latin-1's (160–255). */
const LATIN1 =
  "nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest " +
  "Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig " +
  "agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml";
const ENTITIES: Record<string, string> = {
  lt: "<", gt: ">", amp: "&", quot: '"', apos: "'", euro: "€",
  ...Object.fromEntries(LATIN1.split(" ").map((n, i) => [n, String.fromCharCode(160 + i)])),
};
const NAMES = Object.fromEntries(Object.entries(ENTITIES).map(([n, c]) => [c, n]));
/** `s` with its entities (named ones of HTML's Latin-1, decimal and hex character references) replaced by their characters; an unknown name or a reference beyond Unicode is left as it is. */
const decode = (s: string) =>
  s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);/g, (whole, e: string) => {
    if (!e.startsWith("#")) return Object.hasOwn(ENTITIES, e) ? ENTITIES[e] : whole;
    const code = e.startsWith("#x") ? parseInt(e.slice(2), 16) : Number(e.slice(1));
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });

const PANDORA_ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#039;", "\\": "&#92;", "(": "&#40;", ")": "&#41;" };
/**
 * `s` as Pandora's server stores agent names, module names and string data (its `safe_input`):
 * & < > " ' \ ( ) as entities, character codes 0–32 and 128–191 as two-digit `&#x<hex>;`,
 * Latin-1's letters (192–255) by name (`&eacute;`). One pass, so `&` is encoded first and the
 * entities written are not encoded again. (The lab's data server stores so; pandora_ha decodes
 * whatever it reads, so it depends on none of these details.)
 */
export function pandoraEncoded(s: string): string {
  return s.replace(/[\x00-\x20&<>"'\\()\x80-\xff]/g, (c) => {
    const code = c.charCodeAt(0);
    if (PANDORA_ENTITIES[c]) return PANDORA_ENTITIES[c];
    if (code >= 0xc0) return `&${NAMES[c]};`;
    return `&#x${code.toString(16).padStart(2, "0")};`;
  });
}

/** The text of `<tag>` in `xml` (CDATA or escaped text), trimmed; undefined when absent. */
function element(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`).exec(xml);
  if (!m) return undefined;
  const cdata = /^\s*<!\[CDATA\[([\s\S]*?)\]\]>\s*$/.exec(m[1]);
  return (cdata ? cdata[1] : decode(m[1])).trim();
}

const STRING_TYPES = new Set(["generic_data_string", "async_string"]);
const NUMERIC_TYPES = new Set(["generic_data", "generic_proc", "async_data", "async_proc"]);
const DERIVED_TYPES = new Set(["generic_data_inc", "generic_data_inc_abs"]);

/** The agent and the values an agent file carries (those the data server stores in tagente_datos / _string); undefined when it is not agent data. */
export function readAgentFile(xml: string): AgentFile | undefined {
  // A quoted value may hold a '>'.
  const root = /<agent_data\b((?:[^>"']|"[^"]*"|'[^']*')*)>/.exec(xml);
  if (!root) return undefined;
  const attr = (name: string) => {
    // Either quote, the other one allowed inside (agent_name="O'Brien").
    const m = new RegExp(`\\s${name}\\s*=\\s*(["'])([\\s\\S]*?)\\1`).exec(root[1]);
    return m ? decode(m[2]) : undefined;
  };
  const agent = attr("agent_name");
  if (!agent) return undefined;
  const values: AgentValue[] = [];
  for (const [, body] of xml.matchAll(/<module>([\s\S]*?)<\/module>/g)) {
    const module = element(body, "name");
    const type = element(body, "type") ?? "";
    // A datalist carries several values with times of their own: not compared.
    if (!module || /<datalist>/.test(body)) continue;
    const data = element(body, "data");
    if (data === undefined) continue;
    if (STRING_TYPES.has(type)) values.push({ module, table: "tagente_datos_string", data });
    else if (NUMERIC_TYPES.has(type)) values.push({ module, table: "tagente_datos", data });
    else if (DERIVED_TYPES.has(type)) values.push({ module, table: "tagente_datos", data: undefined });
  }
  const ts = /^\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})\s*$/.exec(attr("timestamp") ?? "");
  const xmlTime = ts ? Math.floor(new Date(+ts[1], +ts[2] - 1, +ts[3], +ts[4], +ts[5], +ts[6]).getTime() / 1000) : undefined;
  return { agent, values, ...(xmlTime !== undefined && !Number.isNaN(xmlTime) ? { xmlTime } : {}) };
}

// ---- are its values stored -------------------------------------------------------------------

export type Query = (sql: string, values: unknown[]) => Promise<Array<Record<string, unknown>>>;

export interface KeptFile {
  name: string;
  /** The data's time, as the server takes it: the file's mtime in whole seconds, or the XML's timestamp under `use_xml_timestamp 1`. */
  time: number;
  file: AgentFile | undefined;
}

/** A value as stored, and as written before the server's `safe_input` (decoded): either may be what the file says. */
const forms = (s: string) => {
  const d = decode(s);
  return d === s ? [s] : [s, d];
};
/** A numeric value compared as a number; Pandora takes a decimal comma for a point. */
const numeric = (v: unknown) => String(Number(String(v).replace(",", ".")));
const valueKey = (v: AgentValue) => (v.table === "tagente_datos" ? numeric(v.data) : v.data!);
/** How long storedFiles may take by default: the caller's connection times out after 10 s. */
export const STORED_DEADLINE_MS = 8000;

export interface StoredAnswer {
  /** Files whose every value is on the master (or that carry none to look for). */
  stored: Set<string>;
  /** Files not looked at: the deadline passed first. */
  unchecked: Set<string>;
}

/** A name as the server finds it (`nombre = ?`, a case-insensitive collation): every form, lower-cased. */
const nameForms = (s: string) => forms(s).map((x) => x.toLowerCase());

/** agent name (every form, lower-cased) → its ids on the master. */
async function agentIds(query: Query): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const r of await query("SELECT id_agente AS id, nombre FROM tagente", [])) {
    for (const name of nameForms(String(r.nombre))) out.set(name, [...(out.get(name) ?? []), Number(r.id)]);
  }
  return out;
}

/** `${agent id}\0${module name}` keys of a row, under every form of its name. */
const moduleKeys = (id: unknown, module: unknown) => nameForms(String(module)).map((m) => `${Number(id)}\0${m}`);

interface Missing {
  f: KeptFile;
  v: AgentValue;
  /** The module's keys (moduleKeys) under each id of the file's agent. */
  keys: string[];
}

/**
 * The values of `batch` not at their time on the master: the rows at the batch's times of the
 * batch's agents, looked through (`ids`: agent name → ids).
 */
async function missingAt(query: Query, batch: KeptFile[], ids: Map<string, number[]>): Promise<Missing[]> {
  const agentsOf = (f: KeptFile) => ids.get(f.file!.agent.toLowerCase()) ?? [];
  const agents = [...new Set(batch.flatMap(agentsOf))];
  const times = [...new Set(batch.map((f) => f.time))].sort((x, y) => x - y);
  const seen = new Map<string, Set<string>>();
  for (const table of agents.length ? ["tagente_datos", "tagente_datos_string"] : []) {
    const rows = await query(
      `SELECT m.id_agente AS a, m.nombre AS module, d.utimestamp AS t, d.datos AS v FROM tagente_modulo m ` +
        `JOIN ${table} d ON d.id_agente_modulo = m.id_agente_modulo WHERE m.id_agente IN (?) AND d.utimestamp IN (?)`,
      [agents, times],
    );
    for (const r of rows) {
      const vs = table === "tagente_datos" ? [numeric(r.v)] : forms(String(r.v));
      for (const k of moduleKeys(r.a, r.module)) {
        const at = seen.get(`${k}\0${Number(r.t)}`) ?? new Set();
        for (const v of vs) at.add(v);
        seen.set(`${k}\0${Number(r.t)}`, at);
      }
    }
  }
  const missing: Missing[] = [];
  for (const f of batch) {
    for (const v of f.file!.values) {
      const keys = agentsOf(f).map((a) => `${a}\0${v.module.toLowerCase()}`);
      const found = keys.some((k) => {
        const at = seen.get(`${k}\0${f.time}`);
        return !!at && (v.data === undefined || at.has(valueKey(v)));
      });
      if (!found) missing.push({ f, v, keys });
    }
  }
  return missing;
}

/** The real server writes an equal value again once its last row is this old (seconds). */
const COMPRESSION_MAX_AGE_S = 86_400;

/**
 * Of the files with values not at their time, those lacking one for good, and those not looked at
 * (the deadline). A value the server would not have written is no loss: the real server writes no
 * history row for a value equal to the module's last one less than a day old (its compression).
 * Oldest first, and once a module lacks a value (`lackingModules`, across batches) its later
 * values lack too: the last row before them is no longer what the server compared with.
 */
async function lackingFiles(query: Query, missing: Missing[], deadline: number, lackingModules: Set<string>): Promise<{ lacking: Set<string>; unchecked: Set<string> }> {
  const lacking = new Set<string>();
  const unchecked = new Set<string>();
  if (!missing.length) return { lacking, unchecked };
  const agents = [...new Set(missing.flatMap((m) => m.keys.map((k) => Number(k.split("\0")[0]))))];
  const moduleIds = new Map<string, number[]>();
  for (const r of agents.length ? await query("SELECT id_agente AS a, id_agente_modulo AS id, nombre FROM tagente_modulo WHERE id_agente IN (?)", [agents]) : []) {
    for (const k of moduleKeys(r.a, r.nombre)) moduleIds.set(k, [...(moduleIds.get(k) ?? []), Number(r.id)]);
  }
  for (const m of missing) {
    if (lacking.has(m.f.name) || unchecked.has(m.f.name)) continue;
    const module = m.keys.join("|");
    const mods = m.keys.flatMap((k) => moduleIds.get(k) ?? []);
    if (m.v.data === undefined || !mods.length || lackingModules.has(module)) {
      lacking.add(m.f.name);
      lackingModules.add(module);
      continue;
    }
    if (Date.now() > deadline) {
      unchecked.add(m.f.name);
      continue;
    }
    const [last] = await query(`SELECT datos AS v, utimestamp AS t FROM ${m.v.table} WHERE id_agente_modulo IN (?) AND utimestamp < ? ORDER BY utimestamp DESC LIMIT 1`, [mods, m.f.time]);
    const equal = !!last && (m.v.table === "tagente_datos" ? numeric(last.v) === valueKey(m.v) : forms(String(last.v)).includes(m.v.data));
    if (!equal || m.f.time - Number(last.t) >= COMPRESSION_MAX_AGE_S) {
      lacking.add(m.f.name);
      lackingModules.add(module);
    }
  }
  return { lacking, unchecked };
}

/**
 * Which of `files` have every value on the database `query` reaches: a row of the module at the
 * data's time with the value, or — the server's compression — a value equal to the module's last
 * row before it. Names and string data are compared decoded, whether the server stored them
 * entity-encoded (as the real one's safe_input does) or not. Batches oldest first; once
 * `deadlineMs` has passed, the files not looked at yet are returned as unchecked.
 */
export async function storedFiles(query: Query, files: KeptFile[], deadlineMs = STORED_DEADLINE_MS): Promise<StoredAnswer> {
  const deadline = Date.now() + deadlineMs;
  const answer: StoredAnswer = { stored: new Set(), unchecked: new Set() };
  const checkable = files.filter((f) => f.file && f.file.values.length > 0).sort((a, b) => a.time - b.time);
  for (const f of files) if (!checkable.includes(f)) answer.stored.add(f.name);
  if (!checkable.length) return answer;
  const ids = await agentIds(query);
  const lackingModules = new Set<string>();
  for (let i = 0; i < checkable.length; i += BATCH) {
    const batch = checkable.slice(i, i + BATCH);
    // The oldest batch is always looked at.
    if (i > 0 && Date.now() > deadline) {
      for (const f of checkable.slice(i)) answer.unchecked.add(f.name);
      break;
    }
    const { lacking, unchecked } = await lackingFiles(query, await missingAt(query, batch, ids), deadline, lackingModules);
    for (const f of batch) {
      if (unchecked.has(f.name)) answer.unchecked.add(f.name);
      else if (!lacking.has(f.name)) answer.stored.add(f.name);
    }
  }
  return answer;
}

// ---- the keeper ------------------------------------------------------------------------------

export interface HandBack {
  /** Files the server had taken whose values were looked for. */
  checked: number;
  /** Their values were not on the master: linked into the incoming directory again. */
  handedBack: string[];
}

/** A file is handed back at most this often (a module whose stored value differs from the file's would bring it back forever). */
export const MAX_HAND_BACKS = 3;

const isData = (name: string) => name.endsWith(".data");
const codeOf = (e: unknown) => (e as NodeJS.ErrnoException).code;

interface Kept {
  /** When the server was first seen to have taken it (out of the incoming directory). */
  takenAt?: number;
  handBacks?: number;
  /** Kept by an earlier run of the daemon, whose trouble periods are gone: looked at once, as if taken in trouble. */
  adopted?: boolean;
}

/** A file taken in trouble and never looked at (no writable master answered) is kept this long at most, whatever ha_keep_files. */
const UNCHECKED_KEEP_MS = 86_400_000;

export class AgentFileKeeper {
  readonly keptDir: string;
  /** Kept file → when it was first seen taken by the server, and how often it was handed back. */
  private readonly kept = new Map<string, Kept>();
  /** When the server's master was seen in trouble: [from, to] periods, oldest first. */
  private readonly troubles: Array<[number, number]> = [];
  /** Since when the master is seen in trouble, until it is seen well again (a failover in between sees nothing). */
  private troubleSince?: number;
  private handing: Promise<unknown> = Promise.resolve();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;

  constructor(
    readonly incoming: string,
    readonly keepMs: number,
    private readonly useXmlTimestamp: boolean,
    private readonly warn: (msg: string) => void,
    /** A line for the daemon's log (not an event): trouble periods, files looked at, files taken before they could be kept. */
    private readonly note: (fields: Record<string, unknown>) => void = () => undefined,
  ) {
    this.keptDir = path.join(incoming, KEPT_DIR);
  }

  start(): void {
    mkdirSync(this.keptDir, { recursive: true, mode: 0o700 });
    this.adoptEarlier();
    try {
      this.watcher = watch(this.incoming, (_, name) => {
        if (name && isData(String(name))) this.keep(String(name));
      });
      this.watcher.on("error", () => this.watcher?.close());
    } catch (e) {
      this.warn(`cannot watch ${this.incoming} (${String(e)}): agent files are kept by a scan every ${SCAN_MS} ms only`);
    }
    this.scan();
    this.timer = setInterval(() => this.scan(), SCAN_MS);
    this.timer.unref();
  }

  /**
   * Links kept by an earlier run of the daemon. One no longer in the incoming directory was taken
   * when its link count last changed (its ctime): the server's unlink, or a hand-back.
   */
  private adoptEarlier(): void {
    const now = Date.now();
    for (const name of readdirSync(this.keptDir)) {
      if (!isData(name)) continue;
      if (existsSync(path.join(this.incoming, name))) {
        this.kept.set(name, {});
        continue;
      }
      try {
        const takenAt = statSync(path.join(this.keptDir, name)).ctimeMs;
        this.kept.set(name, { takenAt, adopted: true });
        // Perhaps taken in trouble and never looked at: kept as long as such a file is.
        if (now - takenAt > UNCHECKED_KEEP_MS) this.drop(name);
      } catch {
        // gone meanwhile
      }
    }
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }

  /** The master the server uses was in trouble from `from` to `to` (not reachable, not writable, being replaced, the server killed). */
  trouble(from = Date.now(), to = from): void {
    const near = this.troubles.find(([a, b]) => from <= b + TROUBLE_GAP_MS && to >= a - TROUBLE_GAP_MS);
    if (near) {
      near[0] = Math.min(near[0], from);
      near[1] = Math.max(near[1], to);
    } else this.troubles.push([from, to]);
    this.troubles.sort((a, b) => a[0] - b[0]);
    while (this.troubles.length && Date.now() - this.troubles[0][1] > UNCHECKED_KEEP_MS) this.troubles.shift();
  }

  /** What the master the server uses looks like now: in trouble from the first bad sight to the first good one. */
  seen(inTrouble: boolean, at = Date.now()): void {
    if (inTrouble) {
      if (this.troubleSince === undefined) this.note({ agent_files: "trouble", since: new Date(at).toISOString() });
      this.troubleSince ??= at;
      return;
    }
    if (this.troubleSince === undefined) return;
    this.note({ agent_files: "trouble_end", since: new Date(this.troubleSince).toISOString() });
    this.trouble(this.troubleSince, at);
    this.troubleSince = undefined;
  }

  private inTrouble(t: number): boolean {
    if (this.troubleSince !== undefined && t >= this.troubleSince - TROUBLE_BEFORE_MS) return true;
    return this.troubles.some(([from, to]) => t >= from - TROUBLE_BEFORE_MS && t <= to + TROUBLE_GAP_MS);
  }

  private keep(name: string): void {
    if (this.kept.has(name)) return;
    const from = path.join(this.incoming, name);
    try {
      try {
        linkSync(from, path.join(this.keptDir, name));
      } catch (e) {
        if (codeOf(e) !== "ENOENT" || !this.keptDirGone()) throw e;
        linkSync(from, path.join(this.keptDir, name));
      }
    } catch (e) {
      if (codeOf(e) === "ENOENT") return this.takenUnkept(name);
      if (codeOf(e) !== "EEXIST") {
        this.warn(`cannot keep ${name}: ${String(e)}`);
        return;
      }
    }
    this.kept.set(name, {});
  }

  /**
   * True when the kept directory was removed under the keeper: it is made again, and what was
   * kept in it is forgotten (the links went with it), so the files still waiting in the incoming
   * directory are kept again by the next scan; those already taken are gone beyond repair.
   */
  private keptDirGone(): boolean {
    if (existsSync(this.keptDir)) return false;
    const taken = [...this.kept.values()].filter((k) => k.takenAt !== undefined).length;
    this.warn(`${this.keptDir} was removed: made again; ${taken} kept files taken by the server went with it (they cannot be handed back), the waiting ones are kept again`);
    mkdirSync(this.keptDir, { recursive: true, mode: 0o700 });
    this.kept.clear();
    return true;
  }

  /** Names noted as taken before they could be kept (a file gives several watch events): each noted once. */
  private readonly unkept = new Set<string>();

  /** Taken (or renamed away) before it could be kept: were the server's write to fail, nothing would bring it back. */
  private takenUnkept(name: string): void {
    if (this.unkept.has(name)) return;
    if (this.unkept.size >= 10_000) this.unkept.clear();
    this.unkept.add(name);
    this.note({ agent_files: "taken_unkept", file: name });
  }

  /** New files kept, taken ones noted, old ones dropped. */
  scan(): void {
    this.keptDirGone();
    let present: Set<string>;
    try {
      present = new Set(readdirSync(this.incoming).filter(isData));
    } catch {
      return;
    }
    for (const name of present) this.keep(name);
    const now = Date.now();
    for (const [name, k] of this.kept) {
      // Back in the incoming directory (handed back, or renamed in again): not taken any more.
      if (present.has(name)) {
        k.takenAt = undefined;
        k.adopted = undefined;
      } else k.takenAt ??= now;
      // Kept while it waits in the incoming directory, however long; dropped a while after it was
      // taken — unless it is still to be looked at (taken in trouble, no writable master since:
      // a look drops it or hands it back).
      if (k.takenAt === undefined || now - k.takenAt <= this.keepMs) continue;
      if (this.lookAt(k) && now - k.takenAt <= UNCHECKED_KEEP_MS) continue;
      this.drop(name);
    }
  }

  private drop(name: string): void {
    this.kept.delete(name);
    try {
      unlinkSync(path.join(this.keptDir, name));
    } catch {
      // gone already
    }
  }

  /** Kept files to look at: taken by the server (`takenBefore`: at least that long ago) in trouble, not handed back too often yet. */
  toLookAt(takenBefore: number): string[] {
    this.scan();
    const now = Date.now();
    return [...this.kept]
      .filter(([, k]) => this.lookAt(k) && now - k.takenAt! >= takenBefore)
      .map(([name]) => name);
  }

  /** Taken in trouble (or by an earlier run), not handed back too often yet. */
  private lookAt(k: Kept): boolean {
    return k.takenAt !== undefined && (k.handBacks ?? 0) < MAX_HAND_BACKS && (!!k.adopted || this.inTrouble(k.takenAt));
  }

  private taken(takenBefore: number): KeptFile[] {
    const out: KeptFile[] = [];
    for (const name of this.toLookAt(takenBefore)) {
      // The server found it unreadable and said so (`<file>_BADXML`): nothing to hand back.
      if (existsSync(path.join(this.incoming, `${name}_BADXML`))) {
        this.drop(name);
        continue;
      }
      const f = path.join(this.keptDir, name);
      try {
        const file = readAgentFile(readFileSync(f, "utf8"));
        const time = this.useXmlTimestamp && file?.xmlTime !== undefined ? file.xmlTime : Math.floor(statSync(f).mtimeMs / 1000);
        out.push({ name, time, file });
      } catch (e) {
        if (codeOf(e) === "ENOENT") this.kept.delete(name);
        else this.warn(`cannot read the kept ${name} (${String(e)}): looked at next time`);
      }
    }
    return out;
  }

  /**
   * Files the server took whose values `query` (the master the server uses, writable) does not
   * have are linked into the incoming directory again; those whose values it has are dropped.
   * `takenBefore`: only files taken at least that long ago (0 once the server is stopped). When
   * the master cannot be asked, nothing is handed back: the next look asks again (a file handed
   * back to a master that cannot store it is lost again).
   */
  handBack(query: Query, takenBefore = 0): Promise<HandBack> {
    // One at a time: two looking at the same file would both hand it back.
    const r = this.handing.then(() => this.handBackNow(query, takenBefore));
    this.handing = r.catch(() => undefined);
    return r;
  }

  private async handBackNow(query: Query, takenBefore: number): Promise<HandBack> {
    const files = this.taken(takenBefore);
    if (!files.length) return { checked: 0, handedBack: [] };
    const { stored, unchecked } = await storedFiles(query, files);
    const handedBack: string[] = [];
    for (const f of files) {
      // Looked at next time.
      if (unchecked.has(f.name)) continue;
      const k = this.kept.get(f.name);
      if (stored.has(f.name)) {
        this.drop(f.name);
        continue;
      }
      try {
        linkSync(path.join(this.keptDir, f.name), path.join(this.incoming, f.name));
      } catch (e) {
        if (codeOf(e) !== "EEXIST") {
          this.warn(`cannot hand ${f.name} back: ${String(e)}`);
          continue;
        }
      }
      if (k) k.handBacks = (k.handBacks ?? 0) + 1;
      handedBack.push(f.name);
    }
    this.note({ agent_files: "looked_at", files: files.length, unchecked: unchecked.size, handed_back: handedBack.slice(0, 20) });
    return { checked: files.length - unchecked.size, handedBack };
  }
}
