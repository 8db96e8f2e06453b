/**
 * Writers that can see a loss. Each insert carries a key the client made (`<run>-<connection>-<n>`,
 * never reused, not even on a retry), and a writer records the key of every insert the server
 * acknowledged. A loss is then checked by key: an AUTO_INCREMENT id cannot show one, since a new
 * master hands the same ids out again and a lost row is masked by a new one.
 *
 * The published writer behaves like Pandora's servers: it inserts into the master that
 * pandora_ha_hosts.conf names (read again on every reconnect), over several connections. Used by
 * the integration tests and the benchmarks.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as mysql from "mysql2/promise";
import { PANDORA_PATHS } from "../lib/render/pandora";
import { serverHost } from "./ha";
import type { Lab } from "./lab";
import { findHost } from "./lab";
import { paths } from "./layout";
import { sleep } from "./proc";

/** The table a writer inserts into: the key is the client's, the primary key. */
export function writerTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (k VARCHAR(48) NOT NULL PRIMARY KEY, v INT NOT NULL, at DATETIME(3) NOT NULL DEFAULT NOW(3)) ENGINE=InnoDB`;
}

/** The master pfms1's pandora_ha_hosts.conf names ("" when there is none yet). */
export function publishedMaster(lab: Lab): string {
  try {
    return readFileSync(paths.inHost(serverHost(lab).name, PANDORA_PATHS.haHostsFile), "utf8");
  } catch {
    return "";
  }
}

export interface Writer {
  /** Keys acknowledged so far. */
  acked: string[];
  /** Inserts that failed (not acknowledged: they may or may not be there). */
  failed(): number;
  /** Ends the writer; resolves with every acknowledged key. */
  stop(): Promise<string[]>;
}

/**
 * `connections` loops inserting into `table` on the host `target()` names at each (re)connect, as
 * the pandora account. Every attempt gets a new key.
 */
export function startKeyedWriter(lab: Lab, target: () => string, table: string, connections: number): Writer {
  const acked: string[] = [];
  const run = randomBytes(4).toString("hex");
  let failed = 0;
  let running = true;
  const loops = Array.from({ length: connections }, async (_, i) => {
    let c: mysql.Connection | undefined;
    let n = 0;
    while (running) {
      const key = `${run}-${i}-${n++}`;
      try {
        c ??= await mysql.createConnection({
          host: target(), port: lab.cfg.dbPort, user: lab.cfg.pandoraDbUser, password: lab.secrets.passwords.pandoraDbPassword,
          database: lab.cfg.dbName, connectTimeout: 1000,
        });
        await c.query({ sql: `INSERT INTO ${table} (k, v) VALUES (?, ?)`, values: [key, i], timeout: 10_000 });
        acked.push(key);
      } catch {
        failed++;
        c?.destroy();
        c = undefined;
        await sleep(20);
      }
    }
    c?.destroy();
  });
  return {
    acked,
    failed: () => failed,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return acked;
    },
  };
}

/** A writer following pandora_ha_hosts.conf, as Pandora's servers do. */
export function startPublishedWriter(lab: Lab, table: string, connections: number): Writer {
  return startKeyedWriter(lab, () => publishedMaster(lab), table, connections);
}

/** A writer on one node, whatever is published. */
export function startNodeWriter(lab: Lab, node: string, table: string, connections = 1): Writer {
  const address = findHost(lab, node).address;
  return startKeyedWriter(lab, () => address, table, connections);
}

/** The acknowledged keys missing from `table` on the node `conn` is connected to. */
export async function missingKeys(conn: { query: (sql: string) => Promise<unknown> }, table: string, acked: string[]): Promise<string[]> {
  const [rows] = (await conn.query(`SELECT k FROM ${table}`)) as [Array<{ k: string }>];
  const have = new Set(rows.map((r) => r.k));
  return acked.filter((k) => !have.has(k));
}
