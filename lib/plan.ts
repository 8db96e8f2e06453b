/**
 * The plan: one description of every host step (which script, on which host, with which
 * parameters, after which steps). The Pulumi components turn each step into a
 * `command.remote.Command`; the lab runs the very same steps over SSH. Values only known later
 * (addresses, generated passwords, keys, AWS ids) are references resolved by each consumer.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { buildDaemonBundle } from "./bundle";
import type { ClusterConfig, DbFlavor, DbNodeConfig } from "./config";
import { myCnfPath, renderMyCnf, defaultDbPaths } from "./render/mycnf";
import { GUARD_PATHS, PANDORA_PATHS, SHARED_DATA_IN_SUBDIRS, pandoraServerTokens, renderGuardUnit, renderPandoraHaUnit, renderTentacleConf } from "./render/pandora";
import type { TokenValue } from "./render/pandora";

/**
 * A parameter value: a literal, a reference, or a join of values. References:
 * `address:<host>` (address other hosts use), `secret:<name>` (passwords, private keys),
 * `publicKey:<name>`, `volume:<dbnode>` (binlog EBS volume id), `efs:dns`.
 */
export type Value = TokenValue;

export type StepGroup = "db" | "replication" | "servers" | "runtime" | "rollout";

export interface HostStep {
  /** Unique, stable id, e.g. `db/db1/configure`; also the base of the Pulumi resource name. */
  id: string;
  group: StepGroup;
  /** Name of the host it runs on (a dbNodes or servers name). */
  host: string;
  /** File name under scripts/. */
  script: string;
  /** One line for progress output. */
  description: string;
  /** Non-secret parameters, passed on the command line. */
  env: Record<string, Value>;
  /** Secret parameters, passed on stdin only (never on a command line, never logged). */
  secretEnv: Record<string, Value>;
  /**
   * Scripts the step installs on its host: parameter name → file under scripts/. Each arrives
   * base64-encoded, common.sh inlined, on stdin ahead of the step's own script.
   */
  files: Record<string, string>;
  /**
   * Generated files the step installs (e.g. the pandora_ha bundle): parameter name → blob.
   * Each arrives gzip-compressed and base64-encoded on stdin, ahead of the files, as a plain
   * shell variable of the script (not exported: a value that large in the environment would
   * make every command the script runs fail with E2BIG). The host decodes it with
   * `base64 -d | gunzip`. Its content hash is part of the step's triggers.
   */
  blobs: Record<string, StepBlob>;
  /**
   * The rendered non-secret files the step installs (my.cnf, units, Tentacle's conf without its
   * password), in plain text in the step's triggers: `pulumi preview --diff` shows the line
   * that changed, and a change re-runs the step. One with a `param` reaches the script on stdin
   * as that parameter (base64), never on the command line.
   */
  texts: StepText[];
  dependsOn: string[];
  /** Cloud resources the step must wait for (e.g. `efs:mountTargets`); the lab has none. */
  waitFor: string[];
  /**
   * What `pulumi destroy` runs on the host (as root; no parameters, no secrets), in a resource
   * of its own that a replacement of the step never touches.
   */
  deleteCommand?: string;
}

/**
 * The pandora-ha step's delete: pandora_ha stopped (SIGTERM: it stops the pandora_server it
 * runs first) and, under systemd, disabled; waits up to 90 s for it. Files, confs and the
 * databases stay.
 */
export function daemonStopCommand(unitPath: string, pidFile: string): string {
  const unit = unitPath.split("/").pop()!;
  return [
    `if [ -d /run/systemd/system ] && [ -f ${unitPath} ]; then systemctl disable --now ${unit} >/dev/null 2>&1 || true; fi`,
    // Only a pandora_ha: a stale pid file may name another process by now.
    `if p=$(cat ${pidFile} 2>/dev/null) && [ -n "$p" ] && tr '\\0' ' ' </proc/"$p"/cmdline 2>/dev/null | grep -q pandora_ha; then kill -TERM "$p" 2>/dev/null || true; i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 900 ]; do sleep 0.1; i=$((i + 1)); done; fi`,
    "true",
  ].join("; ");
}

/** A rendered file shown in a step's inputs (see HostStep.texts). */
export interface StepText {
  /** What it is, e.g. "my.cnf (/etc/my.cnf)": the first line of its trigger. */
  label: string;
  text: string;
  /** The script's parameter carrying it (base64); none: shown only (its full form is a secret). */
  param?: string;
}

/** A generated file a step carries; `content` is called when the step is rendered (lazily). */
export interface StepBlob {
  content: () => string | Buffer;
}

export const BINLOG_DIR = "/var/lib/mysql-binlog";
export const SHARED_MOUNT_ROOT = "/mnt/pandora-shared";
export const SSH_KEY_FILE = PANDORA_PATHS.haSshKey;
/** Where a server host keeps the resync tool and the seeding script it runs on a replica. */
export const TOOLS_DIR = PANDORA_PATHS.toolsDir;
export const CLUSTER_ENV_PATH = "/etc/pandora-ha/cluster.env";
/** The oldest Node the daemon bundle targets (esbuild target node18). */
export const NODE_MIN_MAJOR = 18;
/** Official Node 20 builds, for hosts whose OS offers no Node >= 18 (Ubuntu 22.04). */
export const NODE_DIST_URL = "https://nodejs.org/dist/latest-v20.x";

/** What db/<n>/install puts on a DB node, per flavor (its description). */
const FLAVOR_PACKAGES: Record<DbFlavor, string> = {
  percona84: "Percona Server 8.4 LTS and xtrabackup 8.4",
  percona80: "Percona Server 8.0 and xtrabackup",
  mysql: "the OS's MySQL server (8.0.30 or later)",
  mariadb1011: "MariaDB 10.11 and mariabackup",
};

const ref = (r: string): Value => ({ ref: r });
const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** Everything the plan needs beyond the stack config. */
export interface PlanOptions {
  /** aws: a dedicated EBS volume for binary logs on every DB node. */
  binlogVolumes: boolean;
  /**
   * Source of the shared data_in subdirectories for efs/nfs: `efs:dns` ref on aws, the export
   * for nfs; without it those get no shared-storage step. Not used by mounted (sharedPath).
   */
  sharedSource?: Value;
  /** Extra my.cnf settings (the lab shrinks the buffer pool). */
  myCnfExtra?: Record<string, string>;
}

type Defaulted = "waitFor" | "secretEnv" | "files" | "blobs" | "texts";
/** A step as the plan writes it: the defaulted fields may be left out. */
type StepInput = Omit<HostStep, Defaulted> & Partial<Pick<HostStep, Defaulted>>;

export function buildPlan(cfg: ClusterConfig, opts: PlanOptions): HostStep[] {
  const steps: HostStep[] = [];
  const add = (s: StepInput): void => {
    steps.push({ waitFor: [], secretEnv: {}, files: {}, blobs: {}, texts: [], ...s });
  };
  const master = cfg.dbNodes[0];
  const paths = defaultDbPaths(cfg.dbFlavor, cfg.os);
  // ssh-keys.sh: who may log in here with which keys, and which peers this host connects to.
  const sshKeys = (loginUser: string, authorizedKeys: Value, peers: Value) => ({
    env: { LOGIN_USER: loginUser, AUTHORIZED_KEYS: authorizedKeys, PEERS: peers, PEER_USER: cfg.ha.sshUser, PEER_PORT: String(cfg.ha.sshPort), KEY_FILE: SSH_KEY_FILE },
    secretEnv: { PRIVATE_KEY: ref("secret:clusterPrivateKey") },
  });
  const peersOf = (node: DbNodeConfig): Value => ({ join: cfg.dbNodes.filter((n) => n !== node).map((n) => ref(`address:${n.name}`)), sep: " " });

  for (const node of cfg.dbNodes) {
    const pre = `db/${node.name}`;
    if (opts.binlogVolumes) {
      add({
        id: `${pre}/binlog-volume`,
        group: "db",
        host: node.name,
        script: "db-binlog-volume.sh",
        description: `format (if new) and mount the binlog volume on ${BINLOG_DIR}`,
        env: { VOLUME_ID: ref(`volume:${node.name}`), MOUNT_POINT: BINLOG_DIR },
        dependsOn: [],
        waitFor: [`volumeAttachment:${node.name}`],
      });
    }
    add({
      id: `${pre}/install`,
      group: "db",
      host: node.name,
      script: "db-install.sh",
      description: `install ${FLAVOR_PACKAGES[cfg.dbFlavor]}`,
      env: { DB_FLAVOR: cfg.dbFlavor },
      dependsOn: [],
    });
    add({
      id: `${pre}/ssh-keys`,
      group: "db",
      host: node.name,
      script: "ssh-keys.sh",
      description: "authorize the pandora_ha and cluster keys; install the cluster key for streaming",
      ...sshKeys(cfg.ha.sshUser, { join: [ref("publicKey:cluster")], sep: "\n" }, peersOf(node)),
      dependsOn: [`${pre}/install`],
    });
    add({
      id: `${pre}/configure`,
      group: "db",
      host: node.name,
      script: "db-configure.sh",
      description: `write ${myCnfPath(cfg.os)} (server_id ${node.serverId}) and start the server`,
      env: {
        DB_FLAVOR: cfg.dbFlavor,
        MYCNF_PATH: myCnfPath(cfg.os),
        DATADIR: paths.datadir,
        BINLOG_DIR: opts.binlogVolumes ? BINLOG_DIR : "",
      },
      texts: [{ label: `my.cnf (${myCnfPath(cfg.os)})`, text: renderNodeMyCnf(cfg, node, opts), param: "MYCNF_B64" }],
      dependsOn: [`${pre}/install`, ...(opts.binlogVolumes ? [`${pre}/binlog-volume`] : [])],
    });
    add({
      id: `${pre}/bootstrap`,
      group: "db",
      host: node.name,
      script: "db-bootstrap.sh",
      description: `root password, cluster accounts${node === master ? `, database ${cfg.dbName}, writable master` : ""}`,
      env: {
        DB_FLAVOR: cfg.dbFlavor,
        ROLE: node === master ? "master" : "replica",
        DB_NAME: cfg.dbName,
        REPL_USER: cfg.replUser,
        HA_DB_USER: cfg.haDbUser,
        PANDORA_DB_USER: cfg.pandoraDbUser,
        ACCOUNT_HOST: cfg.dbAccountHost,
        DB_PORT: String(cfg.dbPort),
        PEERS: peersOf(node),
        // Where its MySQL-family accounts are tried (a salted hash cannot say "unchanged").
        SELF_HOST: ref(`address:${node.name}`),
        // The replication account is a clone donor only when seeding by clone.
        SEED_METHOD: cfg.seedMethod,
      },
      secretEnv: {
        DB_ROOT_PASSWORD: ref("secret:dbRootPassword"),
        REPL_PASSWORD: ref("secret:replPassword"),
        HA_DB_PASSWORD: ref("secret:haDbPassword"),
        PANDORA_DB_PASSWORD: ref("secret:pandoraDbPassword"),
      },
      dependsOn: [`${pre}/configure`],
    });
    add({
      id: `${pre}/guard`,
      group: "db",
      host: node.name,
      script: "db-guard.sh",
      description: cfg.ha.guardTimeout
        ? `run pandora_ha_guard: this server stops itself when, as a strict master, it hears from fewer than half the other DB nodes and gets no lease for ${cfg.ha.guardTimeout} s`
        : "pandora_ha_guard off (ha.guardTimeout 0)",
      env: {
        GUARD_BIN: GUARD_PATHS.bin,
        GUARD_CONF: GUARD_PATHS.conf,
        UNIT_PATH: GUARD_PATHS.unit,
        PID_FILE: GUARD_PATHS.pidFile,
        LOG_FILE: GUARD_PATHS.logFile,
        PEERS: { join: cfg.dbNodes.filter((n) => n !== node).map((n) => ({ join: [ref(`address:${n.name}`), String(cfg.dbPort)], sep: ":" })), sep: " " },
        DB_FLAVOR: cfg.dbFlavor,
        FENCE_AFTER_MS: String(Math.round(cfg.ha.guardTimeout * 1000)),
      },
      files: { GUARD_B64: "pandora_ha_guard.sh" },
      texts: [{ label: `systemd unit (${GUARD_PATHS.unit})`, text: renderGuardUnit(), param: "UNIT_B64" }],
      // It reads the server's state as root (the root password of the bootstrap).
      dependsOn: [`${pre}/bootstrap`],
    });
  }

  // Every node's cluster address, as ha_hosts names them: the seed and the rolling restart ask
  // the cluster which one is the master (it moves with every failover or switchover).
  const dbHosts: Value = { join: cfg.dbNodes.map((n) => ref(`address:${n.name}`)), sep: " " };
  for (const replica of cfg.dbNodes.slice(1)) {
    add({
      id: `replication/${replica.name}/seed`,
      group: "replication",
      host: replica.name,
      script: "db-seed.sh",
      description: cfg.seedMethod === "clone"
        ? `clone the current master (at first ${master.name}) into ${replica.name} with the clone plugin and start replication`
        : `stream a ${cfg.seedMethod} backup of the current master (at first ${master.name}) into ${replica.name} and start replication`,
      env: {
        DB_FLAVOR: cfg.dbFlavor,
        SEED_METHOD: cfg.seedMethod,
        DB_HOSTS: dbHosts,
        SELF_HOST: ref(`address:${replica.name}`),
        DB_NAME: cfg.dbName,
        HA_DB_USER: cfg.haDbUser,
        MASTER_PORT: String(cfg.dbPort),
        MASTER_SSH_USER: cfg.ha.sshUser,
        MASTER_SSH_PORT: String(cfg.ha.sshPort),
        REPL_USER: cfg.replUser,
        DATADIR: paths.datadir,
        MYCNF_PATH: myCnfPath(cfg.os),
        KEY_FILE: SSH_KEY_FILE,
      },
      secretEnv: { REPL_PASSWORD: ref("secret:replPassword"), HA_DB_PASSWORD: ref("secret:haDbPassword") },
      // The master may be any node by now: after every node's accounts and keys.
      dependsOn: cfg.dbNodes.flatMap((n) => [`db/${n.name}/bootstrap`, `db/${n.name}/ssh-keys`]),
    });
  }

  // A rotated replPassword, on whichever nodes replicate now (the first one too, after a
  // failover): once every node's account has it, and after the seeds.
  const seeds = cfg.dbNodes.slice(1).map((n) => `replication/${n.name}/seed`);
  for (const node of cfg.dbNodes) {
    add({
      id: `db/${node.name}/repl-password`,
      group: "replication",
      host: node.name,
      script: "db-repl-password.sh",
      description: "a replica's stored source password follows a rotated replPassword (no reseed)",
      env: { DB_FLAVOR: cfg.dbFlavor, REPL_USER: cfg.replUser, DATADIR: paths.datadir, MYCNF_PATH: myCnfPath(cfg.os) },
      secretEnv: { REPL_PASSWORD: ref("secret:replPassword") },
      dependsOn: [...cfg.dbNodes.map((n) => `db/${n.name}/bootstrap`), ...seeds],
    });
  }

  const sharedEnv = sharedStorageEnv(cfg, opts);
  let previousDaemon: string | undefined;
  for (const server of cfg.servers) {
    const pre = `servers/${server.name}`;
    /** What pandora-conf writes into pandora_server.conf (and pandora-ha carries to notice a change). */
    const tokens = tokensValue(pandoraServerTokens(cfg, server));
    add({
      id: `${pre}/install`,
      group: "servers",
      host: server.name,
      script: "server-install.sh",
      description: "install the Pandora FMS server (with Tentacle) and the database client",
      env: {
        PANDORA_PACKAGES: cfg.pandoraServerPackages.join(" "),
        DB_FLAVOR: cfg.dbFlavor,
        NFS_CLIENT: cfg.sharedStorage === "nfs" || cfg.sharedStorage === "efs" ? "1" : "0",
      },
      dependsOn: [],
    });
    add({
      id: `${pre}/ssh-keys`,
      group: "servers",
      host: server.name,
      script: "ssh-keys.sh",
      description: "install the pandora_ha key so this host reaches every DB node",
      ...sshKeys("", "", { join: cfg.dbNodes.map((n) => ref(`address:${n.name}`)), sep: " " }),
      dependsOn: [`${pre}/install`],
    });
    if (sharedEnv) {
      add({
        id: `${pre}/shared-storage`,
        group: "servers",
        host: server.name,
        script: "server-shared-storage.sh",
        description: cfg.sharedStorage === "mounted"
          ? `bind-mount the shared data_in subdirectories from ${cfg.sharedPath} (mounted by the host)`
          : `mount the shared data_in subdirectories (${cfg.sharedStorage})`,
        env: sharedEnv,
        dependsOn: [`${pre}/install`],
        waitFor: cfg.sharedStorage === "efs" ? ["efs:mountTargets"] : [],
      });
    }
    add({
      id: `${pre}/tentacle`,
      group: "servers",
      host: server.name,
      script: "server-tentacle.sh",
      description: `configure the Tentacle server on port ${cfg.tentaclePort}`,
      env: { TENTACLE_CONF_PATH: PANDORA_PATHS.tentacleConf, TENTACLE_SERVICE: "tentacle_serverd" },
      secretEnv: {
        TENTACLE_CONF: {
          join: [renderTentacleConf({ port: cfg.tentaclePort }), "password ", ref("secret:tentaclePassword"), "\n"],
          sep: "",
        },
      },
      texts: [{ label: `${PANDORA_PATHS.tentacleConf} (and its password line, a secret)`, text: renderTentacleConf({ port: cfg.tentaclePort }) }],
      dependsOn: [`${pre}/install`, ...(sharedEnv ? [`${pre}/shared-storage`] : [])],
    });
    add({
      id: `${pre}/ha-tools`,
      group: "servers",
      host: server.name,
      script: "server-ha-tools.sh",
      description: `install the resync tool (${PANDORA_PATHS.resyncScript}) and what it runs on a replica`,
      env: {
        TOOLS_DIR,
        CLUSTER_ENV_PATH,
        DB_FLAVOR: cfg.dbFlavor,
        SEED_METHOD: cfg.seedMethod,
        MYCNF_PATH: myCnfPath(cfg.os),
        DATADIR: paths.datadir,
        NODE_KEY_FILE: SSH_KEY_FILE,
      },
      files: { RESYNC_SCRIPT_B64: "pandora_ha_resync_slave.sh", SEED_SCRIPT_B64: "db-seed.sh" },
      dependsOn: [`${pre}/install`],
    });
    add({
      id: `${pre}/pandora-conf`,
      group: "servers",
      host: server.name,
      script: "server-pandora-conf.sh",
      description: "set the HA tokens in pandora_server.conf, keeping every other line",
      env: { PANDORA_CONF: PANDORA_PATHS.serverConf },
      secretEnv: { PANDORA_TOKENS: tokens },
      dependsOn: [`${pre}/install`, `${pre}/ha-tools`],
    });
    add({
      id: `${pre}/pandora-ha`,
      group: "runtime",
      host: server.name,
      script: "server-pandora-ha.sh",
      description: `install and run the pandora_ha daemon (${PANDORA_PATHS.daemonBin}, Node >= ${NODE_MIN_MAJOR})`,
      env: {
        DAEMON_JS: PANDORA_PATHS.daemonBundle,
        DAEMON_RUNNER: PANDORA_PATHS.daemonRunner,
        DAEMON_BIN: PANDORA_PATHS.daemonBin,
        UNIT_PATH: PANDORA_PATHS.daemonUnit,
        PANDORA_CONF: PANDORA_PATHS.serverConf,
        PID_FILE: PANDORA_PATHS.haPidFile,
        STATE_DIR: PANDORA_PATHS.haStateDir,
        NODE_MIN_MAJOR: String(NODE_MIN_MAJOR),
        NODE_DIR: PANDORA_PATHS.nodeDir,
        NODE_DIST_URL,
      },
      // Not used by the script: a change of the tokens re-runs this step, which restarts the
      // daemon (it reads pandora_server.conf only when it starts).
      secretEnv: { PANDORA_TOKENS: tokens },
      blobs: { DAEMON_JS_GZ_B64: { content: () => buildDaemonBundle().js } },
      texts: [{ label: `systemd unit (${PANDORA_PATHS.daemonUnit})`, text: renderPandoraHaUnit({ conf: PANDORA_PATHS.serverConf, pidFile: PANDORA_PATHS.haPidFile }), param: "UNIT_B64" }],
      // On aws the instances go with the stack (and one already gone would block the destroy).
      ...(cfg.platform === "existing" ? { deleteCommand: daemonStopCommand(PANDORA_PATHS.daemonUnit, PANDORA_PATHS.haPidFile) } : {}),
      // Last on its host (Tentacle, shared data_in, keys and tokens in place), and only once
      // the cluster is up: a daemon started while a replica is still being seeded would see a
      // broken replica and act on it. After the previous server's daemon: a new bundle
      // restarts the daemons (and, as they stop, their pandora_server) one host at a time.
      dependsOn: [
        ...steps.filter((s) => s.host === server.name).map((s) => s.id),
        ...steps.filter((s) => s.group === "replication" || (s.group === "db" && s.id.endsWith("/bootstrap"))).map((s) => s.id),
        ...(previousDaemon ? [previousDaemon] : []),
      ],
    });
    previousDaemon = `${pre}/pandora-ha`;
  }
  addRollingRestarts(cfg, opts, steps, add, dbHosts);

  validatePlan(steps);
  return steps;
}

/**
 * The parameters of servers/<s>/shared-storage, or undefined when the servers get no such step
 * (none; efs/nfs without a source). nfs/efs: the source is mounted on SHARED_MOUNT_ROOT;
 * mounted: the host mounts the share itself on sharedPath, which is the root of the shared tree.
 */
function sharedStorageEnv(cfg: ClusterConfig, opts: PlanOptions): Record<string, Value> | undefined {
  let share: Record<string, Value>;
  if (cfg.sharedStorage === "mounted") share = { SHARED_KIND: "mounted", MOUNT_ROOT: cfg.sharedPath! };
  else if (cfg.sharedStorage !== "none" && opts.sharedSource !== undefined)
    share = { SHARED_KIND: "nfs", SHARED_SOURCE: opts.sharedSource, MOUNT_ROOT: SHARED_MOUNT_ROOT };
  else return undefined;
  return {
    ...share,
    INCOMING_DIR: PANDORA_PATHS.incomingDir,
    SUBDIRS: SHARED_DATA_IN_SUBDIRS.join(" "),
    ATTACHMENT_DIR: PANDORA_PATHS.attachmentDir,
  };
}

/**
 * servers/<s>/rolling-restart, one per server host, one after another: the DB nodes whose my.cnf
 * changed while they served (db-configure leaves them a restart pending, it never restarts a
 * node in service) are restarted one at a time, the replicas first, the master last after a
 * planned switchover through that host's pandora_ha. After everything else: every node
 * configured, bootstrapped and seeded, every daemon (re)started. Each node's my.cnf hash is on
 * the command line, so a changed my.cnf re-runs the step under Pulumi.
 */
function addRollingRestarts(cfg: ClusterConfig, opts: PlanOptions, steps: HostStep[], add: (s: StepInput) => void, dbHosts: Value): void {
  const before = steps
    .filter((s) => s.group === "replication" || s.group === "runtime" || /^db\/[^/]+\/(configure|bootstrap)$/.test(s.id))
    .map((s) => s.id);
  const cnfSha = cfg.dbNodes.map((n) => `${n.name}:${bundleHash(renderNodeMyCnf(cfg, n, opts))}`).join(" ");
  let previous: string | undefined;
  cfg.servers.forEach((server, i) => {
    const id = `servers/${server.name}/rolling-restart`;
    add({
      id,
      group: "rollout",
      host: server.name,
      script: "server-rolling-restart.sh",
      description: "restart the DB nodes whose my.cnf changed, one at a time: the replicas first, the master last after a switchover through pandora_ha",
      env: {
        DB_HOSTS: dbHosts,
        DB_PORT: String(cfg.dbPort),
        DB_NAME: cfg.dbName,
        HA_DB_USER: cfg.haDbUser,
        SSH_USER: cfg.ha.sshUser,
        SSH_PORT: String(cfg.ha.sshPort),
        KEY_FILE: SSH_KEY_FILE,
        DB_FLAVOR: cfg.dbFlavor,
        MYCNF_PATH: myCnfPath(cfg.os),
        PANDORA_CONF: PANDORA_PATHS.serverConf,
        LAST: i === cfg.servers.length - 1 ? "1" : "0",
        MYCNF_SHA: cnfSha,
      },
      secretEnv: { HA_DB_PASSWORD: ref("secret:haDbPassword") },
      files: { RESTART_SCRIPT_B64: "db-restart.sh" },
      dependsOn: [...before, ...(previous ? [previous] : [])],
    });
    previous = id;
  });
}

function renderNodeMyCnf(cfg: ClusterConfig, node: DbNodeConfig, opts: PlanOptions): string {
  return renderMyCnf({
    flavor: cfg.dbFlavor,
    seedMethod: cfg.seedMethod,
    os: cfg.os,
    serverId: node.serverId,
    reportHost: node.name,
    port: cfg.dbPort,
    dbName: cfg.dbName,
    innodbBufferPoolSize: cfg.innodbBufferPoolSize,
    semiSync: cfg.ha.semiSync,
    semiSyncTimeoutMs: cfg.ha.semiSyncTimeoutMs,
    binlogDir: opts.binlogVolumes ? BINLOG_DIR : undefined,
    paths: node.bindAddress ? { bindAddress: node.bindAddress } : undefined,
    extra: opts.myCnfExtra,
  });
}

/** `token value` lines, one per token, as one value (secret: it holds passwords). */
function tokensValue(tokens: Array<[string, TokenValue]>): Value {
  const parts: Value[] = [];
  for (const [k, v] of tokens) parts.push(`${k} `, v, "\n");
  return { join: parts, sep: "" };
}

/** Every dependency names an earlier step, ids are unique, and the graph has no cycle. */
export function validatePlan(steps: HostStep[]): void {
  const seen = new Set<string>();
  for (const s of steps) {
    if (seen.has(s.id)) throw new Error(`plan: duplicate step id ${s.id}`);
    for (const d of s.dependsOn) if (!seen.has(d)) throw new Error(`plan: step ${s.id} depends on ${d}, which is not an earlier step`);
    seen.add(s.id);
  }
}

/** All `ref` names a value mentions. */
export function refsOf(v: Value): string[] {
  if (typeof v === "string") return [];
  if ("ref" in v) return [v.ref];
  return v.join.flatMap(refsOf);
}

/** Resolves a value with a synchronous resolver (the lab). */
export function resolveValue(v: Value, resolve: (ref: string) => string): string {
  if (typeof v === "string") return v;
  if ("ref" in v) return resolve(v.ref);
  return v.join.map((x) => resolveValue(x, resolve)).join(v.sep);
}

// ---------------------------------------------------------------------------------------------
// Invocation: how a step runs on its host. Shared by Pulumi and the lab so both run the same
// bytes. The command line carries the non-secret parameters; stdin carries the secret ones
// followed by the script itself. The host writes stdin to a 0600 temporary file, runs it with
// stdin from /dev/null, and removes it.

export const SCRIPTS_DIR = path.join(__dirname, "..", "scripts");

/** A script body (named `name`) with scripts/lib/common.sh inlined in front of it. */
export function withCommon(name: string, body: string, dir = SCRIPTS_DIR): string {
  const common = readFileSync(path.join(dir, "lib", "common.sh"), "utf8");
  return `${common}\n# ---- ${name}\n${body}`;
}

/** The script file with scripts/lib/common.sh inlined in front of it. */
export function scriptBundle(script: string, dir = SCRIPTS_DIR): string {
  return withCommon(script, readFileSync(path.join(dir, script), "utf8"), dir);
}

/**
 * Everything a step's host runs, after the secret parameters: the step's blobs (gzip +
 * base64, as `NAME=...` lines, not exported), its files (base64 of their bundles, as
 * `export NAME=...` lines) and the step's script with common.sh inlined.
 */
export function stepBundle(step: HostStep, dir = SCRIPTS_DIR): string {
  return `${stepBlobLines(step)}${textLines(step)}${scriptsPart(step, dir)}`;
}

/** The texts that are parameters, as exported base64 values (on stdin, ahead of the scripts). */
function textLines(step: HostStep): string {
  return step.texts
    .filter((t) => t.param)
    .map((t) => {
      if (!ENV_NAME_RE.test(t.param!)) throw new Error(`step ${step.id}: bad text parameter ${t.param}`);
      return `export ${t.param}='${b64(t.text)}'\n`;
    })
    .join("");
}

function scriptsPart(step: HostStep, dir: string): string {
  const files = Object.entries(step.files).map(([k, f]) => `export ${k}='${b64(scriptBundle(f, dir))}'\n`);
  return `${files.join("")}${scriptBundle(step.script, dir)}`;
}

function stepBlobLines(step: HostStep): string {
  return Object.entries(step.blobs)
    .map(([k, blob]) => {
      if (!ENV_NAME_RE.test(k)) throw new Error(`step ${step.id}: bad blob name ${k}`);
      return `${k}='${gzipSync(blob.content(), { level: 9 }).toString("base64")}'\n`;
    })
    .join("");
}

/**
 * What re-runs a step when it changes: the hash of its scripts (and files), and the hash of
 * each blob's content (not of its compressed form, which may differ between zlib builds).
 * For a step without blobs: `[bundleHash(stepBundle(step))]`.
 */
export function stepTriggers(step: HostStep, dir = SCRIPTS_DIR): string[] {
  const blobs = Object.values(step.blobs);
  const texts = step.texts.map((t) => `${t.label}\n${t.text}`);
  if (blobs.length === 0) return [bundleHash(stepBundle(step, dir)), ...texts];
  return [bundleHash(`${textLines(step)}${scriptsPart(step, dir)}`), ...blobs.map((b) => bundleHash(b.content())), ...texts];
}

/** POSIX single-quote quoting. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME_RE = /^[A-Z][A-Z0-9_]*$/;

/**
 * The command line for a step: non-secret parameters only.
 * @param sudo prefix with `sudo -n` (the login user is not root)
 */
export function renderCommand(step: HostStep, env: Record<string, string>, sudo: boolean): string {
  for (const k of Object.keys(env)) if (!ENV_NAME_RE.test(k)) throw new Error(`step ${step.id}: bad parameter name ${k}`);
  const assigns = [`PHA_STEP=${shQuote(step.id)}`, ...Object.entries(env).map(([k, v]) => `${k}=${shQuote(v)}`)];
  const runner =
    'f=$(mktemp /tmp/pandora-ha.XXXXXX) && cat >"$f" && { bash "$f" </dev/null; rc=$?; rm -f "$f"; exit $rc; }';
  return `${sudo ? "sudo -n " : ""}env ${assigns.join(" ")} bash -c ${shQuote(runner)}`;
}

/** What the step's command reads on stdin: the secret parameters, then the script bundle. */
export function renderStdin(step: HostStep, secretEnv: Record<string, string>, bundle: string): string {
  for (const k of Object.keys(secretEnv)) if (!ENV_NAME_RE.test(k)) throw new Error(`step ${step.id}: bad parameter name ${k}`);
  const exports = Object.entries(secretEnv).map(([k, v]) => `export ${k}=${shQuote(v)}`);
  return `${exports.join("\n")}${exports.length ? "\n" : ""}${bundle}`;
}

/** A short hash of a step's script bundle, so a script change re-runs the step. */
export function bundleHash(bundle: string | Buffer): string {
  return createHash("sha256").update(bundle).digest("hex").slice(0, 16);
}

/** Human-readable order of the plan (for docs and the lab's progress). */
export function describePlan(steps: HostStep[]): string {
  return steps.map((s) => `${s.id}  ${s.description}${s.dependsOn.length ? `  (after ${s.dependsOn.join(", ")})` : ""}`).join("\n");
}
