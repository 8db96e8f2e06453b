import * as pulumi from "@pulumi/pulumi";
import type { DbNodeConfig } from "../lib/config";
import type { HostStep } from "../lib/plan";
import type { StepRunner } from "./steps";

export interface DatabaseNodeArgs {
  node: DbNodeConfig;
  /** Initial role: the first node of dbNodes is the initial master. */
  role: "master" | "replica";
  /** This node's steps from the plan (install, binlog volume, my.cnf, accounts, keys). */
  steps: HostStep[];
  runner: StepRunner;
  address: pulumi.Output<string>;
}

/** One database node: Percona/MariaDB installed, its my.cnf in place, accounts created. */
export class DatabaseNode extends pulumi.ComponentResource {
  readonly name: string;
  readonly serverId: number;
  readonly role: "master" | "replica";
  readonly address: pulumi.Output<string>;

  constructor(name: string, args: DatabaseNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:db:DatabaseNode", name, {}, opts);
    this.name = args.node.name;
    this.serverId = args.node.serverId;
    this.role = args.role;
    this.address = args.address;
    for (const step of args.steps) args.runner.run(step, this);
    this.registerOutputs({ name: this.name, serverId: this.serverId, role: this.role, address: this.address });
  }
}
