/**
 * The lab's stand-in Pandora FMS data server (lab/dataserver) and its init script
 * (lab/stubs/pandora_server.init) against the measured facts of the real server
 * (../shared/reference/pandora-server-facts.md): the conf tokens and their defaults, the
 * database host read once from ha_hosts_file, the agent XML, the delete-then-write order and its
 * losses, the value → table mapping, the timestamp rule, the timings, the real schema's columns,
 * and the init script's verbs and timing (against a fake daemon). The whole program against a
 * real MariaDB: test/integration/dataserver.test.ts.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { dbHostAtStart, parseServerConf } from "../../lab/dataserver/conf";
import type { ConsumerIo } from "../../lab/dataserver/consume";
import { PARSE_RETRY_MS, consumeFile, selectFiles } from "../../lab/dataserver/consume";
import { DEFAULT_TIMINGS, isDatabaseDown, parseRange, reactionToDbError, timingsFromEnv } from "../../lab/dataserver/lifecycle";
import type { Query, StoreContext } from "../../lab/dataserver/store";
import { dataTime, encodeEventText, planModule, storeAgentData, toDataTime } from "../../lab/dataserver/store";
import { parseAgentData } from "../../lab/dataserver/xml";
import { readAgentFile, storedFiles } from "../../runtime/act/agent-files";
import { fakeMaster } from "./fake-master";
import { PANDORA_SCHEMA, PANDORA_TABLES } from "../../lab/pandora-schema";

const FIXTURE_CONF = join(__dirname, "..", "fixtures", "pandora_server.conf");
const INIT = join(__dirname, "..", "..", "lab", "stubs", "pandora_server.init");

/** An agent file as the real agent (pandorafms-agent 4.1) writes it. */
const AGENT_XML = `<?xml version='1.0' encoding='UTF-8'?>
<agent_data description='' group='' os_name='linux' os_version='Debian 12' interval='1' version='4.1' timestamp='2024/03/28 10:11:12' agent_name='web01' timezone_offset='0' address='10.0.0.5'>
  <module>
    <name><![CDATA[cpu_user]]></name>
    <description><![CDATA[CPU user %]]></description>
    <type><![CDATA[generic_data]]></type>
    <data><![CDATA[12.5]]></data>
  </module>
  <module>
    <name>proc</name><type>generic_proc</type><data>1</data>
  </module>
  <module>
    <name>motd</name><type>generic_data_string</type><data><![CDATA[all <fine> & up]]></data>
  </module>
  <!-- a comment -->
</agent_data>
`;

describe("pandora_server.conf as the real server reads it", () => {
  test("the real defaults when a token is absent", () => {
    const c = parseServerConf("", "host1");
    expect(c).toMatchObject({
      dbHost: "localhost", dbPort: 3306, dbName: "pandora", dbUser: "pandora", serverName: "host1", incomingDir: "/var/spool/pandora/data_in",
      dataserverThreads: 2, maxQueueFiles: 500, restart: false, autocreate: true, serverKeepalive: 45, useXmlTimestamp: false, haHostsFile: undefined,
    });
  });

  test("the shipped-style file: comments, the last of a token given twice, case-insensitive tokens", () => {
    const c = parseServerConf(readFileSync(FIXTURE_CONF, "utf8"));
    expect(c.dbHost).toBe("127.0.0.1");
    expect(c.restart).toBe(true);
    expect(c.logFile).toBe("/var/log/pandora/pandora_server.log");
    const d = parseServerConf("DBHOST 10.0.0.9\n  # dbport 1\nservername pfms1\ndataserver_threads 4\nmax_queue_files 20\nrestart 0\nautocreate 0\nuse_xml_timestamp 1\nserver_keepalive 5\ndbpass a b#c\n");
    expect(d).toMatchObject({ dbHost: "10.0.0.9", dbPort: 3306, serverName: "pfms1", dataserverThreads: 4, maxQueueFiles: 20, restart: false, autocreate: false, useXmlTimestamp: true, serverKeepalive: 5, dbPass: "a b#c" });
    expect(() => parseServerConf("dataserver_threads many")).toThrow(/dataserver_threads/);
  });

  test("the database host: the first line of ha_hosts_file at start-up, else dbhost", () => {
    const c = parseServerConf("dbhost 10.0.0.1\nha_hosts_file /x/pandora_ha_hosts.conf\n");
    expect(dbHostAtStart(c, () => "10.0.0.2")).toBe("10.0.0.2");
    expect(dbHostAtStart(c, () => "10.0.0.3\n10.0.0.4\n")).toBe("10.0.0.3");
    expect(dbHostAtStart(c, () => undefined)).toBe("10.0.0.1");
    expect(dbHostAtStart(c, () => "\n10.0.0.4")).toBe("10.0.0.1");
    expect(dbHostAtStart(parseServerConf("dbhost 10.0.0.1\n"), () => "10.0.0.2")).toBe("10.0.0.1");
  });
});

describe("the agent's XML", () => {
  test("attributes, CDATA, entities, modules", () => {
    const a = parseAgentData(AGENT_XML);
    expect(a.agentName).toBe("web01");
    expect(a.attrs).toMatchObject({ timestamp: "2024/03/28 10:11:12", interval: "1", version: "4.1", os_version: "Debian 12" });
    expect(a.modules).toEqual([
      { name: "cpu_user", type: "generic_data", data: "12.5", description: "CPU user %" },
      { name: "proc", type: "generic_proc", data: "1", description: undefined },
      { name: "motd", type: "generic_data_string", data: "all <fine> & up", description: undefined },
    ]);
    expect(parseAgentData(`<agent_data agent_name="a&amp;b &#x41;"><module><name>n</name><type>generic_data_string</type><data>x &lt; y</data></module></agent_data>`)).toMatchObject({
      agentName: "a&b A", modules: [{ data: "x < y" }],
    });
  });

  test.each([
    ["an empty file", ""],
    ["a truncated file", AGENT_XML.slice(0, 200)],
    ["a mismatched tag", "<agent_data agent_name='a'><module></data></agent_data>"],
    ["a bare &", "<agent_data agent_name='a'>x & y</agent_data>"],
    ["an unquoted attribute", "<agent_data agent_name=a></agent_data>"],
    ["text outside the root", "<agent_data agent_name='a'/>junk"],
    ["two roots", "<agent_data agent_name='a'/><agent_data agent_name='b'/>"],
  ])("malformed: %s", (_, text) => {
    expect(() => parseAgentData(text)).toThrow(/bad XML/);
  });

  test("well-formed but not agent data: nothing to store, not an error", () => {
    expect(parseAgentData("<other/>")).toEqual({ agentName: undefined, attrs: {}, modules: [] });
    expect(parseAgentData("<agent_data version='4.1'/>").agentName).toBeUndefined();
  });
});

describe("value → table, and the data's time", () => {
  test("numeric types to tagente_datos, string types to tagente_datos_string (ttipo_modulo ids)", () => {
    const p = (type: string, data: string) => planModule({ name: "m", type, data, description: undefined });
    expect(p("generic_data", "12.5")).toEqual({ store: true, table: "tagente_datos", typeId: 1, value: 12.5 });
    expect(p("generic_proc", "1")).toEqual({ store: true, table: "tagente_datos", typeId: 2, value: 1 });
    expect(p("async_data", "-3e2")).toEqual({ store: true, table: "tagente_datos", typeId: 22, value: -300 });
    expect(p("generic_data_string", "up")).toEqual({ store: true, table: "tagente_datos_string", typeId: 3, value: "up" });
    // String data as the real server's safe_input stores it; a numeric value's decimal comma taken for a point.
    expect(p("generic_data_string", `all <fine> & "up" (C:\\)`)).toMatchObject({ value: "all&#x20;&lt;fine&gt;&#x20;&amp;&#x20;&quot;up&quot;&#x20;&#40;C:&#92;&#41;" });
    expect(p("generic_data", "3,5")).toMatchObject({ store: true, value: 3.5 });
    expect(p("generic_data", "3,5,1")).toMatchObject({ store: false });
    expect(p("async_string", "x")).toMatchObject({ table: "tagente_datos_string", typeId: 23 });
    expect(p("generic_data", "n/a")).toMatchObject({ store: false });
    expect(p("generic_data_inc", "5")).toMatchObject({ store: false });
    expect(planModule({ name: "m", type: undefined, data: "1", description: undefined })).toMatchObject({ store: false });
  });

  test("the file's mtime unless use_xml_timestamp 1", () => {
    const mtime = new Date(2025, 0, 2, 3, 4, 5).getTime();
    expect(dataTime(false, "2024/03/28 10:11:12", mtime)).toEqual({ datetime: "2025-01-02 03:04:05", utimestamp: mtime / 1000 });
    expect(dataTime(true, "2024/03/28 10:11:12", mtime)).toEqual(toDataTime(new Date(2024, 2, 28, 10, 11, 12).getTime()));
    expect(dataTime(true, "2024-03-28 10:11:12", mtime).datetime).toBe("2024-03-28 10:11:12");
    expect(dataTime(true, "yesterday", mtime).datetime).toBe("2025-01-02 03:04:05");
    expect(dataTime(true, "2024/02/31 10:11:12", mtime).datetime).toBe("2025-01-02 03:04:05");
  });

  test("its own event texts are HTML-entity encoded, as the real server's", () => {
    expect(encodeEventText("Agent [x] created")).toBe("Agent&#x20;[x]&#x20;created");
    expect(encodeEventText(`a<b>&"'`)).toBe("a&lt;b&gt;&amp;&quot;&#039;");
  });
});

/** A fake database: records every statement, answers SELECTs from `rows`. */
function fakeDb(rows: Record<string, Array<Record<string, unknown>>> = {}) {
  const calls: Array<{ sql: string; values: unknown[]; insertId?: number }> = [];
  let id = 100;
  const q: Query = async (sql, values = []) => {
    const call: (typeof calls)[number] = { sql, values };
    calls.push(call);
    if (sql.startsWith("SELECT")) return rows[Object.keys(rows).find((k) => sql.includes(k)) ?? ""] ?? [];
    if (sql.startsWith("INSERT")) call.insertId = ++id;
    return call.insertId !== undefined ? { insertId: call.insertId, affectedRows: 1 } : { affectedRows: 1 };
  };
  return { q, calls };
}

const ctx = (over: Partial<StoreContext> = {}): StoreContext => ({
  serverName: "pfms1", autocreate: true, autocreateGroup: 10, now: toDataTime(Date.UTC(2025, 0, 1)), time: { datetime: "2025-01-01 00:00:00", utimestamp: 1735689600 },
  log: () => undefined, ...over,
});

/** Column names of the lab's CREATE TABLE for `table`. */
function schemaColumns(table: string): Map<string, string> {
  const q = PANDORA_SCHEMA.find((s) => new RegExp(`CREATE TABLE IF NOT EXISTS ${table} \\(`).test(s))!;
  const body = q.slice(q.indexOf("(") + 1, q.lastIndexOf(")"));
  const cols = new Map<string, string>();
  for (const part of body.split(/,\s*(?![^()]*\))/)) {
    const m = /^\s*(\w+)\s+([A-Z]+(?:\([^)]*\))?(?:\s+UNSIGNED)?)/.exec(part);
    if (m && !/^(PRIMARY|KEY|INDEX|UNIQUE)$/.test(m[1])) cols.set(m[1], m[2]);
  }
  return cols;
}

describe("what a file's data is written as", () => {
  test("a new agent autocreated (with its event), its modules, their values and statuses", async () => {
    const db = fakeDb();
    const r = await storeAgentData(db.q, parseAgentData(AGENT_XML), ctx());
    expect(r).toMatchObject({ created: true, agentId: 101, stored: [{ module: "cpu_user", table: "tagente_datos" }, { module: "proc", table: "tagente_datos" }, { module: "motd", table: "tagente_datos_string" }] });
    const ins = (t: string) => db.calls.filter((c) => c.sql.startsWith(`INSERT INTO ${t} `));
    expect(ins("tagente")[0].values.slice(0, 1)).toEqual(["web01"]);
    expect(ins("tevento")[0].values).toContain("Agent&#x20;[web01]&#x20;created");
    expect(ins("tagente_modulo")).toHaveLength(3);
    expect(ins("tagente_estado")).toHaveLength(3);
    expect(ins("tagente_datos").map((c) => c.values.slice(1))).toEqual([[12.5, 1735689600], [1, 1735689600]]);
    expect(ins("tagente_datos_string").map((c) => c.values.slice(1))).toEqual([["all&#x20;&lt;fine&gt;&#x20;&amp;&#x20;up", 1735689600]]);
  });

  test("agent names, module names and string data encoded as the real server's safe_input; pandora_ha finds them", async () => {
    const text =
      `<agent_data agent_name="O'Brien (lab)" interval='1' timestamp='2025/01/01 00:00:00'>` +
      "<module><name>free space</name><type>generic_data</type><data>3,5</data></module>" +
      "<module><name>msg</name><type>async_string</type><data><![CDATA[C:\\ is <full>]]></data></module></agent_data>";
    const db = fakeDb();
    expect(await storeAgentData(db.q, parseAgentData(text), ctx())).toMatchObject({ created: true, skipped: [] });
    const calls = (start: string) => db.calls.filter((c) => c.sql.startsWith(start));
    expect(calls("SELECT id_agente FROM tagente ")[0].values).toEqual(["O&#039;Brien&#x20;&#40;lab&#41;"]);
    expect(calls("INSERT INTO tagente ")[0].values.slice(0, 2)).toEqual(["O&#039;Brien&#x20;&#40;lab&#41;", "O&#039;Brien&#x20;&#40;lab&#41;"]);
    expect(calls("SELECT id_agente_modulo FROM tagente_modulo")[0].values[1]).toBe("free&#x20;space");
    expect(calls("INSERT INTO tagente_modulo ").map((c) => c.values[2])).toEqual(["free&#x20;space", "msg"]);
    expect(calls("INSERT INTO tagente_datos ")[0].values[1]).toBe(3.5);
    expect(calls("INSERT INTO tagente_datos_string ")[0].values[1]).toBe("C:&#92;&#x20;is&#x20;&lt;full&gt;");
    // What it wrote, read back as pandora_ha's check of kept files reads the master.
    const agent = String(calls("INSERT INTO tagente ")[0].values[0]);
    const modules = new Map(calls("INSERT INTO tagente_modulo ").map((c) => [c.insertId, String(c.values[2])]));
    const rows = (["tagente_datos", "tagente_datos_string"] as const).flatMap((table) =>
      calls(`INSERT INTO ${table} `).map((c) => ({ table, agent, module: modules.get(Number(c.values[0]))!, v: c.values[1], t: Number(c.values[2]) })));
    const master = fakeMaster(rows).query;
    const kept = { name: "o.data", time: ctx().time.utimestamp, file: readAgentFile(text) };
    expect([...(await storedFiles(master, [kept])).stored]).toEqual(["o.data"]);
    // At a time before any row of its modules: not.
    expect([...(await storedFiles(master, [{ ...kept, time: kept.time - 1 }])).stored]).toEqual([]);
  });

  test("an agent that exists is not created again; with autocreate 0 an unknown agent stores nothing", async () => {
    const known = fakeDb({ "FROM tagente WHERE": [{ id_agente: 7 }], "FROM tagente_modulo": [{ id_agente_modulo: 70 }] });
    const r = await storeAgentData(known.q, parseAgentData(AGENT_XML), ctx());
    expect(r).toMatchObject({ created: false, agentId: 7 });
    expect(known.calls.filter((c) => /^INSERT INTO (tagente|tagente_modulo|tevento) /.test(c.sql))).toEqual([]);
    expect(known.calls.filter((c) => c.sql.startsWith("INSERT INTO tagente_datos ")).map((c) => c.values[0])).toEqual([70, 70]);
    const none = fakeDb();
    expect(await storeAgentData(none.q, parseAgentData(AGENT_XML), ctx({ autocreate: false }))).toMatchObject({ created: false, agentId: undefined, stored: [] });
    expect(none.calls.filter((c) => !c.sql.startsWith("SELECT"))).toEqual([]);
  });

  test("every table and column it writes exists, with the real schema's types", async () => {
    const db = fakeDb();
    await storeAgentData(db.q, parseAgentData(AGENT_XML), ctx());
    for (const { sql } of db.calls) {
      const table = /^(?:INSERT INTO|UPDATE|SELECT .* FROM) (\w+)/.exec(sql)![1];
      expect(PANDORA_TABLES).toContain(table);
      const cols = schemaColumns(table);
      const used = sql.startsWith("INSERT") ? /\(([^)]*)\) VALUES/.exec(sql)![1].split(",") : [...sql.matchAll(/(\w+) = /g)].map((m) => m[1]);
      for (const c of used) expect([...cols.keys()], `${table}.${c.trim()}`).toContain(c.trim());
    }
  });

  test("the tables of the facts file with exactly their columns and types", () => {
    expect(Object.fromEntries(schemaColumns("tagente_datos"))).toEqual({ id_agente_modulo: "INT UNSIGNED", datos: "DOUBLE", utimestamp: "BIGINT" });
    expect(Object.fromEntries(schemaColumns("tagente_datos_string"))).toEqual({ id_agente_modulo: "INT UNSIGNED", datos: "MEDIUMTEXT", utimestamp: "INT UNSIGNED" });
    expect(PANDORA_SCHEMA.find((s) => s.includes("tagente_datos ("))).not.toMatch(/PRIMARY KEY/);
    const ev = schemaColumns("tevento");
    expect([...ev.keys()]).toEqual([
      "id_evento", "id_agente", "id_usuario", "id_grupo", "estado", "timestamp", "evento", "utimestamp", "event_type", "id_agentmodule", "id_alert_am",
      "criticity", "tags", "source", "id_extra", "critical_instructions", "warning_instructions", "unknown_instructions", "owner_user",
      "ack_utimestamp", "custom_data", "data", "module_status", "event_custom_id",
    ]);
    expect(ev.get("id_usuario")).toBe("VARCHAR(255)");
    expect(ev.get("event_type")).toMatch(/^ENUM\('going_unknown'.*'ncm'\)$/);
    for (const t of ["tagente", "tagente_modulo", "tagente_estado", "tserver", "tdatabase"]) expect(PANDORA_TABLES).toContain(t);
    expect(schemaColumns("tserver").get("keepalive")).toBe("DATETIME");
    expect(schemaColumns("tagente").has("transactional_agent")).toBe(false);
  });
});

/** Consumer I/O over an in-memory directory, recording the order of what it does. */
function fakeIo(files: Record<string, string | string[]>, storeError?: Error) {
  const trace: string[] = [];
  const reads = new Map<string, number>();
  const io: ConsumerIo = {
    readFile: async (f) => {
      if (!(f in files)) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      const n = reads.get(f) ?? 0;
      reads.set(f, n + 1);
      trace.push(`read ${f}`);
      const v = files[f];
      return Array.isArray(v) ? v[Math.min(n, v.length - 1)] : v;
    },
    mtimeMs: async (f) => {
      if (!(f in files)) throw new Error("ENOENT");
      return 1_700_000_000_000;
    },
    unlink: async (f) => {
      trace.push(`unlink ${f}`);
      delete files[f];
    },
    rename: async (a, b) => {
      trace.push(`rename ${a} ${b}`);
      files[b] = files[a];
      delete files[a];
    },
    sleep: async (ms) => void trace.push(`sleep ${ms}`),
    store: async () => {
      trace.push("store");
      if (storeError) throw storeError;
    },
    badXmlEvent: async () => {
      trace.push("event");
      throw new Error("database down too");
    },
    onStoreError: () => void trace.push("onStoreError"),
    log: () => undefined,
  };
  return { io, trace, files };
}

describe("a consumer: parse, delete, then write", () => {
  test("the file is deleted before its values are written", async () => {
    const f = fakeIo({ "/in/a.data": AGENT_XML });
    expect(await consumeFile(f.io, "/in/a.data")).toEqual({ kind: "stored" });
    expect(f.trace).toEqual(["read /in/a.data", "unlink /in/a.data", "store"]);
  });

  test("a file taken while the database is dead is gone, its values lost, the error swallowed", async () => {
    const f = fakeIo({ "/in/a.data": AGENT_XML }, Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
    expect(await consumeFile(f.io, "/in/a.data")).toEqual({ kind: "lost", error: "connect ECONNREFUSED" });
    expect(f.files).toEqual({});
    expect(f.trace).toEqual(["read /in/a.data", "unlink /in/a.data", "store", "onStoreError"]);
  });

  test("unparsable: two tries 2 s apart, then renamed <file>_BADXML and an event; nothing deleted or written", async () => {
    expect(PARSE_RETRY_MS).toBe(2000);
    const f = fakeIo({ "/in/b.data": "<agent_data agent_name='b'><module>" });
    expect(await consumeFile(f.io, "/in/b.data")).toMatchObject({ kind: "badxml" });
    expect(f.trace).toEqual(["read /in/b.data", "sleep 2000", "read /in/b.data", "rename /in/b.data /in/b.data_BADXML", "event"]);
    expect(Object.keys(f.files)).toEqual(["/in/b.data_BADXML"]);
  });

  test("complete at the second try: stored", async () => {
    const f = fakeIo({ "/in/c.data": [AGENT_XML.slice(0, 100), AGENT_XML] });
    expect(await consumeFile(f.io, "/in/c.data")).toEqual({ kind: "stored" });
    expect(f.trace).toEqual(["read /in/c.data", "sleep 2000", "read /in/c.data", "unlink /in/c.data", "store"]);
  });

  test("a file gone before it is read", async () => {
    expect(await consumeFile(fakeIo({}).io, "/in/x.data")).toEqual({ kind: "gone" });
  });
});

describe("the producer", () => {
  test("*.data only, not already taken, oldest first, up to max_queue_files", () => {
    const listing = [
      { name: "b.data", mtimeMs: 3 }, { name: "a.data", mtimeMs: 2 }, { name: "x.data_BADXML", mtimeMs: 1 }, { name: "c.conf", mtimeMs: 1 },
      { name: "d.data", mtimeMs: 1 }, { name: "e.data", mtimeMs: 5 },
    ];
    expect(selectFiles(listing, new Set(), 500)).toEqual(["d.data", "a.data", "b.data", "e.data"]);
    expect(selectFiles(listing, new Set(["d.data"]), 2)).toEqual(["a.data", "b.data"]);
    expect(selectFiles(listing, new Set(), 0)).toEqual([]);
  });
});

describe("timings and database errors", () => {
  test("the measured timings by default, configurable by environment", () => {
    expect(timingsFromEnv({})).toEqual(DEFAULT_TIMINGS);
    expect(DEFAULT_TIMINGS).toEqual({ startupMs: { min: 1000, max: 2000 }, errorDelayMs: { min: 200, max: 900 }, shutdownMs: { min: 6500, max: 6500 }, dieAtOnce: false });
    expect(timingsFromEnv({ PANDORA_STANDIN_SHUTDOWN_MS: "500", PANDORA_STANDIN_STARTUP_MS: "0-10", PANDORA_STANDIN_DIE_AT_ONCE: "1" })).toMatchObject({
      shutdownMs: { min: 500, max: 500 }, startupMs: { min: 0, max: 10 }, dieAtOnce: true,
    });
    expect(() => parseRange("9-1", "X")).toThrow(/below/);
    expect(() => parseRange("soon", "X")).toThrow(/MIN-MAX/);
  });

  test("a dead database is an error that stops the server; a refused statement is not", () => {
    expect(isDatabaseDown(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))).toBe(true);
    expect(isDatabaseDown(Object.assign(new Error("Connection lost"), { code: "PROTOCOL_CONNECTION_LOST", fatal: true }))).toBe(true);
    expect(isDatabaseDown(Object.assign(new Error("killed"), { code: "ER_CONNECTION_KILLED" }))).toBe(true);
    expect(isDatabaseDown(Object.assign(new Error("read-only"), { code: "ER_OPTION_PREVENTS_STATEMENT" }))).toBe(false);
    expect(isDatabaseDown(Object.assign(new Error("no table"), { code: "ER_NO_SUCH_TABLE" }))).toBe(false);
    expect(reactionToDbError(false, DEFAULT_TIMINGS)).toBe("shutdown");
    expect(reactionToDbError(false, { ...DEFAULT_TIMINGS, dieAtOnce: true })).toBe("die");
    expect(reactionToDbError(true, DEFAULT_TIMINGS)).toBe("restart");
  });
});

/**
 * The init script against a fake daemon: `-D` returns after 0.2 s, leaving a child
 * that writes the pid file and, on TERM, exits after `stopS` s (ignores it: Infinity).
 */
function initEnv(stopS: number, extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "pha-init-"));
  const daemon = join(dir, "fake_pandora_server");
  writeFileSync(
    daemon,
    [
      "#!/usr/bin/env bash",
      'if [[ ${2:-} == -D ]]; then sleep 0.2; setsid "$0" "$1" child </dev/null >/dev/null 2>&1 & exit 0; fi',
      'echo $$ >"$PANDORA_STANDIN_PID_FILE"',
      Number.isFinite(stopS) ? `trap 'sleep ${stopS}; exit 0' TERM` : "trap '' TERM",
      "while :; do sleep 0.1; done",
      "",
    ].join("\n"),
  );
  chmodSync(daemon, 0o755);
  const env = {
    ...process.env, PANDORA_DAEMON: daemon, PANDORA_CONF: join(dir, "conf"), PANDORA_STANDIN_PID_FILE: join(dir, "pid"), PANDORA_LOG_DIR: dir,
    LAB_PANDORA_DEFAULTS: join(dir, "defaults"), ...extra,
  };
  const run = (verb: string) => {
    const t = Date.now();
    const r = spawnSync("bash", [INIT, verb], { env, encoding: "utf8", timeout: 30_000 });
    return { code: r.status, out: r.stdout + r.stderr, s: (Date.now() - t) / 1000 };
  };
  const pid = () => Number(readFileSync(join(dir, "pid"), "utf8"));
  return { run, pid, dir };
}

/** Alive and not a zombie (this machine's PID 1 reaps orphans about once a second). */
const alive = (pid: number) => {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
};

describe("the init script", () => {
  test("shellcheck-clean", () => {
    const r = spawnSync("shellcheck", ["-s", "bash", INIT], { encoding: "utf8" });
    if (r.error) throw new Error(`shellcheck is missing: apt-get install shellcheck (${r.error.message})`);
    expect(r.stdout + r.stderr).toBe("");
  });

  test("start-server (the daemon's start-up, then sleep 1), status-server, stop-server polled once a second", () => {
    const i = initEnv(0);
    expect(i.run("status-server")).toMatchObject({ code: 1 });
    const start = i.run("start-server");
    expect(start).toMatchObject({ code: 0 });
    expect(start.out).toMatch(/now running with PID/);
    expect(start.s).toBeGreaterThanOrEqual(1.2);
    expect(start.s).toBeLessThan(2.5);
    expect(i.run("status-server")).toMatchObject({ code: 0 });
    const pid = i.pid();
    // A server that stops at once is still seen only at the next poll, a second later.
    const stop = i.run("stop-server");
    expect(stop.code).toBe(0);
    expect(stop.s).toBeGreaterThanOrEqual(1);
    expect(stop.s).toBeLessThan(2);
    expect(alive(pid)).toBe(false);
    expect(i.run("status")).toMatchObject({ code: 1 });
  }, 20_000);

  test("restart-server: kill, poll once a second until it is gone, then start (sleep 1)", () => {
    const i = initEnv(1.5);
    expect(i.run("start").code).toBe(0);
    const first = i.pid();
    const r = i.run("restart-server");
    expect(r.code).toBe(0);
    // 2 polls (stopped after 1.5 s) + 0.2 s start-up + sleep 1
    expect(r.s).toBeGreaterThanOrEqual(3.1);
    expect(r.s).toBeLessThan(4.5);
    expect(alive(first)).toBe(false);
    expect(i.pid()).not.toBe(first);
    expect(i.run("stop").code).toBe(0);
  }, 20_000);

  test("a server that does not stop: kill -9 after MAXWAIT seconds", () => {
    const i = initEnv(Infinity);
    writeFileSync(join(i.dir, "defaults"), "MAXWAIT=2\n");
    expect(i.run("start-server").code).toBe(0);
    const pid = i.pid();
    const r = i.run("stop-server");
    expect(r.out).toMatch(/kill -9/);
    expect(r.s).toBeGreaterThanOrEqual(2);
    expect(r.s).toBeLessThan(4.5);
    expect(alive(pid)).toBe(false);
    expect(existsSync(join(i.dir, "pid"))).toBe(false);
  }, 20_000);

  test("a daemon that does not come up: start-server fails", () => {
    const i = initEnv(0, { PANDORA_DAEMON: "/bin/true" });
    const r = i.run("start-server");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/Cannot start Pandora FMS Server/);
  });
});
