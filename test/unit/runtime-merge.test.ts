/**
 * The split-brain merge's pure parts, against real mariadb-binlog 10.11 output recorded on the
 * lab (test/fixtures/binlog): node1, cut off, inserted module data with far-past and future
 * timestamps, text with a newline and text holding the characters "\x0a", two events (one
 * deleted again), validated a pre-split event and its new one, deleted a row — recorded both as
 * `-v` prints it (splitbrain.rows.txt) and as its default output carries it, BINLOG statements
 * (splitbrain.events.txt), each also through mergeScript's filter. types.*: a table of every
 * column type the event decoder reads, with edge values, and one of types it does not.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { BinlogUnsupported, decodeRows } from "../../runtime/act/binlog-events";
import type { Column, DecodedTransaction, SchemaColumn } from "../../runtime/act/merge";
import { binlogText, binlogValue, BinlogRowsParser, columnsFrom, CUT_SHORT_MARK, DecodedRowsParser, gtidRanges, mergeScript, netInserts, toMerge } from "../../runtime/act/merge";

const DIR = join(__dirname, "..", "fixtures", "binlog");
const fixture = (name: string) => readFileSync(join(DIR, name), "utf8");
const HISTORIES = JSON.parse(fixture("splitbrain.json")) as { node: string; master: string; start: string; columns: SchemaColumn[] };
const COLUMNS = columnsFrom(HISTORIES.columns);

function parse(text: string): DecodedTransaction[] {
  const p = new DecodedRowsParser("pandora");
  for (const l of text.split("\n")) p.push(l);
  p.end();
  return p.transactions;
}

/** BINLOG statements read, and their rows decoded with `columns`. */
function parseEvents(text: string, columns: Map<string, Column[]> = COLUMNS, tables?: string[]): DecodedTransaction[] {
  const p = new BinlogRowsParser("pandora", undefined, tables);
  for (const l of text.split("\n")) p.push(l);
  p.end();
  return p.transactions.map((t) => ({ ...t, changes: (t.encoded ?? []).flatMap((e) => decodeRows(e, columns.get(e.map.table)!)), encoded: undefined }));
}

const gtids = (txs: DecodedTransaction[]) => txs.map((t) => `${t.gtid.domain}-${t.gtid.server}-${t.gtid.seq}`);

describe("DecodedRowsParser (mariadb-binlog -v)", () => {
  const txs = parse(fixture("splitbrain.filtered.txt"));

  test("one transaction per GTID, its row events in order with their images", () => {
    expect(gtids(txs)).toEqual(["0-1-14", "0-1-15", "0-1-16", "0-1-17", "0-1-18", "0-1-19"]);
    expect(txs.map((t) => t.changes.map((c) => `${c.kind} ${c.table}`))).toEqual([
      Array(5).fill("insert tagente_datos"),
      Array(3).fill("insert tagente_datos_string"),
      ["insert tevento", "insert tevento"],
      ["update tevento", "update tevento"],
      ["delete tevento"],
      ["delete tagente_datos"],
    ]);
    expect(txs[0].changes[2].after).toEqual(["7102", "123456.78901234500518", expect.stringMatching(/^\d+$/)]);
    expect(txs[1].changes[0].after?.[1]).toBe("'line1\\x0aline2'");
    // tevento: estado is @5, id_extra @15.
    const validation = txs[3].changes[0];
    expect([validation.before?.[4], validation.after?.[4], validation.before?.[14]]).toEqual(["0", "1", "'sb:e1'"]);
    expect(txs[5].changes[0].before).toEqual(["7103", "-3", "0"]);
    expect(txs.every((t) => t.statements.length === 0)).toBe(true);
  });

  test("the whole decoded log reads the same as what mergeScript's filter sends back", () => {
    expect(parse(fixture("splitbrain.rows.txt"))).toEqual(txs);
  });

  test("rows of another database are left out; a statement naming a merged table is kept (the merge refuses it)", () => {
    const p = new DecodedRowsParser("pandora");
    for (const l of [
      "#261201 12:30:57 server id 1  end_log_pos 5887 CRC32 0x183527f2 \tGTID 0-1-20 ddl",
      "use `pandora`/*!*/;",
      "ALTER TABLE tagente_datos_string ADD COLUMN x INT",
      "### INSERT INTO `other`.`tevento`",
      "### SET",
      "###   @1=1",
    ])
      p.push(l);
    expect(p.transactions[0].changes).toEqual([]);
    expect(p.transactions[0].statements).toEqual(["ALTER TABLE tagente_datos_string ADD COLUMN x INT"]);
  });

  test("each transaction is handed over once its last line is read", () => {
    const seen: string[] = [];
    const p = new DecodedRowsParser("pandora", (tx) => seen.push(`${tx.gtid.seq}:${tx.changes.length}`));
    for (const l of fixture("splitbrain.filtered.txt").split("\n")) p.push(l);
    expect(seen).toEqual(["14:5", "15:3", "16:2", "17:2", "18:1"]);
    p.end();
    expect(seen.at(-1)).toBe("19:1");
  });
});

describe("BinlogRowsParser (BINLOG statements, decoded here)", () => {
  const text = parse(fixture("splitbrain.filtered.txt"));
  const events = parseEvents(fixture("splitbrain.events-filtered.txt"));

  test("the same transactions and row changes as -v, with the values exact (no ambiguous text)", () => {
    expect(gtids(events)).toEqual(gtids(text));
    expect(events.map((t) => t.changes.map((c) => `${c.kind} ${c.table}`))).toEqual(text.map((t) => t.changes.map((c) => `${c.kind} ${c.table}`)));
    expect(events[0].changes.map((c) => c.after)).toEqual([
      [7100, 1.25, 1_000_000_000],
      [7101, 2.5, expect.any(Number)],
      [7102, 123456.789012345, expect.any(Number)],
      [7103, -3, 0],
      [7104, 42, expect.any(Number)],
    ]);
    // What -v prints the same way ('line1\x0aline2', 'C:\x0a is text') is told apart.
    expect(events[1].changes.map((c) => c.after?.[1])).toEqual(["line1\nline2", "C:\\x0a is text", "plain ✓"]);
    // Every value -v prints unambiguously is the decoded one.
    for (const [t, tx] of text.entries()) {
      for (const [c, change] of tx.changes.entries()) {
        const cols = COLUMNS.get(change.table)!;
        for (const side of ["before", "after"] as const) {
          const decoded = events[t].changes[c][side];
          (change[side] ?? []).forEach((printed, i) => {
            const v = binlogValue(String(printed), cols[i]);
            if (v.ambiguous) return;
            const want = v.value === null ? null : cols[i].numeric ? Number(v.value) : /^(enum|set)$/.test(HISTORIES.columns.find((x) => x.t === change.table && x.c === cols[i].name)!.dt) ? Number(v.value) : v.value;
            expect([change.table, cols[i].name, decoded?.[i]]).toEqual([change.table, cols[i].name, want]);
          });
        }
      }
    }
  });

  test("the whole output reads the same as what mergeScript's filter sends back", () => {
    expect(parseEvents(fixture("splitbrain.events.txt"))).toEqual(events);
  });

  test("what the tail leaves: the same net rows as from -v", () => {
    const net = netInserts(events);
    expect(net.get("tagente_datos")?.map((r) => r[0])).toEqual([7100, 7101, 7102, 7104]);
    expect(net.get("tevento")?.map((r) => [r[0], r[4], r[14]])).toEqual([[3, 1, "sb:e3"]]);
  });

  test("every column type it reads, as SELECT returns it (edge values, NULLs, an update, a delete)", () => {
    const types = JSON.parse(fixture("types.json")) as { columns: SchemaColumn[]; rows: Array<Record<string, unknown>> };
    const cols = columnsFrom(types.columns);
    const p = new BinlogRowsParser("pandora", undefined, ["pha_types", "pha_types_odd"]);
    for (const l of fixture("types.events.txt").split("\n")) p.push(l);
    p.end();
    const encoded = p.transactions.flatMap((t) => t.encoded ?? []);
    const [inserts, update, del] = encoded.filter((e) => e.map.table === "pha_types").map((e) => decodeRows(e, cols.get("pha_types")!));
    /** A row as SELECT returned it, as the decoder gives it: ENUM/SET as their index/bits, FLOAT as float32, bytes as Buffers. */
    const asDecoded = (r: Record<string, unknown>) =>
      cols.get("pha_types")!.map(({ name }) => {
        const v = r[name];
        if (v === null) return null;
        if (name === "e") return ["a", "b", "c"].indexOf(String(v)) + 1;
        if (name === "st") return String(v).split(",").filter(Boolean).reduce((a, m) => a | (1 << ["x", "y", "z"].indexOf(m)), 0);
        if (name === "f") return Math.fround(Number(v));
        if (typeof v === "object" && (v as { type?: string }).type === "Buffer") return Buffer.from((v as { data: number[] }).data);
        return v;
      });
    expect(inserts.map((c) => c.kind)).toEqual(["insert", "insert", "insert"]);
    expect(inserts[0].after).toEqual(asDecoded(types.rows[0]));
    expect(inserts[2].after).toEqual(Array(cols.get("pha_types")!.length).fill(null));
    expect(update[0].before).toEqual(inserts[1].after);
    expect(update[0].after).toEqual(asDecoded(types.rows[1]));
    expect(update[0].after?.slice(8, 10)).toEqual(["9007199254740993", "9007199254740992"]);
    expect(del).toEqual([{ kind: "delete", table: "pha_types", before: inserts[2].after }]);
    // TIME, TIMESTAMP, BIT, latin1 text: not decoded here (the merge reads such a tail through -v).
    const odd = encoded.find((e) => e.map.table === "pha_types_odd")!;
    expect(() => decodeRows(odd, cols.get("pha_types_odd")!)).toThrow(BinlogUnsupported);
    expect(() => decodeRows(odd, cols.get("pha_types_odd")!)).toThrow(/pha_types_odd\.tm: column type 19/);
  });

  test("a compressed event on a transaction is recorded on it (the merge then reads the tail through -v)", () => {
    const p = new BinlogRowsParser("pandora");
    const fde = fixture("splitbrain.events.txt").split("\n");
    for (const l of fde.slice(0, fde.indexOf("'/*!*/;") + 1)) p.push(l);
    p.push("#261201 12:30:57 server id 1  end_log_pos 5887 CRC32 0x183527f2 \tGTID 0-1-20 trans");
    const compressed = Buffer.alloc(23);
    compressed[4] = 166;
    compressed.writeUInt32LE(23, 9);
    for (const l of ["BINLOG '", compressed.toString("base64"), "'/*!*/;"]) p.push(l);
    p.end();
    expect(p.transactions[0].unsupported).toMatch(/compressed/);
  });
});

describe("values as mariadb-binlog -v prints them", () => {
  const signed = { name: "x", unsigned: false };
  const unsigned = { name: "x", unsigned: true };

  test("numbers, NULL, and an integer printed signed and unsigned (recorded: INT UNSIGNED 4000000000)", () => {
    expect(binlogValue("123456.78901234500518", signed)).toEqual({ value: "123456.78901234500518", ambiguous: false });
    expect(Number(binlogValue("123456.78901234500518", signed).value)).toBe(123456.789012345);
    expect(binlogValue("NULL", signed).value).toBeNull();
    expect(binlogValue("'NULL'", signed).value).toBe("NULL");
    expect(binlogValue("-294967296 (4000000000)", unsigned).value).toBe("4000000000");
    expect(binlogValue("-3 (4294967293)", signed).value).toBe("-3");
  });

  test("text: quotes and backslashes as they are, control characters as \\xHH — so those are ambiguous", () => {
    expect(binlogValue("'plain ✓'", signed)).toEqual({ value: "plain ✓", ambiguous: false });
    expect(binlogValue("'it's C:\\temp\\x41'", signed)).toEqual({ value: "it's C:\\temp\\x41", ambiguous: false });
    expect(binlogValue("'line1\\x0aline2'", signed)).toEqual({ value: "line1\nline2", ambiguous: true });
    // Recorded: a newline and the four characters \x0a print the same.
    expect(binlogText("line1\nline2")).toBe("'line1\\x0aline2'");
    expect(binlogText("C:\\x0a is text")).toBe("'C:\\x0a is text'");
    expect(binlogText("tab\there")).toBe("'tab\\x09here'");
  });
});

describe("what the tail leaves, what is left to merge", () => {
  const txs = parse(fixture("splitbrain.filtered.txt"));

  test("inserts net of the tail's own updates and deletes; changes to older rows are not inserts", () => {
    const net = netInserts(txs);
    expect(net.get("tagente_datos")?.map((r) => r[0])).toEqual(["7100", "7101", "7102", "7104"]);
    expect(net.get("tagente_datos_string")?.length).toBe(3);
    // Event 3 inserted then validated: its validated image. Event 4 deleted again; event 1 (pre-split) validated: nothing.
    expect(net.get("tevento")?.map((r) => [r[0], r[4], r[14]])).toEqual([["3", "1", "'sb:e3'"]]);
  });

  test("two identical rows inserted and one deleted leave one", () => {
    const row = ["1", "2", "3"];
    const t = (kind: "insert" | "delete", seq: bigint): DecodedTransaction => ({
      gtid: { domain: 0n, server: 1n, seq },
      changes: [kind === "insert" ? { kind, table: "tagente_datos", after: row } : { kind, table: "tagente_datos", before: row }],
      statements: [],
    });
    expect(netInserts([t("insert", 1n), t("insert", 2n), t("delete", 3n)]).get("tagente_datos")).toEqual([row]);
  });

  test("diverged: not in the master's history; merged before: in a recorded range", () => {
    expect(gtids(toMerge(txs, HISTORIES.master, []))).toEqual(gtids(txs));
    expect(toMerge(txs, HISTORIES.node, [])).toEqual([]);
    expect(gtidRanges(txs)).toEqual([{ domain: 0n, server: 1n, from: 14n, to: 19n }]);
    expect(toMerge(txs, HISTORIES.master, gtidRanges(txs))).toEqual([]);
    expect(gtids(toMerge(txs, HISTORIES.master, [{ domain: 0n, server: 1n, from: 14n, to: 16n }]))).toEqual(["0-1-17", "0-1-18", "0-1-19"]);
    expect(gtids(toMerge(txs, HISTORIES.master, [{ domain: 0n, server: 2n, from: 14n, to: 19n }]))).toEqual(gtids(txs));
  });
});

describe("mergeScript", () => {
  /** Runs the script with a stand-in mariadb-binlog that prints `output` and its arguments. */
  function runWith(output: string, mode: "events" | "verbose") {
    const dir = mkdtempSync(join(tmpdir(), "pha-merge-"));
    const bin = join(dir, "mariadb-binlog");
    writeFileSync(bin, `#!/bin/sh\necho "# args: $*" >&2\ncat ${join(DIR, output)}\n`);
    chmodSync(bin, 0o755);
    const script = mergeScript(HISTORIES.start, dir, ["binlog.000001", "binlog.000002"], mode);
    return spawnSync("sh", ["-c", script], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: "utf8", timeout: 10_000 });
  }

  test("on the node's host: mariadb-binlog from the common position, its BINLOG statements filtered to what the parser reads", () => {
    const r = runWith("splitbrain.events.txt", "events");
    expect(r.status).toBe(0);
    expect(r.stderr.trim()).toBe("# args: --start-position=0-1-13 binlog.000001 binlog.000002");
    expect(r.stdout).toBe(fixture("splitbrain.events-filtered.txt"));
  });

  test("a last transaction without its COMMIT (cut short by a crash, rolled back by the server) is marked and not merged", () => {
    const dir = mkdtempSync(join(tmpdir(), "pha-merge-"));
    const bin = join(dir, "mariadb-binlog");
    writeFileSync(bin, `#!/bin/sh\ncat ${join(dir, "cut.txt")}\n`);
    chmodSync(bin, 0o755);
    for (const mode of ["verbose", "events"] as const) {
      const source = fixture(mode === "verbose" ? "splitbrain.rows.txt" : "splitbrain.events.txt");
      writeFileSync(join(dir, "cut.txt"), source.slice(0, source.lastIndexOf("COMMIT/*!*/;")));
      const r = spawnSync("sh", ["-c", mergeScript(HISTORIES.start, dir, ["binlog.000001"], mode)], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: "utf8" });
      expect(r.stdout.trimEnd().endsWith(CUT_SHORT_MARK)).toBe(true);
      const txs = mode === "verbose" ? parse(r.stdout) : parseEvents(r.stdout);
      expect(gtids(txs)).toEqual(["0-1-14", "0-1-15", "0-1-16", "0-1-17", "0-1-18"]);
    }
  });

  test("a DDL ending the output (no START TRANSACTION, no COMMIT) is not taken for a transaction cut short", () => {
    const dir = mkdtempSync(join(tmpdir(), "pha-merge-"));
    const ddl = ["# at 21218", "#261201 17:02:36 server id 1  end_log_pos 21260 CRC32 0x45e421d2 \tGTID 0-1-24 ddl", "ALTER TABLE tevento ADD COLUMN x INT", "/*!*/;"].join("\n");
    writeFileSync(join(dir, "mariadb-binlog"), `#!/bin/sh\ncat ${join(DIR, "splitbrain.events.txt")} ${join(dir, "ddl.txt")}\n`);
    writeFileSync(join(dir, "ddl.txt"), `${ddl}\n`);
    chmodSync(join(dir, "mariadb-binlog"), 0o755);
    const r = spawnSync("sh", ["-c", mergeScript(HISTORIES.start, dir, ["binlog.000001"], "events")], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: "utf8" });
    expect(r.stdout).not.toContain(CUT_SHORT_MARK);
    const txs = parseEvents(r.stdout);
    expect(gtids(txs)).toEqual(["0-1-14", "0-1-15", "0-1-16", "0-1-17", "0-1-18", "0-1-19", "0-1-24"]);
    expect(txs[6].statements).toEqual(["ALTER TABLE tevento ADD COLUMN x INT"]);
  });

  test("verbose: its -v rows, filtered the same way", () => {
    const r = runWith("splitbrain.rows.txt", "verbose");
    expect(r.status).toBe(0);
    expect(r.stderr.trim()).toBe("# args: -v --base64-output=decode-rows --start-position=0-1-13 binlog.000001 binlog.000002");
    expect(r.stdout).toBe(fixture("splitbrain.filtered.txt"));
  });
});
