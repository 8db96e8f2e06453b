/** What each lab node is doing, read over TCP as the HA admin (connect and query timeouts). */
import * as mysql from "mysql2/promise";
import { dialectFor } from "../runtime/dialect";
import type { LabHost } from "./layout";

export interface NodeStatus {
  name: string;
  host: string;
  port: number;
  role: "master" | "replica" | "down";
  readOnly: boolean | null;
  serverId: number | null;
  gtid: string | null;
  ioRunning: string | null;
  sqlRunning: string | null;
  secondsBehind: number | null;
  source: string | null;
  error?: string;
}

export interface Credentials {
  user: string;
  password: string;
}

export async function withConnection<T>(host: string, port: number, cred: Credentials, f: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ host, port, user: cred.user, password: cred.password, connectTimeout: 1000 });
  try {
    return await f(c);
  } finally {
    c.destroy();
  }
}

/** One query with a hard timeout (a hung server never stalls the caller). */
export async function query<T = Record<string, unknown>>(c: mysql.Connection, sql: string, values: unknown[] = []): Promise<T[]> {
  const [rows] = await c.query({ sql, values, timeout: 2000 });
  return rows as T[];
}

export async function nodeStatus(h: LabHost, port: number, cred: Credentials): Promise<NodeStatus> {
  const base: NodeStatus = {
    name: h.name, host: h.address, port, role: "down", readOnly: null, serverId: null,
    gtid: null, ioRunning: null, sqlRunning: null, secondsBehind: null, source: null,
  };
  try {
    return await withConnection(h.address, port, cred, async (c) => {
      // One variable per query: MariaDB 10.11.19 misreports a boolean beside an aggregate.
      const [ro] = await query<{ v: number }>(c, "SELECT @@global.read_only AS v");
      const [id] = await query<{ v: number }>(c, "SELECT @@global.server_id AS v");
      const [version] = await query<{ v: string }>(c, "SELECT VERSION() AS v");
      const [g] = await query<{ v: string }>(c, dialectFor(version.v).gtidExecutedSql);
      const [r] = asMariaNames(await query<Record<string, unknown>>(c, "SHOW REPLICA STATUS"));
      // MySQL prints ",\n" between a GTID set's UUIDs.
      const s: NodeStatus = { ...base, readOnly: Number(ro.v) === 1, serverId: Number(id.v), gtid: String(g.v).replace(/\s+/g, "") };
      if (r) {
        s.role = "replica";
        s.ioRunning = String(r.Slave_IO_Running);
        s.sqlRunning = String(r.Slave_SQL_Running);
        const behind = r.Seconds_Behind_Master;
        s.secondsBehind = behind === null || behind === undefined ? null : Number(behind);
        s.source = String(r.Master_Host);
      } else s.role = "master";
      return s;
    });
  } catch (e) {
    return { ...base, error: (e as Error).message };
  }
}

export function statusTable(rows: NodeStatus[]): string {
  const head = ["node", "host:port", "role", "read_only", "server_id", "gtid", "io/sql", "behind", "source"];
  const body = rows.map((r) => [
    r.name,
    `${r.host}:${r.port}`,
    r.role,
    r.readOnly === null ? "-" : r.readOnly ? "ON" : "OFF",
    r.serverId === null ? "-" : String(r.serverId),
    r.gtid || "-",
    r.ioRunning === null ? "-" : `${r.ioRunning}/${r.sqlRunning}`,
    r.secondsBehind === null ? "-" : String(r.secondsBehind),
    r.source ?? (r.error ? r.error.slice(0, 40) : "-"),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body].map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/**
 * SHOW REPLICA STATUS rows with MariaDB's column names whatever the family (MySQL says
 * Source_Host, Replica_IO_Running, …): the lab's status and the tests read Master_Host,
 * Slave_IO_Running, Slave_SQL_Running and Seconds_Behind_Master on both.
 */
export function asMariaNames(rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  const names: Record<string, string> = {
    Source_Host: "Master_Host", Source_Port: "Master_Port", Replica_IO_Running: "Slave_IO_Running",
    Replica_SQL_Running: "Slave_SQL_Running", Seconds_Behind_Source: "Seconds_Behind_Master",
  };
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [names[k] ?? k, v])));
}
