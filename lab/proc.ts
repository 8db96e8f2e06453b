/** Running commands for the lab: captured output, hard timeouts, clear errors. */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Called with each complete output line (stdout and stderr) as it arrives. */
  onLine?: (line: string) => void;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let partial = "";
    const feed = (chunk: string) => {
      if (!opts.onLine) return;
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) opts.onLine(l);
    };
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      feed(d);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      feed(d);
    });
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            stderr += `\n[lab] ${cmd} killed after ${opts.timeoutMs} ms`;
            child.kill("SIGKILL");
          }, opts.timeoutMs);
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      if (partial && opts.onLine) opts.onLine(partial);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on("error", () => undefined); // a command that does not read stdin
    child.stdin.end(opts.input ?? "");
  });
}

/** run(), and an error with the command's output when it does not exit 0. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const out = `${r.stdout}${r.stderr}`.trim().split("\n").slice(-15).join("\n");
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}${out ? `:\n${out}` : ""}`);
  }
  return r.stdout;
}

/** The state letter of a process (R, S, Z for a zombie, …), or undefined when it is gone. */
export function processState(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "")[0];
  } catch {
    return undefined;
  }
}

/** The process exists and is not a zombie (a killed one a slow init has not reaped yet). */
export function alive(pid: number): boolean {
  const st = processState(pid);
  return st !== undefined && st !== "Z";
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
