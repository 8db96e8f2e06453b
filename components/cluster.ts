import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig } from "../lib/config";
import { buildPlan } from "../lib/plan";
import type { HostStep } from "../lib/plan";
import { consoleRemoteConfigLine, renderAgentSnippet } from "../lib/render/pandora";
import { Credentials } from "./credentials";
import { DatabaseNode } from "./databaseNode";
import { DataServers } from "./dataServers";
import { Hosts } from "./hosts";
import type { AwsHostsArgs } from "./hosts";
import { Network } from "./network";
import { Replication } from "./replication";
import { Rollout } from "./rollout";
import { PandoraHa } from "./runtime";
import { StepRunner } from "./steps";

export interface PandoraHaClusterArgs {
  config: ClusterConfig;
  /** Tags on every AWS resource. */
  tags?: Record<string, string>;
}

/**
 * The whole deployment: network and hosts (aws) or the existing hosts, the database nodes,
 * replication seeded from the first node, the Pandora data servers and the pandora_ha daemon
 * on each of them. Every host step comes from one plan (lib/plan.ts), the same one the lab
 * runs.
 */
export class PandoraHaCluster extends pulumi.ComponentResource {
  readonly plan: HostStep[];
  readonly runner: StepRunner;
  readonly dbNodes: pulumi.Output<Array<{ name: string; address: string; serverId: number; initialRole: string; label: string }>>;
  readonly servers: pulumi.Output<Array<{ name: string; address: string; master: number }>>;
  readonly haHosts: pulumi.Output<string>;
  readonly tentacleEndpoint: pulumi.Output<string>;
  readonly agentConfig: pulumi.Output<string>;
  readonly consoleConfig: string;
  readonly sshCommands: pulumi.Output<Record<string, string>>;
  readonly sshPrivateKey?: pulumi.Output<string>;
  readonly tentaclePassword: pulumi.Output<string>;

  constructor(name: string, args: PandoraHaClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:index:PandoraHaCluster", name, {}, opts);
    const cfg = args.config;
    const onAws = cfg.platform === "aws";
    const tags = { "pandora-ha:stack": `${pulumi.getProject()}-${pulumi.getStack()}`, ...(args.tags ?? {}) };
    const p = { parent: this };

    const creds = new Credentials(`${name}-credentials`, { given: cfg.passwords, generateAdminKey: onAws }, p);

    let network: Network | undefined;
    let awsHosts: AwsHostsArgs | undefined;
    if (onAws) {
      network = new Network(`${name}-net`, {
        vpcCidr: cfg.aws.vpcCidr,
        vpcId: cfg.aws.vpcId,
        subnetIds: cfg.aws.subnetIds,
        adminCidrs: cfg.adminCidrs,
        agentCidrs: cfg.agentCidrs,
        tentaclePort: cfg.tentaclePort,
        dbPort: cfg.dbPort,
        sshPort: cfg.ssh.port,
        loadBalancer: cfg.tentacleLoadBalancer,
        efs: cfg.sharedStorage === "efs",
        tags,
      }, p);
      const keyPair = new aws.ec2.KeyPair(`${name}-admin`, { publicKey: creds.adminPublicKey!, tags }, p);
      awsHosts = {
        os: cfg.os,
        subnetIds: network.subnetIds,
        dbSecurityGroupId: network.dbSecurityGroupId,
        serverSecurityGroupId: network.serverSecurityGroupId,
        keyName: keyPair.keyName,
        dbInstanceType: cfg.aws.dbInstanceType,
        serverInstanceType: cfg.aws.serverInstanceType,
        rootVolumeSize: cfg.aws.rootVolumeSize,
        binlogVolumeSize: cfg.aws.binlogVolumeSize,
        tags,
      };
    }

    const hosts = new Hosts(`${name}-hosts`, {
      hosts: [
        ...cfg.dbNodes.map((n) => ({ name: n.name, kind: "db" as const, host: n.host, address: n.address })),
        ...cfg.servers.map((s) => ({ name: s.name, kind: "server" as const, host: s.host, address: s.address })),
      ],
      aws: awsHosts,
    }, p);

    this.plan = buildPlan(cfg, {
      binlogVolumes: onAws,
      sharedSource: cfg.sharedStorage === "efs" ? { ref: "efs:dns" } : cfg.nfsExport,
    });

    const sshKey = onAws ? creds.adminPrivateKey! : pulumi.secret(cfg.ssh.privateKey!.reveal());
    const runner = new StepRunner((n) => hosts.get(n), { user: cfg.ssh.user, port: cfg.ssh.port, privateKey: sshKey }, name);
    this.runner = runner;
    for (const [k, v] of Object.entries(creds.passwords)) runner.provide(`secret:${k}`, v);
    runner.provide("secret:clusterPrivateKey", creds.clusterPrivateKey);
    runner.provide("publicKey:cluster", creds.clusterPublicKey);
    for (const n of cfg.dbNodes) {
      const h = hosts.get(n.name);
      if (h.binlogVolumeId) {
        runner.provide(`volume:${n.name}`, h.binlogVolumeId);
        runner.provideResources(`volumeAttachment:${n.name}`, [h.binlogAttachment!]);
      }
    }

    const master = cfg.dbNodes[0];
    const dbComponents = cfg.dbNodes.map((n) =>
      new DatabaseNode(`${name}-${n.name}`, {
        node: n,
        role: n === master ? "master" : "replica",
        steps: this.plan.filter((s) => s.group === "db" && s.host === n.name),
        runner,
        address: hosts.get(n.name).address,
      }, p));

    new Replication(`${name}-replication`, {
      initialMaster: master.name,
      steps: this.plan.filter((s) => s.group === "replication"),
      runner,
    }, p);

    const serverHandles = cfg.servers.map((s) => hosts.get(s.name));
    const dataServers = new DataServers(`${name}-servers`, {
      servers: cfg.servers,
      handles: serverHandles,
      steps: this.plan.filter((s) => s.group === "servers"),
      runner,
      tentaclePort: cfg.tentaclePort,
      efs: onAws && cfg.sharedStorage === "efs" ? { subnetIds: network!.subnetIds, securityGroupId: network!.efsSecurityGroupId! } : undefined,
      loadBalancer: onAws && cfg.tentacleLoadBalancer
        ? { subnetIds: network!.subnetIds, securityGroupId: network!.lbSecurityGroupId!, vpcId: network!.vpcId, internal: cfg.tentacleLoadBalancerInternal }
        : undefined,
      tags,
    }, p);

    // The pandora_ha daemon on every server host, once the cluster and the host are ready.
    for (const s of cfg.servers) {
      new PandoraHa(`${name}-${s.name}-daemon`, {
        server: s,
        steps: this.plan.filter((st) => st.group === "runtime" && st.host === s.name),
        runner,
      }, p);
    }

    // Changes that need the DB servers restarted: one node at a time, the master last after a
    // switchover through pandora_ha (once every daemon runs).
    new Rollout(`${name}-rollout`, { steps: this.plan.filter((st) => st.group === "rollout"), runner }, p);

    // Every step of the plan became a resource, in some component.
    const missing = this.plan.filter((s) => !runner.commands.has(s.id)).map((s) => s.id);
    if (missing.length) throw new Error(`plan steps without a resource: ${missing.join(", ")}`);

    this.dbNodes = pulumi.all(dbComponents.map((d) => d.address)).apply((addrs) =>
      cfg.dbNodes.map((n, i) => ({ name: n.name, address: addrs[i], serverId: n.serverId, initialRole: i === 0 ? "master" : "replica", label: n.label })));
    this.servers = pulumi.all(serverHandles.map((h) => h.address)).apply((addrs) =>
      cfg.servers.map((s, i) => ({ name: s.name, address: addrs[i], master: s.master })));
    this.haHosts = pulumi.all(dbComponents.map((d) => d.address)).apply((a) => a.join(","));
    this.tentacleEndpoint = dataServers.tentacleEndpoint;
    const primary = dataServers.loadBalancerDnsName ?? serverHandles[0].address;
    const secondary = dataServers.loadBalancerDnsName ? serverHandles[0].address : serverHandles[1]?.address;
    this.agentConfig = pulumi.all([primary, secondary]).apply(([pr, se]) =>
      renderAgentSnippet({ primary: pr, secondary: se, port: cfg.tentaclePort, passwordProtected: true }));
    this.consoleConfig = consoleRemoteConfigLine();
    const keyFile = onAws ? `pandora-ha-${pulumi.getStack()}.key` : "<your key>";
    const allHosts = [...cfg.dbNodes.map((n) => n.name), ...cfg.servers.map((s) => s.name)];
    this.sshCommands = pulumi.all(allHosts.map((h) => hosts.get(h).connectHost)).apply((addrs) =>
      Object.fromEntries(allHosts.map((h, i) => [h, `ssh -i ${keyFile} -p ${cfg.ssh.port} ${cfg.ssh.user}@${addrs[i]}`])));
    this.sshPrivateKey = onAws ? creds.adminPrivateKey : undefined;
    this.tentaclePassword = creds.passwords.tentaclePassword;

    this.registerOutputs({
      dbNodes: this.dbNodes,
      servers: this.servers,
      haHosts: this.haHosts,
      tentacleEndpoint: this.tentacleEndpoint,
      agentConfig: this.agentConfig,
      consoleConfig: this.consoleConfig,
      sshCommands: this.sshCommands,
    });
  }
}
