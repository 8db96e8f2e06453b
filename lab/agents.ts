/**
 * Real Pandora FMS agents on the lab: Debian's `pandorafms-agent` (/usr/sbin/pandora_agent 4.1,
 * sending through the real /usr/bin/tentacle_client), one process per agent, each as a uid of its
 * own (3400 + n, so firewall rules can tell its traffic apart; it has no passwd entry, none is
 * needed) with its own configuration directory under AGENTS_DIR/<name>. Their
 * pandora_agent.conf is the program's own `agentConfig` stack output (renderAgentSnippet: primary
 * pfms1, secondary pfms2, `secondary_mode on_error`) with the Tentacle password filled in, as an
 * administrator pastes it, plus what every agent has of its own: agent_name, `interval 1`, its
 * temporal directory and log, and one module, `seq`, whose value counts up by one per
 * interval (module_exec on a counter file), so that a value lost or stored twice can be told.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { PANDORA_PATHS, renderAgentSnippet } from "../lib/render/pandora";
import { KEPT_DIR, VERIFY_AFTER_MS, readAgentFile } from "../runtime/act/agent-files";
import { HA_LOG_FILE, describeLogLine, readHaLog, serverHosts } from "./ha";
import type { Lab } from "./lab";
import { LAB_DIR, paths } from "./layout";
import { sleep } from "./proc";

export const AGENT_BIN = "/usr/sbin/pandora_agent";
/** Beside LAB_DIR, not in it: LAB_DIR is root's alone (0700), and each agent runs as a uid of its own. */
export const AGENTS_DIR = `${LAB_DIR}-agents`;
export const MAX_AGENTS = 50;
export const SEQ_MODULE = "seq";
const COUNTER = "seq.count";

export interface LabAgent {
  name: string;
  uid: number;
  pid: number;
}

export function agentName(n: number): string {
  return `agent${n}`;
}

const agentDir = (name: string) => path.join(AGENTS_DIR, name);
const stateFile = path.join(AGENTS_DIR, "agents.json");

/** pandora_agent.conf of one agent: the program's fragment, the password, and the agent's own lines. */
export function agentConf(lab: Lab, name: string): string {
  const servers = serverHosts(lab);
  const fragment = renderAgentSnippet({ primary: servers[0].address, secondary: servers[1]?.address, port: lab.cfg.tentaclePort, passwordProtected: true });
  const password = lab.secrets.passwords.tentaclePassword;
  const dir = agentDir(name);
  const counter = path.join(dir, COUNTER);
  return [
    fragment
      .replace(/^# server_pwd <.*>$/m, `server_pwd ${password}`)
      .replace(/^# secondary_server_pwd <.*>$/m, `secondary_server_pwd ${password}`)
      .trimEnd(),
    `# The lab's own: ${name}, sending every second.`,
    `agent_name ${name}`,
    "interval 1",
    `temporal ${path.join(dir, "tmp")}`,
    `logfile ${path.join(dir, "pandora_agent.log")}`,
    "debug 0",
    "module_begin",
    `module_name ${SEQ_MODULE}`,
    "module_type generic_data",
    `module_exec n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}; echo $n`,
    "module_end",
    "",
  ].join("\n");
}

function readAgents(): LabAgent[] {
  try {
    return JSON.parse(readFileSync(stateFile, "utf8")) as LabAgent[];
  } catch {
    return [];
  }
}

function alive(a: LabAgent): boolean {
  try {
    return readFileSync(`/proc/${a.pid}/cmdline`, "utf8").includes(AGENT_BIN) && readFileSync(`/proc/${a.pid}/status`, "utf8").includes(`\nUid:\t${a.uid}\t`);
  } catch {
    return false;
  }
}

/** The agents running now (started by the lab, still alive). */
export function labAgents(): LabAgent[] {
  return readAgents().filter(alive);
}

/**
 * Exactly `count` agents running (agent1 … agentN): missing ones started, extra ones stopped.
 * Each starts with its counter file as it is (a restarted agent continues its sequence).
 */
export async function setAgents(lab: Lab, count: number): Promise<LabAgent[]> {
  if (!Number.isInteger(count) || count < 0 || count > MAX_AGENTS) throw new Error(`agents: expected 0 to ${MAX_AGENTS}, got ${count}`);
  if (serverHosts(lab).length < 1) throw new Error("agents: the lab has no server host");
  mkdirSync(AGENTS_DIR, { recursive: true, mode: 0o755 });
  chmodSync(AGENTS_DIR, 0o755);
  const running = labAgents();
  const keep = running.filter((a) => Number(a.name.slice("agent".length)) <= count);
  for (const a of running.filter((x) => !keep.includes(x))) await stopAgent(a);
  const out = [...keep];
  for (let n = 1; n <= count; n++) {
    const name = agentName(n);
    if (keep.some((a) => a.name === name)) continue;
    out.push(startAgent(lab, name, 3400 + n));
  }
  writeFileSync(stateFile, JSON.stringify(out, null, 2));
  // Running once setpriv has dropped to the agent's uid and exec'd it.
  for (let i = 0; i < 100 && !out.every(alive); i++) await sleep(50);
  const dead = out.filter((a) => !alive(a)).map((a) => a.name);
  if (dead.length) throw new Error(`agents: ${dead.join(", ")} did not start (see ${AGENTS_DIR}/<name>/pandora_agent.log)`);
  return out;
}

function startAgent(lab: Lab, name: string, uid: number): LabAgent {
  const dir = agentDir(name);
  for (const d of [dir, path.join(dir, "tmp")]) {
    mkdirSync(d, { recursive: true });
    chownSync(d, uid, uid);
  }
  // The password is in it: readable by the agent alone.
  const conf = path.join(dir, "pandora_agent.conf");
  writeFileSync(conf, agentConf(lab, name), { mode: 0o600 });
  chownSync(conf, uid, uid);
  const child = spawn("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--", AGENT_BIN, dir], {
    cwd: dir,
    detached: true,
    stdio: "ignore",
    env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: dir, LANG: "C" },
  });
  child.unref();
  if (!child.pid) throw new Error(`${name}: ${AGENT_BIN} did not start`);
  return { name, uid, pid: child.pid };
}

async function stopAgent(a: LabAgent): Promise<void> {
  if (!alive(a)) return;
  process.kill(a.pid, "SIGTERM");
  for (let i = 0; i < 50 && alive(a); i++) await sleep(100);
  if (alive(a)) process.kill(a.pid, "SIGKILL");
}

/** Every agent stopped and their directories removed (`down`). */
export async function removeAgents(): Promise<void> {
  for (const a of readAgents()) await stopAgent(a);
  if (existsSync(AGENTS_DIR)) rmSync(AGENTS_DIR, { recursive: true, force: true });
}

/** The agent's log (its errors: a server it could not send to). */
export function agentLog(name: string): string {
  try {
    return readFileSync(path.join(agentDir(name), "pandora_agent.log"), "utf8");
  } catch {
    return "";
  }
}

// ---- what the administrator sees of them ------------------------------------------------------

type Query = (sql: string, values?: unknown[]) => Promise<unknown>;
const rowsOf = <T>(r: unknown) => (Array.isArray(r) && Array.isArray(r[0]) ? (r[0] as T[]) : (r as T[]));

/** The `seq` values stored per agent on the database `query` reaches, in order. */
export async function storedSeq(query: Query): Promise<Map<string, number[]>> {
  const rows = rowsOf<{ agent: string; v: number }>(
    await query(
      "SELECT a.nombre AS agent, d.datos AS v FROM tagente_datos d JOIN tagente_modulo m ON m.id_agente_modulo = d.id_agente_modulo " +
        "JOIN tagente a ON a.id_agente = m.id_agente WHERE m.nombre = ? ORDER BY a.nombre, d.datos",
      [SEQ_MODULE],
    ),
  );
  const out = new Map<string, number[]>();
  for (const r of rows) out.set(r.agent, [...(out.get(r.agent) ?? []), Number(r.v)]);
  return out;
}

export interface SeqReport {
  /** Values 1 … the highest stored (or the last an agent sent, when its counter is given) that are missing, over every agent. */
  lost: number;
  /** Values stored more than once (each extra copy counted). */
  twice: number;
  stored: number;
  /** Per agent: the missing values (the first 20). */
  missing: Record<string, number[]>;
}

/**
 * What `storedSeq` says of losses and copies. `sent`: per agent, the last value it made (its
 * counter, `sentSeq`) — an agent stopped may have made its last value and not sent it, so values
 * up to the one before it count.
 */
export function seqReport(stored: Map<string, number[]>, sent?: Map<string, number>): SeqReport {
  const r: SeqReport = { lost: 0, twice: 0, stored: 0, missing: {} };
  for (const agent of new Set([...stored.keys(), ...(sent?.keys() ?? [])])) {
    const vs = stored.get(agent) ?? [];
    const seen = new Set(vs);
    r.stored += vs.length;
    r.twice += vs.length - seen.size;
    const max = Math.max(0, ...vs, (sent?.get(agent) ?? 0) - 1);
    const missing: number[] = [];
    for (let v = 1; v <= max; v++) if (!seen.has(v)) missing.push(v);
    r.lost += missing.length;
    if (missing.length) r.missing[agent] = missing.slice(0, 20);
  }
  return r;
}

/** Per agent the lab ever ran (running or stopped since), the last `seq` value it made: its counter file. */
export function sentSeq(): Map<string, number> {
  const out = new Map<string, number>();
  const names = existsSync(AGENTS_DIR) ? readdirSync(AGENTS_DIR).filter((n) => /^agent\d+$/.test(n)) : [];
  for (const name of names) {
    try {
      out.set(name, Number(readFileSync(path.join(agentDir(name), COUNTER), "utf8").trim()) || 0);
    } catch {
      // never ran a module
    }
  }
  return out;
}

/** The agent files waiting in each server host's data_in. */
export function waitingFiles(lab: Lab): number {
  return serverHosts(lab).reduce((n, h) => {
    try {
      return n + readdirSync(paths.inHost(h.name, PANDORA_PATHS.incomingDir)).filter((f) => f.endsWith(".data")).length;
    } catch {
      return n;
    }
  }, 0);
}

/**
 * The agents stopped and what they made counted on the database `query` reaches: once every file
 * they sent was taken, and — files a data server took in trouble are handed back up to
 * VERIFY_AFTER_MS after — until nothing is missing, or that long and a little more.
 */
export async function finalSeqReport(lab: Lab, query: Query): Promise<SeqReport> {
  await setAgents(lab, 0);
  for (let i = 0; i < 300 && waitingFiles(lab) > 0; i++) await sleep(100);
  const until = Date.now() + VERIFY_AFTER_MS + 10_000;
  let r = seqReport(await storedSeq(query), sentSeq());
  while (r.lost > 0 && Date.now() < until) {
    await sleep(1000);
    r = seqReport(await storedSeq(query), sentSeq());
  }
  return r;
}

/** The server hosts (addresses) with a connection of the pandora account on the database `query` reaches: its data servers. */
export async function connectedServers(lab: Lab, query: Query): Promise<string[]> {
  const rows = rowsOf<{ h: string }>(await query("SELECT DISTINCT SUBSTRING_INDEX(host, ':', 1) AS h FROM information_schema.processlist WHERE user = ?", [lab.cfg.pandoraDbUser]));
  const servers = new Set(serverHosts(lab).map((h) => h.address));
  return rows.map((r) => r.h).filter((h) => servers.has(h)).sort();
}

/**
 * Where the values `missing` (per agent, seq values) went, for a test's failure message: each
 * one's file as it is still found in a server host's incoming directory or pandora_ha's kept
 * links (its times and link count), or that none is; then, from `sinceMs` on, each server host's
 * pandora_ha log (events, phases, the agent-file keeper's notes) and data-server log.
 */
export function lostDiagnosis(lab: Lab, missing: Record<string, number[]>, sinceMs: number): string {
  const out: string[] = [];
  const want = new Map(Object.entries(missing).map(([a, vs]) => [a, new Set(vs.map(String))]));
  const found = new Set<string>();
  for (const h of serverHosts(lab)) {
    const incoming = paths.inHost(h.name, PANDORA_PATHS.incomingDir);
    for (const dir of [incoming, path.join(incoming, KEPT_DIR)]) {
      for (const name of existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".data")) : []) {
        try {
          const f = path.join(dir, name);
          const file = readAgentFile(readFileSync(f, "utf8"));
          const v = file?.values.find((x) => x.module === SEQ_MODULE)?.data;
          if (!file || v === undefined || !want.get(file.agent)?.has(v)) continue;
          const st = statSync(f);
          found.add(`${file.agent}:${v}`);
          out.push(`${file.agent} ${v}: ${h.name} ${path.relative(incoming, f) || name} mtime ${st.mtime.toISOString()} ctime ${st.ctime.toISOString()} links ${st.nlink}`);
        } catch {
          // gone meanwhile
        }
      }
    }
  }
  for (const [a, vs] of want) for (const v of vs) if (!found.has(`${a}:${v}`)) out.push(`${a} ${v}: no file left on either server host`);
  const since = new Date(sinceMs).toISOString();
  for (const h of serverHosts(lab)) {
    out.push(`-- ${h.name} pandora_ha log since ${since}`);
    for (const l of readHaLog(lab, 0, HA_LOG_FILE, h.name).lines) {
      if (l.time < since) continue;
      const line = describeLogLine(l) ?? (l.agent_files ? `${l.time.slice(11, 23)}  ${JSON.stringify(l)}` : undefined);
      if (line) out.push(line);
    }
    out.push(`-- ${h.name} data server log`);
    try {
      const log = readFileSync(paths.inHost(h.name, "/var/log/pandora/pandora_server.log"), "utf8").split("\n");
      out.push(...log.slice(-200).filter(Boolean));
    } catch {
      out.push("(none)");
    }
  }
  return out.join("\n");
}
