/**
 * What the pandora_ha scenarios share: a fresh lab per test (the daemon running on pfms1), the
 * keyed writer following pandora_ha_hosts.conf, the daemon's log since the scenario began, and
 * the checks every scenario ends with: exactly one writable node, pandora_ha_hosts.conf naming
 * it, and every acknowledged key on it.
 */
import * as mysql from "mysql2/promise";
import { afterEach, beforeEach, expect } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { PANDORA_PATHS } from "../../lib/render/pandora";
import type { LogLine } from "../../lab/ha";
import { describeLogLine, haLogSize, haStatusJson, onServer, readHaLog, startDaemon, stopDaemon } from "../../lab/ha";
import { paths } from "../../lab/layout";
import type { Lab } from "../../lab/lab";
import { down, findHost, up } from "../../lab/lab";
import { missingKeys, publishedMaster, startPublishedWriter, writerTableSql } from "../../lab/writer";
import type { Writer } from "../../lab/writer";
import { dialectFor } from "../../runtime/dialect";
import type { Dialect } from "../../runtime/types";
import { asMariaNames, eventually, requireLabMachine } from "./helpers";

export const TABLE = "pha_writer";
const quiet = () => undefined;

export class Scenario {
  lab!: Lab;
  /** Where the daemon's log stood when the scenario began. */
  logFrom = 0;

  addr = (node: string): string => findHost(this.lab, node).address;
  published = (): string => publishedMaster(this.lab);

  admin(node: string): Promise<mysql.Connection> {
    return mysql.createConnection({
      host: this.addr(node), port: this.lab.cfg.dbPort, user: this.lab.cfg.haDbUser, password: this.lab.secrets.passwords.haDbPassword,
      database: this.lab.cfg.dbName, connectTimeout: 1000,
    });
  }

  async adminQuery<T = Record<string, unknown>>(node: string, sql: string, timeoutMs = 15_000): Promise<T[]> {
    const c = await this.admin(node);
    try {
      const [rows] = await c.query({ sql, timeout: timeoutMs });
      return rows as T[];
    } finally {
      c.destroy();
    }
  }

  /** SHOW REPLICA STATUS with MariaDB's column names, whatever the family (helpers.ts asMariaNames). */
  async replicaStatus(node: string, timeoutMs = 15_000): Promise<Array<Record<string, unknown>>> {
    return asMariaNames(await this.adminQuery(node, "SHOW REPLICA STATUS", timeoutMs));
  }

  /** The SQL dialect of the node's server, from its version. */
  async dialect(node: string): Promise<Dialect> {
    const [v] = await this.adminQuery<{ v: string }>(node, "SELECT VERSION() AS v");
    return dialectFor(v.v);
  }

  /** The node's transaction history: gtid_binlog_state (MariaDB), gtid_executed (MySQL). */
  async history(node: string): Promise<string> {
    const [h] = await this.adminQuery<{ v: string }>(node, (await this.dialect(node)).gtidHistorySql);
    return String(h.v).replace(/\s+/g, "");
  }

  async readOnly(node: string): Promise<boolean | undefined> {
    try {
      const [r] = await this.adminQuery<{ v: number }>(node, "SELECT @@global.read_only AS v", 2000);
      return Number(r.v) === 1;
    } catch {
      return undefined;
    }
  }

  dbNodes(): string[] {
    return this.lab.state.hosts.filter((h) => h.kind === "db").map((h) => h.name);
  }

  async writableNodes(): Promise<string[]> {
    const nodes = this.dbNodes();
    const ro = await Promise.all(nodes.map((n) => this.readOnly(n)));
    return nodes.filter((_, i) => ro[i] === false);
  }

  /** Log lines of the daemon since the scenario began. */
  log(): LogLine[] {
    return readHaLog(this.lab, this.logFrom).lines;
  }

  events(type: string): LogLine[] {
    return this.log().filter((l) => l.event === type);
  }

  async waitForEvent(type: string, timeoutMs = 30_000): Promise<LogLine> {
    await eventually(`the daemon's ${type} event`, async () => this.events(type).length > 0, timeoutMs);
    return this.events(type)[0];
  }

  /** A writer following pandora_ha_hosts.conf, as Pandora's servers do (8 connections by default). */
  startWriter(connections = 8): Writer {
    return startPublishedWriter(this.lab, TABLE, connections);
  }

  /** Sets tokens in pfms1's pandora_server.conf (replacing or appending each) and restarts its daemon. */
  async setTokens(tokens: Record<string, string>): Promise<void> {
    const conf = paths.inHost("pfms1", PANDORA_PATHS.serverConf);
    let text = readFileSync(conf, "utf8");
    for (const [k, v] of Object.entries(tokens)) {
      const line = new RegExp(`^${k} .*$`, "m");
      text = line.test(text) ? text.replace(line, `${k} ${v}`) : `${text.replace(/\n?$/, "\n")}${k} ${v}\n`;
    }
    writeFileSync(conf, text, { mode: 0o600 });
    await stopDaemon(this.lab, "SIGTERM");
    await startDaemon(this.lab);
    await eventually("the restarted daemon publishing the master", async () => this.log().some((l) => l.event === "daemon_start") && this.published() !== "");
  }

  /**
   * A second pandora_ha on pfms1 (pfms1b), with its own conf, pid file, state, log and HTTP port;
   * returns its log and its pid (read when asked).
   */
  async startSecondDaemon(): Promise<{ log: () => LogLine[]; pid: () => number }> {
    const conf2 = "/etc/pandora/pandora_server_b.conf";
    const own = ["ha_pid_file /run/pandora_ha_b.pid", "ha_state_dir /var/lib/pandora-ha-b", "ha_log_file /var/log/pandora/pandora_ha_b.log", "ha_http_port 41181", "servername pfms1b"];
    const base = readFileSync(paths.inHost("pfms1", PANDORA_PATHS.serverConf), "utf8").split("\n").filter((l) => !/^(ha_pid_file|ha_state_dir|ha_log_file|ha_http_port|servername) /.test(l));
    writeFileSync(paths.inHost("pfms1", conf2), [...base, ...own, ""].join("\n"), { mode: 0o600 });
    const b = await onServer(this.lab, `pandora_ha -d -p /run/pandora_ha_b.pid ${conf2}`);
    expect(b.code, b.stderr).toBe(0);
    return {
      log: () => readHaLog(this.lab, 0, "/var/log/pandora/pandora_ha_b.log").lines,
      pid: () => Number(readFileSync(paths.inHost("pfms1", "/run/pandora_ha_b.pid"), "utf8")),
    };
  }

  /** Exactly one writable node, and pandora_ha_hosts.conf names it. */
  async expectOneMaster(expectMaster?: string, timeoutMs = 30_000): Promise<string> {
    let master = "";
    await eventually(
      "exactly one writable node, named by pandora_ha_hosts.conf",
      async () => {
        const w = await this.writableNodes();
        if (w.length !== 1 || this.published() !== this.addr(w[0])) return false;
        master = w[0];
        return true;
      },
      timeoutMs,
    );
    if (expectMaster) expect(master).toBe(expectMaster);
    return master;
  }

  /** The acknowledged keys missing from the writer's table on `node`. */
  async missing(node: string, acked: string[]): Promise<string[]> {
    const c = await this.admin(node);
    try {
      return await missingKeys(c, TABLE, acked);
    } finally {
      c.destroy();
    }
  }

  /** Exactly one writable node, the published one, holding every acknowledged key. */
  async expectOneMasterNothingLost(acked: string[], expectMaster?: string): Promise<string> {
    const master = await this.expectOneMaster(expectMaster);
    expect(acked.length).toBeGreaterThan(0);
    expect(await this.missing(master, acked)).toEqual([]);
    return master;
  }
}

/**
 * Registers a fresh lab of `nodes` DB nodes for every test of the calling describe block, with
 * the writer's table created and the daemon publishing node1; a failed test prints the daemon's
 * log, so the CI log explains it. One server host (pfms1): these scenarios drive its daemon by
 * hand (stopped, killed, armed to stop at a phase), which a second daemon on pfms2 would take
 * over behind their back; the two-server layout has tests of its own (servers.test.ts).
 */
export function freshLabEachTest(nodes = 2): Scenario {
  const sc = new Scenario();
  beforeEach(async () => {
    await requireLabMachine();
    sc.lab = (await up(nodes, quiet, 1)).lab;
    await sc.adminQuery("node1", writerTableSql(TABLE));
    await eventually("the daemon publishing node1", async () => sc.published() === sc.addr("node1"));
    // Its first publication restarts pandora_server, and its loop waits for the init script (2–3 s
    // for Pandora's: start-up, then `sleep 1`): the scenario begins once the daemon has looked at
    // the cluster again and found the master durable.
    await eventually("the daemon seeing node1 durable", async () => {
      const m = (await haStatusJson(sc.lab)).durability.lastMaster;
      return m?.host === sc.addr("node1") && m.durable;
    }, 30_000);
    sc.logFrom = haLogSize(sc.lab);
  }, 120_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      const lines = sc.log().map(describeLogLine).filter((l): l is string => !!l);
      process.stderr.write(`\n--- pandora_ha on pfms1 during "${ctx.task.name}":\n${lines.join("\n")}\n---\n`);
    }
    await down(quiet);
  }, 120_000);
  return sc;
}
