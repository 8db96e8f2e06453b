import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { OsName } from "../lib/config";

/** One machine the program configures, created here (aws) or given (existing). */
export interface HostHandle {
  name: string;
  kind: "db" | "server";
  /** Where Pulumi's SSH connection goes (public address on aws). */
  connectHost: pulumi.Output<string>;
  /** Where other cluster members, agents and pandora_ha reach it (private address on aws). */
  address: pulumi.Output<string>;
  /** aws: the binlog volume id and its attachment. */
  binlogVolumeId?: pulumi.Output<string>;
  binlogAttachment?: aws.ec2.VolumeAttachment;
  instance?: aws.ec2.Instance;
}

export interface HostSpec {
  name: string;
  kind: "db" | "server";
  /** existing: SSH target and cluster address. */
  host?: string;
  address?: string;
}

export interface AwsHostsArgs {
  os: OsName;
  subnetIds: pulumi.Input<string>[];
  dbSecurityGroupId: pulumi.Input<string>;
  serverSecurityGroupId: pulumi.Input<string>;
  keyName: pulumi.Input<string>;
  dbInstanceType: string;
  serverInstanceType: string;
  rootVolumeSize: number;
  binlogVolumeSize: number;
  tags: Record<string, string>;
}

export interface HostsArgs {
  hosts: HostSpec[];
  /** Present on platform aws: create instances; absent: the hosts exist. */
  aws?: AwsHostsArgs;
}

/** Official image owners and name patterns per OS (x86_64). */
export const AMI_FILTERS: Record<OsName, { owner: string; name: string }> = {
  rocky8: { owner: "792107900819", name: "Rocky-8-EC2-Base-8.*x86_64*" },
  rocky9: { owner: "792107900819", name: "Rocky-9-EC2-Base-9.*x86_64*" },
  ubuntu2204: { owner: "099720109477", name: "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*" },
  ubuntu2404: { owner: "099720109477", name: "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*" },
};

/**
 * The order instances are created, updated and replaced in, each with its index among the hosts
 * of its kind (which picks its subnet): the DB nodes the first deployment makes replicas first
 * (dbNodes[1..]), the initial master (dbNodes[0]) last; the server hosts in their order.
 */
export function rolloutOrder(hosts: HostSpec[]): Array<{ spec: HostSpec; idx: number }> {
  const ofKind = (k: HostSpec["kind"]) => hosts.filter((h) => h.kind === k).map((spec, idx) => ({ spec, idx }));
  const db = ofKind("db");
  return [...db.slice(1), ...db.slice(0, 1), ...ofKind("server")];
}

/**
 * The machines: EC2 instances from the official Rocky or Canonical image (DB nodes get a
 * separate encrypted EBS volume for binary logs, as the manual recommends), or the existing
 * hosts named in the stack. DB nodes alternate between the two subnets/AZs, as do servers.
 */
export class Hosts extends pulumi.ComponentResource {
  readonly byName: Map<string, HostHandle> = new Map();

  constructor(name: string, args: HostsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:hosts:Hosts", name, {}, opts);
    const p = { parent: this };

    if (!args.aws) {
      for (const h of args.hosts) {
        if (!h.host) throw new Error(`host ${h.name}: no address on platform existing`);
        this.byName.set(h.name, {
          name: h.name,
          kind: h.kind,
          connectHost: pulumi.output(h.host),
          address: pulumi.output(h.address ?? h.host),
        });
      }
    } else {
      const a = args.aws;
      const f = AMI_FILTERS[a.os];
      const ami = aws.ec2.getAmiOutput({
        owners: [f.owner],
        mostRecent: true,
        filters: [
          { name: "name", values: [f.name] },
          { name: "architecture", values: ["x86_64"] },
          { name: "virtualization-type", values: ["hvm"] },
        ],
      }, p);
      // Each instance after the previous one of its kind: a change that stops or replaces
      // instances (instance type) goes one at a time, DB nodes in rollout order.
      const previous: Partial<Record<HostSpec["kind"], aws.ec2.Instance>> = {};
      for (const { spec: h, idx } of rolloutOrder(args.hosts)) {
        const subnetId = a.subnetIds[idx % a.subnetIds.length];
        const after = previous[h.kind];
        const instance = new aws.ec2.Instance(`${name}-${h.name}`, {
          ami: ami.id,
          instanceType: h.kind === "db" ? a.dbInstanceType : a.serverInstanceType,
          subnetId,
          vpcSecurityGroupIds: [h.kind === "db" ? a.dbSecurityGroupId : a.serverSecurityGroupId],
          keyName: a.keyName,
          associatePublicIpAddress: true,
          rootBlockDevice: { volumeSize: a.rootVolumeSize, volumeType: "gp3", encrypted: true, deleteOnTermination: true },
          metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
          // The name used for report-host and in pandora_server.conf, also the OS host name.
          userData: `#cloud-config\nhostname: ${h.name}\npreserve_hostname: false\n`,
          tags: { ...a.tags, Name: h.name, "pandora-ha:role": h.kind },
        }, { ...p, ignoreChanges: ["ami"], dependsOn: after ? [after] : [] });
        previous[h.kind] = instance;
        const handle: HostHandle = {
          name: h.name,
          kind: h.kind,
          connectHost: instance.publicIp,
          address: instance.privateIp,
          instance,
        };
        if (h.kind === "db") {
          // Binary logs on their own volume. Never deleted with a replacement of the instance:
          // it holds the only copy of transactions not yet on a replica.
          const volume = new aws.ebs.Volume(`${name}-${h.name}-binlog`, {
            availabilityZone: instance.availabilityZone,
            size: a.binlogVolumeSize,
            type: "gp3",
            encrypted: true,
            tags: { ...a.tags, Name: `${h.name}-binlog` },
          }, { ...p, protect: false, retainOnDelete: true });
          handle.binlogVolumeId = volume.id;
          handle.binlogAttachment = new aws.ec2.VolumeAttachment(`${name}-${h.name}-binlog`, {
            deviceName: "/dev/sdf",
            volumeId: volume.id,
            instanceId: instance.id,
            stopInstanceBeforeDetaching: true,
            // A replaced instance: the volume leaves the old one before it is attached to the new
            // one (an EBS volume is attached to one instance at a time).
          }, { ...p, deleteBeforeReplace: true });
        }
        this.byName.set(h.name, handle);
      }
    }

    this.registerOutputs({
      hosts: [...this.byName.values()].map((h) => ({ name: h.name, kind: h.kind, address: h.address })),
    });
  }

  get(name: string): HostHandle {
    const h = this.byName.get(name);
    if (!h) throw new Error(`unknown host ${name}`);
    return h;
  }
}
