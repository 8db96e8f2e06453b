/**
 * A writer that behaves like Pandora's servers: it inserts into the master that
 * pandora_ha_hosts.conf names (read again on every reconnect), over several connections, and
 * records the id of every insert the server acknowledged. Used by the failover tests and the
 * failover benchmark to count acknowledged rows lost.
 */
import { readFileSync } from "node:fs";
import * as mysql from "mysql2/promise";
import { PANDORA_PATHS } from "../lib/render/pandora";
import { serverHost } from "./ha";
import type { Lab } from "./lab";
import { paths } from "./layout";
import { sleep } from "./proc";

/** The master pfms1's pandora_ha_hosts.conf names ("" when there is none yet). */
export function publishedMaster(lab: Lab): string {
  try {
    return readFileSync(paths.inHost(serverHost(lab).name, PANDORA_PATHS.haHostsFile), "utf8");
  } catch {
    return "";
  }
}

export interface Writer {
  /** Ids acknowledged so far. */
  acked: number[];
  /** Ends the writer; resolves with every acknowledged id. */
  stop(): Promise<number[]>;
}

export function startPublishedWriter(lab: Lab, table: string, connections: number): Writer {
  const acked: number[] = [];
  let running = true;
  const loops = Array.from({ length: connections }, async () => {
    let c: mysql.Connection | undefined;
    while (running) {
      try {
        c ??= await mysql.createConnection({
          host: publishedMaster(lab), port: lab.cfg.dbPort, user: lab.cfg.pandoraDbUser, password: lab.secrets.passwords.pandoraDbPassword,
          database: lab.cfg.dbName, connectTimeout: 1000,
        });
        const [r] = await c.query({ sql: `INSERT INTO ${table} (v) VALUES (1)`, timeout: 10_000 });
        acked.push((r as mysql.ResultSetHeader).insertId);
      } catch {
        c?.destroy();
        c = undefined;
        await sleep(20);
      }
    }
    c?.destroy();
  });
  return {
    acked,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return acked;
    },
  };
}
