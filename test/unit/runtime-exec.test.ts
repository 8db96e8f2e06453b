/**
 * runShell: how pandora_ha runs pandora_service_cmd and the resync tool. A command that hangs
 * must never hold up the daemon: it is killed with everything it started at the timeout, and a
 * daemon an init script leaves behind (holding the output open) is not waited for.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { alive } from "../../lab/proc";
import { runShell, shq } from "../../runtime/exec";

describe("runShell", () => {
  test("the exit status and the output, both streams", async () => {
    expect(await runShell("echo out; echo err >&2; exit 3", 10_000)).toEqual({ code: 3, output: "out\nerr" });
  });

  test("an init script that leaves a daemon holding its output: answered when the script exits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pha-exec-"));
    const pidFile = join(dir, "pid");
    const r = await runShell(`sleep 30 & echo $! > ${shq(pidFile)}; echo started`, 10_000);
    expect(r).toEqual({ code: 0, output: "started" });
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(alive(pid)).toBe(true);
    process.kill(pid, "SIGKILL");
  });

  test("at the timeout the command and everything it started are killed: status 124", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pha-exec-"));
    const pidFile = join(dir, "pid");
    const r = await runShell(`sleep 60 & echo $! > ${shq(pidFile)}; wait`, 500);
    expect(r.code).toBe(124);
    expect(r.output).toMatch(/killed after 500 ms/);
    const pid = Number(readFileSync(pidFile, "utf8"));
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((res) => setTimeout(res, 20));
    expect(alive(pid)).toBe(false);
  });

  test("a command that cannot start: status 127", async () => {
    expect((await runShell("exec /nonexistent/pandora_server status-server", 10_000)).code).toBe(127);
  });
});
