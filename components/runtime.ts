import * as pulumi from "@pulumi/pulumi";
import { buildDaemonBundle } from "../lib/bundle";
import type { ServerConfig } from "../lib/config";
import type { HostStep } from "../lib/plan";
import { PANDORA_PATHS } from "../lib/render/pandora";
import type { StepRunner } from "./steps";

export interface PandoraHaArgs {
  server: ServerConfig;
  /** This host's `runtime` steps from the plan (servers/<s>/pandora-ha). */
  steps: HostStep[];
  runner: StepRunner;
}

/**
 * The pandora_ha daemon on one Pandora server host: the bundle, a Node runtime, the wrapper
 * and the systemd unit, running. One component per server host (not one for all), like
 * DatabaseNode: each host runs its own daemon, so each gets its own node in the resource tree
 * (`pulumi up --target` one host's daemon, its outputs per host).
 */
export class PandoraHa extends pulumi.ComponentResource {
  readonly host: string;
  /** Hash of the daemon bundle this host runs (first 16 hex digits of its SHA-256). */
  readonly bundleHash: string;
  readonly service: string;

  constructor(name: string, args: PandoraHaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:runtime:PandoraHa", name, {}, opts);
    if (args.steps.length === 0) throw new Error(`PandoraHa ${name}: no runtime step for ${args.server.name}`);
    for (const s of args.steps) {
      if (s.host !== args.server.name) throw new Error(`PandoraHa ${name}: step ${s.id} runs on ${s.host}, not ${args.server.name}`);
    }
    this.host = args.server.name;
    this.bundleHash = buildDaemonBundle().hash;
    this.service = `${PANDORA_PATHS.daemonBin} (pandora_ha.service)`;
    for (const step of args.steps) args.runner.run(step, this);
    this.registerOutputs({ host: this.host, bundleHash: this.bundleHash, service: this.service });
  }
}
