import { readdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { HA_TOKENS, confWarnings, formatProblems, parseHaConf, readHaConf } from "../../runtime/conf";

const DIR = join(__dirname, "../fixtures/conf");
const fixture = (name: string) => join(DIR, name);

/** A minimal valid file; tests append tokens to it. */
const MINIMAL = "dbuser pandora\ndbpass Pw#2024 secret\nha_hosts 10.0.0.11,10.0.0.12\n";
const parse = (extra: string) => parseHaConf(MINIMAL + extra, "/etc/pandora/pandora_server.conf");

describe("warnings: valid, but weaker failover safety", () => {
  test("the original's defaults (every account the Pandora one) warn about ha_dbuser and repl_dbuser", () => {
    const w = confWarnings(parse("").settings!);
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/^ha_dbuser is the Pandora account \(pandora\): .* a fenced node would still take Pandora's writes/);
    expect(w[1]).toMatch(/^repl_dbuser is the Pandora account \(pandora\)/);
  });

  test("accounts of their own (what the Pulumi program writes): no warning", () => {
    expect(confWarnings(parse("ha_dbuser pandora_ha\nha_dbpass Other#2024pw\nrepl_dbuser slaveuser\nrepl_dbpass Repl#2024pw\n").settings!)).toEqual([]);
  });
});

describe("valid files", () => {
  test("the shipped layout with only ha_hosts uncommented gives every default", () => {
    const path = fixture("valid-defaults.conf");
    const { settings, problems } = readHaConf(path);
    expect(problems).toEqual([]);
    const s = settings!;
    expect(s.confPath).toBe(path);
    expect(s.haHosts).toEqual(["10.0.0.11", "10.0.0.12"]);
    expect(s.dbPort).toBe(3306);
    expect(s.dbName).toBe("pandora");
    expect(s.dbUser).toBe("pandora");
    expect(s.dbPass).toBe("pandora");
    expect(s.haDbUser).toBe("pandora");
    expect(s.haDbPass).toBe("pandora");
    expect(s.replUser).toBe("pandora");
    expect(s.replPass).toBe("pandora");
    expect(s.sshUser).toBe("pandora");
    expect(s.sshPort).toBe(22);
    expect(s.sshKey).toBe("/root/.ssh/id_pandora_ha");
    expect(s.resyncScript).toBe("/usr/share/pandora_server/util/pandora_ha_resync_slave.sh");
    expect(s.resyncLog).toBe("/var/log/pandora/pandora_ha_resync.log");
    expect(s.connectRetries).toBe(2);
    expect(s.connectDelay).toBe(1);
    expect(s.interval).toBe(10);
    expect(s.splitbrainAutofix).toBe(false);
    expect(s.hostsFile).toBe("/var/spool/pandora/data_in/conf/pandora_ha_hosts.conf");
    expect(s.pidFile).toBe("/var/run/pandora_ha.pid");
    expect(s.pandoraServiceCmd).toBe("service pandora_server");
    expect(s.tentacleServiceCmd).toBe("service tentacle_serverd");
    expect(s.tentacleWatchdog).toBe(true);
    expect(s.serverName).toBe(hostname()); // servername is commented out in the file
    expect(s.master).toBe(1);
    expect(s.restart).toBe(true); // the file sets `restart 1`
    expect(s.probeInterval).toBe(0.5);
    expect(s.probeTimeout).toBe(1);
    expect(s.failoverBudget).toBe(1);
    expect(s.failoverWindow).toBe(3600);
    expect(s.drainTimeout).toBe(60);
    expect(s.lagWarning).toBe(30);
    expect([s.semiSync, s.semiSyncTimeout, s.silenceTimeout, s.writeTimeout, s.outageWait]).toEqual([true, 5, 4, 5, 60]);
    expect(s.httpAddress).toBe("127.0.0.1");
    expect(s.httpPort).toBe(41180);
    expect(s.bindAddress).toBeUndefined();
    expect(s.stateDir).toBe("/var/lib/pandora-ha");
    expect(s.logFile).toBe("/var/log/pandora/pandora_ha.log");
  });

  test("restart defaults to false when absent", () => {
    expect(parse("").settings!.restart).toBe(false);
  });

  test("a file that sets every token", () => {
    const path = fixture("valid-full.conf");
    const { settings, problems } = readHaConf(path);
    expect(problems).toEqual([]);
    expect(settings).toEqual({
      confPath: path,
      haHosts: ["db1.example.com", "2001:db8::12", "10.0.0.13"],
      dbPort: 3307,
      dbName: "pandora_ha_db$1",
      dbUser: "pfms",
      dbPass: "Db pass #1",
      haDbUser: "pandora_ha",
      haDbPass: "Adm1n#pw with spaces",
      replUser: "replicator",
      replPass: "=Repl#pw",
      sshUser: "pandora-ha",
      sshPort: 2222,
      sshKey: "/etc/pandora-ha/id_ed25519",
      resyncScript: "/opt/pandora-ha/pandora_ha_resync_slave.sh",
      resyncLog: "/var/log/pandora-ha/resync.log",
      connectRetries: 4,
      connectDelay: 0.25,
      interval: 2.5,
      splitbrainAutofix: true,
      hostsFile: "/srv/pandora/conf/pandora_ha_hosts.conf",
      pidFile: "/run/pandora_ha.pid",
      pandoraServiceCmd: "/usr/bin/systemctl --no-pager pandora_server",
      tentacleServiceCmd: "systemctl tentacle_serverd",
      tentacleWatchdog: false,
      serverName: "pfms2",
      master: 3,
      restart: true,
      probeInterval: 0.2,
      probeTimeout: 0.75,
      failoverBudget: 0,
      failoverWindow: 86400,
      drainTimeout: 120.5,
      lagWarning: 300,
      semiSync: false,
      semiSyncTimeout: 2.5,
      silenceTimeout: 6,
      guardTimeout: 3.5,
      writeTimeout: 8,
      outageWait: 30,
      httpAddress: "::1",
      httpPort: 0,
      bindAddress: "10.0.0.100",
      stateDir: "/srv/pandora-ha/state",
      logFile: "/srv/pandora-ha/pandora_ha.log",
      serverPidFile: "/run/pandora/pandora_server.pid",
      keepFiles: 120,
      incomingDir: "/var/spool/pandora/data_in",
      useXmlTimestamp: true,
    });
  });

  test("CRLF line endings, a BOM, tabs, upper-case tokens and an inline # are handled", () => {
    const conf = "\uFEFFdbpass a#b\r\n\tHA_HOSTS\t10.0.0.11,10.0.0.12 \r\n  # ha_sshport x\r\nha_pid_file /run/ha.pid # not a comment\r\n";
    const { settings, problems } = parseHaConf(conf, "x.conf");
    expect(problems).toEqual([]);
    expect(settings!.dbPass).toBe("a#b");
    expect(settings!.haHosts).toEqual(["10.0.0.11", "10.0.0.12"]);
    expect(settings!.sshPort).toBe(22);
    expect(settings!.pidFile).toBe("/run/ha.pid # not a comment");
  });

  test("booleans accept 0/1, on/off, yes/no, true/false in any case", () => {
    for (const [v, want] of [["1", true], ["0", false], ["On", true], ["OFF", false], ["yes", true], ["No", false], ["TRUE", true], ["false", false]] as const) {
      expect(parse(`splitbrain_autofix ${v}\n`).settings!.splitbrainAutofix).toBe(want);
    }
  });

  test("host lists: IPv4, IPv6 (incl. embedded IPv4), names with a trailing dot, spaces around commas", () => {
    const r = parseHaConf("dbpass p\nha_hosts ::ffff:10.0.0.1 ,fe80::1,db-1.example.com.,  db2\n", "x");
    expect(r.problems).toEqual([]);
    expect(r.settings!.haHosts).toEqual(["::ffff:10.0.0.1", "fe80::1", "db-1.example.com.", "db2"]);
  });

  test("duplicates of tokens that are not ours (dbhost) and unknown tokens are ignored", () => {
    const r = parse("dbhost a\ndbhost b\nsome_future_token\nha_file /x\nha_resync_sleep 10\n");
    expect(r.problems).toEqual([]);
    expect(r.settings).toBeDefined();
  });

  test("ha_http_port 0 disables, ha_failover_budget 0 is allowed, ha_connect_delay 0 is allowed", () => {
    const s = parse("ha_http_port 0\nha_failover_budget 0\nha_connect_delay 0\n").settings!;
    expect([s.httpPort, s.failoverBudget, s.connectDelay]).toEqual([0, 0, 0]);
  });

  test("writing each documented default explicitly changes nothing", () => {
    const conf = (extra: string) => parseHaConf(`dbpass p\nha_hosts db1,db2\nservername pfms1\n${extra}`, "x");
    const base = conf("").settings!;
    const described = new Set(["ha_hosts", "ha_dbuser", "ha_dbpass", "repl_dbuser", "repl_dbpass", "servername", "dbpass", "ha_bind_address", "ha_file"]);
    let checked = 0;
    for (const t of HA_TOKENS.filter((t) => !described.has(t.token))) {
      const r = conf(`${t.token} ${t.default}\n`);
      expect(r.problems, t.token).toEqual([]);
      expect(r.settings, t.token).toEqual(base);
      checked++;
    }
    expect(checked).toBe(HA_TOKENS.length - described.size);
  });

  test("HA_TOKENS lists every token once, marks ours, and explains each", () => {
    const names = HA_TOKENS.map((t) => t.token);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toHaveLength(51); // 47 settings (all but confPath) + 4 ignored tokens of the original
    for (const t of HA_TOKENS) expect(t.meaning.length, t.token).toBeGreaterThan(10);
    expect(HA_TOKENS.filter((t) => t.ours).map((t) => t.token)).toEqual([
      "ha_sshkey", "ha_probe_interval", "ha_probe_timeout", "ha_failover_budget", "ha_failover_window",
      "ha_drain_timeout", "ha_lag_warning", "ha_semisync", "ha_semisync_timeout", "ha_silence_timeout", "ha_guard_timeout", "ha_write_timeout",
      "ha_outage_wait", "ha_http_address", "ha_http_port", "ha_bind_address",
      "ha_state_dir", "ha_log_file", "ha_server_pid_file", "ha_keep_files",
    ]);
    expect(HA_TOKENS.find((t) => t.token === "ha_resync")!.default).toBe("/usr/share/pandora_server/util/pandora_ha_resync_slave.sh");
  });
});

describe("malformed files", () => {
  // [file, line (undefined = the problem is a missing token), token, message substring]
  const BAD: [string, number | undefined, string, string][] = [
    ["bad-hosts-missing.conf", undefined, "ha_hosts", "is required"],
    ["bad-hosts-one.conf", 12, "ha_hosts", "expected at least 2 hosts separated by commas, got '10.0.0.11'"],
    ["bad-hosts-duplicate-name.conf", 12, "ha_hosts", "expected distinct hosts, got 'DB1.example.com' twice"],
    ["bad-hosts-duplicate-ipv6.conf", 12, "ha_hosts", "expected distinct hosts, got '2001:db8:0:0:0:0:0:11' twice"],
    ["bad-hosts-port.conf", 12, "ha_hosts", "without brackets or port (the port is dbport), got '10.0.0.11:3306'"],
    ["bad-hosts-ipv6-brackets.conf", 12, "ha_hosts", "without brackets or port (the port is dbport), got '[2001:db8::11]'"],
    ["bad-hosts-space-separated.conf", 12, "ha_hosts", "expected hosts separated by commas, got '10.0.0.11 10.0.0.12'"],
    ["bad-hosts-empty-entry.conf", 12, "ha_hosts", "expected a host between every two commas and none at the ends, got '10.0.0.11,,10.0.0.12'"],
    ["bad-hosts-bad-ipv4.conf", 12, "ha_hosts", "expected an IPv4 address, IPv6 address or DNS name, got '10.0.0.256'"],
    ["bad-hosts-underscore.conf", 12, "ha_hosts", "expected an IPv4 address, IPv6 address or DNS name, got 'db_1.example.com'"],
    ["bad-hosts-equals.conf", 12, "ha_hosts", "expected 'ha_hosts <value>' (separated by spaces, not '=' or ':')"],
    ["bad-dbport.conf", 8, "dbport", "expected a whole number from 1 to 65535, got '330600'"],
    ["bad-dbname.conf", 4, "dbname", "expected a database name of letters, digits, _ and $, got 'pandora-fms'"],
    ["bad-no-admin-password.conf", undefined, "ha_dbpass", "no password for the admin account: set ha_dbpass (or dbpass)"],
    ["bad-no-repl-password.conf", undefined, "repl_dbpass", "no password for the replication account: set repl_dbpass (or dbpass)"],
    ["bad-empty-value.conf", 15, "ha_resync_log", "expected a value, got nothing"],
    ["bad-empty-password.conf", 16, "ha_dbpass", "expected a value, got nothing"],
    ["bad-duplicate-token.conf", 18, "ha_connect_retries", "given twice (lines 15 and 18); keep one"],
    ["bad-duplicate-password.conf", 18, "repl_dbpass", "given twice (lines 16 and 18); keep one"],
    ["bad-connect-retries-word.conf", 15, "ha_connect_retries", "expected a whole number from 1 to 20, got 'two'"],
    ["bad-connect-retries-decimal.conf", 15, "ha_connect_retries", "expected a whole number from 1 to 20, got '2.5'"],
    ["bad-connect-delay.conf", 15, "ha_connect_delay", "expected a number of seconds from 0 to 60, got '90'"],
    ["bad-interval-zero.conf", 15, "ha_interval", "expected a number of seconds greater than 0 and at most 3600, got '0'"],
    ["bad-bool.conf", 15, "splitbrain_autofix", "expected 0 or 1 (or on/off, yes/no, true/false), got 'maybe'"],
    ["bad-sshuser.conf", 13, "ha_sshuser", "expected a Unix user name, got 'root@10.0.0.11'"],
    ["bad-sshport.conf", 14, "ha_sshport", "expected a whole number from 1 to 65535, got 'ssh'"],
    ["bad-sshport-equals.conf", 14, "ha_sshport", "expected 'ha_sshport <value>' (separated by spaces, not '='), got '= 2222'"],
    ["bad-sshkey-relative.conf", 15, "ha_sshkey", "expected an absolute path (starting with /), got '.ssh/id_pandora_ha'"],
    ["bad-resync-relative.conf", 15, "ha_resync", "expected an absolute path (starting with /), got 'pandora_ha_resync_slave.sh'"],
    ["bad-master.conf", 9, "master", "expected one digit from 0 to 7, got '10'"],
    ["bad-restart.conf", 15, "restart", "expected 0 or 1 (or on/off, yes/no, true/false), got '2'"],
    ["bad-probe-interval.conf", 15, "ha_probe_interval", "expected a number of seconds from 0.05 to 60, got '0.01'"],
    ["bad-probe-timeout-unit.conf", 15, "ha_probe_timeout", "expected a number of seconds from 0.1 to 60, got '500ms'"],
    ["bad-failover-budget.conf", 15, "ha_failover_budget", "expected a whole number from 0 to 100, got '-1'"],
    ["bad-failover-window.conf", 15, "ha_failover_window", "expected a whole number from 1 to 604800, got '1h'"],
    ["bad-drain-timeout.conf", 15, "ha_drain_timeout", "expected a number of seconds from 1 to 3600, got '0.5'"],
    ["bad-lag-warning.conf", 15, "ha_lag_warning", "expected a whole number from 1 to 86400, got '100000'"],
    ["bad-keep-files.conf", 15, "ha_keep_files", "expected 0 (off) or a whole number of seconds from 60 to 86400, got '30'"],
    ["bad-http-address.conf", 15, "ha_http_address", "expected an IPv4 or IPv6 address, got 'localhost'"],
    ["bad-http-port.conf", 15, "ha_http_port", "expected 0 (no HTTP endpoint) or a port from 1 to 65535, got '70000'"],
    ["bad-bind-address.conf", 15, "ha_bind_address", "expected an IPv4 or IPv6 address, got 'eth0'"],
    ["bad-state-dir.conf", 15, "ha_state_dir", "expected an absolute path (starting with /), got 'var/lib/pandora-ha'"],
    ["bad-pid-file.conf", 15, "ha_pid_file", "expected an absolute path (starting with /), got 'pandora_ha.pid'"],
    ["bad-original-retries.conf", 15, "ha_max_splitbrain_retries", "expected a whole number, got 'two'"],
    ["bad-tentacle-watchdog.conf", 16, "tentacle_service_watchdog", "expected 0 or 1 (or on/off, yes/no, true/false), got 'enabled'"],
    ["bad-password-glued.conf", 16, "ha_dbpass", "expected 'ha_dbpass <value>' (separated by spaces, not '=' or ':')"],
  ];

  test.each(BAD)("%s → line %s, %s", (file, line, token, message) => {
    const { settings, problems } = readHaConf(fixture(file));
    expect(settings).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0].line).toBe(line);
    expect(problems[0].token).toBe(token);
    expect(problems[0].message).toContain(message);
  });

  test("every bad-*.conf fixture is in the table", () => {
    const files = readdirSync(DIR).filter((f) => /^bad-.*\.conf$/.test(f)).sort();
    expect(files).toEqual(BAD.map((b) => b[0]).sort());
    expect(files.length).toBeGreaterThanOrEqual(25);
  });

  test("a file with several mistakes reports all of them, in file order", () => {
    const { settings, problems } = readHaConf(fixture("multi-mistakes.conf"));
    expect(settings).toBeUndefined();
    expect(problems).toEqual([
      { line: 6, token: "master", message: "expected one digit from 0 to 7, got '9'" },
      { line: 9, token: "ha_hosts", message: "expected a bare host without brackets or port (the port is dbport), got '10.0.0.11:3306'" },
      { line: 9, token: "ha_hosts", message: "expected distinct hosts, got '10.0.0.12' twice" },
      { line: 12, token: "ha_connect_retries", message: "expected a whole number from 1 to 20, got 'two'" },
      { line: 13, token: "ha_interval", message: "expected a number of seconds greater than 0 and at most 3600, got '0'" },
      { line: 14, token: "ha_sshkey", message: "expected an absolute path (starting with /), got 'id_pandora_ha'" },
      { line: 15, token: "ha_http_port", message: "expected a value, got nothing" },
      { line: 16, token: "ha_connect_retries", message: "given twice (lines 12 and 16); keep one" },
      { token: "repl_dbpass", message: "no password for the replication account: set repl_dbpass (or dbpass)" },
    ]);
  });

  test("a token given three times names every line", () => {
    const r = parse("ha_sshport 22\nha_sshport 22\nha_sshport 22\n");
    expect(r.problems).toEqual([{ line: 5, token: "ha_sshport", message: "given 3 times (lines 4, 5 and 6); keep one" }]);
  });

  test("the base fixture, HA tokens all commented out, only lacks ha_hosts", () => {
    const r = readHaConf(join(__dirname, "../fixtures/pandora_server.conf"));
    expect(r.settings).toBeUndefined();
    expect(r.problems.map((p) => [p.line, p.token])).toEqual([[undefined, "ha_hosts"]]);
  });

  test("an unreadable file is one problem, not an exception", () => {
    const r = readHaConf(fixture("does-not-exist.conf"));
    expect(r.settings).toBeUndefined();
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0].line).toBeUndefined();
    expect(r.problems[0].token).toBeUndefined();
    expect(r.problems[0].message).toMatch(/^cannot read the file: ENOENT/);
  });
});

describe("passwords", () => {
  const SECRETS = ["Pw#2024 secret", "Pw#2024", "Adm1n#pw", "Repl#one", "Repl#two"];

  test("no message quotes a password, even next to mistakes on password lines", () => {
    const path = fixture("passwords-near-mistakes.conf");
    const { settings, problems } = readHaConf(path);
    expect(settings).toBeUndefined();
    expect(problems.map((p) => [p.line, p.token])).toEqual([
      [4, "ha_connect_retries"],
      [6, "ha_dbpass"],
      [9, "repl_dbpass"],
      [10, "dbpass"],
      [10, "dbpass"],
    ]);
    const out = formatProblems(path, problems);
    for (const s of SECRETS) expect(out).not.toContain(s);
    expect(out).toContain("given twice (lines 3 and 10)");
  });
});

describe("formatProblems", () => {
  test("path:line: token: message, omitting what is unknown, one line per problem", () => {
    const out = formatProblems("/etc/pandora/pandora_server.conf", [
      { line: 12, token: "ha_connect_retries", message: "expected a whole number from 1 to 20, got 'two'" },
      { token: "ha_hosts", message: "is required" },
      { line: 3, message: "something about line 3" },
      { message: "cannot read the file: EACCES" },
    ]);
    expect(out.split("\n")).toEqual([
      "/etc/pandora/pandora_server.conf:12: ha_connect_retries: expected a whole number from 1 to 20, got 'two'",
      "/etc/pandora/pandora_server.conf: ha_hosts: is required",
      "/etc/pandora/pandora_server.conf:3: something about line 3",
      "/etc/pandora/pandora_server.conf: cannot read the file: EACCES",
    ]);
    expect(formatProblems("x", [])).toBe("");
  });

  test("formats a real parse", () => {
    const out = formatProblems("bad.conf", readHaConf(fixture("bad-connect-retries-word.conf")).problems);
    expect(out).toBe("bad.conf:15: ha_connect_retries: expected a whole number from 1 to 20, got 'two'");
  });
});
