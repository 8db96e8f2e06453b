import { defineConfig } from "vitest/config";
import SummaryReporter from "./test/summary-reporter.mts";

/**
 * Everything on MariaDB 10.11 (the machine's own packages): what `npm test` and CI run. With
 * PANDORA_HA_TEST_MYSQL=1, also the lab and daemon files that run on both families, again on
 * MySQL 9.7 (Debian sid's, the lab's `--flavor mysql`: PANDORA_HA_LAB_FLAVOR is read by the lab
 * when a test brings it up; its root filesystem is built once per machine, before the tests) —
 * not yet in CI: each passed alone, but a whole run had 7 failures there (README, Tests).
 */
const mysql = process.env.PANDORA_HA_TEST_MYSQL === "1";
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Test files run one at a time: integration tests share the machine's lab (one at a time).
    fileParallelism: false,
    reporters: ["default", new SummaryReporter()],
    projects: [
      { extends: true, test: { name: "mariadb", include: ["test/**/*.test.ts"] } },
      ...(mysql ? [{
        extends: true,
        test: {
          name: "mysql",
          include: ["test/integration/failover.test.ts", "test/integration/lab.test.ts", "test/integration/rolling.test.ts", "test/integration/agents.test.ts"],
          env: { PANDORA_HA_LAB_FLAVOR: "mysql" },
          globalSetup: ["test/mysql-rootfs.setup.ts"],
        },
      }] : []),
    ],
  },
});
