#!/usr/bin/env bash
# db-restart.sh — runs ON A DB NODE, sent over SSH by server-rolling-restart.sh: tells whether
# the node owes a restart (its my.cnf changed while it ran; db-configure.sh left the marker
# $PHA_STATE_DIR/restart-pending) and performs it, as a replica only.
# Parameters: REQUEST (check|restart), DB_FLAVOR (percona84|percona80|mysql|mariadb1011), MYCNF_PATH, DB_NAME (where
# pandora_ha keeps its promotion epochs), NODE_HOST (this node's cluster address, as ha_hosts
# names it).
# check: the last line is `restart: pending` or `restart: none`; nothing is changed (a marker
# older than the server's start is removed: the file is already in force).
# restart: refuses, touching nothing, when the node is writable or the highest promotion epoch
# it holds names it (it is the master: pandora_ha must switch over first). Otherwise stops and
# starts the server (it comes back read-only: my.cnf starts every node read-only), waits for it,
# and when it replicated before, for both replication threads (60 s each). Idempotent: nothing
# pending → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env REQUEST DB_FLAVOR MYCNF_PATH DB_NAME NODE_HOST
require_one_of REQUEST check restart
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
require_abs_path MYCNF_PATH
require_sql_ident DB_NAME
require_host NODE_HOST
[[ -f "$MYCNF_PATH" ]] || die "MYCNF_PATH $MYCNF_PATH does not exist: run db-configure.sh first"
[[ -r /root/.my.cnf ]] || die "/root/.my.cnf is missing: run db-bootstrap.sh first"
pha_tmp_init
PHA_DB_SOCKET=""
db_use_cnf "$MYCNF_PATH"
db_ping || die "the database server on $NODE_HOST is not running (db-configure.sh starts it)"

if [[ "$REQUEST" == check ]]; then
  if restart_pending; then echo "restart: pending"; else echo "restart: none"; fi
  exit 0
fi

if ! restart_pending; then
  unchanged "the server runs its current my.cnf: no restart"
  exit 0
fi
[[ "$(mysql_root -e 'SELECT @@global.read_only')" == 1 ]] ||
  die "refusing to restart $NODE_HOST: it is writable (read_only=OFF), it is the master; pandora_ha must switch over first"
named=$(mysql_root -e "SELECT master FROM \`$DB_NAME\`.pandora_ha_epoch ORDER BY epoch DESC LIMIT 1" 2>/dev/null || true)
[[ "$named" != "$NODE_HOST" ]] ||
  die "refusing to restart $NODE_HOST: the highest promotion epoch it holds names it the master; pandora_ha must switch over first"

before=$(replica_status)
log "restarting the database server with its new my.cnf (read-only$([[ -n "$before" ]] && echo ", $(replication_summary "$before")"))"
db_stop "$DB_FLAVOR" "$MYCNF_PATH"
db_start "$DB_FLAVOR" "$MYCNF_PATH" || db_fail_with_log "$MYCNF_PATH" "the database server did not start"
wait_db_ping 60 || db_fail_with_log "$MYCNF_PATH" "the database server did not answer within 60 s after the restart"
rm -f "$PHA_RESTART_MARKER"
changed "restarted the database server on $NODE_HOST: its my.cnf is in force"
[[ -n "$before" ]] || exit 0

deadline=$((SECONDS + 60))
until threads_running "$(replica_status)"; do
  ((SECONDS < deadline)) || die "replication threads not running 60 s after the restart ($(replication_summary "$(replica_status)"))"
  sleep 0.2
done
log "replicating again ($(replication_summary "$(replica_status)"))"
