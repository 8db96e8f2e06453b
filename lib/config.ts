/**
 * Stack configuration: parsing and validation in one place.
 *
 * `parseConfig` is pure: it takes every `pandora-ha:*` key of the stack as the raw string
 * Pulumi stores (structured values are JSON) and returns a fully defaulted, validated
 * `ClusterConfig`, or throws one `ConfigError` that lists every problem, each naming the key
 * and what was expected. It runs before any resource is registered, so a bad stack never
 * changes anything.
 *
 * Secret values (passwords, the SSH private key) are wrapped in `SecretValue`, which never
 * prints its content; `index.ts` turns them into Pulumi secrets.
 */

export const NAMESPACE = "pandora-ha";

export const PLATFORMS = ["aws", "existing"] as const;
export const OSES = ["rocky8", "rocky9", "ubuntu2204", "ubuntu2404"] as const;
/**
 * percona84: Percona Server 8.4 LTS (percona-release ps-84-lts, xtrabackup 8.4), the default;
 * percona80: Percona Server 8.0 (existing installs); mysql: the OS's own MySQL server packages,
 * 8.0.30 or later (8.0 on Ubuntu and Rocky, 8.4/9.x elsewhere); mariadb1011: MariaDB 10.11.
 */
export const DB_FLAVORS = ["percona84", "percona80", "mysql", "mariadb1011"] as const;
/** How a new replica gets its copy of the master: the MySQL clone plugin or a streamed backup. */
export const SEED_METHODS = ["clone", "xtrabackup", "mariabackup"] as const;
export const SHARED_STORAGES = ["efs", "nfs", "mounted", "none"] as const;
export const SECRET_KEYS = [
  "dbRootPassword",
  "replPassword",
  "haDbPassword",
  "pandoraDbPassword",
  "tentaclePassword",
] as const;

export type Platform = (typeof PLATFORMS)[number];
export type OsName = (typeof OSES)[number];
export type DbFlavor = (typeof DB_FLAVORS)[number];
export type SeedMethod = (typeof SEED_METHODS)[number];
export type SharedStorage = (typeof SHARED_STORAGES)[number];
export type PasswordName = (typeof SECRET_KEYS)[number];

/** A secret read from the stack; it cannot leak through string conversion or JSON. */
export class SecretValue {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return "[secret]";
  }
  toJSON(): string {
    return "[secret]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[secret]";
  }
}

export interface DbNodeConfig {
  name: string;
  /** Where Pulumi connects over SSH (existing platform); undefined on aws until created. */
  host?: string;
  /** Address other cluster members and pandora_ha use; defaults to host. */
  address?: string;
  serverId: number;
  label: string;
  /** The server's bind-address (default 0.0.0.0); the lab binds each node to its own address. */
  bindAddress?: string;
}

export interface ServerConfig {
  name: string;
  host?: string;
  address?: string;
  /** pandora_server.conf `master` token, 0..7. */
  master: number;
  /** The address pandora_ha's connections leave from (`ha_bind_address`); default: the OS picks. */
  bindAddress?: string;
}

export interface SshConfig {
  user: string;
  port: number;
  privateKey?: SecretValue;
}

export interface HaConfig {
  connectRetries: number;
  /** Seconds between connection attempts (decimals allowed). */
  connectDelay: number;
  splitbrainAutofix: boolean;
  semiSync: boolean;
  /** Milliseconds a commit waits for a replica's ack before semi-sync falls back to async. */
  semiSyncTimeoutMs: number;
  sshUser: string;
  sshPort: number;
  /** pandora_ha: seconds between probes of every DB node (decimals allowed). */
  probeInterval: number;
  /** pandora_ha: seconds a probe may take before the node counts as not answering. */
  probeTimeout: number;
  /** pandora_ha: automatic failovers allowed within failoverWindow (0: never automatic). */
  failoverBudget: number;
  /** pandora_ha: the window (whole seconds) failoverBudget counts over. */
  failoverWindow: number;
  /**
   * Seconds a strict master cut off from every other DB node waits before its guard stops it
   * (pandora_ha_guard on every DB host; 0: no guard). pandora_ha waits for it before promoting.
   */
  guardTimeout: number;
}

export interface AwsConfig {
  dbInstanceType: string;
  serverInstanceType: string;
  rootVolumeSize: number;
  binlogVolumeSize: number;
  vpcId?: string;
  subnetIds?: string[];
  vpcCidr: string;
}

export interface ClusterConfig {
  platform: Platform;
  os: OsName;
  dbFlavor: DbFlavor;
  /** How replicas are seeded (replication/<r>/seed, the resync tool). */
  seedMethod: SeedMethod;
  dbNodes: DbNodeConfig[];
  servers: ServerConfig[];
  ssh: SshConfig;
  sharedStorage: SharedStorage;
  nfsExport?: string;
  /** sharedStorage mounted: where every server host already mounts the shared filesystem. */
  sharedPath?: string;
  tentacleLoadBalancer: boolean;
  tentacleLoadBalancerInternal: boolean;
  tentaclePort: number;
  adminCidrs: string[];
  /** undefined: the CIDR of the given VPC (vpcId), looked up when the program runs. */
  agentCidrs?: string[];
  aws: AwsConfig;
  ha: HaConfig;
  dbName: string;
  dbPort: number;
  replUser: string;
  haDbUser: string;
  pandoraDbUser: string;
  /** MySQL account host part for the cluster's TCP accounts (e.g. '10.42.0.0/255.255.0.0'). */
  dbAccountHost: string;
  innodbBufferPoolSize: string;
  /** Pandora FMS server packages (URLs or paths) installed on server hosts that lack it. */
  pandoraServerPackages: string[];
  passwords: Partial<Record<PasswordName, SecretValue>>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

const KNOWN_KEYS = [
  "platform",
  "os",
  "dbFlavor",
  "seedMethod",
  "dbNodes",
  "servers",
  "ssh",
  "sharedStorage",
  "nfsExport",
  "sharedPath",
  "tentacleLoadBalancer",
  "tentacleLoadBalancerInternal",
  "tentaclePort",
  "adminCidrs",
  "agentCidrs",
  "dbInstanceType",
  "serverInstanceType",
  "rootVolumeSize",
  "binlogVolumeSize",
  "vpcId",
  "subnetIds",
  "vpcCidr",
  "ha",
  "dbName",
  "dbPort",
  "replUser",
  "haDbUser",
  "pandoraDbUser",
  "dbAccountHost",
  "innodbBufferPoolSize",
  "pandoraServerPackages",
  ...SECRET_KEYS,
] as const;

const NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;
const HOST_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const SQL_IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
const UNIX_USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Strict IPv4 dotted quad. */
export function isIpv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** Parses an IPv4 CIDR; returns undefined when malformed or when host bits are set. */
export function parseCidr(s: string): { base: number; bits: number } | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m || !isIpv4(m[1])) return undefined;
  const bits = Number(m[2]);
  if (bits > 32) return undefined;
  const base = m[1].split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  if ((base & ~mask) >>> 0 !== 0) return undefined;
  return { base, bits };
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** MySQL account host for a CIDR: '10.42.0.0/255.255.0.0' (understood by MySQL and MariaDB). */
export function cidrToAccountHost(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`not a CIDR: ${cidr}`);
  if (c.bits === 0) return "%";
  const mask = (0xffffffff << (32 - c.bits)) >>> 0;
  return `${intToIp(c.base)}/${intToIp(mask)}`;
}

function isHostOrIp(s: string): boolean {
  // All-numeric dotted names are addresses, and must be valid ones (10.0.0.300 is a typo).
  if (/^[0-9.]+$/.test(s)) return isIpv4(s);
  return HOST_RE.test(s);
}

type Raw = Record<string, string | undefined>;

/** Collects problems; every helper names the full key. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly raw: Raw) {}

  key(k: string): string {
    return `${NAMESPACE}:${k}`;
  }

  problem(k: string, msg: string): void {
    this.problems.push(`${this.key(k)}: ${msg}`);
  }

  has(k: string): boolean {
    return this.raw[k] !== undefined;
  }

  str(k: string): string | undefined {
    const v = this.raw[k];
    if (v === undefined) return undefined;
    if (v.trim() === "") {
      this.problem(k, "expected a non-empty value, got an empty string");
      return undefined;
    }
    return v.trim();
  }

  enumOf<T extends string>(k: string, allowed: readonly T[], def: T): T {
    const v = this.str(k);
    if (v === undefined) return def;
    if (!(allowed as readonly string[]).includes(v)) {
      this.problem(k, `expected one of ${allowed.join(", ")}, got '${v}'`);
      return def;
    }
    return v as T;
  }

  bool(k: string, def: boolean): boolean {
    const v = this.str(k);
    if (v === undefined) return def;
    if (v === "true") return true;
    if (v === "false") return false;
    this.problem(k, `expected true or false, got '${v}'`);
    return def;
  }

  int(k: string, def: number, min: number, max: number): number {
    const v = this.str(k);
    if (v === undefined) return def;
    if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      this.problem(k, `expected a whole number from ${min} to ${max}, got '${v}'`);
      return def;
    }
    return Number(v);
  }

  json(k: string): unknown {
    const v = this.str(k);
    if (v === undefined) return undefined;
    try {
      return JSON.parse(v);
    } catch {
      this.problem(k, `expected a structured value (YAML list/object in the stack file), got '${v}'`);
      return undefined;
    }
  }

  stringList(k: string): string[] | undefined {
    const raw = this.raw[k];
    if (raw === undefined) return undefined;
    // Accept a YAML list (stored as JSON) or a comma-separated string.
    let list: unknown;
    if (raw.trim().startsWith("[")) list = this.json(k);
    else list = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (!Array.isArray(list) || !list.every((x) => typeof x === "string")) {
      this.problem(k, "expected a list of strings");
      return undefined;
    }
    return list as string[];
  }
}

function objectField(
  r: Reader,
  key: string,
  obj: Record<string, unknown>,
  field: string,
  kind: "string" | "number" | "decimal" | "boolean",
): unknown {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  // Pulumi stores nested scalars as given; accept numeric/boolean strings too.
  if (kind === "decimal") {
    if (typeof v === "number" && Number.isFinite(v)) return v;
    if (typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim())) return Number(v);
    r.problem(`${key}.${field}`, `expected a number (decimals allowed), got ${JSON.stringify(v)}`);
    return undefined;
  }
  if (kind === "number") {
    if (typeof v === "number" && Number.isInteger(v)) return v;
    if (typeof v === "string" && /^-?\d+$/.test(v)) return Number(v);
    r.problem(`${key}.${field}`, `expected a whole number, got ${JSON.stringify(v)}`);
    return undefined;
  }
  if (kind === "boolean") {
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    r.problem(`${key}.${field}`, `expected true or false, got ${JSON.stringify(v)}`);
    return undefined;
  }
  if (typeof v !== "string" || v.trim() === "") {
    r.problem(`${key}.${field}`, `expected a non-empty string, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v.trim();
}

function checkUnknownFields(r: Reader, key: string, obj: Record<string, unknown>, allowed: string[]): void {
  for (const f of Object.keys(obj)) {
    if (!allowed.includes(f)) r.problem(`${key}.${f}`, `unknown field; expected one of ${allowed.join(", ")}`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function closest(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  return candidates.find((c) => c.toLowerCase() === lower);
}

/**
 * A key that belongs to one sharedStorage value (nfsExport to nfs, sharedPath to mounted):
 * required with that value and matching `re` (described by `what`), refused with any other.
 */
function storageKey(r: Reader, key: string, owner: SharedStorage, sharedStorage: SharedStorage, re: RegExp, what: string): string | undefined {
  const v = r.str(key);
  if (sharedStorage === owner) {
    if (v === undefined) r.problem(key, `required when sharedStorage is ${owner}: ${what}`);
    else if (!re.test(v)) r.problem(key, `expected ${what}, got '${v}'`);
  } else if (v !== undefined) {
    r.problem(key, `only used when sharedStorage is ${owner} (sharedStorage is ${sharedStorage})`);
  }
  return v;
}

/** name, host and address of one dbNodes[i] or servers[i] entry; names are unique across both lists. */
function hostFields(
  r: Reader,
  key: string,
  obj: Record<string, unknown>,
  usedNames: Map<string, string>,
  onAws: boolean,
  duplicateNote: string,
): { name?: string; host?: string; address?: string } {
  const name = objectField(r, key, obj, "name", "string") as string | undefined;
  if (name === undefined) r.problem(`${key}.name`, "required");
  else if (!NAME_RE.test(name))
    r.problem(`${key}.name`, `expected a lowercase host name (a-z, 0-9, '-', starting with a letter), got '${name}'`);
  else if (usedNames.has(name)) r.problem(`${key}.name`, `'${name}' is already used by ${usedNames.get(name)}${duplicateNote}`);
  else usedNames.set(name, key);
  const host = objectField(r, key, obj, "host", "string") as string | undefined;
  if (host !== undefined && !isHostOrIp(host)) r.problem(`${key}.host`, `expected an IPv4 address or DNS name, got '${host}'`);
  if (host === undefined && !onAws) r.problem(`${key}.host`, "required on platform existing");
  if (host !== undefined && onAws) r.problem(`${key}.host`, "not allowed on platform aws (the program creates the instance)");
  const address = objectField(r, key, obj, "address", "string") as string | undefined;
  if (address !== undefined && !isHostOrIp(address))
    r.problem(`${key}.address`, `expected an IPv4 address or DNS name, got '${address}'`);
  return { name, host, address };
}

/** The keys whose values the program keeps secret: the passwords, and `ssh` (its privateKey). */
const SECRET_CAPABLE = new Set<string>([...SECRET_KEYS, "ssh"]);

/**
 * Parses and validates the stack configuration.
 * @param all every config key of the stack, as Pulumi stores it (`pandora-ha:key` → string),
 *            secrets already decrypted. Keys of other namespaces (e.g. `aws:region`) are ignored.
 * @param secretKeys the keys (`pandora-ha:key`) the user set with `--secret`: one the program
 *            would write in plain text (a command line, a host's file, an output) is refused.
 */
export function parseConfig(all: Record<string, string>, secretKeys: string[] = []): ClusterConfig {
  const raw: Raw = {};
  const problems: string[] = [];
  for (const [full, value] of Object.entries(all)) {
    if (!full.startsWith(`${NAMESPACE}:`)) continue;
    const k = full.slice(NAMESPACE.length + 1);
    if (!(KNOWN_KEYS as readonly string[]).includes(k)) {
      const hint = closest(k, KNOWN_KEYS);
      problems.push(`${full}: unknown key${hint ? ` (did you mean ${NAMESPACE}:${hint}?)` : ""}`);
      continue;
    }
    if (secretKeys.includes(full) && !SECRET_CAPABLE.has(k))
      problems.push(`${full}: set as a secret, but it is not one to pandora-ha: its value goes in plain text into host command lines, files and outputs; set it again without --secret`);
    raw[k] = value;
  }
  const r = new Reader(raw);
  r.problems.push(...problems);

  const platform = r.enumOf("platform", PLATFORMS, "aws");
  const os = r.enumOf("os", OSES, "rocky9");
  const flavorProblems = r.problems.length;
  const dbFlavor = r.enumOf("dbFlavor", DB_FLAVORS, "percona84");
  const seedMethod = r.enumOf("seedMethod", SEED_METHODS, defaultSeedMethod(dbFlavor));
  // Checked against the flavor only when that is a known one (else its own problem says enough).
  const seedProblem = r.problems.length === flavorProblems ? seedMethodProblem(dbFlavor, seedMethod) : undefined;
  if (seedProblem) r.problem("seedMethod", seedProblem);
  const sharedStorage = r.enumOf("sharedStorage", SHARED_STORAGES, platform === "aws" ? "efs" : "none");
  const onAws = platform === "aws";

  // --- ssh
  const ssh: SshConfig = { user: defaultSshUser(platform, os), port: 22 };
  const sshRaw = r.json("ssh");
  if (sshRaw !== undefined) {
    if (!isPlainObject(sshRaw)) r.problem("ssh", "expected an object { user, port, privateKey }");
    else {
      checkUnknownFields(r, "ssh", sshRaw, ["user", "port", "privateKey"]);
      const user = objectField(r, "ssh", sshRaw, "user", "string") as string | undefined;
      if (user !== undefined) {
        if (!UNIX_USER_RE.test(user)) r.problem("ssh.user", `expected a Unix user name, got '${user}'`);
        ssh.user = user;
      }
      const port = objectField(r, "ssh", sshRaw, "port", "number") as number | undefined;
      if (port !== undefined) {
        if (port < 1 || port > 65535) r.problem("ssh.port", `expected a port from 1 to 65535, got ${port}`);
        ssh.port = port;
      }
      const pk = objectField(r, "ssh", sshRaw, "privateKey", "string") as string | undefined;
      if (pk !== undefined) {
        if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pk))
          r.problem("ssh.privateKey", "expected a PEM/OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)");
        ssh.privateKey = new SecretValue(pk.endsWith("\n") ? pk : `${pk}\n`);
      }
    }
  }
  if (platform === "existing" && !ssh.privateKey)
    r.problem("ssh.privateKey", "required on platform existing (pulumi config set --secret --path 'pandora-ha:ssh.privateKey' < key)");
  if (onAws && ssh.privateKey)
    r.problem("ssh.privateKey", "not used on platform aws: the program generates the key pair; remove it");
  // The official images log in as their own user on port 22; the program changes neither.
  if (onAws && ssh.user !== defaultSshUser(platform, os))
    r.problem("ssh.user", `the ${os} image on aws logs in as '${defaultSshUser(platform, os)}' only; remove ssh.user`);
  if (onAws && ssh.port !== 22) r.problem("ssh.port", "the official images on aws listen on port 22 only; remove ssh.port");

  // --- DB nodes
  const usedNames = new Map<string, string>();
  const dbNodes: DbNodeConfig[] = [];
  const dbRaw = r.json("dbNodes");
  if (dbRaw === undefined) {
    if (!onAws) r.problem("dbNodes", "required on platform existing: a list of { name, host } (at least 2)");
    else dbNodes.push(...[1, 2].map((i) => ({ name: `db${i}`, serverId: i, label: `db${i}` })));
  } else if (!Array.isArray(dbRaw)) {
    r.problem("dbNodes", "expected a list of { name, host?, address?, serverId?, label? }");
  } else {
    if (dbRaw.length < 2) r.problem("dbNodes", `expected at least 2 database nodes, got ${dbRaw.length}`);
    if (dbRaw.length > 9) r.problem("dbNodes", `expected at most 9 database nodes, got ${dbRaw.length}`);
    const ids = new Map<number, string>();
    dbRaw.forEach((n, i) => {
      const key = `dbNodes[${i}]`;
      if (!isPlainObject(n)) return r.problem(key, "expected an object { name, host?, address?, serverId?, label?, bindAddress? }");
      checkUnknownFields(r, key, n, ["name", "host", "address", "serverId", "label", "bindAddress"]);
      const { name, host, address } = hostFields(r, key, n, usedNames, onAws, "");
      const sid = objectField(r, key, n, "serverId", "number") as number | undefined;
      if (sid !== undefined && (sid < 1 || sid > 4294967295))
        r.problem(`${key}.serverId`, `expected a whole number from 1 to 4294967295, got ${sid}`);
      else if (sid !== undefined && ids.has(sid))
        r.problem(`${key}.serverId`, `${sid} is already used by ${ids.get(sid)}; server_id must be unique`);
      else if (sid !== undefined) ids.set(sid, key);
      const label = objectField(r, key, n, "label", "string") as string | undefined;
      const bindAddress = objectField(r, key, n, "bindAddress", "string") as string | undefined;
      if (bindAddress !== undefined && !isIpv4(bindAddress))
        r.problem(`${key}.bindAddress`, `expected an IPv4 address the node has (or 0.0.0.0), got '${bindAddress}'`);
      dbNodes.push({
        name: name ?? `db${i + 1}`,
        host,
        address: address ?? host,
        serverId: sid ?? 0,
        label: label ?? name ?? `db${i + 1}`,
        ...(bindAddress !== undefined ? { bindAddress } : {}),
      });
    });
    // Two nodes on one host would share its port and datadir.
    if (!onAws) {
      const hosts = new Map<string, number>();
      dbNodes.forEach((n, i) => {
        const h = n.host?.toLowerCase();
        if (h === undefined) return;
        if (hosts.has(h)) r.problem(`dbNodes[${i}].host`, `'${n.host}' is already the host of dbNodes[${hosts.get(h)}]; each database node needs a host of its own`);
        else hosts.set(h, i);
      });
    }
    // Assign 1..N to nodes without a serverId, skipping ids already taken.
    let next = 1;
    for (const n of dbNodes) {
      if (n.serverId !== 0) continue;
      while (ids.has(next)) next++;
      n.serverId = next;
      ids.set(next, n.name);
    }
  }

  // --- servers
  const servers: ServerConfig[] = [];
  const srvRaw = r.json("servers");
  if (srvRaw === undefined) {
    if (!onAws) r.problem("servers", "required on platform existing: a list of { name, host, master? }");
    else servers.push({ name: "pfms1", master: 1 }, { name: "pfms2", master: 1 });
  } else if (!Array.isArray(srvRaw)) {
    r.problem("servers", "expected a list of { name, host?, address?, master?, bindAddress? }");
  } else {
    if (srvRaw.length < 1) r.problem("servers", "expected at least 1 Pandora server host");
    if (srvRaw.length > 8) r.problem("servers", `expected at most 8 Pandora server hosts, got ${srvRaw.length}`);
    srvRaw.forEach((s, i) => {
      const key = `servers[${i}]`;
      if (!isPlainObject(s)) return r.problem(key, "expected an object { name, host?, address?, master?, bindAddress? }");
      checkUnknownFields(r, key, s, ["name", "host", "address", "master", "bindAddress"]);
      const { name, host, address } = hostFields(r, key, s, usedNames, onAws, "; servernames must be distinct");
      const master = objectField(r, key, s, "master", "number") as number | undefined;
      if (master !== undefined && (master < 0 || master > 7))
        r.problem(`${key}.master`, `expected a whole number from 0 to 7, got ${master}`);
      const bindAddress = objectField(r, key, s, "bindAddress", "string") as string | undefined;
      if (bindAddress !== undefined && !isIpv4(bindAddress))
        r.problem(`${key}.bindAddress`, `expected an IPv4 address of this host (pandora_ha's connections leave from it), got '${bindAddress}'`);
      servers.push({
        name: name ?? `pfms${i + 1}`,
        host,
        address: address ?? host,
        master: master ?? 1,
        ...(bindAddress !== undefined ? { bindAddress } : {}),
      });
    });
  }

  // --- storage, load balancer
  const nfsExport = storageKey(r, "nfsExport", "nfs", sharedStorage, /^[A-Za-z0-9.-]+:\/[^\s]*$/, "an NFS export 'server:/path'");
  // As the host script accepts a path (require_abs_path): it goes into /etc/fstab bind lines.
  const sharedPath = storageKey(r, "sharedPath", "mounted", sharedStorage, /^(?!.*(^|\/)\.\.?(\/|$))\/[A-Za-z0-9._/@+-]*[A-Za-z0-9._@+-]$/,
    "the absolute path where every server host mounts the shared filesystem, such as /mnt/cephfs/pandora (no spaces, no . or .. parts, not / nor ending in /)");
  if (sharedStorage === "efs" && !onAws) r.problem("sharedStorage", "efs needs platform aws; use nfs, mounted or none on platform existing");
  const tentacleLoadBalancer = r.bool("tentacleLoadBalancer", false);
  if (tentacleLoadBalancer && !onAws)
    r.problem("tentacleLoadBalancer", "an NLB needs platform aws; on platform existing put your own balancer in front");
  const tentacleLoadBalancerInternal = r.bool("tentacleLoadBalancerInternal", true);
  const tentaclePort = r.int("tentaclePort", 41121, 1, 65535);

  // --- CIDRs
  const vpcCidr = r.str("vpcCidr") ?? "10.42.0.0/16";
  if (!parseCidr(vpcCidr)) r.problem("vpcCidr", `expected an IPv4 CIDR such as 10.42.0.0/16, got '${vpcCidr}'`);
  else if (parseCidr(vpcCidr)!.bits > 24 || parseCidr(vpcCidr)!.bits < 16)
    r.problem("vpcCidr", `expected a prefix length from /16 to /24 (room for two subnets), got '${vpcCidr}'`);
  const cidrList = (k: string): string[] => {
    const list = r.stringList(k) ?? [];
    const seen = new Set<string>();
    for (const c of list) {
      if (!parseCidr(c)) r.problem(k, `expected IPv4 CIDRs such as 203.0.113.4/32, got '${c}'`);
      else if (seen.has(c)) r.problem(k, `'${c}' is listed twice`);
      seen.add(c);
    }
    return list;
  };
  const adminCidrs = cidrList("adminCidrs");
  for (const c of adminCidrs) {
    if (parseCidr(c)?.bits === 0)
      r.problem("adminCidrs", `'${c}' would open SSH (22) to the whole internet; list your admin networks instead`);
  }
  if (onAws && adminCidrs.length === 0 && !r.has("adminCidrs"))
    r.problem("adminCidrs", "required on platform aws: the CIDRs Pulumi and your admins connect from, e.g. [\"203.0.113.4/32\"]");
  // Not set: the VPC's own CIDR (the one created, or the given vpcId's, looked up at deploy time).
  const agentCidrs = r.has("agentCidrs") ? cidrList("agentCidrs") : r.has("vpcId") ? undefined : [vpcCidr];
  if (r.has("agentCidrs") && agentCidrs?.length === 0)
    r.problem("agentCidrs", "expected at least one CIDR the Pandora agents send from");

  // --- aws sizing
  const instanceType = (k: string, def: string): string => {
    const v = r.str(k) ?? def;
    if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(v)) r.problem(k, `expected an EC2 instance type such as m6i.large, got '${v}'`);
    else if (isArmInstanceType(v)) r.problem(k, `'${v}' is an arm64 (Graviton) type; the program's images are x86_64: use an x86_64 type such as m6i.large`);
    return v;
  };
  const aws: AwsConfig = {
    dbInstanceType: instanceType("dbInstanceType", "m6i.large"),
    serverInstanceType: instanceType("serverInstanceType", "m6i.large"),
    rootVolumeSize: r.int("rootVolumeSize", 30, 10, 16384),
    binlogVolumeSize: r.int("binlogVolumeSize", 50, 1, 16384),
    vpcCidr,
  };
  const vpcId = r.str("vpcId");
  if (vpcId !== undefined && !/^vpc-[0-9a-f]{8,17}$/.test(vpcId)) r.problem("vpcId", `expected a VPC id such as vpc-0abc12345def67890, got '${vpcId}'`);
  const subnetIds = r.stringList("subnetIds");
  if (subnetIds) {
    for (const s of subnetIds) if (!/^subnet-[0-9a-f]{8,17}$/.test(s)) r.problem("subnetIds", `expected subnet ids such as subnet-0abc1234, got '${s}'`);
    if (subnetIds.length < 2) r.problem("subnetIds", "expected at least 2 subnets in two availability zones");
    if (!vpcId) r.problem("vpcId", "required when subnetIds is set (the VPC the subnets belong to)");
  } else if (vpcId) r.problem("subnetIds", "required when vpcId is set: at least 2 subnets in two availability zones");
  if (!onAws) {
    for (const k of ["vpcId", "subnetIds", "dbInstanceType", "serverInstanceType", "rootVolumeSize", "binlogVolumeSize"])
      if (r.has(k)) r.problem(k, "only used on platform aws");
  }
  aws.vpcId = vpcId;
  aws.subnetIds = subnetIds;

  // --- ha
  const ha: HaConfig = {
    connectRetries: 2,
    connectDelay: 0.5,
    splitbrainAutofix: false,
    semiSync: true,
    semiSyncTimeoutMs: 5000,
    sshUser: "root",
    sshPort: ssh.port,
    probeInterval: 0.5,
    probeTimeout: 1,
    failoverBudget: 1,
    failoverWindow: 3600,
    guardTimeout: 4,
  };
  const haRaw = r.json("ha");
  if (haRaw !== undefined) {
    if (!isPlainObject(haRaw)) r.problem("ha", "expected an object { connectRetries, connectDelay, splitbrainAutofix, semiSync, sshUser, probeInterval, ... }");
    else {
      const fields = [
        "connectRetries",
        "connectDelay",
        "splitbrainAutofix",
        "semiSync",
        "semiSyncTimeoutMs",
        "sshUser",
        "sshPort",
        "probeInterval",
        "probeTimeout",
        "failoverBudget",
        "failoverWindow",
        "guardTimeout",
      ];
      checkUnknownFields(r, "ha", haRaw, fields);
      const num = (f: string, min: number, max: number): number | undefined => {
        const v = objectField(r, "ha", haRaw, f, "number") as number | undefined;
        if (v !== undefined && (v < min || v > max)) {
          r.problem(`ha.${f}`, `expected a whole number from ${min} to ${max}, got ${v}`);
          return undefined;
        }
        return v;
      };
      const dec = (f: string, min: number, max: number): number | undefined => {
        const v = objectField(r, "ha", haRaw, f, "decimal") as number | undefined;
        if (v !== undefined && (v < min || v > max)) {
          r.problem(`ha.${f}`, `expected a number of seconds from ${min} to ${max} (decimals allowed), got ${v}`);
          return undefined;
        }
        return v;
      };
      ha.connectRetries = num("connectRetries", 1, 10) ?? ha.connectRetries;
      ha.connectDelay = dec("connectDelay", 0, 60) ?? ha.connectDelay;
      ha.probeInterval = dec("probeInterval", 0.05, 60) ?? ha.probeInterval;
      ha.probeTimeout = dec("probeTimeout", 0.1, 60) ?? ha.probeTimeout;
      ha.failoverBudget = num("failoverBudget", 0, 100) ?? ha.failoverBudget;
      ha.failoverWindow = num("failoverWindow", 1, 604800) ?? ha.failoverWindow;
      ha.semiSyncTimeoutMs = num("semiSyncTimeoutMs", 100, 3600000) ?? ha.semiSyncTimeoutMs;
      const gt = dec("guardTimeout", 0, 60);
      if (gt !== undefined && gt !== 0 && gt < 1) r.problem("ha.guardTimeout", `expected 0 (no guard) or a number of seconds from 1 to 60, got ${gt}`);
      else ha.guardTimeout = gt ?? ha.guardTimeout;
      ha.sshPort = num("sshPort", 1, 65535) ?? ha.sshPort;
      ha.splitbrainAutofix = (objectField(r, "ha", haRaw, "splitbrainAutofix", "boolean") as boolean | undefined) ?? false;
      ha.semiSync = (objectField(r, "ha", haRaw, "semiSync", "boolean") as boolean | undefined) ?? true;
      const su = objectField(r, "ha", haRaw, "sshUser", "string") as string | undefined;
      if (su !== undefined && !UNIX_USER_RE.test(su)) r.problem("ha.sshUser", `expected a Unix user name, got '${su}'`);
      ha.sshUser = su ?? ha.sshUser;
    }
  }

  // --- database names and accounts
  const ident = (k: string, def: string): string => {
    const v = r.str(k) ?? def;
    if (!SQL_IDENT_RE.test(v)) r.problem(k, `expected a plain SQL name (letters, digits, '_', at most 32), got '${v}'`);
    return v;
  };
  const dbName = ident("dbName", "pandora");
  const replUser = ident("replUser", "slaveuser");
  const haDbUser = ident("haDbUser", "pandora_ha");
  const pandoraDbUser = ident("pandoraDbUser", "pandora");
  const accountUsers = new Map<string, string>();
  for (const [k, v] of [["replUser", replUser], ["haDbUser", haDbUser], ["pandoraDbUser", pandoraDbUser]]) {
    if (accountUsers.has(v)) r.problem(k, `'${v}' is already used by ${r.key(accountUsers.get(v)!)}; each account must be distinct`);
    else accountUsers.set(v, k);
    if (v === "root") r.problem(k, "expected an account other than root (root stays local to each node)");
  }
  const dbPort = r.int("dbPort", 3306, 1, 65535);
  if (dbPort === ssh.port || dbPort === ha.sshPort) r.problem("dbPort", `${dbPort} is the SSH port (${dbPort === ssh.port ? "ssh.port" : "ha.sshPort"}); the database needs a port of its own`);
  else if (dbPort === tentaclePort) r.problem("dbPort", `${dbPort} is Tentacle's port (tentaclePort); the database needs a port of its own`);
  let dbAccountHost = r.str("dbAccountHost");
  if (dbAccountHost !== undefined && !/^[A-Za-z0-9.%_/:-]+$/.test(dbAccountHost))
    r.problem("dbAccountHost", `expected a MySQL host pattern such as 10.0.0.% or 10.0.0.0/255.255.0.0, got '${dbAccountHost}'`);
  if (dbAccountHost === undefined) dbAccountHost = onAws && parseCidr(vpcCidr) && !vpcId ? cidrToAccountHost(vpcCidr) : "%";
  const innodbBufferPoolSize = r.str("innodbBufferPoolSize") ?? "4096M";
  if (!/^\d+[KMG]?$/.test(innodbBufferPoolSize))
    r.problem("innodbBufferPoolSize", `expected a size such as 4096M or 8G, got '${innodbBufferPoolSize}'`);

  const pandoraServerPackages = r.stringList("pandoraServerPackages") ?? [];
  for (const p of pandoraServerPackages) {
    if (!/^(https?:\/\/\S+|\/\S+)\.(rpm|deb)$/.test(p))
      r.problem("pandoraServerPackages", `expected URLs or absolute paths of .rpm/.deb packages, got '${p}'`);
    else if (os.startsWith("rocky") !== p.endsWith(".rpm"))
      r.problem("pandoraServerPackages", `'${p}' is not a ${os.startsWith("rocky") ? ".rpm" : ".deb"} package for os ${os}`);
  }
  if (onAws && pandoraServerPackages.length === 0 && !r.has("pandoraServerPackages"))
    r.problem(
      "pandoraServerPackages",
      "required on platform aws (new instances have no Pandora FMS): the URLs of the pandorafms_server package and its dependencies for this os",
    );

  // --- passwords
  const passwords: Partial<Record<PasswordName, SecretValue>> = {};
  for (const k of SECRET_KEYS) {
    const v = raw[k];
    if (v === undefined) continue;
    if (v.length < 12) r.problem(k, "expected a password of at least 12 characters (leave it unset to have one generated)");
    else if (/['"\\\s`$]/.test(v)) r.problem(k, "expected no quotes, backslashes, '$', '`' or whitespace (leave it unset to have one generated)");
    // MySQL keeps a replica's source password in a 32-character field (ERROR 3056 beyond it).
    else if (k === "replPassword" && mysqlFamily(dbFlavor) && v.length > 32) r.problem(k, `expected at most 32 characters (a replica keeps its source's password in a 32-character field; got ${v.length})`);
    else passwords[k] = new SecretValue(v);
  }

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return {
    platform,
    os,
    dbFlavor,
    seedMethod,
    dbNodes,
    servers,
    ssh,
    sharedStorage,
    nfsExport,
    sharedPath,
    tentacleLoadBalancer,
    tentacleLoadBalancerInternal,
    tentaclePort,
    adminCidrs,
    agentCidrs,
    aws,
    ha,
    dbName,
    dbPort,
    replUser,
    haDbUser,
    pandoraDbUser,
    dbAccountHost,
    innodbBufferPoolSize,
    pandoraServerPackages,
    passwords,
  };
}

const MYSQL_FAMILY: readonly DbFlavor[] = ["percona84", "percona80", "mysql"];

/**
 * MySQL (Oracle's or Percona's server) rather than MariaDB: MySQL 8's replication SQL and option
 * names, GTIDs with gtid_mode, super_read_only, the clone plugin.
 */
export function mysqlFamily(flavor: DbFlavor): boolean {
  return MYSQL_FAMILY.includes(flavor);
}

/** seedMethod when the stack does not set it: the clone plugin for MySQL (no SSH between DB nodes), else mariabackup. */
export function defaultSeedMethod(flavor: DbFlavor): SeedMethod {
  // percona80 keeps what its existing installs were seeded with (and their my.cnf unchanged).
  if (flavor === "percona80") return "xtrabackup";
  return mysqlFamily(flavor) ? "clone" : "mariabackup";
}

/** Why `method` cannot seed a `flavor` node, or undefined when it can. */
function seedMethodProblem(flavor: DbFlavor, method: SeedMethod): string | undefined {
  if (!mysqlFamily(flavor) && method !== "mariabackup")
    return `${method} cannot copy MariaDB (${method === "clone" ? "MariaDB has no clone plugin" : "xtrabackup does not support MariaDB 10.11"}); with dbFlavor ${flavor} use mariabackup`;
  if (mysqlFamily(flavor) && method === "mariabackup")
    return `mariabackup only copies MariaDB; with dbFlavor ${flavor} use ${flavor === "mysql" ? "clone" : "clone or xtrabackup"}`;
  if (flavor === "mysql" && method === "xtrabackup")
    return "xtrabackup is not packaged with dbFlavor mysql (the OS's own MySQL server); use clone";
  return undefined;
}

/**
 * An arm64 (Graviton) EC2 type: the a1 family, or a family whose generation digit is followed by
 * 'g' (m6g, c7gn, t4g, r8gd, x2gd, im4gn, is4gen, g5g).
 */
export function isArmInstanceType(type: string): boolean {
  const family = type.split(".")[0];
  return family === "a1" || /^[a-z]+\d+g/.test(family);
}

/** The login user of the official images for each OS (aws); root for existing hosts. */
export function defaultSshUser(platform: Platform, os: OsName): string {
  if (platform === "existing") return "root";
  return os.startsWith("rocky") ? "rocky" : "ubuntu";
}

/** rhel-like (dnf) or debian-like (apt). */
export function osFamily(os: OsName): "rhel" | "debian" {
  return os.startsWith("rocky") ? "rhel" : "debian";
}
