/**
 * Deploys the lab the way `pulumi up` deploys a `platform: existing` stack: the program's own
 * plan (lib/plan.ts), each step rendered by the same functions the Pulumi components use
 * (command line, stdin with secrets and script), run over real SSH on its host, after the
 * steps it depends on. Independent steps run in parallel, as Pulumi runs them.
 */
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { ClusterConfig } from "../lib/config";
import type { HostStep } from "../lib/plan";
import { buildPlan, renderCommand, renderStdin, resolveValue, stepBundle } from "../lib/plan";
import type { LabHost } from "./layout";
import { paths } from "./layout";
import { run } from "./proc";
import type { LabSecrets } from "./stack";

export interface StepResult {
  id: string;
  host: string;
  seconds: number;
  changed: string[];
}

export class StepFailed extends Error {
  constructor(
    readonly step: HostStep,
    readonly address: string,
    readonly logFile: string,
    readonly tail: string,
  ) {
    super(`step ${step.id} failed on ${step.host} (${address}); last lines of ${logFile}:\n${tail}`);
  }
}

/** The plan of a lab stack: what the Pulumi program would build for it on `platform: existing`. */
export function labPlan(cfg: ClusterConfig): HostStep[] {
  return buildPlan(cfg, { binlogVolumes: false, sharedSource: undefined });
}

export function sshArgs(address: string, port: number): string[] {
  return [
    "-F", "/dev/null",
    "-i", paths.adminKey,
    "-p", String(port),
    "-o", "BatchMode=yes",
    "-o", "IdentitiesOnly=yes",
    "-o", "StrictHostKeyChecking=accept-new",
    "-o", `UserKnownHostsFile=${paths.knownHosts}`,
    "-o", "ConnectTimeout=5",
    "-o", "LogLevel=ERROR",
    `root@${address}`,
  ];
}

export interface DeployOptions {
  cfg: ClusterConfig;
  hosts: LabHost[];
  sshPort: number;
  secrets: LabSecrets;
  log?: (line: string) => void;
  /** How many steps may run at once. */
  parallel?: number;
}

export async function deploy(opts: DeployOptions): Promise<StepResult[]> {
  const plan = labPlan(opts.cfg);
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const address = (name: string) => {
    const h = opts.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`the plan names host ${name}, which the lab does not have`);
    return h.address;
  };
  const refs: Record<string, string> = {
    "publicKey:cluster": opts.secrets.clusterPublicKey,
    "secret:clusterPrivateKey": opts.secrets.clusterPrivateKey,
    ...Object.fromEntries(Object.entries(opts.secrets.passwords).map(([k, v]) => [`secret:${k}`, v])),
  };
  const resolve = (r: string): string => {
    if (r.startsWith("address:")) return address(r.slice("address:".length));
    const v = refs[r];
    if (v === undefined) throw new Error(`plan reference ${r} has no value in the lab`);
    return v;
  };
  mkdirSync(paths.logs, { recursive: true });
  const t0 = Date.now();
  const results: StepResult[] = [];
  const done = new Map<string, Promise<void>>();
  const sem = semaphore(opts.parallel ?? 4);

  const runStep = async (step: HostStep): Promise<void> => {
    await Promise.all(step.dependsOn.map((d) => done.get(d)));
    await sem(async () => {
      const env = Object.fromEntries(Object.entries(step.env).map(([k, v]) => [k, resolveValue(v, resolve)]));
      const secretEnv = Object.fromEntries(Object.entries(step.secretEnv).map(([k, v]) => [k, resolveValue(v, resolve)]));
      const command = renderCommand(step, env, opts.cfg.ssh.user !== "root");
      const stdin = renderStdin(step, secretEnv, stepBundle(step));
      const logFile = path.join(paths.logs, `${step.id.replace(/\//g, "-")}.log`);
      const out = createWriteStream(logFile, { mode: 0o600 });
      const started = Date.now();
      const r = await run("ssh", [...sshArgs(address(step.host), opts.sshPort), command], {
        input: stdin,
        timeoutMs: 15 * 60_000,
        onLine: (l) => out.write(`${l}\n`),
      });
      await new Promise((res) => out.end(res));
      const seconds = (Date.now() - started) / 1000;
      if (r.code !== 0) {
        const tail = `${r.stdout}${r.stderr}`.trim().split("\n").slice(-20).join("\n");
        log(`[${elapsed(t0)}] FAILED ${step.id} on ${step.host} after ${seconds.toFixed(1)} s`);
        throw new StepFailed(step, address(step.host), logFile, tail);
      }
      const changed = r.stdout.split("\n").filter((l) => / changed: /.test(l)).map((l) => l.replace(/^.* changed: /, ""));
      results.push({ id: step.id, host: step.host, seconds, changed });
      log(`[${elapsed(t0)}] ok ${step.id.padEnd(34)} ${seconds.toFixed(1).padStart(5)} s  ${changed.length ? `${changed.length} changed` : "unchanged"}`);
    });
  };
  // Every step starts when its dependencies are done; the first failure stops the deploy.
  for (const step of plan) done.set(step.id, runStep(step));
  const settled = await Promise.allSettled(done.values());
  writeFileSync(paths.stepsRan, JSON.stringify(results.map((r) => r.id).sort(), null, 2));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    // The first real failure, not a step that only waited on it.
    const real = settled.map((s) => (s.status === "rejected" ? s.reason : undefined)).find((e) => e instanceof StepFailed);
    throw real ?? failed.reason;
  }
  return results;
}

function elapsed(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s`;
}

function semaphore(n: number): <T>(f: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: Array<() => void> = [];
  return async <T>(f: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await f();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
