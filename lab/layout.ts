/**
 * Where the lab keeps everything, and which hosts it has. One state directory holds every
 * host's private /etc, /root, /run, /tmp, /var/log, datadir and its mount namespace; `down`
 * removes it.
 */
import { readFileSync, readlinkSync, statSync } from "node:fs";
import * as path from "node:path";

export const LAB_DIR = process.env.PANDORA_HA_LAB_DIR ?? "/var/lib/pandora-ha-lab";
// `down` removes LAB_DIR recursively: only ever a directory of the lab's own.
if (!path.isAbsolute(LAB_DIR) || !/lab/.test(path.basename(LAB_DIR)))
  throw new Error(`PANDORA_HA_LAB_DIR must be an absolute path whose last component contains "lab" (got '${LAB_DIR}')`);

export type HostKind = "db" | "server";

export interface LabHost {
  name: string;
  address: string;
  kind: HostKind;
  /** uid/gid of the host's own `mysql` user (DB hosts): partitions match on it. */
  uid?: number;
  /**
   * The root filesystem the host runs on when it is not the machine's own: a DB host of the
   * MySQL lab runs Debian sid's (lab/rootfs.ts), chrooted inside its namespace.
   */
  rootfs?: string;
}

/** The lab's database families: MariaDB 10.11 (the machine's own packages) or MySQL (sid's). */
export const LAB_FLAVORS = ["mariadb1011", "mysql"] as const;
export type LabFlavor = (typeof LAB_FLAVORS)[number];
/** Names the family a new lab gets when `up` is not told (the tests and benches of a CI run on MySQL). */
export const LAB_FLAVOR_ENV = "PANDORA_HA_LAB_FLAVOR";

/** The family `flavor` (or $PANDORA_HA_LAB_FLAVOR, else MariaDB), checked. */
export function labFlavor(flavor = process.env[LAB_FLAVOR_ENV] || "mariadb1011"): LabFlavor {
  if (!(LAB_FLAVORS as readonly string[]).includes(flavor)) throw new Error(`lab flavor '${flavor}': expected one of ${LAB_FLAVORS.join(", ")} (--flavor, or ${LAB_FLAVOR_ENV})`);
  return flavor as LabFlavor;
}

/** What a lab of `flavor` runs: the client on its DB hosts, the server's version, SQL that differs. */
export function labFamily(flavor: LabFlavor | undefined): { mysql: boolean; client: string; version: RegExp; readOnlyAgain: string } {
  const mysql = flavor === "mysql";
  return {
    mysql,
    client: mysql ? "mysql" : "mariadb",
    version: mysql ? /^9\.7\.\d+/ : /^10\.11\.\d+$/,
    // On MySQL read_only=OFF lifts super_read_only too; a replica has both (pandora_ha's fence).
    readOnlyAgain: mysql ? "SET GLOBAL read_only=ON; SET GLOBAL super_read_only=ON" : "SET GLOBAL read_only=ON",
  };
}

/** The Pandora server hosts of the production layout: pfms1 = 127.0.1.100, pfms2 = 127.0.1.101. */
export const DEFAULT_SERVERS = 2;
export const MAX_SERVERS = 2;

export function serverLabHost(n: number): LabHost {
  return { name: `pfms${n}`, address: `127.0.1.${99 + n}`, kind: "server" };
}

export function dbHost(n: number, rootfs?: string): LabHost {
  return { name: `node${n}`, address: `127.0.1.${n}`, kind: "db", uid: 3300 + n, ...(rootfs === undefined ? {} : { rootfs }) };
}

export function labHosts(nodes: number, servers: number, dbRootfs?: string): LabHost[] {
  return [...Array.from({ length: nodes }, (_, i) => dbHost(i + 1, dbRootfs)), ...Array.from({ length: servers }, (_, i) => serverLabHost(i + 1))];
}

/**
 * The shared filesystem of the server hosts (standing in for NFS/EFS, which this kernel lacks):
 * one directory of the lab's, bind-mounted into every server host at the stack's `sharedPath`
 * (a mount point there, as a real shared mount is: `sharedStorage: mounted`).
 */
export const SHARED_DIR = path.join(LAB_DIR, "shared");

export const paths = {
  state: path.join(LAB_DIR, "lab.json"),
  secrets: path.join(LAB_DIR, "secrets.json"),
  /** A client option file (0600) with the lab's HA admin account: `mariadb --defaults-extra-file=…`. */
  adminCnf: path.join(LAB_DIR, "admin.cnf"),
  adminKey: path.join(LAB_DIR, "id_lab"),
  knownHosts: path.join(LAB_DIR, "known_hosts"),
  nsDir: path.join(LAB_DIR, "ns"),
  logs: path.join(LAB_DIR, "logs"),
  stepsRan: path.join(LAB_DIR, "steps-ran.json"),
  hostDir: (h: string) => path.join(LAB_DIR, "hosts", h),
  /** Where a host on a root filesystem of its own has it mounted, inside its namespace. */
  hostRoot: (h: string) => path.join(LAB_DIR, "hosts", h, "fs"),
  nsFile: (h: string) => path.join(LAB_DIR, "ns", h),
  /**
   * A path inside a host (on one of its private mounts), as seen from outside. While the host
   * runs, through its sshd's /proc/PID/root: the path resolves in the host's own mount namespace,
   * so what is mounted over a directory there (the shared data_in subdirectories) is what is
   * read. Otherwise the directory under hosts/<name>/ that backs it. (An absolute symlink met on
   * the way resolves against the machine's root, not the host's: /etc/mysql/my.cnf →
   * /etc/alternatives/… would be the machine's. Read such files by their target.)
   */
  inHost: (h: string, p: string) => {
    const mount = HOST_MOUNTS.find(([inside]) => p === inside || p.startsWith(`${inside}/`));
    if (!mount) throw new Error(`${p} is not on a private mount of lab host ${h}`);
    const pid = hostSshdPid(h);
    return pid === undefined ? path.join(LAB_DIR, "hosts", h, mount[1], p.slice(mount[0].length)) : `/proc/${pid}/root${p}`;
  },
};

/** The pid of the host's sshd while it runs: a process in the host's mount namespace, never another one with a reused pid. */
export function hostSshdPid(h: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(LAB_DIR, "hosts", h, "run", "sshd.pid"), "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return readlinkSync(`/proc/${pid}/ns/mnt`) === `mnt:[${statSync(paths.nsFile(h)).ino}]` ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The host's private directories: path inside the host → directory under hosts/<name>/.
 * /etc, /usr/bin and /usr/share are overlays (the machine's below, the host's changes in the
 * directory: the tools and the daemon the steps install stay in the host);
 * the others are bind mounts. /var/lib is private as a whole, so /var/lib/mysql is a plain
 * directory as on a real host (seeding moves a datadir aside, which a mount point cannot be);
 * the machine's /var/lib/dpkg and /var/lib/apt are bound back into it for the package checks.
 */
export const HOST_MOUNTS: Array<[inside: string, dir: string]> = [
  ["/etc", "etc-upper"],
  ["/usr/bin", "usr-bin-upper"],
  ["/usr/share", "usr-share-upper"],
  ["/root", "root"],
  ["/run", "run"],
  ["/tmp", "tmp"],
  ["/var/log", "log"],
  ["/var/lib", "var-lib"],
  ["/var/spool", "spool"],
  ["/mnt", "mnt"],
  ["/var/www", "www"],
];
export const OVERLAYS = new Set(["/etc", "/usr/bin", "/usr/share"]);
/** Machine directories bound back into the host's private /var/lib. */
export const SHARED_VAR_LIB = ["dpkg", "apt"];

/** Lab state saved by `up`. */
export interface LabState {
  nodes: number;
  /** The database family (absent in a lab made before there were two: MariaDB). */
  flavor?: LabFlavor;
  /** Pandora server hosts (pfms1, pfms2), each with pandora_ha, a data server and Tentacle. */
  servers: number;
  /**
   * Mount points the lab made on the machine because they were missing (e.g. /var/www on a
   * machine without a web server): empty directories, removed again by `down`.
   */
  madeDirs?: string[];
  sshPort: number;
  hosts: LabHost[];
  createdAt: string;
}
