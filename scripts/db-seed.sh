#!/usr/bin/env bash
# db-seed.sh — runs ON A REPLICA: clones the master into the local datadir and starts GTID
# replication, read-only.
# Parameters: DB_FLAVOR (percona80|mariadb1011), MASTER_PORT (MySQL), MASTER_SSH_USER,
# MASTER_SSH_PORT, REPL_USER, DATADIR, MYCNF_PATH, KEY_FILE (SSH key to the master), FORCE (0|1,
# default 0), RESYNC (0|1, default 0), SEED_COMPRESS (auto|zstd|none, default auto: zstd when
# both ends have it and the master is not on a loopback address, where bandwidth is free and
# compressing only costs CPU); secret REPL_PASSWORD. The master: MASTER_HOST (the resync tool
# names it), or, as the deployment runs it, DB_HOSTS (every DB node's cluster address), SELF_HOST
# (this node's), DB_NAME, HA_DB_USER and secret HA_DB_PASSWORD: the current master is asked of
# the cluster (the highest promotion epoch names it; before any epoch, the one writable node),
# never assumed to be the first node.
# Idempotent and safe after failovers: a node that already has replication configured is never
# reseeded (unchanged), nor is the current master (unchanged, wherever it is). A node whose
# datadir holds user tables, or that is writable (it may be the acting master), is refused
# unless FORCE=1. RESYNC=1 (pandora_ha_resync_slave.sh) rebuilds
# a member on purpose: configured replication and existing tables do not stop it, a server
# that does not start is rebuilt anyway, but a writable node is still refused unless FORCE=1.
# Otherwise: stream xtrabackup/mariabackup from the master over SSH into
# <datadir>.pandora-ha-incoming beside the datadir (no staging copy on the master;
# zstd-compressed when both ends have it; bytes and MB/s shown) while the local server stops,
# prepare it there, move the old datadir (and binary logs kept outside it) aside to
# <path>.pandora-ha.<timestamp> — nothing is deleted —, put the copy in its place, start, point
# replication at the master from the backup's GTID position and wait up to 60 s for both
# replication threads.
# An interrupted seed is resumed by the next run (it starts over from a fresh stream).
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env DB_FLAVOR MASTER_PORT MASTER_SSH_USER MASTER_SSH_PORT REPL_USER DATADIR MYCNF_PATH KEY_FILE REPL_PASSWORD
PHA_SECRET_VARS=(REPL_PASSWORD HA_DB_PASSWORD)
require_one_of DB_FLAVOR percona80 mariadb1011
DB_HOSTS="${DB_HOSTS:-}"
MASTER_HOST="${MASTER_HOST:-}"
if [[ -n "$DB_HOSTS" ]]; then
  require_env SELF_HOST DB_NAME HA_DB_USER HA_DB_PASSWORD
  require_host_list DB_HOSTS
  require_host SELF_HOST
  require_sql_ident DB_NAME
  require_sql_ident HA_DB_USER
  [[ -z "$MASTER_HOST" ]] || die "MASTER_HOST and DB_HOSTS exclude each other: the master is either named or asked of the cluster"
else
  [[ -n "$MASTER_HOST" ]] || die "required environment variable MASTER_HOST (or DB_HOSTS, to ask the cluster) is missing or empty"
  require_host MASTER_HOST
fi
require_port MASTER_PORT
require_port MASTER_SSH_PORT
require_match MASTER_SSH_USER '^[a-z_][a-z0-9_-]{0,31}$' "a Unix user name"
require_sql_ident REPL_USER
require_abs_path DATADIR
require_abs_path MYCNF_PATH
require_abs_path KEY_FILE
FORCE="${FORCE:-0}"
require_one_of FORCE 0 1
RESYNC="${RESYNC:-0}"
require_one_of RESYNC 0 1
SEED_COMPRESS="${SEED_COMPRESS:-auto}"
require_one_of SEED_COMPRESS auto zstd none
[[ -f "$MYCNF_PATH" ]] || die "MYCNF_PATH $MYCNF_PATH does not exist: run db-configure.sh first"
[[ -f "$KEY_FILE" ]] || die "KEY_FILE $KEY_FILE does not exist: run ssh-keys.sh first"
pha_tmp_init
PHA_DB_SOCKET=""
db_use_cnf "$MYCNF_PATH"

if [[ "$DB_FLAVOR" == percona80 ]]; then
  BACKUP=xtrabackup STREAM=xbstream
else
  BACKUP=mariabackup STREAM=mbstream
fi
command -v "$BACKUP" >/dev/null || die "$BACKUP is not installed here: run db-install.sh first"
command -v "$STREAM" >/dev/null || die "$STREAM is not installed here: run db-install.sh first"

MARKER="$PHA_STATE_DIR/seed-in-progress"
# AES-GCM first: ssh is the bottleneck of a stream on small machines, and it is the cheapest
# cipher with AES-NI (the others remain acceptable if the master's sshd refuses it).
CIPHERS="aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr"
SUDO=""
[[ "$MASTER_SSH_USER" == root ]] || SUDO="sudo -n "

replication_errors() { # STATUS
  local io sql
  io=$(replica_field "$1" Last_IO_Error)
  sql=$(replica_field "$1" Last_SQL_Error)
  printf 'Last_IO_Error: %s; Last_SQL_Error: %s' "${io:-none}" "${sql:-none}"
}

# --- 1. Is there anything to do?
RESUME=0
if [[ -f "$MARKER" ]]; then
  RESUME=1
  log "an earlier seed of this node did not finish ($(paste -sd ';' "$MARKER")): starting it over"
fi
if ((!RESUME)) && ! db_ping; then
  log "the local server is not running: starting it to inspect it"
  db_start "$DB_FLAVOR" "$MYCNF_PATH" || true
  if ! wait_db_ping 60; then
    ((FORCE || RESYNC)) || db_fail_with_log "$MYCNF_PATH" "the local server does not start, so this node cannot be inspected; fix it, or reseed it with FORCE=1 (its datadir is moved aside, not deleted)"
    warn "the local server does not start: rebuilding it anyway (its datadir is moved aside, not deleted)"
  fi
fi
if db_ping && ((!RESYNC)); then
  status=$(replica_status)
  if [[ -n "$status" ]] && threads_running "$status"; then
    rm -f "$MARKER"
    unchanged "replication already configured and running ($(replication_summary "$status")); a member is never reseeded"
    exit 0
  fi
  if [[ -n "$status" ]] && ((!RESUME)); then
    warn "replication is configured but not running ($(replication_summary "$status")): $(replication_errors "$status")"
    unchanged "replication already configured; a member is never reseeded (pandora_ha repairs or resyncs it)"
    exit 0
  fi
fi
# --- The master, when the cluster is asked: this node itself is never seeded.
if [[ -n "$DB_HOSTS" ]]; then
  HA_CNF=$(pha_mktemp)
  client_cnf "$HA_DB_USER" "$HA_DB_PASSWORD" >"$HA_CNF"
  read -r -a hosts <<<"$DB_HOSTS"
  # shellcheck disable=SC2153 # MASTER_PORT is a parameter (checked above)
  MASTER_HOST=$(cluster_master "$HA_CNF" "$MASTER_PORT" "$DB_NAME" "${hosts[@]}") ||
    die "no current master among DB_HOSTS ($DB_HOSTS): no node holds a promotion epoch and none is writable, so there is nothing to seed from"
  if [[ "$MASTER_HOST" == "$SELF_HOST" ]]; then
    rm -f "$MARKER"
    unchanged "this node ($SELF_HOST) is the current master, as the cluster names it: the master is never seeded"
    exit 0
  fi
  log "the current master, as the cluster names it: $MASTER_HOST"
fi
SSH=(ssh -i "$KEY_FILE" -p "$MASTER_SSH_PORT" -o BatchMode=yes -o StrictHostKeyChecking=accept-new
  -o IdentitiesOnly=yes -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=4
  -o Compression=no -o "Ciphers=$CIPHERS"
  "$MASTER_SSH_USER@$MASTER_HOST")

if db_ping && ((!RESUME)); then
  # --- 2. Safety: never overwrite data that may be the only copy.
  if ((!FORCE)); then
    if ((!RESYNC)); then
      user_tables=$(mysql_root -e "SELECT CONCAT(table_schema, ' (', COUNT(*), ' tables)') FROM information_schema.tables WHERE table_schema NOT IN ('mysql','sys','performance_schema','information_schema') GROUP BY table_schema" | paste -sd, -)
      [[ -z "$user_tables" ]] ||
        die "refusing to seed: this node replicates from nobody and its datadir holds data: $user_tables. If it is really disposable, run again with FORCE=1 (the datadir is moved aside, not deleted)"
    fi
    [[ "$(mysql_root -e 'SELECT @@global.read_only')" == 1 ]] ||
      die "refusing to seed: this node is writable (read_only=OFF), it may be the acting master. If it is not, run again with FORCE=1"
  fi
fi

# --- 3. Preflight: the master is reachable and can stream (before anything is stopped).
"${SSH[@]}" "${SUDO}test -r /root/.my.cnf && ${SUDO}$BACKUP --version" >/dev/null 2>&1 ||
  die "cannot run $BACKUP on $MASTER_SSH_USER@$MASTER_HOST:$MASTER_SSH_PORT over SSH with $KEY_FILE, or /root/.my.cnf is missing there (run ssh-keys.sh and db-bootstrap.sh on the master)"
# zstd on both ends: the stream is compressed (3-5:1 for InnoDB pages), less for the network.
ZSTD=0
case "$SEED_COMPRESS" in
  zstd) ZSTD=1 ;;
  auto) [[ "$MASTER_HOST" =~ ^(127\.|::1$|localhost$) ]] || ZSTD=1 ;;
esac
if ((ZSTD)) && ! { command -v zstd >/dev/null 2>&1 && "${SSH[@]}" "command -v zstd" >/dev/null 2>&1; }; then
  [[ "$SEED_COMPRESS" == zstd ]] && die "SEED_COMPRESS=zstd, but zstd is missing here or on $MASTER_HOST"
  ZSTD=0
fi
if mountpoint -q "$DATADIR"; then
  die "$DATADIR is a mount point: it cannot be moved aside; point DATADIR at a directory inside the volume"
fi
if remote_size=$("${SSH[@]}" "${SUDO}du -sb $DATADIR" 2>/dev/null | awk '{ print $1 }') && [[ -n "$remote_size" ]]; then
  avail=$(df --output=avail -B1 "$(dirname "$DATADIR")" | tail -n 1 | tr -d ' ')
  ((avail > remote_size)) || warn "the master's $DATADIR holds $((remote_size / 1048576)) MB and only $((avail / 1048576)) MB are free here"
fi

# --- 4. Stream and prepare into a staging directory beside the datadir while the local server
# stops (it is replaced anyway); then swap: the old datadir is moved aside, never deleted. The
# replica's downtime is the stop, not the whole copy, and the old datadir is untouched until a
# prepared copy is ready.
mkdir -p "$PHA_STATE_DIR"
echo "started $(date -u +%FT%TZ) from $MASTER_HOST" >"$MARKER"
INCOMING="$DATADIR.pandora-ha-incoming"
if [[ -e "$INCOMING" ]]; then
  # Only ever a partial copy from an interrupted run of this step: the master has it all.
  log "removing the unfinished copy $INCOMING of an earlier run"
  rm -rf -- "$INCOMING"
fi
mkdir -p "$INCOMING"
chown mysql:mysql "$INCOMING"
chmod 0750 "$INCOMING"
STOP_PID=""
if db_ping; then
  log "stopping the local server (while the backup streams)"
  db_stop "$DB_FLAVOR" "$MYCNF_PATH" &
  STOP_PID=$!
fi

# progress: bytes, elapsed time and MB/s, one log line every 10 s (pv), else dd's. The lines go
# to fd 4, the script's stdout, so that they come in order with the other log lines (fd 4 is
# closed right after the stream: a server started later must not inherit it and hold the
# caller's output open).
progress_lines() {
  local l
  tr '\r' '\n' | while IFS= read -r l; do
    if [[ -n "$l" ]]; then log "streamed $l" >&4; fi
  done
}
# The data goes on through fd 3; the meter's stderr becomes log lines, in order.
progress() {
  if command -v pv >/dev/null 2>&1; then
    { pv -f -i 10 -b -t -r -a 2>&1 >&3 | progress_lines; } 3>&1
  else
    { dd bs=4M iflag=fullblock status=progress 2>&1 >&3 | progress_lines; } 3>&1
  fi
}

# The command run on the master. The manual's innodb_flush_log_at_timeout=1800 leaves the
# redo log tail unwritten for up to 30 min, and mariabackup 10.11 then fails with "Was only able
# to copy log from X to Y" (measured; MDEV-36159): lower it to 1 s (the server default) for the
# backup and put the previous value back afterwards, also when the backup fails.
# --defaults-extra-file must be the first option (mariabackup refuses it elsewhere).
# shellcheck disable=SC2016 # expanded on the master
REMOTE_SCRIPT='set -o pipefail
c=$(command -v mariadb || command -v mysql)
q() { "$c" --defaults-extra-file=/root/.my.cnf -N -B -e "$1"; }
prev=$(q "SELECT @@global.innodb_flush_log_at_timeout") || exit 1
restore() { [ "$prev" -gt 1 ] && q "SET GLOBAL innodb_flush_log_at_timeout=$prev"; }
trap restore EXIT HUP INT TERM
[ "$prev" -gt 1 ] && q "SET GLOBAL innodb_flush_log_at_timeout=1"
'"$BACKUP"' --defaults-extra-file=/root/.my.cnf --backup --parallel=2 --stream=xbstream --target-dir=/tmp'
if ((ZSTD)); then REMOTE_SCRIPT+=' | zstd -1 -T0 -q -c'; fi
REMOTE="${SUDO}bash -c $(sh_quote "$REMOTE_SCRIPT")"
decompress() { if ((ZSTD)); then zstd -d -q -c; else cat; fi; }

log "streaming a backup of $MASTER_HOST into $INCOMING$( ((ZSTD)) && echo " (zstd-compressed)")"
start=$SECONDS
ERR_REMOTE=$(pha_mktemp)
exec 4>&1
# Several writers: a single one cannot keep up with the stream.
if ! "${SSH[@]}" "$REMOTE" 2>"$ERR_REMOTE" | progress | decompress | "$STREAM" --parallel=4 -x -C "$INCOMING"; then
  tail -n 20 "$ERR_REMOTE" >&2
  die "streaming the backup from $MASTER_HOST failed (see above); run again to start over"
fi
exec 4>&-
bytes=$(du -sb "$INCOMING" | awk '{ print $1 }')
secs=$((SECONDS - start))
log "received $((bytes / 1048576)) MB in ${secs} s ($((bytes / 1048576 / (secs > 0 ? secs : 1))) MB/s)"

log "preparing the backup"
ERR_PREP=$(pha_mktemp)
if ! "$BACKUP" --prepare --target-dir="$INCOMING" >"$ERR_PREP" 2>&1; then
  tail -n 20 "$ERR_PREP" >&2
  die "$BACKUP --prepare failed; run again to start over"
fi
# The server UUID must be this node's own (MySQL refuses a replica with its source's UUID);
# xtrabackup does not copy auto.cnf, but should one come along, keep it aside.
if [[ -f "$INCOMING/auto.cnf" ]]; then mv -- "$INCOMING/auto.cnf" "$INCOMING/auto.cnf.from-master"; fi
chown -R mysql:mysql "$INCOMING"

if [[ -n "$STOP_PID" ]]; then
  wait "$STOP_PID" || die "the local server did not stop; the prepared copy is in $INCOMING"
fi
if [[ -d "$DATADIR" && -n "$(ls -A "$DATADIR")" ]]; then
  aside=$(move_aside "$DATADIR")
  echo "previous datadir: $aside" >>"$MARKER"
  changed "moved the previous datadir aside to $aside (not deleted)"
elif [[ -d "$DATADIR" ]]; then
  rmdir -- "$DATADIR"
fi
mv -- "$INCOMING" "$DATADIR" || die "cannot move $INCOMING to $DATADIR"
# Binary logs outside the datadir belong to the old instance too: their GTID state would
# conflict with the clone's. Move them into a dated subdirectory of their own directory.
LOG_BIN=$(cnf_value "$MYCNF_PATH" log-bin)
if [[ "$LOG_BIN" == /* && "$(dirname "$LOG_BIN")" != "$DATADIR" ]]; then
  bdir=$(dirname "$LOG_BIN")
  mapfile -t old_logs < <(find "$bdir" -maxdepth 1 -type f -name "$(basename "$LOG_BIN").*")
  if ((${#old_logs[@]} > 0)); then
    keep="$bdir/pandora-ha.$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$keep"
    mv -- "${old_logs[@]}" "$keep/"
    changed "moved ${#old_logs[@]} binary log file(s) of the previous instance to $keep (not deleted)"
  fi
fi
restore_context "$DATADIR"

# --- 5. The position: "file pos gtid" (MariaDB) or "file pos gtid_set" (Percona, may wrap).
INFO="$DATADIR/xtrabackup_binlog_info"
[[ -f "$INFO" ]] || INFO="$DATADIR/mariadb_backup_binlog_info"
[[ -f "$INFO" ]] || die "the backup has no xtrabackup_binlog_info: is binary logging on on the master?"
GTID=$(awk 'NR == 1 { for (i = 3; i <= NF; i++) printf "%s", $i; next } { gsub(/[[:space:]]/, ""); printf "%s", $0 }' "$INFO")
log "backup position: $(awk 'NR == 1 { print $1, $2 }' "$INFO"), GTID ${GTID:-(none yet)}"
if [[ "$DB_FLAVOR" == percona80 && -z "$GTID" ]]; then
  die "the backup carries no GTID set: gtid-mode must be ON on the master"
fi
[[ "$GTID" =~ ^[0-9A-Fa-f:,-]*$ ]] || die "unexpected GTID in $INFO: $GTID"

# --- 6. Start and replicate.
db_start "$DB_FLAVOR" "$MYCNF_PATH" || db_fail_with_log "$MYCNF_PATH" "the seeded server did not start"
wait_db_ping 60 || db_fail_with_log "$MYCNF_PATH" "the seeded server did not answer within 60 s"

if [[ -n "$(replica_status)" ]]; then
  log "the clone carries replication settings from the master's backup: clearing them"
  mysql_root -e 'STOP REPLICA; RESET REPLICA ALL' || die "cannot clear the copied replication settings"
fi

if [[ "$DB_FLAVOR" == percona80 ]]; then
  sql_exec <<EOF || die "configuring replication failed (see above)"
SET GLOBAL super_read_only=OFF;
RESET MASTER;
SET GLOBAL gtid_purged=$(sql_quote "$GTID");
CHANGE REPLICATION SOURCE TO SOURCE_HOST=$(sql_quote "$MASTER_HOST"), SOURCE_PORT=$MASTER_PORT, SOURCE_USER=$(sql_quote "$REPL_USER"), SOURCE_PASSWORD=$(sql_quote "$REPL_PASSWORD"), SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, SOURCE_HEARTBEAT_PERIOD=2, GET_SOURCE_PUBLIC_KEY=1;
START REPLICA;
SET GLOBAL read_only=ON;
SET GLOBAL super_read_only=ON;
EOF
else
  sql_exec <<EOF || die "configuring replication failed (see above)"
SET GLOBAL gtid_slave_pos=$(sql_quote "$GTID");
CHANGE MASTER TO MASTER_HOST=$(sql_quote "$MASTER_HOST"), MASTER_PORT=$MASTER_PORT, MASTER_USER=$(sql_quote "$REPL_USER"), MASTER_PASSWORD=$(sql_quote "$REPL_PASSWORD"), MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=2;
START SLAVE;
SET GLOBAL read_only=ON;
EOF
fi
rm -f "$MARKER"
changed "seeded from $MASTER_HOST at GTID ${GTID:-(empty)}; replication started, read_only=ON"

# --- 7. Both threads must run.
deadline=$((SECONDS + 60))
while :; do
  status=$(replica_status)
  if threads_running "$status"; then
    log "replication running ($(replication_summary "$status"))"
    exit 0
  fi
  ((SECONDS >= deadline)) && break
  sleep 0.2
done
die "replication threads not running after 60 s ($(replication_summary "$status")): $(replication_errors "$status")"
