import { defineConfig } from "vitest/config";
import SummaryReporter from "./test/summary-reporter.mts";

/**
 * Two projects: everything on MariaDB 10.11 (the machine's own packages), and the daemon's
 * failover scenarios again on MySQL 9.7 (Debian sid's, the lab's `--flavor mysql`:
 * PANDORA_HA_LAB_FLAVOR is read by the lab when a test brings it up; its root filesystem is
 * built once, before the tests). The other integration files do not run on MySQL yet (README,
 * Tests).
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Test files run one at a time: integration tests share the machine's lab (one at a time).
    fileParallelism: false,
    reporters: ["default", new SummaryReporter()],
    projects: [
      { extends: true, test: { name: "mariadb", include: ["test/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "mysql",
          include: ["test/integration/failover.test.ts"],
          env: { PANDORA_HA_LAB_FLAVOR: "mysql" },
          globalSetup: ["test/mysql-rootfs.setup.ts"],
        },
      },
    ],
  },
});
