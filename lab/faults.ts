/**
 * Faults on lab hosts: crash (kill -9), hang (SIGSTOP), resume (SIGCONT), restart, and network
 * isolation with iptables rules in a chain of the lab's own (PHA_LAB, jumped to from OUTPUT;
 * every lab packet is local, so OUTPUT sees all of them).
 *
 * How traffic is told apart on loopback: a server's packets leave from its own address; a
 * DB host's replication client runs as the host's own `mysql` uid; every host's ssh client
 * (and pandora_ha) binds to the host's address. So "X cannot talk to Y" is: packets to Y's
 * address from X's address or X's uid, and the same the other way round.
 */
import { readFileSync } from "node:fs";
import type { OsName } from "../lib/config";
import { withCommon } from "../lib/plan";
import { myCnfPath } from "../lib/render/mycnf";
import { hostPids, inHost, killQuiet } from "./hosts";
import type { LabHost } from "./layout";
import { run, runOk, sleep } from "./proc";

export const CHAIN = "PHA_LAB";

/** PIDs of the host's database server: mariadbd and the mariadbd-safe wrapper that restarts it. */
export function dbPids(h: string): { server: number[]; wrapper: number[] } {
  const server: number[] = [];
  const wrapper: number[] = [];
  for (const pid of hostPids(h)) {
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, 2).join(" ");
    } catch {
      continue;
    }
    if (/(^|\/)(mariadbd-safe|mysqld_safe)( |$)|bin\/sh .*(mariadbd-safe|mysqld_safe)/.test(cmd)) wrapper.push(pid);
    else if (/(^|\/)(mariadbd|mysqld)( |$)/.test(cmd)) server.push(pid);
  }
  return { server, wrapper };
}

export async function crash(h: string): Promise<number[]> {
  const { server, wrapper } = dbPids(h);
  if (!server.length) throw new Error(`${h}: no database server is running`);
  // The wrapper first, or it would start a new server the moment this one dies.
  for (const p of wrapper) killQuiet(p, "SIGKILL");
  for (const p of server) killQuiet(p, "SIGKILL");
  for (let i = 0; i < 50 && dbPids(h).server.length; i++) await sleep(100);
  return server;
}

export function hang(h: string): number[] {
  const { server } = dbPids(h);
  if (!server.length) throw new Error(`${h}: no database server is running`);
  for (const p of server) killQuiet(p, "SIGSTOP");
  return server;
}

export function resume(h: string): number[] {
  const { server } = dbPids(h);
  for (const p of server) killQuiet(p, "SIGCONT");
  return server;
}

/** Starts the host's database server again with the host scripts' own db_start, and waits. */
export async function restart(h: string, os: OsName): Promise<void> {
  const myCnf = myCnfPath(os);
  if (dbPids(h).server.length) {
    resume(h);
    return;
  }
  // The helpers go in with the script: the host's own /tmp, /root and /var/lib hide a checkout there.
  const script = withCommon("lab-restart", `set -euo pipefail\nPHA_STEP=lab-restart\ndb_use_cnf ${myCnf}\ndb_start mariadb1011 ${myCnf}\nwait_db_ping 60\n`);
  const r = await inHost(h, "bash", ["-c", script], { timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(`${h}: the database server did not start again: ${(r.stderr || r.stdout).trim()}`);
}

// ---------------------------------------------------------------------------------------------
// Isolation

async function ipt(args: string[]): Promise<void> {
  await runOk("iptables", ["-w", ...args]);
}

export async function ensureChain(): Promise<void> {
  if ((await run("iptables", ["-w", "-n", "-L", CHAIN])).code !== 0) await ipt(["-N", CHAIN]);
  if ((await run("iptables", ["-w", "-C", "OUTPUT", "-j", CHAIN])).code !== 0) await ipt(["-I", "OUTPUT", "1", "-j", CHAIN]);
}

/** Removes the chain and the jump to it (down). */
export async function removeChain(): Promise<void> {
  while ((await run("iptables", ["-w", "-C", "OUTPUT", "-j", CHAIN])).code === 0) await ipt(["-D", "OUTPUT", "-j", CHAIN]);
  if ((await run("iptables", ["-w", "-n", "-L", CHAIN])).code === 0) {
    await ipt(["-F", CHAIN]);
    await ipt(["-X", CHAIN]);
  }
}

/** The rules that cut `a` off from `b` (b undefined: from every address of the lab). */
function cutRules(a: LabHost, b: LabHost | undefined): string[][] {
  const tag = ["-m", "comment", "--comment", `pha-lab:${a.name}`];
  if (!b) {
    const rules = [
      ["-d", a.address, ...tag, "-j", "DROP"],
      ["-s", a.address, ...tag, "-j", "DROP"],
    ];
    if (a.uid !== undefined) rules.push(["-d", "127.0.0.0/8", "-m", "owner", "--uid-owner", String(a.uid), ...tag, "-j", "DROP"]);
    return rules;
  }
  const rules: string[][] = [];
  for (const [x, y] of [[a, b], [b, a]] as const) {
    rules.push(["-s", x.address, "-d", y.address, ...tag, "-j", "DROP"]);
    if (x.uid !== undefined) rules.push(["-d", y.address, "-m", "owner", "--uid-owner", String(x.uid), ...tag, "-j", "DROP"]);
  }
  return rules;
}

export async function isolate(a: LabHost, from?: LabHost): Promise<number> {
  await ensureChain();
  const rules = cutRules(a, from);
  for (const r of rules) await ipt(["-A", CHAIN, ...r]);
  return rules.length;
}

/** Removes every rule isolating `a`; returns how many there were. */
export async function heal(a: LabHost): Promise<number> {
  if ((await run("iptables", ["-w", "-n", "-L", CHAIN])).code !== 0) return 0;
  const listing = await runOk("iptables", ["-w", "-S", CHAIN]);
  const mine = listing.split("\n").filter((l) => l.startsWith(`-A ${CHAIN} `) && l.includes(`pha-lab:${a.name}`));
  for (const l of mine) {
    // `iptables -S` prints a rule as it was given; -D takes the same words.
    const words = l.replace(`-A ${CHAIN} `, "").match(/"[^"]*"|\S+/g) ?? [];
    await ipt(["-D", CHAIN, ...words.map((w) => w.replace(/^"|"$/g, ""))]);
  }
  return mine.length;
}

/** Every lab rule still in place (down checks it is none). */
export async function labRules(): Promise<string[]> {
  const r = await run("iptables", ["-w", "-S"]);
  return r.stdout.split("\n").filter((l) => l.includes(CHAIN) || l.includes("pha-lab:"));
}

