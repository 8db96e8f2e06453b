/**
 * consoleView(): what pandora_ha writes into the console's tdatabase row of each node (the
 * Manage HA view), from the node's observation and the daemon's memory.
 */
import { describe, expect, test } from "vitest";
import { ACTION, ACTION_NAMES, STATUS, consoleView } from "../../runtime/publish/console";
import type { ConsoleView } from "../../runtime/publish/console";
import type { DaemonState } from "../../runtime/state";
import type { NodeObservation } from "../../runtime/types";
import { HOUR, NOW, down, master, replica, state } from "./observations";

const row = (o: NodeObservation, s: DaemonState = state()): ConsoleView => consoleView(o, s, NOW);
const resync = (st: "running" | "done" | "failed", detail = "") => ({ state: st, master: "db1", by: "console" as const, started: NOW - HOUR, detail });

describe("consoleView", () => {
  test.each<[string, NodeObservation, DaemonState | undefined, Partial<ConsoleView>]>([
    ["the master: online, master 1, replication ok, no delay", master("db1", { version: "10.11.6-MariaDB-0+deb12u1-log" }), undefined,
      { status: STATUS.online, db_status: 1, replication_status: 1, replication_delay: 0, master: 1, mysql_version: "10.11.6", last_error: "" }],
    ["a replica 7 s behind: online, its delay", replica("db2", { secondsBehind: 7 }, { version: "8.0.36-28" }), undefined,
      { status: STATUS.online, db_status: 1, replication_status: 1, replication_delay: 7, master: 0, mysql_version: "8.0.36" }],
    ["a replica whose IO thread lost the master: pending, the IO error", replica("db2", { io: "connecting", lastIoError: "error reconnecting to master 'db1:3306'", secondsBehind: null }), undefined,
      { status: STATUS.pending, replication_status: 0, replication_delay: 0, last_error: "error reconnecting to master 'db1:3306'" }],
    ["a replica with its SQL thread stopped and no error: pending, the threads", replica("db2", { sqlRunning: false }), undefined,
      { status: STATUS.pending, replication_status: 0, last_error: "replication io=yes sql=no" }],
    ["a replica of another node: pending", replica("db2", { sourceHost: "db3" }), undefined,
      { status: STATUS.pending, replication_status: 0 }],
    ["a node that replicates from nobody: pending", replica("db2", {}, { replica: undefined }), undefined,
      { status: STATUS.pending, replication_status: 0, last_error: "not replicating" }],
    ["an unreachable node: failed, db_status 0, the probe's error", down("db2", 3, "connect ECONNREFUSED 10.0.0.12:3306"), undefined,
      { status: STATUS.failed, db_status: 0, replication_status: 0, master: 0, mysql_version: "", last_error: "connect ECONNREFUSED 10.0.0.12:3306" }],
    ["the master read-only: pending", master("db1", { readOnly: true }), undefined,
      { status: STATUS.pending, replication_status: 0, master: 1, last_error: "read-only" }],
    ["a diverged node: pending resync, what it holds", replica("db2"), state({ diverged: { db2: { since: NOW, errant: "0-2-7", errantCount: 1 } } }),
      { status: STATUS.pending, replication_status: 0, last_error: "diverged: holds 1 transactions the master lacks (0-2-7); resync it" }],
    ["a node being resynced: processing, even while its server is down", down("db2", 9), state({ resyncs: { db2: resync("running") } }),
      { status: STATUS.processing, db_status: 0, last_error: "resync from db1 running" }],
    ["a failed resync on a node still broken: failed, the tool's last line", replica("db2", {}, { replica: undefined }), state({ resyncs: { db2: resync("failed", "MASTER db1 is read-only") } }),
      { status: STATUS.failed, last_error: "resync from db1 failed: MASTER db1 is read-only" }],
    ["a failed resync on a node healthy since: online", replica("db2"), state({ resyncs: { db2: resync("failed", "x") } }),
      { status: STATUS.online, last_error: "" }],
    ["a disabled replica: disabled whatever its replication", replica("db2", { io: "no" }), state({ disabled: ["db2"] }),
      { status: STATUS.disabled, db_status: 1, replication_status: 0 }],
    ["a disabled flag on the master is not shown as disabled", master("db1"), state({ disabled: ["db1"] }),
      { status: STATUS.online, master: 1 }],
    ["a console request that was refused shows on a healthy node", replica("db2"), state({ consoleNotes: { db2: "db2 is not something" } }),
      { status: STATUS.online, last_error: "db2 is not something" }],
  ])("%s", (_name, o, s, want) => {
    const v = row(o, s);
    expect(v).toMatchObject(want);
    expect(v.utimestamp).toBe(Math.floor(NOW / 1000));
  });

  test("a version string longer than the column keeps its first 10 characters", () => {
    expect(row(master("db1", { version: "10.11.1234567-MariaDB" })).mysql_version).toBe("10.11.1234");
  });

  test("action codes and their names are Pandora's", () => {
    expect(ACTION).toMatchObject({ promote: 3, resync: 8, disable: 5, enable: 6 });
    expect(ACTION_NAMES[8]).toBe("resync");
    expect(STATUS).toEqual({ uninitialized: 0, online: 1, pending: 2, processing: 3, disabled: 4, failed: 5 });
  });
});
