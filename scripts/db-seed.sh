#!/usr/bin/env bash
# db-seed.sh — runs ON A REPLICA: clones the master into the local datadir and starts GTID
# replication, read-only.
# Parameters: DB_FLAVOR (percona84|percona80|mysql|mariadb1011), SEED_METHOD (clone|xtrabackup|
# mariabackup; default clone on percona84 and mysql, xtrabackup on percona80, mariabackup on
# MariaDB), MASTER_PORT (MySQL),
# MASTER_SSH_USER, MASTER_SSH_PORT, REPL_USER, DATADIR, MYCNF_PATH, KEY_FILE (SSH key to the
# master; not used by clone), FORCE (0|1,
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
# SEED_METHOD=clone: the MySQL clone plugin copies the master, over the replication account's
# MySQL connection (no SSH between DB nodes), into <datadir>.pandora-ha-incoming/data while the
# local server runs (progress from performance_schema.clone_progress every 10 s); then the
# local server stops and the copy takes the datadir's place as below, and replication starts
# from the copy's own gtid_executed.
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
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
if mysql_family "$DB_FLAVOR"; then
  if [[ "$DB_FLAVOR" == percona80 ]]; then SEED_METHOD="${SEED_METHOD:-xtrabackup}"; else SEED_METHOD="${SEED_METHOD:-clone}"; fi
  require_one_of SEED_METHOD clone xtrabackup
  [[ "$DB_FLAVOR" != mysql || "$SEED_METHOD" == clone ]] || die "SEED_METHOD=$SEED_METHOD: DB_FLAVOR=mysql has no xtrabackup; use SEED_METHOD=clone"
else
  SEED_METHOD="${SEED_METHOD:-mariabackup}"
  require_one_of SEED_METHOD mariabackup
fi
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
pha_tmp_init
PHA_DB_SOCKET=""
db_use_cnf "$MYCNF_PATH"

case "$SEED_METHOD" in
  xtrabackup) BACKUP=xtrabackup STREAM=xbstream ;;
  mariabackup) BACKUP=mariabackup STREAM=mbstream ;;
  clone) BACKUP="" STREAM="" ;;
esac
if [[ -n "$BACKUP" ]]; then
  [[ -f "$KEY_FILE" ]] || die "KEY_FILE $KEY_FILE does not exist: run ssh-keys.sh first"
  command -v "$BACKUP" >/dev/null || die "$BACKUP is not installed here: run db-install.sh first"
  command -v "$STREAM" >/dev/null || die "$STREAM is not installed here: run db-install.sh first"
fi

MARKER="$PHA_STATE_DIR/seed-in-progress"
# One seed of this node at a time: after a healed split the daemons of both sides may ask.
pha_lock "$PHA_STATE_DIR/seed.lock" "another seed of this node"
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

# --- 3. Preflight (before anything is stopped), per method.
if mountpoint -q "$DATADIR"; then
  die "$DATADIR is a mount point: it cannot be moved aside; point DATADIR at a directory inside the volume"
fi
INCOMING="$DATADIR.pandora-ha-incoming"

# space_check BYTES: warns when the master's datadir would not fit beside ours.
space_check() {
  local avail
  [[ "$1" =~ ^[0-9]+$ ]] || return 0
  avail=$(df --output=avail -B1 "$(dirname "$DATADIR")" | tail -n 1 | tr -d ' ')
  ((avail > $1)) || warn "the master's data is $(($1 / 1048576)) MB and only $((avail / 1048576)) MB are free here"
}

preflight_backup() {
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
  space_check "$("${SSH[@]}" "${SUDO}du -sb $DATADIR" 2>/dev/null | awk '{ print $1 }')"
}

# The master as the replication account (the clone donor: BACKUP_ADMIN, db-bootstrap.sh).
REPL_CNF=$(pha_mktemp)
client_cnf "$REPL_USER" "$REPL_PASSWORD" >"$REPL_CNF"
plugin_active() { [[ "$("$@" -N -B -e "SELECT PLUGIN_STATUS FROM information_schema.PLUGINS WHERE PLUGIN_NAME='clone'" 2>/dev/null)" == ACTIVE ]]; }

preflight_clone() {
  if ! db_ping; then
    db_start "$DB_FLAVOR" "$MYCNF_PATH" || true
    wait_db_ping 60 || db_fail_with_log "$MYCNF_PATH" "SEED_METHOD=clone needs the local server running (it receives the copy), and it does not start: fix it (db-configure.sh initializes a missing datadir), or seed with xtrabackup"
  fi
  plugin_active mysql_root || die "the clone plugin is not active here: db-configure.sh loads it (plugin-load-add = mysql_clone.so) when seedMethod is clone"
  plugin_active remote_client "$REPL_CNF" "$MASTER_HOST" "$MASTER_PORT" ||
    die "the master $MASTER_HOST:$MASTER_PORT does not answer the replication account $REPL_USER, or its clone plugin is not active"
  space_check "$(remote_client "$REPL_CNF" "$MASTER_HOST" "$MASTER_PORT" -N -B -e "SELECT SUM(data_length + index_length) FROM information_schema.tables" 2>/dev/null)"
}

# Only ever a partial copy from an interrupted run of this step: the master has it all.
fresh_incoming() {
  if [[ -e "$INCOMING" ]]; then
    log "removing the unfinished copy $INCOMING of an earlier run"
    rm -rf -- "$INCOMING"
  fi
  mkdir -p "$INCOMING"
  chown mysql:mysql "$INCOMING"
  chmod 0750 "$INCOMING"
}

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

# copy_by_backup: streams a backup of the master into INCOMING while the local server stops
# (it is replaced anyway: the replica's downtime is the stop, not the whole copy), and
# prepares it there. COPY is where the prepared datadir is.
copy_by_backup() {
  local stop_pid="" start err_remote err_prep bytes secs remote remote_script
  fresh_incoming
  if db_ping; then
    log "stopping the local server (while the backup streams)"
    db_stop "$DB_FLAVOR" "$MYCNF_PATH" &
    stop_pid=$!
  fi
  # The manual's innodb_flush_log_at_timeout=1800 leaves the redo log tail unwritten for up to
  # 30 min, and mariabackup 10.11 then fails with "Was only able to copy log from X to Y"
  # (measured; MDEV-36159): lower it to 1 s (the server default) for the backup and put the
  # previous value back afterwards, also when the backup fails.
  # --defaults-extra-file must be the first option (mariabackup refuses it elsewhere).
  # shellcheck disable=SC2016 # expanded on the master
  remote_script='set -o pipefail
c=$(command -v mariadb || command -v mysql)
q() { "$c" --defaults-extra-file=/root/.my.cnf -N -B -e "$1"; }
prev=$(q "SELECT @@global.innodb_flush_log_at_timeout") || exit 1
restore() { [ "$prev" -gt 1 ] && q "SET GLOBAL innodb_flush_log_at_timeout=$prev"; }
trap restore EXIT HUP INT TERM
[ "$prev" -gt 1 ] && q "SET GLOBAL innodb_flush_log_at_timeout=1"
'"$BACKUP"' --defaults-extra-file=/root/.my.cnf --backup --parallel=2 --stream=xbstream --target-dir=/tmp'
  if ((ZSTD)); then remote_script+=' | zstd -1 -T0 -q -c'; fi
  remote="${SUDO}bash -c $(sh_quote "$remote_script")"
  log "streaming a backup of $MASTER_HOST into $INCOMING$( ((ZSTD)) && echo " (zstd-compressed)")"
  start=$SECONDS
  err_remote=$(pha_mktemp)
  exec 4>&1
  # Several writers: a single one cannot keep up with the stream.
  if ! "${SSH[@]}" "$remote" 2>"$err_remote" | progress | decompress | "$STREAM" --parallel=4 -x -C "$INCOMING"; then
    tail -n 20 "$err_remote" >&2
    die "streaming the backup from $MASTER_HOST failed (see above); run again to start over"
  fi
  exec 4>&-
  bytes=$(du -sb "$INCOMING" | awk '{ print $1 }')
  secs=$((SECONDS - start))
  log "received $((bytes / 1048576)) MB in ${secs} s ($((bytes / 1048576 / (secs > 0 ? secs : 1))) MB/s)"
  log "preparing the backup"
  err_prep=$(pha_mktemp)
  if ! "$BACKUP" --prepare --target-dir="$INCOMING" >"$err_prep" 2>&1; then
    tail -n 20 "$err_prep" >&2
    die "$BACKUP --prepare failed; run again to start over"
  fi
  if [[ -n "$stop_pid" ]]; then
    wait "$stop_pid" || die "the local server did not stop; the prepared copy is in $INCOMING"
  fi
  COPY=$INCOMING
}
decompress() { if ((ZSTD)); then zstd -d -q -c; else cat; fi; }

# allow_incoming: the server writes the clone beside its datadir; AppArmor (Ubuntu's mysqld
# profile) and SELinux (Rocky's mysqld_db_t) confine it to the datadir unless told.
allow_incoming() {
  local profile=/etc/apparmor.d/usr.sbin.mysqld local_rules=/etc/apparmor.d/local/usr.sbin.mysqld rule
  if [[ -f "$profile" ]] && command -v apparmor_parser >/dev/null 2>&1; then
    rule="$INCOMING/ rw, $INCOMING/** rwk, # pandora-ha: clone seeding"
    if ! grep -qF -- "$rule" "$local_rules" 2>/dev/null; then
      mkdir -p "$(dirname "$local_rules")"
      printf '%s\n' "$rule" >>"$local_rules"
      changed "AppArmor: mysqld may write $INCOMING ($local_rules)"
    fi
    apparmor_parser -r "$profile" || warn "apparmor_parser -r $profile failed"
  fi
  if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled && command -v semanage >/dev/null 2>&1; then
    semanage fcontext -a -t mysqld_db_t "$INCOMING(/.*)?" 2>/dev/null || semanage fcontext -m -t mysqld_db_t "$INCOMING(/.*)?" || warn "semanage fcontext for $INCOMING failed"
    restore_context "$INCOMING"
  fi
}

# clone_progress: one log line on the clone's current stage (performance_schema.clone_progress).
clone_progress() {
  local row
  row=$(mysql_root -e "SELECT STAGE, ROUND(DATA / 1048576), ROUND(ESTIMATE / 1048576) FROM performance_schema.clone_progress WHERE STATE = 'In Progress' LIMIT 1" 2>/dev/null) || return 0
  [[ -z "$row" ]] || log "clone: $(awk -F'\t' '{ printf "stage %s, %s of %s MB", $1, $2, $3 }' <<<"$row")"
}

# clone_sql: the statements of the clone (they hold the password: stdin only).
clone_sql() {
  printf 'SET GLOBAL clone_valid_donor_list = %s;\n' "$(sql_quote "$MASTER_HOST:$MASTER_PORT")"
  printf 'CLONE INSTANCE FROM %s@%s:%s IDENTIFIED BY %s DATA DIRECTORY = %s;\n' "$(sql_quote "$REPL_USER")" \
    "$(sql_quote "$MASTER_HOST")" "$MASTER_PORT" "$(sql_quote "$REPL_PASSWORD")" "$(sql_quote "$INCOMING/data")"
}

# copy_by_clone: the clone plugin copies the master into INCOMING/data while the local server
# runs; then the local server stops. COPY is the copy.
copy_by_clone() {
  local pid err start bytes secs
  fresh_incoming
  allow_incoming
  err=$(pha_mktemp)
  log "cloning $MASTER_HOST:$MASTER_PORT into $INCOMING/data (the clone plugin, as $REPL_USER)"
  start=$SECONDS
  # A donor serves one clone at a time (error 3634): another node's seed, or a resync, waits
  # for it (up to 30 min), then starts over.
  local busy_until=$((SECONDS + 1800))
  while :; do
    clone_sql | sql_exec >"$err" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null && sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then clone_progress; fi
    done
    wait "$pid" && break
    if grep -q '3634' "$err" && ((SECONDS < busy_until)); then
      log "the master is cloning to another node (one clone at a time): waiting"
      sleep 5
      fresh_incoming
      continue
    fi
    mask_secrets <"$err" | tail -n 20 >&2
    die "cloning $MASTER_HOST:$MASTER_PORT failed (see above; nothing here was changed); run again to start over"
  done
  bytes=$(du -sb "$INCOMING/data" | awk '{ print $1 }')
  secs=$((SECONDS - start))
  log "cloned $((bytes / 1048576)) MB in ${secs} s ($((bytes / 1048576 / (secs > 0 ? secs : 1))) MB/s)"
  log "stopping the local server (the copy takes its datadir's place)"
  db_stop "$DB_FLAVOR" "$MYCNF_PATH" || die "the local server did not stop; the copy is in $INCOMING/data"
  COPY=$INCOMING/data
}

if [[ "$SEED_METHOD" == clone ]]; then preflight_clone; else preflight_backup; fi

# --- 4. The copy, into a staging directory beside the datadir; then the swap: the old datadir
# is moved aside, never deleted, and untouched until a complete copy is ready.
mkdir -p "$PHA_STATE_DIR"
echo "started $(date -u +%FT%TZ) from $MASTER_HOST" >"$MARKER"
COPY=""
if [[ "$SEED_METHOD" == clone ]]; then copy_by_clone; else copy_by_backup; fi
# The server UUID must be this node's own (MySQL refuses a replica with its source's UUID);
# neither xtrabackup nor clone copies auto.cnf, but should one come along, keep it aside.
if [[ -f "$COPY/auto.cnf" ]]; then mv -- "$COPY/auto.cnf" "$COPY/auto.cnf.from-master"; fi
chown -R mysql:mysql "$COPY"

if [[ -d "$DATADIR" && -n "$(ls -A "$DATADIR")" ]]; then
  aside=$(move_aside "$DATADIR")
  echo "previous datadir: $aside" >>"$MARKER"
  changed "moved the previous datadir aside to $aside (not deleted)"
elif [[ -d "$DATADIR" ]]; then
  rmdir -- "$DATADIR"
fi
mv -- "$COPY" "$DATADIR" || die "cannot move $COPY to $DATADIR"
[[ "$COPY" == "$INCOMING" ]] || rmdir -- "$INCOMING"
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

# --- 5. The position: a backup's "file pos gtid" (MariaDB) or "file pos gtid_set" (MySQL
# family, may wrap); a clone carries its own gtid_executed, read once it runs.
GTID=""
if [[ "$SEED_METHOD" != clone ]]; then
  INFO="$DATADIR/xtrabackup_binlog_info"
  [[ -f "$INFO" ]] || INFO="$DATADIR/mariadb_backup_binlog_info"
  [[ -f "$INFO" ]] || die "the backup has no xtrabackup_binlog_info: is binary logging on on the master?"
  GTID=$(awk 'NR == 1 { for (i = 3; i <= NF; i++) printf "%s", $i; next } { gsub(/[[:space:]]/, ""); printf "%s", $0 }' "$INFO")
  log "backup position: $(awk 'NR == 1 { print $1, $2 }' "$INFO"), GTID ${GTID:-(none yet)}"
  if mysql_family "$DB_FLAVOR" && [[ -z "$GTID" ]]; then
    die "the backup carries no GTID set: gtid-mode must be ON on the master"
  fi
  [[ "$GTID" =~ ^[0-9A-Fa-f:,-]*$ ]] || die "unexpected GTID in $INFO: $GTID"
fi

# --- 6. Start and replicate.
db_start "$DB_FLAVOR" "$MYCNF_PATH" || db_fail_with_log "$MYCNF_PATH" "the seeded server did not start"
wait_db_ping 60 || db_fail_with_log "$MYCNF_PATH" "the seeded server did not answer within 60 s"

if [[ -n "$(replica_status)" ]]; then
  log "the copy carries replication settings from the master: clearing them"
  mysql_root -e 'STOP REPLICA; RESET REPLICA ALL' || die "cannot clear the copied replication settings"
fi
if [[ "$SEED_METHOD" == clone ]]; then
  # The client's batch mode prints the set's newlines as a literal \n: removed by the server.
  GTID=$(mysql_root -e "SELECT REPLACE(@@global.gtid_executed, '\\n', '')")
  log "the clone's position: GTID ${GTID:-(none yet)}"
fi

# replication_sql: the statements that start replication (they hold the password: stdin only).
replication_sql() {
  local source
  if mysql_family "$DB_FLAVOR"; then
    echo "SET GLOBAL super_read_only=OFF;"
    if [[ "$SEED_METHOD" != clone ]]; then
      # A backup brings no gtid_executed of its own: the history starts from its position.
      echo "$RESET_SQL;"
      echo "SET GLOBAL gtid_purged=$(sql_quote "$GTID");"
    fi
    source="SOURCE_HOST=$(sql_quote "$MASTER_HOST"), SOURCE_PORT=$MASTER_PORT, SOURCE_USER=$(sql_quote "$REPL_USER"), SOURCE_PASSWORD=$(sql_quote "$REPL_PASSWORD")"
    # SOURCE_RETRY_COUNT: 8.4's default of 10 gives up for good after ~11 s (runtime/dialect.ts).
    echo "CHANGE REPLICATION SOURCE TO $source, SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=86400, SOURCE_HEARTBEAT_PERIOD=2, GET_SOURCE_PUBLIC_KEY=1;"
    echo "START REPLICA;"
    echo "SET GLOBAL read_only=ON;"
    echo "SET GLOBAL super_read_only=ON;"
  else
    echo "SET GLOBAL gtid_slave_pos=$(sql_quote "$GTID");"
    source="MASTER_HOST=$(sql_quote "$MASTER_HOST"), MASTER_PORT=$MASTER_PORT, MASTER_USER=$(sql_quote "$REPL_USER"), MASTER_PASSWORD=$(sql_quote "$REPL_PASSWORD")"
    echo "CHANGE MASTER TO $source, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=2;"
    echo "START SLAVE;"
    echo "SET GLOBAL read_only=ON;"
  fi
}
RESET_SQL=""
# In this shell, not in replication_sql's output: a failure here must stop the step.
if mysql_family "$DB_FLAVOR" && [[ "$SEED_METHOD" != clone ]]; then RESET_SQL=$(reset_binlogs_sql) || die "cannot tell how to reset the binary logs"; fi
REPLICATION_SQL=$(pha_mktemp)
replication_sql >"$REPLICATION_SQL"
sql_exec <"$REPLICATION_SQL" || die "configuring replication failed (see above)"
rm -f "$MARKER"
changed "seeded from $MASTER_HOST ($SEED_METHOD) at GTID ${GTID:-(empty)}; replication started, read_only=ON"

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
