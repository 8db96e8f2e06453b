#!/usr/bin/env bash
# ssh-keys.sh — the SSH trust pandora-ha needs between hosts.
# KEY_FILE (e.g. /root/.ssh/id_pandora_ha) gets the secret PRIVATE_KEY (0600) and KEY_FILE.pub
# its public half (derived with ssh-keygen -y). PEERS (space-separated addresses this host
# connects to) get a marked block in /root/.ssh/config (# BEGIN pandora-ha … # END pandora-ha):
# User PEER_USER, Port PEER_PORT, IdentityFile KEY_FILE, StrictHostKeyChecking accept-new,
# BatchMode yes. LOGIN_USER (empty: none) gets each line of AUTHORIZED_KEYS in its
# authorized_keys once, tagged with a "pandora-ha" comment. Accepting logins also removes an
# sshd Banner (the manual does: it disturbs scripted ssh), and for LOGIN_USER=root makes sure sshd
# permits key-only root login (PermitRootLogin prohibit-password, through a drop-in when
# sshd_config includes sshd_config.d, only when it is currently refused). sshd is checked with
# `sshd -t` (a bad config is rolled back) and reloaded only when something changed.
# Idempotent: nothing to change → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env KEY_FILE PEER_USER PEER_PORT PRIVATE_KEY
PHA_SECRET_VARS=(PRIVATE_KEY)
require_abs_path KEY_FILE
require_match PEER_USER '^[a-z_][a-z0-9_-]{0,31}$' "a Unix user name"
require_port PEER_PORT
LOGIN_USER="${LOGIN_USER:-}"
AUTHORIZED_KEYS="${AUTHORIZED_KEYS:-}"
PEERS="${PEERS:-}"
[[ -z "$LOGIN_USER" ]] || require_match LOGIN_USER '^[a-z_][a-z0-9_-]{0,31}$' "a Unix user name"
require_host_list PEERS
read -r -a PEER_LIST <<<"$PEERS"
[[ "$PRIVATE_KEY" == *"-----BEGIN "*"PRIVATE KEY-----"* ]] || die "PRIVATE_KEY is not a PEM/OpenSSH private key"

pha_tmp_init
# Validate the key and every authorized key before changing anything.
KEY_TMP=$(pha_mktemp)
printf '%s\n' "${PRIVATE_KEY//$'\r'/}" | sed '/^$/d' >"$KEY_TMP"
PUB=$(ssh-keygen -y -f "$KEY_TMP" 2>/dev/null | awk '{ print $1, $2 }') || true
[[ -n "$PUB" ]] || die "PRIVATE_KEY cannot be read by ssh-keygen (not a valid unencrypted private key)"

# key_id LINE: "type base64" of an authorized_keys line (options before the type are skipped).
key_id() {
  awk '{ for (i = 1; i < NF; i++) if ($i ~ /^(ssh-|ecdsa-|sk-)/) { print $i, $(i + 1); exit } }' <<<"$1"
}
AUTH_LINES=()
if [[ -n "$LOGIN_USER" ]]; then
  while IFS= read -r line; do
    line=${line%$'\r'}
    [[ -z "${line//[[:space:]]/}" || "$line" == \#* ]] && continue
    [[ -n "$(key_id "$line")" ]] || die "AUTHORIZED_KEYS has a line that is not an OpenSSH public key"
    AUTH_LINES+=("$line")
  done <<<"$AUTHORIZED_KEYS"
  getent passwd "$LOGIN_USER" >/dev/null || die "LOGIN_USER $LOGIN_USER does not exist on this host"
fi

# --- the key pair
KEY_DIR=$(dirname "$KEY_FILE")
if ensure_dir "$KEY_DIR" 0700 root:root; then changed "$KEY_DIR"; fi
if install_file_if_changed "$KEY_FILE" 0600 root:root <"$KEY_TMP"; then changed "private key $KEY_FILE (0600)"; else unchanged "private key $KEY_FILE"; fi
if install_file_if_changed "$KEY_FILE.pub" 0644 root:root <<<"$PUB pandora-ha"; then changed "public key $KEY_FILE.pub"; else unchanged "public key $KEY_FILE.pub"; fi

# --- root's ssh config block for the peers
SSH_CONFIG=/root/.ssh/config
ensure_dir /root/.ssh 0700 root:root || true
restore_context /root/.ssh
NEW_CONFIG=$(pha_mktemp)
{
  if ((${#PEER_LIST[@]} > 0)); then
    echo "# BEGIN pandora-ha (managed: this block is rewritten by pandora-ha)"
    echo "Host ${PEER_LIST[*]}"
    echo "    User $PEER_USER"
    echo "    Port $PEER_PORT"
    echo "    IdentityFile $KEY_FILE"
    echo "    IdentitiesOnly yes"
    echo "    StrictHostKeyChecking accept-new"
    echo "    BatchMode yes"
    echo "# Back to every host: lines after this block apply as they did before it."
    echo "Host *"
    echo "# END pandora-ha"
  fi
  # The block goes first (ssh uses the first value it finds) and replaces an earlier one.
  if [[ -f "$SSH_CONFIG" ]]; then
    awk '/^# BEGIN pandora-ha/ { skip = 1 } !skip { print } /^# END pandora-ha/ { skip = 0 }' "$SSH_CONFIG"
  fi
} >"$NEW_CONFIG"
if [[ -f "$SSH_CONFIG" || -s "$NEW_CONFIG" ]]; then
  if install_file_if_changed "$SSH_CONFIG" 0600 root:root <"$NEW_CONFIG"; then
    changed "$SSH_CONFIG block for ${PEERS:-no peers}"
  else
    unchanged "$SSH_CONFIG block for ${PEERS:-no peers}"
  fi
fi

[[ -n "$LOGIN_USER" ]] || exit 0

# --- authorized_keys of LOGIN_USER
IFS=: read -r _ _ LOGIN_UID LOGIN_GID _ LOGIN_HOME _ < <(getent passwd "$LOGIN_USER")
AUTH_FILE="$LOGIN_HOME/.ssh/authorized_keys"
if ensure_dir "$LOGIN_HOME/.ssh" 0700 "$LOGIN_UID:$LOGIN_GID"; then changed "$LOGIN_HOME/.ssh"; fi
NEW_AUTH=$(pha_mktemp)
[[ -f "$AUTH_FILE" ]] && cat "$AUTH_FILE" >"$NEW_AUTH"
# A file without a final newline would glue our first line to its last one.
[[ -s "$NEW_AUTH" && "$(tail -c 1 "$NEW_AUTH")" != "" ]] && echo >>"$NEW_AUTH"
added=0
for line in "${AUTH_LINES[@]}"; do
  id=$(key_id "$line")
  if ! awk -v id="$id" '{ for (i = 1; i < NF; i++) if ($i " " $(i + 1) == id) found = 1 } END { exit !found }' "$NEW_AUTH"; then
    # Keep options before the key; replace any comment by the pandora-ha tag.
    prefix=${line%%"$id"*}
    [[ "$prefix" == "$line" ]] && prefix=""
    printf '%s%s pandora-ha\n' "$prefix" "$id" >>"$NEW_AUTH"
    added=$((added + 1))
  fi
done
restore_context "$LOGIN_HOME/.ssh"
if install_file_if_changed "$AUTH_FILE" 0600 "$LOGIN_UID:$LOGIN_GID" <"$NEW_AUTH"; then
  changed "$AUTH_FILE ($added key(s) added)"
else
  unchanged "$AUTH_FILE (${#AUTH_LINES[@]} key(s) present)"
fi

# --- sshd: no Banner, and key-only root login when LOGIN_USER is root
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
[[ -x "$SSHD" ]] || die "sshd is not installed, so $LOGIN_USER cannot log in: install openssh-server"
SSHD_CONFIG="${SSHD_CONFIG:-/etc/ssh/sshd_config}"
SSHD_DROPIN="${SSHD_CONFIG}.d/01-pandora-ha.conf"
[[ -f "$SSHD_CONFIG" ]] || die "$SSHD_CONFIG does not exist"
SAVE_DIR="$PHA_TMP/sshd-save"
mkdir -p "$SAVE_DIR"
cp -p "$SSHD_CONFIG" "$SAVE_DIR/sshd_config"
[[ -f "$SSHD_DROPIN" ]] && cp -p "$SSHD_DROPIN" "$SAVE_DIR/dropin"
SSHD_CHANGED=0

NEW_SSHD=$(pha_mktemp)
awk '/^[[:space:]]*Banner[[:space:]]/ { print "# " $0 "  # disabled by pandora-ha (the manual removes the banner)"; next } { print }' "$SSHD_CONFIG" >"$NEW_SSHD"

# permit_root_login: the value sshd actually uses, all includes and defaults considered.
permit_root_login() {
  local out
  out=$("$SSHD" -T -f "$SSHD_CONFIG" 2>&1) || die "sshd -T cannot read the configuration: $out"
  # OpenSSH 10 prints the names as written (PermitRootLogin), earlier ones in lower case.
  awk 'tolower($1) == "permitrootlogin" { print $2 }' <<<"$out"
}

if [[ "$LOGIN_USER" == root ]]; then
  current=$(permit_root_login)
  case "$current" in
    yes | prohibit-password | without-password)
      unchanged "sshd PermitRootLogin $current"
      ;;
    *)
      log "sshd PermitRootLogin is '${current:-unknown}': allowing key-only root login"
      if grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/' "$SSHD_CONFIG"; then
        if install_file_if_changed "$SSHD_DROPIN" 0644 root:root \
          <<<"# Managed by pandora-ha: pandora_ha and replica seeding log in as root with a key."$'\n'"PermitRootLogin prohibit-password"; then
          SSHD_CHANGED=1
        fi
      else
        # First value wins in sshd_config: put ours on top (an existing line is commented out).
        tmp2=$(pha_mktemp)
        {
          echo "PermitRootLogin prohibit-password  # set by pandora-ha"
          awk '/^[[:space:]]*PermitRootLogin[[:space:]]/ { print "# " $0 "  # replaced by pandora-ha"; next } { print }' "$NEW_SSHD"
        } >"$tmp2"
        cp "$tmp2" "$NEW_SSHD"
      fi
      ;;
  esac
fi
if install_file_if_changed "$SSHD_CONFIG" "" "" <"$NEW_SSHD"; then SSHD_CHANGED=1; fi

if ((SSHD_CHANGED)); then
  if ! "$SSHD" -t -f "$SSHD_CONFIG"; then
    cp -p "$SAVE_DIR/sshd_config" "$SSHD_CONFIG"
    if [[ -f "$SAVE_DIR/dropin" ]]; then cp -p "$SAVE_DIR/dropin" "$SSHD_DROPIN"; else rm -f "$SSHD_DROPIN"; fi
    die "sshd -t rejected the new configuration; the previous one was put back"
  fi
  if [[ "$LOGIN_USER" == root ]]; then
    current=$(permit_root_login)
    [[ "$current" == prohibit-password || "$current" == without-password || "$current" == yes ]] ||
      die "sshd still says PermitRootLogin $current (another setting wins over ours); allow key-only root login by hand"
  fi
  if svc_action sshd reload 2>/dev/null || svc_action ssh reload 2>/dev/null; then
    :
  elif [[ -r /run/sshd.pid ]]; then
    kill -HUP "$(cat /run/sshd.pid)"
  else
    warn "could not reload sshd; it reads the new configuration at its next start"
  fi
  changed "sshd configuration (checked with sshd -t, sshd reloaded)"
else
  unchanged "sshd configuration"
fi
