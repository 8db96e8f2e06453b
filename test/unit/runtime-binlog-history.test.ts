/**
 * What a node's binary log files hold (runtime/act/truncate.ts): the script run on its host over SSH
 * (its awk summary of `mariadb-binlog` output, shaped as MariaDB 10.11.19 prints it, including
 * the truncated last transaction a full binlog volume and a kill -9 leave), and the rule that
 * stops reading older files.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { fileGtidsScript, mergeStates, olderFilesAddNothing, parseFileGtids } from "../../runtime/act/truncate";

/** The crashed file of the lab's disk-full fault, cut down: header, a DDL, an Aria and two InnoDB transactions, one cut short. */
const CRASHED_FILE = `/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;
DELIMITER /*!*/;
# at 4
#261201 14:58:14 server id 1  end_log_pos 256 CRC32 0xd37ae383 \tStart: binlog v 4, server v 10.11.19-MariaDB-0+deb12u1-log created 261201 14:58:14
# at 256
#261201 14:58:14 server id 1  end_log_pos 315 CRC32 0xd6e4e4fa \tGtid list [0-1-1514,
# 5-1-2]
# at 315
#261201 14:58:14 server id 1  end_log_pos 355 CRC32 0x098ade44 \tBinlog checkpoint binlog.000001
# at 355
#261201 14:58:14 server id 1  end_log_pos 397 CRC32 0x28d5b844 \tGTID 0-1-1515 ddl
# at 397
#261201 14:58:14 server id 1  end_log_pos 543 CRC32 0xe398b97e \tQuery\tthread_id=44\texec_time=0\terror_code=0\txid=237
SET TIMESTAMP=1796137094/*!*/;
CREATE TABLE IF NOT EXISTS t_inno (a INT PRIMARY KEY) ENGINE=InnoDB
/*!*/;
# at 543
#261201 14:58:14 server id 1  end_log_pos 585 CRC32 0x9a4ad878 \tGTID 5-1-3
START TRANSACTION
/*!*/;
# at 585
#261201 14:58:14 server id 1  end_log_pos 637 CRC32 0xbca64545 \tAnnotate_rows:
#Q> INSERT INTO t_aria VALUES (1)
#261201 14:58:14 server id 1  end_log_pos 727 CRC32 0x18bca72d \tWrite_rows: table id 30 flags: STMT_END_F
# at 727
#261201 14:58:14 server id 1  end_log_pos 803 CRC32 0x03b21e10 \tQuery\tthread_id=44\texec_time=0\terror_code=0\txid=0
SET TIMESTAMP=1796137094/*!*/;
COMMIT
/*!*/;
# at 803
#261201 14:58:14 server id 1  end_log_pos 845 CRC32 0xa3079a02 \tGTID 0-1-1516 cid=1766 trans
START TRANSACTION
/*!*/;
# at 845
#261201 14:58:14 server id 1  end_log_pos 897 CRC32 0x14f76c5f \tAnnotate_rows:
#Q> INSERT INTO pha_writer (k, v) VALUES ('a-1-1', 1)
#261201 14:58:14 server id 1  end_log_pos 987 CRC32 0x027297d1 \tWrite_rows: table id 31 flags: STMT_END_F
# Number of rows: 1
# at 987
#261201 14:58:14 server id 1  end_log_pos 1018 CRC32 0x2eb3ad49 \tXid = 238
COMMIT/*!*/;
# at 1018
#261201 14:58:14 server id 1  end_log_pos 1060 CRC32 0x7c09d7c7 \tGTID 0-1-1517 trans
START TRANSACTION
/*!*/;
# at 1060
#261201 14:58:14 server id 1  end_log_pos 1141 CRC32 0x1e384d89 \tAnnotate_rows:
#Q> INSERT INTO pha_writer (k, v) VALUES ('a-2-1', 2)
DELIMITER ;
# End of log file
ROLLBACK /* added by mysqlbinlog */;
/*!50003 SET COMPLETION_TYPE=@OLD_COMPLETION_TYPE*/;
`;

function shellcheck(script: string): string {
  const f = join(mkdtempSync(join(tmpdir(), "pha-sc-")), "s.sh");
  writeFileSync(f, `#!/usr/bin/env bash\n${script}\n`);
  const r = spawnSync("shellcheck", ["-s", "bash", f], { encoding: "utf8" });
  if (r.error) throw new Error(`shellcheck is missing: apt-get install shellcheck (${r.error.message})`);
  return r.stdout + r.stderr;
}

/** Runs the script with a stand-in mariadb-binlog that prints `output` (and the error a truncated event gives). */
function runOn(output: string): string {
  const dir = mkdtempSync(join(tmpdir(), "pha-binlog-"));
  writeFileSync(join(dir, "out.txt"), output);
  writeFileSync(join(dir, "mariadb-binlog"), `#!/bin/sh\ncat ${dir}/out.txt\necho "ERROR: Error in Log_event::read_log_event(): 'Event truncated'" >&2\n`);
  chmodSync(join(dir, "mariadb-binlog"), 0o755);
  const r = spawnSync("bash", ["-c", fileGtidsScript(dir, "binlog.000002")], { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe("what a binary log file holds", () => {
  test("the script is shellcheck-clean and quotes the file", () => {
    const s = fileGtidsScript("/var/lib/mysql", "bin'log.000002");
    expect(shellcheck(s)).toBe("");
    expect(s).toContain("'bin'\\''log.000002'");
  });

  test("its Gtid_list, and the last complete transaction of each domain-server: not the one cut short", () => {
    expect(parseFileGtids(runOn(CRASHED_FILE))).toEqual({ header: "0-1-1514,5-1-2", complete: "0-1-1516,5-1-3" });
  });

  test("a file with a header and nothing else (a server started read-only)", () => {
    const header = CRASHED_FILE.slice(0, CRASHED_FILE.indexOf("# at 355"));
    expect(parseFileGtids(runOn(header.replace(/\[0-1-1514,\n# 5-1-2\]/, "[0-1-2]")))).toEqual({ header: "0-1-2", complete: "" });
    expect(parseFileGtids(runOn(header.replace(/\[0-1-1514,\n# 5-1-2\]/, "[]")))).toEqual({ header: "", complete: "" });
  });

  test("output that is not the script's is refused", () => {
    expect(() => parseFileGtids("ssh: connect to host 10.0.0.1 port 22: Connection refused")).toThrow(/unexpected output/);
  });

  test("GTID lists merge per domain-server, the highest seq", () => {
    expect(mergeStates("0-1-2", "", "0-1-1557,0-2-9", "1-1-5,0-2-3")).toBe("0-1-1557,0-2-9,1-1-5");
    expect(mergeStates()).toBe("");
  });
});

describe("reading older files stops once the chain of Gtid_lists is intact", () => {
  const f = (header: string, complete: string) => ({ header, complete });

  test("a healthy binlog: the newest file's Gtid_list holds all the previous one has", () => {
    expect(olderFilesAddNothing(f("0-1-100", "0-1-250"), f("0-1-250", "0-1-300"))).toBe(true);
  });

  test("after a recovery that lost the state: the new file's Gtid_list lacks the crashed file's transactions", () => {
    // The lab: binlog.000003 [0-1-2] (written after the recovery), binlog.000002 [0-1-1514] + 1515..1557, binlog.000001 [] + 1..1514.
    const b3 = f("0-1-2", "");
    const b2 = f("0-1-1514", "0-1-1557");
    const b1 = f("", "0-1-1514");
    expect(olderFilesAddNothing(b3, undefined)).toBe(false);
    expect(olderFilesAddNothing(b2, b3)).toBe(false);
    expect(olderFilesAddNothing(b1, b2)).toBe(true);
  });

  test("a file without transactions of its own proves nothing (restarts of a read-only node)", () => {
    expect(olderFilesAddNothing(f("0-1-2", ""), f("0-1-2", ""))).toBe(false);
  });
});
