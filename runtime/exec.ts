/**
 * Running commands from the daemon: shell command lines (pandora_service_cmd, the resync tool)
 * and commands on DB hosts over SSH, always with a timeout, never throwing.
 */
import { spawn } from "node:child_process";
import type { HaSettings } from "./conf";

/** POSIX single-quote quoting. */
export const shq = (x: string): string => `'${x.replace(/'/g, `'\\''`)}'`;

/**
 * Runs a shell command line (pandora_service_cmd ...) with a timeout; never throws. It runs in a
 * process group of its own, killed whole at the timeout, and the answer comes then even if a
 * grandchild (an init script's daemon) still holds its output open.
 */
export function runShell(cmd: string, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const p = spawn("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      resolve({ code, output: output.trim().slice(-2000) });
    };
    p.stdout.on("data", (d) => (output += d));
    p.stderr.on("data", (d) => (output += d));
    const t = setTimeout(() => {
      try {
        process.kill(-p.pid!, "SIGKILL");
      } catch {
        // already gone
      }
      output += `\n(killed after ${timeoutMs} ms)`;
      finish(124);
    }, timeoutMs);
    p.on("error", (e) => {
      output = e.message;
      finish(127);
    });
    // The answer once sh has exited and its output is read; a grandchild that keeps the pipes
    // open (a daemon an init script started) is not waited for beyond half a second.
    let status = 1;
    p.on("exit", (code, signal) => {
      status = code ?? (signal ? 124 : 1);
      setTimeout(() => {
        p.stdout.destroy();
        p.stderr.destroy();
        finish(status);
      }, 500).unref();
    });
    p.on("close", (code, signal) => finish(code ?? (signal ? 124 : status)));
  });
}

/** What an SSH command to a DB host needs of the settings. */
export type SshSettings = Pick<HaSettings, "sshKey" | "sshPort" | "sshUser" | "probeTimeout" | "bindAddress">;

/**
 * SSH connections prefer the classical key exchanges (OpenSSH's default until 9.0): OpenSSH 9's
 * first choice, the post-quantum sntrup761x25519, took 80-130 ms of this 2-vCPU machine's time
 * on each side (ssh -vvv): a tenth of a merge of 100,000 rows, and part of how long an isolated
 * old master stays writable after the heal before the kill over SSH reaches it. Every name here
 * is known to OpenSSH 7.4 and later, so an older client or server still connects.
 */
const SSH_KEX =
  "KexAlgorithms=curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group14-sha256";

/** The arguments of `ssh` that run `remote` on a DB host as ha_sshuser (key ha_sshkey). */
export function sshArgs(s: SshSettings, host: string, remote: string): string[] {
  return [
    "-o", SSH_KEX,
    "-i", s.sshKey, "-p", String(s.sshPort), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
    "-o", `ConnectTimeout=${Math.max(1, Math.ceil(s.probeTimeout * 2))}`, "-o", "ServerAliveInterval=2",
    ...(s.bindAddress ? ["-o", `BindAddress=${s.bindAddress}`] : []),
    `${s.sshUser}@${host}`, remote,
  ];
}

/** Runs a command on a DB host over SSH as ha_sshuser (key ha_sshkey); never throws. */
export function runSsh(s: SshSettings, host: string, remote: string, timeoutMs: number): Promise<{ code: number; output: string }> {
  return runShell(`ssh ${sshArgs(s, host, remote).map(shq).join(" ")}`, timeoutMs);
}
