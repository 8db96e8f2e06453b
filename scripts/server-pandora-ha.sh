#!/usr/bin/env bash
# server-pandora-ha.sh — installs and runs the pandora_ha daemon on a Pandora server host.
# DAEMON_JS (e.g. /usr/share/pandora-ha/pandora_ha.js, 0644) gets the daemon bundle from
# DAEMON_JS_GZ_B64 (gzip + base64). DAEMON_RUNNER (e.g. /usr/share/pandora-ha/bin/pandora_ha,
# 0755, a path of ours: the service runs it, so an upgrade of the Pandora server package that
# puts its own /usr/bin/pandora_ha back does not swap the daemon) is a wrapper that runs it
# with a Node runtime >= NODE_MIN_MAJOR chosen now; DAEMON_BIN (e.g. /usr/bin/pandora_ha) is
# the same wrapper, for the command line. The Node: ours in NODE_DIR if there, or the OS's
# `node`; when there is none, one is installed: apt `nodejs` when apt's candidate is recent
# enough (Debian 12, Ubuntu 24.04), the dnf module nodejs:20 (Rocky 8/9), otherwise the
# official Linux build from NODE_DIST_URL, checked against its SHASUMS256.txt and unpacked
# into NODE_DIR (Ubuntu 22.04). STATE_DIR (0700) is the daemon's state directory. UNIT_PATH
# gets the systemd unit (UNIT_B64).
# The daemon reads PANDORA_CONF only when it starts, so it is restarted when it is older than
# the bundle, the wrappers, the unit or PANDORA_CONF. PANDORA_TOKENS (on stdin, not used here)
# are the tokens the pandora-conf step writes: carried so that a change of them (a rotated
# password, a new node) re-runs this step, which then restarts the daemon.
# With systemd: daemon-reload when the unit changed; pandora_ha.service enabled and running,
# restarted when older. Without systemd: `DAEMON_RUNNER -d -p PID_FILE PANDORA_CONF` when no
# daemon runs, restarted (SIGTERM, up to 90 s for it to exit: it stops pandora_server first)
# when older; nothing restarts it after a crash or a reboot there but the next run of this
# step. The running daemon is the live process PID_FILE names whose command line holds
# DAEMON_JS; a pandora_ha that is not ours (the package's original) holding PID_FILE is
# stopped first.
# Idempotent: same bundle, same conf, daemon running → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env DAEMON_JS DAEMON_RUNNER DAEMON_BIN UNIT_PATH UNIT_B64 PANDORA_CONF PID_FILE STATE_DIR NODE_MIN_MAJOR NODE_DIR NODE_DIST_URL DAEMON_JS_GZ_B64
require_abs_path DAEMON_JS
require_abs_path DAEMON_RUNNER
require_abs_path DAEMON_BIN
require_abs_path UNIT_PATH
require_abs_path PANDORA_CONF
require_abs_path PID_FILE
require_abs_path STATE_DIR
require_abs_path NODE_DIR
require_match NODE_MIN_MAJOR '^[1-9][0-9]?$' "a Node major version such as 18"
# Never shown (see the header: carried for its changes only).
PHA_SECRET_VARS=(PANDORA_TOKENS)
require_match NODE_DIST_URL '^https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~-]+)*$' "an https:// URL of a Node release directory"
[[ -f "$PANDORA_CONF" ]] || die "PANDORA_CONF $PANDORA_CONF does not exist (is the Pandora FMS server installed?)"
SERVICE=pandora_ha.service

pha_tmp_init
JS=$PHA_TMP/pandora_ha.js # a .js name: `node --check` goes by the extension
UNIT=$(pha_mktemp)
printf '%s' "$DAEMON_JS_GZ_B64" | base64 -d 2>/dev/null | gunzip -c >"$JS" 2>/dev/null ||
  die "DAEMON_JS_GZ_B64 is not a gzip-compressed file in base64"
[[ -s "$JS" ]] || die "DAEMON_JS_GZ_B64 holds an empty bundle"
b64d <<<"$UNIT_B64" >"$UNIT" 2>/dev/null || die "UNIT_B64 is not valid base64"
grep -q '^ExecStart=' "$UNIT" || die "UNIT_B64 is not a systemd unit (no ExecStart=)"

# ------------------------------------------------------------------------------------------
# Node

# node_ok BIN: BIN runs and is Node >= NODE_MIN_MAJOR.
node_ok() {
  local v
  [[ -n "$1" && -x "$1" ]] || return 1
  v=$("$1" --version 2>/dev/null) || return 1
  [[ "$v" =~ ^v([0-9]+)\. ]] || return 1
  ((BASH_REMATCH[1] >= 10#$NODE_MIN_MAJOR))
}

# find_node: prints the first usable Node: ours (NODE_DIR, installed when the OS had none),
# then the OS's.
find_node() {
  local c
  for c in "$NODE_DIR/bin/node" "$(command -v node 2>/dev/null || true)" "$(command -v nodejs 2>/dev/null || true)"; do
    if node_ok "$c"; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  return 1
}

# apt_nodejs_major: the major version of apt's nodejs candidate (nothing when it has none).
apt_nodejs_major() {
  local c
  c=$(apt-cache policy nodejs 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
  c=${c#*:}
  if [[ "$c" =~ ^([0-9]+)\. ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; fi
  return 0
}

# install_node_dist: the official build for this machine from NODE_DIST_URL into NODE_DIR.
install_node_dist() {
  local arch sums line sum file tarball parent new
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no official Node build for $(uname -m); install Node >= $NODE_MIN_MAJOR as 'node' and run again" ;;
  esac
  sums=$(pha_mktemp)
  fetch "$NODE_DIST_URL/SHASUMS256.txt" "$sums"
  line=$(grep -E "^[0-9a-f]{64}  node-v[0-9]+\.[0-9]+\.[0-9]+-linux-$arch\.tar\.gz$" "$sums" | head -n 1 || true)
  [[ -n "$line" ]] || die "$NODE_DIST_URL/SHASUMS256.txt lists no node-v*-linux-$arch.tar.gz"
  sum=${line%% *}
  file=${line##* }
  tarball=$(pha_mktemp)
  log "downloading $NODE_DIST_URL/$file"
  fetch "$NODE_DIST_URL/$file" "$tarball"
  printf '%s  %s\n' "$sum" "$tarball" | sha256sum -c --status - ||
    die "$file does not match its SHA-256 in $NODE_DIST_URL/SHASUMS256.txt"
  parent=$(dirname -- "$NODE_DIR")
  mkdir -p -- "$parent" || die "cannot create $parent"
  new=$(mktemp -d "$parent/.node.XXXXXX") || die "cannot create a directory in $parent"
  if ! tar -xzf "$tarball" -C "$new" --strip-components=1 --no-same-owner || ! node_ok "$new/bin/node"; then
    rm -rf -- "$new"
    die "$file did not unpack into a working Node >= $NODE_MIN_MAJOR"
  fi
  chmod 0755 "$new" || die "cannot chmod $new"
  # NODE_DIR only ever holds what this script unpacked: a broken one is replaced.
  if [[ -e "$NODE_DIR" ]]; then rm -rf -- "$NODE_DIR" || die "cannot remove the unusable $NODE_DIR"; fi
  mv -- "$new" "$NODE_DIR" || die "cannot move the unpacked Node to $NODE_DIR"
  restore_context "$NODE_DIR"
  changed "Node $("$NODE_DIR/bin/node" --version) in $NODE_DIR ($file, SHA-256 checked)"
}

# install_node: a Node >= NODE_MIN_MAJOR from the OS when it has one, else (or when what the
# OS installed is still older, e.g. an older nodejs already installed) the official build.
install_node() {
  local major
  if [[ "$(os_family)" == rhel ]]; then
    log "no Node >= $NODE_MIN_MAJOR: installing nodejs from the dnf module nodejs:20"
    if dnf module -y enable nodejs:20 && dnf -y install nodejs; then
      changed "installed nodejs (dnf module nodejs:20)"
    else
      warn "the dnf module nodejs:20 could not be installed (another nodejs stream enabled?)"
    fi
  else
    major=$(apt_nodejs_major)
    if [[ -z "$major" && "$PHA_APT_UPDATED" == 0 ]]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed"
      PHA_APT_UPDATED=1
      major=$(apt_nodejs_major)
    fi
    if [[ -n "$major" ]] && ((major >= 10#$NODE_MIN_MAJOR)); then
      log "no Node >= $NODE_MIN_MAJOR: installing nodejs $major from apt"
      pkg_install nodejs
    else
      log "no Node >= $NODE_MIN_MAJOR, and apt offers ${major:-no} nodejs"
    fi
  fi
  find_node >/dev/null && return 0
  log "using the official Node build from $NODE_DIST_URL"
  install_node_dist
}

if NODE=$(find_node); then
  unchanged "Node $("$NODE" --version) at $NODE"
else
  install_node
  NODE=$(find_node) || die "no Node >= $NODE_MIN_MAJOR after installing one"
fi
"$NODE" --check "$JS" 2>/dev/null || die "the pandora_ha bundle does not parse with $NODE ($("$NODE" --version))"

# ------------------------------------------------------------------------------------------
# Files

if ensure_dir "$STATE_DIR" 0700 root:root; then changed "$STATE_DIR (0700)"; else unchanged "$STATE_DIR"; fi
mkdir -p -- "$(dirname -- "$DAEMON_JS")" "$(dirname -- "$DAEMON_RUNNER")" "$(dirname -- "$DAEMON_BIN")" "$(dirname -- "$UNIT_PATH")" ||
  die "cannot create the directories of $DAEMON_JS, $DAEMON_RUNNER, $DAEMON_BIN, $UNIT_PATH"
install_one() { # DEST MODE < content; returns 0 when DEST changed
  if install_file_if_changed "$1" "$2" root:root; then
    changed "$1"
    return 0
  fi
  unchanged "$1"
  return 1
}
WRAPPER=$(pha_mktemp)
printf '#!/bin/sh\n# Managed by pandora-ha: the pandora_ha daemon, run by the Node runtime chosen at install time.\nexec %s %s "$@"\n' \
  "$(sh_quote "$NODE")" "$(sh_quote "$DAEMON_JS")" >"$WRAPPER"
# What a running daemon must be restarted for: new code now, or files newer than the daemon
# (a run that installed them and then failed before the restart).
NEW_CODE=0
UNIT_CHANGED=0
if install_one "$DAEMON_JS" 0644 <"$JS"; then NEW_CODE=1; fi
if install_one "$DAEMON_RUNNER" 0755 <"$WRAPPER"; then NEW_CODE=1; fi
# The command line's (not what the service runs: no restart for it).
install_one "$DAEMON_BIN" 0755 <"$WRAPPER" || true
if install_one "$UNIT_PATH" 0644 <"$UNIT"; then UNIT_CHANGED=1; fi

# ------------------------------------------------------------------------------------------
# The daemon

# alive PID: the process exists and is not a zombie.
alive() {
  kill -0 "$1" 2>/dev/null && [[ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c 1)" != Z ]]
}

# pid_file_daemon: the live pandora_ha PID_FILE names (ours or not), or fails.
pid_file_daemon() {
  local pid
  [[ -r "$PID_FILE" ]] || return 1
  pid=$(tr -dc 0-9 <"$PID_FILE")
  [[ -n "$pid" ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q pandora_ha || return 1
  printf '%s\n' "$pid"
}

# is_ours PID: its command line runs our bundle.
is_ours() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$DAEMON_JS"; }

# started_epoch PID: when the process started (seconds since the epoch, rounded down).
started_epoch() {
  local stat ticks btime hz
  stat=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  ticks=$(awk '{ print $20 }' <<<"$stat")
  btime=$(awk '$1 == "btime" { print $2 }' /proc/stat)
  hz=$(getconf CLK_TCK)
  [[ "$ticks" =~ ^[0-9]+$ && "$btime" =~ ^[0-9]+$ && "$hz" =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$((btime + ticks / hz))"
}

# older_than_install PID FILE...: the process started before the newest FILE was written
# (a process gone meanwhile counts as older). Both times are whole seconds and the start time
# is derived from the boot time, so "before" means by more than 2 s.
older_than_install() {
  local pid=$1 f newest=0 m started
  shift
  for f in "$@"; do
    m=$(stat -c %Y -- "$f") || die "cannot stat $f"
    if ((m > newest)); then newest=$m; fi
  done
  started=$(started_epoch "$pid") || return 0
  ((started + 2 < newest))
}

# stop_pid PID WHAT: SIGTERM, then up to 90 s for it to exit (a stopping pandora_ha first
# stops pandora_server, which it gives 60 s).
stop_pid() {
  local deadline=$((SECONDS + 90))
  kill -TERM "$1" 2>/dev/null || true
  while alive "$1"; do
    ((SECONDS >= deadline)) && die "$2 (pid $1) did not exit within 90 s of SIGTERM"
    sleep 0.2
  done
}

# stop_foreign: a pandora_ha that is not ours holding PID_FILE would fight ours: stop it.
stop_foreign() {
  local pid cmd
  if pid=$(pid_file_daemon) && ! is_ours "$pid"; then
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    stop_pid "$pid" "the pandora_ha in $PID_FILE, not ours,"
    changed "stopped a pandora_ha that is not ours (pid $pid: ${cmd% })"
  fi
  return 0
}

# clear_stale_pid_file: a PID_FILE that names no live pandora_ha (a crash, a reused pid) goes,
# so that the daemon does not take it for a running instance.
clear_stale_pid_file() {
  if [[ -e "$PID_FILE" ]] && ! pid_file_daemon >/dev/null; then
    rm -f -- "$PID_FILE" || die "cannot remove the stale $PID_FILE"
  fi
  return 0
}

# wait_started OUTPUT_FILE: up to 10 s for PID_FILE to name our live daemon; prints its pid.
wait_started() {
  local pid deadline=$((SECONDS + 10))
  until pid=$(pid_file_daemon) && is_ours "$pid"; do
    if ((SECONDS >= deadline)); then
      [[ -s "$1" ]] && tail -n 20 "$1" >&2
      die "pandora_ha did not come up within 10 s: $PID_FILE names no live process running $DAEMON_JS"
    fi
    sleep 0.2
  done
  printf '%s\n' "$pid"
}

# start_detached: `DAEMON_RUNNER -d -p PID_FILE PANDORA_CONF` (its output through a file, so a
# detached daemon cannot hold our stdout open); prints the new daemon's pid.
start_detached() {
  local out rc=0
  out=$(pha_mktemp)
  clear_stale_pid_file
  setsid "$DAEMON_RUNNER" -d -p "$PID_FILE" "$PANDORA_CONF" </dev/null >"$out" 2>&1 || rc=$?
  if ((rc != 0)); then
    tail -n 20 "$out" >&2
    die "$DAEMON_RUNNER -d -p $PID_FILE $PANDORA_CONF exited with status $rc"
  fi
  wait_started "$out"
}

if have_systemd; then
  if ((UNIT_CHANGED)); then systemctl daemon-reload || die "systemctl daemon-reload failed"; fi
  if ! systemctl is-enabled --quiet "$SERVICE"; then
    systemctl enable "$SERVICE" || die "systemctl enable $SERVICE failed"
    changed "enabled $SERVICE"
  fi
  main=$(systemctl show -p MainPID --value "$SERVICE" 2>/dev/null || echo 0)
  if ! systemctl is-active --quiet "$SERVICE"; then
    stop_foreign
    clear_stale_pid_file
    systemctl start "$SERVICE" || die "systemctl start $SERVICE failed (journalctl -u $SERVICE)"
    new=$(wait_started /dev/null)
    changed "started $SERVICE (pid $new)"
  elif ((NEW_CODE || UNIT_CHANGED)) || { [[ "$main" =~ ^[1-9][0-9]*$ ]] && older_than_install "$main" "$DAEMON_JS" "$DAEMON_RUNNER" "$UNIT_PATH" "$PANDORA_CONF"; }; then
    systemctl restart "$SERVICE" || die "systemctl restart $SERVICE failed (journalctl -u $SERVICE)"
    new=$(wait_started /dev/null)
    changed "restarted $SERVICE for the new daemon or configuration (pid $main -> $new)"
  else
    unchanged "$SERVICE running (pid $main)"
  fi
else
  stop_foreign
  if ! pid=$(pid_file_daemon); then
    new=$(start_detached)
    changed "started pandora_ha without a service manager (pid $new)"
  elif ((NEW_CODE)) || older_than_install "$pid" "$DAEMON_JS" "$DAEMON_RUNNER" "$PANDORA_CONF"; then
    stop_pid "$pid" "pandora_ha"
    new=$(start_detached)
    changed "restarted pandora_ha for the new daemon or configuration (pid $pid -> $new)"
  else
    unchanged "pandora_ha running (pid $pid)"
  fi
fi
