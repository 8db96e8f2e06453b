/**
 * Probes: one persistent connection per node (mysql2), hard connect and query timeouts on
 * everything, so a hung server (accepts TCP, never answers) costs one timeout and never stalls
 * the loop. A second connection per node holds the actor lock (GET_LOCK): the daemon that holds
 * it on every node it reaches is the one that acts; the lock dies with its connection, so a
 * killed daemon's lock is free at once, and that of a daemon whose host died within
 * LOCK_IDLE_TIMEOUT_S.
 */
import * as net from "node:net";
import type { Readable } from "node:stream";
import * as mysql from "mysql2/promise";
import type { HaSettings } from "../conf";
import { dialectFor, parseSemiSyncDetail } from "../dialect";
import type { Dialect, NodeObservation } from "../types";

export const ACTOR_LOCK = "pandora_ha.actor";
/**
 * The guard's lease (scripts/pandora_ha_guard.sh): held by the actor on the master, on a
 * connection of its own renewed by each loop while no other pandora_ha can promote; the
 * master's guard counts its last renewal (that connection's idle time) as contact.
 */
export const LEASE_LOCK = "pandora_ha.lease";
export const EPOCH_TABLE = "pandora_ha_epoch";
/** One row per daemon, rewritten by the acting daemon on the master: a write that stalls shows a master that cannot commit. */
export const HEARTBEAT_TABLE = "pandora_ha_heartbeat";
const HEARTBEAT_EVERY_MS = 1000;
export const ADMIN_TIMEOUT_MS = 30_000;

export interface SessionOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** Connect and per-query timeout, ms. */
  timeoutMs: number;
  localAddress?: string;
  /** Statements run on every new connection (session settings). */
  initSql?: string[];
}

/**
 * The actor lock's connection is closed by the server after this many idle seconds, so the
 * lock of a daemon whose host died or was cut off (no FIN ever reaches the server) is free
 * within seconds, not after wait_timeout (8 h) or TCP keepalive (2 h). A live daemon pings it
 * every LOCK_KEEPALIVE_MS, whatever its loop is doing (a failover may hold the loop for long).
 */
export const LOCK_IDLE_TIMEOUT_S = 5;
export const LOCK_KEEPALIVE_MS = 1000;

/** How pandora_ha connects to `host` (its HA account, its source address), with `timeoutMs`. */
export function sessionOptions(s: HaSettings, host: string, timeoutMs: number): SessionOptions {
  return { host, port: s.dbPort, user: s.haDbUser, password: s.haDbPass, database: s.dbName, timeoutMs, localAddress: s.bindAddress };
}

type Row = Record<string, unknown>;

/** Rejects after ms; the caller destroys the connection it was waiting on. */
function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timer = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

/** A connection that is re-opened after any error. */
export class NodeConnection {
  private conn?: mysql.Connection;
  private connecting?: Promise<mysql.Connection>;
  /** Logged in, its init statements still running: already one of this daemon's own. */
  private opening?: mysql.Connection;
  constructor(readonly opts: SessionOptions) {}

  private async open(): Promise<mysql.Connection> {
    if (this.conn) return this.conn;
    this.connecting ??= (async () => {
      const o = this.opts;
      const c = await deadline(
        mysql.createConnection({
          host: o.host,
          port: o.port,
          user: o.user,
          password: o.password,
          database: o.database,
          connectTimeout: o.timeoutMs,
          // mysql2 accepts localAddress but never passes it to the socket: make the socket here.
          ...(o.localAddress
            ? { stream: () => net.connect({ host: o.host, port: o.port, localAddress: o.localAddress }).setNoDelay(true) }
            : {}),
          supportBigNumbers: true,
          bigNumberStrings: true,
          dateStrings: true,
        }),
        o.timeoutMs + 200,
        `connect to ${o.host}`,
      );
      c.on("error", () => this.close());
      this.opening = c;
      try {
        for (const sql of o.initSql ?? []) await deadline(c.query({ sql, timeout: o.timeoutMs }), o.timeoutMs + 200, `${o.host}: ${sql}`);
      } catch (e) {
        c.destroy();
        throw e;
      }
      this.conn = c;
      return c;
    })().finally(() => {
      this.connecting = undefined;
      this.opening = undefined;
    });
    return this.connecting;
  }

  get connected(): boolean {
    return !!this.conn;
  }

  /** The server's id of this connection (CONNECTION_ID()), from its login on. */
  get threadId(): number | undefined {
    return (this.conn ?? this.opening)?.threadId ?? undefined;
  }

  /** One statement with the session's timeout; any failure closes the connection. `infile`: what a LOAD DATA LOCAL INFILE reads. */
  async query<T = Row>(sql: string, values: unknown[] = [], timeoutMs = this.opts.timeoutMs, infile?: () => Readable): Promise<T[]> {
    try {
      const c = await this.open();
      const [rows] = await deadline(c.query({ sql, values, timeout: timeoutMs, infileStreamFactory: infile }), timeoutMs + 200, `${this.opts.host}: ${sql.slice(0, 40)}`);
      return (Array.isArray(rows) ? rows : [rows]) as T[];
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** An administrative statement (fence, promote, repoint): STOP SLAVE may wait seconds for an IO thread stuck on a dead link. */
  admin<T = Row>(sql: string, values: unknown[] = [], timeoutMs = ADMIN_TIMEOUT_MS): Promise<T[]> {
    return this.query<T>(sql, values, timeoutMs);
  }

  close(): void {
    const c = this.conn;
    this.conn = undefined;
    try {
      c?.destroy();
    } catch {
      // already gone
    }
  }
}

export class NodeSession {
  readonly conn: NodeConnection;
  private readonly lockConn: NodeConnection;
  /** The guard's lease, on a connection of its own: only setLease touches it, so its idle time is the lease's age. */
  private readonly leaseConn: NodeConnection;
  dialect?: Dialect;
  version?: string;
  serverId?: number;
  /** Its server's pid file (read once per connection): to stop it over SSH when it no longer answers. */
  pidFile?: string;
  failures = 0;
  /** When the current run of failed probes began. */
  failingSince?: number;
  lastAttempt = 0;
  holdsLock = false;
  last?: NodeObservation;

  private keepalive?: NodeJS.Timeout;
  private hbConn?: NodeConnection;
  /** When the timed write in flight began (undefined: none), and when the last one ended. */
  private writeSince?: number;
  private writeEnded = 0;
  /** Connections opened beside the session (the fence on return): the daemon's own while open. */
  private readonly side = new Set<NodeConnection>();

  constructor(readonly opts: SessionOptions) {
    this.conn = new NodeConnection(opts);
    this.lockConn = new NodeConnection({ ...opts, initSql: [`SET SESSION wait_timeout = ${LOCK_IDLE_TIMEOUT_S}`] });
    this.leaseConn = new NodeConnection({ ...opts, timeoutMs: Math.min(opts.timeoutMs ?? 1000, 1000), initSql: [`SET SESSION wait_timeout = ${LOCK_IDLE_TIMEOUT_S}`] });
  }

  /** Pings the lock's connection while the lock is held (it would be dropped when idle). */
  private keepLockAlive(): void {
    if (this.keepalive) return;
    this.keepalive = setInterval(() => {
      if (!this.holdsLock) return;
      this.lockConn.query("SELECT 1 AS v").catch(() => {
        // The connection is gone, and the lock with it (once the server notices).
        this.holdsLock = false;
      });
    }, LOCK_KEEPALIVE_MS);
    this.keepalive.unref();
  }

  get host(): string {
    return this.opts.host;
  }

  private async one(sql: string): Promise<unknown> {
    const [r] = await this.conn.query<Row>(sql);
    return r ? Object.values(r)[0] : undefined;
  }

  /** Everything the analysis needs from this node, or an unreachable observation. */
  async probe(now = Date.now()): Promise<NodeObservation> {
    this.lastAttempt = now;
    try {
      if (!this.conn.connected || !this.dialect) {
        this.version = String(await this.one("SELECT VERSION() AS v"));
        this.dialect = dialectFor(this.version);
        this.serverId = Number(await this.one("SELECT @@global.server_id AS v"));
        this.pidFile = String((await this.one("SELECT @@global.pid_file AS v")) ?? "");
      }
      const d = this.dialect;
      const readOnly = Number(await this.one(d.readOnlySql)) === 1;
      const superReadOnly = d.superReadOnlySql ? Number(await this.one(d.superReadOnlySql)) === 1 : undefined;
      const replica = d.parseReplicaStatus(await this.conn.query<Row>(d.replicaStatusSql));
      const gtidHistory = String(await this.one(d.gtidHistorySql) ?? "");
      const gtidExecuted = String(await this.one(d.gtidExecutedSql) ?? "");
      const semiRows: Row[] = [];
      for (const q of d.semiSyncSql) semiRows.push(...(await this.conn.query<Row>(q)));
      const semiSync = d.parseSemiSync(semiRows);
      const semiSyncDetail = parseSemiSyncDetail(semiRows);
      const [up] = await this.conn.query<{ Value: string }>("SHOW GLOBAL STATUS LIKE 'Uptime'");
      const { epoch, master } = await this.readEpoch();
      this.failures = 0;
      this.failingSince = undefined;
      this.last = {
        host: this.host, reachable: true, failures: 0, at: now, flavor: d.flavor, version: this.version,
        serverId: this.serverId, readOnly, superReadOnly, replica, gtidHistory, gtidExecuted, semiSync,
        semiSyncDetail, uptime: Number(up?.Value ?? 0), epoch, epochMaster: master,
        writePendingMs: this.writeSince !== undefined ? now - this.writeSince : undefined,
      };
      if ((this.last.writePendingMs ?? 0) > 1000) this.last.writeState = await this.writeState();
    } catch (e) {
      this.failures++;
      this.failingSince ??= now;
      this.conn.close();
      // A write that waited across an outage of the node says nothing about its disk: start afresh.
      this.stopHeartbeat();
      const refused = (e as { code?: string }).code === "ECONNREFUSED";
      this.last = { host: this.host, reachable: false, failures: this.failures, at: now, error: shortError(e), refused, failingSince: this.failingSince };
    }
    return this.last;
  }

  /**
   * The timed write: a heartbeat row rewritten about once a second on the master, on a
   * connection of its own, one at a time. One that waits for long (writePendingMs) shows a
   * master that answers reads but cannot commit (binary-log volume full, fsync hung).
   */
  heartbeat(daemon: string): void {
    if (this.writeSince !== undefined || Date.now() - this.writeEnded < HEARTBEAT_EVERY_MS) return;
    const c = (this.hbConn ??= new NodeConnection({ ...this.opts, timeoutMs: 600_000 }));
    this.writeSince = Date.now();
    // Keyed by daemon and master: a row an old master wrote in its last moments never collides
    // with the new master's when it rejoins. The table is created once (a CREATE … IF NOT EXISTS
    // on every connection would put DDL into every diverged tail, which cannot be undone).
    c.query(`INSERT INTO ${HEARTBEAT_TABLE} (daemon, master, at) VALUES (?, ?, NOW(3)) ON DUPLICATE KEY UPDATE at = VALUES(at)`, [daemon, this.host])
      .catch(async (e) => {
        if ((e as { errno?: number }).errno !== 1146) return;
        await c.query(`CREATE TABLE IF NOT EXISTS ${HEARTBEAT_TABLE} (daemon VARCHAR(255) NOT NULL, master VARCHAR(255) NOT NULL, at DATETIME(3) NOT NULL, PRIMARY KEY (daemon, master)) ENGINE=InnoDB`).catch(() => undefined);
      })
      .finally(() => {
        this.writeSince = undefined;
        this.writeEnded = Date.now();
      });
  }

  /** The highest epoch recorded on this node (0 when the table does not exist yet). */
  async readEpoch(): Promise<{ epoch: number; master?: string }> {
    try {
      const [r] = await this.conn.query<{ epoch: string; master: string }>(`SELECT epoch, master FROM ${EPOCH_TABLE} ORDER BY epoch DESC LIMIT 1`);
      return r ? { epoch: Number(r.epoch), master: r.master } : { epoch: 0 };
    } catch (e) {
      if ((e as { errno?: number }).errno === 1146) return { epoch: 0 };
      throw e;
    }
  }

  /** Takes or confirms the actor lock on this node; false when another daemon holds it or the node is down. */
  async refreshLock(): Promise<boolean> {
    try {
      if (this.holdsLock) await this.askLockHeld();
      if (!this.holdsLock) {
        const [r] = await this.lockConn.query<{ v: string | null }>("SELECT GET_LOCK(?, 0) AS v", [ACTOR_LOCK]);
        this.holdsLock = Number(r?.v) === 1;
        if (this.holdsLock) this.keepLockAlive();
      }
    } catch {
      this.holdsLock = false;
    }
    return this.holdsLock;
  }

  /**
   * Whether this daemon still holds the actor lock here, asked of the server now (never taken
   * anew): a daemon that was frozen for longer than the lock's idle timeout has lost it.
   */
  async confirmLock(): Promise<boolean> {
    if (!this.holdsLock) return false;
    try {
      await this.askLockHeld();
    } catch {
      this.holdsLock = false;
    }
    return this.holdsLock;
  }

  /** Asks the server whether the lock's connection still holds the lock (throws when it is gone). */
  private async askLockHeld(): Promise<void> {
    const [r] = await this.lockConn.query<{ v: string | null }>("SELECT IS_USED_LOCK(?) = CONNECTION_ID() AS v", [ACTOR_LOCK]);
    this.holdsLock = Number(r?.v) === 1;
  }

  /** When a replica last reached this node (a secondary check): the node was in contact then. */
  seenByReplicaAt?: number;

  /** Whether this daemon grants the guard's lease on this node (on the lease's own connection). */
  holdsLease = false;

  /**
   * Renews (takes, or confirms: either way its connection's idle time starts again) or releases
   * the guard's lease here; renewed only with the actor lock, and only by the daemon's loop when
   * it has just checked the lease's condition: nothing pings it in between, so a lease the loop
   * stops renewing goes stale on the server.
   */
  async setLease(want: boolean): Promise<void> {
    if (!want && !this.holdsLease) return;
    try {
      if (want && this.holdsLock) {
        const [r] = await this.leaseConn.query<{ v: string | null }>("SELECT IF(IS_USED_LOCK(?) = CONNECTION_ID(), 1, GET_LOCK(?, 0)) AS v", [LEASE_LOCK, LEASE_LOCK]);
        this.holdsLease = Number(r?.v) === 1;
      } else {
        this.holdsLease = false;
        this.leaseConn.close();
      }
    } catch {
      this.holdsLease = false;
      this.leaseConn.close();
    }
  }

  async releaseLock(): Promise<void> {
    await this.setLease(false);
    if (!this.holdsLock) return;
    this.holdsLock = false;
    try {
      await this.lockConn.query("SELECT RELEASE_LOCK(?) AS v", [ACTOR_LOCK]);
    } catch {
      this.lockConn.close();
    }
  }

  /** This daemon's own connections to the node (never killed when it is fenced). */
  ownThreadIds(): number[] {
    return [this.conn, this.lockConn, this.leaseConn, ...this.side].map((c) => c.threadId).filter((x): x is number => x !== undefined);
  }

  /** A connection of its own to the node, never killed by this daemon's fence while open; closed by `close`. */
  sideConnection(timeoutMs: number): { conn: NodeConnection; close: () => void } {
    const conn = new NodeConnection({ ...this.opts, timeoutMs });
    this.side.add(conn);
    return { conn, close: () => (this.side.delete(conn), conn.close()) };
  }

  /** Drops the timed write's connection (a node fenced or no longer the master). */
  stopHeartbeat(): void {
    this.hbConn?.close();
    this.hbConn = undefined;
    this.writeSince = undefined;
  }

  /** What the server says the timed write waits for (its PROCESSLIST state), when one waits. */
  async writeState(): Promise<string | undefined> {
    const id = this.hbConn?.threadId;
    if (this.writeSince === undefined || id === undefined) return undefined;
    const [r] = await this.conn.query<{ s: string | null }>("SELECT STATE AS s FROM information_schema.PROCESSLIST WHERE ID = ?", [id]);
    return r?.s ?? undefined;
  }

  close(): void {
    clearInterval(this.keepalive);
    this.keepalive = undefined;
    this.conn.close();
    this.lockConn.close();
    this.leaseConn.close();
    this.stopHeartbeat();
    this.holdsLock = false;
  }
}

export function shortError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = (err.message ?? String(e)).split("\n")[0];
  return err.code && !msg.includes(err.code) ? `${err.code}: ${msg}` : msg;
}
