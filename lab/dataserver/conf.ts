/**
 * The stand-in data server's reading of pandora_server.conf: the tokens the real Pandora FMS
 * data server uses for what the stand-in mimics, with the real defaults (see
 * ../../../shared/reference/pandora-server-facts.md). Pure functions.
 *
 * Format, as the real server reads it: `token value`, the value being the rest of the line after
 * the first run of blanks, trimmed; a line whose first non-blank character is `#` is a comment;
 * tokens match case-insensitively; a token given twice takes its last value (the shipped file
 * has `dbhost` twice).
 */

export interface DataServerConf {
  dbHost: string;
  dbPort: number;
  dbUser: string;
  dbPass: string;
  dbName: string;
  /** Where pandora_ha publishes the master; its first line is the database host at start-up. */
  haHostsFile: string | undefined;
  serverName: string;
  incomingDir: string;
  dataserverThreads: number;
  maxQueueFiles: number;
  /** false (`restart 0`): on a database error the server shuts itself down. */
  restart: boolean;
  /** Seconds between the shutdown of a `restart 1` server and its start again. */
  restartDelay: number;
  autocreate: boolean;
  /** tagente.id_grupo of an autocreated agent. */
  autocreateGroup: number;
  /** Seconds between two refreshes of the server's tserver row. */
  serverKeepalive: number;
  /** Seconds between two listings of incomingdir (and two checks of the database by the main loop). */
  serverThreshold: number;
  useXmlTimestamp: boolean;
  /** tserver.master (0..7). */
  master: number;
  logFile: string;
  verbosity: number;
}

/** The token → value map of a conf text (last value wins, token names lower-cased). */
export function confTokens(text: string): Map<string, string> {
  const tokens = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(\S+)(?:\s+(.*))?$/.exec(line);
    if (m) tokens.set(m[1].toLowerCase(), (m[2] ?? "").trim());
  }
  return tokens;
}

function num(tokens: Map<string, string>, token: string, dflt: number, min: number): number {
  const v = tokens.get(token);
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`${token} '${v}' is not a number >= ${min}`);
  return n;
}

function flag(tokens: Map<string, string>, token: string, dflt: boolean): boolean {
  const v = tokens.get(token);
  if (v === undefined || v === "") return dflt;
  return Number(v) !== 0;
}

/** The settings of a conf text; throws on a token whose value cannot be used. */
export function parseServerConf(text: string, hostname = "localhost"): DataServerConf {
  const t = confTokens(text);
  const str = (token: string, dflt: string) => {
    const v = t.get(token);
    return v === undefined || v === "" ? dflt : v;
  };
  return {
    dbHost: str("dbhost", "localhost"),
    dbPort: num(t, "dbport", 3306, 1),
    dbUser: str("dbuser", "pandora"),
    dbPass: t.get("dbpass") ?? "",
    dbName: str("dbname", "pandora"),
    haHostsFile: t.get("ha_hosts_file") || undefined,
    serverName: str("servername", hostname),
    incomingDir: str("incomingdir", "/var/spool/pandora/data_in").replace(/(?<=.)\/+$/, ""),
    dataserverThreads: Math.floor(num(t, "dataserver_threads", 2, 1)),
    maxQueueFiles: Math.floor(num(t, "max_queue_files", 500, 1)),
    restart: flag(t, "restart", false),
    restartDelay: num(t, "restart_delay", 60, 0),
    autocreate: flag(t, "autocreate", true),
    autocreateGroup: Math.floor(num(t, "autocreate_group", 10, 0)),
    serverKeepalive: num(t, "server_keepalive", 45, 0.1),
    serverThreshold: num(t, "server_threshold", 1, 0.05),
    useXmlTimestamp: flag(t, "use_xml_timestamp", false),
    master: Math.floor(num(t, "master", 1, 0)),
    logFile: str("log_file", "/var/log/pandora/pandora_server.log"),
    verbosity: Math.floor(num(t, "verbosity", 1, 0)),
  };
}

/**
 * The database host the server connects to, decided once at start-up as the real one does: the
 * first line of ha_hosts_file when that file exists and its first line is not empty, else
 * dbhost. `readFile` returns undefined for a file that cannot be read.
 */
export function dbHostAtStart(conf: DataServerConf, readFile: (p: string) => string | undefined): string {
  if (conf.haHostsFile) {
    const first = (readFile(conf.haHostsFile) ?? "").split(/\r?\n/)[0].trim();
    if (first) return first;
  }
  return conf.dbHost;
}
