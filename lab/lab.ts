/** The lab's commands: up, status, fault, down. Used by the CLI and by the integration tests. */
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { createServer } from "node:net";
import type { ClusterConfig } from "../lib/config";
import { PANDORA_PATHS } from "../lib/render/pandora";
import { removeAgents } from "./agents";
import type { StepResult } from "./deploy";
import { deploy } from "./deploy";
import * as faults from "./faults";
import { HA_LOG_FILE, createPandoraSchema, onServer, serverHost } from "./ha";
import { createHost, destroyHost, ensureNsDir, hostExists, hostPids, startSshd } from "./hosts";
import type { LabFlavor, LabHost, LabState } from "./layout";
import { DEFAULT_SERVERS, HOST_MOUNTS, LAB_DIR, MAX_SERVERS, SHARED_DIR, labFlavor, labHosts, paths } from "./layout";
import type { RunResult } from "./proc";
import { run, runOk } from "./proc";
import { ROOTFS_DIR, ensureMysqlRootfs } from "./rootfs";
import type { LabSecrets } from "./stack";
import type { PhaseName } from "../runtime/state";
import { labClusterConfig, labSecrets } from "./stack";
import type { NodeStatus } from "./status";
import { nodeStatus } from "./status";

export const LAB_PACKAGES = ["mariadb-server", "mariadb-client", "mariadb-backup", "openssh-server", "rsync", "zstd", "iptables", "iproute2"];

type Log = (line: string) => void;
const stdoutLog: Log = (l) => process.stdout.write(`${l}\n`);

export function readState(): LabState | undefined {
  if (!existsSync(paths.state)) return undefined;
  const state = JSON.parse(readFileSync(paths.state, "utf8")) as LabState;
  // A lab brought up before the two-server layout: its server hosts, counted (down and status work).
  state.servers ??= state.hosts.filter((h) => h.kind === "server").length;
  return state;
}

/** A lab of the one-server version: its hosts lack /mnt, /var/www and the shared directory. */
function olderLab(): boolean {
  return existsSync(paths.state) && (JSON.parse(readFileSync(paths.state, "utf8")) as Partial<LabState>).servers === undefined;
}

/**
 * True when a lab recorded in the state file still has processes running. A state file without
 * them is what a stopped machine leaves behind (processes gone, files kept): `down` clears it.
 */
export function labIsLive(state: LabState | undefined = readState()): boolean {
  return !!state && state.hosts.some((h) => hostPids(h.name).length > 0);
}

/**
 * For whatever brings up a lab of its own (the tests, the benchmark): refuses while a lab runs
 * (same addresses), and clears the files of one whose processes are gone.
 */
export async function requireNoLiveLab(who: string): Promise<void> {
  if (labIsLive()) throw new Error(`a lab is already up in ${LAB_DIR}; ${who} brings up its own: run \`npm run lab -- down\` first`);
  if (readState()) await down(() => undefined);
}

/** Runs the resync tool on the server host, as an operator (or pandora_ha) would. */
export function runResyncTool(lab: Lab, master: string, slave: string, timeoutMs = 180_000): Promise<RunResult> {
  return onServer(lab, `${PANDORA_PATHS.resyncScript} ${PANDORA_PATHS.serverConf} ${master} ${slave}`, timeoutMs);
}

/** Installs the Debian packages the lab needs, when missing (as root). */
export async function ensurePackages(log: Log, flavor: LabFlavor = "mariadb1011"): Promise<void> {
  const missing: string[] = [];
  // The MySQL lab builds its DB hosts' root filesystem with debootstrap.
  for (const p of flavor === "mysql" ? [...LAB_PACKAGES, "debootstrap"] : LAB_PACKAGES) {
    const r = await run("dpkg-query", ["-W", "-f=${Status}", p]);
    if (r.stdout.trim() !== "install ok installed") missing.push(p);
  }
  if (!missing.length) return;
  if (process.getuid?.() !== 0) throw new Error(`the lab needs these Debian packages: ${missing.join(" ")} (run as root to install them)`);
  log(`installing ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await runOk("apt-get", ["update", "-q"], { env, timeoutMs: 600_000 });
  await runOk("apt-get", ["install", "-y", "-q", ...missing], { env, timeoutMs: 600_000 });
}

/** Port 22 on the lab addresses when free, else 2222. */
async function pickSshPort(): Promise<number> {
  for (const port of [22, 2222]) {
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.1.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("neither port 22 nor 2222 is free on 127.0.1.1 for the lab's sshd");
}

export interface Lab {
  state: LabState;
  secrets: LabSecrets;
  cfg: ClusterConfig;
}

export function loadLab(): Lab {
  const state = readState();
  if (!state) throw new Error(`no lab is up (no ${paths.state}): run \`npm run lab -- up\``);
  const secrets = JSON.parse(readFileSync(paths.secrets, "utf8")) as LabSecrets;
  const cfg = labClusterConfig(state.nodes, state.servers, state.sshPort, secrets, readFileSync(paths.adminKey, "utf8"), state.flavor);
  return { state, secrets, cfg };
}

export interface UpResult {
  lab: Lab;
  steps: StepResult[];
  changed: number;
}

/**
 * Brings the lab up (or rolls the stack out again on a running one): `nodes` DB nodes and
 * `serverHosts` Pandora server hosts (the production layout, by default: two, pfms1 on site A and
 * pfms2 on site B; on a running lab, as many as it has), on MariaDB 10.11 or, with `flavor`
 * mysql (default: $PANDORA_HA_LAB_FLAVOR), on Debian sid's MySQL (its root filesystem built
 * once, lab/rootfs.ts).
 */
export async function up(nodes: number, log: Log = stdoutLog, serverHosts?: number, flavorName?: string): Promise<UpResult> {
  if (process.getuid?.() !== 0) throw new Error("the lab needs root (mount namespaces, sshd, iptables)");
  if (olderLab()) throw new Error("the lab that is up was made by an earlier version of the lab (one server host, no shared directory): run `npm run lab -- down` first");
  const existing = readState();
  // Again on a running lab: its own number of server hosts, unless told otherwise.
  const servers = serverHosts ?? existing?.servers ?? DEFAULT_SERVERS;
  if (!Number.isInteger(servers) || servers < 1 || servers > MAX_SERVERS) throw new Error(`--servers: expected 1 to ${MAX_SERVERS}, got ${servers}`);
  if (existing && (existing.nodes !== nodes || existing.servers !== servers))
    throw new Error(
      `a lab with ${existing.nodes} nodes and ${existing.servers} server hosts is up; run \`npm run lab -- down\` first to change it to ${nodes} and ${servers}`,
    );
  const flavor = existing ? (existing.flavor ?? "mariadb1011") : labFlavor(flavorName);
  if (existing && flavorName !== undefined && labFlavor(flavorName) !== flavor)
    throw new Error(`a ${flavor} lab is up; run \`npm run lab -- down\` first to bring up a ${flavorName} one`);
  await ensurePackages(log, flavor);
  const rootfs = flavor === "mysql" ? ROOTFS_DIR : undefined;
  if (rootfs) await ensureMysqlRootfs(log);
  mkdirSync(LAB_DIR, { recursive: true, mode: 0o700 });
  if (!existsSync(paths.adminKey)) await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "pandora-ha lab admin", "-f", paths.adminKey]);
  const secrets = await labSecrets();
  let state = existing;
  if (!state) {
    state = { nodes, flavor, servers, sshPort: await pickSshPort(), hosts: labHosts(nodes, servers, rootfs), createdAt: new Date().toISOString() };
  }
  // A private mount needs a directory to cover on the machine: made when missing, and recorded.
  for (const [inside] of HOST_MOUNTS) {
    if (existsSync(inside)) continue;
    mkdirSync(inside, { mode: 0o755 });
    state.madeDirs = [...(state.madeDirs ?? []), inside];
  }
  writeFileSync(paths.state, JSON.stringify(state, null, 2));
  await ensureNsDir();
  const adminPub = readFileSync(`${paths.adminKey}.pub`, "utf8");
  const cfg = labClusterConfig(nodes, servers, state.sshPort, secrets, readFileSync(paths.adminKey, "utf8"), flavor);
  const sharedPath = cfg.sharedStorage === "mounted" ? cfg.sharedPath : undefined;
  for (const h of state.hosts) {
    const t = Date.now();
    if (await hostExists(h.name)) {
      await startSshd(h);
      continue;
    }
    await createHost(h, state.sshPort, adminPub, h.kind === "server" ? sharedPath : undefined);
    log(`host ${h.name.padEnd(6)} ${h.address}:${state.sshPort} ready (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  }
  const steps = await deploy({ cfg, hosts: state.hosts, sshPort: state.sshPort, secrets, log });
  const changed = steps.reduce((n, s) => n + s.changed.length, 0);
  const lab = { state, secrets, cfg };
  // What the Pandora console installer would create: the tables pandora_ha writes events to.
  const master = (await status(lab)).find((n) => n.role === "master" && n.readOnly === false);
  if (master) await createPandoraSchema(lab, master.host);
  return { lab, steps, changed };
}

export async function status(lab: Lab): Promise<NodeStatus[]> {
  const cred = { user: lab.cfg.haDbUser, password: lab.secrets.passwords.haDbPassword };
  const dbHosts = lab.state.hosts.filter((h) => h.kind === "db");
  return Promise.all(dbHosts.map((h) => nodeStatus(h, lab.cfg.dbPort, cred)));
}

/** The admin account as a 0600 client option file (its password is never printed). */
function adminOptionFile(lab: Lab): string {
  writeFileSync(paths.adminCnf, `[client]\nuser=${lab.cfg.haDbUser}\npassword=${lab.secrets.passwords.haDbPassword}\n`, { mode: 0o600 });
  chmodSync(paths.adminCnf, 0o600);
  return paths.adminCnf;
}

export function statusExtras(lab: Lab): Record<string, string> {
  const server = serverHost(lab);
  return {
    adminUser: lab.cfg.haDbUser,
    adminOptionFile: adminOptionFile(lab),
    pandoraServerConf: paths.inHost(server.name, PANDORA_PATHS.serverConf),
    haHostsFile: paths.inHost(server.name, PANDORA_PATHS.haHostsFile),
    sshKey: paths.adminKey,
    haLog: paths.inHost(server.name, HA_LOG_FILE),
    sharedDir: SHARED_DIR,
  };
}

export function findHost(lab: Lab, name: string): LabHost {
  const h = lab.state.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no lab host '${name}' (hosts: ${lab.state.hosts.map((x) => x.name).join(", ")})`);
  return h;
}

export const FAULTS = [
  "crash", "hang", "resume", "restart", "stop", "isolate", "heal", "blip", "partition", "disk-full", "disk-free", "daemon-kill", "daemon-restart",
] as const;
export type FaultKind = (typeof FAULTS)[number];

export interface FaultOptions {
  /** blip: how long the node stays cut off. */
  seconds?: number;
  /** daemon-kill: kill -9 when the next failover has done this phase (PANDORA_HA_PAUSE_AFTER). */
  phase?: PhaseName;
}

const DB_FAULTS: FaultKind[] = ["crash", "hang", "resume", "restart", "stop", "disk-full", "disk-free"];

export async function fault(lab: Lab, node: string, kind: FaultKind, from?: string, opts: FaultOptions = {}): Promise<string> {
  const h = findHost(lab, node);
  const fromHost = from === undefined ? undefined : findHost(lab, from);
  if (fromHost && kind !== "isolate") throw new Error("--from goes with isolate only");
  if (fromHost === h) throw new Error("--from names the node itself");
  if ((opts.seconds !== undefined) !== (kind === "blip")) throw new Error("a blip needs --seconds, and only a blip takes it");
  if (opts.phase !== undefined && kind !== "daemon-kill") throw new Error("--phase goes with daemon-kill only");
  if (DB_FAULTS.includes(kind) && h.kind !== "db") throw new Error(`${node} is not a database node: ${kind} applies to node1..node${lab.state.nodes}`);
  if (kind.startsWith("daemon-") && h.kind !== "server") throw new Error(`${node} is not a server host: ${kind} applies to the host pandora_ha runs on`);
  switch (kind) {
    case "crash":
      return `${node}: killed database server (kill -9 of pid ${(await faults.crash(node)).join(", ")})`;
    case "hang":
      return `${node}: database server stopped (SIGSTOP pid ${faults.hang(node).join(", ")}): it accepts TCP but never answers`;
    case "resume":
      return `${node}: database server continued (SIGCONT pid ${faults.resume(node).join(", ") || "none"})`;
    case "restart":
      await faults.restart(node, lab.cfg.os);
      return `${node}: database server running`;
    case "stop":
      await faults.stop(node, lab.cfg.os);
      return `${node}: database server shut down cleanly (restart starts it)`;
    case "isolate":
      return `${node}: cut off from ${fromHost ? fromHost.name : "every other host"} in both directions (${await faults.isolate(h, fromHost)} iptables rules)`;
    case "heal":
      return `${node}: ${await faults.heal(h)} isolation rules removed`;
    case "blip":
      return `${node}: cut off from every other host for ${opts.seconds} s, then healed by itself (${(await faults.blip(h, opts.seconds!)).rules} iptables rules)`;
    case "partition": {
      const { a, b } = faults.sites(lab.state.hosts);
      const names = (x: LabHost[]) => x.map((y) => y.name).join(" + ");
      return `partition: site A (${names(a)}) cut from site B (${names(b)}) both ways (${await faults.partition(lab.state.hosts)} iptables rules); heal removes it`;
    }
    case "disk-full":
      return `${node}: binary log filled: ${await faults.diskFull(node, lab.cfg.os)}`;
    case "disk-free":
      return `${node}: ${await faults.diskFree(node, lab.cfg.os)}`;
    case "daemon-kill":
      if (opts.phase) {
        await faults.daemonKillAt(lab, opts.phase, 120_000);
        return `pandora_ha restarted on every server host to stop after ${opts.phase}; the one that gets there in a failover within 2 min is killed -9 there`;
      }
      return `${node}: pandora_ha killed (kill -9 of pid ${(await faults.daemonKill(lab, node)) ?? "none: it was not running"})`;
    case "daemon-restart":
      await faults.daemonRestart(lab, {}, node);
      return `${node}: pandora_ha restarted`;
  }
}

/**
 * With PANDORA_HA_KEEP_LOGS=<dir>, each host's /var/log (its daemons', guard's and servers' logs)
 * copied to <dir>/<time>/<host> before `down` removes the lab: what a failed test run leaves to
 * read.
 */
function keepLogs(hosts: string[], log: Log): void {
  const keep = process.env.PANDORA_HA_KEEP_LOGS;
  if (!keep || !hosts.length) return;
  const to = path.join(keep, new Date().toISOString().replace(/[:.]/g, ""));
  for (const h of hosts) {
    try {
      cpSync(path.join(LAB_DIR, "hosts", h, "log"), path.join(to, h), { recursive: true });
    } catch (e) {
      log(`host ${h}: logs not kept (${(e as Error).message})`);
    }
  }
  log(`logs kept in ${to}`);
}

/** Stops every process the lab started (by PID), removes its firewall rules and its state. */
export async function down(log: Log = stdoutLog): Promise<void> {
  const state = readState();
  await removeAgents();
  await faults.removeChain();
  const names = state?.hosts.map((h) => h.name) ?? [];
  for (const n of names) {
    const t = Date.now();
    const count = hostPids(n).length;
    await destroyHost(n);
    log(`host ${n}: ${count} processes ended, namespace released (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  }
  if ((await run("mountpoint", ["-q", paths.nsDir])).code === 0) await runOk("umount", [paths.nsDir]);
  keepLogs(names, log);
  for (const dir of [...(state?.madeDirs ?? [])].reverse()) {
    try {
      rmdirSync(dir);
    } catch (e) {
      log(`${dir} (made by the lab as a mount point) left in place: ${(e as Error).message}`);
    }
  }
  rmSync(LAB_DIR, { recursive: true, force: true });
  log(`lab removed (${LAB_DIR})`);
}
