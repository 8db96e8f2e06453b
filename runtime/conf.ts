/**
 * Reads the HA tokens of pandora_server.conf for pandora_ha.
 *
 * Format (as the Pandora server reads it): one `token value` per line, the value being the rest
 * of the line after the first run of whitespace, trimmed. A line whose first non-blank character
 * is `#` is a comment; a `#` anywhere else is part of the value (passwords may contain it).
 * Token names are matched case-insensitively, like the server does.
 *
 * The file holds ~200 tokens of the Pandora server itself; anything not in TOKENS is ignored,
 * duplicates included (dbhost legitimately appears twice in the shipped file). Every token we
 * read is checked strictly, every problem is collected, and no settings are returned unless
 * there are none: the daemon must not start on a half-understood configuration.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

export interface HaSettings {
  confPath: string;
  haHosts: string[];
  dbPort: number;
  dbName: string;
  dbUser: string;
  dbPass: string | undefined;
  haDbUser: string;
  haDbPass: string;
  replUser: string;
  replPass: string;
  sshUser: string;
  sshPort: number;
  sshKey: string;
  resyncScript: string;
  resyncLog: string;
  connectRetries: number;
  connectDelay: number;
  interval: number;
  splitbrainAutofix: boolean;
  hostsFile: string;
  pidFile: string;
  pandoraServiceCmd: string;
  tentacleServiceCmd: string;
  tentacleWatchdog: boolean;
  serverName: string;
  master: number;
  restart: boolean;
  probeInterval: number;
  probeTimeout: number;
  failoverBudget: number;
  failoverWindow: number;
  drainTimeout: number;
  lagWarning: number;
  /** Keep the master durable with semi-sync (ha.semiSync): pandora_ha alone decides when it goes asynchronous. */
  semiSync: boolean;
  /** Seconds without a replica acknowledging before pandora_ha switches the master to asynchronous. */
  semiSyncTimeout: number;
  /** Seconds a master that only times out (never refuses) must stay silent before it counts as dead. */
  silenceTimeout: number;
  /** Seconds a cut-off strict master takes to stop itself (pandora_ha_guard on its host; 0: no guard): a silent master's successor waits for it. */
  guardTimeout: number;
  /** The Pandora server's pid file (its stop before following a new master is a kill -9). */
  serverPidFile: string;
  /** Seconds an agent file taken by the data server stays kept until its values are seen stored (0: none kept). */
  keepFiles: number;
  /** Pandora's incomingdir. */
  incomingDir: string;
  /** Pandora's use_xml_timestamp. */
  useXmlTimestamp: boolean;
  /** Seconds a timed write (the heartbeat row) may wait on a master whose reads answer before its writes count as stalled. */
  writeTimeout: number;
  /** Seconds to wait, after every node was down, for all of them before promoting any. */
  outageWait: number;
  httpAddress: string;
  httpPort: number;
  bindAddress: string | undefined;
  stateDir: string;
  logFile: string;
}

export interface ConfProblem {
  line?: number;
  token?: string;
  message: string;
}

/** A parser turns a (non-empty, trimmed) value into a typed value, or says what it expected. */
type Parsed = { value: unknown } | { errors: string[] };
type Parser = (v: string) => Parsed;

const ok = (value: unknown): Parsed => ({ value });
const expected = (what: string, v: string): Parsed => ({ errors: [`expected ${what}, got '${v}'`] });

// ---- value checkers --------------------------------------------------------------------------

const IPV4_OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"; // no leading zeros (octal ambiguity)
const IPV4 = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);

/** The canonical form of an IPv6 literal (for duplicate detection), or undefined if invalid. */
function ipv6(s: string): string | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  let head = s;
  let v4: string[] = [];
  const m = /^(.*:)([\d.]+)$/.exec(s); // embedded IPv4 in the last 32 bits (::ffff:10.0.0.1)
  if (m && m[2].includes(".")) {
    if (!IPV4.test(m[2])) return undefined;
    const o = m[2].split(".").map(Number);
    v4 = [((o[0] << 8) | o[1]).toString(16), ((o[2] << 8) | o[3]).toString(16)];
    head = m[1].endsWith("::") ? m[1] : m[1].slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  if (![...left, ...right].every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return undefined;
  const n = left.length + right.length + v4.length;
  if (halves.length === 2 ? n > 7 : n !== 8) return undefined;
  const zeros: string[] = halves.length === 2 ? Array(8 - n).fill("0") : [];
  return [...left, ...zeros, ...right, ...v4].map((g) => parseInt(g, 16).toString(16)).join(":");
}

const isIp = (s: string) => IPV4.test(s) || ipv6(s) !== undefined;

/** RFC 1123 host name; the last label may not be all digits (so 10.0.0.256 is a bad address). */
function isDnsName(s: string): boolean {
  const name = s.endsWith(".") ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  return (
    labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) &&
    !/^\d+$/.test(labels[labels.length - 1])
  );
}

/** A key under which two spellings of the same host compare equal. */
function hostKey(h: string): string {
  return ipv6(h) ?? h.toLowerCase().replace(/\.$/, "");
}

/** ha_hosts: one message per bad entry, so a list with two mistakes reports both. */
const hostList: Parser = (v) => {
  const entries = v.split(",").map((h) => h.trim());
  const errors: string[] = [];
  if (entries.some((h) => h === "")) {
    errors.push(`expected a host between every two commas and none at the ends, got '${v}'`);
  }
  const seen = new Set<string>();
  for (const h of entries.filter((e) => e !== "")) {
    if (/\s/.test(h)) {
      errors.push(`expected hosts separated by commas, got '${h}'`);
    } else if (h.startsWith("[") || /^[^:]+:\d+$/.test(h)) {
      errors.push(`expected a bare host without brackets or port (the port is dbport), got '${h}'`);
    } else if (!isIp(h) && !isDnsName(h)) {
      errors.push(`expected an IPv4 address, IPv6 address or DNS name, got '${h}'`);
    } else if (seen.has(hostKey(h))) {
      errors.push(`expected distinct hosts, got '${h}' twice`);
    } else {
      seen.add(hostKey(h));
    }
  }
  if (errors.length > 0) return { errors };
  if (entries.length < 2) return expected("at least 2 hosts separated by commas", v);
  return ok(entries);
};

const whole =
  (min: number, max: number): Parser =>
  (v) =>
    /^\d+$/.test(v) && +v >= min && +v <= max ? ok(+v) : expected(`a whole number from ${min} to ${max}`, v);

/** Seconds, decimals allowed. `above` = the minimum itself is excluded. */
const seconds =
  (min: number, max: number, above = false): Parser =>
  (v) => {
    const n = /^(\d+(\.\d*)?|\.\d+)$/.test(v) ? +v : NaN;
    const inRange = (above ? n > min : n >= min) && n <= max;
    const what = above ? `greater than ${min} and at most ${max}` : `from ${min} to ${max}`;
    return inRange ? ok(n) : expected(`a number of seconds ${what}`, v);
  };

/** 0 (off), or whole seconds from `min` to `max`. */
const offOrWhole =
  (min: number, max: number): Parser =>
  (v) =>
    /^\d+$/.test(v) && (+v === 0 || (+v >= min && +v <= max)) ? ok(+v) : expected(`0 (off) or a whole number of seconds from ${min} to ${max}`, v);

const TRUE = ["1", "on", "yes", "true"];
const FALSE = ["0", "off", "no", "false"];
const bool: Parser = (v) => {
  const l = v.toLowerCase();
  if (TRUE.includes(l)) return ok(true);
  if (FALSE.includes(l)) return ok(false);
  return expected("0 or 1 (or on/off, yes/no, true/false)", v);
};

const count: Parser = (v) => (/^\d+$/.test(v) ? ok(+v) : expected("a whole number", v));
const text: Parser = (v) => ok(v);
const absPath: Parser = (v) => (v.startsWith("/") ? ok(v) : expected("an absolute path (starting with /)", v));
const ipLiteral: Parser = (v) => (isIp(v) ? ok(v) : expected("an IPv4 or IPv6 address", v));
const pattern =
  (re: RegExp, what: string): Parser =>
  (v) =>
    re.test(v) ? ok(v) : expected(what, v);
const ignored: Parser = () => ok(undefined);

// ---- the token table -------------------------------------------------------------------------

interface Spec {
  token: string;
  /** The default as text for the reference table; "" = none. */
  default: string;
  meaning: string;
  /** A token of ours (pandora-ha), not of the original pandora_ha / Pandora server. */
  ours: boolean;
  parse: Parser;
  /** Never quote the value in a message. */
  secret?: boolean;
}

const T = (token: string, dflt: string, parse: Parser, meaning: string, ours = false): Spec => ({
  token,
  default: dflt,
  meaning,
  ours,
  parse,
});
const secret = (s: Spec): Spec => ({ ...s, secret: true });

const SPECS: Spec[] = [
  T("ha_hosts", "(required)", hostList, "Comma list of the database hosts (IP or DNS name, no port), at least 2; the first is the preferred master at first start."),
  T("dbport", "3306", whole(1, 65535), "Database port on every host."),
  T("dbname", "pandora", pattern(/^[A-Za-z0-9_$]+$/, "a database name of letters, digits, _ and $"), "Pandora database name."),
  T("dbuser", "pandora", text, "Pandora database user."),
  secret(T("dbpass", "", text, "Pandora database password.")),
  T("ha_dbuser", "dbuser", text, "Admin account used for probes and promotions."),
  secret(T("ha_dbpass", "dbpass", text, "Password of ha_dbuser (required if dbpass is not set).")),
  T("repl_dbuser", "dbuser", text, "Replication account the replicas use."),
  secret(T("repl_dbpass", "dbpass", text, "Password of repl_dbuser (required if dbpass is not set).")),
  T("ha_sshuser", "pandora", pattern(/^(?=.{1,32}$)[A-Za-z_][A-Za-z0-9_.-]*\$?$/, "a Unix user name"), "SSH user on the database hosts (resync)."),
  T("ha_sshport", "22", whole(1, 65535), "SSH port on the database hosts."),
  T("ha_sshkey", "/root/.ssh/id_pandora_ha", absPath, "SSH private key for ha_sshuser.", true),
  T("ha_resync", "/usr/share/pandora_server/util/pandora_ha_resync_slave.sh", absPath, "Resync script; arguments: <pandora_server.conf> MASTER SLAVE."),
  T("ha_resync_log", "/var/log/pandora/pandora_ha_resync.log", absPath, "Log of the resync script."),
  T("ha_connect_retries", "2", whole(1, 20), "Consecutive failed probes before a node counts as down."),
  T("ha_connect_delay", "1", seconds(0, 60), "Seconds to wait before re-probing a node that failed."),
  T("ha_interval", "10", seconds(0, 3600, true), "Seconds between watchdog / housekeeping cycles."),
  T("splitbrain_autofix", "0", bool, "1 = resync the demoted node automatically after a split brain."),
  T("ha_hosts_file", "/var/spool/pandora/data_in/conf/pandora_ha_hosts.conf", absPath, "File where the current master is published."),
  T("ha_pid_file", "/var/run/pandora_ha.pid", absPath, "PID file of pandora_ha."),
  T("pandora_service_cmd", "service pandora_server", text, "Command controlling the Pandora server (start-server, stop-server, ...)."),
  T("tentacle_service_cmd", "service tentacle_serverd", text, "Command controlling the Tentacle server."),
  T("tentacle_service_watchdog", "1", bool, "1 = keep the Tentacle server running."),
  T("servername", "(host name)", text, "Name of this Pandora server."),
  T("master", "1", (v) => (/^[0-7]$/.test(v) ? ok(+v) : expected("one digit from 0 to 7", v)), "Master priority of this server (highest running wins; 0 = never: its pandora_ha then only watches)."),
  T("restart", "0", bool, "1 = pandora_ha may restart the Pandora server."),
  T("ha_probe_interval", "0.5", seconds(0.05, 60), "Seconds between probes of each database node.", true),
  T("ha_probe_timeout", "1", seconds(0.1, 60), "Connect and query timeout of every probe, in seconds.", true),
  T("ha_failover_budget", "1", whole(0, 100), "Automatic failovers allowed per window (0 = never automatic).", true),
  T("ha_failover_window", "3600", whole(1, 604800), "Length of the failover budget window, in seconds.", true),
  T("ha_drain_timeout", "60", seconds(1, 3600), "Longest wait, in seconds, for a candidate to apply its relay log.", true),
  T("ha_lag_warning", "30", whole(1, 86400), "Replica lag in seconds that raises an event.", true),
  T("ha_semisync", "1", bool, "1 = pandora_ha keeps the master semi-synchronous and alone decides when it goes asynchronous.", true),
  T("ha_semisync_timeout", "5", seconds(0.5, 3600), "Seconds without a replica acknowledging before pandora_ha switches the master to asynchronous.", true),
  T("ha_silence_timeout", "4", seconds(0.5, 600), "Seconds a master that only times out (no refusal) must stay silent before it counts as dead.", true),
  T("ha_guard_timeout", "4", (v) => (v === "0" ? ok(0) : seconds(1, 60)(v)), "Seconds a strict master cut off from every other DB node waits before pandora_ha_guard on its host stops it (0: no guard). A silent master is replaced only after that, plus 3 s.", true),
  T("ha_write_timeout", "5", seconds(1, 600), "Seconds a timed write may wait on a master whose reads answer before its writes count as stalled.", true),
  T("ha_outage_wait", "60", seconds(0, 3600), "Seconds to wait, after every node was down, for all of them before promoting any.", true),
  T("ha_http_address", "127.0.0.1", ipLiteral, "Address of the status HTTP endpoint.", true),
  T("ha_http_port", "41180", (v) =>
    /^\d+$/.test(v) && +v <= 65535 ? ok(+v) : expected("0 (no HTTP endpoint) or a port from 1 to 65535", v), "Port of the status HTTP endpoint (0 = none).", true),
  T("ha_bind_address", "", ipLiteral, "Local source address for database probes (optional).", true),
  T("ha_state_dir", "/var/lib/pandora-ha", absPath, "Directory of the daemon's state.", true),
  T("ha_log_file", "/var/log/pandora/pandora_ha.log", absPath, "Log file of pandora_ha.", true),
  T("ha_server_pid_file", "/var/run/pandora_server.pid", absPath, "PID file of the Pandora server: to follow a new master pandora_ha stops it at once (kill -9) instead of waiting seconds for its threads.", true),
  T("ha_keep_files", "600", offOrWhole(60, 86400), "Seconds pandora_ha keeps a link to an agent file after the data server took it, until its values are seen on a writable master (not there: handed back, at most 3 times). At least 60: the server's writes are checked 20 s after it took the file. 0 = keep nothing.", true),
  // Pandora's own tokens that pandora_ha reads.
  T("incomingdir", "/var/spool/pandora/data_in", absPath, "Pandora's incoming directory, where Tentacle puts the agents' files (pandora_ha reads it)."),
  T("use_xml_timestamp", "0", bool, "Pandora's: 1 = an agent value's time is the XML's timestamp, not the file's mtime (pandora_ha reads it)."),
  // The original's tokens that we accept and ignore (still checked when given).
  T("ha_max_splitbrain_retries", "2", count, "Original pandora_ha only; ignored."),
  T("ha_max_resync_wait_retries", "3", count, "Original pandora_ha only; ignored."),
  T("ha_resync_sleep", "10", count, "Original pandora_ha only; ignored."),
  T("ha_file", "", ignored, "Original pandora_ha only (unused); ignored."),
];

const BY_TOKEN = new Map(SPECS.map((s) => [s.token, s]));

export const HA_TOKENS: ReadonlyArray<{ token: string; default: string; meaning: string; ours: boolean }> =
  SPECS.map(({ token, default: d, meaning, ours }) => ({ token, default: d, meaning, ours }));

// ---- parsing ---------------------------------------------------------------------------------

interface Occurrence {
  line: number;
  /** Present when the value passed its token's parser. */
  parsed?: { value: unknown };
}

/** Pure: parses the text of a pandora_server.conf (path used only in messages and confPath). */
export function parseHaConf(
  text: string,
  path: string,
): { settings: HaSettings | undefined; problems: ConfProblem[] } {
  const problems: ConfProblem[] = [];
  const seen = new Map<string, Occurrence[]>();
  const occur = (token: string, o: Occurrence) => seen.set(token, [...(seen.get(token) ?? []), o]);

  text.replace(/^\uFEFF/, "").split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const m = /^(\S+)(?:\s+(.*))?$/.exec(trimmed)!;
    const token = m[1].toLowerCase();
    const value = (m[2] ?? "").trim();
    const spec = BY_TOKEN.get(token);
    if (!spec) {
      // `ha_dbpass=x` / `ha_sshport:22`: the server would silently skip the line. Say so, without
      // quoting anything (it may be a password), and count the token as present but invalid.
      const glued = /^([a-z_]+)[=:]/.exec(token);
      if (glued && BY_TOKEN.has(glued[1])) {
        problems.push({ line, token: glued[1], message: `expected '${glued[1]} <value>' (separated by spaces, not '=' or ':')` });
        occur(glued[1], { line });
      }
      return; // otherwise a Pandora server token, or an unknown one: not ours
    }
    const bad = (message: string) => {
      problems.push({ line, token, message });
      occur(token, { line });
    };
    if (value === "") return bad("expected a value, got nothing");
    // `ha_sshport = 22`. Not checked on passwords (one may start with '='); not ':' (IPv6 ::1).
    if (!spec.secret && value.startsWith("=")) {
      return bad(`expected '${token} <value>' (separated by spaces, not '='), got '${value}'`);
    }
    const r = spec.parse(value);
    if ("errors" in r) {
      r.errors.forEach((e) => problems.push({ line, token, message: spec.secret ? "is set but not valid (value not shown)" : e }));
      return occur(token, { line });
    }
    occur(token, { line, parsed: r });
  });

  const parsed = new Map<string, unknown>();
  for (const [token, list] of seen) {
    if (list.length > 1) {
      const lines = list.map((o) => o.line);
      const said = lines.length === 2 ? "twice" : `${lines.length} times`;
      const which = `${lines.slice(0, -1).join(", ")} and ${lines[lines.length - 1]}`;
      problems.push({ line: lines[1], token, message: `given ${said} (lines ${which}); keep one` });
    }
    const last = list[list.length - 1].parsed;
    if (last) parsed.set(token, last.value);
  }

  if (!seen.has("ha_hosts")) {
    problems.push({ token: "ha_hosts", message: "is required: the comma list of the database hosts, e.g. 'ha_hosts 10.0.0.11,10.0.0.12'" });
  }
  const has = (t: string) => seen.has(t);
  // No default passwords anywhere: each account needs its own token or dbpass.
  if (!has("ha_dbpass") && !has("dbpass")) {
    problems.push({ token: "ha_dbpass", message: "no password for the admin account: set ha_dbpass (or dbpass)" });
  }
  if (!has("repl_dbpass") && !has("dbpass")) {
    problems.push({ token: "repl_dbpass", message: "no password for the replication account: set repl_dbpass (or dbpass)" });
  }

  // Problems in file order; those without a line (missing tokens) last.
  problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  if (problems.length > 0) return { settings: undefined, problems };

  // Every value below has passed its token's parser, which fixes its type.
  const get = <V>(token: string, dflt: V): V => (parsed.has(token) ? (parsed.get(token) as V) : dflt);
  const dbUser = get("dbuser", "pandora");
  const dbPass = get<string | undefined>("dbpass", undefined);
  const settings: HaSettings = {
    confPath: path,
    haHosts: get<string[]>("ha_hosts", []),
    dbPort: get("dbport", 3306),
    dbName: get("dbname", "pandora"),
    dbUser,
    dbPass,
    haDbUser: get("ha_dbuser", dbUser),
    haDbPass: get("ha_dbpass", dbPass as string),
    replUser: get("repl_dbuser", dbUser),
    replPass: get("repl_dbpass", dbPass as string),
    sshUser: get("ha_sshuser", "pandora"),
    sshPort: get("ha_sshport", 22),
    sshKey: get("ha_sshkey", "/root/.ssh/id_pandora_ha"),
    resyncScript: get("ha_resync", "/usr/share/pandora_server/util/pandora_ha_resync_slave.sh"),
    resyncLog: get("ha_resync_log", "/var/log/pandora/pandora_ha_resync.log"),
    connectRetries: get("ha_connect_retries", 2),
    connectDelay: get("ha_connect_delay", 1),
    interval: get("ha_interval", 10),
    splitbrainAutofix: get("splitbrain_autofix", false),
    hostsFile: get("ha_hosts_file", "/var/spool/pandora/data_in/conf/pandora_ha_hosts.conf"),
    pidFile: get("ha_pid_file", "/var/run/pandora_ha.pid"),
    pandoraServiceCmd: get("pandora_service_cmd", "service pandora_server"),
    tentacleServiceCmd: get("tentacle_service_cmd", "service tentacle_serverd"),
    tentacleWatchdog: get("tentacle_service_watchdog", true),
    serverName: get("servername", hostname()),
    master: get("master", 1),
    restart: get("restart", false),
    probeInterval: get("ha_probe_interval", 0.5),
    probeTimeout: get("ha_probe_timeout", 1),
    failoverBudget: get("ha_failover_budget", 1),
    failoverWindow: get("ha_failover_window", 3600),
    drainTimeout: get("ha_drain_timeout", 60),
    lagWarning: get("ha_lag_warning", 30),
    semiSync: get("ha_semisync", true),
    semiSyncTimeout: get("ha_semisync_timeout", 5),
    silenceTimeout: get("ha_silence_timeout", 4),
    guardTimeout: get("ha_guard_timeout", 4),
    writeTimeout: get("ha_write_timeout", 5),
    outageWait: get("ha_outage_wait", 60),
    httpAddress: get("ha_http_address", "127.0.0.1"),
    httpPort: get("ha_http_port", 41180),
    bindAddress: get<string | undefined>("ha_bind_address", undefined),
    stateDir: get("ha_state_dir", "/var/lib/pandora-ha"),
    logFile: get("ha_log_file", "/var/log/pandora/pandora_ha.log"),
    serverPidFile: get("ha_server_pid_file", "/var/run/pandora_server.pid"),
    keepFiles: get("ha_keep_files", 600),
    incomingDir: get("incomingdir", "/var/spool/pandora/data_in"),
    useXmlTimestamp: get("use_xml_timestamp", false),
  };
  return { settings, problems };
}

/**
 * What is valid but weakens failover safety: each a sentence naming the token. (check-config
 * prints them; the daemon raises them as an event when it starts.)
 */
export function confWarnings(s: HaSettings): string[] {
  const out: string[] = [];
  if (s.haDbUser === s.dbUser) {
    out.push(
      `ha_dbuser is the Pandora account (${s.dbUser}): the HA account may write on a read-only node (MariaDB READ_ONLY ADMIN, SUPER), ` +
        "so a fenced node would still take Pandora's writes; give pandora_ha an account of its own (ha_dbuser, ha_dbpass)",
    );
  }
  if (s.replUser === s.dbUser) out.push(`repl_dbuser is the Pandora account (${s.dbUser}): fencing never cuts the replication account's connections; give replication an account of its own`);
  return out;
}

/** Reads the file (unreadable file → one problem, no throw). */
export function readHaConf(path: string): { settings: HaSettings | undefined; problems: ConfProblem[] } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { settings: undefined, problems: [{ message: `cannot read the file: ${(e as Error).message}` }] };
  }
  return parseHaConf(text, path);
}

/** Human lines: "<path>:<line>: <token>: <message>" (line/token omitted when unknown), one per problem. */
export function formatProblems(path: string, problems: ConfProblem[]): string {
  return problems
    .map((p) => `${path}${p.line !== undefined ? `:${p.line}` : ""}: ${p.token !== undefined ? `${p.token}: ` : ""}${p.message}`)
    .join("\n");
}
