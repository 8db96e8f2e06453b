import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { ServerConfig } from "../lib/config";
import type { HostStep } from "../lib/plan";
import type { HostHandle } from "./hosts";
import type { StepRunner } from "./steps";

export interface DataServersArgs {
  servers: ServerConfig[];
  handles: HostHandle[];
  /** The servers' steps from the plan (install, keys, shared storage, Tentacle, pandora_server.conf). */
  steps: HostStep[];
  runner: StepRunner;
  tentaclePort: number;
  /** aws + sharedStorage efs: create the file system and a mount target per subnet. */
  efs?: { subnetIds: pulumi.Input<string>[]; securityGroupId: pulumi.Input<string> };
  /** aws + tentacleLoadBalancer: an NLB on the Tentacle port across the servers. */
  loadBalancer?: { subnetIds: pulumi.Input<string>[]; securityGroupId: pulumi.Input<string>; vpcId: pulumi.Input<string>; internal: boolean };
  tags: Record<string, string>;
}

/**
 * The Pandora FMS data servers: each with Tentacle, the HA tokens in pandora_server.conf, the
 * shared data_in subdirectories mounted from EFS/NFS or the hosts' own shared filesystem, and
 * optionally an NLB in front of Tentacle.
 */
export class DataServers extends pulumi.ComponentResource {
  readonly tentacleEndpoint: pulumi.Output<string>;
  readonly efsDnsName?: pulumi.Output<string>;
  readonly loadBalancerDnsName?: pulumi.Output<string>;

  constructor(name: string, args: DataServersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:pandora:DataServers", name, {}, opts);
    const p = { parent: this };

    if (args.efs) {
      const fs = new aws.efs.FileSystem(`${name}-shared`, {
        encrypted: true,
        performanceMode: "generalPurpose",
        throughputMode: "elastic",
        tags: { ...args.tags, Name: `${name}-shared` },
      }, { ...p, retainOnDelete: true });
      const targets = args.efs.subnetIds.map((subnetId, i) =>
        new aws.efs.MountTarget(`${name}-shared-${i}`, {
          fileSystemId: fs.id,
          subnetId,
          securityGroups: [args.efs!.securityGroupId],
        }, p));
      this.efsDnsName = fs.dnsName;
      args.runner.provide("efs:dns", pulumi.interpolate`${fs.dnsName}:/`);
      args.runner.provideResources("efs:mountTargets", targets);
    }

    if (args.loadBalancer) {
      const lbArgs = args.loadBalancer;
      const lb = new aws.lb.LoadBalancer(`${name}-tentacle`, {
        loadBalancerType: "network",
        internal: lbArgs.internal,
        subnets: lbArgs.subnetIds,
        securityGroups: [lbArgs.securityGroupId],
        enableCrossZoneLoadBalancing: true,
        tags: { ...args.tags, Name: `${name}-tentacle` },
      }, p);
      const tg = new aws.lb.TargetGroup(`${name}-tentacle`, {
        port: args.tentaclePort,
        protocol: "TCP",
        targetType: "instance",
        vpcId: lbArgs.vpcId,
        healthCheck: { protocol: "TCP", port: String(args.tentaclePort), interval: 10, healthyThreshold: 2, unhealthyThreshold: 2 },
        tags: args.tags,
      }, p);
      new aws.lb.Listener(`${name}-tentacle`, {
        loadBalancerArn: lb.arn,
        port: args.tentaclePort,
        protocol: "TCP",
        defaultActions: [{ type: "forward", targetGroupArn: tg.arn }],
      }, p);
      for (const h of args.handles) {
        new aws.lb.TargetGroupAttachment(`${name}-tentacle-${h.name}`, {
          targetGroupArn: tg.arn,
          targetId: h.instance!.id,
          port: args.tentaclePort,
        }, p);
      }
      this.loadBalancerDnsName = lb.dnsName;
    }

    for (const step of args.steps) args.runner.run(step, this);

    this.tentacleEndpoint = this.loadBalancerDnsName
      ? pulumi.interpolate`${this.loadBalancerDnsName}:${args.tentaclePort}`
      : pulumi.interpolate`${args.handles[0].address}:${args.tentaclePort}`;
    this.registerOutputs({ tentacleEndpoint: this.tentacleEndpoint, efsDnsName: this.efsDnsName });
  }
}
