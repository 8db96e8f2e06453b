/**
 * Faults on lab hosts: crash (kill -9), hang (SIGSTOP), resume (SIGCONT), restart, and network
 * isolation with iptables rules in a chain of the lab's own (PHA_LAB, jumped to from OUTPUT;
 * every lab packet is local, so OUTPUT sees all of them).
 *
 * How traffic is told apart on loopback: a server's packets leave from its own address; a
 * DB host's replication client runs as the host's own `mysql` uid; every host's ssh client
 * (and pandora_ha) binds to the host's address. So "X cannot talk to Y" is: packets to Y's
 * address from X's address or X's uid, and the same the other way round.
 *
 * Also: a blip (isolated for S seconds, healed by itself), a partition of the two sites, a full
 * binary-log filesystem (disk-full / disk-free), a clean stop, and the daemon's own faults
 * (kill -9, kill -9 when a failover reaches a phase, restart).
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { OsName } from "../lib/config";
import { withCommon } from "../lib/plan";
import { defaultDbPaths, myCnfPath } from "../lib/render/mycnf";
import { PANDORA_PATHS } from "../lib/render/pandora";
import type { PhaseName } from "../runtime/state";
import { HA_LOG_FILE, daemonPid, readHaLog, serverHosts, startDaemon, stopDaemon } from "./ha";
import { hostPids, inHost, killQuiet } from "./hosts";
import type { Lab } from "./lab";
import type { LabHost } from "./layout";
import { paths } from "./layout";
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

/** Runs one of the host scripts' database helpers (db_start, db_stop) on the host. */
async function dbHelper(h: string, os: OsName, body: string, what: string): Promise<void> {
  const myCnf = myCnfPath(os);
  // The helpers go in with the script: the host's own /tmp, /root and /var/lib hide a checkout there.
  const script = withCommon("lab-restart", `set -euo pipefail\nPHA_STEP=lab-restart\ndb_use_cnf ${myCnf}\n${body.replaceAll("@CNF@", myCnf)}\n`);
  const r = await inHost(h, "bash", ["-c", script], { timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(`${h}: ${what}: ${(r.stderr || r.stdout).trim()}`);
}

/**
 * Starts the host's database server again with the host scripts' own db_start (unless a server or
 * its wrapper is already there), and waits until it answers. A server that dies while it starts
 * (a wrapper's own restart can abort: a crash recovery with the binary-log volume still full) is
 * started again, for up to 90 s.
 */
export async function restart(h: string, os: OsName): Promise<void> {
  resume(h);
  let why = "it never answered";
  for (const end = Date.now() + 90_000; Date.now() < end; await sleep(200)) {
    const { server, wrapper } = dbPids(h);
    if (!server.length && !wrapper.length) {
      await dbHelper(h, os, "db_start mariadb1011 @CNF@", "the database server did not start again");
      why = "it was started and never answered";
    }
    if (await dbHelper(h, os, "db_ping", "").then(() => true, () => false)) return;
  }
  throw new Error(`${h}: the database server did not start again within 90 s (${why}): see its log/mysql/error.log`);
}

/** A clean shutdown (the host scripts' db_stop); `restart` starts it again. */
export async function stop(h: string, os: OsName): Promise<void> {
  if (!dbPids(h).server.length) return;
  resume(h);
  await dbHelper(h, os, "db_stop mariadb1011 @CNF@", "the database server did not stop");
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

/** The rules that cut `a` off from `b` (b undefined: from every address of the lab), tagged `pha-lab:<tag>`. */
function cutRules(a: LabHost, b: LabHost | undefined, tag = a.name): string[][] {
  const comment = ["-m", "comment", "--comment", `pha-lab:${tag}`];
  if (!b) {
    const rules = [
      ["-d", a.address, ...comment, "-j", "DROP"],
      ["-s", a.address, ...comment, "-j", "DROP"],
    ];
    if (a.uid !== undefined) rules.push(["-d", "127.0.0.0/8", "-m", "owner", "--uid-owner", String(a.uid), ...comment, "-j", "DROP"]);
    return rules;
  }
  const rules: string[][] = [];
  for (const [x, y] of [[a, b], [b, a]] as const) {
    rules.push(["-s", x.address, "-d", y.address, ...comment, "-j", "DROP"]);
    if (x.uid !== undefined) rules.push(["-d", y.address, "-m", "owner", "--uid-owner", String(x.uid), ...comment, "-j", "DROP"]);
  }
  return rules;
}

async function addRules(rules: string[][]): Promise<number> {
  await ensureChain();
  for (const r of rules) await ipt(["-A", CHAIN, ...r]);
  return rules.length;
}

export function isolate(a: LabHost, from?: LabHost): Promise<number> {
  return addRules(cutRules(a, from));
}

/** The two sites of a partition: A = node1, node3 and pfms1 (the first server host); B = node2 and any other server host. */
export function sites(hosts: LabHost[]): { a: LabHost[]; b: LabHost[] } {
  const servers = hosts.filter((h) => h.kind === "server");
  const inA = (h: LabHost) => (h.kind === "db" ? h.name !== "node2" : h === servers[0]);
  return { a: hosts.filter(inA), b: hosts.filter((h) => !inA(h)) };
}

export const PARTITION_TAG = "partition";

/** Cuts site A from site B, both ways (every pair); `heal` of any host removes it. */
export function partition(hosts: LabHost[]): Promise<number> {
  const { a, b } = sites(hosts);
  return addRules(a.flatMap((x) => b.flatMap((y) => cutRules(x, y, PARTITION_TAG))));
}

/** Removes every rule isolating `a`, and the partition's; returns how many there were. */
export async function heal(a: LabHost): Promise<number> {
  if ((await run("iptables", ["-w", "-n", "-L", CHAIN])).code !== 0) return 0;
  const listing = await runOk("iptables", ["-w", "-S", CHAIN]);
  const tagged = new RegExp(`--comment "?pha-lab:(${a.name}|${PARTITION_TAG})"?( |$)`);
  const mine = listing.split("\n").filter((l) => l.startsWith(`-A ${CHAIN} `) && tagged.test(l));
  for (const l of mine) {
    // `iptables -S` prints a rule as it was given; -D takes the same words.
    const words = l.replace(`-A ${CHAIN} `, "").match(/"[^"]*"|\S+/g) ?? [];
    await ipt(["-D", CHAIN, ...words.map((w) => w.replace(/^"|"$/g, ""))]);
  }
  return mine.length;
}

/** Heals started in the background (blips), so a caller can wait for them before it exits. */
const pending = new Set<Promise<unknown>>();

export async function settled(): Promise<void> {
  while (pending.size) await Promise.allSettled([...pending]);
}

/**
 * A blip: `a` isolated (packets dropped, no RST) for `seconds`, then healed by itself (every
 * rule isolating `a` goes). Resolves once isolated; `healed` when it is over.
 */
export async function blip(a: LabHost, seconds: number): Promise<{ rules: number; healed: Promise<number> }> {
  if (!(seconds > 0 && seconds <= 3600)) throw new Error(`a blip lasts 0 to 3600 seconds (got ${seconds})`);
  const rules = await isolate(a);
  const healed = sleep(seconds * 1000).then(() => heal(a));
  pending.add(healed);
  void healed.finally(() => pending.delete(healed));
  return { rules, healed };
}

/** Every lab rule still in place (down checks it is none). */
export async function labRules(): Promise<string[]> {
  const r = await run("iptables", ["-w", "-S"]);
  return r.stdout.split("\n").filter((l) => l.includes(CHAIN) || l.includes("pha-lab:"));
}

// ---------------------------------------------------------------------------------------------
// A full binary-log filesystem

/**
 * Where the small filesystem goes inside the host. In the lab the binary logs live in the
 * datadir (no binlog volume: `binlogVolumes: false`), and the datadir cannot be a mount point
 * (seeding moves it aside). So the fault gives the binary log a filesystem of its own the way a
 * rotation would: a tmpfs of DISK_KB, the next binlog file a symlink into it, FLUSH BINARY LOGS
 * (the server opens the new file there), then the tmpfs filled to the last byte.
 */
export const DISK_DIR = "/var/lib/pha-lab-binlog";
const DISK_KB = 4096;

function diskScript(os: OsName, body: string): string {
  const datadir = defaultDbPaths("mariadb1011", os).datadir;
  return [
    "set -euo pipefail",
    `D=${DISK_DIR}; DATADIR=${datadir}`,
    // MariaDB's client and statement, or (a MySQL host has no `mariadb`) MySQL's: 8.4 dropped SHOW MASTER STATUS.
    'if command -v mariadb >/dev/null; then CLIENT=mariadb ADMIN=mariadb-admin STATUS="SHOW MASTER STATUS"; else CLIENT=mysql ADMIN=mysqladmin STATUS="SHOW BINARY LOG STATUS"; fi',
    'sql() { timeout "${2:-10}" "$CLIENT" --connect-timeout=2 -NBe "$1"; }',
    // The binlog status waits while a commit waits for space.
    'binlog() { local o; o=$(sql "$STATUS" "${1:-10}") || { echo "$STATUS did not answer" >&2; return 1; }; echo "${o%%	*}"; }',
    body,
  ].join("\n");
}

// MySQL names a new binary log after the highest-numbered file in its directory, so a symlinked
// next file only moves it one number on (measured on 9.7: binlog.000004 beside the link's 000003):
// refused there before anything changes. A binlog volume of its own (aws) needs no symlink.
const FILL = `
[ "$CLIENT" = mariadb ] || { echo "refused on the MySQL family: MySQL names its next binary log after the highest-numbered file in $DATADIR, so the fault cannot place it on a small filesystem (nothing changed)" >&2; exit 2; }
mountpoint -q "$D" || { mkdir -p "$D"; mount -t tmpfs -o size=${DISK_KB}k,mode=0750,uid="$(id -u mysql)",gid="$(id -g mysql)" pha-lab-binlog "$D"; }
cur=$(binlog); [ -n "$cur" ] || { echo "binary logging is off or the server does not answer" >&2; exit 1; }
if [ ! -L "$DATADIR/$cur" ]; then
  n=\${cur##*.}; next=$(printf "%s.%0\${#n}d" "\${cur%.*}" $((10#$n + 1)))
  ln -sfn "$D/$next" "$DATADIR/$next"; chown -h mysql:mysql "$DATADIR/$next"
  sql "FLUSH LOCAL BINARY LOGS"
  cur=$(binlog); [ "$cur" = "$next" ] && [ -f "$D/$next" ] || { echo "the server did not open $next on $D (it has $cur)" >&2; exit 1; }
fi
dd if=/dev/zero of="$D/filler" bs=4k 2>/dev/null || true
echo "$cur $(df -k --output=size,avail "$D" | tail -1 | xargs)"`;

const FREE = `
mountpoint -q "$D" || { echo "not full"; exit 0; }
rm -f "$D/filler"
if "$ADMIN" --connect-timeout=2 ping >/dev/null 2>&1; then
  t0=$SECONDS
  # The server waits for space by itself (it checks again every minute): this rotation waits with it.
  cur=$(binlog 90)
  while [ -L "$DATADIR/$cur" ]; do
    sql "FLUSH LOCAL BINARY LOGS" 90 || { echo "FLUSH BINARY LOGS did not complete" >&2; exit 1; }
    cur=$(binlog 90)
  done
  echo "binary log back in $DATADIR ($cur) after $((SECONDS - t0)) s"
fi
for l in "$DATADIR"/*; do
  [ -L "$l" ] && [[ $(readlink "$l") == "$D"/* ]] || continue
  cp -p "$(readlink "$l")" "$l.pha-lab" && mv -f "$l.pha-lab" "$l"
done
umount -l "$D" && rmdir "$D"
echo "freed"`;

/** Fills the binary log's filesystem on `h` (see DISK_DIR): the master's writes stall; returns the binlog file and the size. */
export async function diskFull(h: string, os: OsName): Promise<string> {
  const r = await inHost(h, "bash", ["-c", diskScript(os, FILL)], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${h}: disk-full failed: ${(r.stderr || r.stdout).trim()}`);
  const [file, size, avail] = r.stdout.trim().split(/\s+/);
  return `${file} on a ${size} kB filesystem, ${avail} kB free`;
}

/**
 * Frees it: the filler goes, the binary log moves back into the datadir, the filesystem is
 * unmounted. A server that does not continue by itself (a killed committer wedges it: see
 * lab/NOTES-disk-full.md) is killed, its binary log moved back, and started again.
 */
export async function diskFree(h: string, os: OsName): Promise<string> {
  const free = () => inHost(h, "bash", ["-c", diskScript(os, FREE)], { timeoutMs: 120_000 });
  let r = await free();
  if (r.code === 0) return r.stdout.trim().split("\n").join("; ");
  const why = (r.stderr || r.stdout).trim();
  if (dbPids(h).server.length) await crash(h);
  r = await free();
  if (r.code !== 0) throw new Error(`${h}: disk-free failed: ${why}; with the server down: ${(r.stderr || r.stdout).trim()}`);
  await restart(h, os);
  return `${why}: the server was killed, its binary log moved back, started again`;
}

/** Is the host's binary-log filesystem the small one (disk-full armed)? */
export async function diskIsFull(h: string): Promise<boolean> {
  return (await inHost(h, "mountpoint", ["-q", DISK_DIR])).code === 0;
}

// ---------------------------------------------------------------------------------------------
// The daemon

/** The phases at which the daemon can be stopped (PANDORA_HA_PAUSE_AFTER) to be killed there. */
export const PAUSE_PHASES: PhaseName[] = ["fence", "drain", "promote", "epoch"];

export async function daemonKill(lab: Lab, server?: string): Promise<number | undefined> {
  const pid = daemonPid(lab, server);
  await stopDaemon(lab, "SIGKILL", server);
  return pid;
}

/** Restarts pandora_ha on a server host (SIGTERM, then started again; started when it was not running). */
export async function daemonRestart(lab: Lab, env: Record<string, string> = {}, server?: string): Promise<void> {
  await stopDaemon(lab, "SIGTERM", server);
  await startDaemon(lab, env, server);
}

/** Restarts pandora_ha on every server host, one after the other (clears an armed PANDORA_HA_PAUSE_AFTER). */
export async function daemonsRestart(lab: Lab): Promise<void> {
  for (const h of serverHosts(lab)) await daemonRestart(lab, {}, h.name);
}

/** Raises every server host's failover budget (for runs where every fault may be a failover), and restarts the daemons. */
export async function raiseFailoverBudget(lab: Lab): Promise<void> {
  for (const h of serverHosts(lab)) {
    const conf = paths.inHost(h.name, PANDORA_PATHS.serverConf);
    writeFileSync(conf, readFileSync(conf, "utf8").replace(/^ha_failover_budget .*$/m, "ha_failover_budget 100"));
  }
  await daemonsRestart(lab);
}

/** Starts pandora_ha on every server host where it does not run. */
export async function daemonsEnsure(lab: Lab): Promise<void> {
  for (const h of serverHosts(lab)) if (!daemonPid(lab, h.name)) await startDaemon(lab, {}, h.name);
}

/**
 * Restarts the daemons so that the next failover stops after `phase`, and kills -9 the one that
 * gets there, right there: every server host's daemon is armed, since whichever holds the actor
 * lock then runs the failover; the others are then restarted unarmed, to take over. Resolves
 * once armed; `killed` names the server host whose daemon was killed (undefined when none
 * reached the phase within `timeoutMs`: they stay armed).
 */
export async function daemonKillAt(lab: Lab, phase: PhaseName, timeoutMs: number): Promise<{ killed: Promise<string | undefined> }> {
  if (!PAUSE_PHASES.includes(phase)) throw new Error(`the daemon pauses after ${PAUSE_PHASES.join(", ")} only (got ${phase})`);
  const servers = serverHosts(lab).map((h) => h.name);
  for (const server of servers) await daemonRestart(lab, { PANDORA_HA_PAUSE_AFTER: phase }, server);
  const from = new Map(servers.map((server) => [server, readHaLog(lab, Number.MAX_SAFE_INTEGER, HA_LOG_FILE, server).end]));
  const killed = (async () => {
    for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) {
      for (const server of servers) {
        if (readHaLog(lab, from.get(server), HA_LOG_FILE, server).lines.some((l) => String(l.test_hook ?? "").includes(`after ${phase}`))) {
          await stopDaemon(lab, "SIGKILL", server);
          // The others disarmed: the one that takes over must not stop at the same phase.
          for (const o of servers) if (o !== server) await daemonRestart(lab, {}, o);
          return server;
        }
      }
    }
    return undefined;
  })();
  pending.add(killed);
  void killed.finally(() => pending.delete(killed));
  return { killed };
}
