import { defineConfig } from "vitest/config";
import SummaryReporter from "./test/summary-reporter.mts";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Test files run one at a time: integration tests share the machine's MariaDB servers.
    fileParallelism: false,
    reporters: ["default", new SummaryReporter()],
  },
});
