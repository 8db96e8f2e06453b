#!/usr/bin/env bash
# db-configure.sh — lays down a DB node's complete my.cnf, prepares its directories, initializes
# an empty datadir and starts the server.
# DB_FLAVOR (percona84|percona80|mysql|mariadb1011), MYCNF_PATH (where the file goes: /etc/my.cnf on Rocky,
# /etc/mysql/my.cnf on Ubuntu, where it replaces the alternatives symlink; the link target is
# kept as MYCNF_PATH.pandora-ha.orig), MYCNF_B64 (the complete file, base64), DATADIR, BINLOG_DIR
# (empty: binary logs stay in the datadir; else that directory, owned by mysql and labelled
# mysqld_db_t under SELinux). The datadir, socket, pid-file and log-error directories are read
# from the rendered file. An uninitialized datadir (no mysql/ inside) is initialized: Percona
# `mysqld --initialize-insecure` (root@localhost without password until db-bootstrap sets one),
# MariaDB `mariadb-install-db`. Then the server is started (and enabled at boot) when stopped
# (it must answer within 60 s). A changed my.cnf never restarts a server in service (one that
# was bootstrapped: it may be the master, and every node's configure step runs at once): it
# leaves a restart pending ($PHA_STATE_DIR/restart-pending) for server-rolling-restart.sh, which
# restarts the nodes one at a time, the master last after a switchover. Nothing here ever makes
# a node writable: every node starts read-only. A server not yet in service (never
# bootstrapped, e.g. started by its package) is restarted at once with the new file.
# Idempotent: same file, server running → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env DB_FLAVOR MYCNF_PATH MYCNF_B64 DATADIR
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
require_abs_path MYCNF_PATH
require_abs_path DATADIR
BINLOG_DIR="${BINLOG_DIR:-}"
[[ -z "$BINLOG_DIR" ]] || require_abs_path BINLOG_DIR

pha_tmp_init
# Decode and sanity-check the file before anything changes.
NEW_CNF=$(pha_mktemp)
b64d <<<"$MYCNF_B64" >"$NEW_CNF" 2>/dev/null || die "MYCNF_B64 is not valid base64"
grep -q '^\[mysqld\]' "$NEW_CNF" || die "MYCNF_B64 does not hold a my.cnf with a [mysqld] section"
CNF_DATADIR=$(cnf_value "$NEW_CNF" datadir)
[[ -z "$CNF_DATADIR" || "$CNF_DATADIR" == "$DATADIR" ]] ||
  die "DATADIR ($DATADIR) differs from the datadir in MYCNF_B64 ($CNF_DATADIR)"
id mysql >/dev/null 2>&1 || die "there is no mysql user on this host: run db-install.sh first"

# --- my.cnf
mkdir -p "$(dirname "$MYCNF_PATH")"
CNF_CHANGED=0
if install_file_if_changed "$MYCNF_PATH" 0644 root:root <"$NEW_CNF"; then
  CNF_CHANGED=1
  changed "$MYCNF_PATH"
else
  unchanged "$MYCNF_PATH"
fi
db_use_cnf "$MYCNF_PATH"

# --- directories the server writes to
if ensure_dir "$DATADIR" 0750 mysql:mysql; then changed "datadir $DATADIR (mysql:mysql 0750)"; fi
for key in socket pid-file; do
  f=$(cnf_value "$MYCNF_PATH" "$key")
  [[ -n "$f" ]] || continue
  d=$(dirname "$f")
  # Only the server's own run directory is chown'ed; a shared parent (/tmp, /var/lib) is not.
  case "$d" in
    "$DATADIR") ;; # Rocky keeps the socket in the datadir, handled above
    /run/mysqld | /var/run/mysqld)
      if ensure_dir "$d" 0755 mysql:mysql; then changed "$d"; fi
      ;;
    *) [[ -d "$d" ]] || { mkdir -p "$d" && chown mysql:mysql "$d" && changed "$d"; } ;;
  esac
done
LOG_ERROR=$(cnf_value "$MYCNF_PATH" log-error)
if [[ -n "$LOG_ERROR" ]]; then
  d=$(dirname "$LOG_ERROR")
  if [[ ! -d "$d" ]]; then
    mkdir -p "$d" && chown mysql:mysql "$d"
    changed "$d"
  fi
  # The file itself (e.g. /var/log/mysqld.log directly in /var/log) must be the server's.
  if [[ ! -e "$LOG_ERROR" ]]; then
    install -m 0640 -o mysql -g mysql /dev/null "$LOG_ERROR"
    changed "$LOG_ERROR"
  fi
fi

if [[ -n "$BINLOG_DIR" ]]; then
  if ensure_dir "$BINLOG_DIR" 0750 mysql:mysql; then changed "binlog directory $BINLOG_DIR (mysql:mysql 0750)"; fi
  if selinux_enforcing; then
    if ! semanage fcontext -l -C 2>/dev/null | grep -qF "$BINLOG_DIR(/.*)?"; then
      semanage fcontext -a -t mysqld_db_t "$BINLOG_DIR(/.*)?" || die "semanage fcontext for $BINLOG_DIR failed"
      changed "SELinux label mysqld_db_t for $BINLOG_DIR"
    fi
    restorecon -R "$BINLOG_DIR"
  fi
fi
restore_context "$DATADIR"

# --- initialize an empty datadir
if [[ ! -d "$DATADIR/mysql" ]]; then
  if [[ -n "$(find "$DATADIR" -mindepth 1 -maxdepth 1 ! -name lost+found -print -quit)" ]]; then
    die "$DATADIR is not empty but holds no initialized server (no mysql/ inside); move its content away first"
  fi
  log "initializing $DATADIR"
  if mysql_family "$DB_FLAVOR"; then
    # read_only options are for serving, not for creating the system tables.
    mysqld --defaults-file="$MYCNF_PATH" --initialize-insecure --user=mysql \
      --read-only=OFF --super-read-only=OFF || db_fail_with_log "$MYCNF_PATH" "mysqld --initialize-insecure failed"
  else
    installer=$(command -v mariadb-install-db || command -v mysql_install_db) || die "mariadb-install-db is not installed"
    "$installer" --defaults-file="$MYCNF_PATH" --user=mysql --skip-test-db >/dev/null ||
      db_fail_with_log "$MYCNF_PATH" "mariadb-install-db failed"
  fi
  changed "initialized $DATADIR"
fi

# --- run it
if db_ping; then
  if [[ "$CNF_CHANGED" == 1 && ! -r /root/.my.cnf ]]; then
    # Never bootstrapped (no root credentials yet): a server the package started, no role to
    # keep, nobody relies on it. It restarts here, with the new file.
    log "my.cnf changed on a server not yet in service: restarting it"
    db_stop "$DB_FLAVOR" "$MYCNF_PATH"
    db_start "$DB_FLAVOR" "$MYCNF_PATH" || db_fail_with_log "$MYCNF_PATH" "the database server did not start"
    wait_db_ping 60 || db_fail_with_log "$MYCNF_PATH" "the database server did not answer within 60 s after the restart"
    rm -f "$PHA_RESTART_MARKER"
    changed "restarted the database server (not yet in service)"
  elif [[ "$CNF_CHANGED" == 1 ]]; then
    # A node in service is never restarted here: it may be the master, and every node's
    # configure step runs at once. The restart is left to servers/<s>/rolling-restart
    # (server-rolling-restart.sh): one node at a time, the replicas first, the master last
    # after a planned switchover through pandora_ha, so it restarts as a replica.
    mkdir -p "$PHA_STATE_DIR" || die "cannot create $PHA_STATE_DIR"
    date +%s >"$PHA_RESTART_MARKER" || die "cannot write $PHA_RESTART_MARKER"
    changed "restart pending: the running server started with the previous my.cnf (the rolling restart takes the nodes one at a time)"
  elif [[ -f "$PHA_RESTART_MARKER" ]]; then
    unchanged "database server running; restart still pending since $(date -u -d "@$(head -n 1 "$PHA_RESTART_MARKER" | tr -dc 0-9)" +%FT%TZ 2>/dev/null || echo '?')"
  else
    unchanged "database server running"
  fi
else
  db_start "$DB_FLAVOR" "$MYCNF_PATH" || db_fail_with_log "$MYCNF_PATH" "the database server did not start"
  wait_db_ping 60 || db_fail_with_log "$MYCNF_PATH" "the database server did not answer within 60 s"
  rm -f "$PHA_RESTART_MARKER"
  changed "started the database server"
fi
