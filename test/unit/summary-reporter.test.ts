/** The closing line CI reads must count every test that did not pass for a reason as failed. */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { expect, test } from "vitest";

test("a test kept from running by a failed hook counts as failed; a failed afterAll counts once", () => {
  const dir = path.join(__dirname, "..", "fixtures", "reporter");
  const r = spawnSync(process.execPath, [path.join(__dirname, "..", "..", "node_modules", "vitest", "vitest.mjs"), "run", "--root", dir, "--config", path.join(dir, "vitest.config.mts")], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  expect(r.status).not.toBe(0);
  const last = r.stdout.trim().split("\n").at(-1);
  // passed: "passes", "passes too"; failed: two kept from running, "fails", the afterAll.
  expect(last).toBe("2 passed, 4 failed");
}, 60_000);
