/**
 * Where the lab keeps everything, and which hosts it has. One state directory holds every
 * host's private /etc, /root, /run, /tmp, /var/log, datadir and its mount namespace; `down`
 * removes it.
 */
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
}

export const SERVER_HOST: LabHost = { name: "pfms1", address: "127.0.1.100", kind: "server" };

export function dbHost(n: number): LabHost {
  return { name: `node${n}`, address: `127.0.1.${n}`, kind: "db", uid: 3300 + n };
}

export function labHosts(nodes: number): LabHost[] {
  return [...Array.from({ length: nodes }, (_, i) => dbHost(i + 1)), SERVER_HOST];
}

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
  nsFile: (h: string) => path.join(LAB_DIR, "ns", h),
  /** A path inside a host, as seen from outside (for the host's private mounts). */
  inHost: (h: string, p: string) => {
    for (const [inside, dir] of HOST_MOUNTS) {
      if (p === inside || p.startsWith(`${inside}/`)) return path.join(LAB_DIR, "hosts", h, dir, p.slice(inside.length));
    }
    throw new Error(`${p} is not on a private mount of lab host ${h}`);
  },
};

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
];
export const OVERLAYS = new Set(["/etc", "/usr/bin", "/usr/share"]);
/** Machine directories bound back into the host's private /var/lib. */
export const SHARED_VAR_LIB = ["dpkg", "apt"];

/** Lab state saved by `up`. */
export interface LabState {
  nodes: number;
  sshPort: number;
  hosts: LabHost[];
  createdAt: string;
}
