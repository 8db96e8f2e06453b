import * as pulumi from "@pulumi/pulumi";
import type { HostStep } from "../lib/plan";
import type { StepRunner } from "./steps";

export interface ReplicationArgs {
  /** The node that is the master at the first deployment (later, wherever pandora_ha moved it). */
  initialMaster: string;
  /** Seeding steps, one per replica, from the plan. */
  steps: HostStep[];
  runner: StepRunner;
}

/**
 * Replication seeded from the current master (the first node at the first deployment; later
 * the one the cluster names, wherever failovers moved it): each replica streams a backup of the
 * master into its own datadir over SSH, then replicates with GTIDs, read-only. Ordered after
 * every node is configured and the keys exchanged (the plan's dependencies).
 */
export class Replication extends pulumi.ComponentResource {
  readonly replicas: string[];

  constructor(name: string, args: ReplicationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:db:Replication", name, {}, opts);
    this.replicas = args.steps.map((s) => s.host);
    for (const step of args.steps) args.runner.run(step, this);
    this.registerOutputs({ initialMaster: args.initialMaster, replicas: this.replicas });
  }
}
