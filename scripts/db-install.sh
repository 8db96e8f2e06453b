#!/usr/bin/env bash
# db-install.sh — installs the database server and its hot-backup tool on a DB node.
# DB_FLAVOR=percona84 (the default) / percona80: Percona's percona-release, the ps-84-lts / ps80
# repository, percona-server-server and percona-xtrabackup-84 / -80 (the manual's procedure,
# with dnf on Rocky and apt on Ubuntu).
# DB_FLAVOR=mysql: the operating system's own MySQL server packages (mysql-server; 8.0.30 or
# later, checked: Ubuntu 24.04's 8.0, Rocky's, Debian sid's 9.7), seeded by the clone plugin
# (no xtrabackup there).
# DB_FLAVOR=mariadb1011: MariaDB 10.11 with mariadb-backup — from the distribution on Debian 12
# and Ubuntu 24.04, from MariaDB's own 10.11 repository elsewhere (Ubuntu 22.04, Rocky).
# Also rsync, zstd (compresses the seeding stream), the OpenSSH client and, on Rocky, semanage
# (policycoreutils-python-utils).
# It does not start the server (a package may; configuration happens in db-configure.sh).
# Idempotent: what is installed already is skipped; an installed MariaDB that is not 10.11 is
# refused rather than upgraded or downgraded behind the operator's back.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env DB_FLAVOR
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011

pha_tmp_init
FAMILY=$(os_family)
OS_ID=$(os_release_field ID)
OS_VERSION=$(os_release_field VERSION_ID)
MARIADB_KEY_URL="https://supplychain.mariadb.com/MariaDB-Server-GPG-KEY"

# install_percona REPO FILE XTRABACKUP: REPO is percona-release's name (ps-84-lts, ps80), FILE
# the stem of the repository file it writes (percona-FILE-release.repo/.list: ps-80 for ps80).
install_percona() {
  local repo=$1 file=$2 xtrabackup=$3
  # Before any repository changes: a server of the other series stays as it is.
  if command -v mysqld >/dev/null 2>&1; then check_mysql_series "$repo"; fi
  if [[ "$FAMILY" == rhel ]]; then
    if ! pkg_installed percona-release; then
      dnf install -y https://repo.percona.com/yum/percona-release-latest.noarch.rpm || die "installing percona-release failed"
      changed "installed percona-release"
    fi
    if ! compgen -G "/etc/yum.repos.d/percona-$file-release.repo" >/dev/null; then
      percona-release setup -y "$repo" || die "percona-release setup $repo failed"
      changed "enabled the Percona $repo repository"
    fi
  else
    if ! pkg_installed percona-release; then
      local deb
      pkg_install gnupg2 lsb-release curl ca-certificates
      deb="$PHA_TMP/percona-release_latest.generic_all.deb"
      fetch https://repo.percona.com/apt/percona-release_latest.generic_all.deb "$deb"
      pkg_install_files "$deb"
      changed "installed percona-release"
    fi
    if ! compgen -G "/etc/apt/sources.list.d/percona-$file-release.list" >/dev/null; then
      percona-release setup "$repo" || die "percona-release setup $repo failed"
      PHA_APT_UPDATED=0 # the new repository needs a fresh package list
      changed "enabled the Percona $repo repository"
    fi
  fi
  pkg_install percona-server-server "$xtrabackup"
  check_mysql_series "$repo"
}

# check_mysql_series REPO: the installed server is the series the flavor names (an 8.0 server
# under percona84 — a stack that relied on the old default — is refused, not upgraded behind
# the operator's back).
check_mysql_series() {
  local version want=8.4
  [[ "$1" == ps80 ]] && want=8.0
  version=$(mysqld --version 2>/dev/null || true)
  [[ "$version" =~ Ver\ ([0-9]+\.[0-9]+)\. ]] || die "cannot tell the installed server's version (mysqld --version: ${version:-nothing})"
  [[ "${BASH_REMATCH[1]}" == "$want" ]] ||
    die "the installed server is ${BASH_REMATCH[1]} ($version), not the $want DB_FLAVOR=$DB_FLAVOR installs: set dbFlavor to match it (percona80 for 8.0), or upgrade it by hand first"
}

# The OS's MySQL: its version must speak CHANGE REPLICATION SOURCE, innodb_redo_log_capacity
# and the clone plugin (8.0.30 or later); another server already installed is refused.
install_os_mysql() {
  local version
  if command -v mariadbd >/dev/null 2>&1; then
    die "MariaDB is installed here ($(mariadbd --version 2>/dev/null)); installing MySQL would replace it: remove it first, or use DB_FLAVOR=mariadb1011"
  fi
  if [[ "$FAMILY" == rhel ]]; then pkg_install mysql-server; else pkg_install mysql-server mysql-client; fi
  version=$(mysqld --version 2>/dev/null || true)
  [[ "$version" != *MariaDB* ]] || die "the installed server is MariaDB ($version), not MySQL: use DB_FLAVOR=mariadb1011"
  [[ "$version" =~ Ver\ ([0-9]+)\.([0-9]+)\.([0-9]+) ]] || die "cannot tell the installed MySQL server's version (mysqld --version: ${version:-nothing})"
  local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[3]}
  ((major > 8 || (major == 8 && (minor > 0 || patch >= 30)))) ||
    die "the installed MySQL server is $major.$minor.$patch; DB_FLAVOR=mysql needs 8.0.30 or later ($version)"
}

# MariaDB 10.11 is the distribution's own on Debian 12 and Ubuntu 24.04.
mariadb_from_distro() {
  [[ "$OS_ID" == debian && "$OS_VERSION" == 12 ]] || [[ "$OS_ID" == ubuntu && "$OS_VERSION" == 24.04 ]]
}

add_mariadb_repo() {
  local content
  if [[ "$FAMILY" == rhel ]]; then
    content=$(printf '%s\n' \
      "# MariaDB 10.11 (official repository). Managed by pandora-ha." \
      "[mariadb]" \
      "name = MariaDB 10.11" \
      "baseurl = https://rpm.mariadb.org/10.11/rhel/\$releasever/\$basearch" \
      "gpgkey = $MARIADB_KEY_URL" \
      "gpgcheck = 1" \
      "enabled = 1" \
      "module_hotfixes = 1")
    if install_file_if_changed /etc/yum.repos.d/mariadb.repo 0644 root:root <<<"$content"; then
      changed "MariaDB 10.11 repository in /etc/yum.repos.d/mariadb.repo"
    fi
  else
    local keyring=/etc/apt/keyrings/mariadb-keyring.gpg arch codename armored
    pkg_install gnupg curl ca-certificates
    mkdir -p /etc/apt/keyrings
    if [[ ! -s "$keyring" ]]; then
      armored="$PHA_TMP/mariadb.asc"
      fetch "$MARIADB_KEY_URL" "$armored"
      gpg --dearmor <"$armored" | install_file_if_changed "$keyring" 0644 root:root || true
      changed "MariaDB signing key in $keyring"
    fi
    arch=$(dpkg --print-architecture)
    codename=$(os_release_field VERSION_CODENAME)
    [[ -n "$codename" ]] || die "cannot tell the release code name from $PHA_OS_RELEASE"
    content="deb [arch=$arch signed-by=$keyring] https://deb.mariadb.org/10.11/$OS_ID $codename main"
    if install_file_if_changed /etc/apt/sources.list.d/mariadb.list 0644 root:root <<<"$content"; then
      PHA_APT_UPDATED=0
      changed "MariaDB 10.11 repository in /etc/apt/sources.list.d/mariadb.list"
    fi
  fi
}

# Refuses an installed server of another major version: replacing it is the operator's call.
check_mariadb_version() {
  local bin version
  bin=$(command -v mariadbd || command -v mysqld || true)
  [[ -n "$bin" ]] || return 0
  version=$("$bin" --version 2>/dev/null || true)
  [[ "$version" == *"10.11."* ]] ||
    die "an installed database server is not MariaDB 10.11 ($version); remove or upgrade it first"
}

install_mariadb() {
  if [[ "$FAMILY" == debian ]]; then
    if ! mariadb_from_distro; then add_mariadb_repo; fi
    if pkg_installed mariadb-server; then check_mariadb_version; fi
    pkg_install mariadb-server mariadb-client mariadb-backup
  else
    add_mariadb_repo
    if pkg_installed MariaDB-server || pkg_installed mariadb-server; then check_mariadb_version; fi
    pkg_install MariaDB-server MariaDB-client MariaDB-backup
  fi
  check_mariadb_version
}

case "$DB_FLAVOR" in
  percona84) install_percona ps-84-lts ps-84-lts percona-xtrabackup-84 ;;
  percona80) install_percona ps80 ps-80 percona-xtrabackup-80 ;;
  mysql) install_os_mysql ;;
  *) install_mariadb ;;
esac

if [[ "$FAMILY" == rhel ]]; then
  pkg_install rsync zstd openssh-clients policycoreutils-python-utils
else
  pkg_install rsync zstd openssh-client
fi
