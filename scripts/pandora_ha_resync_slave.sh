#!/usr/bin/env bash
# pandora_ha_resync_slave.sh <pandora_server.conf> MASTER SLAVE — rebuilds the replica SLAVE
# from MASTER, with the original's arguments. Runs on a Pandora server host (pandora_ha calls it
# through the ha_resync token, an operator may run it by hand).
# From the conf: repl_dbuser/repl_dbpass (the replica's account), ha_dbuser/ha_dbpass (to
# check both nodes; default dbuser/dbpass), ha_sshuser/ha_sshport (SSH to the nodes; default
# pandora/22), ha_resync_log (appended to; default /var/log/pandora/pandora_ha_resync.log),
# dbport (3306). From /etc/pandora-ha/cluster.env (written at deployment): DB_FLAVOR,
# SEED_METHOD, MYCNF_PATH, DATADIR, NODE_KEY_FILE (the key a node streams from another with),
# SEED_SCRIPT.
# It refuses (nothing touched) when MASTER is not the writable master, or SLAVE is writable.
# Then the seeding step runs on SLAVE (over SSH, secrets on stdin) with RESYNC=1: the copy of
# MASTER (SEED_METHOD clone: the clone plugin; xtrabackup/mariabackup: a streamed backup,
# prepared) goes into a directory beside SLAVE's datadir, then takes the datadir's place (the
# old one is moved aside, never deleted), and replication starts from the copy's position. One
# resync at a time (lock).
# Exit 0 only when SLAVE replicates from MASTER with both threads running; otherwise non-zero
# with the reason on the last line.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi
PHA_STEP=resync
CLUSTER_ENV="${PHA_CLUSTER_ENV:-/etc/pandora-ha/cluster.env}"

# Positional arguments, as the original's.
[[ $# -eq 3 && -n "$1" && -n "$2" && -n "$3" ]] || die "usage: $(basename "$0") <pandora_server.conf> MASTER SLAVE (got $# arguments)"
CONF=$1 MASTER=$2 SLAVE=$3
[[ -r "$CONF" ]] || die "cannot read the configuration file $CONF"
require_host MASTER
require_host SLAVE
[[ "$MASTER" != "$SLAVE" ]] || die "MASTER and SLAVE are the same host ($MASTER)"
[[ -r "$CLUSTER_ENV" ]] || die "$CLUSTER_ENV is missing: this host was not deployed by pandora-ha"

# token NAME DEFAULT: the last active `NAME value` line of the conf.
token() {
  local v
  v=$(awk -v t="$1" '{ sub(/\r$/, "") } $1 == t { sub(/^[ \t]*[^ \t]+[ \t]*/, ""); v = $0 } END { print v }' "$CONF")
  printf '%s\n' "${v:-$2}"
}
REPL_USER=$(token repl_dbuser "$(token dbuser "")")
REPL_PASSWORD=$(token repl_dbpass "$(token dbpass "")")
HA_USER=$(token ha_dbuser "$(token dbuser "")")
HA_PASSWORD=$(token ha_dbpass "$(token dbpass "")")
SSH_USER=$(token ha_sshuser pandora)
SSH_PORT=$(token ha_sshport 22)
DB_PORT=$(token dbport 3306)
RESYNC_LOG=$(token ha_resync_log /var/log/pandora/pandora_ha_resync.log)
PHA_SECRET_VARS=(REPL_PASSWORD HA_PASSWORD)
declare -A TOKEN_OF=([REPL_USER]=repl_dbuser [REPL_PASSWORD]=repl_dbpass [HA_USER]=ha_dbuser [HA_PASSWORD]=ha_dbpass)
for v in REPL_USER REPL_PASSWORD HA_USER HA_PASSWORD; do
  [[ -n "${!v}" ]] || die "$CONF sets no ${TOKEN_OF[$v]} (nor dbuser/dbpass to fall back on)"
done
require_sql_ident REPL_USER
require_sql_ident HA_USER
require_port SSH_PORT
require_port DB_PORT
require_match SSH_USER '^[a-z_][a-z0-9_-]{0,31}$' "a Unix user name (token ha_sshuser)"
require_abs_path RESYNC_LOG

# cluster.env holds plain KEY=value lines; read them without executing the file.
while IFS='=' read -r k v; do
  case "$k" in
    DB_FLAVOR | SEED_METHOD | MYCNF_PATH | DATADIR | NODE_KEY_FILE | SEED_SCRIPT) printf -v "$k" '%s' "$v" ;;
  esac
done < <(grep -E '^[A-Z_]+=' "$CLUSTER_ENV")
require_env DB_FLAVOR MYCNF_PATH DATADIR NODE_KEY_FILE SEED_SCRIPT
[[ -r "$SEED_SCRIPT" ]] || die "SEED_SCRIPT $SEED_SCRIPT cannot be read"

pha_tmp_init
mkdir -p "$(dirname "$RESYNC_LOG")"
# Everything from here on also goes to the resync log, with a timestamp (stdout and stderr
# stay apart for the caller).
stamp() { while IFS= read -r l; do printf '%s %s\n' "$(date -u +%FT%TZ)" "$l" | tee -a "$RESYNC_LOG"; done; }
exec > >(stamp) 2> >(stamp >&2)
log "resync of $SLAVE from $MASTER started (conf $CONF)"
fail() {
  log "resync of $SLAVE from $MASTER FAILED"
  die "$*"
}

# --- one at a time
LOCK=/run/pandora_ha_resync.lock
exec 9>"$LOCK"
flock -n 9 || fail "another resync is running (lock $LOCK)"
# Who holds it: pandora_ha on this host leaves SLAVE alone while this process lives.
printf '%s %s\n' "$$" "$SLAVE" >&9

# --- both nodes, as the HA admin over TCP
HA_CNF=$(pha_mktemp)
client_cnf "$HA_USER" "$HA_PASSWORD" >"$HA_CNF"
ha_sql() { remote_client "$HA_CNF" "$1" "$DB_PORT" -N -B -e "$2"; } # HOST SQL
ro=$(ha_sql "$MASTER" 'SELECT @@global.read_only' 2>/dev/null) || fail "MASTER $MASTER:$DB_PORT does not answer as $HA_USER; nothing was changed"
[[ "$ro" == 0 ]] || fail "MASTER $MASTER is read-only: it is not the master; nothing was changed"
if ro=$(ha_sql "$SLAVE" 'SELECT @@global.read_only' 2>/dev/null) && [[ "$ro" == 0 ]]; then
  fail "SLAVE $SLAVE is writable (read_only=OFF): it may be a master; refusing to overwrite it, nothing was changed"
fi

# --- the seeding step on SLAVE: parameters on the command line, secret and script on stdin
SSH=(ssh -i "$NODE_KEY_FILE" -p "$SSH_PORT" -o BatchMode=yes -o StrictHostKeyChecking=accept-new
  -o IdentitiesOnly=yes -o ConnectTimeout=10 "$SSH_USER@$SLAVE")
SUDO=""
[[ "$SSH_USER" == root ]] || SUDO="sudo -n "
params=(PHA_STEP=resync RESYNC=1 DB_FLAVOR="$DB_FLAVOR" SEED_METHOD="${SEED_METHOD:-}" MASTER_HOST="$MASTER" MASTER_PORT="$DB_PORT"
  MASTER_SSH_USER="$SSH_USER" MASTER_SSH_PORT="$SSH_PORT" REPL_USER="$REPL_USER" DATADIR="$DATADIR"
  MYCNF_PATH="$MYCNF_PATH" KEY_FILE="$NODE_KEY_FILE")
remote=$(remote_script_cmd "$SUDO" "${params[@]}")
if ! { printf 'export REPL_PASSWORD=%s\n' "$(sh_quote "$REPL_PASSWORD")"; cat "$SEED_SCRIPT"; } | "${SSH[@]}" "$remote"; then
  fail "rebuilding $SLAVE failed (see the lines above; its previous datadir, if it was moved, is kept beside $DATADIR)"
fi

# --- the verdict, from SLAVE itself
status=$(remote_replica_status "$HA_CNF" "$SLAVE" "$DB_PORT") || fail "SLAVE $SLAVE does not answer after the rebuild (see above)"
if threads_running "$status" && [[ "$(replica_field "$status" Source_Host Master_Host)" == "$MASTER" ]]; then
  log "resync of $SLAVE from $MASTER finished: $SLAVE replicates from $MASTER (IO Yes, SQL Yes)"
  exit 0
fi
fail "$SLAVE does not replicate from $MASTER after the rebuild ($(replication_summary "$status"))"
