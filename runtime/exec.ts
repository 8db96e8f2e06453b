/**
 * Running commands from the daemon: shell command lines (pandora_service_cmd, the resync tool)
 * and commands on DB hosts over SSH, always with a timeout, never throwing.
 */
import { spawn } from "node:child_process";
import type { HaSettings } from "./conf";

/** POSIX single-quote quoting. */
export const shq = (x: string): string => `'${x.replace(/'/g, `'\\''`)}'`;

/** Runs a shell command line (pandora_service_cmd ...) with a timeout; never throws. */
export function runShell(cmd: string, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const p = spawn("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    p.stdout.on("data", (d) => (output += d));
    p.stderr.on("data", (d) => (output += d));
    const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("error", (e) => {
      clearTimeout(t);
      resolve({ code: 127, output: e.message });
    });
    p.on("close", (code, signal) => {
      clearTimeout(t);
      resolve({ code: code ?? (signal ? 124 : 1), output: output.trim().slice(-2000) });
    });
  });
}

/** Runs a command on a DB host over SSH as ha_sshuser (key ha_sshkey); never throws. */
export function runSsh(s: HaSettings, host: string, remote: string, timeoutMs: number): Promise<{ code: number; output: string }> {
  const args = [
    "-i", s.sshKey, "-p", String(s.sshPort), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
    "-o", `ConnectTimeout=${Math.max(1, Math.ceil(s.probeTimeout * 2))}`, "-o", "ServerAliveInterval=2",
    ...(s.bindAddress ? ["-o", `BindAddress=${s.bindAddress}`] : []),
    `${s.sshUser}@${host}`, remote,
  ];
  return runShell(`ssh ${args.map(shq).join(" ")}`, timeoutMs);
}
