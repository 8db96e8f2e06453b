#!/usr/bin/env bash
# pandora_ha_guard CONF — the fence on a database host: one runs beside every DB server.
#
# A master cut off from the network cannot be stopped from outside: pandora_ha promotes another
# node, and the old one still says read_only = 0 until something reaches it (when the cut
# heals, an SSH kill costs about a second). Its commits wait for an acknowledgement (strict
# semi-sync), so it acknowledges nothing, but it is writable. This guard stops it from inside,
# before pandora_ha may promote: when the local server is a writable, strictly semi-synchronous
# master and for FENCE_AFTER_MS it has heard from fewer than half (rounded up) of the other DB
# hosts (PEERS) and had no renewed pandora_ha lease, it kills the server (kill -9, as pandora_ha's own fence does); its service
# manager (or mysqld_safe) starts it again read-only, and pandora_ha rejoins it.
#
# Contact, each round (every ROUND_MS, at most PROBE_MS per probe):
#  - a TCP connect to each peer's port, as PROBE_USER (the server's own user, so that the
#    traffic is the replication's own). A connection or a refusal (RST: the host is there, its
#    server down) is contact; silence is not.
#  - the lease: the named lock `pandora_ha.lease` on this server, on a connection of its own that
#    the acting pandora_ha renews every loop only while every other node is down or held by it
#    (seen within the last second): then no other pandora_ha can promote, and a master whose
#    replicas are merely cut from it may go on (pandora_ha then makes it asynchronous). Its last
#    renewal (the connection's idle time) is the contact.
# Nothing here depends on pandora_ha running: with every daemon dead, the peers still answer.
# A master made asynchronous (semi-sync off: by pandora_ha, whose failover is then held, or by
# the administrator's choice) is never killed. pandora_ha waits FENCE_AFTER_MS + 3 s after its
# last contact with a silent master before it promotes another node (runtime/act/actions.ts).
#
# CONF holds KEY=VALUE lines: PEERS (host:port, space-separated), DB_FLAVOR (mariadb1011 |
# percona80), FENCE_AFTER_MS (1000-60000), and optionally PROBE_USER (default mysql),
# ROUND_MS (200-2000, default 500), PROBE_MS (100-ROUND_MS, default 500). A bad line is an
# error naming it; nothing starts. `pandora_ha_guard --check CONF` only checks it.
# Logs one line per change of contact and per fence, on stdout, each with its time (UTC).
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi
PHA_STEP=guard
LEASE_LOCK=pandora_ha.lease
# Its lines carry the time (UTC, ms): without systemd they go to a plain file.
glog() { printf '%s [pandora_ha_guard] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$*"; }

usage() { die "usage: pandora_ha_guard [--check] CONF"; }
CHECK_ONLY=0
if [[ "${1:-}" == "--check" ]]; then
  CHECK_ONLY=1
  shift
fi
[[ $# -eq 1 ]] || usage
CONF=$1
[[ -r "$CONF" ]] || die "cannot read $CONF"

PEERS="" DB_FLAVOR="" FENCE_AFTER_MS="" PROBE_USER=mysql ROUND_MS=500 PROBE_MS=500
n=0
while IFS= read -r line || [[ -n "$line" ]]; do
  n=$((n + 1))
  [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
  [[ "$line" =~ ^([A-Z_]+)=(.*)$ ]] || die "$CONF line $n: expected KEY=VALUE, got '$line'"
  key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
  case "$key" in
    PEERS | DB_FLAVOR | FENCE_AFTER_MS | PROBE_USER | ROUND_MS | PROBE_MS) printf -v "$key" '%s' "$value" ;;
    *) die "$CONF line $n: unknown key $key (PEERS, DB_FLAVOR, FENCE_AFTER_MS, PROBE_USER, ROUND_MS, PROBE_MS)" ;;
  esac
done <"$CONF"

ms_in() { # KEY MIN MAX
  [[ "${!1}" =~ ^[1-9][0-9]{0,5}$ ]] || die "$CONF: $1 must be a whole number of milliseconds (got '${!1}')"
  ((10#${!1} >= $2 && 10#${!1} <= $3)) || die "$CONF: $1 must be a whole number of milliseconds from $2 to $3 (got '${!1}')"
}
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
ms_in FENCE_AFTER_MS 1000 60000
ms_in ROUND_MS 200 2000
ms_in PROBE_MS 100 "$ROUND_MS"
require_match PROBE_USER '^[a-z_][a-z0-9_-]{0,31}$' "a Unix user name"
id -u "$PROBE_USER" >/dev/null 2>&1 || die "$CONF: PROBE_USER $PROBE_USER does not exist"
read -r -a PEER_LIST <<<"$PEERS"
((${#PEER_LIST[@]})) || die "$CONF: PEERS names no peer (host:port, space-separated)"
# Contact is hearing from at least half the peers (rounded up): pandora_ha promotes only with a
# majority of the replicas reachable, and any majority includes one of those.
NEEDED=$(((${#PEER_LIST[@]} + 1) / 2))
for p in "${PEER_LIST[@]}"; do
  [[ "$p" =~ ^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$ ]] || die "$CONF: PEERS entry '$p' is not host:port"
  ((10#${BASH_REMATCH[2]} >= 1 && 10#${BASH_REMATCH[2]} <= 65535)) || die "$CONF: PEERS entry '$p' has no valid port"
done
((CHECK_ONLY)) && exit 0
[[ "$(id -u)" == 0 ]] || die "runs as root (it reads the server's state as root and stops it)"

now_ms() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local t=${EPOCHREALTIME/[.,]/}
    printf '%s\n' "$((10#${t:0:-3}))"
  else
    date +%s%3N
  fi
}

# probe_round: true when at least NEEDED peers answered (connected or refused), as PROBE_USER.
# LC_ALL=C: a refusal is told by its message.
probe_round() {
  local secs out
  secs=$(printf '%d.%03d' "$((PROBE_MS / 1000))" "$((PROBE_MS % 1000))")
  # shellcheck disable=SC2016 # expanded by the inner shells
  out=$(LC_ALL=C setpriv --reuid="$PROBE_USER" --regid="$(id -g "$PROBE_USER")" --clear-groups -- bash -c '
    secs=$1
    shift
    for p in "$@"; do
      (
        h=${p%:*} port=${p##*:}
        h=${h#[}
        h=${h%]}
        if err=$(timeout "$secs" bash -c "exec 3<>/dev/tcp/\$0/\$1" "$h" "$port" 2>&1) || [[ "$err" == *refused* ]]; then echo contact; fi
      ) &
    done
    wait' _ "$secs" "${PEER_LIST[@]}" 2>/dev/null || true)
  (($(grep -c '^contact$' <<<"$out") >= NEEDED))
}

# server_state: "READ_ONLY STRICT LEASE_IDLE_MS PORT BIND_ADDRESS PID_FILE" (tab-separated) of the local server as root
# (LEASE_IDLE_MS -1 when no lease is held), or nothing when it does not answer within a second.
server_state() {
  local vars idle strict_sql opts=()
  if [[ "$DB_FLAVOR" == mariadb1011 ]]; then
    vars=information_schema.GLOBAL_VARIABLES
    idle="(SELECT ROUND(TIME_MS) FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK('$LEASE_LOCK'))"
  else
    vars=performance_schema.global_variables
    # Whole seconds: counted as the most it may be.
    idle="(SELECT TIME * 1000 + 999 FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK('$LEASE_LOCK'))"
  fi
  # Strict: the source side on, waiting even with no replica attached, with pandora_ha's timeout
  # (4294967295 ms, runtime/dialect.ts STRICT_TIMEOUT_MS: as it sets a master under ha_semisync 1). One that falls back by itself (the servers'
  # own my.cnf settings under ha_semisync 0) acknowledges commits alone: never killed.
  strict_sql="SELECT COUNT(*) FROM $vars WHERE (VARIABLE_NAME IN ('rpl_semi_sync_master_enabled', 'rpl_semi_sync_source_enabled') AND VARIABLE_VALUE IN ('ON', '1'))
    OR (VARIABLE_NAME IN ('rpl_semi_sync_master_wait_no_slave', 'rpl_semi_sync_source_wait_no_replica') AND VARIABLE_VALUE IN ('ON', '1'))
    OR (VARIABLE_NAME IN ('rpl_semi_sync_master_timeout', 'rpl_semi_sync_source_timeout') AND CAST(VARIABLE_VALUE AS UNSIGNED) >= 4294967295)"
  [[ -r /root/.my.cnf ]] && opts=(--defaults-extra-file=/root/.my.cnf)
  HOME=/root timeout 1 "$(db_client_bin)" "${opts[@]}" -N -B --connect-timeout=1 -e \
    "SELECT @@global.read_only, IF(($strict_sql) = 3, 'ON', 'OFF'), IFNULL($idle, -1), @@global.port, IFNULL(NULLIF(@@global.bind_address, ''), '*'), @@global.pid_file" 2>/dev/null || true
}

# stop_server PID_FILE PORT BIND_ADDRESS: kill -9 of the server in PID_FILE, or of the one
# listening on PORT (on BIND_ADDRESS when it names one: servers on several addresses share a port).
stop_server() {
  local pid filter="sport = :$2"
  pid=$(cat -- "$1" 2>/dev/null || true)
  if [[ ! "$pid" =~ ^[0-9]+$ ]] || ! grep -Eqx "(mariadbd|mysqld)" "/proc/$pid/comm" 2>/dev/null; then
    [[ "$3" =~ ^[0-9.]+$ && "$3" != 0.0.0.0 ]] && filter="src $3:$2"
    pid=$(ss -Hltnp "$filter" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2 || true)
  fi
  [[ -n "$pid" ]] && grep -Eqx "(mariadbd|mysqld)" "/proc/$pid/comm" 2>/dev/null || return 1
  kill -9 "$pid" || return 1
  printf '%s\n' "$pid"
}

pha_tmp_init
PROBED=$PHA_TMP/probed
glog "guarding: peers ${PEER_LIST[*]}; a strict master silent for ${FENCE_AFTER_MS} ms is stopped"
last_contact=$(now_ms)
strict=0 pid_file="" port="" bind="" silent_logged=0 unread=0
while :; do
  started=$(now_ms)
  rm -f -- "$PROBED"
  (if probe_round; then : >"$PROBED"; fi) &
  prober=$!
  state=$(server_state)
  wait "$prober" || true
  now=$(now_ms)
  # Each contact counted from the round's start (never later than it was).
  [[ -e "$PROBED" ]] && last_contact=$started
  if [[ -n "$state" ]]; then
    IFS=$'\t' read -r ro strict_now idle port bind pid_file <<<"$state"
    if [[ "$ro" == 0 && "$strict_now" == ON ]]; then strict=1; else strict=0; fi
    if [[ "$idle" =~ ^[0-9]+$ ]] && ((started - idle > last_contact)); then last_contact=$((started - idle)); fi
    unread=0
  elif ((++unread == 20)); then
    glog "WARNING: its server has not answered for 20 rounds (down, hung, or no root access through /root/.my.cnf): it keeps what it last knew ($( ((strict)) && echo "a strict master" || echo "not a strict master"))"
  fi
  # A server that does not answer keeps what it was: a hung master is still one.
  silent=$((now - last_contact))
  if ((silent >= FENCE_AFTER_MS && strict)); then
    if pid=$(stop_server "$pid_file" "$port" "$bind"); then
      glog "fenced: killed the server (pid $pid): a writable, strictly semi-synchronous master that heard from fewer than $NEEDED of the other DB hosts (${PEER_LIST[*]}) and had no pandora_ha lease for $silent ms; it starts again read-only"
    else
      glog "WARNING: a strict master silent for $silent ms, but no server process found to stop (pid file ${pid_file:-unknown}, port ${port:-unknown})"
    fi
    strict=0 silent_logged=0
    last_contact=$now
  elif ((silent >= FENCE_AFTER_MS / 2 && !silent_logged)); then
    glog "no contact for $silent ms (fewer than $NEEDED peers answer, no lease renewed); the server is $( ((strict)) && echo "a strict master: stopped at ${FENCE_AFTER_MS} ms" || echo "no strict master: left alone")"
    silent_logged=1
  elif ((silent < 2 * ROUND_MS && silent_logged)); then
    glog "contact again"
    silent_logged=0
  fi
  rest=$((ROUND_MS - ($(now_ms) - started)))
  if ((rest > 0)); then sleep "$(printf '%d.%03d' "$((rest / 1000))" "$((rest % 1000))")"; fi
done
