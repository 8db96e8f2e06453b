/**
 * The shell pandora_ha runs on DB hosts over SSH: shellcheck-clean, quoting what it is given,
 * and the secondary check's answer for a closed port.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { secondaryCheckScript } from "../../runtime/act/actions";
import { CUT_SHORT_AWK, truncateScript } from "../../runtime/act/truncate";
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

  test("a transaction a crash cut short (no COMMIT, a new file after it) is found: the undo stops at its GTID event", () => {
    const header = (what: string) => `#261201 23:15:50 server id 2  end_log_pos 1 CRC32 0x0 \t${what}`;
    const file = (...lines: string[]) => ["# at 4", header("Start: binlog v 4, server v 10.11.19-MariaDB-log created"), ...lines];
    const tx = (at: number, seq: number, commit = true) => [`# at ${at}`, header(`GTID 0-2-${seq} cid=1 trans`), "START TRANSACTION", "### INSERT INTO `pandora`.`t`", ...(commit ? ["COMMIT/*!*/;"] : [])];
    const cut = (...lines: string[]) => spawnSync("awk", [CUT_SHORT_AWK], { input: lines.join("\n"), encoding: "utf8" }).stdout.trim();
    expect(cut(...file(...tx(100, 1), ...tx(200, 2)))).toBe("");
    // A DDL's event group has no START TRANSACTION and no COMMIT: complete all the same.
    expect(cut(...file(...tx(100, 1), "# at 200", header("GTID 0-2-2 ddl"), "CREATE TABLE t (a INT)"), ...file())).toBe("");
    // Cut short in the second file (measured: a full binlog volume, kill -9), the restart's file after it.
    expect(cut(...file(...tx(100, 1)), ...file(...tx(11758, 2), ...tx(12037, 3, false)), ...file())).toBe("2 12037");
    expect(cut(...file(...tx(100, 1), ...tx(200, 2, false)))).toBe("1 200");
    // Transactions after the cut one: it is inside the tail, not at its end.
    expect(cut(...file(...tx(100, 1, false)), ...file(...tx(300, 2)))).toBe("inside");
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

  test("the kill script's fallback (no pid file): of two servers on the port, only the one on the node's address is killed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pha-kill-"));
    copyFileSync("/bin/sleep", join(dir, "mariadbd"));
    const other = spawn(join(dir, "mariadbd"), ["30"]);
    const mine = spawn(join(dir, "mariadbd"), ["30"]);
    try {
      const line = (addr: string, pid?: number) => `LISTEN 0 80 ${addr}:3306 0.0.0.0:* users:(("mariadbd",pid=${pid},fd=20))`;
      writeFileSync(join(dir, "ss"), `#!/bin/sh\nprintf '%s\\n' '${line("127.0.1.2", other.pid)}' '${line("127.0.1.1", mine.pid)}'\n`);
      chmodSync(join(dir, "ss"), 0o755);
      const run = (address: string) => spawnSync("bash", ["-c", killScript("/nonexistent/pid", 3306, address)], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: "utf8" });
      // An address no listener has: nothing is killed.
      expect(run("127.0.1.9").status).toBe(1);
      expect(run("127.0.1.1").status).toBe(0);
      await new Promise((r) => setTimeout(r, 100));
      expect(mine.exitCode ?? mine.signalCode).toBe("SIGKILL");
      expect(other.exitCode ?? other.signalCode).toBeNull();
    } finally {
      other.kill("SIGKILL");
      mine.kill("SIGKILL");
    }
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
