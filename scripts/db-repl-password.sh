#!/usr/bin/env bash
# db-repl-password.sh — runs ON EVERY DB NODE, after every node's bootstrap (so every node's
# replication account already has replPassword): a rotated replPassword reaches a configured
# replica without a reseed. Whatever node replicates now (after failovers, the first node too).
# Parameters: DB_FLAVOR (percona84|percona80|mysql|mariadb1011), REPL_USER, DATADIR, MYCNF_PATH;
# secret REPL_PASSWORD.
# Not a replica, another account, or the stored password already replPassword: unchanged.
# Otherwise the source must accept replPassword (else nothing is changed and the step fails, to
# be run again). MySQL: the password changed with only the IO thread stopped, which is started
# again only when it ran. MariaDB needs both threads stopped and then fetches its relay log again
# (GTID mode): done only while its SQL thread runs; with the SQL thread stopped (pandora_ha holds
# a relay log it may need) nothing is touched: pandora_ha's next repoint sets replPassword.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env DB_FLAVOR REPL_USER DATADIR MYCNF_PATH REPL_PASSWORD
PHA_SECRET_VARS=(REPL_PASSWORD)
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
require_sql_ident REPL_USER
require_abs_path DATADIR
require_abs_path MYCNF_PATH
[[ -f "$MYCNF_PATH" ]] || die "MYCNF_PATH $MYCNF_PATH does not exist: run db-configure.sh first"
pha_tmp_init
PHA_DB_SOCKET=""
db_use_cnf "$MYCNF_PATH"
wait_db_ping 60 || die "the database server does not answer: run db-configure.sh first"

# stored_source_password: the password this replica keeps for its source (MySQL: the connection
# metadata table; MariaDB: master.info in the datadir). Printed for a comparison only.
stored_source_password() {
  if mysql_family "$DB_FLAVOR"; then
    mysql_root -e "SELECT User_password FROM mysql.slave_master_info WHERE Channel_name = ''" 2>/dev/null || true
  else
    sed -n 6p "$DATADIR/master.info" 2>/dev/null || true
  fi
}

status=$(replica_status)
if [[ -z "$status" ]]; then
  unchanged "not a replica: it keeps no source password"
  exit 0
fi
host=$(replica_field "$status" Source_Host Master_Host)
port=$(replica_field "$status" Source_Port Master_Port)
if [[ "$(replica_field "$status" Source_User Master_User)" != "$REPL_USER" ]]; then
  unchanged "it replicates from $host as another account than $REPL_USER: left as it is"
  exit 0
fi
if [[ "$(stored_source_password)" == "$REPL_PASSWORD" ]]; then
  unchanged "the replication password it keeps for $host is replPassword"
  exit 0
fi
f=$(pha_mktemp)
client_cnf "$REPL_USER" "$REPL_PASSWORD" >"$f"
remote_client "$f" "$host" "$port" -N -B -e 'SELECT 1' >/dev/null 2>&1 ||
  die "the replication password it keeps for $host is not replPassword, and $host does not accept replPassword for $REPL_USER (yet): nothing changed; run again once it does"

io=$(replica_field "$status" Replica_IO_Running Slave_IO_Running)
sql=$(replica_field "$status" Replica_SQL_Running Slave_SQL_Running)
pw=$(sql_quote "$REPL_PASSWORD")
if mysql_family "$DB_FLAVOR"; then
  stmts="CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD=$pw;"
  [[ "$io" == No ]] || stmts="STOP REPLICA IO_THREAD; $stmts START REPLICA IO_THREAD;"
else
  if [[ "$sql" != Yes ]]; then
    warn "its SQL thread is stopped (IO=$io): its stored password is left for pandora_ha's next repoint (which sets replPassword), its relay log untouched"
    unchanged "the replication password it keeps for $host (replication stopped here)"
    exit 0
  fi
  stmts="STOP SLAVE; CHANGE MASTER TO MASTER_PASSWORD=$pw; START SLAVE;"
fi
if ! printf '%s\n' "$stmts" | sql_exec; then
  # The client stops at the first error: the threads as they were.
  if [[ "$io" != No ]]; then mysql_root -e "$(if mysql_family "$DB_FLAVOR"; then echo 'START REPLICA IO_THREAD'; else echo 'START SLAVE'; fi)" >/dev/null 2>&1 || true; fi
  die "changing the replication password it keeps for $host failed (see above)"
fi
changed "the replication password it keeps for $host (replPassword rotated; no reseed)"
