/**
 * Lab hosts: each one a persistent mount namespace in which /etc, /usr/bin and /usr/share are
 * overlays of the machine's and /root, /run, /tmp, /var/log, /var/lib, /var/spool, /var/www and
 * /mnt are private directories, with its own sshd on its loopback address; a server host also
 * has the lab's shared directory mounted at the stack's sharedPath. A DB
 * host's `mysql` user has a uid of its own, so firewall rules can tell its replication
 * traffic apart; every host's ssh client binds to the host's address.
 *
 * A host given a root filesystem of its own (`rootfs`: the MySQL lab's DB hosts run Debian sid,
 * lab/rootfs.ts) has it as a per-host overlay inside its namespace, with the same private
 * directories mounted into it, /dev, /proc and /sys bound in, and everything the lab runs there
 * (sshd first, so every SSH session) chrooted into it.
 */
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, lchownSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { SHARED_DATA_IN_SUBDIRS } from "../lib/render/pandora";
import { buildDataServer } from "./dataserver/bundle";
import type { LabHost } from "./layout";
import { HOST_MOUNTS, OVERLAYS, SHARED_DIR, SHARED_VAR_LIB, hostSshdPid, paths } from "./layout";
import { run, runOk, sleep } from "./proc";

const STUBS = path.join(__dirname, "stubs");
const FIXTURE_CONF = path.join(__dirname, "..", "test", "fixtures", "pandora_server.conf");
/**
 * A server host's `pandora` user and group (the Pandora FMS server package creates them;
 * Tentacle runs as that user). One uid for every server host, unused on the machine.
 */
export const LAB_PANDORA_UID = 3400;

/** The directory holding the ns files must be a private mount for `unshare --mount=FILE`. */
export async function ensureNsDir(): Promise<void> {
  mkdirSync(paths.nsDir, { recursive: true });
  if ((await run("mountpoint", ["-q", paths.nsDir])).code !== 0) {
    await runOk("mount", ["--bind", paths.nsDir, paths.nsDir]);
  }
  await runOk("mount", ["--make-private", paths.nsDir]);
}

/** Is FILE a mounted namespace (the host exists)? */
async function nsMounted(h: string): Promise<boolean> {
  return existsSync(paths.nsFile(h)) && (await run("mountpoint", ["-q", paths.nsFile(h)])).code === 0;
}

/** The inode of the host's mount namespace, as /proc/PID/ns/mnt names it: `mnt:[N]`. */
function nsId(h: string): string | undefined {
  try {
    return `mnt:[${statSync(paths.nsFile(h)).ino}]`;
  } catch {
    return undefined;
  }
}

/** PIDs of every process living in the host's namespace: all of them were started by the lab. */
export function hostPids(h: string): number[] {
  const id = nsId(h);
  if (!id || id === `mnt:[${statSync("/proc/self/ns/mnt").ino}]`) return [];
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/mnt`) === id) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Does the host run on a root filesystem of its own (its overlay's upper directory exists)? */
function ownRoot(h: string): boolean {
  return existsSync(`${paths.hostRoot(h)}-upper`);
}

/** Runs a command inside the host (its mounts, the machine's network and PIDs; its own root, if it has one). */
export function inHost(h: string, cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}) {
  const chroot = ownRoot(h) ? ["chroot", paths.hostRoot(h)] : [];
  return run("nsenter", [`--mount=${paths.nsFile(h)}`, "--", ...chroot, cmd, ...args], opts);
}

function sshdConfig(host: LabHost, port: number): string {
  return [
    `# pandora-ha lab host ${host.name}: its own sshd on ${host.address}:${port}.`,
    "Include /etc/ssh/sshd_config.d/*.conf",
    `ListenAddress ${host.address}:${port}`,
    "HostKey /etc/ssh/ssh_host_ed25519_key",
    "PidFile /run/sshd.pid",
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "X11Forwarding no",
    "PrintMotd no",
    "MaxStartups 100:30:200",
    "MaxSessions 50",
    "Subsystem sftp /usr/lib/openssh/sftp-server",
    "",
  ].join("\n");
}

/** The host's operating system: the machine's, or its own root filesystem. */
function base(host: LabHost, p: string): string {
  return host.rootfs === undefined ? p : path.join(host.rootfs, p);
}

/** /etc/passwd and /etc/group with the `mysql` user and group moved to the host's own uid. */
function withOwnMysqlUser(file: string, uid: number, field: "passwd" | "group"): string {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => {
      if (!l.startsWith("mysql:")) return l;
      const f = l.split(":");
      if (field === "passwd") {
        f[2] = String(uid);
        f[3] = String(uid);
      } else f[2] = String(uid);
      return f.join(":");
    })
    .join("\n");
}

/** /etc/passwd and /etc/group with a `pandora` user and group added (kept when already there). */
function withPandoraUser(file: string, field: "passwd" | "group"): string {
  const text = readFileSync(file, "utf8");
  if (text.split("\n").some((l) => l.startsWith("pandora:"))) return text;
  const line =
    field === "passwd"
      ? `pandora:x:${LAB_PANDORA_UID}:${LAB_PANDORA_UID}:Pandora FMS (pandora-ha lab):/home/pandora:/bin/false`
      : `pandora:x:${LAB_PANDORA_UID}:`;
  return `${text.replace(/\n*$/, "\n")}${line}\n`;
}

/** The private directories bound in before /var/lib, which covers the lab's own directory. */
const BOUND_FIRST = HOST_MOUNTS.filter(([inside]) => !OVERLAYS.has(inside) && inside !== "/var/lib");

/**
 * Creates the host's directories, namespace, mounts and sshd. A server host given `sharedPath`
 * gets the lab's shared directory (SHARED_DIR) bind-mounted there: the shared filesystem the
 * host mounts itself (`sharedStorage: mounted`).
 */
export async function createHost(host: LabHost, sshPort: number, adminPublicKey: string, sharedPath?: string): Promise<void> {
  // On a private bind mount (its mount point is made in the host, not on the machine), not
  // /var/lib (mounted last: it covers the lab's own directory, the share's source).
  if (sharedPath !== undefined && (host.kind !== "server" || !BOUND_FIRST.some(([inside]) => sharedPath.startsWith(`${inside}/`))))
    throw new Error(
      `lab host ${host.name}: sharedPath ${sharedPath}: the lab mounts a share on server hosts only, under one of ${BOUND_FIRST.map(([i]) => i).join(", ")}`,
    );
  const dir = paths.hostDir(host.name);
  const d = (...p: string[]) => path.join(dir, ...p);
  for (const [, sub] of HOST_MOUNTS) mkdirSync(d(sub), { recursive: true });
  for (const p of OVERLAYS) mkdirSync(d(HOST_MOUNTS.find(([inside]) => inside === p)![1].replace(/-upper$/, "-work")), { recursive: true });
  chmodSync(d("root"), 0o700);
  chmodSync(d("tmp"), 0o1777);
  mkdirSync(d("run", "sshd"), { recursive: true, mode: 0o755 });

  // /etc: the host's own passwd/group (DB hosts), sshd, client binding, init scripts.
  const etc = d("etc-upper");
  if (host.uid !== undefined) {
    writeFileSync(path.join(etc, "passwd"), withOwnMysqlUser(base(host, "/etc/passwd"), host.uid, "passwd"));
    writeFileSync(path.join(etc, "group"), withOwnMysqlUser(base(host, "/etc/group"), host.uid, "group"));
  } else if (host.kind === "server") {
    writeFileSync(path.join(etc, "passwd"), withPandoraUser("/etc/passwd", "passwd"));
    writeFileSync(path.join(etc, "group"), withPandoraUser("/etc/group", "group"));
  }
  mkdirSync(path.join(etc, "ssh"), { recursive: true });
  writeFileSync(path.join(etc, "ssh", "sshd_config"), sshdConfig(host, sshPort));
  writeFileSync(
    path.join(etc, "ssh", "ssh_config"),
    `# pandora-ha lab host ${host.name}: outgoing ssh leaves from the host's own address.\nHost *\n    BindAddress ${host.address}\n    SendEnv LANG LC_*\n`,
  );
  if (!existsSync(path.join(etc, "ssh", "ssh_host_ed25519_key"))) {
    await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `lab-${host.name}`, "-f", path.join(etc, "ssh", "ssh_host_ed25519_key")]);
  }
  mkdirSync(path.join(etc, "init.d"), { recursive: true });
  // No init script for MariaDB in the lab: the host scripts then start mariadbd-safe themselves
  // (their path for hosts without a service manager). Debian's script would `killall mariadbd`,
  // every lab node's, when a shutdown fails. An overlay whiteout hides it.
  // Debian's MySQL script likewise (and it would start the server with the package's conf).
  for (const script of ["mariadb", "mysql"])
    if (!existsSync(path.join(etc, "init.d", script))) await runOk("mknod", [path.join(etc, "init.d", script), "c", "0", "0"]);
  if (host.kind === "server") installServerStandIns(host, etc, d("usr-bin-upper"), d("spool"));
  // A ps that lists only this host's processes (see stubs/ps: mysqld_safe kills what it sees).
  if (!existsSync(d("usr-bin-upper", "ps.pha-lab-real"))) copyFileSync(base(host, "/usr/bin/ps"), d("usr-bin-upper", "ps.pha-lab-real"));
  copyFileSync(path.join(STUBS, "ps"), d("usr-bin-upper", "ps"));
  chmodSync(d("usr-bin-upper", "ps"), 0o755);

  // /root: the admin key the lab (standing in for Pulumi) logs in with.
  mkdirSync(d("root", ".ssh"), { recursive: true, mode: 0o700 });
  const auth = d("root", ".ssh", "authorized_keys");
  if (!existsSync(auth)) writeFileSync(auth, `${adminPublicKey.trim()}\n`, { mode: 0o600 });

  // The namespace and its mounts.
  if (!(await nsMounted(host.name))) {
    writeFileSync(paths.nsFile(host.name), "");
    await runOk("unshare", [`--mount=${paths.nsFile(host.name)}`, "--propagation", "private", "true"]);
    for (const sub of SHARED_VAR_LIB) mkdirSync(d("var-lib", sub), { recursive: true });
    const mounts = host.rootfs === undefined ? machineRootMounts(host, sharedPath) : ownRootMounts(host);
    if (sharedPath !== undefined) mkdirSync(SHARED_DIR, { recursive: true, mode: 0o755 });
    // In the namespace, not chrooted: the host's own root is what these mount.
    const r = await run("nsenter", [`--mount=${paths.nsFile(host.name)}`, "--", "sh", "-ec", mounts.join("\n")]);
    if (r.code !== 0) throw new Error(`lab host ${host.name}: mounting its directories failed: ${r.stderr.trim()}`);
  }
  await startSshd(host);
}

/** The host's /etc, /usr/bin and /usr/share: overlays of `lower`'s (the machine's: "") at `root`'s, its changes in hosts/<name>/. */
function overlayMounts(host: LabHost, lower: string, root: string): string[] {
  const d = (...p: string[]) => path.join(paths.hostDir(host.name), ...p);
  return [...OVERLAYS].map((p) => {
    const sub = HOST_MOUNTS.find(([inside]) => inside === p)![1];
    return `mount -t overlay overlay -o lowerdir=${lower}${p},upperdir=${d(sub)},workdir=${d(sub.replace(/-upper$/, "-work"))} ${root}${p}`;
  });
}

/** The mounts of a host on the machine's own root (run in its namespace, before any chroot). */
function machineRootMounts(host: LabHost, sharedPath?: string): string[] {
  const d = (...p: string[]) => path.join(paths.hostDir(host.name), ...p);
  return [
    ...overlayMounts(host, "", ""),
    // Before /var/lib is covered: the machine's package databases, bound into the private one.
    ...SHARED_VAR_LIB.map((sub) => `mount --bind /var/lib/${sub} ${d("var-lib", sub)}`),
    ...BOUND_FIRST.map(([inside, sub]) => `mount --rbind ${d(sub)} ${inside}`),
    ...(sharedPath === undefined ? [] : [`mkdir -p ${sharedPath}`, `mount --bind ${SHARED_DIR} ${sharedPath}`]),
    // /var/lib last: it covers the lab's own directory, where every source lives.
    `mount --rbind ${d("var-lib")} /var/lib`,
  ];
}

/**
 * A host on a root filesystem of its own gets in its private /var/lib what the packages put
 * there (MySQL's secure-file-priv directory /var/lib/mysql-files, say: the server refuses to
 * start without it), the `mysql` user's files given to the host's own uid. Not the datadir,
 * which db-configure initializes as on a fresh host, nor the package databases, bound in.
 */
function seedVarLib(host: LabHost): void {
  const varLib = path.join(paths.hostDir(host.name), "var-lib");
  const from = path.join(host.rootfs!, "var/lib");
  const mysqlUid = Number(readFileSync(path.join(host.rootfs!, "etc/passwd"), "utf8").match(/^mysql:x:(\d+):/m)?.[1] ?? NaN);
  for (const e of readdirSync(from)) {
    if (e === "mysql" || SHARED_VAR_LIB.includes(e) || existsSync(path.join(varLib, e))) continue;
    cpSync(path.join(from, e), path.join(varLib, e), { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    if (host.uid !== undefined && Number.isInteger(mysqlUid)) chownTree(path.join(varLib, e), mysqlUid, host.uid);
  }
}

/** Gives what `from` owns under `dir` (itself included) to `to` (uid and gid). */
function chownTree(dir: string, from: number, to: number): void {
  const st = lstatSync(dir);
  if (st.uid === from) lchownSync(dir, to, st.gid === from ? to : st.gid);
  if (st.isDirectory()) for (const e of readdirSync(dir)) chownTree(path.join(dir, e), from, to);
}

/**
 * The mounts of a host on a root filesystem of its own: an overlay of it (the host's changes
 * in hosts/<name>/fs-upper), the kernel's filesystems, and the same private directories as
 * elsewhere, mounted into it (nothing on the machine's own paths is covered).
 */
function ownRootMounts(host: LabHost): string[] {
  const d = (...p: string[]) => path.join(paths.hostDir(host.name), ...p);
  const root = paths.hostRoot(host.name);
  const lower = host.rootfs!;
  for (const dir of [root, `${root}-upper`, `${root}-work`]) mkdirSync(dir, { recursive: true });
  seedVarLib(host);
  return [
    `mount -t overlay overlay -o lowerdir=${lower},upperdir=${root}-upper,workdir=${root}-work ${root}`,
    `mount --rbind /dev ${root}/dev`,
    `mount -t proc proc ${root}/proc`,
    `mount --rbind /sys ${root}/sys`,
    ...overlayMounts(host, lower, root),
    // Its own package databases, bound into the private /var/lib (the packages are installed).
    ...SHARED_VAR_LIB.map((sub) => `mount --bind ${lower}/var/lib/${sub} ${d("var-lib", sub)}`),
    ...HOST_MOUNTS.filter(([inside]) => !OVERLAYS.has(inside)).map(([inside, sub]) => `mkdir -p ${root}${inside} && mount --rbind ${d(sub)} ${root}${inside}`),
  ];
}

function installServerStandIns(host: LabHost, etc: string, usrBin: string, spool: string): void {
  // The stand-in data server (lab/dataserver), one bundled file run by the host's Node.
  writeFileSync(path.join(usrBin, "pandora_server"), buildDataServer(), { mode: 0o755 });
  chmodSync(path.join(usrBin, "pandora_server"), 0o755);
  copyFileSync(path.join(STUBS, "tentacle_server"), path.join(usrBin, "tentacle_server"));
  chmodSync(path.join(usrBin, "tentacle_server"), 0o755);
  // Pandora's init script for it: the real verbs and timing (stop: kill, polled once a second).
  const serverInit = readFileSync(path.join(STUBS, "pandora_server.init"), "utf8").replaceAll("@ADDRESS@", host.address);
  writeFileSync(path.join(etc, "init.d", "pandora_server"), serverInit, { mode: 0o755 });
  // Tentacle's, as Pandora's: as user pandora, -F the conf, no `&` (it relies on the fork).
  const tentacleInit = readFileSync(path.join(STUBS, "tentacle_serverd"), "utf8").replaceAll("@ADDRESS@", host.address);
  writeFileSync(path.join(etc, "init.d", "tentacle_serverd"), tentacleInit, { mode: 0o755 });
  mkdirSync(path.join(etc, "pandora"), { recursive: true });
  mkdirSync(path.join(etc, "tentacle"), { recursive: true });
  const conf = path.join(etc, "pandora", "pandora_server.conf");
  // As the package installs it; the deploy then sets the HA tokens in place.
  if (!existsSync(conf)) writeFileSync(conf, readFileSync(FIXTURE_CONF, "utf8"), { mode: 0o640 });
  // data_in and the subdirectories Tentacle's filters and the data servers use, the pandora
  // user's (as the package leaves them: Tentacle, running as pandora, writes there).
  for (const sub of ["", ...SHARED_DATA_IN_SUBDIRS, "trans", "commands"]) {
    const dir = path.join(spool, "pandora", "data_in", sub);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, LAB_PANDORA_UID, LAB_PANDORA_UID);
    chmodSync(dir, 0o770);
  }
}

export async function startSshd(host: LabHost): Promise<void> {
  if (hostSshdPid(host.name)) return;
  const r = await inHost(host.name, "/usr/sbin/sshd", ["-f", "/etc/ssh/sshd_config"]);
  if (r.code !== 0) throw new Error(`lab host ${host.name}: sshd did not start: ${(r.stderr || r.stdout).trim()}`);
  for (let i = 0; i < 50 && !(hostSshdPid(host.name)); i++) await sleep(100);
  if (!(hostSshdPid(host.name))) throw new Error(`lab host ${host.name}: sshd did not write /run/sshd.pid`);
}

export async function hostExists(h: string): Promise<boolean> {
  return nsMounted(h);
}

/** Ends every process in the host (TERM, then KILL after 10 s) and releases its namespace. */
export async function destroyHost(h: string): Promise<void> {
  let pids = hostPids(h);
  for (const p of pids) killQuiet(p, "SIGCONT");
  for (const p of pids) killQuiet(p, "SIGTERM");
  for (let i = 0; i < 100 && pids.length; i++) {
    await sleep(100);
    pids = hostPids(h);
  }
  for (const p of pids) killQuiet(p, "SIGKILL");
  for (let i = 0; i < 50 && hostPids(h).length; i++) await sleep(100);
  if (await nsMounted(h)) await runOk("umount", [paths.nsFile(h)]);
}

export function killQuiet(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
