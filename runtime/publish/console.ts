/**
 * The console's Manage HA view. Pandora's console shows the database cluster from the table
 * `tdatabase` (one row per DB node, in the pandora database, so on the master and replicated),
 * which the original pandora_ha keeps up to date; the console writes into it only a node's
 * label, `disabled`, and a requested `action` (the resync icon). The actor keeps that table
 * true: a row per ha_hosts entry, its status and role, and carries out what the console asks.
 *
 * Codes (Pandora's): status 0 uninitialized, 1 online, 2 pending, 3 processing, 4 disabled,
 * 5 failed (the resync icon: green, blue, yellow, red); action 0 none, 1 deploy, 2 recover,
 * 3 promote, 4 demote, 5 disable, 6 enable, 7 cleanup, 8 resync. Older schemas lack some
 * columns: only the columns the table has are written.
 */
import type { HaSettings } from "../conf";
import { affectedRows } from "./events";
import type { NodeConnection } from "../observe/probe";
import type { DaemonState } from "../state";
import type { NodeObservation } from "../types";

export const STATUS = { uninitialized: 0, online: 1, pending: 2, processing: 3, disabled: 4, failed: 5 } as const;
export const ACTION = { none: 0, deploy: 1, recover: 2, promote: 3, demote: 4, disable: 5, enable: 6, cleanup: 7, resync: 8 } as const;
export const ACTION_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ACTION).map(([k, v]) => [v, k]));

/** What the daemon writes into a node's row. */
export interface ConsoleView {
  status: number;
  /** 1: the daemon reaches the node's database. */
  db_status: number;
  /** 1: the node does its part (the master writable; a replica replicating from it, both threads running). */
  replication_status: number;
  /** Seconds behind the master (0 on the master, or when unknown). */
  replication_delay: number;
  master: number;
  /** The server version, without its distribution suffix ("10.11.6", "8.0.36"). */
  mysql_version: string;
  last_error: string;
  utimestamp: number;
}

/** A node's row, from its observation and the daemon's memory. Pure. */
export function consoleView(o: NodeObservation, s: Pick<DaemonState, "master" | "diverged" | "disabled" | "resyncs" | "consoleNotes">, now: number): ConsoleView {
  const isMaster = o.host === s.master;
  const r = o.replica;
  const replicating = !!r && r.sourceHost === s.master && r.io === "yes" && r.sqlRunning;
  const resync = s.resyncs[o.host];
  const div = s.diverged[o.host];
  const healthy = o.reachable && (isMaster ? o.readOnly === false : replicating && !div);
  let status: number = STATUS.online;
  let error = "";
  if (resync?.state === "running") {
    status = STATUS.processing;
    error = `resync from ${resync.master} running`;
  } else if (s.disabled.includes(o.host) && !isMaster) {
    status = STATUS.disabled;
  } else if (!o.reachable) {
    status = STATUS.failed;
    error = o.error ?? "unreachable";
  } else if (resync?.state === "failed" && !healthy) {
    status = STATUS.failed;
    error = `resync from ${resync.master} failed: ${resync.detail}`;
  } else if (div) {
    status = STATUS.pending;
    error = div.retry
      ? `diverged: holds ${div.errantCount} transactions the master lacks (${div.errant}); its rejoin failed (${div.retry.cause}) and is tried again`
      : `diverged: holds ${div.errantCount} transactions the master lacks (${div.errant}); resync it`;
  } else if (!healthy) {
    status = STATUS.pending;
    error = isMaster ? "read-only" : r ? r.lastIoError || r.lastSqlError || `replication io=${r.io} sql=${r.sqlRunning ? "yes" : "no"}` : "not replicating";
  }
  const note = s.consoleNotes[o.host];
  if (note && !error) error = note;
  return {
    status,
    db_status: o.reachable ? 1 : 0,
    replication_status: healthy ? 1 : 0,
    replication_delay: !isMaster && replicating ? (r.secondsBehind ?? 0) : 0,
    master: isMaster ? 1 : 0,
    mysql_version: (o.version ?? "").split("-")[0].slice(0, 10),
    last_error: error.slice(0, 1000),
    utimestamp: Math.floor(now / 1000),
  };
}

/**
 * Every write here is conditional on the node being writable: the daemon's account may write on
 * a read-only node (MariaDB READ_ONLY ADMIN), and a row landing on a node fenced a moment ago
 * would be a transaction the new master lacks.
 */
const WRITABLE = "@@global.read_only = 0";

/**
 * A write guarded by WRITABLE: the rows it changed, 0 when the node is read-only. MariaDB runs
 * the statement and changes nothing; MySQL's super_read_only refuses it outright (errno 1290).
 */
async function writeIfWritable(conn: NodeConnection, sql: string, values: unknown[]): Promise<number> {
  try {
    return affectedRows(await conn.query(sql, values));
  } catch (e) {
    if ((e as { errno?: number }).errno === 1290) return 0;
    throw e;
  }
}

/** A console request found in the table. */
export interface ConsoleRequest {
  id: number;
  host: string;
  action: number;
}

export interface ConsoleSync {
  /** Hosts whose row says disabled = 1. */
  disabled: string[];
  requests: ConsoleRequest[];
  /** Rows created for ha_hosts entries the table did not list. */
  created: string[];
}

/**
 * Brings tdatabase on the master (`conn`) in line with `views`, and returns what the console
 * asks for. Undefined when the table does not exist (no console schema): nothing is written.
 */
export async function syncConsoleTable(conn: NodeConnection, settings: HaSettings, views: Map<string, ConsoleView>): Promise<ConsoleSync | undefined> {
  const cols = new Set(
    (await conn.query<{ c: string }>("SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tdatabase'")).map((r) => r.c),
  );
  if (!cols.has("host") || !cols.has("id")) return undefined;
  const rows = await conn.query<{ id: string; host: string; action: string | null; disabled: string | null }>(
    `SELECT id, host, ${cols.has("action") ? "action" : "0"} AS action, ${cols.has("disabled") ? "disabled" : "0"} AS disabled FROM tdatabase`,
  );
  const known = new Set(rows.map((r) => r.host));
  const created: string[] = [];
  for (const host of views.keys()) {
    if (known.has(host)) continue;
    const fields: Record<string, unknown> = { host, label: host, os_port: settings.sshPort, os_user: settings.sshUser, db_port: settings.dbPort };
    const names = Object.keys(fields).filter((k) => cols.has(k));
    const sql = `INSERT INTO tdatabase (${names.join(", ")}) SELECT ${names.map(() => "?").join(", ")} FROM DUAL WHERE ${WRITABLE}`;
    if ((await writeIfWritable(conn, sql, names.map((k) => fields[k]))) === 1) created.push(host);
  }
  for (const [host, v] of views) {
    const names = (Object.keys(v) as Array<keyof ConsoleView>).filter((k) => cols.has(k));
    if (!names.length) continue;
    await writeIfWritable(conn, `UPDATE tdatabase SET ${names.map((k) => `${k} = ?`).join(", ")} WHERE host = ? AND ${WRITABLE}`, [...names.map((k) => v[k]), host]);
  }
  return {
    disabled: rows.filter((r) => Number(r.disabled) === 1 && views.has(r.host)).map((r) => r.host),
    requests: rows.filter((r) => Number(r.action) > 0 && views.has(r.host)).map((r) => ({ id: Number(r.id), host: r.host, action: Number(r.action) })),
    created,
  };
}

/** Marks a request taken (only if the console has not asked for something else meanwhile). */
export async function takeConsoleRequest(conn: NodeConnection, req: ConsoleRequest): Promise<boolean> {
  return (await writeIfWritable(conn, `UPDATE tdatabase SET action = 0 WHERE id = ? AND action = ? AND ${WRITABLE}`, [req.id, req.action])) === 1;
}

/** Sets a node's disabled flag (console actions disable / enable). */
export async function setConsoleDisabled(conn: NodeConnection, host: string, disabled: boolean): Promise<void> {
  await writeIfWritable(conn, `UPDATE tdatabase SET disabled = ? WHERE host = ? AND ${WRITABLE}`, [disabled ? 1 : 0, host]);
}
