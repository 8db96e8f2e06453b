#!/usr/bin/env bash
# server-rolling-restart.sh — runs on a Pandora server host once its pandora_ha runs: restarts
# the DB nodes whose my.cnf changed while they served (db-configure.sh never restarts a node in
# service; it leaves a restart pending), one at a time, so that the cluster stays available:
# the replicas first, each back and caught up with the master before the next; the master last,
# after a planned switchover through this host's pandora_ha (`pandora_ha switchover`: the old
# master is fenced first, nothing acknowledged is lost, no failover budget is spent), then it
# restarts as the replica it has become. "The master" is the cluster's: the highest promotion
# epoch names it (before any epoch, the one writable node), wherever it is. A node is only ever
# restarted read-only (db-restart.sh refuses a writable one), and every node starts read-only:
# nothing here makes a node writable; only pandora_ha does.
# Parameters: DB_HOSTS (every DB node's cluster address, as ha_hosts names them), DB_PORT,
# DB_NAME, HA_DB_USER, SSH_USER/SSH_PORT/KEY_FILE (how this host reaches the DB nodes, as the
# resync tool does), DB_FLAVOR, MYCNF_PATH, PANDORA_CONF, LAST (1: the last server host's step,
# so a master restart no step could do is an error; 0: it is left to the next server's step
# when this host's pandora_ha is not the acting one), MYCNF_SHA (each node's my.cnf hash: a
# change re-runs the step), RESTART_SCRIPT_B64 (db-restart.sh, run on each node over SSH);
# secret HA_DB_PASSWORD.
# Idempotent: no restart pending anywhere → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env DB_HOSTS DB_PORT DB_NAME HA_DB_USER HA_DB_PASSWORD SSH_USER SSH_PORT KEY_FILE DB_FLAVOR MYCNF_PATH PANDORA_CONF LAST MYCNF_SHA RESTART_SCRIPT_B64
PHA_SECRET_VARS=(HA_DB_PASSWORD)
require_host_list DB_HOSTS
require_port DB_PORT
require_sql_ident DB_NAME
require_sql_ident HA_DB_USER
require_match SSH_USER '^[a-z_][a-z0-9_-]{0,31}$' "a Unix user name"
require_port SSH_PORT
require_abs_path KEY_FILE
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
require_abs_path MYCNF_PATH
require_abs_path PANDORA_CONF
require_one_of LAST 0 1
require_match MYCNF_SHA '^[A-Za-z0-9_.-]+:[0-9a-f]+( [A-Za-z0-9_.-]+:[0-9a-f]+)*$' "the nodes' my.cnf hashes (name:hash, space-separated)"
read -r -a HOSTS <<<"$DB_HOSTS"
((${#HOSTS[@]} >= 2)) || die "DB_HOSTS must name at least 2 DB nodes (got '$DB_HOSTS')"
[[ -f "$KEY_FILE" ]] || die "KEY_FILE $KEY_FILE does not exist: run ssh-keys.sh first"
[[ -r "$PANDORA_CONF" ]] || die "PANDORA_CONF $PANDORA_CONF cannot be read: run server-pandora-conf.sh first"
command -v pandora_ha >/dev/null 2>&1 || die "pandora_ha is not installed here: run server-pandora-ha.sh first"

pha_tmp_init
RESTART_SCRIPT=$(pha_mktemp)
b64d <<<"$RESTART_SCRIPT_B64" >"$RESTART_SCRIPT" 2>/dev/null || die "RESTART_SCRIPT_B64 is not valid base64"
bash -n "$RESTART_SCRIPT" 2>/dev/null || die "RESTART_SCRIPT_B64 does not hold a valid bash script"
HA_CNF=$(pha_mktemp)
client_cnf "$HA_DB_USER" "$HA_DB_PASSWORD" >"$HA_CNF"
SUDO=""
[[ "$SSH_USER" == root ]] || SUDO="sudo -n "

ha_sql() { remote_client "$HA_CNF" "$1" "$DB_PORT" -N -B -e "$2"; } # HOST SQL

# on_node HOST REQUEST: db-restart.sh on HOST, over SSH (root's tools there: /root/.my.cnf).
on_node() {
  ssh -i "$KEY_FILE" -p "$SSH_PORT" -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o IdentitiesOnly=yes \
    -o ConnectTimeout=10 "$SSH_USER@$1" \
    "$(remote_script_cmd "$SUDO" "PHA_STEP=$PHA_STEP $1" "REQUEST=$2" "DB_FLAVOR=$DB_FLAVOR" "MYCNF_PATH=$MYCNF_PATH" "DB_NAME=$DB_NAME" "NODE_HOST=$1")" \
    <"$RESTART_SCRIPT"
}

# replicates REPLICA MASTER: REPLICA replicates from MASTER with both threads running.
replicates() {
  local status
  status=$(remote_replica_status "$HA_CNF" "$1" "$DB_PORT") || return 1
  threads_running "$status" && [[ "$(replica_field "$status" Source_Host Master_Host)" == "$2" ]]
}

# caught_up REPLICA MASTER: it replicates from MASTER and has applied all MASTER had committed
# a moment ago (waits up to 60 s for it).
caught_up() {
  local pos wait_sql
  replicates "$1" "$2" || return 1
  if mysql_family "$DB_FLAVOR"; then
    # The client's batch mode prints the set's newlines as a literal \n: removed by the server.
    pos=$(ha_sql "$2" "SELECT REPLACE(@@global.gtid_executed, '\\n', '')") || return 1
    wait_sql="SELECT WAIT_FOR_EXECUTED_GTID_SET($(sql_quote "$pos"), 60)"
  else
    pos=$(ha_sql "$2" 'SELECT @@global.gtid_binlog_pos') || return 1
    wait_sql="SELECT MASTER_GTID_WAIT($(sql_quote "$pos"), 60)"
  fi
  [[ "$(ha_sql "$1" "$wait_sql")" == 0 ]]
}

# restart_node HOST MASTER: restarts HOST (a read-only node); one that was a healthy replica of
# MASTER must be one again, caught up, before anything else is touched.
restart_node() {
  local host=$1 master=$2 healthy=0 deadline=$((SECONDS + 15))
  # A node repointed a moment ago (the old master after the switchover) gets a few seconds; a
  # healthy one is caught up first, so it holds everything, the newest promotion epoch too.
  while ((SECONDS < deadline)); do
    if caught_up "$host" "$master"; then
      healthy=1
      break
    fi
    sleep 1
  done
  ((healthy)) || warn "$host does not replicate from $master with both threads running (pandora_ha repairs or resyncs it): restarting it anyway, not waiting for it to catch up"
  on_node "$host" restart || die "restarting $host failed (see above); no other node was touched by this step afterwards"
  ((healthy)) || return 0
  deadline=$((SECONDS + 120))
  until caught_up "$host" "$master"; do
    ((SECONDS < deadline)) || die "$host does not replicate from $master, caught up, 120 s after its restart; stopping the rollout here"
    sleep 1
  done
  log "$host is back: replicating from $master and caught up"
}

# acting_here: this host's pandora_ha holds the actor lock (a daemon started a moment ago gets
# PHA_ACTOR_WAIT_S, 20 s, to take it); only the acting daemon carries out a switchover.
acting_here() {
  local deadline=$((SECONDS + ${PHA_ACTOR_WAIT_S:-20})) st
  while :; do
    st=$(pandora_ha status "$PANDORA_CONF" --json 2>/dev/null) || st=""
    grep -q '"actor": true' <<<"$st" && return 0
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

# switch_over MASTER: a planned switchover through pandora_ha to a replica of MASTER that is
# caught up; sets NEW_MASTER once the cluster names it and MASTER is read-only.
NEW_MASTER=""
switch_over() {
  local from=$1 to now deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    for to in "${HOSTS[@]}"; do
      if [[ "$to" == "$from" ]] || ! caught_up "$to" "$from"; then continue; fi
      log "switchover from $from to $to through pandora_ha"
      pandora_ha switchover "$PANDORA_CONF" "$to" || warn "pandora_ha switchover to $to did not succeed"
      now=$(cluster_master "$HA_CNF" "$DB_PORT" "$DB_NAME" "${HOSTS[@]}") || now=""
      if [[ "$now" == "$to" && "$(ha_sql "$from" 'SELECT @@global.read_only' 2>/dev/null)" == 1 ]]; then
        NEW_MASTER=$to
        changed "switched over: $to is the master, $from a read-only replica of it"
        return 0
      fi
      [[ "$now" == "$from" ]] || die "after the switchover the cluster names ${now:-no node} the master (expected $to or $from); stopping here"
    done
    sleep 2
  done
  die "no switchover from $from succeeded within 90 s (no caught-up replica, or pandora_ha refused: see above); $from keeps its previous my.cnf until the next run"
}

# --- 1. Which nodes owe a restart?
pending=()
for h in "${HOSTS[@]}"; do
  out=$(on_node "$h" check) || die "cannot ask $h over SSH ($SSH_USER@$h:$SSH_PORT with $KEY_FILE) whether it owes a restart (see above)"
  [[ "$(tail -n 1 <<<"$out")" != "restart: pending" ]] || pending+=("$h")
done
if ((${#pending[@]} == 0)); then
  unchanged "every DB node runs its current my.cnf ($MYCNF_SHA)"
  exit 0
fi
MASTER=$(cluster_master "$HA_CNF" "$DB_PORT" "$DB_NAME" "${HOSTS[@]}") ||
  die "no current master (no node holds a promotion epoch and none is writable); nothing was restarted"
log "restart owed by ${pending[*]}; the current master is $MASTER"

# --- 2. The replicas, one at a time.
master_pending=0
for h in "${pending[@]}"; do
  if [[ "$h" == "$MASTER" ]]; then
    master_pending=1
  else
    restart_node "$h" "$MASTER"
  fi
done
((master_pending)) || exit 0

# --- 3. The master, last: switched over, then restarted as a replica.
if ! acting_here; then
  ((LAST)) && die "$MASTER owes a restart, but no server host's pandora_ha that runs this step is the acting one (master 0 everywhere, or the daemon is down): run \`pandora_ha switchover $PANDORA_CONF <replica>\` where it acts, then deploy again"
  log "this host's pandora_ha is not the acting one: the master's restart is left to the next server host's step"
  exit 0
fi
switch_over "$MASTER"
restart_node "$MASTER" "$NEW_MASTER"
log "every DB node runs its current my.cnf; the master is $NEW_MASTER"
