/**
 * The whole Pulumi program under the mock engine: the resource graph for three stacks, the
 * security rules, secrecy and the ordering of host steps.
 */
import * as pulumi from "@pulumi/pulumi";
import { gunzipSync } from "node:zlib";
import { describe, expect, test, vi } from "vitest";
import { MOCK_VPC_CIDR, installMocks, invokes as mockInvokes, settle, stackConfig, valueOf } from "./mocks";
import type { Registered } from "./mocks";

const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const PKG_RPM = ["https://downloads.example.org/pandorafms_server-7.0NG.777-1.noarch.rpm"];
const PKG_DEB = ["https://downloads.example.org/pandorafms.server_7.0NG.777.deb"];
const GIVEN_ROOT_PW = "GivenRootPassword0123";
const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nEXISTINGKEYMATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";

interface Run {
  registered: Registered[];
  deps: Map<string, string[]>;
  /** Resource name → its parent's URN. */
  parents: Map<string, string>;
  /** Names of the resources registered with deleteBeforeReplace. */
  deleteBeforeReplace: Set<string>;
  mod: Record<string, any>;
  outputs: Record<string, unknown>;
}

/** Runs index.ts with this stack config, as `pulumi preview` would, and waits for it to settle. */
async function runProgram(values: Record<string, unknown>, secretKeys: string[] = []): Promise<Run> {
  vi.resetModules();
  const registered = installMocks();
  // Record each registration's dependency URNs (what dependsOn and parenting produce).
  const deps = new Map<string, string[]>();
  const parents = new Map<string, string>();
  const deleteBeforeReplace = new Set<string>();
  const monitor = (pulumi.runtime as any).getMonitor();
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, cb: any) => {
    deps.set(req.getName(), req.getDependenciesList());
    parents.set(req.getName(), req.getParent());
    if (req.getDeletebeforereplace()) deleteBeforeReplace.add(req.getName());
    return original(req, cb);
  };
  pulumi.runtime.setAllConfig(stackConfig(values), secretKeys.map((k) => `pandora-ha:${k}`));
  const mod = await import("../../index");
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(mod)) outputs[k] = await valueOf(v as any);
  await settle();
  return { registered, deps, parents, deleteBeforeReplace, mod, outputs };
}

const ofType = (r: Run, type: string) => r.registered.filter((x) => x.type === type);
const commands = (r: Run) => ofType(r, "command:remote:Command");
const command = (r: Run, id: string) => {
  const c = commands(r).find((x) => x.name === `pandora-ha-${id.replace(/\//g, "-")}`);
  if (!c) throw new Error(`no command for ${id}; have ${commands(r).map((x) => x.name).join(", ")}`);
  return c;
};
/** A rendered file a step installs, as its triggers show it in plain text ("<label>\n<text>"). */
const textOf = (r: Run, id: string, label: RegExp) => {
  const t = (command(r, id).inputs.triggers as string[]).find((x) => label.test(x.split("\n")[0]));
  if (t === undefined) throw new Error(`${id}: no trigger labelled ${label}`);
  return t.slice(t.indexOf("\n") + 1);
};
/** The my.cnf a node's configure step writes. */
const myCnfOf = (r: Run, node: string) => textOf(r, `db/${node}/configure`, /^my\.cnf /);

/** Inputs with every secret-wrapped value removed: what would be visible in plain text. */
function plainView(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plainView);
  if (v && typeof v === "object") {
    if (SECRET_SIG_KEY in (v as object)) return "[secret]";
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainView(x)]));
  }
  return v;
}
const isSecretInput = (v: unknown) => !!v && typeof v === "object" && SECRET_SIG_KEY in (v as object);

function ingressRules(r: Run) {
  return ofType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((x) => x.inputs);
}

describe("default aws stack (rocky9, percona84 seeded by clone, 2 DB nodes, 2 servers, efs)", async () => {
  const run = await runProgram(
    { adminCidrs: ["203.0.113.4/32"], pandoraServerPackages: PKG_RPM, dbRootPassword: GIVEN_ROOT_PW },
    ["dbRootPassword"],
  );

  test("resource counts", () => {
    expect(ofType(run, "aws:ec2/vpc:Vpc")).toHaveLength(1);
    expect(ofType(run, "aws:ec2/subnet:Subnet")).toHaveLength(2);
    expect(new Set(ofType(run, "aws:ec2/subnet:Subnet").map((s) => s.inputs.availabilityZone)).size).toBe(2);
    expect(ofType(run, "aws:ec2/instance:Instance")).toHaveLength(4);
    expect(ofType(run, "aws:ebs/volume:Volume")).toHaveLength(2);
    expect(ofType(run, "aws:ec2/volumeAttachment:VolumeAttachment")).toHaveLength(2);
    expect(ofType(run, "aws:ec2/securityGroup:SecurityGroup")).toHaveLength(3);
    expect(ofType(run, "aws:efs/fileSystem:FileSystem")).toHaveLength(1);
    expect(ofType(run, "aws:efs/mountTarget:MountTarget")).toHaveLength(2);
    expect(ofType(run, "aws:lb/loadBalancer:LoadBalancer")).toHaveLength(0);
    expect(ofType(run, "random:index/randomPassword:RandomPassword")).toHaveLength(4); // dbRootPassword was given
    expect(ofType(run, "tls:index/privateKey:PrivateKey")).toHaveLength(2);
    expect(ofType(run, "aws:ec2/keyPair:KeyPair")).toHaveLength(1);
    // 2 DB nodes × (binlog volume, install, keys, my.cnf, accounts, guard, repl-password) + 1 seed
    // + 2 servers × (install, keys, shared storage, tentacle, ha-tools, pandora-conf, pandora-ha, rolling-restart).
    expect(commands(run)).toHaveLength(31);
  });

  test("percona84 and clone: the flavor and the seed method on the command lines, a my.cnf for 8.4 with the clone plugin", () => {
    expect(command(run, "db/db1/install").inputs.create).toContain("DB_FLAVOR='percona84'");
    for (const id of ["replication/db2/seed", "servers/pfms1/ha-tools", "servers/pfms2/ha-tools"])
      expect(command(run, id).inputs.create, id).toContain("SEED_METHOD='clone'");
    const cnf = myCnfOf(run, "db1");
    expect(cnf).toMatch(/^innodb_redo_log_capacity = 128M/m);
    expect(cnf).toMatch(/^plugin-load-add = mysql_clone\.so/m);
    expect(cnf).not.toMatch(/^(innodb_log_file_size|master-info-repository|relay-log-info-repository) /m);
  });

  test("instances: official Rocky 9 image, gp3 encrypted root, DB nodes in two AZs", () => {
    const inst = ofType(run, "aws:ec2/instance:Instance");
    for (const i of inst) {
      expect(i.inputs.ami).toBe("ami-0mock");
      expect(i.inputs.rootBlockDevice).toMatchObject({ volumeType: "gp3", encrypted: true, volumeSize: 30 });
      expect(i.inputs.metadataOptions.httpTokens).toBe("required");
    }
    const db = inst.filter((i) => i.inputs.tags["pandora-ha:role"] === "db").sort((x, y) => x.name.localeCompare(y.name));
    expect(db.map((i) => i.inputs.subnetId)).toEqual(["pandora-ha-net-subnet-0-id", "pandora-ha-net-subnet-1-id"]);
    expect(ofType(run, "aws:ebs/volume:Volume").every((v) => v.inputs.encrypted && v.inputs.size === 50)).toBe(true);
  });

  test("no command has a delete (destroy removes the instances themselves)", () => {
    expect(commands(run).filter((c) => c.inputs.delete).map((c) => c.name)).toEqual([]);
  });

  test("security: 3306 only between DB nodes and from servers; never 0.0.0.0/0 on 22 or 3306", () => {
    const rules = ingressRules(run);
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      expect(r.cidrIpv4 === "0.0.0.0/0" && [22, 3306].includes(r.fromPort), JSON.stringify(r)).toBe(false);
      expect(r.fromPort).toBe(r.toPort);
    }
    const mysql = rules.filter((r) => r.fromPort === 3306);
    expect(mysql).toHaveLength(2);
    for (const r of mysql) {
      expect(r.securityGroupId).toBe("pandora-ha-net-db-id");
      expect(r.cidrIpv4).toBeUndefined();
      expect(["pandora-ha-net-db-id", "pandora-ha-net-servers-id"]).toContain(r.referencedSecurityGroupId);
    }
    const ssh = rules.filter((r) => r.fromPort === 22);
    for (const r of ssh) expect(r.cidrIpv4 === "203.0.113.4/32" || r.referencedSecurityGroupId !== undefined).toBe(true);
    expect(ssh.filter((r) => r.cidrIpv4 === "203.0.113.4/32").map((r) => r.securityGroupId).sort()).toEqual([
      "pandora-ha-net-db-id",
      "pandora-ha-net-servers-id",
    ]);
    const tentacle = rules.filter((r) => r.fromPort === 41121);
    expect(tentacle).toEqual([expect.objectContaining({ securityGroupId: "pandora-ha-net-servers-id", cidrIpv4: "10.42.0.0/16" })]);
    const nfs = rules.filter((r) => r.fromPort === 2049);
    expect(nfs).toEqual([expect.objectContaining({ securityGroupId: "pandora-ha-net-efs-id", referencedSecurityGroupId: "pandora-ha-net-servers-id" })]);
    expect(rules.every((r) => [22, 3306, 41121, 2049].includes(r.fromPort))).toBe(true);
  });

  test("secrets: generated passwords and keys are secret; no password in any command line or output", async () => {
    const pw = ofType(run, "random:index/randomPassword:RandomPassword");
    expect(pw.every((p) => p.inputs.length >= 32 && p.inputs.special === false)).toBe(true);
    for (const c of commands(run)) {
      expect(isSecretInput(c.inputs.stdin), `${c.name} stdin is not secret`).toBe(true);
      expect(isSecretInput(c.inputs.connection), `${c.name} connection (holds the key) is not secret`).toBe(true);
      expect(typeof c.inputs.create).toBe("string");
    }
    // Every secret value the mocks produced, and the one given in config.
    const secrets = [GIVEN_ROOT_PW, "MOCKKEY", ...pw.map((_, i) => "generatedPw")];
    const visible = JSON.stringify(run.registered.map((r) => plainView(r.inputs)));
    for (const s of secrets) expect(visible, `${s} visible in plain text`).not.toContain(s);
    expect(await pulumi.isSecret(run.mod.tentaclePassword)).toBe(true);
    expect(await pulumi.isSecret(run.mod.sshPrivateKey)).toBe(true);
    const plainOutputs = ["dbNodes", "servers", "haHosts", "tentacleEndpoint", "agentConfig", "consoleConfig", "sshCommands", "hostSteps"];
    for (const k of plainOutputs) {
      const text = JSON.stringify(run.outputs[k]);
      for (const s of secrets) expect(text, `${s} in output ${k}`).not.toContain(s);
    }
  });

  test("the given root password reaches the bootstrap step on stdin only", () => {
    const boot = command(run, "db/db1/bootstrap");
    expect(boot.inputs.create).not.toContain(GIVEN_ROOT_PW);
    expect(boot.inputs.stdin[SECRET_SIG_KEY]).toBeDefined();
    expect(boot.inputs.stdin.value).toContain(`export DB_ROOT_PASSWORD='${GIVEN_ROOT_PW}'`);
  });

  test("ordering: seeding after both nodes' accounts and both key exchanges", () => {
    const seedDeps = run.deps.get("pandora-ha-replication-db2-seed")!;
    const urnOf = (id: string) => expect.stringContaining(`::pandora-ha-${id.replace(/\//g, "-")}`);
    for (const d of ["db/db1/bootstrap", "db/db2/bootstrap", "db/db1/ssh-keys", "db/db2/ssh-keys"])
      expect(seedDeps).toContainEqual(urnOf(d));
    expect(run.deps.get("pandora-ha-db-db1-bootstrap")).toContainEqual(urnOf("db/db1/configure"));
    expect(run.deps.get("pandora-ha-db-db1-configure")).toContainEqual(urnOf("db/db1/install"));
    expect(run.deps.get("pandora-ha-db-db1-configure")).toContainEqual(urnOf("db/db1/binlog-volume"));
    expect(run.deps.get("pandora-ha-db-db1-binlog-volume")).toContainEqual(expect.stringContaining("VolumeAttachment"));
    expect(run.deps.get("pandora-ha-servers-pfms1-shared-storage")).toContainEqual(expect.stringContaining("MountTarget"));
  });

  test("hosts are reached as the image's user with sudo; DB nodes and servers by private address in the conf", () => {
    const c = command(run, "db/db1/install");
    expect(c.inputs.create).toMatch(/^sudo -n env /);
    expect(c.inputs.connection.value).toMatchObject({ user: "rocky", port: 22, dialErrorLimit: 40 });
    const conf = command(run, "servers/pfms1/pandora-conf");
    expect(conf.inputs.stdin.value).toMatch(/^ha_hosts 10\.42\.0\.\d+,10\.42\.0\.\d+$/m);
    expect(conf.inputs.stdin.value).toMatch(/^(export PANDORA_TOKENS=')?servername pfms1$/m);
    expect(command(run, "servers/pfms2/pandora-conf").inputs.stdin.value).toMatch(/^(export PANDORA_TOKENS=')?servername pfms2$/m);
  });

  test("outputs: nodes with roles, Tentacle endpoint, agent fragment, console line, ssh commands", () => {
    const nodes = run.outputs.dbNodes as Array<Record<string, unknown>>;
    expect(nodes.map((n) => [n.name, n.serverId, n.initialRole])).toEqual([["db1", 1, "master"], ["db2", 2, "replica"]]);
    expect(run.outputs.tentacleEndpoint).toMatch(/^10\.42\.0\.\d+:41121$/);
    expect(run.outputs.agentConfig).toMatch(/^secondary_mode on_error$/m);
    expect(run.outputs.consoleConfig).toBe('$config["remote_config"] = "/var/spool/pandora/data_in";');
    expect(Object.keys(run.outputs.sshCommands as object)).toEqual(["db1", "db2", "pfms1", "pfms2"]);
    expect((run.outputs.hostSteps as string[]).length).toBe(31);
  });
});

describe("3-node rocky8 percona80 stack (an existing install, seeded by xtrabackup) with an NLB", async () => {
  const run = await runProgram({
    os: "rocky8",
    dbFlavor: "percona80",
    seedMethod: "xtrabackup",
    adminCidrs: ["203.0.113.0/28", "198.51.100.7/32"],
    agentCidrs: ["192.0.2.0/24"],
    pandoraServerPackages: PKG_RPM,
    dbNodes: [{ name: "db1" }, { name: "db2" }, { name: "db3", serverId: 30 }],
    tentacleLoadBalancer: true,
  });

  test("three DB nodes with unique server_id in their my.cnf, two replicas seeded from db1", () => {
    expect(ofType(run, "aws:ec2/instance:Instance")).toHaveLength(5);
    const ids = ["db1", "db2", "db3"].map((n) => /^server_id = (\d+)/m.exec(myCnfOf(run, n))![1]);
    expect(ids).toEqual(["1", "2", "30"]);
    // Percona 8.0's file as before: the redo log by file size, no clone plugin (seeded by xtrabackup).
    expect(myCnfOf(run, "db1")).toMatch(/^innodb_log_file_size = 64M$/m);
    expect(myCnfOf(run, "db1")).not.toMatch(/mysql_clone/);
    expect(commands(run).filter((c) => c.name.startsWith("pandora-ha-replication-")).map((c) => c.name)).toEqual([
      "pandora-ha-replication-db2-seed",
      "pandora-ha-replication-db3-seed",
    ]);
    for (const r of ["db2", "db3"]) {
      const create = command(run, `replication/${r}/seed`).inputs.create;
      // The master is asked of the cluster (every node's address), never assumed to be db1.
      expect(create).toMatch(/DB_HOSTS='10\.42\.0\.\d+ 10\.42\.0\.\d+ 10\.42\.0\.\d+'/);
      expect(create).not.toMatch(/MASTER_HOST=/);
      expect(create).toContain("DB_FLAVOR='percona80'");
      expect(create).toContain("SEED_METHOD='xtrabackup'");
      for (const n of ["db1", "db2", "db3"]) expect(run.deps.get(`pandora-ha-replication-${r}-seed`)).toContainEqual(expect.stringContaining(`::pandora-ha-db-${n}-bootstrap`));
    }
    expect(commands(run)).toHaveLength(3 * 7 + 2 + 2 * 8);
  });

  test("NLB on 41121 in front of both servers; agents reach only the NLB", () => {
    expect(ofType(run, "aws:lb/loadBalancer:LoadBalancer")).toEqual([
      expect.objectContaining({ inputs: expect.objectContaining({ loadBalancerType: "network", internal: true }) }),
    ]);
    expect(ofType(run, "aws:lb/listener:Listener")[0].inputs).toMatchObject({ port: 41121, protocol: "TCP" });
    expect(ofType(run, "aws:lb/targetGroupAttachment:TargetGroupAttachment")).toHaveLength(2);
    const t = ingressRules(run).filter((r) => r.fromPort === 41121);
    expect(t).toEqual(expect.arrayContaining([
      expect.objectContaining({ securityGroupId: "pandora-ha-net-tentacle-lb-id", cidrIpv4: "192.0.2.0/24" }),
      expect.objectContaining({ securityGroupId: "pandora-ha-net-servers-id", referencedSecurityGroupId: "pandora-ha-net-tentacle-lb-id" }),
    ]));
    expect(t).toHaveLength(2);
    expect(ingressRules(run).filter((r) => r.fromPort === 22 && r.cidrIpv4).length).toBe(4); // 2 CIDRs × (db, servers)
    expect(run.outputs.tentacleEndpoint).toBe("pandora-ha-tentacle-0123.elb.eu-west-1.amazonaws.com:41121");
    expect(run.outputs.agentConfig).toMatch(/^server_ip pandora-ha-tentacle-0123\.elb/m);
  });

  test("Rocky 8 image filter", () => {
    // The AMI lookup is an invoke; its filter is visible through the instance's ami only, so
    // check the table the Hosts component uses.
    return import("../../components/hosts").then(({ AMI_FILTERS }) => {
      expect(AMI_FILTERS.rocky8).toEqual({ owner: "792107900819", name: "Rocky-8-EC2-Base-8.*x86_64*" });
      expect(AMI_FILTERS.ubuntu2404.owner).toBe("099720109477");
    });
  });
});

describe("existing ubuntu2204 mariadb1011 stack", async () => {
  const run = await runProgram(
    {
      platform: "existing",
      os: "ubuntu2204",
      dbFlavor: "mariadb1011",
      dbNodes: [{ name: "db1", host: "192.0.2.11" }, { name: "db2", host: "192.0.2.12", address: "10.1.0.12" }],
      servers: [{ name: "pfms1", host: "192.0.2.21", master: 1 }, { name: "pfms2", host: "192.0.2.22", master: 0 }],
      ssh: { user: "admin", port: 2222, privateKey: SSH_KEY },
      sharedStorage: "nfs",
      nfsExport: "nas1:/export/pandora",
      pandoraServerPackages: PKG_DEB,
    },
    ["ssh"],
  );

  test("no cloud resources at all; only host steps and generated secrets", () => {
    expect(run.registered.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
    expect(ofType(run, "random:index/randomPassword:RandomPassword")).toHaveLength(5);
    expect(ofType(run, "tls:index/privateKey:PrivateKey")).toHaveLength(1); // cluster key only
    // No binlog volume step on existing hosts.
    expect(commands(run).map((c) => c.name).filter((n) => n.includes("binlog"))).toEqual([]);
    // 2 DB nodes × 6 (with the guard and repl-password) + 1 seed + 2 servers × (install, keys, nfs,
    // tentacle, ha-tools, pandora-conf, pandora-ha, rolling-restart) + 2 pandora-ha on-destroy companions.
    expect(commands(run)).toHaveLength(2 * 6 + 1 + 2 * 8 + 2);
  });

  test("connections use the given user, port and key (secret), with sudo for a non-root user", () => {
    const c = command(run, "db/db2/configure");
    // The whole connection is secret because it carries the private key.
    expect(isSecretInput(c.inputs.connection)).toBe(true);
    expect(c.inputs.connection.value).toMatchObject({ host: "192.0.2.12", user: "admin", port: 2222 });
    expect(JSON.stringify(plainView(c.inputs))).not.toContain("EXISTINGKEYMATERIAL");
    expect(c.inputs.create).toMatch(/^sudo -n env /);
  });

  test("MariaDB my.cnf at /etc/mysql/my.cnf; replication uses the cluster address", () => {
    const create = command(run, "db/db1/configure").inputs.create;
    expect(create).toContain("MYCNF_PATH='/etc/mysql/my.cnf'");
    const cnf = myCnfOf(run, "db1");
    expect(cnf).toMatch(/^gtid_strict_mode = ON/m);
    expect(cnf).not.toMatch(/super_read_only|gtid-mode/);
    expect(command(run, "db/db1/install").inputs.create).toContain("DB_FLAVOR='mariadb1011'");
    expect(command(run, "replication/db2/seed").inputs.create).toContain("SEED_METHOD='mariabackup'");
    // db2's cluster address differs from its SSH host: ha_hosts and the seed use the address.
    const tokens = command(run, "servers/pfms1/pandora-conf").inputs.stdin.value as string;
    expect(tokens).toMatch(/^ha_hosts 192\.0\.2\.11,10\.1\.0\.12$/m);
    expect(tokens).toMatch(/^master 1$/m);
    expect(command(run, "servers/pfms2/pandora-conf").inputs.stdin.value).toMatch(/^master 0$/m);
    expect(command(run, "replication/db2/seed").inputs.create).toContain("DB_HOSTS='192.0.2.11 10.1.0.12'");
    expect(command(run, "replication/db2/seed").inputs.create).toContain("SELF_HOST='10.1.0.12'");
  });

  test("shared storage from the NFS export, subdirectories only", () => {
    const create = command(run, "servers/pfms1/shared-storage").inputs.create;
    expect(create).toContain("SHARED_SOURCE='nas1:/export/pandora'");
    expect(create).toContain("SUBDIRS='conf collections md5 netflow discovery'");
    expect(create).toContain("ATTACHMENT_DIR='/var/www/html/pandora_console/attachment'");
  });

  test("Tentacle conf carries its password on stdin only", () => {
    const t = command(run, "servers/pfms1/tentacle");
    expect(t.inputs.create).not.toMatch(/password/i);
    expect(t.inputs.stdin.value).toMatch(/^export TENTACLE_CONF='[^']*port 41121\n/m);
  });

  test("sshCommands point at the given hosts", () => {
    expect((run.outputs.sshCommands as Record<string, string>).db1).toBe("ssh -i <your key> -p 2222 admin@192.0.2.11");
    expect(run.outputs.sshPrivateKey).toBeUndefined();
  });
});

describe("aws stack with sharedStorage mounted: the hosts mount the share themselves, no EFS", async () => {
  const run = await runProgram({
    adminCidrs: ["203.0.113.4/32"],
    pandoraServerPackages: PKG_RPM,
    sharedStorage: "mounted",
    sharedPath: "/mnt/cephfs/pandora",
  });

  test("no EFS file system, mount target or EFS security group; the same host steps as with efs", () => {
    expect(ofType(run, "aws:efs/fileSystem:FileSystem")).toEqual([]);
    expect(ofType(run, "aws:efs/mountTarget:MountTarget")).toEqual([]);
    expect(ofType(run, "aws:ec2/securityGroup:SecurityGroup")).toHaveLength(2);
    expect(commands(run)).toHaveLength(31);
  });

  test("shared-storage bind-mounts from sharedPath, with no NFS source and no NFS client; Tentacle waits for it", () => {
    for (const s of ["pfms1", "pfms2"]) {
      const create = command(run, `servers/${s}/shared-storage`).inputs.create as string;
      expect(create).toContain("SHARED_KIND='mounted'");
      expect(create).toContain("MOUNT_ROOT='/mnt/cephfs/pandora'");
      expect(create).toContain("SUBDIRS='conf collections md5 netflow discovery'");
      expect(create).not.toContain("SHARED_SOURCE");
      expect(command(run, `servers/${s}/install`).inputs.create).toContain("NFS_CLIENT='0'");
      expect(run.deps.get(`pandora-ha-servers-${s}-shared-storage`)).not.toContainEqual(expect.stringContaining("MountTarget"));
      expect(run.deps.get(`pandora-ha-servers-${s}-tentacle`)).toContainEqual(expect.stringContaining(`::pandora-ha-servers-${s}-shared-storage`));
    }
  });
});

describe("invalid stack config registers nothing", () => {
  test("a key set with --secret that the program writes in plain text: refused, naming the key, before any resource", async () => {
    vi.resetModules();
    const registered = installMocks();
    pulumi.runtime.setAllConfig(
      stackConfig({ adminCidrs: ["203.0.113.4/32"], pandoraServerPackages: PKG_RPM, innodbBufferPoolSize: "8G", dbRootPassword: GIVEN_ROOT_PW }),
      ["pandora-ha:innodbBufferPoolSize", "pandora-ha:dbRootPassword"],
    );
    await expect(import("../../index")).rejects.toThrow(/pandora-ha:innodbBufferPoolSize: set as a secret, but it is not one to pandora-ha/);
    await settle();
    expect(registered).toEqual([]);
  });

  test("the program throws naming the key, before any resource", async () => {
    vi.resetModules();
    const registered = installMocks();
    pulumi.runtime.setAllConfig(stackConfig({ platform: "existing", dbNodes: [{ name: "db1" }] }), []);
    await expect(import("../../index")).rejects.toThrow(/pandora-ha:dbNodes/);
    await settle();
    expect(registered).toEqual([]);
  });
});

describe("the pandora_ha daemon on every server host", async () => {
  const stack = {
    platform: "existing",
    os: "ubuntu2204",
    dbFlavor: "mariadb1011",
    dbNodes: [{ name: "db1", host: "192.0.2.11" }, { name: "db2", host: "192.0.2.12" }, { name: "db3", host: "192.0.2.13" }],
    servers: [{ name: "pfms1", host: "192.0.2.21", bindAddress: "192.0.2.21" }, { name: "pfms2", host: "192.0.2.22" }],
    ssh: { user: "root", port: 22, privateKey: SSH_KEY },
    ha: { probeInterval: 0.25, probeTimeout: 2, failoverBudget: 2, failoverWindow: 600, connectDelay: 0.5 },
    sharedStorage: "nfs",
    nfsExport: "nas1:/export/pandora",
    pandoraServerPackages: PKG_DEB,
  };
  const run = await runProgram(stack, ["ssh"]);
  const { buildDaemonBundle } = await import("../../lib/bundle");
  const daemon = buildDaemonBundle();
  const urnOf = (id: string) => expect.stringContaining(`::pandora-ha-${id.replace(/\//g, "-")}`);
  const servers = ["pfms1", "pfms2"];

  test("one PandoraHa component per server host, holding that host's servers/<s>/pandora-ha step", () => {
    const comps = ofType(run, "pandora-ha:runtime:PandoraHa");
    expect(comps.map((c) => c.name)).toEqual(["pandora-ha-pfms1-daemon", "pandora-ha-pfms2-daemon"]);
    for (const s of servers) {
      command(run, `servers/${s}/pandora-ha`);
      expect(run.parents.get(`pandora-ha-servers-${s}-pandora-ha`)).toMatch(new RegExp(`PandoraHa::pandora-ha-${s}-daemon$`));
    }
    expect(run.outputs.hostSteps).toEqual(expect.arrayContaining(["pfms1: servers/pfms1/pandora-ha", "pfms2: servers/pfms2/pandora-ha"]));
  });

  test("runs after pandora-conf and ha-tools, the rest of its host, once every replica is seeded, one host at a time", () => {
    for (const s of servers) {
      const deps = run.deps.get(`pandora-ha-servers-${s}-pandora-ha`)!;
      for (const d of ["pandora-conf", "ha-tools", "tentacle", "ssh-keys", "install", "shared-storage"].map((x) => `servers/${s}/${x}`)) expect(deps).toContainEqual(urnOf(d));
      for (const d of ["replication/db2/seed", "replication/db3/seed", "db/db1/bootstrap"]) expect(deps).toContainEqual(urnOf(d));
      // Not after the other server's host steps.
      expect(deps).not.toContainEqual(urnOf(`servers/${servers.find((x) => x !== s)}/pandora-conf`));
    }
    // One host at a time: a new bundle restarts pfms1's daemon, then pfms2's.
    expect(run.deps.get("pandora-ha-servers-pfms2-pandora-ha")).toContainEqual(urnOf("servers/pfms1/pandora-ha"));
    expect(run.deps.get("pandora-ha-servers-pfms1-pandora-ha")).not.toContainEqual(urnOf("servers/pfms2/pandora-ha"));
  });

  test("pulumi destroy stops it: a resource of its own (create: nothing; delete: disabled under systemd, SIGTERM to a pandora_ha and a wait), after the step, with inputs a new bundle never changes; no other delete", () => {
    for (const s of servers) {
      const step = command(run, `servers/${s}/pandora-ha`);
      expect(step.inputs.delete).toBeUndefined();
      const d = commands(run).find((c) => c.name === `pandora-ha-servers-${s}-pandora-ha-on-destroy`)!;
      expect(d.inputs.create).toBe("true");
      expect(d.inputs.delete).toMatch(/^sh -c '.*systemctl disable --now pandora_ha\.service.*grep -q pandora_ha; then kill -TERM "\$p".*'$/);
      expect(d.inputs.triggers).toBeUndefined();
      expect(d.inputs.stdin).toBeUndefined();
      expect(run.deps.get(d.name)).toEqual([urnOf(`servers/${s}/pandora-ha`)]);
    }
    expect(commands(run).filter((c) => c.inputs.delete).map((c) => c.name).sort()).toEqual(servers.map((s) => `pandora-ha-servers-${s}-pandora-ha-on-destroy`));
  });

  test("its command line: paths, no secret, not the bundle nor the unit (in plain text in its triggers)", () => {
    const c = command(run, "servers/pfms1/pandora-ha");
    const create = c.inputs.create as string;
    expect(typeof create).toBe("string");
    for (const secret of ["generatedPw", "EXISTINGKEYMATERIAL", "MOCKKEY", "PRIVATE KEY"]) expect(create).not.toContain(secret);
    expect(create).not.toContain("DAEMON_JS_GZ_B64");
    expect(create.length).toBeLessThan(4000);
    expect(create).toContain("DAEMON_JS='/usr/share/pandora-ha/pandora_ha.js'");
    expect(create).toContain("DAEMON_RUNNER='/usr/share/pandora-ha/bin/pandora_ha'");
    expect(create).toContain("DAEMON_BIN='/usr/bin/pandora_ha'");
    expect(create).toContain("PID_FILE='/var/run/pandora_ha.pid'");
    expect(create).toContain("STATE_DIR='/var/lib/pandora-ha'");
    expect(create).toContain("NODE_DIST_URL='https://nodejs.org/dist/latest-v20.x'");
    // The unit: in plain text in the inputs (a preview shows its changed line), not a blob on the command line.
    expect(create).not.toContain("UNIT_B64");
    const unit = textOf(run, "servers/pfms1/pandora-ha", /^systemd unit \(\/etc\/systemd\/system\/pandora_ha\.service\)$/);
    expect(unit).toMatch(/^ExecStart=\/usr\/share\/pandora-ha\/bin\/pandora_ha -p \/var\/run\/pandora_ha\.pid \/etc\/pandora\/pandora_server\.conf$/m);
    expect(unit).toMatch(/^Restart=always$/m);
  });

  test("its stdin (secret) carries the bundle, gzip + base64", () => {
    for (const s of servers) {
      const c = command(run, `servers/${s}/pandora-ha`);
      expect(isSecretInput(c.inputs.stdin)).toBe(true);
      const m = /^DAEMON_JS_GZ_B64='([A-Za-z0-9+/=]+)'$/m.exec(c.inputs.stdin.value as string);
      expect(m, `${s}: no bundle on stdin`).not.toBeNull();
      expect(gunzipSync(Buffer.from(m![1], "base64")).toString("utf8")).toBe(daemon.js);
    }
  });

  test("its stdin carries the tokens pandora-conf writes: a changed token (a rotated password) re-runs it, restarting the daemon", () => {
    for (const s of servers) {
      const conf = /^export PANDORA_TOKENS=('.*?')$/ms.exec(command(run, `servers/${s}/pandora-conf`).inputs.stdin.value as string);
      const mine = /^export PANDORA_TOKENS=('.*?')$/ms.exec(command(run, `servers/${s}/pandora-ha`).inputs.stdin.value as string);
      expect(conf, `${s}: pandora-conf has no PANDORA_TOKENS`).not.toBeNull();
      expect(mine?.[1]).toBe(conf![1]);
      expect(mine![1]).toMatch(/^ha_dbpass \S+$/m);
    }
  });

  test("its triggers hold the bundle's hash, and its unit in plain text", () => {
    const t = command(run, "servers/pfms1/pandora-ha").inputs.triggers as string[];
    expect(t).toEqual([expect.stringMatching(/^[0-9a-f]{16}$/), daemon.hash, expect.stringMatching(/^systemd unit /)]);
  });

  test("a preview you can review: my.cnf, the units and tentacle_server.conf in plain text in the inputs; no blob of them on a command line; no secret in them", () => {
    for (const n of ["db1", "db2", "db3"]) {
      const c = command(run, `db/${n}/configure`);
      expect(c.inputs.create).not.toContain("MYCNF_B64");
      expect(myCnfOf(run, n)).toMatch(/^\[mysqld\]$/m);
      expect(myCnfOf(run, n)).toMatch(new RegExp(`^server_id\\s*=\\s*${n.slice(2)}\\b`, "m"));
    }
    const tentacle = textOf(run, "servers/pfms1/tentacle", /^\/etc\/tentacle\/tentacle_server\.conf /);
    expect(tentacle).toMatch(/^port 41121$/m);
    expect(tentacle).not.toMatch(/password/);
    const plain = JSON.stringify(commands(run).map((c) => plainView(c.inputs.triggers)));
    for (const secret of ["generatedPw", "EXISTINGKEYMATERIAL", "MOCKKEY", "PRIVATE KEY"]) expect(plain).not.toContain(secret);
  });

  test("pandora_server.conf gets the daemon's tokens, the bind address only where one is set", () => {
    const tokens = command(run, "servers/pfms1/pandora-conf").inputs.stdin.value as string;
    for (const line of [
      "ha_hosts_file /var/spool/pandora/data_in/conf/pandora_ha_hosts.conf",
      "ha_pid_file /var/run/pandora_ha.pid",
      "pandora_service_cmd /etc/init.d/pandora_server",
      "tentacle_service_cmd /etc/init.d/tentacle_serverd",
      "tentacle_service_watchdog 1",
      "ha_interval 10",
      "ha_sshkey /root/.ssh/id_pandora_ha",
      "ha_connect_delay 0.5",
      "ha_probe_interval 0.25",
      "ha_probe_timeout 2",
      "ha_failover_budget 2",
      "ha_failover_window 600",
      "ha_bind_address 192.0.2.21",
    ])
      expect(tokens.split("\n"), line).toContain(line);
    expect(command(run, "servers/pfms2/pandora-conf").inputs.stdin.value).not.toMatch(/ha_bind_address/);
  });

  test("a change of the daemon changes its trigger (and no other step's)", async () => {
    const before = new Map(commands(run).map((c) => [c.name, c.inputs.triggers as string[]]));
    vi.doMock("../../lib/bundle", () => ({
      buildDaemonBundle: () => ({ js: `${daemon.js}\n// changed`, hash: "0123456789abcdef", externals: [] }),
    }));
    try {
      const changed = await runProgram(stack, ["ssh"]);
      for (const c of commands(changed)) {
        const t = c.inputs.triggers as string[];
        if (c.name.endsWith("-pandora-ha")) {
          expect(t[0], c.name).toBe(before.get(c.name)![0]);
          expect(t[1], c.name).not.toBe(before.get(c.name)![1]);
        } else expect(t, c.name).toEqual(before.get(c.name));
      }
    } finally {
      vi.doUnmock("../../lib/bundle");
    }
  });
});

describe("rolling changes: one node at a time, the master last, never all at once", async () => {
  const stack = {
    platform: "existing",
    os: "ubuntu2204",
    dbFlavor: "mariadb1011",
    dbNodes: [{ name: "db1", host: "192.0.2.11" }, { name: "db2", host: "192.0.2.12" }, { name: "db3", host: "192.0.2.13" }],
    servers: [{ name: "pfms1", host: "192.0.2.21" }, { name: "pfms2", host: "192.0.2.22" }],
    ssh: { user: "root", port: 22, privateKey: SSH_KEY },
    sharedStorage: "nfs",
    nfsExport: "nas1:/export/pandora",
    pandoraServerPackages: PKG_DEB,
    innodbBufferPoolSize: "64M",
  };
  const run = await runProgram(stack, ["ssh"]);
  const urnOf = (id: string) => expect.stringContaining(`::pandora-ha-${id.replace(/\//g, "-")}`);
  const nodes = ["db1", "db2", "db3"];

  test("a rolling-restart step per server host, in a Rollout component, after every node's configure, bootstrap and seed and every daemon", () => {
    for (const s of ["pfms1", "pfms2"]) {
      const deps = run.deps.get(`pandora-ha-servers-${s}-rolling-restart`)!;
      for (const n of nodes) for (const x of ["configure", "bootstrap"]) expect(deps).toContainEqual(urnOf(`db/${n}/${x}`));
      for (const n of ["db2", "db3"]) expect(deps).toContainEqual(urnOf(`replication/${n}/seed`));
      for (const d of ["pfms1", "pfms2"]) expect(deps).toContainEqual(urnOf(`servers/${d}/pandora-ha`));
      expect(run.parents.get(`pandora-ha-servers-${s}-rolling-restart`)).toMatch(/Rollout::pandora-ha-rollout$/);
    }
    // One server host after the other; only the last one fails when nobody could restart the master.
    expect(run.deps.get("pandora-ha-servers-pfms2-rolling-restart")).toContainEqual(urnOf("servers/pfms1/rolling-restart"));
    expect(run.deps.get("pandora-ha-servers-pfms1-rolling-restart")).not.toContainEqual(urnOf("servers/pfms2/rolling-restart"));
    expect(command(run, "servers/pfms1/rolling-restart").inputs.create).toContain("LAST='0'");
    expect(command(run, "servers/pfms2/rolling-restart").inputs.create).toContain("LAST='1'");
  });

  test("its command line: every node's address and my.cnf hash, no secret; the HA password and db-restart.sh on stdin", () => {
    const c = command(run, "servers/pfms1/rolling-restart");
    const create = c.inputs.create as string;
    expect(create).toContain("DB_HOSTS='192.0.2.11 192.0.2.12 192.0.2.13'");
    expect(create).toMatch(/MYCNF_SHA='db1:[0-9a-f]{16} db2:[0-9a-f]{16} db3:[0-9a-f]{16}'/);
    expect(create).toContain("PANDORA_CONF='/etc/pandora/pandora_server.conf'");
    for (const secret of ["generatedPw", "EXISTINGKEYMATERIAL"]) expect(create).not.toContain(secret);
    expect(isSecretInput(c.inputs.stdin)).toBe(true);
    const stdin = c.inputs.stdin.value as string;
    expect(stdin).toMatch(/^export HA_DB_PASSWORD='generatedPw/m);
    const script = Buffer.from(/^export RESTART_SCRIPT_B64='([^']+)'$/m.exec(stdin)![1], "base64").toString();
    expect(script).toContain("# ---- db-restart.sh");
  });

  test("a changed my.cnf value changes only the configure steps and the rolling restarts (so Pulumi re-runs them), nothing else", async () => {
    const changed = await runProgram({ ...stack, innodbBufferPoolSize: "80M" }, ["ssh"]);
    const key = (r: Run, name: string) => {
      const c = commands(r).find((x) => x.name === name)!;
      return JSON.stringify([c.inputs.create, c.inputs.triggers, c.inputs.stdin?.value]);
    };
    const differs = commands(changed).map((c) => c.name).filter((n) => key(changed, n) !== key(run, n)).sort();
    expect(differs).toEqual(["pandora-ha-db-db1-configure", "pandora-ha-db-db2-configure", "pandora-ha-db-db3-configure", "pandora-ha-servers-pfms1-rolling-restart", "pandora-ha-servers-pfms2-rolling-restart"]);
  });

  test("a new DB node: seeded from whichever node is the master, after every node's accounts; rolled out last like any other", async () => {
    const grown = await runProgram({ ...stack, dbNodes: [...stack.dbNodes, { name: "db4", host: "192.0.2.14" }] }, ["ssh"]);
    const create = command(grown, "replication/db4/seed").inputs.create as string;
    expect(create).toContain("DB_HOSTS='192.0.2.11 192.0.2.12 192.0.2.13 192.0.2.14'");
    expect(create).toContain("SELF_HOST='192.0.2.14'");
    for (const n of [...nodes, "db4"]) expect(grown.deps.get("pandora-ha-replication-db4-seed")).toContainEqual(urnOf(`db/${n}/bootstrap`));
    for (const s of ["pfms1", "pfms2"]) {
      expect(grown.deps.get(`pandora-ha-servers-${s}-pandora-ha`)).toContainEqual(urnOf("replication/db4/seed"));
      expect(grown.deps.get(`pandora-ha-servers-${s}-rolling-restart`)).toContainEqual(urnOf("db/db4/configure"));
    }
    expect(grown.deps.get("pandora-ha-servers-pfms2-pandora-ha")).toContainEqual(urnOf("servers/pfms1/pandora-ha"));
  });

  test("a new server host: its daemon after the others' (one restart at a time), its rolling restart last", async () => {
    const grown = await runProgram({ ...stack, servers: [...stack.servers, { name: "pfms3", host: "192.0.2.23" }] }, ["ssh"]);
    expect(grown.deps.get("pandora-ha-servers-pfms3-pandora-ha")).toContainEqual(urnOf("servers/pfms2/pandora-ha"));
    expect(grown.deps.get("pandora-ha-servers-pfms3-rolling-restart")).toContainEqual(urnOf("servers/pfms2/rolling-restart"));
    expect(command(grown, "servers/pfms2/rolling-restart").inputs.create).toContain("LAST='0'");
    expect(command(grown, "servers/pfms3/rolling-restart").inputs.create).toContain("LAST='1'");
  });
});

describe("aws: an instance-type change replaces or updates one instance at a time", async () => {
  const base = { adminCidrs: ["203.0.113.4/32"], pandoraServerPackages: PKG_RPM, dbNodes: [{ name: "db1" }, { name: "db2" }, { name: "db3" }] };
  const instanceUrn = (name: string) => expect.stringMatching(new RegExp(`Instance::pandora-ha-hosts-${name}$`));
  const instanceDeps = (r: Run, name: string) => r.deps.get(`pandora-ha-hosts-${name}`)!.filter((u) => u.includes("aws:ec2/instance:Instance::"));

  for (const [label, values] of [
    ["m6i.large", base],
    ["changed to r6i.xlarge / c6i.large", { ...base, dbInstanceType: "r6i.xlarge", serverInstanceType: "c6i.large" }],
  ] as const) {
    test(`${label}: each DB instance waits for the previous one, the initial replicas first, the initial master last; servers one by one`, async () => {
      const r = await runProgram(values);
      const inst = ofType(r, "aws:ec2/instance:Instance");
      const type = (n: string) => inst.find((i) => i.name === `pandora-ha-hosts-${n}`)!.inputs.instanceType;
      expect([type("db1"), type("db2"), type("db3"), type("pfms1"), type("pfms2")]).toEqual(
        label === "m6i.large" ? Array(5).fill("m6i.large") : ["r6i.xlarge", "r6i.xlarge", "r6i.xlarge", "c6i.large", "c6i.large"],
      );
      expect(instanceDeps(r, "db2")).toEqual([]);
      expect(instanceDeps(r, "db3")).toEqual([instanceUrn("db2")]);
      expect(instanceDeps(r, "db1")).toEqual([instanceUrn("db3")]);
      expect(instanceDeps(r, "pfms1")).toEqual([]);
      expect(instanceDeps(r, "pfms2")).toEqual([instanceUrn("pfms1")]);
      // Subnets stay where they were: db1 and db3 in the first, db2 in the second.
      const subnet = (n: string) => inst.find((i) => i.name === `pandora-ha-hosts-${n}`)!.inputs.subnetId;
      expect([subnet("db1"), subnet("db2"), subnet("db3")]).toEqual(["pandora-ha-net-subnet-0-id", "pandora-ha-net-subnet-1-id", "pandora-ha-net-subnet-0-id"]);
    });
  }
});

describe("aws networking as a user changes it", async () => {
  const base = { adminCidrs: ["203.0.113.4/32", "198.51.100.0/24"], pandoraServerPackages: PKG_RPM };
  const ruleNames = (r: Run) => ofType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((x) => x.name).sort();

  test("security-group rules are named by what they allow: reordering adminCidrs renames (so replaces) nothing", async () => {
    const a = await runProgram(base);
    const b = await runProgram({ ...base, adminCidrs: [...base.adminCidrs].reverse() });
    expect(ruleNames(b)).toEqual(ruleNames(a));
    expect(ruleNames(a)).toContain("pandora-ha-net-servers-in-admin-22-198-51-100-0-24");
    expect(ruleNames(a)).toContain("pandora-ha-net-db-in-db-3306");
    // Each name carries its own CIDR, whatever its place in the list.
    for (const x of ofType(a, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((x) => x.inputs.cidrIpv4))
      expect(x.name.endsWith(x.inputs.cidrIpv4.replace(/[./]/g, "-")), x.name).toBe(true);
  });

  test("a replaced DB instance's binlog volume is detached before it is attached again (deleteBeforeReplace on the attachment)", async () => {
    const r = await runProgram(base);
    const attachments = ofType(r, "aws:ec2/volumeAttachment:VolumeAttachment").map((x) => x.name);
    expect(attachments.sort()).toEqual(["pandora-ha-hosts-db1-binlog", "pandora-ha-hosts-db2-binlog"]);
    for (const a of attachments) expect(r.deleteBeforeReplace.has(a), a).toBe(true);
    expect(r.deleteBeforeReplace.has("pandora-ha-hosts-db1")).toBe(false);
  });

  test("the availability zones are only those that need no opt-in", async () => {
    await runProgram(base);
    const az = mockInvokes.filter((i) => i.token === "aws:index/getAvailabilityZones:getAvailabilityZones");
    expect(az).toEqual([{ token: expect.any(String), inputs: expect.objectContaining({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] }) }]);
  });

  test("a given VPC without agentCidrs: Tentacle open to that VPC's CIDR (looked up), not the default 10.42.0.0/16", async () => {
    const r = await runProgram({ ...base, vpcId: "vpc-0abc12345def67890", subnetIds: ["subnet-0abc1234", "subnet-0abc5678"] });
    expect(mockInvokes.filter((i) => i.token === "aws:ec2/getVpc:getVpc").map((i) => i.inputs.id)).toEqual(["vpc-0abc12345def67890"]);
    const tentacle = ingressRules(r).filter((x) => x.fromPort === 41121);
    expect(tentacle).toEqual([expect.objectContaining({ securityGroupId: "pandora-ha-net-servers-id", cidrIpv4: MOCK_VPC_CIDR })]);
    expect(ruleNames(r)).toContain("pandora-ha-net-servers-in-agents-41121-vpc");
  });
});

describe("two clusters in one stack", () => {
  test("every child resource is named from its cluster's name: no name is used twice", async () => {
    vi.resetModules();
    const registered = installMocks();
    const { PandoraHaCluster } = await import("../../components/cluster");
    const { parseConfig } = await import("../../lib/config");
    const config = (ip: number) =>
      parseConfig(stackConfig({
        platform: "existing",
        dbNodes: [{ name: "db1", host: `192.0.2.${ip}` }, { name: "db2", host: `192.0.2.${ip + 1}` }],
        servers: [{ name: "pfms1", host: `192.0.2.${ip + 2}` }],
        ssh: { user: "root", port: 22, privateKey: SSH_KEY },
        pandoraServerPackages: PKG_DEB,
        os: "ubuntu2204",
        dbFlavor: "mariadb1011",
      }));
    new PandoraHaCluster("site-a", { config: config(11) });
    new PandoraHaCluster("site-b", { config: config(21) });
    await settle();
    const names = registered.map((r) => `${r.type}::${r.name}`);
    expect(names.length).toBeGreaterThan(20);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    for (const r of registered) expect(r.name, r.name).toMatch(/^site-[ab](-|$)/);
  });
});
