import * as pulumi from "@pulumi/pulumi";
import type { HostStep } from "../lib/plan";
import type { StepRunner } from "./steps";

export interface ReplicationArgs {
  master: string;
  /** Seeding steps, one per replica, from the plan. */
  steps: HostStep[];
  runner: StepRunner;
}

/**
 * Replication seeded from the initial master: each replica streams a backup of the master
 * into its own datadir over SSH, then replicates with GTIDs, read-only. Ordered after both
 * ends are configured and the keys exchanged (the plan's dependencies).
 */
export class Replication extends pulumi.ComponentResource {
  readonly replicas: string[];

  constructor(name: string, args: ReplicationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:db:Replication", name, {}, opts);
    this.replicas = args.steps.map((s) => s.host);
    for (const step of args.steps) args.runner.run(step, this);
    this.registerOutputs({ master: args.master, replicas: this.replicas });
  }
}
