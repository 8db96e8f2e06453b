#!/usr/bin/env bash
# db-guard.sh — installs and runs pandora_ha_guard, the fence on a DB host (see the header of
# pandora_ha_guard.sh: a master cut off from every other DB host stops itself before pandora_ha
# may promote another node).
# GUARD_BIN (e.g. /usr/share/pandora-ha/bin/pandora_ha_guard, 0755) gets the guard from
# GUARD_B64; GUARD_CONF (0644, no secrets) its PEERS (host:port of every other DB node),
# DB_FLAVOR and FENCE_AFTER_MS. FENCE_AFTER_MS=0 turns the guard off (stopped and disabled; its
# files stay). With systemd: UNIT_PATH gets the unit (UNIT_B64), enabled and running, restarted
# when the guard or its conf changed. Without systemd: started detached (setsid), its pid in
# PID_FILE and its output appended to LOG_FILE, restarted when changed; nothing restarts it after
# a crash or a reboot there but the next run of this step.
# Idempotent: same guard, same conf, guard running → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env GUARD_BIN GUARD_B64 GUARD_CONF PEERS DB_FLAVOR FENCE_AFTER_MS UNIT_PATH UNIT_B64 PID_FILE LOG_FILE
require_abs_path GUARD_BIN
require_abs_path GUARD_CONF
require_abs_path UNIT_PATH
require_abs_path PID_FILE
require_abs_path LOG_FILE
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
require_match FENCE_AFTER_MS '^(0|[1-9][0-9]{3,4})$' "0 (off) or milliseconds from 1000 to 60000"
SERVICE=pandora_ha_guard.service

pha_tmp_init
GUARD=$(pha_mktemp)
UNIT=$(pha_mktemp)
b64d <<<"$GUARD_B64" >"$GUARD" 2>/dev/null || die "GUARD_B64 is not valid base64"
bash -n "$GUARD" 2>/dev/null || die "GUARD_B64 is not valid bash"
b64d <<<"$UNIT_B64" >"$UNIT" 2>/dev/null || die "UNIT_B64 is not valid base64"
grep -q '^ExecStart=' "$UNIT" || die "UNIT_B64 is not a systemd unit (no ExecStart=)"
# running: the pid of the guard PID_FILE names, when it is alive and runs GUARD_BIN.
running() {
  local pid
  pid=$(cat -- "$PID_FILE" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$GUARD_BIN" || return 1
  printf '%s\n' "$pid"
}
stop_detached() {
  local pid
  pid=$(running) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do running >/dev/null || break; sleep 0.1; done
  rm -f -- "$PID_FILE"
  changed "stopped pandora_ha_guard (pid $pid)"
}

if ((10#$FENCE_AFTER_MS == 0)); then
  if have_systemd && { systemctl is-enabled --quiet "$SERVICE" 2>/dev/null || systemctl is-active --quiet "$SERVICE" 2>/dev/null; }; then
    systemctl disable --now "$SERVICE" || die "systemctl disable --now $SERVICE failed"
    changed "pandora_ha_guard turned off (FENCE_AFTER_MS=0)"
  fi
  stop_detached
  unchanged "pandora_ha_guard off (FENCE_AFTER_MS=0)"
  exit 0
fi

CONF_NEW=$(pha_mktemp)
cat >"$CONF_NEW" <<EOT
# Managed by pandora-ha: what pandora_ha_guard watches (see its header).
PEERS=$PEERS
DB_FLAVOR=$DB_FLAVOR
FENCE_AFTER_MS=$FENCE_AFTER_MS
EOT
# Checked by the guard itself before anything is installed (PEERS: host:port entries).
bash "$GUARD" --check "$CONF_NEW" || die "PEERS / FENCE_AFTER_MS refused by the guard (see above)"
mkdir -p "$(dirname "$GUARD_BIN")" "$(dirname "$GUARD_CONF")" || die "cannot create the directories of $GUARD_BIN and $GUARD_CONF"
NEW=0
if install_file_if_changed "$GUARD_BIN" 0755 root:root <"$GUARD"; then changed "$GUARD_BIN"; NEW=1; fi
if install_file_if_changed "$GUARD_CONF" 0644 root:root <"$CONF_NEW"; then changed "$GUARD_CONF"; NEW=1; fi

if have_systemd; then
  if install_file_if_changed "$UNIT_PATH" 0644 root:root <"$UNIT"; then
    systemctl daemon-reload || die "systemctl daemon-reload failed"
    changed "$UNIT_PATH"
    NEW=1
  fi
  if ! systemctl is-enabled --quiet "$SERVICE"; then
    systemctl enable "$SERVICE" || die "systemctl enable $SERVICE failed"
    changed "enabled $SERVICE"
  fi
  if ! systemctl is-active --quiet "$SERVICE"; then
    systemctl start "$SERVICE" || die "systemctl start $SERVICE failed (journalctl -u $SERVICE)"
    changed "started $SERVICE"
  elif ((NEW)); then
    systemctl restart "$SERVICE" || die "systemctl restart $SERVICE failed (journalctl -u $SERVICE)"
    changed "restarted $SERVICE for the new guard or configuration"
  else
    unchanged "$SERVICE running"
  fi
  exit 0
fi

if pid=$(running) && ((!NEW)); then
  unchanged "pandora_ha_guard running (pid $pid)"
  exit 0
fi
stop_detached
mkdir -p "$(dirname "$LOG_FILE")" "$(dirname "$PID_FILE")" || die "cannot create the directories of $LOG_FILE and $PID_FILE"
setsid "$GUARD_BIN" "$GUARD_CONF" </dev/null >>"$LOG_FILE" 2>&1 &
pid=$!
printf '%s\n' "$pid" >"$PID_FILE" || die "cannot write $PID_FILE"
sleep 0.3
running >/dev/null || { tail -n 5 "$LOG_FILE" >&2; die "pandora_ha_guard exited at once (its log: $LOG_FILE)"; }
changed "started pandora_ha_guard without a service manager (pid $pid)"
