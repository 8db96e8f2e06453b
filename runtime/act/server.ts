/**
 * Stopping and starting this host's Pandora server to follow a new master.
 *
 * The stop is a kill -9 of the process its pid file names (checked against /proc): against a dead
 * or replaced master the server does nothing useful, and its own shutdown takes seconds (its
 * threads stop slowly; Pandora's init script polls once a second). Nothing is lost by it: the
 * agent files it took and never stored are handed back (agent-files.ts) before the start, which
 * is Pandora's own `start-server`. Without a keeper, or no server process found, `stop-server`.
 */
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
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

/** The command line of `pid` when it runs and is the Pandora server: its program (argv[0], or the script an interpreter runs) named pandora_server. */
function serverArgv(pid: number): string[] | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return alive(pid) && argv.slice(0, 2).some((a) => path.basename(a) === "pandora_server") ? argv : undefined;
  } catch {
    return undefined;
  }
}

/**
 * This host's Pandora server processes: the one its pid file names; without a pid file (Pandora
 * writes one only when started with -P), every pandora_server process started with this conf,
 * as Pandora's init script finds it.
 */
export function serverPids(pidFile: string, confPath: string): number[] {
  let text: string;
  try {
    text = readFileSync(pidFile, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") return [];
    return readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => pid !== process.pid && !!serverArgv(pid)?.includes(confPath));
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 1 && serverArgv(pid) ? [pid] : [];
}

/** The server stopped: killed (what is said of it), or stopped by `stop-server`. */
export async function stopPandoraServer(ctx: Ctx): Promise<string> {
  const s = ctx.settings;
  // Without the keeper nothing would bring back what it was writing: Pandora's own stop.
  const pids = ctx.keeper ? serverPids(s.serverPidFile, s.confPath) : [];
  if (!pids.length) {
    // Its exit status is not trusted: a server that already stopped itself makes some versions exit 1.
    const r = await runShell(`${s.pandoraServiceCmd} stop-server`, 120_000);
    return r.code === 0 ? "stopped (stop-server)" : `stopped (stop-server exited ${r.code})`;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(20);
  if (pids.some(alive)) throw new ActionError(`pandora_server (pid ${pids.join(", ")}) still runs 2 s after kill -9`);
  return `killed (pid ${pids.join(", ")})`;
}

const CHECK_TIMEOUT_MS = 10_000;
/** A master that does not answer this fast is not asked (a start waits for it; a failover's restart may wait behind that start). */
const CONNECT_TIMEOUT_MS = 2000;

/**
 * ctx.keeper's handBack, asking `master` (on a connection of its own: the probes' has a short
 * timeout, and the question may take longer on a large tagente_datos). Only a master that
 * answers and is writable is asked: to any other the server could not write what it got back.
 * Throws when it cannot be asked.
 */
export async function handBackAgentFiles(ctx: Ctx, master: string | undefined, takenBefore: number): Promise<HandBack> {
  if (!ctx.keeper?.toLookAt(takenBefore).length) return { checked: 0, handedBack: [] };
  if (!master || !ctx.settings.haHosts.includes(master)) throw new Error(`${master ?? "no master"} is not one of ha_hosts`);
  const c = new NodeConnection(sessionOptions(ctx.settings, master, CONNECT_TIMEOUT_MS));
  try {
    const [ro] = await c.query("SELECT @@global.read_only AS ro", []);
    if (Number(ro?.ro) !== 0) throw new Error(`${master} is read-only`);
    return await ctx.keeper.handBack((sql, values) => c.query(sql, values, CHECK_TIMEOUT_MS), takenBefore);
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
    // The server stopped or died: what it had taken and was writing then may be lost.
    ctx.keeper.trouble();
    try {
      const h = await handBackAgentFiles(ctx, master, 0);
      if (h.handedBack.length) {
        note = `; ${h.handedBack.length} agent files it had taken and not stored handed back`;
        ctx.events.log({ info: `agent files handed back to the data server: ${h.handedBack.length} of ${h.checked} taken`, files: h.handedBack.slice(0, 20) });
      }
    } catch (e) {
      // Kept: looked at again once the server runs against a master that answers.
      note = `; agent files not checked (${(e as Error).message})`;
    }
  }
  const r = await runShell(`${s.pandoraServiceCmd} start-server`, 120_000);
  if (r.code !== 0) throw new ActionError(`${s.pandoraServiceCmd} start-server exited ${r.code}: ${r.output}${note}`);
  return `started${note}`;
}
