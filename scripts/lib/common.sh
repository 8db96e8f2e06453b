#!/usr/bin/env bash
# Shared helpers for the pandora-ha host scripts. The plan inlines this file in front of every
# script; a script run from a checkout sources it. Loading it has no side effect (nothing is
# written, nothing is checked), so a script can validate its parameters before touching anything.
#
# Conventions: log() and the changed/unchanged lines go to stdout, warn() and die() to stderr,
# every line prefixed with "[pandora-ha <step>]". Helpers used inside `if` (where `set -e` does
# not apply) guard every command that changes something with `|| die`.
# shellcheck shell=bash

# shellcheck disable=SC2034 # read by every script to know this file is already inlined
PHA_COMMON_LOADED=1
PHA_STEP="${PHA_STEP:-$(basename "$0" .sh)}"
# Where helpers keep their small state (the list of files pandora-ha wrote).
PHA_STATE_DIR="${PHA_STATE_DIR:-/var/lib/pandora-ha}"
PHA_OS_RELEASE="${PHA_OS_RELEASE:-/etc/os-release}"
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

# ------------------------------------------------------------------------------------------
# Output

log() { printf '[pandora-ha %s] %s\n' "$PHA_STEP" "$*"; }
warn() { printf '[pandora-ha %s] WARNING: %s\n' "$PHA_STEP" "$*" >&2; }
die() {
  printf '[pandora-ha %s] ERROR: %s\n' "$PHA_STEP" "$*" >&2
  exit 1
}
changed() { log "changed: $*"; }
unchanged() { log "unchanged: $*"; }

# ------------------------------------------------------------------------------------------
# Parameters

# require_env VAR...: every VAR is set and non-empty.
require_env() {
  local v
  for v in "$@"; do
    [[ -n "${!v:-}" ]] || die "required environment variable $v is missing or empty"
  done
}

# require_one_of VAR ALLOWED...: VAR holds one of ALLOWED.
require_one_of() {
  local v=$1 a
  shift
  for a in "$@"; do
    [[ "${!v:-}" == "$a" ]] && return 0
  done
  die "$v must be one of: $* (got '${!v:-}')"
}

# require_match VAR REGEX WHAT: VAR matches the extended REGEX.
require_match() {
  local v=$1 re=$2 what=$3
  [[ "${!v:-}" =~ $re ]] || die "$v must be $what (got '${!v:-}')"
}

require_port() { require_match "$1" '^[0-9]{1,5}$' "a TCP port number"; ((10#${!1} >= 1 && 10#${!1} <= 65535)) || die "$1 must be a TCP port number from 1 to 65535 (got '${!1}')"; }
# An absolute path without whitespace or shell/fstab-hostile characters; never "/".
require_abs_path() { require_match "$1" '^/[A-Za-z0-9._/@+-]*[A-Za-z0-9._@+-]$' "an absolute path (not /, no spaces)"; }
# A host name or IPv4/IPv6 address.
PHA_HOST_RE='^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$'
require_host() { require_match "$1" "$PHA_HOST_RE" "a host name or IP address"; }
# require_host_list VAR: VAR holds host names or addresses separated by spaces (may be empty).
require_host_list() {
  local h hosts
  read -r -a hosts <<<"${!1:-}"
  for h in "${hosts[@]}"; do
    [[ "$h" =~ $PHA_HOST_RE ]] || die "$1 must be host names or addresses separated by spaces (got '$h')"
  done
}
# A MySQL identifier we are willing to put between backticks or quotes.
require_sql_ident() { require_match "$1" '^[A-Za-z_][A-Za-z0-9_]{0,31}$' "an SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at most 32 characters)"; }

# ------------------------------------------------------------------------------------------
# Temporary files: one private directory per run, removed on exit.

PHA_TMP=""
# pha_tmp_init: creates the directory. Call it in the script's main shell (not inside $(...)
# or a pipeline) before the first pha_mktemp, so that the EXIT trap belongs to the script.
pha_tmp_init() {
  [[ -n "$PHA_TMP" ]] && return 0
  ((BASH_SUBSHELL == 0)) || die "internal error: pha_tmp_init was first called in a subshell"
  PHA_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pandora-ha.XXXXXX") || die "cannot create a temporary directory"
  chmod 0700 "$PHA_TMP"
  trap 'rm -rf -- "$PHA_TMP"' EXIT
}

# pha_mktemp: prints the name of a new empty 0600 file in the private directory.
pha_mktemp() {
  pha_tmp_init
  mktemp "$PHA_TMP/f.XXXXXX" || die "cannot create a temporary file"
}

b64d() { base64 -d; }

# sh_quote STRING: STRING as one POSIX shell word (single quotes), e.g. for a remote command.
sh_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# ------------------------------------------------------------------------------------------
# OS

os_release_field() {
  local key=$1
  [[ -r "$PHA_OS_RELEASE" ]] || die "cannot read $PHA_OS_RELEASE"
  (
    # shellcheck disable=SC1090
    . "$PHA_OS_RELEASE"
    printf '%s\n' "${!key:-}"
  )
}

# os_family: rhel (Rocky, RHEL, Alma, CentOS; dnf) or debian (Debian, Ubuntu; apt).
os_family() {
  local id like
  id=$(os_release_field ID)
  like=$(os_release_field ID_LIKE)
  case " $id $like " in
    *" rhel "* | *" rocky "* | *" centos "* | *" fedora "* | *" almalinux "*) echo rhel ;;
    *" debian "* | *" ubuntu "*) echo debian ;;
    *) die "unsupported operating system '$id' (supported: Rocky 8/9, Ubuntu 22.04/24.04, Debian 12)" ;;
  esac
}

# PHA_SYSTEMD_DIR: tests point it elsewhere to take either path.
have_systemd() { [[ -d "${PHA_SYSTEMD_DIR:-/run/systemd/system}" ]]; }

selinux_enforcing() { command -v getenforce >/dev/null 2>&1 && [[ "$(getenforce 2>/dev/null)" == "Enforcing" ]]; }

# restore_context PATH...: reset SELinux labels when SELinux is on (no-op otherwise).
restore_context() {
  if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled && command -v restorecon >/dev/null 2>&1; then
    restorecon -R "$@" || warn "restorecon $* failed"
  fi
}

# ------------------------------------------------------------------------------------------
# Packages

pkg_installed() {
  if [[ "$(os_family)" == rhel ]]; then
    rpm -q --quiet "$1" 2>/dev/null
  else
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
  fi
}

PHA_APT_UPDATED=0
apt_get() {
  if [[ "$PHA_APT_UPDATED" == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed"
    PHA_APT_UPDATED=1
  fi
  # confold: never let a package replace a configuration file we wrote.
  DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

# pkg_install NAME...: installs the missing ones and says which (always returns 0; failures
# die). PHA_PKG_INSTALLED lists what this call installed.
PHA_PKG_INSTALLED=""
pkg_install() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  PHA_PKG_INSTALLED="${missing[*]}"
  if ((${#missing[@]} == 0)); then
    unchanged "packages already installed: $*"
    return 0
  fi
  log "installing ${missing[*]}"
  if [[ "$(os_family)" == rhel ]]; then
    dnf install -y "${missing[@]}" || die "dnf install ${missing[*]} failed"
  else
    apt_get install "${missing[@]}" || die "apt-get install ${missing[*]} failed"
  fi
  changed "installed ${missing[*]}"
  return 0
}

# pkg_install_files FILE...: installs local .rpm/.deb files (with their dependencies).
pkg_install_files() {
  if [[ "$(os_family)" == rhel ]]; then
    dnf install -y "$@" || die "dnf install $* failed"
  else
    local f args=()
    for f in "$@"; do
      [[ "$f" == /* ]] && args+=("$f") || args+=("./$f")
    done
    apt_get install "${args[@]}" || die "apt-get install $* failed"
  fi
}

# fetch URL DEST: download over HTTPS (curl), failing on HTTP errors.
fetch() {
  command -v curl >/dev/null 2>&1 || pkg_install curl ca-certificates
  curl -fsSL --retry 3 -o "$2" "$1" || die "download of $1 failed"
}

# ------------------------------------------------------------------------------------------
# Services: systemd, else `service`, else /etc/init.d. Returns 3 when no manager knows NAME.

svc_known() {
  if have_systemd; then
    systemctl cat "$1.service" >/dev/null 2>&1
  else
    [[ -x "/etc/init.d/$1" ]]
  fi
}

# svc_action NAME start|stop|restart|reload|enable|is-active
svc_action() {
  local name=$1 action=$2
  if have_systemd; then
    case "$action" in
      is-active) systemctl is-active --quiet "$name" ;;
      reload) systemctl try-reload-or-restart "$name" ;;
      *) systemctl "$action" "$name" ;;
    esac
    return
  fi
  [[ -x "/etc/init.d/$name" ]] || return 3
  case "$action" in
    enable)
      if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d "$name" defaults >/dev/null
      elif command -v chkconfig >/dev/null 2>&1; then
        chkconfig "$name" on
      fi
      ;;
    is-active) svc_run "$name" status >/dev/null 2>&1 ;;
    *) svc_run "$name" "$action" ;;
  esac
}

# svc_run NAME ACTION: the init script's output goes through a file, so that a daemon it
# starts cannot inherit (and hold open) our stdout/stderr, which would hang the caller.
svc_run() {
  local out rc=0
  out=$(mktemp "${TMPDIR:-/tmp}/pandora-ha-svc.XXXXXX") || die "cannot create a temporary file"
  if command -v service >/dev/null 2>&1; then
    service "$1" "$2" </dev/null >"$out" 2>&1 || rc=$?
  else
    "/etc/init.d/$1" "$2" </dev/null >"$out" 2>&1 || rc=$?
  fi
  cat "$out"
  rm -f -- "$out"
  return $rc
}

# ------------------------------------------------------------------------------------------
# Files

# Paths pandora-ha wrote itself: their previous content is ours, no backup is taken again.
pha_is_managed() { [[ -f "$PHA_STATE_DIR/managed-files" ]] && grep -qxF -- "$1" "$PHA_STATE_DIR/managed-files"; }
pha_mark_managed() {
  pha_is_managed "$1" && return 0
  mkdir -p "$PHA_STATE_DIR" || die "cannot create $PHA_STATE_DIR"
  printf '%s\n' "$1" >>"$PHA_STATE_DIR/managed-files" || die "cannot write $PHA_STATE_DIR/managed-files"
}

# install_file_if_changed DEST MODE OWNER:GROUP < content
# Atomic (temporary file in the same directory, then mv). MODE or OWNER empty: keep the
# existing file's (0644 root:root for a new file). A symlink DEST is replaced by a file. The
# first time it replaces a file it did not write, it keeps a copy as DEST.pandora-ha.orig.
# Returns 0 when DEST changed (content, mode or owner), 1 when it was already right.
install_file_if_changed() {
  local dest=$1 mode=$2 owner=$3 dir tmp
  dir=$(dirname -- "$dest")
  [[ -d "$dir" ]] || die "directory $dir does not exist (for $dest)"
  if [[ -z "$mode" ]]; then mode=$( { [[ -e "$dest" ]] && stat -c %a -- "$dest"; } || echo 644); fi
  if [[ -z "$owner" ]]; then owner=$( { [[ -e "$dest" ]] && stat -c %u:%g -- "$dest"; } || echo 0:0); fi
  # mktemp makes the file 0600 before any byte of a secret is written into it.
  tmp=$(mktemp "$dir/.$(basename -- "$dest").pandora-ha.XXXXXX") || die "cannot create a temporary file in $dir"
  cat >"$tmp" || { rm -f -- "$tmp"; die "cannot write $tmp"; }
  chown "$owner" "$tmp" || { rm -f -- "$tmp"; die "cannot chown $owner $tmp"; }
  chmod "$mode" "$tmp" || { rm -f -- "$tmp"; die "cannot chmod $mode $tmp"; }

  if [[ -f "$dest" && ! -L "$dest" ]] && cmp -s -- "$tmp" "$dest"; then
    rm -f -- "$tmp"
    [[ "$(stat -c %a -- "$dest")" == "$(mode_norm "$mode")" && "$(stat -c %u:%g -- "$dest")" == "$(owner_ids "$owner")" ]] && return 1
    chown "$owner" -- "$dest" || die "cannot chown $dest"
    chmod "$mode" -- "$dest" || die "cannot chmod $dest"
    return 0
  fi

  if [[ -e "$dest" || -L "$dest" ]] && ! pha_is_managed "$dest" && [[ ! -e "$dest.pandora-ha.orig" ]]; then
    # -L: for a symlink keep the content it pointed to; -p: a secret keeps its mode.
    cp -pL -- "$dest" "$dest.pandora-ha.orig" 2>/dev/null || cp -pP -- "$dest" "$dest.pandora-ha.orig" ||
      { rm -f -- "$tmp"; die "cannot back up $dest"; }
    log "kept the previous $dest as $dest.pandora-ha.orig"
  fi
  mv -f -- "$tmp" "$dest" || { rm -f -- "$tmp"; die "cannot replace $dest"; }
  pha_mark_managed "$dest"
  restore_context "$dest"
  return 0
}

# owner_ids USER:GROUP|UID:GID -> UID:GID (as stat -c %u:%g prints it).
owner_ids() {
  local u=${1%%:*} g=${1#*:}
  [[ "$u" =~ ^[0-9]+$ ]] || u=$(id -u -- "$u" 2>/dev/null) || die "no such user: ${1%%:*}"
  [[ "$g" =~ ^[0-9]+$ ]] || g=$(getent group "$g" | cut -d: -f3)
  [[ -n "$g" ]] || die "no such group: ${1#*:}"
  printf '%s:%s\n' "$u" "$g"
}

# mode_norm MODE -> octal without leading zeros (as stat -c %a prints it).
mode_norm() { printf '%o\n' "$((8#$1))"; }

# ensure_dir PATH MODE OWNER:GROUP: creates PATH, or fixes its mode/owner. Returns 0 if changed.
ensure_dir() {
  local d=$1 mode=$2 owner=$3 rc=1
  if [[ ! -d "$d" ]]; then
    mkdir -p -- "$d" || die "cannot create $d"
    rc=0
  fi
  if [[ "$(stat -c %u:%g -- "$d")" != "$(owner_ids "$owner")" ]]; then
    chown "$owner" -- "$d" || die "cannot chown $owner $d"
    rc=0
  fi
  if [[ "$(stat -c %a -- "$d")" != "$(mode_norm "$mode")" ]]; then
    chmod "$mode" -- "$d" || die "cannot chmod $mode $d"
    rc=0
  fi
  return $rc
}

# move_aside PATH: renames PATH to PATH.pandora-ha.<timestamp> (never deletes); prints the new name.
move_aside() {
  local src=$1 dst
  dst="$src.pandora-ha.$(date +%Y%m%d-%H%M%S)"
  [[ -e "$dst" ]] && dst="$dst.$$"
  mv -- "$src" "$dst" || die "cannot move $src aside to $dst"
  printf '%s\n' "$dst"
}

# fstab_ensure SPEC MOUNTPOINT FSTYPE OPTIONS: one fstab line for MOUNTPOINT. A line for the
# same mount point with another SPEC is refused (we never repoint a mount silently); other
# differences (type, options) are updated. Returns 0 if /etc/fstab changed.
PHA_FSTAB="${PHA_FSTAB:-/etc/fstab}"
fstab_ensure() {
  local spec=$1 mnt=$2 type=$3 opts=$4 want cur_spec new
  want="$spec $mnt $type $opts 0 0"
  cur_spec=$(awk -v m="$mnt" '$1 !~ /^#/ && $2 == m { print $1; exit }' "$PHA_FSTAB" 2>/dev/null || true)
  if [[ -n "$cur_spec" && "$cur_spec" != "$spec" ]]; then
    die "$PHA_FSTAB already mounts $cur_spec on $mnt (expected $spec); fix or remove that line first"
  fi
  if grep -qxF -- "$want" "$PHA_FSTAB" 2>/dev/null; then
    return 1
  fi
  new=$(pha_mktemp)
  {
    [[ -f "$PHA_FSTAB" ]] && awk -v m="$mnt" '!($1 !~ /^#/ && $2 == m)' "$PHA_FSTAB"
    printf '%s\n' "$want"
  } >"$new" || die "cannot prepare $PHA_FSTAB"
  install_file_if_changed "$PHA_FSTAB" "" "" <"$new" || true
  return 0
}

# ------------------------------------------------------------------------------------------
# MySQL / MariaDB

# mysql_family FLAVOR: Percona Server 8.4 / 8.0 or the OS's MySQL (not MariaDB).
mysql_family() { [[ "$1" == percona84 || "$1" == percona80 || "$1" == mysql ]]; }

db_service_name() {
  case "$1" in
    percona84 | percona80 | mysql) if [[ "$(os_family)" == rhel ]]; then echo mysqld; else echo mysql; fi ;;
    mariadb1011) echo mariadb ;;
    *) die "unknown DB flavor '$1'" ;;
  esac
}

db_client_bin() { command -v mariadb 2>/dev/null || command -v mysql 2>/dev/null || die "no mysql/mariadb client installed"; }

# db_client_key_opts: MySQL's own client asks for the server's RSA key only when told
# (caching_sha2_password without TLS fails otherwise); MariaDB's client does it by itself and
# knows no such option. Prints the option, or nothing.
db_client_key_opts() {
  # Not grep -q: an early exit would break the client's pipe (pipefail).
  if "$(db_client_bin)" --help 2>/dev/null | grep -- '--get-server-public-key' >/dev/null; then echo --get-server-public-key; fi
  return 0
}

db_admin_bin() { command -v mariadb-admin 2>/dev/null || command -v mysqladmin 2>/dev/null || die "no mysqladmin/mariadb-admin installed"; }

# Client options: PHA_MYSQL_DEFAULTS (a 0600 option file) replaces /root/.my.cnf, and then
# HOME points at the private temp dir so ~/.my.cnf cannot override it. PHA_DB_SOCKET, when
# set, names the server socket (otherwise the [client] section of the system my.cnf does).
db_client_run() {
  local bin=$1 home=${HOME:-/root}
  shift
  local opts=()
  if [[ -n "${PHA_MYSQL_DEFAULTS:-}" ]]; then
    opts+=("--defaults-extra-file=$PHA_MYSQL_DEFAULTS")
    pha_tmp_init
    home=$PHA_TMP
  elif [[ -r /root/.my.cnf ]]; then
    opts+=("--defaults-extra-file=/root/.my.cnf")
  fi
  [[ -n "${PHA_DB_SOCKET:-}" ]] && opts+=("--socket=$PHA_DB_SOCKET")
  HOME=$home "$bin" "${opts[@]}" --connect-timeout=5 "$@"
}

# mysql_root ARGS...: the client as root@localhost, batch mode without column names.
# Put SQL holding secrets on stdin, never in ARGS.
# shellcheck disable=SC2120 # the scripts pass arguments
mysql_root() { db_client_run "$(db_client_bin)" -N -B "$@"; }

db_ping() { db_client_run "$(db_admin_bin)" --connect-timeout=1 ping >/dev/null 2>&1; }

# wait_db_ping SECONDS: waits until the server answers (an "access denied" answer counts).
wait_db_ping() {
  local deadline=$((SECONDS + $1))
  until db_ping; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.2
  done
}

# Option files carry passwords in double quotes, with \ and " escaped (MySQL option syntax).
cnf_quote() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# client_cnf USER [PASSWORD]: prints a [client] option file (the caller picks a 0600 file).
client_cnf() {
  printf '[client]\nuser=%s\n' "$1"
  if [[ $# -ge 2 ]]; then printf 'password=%s\n' "$(cnf_quote "$2")"; fi
}

# cnf_value FILE KEY: value of `KEY = value` in the [mysqld] section (last one wins), quotes
# and trailing comments removed; `-` and `_` are the same in option names.
cnf_value() {
  awk -v key="$2" '
    function norm(s) { gsub(/-/, "_", s); return s }
    /^[[:space:]]*\[/ { sect = $0; gsub(/[[:space:]\[\]]/, "", sect); next }
    sect != "mysqld" { next }
    {
      line = $0
      sub(/[[:space:]]+#.*$/, "", line)
      eq = index(line, "=")
      if (eq == 0) next
      k = substr(line, 1, eq - 1); v = substr(line, eq + 1)
      gsub(/^[[:space:]]+|[[:space:]]+$/, "", k); gsub(/^[[:space:]]+|[[:space:]]+$/, "", v)
      if (norm(k) == norm(key)) { gsub(/^"|"$/, "", v); val = v }
    }
    END { print val }
  ' "$1"
}

# sql_quote STRING: a single-quoted SQL string literal (backslashes and quotes escaped).
sql_quote() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\'/\'\'}
  printf "'%s'" "$s"
}

# remote_client CNF HOST PORT ARGS...: the client against HOST:PORT over TCP, as the account
# in the client option file CNF, giving up on connecting after 3 s.
remote_client() {
  local cnf=$1 host=$2 port=$3
  shift 3
  pha_tmp_init
  local key_opts=()
  mapfile -t key_opts < <(db_client_key_opts)
  HOME=$PHA_TMP "$(db_client_bin)" --defaults-extra-file="$cnf" --connect-timeout=3 "${key_opts[@]}" -h "$host" -P "$port" "$@"
}

# vertical_fields: the client's vertical output (-E) on stdin as "Field<TAB>value" lines.
vertical_fields() {
  awk '
    /^\*+ [0-9]+\. row \*+$/ { next }
    {
      i = index($0, ":"); if (i == 0) next
      k = substr($0, 1, i - 1); v = substr($0, i + 1)
      gsub(/^[[:space:]]+|[[:space:]]+$/, "", k); sub(/^ /, "", v)
      print k "\t" v
    }'
}

# replica_status: SHOW REPLICA STATUS as "Field<TAB>value" lines (nothing when not a replica).
replica_status() {
  local out
  # Vertical output with field names (not mysql_root: -N would drop the names).
  out=$(db_client_run "$(db_client_bin)" -E -e 'SHOW REPLICA STATUS') || die "cannot read SHOW REPLICA STATUS"
  vertical_fields <<<"$out"
}

# remote_replica_status CNF HOST PORT: SHOW REPLICA STATUS of HOST, over TCP as the account in
# CNF, as "Field<TAB>value" lines (nothing when it is not a replica); non-zero when it does not
# answer (the client's error on stderr, secrets masked).
remote_replica_status() {
  local out
  out=$(remote_client "$1" "$2" "$3" -E -e 'SHOW REPLICA STATUS' 2>&1) || { mask_secrets <<<"$out" | tail -n 1 >&2; return 1; }
  vertical_fields <<<"$out"
}

# replica_field STATUS NAME...: the first of NAME... present in STATUS (MySQL 8 and MariaDB
# spell the columns differently: Replica_IO_Running / Slave_IO_Running).
replica_field() {
  local status=$1 name
  shift
  for name in "$@"; do
    if grep -q "^$name"$'\t' <<<"$status"; then
      grep "^$name"$'\t' <<<"$status" | head -n 1 | cut -f 2-
      return 0
    fi
  done
  return 0
}

# threads_running STATUS: both replication threads run.
threads_running() {
  [[ "$(replica_field "$1" Replica_IO_Running Slave_IO_Running)" == Yes &&
    "$(replica_field "$1" Replica_SQL_Running Slave_SQL_Running)" == Yes ]]
}

# replication_summary STATUS: "source HOST, IO=Yes, SQL=Yes".
replication_summary() {
  printf 'source %s, IO=%s, SQL=%s' "$(replica_field "$1" Source_Host Master_Host)" \
    "$(replica_field "$1" Replica_IO_Running Slave_IO_Running)" "$(replica_field "$1" Replica_SQL_Running Slave_SQL_Running)"
}

# reset_binlogs_sql: the local server's statement that empties its binary logs and GTID
# history: RESET BINARY LOGS AND GTIDS from 8.4 on (RESET MASTER is gone there), RESET MASTER
# on MariaDB and MySQL 8.0.
reset_binlogs_sql() {
  local v
  v=$(mysql_root -e 'SELECT VERSION()') || die "cannot read the server's version"
  if [[ "$v" != *MariaDB* && "$v" =~ ^([0-9]+)\.([0-9]+)\. ]] && ((BASH_REMATCH[1] > 8 || (BASH_REMATCH[1] == 8 && BASH_REMATCH[2] >= 4))); then
    echo "RESET BINARY LOGS AND GTIDS"
  else
    echo "RESET MASTER"
  fi
}

# db_use_cnf MYCNF: lets the clients find the server (socket) named in that file.
db_use_cnf() {
  local sock
  sock=$(cnf_value "$1" socket)
  [[ -n "$sock" ]] && PHA_DB_SOCKET=$sock
  return 0
}

# clear_zombie_pid_file MYCNF: removes the server's pid file when it names a zombie (a killed
# server whose parent died too, not yet reaped by a slow init): mysqld_safe takes such a file
# for a running server and refuses to start.
clear_zombie_pid_file() {
  local pidfile pid
  pidfile=$(cnf_value "$1" pid-file)
  [[ -n "$pidfile" && -r "$pidfile" ]] || return 0
  # The file may go between the test and the read (a server stopping removes it).
  pid=$(tr -dc 0-9 2>/dev/null <"$pidfile") || return 0
  [[ -n "$pid" ]] || return 0
  if [[ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c 1)" == Z ]]; then
    rm -f "$pidfile"
    log "removed $pidfile: the server it names (pid $pid) is dead, a zombie"
  fi
  return 0
}

# pha_lock FILE WHAT: this run alone holds FILE (descriptor 9, released when the script ends), or
# it dies saying WHAT is running already; nothing changed.
pha_lock() {
  mkdir -p "$(dirname "$1")"
  exec 9>"$1"
  flock -n 9 || die "$2 is running already (lock $1): nothing changed"
}

# db_start FLAVOR MYCNF: starts the server and enables it at boot. Without a service manager
# that knows it, mysqld_safe/mariadbd-safe runs detached with the given option file.
db_start() {
  local svc safe
  svc=$(db_service_name "$1")
  if svc_known "$svc"; then
    svc_action "$svc" enable >/dev/null 2>&1 || warn "could not enable $svc at boot"
    # The server never inherits a step's lock (pha_lock's descriptor).
    svc_action "$svc" start 9>&- || return 1
  elif safe=$(command -v mariadbd-safe 2>/dev/null || command -v mysqld_safe 2>/dev/null); then
    log "no service manager for $svc: starting $(basename "$safe") --defaults-file=$2"
    clear_zombie_pid_file "$2"
    setsid "$safe" --defaults-file="$2" </dev/null >/dev/null 2>&1 9>&- &
  else
    safe=$(command -v mariadbd 2>/dev/null || command -v mysqld 2>/dev/null) ||
      die "no service manager knows $svc and no mysqld_safe/mysqld is installed"
    log "no service manager for $svc: starting $(basename "$safe") --defaults-file=$2"
    setsid "$safe" --defaults-file="$2" --user=mysql </dev/null >/dev/null 2>&1 9>&- &
  fi
  return 0
}

# db_kill_applier: kills a MySQL replica's applier (the multi-threaded coordinator). Told to
# stop in the middle of a transaction whose rest never arrives (a shutdown stops the receiver
# too), it waits 60 s for it (measured on 9.7: a resync's shutdown took 63 s); killed, it stops
# at once, the partial transaction rolled back and fetched again by GTID at the next start.
db_kill_applier() {
  local id
  for id in $(mysql_root -e "SELECT PROCESSLIST_ID FROM performance_schema.threads WHERE NAME IN ('thread/sql/replica_sql', 'thread/sql/slave_sql') AND PROCESSLIST_ID IS NOT NULL" 2>/dev/null); do
    if [[ "$id" =~ ^[0-9]+$ ]]; then mysql_root -e "KILL $id" >/dev/null 2>&1 || true; fi
  done
}

# db_stop FLAVOR MYCNF: stops the server and waits until it is gone (up to 300 s).
db_stop() {
  local svc pidfile pid deadline=$((SECONDS + 300))
  svc=$(db_service_name "$1")
  pidfile=$(cnf_value "$2" pid-file)
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if mysql_family "$1" && db_ping; then db_kill_applier; fi
  if svc_known "$svc" && svc_action "$svc" is-active; then
    svc_action "$svc" stop || die "could not stop $svc"
  else
    db_client_run "$(db_admin_bin)" shutdown || die "mysqladmin shutdown failed"
  fi
  while db_ping || { [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }; do
    ((SECONDS >= deadline)) && die "the database server did not stop within 300 s"
    sleep 0.2
  done
}

# db_fail_with_log MYCNF MESSAGE: dies with MESSAGE after showing the error log's tail.
db_fail_with_log() {
  local logf
  logf=$(cnf_value "$1" log-error)
  if [[ -n "$logf" && -r "$logf" ]]; then
    warn "last lines of $logf:"
    tail -n 25 "$logf" >&2 || true
  fi
  die "$2"
}

# ------------------------------------------------------------------------------------------
# Secrets in error output

# Names of the variables whose values must never be shown (set by each script).
PHA_SECRET_VARS=()

# mask_secrets: copies stdin to stdout with every secret value replaced by <secret>.
mask_secrets() {
  local text v
  text=$(cat)
  for v in "${PHA_SECRET_VARS[@]}"; do
    [[ -n "${!v:-}" ]] && text=${text//"${!v}"/<secret>}
  done
  printf '%s\n' "$text"
}

# sql_exec < SQL: runs SQL as root (output on stdout). On failure the client's error is shown
# with secrets masked (a server error may quote part of the statement); the status is non-zero.
sql_exec() {
  local err
  err=$(pha_mktemp)
  # shellcheck disable=SC2119 # the SQL is on stdin, no arguments
  if mysql_root 2>"$err"; then
    return 0
  fi
  mask_secrets <"$err" >&2
  return 1
}

# ------------------------------------------------------------------------------------------
# The cluster: who is the master, remote steps

# cluster_master CNF PORT DB_NAME HOST...: prints the current master among HOST..., as the
# cluster itself names it: the master of the highest promotion epoch (pandora_ha's row in
# DB_NAME.pandora_ha_epoch, replicated to every node) that a reachable HOST holds; before any
# epoch exists, the one writable HOST. CNF is a client option file (the HA admin). Returns 1,
# printing nothing, when there is none; dies when there is no epoch and several are writable.
cluster_master() {
  local cnf=$1 port=$2 db=$3 h ro row epoch named best=-1 master="" writable=()
  shift 3
  for h in "$@"; do
    ro=$(remote_client "$cnf" "$h" "$port" -N -B -e 'SELECT @@global.read_only' 2>/dev/null) || continue
    [[ "$ro" == 0 ]] && writable+=("$h")
    # No table yet (no daemon ever ran): no epoch on that node.
    row=$(remote_client "$cnf" "$h" "$port" -N -B -e "SELECT epoch, master FROM \`$db\`.pandora_ha_epoch ORDER BY epoch DESC LIMIT 1" 2>/dev/null) || row=""
    read -r epoch named <<<"$row" || true
    if [[ "${epoch:-}" =~ ^[0-9]+$ ]] && ((epoch > best)); then
      best=$epoch
      master=$named
    fi
  done
  if [[ -n "$master" ]]; then
    printf '%s\n' "$master"
    return 0
  fi
  ((${#writable[@]} > 0)) || return 1
  ((${#writable[@]} == 1)) || die "no promotion epoch yet and ${#writable[@]} nodes are writable (${writable[*]}): fix this by hand before anything else"
  printf '%s\n' "${writable[0]}"
}

# remote_script_cmd SUDO PARAM=VALUE...: the command line that runs, on another host over SSH,
# a script arriving on stdin with those parameters, as the plan's own steps run (a 0600
# temporary file, stdin from /dev/null, removed afterwards). SUDO is "" or "sudo -n ".
remote_script_cmd() {
  local cmd="${1}env" p
  shift
  for p in "$@"; do cmd+=" $(sh_quote "$p")"; done
  # shellcheck disable=SC2016 # expanded on the other host
  cmd+=" bash -c $(sh_quote 'f=$(mktemp /tmp/pandora-ha.XXXXXX) && cat >"$f" && { bash "$f" </dev/null; rc=$?; rm -f "$f"; exit $rc; }')"
  printf '%s\n' "$cmd"
}

# The restart a DB node owes: db-configure.sh writes its my.cnf but never restarts a server in
# service (a node that was bootstrapped); it leaves this marker (the time it was written) and
# server-rolling-restart.sh restarts the nodes one at a time, the master last after a switchover.
PHA_RESTART_MARKER="$PHA_STATE_DIR/restart-pending"

# restart_pending: true when the running server started before its my.cnf last changed. A
# marker older than the server's start (restarted since, by a seed, a reboot, by hand) goes.
restart_pending() {
  local since uptime now
  [[ -f "$PHA_RESTART_MARKER" ]] || return 1
  since=$(head -n 1 "$PHA_RESTART_MARKER" | tr -dc 0-9)
  uptime=$(mysql_root -e "SHOW GLOBAL STATUS LIKE 'Uptime'" | awk '{ print $2 }') || return 0
  now=$(date +%s)
  if [[ -n "$since" && "$uptime" =~ ^[0-9]+$ ]] && ((now - uptime > since)); then
    rm -f "$PHA_RESTART_MARKER"
    log "the server was restarted since its my.cnf changed: nothing pending"
    return 1
  fi
  return 0
}
