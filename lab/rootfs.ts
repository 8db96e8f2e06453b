/**
 * The MySQL family's operating system for the lab's DB hosts: a Debian `sid` root filesystem
 * holding Debian's own `mysql-server` (9.7, the LTS after 8.4, which speaks 8.4's replication
 * SQL). Debian 12 ships only MariaDB and Percona's packages are out of reach here
 * (../shared/reference/mysql-lab-notes.md). Built once, outside the lab's state directory (so
 * `down` keeps it), by debootstrap and then apt-get inside it; a DB host of `--flavor mysql`
 * runs its sshd, the host steps and mysqld with this tree as its root.
 *
 * sid moves: the build checks the server's version and fails loudly when it is not the family
 * the lab was measured on (MYSQL_EXPECTED), naming what it found.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { run } from "./proc";

export const ROOTFS_DIR = process.env.PANDORA_HA_ROOTFS_DIR ?? "/var/cache/pandora-ha-rootfs/sid-mysql";
/** What the lab is measured on: Debian sid's MySQL 9.7 (9.7.4 on 2026-11). */
export const MYSQL_EXPECTED = /^9\.7\.\d+/;
/** What a DB host needs besides the server: sshd and the tools the host steps call. */
const PACKAGES = ["mysql-server", "mysql-client", "openssh-server", "openssh-client", "rsync", "zstd", "iproute2", "procps", "util-linux", "ca-certificates"];
const MARKER = ".pandora-ha-rootfs";

/** The archive this machine's apt already uses (its deb822 or one-line sources). */
function debianMirror(): string {
  for (const f of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    if (!existsSync(f)) continue;
    const t = readFileSync(f, "utf8");
    const m = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(t) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m.exec(t);
    if (m) return m[1];
  }
  return "http://deb.debian.org/debian";
}

async function step(what: string, cmd: string, args: string[], timeoutMs: number, log: (l: string) => void): Promise<string> {
  log(`rootfs: ${what}`);
  const r = await run(cmd, args, { timeoutMs });
  if (r.code !== 0) throw new Error(`building the MySQL root filesystem: ${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split("\n").slice(-15).join("\n")}`);
  return r.stdout;
}

/** Unmounts every mount point at or below `dir` (deepest first); fails loudly if one stays. */
async function unmountUnder(dir: string): Promise<void> {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    const r = await run("umount", ["-l", p], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`${p} is still mounted (left by an earlier build): ${r.stderr.trim()}; unmount it by hand`);
  }
}

/** The version the rootfs's mysqld reports, e.g. "9.7.4-2". */
export async function rootfsMysqlVersion(dir = ROOTFS_DIR): Promise<string> {
  const r = await run("chroot", [dir, "dpkg-query", "-W", "-f", "${Version}", "mysql-server-core"], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${dir}: no mysql-server-core package: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Builds ROOTFS_DIR unless a complete one is there; returns the server's package version. */
export async function ensureMysqlRootfs(log: (l: string) => void = () => undefined): Promise<string> {
  if (existsSync(path.join(ROOTFS_DIR, MARKER))) return checkedVersion(await rootfsMysqlVersion());
  const tmp = `${ROOTFS_DIR}.partial`;
  // A partial tree is the lab's own unfinished build (nothing else writes there). A killed
  // debootstrap leaves its /proc and /sys mounted in it: unmounted first, never walked into.
  await unmountUnder(tmp);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.dirname(ROOTFS_DIR), { recursive: true });
  const mirror = debianMirror();
  await step(`debootstrap sid from ${mirror}`, "debootstrap", ["--variant=minbase", "sid", tmp, mirror], 15 * 60_000, log);
  // The mirror's sid Release can be past Valid-Until; the package must not start a server.
  writeFileSync(path.join(tmp, "etc/apt/apt.conf.d/99pandora-ha-lab"), 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n');
  writeFileSync(path.join(tmp, "usr/sbin/policy-rc.d"), "#!/bin/sh\n# pandora-ha lab: packages never start services here.\nexit 101\n", { mode: 0o755 });
  const inside = [
    "set -e",
    `mount -t proc proc ${tmp}/proc`,
    `chroot ${tmp} apt-get update -qq`,
    `DEBIAN_FRONTEND=noninteractive chroot ${tmp} apt-get install -y -qq ${PACKAGES.join(" ")}`,
  ].join("\n");
  // In a mount namespace of its own: /proc is gone with it, whatever happens.
  await step(`apt-get install ${PACKAGES.join(" ")}`, "unshare", ["--mount", "--propagation", "private", "sh", "-c", inside], 20 * 60_000, log);
  // The package's postinst moves its server to 3307 when it finds 3306 taken on the build
  // machine (99-port-backoff.cnf): the tree must not depend on what ran there.
  rmSync(path.join(tmp, "etc/mysql/mysql.conf.d/99-port-backoff.cnf"), { force: true });
  const version = checkedVersion(await rootfsMysqlVersion(tmp));
  writeFileSync(path.join(tmp, MARKER), `mysql-server-core ${version}\n`);
  renameSync(tmp, ROOTFS_DIR);
  log(`rootfs: ${ROOTFS_DIR} with MySQL ${version}`);
  return version;
}

function checkedVersion(v: string): string {
  if (!MYSQL_EXPECTED.test(v))
    throw new Error(
      `${ROOTFS_DIR}: Debian sid's mysql-server is ${v}, not the ${MYSQL_EXPECTED.source} the lab is measured on; ` +
        `check the MySQL paths against it and update MYSQL_EXPECTED in lab/rootfs.ts (remove the directory to rebuild)`,
    );
  return v;
}

if (require.main === module) {
  ensureMysqlRootfs((l) => process.stdout.write(`${l}\n`)).then(
    (v) => process.stdout.write(`MySQL ${v}\n`),
    (e: Error) => {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    },
  );
}
