/**
 * publish(): pandora_ha_hosts.conf (the master's host, exactly, as the original writes it) and
 * its epoch mark beside it, on real files. Several servers' daemons share the file (data_in/conf
 * on shared storage): one cut off from the new master must not put the old one back.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import type { Ctx } from "../../runtime/act/actions";
import { AgentFileKeeper } from "../../runtime/act/agent-files";
import { needsPublish, publish, readPublished, readPublishedMark, serverRestarted, serverRestarting } from "../../runtime/act/actions";
import type { HaSettings } from "../../runtime/conf";
import { EventLog } from "../../runtime/publish/events";
import type { Phase } from "../../runtime/state";
import { emptyState } from "../../runtime/state";

function daemon(hostsFile: string, epoch: number, serviceCmd = "true"): Ctx & { log: string } {
  const dir = mkdtempSync(join(tmpdir(), "pha-publish-"));
  const log = join(dir, "ha.log");
  return {
    settings: { hostsFile, haHosts: [] as string[], pandoraServiceCmd: serviceCmd, serverPidFile: join(dir, "pandora_server.pid"), confPath: join(dir, "pandora_server.conf") } as HaSettings,
    sessions: new Map(),
    state: { ...emptyState(), epoch },
    events: new EventLog(log),
    saveState: () => undefined,
    pauseAfter: async () => undefined,
    holdsLock: async () => true,
    log,
  };
}
const events = (c: { log: string }) =>
  existsSync(c.log) ? readFileSync(c.log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event?: string; message?: string }).filter((l) => l.event) : [];

/** Published and pandora_server restarted (the restart runs beside the caller: awaited here). */
async function done(p: ReturnType<typeof publish>): Promise<boolean> {
  const r = await p;
  return r ? r.restarted : false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("publish", () => {
  const shared = () => join(mkdtempSync(join(tmpdir(), "pha-data-in-")), "pandora_ha_hosts.conf");

  test("the host alone, no newline; the epoch mark beside it; pandora_server restarted", async () => {
    const file = shared();
    const dir = mkdtempSync(join(tmpdir(), "pha-svc-"));
    const a = daemon(file, 2, `echo >> ${join(dir, "calls")}`);
    const phases: Phase[] = [];
    expect(await done(publish(a, "10.0.0.12", phases))).toBe(true);
    expect(readFileSync(file, "utf8")).toBe("10.0.0.12");
    expect(readPublishedMark(a)).toEqual({ epoch: 2, host: "10.0.0.12" });
    expect(phases.map((p) => p.phase)).toEqual(["publish", "restart-server"]);
    // No pid file naming a running server: stopped by its own command, then started.
    expect(readFileSync(join(dir, "calls"), "utf8")).toBe("stop-server\nstart-server\n");
    expect(phases[1].detail).toBe("pandora_server stopped (stop-server), started");
  });

  test("a daemon cut off from the new master (older epoch) does not put the old master back", async () => {
    const file = shared();
    // The actor failed over to 10.0.0.12 at epoch 2.
    expect(await done(publish(daemon(file, 2), "10.0.0.12", []))).toBe(true);
    // Another server's daemon still sees 10.0.0.11 at epoch 1 and would "keep the file right".
    const b = daemon(file, 1);
    expect(await done(publish(b, "10.0.0.11"))).toBe(false);
    expect(readPublished(b)).toBe("10.0.0.12");
    expect(readPublishedMark(b)).toEqual({ epoch: 2, host: "10.0.0.12" });
    const refused = events(b).filter((e) => e.event === "publish_refused");
    expect(refused).toHaveLength(1);
    expect(refused[0].message).toMatch(/names 10\.0\.0\.12 at epoch 2, newer than this daemon knows \(10\.0\.0\.11, epoch 1\)/);
    // Asked again every housekeeping cycle: said once.
    expect(await done(publish(b, "10.0.0.11"))).toBe(false);
    expect(events(b).filter((e) => e.event === "publish_refused")).toHaveLength(1);
  });

  test("a decision (failover, switchover, a daemon's first look) writes whatever was there; so does a newer epoch", async () => {
    const file = shared();
    expect(await done(publish(daemon(file, 7), "10.0.0.12", []))).toBe(true);
    // A rebuilt cluster on the same shared storage starts again at epoch 1: its first look decides.
    expect(await done(publish(daemon(file, 1), "10.0.0.11", undefined, true))).toBe(true);
    expect(readFileSync(file, "utf8")).toBe("10.0.0.11");
    expect(readPublishedMark(daemon(file, 1))).toEqual({ epoch: 1, host: "10.0.0.11" });
    expect(await done(publish(daemon(file, 2), "10.0.0.12"))).toBe(true);
    expect(readFileSync(file, "utf8")).toBe("10.0.0.12");
  });

  test("the same host at an older epoch is no conflict; a mark that is not ours is rewritten", async () => {
    const file = shared();
    expect(await done(publish(daemon(file, 3), "10.0.0.12", []))).toBe(true);
    expect(await done(publish(daemon(file, 2), "10.0.0.12"))).toBe(true);
    writeFileSync(`${file}.epoch`, "garbage\n");
    expect(await done(publish(daemon(file, 3), "10.0.0.12"))).toBe(true);
    expect(readFileSync(`${file}.epoch`, "utf8")).toBe("3 10.0.0.12\n");
  });

  test("a restart-server that fails: the publication is not complete", async () => {
    const file = shared();
    const a = daemon(file, 2, "exit 3;");
    expect(await done(publish(a, "10.0.0.12", []))).toBe(false);
    expect(readFileSync(file, "utf8")).toBe("10.0.0.12");
    expect(events(a).map((e) => e.event)).toEqual(["failover_failure"]);
    // Its server is not known to run against 10.0.0.12, but the restart is not tried again at
    // once (every housekeeping round would raise the event again): after a minute.
    a.state.serverMaster = "10.0.0.11";
    expect(needsPublish(a, "10.0.0.12")).toBe(false);
  });

  test("the restart runs beside the caller, one at a time: publish returns before it ends; a second waits for the first", async () => {
    const file = shared();
    const dir = mkdtempSync(join(tmpdir(), "pha-svc-"));
    const calls = join(dir, "calls");
    const a = daemon(file, 2, `echo start >> ${calls}; sleep 0.3; echo end >> ${calls}`);
    const first = await publish(a, "10.0.0.12", []);
    // Returned with the restart still running (it has not written its end yet).
    expect(existsSync(calls) ? readFileSync(calls, "utf8") : "").not.toContain("end");
    expect(serverRestarting()).toBe(true);
    const second = await publish(a, "10.0.0.12", []);
    expect(await first!.restarted).toBe(true);
    expect(await second!.restarted).toBe(true);
    await serverRestarted();
    expect(serverRestarting()).toBe(false);
    expect(readFileSync(calls, "utf8").split("\n").filter(Boolean)).toEqual(["start", "end stop-server", "start", "end start-server", "start", "end stop-server", "start", "end start-server"]);
  });

  test("a server its pid file names is stopped at once (kill -9), not by stop-server; a stale pid file is not trusted", async () => {
    const file = shared();
    const dir = mkdtempSync(join(tmpdir(), "pha-svc-"));
    const calls = join(dir, "calls");
    const a = daemon(file, 2, `echo >> ${calls}`);
    const keeper = new AgentFileKeeper(mkdtempSync(join(tmpdir(), "pha-data-in-")), 60_000, false, () => undefined);
    keeper.start();
    a.keeper = keeper;
    // A process whose command line names pandora_server, as the real one's does.
    const bin = join(dir, "pandora_server");
    copyFileSync("/bin/sleep", bin);
    const server = spawn(bin, ["60"], { stdio: "ignore" });
    const exited = new Promise((r) => server.on("exit", (_code, signal) => r(signal)));
    writeFileSync(a.settings.serverPidFile, `${server.pid}\n`);
    const phases: Phase[] = [];
    expect(await done(publish(a, "10.0.0.12", phases))).toBe(true);
    expect(await exited).toBe("SIGKILL");
    expect(phases[1].detail).toBe(`pandora_server killed (pid ${server.pid}), started`);
    expect(readFileSync(calls, "utf8")).toBe("start-server\n");
    // The file now names a dead process, then one that is not the server: stop-server both times.
    expect(await done(publish(a, "10.0.0.11", []))).toBe(true);
    const other = spawn("/bin/sleep", ["60"], { stdio: "ignore" });
    writeFileSync(a.settings.serverPidFile, `${other.pid}\n`);
    expect(await done(publish(a, "10.0.0.12", []))).toBe(true);
    expect(other.exitCode).toBeNull();
    other.kill();
    expect(readFileSync(calls, "utf8")).toBe("start-server\n" + "stop-server\nstart-server\n".repeat(2));
    // No pid file at all (Pandora writes one only with -P): the pandora_server started with this conf.
    unlinkSync(a.settings.serverPidFile);
    const bash = join(dir, "pandora_server");
    copyFileSync("/bin/bash", bash);
    const found = spawn(bash, ["-c", "sleep 60; true", a.settings.confPath], { stdio: "ignore" });
    const foundExit = new Promise((r) => found.on("exit", (_code, signal) => r(signal)));
    await sleep(200);
    const phases2: Phase[] = [];
    expect(await done(publish(a, "10.0.0.11", phases2))).toBe(true);
    expect(await foundExit).toBe("SIGKILL");
    expect(phases2[1].detail).toBe(`pandora_server killed (pid ${found.pid}), started`);
    keeper.stop();
  });

  test("a server host whose daemon finds the shared file already naming the new master still restarts its own pandora_server", async () => {
    const file = shared();
    const dir = mkdtempSync(join(tmpdir(), "pha-svc-"));
    const calls = join(dir, "calls");
    // pfms2's daemon: its server runs against 10.0.0.11.
    const b = daemon(file, 1, `echo >> ${calls}`);
    expect(await done(publish(b, "10.0.0.11", undefined, true))).toBe(true);
    expect(b.state.serverMaster).toBe("10.0.0.11");
    expect(needsPublish(b, "10.0.0.11")).toBe(false);
    // pfms1's daemon fails over to 10.0.0.12 and writes the shared file first.
    expect(await done(publish(daemon(file, 2), "10.0.0.12", []))).toBe(true);
    // pfms2's daemon adopts epoch 2: the file is right, its server is not.
    b.state.epoch = 2;
    expect(needsPublish(b, "10.0.0.12")).toBe(true);
    expect(await done(publish(b, "10.0.0.12"))).toBe(true);
    expect(b.state.serverMaster).toBe("10.0.0.12");
    expect(needsPublish(b, "10.0.0.12")).toBe(false);
    expect(readFileSync(calls, "utf8")).toBe("stop-server\nstart-server\n".repeat(2));
    // Said in the log: no failover timeline holds a watcher's restart.
    expect(readFileSync(b.log, "utf8")).toMatch(/"info":"pandora_server restarted: it now uses 10\.0\.0\.12"/);
    // A daemon that never started its server (it was running before) does not restart it for
    // nothing, but does when the master changed since it last looked.
    const c = daemon(file, 2);
    expect(needsPublish(c, "10.0.0.12")).toBe(false);
    expect(needsPublish(c, "10.0.0.12", true)).toBe(true);
    expect(needsPublish(c, "10.0.0.11")).toBe(true);
  });
});
