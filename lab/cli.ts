/**
 * npm run lab -- up [--nodes 2|3] [--servers 1|2] [--flavor mariadb1011|mysql] [--stack FILE]
 * npm run lab -- status [--json]
 * npm run lab -- fault <node> crash|hang|resume|restart|stop|isolate [--from <host>]|heal|blip --seconds S|disk-full|disk-free [--follow S]
 * npm run lab -- fault <host> partition|heal
 * npm run lab -- fault pfms1|pfms2 daemon-kill [--phase P]|daemon-restart
 * npm run lab -- down
 */
import { existsSync } from "node:fs";
import * as path from "node:path";
import { StepFailed } from "./deploy";
import { LAB_STACK_ENV } from "./stack";
import type { FaultKind } from "./lab";
import { FAULTS, down, fault, loadLab, readState, status, statusExtras, up } from "./lab";
import { PANDORA_PATHS } from "../lib/render/pandora";
import { HA_LOG_FILE, followHaLogs, haCommand, haLogSize, serverHosts } from "./ha";
import { DEFAULT_SERVERS, LAB_FLAVORS, paths } from "./layout";
import { PAUSE_PHASES, settled } from "./faults";
import { statusTable } from "./status";
import type { PhaseName } from "../runtime/state";
import { AGENTS_DIR, setAgents } from "./agents";

const USAGE = `usage:
  npm run lab -- up [--nodes 2|3]      create the lab hosts and deploy the cluster (again: changes nothing)
         [--servers 1|2]             Pandora server hosts: pfms1 (site A) and pfms2 (site B), the default; 1: pfms1 alone
         [--flavor mariadb1011|mysql]  the database: MariaDB 10.11 (default), or MySQL 9.7 from a Debian sid root filesystem (built once)
         [--stack FILE]              deploy this stack file instead of Pulumi.lab.yaml (a changed config, rolled out)
  npm run lab -- status [--json]       each node's role, read_only, server_id, GTID, replication
  npm run lab -- fault <node> crash|hang|resume|restart|stop|isolate [--from <host>]|heal [--follow S]
  npm run lab -- fault <node> blip --seconds S         cut off from everything for S s, healed by itself
  npm run lab -- fault <node> disk-full|disk-free      fill / free the binary log's filesystem (MariaDB: refused on MySQL)
  npm run lab -- fault <host> partition                site A (node1, node3, pfms1) cut from site B (node2, pfms2); heal undoes it
  npm run lab -- fault pfms1 daemon-kill               kill -9 pfms1's pandora_ha now (pfms2: its own)
  npm run lab -- fault pfms1 daemon-kill --phase ${PAUSE_PHASES.join("|")}   every daemon restarted; the one whose failover does that phase is killed -9 there
  npm run lab -- fault pfms1 daemon-restart
  npm run lab -- agents N              N real Pandora agents (Debian's pandora_agent) sending every second to pfms1, pfms2 on error; 0 stops them
  npm run lab -- down                  stop everything the lab started, remove its rules and state`;

class UsageError extends Error {}

function parseFlags(args: string[], allowed: Record<string, "value" | "bool">): { flags: Record<string, string | true>; rest: string[] } {
  const flags: Record<string, string | true> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) {
      rest.push(a);
      continue;
    }
    const name = a.slice(2);
    const kind = allowed[name];
    if (!kind) throw new UsageError(`unknown option ${a}`);
    if (kind === "bool") flags[name] = true;
    else {
      const v = args[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${a} needs a value`);
      flags[name] = v;
    }
  }
  return { flags, rest };
}

async function printStatus(json: boolean): Promise<void> {
  const lab = loadLab();
  const nodes = await status(lab);
  const extras = statusExtras(lab);
  if (json) {
    process.stdout.write(`${JSON.stringify({ nodes, ...extras }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${statusTable(nodes)}\n\n`);
  process.stdout.write(`admin (${extras.adminUser}): mariadb --defaults-extra-file=${extras.adminOptionFile} -h <address> pandora\n`);
  process.stdout.write(`pandora_server.conf: ${extras.pandoraServerConf}\n`);
  process.stdout.write(`pandora_ha_hosts.conf: ${extras.haHostsFile}${serverHosts(lab).length > 1 ? ` (shared: ${extras.sharedDir})` : ""}\n`);
  process.stdout.write(`ssh into a host: ssh -i ${extras.sshKey} -p ${lab.state.sshPort} root@<address>\n`);
  for (const h of serverHosts(lab)) {
    const ha = await haCommand(lab, `status ${PANDORA_PATHS.serverConf}`, 30_000, h.name);
    const log = paths.inHost(h.name, HA_LOG_FILE);
    process.stdout.write(`\npandora_ha on ${h.name} (\`pandora_ha status\`; its log: ${log}):\n${(ha.stdout || ha.stderr).trimEnd()}\n`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case "up": {
      const { flags, rest } = parseFlags(args, { nodes: "value", servers: "value", stack: "value", flavor: "value" });
      if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
      if (typeof flags.stack === "string") {
        if (!existsSync(flags.stack)) throw new UsageError(`--stack: no such file ${flags.stack}`);
        process.env[LAB_STACK_ENV] = path.resolve(flags.stack);
      }
      const nodes = flags.nodes === undefined ? (readState()?.nodes ?? 2) : Number(flags.nodes);
      if (nodes !== 2 && nodes !== 3) throw new UsageError(`--nodes must be 2 or 3 (got ${String(flags.nodes)})`);
      const servers = flags.servers === undefined ? (readState()?.servers ?? DEFAULT_SERVERS) : Number(flags.servers);
      if (servers !== 1 && servers !== 2) throw new UsageError(`--servers must be 1 or 2 (got ${String(flags.servers)})`);
      const t = Date.now();
      if (flags.flavor !== undefined && !(LAB_FLAVORS as readonly unknown[]).includes(flags.flavor))
        throw new UsageError(`--flavor must be one of ${LAB_FLAVORS.join(", ")} (got ${String(flags.flavor)})`);
      const r = await up(nodes, undefined, servers, flags.flavor as string | undefined);
      const secs = ((Date.now() - t) / 1000).toFixed(1);
      process.stdout.write(
        r.changed === 0
          ? `\nlab up: nothing changed (${r.steps.length} steps checked in ${secs} s)\n\n`
          : `\nlab up: ${r.changed} changes in ${r.steps.length} steps, ${secs} s\n\n`,
      );
      await printStatus(false);
      return 0;
    }
    case "status": {
      const { flags, rest } = parseFlags(args, { json: "bool" });
      if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
      await printStatus(flags.json === true);
      return 0;
    }
    case "fault": {
      const { flags, rest } = parseFlags(args, { from: "value", follow: "value", seconds: "value", phase: "value" });
      const [node, kind, extra] = rest;
      for (const f of ["follow", "seconds"] as const) {
        if (flags[f] !== undefined && !/^[1-9]\d*$/.test(String(flags[f]))) throw new UsageError(`--${f} takes whole seconds`);
      }
      if (!node || !kind) throw new UsageError("fault needs a node and a fault");
      if (extra) throw new UsageError(`unexpected argument ${extra}`);
      if (!FAULTS.includes(kind as FaultKind)) throw new UsageError(`unknown fault '${kind}' (one of: ${FAULTS.join(", ")})`);
      if (flags.phase !== undefined && !PAUSE_PHASES.includes(flags.phase as PhaseName)) throw new UsageError(`--phase is one of ${PAUSE_PHASES.join(", ")}`);
      const seconds = flags.seconds === undefined ? undefined : Number(flags.seconds);
      const lab = loadLab();
      const from = new Map(serverHosts(lab).map((h) => [h.name, haLogSize(lab, h.name)]));
      const opts = { seconds, phase: flags.phase as PhaseName | undefined };
      process.stdout.write(`${await fault(lab, node, kind as FaultKind, flags.from as string | undefined, opts)}\n`);
      // Show what pandora_ha makes of it, live, until a failover ends or 15 s pass (a blip: until it is over).
      process.stdout.write(`\npandora_ha on ${serverHosts(lab).map((h) => h.name).join(" and ")}:\n`);
      await followHaLogs(lab, from, Math.max(Number(flags.follow ?? 15), (seconds ?? 0) + 5) * 1000, (l) => process.stdout.write(`${l}\n`));
      if (kind === "blip" || opts.phase) process.stdout.write(`(waiting for the ${kind === "blip" ? "blip to heal" : "daemon to reach the phase"})\n`);
      await settled();
      return 0;
    }
    case "agents": {
      const { rest } = parseFlags(args, {});
      if (rest.length !== 1 || !/^\d+$/.test(rest[0])) throw new UsageError("agents takes one whole number (0 stops them)");
      const agents = await setAgents(loadLab(), Number(rest[0]));
      for (const a of agents) process.stdout.write(`${a.name}  pid ${a.pid}  uid ${a.uid}  ${AGENTS_DIR}/${a.name}/pandora_agent.log\n`);
      process.stdout.write(`${agents.length} agent${agents.length === 1 ? "" : "s"} running\n`);
      return 0;
    }
    case "down": {
      if (args.length) throw new UsageError(`unexpected argument ${args[0]}`);
      await down();
      return 0;
    }
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(`${USAGE}\n`);
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command '${cmd}'`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      if (e instanceof UsageError) process.stderr.write(`lab: ${e.message}\n${USAGE}\n`);
      else if (e instanceof StepFailed) process.stderr.write(`\nlab: ${e.message}\n`);
      else process.stderr.write(`lab: ${(e as Error).message}\n`);
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}
