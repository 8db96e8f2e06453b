/**
 * The failover's verdict on an old master's tail (runtime/act/tails.ts), against a connection
 * that answers as the server would: which statements run, what a failed read means. The SQL
 * itself runs on real servers in the split-brain and agents integration tests.
 */
import { describe, expect, test } from "vitest";
import type { Ctx } from "../../runtime/act/context";
import { ActionError } from "../../runtime/act/context";
import { clearTail, ensureTable, recordTail, tailVerdict } from "../../runtime/act/tails";
import type { NodeConnection, NodeSession } from "../../runtime/observe/probe";

type Answer = (sql: string, values: unknown[]) => unknown[] | Error;

function fakeConn(answer: Answer) {
  const sent: string[] = [];
  const conn = {
    async admin(sql: string, values: unknown[] = []) {
      sent.push(sql);
      const r = answer(sql, values);
      if (r instanceof Error) throw r;
      return r;
    },
  } as unknown as NodeConnection;
  return { conn, sent };
}

function ctxWith(conn: NodeConnection) {
  const logged: Array<Record<string, unknown>> = [];
  const ctx = { sessions: new Map([["m", { host: "m", conn } as unknown as NodeSession]]), events: { log: (f: Record<string, unknown>) => logged.push(f) } } as unknown as Ctx;
  return { ctx, logged };
}

const serverError = (errno: number, message: string) => Object.assign(new Error(message), { errno });

describe("the tail verdict table", () => {
  test("ensureTable: no CREATE when information_schema has the table (CREATE … IF NOT EXISTS would be binlogged); created when it lacks it", async () => {
    const there = fakeConn((sql) => (sql.includes("information_schema") ? [{ x: 1 }] : []));
    await ensureTable(there.conn, "pandora_ha_tail", "epoch INT");
    expect(there.sent.filter((q) => q.startsWith("CREATE"))).toEqual([]);
    const missing = fakeConn(() => []);
    await ensureTable(missing.conn, "pandora_ha_tail", "epoch INT");
    expect(missing.sent.filter((q) => q.startsWith("CREATE"))).toEqual(["CREATE TABLE IF NOT EXISTS pandora_ha_tail (epoch INT) ENGINE=InnoDB"]);
  });

  test("recordTail: a failure is logged, never thrown (the failover goes on)", async () => {
    const { conn } = fakeConn(() => serverError(1290, "read only"));
    const { ctx, logged } = ctxWith(conn);
    await recordTail(ctx, "m", 3, "n1", "safe");
    expect(logged).toEqual([{ tail_record: "n1", epoch: 3, failed: expect.stringContaining("read only") }]);
  });

  test("tailVerdict: the recorded verdict; none for no table or a settled row; any other failure throws (the rejoin waits)", async () => {
    const verdictOf = async (answer: Answer) => tailVerdict(ctxWith(fakeConn(answer).conn).ctx, "m", "n1");
    expect(await verdictOf(() => [{ verdict: "forced" }])).toBe("forced");
    expect(await verdictOf(() => [{ verdict: "settled" }])).toBeUndefined();
    expect(await verdictOf(() => [])).toBeUndefined();
    expect(await verdictOf(() => serverError(1146, "no such table"))).toBeUndefined();
    await expect(verdictOf(() => serverError(2013, "Lost connection"))).rejects.toThrow(ActionError);
  });

  test("clearTail: marks the node's rows settled on the master; no table is no failure, another failure is logged", async () => {
    const ok = fakeConn(() => []);
    await clearTail(ctxWith(ok.conn).ctx, "m", "n1");
    expect(ok.sent).toEqual(["UPDATE pandora_ha_tail SET verdict = 'settled' WHERE old_master = ? AND verdict <> 'settled'"]);
    const none = ctxWith(fakeConn(() => serverError(1146, "no such table")).conn);
    await clearTail(none.ctx, "m", "n1");
    expect(none.logged).toEqual([]);
    const down = ctxWith(fakeConn(() => serverError(2013, "Lost connection")).conn);
    await clearTail(down.ctx, "m", "n1");
    expect(down.logged).toEqual([{ tail_clear: "n1", failed: expect.stringContaining("Lost connection") }]);
  });
});
