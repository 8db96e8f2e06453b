#!/usr/bin/env bash
# server-tentacle.sh — the Tentacle server's configuration and service.
# TENTACLE_CONF_PATH (e.g. /etc/tentacle/tentacle_server.conf), TENTACLE_SERVICE (e.g.
# tentacle_serverd); secret TENTACLE_CONF (the complete file; it holds the Tentacle password).
# The file is 0640 root:pandora when a pandora group exists (Tentacle runs as pandora), else 0600
# root. The service is restarted when the file changed, started when it is not running, and
# enabled at boot. Idempotent: same file, service running → unchanged.
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

if getent group pandora >/dev/null; then
  mode=0640 owner=root:pandora
else
  mode=0600 owner=root:root
fi
mkdir -p "$(dirname "$TENTACLE_CONF_PATH")"
CONF_CHANGED=0
if printf '%s' "$TENTACLE_CONF" | install_file_if_changed "$TENTACLE_CONF_PATH" "$mode" "$owner"; then
  CONF_CHANGED=1
  changed "$TENTACLE_CONF_PATH ($mode $owner)"
else
  unchanged "$TENTACLE_CONF_PATH"
fi

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
