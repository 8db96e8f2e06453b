/** durability.ts: when the master is durable, and what the daemon does to keep it so. */
import { describe, expect, test } from "vitest";
import { STRICT_TIMEOUT_MS } from "../../runtime/dialect";
import { durabilityStep, notDurable } from "../../runtime/decide/durability";
import type { SemiSyncDetail } from "../../runtime/types";
import { NOW, SEMI_UP, master } from "./observations";

const STRICT: SemiSyncDetail = { naming: "master", waitNoReplica: true, timeoutMs: STRICT_TIMEOUT_MS, waitSessions: 0, yesTx: 100, noTx: 0 };
const m = (detail: Partial<SemiSyncDetail> = {}, semi: Partial<typeof SEMI_UP> = {}) => master("db1", { semiSync: { ...SEMI_UP, ...semi }, semiSyncDetail: { ...STRICT, ...detail } });
const step = (o: ReturnType<typeof m>, over: Partial<Parameters<typeof durabilityStep>[0]> = {}) =>
  durabilityStep({ master: o, tracker: { host: "db1", yesTx: 100, lastAck: NOW - 1000 }, isAsync: false, replicaFollowing: true, caughtUp: false, now: NOW, timeoutMs: 5000, ...over });

describe("notDurable", () => {
  test("durable only with semi-sync on, no fallback of its own, and active", () => {
    expect(notDurable(m())).toBeUndefined();
    expect(notDurable(m({ timeoutMs: 5000 }))).toMatch(/may fall back to asynchronous by itself/);
    expect(notDurable(m({ waitNoReplica: false }))).toMatch(/wait with no replica off/);
    expect(notDurable(m({}, { sourceEnabled: false }))).toBe("semi-sync is switched off on it");
    expect(notDurable(m({}, { sourceActive: false }))).toMatch(/not active/);
    // Strict with no replica attached: its commits wait, none is acknowledged: durable.
    expect(notDurable(m({}, { clients: 0 }))).toBeUndefined();
    expect(notDurable(master("db1", { semiSync: undefined }))).toMatch(/no semi-synchronous/);
  });
});

describe("durabilityStep", () => {
  test("switched off by hand (the only replica silent): recorded as asynchronous by hand, not switched back on", () => {
    expect(step(m({}, { sourceEnabled: false, sourceActive: false })).step).toEqual({ kind: "async", reason: "semi-sync switched off on it by hand", byHand: true });
  });
  test("my.cnf's settings (5 s fallback, no wait without a replica): made strict", () => {
    expect(step(m({ timeoutMs: 5000, waitNoReplica: false })).step.kind).toBe("strict");
  });
  test("acknowledgements flow: nothing to do, the tracker moves on", () => {
    const r = step(m({ yesTx: 150, waitSessions: 2 }));
    expect(r.step.kind).toBe("none");
    expect(r.tracker).toEqual({ host: "db1", yesTx: 150, lastAck: NOW });
  });
  test("commits wait and nothing was acknowledged for 5 s: asynchronous, saying why", () => {
    const r = step(m({ waitSessions: 3 }), { tracker: { host: "db1", yesTx: 100, lastAck: NOW - 5000 } });
    expect(r.step).toEqual({ kind: "async", reason: "no acknowledgement while 3 commits wait for 5 s" });
  });
  test("no replica attached for 5 s: asynchronous", () => {
    expect(step(m({}, { clients: 0 }), { tracker: { host: "db1", yesTx: 100, lastAck: NOW - 6000 } }).step).toEqual({ kind: "async", reason: "no replica attached for 6 s" });
  });
  test("for 4 s only: not yet", () => {
    expect(step(m({}, { clients: 0 }), { tracker: { host: "db1", yesTx: 100, lastAck: NOW - 4000 } }).step.kind).toBe("none");
  });
  test("asynchronous, a replica follows again: strict; durable again only once it has what was committed meanwhile", () => {
    expect(step(m({}, { sourceEnabled: false, sourceActive: false }), { isAsync: true }).step.kind).toBe("strict");
    expect(step(m({}, { sourceEnabled: false, sourceActive: false }), { isAsync: true, replicaFollowing: false }).step.kind).toBe("none");
    // Semi-sync is ON at once when switched back on (MariaDB), but the replica may still be fetching the backlog.
    expect(step(m(), { isAsync: true, caughtUp: false }).step.kind).toBe("none");
    expect(step(m(), { isAsync: true, caughtUp: true }).step.kind).toBe("durable_again");
  });
  test("switched back on, the replica gone again before it caught up: asynchronous again after the timeout (never 49 days of waiting)", () => {
    const r = step(m({ waitSessions: 2 }, { clients: 0 }), { isAsync: true, caughtUp: false, tracker: { host: "db1", yesTx: 100, lastAck: NOW - 5000 } });
    expect(r.step.kind).toBe("async");
  });
  test("a new master: the tracker starts afresh (no asynchronous switch on its first look)", () => {
    const r = step(m({}, { clients: 0 }), { tracker: { host: "db2", yesTx: 5, lastAck: NOW - 60_000 } });
    expect(r.step.kind).toBe("none");
    expect(r.tracker?.lastAck).toBe(NOW);
  });
});
