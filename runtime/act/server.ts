/**
 * Stopping and starting this host's Pandora server to follow a new master.
 *
 * The stop is a kill -9 of the process its pid file names (checked against /proc): against a dead
 * or replaced master the server does nothing useful, and its own shutdown takes seconds (its
 * threads stop slowly; Pandora's init script polls once a second). Nothing is lost by it: the
 * agent files it took and never stored are handed back (agent-files.ts) before the start, which
 * is Pandora's own `start-server`. Without a pid file naming a live server, `stop-server`.
 */
import { readFileSync } from "node:fs";
import { runShell } from "../exec";
import { NodeConnection, sessionOptions } from "../observe/probe";
import type { HandBack } from "./agent-files";
import type { Ctx } from "./context";
import { ActionError } from "./context";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** The pid the server's pid file names, when that process runs and is the Pandora server. */
export function serverPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("pandora_server") ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The server stopped: killed (what is said of it), or stopped by `stop-server`. */
export async function stopPandoraServer(ctx: Ctx): Promise<string> {
  const s = ctx.settings;
  // What it was writing when stopped may be lost: its files are looked at before the start.
  ctx.keeper?.trouble();
  const pid = serverPid(s.serverPidFile);
  if (pid === undefined) {
    const r = await runShell(`${s.pandoraServiceCmd} stop-server`, 120_000);
    if (r.code !== 0) throw new ActionError(`${s.pandoraServiceCmd} stop-server exited ${r.code}: ${r.output}`);
    return "stopped (stop-server)";
  }
  process.kill(pid, "SIGKILL");
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
  if (alive(pid)) throw new ActionError(`pandora_server (pid ${pid}) still runs 2 s after kill -9`);
  return `killed (pid ${pid})`;
}

const CHECK_TIMEOUT_MS = 10_000;

/**
 * ctx.keeper's handBack, asking `master` (on a connection of its own: the probes' has a short
 * timeout, and the question may take longer on a large tagente_datos).
 */
export async function handBackAgentFiles(ctx: Ctx, master: string | undefined, takenBefore: number): Promise<HandBack> {
  if (!ctx.keeper) return { checked: 0, handedBack: [], unchecked: false };
  if (!master || !ctx.settings.haHosts.includes(master)) return ctx.keeper.handBack(undefined, takenBefore);
  const c = new NodeConnection(sessionOptions(ctx.settings, master, CHECK_TIMEOUT_MS));
  try {
    return await ctx.keeper.handBack((sql, values) => c.query(sql, values), takenBefore);
  } finally {
    c.close();
  }
}

/**
 * The agent files the stopped server took and never stored on `master` handed back, then
 * `start-server`. Returns what was done, for the log or the timeline.
 */
export async function startPandoraServer(ctx: Ctx, master: string | undefined): Promise<string> {
  const s = ctx.settings;
  let note = "";
  if (ctx.keeper) {
    const h = await handBackAgentFiles(ctx, master, 0);
    if (h.handedBack.length) {
      note = `; ${h.handedBack.length} agent files it had taken and not stored handed back${h.unchecked ? " (the master could not be asked: some may be stored twice)" : ""}`;
      ctx.events.log({ info: `agent files handed back to the data server: ${h.handedBack.length} of ${h.checked} taken`, files: h.handedBack.slice(0, 20) });
    }
  }
  const r = await runShell(`${s.pandoraServiceCmd} start-server`, 120_000);
  if (r.code !== 0) throw new ActionError(`${s.pandoraServiceCmd} start-server exited ${r.code}: ${r.output}${note}`);
  return `started${note}`;
}
