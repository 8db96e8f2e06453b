/**
 * The split-brain merge's pure parts, against real mariadb-binlog 10.11 output recorded on the
 * lab (test/fixtures/binlog, recorded by test/integration/splitbrain.test.ts with
 * PHA_RECORD_BINLOG_DIR=test/fixtures/binlog): node1, cut off, inserted module data with far-past
 * and future timestamps, text with a newline and text holding the characters "\x0a", two
 * events (one deleted again), validated a pre-split event and its new one, deleted a row.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import type { DecodedTransaction } from "../../runtime/merge";
import { binlogText, binlogValue, DecodedRowsParser, gtidRanges, mergeScript, netInserts, toMerge } from "../../runtime/merge";

const DIR = join(__dirname, "..", "fixtures", "binlog");
const fixture = (name: string) => readFileSync(join(DIR, name), "utf8");
const HISTORIES = JSON.parse(fixture("splitbrain.json")) as { node: string; master: string; start: string };

function parse(text: string): DecodedTransaction[] {
  const p = new DecodedRowsParser("pandora");
  for (const l of text.split("\n")) p.push(l);
  return p.transactions;
}

const gtids = (txs: DecodedTransaction[]) => txs.map((t) => `${t.gtid.domain}-${t.gtid.server}-${t.gtid.seq}`);

describe("DecodedRowsParser", () => {
  const txs = parse(fixture("splitbrain.filtered.txt"));

  test("one transaction per GTID, its row events in order with their images", () => {
    expect(gtids(txs)).toEqual(["0-1-11", "0-1-12", "0-1-13", "0-1-14", "0-1-15", "0-1-16"]);
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
    const validation = txs[3].changes[0];
    expect([validation.before?.[4], validation.after?.[4], validation.before?.[12]]).toEqual(["0", "1", "'sb:e1'"]);
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
});

describe("values as mariadb-binlog prints them", () => {
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
    // Event 5 inserted then validated: its validated image. Event 6 deleted again; event 1 (pre-split) validated: nothing.
    expect(net.get("tevento")?.map((r) => [r[0], r[4], r[12]])).toEqual([["5", "1", "'sb:e3'"]]);
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
    expect(gtidRanges(txs)).toEqual([{ domain: 0n, server: 1n, from: 11n, to: 16n }]);
    expect(toMerge(txs, HISTORIES.master, gtidRanges(txs))).toEqual([]);
    expect(gtids(toMerge(txs, HISTORIES.master, [{ domain: 0n, server: 1n, from: 11n, to: 13n }]))).toEqual(["0-1-14", "0-1-15", "0-1-16"]);
    expect(gtids(toMerge(txs, HISTORIES.master, [{ domain: 0n, server: 2n, from: 11n, to: 16n }]))).toEqual(gtids(txs));
  });
});

describe("mergeScript", () => {
  test("on the node's host: mariadb-binlog from the common position, filtered to what the parser reads", () => {
    // A stand-in mariadb-binlog that prints the recorded whole log and its arguments.
    const dir = mkdtempSync(join(tmpdir(), "pha-merge-"));
    const bin = join(dir, "mariadb-binlog");
    writeFileSync(bin, `#!/bin/sh\necho "# args: $*" >&2\ncat ${join(DIR, "splitbrain.rows.txt")}\n`);
    chmodSync(bin, 0o755);
    const script = mergeScript(HISTORIES.start, dir, ["binlog.000001", "binlog.000002"]);
    const r = spawnSync("sh", ["-c", script], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: "utf8", timeout: 10_000 });
    expect(r.status).toBe(0);
    expect(r.stderr.trim()).toBe("# args: -v --base64-output=decode-rows --start-position=0-1-10 binlog.000001 binlog.000002");
    expect(r.stdout).toBe(fixture("splitbrain.filtered.txt"));
  });
});
