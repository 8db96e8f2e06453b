/**
 * What every action works with: the settings, the sessions to the nodes, the daemon's state and
 * its events (the daemon builds it; the actions and the tail undo take it).
 */
import type { HaSettings } from "../conf";
import type { AgentFileKeeper } from "./agent-files";
import type { NodeSession } from "../observe/probe";
import type { EventLog } from "../publish/events";
import type { DaemonState, PhaseName } from "../state";

export interface Ctx {
  settings: HaSettings;
  sessions: Map<string, NodeSession>;
  state: DaemonState;
  events: EventLog;
  /** The agent files kept for the data server (agent-files.ts); absent with `ha_keep_files 0`. */
  keeper?: AgentFileKeeper;
  saveState(): void;
  /**
   * This daemon still holds the actor lock on `host`, asked of the server (a daemon frozen past
   * the lock's idle timeout has lost it, and another may have acted meanwhile).
   */
  holdsLock(host: string): Promise<boolean>;
  /** Test hook (PANDORA_HA_PAUSE_AFTER=<phase>): the daemon stops here so a test can kill it. */
  pauseAfter(phase: PhaseName): Promise<void>;
}

export class ActionError extends Error {}

export function session(ctx: Ctx, host: string): NodeSession {
  const s = ctx.sessions.get(host);
  if (!s) throw new ActionError(`${host} is not in ha_hosts`);
  return s;
}
