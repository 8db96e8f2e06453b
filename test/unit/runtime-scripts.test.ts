/**
 * The shell pandora_ha runs on DB hosts over SSH: shellcheck-clean, quoting what it is given,
 * and the secondary check's answer for a closed port.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { secondaryCheckScript } from "../../runtime/act/actions";
import { truncateScript } from "../../runtime/act/truncate";
import { killScript } from "../../runtime/act/actions";

function shellcheck(script: string): string {
  const f = join(mkdtempSync(join(tmpdir(), "pha-sc-")), "s.sh");
  writeFileSync(f, `#!/usr/bin/env bash\n${script}\n`);
  const r = spawnSync("shellcheck", ["-s", "bash", f], { encoding: "utf8" });
  if (r.error) throw new Error(`shellcheck is missing: apt-get install shellcheck (${r.error.message})`);
  return r.stdout + r.stderr;
}

describe("scripts pandora_ha runs over SSH", () => {
  test("the tail truncation script is shellcheck-clean and quotes what it is given", () => {
    const s = truncateScript("0-1-100", "/var/lib/mysql-binlog", ["binlog.000001", "bin'log.000002"], "10.0.0.1-epoch3-x", 3);
    expect(shellcheck(s)).toBe("");
    expect(s).toContain("files=('binlog.000001' 'bin'\\''log.000002')");
    expect(s).toContain("--flashback");
    expect(s).toContain('--init-command="SET SESSION sql_log_bin=0"');
    // Archived before anything is undone.
    expect(s.indexOf(".binlog.sql")).toBeLessThan(s.indexOf("--flashback"));
    // What it writes goes through cat (mariadb-binlog exits 0 with its output cut by a full disk).
    for (const f of ["binlog.sql", "rows.txt", "flashback.sql"]) expect(s).toContain(`| cat > "$dir/$name.${f}"`);
    expect(s).toContain("expected=3");
  });

  test("the server kill script is shellcheck-clean, quotes the pid file and kills only a database server", () => {
    const s = killScript("/run/my'sqld/mysqld.pid", 3306);
    expect(shellcheck(s)).toBe("");
    expect(s).toContain("cat '/run/my'\\''sqld/mysqld.pid'");
    expect(s).toContain('sport = :3306');
    expect(s).toContain("(mariadbd|mysqld)");
    expect(shellcheck(killScript("", 3307))).toBe("");
  });

  test("the server kill script finds nothing to kill where no database server runs: exit 1, nothing killed", () => {
    const r = spawnSync("bash", ["-c", killScript("/nonexistent/pid", 1)], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no database server found \(pid file \/nonexistent\/pid, port 1\)/);
  });

  test("the secondary check is shellcheck-clean", () => {
    expect(shellcheck(secondaryCheckScript("db'1", 3306, 1))).toBe("");
  });

  test("the secondary check answers 1 when nothing listens on the master's port", () => {
    // (Reachable masters: the integration tests' hang and one-sided cuts, against real servers.)
    const r = spawnSync("sh", ["-c", secondaryCheckScript("127.0.0.1", 1, 1)], { encoding: "utf8" });
    expect(r.status).toBe(1);
  });
});
