/**
 * Pandora FMS text renderers: the pandora_server.conf HA tokens for one server, the Tentacle
 * server configuration, the agent fragment and the console line. Pure functions; the host
 * scripts put the results in place.
 */
import type { ClusterConfig, ServerConfig } from "../config";

/** A value that is only known later (addresses, passwords); resolved by the plan's consumer. */
export type TokenValue = string | { ref: string } | { join: TokenValue[]; sep: string };

const TOOLS_DIR = "/usr/share/pandora-ha";

export const PANDORA_PATHS = {
  serverConf: "/etc/pandora/pandora_server.conf",
  incomingDir: "/var/spool/pandora/data_in",
  attachmentDir: "/var/www/html/pandora_console/attachment",
  haHostsFile: "/var/spool/pandora/data_in/conf/pandora_ha_hosts.conf",
  /** Ours: the resync tool and the seeding script it runs on a replica. */
  toolsDir: TOOLS_DIR,
  // Ours (the original's, closed, lives in /usr/share/pandora_server/util/).
  resyncScript: `${TOOLS_DIR}/pandora_ha_resync_slave.sh`,
  resyncLog: "/var/log/pandora/pandora_ha_resync.log",
  tentacleConf: "/etc/tentacle/tentacle_server.conf",
  tentacleLog: "/var/log/tentacle/tentacle.log",
  // What pandora_ha runs to check and start the Pandora server and Tentacle (the packages'
  // init scripts, with Pandora's start-server/status-server verbs).
  pandoraServiceCmd: "/etc/init.d/pandora_server",
  tentacleServiceCmd: "/etc/init.d/tentacle_serverd",
  // Ours: the pandora_ha daemon.
  daemonBundle: `${TOOLS_DIR}/pandora_ha.js`,
  /** What the service runs: a path of ours (the Pandora package may put its /usr/bin/pandora_ha back). */
  daemonRunner: `${TOOLS_DIR}/bin/pandora_ha`,
  /** The same wrapper for the command line, where the original's was (kept as .pandora-ha.orig). */
  daemonBin: "/usr/bin/pandora_ha",
  daemonUnit: "/etc/systemd/system/pandora_ha.service",
  haPidFile: "/var/run/pandora_ha.pid",
  haStateDir: "/var/lib/pandora-ha",
  /** The key pandora_ha (and the resync, and a node streaming a backup) connects with. */
  haSshKey: "/root/.ssh/id_pandora_ha",
  /** A Node runtime of our own, only where the OS has none >= 18 (Ubuntu 22.04). */
  nodeDir: "/opt/pandora-ha/node",
} as const;

/** Ours, on every DB host: pandora_ha_guard, the fence a cut-off master runs on itself. */
export const GUARD_PATHS = {
  bin: `${TOOLS_DIR}/bin/pandora_ha_guard`,
  conf: "/etc/pandora-ha/guard.conf",
  unit: "/etc/systemd/system/pandora_ha_guard.service",
  pidFile: "/run/pandora_ha_guard.pid",
  logFile: "/var/log/pandora_ha_guard.log",
} as const;


/** The data_in subdirectories shared between data servers and consoles (never data_in itself). */
export const SHARED_DATA_IN_SUBDIRS = ["conf", "collections", "md5", "netflow", "discovery"] as const;

/**
 * The pandora_server.conf tokens pandora-ha sets on one server, in file order. Secrets and
 * addresses are references (`{ ref: "secret:haDbPassword" }`, `{ ref: "address:db1" }`).
 */
export function pandoraServerTokens(cfg: ClusterConfig, server: ServerConfig): Array<[string, TokenValue]> {
  const master = cfg.dbNodes[0].name;
  return [
    ["servername", server.name],
    ["master", String(server.master)],
    ["dbhost", { ref: `address:${master}` }],
    ["dbport", String(cfg.dbPort)],
    ["dbname", cfg.dbName],
    ["dbuser", cfg.pandoraDbUser],
    ["dbpass", { ref: "secret:pandoraDbPassword" }],
    ["ha_hosts", { join: cfg.dbNodes.map((n) => ({ ref: `address:${n.name}` })), sep: "," }],
    ["ha_dbuser", cfg.haDbUser],
    ["ha_dbpass", { ref: "secret:haDbPassword" }],
    ["repl_dbuser", cfg.replUser],
    ["repl_dbpass", { ref: "secret:replPassword" }],
    ["ha_sshuser", cfg.ha.sshUser],
    ["ha_sshport", String(cfg.ha.sshPort)],
    ["ha_resync", PANDORA_PATHS.resyncScript],
    ["ha_resync_log", PANDORA_PATHS.resyncLog],
    ["ha_connect_retries", String(cfg.ha.connectRetries)],
    ["ha_connect_delay", String(cfg.ha.connectDelay)],
    ["splitbrain_autofix", cfg.ha.splitbrainAutofix ? "1" : "0"],
    ["restart", "0"],
    // pandora_ha: where it publishes the master, its pid file, the services it keeps running.
    ["ha_hosts_file", PANDORA_PATHS.haHostsFile],
    ["ha_pid_file", PANDORA_PATHS.haPidFile],
    ["pandora_service_cmd", PANDORA_PATHS.pandoraServiceCmd],
    ["tentacle_service_cmd", PANDORA_PATHS.tentacleServiceCmd],
    ["tentacle_service_watchdog", "1"],
    ["ha_interval", "10"],
    ["ha_sshkey", PANDORA_PATHS.haSshKey],
    // Ours: probing and the failover budget.
    ["ha_probe_interval", String(cfg.ha.probeInterval)],
    ["ha_probe_timeout", String(cfg.ha.probeTimeout)],
    ["ha_failover_budget", String(cfg.ha.failoverBudget)],
    ["ha_failover_window", String(cfg.ha.failoverWindow)],
    // Ours: the master's durability (semi-sync), which pandora_ha alone relaxes.
    ["ha_semisync", cfg.ha.semiSync ? "1" : "0"],
    ["ha_semisync_timeout", String(cfg.ha.semiSyncTimeoutMs / 1000)],
    // Ours: how long a cut-off master takes to stop itself (the guard on every DB host).
    ["ha_guard_timeout", String(cfg.ha.guardTimeout)],
    ...(server.bindAddress !== undefined ? [["ha_bind_address", server.bindAddress] as [string, TokenValue]] : []),
    // The daemon's HTTP endpoint (status, switchover) listens on loopback, 127.0.0.1 by default.
    // A loopback bindAddress means server hosts that share one machine's network (the lab's):
    // each endpoint then listens on its own host's address, still loopback only.
    ...(server.bindAddress !== undefined && /^127\./.test(server.bindAddress) ? [["ha_http_address", server.bindAddress] as [string, TokenValue]] : []),
  ];
}

export interface PandoraHaUnitInput {
  /** pandora_server.conf the daemon reads. */
  conf: string;
  pidFile: string;
  /** The wrapper that runs the bundle (default /usr/share/pandora-ha/bin/pandora_ha). */
  bin?: string;
}

/**
 * /etc/systemd/system/pandora_ha.service: the daemon in the foreground (no -d), restarted
 * whenever it exits, however often (no start limit); stopping it stops its whole control group.
 */
export function renderPandoraHaUnit(u: PandoraHaUnitInput): string {
  const bin = u.bin ?? PANDORA_PATHS.daemonRunner;
  return [
    "# Managed by pandora-ha. Changes here are replaced on the next `pulumi up`.",
    "[Unit]",
    "Description=Pandora FMS database HA daemon (pandora_ha)",
    "Wants=network-online.target",
    "After=network-online.target",
    // Restart=always must hold even after a burst of quick exits (a node flapping at startup).
    "StartLimitIntervalSec=0",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${bin} -p ${u.pidFile} ${u.conf}`,
    "Restart=always",
    "RestartSec=1",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** pandora_ha_guard.service: as root (it reads the server's state and stops it), always restarted. */
export function renderGuardUnit(): string {
  return [
    "# Managed by pandora-ha. Changes here are replaced on the next `pulumi up`.",
    "[Unit]",
    "Description=pandora_ha_guard: a database master cut off from every other DB node stops itself",
    "After=network-online.target mariadb.service mysql.service mysqld.service",
    "StartLimitIntervalSec=0",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${GUARD_PATHS.bin} ${GUARD_PATHS.conf}`,
    "Restart=always",
    "RestartSec=1",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

export interface TentacleConfInput {
  port: number;
  password?: string;
  maxConnections?: number;
  sslCert?: string;
  sslKey?: string;
  sslCa?: string;
  /** Where it listens (default 0.0.0.0: every address). */
  addresses?: string;
  /** Where agent files land (default /var/spool/pandora/data_in). */
  incomingDir?: string;
  /** Default /var/log/tentacle/tentacle.log; the tentacle step creates its directory. */
  logFile?: string;
}

/**
 * /etc/tentacle/tentacle_server.conf, complete. `daemon 1`: Pandora's init script starts
 * Tentacle without `&` and its systemd unit is Type=forking, so both wait for it to fork.
 * Tentacle opens `log_file` at start and exits when its directory is missing: the tentacle step
 * creates that directory, owned by the user Tentacle runs as.
 */
export function renderTentacleConf(t: TentacleConfInput): string {
  const lines = [
    "# Managed by pandora-ha. Changes here are replaced on the next `pulumi up`.",
    `addresses ${t.addresses ?? "0.0.0.0"}`,
    `port ${t.port}`,
    `max_connections ${t.maxConnections ?? 10}`,
    "daemon 1",
    `directory ${t.incomingDir ?? PANDORA_PATHS.incomingDir}`,
    "filters .*\\.conf:conf;.*\\.md5:md5;.*\\.zip:collections;.*\\.lock:trans;.*\\.rcmd:commands;.*\\.agent_setup\\.exe:agent;.*\\.agent_setup\\.tar\\.gz:agent",
    `log_file ${t.logFile ?? PANDORA_PATHS.tentacleLog}`,
    "max_size 2000000",
  ];
  if (t.password) lines.push(`password ${t.password}`);
  if (t.sslCert) lines.push(`ssl_cert ${t.sslCert}`);
  if (t.sslKey) lines.push(`ssl_key ${t.sslKey}`);
  if (t.sslCa) lines.push(`ssl_ca ${t.sslCa}`);
  return lines.join("\n") + "\n";
}

export interface AgentSnippetInput {
  primary: string;
  secondary?: string;
  port: number;
  /** True when Tentacle has a password: the fragment says where to get it, never the value. */
  passwordProtected: boolean;
}

/** The pandora_agent.conf fragment agents need: primary server, and the secondary on error. */
export function renderAgentSnippet(a: AgentSnippetInput): string {
  const lines = [
    "# pandora_agent.conf fragment generated by pandora-ha",
    `server_ip ${a.primary}`,
    `server_path ${PANDORA_PATHS.incomingDir}`,
    `server_port ${a.port}`,
    "transfer_mode tentacle",
  ];
  if (a.passwordProtected) lines.push("# server_pwd <pulumi stack output --show-secrets tentaclePassword>");
  if (a.secondary) {
    lines.push(
      "secondary_mode on_error",
      `secondary_server_ip ${a.secondary}`,
      `secondary_server_path ${PANDORA_PATHS.incomingDir}`,
      `secondary_server_port ${a.port}`,
      "secondary_transfer_mode tentacle",
      "secondary_server_ssl no",
    );
    if (a.passwordProtected) lines.push("# secondary_server_pwd <same as server_pwd>");
  }
  return lines.join("\n") + "\n";
}

/** The console's config.php line that makes it follow pandora_ha_hosts.conf. */
export function consoleRemoteConfigLine(): string {
  return `$config["remote_config"] = "${PANDORA_PATHS.incomingDir}";`;
}
