/**
 * Lab stand-in for /usr/bin/pandora_server, the Pandora FMS data server (no Debian package ships
 * the real one). Written for the lab from the measured facts
 * (../shared/reference/pandora-server-facts.md); no code of Pandora's is in it. Bundled into one
 * file with mysql2 and installed on the lab's server hosts (lab/hosts.ts); run by Node.
 *
 * What it mimics:
 *   - `pandora_server [CONF] [-D]` reads pandora_server.conf (dbhost, dbport, dbuser, dbpass,
 *     dbname, ha_hosts_file, servername, incomingdir, dataserver_threads 2, max_queue_files 500,
 *     restart, restart_delay, autocreate 1, server_keepalive, use_xml_timestamp, master,
 *     log_file, verbosity; conf.ts). Perl's start-up (1–2 s from the command's start, Node's own
 *     start-up included) comes first; `-D` then daemonizes (the parent returns once the daemon
 *     runs; the child is spawned at once, so that its own start-up does not add to the real
 *     server's fork) and the daemon writes /var/run/pandora_server.pid.
 *   - The database host is decided once, at start-up: the first line of ha_hosts_file, else
 *     dbhost. To follow a new master it must be restarted.
 *   - A producer lists incomingdir for `*.data` every server_threshold s (default 1: ours),
 *     up to max_queue_files queued; dataserver_threads consumers, each with its own database
 *     connection, parse a file (two tries, 2 s apart; unparsable: `<file>_BADXML` and an
 *     event), DELETE it, THEN write it (tagente autocreated, tagente_modulo, tagente_estado,
 *     tagente_datos / tagente_datos_string) swallowing every error: a file taken while the
 *     database is dead is lost, silently; files not taken stay (consume.ts, store.ts).
 *   - The data's time is the file's mtime, unless use_xml_timestamp 1.
 *   - Its tserver row (one per servername, server_type 0: data server, status 1) is written at
 *     start and its keepalive refreshed every server_keepalive s.
 *   - With `restart 0`, the first database error (a refused, lost or killed connection, seen
 *     by a consumer or by the main loop, which asks the database every server_threshold s)
 *     shuts it down: "Shutdown by signal" in its log 0.2–0.9 s later, then its threads take
 *     6.5 s to stop before it exits; a SIGTERM takes the same 6.5 s. With `restart 1` it
 *     starts again (re-reading its conf) restart_delay s after stopping. Timings: lifecycle.ts
 *     (PANDORA_STANDIN_* environment variables).
 * Left out: every other server (network, plugin, …), alerts, thresholds and module statuses
 * other than normal, incremental modules, <datalist>, agent groups, the agent-lock between
 * producers, policies, the conf additions of a first start (console_api_pass …), marking other
 * servers down, the tevento of a real start; the "Perl exited with active threads" death is
 * opt-in (PANDORA_STANDIN_DIE_AT_ONCE=1). A query never times out (the real one has no timeout
 * either), but a SIGTERM always ends it after the shutdown time. Lab-only:
 * LAB_PANDORA_BIND_ADDRESS, the address its database connections leave from (the lab's hosts
 * share one network stack); PANDORA_STANDIN_PID_FILE.
 */
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import * as path from "node:path";
import { DataServer } from "./server";
import type { DataServerConf } from "./conf";
import { parseServerConf } from "./conf";
import { pick, timingsFromEnv } from "./lifecycle";
import { toDataTime } from "./store";

const DEFAULT_CONF = "/etc/pandora/pandora_server.conf";
const PID_FILE = process.env.PANDORA_STANDIN_PID_FILE || "/var/run/pandora_server.pid";
const CHILD_ENV = "PANDORA_STANDIN_DAEMON_CHILD";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function loadConf(file: string): DataServerConf {
  return parseServerConf(readFileSync(file, "utf8"), hostname());
}

function makeLog(conf: DataServerConf): (level: number, msg: string) => void {
  try {
    mkdirSync(path.dirname(conf.logFile), { recursive: true });
  } catch {
    // appendFileSync below reports it
  }
  return (level, msg) => {
    if (level > conf.verbosity) return;
    const line = `${toDataTime(Date.now()).datetime} ${conf.serverName} [V${level}] ${msg}\n`;
    try {
      appendFileSync(conf.logFile, line);
    } catch {
      process.stderr.write(line);
    }
  };
}

function removePidFile(): void {
  try {
    if (readFileSync(PID_FILE, "utf8").trim() === String(process.pid)) rmSync(PID_FILE);
  } catch {
    // not ours, or gone
  }
}

/** The daemon (or the foreground server): runs the server until it stops for good. */
async function serve(confFile: string): Promise<never> {
  const timings = timingsFromEnv(process.env);
  let current: DataServer | undefined;
  let signalled = false;
  let wake = () => undefined as void;
  const onSignal = () => {
    signalled = true;
    current?.shutdown("signal");
    wake();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.on("SIGHUP", () => undefined);
  // A failure nobody awaited is logged; it never ends the server (Perl's threads would go on).
  let log: (level: number, msg: string) => void = (_, msg) => void process.stderr.write(`${msg}\n`);
  process.on("unhandledRejection", (e) => log(1, `[ERROR] unhandled: ${e instanceof Error ? e.message : String(e)}`));
  try {
    writeFileSync(PID_FILE, `${process.pid}\n`);
  } catch {
    // the init script then finds no pid file: it reports the start as failed
  }
  for (;;) {
    const conf = loadConf(confFile);
    log = makeLog(conf);
    current = new DataServer(conf, timings, log);
    const end = await current.run();
    current = undefined;
    if (end.kind === "exit" || signalled) {
      removePidFile();
      process.exit(end.kind === "exit" ? end.code : 0);
    }
    // restart 1: restart_delay, cut short by a signal (no thread runs meanwhile).
    await new Promise<void>((r) => {
      const t = setTimeout(r, conf.restartDelay * 1000);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });
    if (signalled) {
      removePidFile();
      process.exit(0);
    }
  }
}

async function main(argv: string[]): Promise<void> {
  const daemon = argv.includes("-D");
  const rest = argv.filter((a) => a !== "-D");
  if (rest.length > 1 || rest.some((a) => a.startsWith("-"))) {
    process.stderr.write("usage: pandora_server [/etc/pandora/pandora_server.conf] [-D]\n");
    process.exit(1);
  }
  const confFile = rest[0] ?? DEFAULT_CONF;
  try {
    loadConf(confFile);
    timingsFromEnv(process.env);
  } catch (e) {
    process.stderr.write(`[error] ${confFile}: ${(e as Error).message}\n`);
    process.exit(1);
  }
  // Perl compiling the server's modules, before anything else: the measured 1–2 s counted from
  // the command's start, so that Node's own start-up (and the daemon child's, below: Perl forks
  // at once) is not added to it.
  const childUntil = Number(process.env[CHILD_ENV]);
  if (childUntil) {
    await sleep(childUntil - Date.now());
    return serve(confFile);
  }
  const until = Math.round(performance.timeOrigin + pick(timingsFromEnv(process.env).startupMs));
  if (!daemon) {
    await sleep(until - Date.now());
    return serve(confFile);
  }
  // The daemon started now, serving from `until` on; the command returns then, as the real one
  // returns once it has forked after its start-up.
  const child = spawn(process.execPath, [process.argv[1], confFile], {
    detached: true,
    stdio: "ignore",
    env: { ...process.env, [CHILD_ENV]: String(until) },
  });
  child.unref();
  await sleep(until - Date.now());
  process.exit(0);
}

void main(process.argv.slice(2));
