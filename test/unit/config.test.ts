import { describe, expect, test } from "vitest";
import { ConfigError, DB_FLAVORS, cidrToAccountHost, defaultSeedMethod, isArmInstanceType, mysqlFamily, parseConfig } from "../../lib/config";
import { stackConfig } from "./mocks";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n";
const PKG_RPM = ["https://downloads.example.org/pandorafms_server-7.0NG.777-1.noarch.rpm"];

/** A valid aws stack; tests override keys. */
const aws = (over: Record<string, unknown> = {}) =>
  stackConfig({ adminCidrs: ["203.0.113.4/32"], pandoraServerPackages: PKG_RPM, ...over });

/** A valid existing-hosts stack. */
const existing = (over: Record<string, unknown> = {}) =>
  stackConfig({
    platform: "existing",
    os: "ubuntu2204",
    dbFlavor: "mariadb1011",
    dbNodes: [{ name: "db1", host: "10.0.0.11" }, { name: "db2", host: "10.0.0.12" }],
    servers: [{ name: "pfms1", host: "10.0.0.21" }, { name: "pfms2", host: "10.0.0.22" }],
    ssh: { user: "root", port: 22, privateKey: KEY },
    ...over,
  });

function problems(cfg: Record<string, string>): string[] {
  try {
    parseConfig(cfg);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error("expected the configuration to be rejected");
}

describe("defaults", () => {
  test("an aws stack gets two DB nodes, two servers, rocky9, percona84 seeded by clone, efs, semi-sync", () => {
    const c = parseConfig(aws());
    expect(c.platform).toBe("aws");
    expect(c.os).toBe("rocky9");
    expect(c.dbFlavor).toBe("percona84");
    expect(c.seedMethod).toBe("clone");
    expect(c.sharedStorage).toBe("efs");
    expect(c.dbNodes.map((n) => [n.name, n.serverId])).toEqual([["db1", 1], ["db2", 2]]);
    expect(c.servers.map((s) => s.name)).toEqual(["pfms1", "pfms2"]);
    expect(c.ha).toMatchObject({ connectRetries: 2, connectDelay: 0.5, semiSync: true, splitbrainAutofix: false, sshUser: "root" });
    expect(c.ha).toMatchObject({ probeInterval: 0.5, probeTimeout: 1, failoverBudget: 1, failoverWindow: 3600 });
    expect(c.ssh.user).toBe("rocky");
    expect(c.agentCidrs).toEqual(["10.42.0.0/16"]);
    expect(c.dbAccountHost).toBe("10.42.0.0/255.255.0.0");
    expect(c.passwords).toEqual({});
  });

  test("agentCidrs: the created VPC's CIDR by default; with vpcId, the given VPC's (looked up by the program, so undefined here)", () => {
    expect(parseConfig(aws({ vpcCidr: "10.50.0.0/16" })).agentCidrs).toEqual(["10.50.0.0/16"]);
    expect(parseConfig(aws({ vpcId: "vpc-0abc12345def67890", subnetIds: ["subnet-0abc1234", "subnet-0abc5678"] })).agentCidrs).toBeUndefined();
    expect(parseConfig(aws({ vpcId: "vpc-0abc12345def67890", subnetIds: ["subnet-0abc1234", "subnet-0abc5678"], agentCidrs: ["192.0.2.0/24"] })).agentCidrs).toEqual(["192.0.2.0/24"]);
  });

  test("a replication password longer than 32 characters is MySQL's limit only: MariaDB takes it", () => {
    expect(parseConfig(aws({ dbFlavor: "mariadb1011", seedMethod: "mariabackup", replPassword: "a".repeat(40) })).passwords.replPassword).toBeDefined();
  });

  test("dbPort equal to ha.sshPort (the port pandora_ha's SSH uses) is refused too", () => {
    expect(problems(aws({ dbPort: 2200, ha: { sshPort: 2200 } }))).toContainEqual(expect.stringContaining("pandora-ha:dbPort: 2200 is the SSH port (ha.sshPort)"));
  });

  test("arm64 instance types are told from x86_64 ones", () => {
    for (const t of ["a1.large", "m6g.large", "m7gd.xlarge", "c7gn.large", "t4g.medium", "r8g.large", "x2gd.large", "im4gn.large", "is4gen.large", "g5g.xlarge", "hpc7g.4xlarge"])
      expect(isArmInstanceType(t), t).toBe(true);
    for (const t of ["m6i.large", "m7a.large", "c5.xlarge", "t3.medium", "g4dn.xlarge", "g4ad.xlarge", "g5.xlarge", "r7iz.large", "u-6tb1.metal", "x2iedn.xlarge"])
      expect(isArmInstanceType(t), t).toBe(false);
  });

  test("serverIds are assigned 1..N around the ones given", () => {
    const c = parseConfig(existing({
      dbNodes: [{ name: "a", host: "10.0.0.1" }, { name: "b", host: "10.0.0.2", serverId: 1 }, { name: "c", host: "10.0.0.3" }],
    }));
    expect(c.dbNodes.map((n) => n.serverId)).toEqual([2, 1, 3]);
  });

  test("existing hosts: address defaults to host, ubuntu login is the given user, account host is %", () => {
    const c = parseConfig(existing());
    expect(c.dbNodes[0]).toMatchObject({ host: "10.0.0.11", address: "10.0.0.11" });
    expect(c.ssh.user).toBe("root");
    expect(c.dbAccountHost).toBe("%");
    expect(c.ssh.privateKey?.toString()).toBe("[secret]");
    expect(JSON.stringify(c)).not.toContain("abc");
  });

  test("given passwords are kept as secrets that never print", () => {
    const c = parseConfig(aws({ replPassword: "Repl-Password-0123" }));
    expect(c.passwords.replPassword?.reveal()).toBe("Repl-Password-0123");
    expect(`${c.passwords.replPassword}`).toBe("[secret]");
    expect(JSON.stringify(c)).not.toContain("Repl-Password-0123");
  });

  test("comma-separated lists are accepted as well as YAML lists", () => {
    const c = parseConfig(aws({ adminCidrs: "203.0.113.4/32, 198.51.100.0/24" }));
    expect(c.adminCidrs).toEqual(["203.0.113.4/32", "198.51.100.0/24"]);
  });

  test("cidrToAccountHost", () => {
    expect(cidrToAccountHost("10.42.0.0/16")).toBe("10.42.0.0/255.255.0.0");
    expect(cidrToAccountHost("192.168.10.0/24")).toBe("192.168.10.0/255.255.255.0");
    expect(cidrToAccountHost("0.0.0.0/0")).toBe("%");
  });
});

// Each invalid case: the config, the key the message must name, and a fragment of what was expected.
const invalid: Array<[string, Record<string, string>, string, string]> = [
  ["unknown platform", aws({ platform: "gcp" }), "pandora-ha:platform", "expected one of aws, existing"],
  ["unknown os", aws({ os: "centos7" }), "pandora-ha:os", "rocky8, rocky9, ubuntu2204, ubuntu2404"],
  ["unknown dbFlavor", aws({ dbFlavor: "mysql57" }), "pandora-ha:dbFlavor", "expected one of percona84, percona80, mysql, mariadb1011, got 'mysql57'"],
  ["unknown seedMethod", aws({ seedMethod: "rsync" }), "pandora-ha:seedMethod", "expected one of clone, xtrabackup, mariabackup, got 'rsync'"],
  ["unknown sharedStorage", aws({ sharedStorage: "s3" }), "pandora-ha:sharedStorage", "efs, nfs, mounted, none"],
  ["missing host on existing", existing({ dbNodes: [{ name: "db1", host: "10.0.0.11" }, { name: "db2" }] }), "pandora-ha:dbNodes[1].host", "required on platform existing"],
  ["host given on aws", aws({ dbNodes: [{ name: "db1", host: "10.0.0.1" }, { name: "db2" }] }), "pandora-ha:dbNodes[0].host", "not allowed on platform aws"],
  ["duplicate serverId", existing({ dbNodes: [{ name: "db1", host: "10.0.0.11", serverId: 7 }, { name: "db2", host: "10.0.0.12", serverId: 7 }] }), "pandora-ha:dbNodes[1].serverId", "must be unique"],
  ["duplicate node name", existing({ dbNodes: [{ name: "db1", host: "10.0.0.11" }, { name: "db1", host: "10.0.0.12" }] }), "pandora-ha:dbNodes[1].name", "already used"],
  ["server name equal to a DB node", existing({ servers: [{ name: "db1", host: "10.0.0.21" }] }), "pandora-ha:servers[0].name", "servernames must be distinct"],
  ["duplicate server name", existing({ servers: [{ name: "p", host: "10.0.0.21" }, { name: "p", host: "10.0.0.22" }] }), "pandora-ha:servers[1].name", "distinct"],
  ["master above 7", existing({ servers: [{ name: "pfms1", host: "10.0.0.21", master: 8 }] }), "pandora-ha:servers[0].master", "from 0 to 7"],
  ["master negative", existing({ servers: [{ name: "pfms1", host: "10.0.0.21", master: -1 }] }), "pandora-ha:servers[0].master", "from 0 to 7"],
  ["one DB node", existing({ dbNodes: [{ name: "db1", host: "10.0.0.11" }] }), "pandora-ha:dbNodes", "at least 2"],
  ["dbNodes not a list", existing({ dbNodes: { name: "db1" } }), "pandora-ha:dbNodes", "expected a list"],
  ["bad admin CIDR", aws({ adminCidrs: ["203.0.113.4/33"] }), "pandora-ha:adminCidrs", "IPv4 CIDRs"],
  ["CIDR with host bits", aws({ agentCidrs: ["10.0.0.5/8"] }), "pandora-ha:agentCidrs", "IPv4 CIDRs"],
  ["SSH open to the internet", aws({ adminCidrs: ["0.0.0.0/0"] }), "pandora-ha:adminCidrs", "whole internet"],
  ["adminCidrs missing on aws", stackConfig({ pandoraServerPackages: PKG_RPM }), "pandora-ha:adminCidrs", "required on platform aws"],
  ["nfs without export", existing({ sharedStorage: "nfs" }), "pandora-ha:nfsExport", "server:/path"],
  ["malformed nfs export", existing({ sharedStorage: "nfs", nfsExport: "nas1/export" }), "pandora-ha:nfsExport", "server:/path"],
  ["efs on existing", existing({ sharedStorage: "efs" }), "pandora-ha:sharedStorage", "needs platform aws"],
  ["nfs export with mounted", existing({ sharedStorage: "mounted", sharedPath: "/mnt/shared", nfsExport: "nas1:/export" }), "pandora-ha:nfsExport", "only used when sharedStorage is nfs (sharedStorage is mounted)"],
  ["mounted without sharedPath", existing({ sharedStorage: "mounted" }), "pandora-ha:sharedPath", "required when sharedStorage is mounted: the absolute path"],
  ["relative sharedPath", existing({ sharedStorage: "mounted", sharedPath: "mnt/cephfs/pandora" }), "pandora-ha:sharedPath", "expected the absolute path where every server host mounts the shared filesystem"],
  ["sharedPath /", existing({ sharedStorage: "mounted", sharedPath: "/" }), "pandora-ha:sharedPath", "got '/'"],
  ["sharedPath ending in /", existing({ sharedStorage: "mounted", sharedPath: "/mnt/shared/" }), "pandora-ha:sharedPath", "not / nor ending in /"],
  ["sharedPath with ..", existing({ sharedStorage: "mounted", sharedPath: "/mnt/x/../../var/spool/pandora" }), "pandora-ha:sharedPath", "no . or .. parts"],
  ["sharedPath with .", existing({ sharedStorage: "mounted", sharedPath: "/mnt/./shared" }), "pandora-ha:sharedPath", "got '/mnt/./shared'"],
  ["sharedPath with a space", existing({ sharedStorage: "mounted", sharedPath: "/mnt/my share" }), "pandora-ha:sharedPath", "no spaces"],
  ["sharedPath with nfs", existing({ sharedStorage: "nfs", nfsExport: "nas1:/export", sharedPath: "/mnt/shared" }), "pandora-ha:sharedPath", "only used when sharedStorage is mounted (sharedStorage is nfs)"],
  ["sharedPath with none", existing({ sharedPath: "/mnt/shared" }), "pandora-ha:sharedPath", "only used when sharedStorage is mounted (sharedStorage is none)"],
  ["sharedPath with efs", aws({ sharedPath: "/mnt/shared" }), "pandora-ha:sharedPath", "only used when sharedStorage is mounted (sharedStorage is efs)"],
  ["NLB on existing", existing({ tentacleLoadBalancer: "true" }), "pandora-ha:tentacleLoadBalancer", "needs platform aws"],
  ["boolean not boolean", aws({ tentacleLoadBalancer: "yes" }), "pandora-ha:tentacleLoadBalancer", "true or false"],
  ["private key missing on existing", existing({ ssh: { user: "root", port: 22 } }), "pandora-ha:ssh.privateKey", "required on platform existing"],
  ["ssh port out of range", existing({ ssh: { user: "root", port: 70000, privateKey: KEY } }), "pandora-ha:ssh.port", "from 1 to 65535"],
  ["ha retries not a number", aws({ ha: { connectRetries: "many" } }), "pandora-ha:ha.connectRetries", "whole number"],
  ["unknown ha field", aws({ ha: { semisync: true } }), "pandora-ha:ha.semisync", "unknown field"],
  ["probe interval not a number", aws({ ha: { probeInterval: "fast" } }), "pandora-ha:ha.probeInterval", "expected a number (decimals allowed)"],
  ["probe interval zero", aws({ ha: { probeInterval: 0 } }), "pandora-ha:ha.probeInterval", "from 0.05 to 60"],
  ["probe timeout too long", aws({ ha: { probeTimeout: 61 } }), "pandora-ha:ha.probeTimeout", "from 0.1 to 60"],
  ["failover budget not whole", aws({ ha: { failoverBudget: 1.5 } }), "pandora-ha:ha.failoverBudget", "whole number"],
  ["failover budget above 100", aws({ ha: { failoverBudget: 101 } }), "pandora-ha:ha.failoverBudget", "from 0 to 100"],
  ["failover window in decimals", aws({ ha: { failoverWindow: "60.5" } }), "pandora-ha:ha.failoverWindow", "whole number"],
  ["failover window negative", aws({ ha: { failoverWindow: -1 } }), "pandora-ha:ha.failoverWindow", "from 1 to 604800"],
  ["connect delay above 60", aws({ ha: { connectDelay: 60.5 } }), "pandora-ha:ha.connectDelay", "from 0 to 60"],
  ["connect delay not a number", aws({ ha: { connectDelay: "soon" } }), "pandora-ha:ha.connectDelay", "decimals allowed"],
  ["guard timeout below a second", aws({ ha: { guardTimeout: 0.5 } }), "pandora-ha:ha.guardTimeout", "0 (no guard) or a number of seconds from 1 to 60"],
  ["guard timeout above 60", aws({ ha: { guardTimeout: 61 } }), "pandora-ha:ha.guardTimeout", "from 0 to 60"],
  ["server bindAddress not an address", existing({ servers: [{ name: "pfms1", host: "10.0.0.21", bindAddress: "pfms1.example" }] }), "pandora-ha:servers[0].bindAddress", "IPv4 address"],
  ["misspelt key", aws({ dbnodes: [] }), "pandora-ha:dbnodes", "did you mean pandora-ha:dbNodes"],
  ["short password", aws({ dbRootPassword: "short" }), "pandora-ha:dbRootPassword", "at least 12 characters"],
  ["password with a quote", aws({ haDbPassword: "abc'def123456789" }), "pandora-ha:haDbPassword", "no quotes"],
  ["replication password too long", aws({ replPassword: "a".repeat(33) }), "pandora-ha:replPassword", "at most 32 characters"],
  ["bad node name", existing({ dbNodes: [{ name: "DB_1", host: "10.0.0.11" }, { name: "db2", host: "10.0.0.12" }] }), "pandora-ha:dbNodes[0].name", "lowercase host name"],
  ["bad host", existing({ dbNodes: [{ name: "db1", host: "10.0.0.300" }, { name: "db2", host: "10.0.0.12" }] }), "pandora-ha:dbNodes[0].host", "IPv4 address or DNS name"],
  ["same account twice", aws({ replUser: "pandora" }), "pandora-ha:pandoraDbUser", "each account must be distinct"],
  ["subnets without VPC", aws({ subnetIds: ["subnet-0abc1234", "subnet-0abc5678"] }), "pandora-ha:vpcId", "required when subnetIds is set"],
  ["packages missing on aws", stackConfig({ adminCidrs: ["203.0.113.4/32"] }), "pandora-ha:pandoraServerPackages", "required on platform aws"],
  ["deb package on rocky", aws({ pandoraServerPackages: ["https://x.org/pandorafms.server_7.0NG.777.deb"] }), "pandora-ha:pandoraServerPackages", "not a .rpm package"],
  ["not JSON", aws({ ha: "{connectRetries: 2" }), "pandora-ha:ha", "structured value"],
  ["aws-only key on existing", existing({ dbInstanceType: "m6i.large" }), "pandora-ha:dbInstanceType", "only used on platform aws"],
  ["bad buffer pool size", aws({ innodbBufferPoolSize: "lots" }), "pandora-ha:innodbBufferPoolSize", "4096M"],
  ["dbPort is the SSH port", existing({ dbPort: 22 }), "pandora-ha:dbPort", "22 is the SSH port (ssh.port)"],
  ["dbPort is a custom SSH port", existing({ dbPort: 2222, ssh: { user: "root", port: 2222, privateKey: KEY } }), "pandora-ha:dbPort", "2222 is the SSH port"],
  ["dbPort is Tentacle's", aws({ dbPort: 41121 }), "pandora-ha:dbPort", "41121 is Tentacle's port (tentaclePort)"],
  ["two DB nodes on one host", existing({ dbNodes: [{ name: "db1", host: "10.0.0.11" }, { name: "db2", host: "10.0.0.11" }] }), "pandora-ha:dbNodes[1].host", "already the host of dbNodes[0]"],
  ["two DB nodes on one host, case aside", existing({ dbNodes: [{ name: "db1", host: "DB.example.org" }, { name: "db2", host: "db.example.org" }] }), "pandora-ha:dbNodes[1].host", "already the host of dbNodes[0]"],
  ["arm64 DB instance type", aws({ dbInstanceType: "m7g.large" }), "pandora-ha:dbInstanceType", "'m7g.large' is an arm64 (Graviton) type"],
  ["arm64 server instance type", aws({ serverInstanceType: "t4g.medium" }), "pandora-ha:serverInstanceType", "arm64"],
  ["ssh.user on aws", aws({ ssh: { user: "admin" } }), "pandora-ha:ssh.user", "logs in as 'rocky' only"],
  ["ssh.port on aws", aws({ ssh: { port: 2222 } }), "pandora-ha:ssh.port", "port 22 only"],
  ["an admin CIDR twice", aws({ adminCidrs: ["203.0.113.4/32", "203.0.113.4/32"] }), "pandora-ha:adminCidrs", "'203.0.113.4/32' is listed twice"],
];

describe("invalid configuration fails before anything is created, naming the key", () => {
  test.each(invalid)("%s", (_name, cfg, key, expected) => {
    const ps = problems(cfg);
    const hit = ps.find((p) => p.startsWith(`${key}:`));
    expect(hit, `no problem names ${key}; got:\n${ps.join("\n")}`).toBeDefined();
    expect(hit).toContain(expected);
  });

  test("every problem is reported at once, one per line", () => {
    const ps = problems(aws({ os: "win", dbFlavor: "oracle", adminCidrs: ["nope"] }));
    expect(ps.length).toBe(3);
    try {
      parseConfig(aws({ os: "win", dbFlavor: "oracle" }));
    } catch (e) {
      expect((e as Error).message).toMatch(/invalid stack configuration \(2 problems\)/);
    }
  });

  test("a rejected password is never echoed", () => {
    const ps = problems(aws({ dbRootPassword: "abc def ghi jkl" }));
    expect(ps.join("\n")).not.toContain("abc def");
  });
});

describe("the example stack file", () => {
  test("Pulumi.dev.yaml parses into the documented example: Percona on Rocky 9, EFS, NLB", async () => {
    const { load } = await import("js-yaml");
    const { readFileSync } = await import("node:fs");
    const doc = load(readFileSync(`${__dirname}/../../Pulumi.dev.yaml`, "utf8")) as { config: Record<string, unknown> };
    // As the Pulumi engine hands config to the program: objects as JSON, scalars as strings.
    const all = Object.fromEntries(
      Object.entries(doc.config).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]),
    );
    const c = parseConfig(all);
    expect(c.platform).toBe("aws");
    expect(c.os).toBe("rocky9");
    expect(c.dbFlavor).toBe("percona84");
    expect(c.dbNodes.map((n) => [n.name, n.serverId])).toEqual([["db1", 1], ["db2", 2]]);
    expect(c.servers.map((s) => [s.name, s.master])).toEqual([["pfms1", 2], ["pfms2", 1]]);
    expect(c.sharedStorage).toBe("efs");
    expect(c.tentacleLoadBalancer).toBe(true);
  });
});

describe("dbFlavor and seedMethod", () => {
  test("mysqlFamily: the Percona flavors and the OS's MySQL, not MariaDB", () => {
    expect(DB_FLAVORS.filter(mysqlFamily)).toEqual(["percona84", "percona80", "mysql"]);
    expect(mysqlFamily("mariadb1011")).toBe(false);
  });

  test("seedMethod defaults to clone for percona84 and mysql, xtrabackup for percona80 (as its installs were seeded), mariabackup for MariaDB", () => {
    const defaults: Record<string, string> = { percona84: "clone", mysql: "clone", percona80: "xtrabackup", mariadb1011: "mariabackup" };
    for (const dbFlavor of DB_FLAVORS) {
      const expected = defaults[dbFlavor];
      expect(defaultSeedMethod(dbFlavor)).toBe(expected);
      expect(parseConfig(aws({ dbFlavor })).seedMethod, dbFlavor).toBe(expected);
    }
  });

  test.each([
    ["percona84", "clone"],
    ["percona84", "xtrabackup"],
    ["percona80", "clone"],
    ["percona80", "xtrabackup"],
    ["mysql", "clone"],
    ["mariadb1011", "mariabackup"],
  ])("%s seeded by %s is accepted", (dbFlavor, seedMethod) => {
    expect(parseConfig(aws({ dbFlavor, seedMethod }))).toMatchObject({ dbFlavor, seedMethod });
  });

  test.each([
    ["mysql", "xtrabackup", "xtrabackup is not packaged with dbFlavor mysql (the OS's own MySQL server); use clone"],
    ["mysql", "mariabackup", "mariabackup only copies MariaDB; with dbFlavor mysql use clone"],
    ["percona84", "mariabackup", "mariabackup only copies MariaDB; with dbFlavor percona84 use clone or xtrabackup"],
    ["percona80", "mariabackup", "mariabackup only copies MariaDB; with dbFlavor percona80 use clone or xtrabackup"],
    ["mariadb1011", "clone", "clone cannot copy MariaDB (MariaDB has no clone plugin); with dbFlavor mariadb1011 use mariabackup"],
    ["mariadb1011", "xtrabackup", "xtrabackup cannot copy MariaDB (xtrabackup does not support MariaDB 10.11); with dbFlavor mariadb1011 use mariabackup"],
  ])("%s seeded by %s is refused, naming seedMethod", (dbFlavor, seedMethod, why) => {
    expect(problems(aws({ dbFlavor, seedMethod }))).toEqual([`pandora-ha:seedMethod: ${why}`]);
  });

  test("an unknown dbFlavor is its own problem: seedMethod is not checked against a guess", () => {
    expect(problems(aws({ dbFlavor: "mariadb", seedMethod: "mariabackup" }))).toEqual([
      "pandora-ha:dbFlavor: expected one of percona84, percona80, mysql, mariadb1011, got 'mariadb'",
    ]);
  });

  test("the plan: each flavor's install description; SEED_METHOD beside DB_FLAVOR for the seed and the resync tool", async () => {
    const { buildPlan } = await import("../../lib/plan");
    const installs: Array<[string, string | undefined, string]> = [
      ["percona84", undefined, "install Percona Server 8.4 LTS and xtrabackup 8.4"],
      ["percona80", "xtrabackup", "install Percona Server 8.0 and xtrabackup"],
      ["mysql", undefined, "install the OS's MySQL server (8.0.30 or later)"],
      ["mariadb1011", undefined, "install MariaDB 10.11 and mariabackup"],
    ];
    for (const [dbFlavor, seedMethod, description] of installs) {
      const c = parseConfig(existing({ dbFlavor, ...(seedMethod ? { seedMethod } : {}) }));
      const plan = buildPlan(c, { binlogVolumes: false });
      const step = (id: string) => plan.find((s) => s.id === id)!;
      expect(step("db/db1/install")).toMatchObject({ description, env: { DB_FLAVOR: dbFlavor } });
      const reseeding = ["db/db1/bootstrap", "db/db2/bootstrap", "replication/db2/seed", "servers/pfms1/ha-tools", "servers/pfms2/ha-tools"];
      for (const id of reseeding) expect(step(id).env, `${dbFlavor} ${id}`).toMatchObject({ DB_FLAVOR: dbFlavor, SEED_METHOD: c.seedMethod });
      // Only the seed, the tools that reseed, and the bootstrap (the clone donor's grant) get it.
      expect(plan.filter((s) => "SEED_METHOD" in s.env).map((s) => s.id).sort()).toEqual(reseeding.sort());
      expect(step("replication/db2/seed").description).toBe(
        c.seedMethod === "clone"
          ? "clone the current master (at first db1) into db2 with the clone plugin and start replication"
          : `stream a ${c.seedMethod} backup of the current master (at first db1) into db2 and start replication`,
      );
    }
  });
});

describe("ha: the daemon's settings", () => {
  test("decimals where seconds may be fractional, as numbers or strings", () => {
    const c = parseConfig(aws({ ha: { connectDelay: 0.25, probeInterval: "0.2", probeTimeout: 1.5, failoverBudget: "3", failoverWindow: 7200 } }));
    expect(c.ha).toMatchObject({ connectDelay: 0.25, probeInterval: 0.2, probeTimeout: 1.5, failoverBudget: 3, failoverWindow: 7200 });
    // A budget of 0: the daemon never fails over by itself.
    expect(parseConfig(aws({ ha: { failoverBudget: 0 } })).ha.failoverBudget).toBe(0);
    // The guard: 4 s by default, 0 turns it off.
    expect(parseConfig(aws()).ha.guardTimeout).toBe(4);
    expect(parseConfig(aws({ ha: { guardTimeout: 0 } })).ha.guardTimeout).toBe(0);
    expect(parseConfig(aws({ ha: { guardTimeout: "2.5" } })).ha.guardTimeout).toBe(2.5);
  });

  test("servers[].bindAddress is kept per server", () => {
    const c = parseConfig(existing({ servers: [{ name: "pfms1", host: "10.0.0.21", bindAddress: "10.0.0.21" }, { name: "pfms2", host: "10.0.0.22" }] }));
    expect(c.servers[0].bindAddress).toBe("10.0.0.21");
    expect(c.servers[1].bindAddress).toBeUndefined();
  });
});

describe("dbNodes[].bindAddress", () => {
  test("is written as the node's bind-address, and must be an IPv4 address", async () => {
    const { buildPlan } = await import("../../lib/plan");
    const c = parseConfig(existing({ dbNodes: [{ name: "db1", host: "10.0.0.11", bindAddress: "10.0.0.11" }, { name: "db2", host: "10.0.0.12" }] }));
    expect(c.dbNodes[0].bindAddress).toBe("10.0.0.11");
    const plan = buildPlan(c, { binlogVolumes: false, sharedSource: undefined });
    const cnf = (n: string) => plan.find((s) => s.id === `db/${n}/configure`)!.texts.find((t) => t.param === "MYCNF_B64")!.text;
    expect(cnf("db1")).toMatch(/^bind-address = 10\.0\.0\.11$/m);
    expect(cnf("db2")).toMatch(/^bind-address = 0\.0\.0\.0$/m);
    expect(problems(existing({ dbNodes: [{ name: "db1", host: "10.0.0.11", bindAddress: "db1.example" }, { name: "db2", host: "10.0.0.12" }] }))).toEqual([
      "pandora-ha:dbNodes[0].bindAddress: expected an IPv4 address the node has (or 0.0.0.0), got 'db1.example'",
    ]);
  });
});

describe("sharedStorage mounted: a shared filesystem the hosts mount themselves, at sharedPath", () => {
  const mounted = { sharedStorage: "mounted", sharedPath: "/mnt/cephfs/pandora" };
  const nfs = { sharedStorage: "nfs", nfsExport: "nas1:/export/pandora" };

  test("accepted with an absolute sharedPath, on existing and on aws; sharedPath is only set with mounted", () => {
    for (const c of [parseConfig(existing(mounted)), parseConfig(aws(mounted))]) {
      expect(c.sharedStorage).toBe("mounted");
      expect(c.sharedPath).toBe("/mnt/cephfs/pandora");
      expect(c.nfsExport).toBeUndefined();
    }
    expect(parseConfig(existing(nfs)).sharedPath).toBeUndefined();
    // Only the one problem: nothing else in the stack objects to mounted.
    expect(problems(existing({ sharedStorage: "mounted" }))).toEqual([
      "pandora-ha:sharedPath: required when sharedStorage is mounted: the absolute path where every server host mounts the shared filesystem, such as /mnt/cephfs/pandora (no spaces, no . or .. parts, not / nor ending in /)",
    ]);
  });

  test("the plan: the shared-storage step bind-mounts from sharedPath, no NFS source, no NFS client; ordered as for nfs", async () => {
    const { buildPlan, SHARED_MOUNT_ROOT } = await import("../../lib/plan");
    // As the lab builds it: no sharedSource at all. mounted does not need one.
    const plan = buildPlan(parseConfig(existing(mounted)), { binlogVolumes: false, sharedSource: undefined });
    const nfsPlan = buildPlan(parseConfig(existing(nfs)), { binlogVolumes: false, sharedSource: "nas1:/export/pandora" });
    const step = (p: typeof plan, id: string) => {
      const s = p.find((x) => x.id === id);
      expect(s, `no step ${id}`).toBeDefined();
      return s!;
    };
    for (const srv of ["pfms1", "pfms2"]) {
      const shared = step(plan, `servers/${srv}/shared-storage`);
      expect(shared.script).toBe("server-shared-storage.sh");
      expect(shared.env).toEqual({
        SHARED_KIND: "mounted",
        MOUNT_ROOT: "/mnt/cephfs/pandora",
        INCOMING_DIR: "/var/spool/pandora/data_in",
        SUBDIRS: "conf collections md5 netflow discovery",
        ATTACHMENT_DIR: "/var/www/html/pandora_console/attachment",
      });
      expect(shared.secretEnv).toEqual({});
      expect(shared.waitFor).toEqual([]);
      expect(shared.description).toContain("/mnt/cephfs/pandora");
      expect(step(plan, `servers/${srv}/install`).env.NFS_CLIENT).toBe("0");
      // nfs, for comparison: the same directories, its source mounted on the fixed root, the client installed.
      const nfsShared = step(nfsPlan, `servers/${srv}/shared-storage`);
      expect(nfsShared.env).toEqual({ ...shared.env, SHARED_KIND: "nfs", SHARED_SOURCE: "nas1:/export/pandora", MOUNT_ROOT: SHARED_MOUNT_ROOT });
      expect(step(nfsPlan, `servers/${srv}/install`).env.NFS_CLIENT).toBe("1");
      expect(step(plan, `servers/${srv}/tentacle`).dependsOn).toContain(`servers/${srv}/shared-storage`);
      expect(step(plan, `servers/${srv}/pandora-ha`).dependsOn).toContain(`servers/${srv}/shared-storage`);
    }
    // Every step and every dependency exactly as with nfs.
    const graph = (p: typeof plan) => p.map((s) => [s.id, [...s.dependsOn].sort()]);
    expect(graph(plan)).toEqual(graph(nfsPlan));
  });

  test("none gets no shared-storage step and no NFS client", async () => {
    const { buildPlan } = await import("../../lib/plan");
    const plan = buildPlan(parseConfig(existing()), { binlogVolumes: false, sharedSource: undefined });
    expect(plan.filter((s) => s.id.endsWith("/shared-storage"))).toEqual([]);
    expect(plan.find((s) => s.id === "servers/pfms1/install")!.env.NFS_CLIENT).toBe("0");
    expect(plan.find((s) => s.id === "servers/pfms1/tentacle")!.dependsOn).toEqual(["servers/pfms1/install"]);
  });
});
