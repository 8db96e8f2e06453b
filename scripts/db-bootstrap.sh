#!/usr/bin/env bash
# db-bootstrap.sh — root password and the cluster's accounts on one DB node; on the first node
# also the Pandora database, made writable.
# Parameters: DB_FLAVOR (percona84|percona80|mysql|mariadb1011), ROLE (master|replica), DB_NAME, REPL_USER,
# HA_DB_USER, PANDORA_DB_USER, ACCOUNT_HOST (host part of those accounts, e.g. '%' or
# '10.42.0.0/255.255.0.0'), DB_PORT, PEERS (the other DB nodes' addresses, space-separated;
# may be empty), SELF_HOST (this node's cluster address, default 127.0.0.1: where the MySQL
# family's accounts are tried), SEED_METHOD (clone: the replication account may be a clone
# donor, BACKUP_ADMIN; default none); secrets DB_ROOT_PASSWORD, REPL_PASSWORD, HA_DB_PASSWORD,
# PANDORA_DB_PASSWORD.
# Every statement runs with sql_log_bin=0: accounts are created on each node, never replicated.
# root@localhost gets DB_ROOT_PASSWORD (MySQL family: caching_sha2_password; MariaDB: unix_socket
# OR mysql_native_password) and /root/.my.cnf (0600) holds it for the local tools (xtrabackup).
# The MySQL family's accounts are all caching_sha2_password (mysql_native_password is off in 8.4
# and gone in 9.x); its stored hash is salted anew by every ALTER USER, so a password counts as
# unchanged when it authenticates (over TCP to SELF_HOST, the socket for root), and only a
# password that does not is set. Replication (REPLICATION SLAVE/CLIENT, and with SEED_METHOD
# clone BACKUP_ADMIN: a clone donor), pandora (DB_NAME.*) — never global ALL nor
# READ_ONLY ADMIN, so read_only stops them — and HA admin (what promotion, demotion and
# monitoring need, plus DB_NAME.*). On MariaDB 10.11 only READ_ONLY ADMIN may SET GLOBAL
# read_only, so the HA admin has it (pandora_ha writes no Pandora data); on Percona it has
# SYSTEM_VARIABLES_ADMIN, and replicas also run super_read_only, which stops it.
# ROLE=master creates DB_NAME and makes the node writable once, at the cluster's first
# deployment, and only when it replicates from nobody and no reachable peer in PEERS (addresses,
# DB_PORT) names a master (holds a promotion epoch of pandora_ha's, or is writable). From then on pandora_ha owns the roles: a later run (new password, say)
# never changes read_only, so a returned old master is never made writable behind its back.
# Idempotent: passwords and grants already right → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env DB_FLAVOR ROLE DB_NAME REPL_USER HA_DB_USER PANDORA_DB_USER ACCOUNT_HOST DB_PORT \
  DB_ROOT_PASSWORD REPL_PASSWORD HA_DB_PASSWORD PANDORA_DB_PASSWORD
PHA_SECRET_VARS=(DB_ROOT_PASSWORD REPL_PASSWORD HA_DB_PASSWORD PANDORA_DB_PASSWORD)
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
require_one_of ROLE master replica
for v in DB_NAME REPL_USER HA_DB_USER PANDORA_DB_USER; do require_sql_ident "$v"; done
require_match ACCOUNT_HOST '^[A-Za-z0-9.%_/:-]+$' "a MySQL host pattern such as % or 10.0.0.0/255.255.0.0"
require_port DB_PORT
PEERS="${PEERS:-}"
require_host_list PEERS
SELF_HOST="${SELF_HOST:-127.0.0.1}"
require_host SELF_HOST
SEED_METHOD="${SEED_METHOD:-}"
[[ -z "$SEED_METHOD" ]] || require_one_of SEED_METHOD clone xtrabackup mariabackup
DONOR=""
[[ "$SEED_METHOD" == clone ]] && DONOR=", BACKUP_ADMIN"
MASTER_MARKER="$PHA_STATE_DIR/master-initialized"
pha_tmp_init
MYSQL_FAMILY=0
mysql_family "$DB_FLAVOR" && MYSQL_FAMILY=1

wait_db_ping 60 || die "the database server does not answer: run db-configure.sh first"

# --- a working root connection: /root/.my.cnf, else the wanted password (set by an earlier
# run that stopped before writing /root/.my.cnf), else socket authentication / no password
# (fresh Percona --initialize-insecure, MariaDB unix_socket).
connect_root() {
  local f
  unset PHA_MYSQL_DEFAULTS
  if [[ -r /root/.my.cnf ]] && mysql_root -e 'SELECT 1' >/dev/null 2>&1; then
    return 0
  fi
  f=$(pha_mktemp)
  client_cnf root "$DB_ROOT_PASSWORD" >"$f"
  PHA_MYSQL_DEFAULTS=$f
  mysql_root -e 'SELECT 1' >/dev/null 2>&1 && return 0
  f=$(pha_mktemp)
  client_cnf root >"$f"
  PHA_MYSQL_DEFAULTS=$f
  mysql_root -e 'SELECT 1' >/dev/null 2>&1 && return 0
  die "cannot log in as root@localhost (tried /root/.my.cnf, DB_ROOT_PASSWORD and socket authentication)"
}
connect_root

acct() { printf '%s@%s' "$(sql_quote "$1")" "$(sql_quote "$2")"; }
ROOT=$(acct root localhost)
REPL=$(acct "$REPL_USER" "$ACCOUNT_HOST")
HA=$(acct "$HA_DB_USER" "$ACCOUNT_HOST")
PANDORA=$(acct "$PANDORA_DB_USER" "$ACCOUNT_HOST")
DB="\`$DB_NAME\`"

# account_state ACCOUNT: its definition and grants (MariaDB: with the password hash, compared,
# never printed; MySQL family: without it, a salted hash tells nothing), or "absent".
account_state() {
  local out
  out=$(mysql_root -e "SHOW CREATE USER $1; SHOW GRANTS FOR $1" 2>/dev/null) || { echo absent; return 0; }
  if ((MYSQL_FAMILY)); then sed -E "s/ AS '.*' (REQUIRE|PASSWORD|ACCOUNT|DEFAULT|COMMENT|ATTRIBUTE)/ AS <hash> \1/" <<<"$out"; else printf '%s\n' "$out"; fi
}
ACCOUNTS=("$ROOT" "$REPL" "$HA" "$PANDORA")
declare -A BEFORE
for a in "${ACCOUNTS[@]}"; do BEFORE[$a]=$(account_state "$a"); done

# authenticates USER PASSWORD: the account logs in with PASSWORD (root@localhost over the
# socket, the others over TCP to SELF_HOST, from where the cluster's clients connect).
authenticates() {
  local f
  f=$(pha_mktemp)
  client_cnf "$1" "$2" >"$f"
  if [[ "$1" == root ]]; then
    PHA_MYSQL_DEFAULTS=$f db_client_run "$(db_client_bin)" -N -B -e 'SELECT 1' >/dev/null 2>&1
  else
    remote_client "$f" "$SELF_HOST" "$DB_PORT" -N -B -e 'SELECT 1' >/dev/null 2>&1
  fi
}

# mysql_password_sql ACCOUNT USER PASSWORD: the ALTER USER a MySQL-family account needs — none
# when it is caching_sha2_password already and PASSWORD authenticates.
declare -A PASSWORD_SET
mysql_password_sql() {
  if [[ "${BEFORE[$1]}" == *"'caching_sha2_password'"* ]] && authenticates "$2" "$3"; then return 0; fi
  PASSWORD_SET[$1]=1
  printf 'ALTER USER %s IDENTIFIED WITH caching_sha2_password BY %s;\n' "$1" "$(sql_quote "$3")"
}

# --- the SQL (on stdin only: it holds passwords)
user_sql() { # ACCOUNT USER PASSWORD
  if ((MYSQL_FAMILY)); then
    printf 'CREATE USER IF NOT EXISTS %s IDENTIFIED WITH caching_sha2_password BY %s;\n' "$1" "$(sql_quote "$3")"
    [[ "${BEFORE[$1]}" == absent ]] || mysql_password_sql "$1" "$2" "$3"
  else
    printf 'CREATE USER IF NOT EXISTS %s IDENTIFIED BY %s;\n' "$1" "$(sql_quote "$3")"
    printf 'ALTER USER %s IDENTIFIED BY %s;\n' "$1" "$(sql_quote "$3")"
  fi
}

accounts_sql() {
  echo "SET SESSION sql_log_bin=0;"
  if ((MYSQL_FAMILY)); then
    mysql_password_sql "$ROOT" root "$DB_ROOT_PASSWORD"
  else
    printf 'ALTER USER %s IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(%s);\n' "$ROOT" "$(sql_quote "$DB_ROOT_PASSWORD")"
  fi
  user_sql "$REPL" "$REPL_USER" "$REPL_PASSWORD"
  user_sql "$HA" "$HA_DB_USER" "$HA_DB_PASSWORD"
  user_sql "$PANDORA" "$PANDORA_DB_USER" "$PANDORA_DB_PASSWORD"
  if ((MYSQL_FAMILY)); then
    echo "GRANT REPLICATION SLAVE, REPLICATION CLIENT$DONOR ON *.* TO $REPL;"
    echo "GRANT SYSTEM_VARIABLES_ADMIN, REPLICATION_SLAVE_ADMIN, CONNECTION_ADMIN, BINLOG_ADMIN, RELOAD, PROCESS, REPLICATION CLIENT, REPLICATION SLAVE ON *.* TO $HA;"
    # pandora_ha finds a replica's applier there and kills it (a replication thread: SYSTEM_USER)
    # before a STOP REPLICA that would wait 60 s for a transaction whose source died mid-send.
    echo "GRANT SYSTEM_USER ON *.* TO $HA;"
    echo "GRANT SELECT ON performance_schema.threads TO $HA;"
  else
    echo "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO $REPL;"
    echo "GRANT SUPER, READ_ONLY ADMIN, RELOAD, PROCESS, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, SLAVE MONITOR, BINLOG MONITOR, BINLOG ADMIN, CONNECTION ADMIN, REPLICATION SLAVE ON *.* TO $HA;"
  fi
  echo "GRANT ALL PRIVILEGES ON $DB.* TO $HA;"
  echo "GRANT ALL PRIVILEGES ON $DB.* TO $PANDORA;"
  if ((!MYSQL_FAMILY)); then
    # read_only does not stop READ_ONLY ADMIN (part of a global ALL): take it away.
    local a
    for a in "$REPL" "$PANDORA"; do
      if grep -qE 'READ_ONLY ADMIN|ALL PRIVILEGES ON \*\.\*' <<<"${BEFORE[$a]}"; then
        echo "REVOKE READ_ONLY ADMIN ON *.* FROM $a;"
      fi
    done
  fi
}

# --- Percona: the validate_password component (the manual removes it) and super_read_only
# (every node starts with it; even root cannot create accounts under it).
SUPER_RO=0
if ((MYSQL_FAMILY)); then
  if [[ "$(mysql_root -e "SELECT COUNT(*) FROM mysql.component WHERE component_urn LIKE '%validate_password%'")" != 0 ]]; then
    mysql_root -e "UNINSTALL COMPONENT 'file://component_validate_password'" || die "cannot uninstall component_validate_password"
    changed "uninstalled component_validate_password (as the manual does)"
  fi
  SUPER_RO=$(mysql_root -e 'SELECT @@global.super_read_only')
  if [[ "$SUPER_RO" == 1 ]]; then
    mysql_root -e 'SET GLOBAL super_read_only=OFF' || die "cannot lift super_read_only"
  fi
fi
restore_super_read_only() {
  if [[ "$SUPER_RO" == 1 ]]; then
    connect_root
    mysql_root -e 'SET GLOBAL super_read_only=ON' || warn "could not set super_read_only back to ON"
    SUPER_RO=0
  fi
}

# Into a file first (0600, the private temp dir), not a pipe: accounts_sql notes in this shell
# which passwords it sets.
ACCOUNTS_SQL=$(pha_mktemp)
accounts_sql >"$ACCOUNTS_SQL"
if ! sql_exec <"$ACCOUNTS_SQL"; then
  restore_super_read_only
  die "creating the accounts failed (see the error above)"
fi

# /root/.my.cnf: root's password for the local client tools and xtrabackup/mariabackup.
MYCNF_ROOT=$(pha_mktemp)
{
  echo "# Managed by pandora-ha: root@localhost's client credentials."
  client_cnf root "$DB_ROOT_PASSWORD"
} >"$MYCNF_ROOT"
if install_file_if_changed /root/.my.cnf 0600 root:root <"$MYCNF_ROOT"; then
  changed "/root/.my.cnf (0600)"
else
  unchanged "/root/.my.cnf"
fi
unset PHA_MYSQL_DEFAULTS

names=("root@localhost" "$REPL_USER@$ACCOUNT_HOST (replication)" "$HA_DB_USER@$ACCOUNT_HOST (HA admin)" "$PANDORA_DB_USER@$ACCOUNT_HOST (pandora)")
for i in "${!ACCOUNTS[@]}"; do
  after=$(account_state "${ACCOUNTS[$i]}")
  if [[ "$after" == "${BEFORE[${ACCOUNTS[$i]}]}" && -z "${PASSWORD_SET[${ACCOUNTS[$i]}]:-}" ]]; then
    unchanged "account ${names[$i]}"
  else
    changed "account ${names[$i]}"
  fi
  if grep -q 'ALL PRIVILEGES ON \*\.\*' <<<"$after" && ((i > 0)); then
    warn "account ${names[$i]} has global ALL PRIVILEGES granted outside pandora-ha: read_only may not stop it; revoke it"
  fi
done

# --- the first node: the database, and writable once, unless it replicates or a peer is writable

# master_elsewhere: prints the master the peers name (the highest promotion epoch one of them
# holds, else a writable peer), asked as the HA admin; nothing when none does. An unreachable
# peer (not yet installed, or down) names nothing as far as we can know.
master_elsewhere() {
  local f peers
  f=$(pha_mktemp)
  client_cnf "$HA_DB_USER" "$HA_DB_PASSWORD" >"$f"
  read -r -a peers <<<"$PEERS"
  cluster_master "$f" "$DB_PORT" "$DB_NAME" "${peers[@]}" || true
}

if [[ "$ROLE" == master ]]; then
  status=$(replica_status)
  if [[ -n "$status" ]]; then
    source_host=$(replica_field "$status" Source_Host Master_Host)
    restore_super_read_only
    unchanged "read-only kept: this node replicates from $source_host (a failover moved the master role), so it is not made writable and $DB_NAME is not created here"
  elif [[ -f "$MASTER_MARKER" ]]; then
    restore_super_read_only
    unchanged "master role left to pandora_ha (this node was made the writable master at $(head -n 1 "$MASTER_MARKER")); read_only=$(mysql_root -e 'SELECT @@global.read_only')"
  elif peer=$(master_elsewhere) && [[ -n "$peer" ]]; then
    restore_super_read_only
    die "refusing to make this node writable: the cluster names $peer the master (a promotion epoch, or it is writable). Seed this node from it instead"
  else
    if [[ -n "$(mysql_root -e "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=$(sql_quote "$DB_NAME")")" ]]; then
      unchanged "database $DB_NAME exists"
    else
      printf 'SET SESSION sql_log_bin=0;\nCREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n' "$DB" | sql_exec ||
        { restore_super_read_only; die "creating database $DB_NAME failed"; }
      changed "database $DB_NAME (utf8mb4)"
    fi
    if [[ "$(mysql_root -e 'SELECT @@global.read_only')" == 1 || "$SUPER_RO" == 1 ]]; then
      # On Percona super_read_only is already OFF here; read_only=OFF keeps it off.
      mysql_root -e 'SET GLOBAL read_only=OFF' || die "cannot make the master writable"
      SUPER_RO=0
      changed "read_only=OFF: this node replicates from nobody, it is the writable master"
    else
      unchanged "writable master (read_only=OFF)"
    fi
    mkdir -p "$PHA_STATE_DIR" || die "cannot create $PHA_STATE_DIR"
    date -u +%FT%TZ >"$MASTER_MARKER" || die "cannot write $MASTER_MARKER"
  fi
else
  restore_super_read_only
fi
