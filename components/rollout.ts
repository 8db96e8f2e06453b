import * as pulumi from "@pulumi/pulumi";
import type { HostStep } from "../lib/plan";
import type { StepRunner } from "./steps";

export interface RolloutArgs {
  /** The plan's `rollout` steps: servers/<s>/rolling-restart, one per server host, chained. */
  steps: HostStep[];
  runner: StepRunner;
}

/**
 * Rolling changes that need the DB servers restarted (a changed my.cnf): run from the server
 * hosts once every daemon runs, one node at a time, the replicas first, the master last after a
 * planned switchover through pandora_ha, so the cluster never loses its master, never fails over
 * and never has two writable nodes.
 */
export class Rollout extends pulumi.ComponentResource {
  readonly steps: string[];

  constructor(name: string, args: RolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:db:Rollout", name, {}, opts);
    this.steps = args.steps.map((s) => s.id);
    for (const step of args.steps) args.runner.run(step, this);
    this.registerOutputs({ steps: this.steps });
  }
}
