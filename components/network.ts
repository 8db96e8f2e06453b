import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface NetworkArgs {
  vpcCidr: string;
  /** Use this VPC and these subnets instead of creating them. */
  vpcId?: string;
  subnetIds?: string[];
  adminCidrs: string[];
  /** undefined: the given VPC's own CIDR (vpcId), looked up. */
  agentCidrs?: string[];
  tentaclePort: number;
  dbPort: number;
  sshPort: number;
  /** Open 41121 from the NLB's security group instead of the agent CIDRs directly. */
  loadBalancer: boolean;
  efs: boolean;
  tags: Record<string, string>;
}

/** `cidr` names the rule by its CIDR (a looked-up one by `what`). */
type Rule = { from: string; port: number; cidr?: pulumi.Input<string>; cidrName?: string; sg?: pulumi.Input<string>; description: pulumi.Input<string> };

/**
 * VPC, two public subnets in two availability zones (or the given ones) and the security
 * groups. Every opening is explicit and narrow:
 * - 3306: only between DB nodes and from the server hosts;
 * - 22: only from adminCidrs, the server hosts and (for streamed seeding) the DB nodes;
 * - 41121: only from agentCidrs (or from the NLB when there is one);
 * - 2049: only from the server hosts to EFS.
 * Nothing is ever opened to 0.0.0.0/0 inbound.
 */
export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly subnetIds: pulumi.Output<string>[];
  readonly dbSecurityGroupId: pulumi.Output<string>;
  readonly serverSecurityGroupId: pulumi.Output<string>;
  readonly efsSecurityGroupId?: pulumi.Output<string>;
  readonly lbSecurityGroupId?: pulumi.Output<string>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:network:Network", name, {}, opts);
    const p = { parent: this };
    const tags = (n: string) => ({ ...args.tags, Name: `${name}-${n}` });

    if (args.vpcId && args.subnetIds) {
      this.vpcId = pulumi.output(args.vpcId);
      this.subnetIds = args.subnetIds.map((s) => pulumi.output(s));
    } else {
      const vpc = new aws.ec2.Vpc(`${name}-vpc`, {
        cidrBlock: args.vpcCidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: tags("vpc"),
      }, p);
      const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags("igw") }, p);
      const rt = new aws.ec2.RouteTable(`${name}-public`, {
        vpcId: vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
        tags: tags("public"),
      }, p);
      // Only zones every account has: an opt-in zone (Local Zones, Wavelength) needs enabling first.
      const azs = aws.getAvailabilityZonesOutput({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] }, p);
      this.vpcId = vpc.id;
      this.subnetIds = [0, 1].map((i) => {
        const subnet = new aws.ec2.Subnet(`${name}-subnet-${i}`, {
          vpcId: vpc.id,
          cidrBlock: subnetCidr(args.vpcCidr, i),
          availabilityZone: azs.names[i],
          mapPublicIpOnLaunch: true,
          tags: tags(`subnet-${i}`),
        }, p);
        new aws.ec2.RouteTableAssociation(`${name}-subnet-${i}-rt`, { subnetId: subnet.id, routeTableId: rt.id }, p);
        return subnet.id;
      });
    }

    const sg = (n: string, description: string) =>
      new aws.ec2.SecurityGroup(`${name}-${n}`, { vpcId: this.vpcId, description, tags: tags(n) }, p);
    const db = sg("db", "pandora-ha database nodes");
    const servers = sg("servers", "pandora-ha Pandora FMS server hosts");
    const efs = args.efs ? sg("efs", "pandora-ha shared storage (EFS)") : undefined;
    const lb = args.loadBalancer ? sg("tentacle-lb", "pandora-ha Tentacle load balancer") : undefined;
    this.dbSecurityGroupId = db.id;
    this.serverSecurityGroupId = servers.id;
    this.efsSecurityGroupId = efs?.id;
    this.lbSecurityGroupId = lb?.id;

    // Each rule is named by what it allows (source, port, CIDR), so reordering a CIDR list
    // replaces nothing; the alias is the name by list index that earlier versions gave it.
    const ingress = (group: aws.ec2.SecurityGroup, groupName: string, rules: Rule[]) => {
      rules.forEach((r, i) => {
        const cidrPart = r.cidrName ? `-${r.cidrName.replace(/[./]/g, "-")}` : "";
        new aws.vpc.SecurityGroupIngressRule(`${name}-${groupName}-in-${r.from}-${r.port}${cidrPart}`, {
          securityGroupId: group.id,
          ipProtocol: "tcp",
          fromPort: r.port,
          toPort: r.port,
          cidrIpv4: r.cidr,
          referencedSecurityGroupId: r.sg,
          description: r.description,
          tags: tags(`${groupName}-in-${r.from}-${r.port}`),
        }, { ...p, aliases: [{ name: `${name}-${groupName}-in-${r.from}-${r.port}-${i}` }] });
      });
    };
    const admin = (port: number, what: string): Rule[] =>
      args.adminCidrs.map((cidr) => ({ from: "admin", port, cidr, cidrName: cidr, description: `${what} from admin ${cidr}` }));
    const agents = (): Rule[] => {
      const from = "agents";
      const port = args.tentaclePort;
      if (args.agentCidrs) return args.agentCidrs.map((cidr) => ({ from, port, cidr, cidrName: cidr, description: `Tentacle from agents ${cidr}` }));
      // The given VPC's CIDR: where its agents send from unless agentCidrs says otherwise.
      const cidr = aws.ec2.getVpcOutput({ id: args.vpcId! }, p).cidrBlock;
      return [{ from, port, cidr, cidrName: "vpc", description: pulumi.interpolate`Tentacle from agents ${cidr} (the VPC)` }];
    };

    ingress(db, "db", [
      { from: "db", port: args.dbPort, sg: db.id, description: "replication between DB nodes" },
      { from: "servers", port: args.dbPort, sg: servers.id, description: "Pandora servers and pandora_ha" },
      { from: "db", port: args.sshPort, sg: db.id, description: "streamed seeding between DB nodes" },
      { from: "servers", port: args.sshPort, sg: servers.id, description: "pandora_ha resync over SSH" },
      ...admin(args.sshPort, "SSH"),
    ]);
    ingress(servers, "servers", [
      ...admin(args.sshPort, "SSH"),
      ...(lb
        ? [{ from: "lb", port: args.tentaclePort, sg: lb.id, description: "Tentacle from the load balancer" }]
        : agents()),
    ]);
    if (lb) ingress(lb, "tentacle-lb", agents());
    if (efs) ingress(efs, "efs", [{ from: "servers", port: 2049, sg: servers.id, description: "NFS from Pandora servers" }]);

    // Outbound: packages, the NLB's health checks and replication need it.
    for (const [group, groupName] of [[db, "db"], [servers, "servers"], ...(lb ? [[lb, "tentacle-lb"]] : [])] as Array<[aws.ec2.SecurityGroup, string]>) {
      new aws.vpc.SecurityGroupEgressRule(`${name}-${groupName}-out`, {
        securityGroupId: group.id,
        ipProtocol: "-1",
        cidrIpv4: "0.0.0.0/0",
        description: "all outbound",
      }, p);
    }

    this.registerOutputs({ vpcId: this.vpcId, subnetIds: this.subnetIds });
  }
}

/** The i-th /24-or-smaller half of the VPC: split the VPC range into four and take quarter i. */
export function subnetCidr(vpcCidr: string, i: number): string {
  const [ip, bitsStr] = vpcCidr.split("/");
  const bits = Number(bitsStr);
  const base = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const sub = bits + 2;
  const addr = base + i * 2 ** (32 - sub);
  return `${[24, 16, 8, 0].map((s) => (addr >>> s) & 255).join(".")}/${sub}`;
}
