/** Shared by the integration tests: they run the real lab (MariaDB, sshd, iptables) as root. */
import * as mysql from "mysql2/promise";
import type { Lab } from "../../lab/lab";
import { findHost, requireNoLiveLab } from "../../lab/lab";
import { labFamily } from "../../lab/layout";
import { run } from "../../lab/proc";
export { asMariaNames } from "../../lab/status";

/** The lab needs root and a machine whose lab addresses are free: fail loudly otherwise. */
export async function requireLabMachine(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the integration tests run the lab and need root (mount namespaces, sshd, iptables)");
  await requireNoLiveLab("the integration test suite");
  for (const bin of ["mariadbd", "mariabackup", "mbstream", "sshd", "iptables", "ssh-keygen", "nsenter", "unshare"]) {
    const r = await run("sh", ["-c", `command -v ${bin} || test -x /usr/sbin/${bin}`]);
    if (r.code !== 0) throw new Error(`${bin} is missing: apt-get install mariadb-server mariadb-client mariadb-backup openssh-server rsync iptables`);
  }
}

/** A connection to a lab node as the pandora account, in the pandora database. */
export function pandoraConnection(lab: Lab, node: string): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: findHost(lab, node).address,
    port: lab.cfg.dbPort,
    user: lab.cfg.pandoraDbUser,
    password: lab.secrets.passwords.pandoraDbPassword,
    database: lab.cfg.dbName,
    connectTimeout: 1000,
  });
}

export async function sql<T = Record<string, unknown>>(lab: Lab, node: string, q: string, values: unknown[] = [], timeoutMs = 15_000): Promise<T[]> {
  const c = await pandoraConnection(lab, node);
  try {
    // Above ha_semisync_timeout (5 s): a commit waits that long before pandora_ha lets it go on without a replica.
    const [rows] = await c.query({ sql: q, values, timeout: timeoutMs });
    return rows as T[];
  } finally {
    c.destroy();
  }
}

/** Polls until f() is true (or throws with `what` after timeoutMs). */
export async function eventually(what: string, f: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      if (await f()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

/** The lab's database family, and what it runs: the client on its DB hosts, the server's version. */
export const family = (lab: Lab): ReturnType<typeof labFamily> => labFamily(lab.state.flavor);
