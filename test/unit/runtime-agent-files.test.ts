/**
 * The agent files pandora_ha keeps for the data server (runtime/act/agent-files.ts), on real
 * files: kept as Tentacle puts them in the incoming directory, noticed when the server takes
 * them, handed back once when their values are not on the master. The master is a query function
 * here (the integration tests ask a real one).
 */
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import type { Query } from "../../runtime/act/agent-files";
import type { MasterRow } from "./fake-master";
import { fakeMaster } from "./fake-master";
import { AgentFileKeeper, KEPT_DIR, MAX_HAND_BACKS, pandoraEncoded, readAgentFile, storedFiles } from "../../runtime/act/agent-files";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What Debian's pandora_agent 4.1 sends: CDATA everywhere. */
const xml = (agent: string, seq: number, extra = "") =>
  `<?xml version='1.0' encoding='ISO-8859-1'?>\n<agent_data description='' group='' os_name='linux' os_version='Debian' interval='1' version='4.1(Build 150929)' timestamp='2026/12/02 14:00:0${seq % 10}' agent_name='${agent}' timezone_offset='0' address='127.0.0.1' parent_agent_name=''>\n` +
  `  <module>\n    <name><![CDATA[seq]]></name>\n    <description><![CDATA[]]></description>\n    <type><![CDATA[generic_data]]></type>\n    <data><![CDATA[${seq}]]></data>\n  </module>\n${extra}</agent_data>\n`;

describe("readAgentFile", () => {
  test("the agent and each value, with the table the server stores it in", () => {
    const extra =
      "  <module><name>up &amp; running</name><type>generic_proc</type><data>1</data></module>\n" +
      "  <module><name><![CDATA[msg]]></name><type><![CDATA[async_string]]></type><data><![CDATA[a <b> c]]></data></module>\n" +
      "  <module><name>bytes</name><type>generic_data_inc</type><data>100</data></module>\n" +
      "  <module><name>list</name><type>generic_data</type><datalist><data><value>1</value></data></datalist></module>\n" +
      "  <module><name>ping</name><type>keep_alive</type><data>1</data></module>\n";
    const f = readAgentFile(xml("web-1", 7, extra))!;
    expect(f.agent).toBe("web-1");
    expect(f.xmlTime).toBe(Math.floor(new Date(2026, 11, 2, 14, 0, 7).getTime() / 1000));
    expect(f.values).toEqual([
      { module: "seq", table: "tagente_datos", data: "7" },
      { module: "up & running", table: "tagente_datos", data: "1" },
      { module: "msg", table: "tagente_datos_string", data: "a <b> c" },
      { module: "bytes", table: "tagente_datos", data: undefined },
    ]);
  });

  test("an attribute in either quote may hold the other one, and a '>'; a module without a type is skipped", () => {
    const mod = "<module><name>up</name><type>generic_proc</type><data>1</data></module><module><name>untyped</name><data>2</data></module>";
    expect(readAgentFile(`<agent_data description="a > b" agent_name="O'Brien" timestamp="2026/12/02 14:00:07">${mod}</agent_data>`)).toEqual({
      agent: "O'Brien",
      xmlTime: Math.floor(new Date(2026, 11, 2, 14, 0, 7).getTime() / 1000),
      values: [{ module: "up", table: "tagente_datos", data: "1" }],
    });
    expect(readAgentFile(`<agent_data agent_name='say "hi"' os_name='linux'></agent_data>`)?.agent).toBe('say "hi"');
    expect(readAgentFile(`<agent_data os_name="it's" agent_name='web-1'></agent_data>`)?.agent).toBe("web-1");
  });

  test("not agent data: undefined", () => {
    expect(readAgentFile("<?xml version='1.0'?><other/>")).toBeUndefined();
    expect(readAgentFile("<agent_data version='1'></agent_data>")).toBeUndefined();
    expect(readAgentFile("")).toBeUndefined();
  });
});

const storedNames = async (...args: Parameters<typeof storedFiles>) => [...(await storedFiles(...args)).stored].sort();

describe("pandoraEncoded", () => {
  test("as the real server's safe_input: & < > \" ' \\ ( ) as entities, codes 0–32 and 128–191 as &#x<2 hex>;, Latin-1 letters by name", () => {
    expect(pandoraEncoded("Agent [x] created")).toBe("Agent&#x20;[x]&#x20;created");
    expect(pandoraEncoded(`a&b<c>d"e'f\\g(h)`)).toBe("a&amp;b&lt;c&gt;d&quot;e&#039;f&#92;g&#40;h&#41;");
    expect(pandoraEncoded("\x00\t\n\r\x1f !")).toBe("&#x00;&#x09;&#x0a;&#x0d;&#x1f;&#x20;!");
    // & first: the entities written are not encoded again.
    expect(pandoraEncoded("& <")).toBe("&amp;&#x20;&lt;");
    expect(pandoraEncoded("&amp;")).toBe("&amp;amp;");
    expect(pandoraEncoded("agent01 José ñ ¿-_.:[]{}")).toBe("agent01&#x20;Jos&eacute;&#x20;&ntilde;&#x20;&#xbf;-_.:[]{}");
  });
});

describe("storedFiles", () => {
  const file = (name: string, agent: string, seq: number, time: number) => ({ name, time, file: readAgentFile(xml(agent, seq)) });
  test("a file counts as stored when every value has its row at the data's time; values and times must match", async () => {
    const m = fakeMaster([
      { table: "tagente_datos", agent: "a1", module: "seq", t: 1000, v: 5 },
      { table: "tagente_datos", agent: "a1", module: "seq", t: 1001, v: 7 },
    ]);
    const stored = await storedNames(m.query, [file("x.data", "a1", 5, 1000), file("y.data", "a1", 6, 1001), file("z.data", "a2", 5, 1000), { name: "bad.data", time: 1000, file: undefined }]);
    expect(stored).toEqual(["bad.data", "x.data"]);
  });

  test("names and string data match whether the server stored them entity-encoded (safe_input) or not", async () => {
    const body =
      "  <module><name>free space (MB) é</name><type>generic_data</type><data>12</data></module>\n" +
      "  <module><name>msg</name><type>generic_data_string</type><data><![CDATA[C:\\ is <full> & 'stuck' ñ]]></data></module>\n";
    const f = { name: "o.data", time: 1000, file: readAgentFile(`<agent_data agent_name="O'Brien &amp; José" timestamp='2026/12/02 14:00:00'>\n${body}</agent_data>`) };
    expect(f.file?.agent).toBe("O'Brien & José");
    const rows = (enc: (s: string) => string, msg = "C:\\ is <full> & 'stuck' ñ"): MasterRow[] => [
      { table: "tagente_datos", agent: enc("O'Brien & José"), module: enc("free space (MB) é"), t: 1000, v: 12 },
      { table: "tagente_datos_string", agent: enc("O'Brien & José"), module: enc("msg"), t: 1000, v: enc(msg) },
    ];
    // Encoded as the real server does, with &#39; as older ones did, or not at all: found.
    expect(await storedNames(fakeMaster(rows(pandoraEncoded)).query, [f])).toEqual(["o.data"]);
    expect(await storedNames(fakeMaster(rows((x) => pandoraEncoded(x).replace(/&#039;/g, "&#39;"))).query, [f])).toEqual(["o.data"]);
    expect(await storedNames(fakeMaster(rows((x) => x)).query, [f])).toEqual(["o.data"]);
    // Another string: not.
    expect(await storedNames(fakeMaster(rows(pandoraEncoded, "C:\\ is <full>")).query, [f])).toEqual([]);
  });

  test("a character reference beyond Unicode, in the file or on the master, is text, not an error", async () => {
    const f = { name: "u.data", time: 1000, file: readAgentFile("<agent_data agent_name='a&#99999999;'><module><name>m</name><type>async_string</type><data>&#x110000;</data></module></agent_data>") };
    expect(f.file).toMatchObject({ agent: "a&#99999999;", values: [{ data: "&#x110000;" }] });
    const m = fakeMaster([{ table: "tagente_datos_string", agent: "a&#99999999;", module: "m", t: 1000, v: "&#x110000;" }]);
    expect(await storedNames(m.query, [f])).toEqual(["u.data"]);
  });

  test("a numeric value written with a decimal comma compares as with a point", async () => {
    const f = { name: "c.data", time: 1000, file: readAgentFile("<agent_data agent_name='a1'><module><name>load</name><type>generic_data</type><data>3,5</data></module></agent_data>") };
    const row = (v: unknown): MasterRow[] => [{ table: "tagente_datos", agent: "a1", module: "load", t: 1000, v }];
    expect(await storedNames(fakeMaster(row(3.5)).query, [f])).toEqual(["c.data"]);
    expect(await storedNames(fakeMaster(row(35)).query, [f])).toEqual([]);
    expect(await storedNames(fakeMaster(row(3)).query, [f])).toEqual([]);
  });

  test("a value equal to the module's last row before it counts as stored (the server's compression writes none); a different one does not", async () => {
    const f = (name: string, up: number, seq: number, t: number) => ({
      name, time: t,
      file: readAgentFile(`<agent_data agent_name='a1'><module><name>up</name><type>generic_proc</type><data>${up}</data></module><module><name>seq</name><type>generic_data</type><data>${seq}</data></module></agent_data>`),
    });
    const m = fakeMaster([
      { table: "tagente_datos", agent: "a1", module: "up", t: 900, v: 1 },
      { table: "tagente_datos", agent: "a1", module: "seq", t: 1000, v: 5 },
      { table: "tagente_datos", agent: "a1", module: "seq", t: 1001, v: 6 },
    ]);
    // up = 1 at 900, no row since: 1 at 1000 was compressed away; seq has its rows.
    expect(await storedNames(m.query, [f("x.data", 1, 5, 1000), f("y.data", 0, 6, 1001), f("z.data", 1, 7, 1002)])).toEqual(["x.data"]);
    // A flap lost (0 at 1001, 1 at 1002): the 1 after the lost 0 is no repeat of 900's; both lack.
    expect(await storedNames(m.query, [f("z.data", 1, 7, 1002), f("y.data", 0, 6, 1001)])).toEqual([]);
    // The last row a day old or more: the server writes the equal value again.
    expect(await storedNames(m.query, [f("d.data", 1, 5, 900 + 86_400)])).toEqual([]);
  });

  test("the rows asked for: exactly the batch's distinct times, sorted, not a range", async () => {
    const m = fakeMaster([
      { table: "tagente_datos", agent: "a1", module: "seq", t: 1000, v: 1 },
      { table: "tagente_datos", agent: "a1", module: "seq", t: 1003, v: 3 },
    ]);
    const stored = await storedNames(m.query, [file("p.data", "a1", 3, 1003), file("q.data", "a1", 1, 1000), file("r.data", "a1", 3, 1003), file("s.data", "a1", 2, 1001)]);
    expect(stored).toEqual(["p.data", "q.data", "r.data"]);
    const atTimes = m.asked.filter((a) => / JOIN /.test(a.sql));
    expect(atTimes.map((a) => /JOIN (\w+) d /.exec(a.sql)![1])).toEqual(["tagente_datos", "tagente_datos_string"]);
    for (const { sql, values } of atTimes) {
      expect(sql).not.toMatch(/BETWEEN/);
      expect(values).toEqual([[1], [1000, 1001, 1003]]);
    }
  });

  test("past its deadline, the files not looked at yet come back unchecked (not lacking), the older ones answered", async () => {
    const files = Array.from({ length: 201 }, (_, n) => file(`f${n}.data`, "a1", 1, 1000 + n));
    const rows: MasterRow[] = files.map((f) => ({ table: "tagente_datos", agent: "a1", module: "seq", t: f.time, v: 1 }));
    const late = await storedFiles(fakeMaster(rows, 30).query, [...files].reverse(), 20);
    expect(late.stored.size).toBe(200);
    expect([...late.unchecked]).toEqual(["f200.data"]);
    // Within the (default) deadline: every batch.
    expect((await storedFiles(fakeMaster(rows, 30).query, files)).stored.size).toBe(201);
  });

  test("past its deadline among the compression look-ups, the rest come back unchecked, none lacking", async () => {
    const up = (n: number) => ({ name: `u${n}.data`, time: 1000 + n, file: readAgentFile("<agent_data agent_name='a1'><module><name>up</name><type>generic_proc</type><data>1</data></module></agent_data>") });
    const files = Array.from({ length: 20 }, (_, n) => up(n));
    const r = await storedFiles(fakeMaster([{ table: "tagente_datos", agent: "a1", module: "up", t: 900, v: 1 }], 20).query, files, 150);
    expect(r.stored.size).toBeGreaterThan(0);
    expect(r.unchecked.size).toBeGreaterThan(0);
    expect(r.stored.size + r.unchecked.size).toBe(20);
  });
});

describe("AgentFileKeeper", () => {
  const keepers: AgentFileKeeper[] = [];
  afterEach(() => keepers.splice(0).forEach((k) => k.stop()));

  function setUp(keepMs = 600_000) {
    const incoming = mkdtempSync(path.join(tmpdir(), "pha-data-in-"));
    const warnings: string[] = [];
    const notes: Array<Record<string, unknown>> = [];
    const k = new AgentFileKeeper(incoming, keepMs, false, (m) => warnings.push(m), (n) => notes.push(n));
    keepers.push(k);
    k.start();
    /** As Tentacle does: under a temporary name, then renamed. */
    const arrive = (name: string, body: string, mtime?: number) => {
      const tmp = path.join(incoming, `.${name}.tmp`);
      writeFileSync(tmp, body);
      if (mtime) utimesSync(tmp, mtime, mtime);
      renameSync(tmp, path.join(incoming, name));
    };
    /** As the data server does: deleted before it is stored. */
    const take = (name: string) => unlinkSync(path.join(incoming, name));
    const dataFiles = () => readdirSync(incoming).filter((n) => n.endsWith(".data")).sort();
    /** Taken by the server a moment after they arrived, while its master was in trouble. */
    const takenInTrouble = async (...names: string[]) => {
      await sleep(50);
      for (const n of names) take(n);
      k.trouble();
    };
    return { incoming, k, arrive, take, takenInTrouble, dataFiles, warnings, notes };
  }

  test("its log notes: each trouble period's start and end, each look (files, handed back), a file taken before it could be kept", async () => {
    const { k, arrive, take, notes } = setUp();
    k.seen(true, Date.parse("2026-12-03T10:00:00Z"));
    k.seen(true);
    arrive("a1.1.data", xml("a1", 1));
    await sleep(50);
    take("a1.1.data");
    k.seen(false);
    await k.handBack(async () => []);
    // Gone before the keeper saw it: nothing could bring it back.
    arrive("a1.2.data", xml("a1", 2));
    take("a1.2.data");
    await sleep(300);
    expect(notes).toEqual([
      { agent_files: "trouble", since: "2026-12-03T10:00:00.000Z" },
      { agent_files: "trouble_end", since: "2026-12-03T10:00:00.000Z" },
      { agent_files: "looked_at", files: 1, unchecked: 0, handed_back: ["a1.1.data"] },
      // Once, however many watch events the file gave.
      { agent_files: "taken_unkept", file: "a1.2.data" },
    ]);
  });

  test("its kept directory removed under it: a warning, made again; the file still waiting and the next one kept again; nothing noted as taken", async () => {
    const { incoming, k, arrive, warnings, notes } = setUp();
    arrive("a1.1.data", xml("a1", 1));
    await sleep(100);
    expect(existsSync(path.join(k.keptDir, "a1.1.data"))).toBe(true);
    rmSync(k.keptDir, { recursive: true });
    arrive("a1.2.data", xml("a1", 2));
    await sleep(100);
    k.scan();
    expect(warnings).toEqual([expect.stringContaining(`${k.keptDir} was removed: made again; 0 kept files taken by the server went with it`)]);
    for (const f of ["a1.1.data", "a1.2.data"]) expect(existsSync(path.join(k.keptDir, f)), f).toBe(true);
    expect(notes).toEqual([]);
    expect(existsSync(path.join(incoming, "a1.1.data"))).toBe(true);
  });

  test("a file taken and not stored is handed back (at most MAX_HAND_BACKS times), its mtime (the data's time) unchanged; one stored is dropped", async () => {
    // A keep time shorter than the wait below: a file waiting again is kept however long.
    const { incoming, k, arrive, take, takenInTrouble, dataFiles } = setUp(200);
    arrive("a1.1.data", xml("a1", 1), 1_700_000_000);
    arrive("a1.2.data", xml("a1", 2), 1_700_000_001);
    arrive("other.conf", "not agent data");
    await takenInTrouble("a1.1.data", "a1.2.data");
    // The master holds a1.2's value, not a1.1's.
    const { query } = fakeMaster([{ table: "tagente_datos", agent: "a1", module: "seq", t: 1_700_000_001, v: "2" }]);
    const h = await k.handBack(query);
    expect(h).toEqual({ checked: 2, handedBack: ["a1.1.data"] });
    expect(dataFiles()).toEqual(["a1.1.data"]);
    expect(statSync(path.join(incoming, "a1.1.data")).mtimeMs).toBe(1_700_000_000_000);
    expect(readFileSync(path.join(incoming, "a1.1.data"), "utf8")).toBe(xml("a1", 1));
    expect(readdirSync(path.join(incoming, KEPT_DIR))).toEqual(["a1.1.data"]);
    // Waiting in the incoming directory again (the server down), however long: still kept.
    await sleep(300);
    expect(readdirSync(path.join(incoming, KEPT_DIR))).toEqual(["a1.1.data"]);
    // Taken again in trouble and still not stored: handed back again, up to MAX_HAND_BACKS times.
    for (let i = 1; i < MAX_HAND_BACKS; i++) {
      take("a1.1.data");
      k.trouble();
      expect((await k.handBack(query)).handedBack).toEqual(["a1.1.data"]);
    }
    take("a1.1.data");
    k.trouble();
    expect((await k.handBack(query)).handedBack).toEqual([]);
    expect(dataFiles()).toEqual([]);
  });

  test("two hand-backs at once look at a file once", async () => {
    const { k, arrive, takenInTrouble, dataFiles } = setUp();
    arrive("a1.1.data", xml("a1", 1));
    await takenInTrouble("a1.1.data");
    const slow: Query = async () => {
      await sleep(100);
      return [];
    };
    const [a, b] = await Promise.all([k.handBack(slow), k.handBack(slow)]);
    expect([...a.handedBack, ...b.handedBack]).toEqual(["a1.1.data"]);
    expect(dataFiles()).toEqual(["a1.1.data"]);
  });

  test("while the server runs only files taken a while ago are looked at; a master that cannot be asked then is asked later", async () => {
    const { k, arrive, takenInTrouble, dataFiles } = setUp();
    arrive("a1.1.data", xml("a1", 1));
    await takenInTrouble("a1.1.data");
    const none: Query = async () => [];
    expect(await k.handBack(none, 60_000)).toEqual({ checked: 0, handedBack: [] });
    await sleep(300);
    const failing: Query = async () => {
      throw new Error("connection lost");
    };
    await expect(k.handBack(failing, 200)).rejects.toThrow(/connection lost/);
    expect((await k.handBack(none, 200)).handedBack).toEqual(["a1.1.data"]);
    expect(dataFiles()).toEqual(["a1.1.data"]);
  });

  test("trouble seen from the first bad sight to the first good one: a file taken in between is looked at, one taken after is not", async () => {
    const { k, arrive, take, dataFiles } = setUp();
    const none: Query = async () => [];
    k.seen(false);
    // In trouble since a minute ago, with no sight of the master since (a long failover).
    k.seen(true, Date.now() - 60_000);
    arrive("a1.1.data", xml("a1", 1));
    await sleep(50);
    take("a1.1.data");
    expect((await k.handBack(none)).handedBack).toEqual(["a1.1.data"]);
    // Closed later: a file taken in the middle of the period is still looked at (not only its ends).
    arrive("a1.3.data", xml("a1", 3));
    await sleep(50);
    take("a1.3.data");
    k.seen(false, Date.now() + 30_000);
    expect((await k.handBack(none)).handedBack).toEqual(["a1.3.data"]);
    expect(dataFiles()).toEqual(["a1.1.data", "a1.3.data"]);
  });

  test("a file taken well after a trouble period closed is not looked at", async () => {
    const { k, arrive, take } = setUp();
    k.seen(true, Date.now() - 60_000);
    k.seen(false, Date.now() - 50_000);
    arrive("a1.2.data", xml("a1", 2));
    await sleep(50);
    take("a1.2.data");
    expect((await k.handBack(async () => [])).checked).toBe(0);
  });

  test("links kept by an earlier run: those taken then are looked at (that run's trouble periods are gone), even past the keep time; one still waiting is kept", async () => {
    const incoming = mkdtempSync(path.join(tmpdir(), "pha-data-in-"));
    const kept = path.join(incoming, KEPT_DIR);
    mkdirSync(kept);
    writeFileSync(path.join(kept, "old.data"), xml("a1", 1));
    writeFileSync(path.join(incoming, "waiting.data"), xml("a1", 2));
    linkSync(path.join(incoming, "waiting.data"), path.join(kept, "waiting.data"));
    await sleep(300);
    writeFileSync(path.join(kept, "recent.data"), xml("a1", 3));
    const k = new AgentFileKeeper(incoming, 250, false, () => undefined);
    keepers.push(k);
    k.start();
    expect(readdirSync(kept).sort()).toEqual(["old.data", "recent.data", "waiting.data"]);
    // Looked at with no trouble seen by this run, and handed back (the master has none of them).
    expect((await k.handBack(async () => [])).handedBack.sort()).toEqual(["old.data", "recent.data"]);
  });

  test("only files taken while the master was in trouble (or shortly before) are looked at; one the server found unreadable is not handed back", async () => {
    const { k, arrive, take, dataFiles, incoming } = setUp();
    const asked: string[] = [];
    const none: Query = async (sql) => {
      asked.push(sql);
      return [];
    };
    arrive("a1.1.data", xml("a1", 1));
    await sleep(50);
    take("a1.1.data");
    // All was well: a module whose values the server does not keep must not bring its file back.
    expect(await k.handBack(none)).toEqual({ checked: 0, handedBack: [] });
    expect(asked).toEqual([]);
    // Trouble long after it was taken: still not.
    k.trouble(Date.now() + 60_000);
    expect((await k.handBack(none)).checked).toBe(0);
    // Trouble seen a moment after it was taken (a probe sees a death late): it is.
    k.trouble(Date.now() + 1000);
    arrive("a1.2.data", "<agent_data agent_name='a1'><module>");
    await sleep(50);
    take("a1.2.data");
    writeFileSync(path.join(incoming, "a1.2.data_BADXML"), "");
    expect(await k.handBack(none)).toEqual({ checked: 1, handedBack: ["a1.1.data"] });
    expect(dataFiles()).toEqual(["a1.1.data"]);
  });

  test("a file waiting in the incoming directory stays kept however long; one taken is dropped after the keep time", async () => {
    const { incoming, k, arrive, take } = setUp(300);
    arrive("a1.1.data", xml("a1", 1));
    arrive("a1.2.data", xml("a1", 2));
    await sleep(100);
    take("a1.1.data");
    await sleep(700);
    k.scan();
    expect(readdirSync(path.join(incoming, KEPT_DIR))).toEqual(["a1.2.data"]);
  });

  test("a file taken in trouble that no writable master has looked at outlives the keep time; looked at, it goes with it", async () => {
    const { incoming, k, arrive, takenInTrouble } = setUp(300);
    arrive("a1.1.data", xml("a1", 1));
    await takenInTrouble("a1.1.data");
    await sleep(700);
    k.scan();
    expect(readdirSync(path.join(incoming, KEPT_DIR))).toEqual(["a1.1.data"]);
    const { query } = fakeMaster([{ table: "tagente_datos", agent: "a1", module: "seq", t: Math.floor(statSync(path.join(incoming, KEPT_DIR, "a1.1.data")).mtimeMs / 1000), v: 1 }]);
    expect(await k.handBack(query)).toEqual({ checked: 1, handedBack: [] });
    expect(readdirSync(path.join(incoming, KEPT_DIR))).toEqual([]);
  });
});
