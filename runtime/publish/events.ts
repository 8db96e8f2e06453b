/**
 * Events: every state change the daemon sees or makes (node down/up, failover start/end/failure,
 * fencing, rejoin, budget exhausted, ...). Each goes at once to the structured log (one JSON
 * object per line in ha_log_file) and is queued for Pandora's `tevento` table on the current
 * master, where the console shows it. `id_extra` carries a deduplication key: a new event with
 * the same key validates the older open ones (down/up of a node share one key).
 */
import { appendFileSync, mkdirSync } from "node:fs";
import * as path from "node:path";

export type Severity = "info" | "normal" | "warning" | "critical";

/** tevento.criticity: 1 informational, 2 normal, 3 warning, 4 critical. */
export const CRITICITY: Record<Severity, number> = { info: 1, normal: 2, warning: 3, critical: 4 };

export type EventType =
  | "node_down" | "node_up" | "failover_start" | "failover_end" | "failover_failure" | "fenced" | "rejoined"
  | "diverged" | "tail_resync" | "budget_exhausted" | "no_failover" | "replica_link_broken" | "replica_lagging" | "semi_sync_off"
  | "master_writable" | "master_adopted" | "switchover_start" | "switchover_end" | "switchover_failure"
  | "server_restarted" | "agent_files_handed_back" | "tentacle_restarted" | "resync" | "console" | "publish_refused" | "daemon_start" | "daemon_stop" | "warning"
  | "semi_sync_on" | "failover_held" | "total_outage" | "master_read_only" | "errant_transaction" | "replication_restarted" | "rejoin_failed";

export interface HaEvent {
  time: string;
  type: EventType;
  severity: Severity;
  node?: string;
  message: string;
  /** tevento.id_extra */
  key: string;
  data?: Record<string, unknown>;
}

export interface EventSink {
  /** Inserts queued events into tevento (on the master); returns how many were written. */
  (events: HaEvent[]): Promise<void>;
}

export class EventLog {
  private queue: HaEvent[] = [];
  /** Recent events, newest last (for status). */
  readonly recent: HaEvent[] = [];
  constructor(
    private readonly logFile: string,
    private readonly echo?: (line: string) => void,
  ) {
    mkdirSync(path.dirname(logFile), { recursive: true });
  }

  emit(type: EventType, severity: Severity, message: string, opts: { node?: string; key?: string; data?: Record<string, unknown> } = {}): HaEvent {
    const e: HaEvent = {
      time: new Date().toISOString(),
      type,
      severity,
      node: opts.node,
      message,
      key: `pandora_ha:${opts.key ?? `${type}${opts.node ? `:${opts.node}` : ""}`}`,
      data: opts.data,
    };
    this.log({ event: e.type, severity, node: e.node, message, ...(e.data ? { data: e.data } : {}) });
    this.queue.push(e);
    if (this.queue.length > 1000) this.queue.shift();
    this.recent.push(e);
    if (this.recent.length > 50) this.recent.shift();
    return e;
  }

  /** A structured log line that is not an event (decisions, phases, debug). */
  log(fields: Record<string, unknown>): void {
    const line = JSON.stringify({ time: new Date().toISOString(), ...fields });
    try {
      appendFileSync(this.logFile, line + "\n", { mode: 0o640 });
    } catch {
      // the log directory vanished: stderr below still has it
    }
    this.echo?.(line);
  }

  /** Hands the queue to `sink`; events stay queued when it fails (master unreachable). */
  async flush(sink: EventSink): Promise<void> {
    if (!this.queue.length) return;
    const batch = this.queue.slice();
    await sink(batch);
    this.queue.splice(0, batch.length);
  }
}

/**
 * The statements that record one event in tevento (validate older open ones, then insert). Each
 * writes only on a writable node: the daemon's account may write on a read-only one (MariaDB
 * READ_ONLY ADMIN), and an event landing on a node fenced a moment ago would be a transaction
 * the new master lacks. The insert must write (`mustWrite`): otherwise the event stays queued.
 */
export function teventoStatements(e: HaEvent): Array<{ sql: string; values: unknown[]; mustWrite?: boolean }> {
  const utime = Math.floor(Date.parse(e.time) / 1000);
  return [
    { sql: "UPDATE tevento SET estado = 1 WHERE id_extra = ? AND estado = 0 AND @@global.read_only = 0", values: [e.key] },
    {
      sql:
        "INSERT INTO tevento (id_agente, id_grupo, evento, timestamp, utimestamp, estado, event_type, criticity, source, id_extra) " +
        "SELECT 0, 0, ?, FROM_UNIXTIME(?), ?, 0, 'system', ?, 'pandora_ha', ? FROM DUAL WHERE @@global.read_only = 0",
      values: [`[pandora_ha] ${e.message}`, utime, utime, CRITICITY[e.severity], e.key],
      mustWrite: true,
    },
  ];
}

/** How many rows a write statement's result (as NodeConnection.query returns it) changed. */
export function affectedRows(result: unknown): number {
  const r = (Array.isArray(result) ? result[0] : result) as { affectedRows?: number } | undefined;
  return Number(r?.affectedRows ?? 0);
}

/** Records `batch` in tevento through `query` (a connection to the master), in order. */
export async function insertEvents(query: (sql: string, values: unknown[]) => Promise<unknown>, batch: HaEvent[]): Promise<void> {
  for (const e of batch) {
    for (const st of teventoStatements(e)) {
      const r = await query(st.sql, st.values);
      if (st.mustWrite && affectedRows(r) === 0) throw new Error("the node is read-only now: the events wait for the master");
    }
  }
}
