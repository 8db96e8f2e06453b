/**
 * The loop: every ha_probe_interval, probe every node at once → analysis → one action per
 * condition (only the actor acts) → publishers (hosts file, events, HTTP status). Every
 * ha_interval, the original's watchdogs: pandora_server and Tentacle.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { Ctx } from "./act/actions";
import * as act from "./act/actions";
import { AgentFileKeeper, VERIFY_AFTER_MS } from "./act/agent-files";
import { handBackAgentFiles } from "./act/server";
import type { Condition } from "./decide/analysis";
import type { ConsoleRequest, ConsoleView } from "./publish/console";
import { ACTION, ACTION_NAMES, consoleView, setConsoleDisabled, syncConsoleTable, takeConsoleRequest } from "./publish/console";
import { ACTION_ORDER, analyze, describeNode, historyOps, received, refusal } from "./decide/analysis";
import type { HaSettings } from "./conf";
import { confWarnings } from "./conf";
import type { EventLog, HaEvent } from "./publish/events";
import { insertEvents } from "./publish/events";
import { runShell } from "./exec";
import { ADMIN_TIMEOUT_MS, NodeConnection, NodeSession, sessionOptions, shortError } from "./observe/probe";
import { ReturnWatch } from "./observe/return-watch";
import type { AckTracker } from "./decide/durability";
import { durabilityStep, notDurable } from "./decide/durability";
import type { DaemonState, PhaseName } from "./state";
import { failoversInWindow, loadState, saveState } from "./state";
import type { NodeObservation } from "./types";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface StatusReport {
  daemon: { pid: number; serverName: string; actor: boolean; startedAt: string };
  master: string | null;
  published: string | null;
  epoch: number;
  conditions: Condition[];
  nodes: NodeObservation[];
  fenced: string[];
  diverged: DaemonState["diverged"];
  /** Nodes held out of automatic actions, with why (disabled in the console, being resynced). */
  held: Record<string, string>;
  resyncs: DaemonState["resyncs"];
  failoverBudget: { used: number; allowed: number; windowS: number };
  lastFailover: DaemonState["lastFailover"] | null;
  /** The master as last seen (durable or not) and the asynchronous period pandora_ha chose, if any. */
  durability: { lastMaster: DaemonState["lastMaster"] | null; async: DaemonState["async"] | null };
  recentEvents: HaEvent[];
}

/** The guard's lease is renewed only on observations of every other node younger than this (see actions.ts guardWait). */
export const LEASE_FRESH_MS = 1000;

export class Daemon {
  readonly sessions = new Map<string, NodeSession>();
  readonly state: DaemonState;
  readonly ctx: Ctx;
  private running = false;
  private actor = false;
  private conditions: Condition[] = [];
  private secondary = new Map<string, { at: number; value: boolean | undefined }>();
  private checking = new Map<string, Promise<void>>();
  /** First failed probe of the master in the current episode (for the timeline). */
  private masterLostAt?: number;
  private down = new Set<string>();
  private raised = new Map<string, string>();
  private lastHousekeeping = 0;
  private http?: Server;
  /** Requests (switchover) waiting for the loop; refused when this daemon is no longer the actor. */
  private queue: Array<{ run: () => Promise<void>; refuse: (e: Error) => void }> = [];
  private readonly startedAt = new Date().toISOString();
  private wake?: () => void;
  private teventoWarned = false;
  private flushing = false;
  /** An action or a request is running (the watchdog then leaves the publication to it). */
  private acting = false;
  private housekeeping_?: Promise<void>;
  private masterConn?: NodeConnection;
  private console_?: Promise<void>;
  private lastConsoleSync = 0;
  private consoleSeen = "";
  private consoleWarned = false;
  /** Each node's history at the previous cycle (a replica's must be on the master one cycle later). */
  private previous: Record<string, string> = {};
  private acks?: AckTracker;
  /** Why the last switch to asynchronous was refused (the event is raised once per reason). */
  private asyncRefused?: string;
  /** Actions that failed: when they may run again, the pause, the last message. */
  private backoff = new Map<string, { next: number; pause: number; msg: string }>();
  /** When each replica's replication was last started again by the daemon. */
  private restarted = new Map<string, number>();
  private lastStateSave = 0;
  /** Fenced nodes that do not answer, watched for their return (see return-watch.ts); when each last came back. */
  private returns: ReturnWatch;
  private cameBack = new Map<string, number>();
  private probingAside = new Set<string>();
  /** Woken while a cycle ran: the next cycle starts without the pause. */
  private woken = false;

  constructor(
    readonly settings: HaSettings,
    readonly events: EventLog,
  ) {
    this.state = loadState(settings.stateDir);
    for (const r of Object.values(this.state.resyncs)) {
      if (r.state !== "running") continue;
      r.state = "failed";
      r.detail = `pandora_ha restarted while it ran; see ${settings.resyncLog}`;
    }
    for (const host of settings.haHosts) this.sessions.set(host, new NodeSession(sessionOptions(settings, host, Math.round(settings.probeTimeout * 1000))));
    this.returns = new ReturnWatch((host) => {
      this.cameBack.set(host, Date.now());
      const s = this.sessions.get(host);
      if (s) s.lastAttempt = 0;
      // Read-only at once, beside the loop's probe and full fence, which take longer (only the
      // acting daemon: another one's view of who is fenced may be stale).
      if (this.actor) void act.fenceOnReturn(this.ctx, host);
      this.wake?.();
    }, settings.bindAddress);
    const pauseAt = process.env.PANDORA_HA_PAUSE_AFTER;
    this.ctx = {
      settings,
      sessions: this.sessions,
      state: this.state,
      events,
      saveState: () => saveState(settings.stateDir, this.state),
      holdsLock: (host: string) => this.sessions.get(host)?.confirmLock() ?? Promise.resolve(false),
      // PANDORA_HA_PAUSE_AFTER=<phase>[:<seconds>] (default an hour).
      pauseAfter: async (phase: PhaseName) => {
        const [at, secs] = (pauseAt ?? "").split(":");
        if (at !== phase) return;
        events.log({ test_hook: `paused after ${phase} (PANDORA_HA_PAUSE_AFTER)` });
        await sleep(secs ? Number(secs) * 1000 : 3_600_000);
        events.log({ test_hook: `resumed after ${phase}` });
      },
    };
  }

  async run(): Promise<void> {
    this.running = true;
    this.events.emit("daemon_start", "info", `pandora_ha started on ${this.settings.serverName} (pid ${process.pid}), watching ${this.settings.haHosts.join(", ")}`, {
      key: `daemon:${this.settings.serverName}`,
    });
    for (const w of confWarnings(this.settings)) this.events.emit("warning", "warning", `${this.settings.confPath}: ${w}`, { key: "conf" });
    this.keepAgentFiles();
    await this.startHttp();
    while (this.running) {
      const t0 = Date.now();
      try {
        await this.cycle();
      } catch (e) {
        this.events.log({ error: `cycle failed: ${shortError(e)}` });
      }
      // Woken during the cycle (a node back, a request): the next one at once.
      const wait = this.woken ? 0 : Math.max(0, this.settings.probeInterval * 1000 - (Date.now() - t0));
      this.woken = false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, wait);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = () => {
        this.woken = true;
      };
    }
  }

  /** The agent files kept for the data server (agent-files.ts), unless ha_keep_files is 0. */
  private keepAgentFiles(): void {
    const s = this.settings;
    if (s.keepFiles <= 0) return;
    const warn = (msg: string) => this.events.emit("warning", "warning", `agent files: ${msg}`, { key: "agent-files" });
    try {
      const k = new AgentFileKeeper(s.incomingDir, s.keepFiles * 1000, s.useXmlTimestamp, warn, (fields) => this.events.log(fields));
      k.start();
      this.ctx.keeper = k;
    } catch (e) {
      warn(`${s.incomingDir} cannot be watched (${shortError(e)}): the files the data server takes while no master is writable can be lost`);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.ctx.keeper?.stop();
    this.wake?.();
    this.http?.close();
    for (const s of this.sessions.values()) s.close();
    this.masterConn?.close();
    this.returns.stop();
  }

  /** One cycle: probe, lock, analyse, act, publish. */
  async cycle(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [...this.sessions.values()].map((s) => {
        // A node that failed is re-probed after ha_connect_delay.
        if (s.failures > 0 && now - s.lastAttempt < this.settings.connectDelay * 1000 && s.last) return Promise.resolve(s.last);
        if (this.probingAside.has(s.host) || this.probeAside(s, now)) return Promise.resolve(s.last);
        return s.probe(now);
      }),
    );
    await this.refreshActor();
    this.markServerTrouble();
    this.trackNodes();
    this.watchReturns();
    this.rememberMaster();

    const conds = await this.decide(now);
    this.raiseWarnings(conds);
    this.trackErrant(conds);
    // Only replicas that follow the master: a node about to rejoin still holds its old tail.
    this.previous = Object.fromEntries(this.settings.haHosts.flatMap((h) => {
      const o = this.sessions.get(h)?.last;
      return o?.reachable && o.gtidHistory !== undefined && o.replica?.sourceHost === this.state.master ? [[h, o.gtidHistory] as const] : [];
    }));

    // Requests (switchover) run in the loop, never beside an automatic action; the next cycle
    // looks at the cluster afresh.
    if (this.queue.length) {
      this.acting = true;
      try {
        while (this.queue.length) {
          const q = this.queue.shift()!;
          // The lock may have changed hands since the request was queued.
          if (this.actor) await q.run();
          else q.refuse(new act.ActionError(this.notActing("ask that one")));
        }
      } finally {
        this.acting = false;
      }
      return;
    }

    if (this.actor) {
      this.acting = true;
      try {
        this.heartbeat();
        await this.runActions(conds);
        await this.keepLease();
        await this.keepDurable();
      } catch (e) {
        this.events.emit("warning", "warning", `durability: ${shortError(e)}`, { key: "action:durability" });
      } finally {
        this.acting = false;
      }
    } else {
      // A watcher follows what the actor decided (new epoch) and keeps its own host's file right.
      for (const c of conds) if (c.kind === "adopt_master") await this.adopt(c, false);
    }
    // In the background: an insert may wait for a semi-sync acknowledgement; the loop never does.
    if (!this.flushing) {
      this.flushing = true;
      void this.flushEvents().finally(() => (this.flushing = false));
    }
    // The console's view, in the background too: every ha_interval, and within a second of a change.
    if (this.actor && !this.console_) {
      const seen = this.consoleFingerprint();
      const since = Date.now() - this.lastConsoleSync;
      if (since >= this.settings.interval * 1000 || (seen !== this.consoleSeen && since >= 1000)) {
        this.lastConsoleSync = Date.now();
        this.consoleSeen = seen;
        this.console_ = this.syncConsole()
          .catch((e) => this.events.log({ warning: `console view (tdatabase) not updated: ${shortError(e)}` }))
          .finally(() => (this.console_ = undefined));
      }
    }
    // Also in the background: a service command that hangs must not hold up a failover.
    if (!this.housekeeping_ && Date.now() - this.lastHousekeeping >= this.settings.interval * 1000) {
      this.lastHousekeeping = Date.now();
      this.housekeeping_ = this.housekeeping()
        .catch((e) => this.events.log({ error: `watchdog failed: ${shortError(e)}` }))
        .finally(() => (this.housekeeping_ = undefined));
    }
  }

  /**
   * One action per condition, in ACTION_ORDER. One that failed is tried again after a pause that
   * doubles up to a minute (a failover that cannot finish must not run, and raise its events,
   * every half second), and its warning is raised again only when it says something new.
   */
  private async runActions(conds: Condition[]): Promise<void> {
    for (const kind of ACTION_ORDER) {
      for (const c of conds.filter((x) => x.kind === kind)) {
        const key = `${c.kind}:${"node" in c ? c.node : "master" in c ? c.master : ""}`;
        const b = this.backoff.get(key);
        if (b && Date.now() < b.next) continue;
        try {
          await this.act(c);
          this.backoff.delete(key);
        } catch (e) {
          const msg = `${c.kind}: ${shortError(e)}`;
          const pause = Math.min(60_000, (b?.pause ?? 1000) * 2);
          this.backoff.set(key, { next: Date.now() + pause, pause, msg });
          if (b?.msg !== msg) this.events.emit("warning", "warning", msg, { key: `action:${c.kind}` });
        }
      }
    }
  }

  /**
   * The actor holds the lock on every node it reaches. Holding only some of them (two daemons
   * raced) means letting go of those and trying again a random number of cycles later.
   */
  private lockBackoff = 0;
  private roleLogged = false;
  private async refreshActor(): Promise<void> {
    const all = [...this.sessions.values()];
    const reach = all.map((s) => !!s.last?.reachable);
    const wasActor = this.actor;
    if (this.settings.master === 0) {
      // `master 0`: this server never becomes the master server, so its pandora_ha never acts.
      this.actor = false;
    } else if (this.lockBackoff > 0) {
      this.lockBackoff--;
      this.actor = false;
    } else {
      const locks = await Promise.all(all.map((s, i) => (reach[i] ? s.refreshLock() : Promise.resolve(false))));
      this.actor = reach.some(Boolean) && all.every((_, i) => !reach[i] || locks[i]);
      if (!this.actor && locks.some(Boolean)) {
        await Promise.all(all.map((s) => s.releaseLock()));
        this.lockBackoff = 1 + Math.floor(Math.random() * 4);
      }
    }
    // The role is logged when it changes, and once when the loop starts.
    if (this.actor !== wasActor || (!this.roleLogged && this.running)) {
      this.roleLogged = true;
      this.events.log({
        actor: this.actor,
        message: this.actor ? "this daemon acts (it holds the actor lock on every reachable node)" : this.settings.master === 0 ? "master 0: this daemon only watches" : "another daemon acts: watching",
      });
    }
  }

  /** Runs (or joins the running) secondary check of `replica` against `master`. */
  private secondaryCheck(replica: string, master: string): Promise<void> {
    const running = this.checking.get(replica);
    if (running) return running;
    const p = act
      .replicaReachesMaster(this.ctx, replica, master)
      .then((value) => {
        this.secondary.set(replica, { at: Date.now(), value });
        const m = this.sessions.get(master);
        if (value === true && m) m.seenByReplicaAt = Date.now();
        this.events.log({ check: "secondary", replica, master, reaches: value ?? "unknown" });
      })
      .finally(() => this.checking.delete(replica));
    this.checking.set(replica, p);
    return p;
  }

  /**
   * From the master's first failed probe on, the replicas that still replicate from it are asked
   * in the background, so that the answer is there when the retries run out (a hung master
   * costs a probe timeout per retry; the check runs beside them, not after). Asking decides
   * nothing by itself.
   */
  private speculativeChecks(): void {
    const master = this.state.master;
    const m = master ? this.sessions.get(master)?.last : undefined;
    if (!master || !m || m.reachable) return;
    for (const s of this.sessions.values()) {
      const r = s.last?.replica;
      if (s.host !== master && s.last?.reachable && r?.sourceHost === master && r.io === "yes") void this.secondaryCheck(s.host, master);
    }
  }

  private analyse(now: number, force = false): Condition[] {
    const secondary: Record<string, boolean | undefined> = {};
    for (const [h, v] of this.secondary) if (now - v.at < Math.max(1500, this.settings.probeInterval * 3000)) secondary[h] = v.value;
    const nodes = this.settings.haHosts.map((h) => this.sessions.get(h)!.last!);
    const d = [...this.sessions.values()].find((s) => s.dialect)?.dialect;
    if (!d) return [{ kind: "no_node_reachable" }];
    return analyze({
      nodes,
      state: this.state,
      settings: this.settings,
      history: historyOps(d),
      now,
      secondary,
      held: this.held(),
      previous: this.previous,
      force,
    });
  }

  /** Nodes held out of automatic actions: disabled in the console, or being resynced (by this daemon, or by the resync tool run by hand on this host). */
  held(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const h of this.state.disabled) if (h !== this.state.master) out[h] = "disabled in the console";
    for (const [h, r] of Object.entries(this.state.resyncs)) if (r.state === "running") out[h] = `being resynced from ${r.master}`;
    const byHand = resyncByHand(RESYNC_LOCK_FILE, path.basename(this.settings.resyncScript));
    if (byHand && byHand.host !== this.state.master) out[byHand.host] ??= `being resynced (pandora_ha_resync_slave.sh, pid ${byHand.pid})`;
    return out;
  }

  /**
   * What the daemon keeps of the master across cycles and restarts: how it last saw it (its
   * history, whether it was durable) and when it last saw it writable; and whether every node
   * is down at once (a total outage). Watchers keep it too: one may become the actor.
   */
  private rememberMaster(): void {
    const st = this.state;
    const m = st.master ? this.sessions.get(st.master)?.last : undefined;
    if (!m) return;
    const before = st.lastMaster;
    let changed = false;
    if (m.reachable) {
      const why = st.async?.host === m.host ? `asynchronous since ${new Date(st.async.since).toISOString()} (${st.async.reason})` : notDurable(m);
      st.lastMaster = { host: m.host, at: m.at, gtid: m.gtidExecuted ?? "", durable: !why, why, readOnly: m.readOnly !== false, uptime: m.uptime };
      if (m.readOnly === false && m.uptime !== undefined) st.lastWritable = { host: m.host, at: m.at, uptime: m.uptime };
      changed = !before || before.host !== m.host || before.durable !== !why || before.readOnly !== st.lastMaster.readOnly;
      if (st.allDownSince !== undefined) {
        st.allDownSince = undefined;
        st.outageBackAt = undefined;
        changed = true;
      }
    } else if (st.allDownSince !== undefined && st.outageBackAt === undefined && [...this.sessions.values()].some((x) => x.last?.reachable)) {
      // The wait for every node runs from the first one back, however long the outage lasted.
      st.outageBackAt = Date.now();
      changed = true;
    } else if (st.allDownSince === undefined && [...this.sessions.values()].every((x) => x.last && !x.last.reachable && x.last.failures >= this.settings.connectRetries)) {
      st.allDownSince = Date.now();
      changed = true;
      this.events.emit("total_outage", "critical", `no database node answers this daemon (every node down, or this host cut off): when they answer again, the most advanced becomes the master (pandora_ha waits up to ${this.settings.outageWait} s for all of them)`, { key: "outage" });
    }
    // The position moves with every write: saved at most once a second, at once when it matters.
    if (changed || Date.now() - this.lastStateSave >= 1000) {
      this.lastStateSave = Date.now();
      this.ctx.saveState();
    }
  }

  /**
   * The master's durability (runtime/decide/durability.ts): semi-sync with no fallback of its own;
   * asynchronous only when this daemon sees that no replica has acknowledged anything for
   * ha_semisync_timeout seconds (recorded: failovers are held meanwhile); durable again when a
   * replica has caught up.
   */
  private async keepDurable(): Promise<void> {
    const st = this.state;
    const m = st.master ? this.sessions.get(st.master)?.last : undefined;
    if (!this.settings.semiSync || !m?.reachable || m.readOnly !== false) return;
    const followers = [...this.sessions.values()].map((x) => x.last).filter((o): o is NodeObservation => !!o?.reachable && o.host !== m.host && o.replica?.sourceHost === m.host && o.replica.io === "yes");
    const isAsync = st.async?.host === m.host;
    const d = this.sessions.get(m.host)!.dialect!;
    const strictAt = st.async?.strictAt;
    const caughtUp = strictAt !== undefined && followers.some((o) => d.comparePositions(strictAt, received(o, historyOps(d))).prefix);
    const input = { master: m, tracker: this.acks, isAsync, replicaFollowing: followers.length > 0, caughtUp, now: Date.now(), timeoutMs: this.settings.semiSyncTimeout * 1000 };
    const { step, tracker } = durabilityStep(input);
    this.acks = tracker;
    switch (step.kind) {
      case "strict":
        await act.setSemiSync(this.ctx, m.host, "strict");
        this.events.log({ durability: m.host, strict: step.reason });
        return;
      case "async": {
        const blocker = step.byHand ? undefined : this.mayNotGoAsync(m.host);
        if (blocker) {
          if (this.asyncRefused !== blocker) this.events.emit("semi_sync_off", "critical", `${m.host}: no replica acknowledges (${step.reason}), but ${blocker}: it stays semi-synchronous (its commits wait) rather than acknowledge what a promoted node would lack`, { key: `semisync:${m.host}` });
          this.asyncRefused = blocker;
          return;
        }
        this.asyncRefused = undefined;
        await act.setSemiSync(this.ctx, m.host, "async", step.reason);
        this.events.emit("semi_sync_off", "critical", `${m.host} switched to asynchronous commits ${step.byHand ? "by hand" : `by pandora_ha (${step.reason})`}: writes go on, but an automatic failover is held until a replica has caught up`, {
          key: `semisync:${m.host}`,
        });
        return;
      }
      case "durable_again": {
        const since = st.async?.since ?? Date.now();
        st.async = undefined;
        if (st.lastMaster?.host === m.host) st.lastMaster = { ...st.lastMaster, durable: true, why: undefined };
        this.ctx.saveState();
        this.events.emit("semi_sync_on", "normal", `${m.host} is durable again: a replica has everything it committed and acknowledges its commits (asynchronous for ${Math.round((Date.now() - since) / 1000)} s)`, { key: `semisync:${m.host}` });
        return;
      }
    }
  }

  /**
   * The guard's lease on the master (scripts/pandora_ha_guard.sh): granted while this daemon acts
   * and no other pandora_ha can promote (the condition for going asynchronous), so that a master
   * whose replicas are only cut from it does not stop itself; released everywhere else. A master
   * cut off from this daemon too gets no ping, and its guard stops it.
   */
  private async keepLease(): Promise<void> {
    const master = this.state.master;
    const m = master ? this.sessions.get(master)?.last : undefined;
    // Every other node seen within LEASE_FRESH_MS: a renewal never outlives the contact it rests on by more.
    const fresh = [...this.sessions.values()].every((s) => s.host === master || (!!s.last && Date.now() - s.last.at < LEASE_FRESH_MS));
    const grant = this.actor && this.settings.semiSync && this.settings.guardTimeout > 0 && !!m?.reachable && m.readOnly === false && fresh && !this.mayNotGoAsync(m.host);
    await Promise.all([...this.sessions.values()].map((s) => s.setLease(grant && s.host === master)));
  }

  /**
   * Why the master may not go asynchronous, or undefined when it may: every other node must be
   * either down (its connection refused: nobody can promote it) or reachable with this daemon
   * holding its actor lock (nobody else can promote it). A node that only times out may be on
   * the other side of a partition, promoted by another pandora_ha that cannot see the master:
   * acknowledging commits it lacks would lose them.
   */
  private mayNotGoAsync(master: string): string | undefined {
    const silent = [...this.sessions.values()].filter((x) => x.host !== master && !(x.last?.reachable ? x.holdsLock : x.last?.refused));
    return silent.length ? `${silent.map((x) => x.host).join(", ")} ${silent.length > 1 ? "do" : "does"} not answer this daemon (it may be cut off with the master while another promotes)` : undefined;
  }

  /** The timed write on the master (probe.ts heartbeat); the others' writers are let go. */
  private heartbeat(): void {
    for (const s of this.sessions.values()) {
      if (s.host === this.state.master && s.last?.reachable && s.last.readOnly === false) s.heartbeat(this.settings.serverName);
      else s.stopHeartbeat();
    }
  }

  /**
   * A fenced node that does not answer (not the master) is probed beside the cycle, which goes on
   * with what it last saw: its connect timing out must not hold the cycle up (a heal would then
   * wait for it). Its answer wakes the loop. False when the node is probed in the cycle.
   */
  private probeAside(s: NodeSession, now: number): boolean {
    if (!s.last || s.last.reachable || s.host === this.state.master || !this.state.fenced.includes(s.host)) return false;
    this.probingAside.add(s.host);
    void s
      .probe(now)
      .then((o) => o.reachable && this.wake?.())
      .catch(() => undefined)
      .finally(() => this.probingAside.delete(s.host));
    return true;
  }

  /**
   * Fenced nodes that do not answer are watched for their return. One that greeted and then failed
   * its probe (a server answering its handshake but not its queries) waits ha_connect_delay × 3
   * before it is watched again, so that it does not wake the loop every RETURN_POLL_MS.
   */
  private watchReturns(): void {
    const now = Date.now();
    const quiet = this.settings.connectDelay * 3000;
    this.returns.set(
      [...this.sessions.values()]
        .filter((s) => s.last && !s.last.reachable && this.state.fenced.includes(s.host) && now - (this.cameBack.get(s.host) ?? 0) > quiet)
        .map((s) => ({ host: s.host, port: s.opts.port })),
    );
  }

  /** node_down / node_up events, and when the master was first lost. */
  private trackNodes(): void {
    for (const s of this.sessions.values()) {
      const o = s.last!;
      if (!o.reachable && o.failures === 1 && o.host === this.state.master) this.masterLostAt = o.at;
      if (o.reachable && o.host === this.state.master) this.masterLostAt = undefined;
      if (!o.reachable && o.failures >= this.settings.connectRetries && !this.down.has(o.host)) {
        this.down.add(o.host);
        this.events.emit("node_down", "critical", `${o.host} unreachable after ${o.failures} probes: ${o.error ?? "no answer"}`, { node: o.host, key: `node:${o.host}` });
      } else if (o.reachable && this.down.has(o.host)) {
        this.down.delete(o.host);
        this.events.emit("node_up", "normal", `${o.host} reachable again`, { node: o.host, key: `node:${o.host}` });
      }
    }
  }

  /**
   * Remembers the replicas the analysis found holding errant transactions (never candidates) and
   * forgets those whose history, compared this cycle, the master now contains.
   */
  private trackErrant(conds: Condition[]): void {
    const m = this.state.master ? this.sessions.get(this.state.master)?.last : undefined;
    const errant = new Map(conds.flatMap((c) => (c.kind === "errant_replica" ? [[c.node, c.errant] as const] : [])));
    const before = JSON.stringify(this.state.errant);
    for (const [host, set] of errant) this.state.errant[host] = set;
    const compared = m?.reachable && m.gtidHistory !== undefined ? Object.keys(this.previous) : [];
    for (const host of compared) if (!errant.has(host)) delete this.state.errant[host];
    if (JSON.stringify(this.state.errant) !== before) this.ctx.saveState();
  }

  /** Events for conditions that only warn, raised once when they appear. */
  private raiseWarnings(conds: Condition[]): void {
    const now = new Map<string, string>();
    for (const c of conds) {
      let key: string | undefined;
      let msg = "";
      let type: Parameters<EventLog["emit"]>[0] = "warning";
      switch (c.kind) {
        case "master_unreachable_from_daemon":
          key = `nofailover:${c.master}`;
          type = "no_failover";
          msg = `${c.master} is unreachable from this daemon but ${c.replicasSeeingIt.join(", ")} still replicate from it: no failover (check this host's network)`;
          break;
        case "master_and_replicas_unreachable":
          key = `nofailover:${c.master}`;
          type = "no_failover";
          msg = `${c.master} and every replica are unreachable from this daemon: no failover (this host may be the one cut off)`;
          break;
        case "no_candidate":
          key = `nofailover:${c.master}`;
          type = "no_failover";
          msg = `${c.master} is dead but no failover: ${c.detail}`;
          break;
        case "failover_held":
          key = `held:${c.master}`;
          type = "failover_held";
          msg = `${c.master} is dead but no automatic failover: ${c.detail}. It becomes the master again when it returns; to promote ${c.candidate ?? "a replica"} anyway: pandora_ha failover ${this.settings.confPath} ${c.candidate ?? "<host>"} --force`;
          break;
        case "master_read_only_by_hand":
          key = `readonly:${c.master}`;
          type = "master_read_only";
          msg = `${c.master}, the master, is read-only but has not restarted and pandora_ha did not fence it: read_only was set by hand, so it is left so (writes are refused) until it is unset or a switchover (pandora_ha switchover) moves the master`;
          break;
        case "errant_replica":
          key = `errant:${c.node}`;
          type = "errant_transaction";
          msg = `${c.node} holds ${c.count} transactions the master lacks (${c.errant}): written there by hand? It is never promoted automatically until then; resync it (pandora_ha resync ${this.settings.confPath} ${this.state.master ?? "<master>"} ${c.node}) or apply them on the master`;
          break;
        case "budget_exhausted":
          key = `budget:${c.master}`;
          type = "budget_exhausted";
          msg = `${c.master} is dead but the failover budget is spent (${c.failovers} in ${c.windowS} s): no automatic failover; switch over by hand (pandora_ha switchover)`;
          break;
        case "replica_link_broken":
          key = `link:${c.replica}`;
          type = "replica_link_broken";
          msg = `${c.replica} lost its link to the master ${c.master} (${c.detail}); the master is up for this daemon: no failover`;
          break;
        case "replica_stopped":
          key = `link:${c.replica}`;
          msg = `${c.replica}: replication stopped: ${c.detail}`;
          break;
        case "lagging_replica":
          key = `lag:${c.replica}`;
          type = "replica_lagging";
          msg = `${c.replica} is ${c.seconds} s behind the master`;
          break;
        case "semi_sync_off":
          key = `semisync:${c.master}`;
          type = "semi_sync_off";
          msg = `semi-sync fell back to async on ${c.master}: a failover now may lose acknowledged writes`;
          break;
        case "no_master":
          key = "nomaster";
          msg = c.detail;
          break;
      }
      if (key) {
        now.set(key, msg);
        if (!this.raised.has(key)) this.events.emit(type, type === "budget_exhausted" ? "critical" : "warning", msg, { key });
      }
    }
    for (const key of this.raised.keys()) {
      if (!now.has(key)) this.events.log({ cleared: key });
    }
    this.raised = now;
  }

  private async act(c: Condition): Promise<void> {
    switch (c.kind) {
      case "adopt_master":
        return this.adopt(c, true);
      case "stale_master":
        await act.fence(this.ctx, c.node, c.detail, { stale: true });
        return;
      case "dead_master": {
        const obs = this.settings.haHosts.map((h) => describeNode(this.sessions.get(h)!.last!));
        const t = await act.failover(this.ctx, c.master, c.candidate, c.reason, this.masterLostAt ?? Date.now(), obs, { stopOldMaster: c.stalled });
        if (!t.ok) throw new act.ActionError(`the failover to ${c.candidate} did not complete (see its timeline)`);
        this.masterLostAt = undefined;
        this.state.allDownSince = undefined;
        this.state.outageBackAt = undefined;
        this.ctx.saveState();
        return;
      }
      case "master_read_only": {
        // A node that only times out may have been promoted on the far side of a partition
        // (the master's own guard may have stopped it for that very reason): the master stays
        // read-only until every other node answers this daemon or refuses.
        const blocker = this.mayNotGoAsync(c.master);
        if (blocker) throw new act.ActionError(`${c.master} stays read-only (${c.reason}): ${blocker}`);
        return act.restoreMaster(this.ctx, c.master, c.reason);
      }
      case "restart_replication": {
        // At most every 30 s per replica: one that stops again at once (a fatal error) is left to the warning.
        if (Date.now() - (this.restarted.get(c.replica) ?? 0) < 30_000) return;
        this.restarted.set(c.replica, Date.now());
        const how = await act.resumeReplication(this.ctx, c.replica);
        if (how) this.events.emit("replication_restarted", "warning", `${c.replica}: ${c.detail}: ${how}`, { node: c.replica, key: `link:${c.replica}` });
        return;
      }
      case "rejoin":
        await act.rejoin(this.ctx, c.node, this.state.master!);
        return;
      case "diverged_cleared":
        await act.rejoined(this.ctx, c.node, this.state.master!);
        this.events.emit("rejoined", "normal", `${c.node} replicates from the master again (resynced): no longer diverged`, { node: c.node, key: `rejoin:${c.node}` });
        return;
    }
  }

  private async adopt(c: Extract<Condition, { kind: "adopt_master" }>, actor: boolean): Promise<void> {
    const first = this.state.master === undefined;
    const changed = !first && this.state.master !== c.master;
    this.state.master = c.master;
    this.state.epoch = c.epoch;
    this.ctx.saveState();
    if (actor) {
      const s = this.sessions.get(c.master)!;
      if ((s.last?.epoch ?? 0) < c.epoch && s.last?.readOnly === false) await act.recordEpoch(this.ctx, c.master, c.epoch, c.reason);
    }
    this.events.emit("master_adopted", first ? "info" : "warning", `master is ${c.master} (epoch ${c.epoch}): ${c.reason}`, { key: "master" });
    // A daemon's first look decides (whatever an earlier cluster left there); after that only a
    // newer epoch than the file's may replace another host in it.
    if (act.needsPublish(this.ctx, c.master, changed)) await act.publish(this.ctx, c.master, undefined, first);
  }

  /**
   * The connection the daemon's own background writes (events, the console's rows) go through:
   * to the master while it is seen writable, one kept open and moved when the master changes.
   */
  private masterWriter(): { host: string; conn: NodeConnection } | undefined {
    const m = this.state.master ? this.sessions.get(this.state.master) : undefined;
    if (!m?.last?.reachable || m.last.readOnly !== false) return undefined;
    if (this.masterConn?.opts.host !== m.host) {
      this.masterConn?.close();
      this.masterConn = new NodeConnection({ ...m.opts, timeoutMs: ADMIN_TIMEOUT_MS });
    }
    return { host: m.host, conn: this.masterConn };
  }

  private async flushEvents(): Promise<void> {
    const w = this.masterWriter();
    if (!w) return;
    const { host, conn: c } = w;
    try {
      await this.events.flush((batch) => insertEvents((sql, values) => c.query(sql, values), batch));
    } catch (e) {
      if (!this.teventoWarned) this.events.log({ warning: `events not written to tevento on ${host} yet: ${shortError(e)}` });
      this.teventoWarned = true;
    }
  }

  private consoleViews(now: number): Map<string, ConsoleView> {
    return new Map(this.settings.haHosts.flatMap((h) => {
      const o = this.sessions.get(h)?.last;
      return o ? [[h, consoleView(o, this.state, now)] as const] : [];
    }));
  }

  /** What the console would show, without the clock: a change is written within a second. */
  private consoleFingerprint(): string {
    return JSON.stringify([...this.consoleViews(0)]);
  }

  /**
   * The console's Manage HA view (tdatabase on the master): every node's row brought up to date,
   * the disabled flags read, the console's requests carried out.
   */
  private async syncConsole(): Promise<void> {
    const w = this.masterWriter();
    if (!w) return;
    const { host, conn: c } = w;
    const r = await syncConsoleTable(c, this.settings, this.consoleViews(Date.now()));
    if (!r) {
      if (!this.consoleWarned) this.events.log({ warning: `no tdatabase table on ${host}: the console's Manage HA view is not updated` });
      this.consoleWarned = true;
      return;
    }
    if (r.created.length) this.events.log({ console: `rows added to tdatabase for ${r.created.join(", ")}` });
    if (r.disabled.join() !== this.state.disabled.join()) {
      for (const h of r.disabled.filter((x) => !this.state.disabled.includes(x))) this.events.emit("console", "warning", `${h} disabled in the console: pandora_ha does not promote or rejoin it until it is enabled`, { node: h, key: `disabled:${h}` });
      for (const h of this.state.disabled.filter((x) => !r.disabled.includes(x))) this.events.emit("console", "normal", `${h} enabled in the console`, { node: h, key: `disabled:${h}` });
      this.state.disabled = r.disabled;
      this.ctx.saveState();
    }
    for (const req of r.requests) if (await takeConsoleRequest(c, req)) await this.consoleRequest(c, req);
  }

  /** One request of the console (tdatabase.action), already taken. */
  private async consoleRequest(c: NodeConnection, req: ConsoleRequest): Promise<void> {
    const master = this.state.master!;
    const note = (msg: string) => {
      this.state.consoleNotes[req.host] = msg;
      this.ctx.saveState();
      this.events.emit("console", "warning", `console request on ${req.host}: ${msg}`, { node: req.host, key: `console:${req.host}` });
    };
    delete this.state.consoleNotes[req.host];
    const name = ACTION_NAMES[req.action] ?? `action ${req.action}`;
    this.events.log({ console: `request ${name} on ${req.host}` });
    switch (req.action) {
      case ACTION.resync:
        if (req.host === master) return note(`${req.host} is the master: it cannot be resynced (switch over first)`);
        // In the background: it takes as long as the copy; the loop goes on (the node is held meanwhile).
        act
          .resyncNode(this.ctx, req.host, master, "console")
          .then((started) => {
            if (!started) note("another resync is running: ask again when it has finished");
          })
          .catch((e) => this.events.log({ error: `resync of ${req.host}: ${shortError(e)}` }));
        return;
      case ACTION.promote:
        if (req.host === master) return note(`${req.host} is already the master`);
        this.requestSwitchover(req.host)
          .then(
            (t) => {
              if (!(t as { ok?: boolean }).ok) note("the switchover failed: see the events");
            },
            (e) => note(`no switchover: ${shortError(e)}`),
          )
          .catch((e) => this.events.log({ error: `switchover to ${req.host}: ${shortError(e)}` }));
        return;
      case ACTION.disable:
      case ACTION.enable:
        await setConsoleDisabled(c, req.host, req.action === ACTION.disable);
        this.lastConsoleSync = 0; // read the flag back at once
        return;
      default:
        return note(`${name} is not something pandora_ha does (it deploys nothing and removes nothing); resync and promote are`);
    }
  }

  /**
   * The master this host's data server uses not reachable, not writable, or its timed write
   * waiting for more than a second: the files the server takes meanwhile may be lost.
   */
  private markServerTrouble(): void {
    this.ctx.keeper?.seen(!this.serverMasterWell());
  }

  /** The master this host's data server uses reachable, writable, its timed write not waiting. */
  private serverMasterWell(): boolean {
    const m = this.state.serverMaster ?? this.state.master;
    const o = m ? this.sessions.get(m)?.last : undefined;
    return !!o?.reachable && o.readOnly === false && (o.writePendingMs ?? 0) <= 1000;
  }

  /**
   * Agent files the running server took a while ago whose values are not on the master it uses
   * (a write that failed: the master died, was fenced or replaced): handed back, with an event.
   */
  private async verifyAgentFiles(): Promise<void> {
    const master = this.state.serverMaster ?? this.state.master;
    if (!this.ctx.keeper || !master || !this.serverMasterWell() || act.serverRestarting()) return;
    // Not asked now: the next round asks again.
    const h = await handBackAgentFiles(this.ctx, master, VERIFY_AFTER_MS).catch(() => undefined);
    if (!h?.handedBack.length) return;
    this.events.emit("agent_files_handed_back", "warning", `${h.handedBack.length} agent files the data server took were not stored on ${master}: handed back to it`, {
      key: `agent-files:${this.settings.serverName}`,
      data: { files: h.handedBack.slice(0, 20) },
    });
  }

  /** The original's watchdogs: pandora_server (status-server → start-server) and Tentacle. */
  private async housekeeping(): Promise<void> {
    const s = this.settings;
    if (!this.acting && this.state.master && act.needsPublish(this.ctx, this.state.master)) await act.publish(this.ctx, this.state.master);
    // A restart in progress (after a publish) is not a server that stopped.
    const st = act.serverRestarting() ? { code: 0 } : await runShell(`${s.pandoraServiceCmd} status-server`, 30_000);
    if (st.code !== 0 && !act.serverRestarting()) {
      const target = act.readPublished(this.ctx);
      const r = await act.startServer(this.ctx, target).then((note) => ({ ok: true, note }), (e: unknown) => ({ ok: false, note: shortError(e) }));
      this.events.emit("server_restarted", r.ok ? "warning" : "critical", `pandora_server was not running: start-server ${r.ok ? `succeeded (${r.note})` : `failed (${r.note})`}`, {
        key: `server:${s.serverName}`,
      });
    } else await this.verifyAgentFiles();
    if (s.tentacleWatchdog) {
      const t = await runShell(`${s.tentacleServiceCmd} status`, 30_000);
      if (t.code !== 0) {
        const r = await runShell(`${s.tentacleServiceCmd} start`, 60_000);
        this.events.emit("tentacle_restarted", r.code === 0 ? "warning" : "critical", `tentacle_server was not running: start ${r.code === 0 ? "succeeded" : `failed (${r.output})`}`, {
          key: `tentacle:${s.serverName}`,
        });
      }
    }
  }

  status(): StatusReport {
    const used = failoversInWindow(this.state, Date.now(), this.settings.failoverWindow).length;
    return {
      daemon: { pid: process.pid, serverName: this.settings.serverName, actor: this.actor, startedAt: this.startedAt },
      master: this.state.master ?? null,
      published: act.readPublished(this.ctx) ?? null,
      epoch: this.state.epoch,
      conditions: this.conditions,
      nodes: this.settings.haHosts.map((h) => this.sessions.get(h)!.last ?? { host: h, reachable: false, failures: 0, at: 0, error: "not probed yet" }),
      fenced: this.state.fenced,
      diverged: this.state.diverged,
      held: this.held(),
      resyncs: this.state.resyncs,
      failoverBudget: { used, allowed: this.settings.failoverBudget, windowS: this.settings.failoverWindow },
      lastFailover: this.state.lastFailover ?? null,
      durability: { lastMaster: this.state.lastMaster ?? null, async: this.state.async ?? null },
      recentEvents: this.events.recent.slice(-20),
    };
  }

  /** One look without acting (status and switchover when no daemon runs). */
  async observe(): Promise<void> {
    await this.cycleWithoutActing();
  }

  /**
   * A failover by hand by this process (no daemon running): it watches the cluster for as long
   * as the daemon would before deciding (the retries, the silence of a master that only times
   * out, the replicas' secondary checks), then acts with the daemon's checks.
   */
  async failoverNow(target: string, force: boolean): Promise<unknown> {
    const end = Date.now() + (this.settings.silenceTimeout + this.settings.connectRetries * (this.settings.connectDelay + this.settings.probeTimeout) + 5) * 1000;
    for (;;) {
      await this.cycleWithoutActing();
      if (!this.actor) throw new act.ActionError(this.notActing("run the failover through it (its HTTP endpoint)"));
      const undecided = this.conditions.some((c) => c.kind === "master_suspect" || c.kind === "need_secondary_check");
      if (undecided && Date.now() <= end) {
        await sleep(this.settings.probeInterval * 1000);
        continue;
      }
      const t = await this.failoverByHand(target, force);
      await act.serverRestarted();
      return t;
    }
  }

  private async cycleWithoutActing(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.probe()));
    await this.refreshActor();
    for (const c of this.analyse(Date.now())) if (c.kind === "adopt_master") {
      this.state.master = c.master;
      this.state.epoch = c.epoch;
    }
    await this.decide(Date.now());
  }

  /**
   * The conditions of this cycle (kept for status): the analysis, with the secondary checks it
   * asks for run first (those begun at the master's first failed probe are joined).
   */
  private async decide(now: number): Promise<Condition[]> {
    this.speculativeChecks();
    let conds = this.analyse(now);
    const check = conds.find((c) => c.kind === "need_secondary_check");
    if (check?.kind === "need_secondary_check") {
      await Promise.all(check.replicas.map((r) => this.secondaryCheck(r, check.master)));
      conds = this.analyse(Date.now());
    }
    this.conditions = conds;
    return conds;
  }

  /** A switchover by this process (no daemon running): it must hold the actor lock. */
  async switchoverNow(target: string): Promise<unknown> {
    if (!this.actor) throw new act.ActionError(this.notActing("run the switchover through it (its HTTP endpoint)"));
    const t = await act.switchover(this.ctx, target);
    await act.serverRestarted();
    return t;
  }

  private notActing(what: string): string {
    if (this.settings.master === 0) return "this server says master 0: its pandora_ha never acts; switch over from another server's";
    return `another pandora_ha holds the actor lock: ${what}`;
  }

  /** Queues a switchover into the loop and waits for it. */
  requestSwitchover(target: string): Promise<unknown> {
    return this.request(target, () => act.switchover(this.ctx, target));
  }

  /** Queues a failover by hand into the loop and waits for it. */
  requestFailover(target: string, force: boolean): Promise<unknown> {
    return this.request(target, () => this.failoverByHand(target, force));
  }

  private request(target: string, run: () => Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (!this.actor) return reject(new act.ActionError(this.notActing("ask that one")));
      if (!this.sessions.has(target)) return reject(new act.ActionError(`${target} is not in ha_hosts (${this.settings.haHosts.join(", ")})`));
      this.queue.push({
        run: async () => {
          try {
            // Answered once pandora_server has restarted; the loop goes on meanwhile.
            const r = await run();
            resolve(act.serverRestarted().then(() => r));
          } catch (e) {
            reject(e);
          }
        },
        refuse: reject,
      });
      this.wake?.();
    });
  }

  /**
   * `pandora_ha failover HOST [--force]`: the checks of an automatic failover, from the latest
   * observations (the master dead for the daemon and for every replica, a majority reachable,
   * HOST a candidate holding everything the most advanced replica received). --force overrides
   * only the failover budget and the durability hold; both are named in the events.
   */
  private async failoverByHand(target: string, force: boolean): Promise<unknown> {
    const master = this.state.master;
    if (!master) throw new act.ActionError("no master known yet");
    if (target === master) throw new act.ActionError(`${target} is the master`);
    const conds = this.analyse(Date.now(), force);
    const c = conds.find((x): x is Extract<Condition, { kind: "dead_master" }> => x.kind === "dead_master");
    if (!c) throw new act.ActionError(`no failover: ${refusal(conds.filter((x) => x.kind !== "adopt_master" && x.kind !== "stale_master"), this.settings.confPath)}`);
    if (c.candidate !== target) {
      const d = this.sessions.get(target)!.dialect;
      const t = this.sessions.get(target)!.last;
      const best = this.sessions.get(c.candidate)!.last!;
      if (!d || !t?.reachable || t.readOnly === false || this.state.diverged[target] || this.held()[target]) throw new act.ActionError(`${target} is not a replica fit to promote (${t?.reachable ? "diverged, held or writable" : "unreachable"})`);
      const errant = this.state.errant[target];
      if (errant) throw new act.ActionError(`${target} holds errant transactions (${errant}): resync it (pandora_ha resync ${this.settings.confPath} ${master} ${target}) or apply them on the master first`);
      const cmp = d.comparePositions(received(best, historyOps(d)), received(t, historyOps(d)));
      if (!cmp.prefix) throw new act.ActionError(`${target} lacks ${cmp.errantCount} transactions ${c.candidate} received (${cmp.errant}): promote ${c.candidate}`);
    }
    const forced = c.overridden?.length ? ` (--force overrides: ${c.overridden.join("; ")})` : "";
    const obs = this.settings.haHosts.map((h) => describeNode(this.sessions.get(h)!.last!));
    const opts = { unsafe: !!c.pastDurability, stopOldMaster: c.stalled, byHand: forced };
    return act.failover(this.ctx, master, target, `by hand${force ? " with --force" : ""}: ${c.reason}${forced}`, this.masterLostAt ?? Date.now(), obs, opts);
  }

  private async startHttp(): Promise<void> {
    const s = this.settings;
    if (!s.httpPort) return;
    this.http = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const send = (code: number, body: unknown) => {
        res.writeHead(code, { "content-type": "application/json" });
        res.end(JSON.stringify(body, null, 2) + "\n");
      };
      if (req.method === "GET" && url.pathname === "/status") return send(200, this.status());
      if (req.method === "POST" && url.pathname === "/switchover") {
        const host = url.searchParams.get("host") ?? "";
        this.requestSwitchover(host).then(
          (t) => send(200, t),
          (e) => send(409, { error: shortError(e) }),
        );
        return;
      }
      if (req.method === "POST" && url.pathname === "/failover") {
        this.requestFailover(url.searchParams.get("host") ?? "", url.searchParams.get("force") === "1").then(
          (t) => send(200, t),
          (e) => send(409, { error: shortError(e) }),
        );
        return;
      }
      send(404, { error: "GET /status, POST /switchover?host=<host> or POST /failover?host=<host>[&force=1]" });
    });
    await new Promise<void>((resolve) => {
      this.http!.once("error", (e) => {
        this.events.log({ warning: `HTTP endpoint ${s.httpAddress}:${s.httpPort} not available: ${shortError(e)}` });
        this.http = undefined;
        resolve();
      });
      this.http!.listen(s.httpPort, s.httpAddress, () => resolve());
    });
  }
}

/** The resync tool's lock file on this host: "<pid> <slave>" while it runs (scripts/pandora_ha_resync_slave.sh). */
export const RESYNC_LOCK_FILE = "/run/pandora_ha_resync.lock";

/** The node the resync tool (`script`, its file name) is rebuilding on this host, when it runs: its pid alive and running that script. */
export function resyncByHand(file: string, script: string): { pid: number; host: string } | undefined {
  try {
    const m = /^(\d+) (\S+)\s*$/.exec(readFileSync(file, "utf8"));
    if (!m) return undefined;
    const pid = Number(m[1]);
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").some((a) => path.basename(a) === script) ? { pid, host: m[2] } : undefined;
  } catch {
    return undefined;
  }
}
