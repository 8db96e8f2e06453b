/**
 * The MySQL project's global setup: the lab's Debian sid root filesystem with MySQL 9.7
 * (lab/rootfs.ts), built once before any of its tests (about 3 minutes the first time; a
 * machine that cannot build it fails the run here, loudly).
 */
import { ensureMysqlRootfs } from "../lab/rootfs";

export default async function setup(): Promise<void> {
  const version = await ensureMysqlRootfs((l) => process.stdout.write(`${l}\n`));
  process.stdout.write(`MySQL lab: Debian sid's mysql-server ${version}\n`);
}
