import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { resyncByHand } from "../../runtime/daemon";

describe("resyncByHand: the node the resync tool rebuilds on this host", () => {
  const lock = () => join(mkdtempSync(join(tmpdir(), "pha-resync-")), "pandora_ha_resync.lock");

  test("the tool's pid alive, running the script: that node", async () => {
    const p = spawn("bash", ["-c", "sleep 5; true", "pandora_ha_resync_slave.sh"], { stdio: "ignore" });
    try {
      const f = lock();
      writeFileSync(f, `${p.pid} 10.0.0.12\n`);
      await new Promise((r) => setTimeout(r, 100));
      expect(resyncByHand(f, "pandora_ha_resync_slave.sh")).toEqual({ pid: p.pid, host: "10.0.0.12" });
      // Another script's name: not the resync tool.
      expect(resyncByHand(f, "other.sh")).toBeUndefined();
    } finally {
      p.kill();
    }
  });

  test("a pid that is not the tool (gone, or reused), no file, or garbage: nothing held", () => {
    const f = lock();
    writeFileSync(f, `${process.pid} 10.0.0.12\n`);
    expect(resyncByHand(f, "pandora_ha_resync_slave.sh")).toBeUndefined();
    expect(resyncByHand(join(tmpdir(), "no-such-lock"), "pandora_ha_resync_slave.sh")).toBeUndefined();
    writeFileSync(f, "garbage");
    expect(resyncByHand(f, "pandora_ha_resync_slave.sh")).toBeUndefined();
  });
});
