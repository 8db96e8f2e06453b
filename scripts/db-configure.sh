#!/usr/bin/env bash
# db-configure.sh — lays down a DB node's complete my.cnf, prepares its directories, initializes
# an empty datadir and starts the server.
# DB_FLAVOR (percona80|mariadb1011), MYCNF_PATH (where the file goes: /etc/my.cnf on Rocky,
# /etc/mysql/my.cnf on Ubuntu, where it replaces the alternatives symlink; the link target is
# kept as MYCNF_PATH.pandora-ha.orig), MYCNF_B64 (the complete file, base64), DATADIR, BINLOG_DIR
# (empty: binary logs stay in the datadir; else that directory, owned by mysql and labelled
# mysqld_db_t under SELinux). The datadir, socket, pid-file and log-error directories are read
# from the rendered file. An uninitialized datadir (no mysql/ inside) is initialized: Percona
# `mysqld --initialize-insecure` (root@localhost without password until db-bootstrap sets one),
# MariaDB `mariadb-install-db`. Then the server is started (and enabled at boot) when stopped,
# restarted when my.cnf changed (a writable master is made writable again: a configuration
# change never moves the master role), left alone otherwise; it must answer within 60 s.
# Idempotent: same file, server running → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env DB_FLAVOR MYCNF_PATH MYCNF_B64 DATADIR
require_one_of DB_FLAVOR percona80 mariadb1011
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
  if [[ "$DB_FLAVOR" == percona80 ]]; then
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
  if [[ "$CNF_CHANGED" == 1 ]]; then
    # my.cnf starts every node read-only. A restart for a configuration change must not
    # change the node's role: the acting master (whichever node pandora_ha made it) is made
    # writable again right after the restart. Without root's credentials (before the first
    # db-bootstrap) the node has never been made writable, so there is nothing to restore.
    WAS_WRITABLE=0
    if [[ -r /root/.my.cnf ]] && [[ "$(mysql_root -e 'SELECT @@global.read_only' 2>/dev/null)" == 0 ]]; then
      WAS_WRITABLE=1
    fi
    log "my.cnf changed: restarting the server"
    db_stop "$DB_FLAVOR" "$MYCNF_PATH"
    db_start "$DB_FLAVOR" "$MYCNF_PATH" || db_fail_with_log "$MYCNF_PATH" "the database server did not start"
    wait_db_ping 60 || db_fail_with_log "$MYCNF_PATH" "the database server did not answer within 60 s after the restart"
    changed "restarted the database server"
    if ((WAS_WRITABLE)); then
      if [[ "$DB_FLAVOR" == percona80 ]]; then
        mysql_root -e 'SET GLOBAL super_read_only=OFF; SET GLOBAL read_only=OFF' || die "cannot make the master writable again after the restart"
      else
        mysql_root -e 'SET GLOBAL read_only=OFF' || die "cannot make the master writable again after the restart"
      fi
      changed "read_only=OFF again: this node was the writable master before the restart"
    fi
  else
    unchanged "database server running"
  fi
else
  db_start "$DB_FLAVOR" "$MYCNF_PATH" || db_fail_with_log "$MYCNF_PATH" "the database server did not start"
  wait_db_ping 60 || db_fail_with_log "$MYCNF_PATH" "the database server did not answer within 60 s"
  changed "started the database server"
fi
