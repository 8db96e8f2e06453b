#!/usr/bin/env bash
# server-tentacle.sh — the Tentacle server's configuration and service.
# TENTACLE_CONF_PATH (e.g. /etc/tentacle/tentacle_server.conf), TENTACLE_SERVICE (e.g.
# tentacle_serverd); secret TENTACLE_CONF (the complete file; it holds the Tentacle password).
# Tentacle runs as the user its service names: the systemd unit's User= (root when it has
# none), else the init script's TENTACLE_USER=, else pandora (Pandora's unit and init script
# both say pandora). That user must exist. The file is 0640 root:<that user's primary group>,
# and the directory of its log_file (Tentacle opens it at start and exits when the directory is
# missing) is created 0750 <user>:<group>. The file must say `daemon 1`: Pandora's init script
# starts Tentacle without `&` and its unit is Type=forking, so both wait for it to fork. Its
# `directory` (where agent files land) must exist and be writable by that user. Every check
# comes before anything is written. The service is restarted when the file changed, started
# when it is not running, and enabled at boot. Idempotent: same file, service running → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env TENTACLE_CONF_PATH TENTACLE_SERVICE TENTACLE_CONF
PHA_SECRET_VARS=(TENTACLE_CONF)
require_abs_path TENTACLE_CONF_PATH
require_match TENTACLE_SERVICE '^[A-Za-z0-9_.@-]+$' "a service name"
svc_known "$TENTACLE_SERVICE" ||
  die "service $TENTACLE_SERVICE is unknown to this host's service manager (is the Pandora FMS server installed?)"

# conf_key KEY: the value of KEY in TENTACLE_CONF (`key value` lines; the last one wins).
conf_key() {
  printf '%s\n' "$TENTACLE_CONF" | awk -v k="$1" '
    /^[[:space:]]*#/ { next }
    $1 == k { v = $0; sub(/^[[:space:]]*[^[:space:]]+[[:space:]]*/, "", v); sub(/[[:space:]]+$/, "", v); found = 1 }
    END { if (found) print v }'
}

# as_user USER COMMAND...: COMMAND run as USER (to check what Tentacle will be able to do).
as_user() {
  local u=$1
  shift
  if [[ "$(id -u -- "$u")" == "$(id -u)" ]]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$u" -- "$@"
  elif command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid="$u" --regid="$(id -g -- "$u")" --init-groups -- "$@"
  else
    die "neither runuser nor setpriv is installed: cannot check what $u may read and write"
  fi
}

# --- the user Tentacle runs as
if have_systemd; then
  TENTACLE_USER=$(systemctl show -p User --value "$TENTACLE_SERVICE" 2>/dev/null || true)
  user_from="User= of $TENTACLE_SERVICE.service"
  [[ -n "$TENTACLE_USER" ]] || { TENTACLE_USER=root; user_from="$TENTACLE_SERVICE.service, which sets no User="; }
else
  TENTACLE_USER=$(sed -n -E "s/^[[:space:]]*TENTACLE_USER=[\"']?([^\"'[:space:]]*)[\"']?[[:space:]]*(#.*)?$/\1/p" \
    "/etc/init.d/$TENTACLE_SERVICE" | tail -n 1)
  user_from="TENTACLE_USER in /etc/init.d/$TENTACLE_SERVICE"
  [[ -n "$TENTACLE_USER" ]] || { TENTACLE_USER=pandora; user_from="Pandora's default"; }
fi
[[ "$TENTACLE_USER" =~ ^[A-Za-z_][A-Za-z0-9_.-]*$ ]] || die "Tentacle's user '$TENTACLE_USER' ($user_from) is not a user name"
id -u -- "$TENTACLE_USER" >/dev/null 2>&1 ||
  die "Tentacle runs as user $TENTACLE_USER ($user_from), and no such user exists on this host (the Pandora FMS server package creates it): create it, or make $TENTACLE_SERVICE run as an existing user"
TENTACLE_GROUP=$(id -gn -- "$TENTACLE_USER")

# --- what the file says (checked before anything is written)
daemon=$(conf_key daemon)
[[ "$daemon" == 1 ]] ||
  die "TENTACLE_CONF: daemon must be 1 (got '${daemon:-nothing}'): $TENTACLE_SERVICE starts Tentacle in the foreground and waits for it to fork"
incoming=$(conf_key directory)
[[ -n "$incoming" ]] || die "TENTACLE_CONF: directory (where Tentacle stores agent files) is missing"
[[ -d "$incoming" ]] || die "TENTACLE_CONF: directory $incoming does not exist on this host (the Pandora FMS server package creates it)"
as_user "$TENTACLE_USER" test -w "$incoming" ||
  die "TENTACLE_CONF: directory $incoming is not writable by $TENTACLE_USER, the user Tentacle runs as ($user_from)"
log_file=$(conf_key log_file)
log_dir=""
if [[ -n "$log_file" ]]; then
  [[ "$log_file" =~ ^/[A-Za-z0-9._/@+-]*[A-Za-z0-9._@+-]$ ]] ||
    die "TENTACLE_CONF: log_file must be an absolute path without spaces (got '$log_file')"
  # An existing non-file (/dev/null): nothing to prepare.
  if [[ ! -e "$log_file" || -f "$log_file" ]]; then
    log_dir=$(dirname -- "$log_file")
    case "$log_dir" in
      / | /dev | /etc | /home | /root | /run | /tmp | /usr | /var | /var/lib | /var/log | /var/run | /var/tmp)
        die "TENTACLE_CONF: log_file $log_file is in $log_dir, which cannot be given to $TENTACLE_USER: put the log in a directory of its own (e.g. /var/log/tentacle/tentacle.log)" ;;
    esac
  fi
fi

# --- the file: readable by that user, by nobody else
conf_dir=$(dirname -- "$TENTACLE_CONF_PATH")
if [[ ! -d "$conf_dir" ]]; then
  mkdir -p -- "$conf_dir" || die "cannot create $conf_dir"
  chmod 0755 -- "$conf_dir" || die "cannot chmod 0755 $conf_dir"
fi
CONF_CHANGED=0
owner="root:$TENTACLE_GROUP"
if printf '%s' "$TENTACLE_CONF" | install_file_if_changed "$TENTACLE_CONF_PATH" 0640 "$owner"; then
  CONF_CHANGED=1
  changed "$TENTACLE_CONF_PATH (0640 $owner; Tentacle runs as $TENTACLE_USER)"
else
  unchanged "$TENTACLE_CONF_PATH"
fi
as_user "$TENTACLE_USER" test -r "$TENTACLE_CONF_PATH" ||
  die "$TENTACLE_CONF_PATH is not readable by $TENTACLE_USER, the user Tentacle runs as (a directory above it closed to $TENTACLE_USER?)"

# --- its log directory
if [[ -n "$log_dir" ]]; then
  if ensure_dir "$log_dir" 0750 "$TENTACLE_USER:$TENTACLE_GROUP"; then
    changed "$log_dir (0750 $TENTACLE_USER:$TENTACLE_GROUP, Tentacle's log directory)"
  else
    unchanged "$log_dir"
  fi
  if [[ -f "$log_file" && "$(stat -c %u -- "$log_file")" != "$(id -u -- "$TENTACLE_USER")" ]]; then
    chown "$TENTACLE_USER:$TENTACLE_GROUP" -- "$log_file" || die "cannot chown $log_file"
    changed "$log_file now belongs to $TENTACLE_USER"
  fi
fi

# --- the service
svc_action "$TENTACLE_SERVICE" enable >/dev/null 2>&1 || warn "could not enable $TENTACLE_SERVICE at boot"
if svc_action "$TENTACLE_SERVICE" is-active; then
  if ((CONF_CHANGED)); then
    svc_action "$TENTACLE_SERVICE" restart || die "restarting $TENTACLE_SERVICE failed"
    changed "restarted $TENTACLE_SERVICE"
  else
    unchanged "$TENTACLE_SERVICE running"
  fi
else
  svc_action "$TENTACLE_SERVICE" start || die "starting $TENTACLE_SERVICE failed"
  changed "started $TENTACLE_SERVICE"
fi
for _ in 1 2 3 4 5 6 7 8 9 10; do
  svc_action "$TENTACLE_SERVICE" is-active && exit 0
  sleep 1
done
die "$TENTACLE_SERVICE is not running 10 s after starting it"
