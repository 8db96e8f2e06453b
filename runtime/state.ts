/**
 * What the daemon remembers between cycles and across restarts: the master it published, the
 * promotion epoch, the automatic failovers inside the budget window, the nodes it fenced or
 * found diverged, and the last failover's timeline. Kept in <ha_state_dir>/state.json, written
 * atomically (temporary file, fsync, rename). The cluster itself is the source of truth for the
 * epoch (it is replicated to every node); this file only lets a restarted daemon explain itself.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import * as path from "node:path";

export type PhaseName = "detect" | "decide" | "fence" | "drain" | "guard" | "promote" | "epoch" | "repoint" | "publish" | "restart-server" | "repair";

export interface Phase {
  phase: PhaseName;
  /** ms since epoch */
  start: number;
  end: number;
  ok: boolean;
  detail: string;
}

/** One failover or switchover, as it happened. */
export interface Timeline {
  kind: "failover" | "switchover";
  from: string;
  to: string;
  epoch: number;
  reason: string;
  /** The observations the decision was taken on (short form, one line per node). */
  observations: string[];
  phases: Phase[];
  ok: boolean;
  /** ms from the first failed probe (failover) or the request (switchover) to the end. */
  totalMs: number;
}

export interface DivergedNode {
  since: number;
  errant: string;
  errantCount: number;
  /** Where its diverged transactions were archived, when they were. */
  archive?: string;
  /**
   * Set when its rejoin failed for a cause that passes (its disk full, SSH or the master down
   * mid-merge), not by a rule that keeps its tail: the rejoin is tried again at `at`, each time
   * twice as late (5 s, 10 s, … at most 5 min).
   */
  retry?: { cause: string; tries: number; at: number };
}

/** A resync of one node by the resync tool, run by the daemon (console action, splitbrain_autofix). */
export interface ResyncRecord {
  state: "running" | "done" | "failed";
  master: string;
  /** Who asked: the console's Manage HA view, splitbrain_autofix, or pandora_ha for a tail it cannot undo in place (MySQL family). */
  by: "console" | "splitbrain_autofix" | "tail";
  started: number;
  ended?: number;
  /** The tool's last line (or why it did not run). */
  detail: string;
}

/** The master as the daemon last saw it answer (kept across restarts). */
export interface MasterSeen {
  host: string;
  at: number;
  /** What it had then (MariaDB gtid_current_pos, MySQL gtid_executed), in the notation of a replica's received history. */
  gtid: string;
  /** Every commit it had acknowledged was on a replica (semi-sync in force, no fallback of its own). */
  durable: boolean;
  /** Why it was not durable. */
  why?: string;
  readOnly: boolean;
  /** Its uptime then, in seconds: a smaller one later means it restarted since. */
  uptime?: number;
}

export interface DaemonState {
  master?: string;
  epoch: number;
  /** ms timestamps of automatic failovers (for the budget). */
  failovers: number[];
  /** Nodes made read-only by the daemon because they were a stale or competing master. */
  fenced: string[];
  diverged: Record<string, DivergedNode>;
  /** Nodes disabled in the console (tdatabase.disabled = 1), as last read from the master. */
  disabled: string[];
  /** The last resync of each node the daemon ran. */
  resyncs: Record<string, ResyncRecord>;
  /** The outcome of the last console action on a node that did not succeed (shown as its last_error). */
  consoleNotes: Record<string, string>;
  /**
   * Nodes whose diverged tail was undone (flashback) but whose binlog history was not reset yet
   * (host → the errant set undone): a retry must not undo it twice.
   */
  undone: Record<string, string>;
  /**
   * Replicas seen holding transactions the master lacks (written there by hand; host → the errant
   * set): never a candidate until they are resynced or the master has them.
   */
  errant: Record<string, string>;
  lastFailover?: Timeline;
  lastMaster?: MasterSeen;
  /** The master as last seen writable, with its uptime then: read-only since without a restart means set by hand. */
  lastWritable?: { host: string; at: number; uptime: number };
  /** The master pandora_ha switched to asynchronous commits (no replica acknowledging), since when and why. */
  async?: {
    host: string;
    since: number;
    reason: string;
    /** The master's position when semi-sync was switched back on: durable once a replica has it all. */
    strictAt?: string;
  };
  /**
   * Old masters demoted by a failover forced past the durability check (`pandora_ha failover
   * --force`): their tail may hold acknowledged commits, so it is never undone, only kept.
   */
  unsafeTails: string[];
  /**
   * Old masters demoted by a failover made while pandora_ha last saw them durable (strict
   * semi-sync) and not forced: their tail holds nothing a client was told was committed. The
   * MySQL family rebuilds such a node rather than undoing its tail (absent in older state files).
   */
  safeTails?: string[];
  /**
   * The master this host's pandora_server was last started or restarted against by pandora_ha
   * (what pandora_ha_hosts.conf named then). Another server's daemon may write the shared file
   * first: a server started against another host is restarted all the same.
   */
  serverMaster?: string;
  /** When the daemon last saw every node down at once (a total outage), until the master answers. */
  allDownSince?: number;
  /** When the first node answered again after that outage: the wait for the others runs from here. */
  outageBackAt?: number;
}

export function emptyState(): DaemonState {
  return { epoch: 0, failovers: [], fenced: [], diverged: {}, disabled: [], resyncs: {}, consoleNotes: {}, undone: {}, errant: {}, unsafeTails: [] };
}

export function statePath(stateDir: string): string {
  return path.join(stateDir, "state.json");
}

export function loadState(stateDir: string): DaemonState {
  try {
    const s = JSON.parse(readFileSync(statePath(stateDir), "utf8")) as Partial<DaemonState>;
    return { ...emptyState(), ...s };
  } catch {
    return emptyState();
  }
}

/** Atomic write: a reader (or a crash) sees the old file or the new one, never half of one. */
export function writeFileAtomic(file: string, content: string, mode = 0o644): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function saveState(stateDir: string, s: DaemonState): void {
  writeFileAtomic(statePath(stateDir), JSON.stringify(s, null, 2) + "\n", 0o600);
}

/** Automatic failovers inside the window ending now. */
export function failoversInWindow(s: DaemonState, now: number, windowS: number): number[] {
  return s.failovers.filter((t) => now - t < windowS * 1000);
}
