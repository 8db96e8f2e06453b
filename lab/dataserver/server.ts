/**
 * The stand-in data server's running part (see main.ts for what it mimics): the database
 * connections, the producer, the consumers, the main loop with the tserver heartbeat, and the
 * shutdown. The decisions live in the pure modules (conf, consume, store, lifecycle).
 */
import * as net from "node:net";
import { readFileSync } from "node:fs";
import { readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import * as path from "node:path";
import * as mysql from "mysql2/promise";
import type { DataServerConf } from "./conf";
import { dbHostAtStart } from "./conf";
import type { ConsumerIo, IncomingFile } from "./consume";
import { consumeFile, selectFiles } from "./consume";
import type { Timings } from "./lifecycle";
import { isDatabaseDown, pick, reactionToDbError } from "./lifecycle";
import type { Query } from "./store";
import { dataTime, encodeEventText, storeAgentData, toDataTime } from "./store";

export const SERVER_VERSION = "7.0NG.776 (lab stand-in)";
const IDLE_MS = 100;

export type RunEnd = { kind: "exit"; code: number } | { kind: "restart" };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** One database connection (a Perl thread's dbh), opened on first use and after it broke. */
class Db {
  private conn?: mysql.Connection;
  constructor(
    private readonly opts: mysql.ConnectionOptions,
    private readonly onDown: (e: unknown) => void,
  ) {}

  private async open(): Promise<mysql.Connection> {
    if (this.conn) return this.conn;
    const c = await mysql.createConnection(this.opts);
    const lost = (e: unknown) => {
      if (this.conn !== c) return; // closed by us, or already reported
      this.drop(c);
      this.onDown(e);
    };
    c.on("error", lost);
    // The server closed it (killed, crashed, shut down): seen at once, not at the next query.
    c.on("end", () => lost(Object.assign(new Error("Connection lost: the server closed the connection"), { code: "PROTOCOL_CONNECTION_LOST", fatal: true })));
    this.conn = c;
    return c;
  }

  private drop(c: mysql.Connection): void {
    if (this.conn === c) this.conn = undefined;
    c.destroy();
  }

  query: Query = async (sql, values) => {
    const c = await this.open();
    try {
      const [r] = await c.query(sql, values);
      return r;
    } catch (e) {
      if (isDatabaseDown(e)) this.drop(c);
      throw e;
    }
  };

  close(): void {
    if (this.conn) this.drop(this.conn);
  }
}

export class DataServer {
  private readonly dbHost: string;
  private readonly queue: string[] = [];
  private readonly taken = new Set<string>();
  private readonly dbs: Db[] = [];
  private running = true;
  private stopping = false;
  private errorSeen = false;
  private finish!: (end: RunEnd) => void;
  private readonly done = new Promise<RunEnd>((r) => (this.finish = r));
  private readonly bindAddress = process.env.LAB_PANDORA_BIND_ADDRESS || undefined;

  constructor(
    private readonly conf: DataServerConf,
    private readonly timings: Timings,
    private readonly log: (level: number, msg: string) => void,
  ) {
    this.dbHost = dbHostAtStart(conf, (p) => {
      try {
        return readFileSync(p, "utf8");
      } catch {
        return undefined;
      }
    });
  }

  private newDb(): Db {
    const c = this.conf;
    const b = this.bindAddress;
    const db = new Db(
      {
        host: this.dbHost, port: c.dbPort, user: c.dbUser, password: c.dbPass, database: c.dbName, connectTimeout: 10_000, dateStrings: true,
        ...(b ? { stream: () => net.connect({ host: this.dbHost, port: c.dbPort, localAddress: b }).setNoDelay(true) } : {}),
      },
      (e) => this.databaseError(e),
    );
    this.dbs.push(db);
    return db;
  }

  /** Runs until the server stops: for good (exit) or to start again (restart 1). */
  async run(): Promise<RunEnd> {
    const c = this.conf;
    this.log(1, `Pandora FMS Server ${SERVER_VERSION} starting; database ${this.dbHost}:${c.dbPort}/${c.dbName}, ${c.dataserverThreads} data server threads`);
    const main = this.newDb();
    try {
      await main.query("SELECT 1");
    } catch (e) {
      this.log(0, `[ERROR] Cannot connect to the database at ${this.dbHost}: ${message(e)}`);
      main.close();
      if (c.restart) return { kind: "restart" };
      return { kind: "exit", code: 1 };
    }
    void this.mainLoop(main);
    void this.producer();
    for (let i = 0; i < c.dataserverThreads; i++) void this.consumer(this.newDb());
    return this.done;
  }

  /** The first database error decides: shut down, die at once, or restart. */
  private databaseError(e: unknown): void {
    if (!isDatabaseDown(e) || this.errorSeen || this.stopping) return;
    this.errorSeen = true;
    this.log(1, `[ERROR] Database error on ${this.dbHost}: ${message(e)}`);
    const reaction = reactionToDbError(this.conf.restart, this.timings);
    if (reaction === "die") {
      this.log(0, "Perl exited with active threads");
      this.end({ kind: "exit", code: 255 });
      return;
    }
    setTimeout(() => this.shutdown(reaction === "restart" ? "restart" : "error"), pick(this.timings.errorDelayMs));
  }

  /** Stops taking files at once; ends after the threads' shutdown time. */
  shutdown(why: "signal" | "error" | "restart"): void {
    if (this.stopping) return;
    this.stopping = true;
    this.running = false;
    this.log(1, why === "restart" ? `Restarting the server in ${this.conf.restartDelay} s (restart 1)` : "Shutdown by signal");
    // Its row says it is down (ours; best effort, meanwhile: it never delays the exit).
    if (!this.errorSeen) void this.dbs[0].query("UPDATE tserver SET status = 0 WHERE name = ? AND server_type = 0", [this.conf.serverName]).catch(() => undefined);
    setTimeout(() => {
      this.log(1, `Pandora FMS Server ${this.conf.serverName} stopped`);
      this.end(why === "restart" ? { kind: "restart" } : { kind: "exit", code: 0 });
    }, pick(this.timings.shutdownMs));
  }

  private end(e: RunEnd): void {
    this.running = false;
    this.stopping = true;
    for (const db of this.dbs) db.close();
    this.finish(e);
  }

  /** The tserver row: created when missing, else status 1 and the keepalive refreshed. */
  private async keepalive(db: Db, starting: boolean): Promise<void> {
    const c = this.conf;
    const now = toDataTime(Date.now());
    const set = [now.datetime, now.utimestamp, c.master, SERVER_VERSION, c.dataserverThreads, Math.round(c.serverKeepalive)];
    const r = (await db.query(
      `UPDATE tserver SET status = 1, keepalive = ?, server_keepalive_utimestamp = ?, master = ?, version = ?, threads = ?, server_keepalive = ?${starting ? ", laststart = keepalive" : ""} ` +
        "WHERE name = ? AND server_type = 0",
      [...set, c.serverName],
    )) as { affectedRows?: number };
    if (r.affectedRows) return;
    await db.query(
      "INSERT INTO tserver (keepalive, server_keepalive_utimestamp, master, version, threads, server_keepalive, name, ip_address, status, laststart, data_server, server_type) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, 1, 0)",
      [...set, c.serverName, this.bindAddress ?? hostname(), now.datetime],
    );
  }

  /** Asks the database every server_threshold s (as the real main loop's work does) and heartbeats. */
  private async mainLoop(db: Db): Promise<void> {
    let nextKeepalive = 0;
    let starting = true;
    while (this.running) {
      try {
        if (Date.now() >= nextKeepalive) {
          await this.keepalive(db, starting);
          starting = false;
          nextKeepalive = Date.now() + this.conf.serverKeepalive * 1000;
        } else await db.query("SELECT 1");
      } catch (e) {
        if (isDatabaseDown(e)) this.databaseError(e);
        else this.log(1, `[ERROR] tserver keepalive: ${message(e)}`);
        nextKeepalive = Date.now() + this.conf.serverKeepalive * 1000;
      }
      await sleep(this.conf.serverThreshold * 1000);
    }
  }

  private async listIncoming(): Promise<IncomingFile[]> {
    const dir = this.conf.incomingDir;
    const names = (await readdir(dir)).filter((n) => n.endsWith(".data") && !this.taken.has(n));
    const files = await Promise.all(
      names.map(async (name) => {
        try {
          return { name, mtimeMs: (await stat(path.join(dir, name))).mtimeMs };
        } catch {
          return undefined;
        }
      }),
    );
    return files.filter((f): f is IncomingFile => !!f);
  }

  private async producer(): Promise<void> {
    let warned = false;
    while (this.running) {
      try {
        const room = this.conf.maxQueueFiles - this.queue.length;
        for (const f of selectFiles(room > 0 ? await this.listIncoming() : [], this.taken, room)) {
          this.taken.add(f);
          this.queue.push(f);
        }
        warned = false;
      } catch (e) {
        if (!warned) this.log(1, `[ERROR] Cannot read ${this.conf.incomingDir}: ${message(e)}`);
        warned = true;
      }
      await sleep(this.conf.serverThreshold * 1000);
    }
  }

  private consumerIo(db: Db): ConsumerIo {
    const c = this.conf;
    return {
      readFile: (f) => readFile(f, "utf8"),
      mtimeMs: async (f) => (await stat(f)).mtimeMs,
      unlink: (f) => unlink(f),
      rename: (a, b) => rename(a, b),
      sleep,
      store: async (data, mtimeMs) => {
        const ctx = { serverName: c.serverName, autocreate: c.autocreate, autocreateGroup: c.autocreateGroup, log: this.log };
        await storeAgentData(db.query, data, { ...ctx, now: toDataTime(Date.now()), time: dataTime(c.useXmlTimestamp, data.attrs.timestamp, mtimeMs) });
      },
      badXmlEvent: async (f, error) => {
        const now = toDataTime(Date.now());
        await db.query("INSERT INTO tevento (estado, timestamp, evento, utimestamp, event_type, criticity) VALUES (0, ?, ?, ?, 'error', 3)", [
          now.datetime, encodeEventText(`Unable to process XML data file [${path.basename(f)}]: ${error}`), now.utimestamp,
        ]);
      },
      onStoreError: (e) => this.databaseError(e),
      log: this.log,
    };
  }

  private async consumer(db: Db): Promise<void> {
    const io = this.consumerIo(db);
    while (this.running) {
      const name = this.queue.shift();
      if (name === undefined) {
        await sleep(IDLE_MS);
        continue;
      }
      try {
        const r = await consumeFile(io, path.join(this.conf.incomingDir, name));
        if (r.kind === "badxml") this.log(1, `[ERROR] ${name}: unparsable XML, renamed ${name}_BADXML (${r.error})`);
      } catch (e) {
        this.log(1, `[ERROR] ${name}: ${message(e)}`);
      } finally {
        this.taken.delete(name);
      }
    }
  }
}
