/**
 * Actions: one per condition the analysis names. Each is safe to repeat (a daemon killed in the
 * middle of one and restarted finds the cluster half-way and finishes it), and each failover or
 * switchover is recorded as a timeline of phases.
 */
import { readFileSync } from "node:fs";
import { semiSyncStatements } from "../dialect";
import { runShell, runSsh, shq } from "../exec";
import type { NodeSession } from "../observe/probe";
import { EPOCH_TABLE, NodeConnection, shortError } from "../observe/probe";
import type { Phase, PhaseName, ResyncRecord, Timeline } from "../state";
import { writeFileAtomic } from "../state";
import { isStrict } from "../decide/durability";
import type { Ctx } from "./context";
import { ActionError, session } from "./context";
import { mergeDivergedWrites } from "./merge";
import { startPandoraServer, stopPandoraServer } from "./server";
import type { OwnHistory } from "./truncate";
import { clearTail, ensureTable, recordTail, tailVerdict } from "./tails";
import { MAX_TRUNCATE, commonPosition, ownHistory, resetHistory, TailKept, undoTail } from "./truncate";
import type { HistoryComparison, NodeObservation, ReplicaStatus } from "../types";

export type { Ctx } from "./context";
export { ActionError } from "./context";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What the secondary check runs on the replica's host: exit 0 when the master's port answers
 * (the ping needs no account: "access denied" is an answer), 1 when not, 3 without a client.
 */
export function secondaryCheckScript(master: string, port: number, timeoutS: number): string {
  return [
    "a=$(command -v mariadb-admin || command -v mysqladmin) || exit 3",
    'if [ "$(id -u)" = 0 ] && id mysql >/dev/null 2>&1; then set -- runuser -u mysql -- "$a"; else set -- "$a"; fi',
    `"$@" --no-defaults --connect-timeout=${timeoutS} --protocol=tcp -h ${shq(master)} -P ${port} -u pandora_ha_ping ping >/dev/null 2>&1 && exit 0 || exit 1`,
  ].join("\n");
}

/**
 * Secondary check: can `replica`'s host reach `master`'s database port? Asked over SSH, as the
 * host's mysql user (the one its replication runs as), with the ping that needs no account.
 * true: reachable; false: not; undefined: could not ask (SSH failed) — which never counts as lost.
 */
export async function replicaReachesMaster(ctx: Ctx, replica: string, master: string): Promise<boolean | undefined> {
  const s = ctx.settings;
  const t = Math.max(1, Math.round(s.probeTimeout));
  const r = await runSsh(s, replica, secondaryCheckScript(master, s.dbPort, t), (t + 4) * 1000);
  if (r.code === 0) return true;
  if (r.code === 1) return false;
  ctx.events.log({ check: "secondary", replica, master, result: "unknown", code: r.code, output: r.output });
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/**
 * read_only (MySQL: super_read_only), and every client connection killed but this daemon's own
 * and replication's: by connection, not by account, so that a Pandora server logging in with the
 * HA account (ha_dbuser left to default to dbuser) is cut off too. The kills run beside the
 * read_only statement, from a second connection: read_only waits for the commits in progress,
 * and a commit waiting for a semi-sync acknowledgement ends only when its session is killed.
 * Killing such a session can still deliver an acknowledgement to its client (measured: 1 of 8
 * on MariaDB 10.11), which is harmless in a switchover (the new master first applies all the old
 * one has) but not for a stale master (`stale`: another node was promoted): one kept strictly
 * semi-synchronous has its server stopped instead (stopServer), since every commit it took since
 * it was cut off waits there. The source side is relaxed last (a replica never stalls): earlier,
 * it would release a waiting commit as acknowledged.
 */
export async function fence(ctx: Ctx, host: string, reason: string, opts: { stale?: boolean } = {}): Promise<number> {
  const s = session(ctx, host);
  const d = s.dialect;
  if (!d) throw new ActionError(`${host}: not probed yet`);
  const sd = s.last?.semiSyncDetail;
  const strict = !!s.last && isStrict(s.last);
  if (opts.stale && ((sd?.waitSessions ?? 0) > 0 || strict)) {
    const why = `its commits wait for an acknowledgement no replica will send (${sd?.waitSessions ?? 0} waiting; ${reason})`;
    await stopServer(ctx, s, why).catch((e) => {
      throw new ActionError(`${shortError(e)}: it is left as it is (strictly semi-synchronous, it acknowledges none of its commits)`);
    });
    return 0;
  }
  const side = s.sideConnection(5000);
  const killer = side.conn;
  let killed = 0;
  try {
    const readOnly = (async () => {
      for (const q of d.fenceSql) await s.conn.admin(q);
    })();
    const settled = readOnly.then(() => true, () => true);
    killed += await killClients(ctx, s, killer);
    // Commits that were waiting when the first sweep ran may have begun after it: sweep until
    // read_only is in place (a few rounds at most).
    for (let i = 0; i < 20 && !(await Promise.race([settled, sleep(100).then(() => false)])); i++) killed += await killClients(ctx, s, killer);
    await readOnly;
    killed += await killClients(ctx, s, killer);
  } finally {
    side.close();
  }
  await setSemiSync(ctx, host, "replica").catch((e) => ctx.events.log({ fence: host, semisync: shortError(e) }));
  markFenced(ctx, host);
  ctx.events.emit("fenced", "warning", `${host} fenced: read-only, ${killed} client connections killed (${reason})`, { node: host, key: `fence:${host}` });
  return killed;
}

/** Remembered as fenced by pandora_ha (made read-only, or to be the moment it is seen again). */
function markFenced(ctx: Ctx, host: string): void {
  if (!ctx.state.fenced.includes(host)) ctx.state.fenced.push(host);
  ctx.saveState();
}

/** How long the fence of a node seen again may take before the loop's own fence is left to do it. */
const RETURN_FENCE_MS = 2000;

/**
 * A fenced node seen again (its server greeted the return watch): made read-only at once, on a
 * connection of its own, beside the loop, which then probes it and fences it fully (client
 * connections killed, a stale strict master stopped). A node that was cut off comes back as it
 * was, writable when it was the master, until then. With commits waiting there for an
 * acknowledgement, read_only waits behind them (at most RETURN_FENCE_MS here): the loop's kill
 * over SSH ends that window (1.4-1.6 s after the heal on the lab), not this.
 * Returns how long it took; failures are logged, never thrown (the loop fences it anyway).
 */
export async function fenceOnReturn(ctx: Ctx, host: string): Promise<number | undefined> {
  const s = session(ctx, host);
  const stillFenced = () => host !== ctx.state.master && ctx.state.fenced.includes(host);
  if (!stillFenced()) return undefined;
  const t0 = Date.now();
  // The loop may fence it meanwhile: its kill of client connections spares this one.
  const side = s.sideConnection(RETURN_FENCE_MS);
  const c = side.conn;
  try {
    // Connected: still fenced, and no newer epoch on it (another daemon may have promoted it since).
    // No epoch table there: no epoch. Any other failure (this connection killed, a timeout)
    // leaves the fence to the loop, which probes the node first: never fenced on an unread epoch.
    const [e] = await c.query<{ epoch: string }>(`SELECT MAX(epoch) AS epoch FROM ${EPOCH_TABLE}`).catch((err: { errno?: number }) => {
      if (err?.errno === 1146) return [{ epoch: "0" }];
      throw err;
    });
    if (!stillFenced() || Number(e?.epoch ?? 0) > ctx.state.epoch) {
      ctx.events.log({ fence_on_return: host, skipped: `epoch ${e?.epoch ?? 0} there, ${ctx.state.epoch} here` });
      return undefined;
    }
    for (const q of s.dialect?.fenceSql ?? ["SET GLOBAL read_only = ON"]) await c.query(q);
    const ms = Date.now() - t0;
    ctx.events.log({ fence_on_return: host, ms });
    return ms;
  } catch (e) {
    ctx.events.log({ fence_on_return: host, failed: shortError(e) });
    return undefined;
  } finally {
    side.close();
  }
}

/**
 * Stops the node's server process (kill -9 over SSH as ha_sshuser: killScript): nothing
 * more reaches any client of it. For a stale master with commits waiting for an acknowledgement
 * no replica will ever send (killing those sessions can still deliver one to their clients), and
 * for a master whose writes stalled (a commit stuck there must never complete after another node
 * was promoted). Its service manager (or mysqld_safe) starts it again, read-only like every
 * node, and it rejoins with its unacknowledged tail undone.
 */
async function stopServer(ctx: Ctx, s: NodeSession, reason: string): Promise<void> {
  await killOverSsh(ctx, s, s.pidFile ?? "", 15_000);
  s.conn.close();
  s.stopHeartbeat();
  markFenced(ctx, s.host);
  ctx.events.emit("fenced", "warning", `${s.host} fenced: its server was stopped (kill -9 over SSH): ${reason}; it starts again read-only and rejoins`, { node: s.host, key: `fence:${s.host}` });
}

/**
 * kill -9 of the node's database server, as root or through sudo for a non-root ha_sshuser (as
 * the resync needs too): the process in its pid file, or, when that is missing or names no
 * database server (deleted, stale), the one listening on its port; never any other process.
 */
export function killScript(pidFile: string, port: number, address = ""): string {
  const server = `grep -Eqx "(mariadbd|mysqld)" "/proc/$pid/comm" 2>/dev/null`;
  const p = Math.trunc(port);
  // One server on the port (with one or more listeners): that one. Several (on several
  // addresses, as in the lab): only the one on the node's own address ([addr] for IPv6).
  const pick =
    `awk -v a=${shq(`${address}:${p}`)} -v b=${shq(`[${address}]:${p}`)} '{ if (!match($0, /pid=[0-9]+/)) next; pid = substr($0, RSTART + 4, RLENGTH - 4); ` +
    "if (!(pid in seen)) { seen[pid] = 1; n++; any = pid } if ($4 == a || $4 == b) mine = pid } END { print (n == 1) ? any : mine }'";
  return [
    'if [ "$(id -u)" = 0 ]; then s=; else s="sudo -n"; fi',
    `pid=${pidFile.startsWith("/") ? `$($s cat ${shq(pidFile)} 2>/dev/null || true)` : ""}`,
    `if [ -z "$pid" ] || ! ${server}; then pid=$($s ss -Hltnp "sport = :${p}" 2>/dev/null | ${pick} || true); fi`,
    `if [ -z "$pid" ] || ! ${server}; then echo "no database server found (pid file ${pidFile || "unknown"}, port ${p})" >&2; exit 1; fi`,
    '$s kill -9 "$pid"',
  ].join("\n");
}

async function killOverSsh(ctx: Ctx, s: NodeSession, pidFile: string, timeoutMs: number): Promise<void> {
  const k = await runSsh(ctx.settings, s.host, killScript(pidFile, s.opts.port, s.host), timeoutMs);
  if (k.code !== 0) throw new ActionError(`${s.host}: the server could not be stopped over SSH (exit ${k.code}: ${k.output.trim()})`);
}

/**
 * The master being failed over is silent (its probes time out; a refused connection is a server
 * already dead): stopped over SSH in the background from the fence phase on, without holding the
 * failover up, when its host answers — a hung server (SIGSTOP, a stuck kernel call) must never
 * come back writable beside the new master, even for the moment before the fence reaches it
 * (measured: started after the promotion instead, a hung master resumed right after the publish
 * was seen writable for 260-420 ms). A failover that then aborts finds it restarting read-only
 * and makes it writable again (master_read_only). A host that does not answer (cut off, powered
 * off) is fenced the moment it is seen again.
 */
function stopSilentServer(ctx: Ctx, host: string, reason: string): Promise<boolean> {
  const s = session(ctx, host);
  return killOverSsh(ctx, s, s.pidFile ?? "", 5_000).then(
    () => {
      ctx.events.emit("fenced", "warning", `${host} fenced: its server, silent, was stopped (kill -9 over SSH): ${reason}; it starts again read-only and rejoins`, { node: host, key: `fence:${host}` });
      return true;
    },
    (e) => {
      ctx.events.emit("fenced", "warning", `${host} (silent) could not be stopped over SSH (${shortError(e)}): it is made read-only the moment it is seen again`, { node: host, key: `fence:${host}` });
      return false;
    },
  );
}

/**
 * A silent master that could not be stopped over SSH (cut off, or its host dead) stops itself:
 * its guard (scripts/pandora_ha_guard.sh) kills its server once it has heard from too few other
 * DB nodes and had no renewed lease for ha_guard_timeout, checking every round (about half a
 * second, each contact counted from the round's start). Its last contact came before this
 * daemon's first failed probe of it ended (failingSince + the probe timeout), or when a replica
 * last reached it; a lease renewed by a daemon on its side of a cut rests on observations at
 * most LEASE_FRESH_MS old. So nothing is promoted before that moment + ha_guard_timeout + 3 s
 * (1 s of lease, a round, a margin), unless the stop over SSH succeeded first. Resolves with
 * what it waited for ("" when nothing).
 */
async function guardWait(ctx: Ctx, host: string, stopped: Promise<boolean>): Promise<string> {
  const g = ctx.settings.guardTimeout;
  const s = session(ctx, host);
  // Without semi-sync the guard never stops a master: nothing to wait for.
  if (!g || !ctx.settings.semiSync) return "";
  const since = Math.max((s.last?.failingSince ?? Date.now()) + ctx.settings.probeTimeout * 1000, s.seenByReplicaAt ?? 0);
  const until = since + (g + 3) * 1000;
  const t0 = Date.now();
  if (until <= t0) return "";
  // The stop over SSH ends the wait only when it succeeded; a failed one leaves it to the guard.
  const stoppedFirst = await Promise.race([stopped, sleep(until - t0).then(() => false)]);
  if (!stoppedFirst) await sleep(Math.max(0, until - Date.now()));
  const ms = Date.now() - t0;
  return stoppedFirst
    ? `${host} stopped over SSH after ${ms} ms: no wait for its guard`
    : `waited ${ms} ms: ${host}'s guard has stopped it if it is cut off (no contact after ${new Date(since).toISOString()}, guard ${g} s + 3 s)`;
}

async function killClients(ctx: Ctx, s: NodeSession, via: NodeConnection): Promise<number> {
  // A connection still logging in ("unauthenticated user") cannot be told apart from this
  // daemon's own side connection opening; it is spared this sweep and can write nothing once
  // read_only is on (the last sweep runs after it).
  const keepUsers = [ctx.settings.replUser, "system user", "event_scheduler", "unauthenticated user"];
  const own = [0, ...s.ownThreadIds(), via.threadId ?? 0];
  const rows = await via.query<{ id: string }>(
    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND ID NOT IN (?) AND USER NOT IN (?) " +
      "AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker')",
    [own, keepUsers],
  );
  let killed = 0;
  for (const r of rows) {
    try {
      await via.query(`KILL CONNECTION ${Number(r.id)}`);
      killed++;
    } catch {
      // it ended meanwhile
    }
  }
  return killed;
}

/**
 * The node's semi-sync source side: "strict" for a master (it never falls back by itself),
 * "async" when pandora_ha lets it commit without a replica (recorded in the state: failovers
 * are held until it is durable again), "replica" for a node that follows another. Nothing when
 * ha_semisync is 0 or the server has no semi-sync.
 */
export async function setSemiSync(ctx: Ctx, host: string, mode: "strict" | "async" | "replica", reason = ""): Promise<void> {
  const s = session(ctx, host);
  const naming = s.last?.semiSyncDetail?.naming;
  if (!ctx.settings.semiSync || !naming) return;
  if (mode === "async") {
    // Recorded first: from the first asynchronous commit on, a failover may lose it.
    ctx.state.async = { host, since: Date.now(), reason };
    if (ctx.state.lastMaster?.host === host) ctx.state.lastMaster = { ...ctx.state.lastMaster, durable: false, why: `asynchronous: ${reason}` };
    ctx.saveState();
  }
  for (const q of semiSyncStatements(naming, mode)) await s.conn.admin(q);
  // Back to semi-sync after an asynchronous period: durable again only once a replica has all it
  // committed up to now (read after the switch: anything later waits for an acknowledgement).
  if (mode === "strict" && ctx.state.async?.host === host) {
    ctx.state.async = { ...ctx.state.async, strictAt: await applied(s) };
    ctx.saveState();
  }
}

/**
 * Writable, and asynchronous at first (recorded): the daemon's own writes that follow (the
 * epoch) must not wait for replicas that are only repointed afterwards. durableWith() makes it
 * semi-synchronous with no fallback once they follow it.
 */
async function makeWritable(ctx: Ctx, host: string): Promise<void> {
  const s = session(ctx, host);
  await setSemiSync(ctx, host, "async", "just promoted: until its replicas follow it and have caught up");
  for (const q of s.dialect!.writableSql) await s.conn.admin(q);
}

/**
 * A new master that `followers` replicas follow: semi-sync without a fallback of its own (a
 * commit waits for one of them, however long). With none, it stays asynchronous, recorded, until
 * one follows it (the daemon's durability loop then makes it durable).
 */
async function durableWith(ctx: Ctx, host: string, followers: number): Promise<string> {
  if (!ctx.settings.semiSync) return "";
  if (!followers) return "; asynchronous until a replica follows it";
  await setSemiSync(ctx, host, "strict");
  return "; semi-synchronous without a fallback";
}

/**
 * Records `epoch` on `host` (the new master): replicated, so every node carries it. A row for
 * that epoch naming another master (another daemon promoted meanwhile) is never overwritten:
 * the promotion is refused.
 */
export async function recordEpoch(ctx: Ctx, host: string, epoch: number, reason: string): Promise<void> {
  const s = session(ctx, host);
  await ensureTable(s.conn, EPOCH_TABLE, "epoch INT UNSIGNED NOT NULL PRIMARY KEY, master VARCHAR(255) NOT NULL, promoted_at DATETIME(3) NOT NULL, daemon VARCHAR(255) NOT NULL, reason TEXT");
  const { epoch: before, master: named } = await s.readEpoch();
  if (before > epoch || (before === epoch && named !== host)) throw new ActionError(`${host} already carries epoch ${before} naming ${named}: another pandora_ha decided meanwhile; this one's decision (epoch ${epoch}) is dropped`);
  if (before === epoch) return;
  try {
    await s.conn.admin(`INSERT INTO ${EPOCH_TABLE} VALUES (?, ?, NOW(3), ?, ?)`, [epoch, host, ctx.settings.serverName, reason.slice(0, 1000)], 30_000);
  } catch (e) {
    if ((e as { errno?: number }).errno !== 1062) throw e;
    const now = await s.readEpoch();
    if (now.master !== host) throw new ActionError(`epoch ${epoch} was recorded on ${host} naming ${now.master} by another pandora_ha: this one's decision is dropped`);
  }
  const { epoch: now } = await s.readEpoch();
  if (now < epoch) throw new ActionError(`${host}: epoch ${epoch} not recorded (highest is ${now})`);
}

/** Before each step of a failover that changes the cluster: still the actor, nobody promoted meanwhile. */
async function stillDeciding(ctx: Ctx, candidate: string, epoch: number): Promise<void> {
  if (!(await ctx.holdsLock(candidate))) throw new ActionError(`this pandora_ha no longer holds the actor lock on ${candidate} (frozen or cut off meanwhile): its decision is dropped`);
  const { epoch: now, master } = await session(ctx, candidate).readEpoch();
  if (now >= epoch && master !== candidate) throw new ActionError(`${candidate} carries epoch ${now} naming ${master}: another pandora_ha promoted meanwhile; this one's decision is dropped`);
}

export function readPublished(ctx: Ctx): string | undefined {
  try {
    return readFileSync(ctx.settings.hostsFile, "utf8").split("\n")[0].trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Beside pandora_ha_hosts.conf (which must hold the host alone), `<file>.epoch` says at which
 * promotion epoch it was written: "<epoch> <host>". With data_in/conf shared, every server's
 * daemon writes the same file, and this lets one that is cut off from the new master (it still
 * sees the old one, at an older epoch) know that it must not put the old master back.
 */
export function publishedMarkFile(ctx: Ctx): string {
  return `${ctx.settings.hostsFile}.epoch`;
}

export function readPublishedMark(ctx: Ctx): { epoch: number; host: string } | undefined {
  try {
    const m = /^(\d+) (\S+)\s*$/.exec(readFileSync(publishedMarkFile(ctx), "utf8"));
    return m ? { epoch: Number(m[1]), host: m[2] } : undefined;
  } catch {
    return undefined;
  }
}

const refusals = new Map<string, string>();

/**
 * Publishes `master` in pandora_ha_hosts.conf (exactly the host string, no newline, written
 * atomically) when it changed, then restarts pandora_server so it reconnects — beside the loop
 * (restartServer): Pandora's `restart-server` takes up to 10 s, and the loop must go on probing.
 * Returns the restart (`restarted`: true once it succeeded), or undefined when the file names another host at
 * a newer epoch than this daemon knows and `decided` is not set (only a failover, a switchover
 * or a daemon's first look at the cluster decide: they write whatever was there).
 */
export async function publish(ctx: Ctx, master: string, phases?: Phase[], decided = !!phases): Promise<{ restarted: Promise<boolean> } | undefined> {
  const s = ctx.settings;
  const epoch = ctx.state.epoch;
  const mark = readPublishedMark(ctx);
  if (!decided && mark && mark.epoch > epoch && mark.host !== master) {
    const msg = `${s.hostsFile} names ${mark.host} at epoch ${mark.epoch}, newer than this daemon knows (${master}, epoch ${epoch}): left as it is (is this server cut off from ${mark.host}?)`;
    if (refusals.get(s.hostsFile) !== msg) ctx.events.emit("publish_refused", "critical", msg, { key: "publish" });
    refusals.set(s.hostsFile, msg);
    return undefined;
  }
  refusals.delete(s.hostsFile);
  if (!mark || mark.epoch !== epoch || mark.host !== master) writeFileAtomic(publishedMarkFile(ctx), `${epoch} ${master}\n`, 0o644);
  if (readPublished(ctx) !== master) {
    await phase(phases, "publish", async () => {
      writeFileAtomic(s.hostsFile, master, 0o644);
      return `${s.hostsFile} now names ${master}`;
    });
  }
  return { restarted: restartServer(ctx, master, phases) };
}

/**
 * Must `master` be published (again) on this host: the hosts file names another host, or this
 * host's pandora_server was last (re)started against another one — the file is shared by every
 * server host, and another server's daemon may have written it already. When this daemon never
 * (re)started the server, `changed` (the master changed since this daemon last looked) says so.
 * Not while a restart is running or queued (it reads the file when it starts).
 */
export function needsPublish(ctx: Ctx, master: string, changed = false): boolean {
  if (readPublished(ctx) !== master) return true;
  // A restart that failed is tried again after a minute, not every housekeeping round.
  if (serverRestarting() || Date.now() - (restartFailures.get(ctx.settings.pandoraServiceCmd) ?? 0) < RESTART_RETRY_MS) return false;
  return ctx.state.serverMaster !== undefined ? ctx.state.serverMaster !== master : changed;
}

const RESTART_RETRY_MS = 60_000;
/** When a restart of the server (by its service command) last failed. */
const restartFailures = new Map<string, number>();

/** This host's pandora_server was (re)started by pandora_ha while the hosts file named `master`. */
export function serverStartedFor(ctx: Ctx, master: string | undefined): void {
  if (master === undefined || ctx.state.serverMaster === master) return;
  ctx.state.serverMaster = master;
  ctx.saveState();
}

/** The restarts of pandora_server, one after the other (a publish during one restarts it again after it). */
let restarts: Promise<unknown> = Promise.resolve();
let restartsPending = 0;

/** A restart of pandora_server is running or queued (the watchdog leaves the server alone meanwhile). */
export const serverRestarting = (): boolean => restartsPending > 0;

/** Resolves once no restart of pandora_server is running or queued (a process about to exit waits for it). */
export async function serverRestarted(): Promise<void> {
  while (restartsPending > 0) await restarts;
}

/** `f` queued behind every restart or start of pandora_server running or queued. */
function queued<T>(f: () => Promise<T>): Promise<T> {
  restartsPending++;
  const done = restarts.then(f).finally(() => restartsPending--);
  restarts = done.catch(() => undefined);
  return done;
}

/** The watchdog's start of a server found stopped (against `target`, what the hosts file names), in the restarts' queue. */
export function startServer(ctx: Ctx, target: string | undefined): Promise<string> {
  return queued(async () => {
    const note = await startPandoraServer(ctx, target);
    serverStartedFor(ctx, target);
    return note;
  });
}

/** `restart-server`, queued behind any running one; its phase recorded in `phases`; false (with an event) when it failed. */
function restartServer(ctx: Ctx, master: string, phases?: Phase[]): Promise<boolean> {
  const s = ctx.settings;
  return queued(async () => {
    try {
      await phase(phases, "restart-server", async () => {
        const stopped = await stopPandoraServer(ctx);
        // The server reads the file as it starts: what the file names now is what it will use.
        const target = readPublished(ctx) ?? master;
        const started = await startPandoraServer(ctx, target);
        serverStartedFor(ctx, target);
        restartFailures.delete(s.pandoraServiceCmd);
        // Not in a failover's timeline (a watcher following the actor, the watchdog): in the log.
        if (!phases) ctx.events.log({ info: `pandora_server restarted: it now uses ${target}` });
        return `pandora_server ${stopped}, ${started}`;
      });
      return true;
    } catch (e) {
      restartFailures.set(s.pandoraServiceCmd, Date.now());
      ctx.events.emit("failover_failure", "critical", `pandora_server did not restart after publishing ${master}: ${shortError(e)}`, { key: "restart-server" });
      return false;
    }
  });
}

async function phase(phases: Phase[] | undefined, name: PhaseName, f: () => Promise<string>): Promise<string> {
  const start = Date.now();
  try {
    const detail = await f();
    phases?.push({ phase: name, start, end: Date.now(), ok: true, detail });
    return detail;
  } catch (e) {
    phases?.push({ phase: name, start, end: Date.now(), ok: false, detail: shortError(e) });
    throw e;
  }
}

/**
 * Waits until `host` has applied everything in its relay log (never thrown away unapplied). The
 * IO thread is stopped first, so that what it received is final: an event that arrived after
 * the wait began would otherwise be in the relay log that promotion resets. The SQL thread is
 * started before that, while the IO thread still runs: MariaDB in GTID mode discards the relay
 * log when a thread starts with both stopped.
 */
async function drain(ctx: Ctx, host: string): Promise<string> {
  const s = session(ctx, host);
  const d = s.dialect!;
  const before = d.parseReplicaStatus(await s.conn.admin(d.replicaStatusSql));
  if (!before) return "not a replica: nothing to apply";
  if (!before.sqlRunning) {
    if (before.io === "no") await refuseRelayLogPurge(s, before);
    else await s.conn.admin(d.startSqlThreadSql);
  }
  if (before.io !== "no") await s.conn.admin(d.stopIoThreadSql);
  const r = d.parseReplicaStatus(await s.conn.admin(d.replicaStatusSql))!;
  if (!r.receivedGtid) return "nothing received to apply";
  const wait = d.waitForGtidSql(r.receivedGtid, ctx.settings.drainTimeout);
  const [row] = await s.conn.query<{ v: string | null }>(wait.sql, wait.values, (ctx.settings.drainTimeout + 5) * 1000);
  if (Number(row?.v) !== 0) throw new ActionError(`${host} did not apply its relay log (${r.receivedGtid}) within ${ctx.settings.drainTimeout} s`);
  return `applied everything received (${r.receivedGtid})`;
}

/**
 * Throws when starting a thread of this stopped replica would discard received transactions it
 * has not applied (MariaDB in GTID mode drops the relay log then): they may be acknowledged
 * commits that exist nowhere else once the master is gone.
 */
async function refuseRelayLogPurge(s: NodeSession, r: ReplicaStatus): Promise<void> {
  const d = s.dialect!;
  if (!d.startPurgesStoppedRelayLog) return;
  const pending = d.comparePositions(r.receivedGtid, await applied(s));
  if (!pending.prefix)
    throw new ActionError(`${s.host}: both replication threads are stopped with ${pending.errantCount} received transactions not applied (${pending.errant}); starting one would discard them: apply them by hand`);
}

/** What `s` has applied (MariaDB gtid_current_pos, MySQL gtid_executed). */
async function applied(s: NodeSession): Promise<string> {
  const [row] = await s.conn.admin<Record<string, unknown>>(s.dialect!.gtidExecutedSql);
  return String(Object.values(row ?? {})[0] ?? "");
}

/**
 * Detaches `host` from any source and makes it writable. The replication configuration (and its
 * relay log) is reset only once everything received has been applied: the IO thread is stopped
 * first (what was received is then final), the SQL thread only after the check, so that a
 * refused promotion leaves it applying and a retry can drain again.
 */
async function promote(ctx: Ctx, host: string): Promise<string> {
  const s = session(ctx, host);
  const d = s.dialect!;
  const r = d.parseReplicaStatus(await s.conn.admin(d.replicaStatusSql));
  if (r) {
    if (r.io !== "no" && r.sqlRunning) await s.conn.admin(d.stopIoThreadSql);
    const after = d.parseReplicaStatus(await s.conn.admin(d.replicaStatusSql));
    const pending = d.comparePositions(after?.receivedGtid ?? "", await applied(s));
    if (!pending.prefix) throw new ActionError(`${host} has ${pending.errantCount} received transactions not applied yet (${pending.errant}): its relay log is kept, not reset`);
    await stopReplication(ctx, s, after?.io ?? "no");
    await s.conn.admin(d.resetReplicaAllSql);
  }
  await makeWritable(ctx, host);
  return r ? `replication from ${r.sourceHost} removed; writable` : "writable";
}

/**
 * Stops both replication threads. With its IO thread not receiving (`io` no, or connecting), a
 * MySQL applier may hold the start of a transaction whose end never comes (its source died mid-send): asked to
 * stop, it waits 60 s for it (measured on 9.7, also at shutdown), so it is killed first, which
 * rolls that part back. Nothing acknowledged is lost: a replica acknowledges whole transactions,
 * and what it received whole was applied or is fetched again by GTID.
 */
async function stopReplication(ctx: Ctx, s: NodeSession, io: ReplicaStatus["io"]): Promise<void> {
  const d = s.dialect!;
  if (d.applierThreadSql && io !== "yes") {
    try {
      for (const { id } of await s.conn.admin<{ id: unknown }>(d.applierThreadSql)) {
        // Gone by now (it stopped by itself): ER_NO_SUCH_THREAD.
        await s.conn.admin(`KILL ${Number(id)}`).catch((e) => {
          if ((e as { errno?: number }).errno !== 1094) throw e;
        });
      }
    } catch (e) {
      // Without the grant (an install older than it): the plain STOP below, which may wait.
      ctx.events.log({ applier_kill: s.host, failed: shortError(e) });
    }
  }
  await s.conn.admin(d.stopReplicaSql);
}

/** Points `host` at `master` by GTID and starts replication. */
async function pointAt(ctx: Ctx, host: string, master: string, fromOwnHistory: boolean): Promise<void> {
  const s = session(ctx, host);
  const d = s.dialect!;
  await stopReplication(ctx, s, d.parseReplicaStatus(await s.conn.admin(d.replicaStatusSql))?.io ?? "no");
  const st = ctx.settings;
  for (const q of d.changeSourceSql({ host: master, port: st.dbPort, user: st.replUser, password: st.replPass }, fromOwnHistory)) await s.conn.admin(q);
  await s.conn.admin(d.startReplicaSql);
  await setSemiSync(ctx, host, "replica");
}

function replicasOf(ctx: Ctx, exclude: string[]): NodeObservation[] {
  return [...ctx.sessions.values()]
    .map((s) => s.last)
    .filter((o): o is NodeObservation => !!o && o.reachable && !exclude.includes(o.host) && !ctx.state.diverged[o.host]);
}

/** The replicas a new master takes along: not those disabled in the console or being resynced. */
function followersOf(ctx: Ctx, exclude: string[]): NodeObservation[] {
  return replicasOf(ctx, exclude).filter((o) => !ctx.state.disabled.includes(o.host) && ctx.state.resyncs[o.host]?.state !== "running");
}

// ---------------------------------------------------------------------------------------------
// Failover and switchover

export interface FailoverOptions {
  /** The old master answers but cannot commit (its writes stalled): its server is stopped first, or nothing is promoted. */
  stopOldMaster?: boolean;
  /** Promoted past the durability check (`pandora_ha failover --force`): the old master's tail is kept, never undone. */
  unsafe?: boolean;
  /** Asked by hand (`pandora_ha failover`): what --force overrode ("" when nothing), named in the start event. */
  byHand?: string;
}

export async function failover(ctx: Ctx, oldMaster: string, candidate: string, reason: string, detectedAt: number, observations: string[], opts: FailoverOptions = {}): Promise<Timeline> {
  const epoch = ctx.state.epoch + 1;
  const t: Timeline = { kind: "failover", from: oldMaster, to: candidate, epoch, reason, observations, phases: [], ok: false, totalMs: 0 };
  const lost = opts.stopOldMaster ? "answers but cannot commit (its writes stalled)" : "is dead for the daemon and its replicas";
  t.phases.push({ phase: "detect", start: detectedAt, end: Date.now(), ok: true, detail: `${oldMaster} ${opts.stopOldMaster ? "writes stalled" : "unreachable"}` });
  t.phases.push({ phase: "decide", start: Date.now(), end: Date.now(), ok: true, detail: reason });
  const start = opts.byHand === undefined ? `failover: ${oldMaster} ${lost}; promoting ${candidate}` : `failover by hand to ${candidate}${opts.byHand}: ${oldMaster} ${lost}`;
  ctx.events.emit("failover_start", "critical", `${start} (epoch ${epoch})`, {
    key: "failover",
    data: { reason, observations },
  });
  const finish = (ok: boolean): Timeline => endTimeline(ctx, t, detectedAt, ok);
  let promoted = false;
  let guarded: Promise<string> = Promise.resolve("");
  try {
    await stillDeciding(ctx, candidate, epoch);
    await phase(t.phases, "fence", async () => {
      if (opts.stopOldMaster) {
        await stopServer(ctx, session(ctx, oldMaster), `its writes stalled; failover to ${candidate}`);
        return `${oldMaster} stopped (kill -9 over SSH): a commit stuck there can never complete after the promotion`;
      }
      markFenced(ctx, oldMaster);
      if (session(ctx, oldMaster).last?.refused) return `${oldMaster} refuses connections: marked fenced; it is made read-only the moment it is seen again`;
      guarded = guardWait(ctx, oldMaster, stopSilentServer(ctx, oldMaster, `failover to ${candidate}`));
      return `${oldMaster} silent: marked fenced, its server being stopped over SSH (if its host answers); it is made read-only the moment it is seen again`;
    });
    await ctx.pauseAfter("fence");
    await stillDeciding(ctx, candidate, epoch);
    await phase(t.phases, "drain", async () => `${await drain(ctx, candidate)}${await detachOthers(ctx, oldMaster, candidate)}`);
    await ctx.pauseAfter("drain");
    const guardStart = Date.now();
    const waited = await guarded;
    if (waited) t.phases.push({ phase: "guard", start: guardStart, end: Date.now(), ok: true, detail: waited });
    await stillDeciding(ctx, candidate, epoch);
    promoted = true;
    await phase(t.phases, "promote", () => promote(ctx, candidate));
    await ctx.pauseAfter("promote");
    await stillDeciding(ctx, candidate, epoch);
    await phase(t.phases, "epoch", async () => {
      await recordEpoch(ctx, candidate, epoch, `failover from ${oldMaster}: ${reason}`);
      ctx.state.master = candidate;
      ctx.state.epoch = epoch;
      ctx.state.failovers.push(Date.now());
      ctx.state.fenced = ctx.state.fenced.filter((h) => h !== candidate);
      if (opts.unsafe && !ctx.state.unsafeTails.includes(oldMaster)) ctx.state.unsafeTails.push(oldMaster);
      // Its tail acknowledged nothing only if it was durable at the last look and held so by this
      // daemon (ha_semisync 1): under ha_semisync 0 the servers' own settings rule, and may have
      // changed since that look.
      const durable = ctx.settings.semiSync && ctx.state.lastMaster?.host === oldMaster && ctx.state.lastMaster.durable;
      ctx.state.safeTails = (ctx.state.safeTails ?? []).filter((h) => h !== oldMaster);
      if (durable && !opts.unsafe) ctx.state.safeTails.push(oldMaster);
      ctx.saveState();
      // For whichever daemon acts when the old master comes back.
      await recordTail(ctx, candidate, epoch, oldMaster, opts.unsafe ? "forced" : durable ? "safe" : "unknown");
      return `epoch ${epoch} recorded on ${candidate}`;
    });
    await ctx.pauseAfter("epoch");
    await phase(t.phases, "repoint", async () => {
      const moved: string[] = [];
      for (const o of followersOf(ctx, [candidate, oldMaster])) {
        await pointAt(ctx, o.host, candidate, false);
        moved.push(o.host);
      }
      return `${moved.length ? `replicating from ${candidate}: ${moved.join(", ")}` : "no other replica"}${await durableWith(ctx, candidate, moved.length)}`;
    });
    const restarted = (await publish(ctx, candidate, t.phases))?.restarted;
    if (!restarted) return finish(false);
    // Published: the failover has done its part; it ends when pandora_server has restarted.
    t.ok = true;
    void restarted.then((ok) => {
      const done = finish(ok);
      if (ok) ctx.events.emit("failover_end", "normal", `failover done: ${candidate} is the master (epoch ${epoch}) after ${done.totalMs} ms`, { key: "failover", data: { totalMs: done.totalMs } });
    });
    return t;
  } catch (e) {
    // Not promoted: the candidate goes back to replicating (it fetches again from the old master
    // when that returns), so a failed failover leaves no replica with its IO thread stopped.
    if (!promoted) await phase(t.phases, "repair", async () => (await resumeReplication(ctx, candidate)) || "still replicating").catch(() => undefined);
    const done = finish(false);
    ctx.events.emit("failover_failure", "critical", `failover to ${candidate} failed: ${shortError(e)}`, { key: "failover" });
    return done;
  }
}

/**
 * A failover's or a switchover's end (`startedAt`: its detection or its request): its timeline
 * kept as the last one, unless a newer operation's already is (this one's restart ended later),
 * and logged.
 */
function endTimeline(ctx: Ctx, t: Timeline, startedAt: number, ok: boolean): Timeline {
  t.ok = ok;
  t.totalMs = Date.now() - startedAt;
  if (t.epoch >= (ctx.state.lastFailover?.epoch ?? 0)) ctx.state.lastFailover = t;
  ctx.saveState();
  ctx.events.log({ timeline: t });
  return t;
}

/**
 * The other replicas still pointed at the old master stop fetching from it (held ones too): one
 * reconnecting when a hung or cut-off master comes back would acknowledge its waiting commits,
 * which the new master lacks. Those that follow the new master are repointed after the promotion.
 */
async function detachOthers(ctx: Ctx, oldMaster: string, candidate: string): Promise<string> {
  const stopped: string[] = [];
  for (const o of replicasOf(ctx, [candidate, oldMaster])) {
    if (o.replica?.sourceHost !== oldMaster || o.replica.io === "no") continue;
    try {
      const s = session(ctx, o.host);
      await s.conn.admin(s.dialect!.stopIoThreadSql);
      stopped.push(o.host);
    } catch (e) {
      ctx.events.log({ detach: o.host, failed: shortError(e) });
    }
  }
  return stopped.length ? `; ${stopped.join(", ")} stopped fetching from ${oldMaster}` : "";
}

/**
 * Starts a replica's stopped replication threads again (after a failed failover, or found
 * stopped): the IO thread reconnects to its source by itself. One the master refused because it
 * asked from the wrong position is rejoined instead (repairRefusedReplica). MariaDB discards
 * the relay log when a thread starts with both stopped; a source that answers sends it again.
 * Returns what it did ("" when it was not stopped).
 */
export async function resumeReplication(ctx: Ctx, host: string): Promise<string> {
  const s = session(ctx, host);
  const d = s.dialect!;
  const r = d.parseReplicaStatus(await s.conn.admin(d.replicaStatusSql));
  if (!r || (r.io !== "no" && r.sqlRunning)) return "";
  const repaired = await repairRefusedReplica(ctx, s, r);
  if (repaired) return repaired;
  if (r.io === "no" && !r.sqlRunning) await refuseRelayLogPurge(s, r);
  await s.conn.admin(d.startReplicaSql);
  return `replication started again (IO thread was ${r.io}, SQL thread ${r.sqlRunning ? "running" : "stopped"})`;
}

/** Planned switchover to `target`: the old master is fenced first, so no write is lost. */
export async function switchover(ctx: Ctx, target: string): Promise<Timeline> {
  const from = ctx.state.master;
  if (!from) throw new ActionError("no master known yet");
  if (target === from) throw new ActionError(`${target} is already the master`);
  const m = session(ctx, from).last;
  const c = session(ctx, target).last;
  if (!m?.reachable) throw new ActionError(`the master ${from} is not reachable: a switchover needs it (a failover happens by itself)`);
  if (!c?.reachable) throw new ActionError(`${target} is not reachable`);
  if (ctx.state.diverged[target]) throw new ActionError(`${target} is diverged: resync it first`);
  if (ctx.state.disabled.includes(target)) throw new ActionError(`${target} is disabled in the console: enable it first`);
  if (ctx.state.resyncs[target]?.state === "running") throw new ActionError(`${target} is being resynced`);
  if (!c.replica || c.replica.sourceHost !== from || c.replica.io !== "yes" || !c.replica.sqlRunning)
    throw new ActionError(`${target} is not a healthy replica of ${from} (${c.replica ? `io=${c.replica.io} sql=${c.replica.sqlRunning}` : "not replicating"})`);
  const epoch = ctx.state.epoch + 1;
  const start = Date.now();
  const t: Timeline = { kind: "switchover", from, to: target, epoch, reason: "requested", observations: [], phases: [], ok: false, totalMs: 0 };
  let restarted: Promise<boolean> | undefined;
  ctx.events.emit("switchover_start", "warning", `switchover from ${from} to ${target} (epoch ${epoch})`, { key: "switchover" });
  try {
    await phase(t.phases, "fence", async () => `${await fence(ctx, from, `switchover to ${target}`)} clients killed on ${from}`);
    await phase(t.phases, "drain", async () => {
      const gtid = await applied(session(ctx, from));
      const cs = session(ctx, target);
      const w = cs.dialect!.waitForGtidSql(gtid, ctx.settings.drainTimeout);
      const [r] = await cs.conn.query<{ v: string }>(w.sql, w.values, (ctx.settings.drainTimeout + 5) * 1000);
      if (Number(r?.v) !== 0) throw new ActionError(`${target} did not reach ${gtid} within ${ctx.settings.drainTimeout} s`);
      return `${target} applied everything up to ${gtid}`;
    });
    await phase(t.phases, "promote", () => promote(ctx, target));
    await phase(t.phases, "epoch", async () => {
      await recordEpoch(ctx, target, epoch, `switchover from ${from}`);
      ctx.state.master = target;
      ctx.state.epoch = epoch;
      ctx.state.fenced = ctx.state.fenced.filter((h) => h !== target && h !== from);
      ctx.saveState();
      return `epoch ${epoch} recorded on ${target}`;
    });
    await phase(t.phases, "repoint", async () => {
      await pointAt(ctx, from, target, true);
      const moved = [from];
      for (const o of followersOf(ctx, [target, from])) {
        await pointAt(ctx, o.host, target, false);
        moved.push(o.host);
      }
      return `replicating from ${target}: ${moved.join(", ")}${await durableWith(ctx, target, moved.length)}`;
    });
    restarted = (await publish(ctx, target, t.phases))?.restarted;
  } catch (e) {
    ctx.events.emit("switchover_failure", "critical", `switchover to ${target} failed: ${shortError(e)}`, { key: "switchover" });
    // The old master stays fenced; if the target was not promoted the daemon makes the old one
    // writable again on its next cycle (master_read_only).
  }
  const finish = (ok: boolean) => {
    endTimeline(ctx, t, start, ok);
    if (ok) ctx.events.emit("switchover_end", "normal", `switchover done: ${target} is the master (epoch ${epoch}) after ${t.totalMs} ms`, { key: "switchover" });
  };
  if (!restarted) finish(false);
  else {
    // Published: done once pandora_server has restarted (beside the loop).
    t.ok = true;
    void restarted.then(finish);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Conditions with one step each

/** The master came back read-only (restart) or a promotion stopped before it: writable again. */
export async function restoreMaster(ctx: Ctx, host: string, why: string): Promise<void> {
  const s = session(ctx, host);
  const mine = s.last?.gtidHistory ?? "";
  for (const o of replicasOf(ctx, [host])) {
    const cmp = s.dialect!.compareHistory(o.gtidHistory ?? "", mine);
    if (!cmp.prefix) throw new ActionError(`${host} stays read-only: ${o.host} has ${cmp.errantCount} transactions it lacks (${cmp.errant})`);
  }
  await promote(ctx, host);
  await durableWith(ctx, host, replicasOf(ctx, [host]).filter((o) => o.replica?.sourceHost === host).length);
  ctx.state.fenced = ctx.state.fenced.filter((h) => h !== host);
  ctx.saveState();
  ctx.events.emit("master_writable", "warning", `${host}, the master (epoch ${ctx.state.epoch}), was read-only (${why}): made writable`, { node: host, key: `fence:${host}` });
}

/**
 * A read-only node that does not follow the master. Its history (on MariaDB read from its binary
 * log files too: a crash recovery can report a stale one) a prefix of the master's: it
 * replicates from the master. Otherwise it is diverged: it stays fenced, nothing of it is
 * dropped, and an event says what it holds that the master lacks.
 */
export async function rejoin(ctx: Ctx, host: string, master: string, known?: OwnHistory): Promise<"rejoined" | "diverged"> {
  const s = session(ctx, host);
  const m = session(ctx, master);
  const d = s.dialect!;
  const theirs = m.last?.gtidHistory ?? "";
  const own = known ?? (await readOwnHistory(ctx, s));
  const mine = own.history;
  const cmp = d.compareHistory(mine, theirs);
  if (!cmp.prefix) {
    // The merge commits on the master: one that is strictly semi-synchronous with no replica
    // attached would wait, holding the loop, until pandora_ha let it go on asynchronously (which
    // the loop does). So not yet: the next cycles try again.
    const ms = m.last;
    if (ms && isStrict(ms) && (ms.semiSync?.clients ?? 0) < 1) throw new ActionError(`${host} diverged; its merge waits until the master ${master} can commit (no replica acknowledges it yet)`);
    // What the failover away from it knew of its tail, from this daemon's state or the one that
    // decided (read first: a failed read is retried before anything is merged).
    let verdict: Awaited<ReturnType<typeof tailVerdict>>;
    try {
      verdict = ctx.state.unsafeTails.includes(host) ? "forced" : await tailVerdict(ctx, master, host);
    } catch (e) {
      return rejoinFailed(ctx, host, cmp, shortError(e));
    }
    // A split brain: first the monitoring data written on it during the split goes to the master.
    let merged = "";
    try {
      merged = await mergeFrom(ctx, s, m, mine);
    } catch (e) {
      ctx.events.log({ merge: host, failed: shortError(e) });
      return rejoinFailed(ctx, host, cmp, `copying its monitoring data to ${master} failed (${shortError(e)})`);
    }
    // The tail (in flight when it died or was cut off): archive it, undo it, rejoin. Not after a
    // failover forced past the durability check: that tail may hold acknowledged commits.
    try {
      if (verdict === "forced") throw new TailKept("its tail may hold acknowledged commits (the failover away from it was forced): kept, not undone");
      const how = await undoTail(ctx, s, mine, theirs, cmp, ctx.state.epoch);
      await pointAt(ctx, host, master, false);
      await rejoined(ctx, host, master);
      ctx.events.emit("rejoined", "warning", `${host} rejoined as a replica of ${master} after its ${cmp.errantCount} diverged transactions (${cmp.errant}) were archived and undone${merged}: ${how}`, {
        node: host,
        key: `rejoin:${host}`,
      });
      return "rejoined";
    } catch (e) {
      ctx.events.log({ truncate: host, refused: shortError(e) });
      if (!(e instanceof TailKept)) return rejoinFailed(ctx, host, cmp, `undoing its tail failed (${shortError(e)})`);
      // Only the tail of an old master that was durable when pandora_ha failed over from it: a
      // replica's own writes, or a tail after an asynchronous or forced failover, stay diverged.
      const safe = verdict !== "forced" && ((ctx.state.safeTails ?? []).includes(host) || verdict === "safe");
      if (e.reseed && safe && cmp.errantCount <= MAX_TRUNCATE) {
        const r = await reseedTail(ctx, host, master, cmp);
        if (r) return r;
      }
    }
    ctx.state.diverged[host] = { since: ctx.state.diverged[host]?.since ?? Date.now(), errant: cmp.errant, errantCount: cmp.errantCount };
    ctx.saveState();
    ctx.events.emit(
      "diverged",
      "critical",
      `${host} holds ${cmp.errantCount} transactions the master ${master} lacks (${cmp.errant})${merged}: it stays read-only and out of replication; its rows are kept. ${
        ctx.settings.splitbrainAutofix ? "splitbrain_autofix: resyncing it" : `Resync it: pandora_ha resync ${ctx.settings.confPath} ${master} ${host}`
      }`,
      { node: host, key: `rejoin:${host}` },
    );
    if (ctx.settings.splitbrainAutofix) resyncNode(ctx, host, master, "splitbrain_autofix").catch((e) => ctx.events.log({ error: `splitbrain_autofix of ${host}: ${shortError(e)}` }));
    return "diverged";
  }
  let how = "";
  if (own.stale) {
    // Its server's state lags its binary log: its own position would make it fetch again what it holds.
    const at = commonPosition(mine, theirs) ?? "";
    await resetHistory(s, at);
    how = ` from ${at || "the start"}: its binary log holds ${mine} though its server reported ${own.reported || "nothing"} (a crash recovery lost its GTID state), so its history was reset to that point`;
  }
  await pointAt(ctx, host, master, !own.stale);
  await rejoined(ctx, host, master);
  ctx.events.emit("rejoined", own.stale ? "warning" : "normal", `${host} rejoined as a replica of ${master}${how}`, { node: host, key: `rejoin:${host}` });
  return "rejoined";
}

/** The first retry of a failed rejoin after this long, each next one twice as late, at most RETRY_MAX_MS. */
export const RETRY_FIRST_MS = 5_000;
export const RETRY_MAX_MS = 300_000;

/**
 * A rejoin failed for a cause that may pass (the node's disk full, SSH or the master gone
 * mid-merge): the node stays fenced and diverged, nothing of it dropped, and the rejoin is tried
 * again later (the analysis asks for it once `retry.at` is past).
 */
function rejoinFailed(ctx: Ctx, host: string, cmp: HistoryComparison, cause: string): "diverged" {
  const before = ctx.state.diverged[host];
  const tries = (before?.retry?.tries ?? 0) + 1;
  const wait = Math.min(RETRY_FIRST_MS * 2 ** (tries - 1), RETRY_MAX_MS);
  ctx.state.diverged[host] = { since: before?.since ?? Date.now(), errant: cmp.errant, errantCount: cmp.errantCount, retry: { cause, tries, at: Date.now() + wait } };
  ctx.saveState();
  // A cause that has not passed after ESCALATE_AFTER tries (about 75 s) is an administrator's:
  // critical, once (and splitbrain_autofix resyncs it); the retries go on.
  const escalate = tries === ESCALATE_AFTER;
  const autofix = escalate && ctx.settings.splitbrainAutofix;
  const next = `tried again in ${Math.round(wait / 1000)} s (failure ${tries})`;
  const what = `${host} holds ${cmp.errantCount} transactions ${ctx.state.master} lacks (${cmp.errant}); ${cause}: it stays read-only and fenced, nothing of it is dropped`;
  ctx.events.emit(escalate ? "diverged" : "rejoin_failed", escalate ? "critical" : "warning", `${what}; ${autofix ? "splitbrain_autofix: resyncing it" : next}`, { node: host, key: `rejoin:${host}` });
  if (autofix) resyncNode(ctx, host, ctx.state.master!, "splitbrain_autofix").catch((e) => ctx.events.log({ error: `splitbrain_autofix of ${host}: ${shortError(e)}` }));
  return "diverged";
}

/**
 * The MySQL family's way to undo a tail: the node, an old master fenced by the failover away
 * from it, holds transactions the master lacks that no client was told were committed (strict
 * semi-sync, and that failover was not forced: the tail MariaDB's nodes undo in place), and no
 * flashback exists there.
 * So it is rebuilt from the master by the resync tool (the clone plugin), its old datadir, the
 * tail's rows included, moved aside and kept; out of replication until then.
 */
async function reseedTail(ctx: Ctx, host: string, master: string, cmp: HistoryComparison): Promise<"diverged" | undefined> {
  // One resync at a time: while another runs, the node is left to the diverged path.
  if (resyncRunning(ctx)) return undefined;
  ctx.state.diverged[host] = { since: ctx.state.diverged[host]?.since ?? Date.now(), errant: cmp.errant, errantCount: cmp.errantCount };
  ctx.saveState();
  ctx.events.emit(
    "tail_resync",
    "warning",
    `${host} holds ${cmp.errantCount} transactions the master ${master} lacks (${cmp.errant}), none of them acknowledged; its server cannot undo them in place, so it is rebuilt from ${master} (its datadir, those rows included, is kept aside)`,
    { node: host, key: `rejoin:${host}` },
  );
  resyncNode(ctx, host, master, "tail").catch((e) => ctx.events.log({ error: `resync of ${host}: ${shortError(e)}` }));
  return "diverged";
}

/** Is a resync running (the daemon runs one at a time)? */
function resyncRunning(ctx: Ctx): boolean {
  return Object.values(ctx.state.resyncs).some((r) => r.state === "running");
}

/** After this many failed tries of a rejoin the event is critical (diverged). */
const ESCALATE_AFTER = 4;

/**
 * `host` replicates from `master` again (rejoined, or resynced): no longer fenced nor diverged,
 * and the failover's verdict on its old tail settled, here and on the master.
 */
export async function rejoined(ctx: Ctx, host: string, master: string): Promise<void> {
  ctx.state.fenced = ctx.state.fenced.filter((h) => h !== host);
  ctx.state.safeTails = (ctx.state.safeTails ?? []).filter((h) => h !== host);
  ctx.state.unsafeTails = ctx.state.unsafeTails.filter((h) => h !== host);
  delete ctx.state.diverged[host];
  ctx.saveState();
  await clearTail(ctx, master, host);
}

async function readOwnHistory(ctx: Ctx, s: NodeSession): Promise<OwnHistory> {
  try {
    return await ownHistory(ctx, s);
  } catch (e) {
    throw new ActionError(`${s.host}: what its binary log holds could not be read (${shortError(e)}): not rejoined yet`);
  }
}

/**
 * A replica of the master whose IO thread the master refused with error 1236 (it asked from a
 * GTID the master's binary log lacks) because it asked from the wrong place: from a position
 * behind what it holds (a rejoin on a GTID state a crash recovery had lost), or holding a tail
 * of its own that only its binary log files show. Nothing was fetched, so it is rejoined again
 * from what its binary log holds (its tail, if any, archived and undone). "" when that is not
 * the case: a genuine refusal (the master purged what it needs) is left to the warnings.
 */
async function repairRefusedReplica(ctx: Ctx, s: NodeSession, r: ReplicaStatus): Promise<string> {
  const master = ctx.state.master;
  const d = s.dialect!;
  if (d.flavor !== "mariadb" || r.io !== "no" || !/\b1236\b/.test(r.lastIoError) || !master || master === s.host || r.sourceHost !== master) return "";
  if (!d.compareHistory(r.receivedGtid, await applied(s)).prefix) return "";
  const own = await readOwnHistory(ctx, s);
  const theirs = session(ctx, master).last?.gtidHistory ?? "";
  if (d.compareHistory(own.history, theirs).prefix) {
    const [row] = await s.conn.admin<{ v: string }>("SELECT @@global.gtid_slave_pos AS v");
    const asked = String(row?.v ?? "");
    const at = commonPosition(own.history, theirs) ?? "";
    if (!own.stale && d.comparePositions(asked, at).prefix && d.comparePositions(at, asked).prefix) return "";
  } else if (!own.stale) return "";
  const done = await rejoin(ctx, s.host, master, own);
  return `the master refused its position (${r.lastIoError.slice(0, 200)}); ${done === "rejoined" ? "rejoined from what its binary log holds" : "it holds transactions the master lacks: diverged"}`;
}

/**
 * Inserts into the master the monitoring rows the diverged node's own transactions wrote (read from
 * its binlog, whatever their timestamps; never an event the master deleted; recorded, so a retry
 * takes nothing twice). Returns a phrase for the event ("" when nothing was inserted).
 */
async function mergeFrom(ctx: Ctx, node: NodeSession, master: NodeSession, history: string): Promise<string> {
  // MySQL/Percona: no merge; the node stays diverged with its rows, for a resync.
  if (node.dialect?.flavor !== "mariadb") return "";
  const r = await mergeDivergedWrites(
    ctx.settings,
    { host: node.host, conn: node.conn, history },
    { host: master.host, conn: master.conn, history: master.last?.gtidHistory ?? "" },
  );
  ctx.events.log({ merge: node.host, into: master.host, diverged: r.diverged, alreadyMerged: r.alreadyMerged, inserted: r.inserted, alreadyThere: r.alreadyThere, ms: r.ms });
  return r.summary;
}

/**
 * Rebuilds `host` from `master` with the resync tool (ha_resync), one at a time; recorded in the
 * state (the console shows it: processing, then online or failed) and as events at the start,
 * the end and on failure. Resolves when the tool has finished; false when another resync runs.
 */
export async function resyncNode(ctx: Ctx, host: string, master: string, by: ResyncRecord["by"]): Promise<boolean> {
  if (resyncRunning(ctx)) return false;
  const s = ctx.settings;
  const rec: ResyncRecord = { state: "running", master, by, started: Date.now(), detail: "" };
  ctx.state.resyncs[host] = rec;
  ctx.saveState();
  const who = by === "console" ? "requested in the console" : by === "tail" ? "its tail cannot be undone in place" : "splitbrain_autofix";
  ctx.events.emit("resync", "warning", `resync of ${host} from ${master} started (${who})`, { node: host, key: `resync:${host}` });
  // The tool appends everything it says to ha_resync_log itself, with timestamps.
  const r = await runShell(`${shq(s.resyncScript)} ${shq(s.confPath)} ${shq(master)} ${shq(host)}`, 6 * 3600_000);
  rec.ended = Date.now();
  rec.detail = r.output.split("\n").pop() ?? "";
  rec.state = r.code === 0 ? "done" : "failed";
  ctx.saveState();
  if (r.code === 0) ctx.events.emit("resync", "normal", `resync of ${host} from ${master} finished in ${Math.round((rec.ended - rec.started) / 1000)} s`, { node: host, key: `resync:${host}` });
  else ctx.events.emit("resync", "critical", `resync of ${host} from ${master} failed (exit ${r.code}: ${rec.detail}; see ${s.resyncLog})`, { node: host, key: `resync:${host}` });
  return true;
}
