#!/usr/bin/env bash
# server-install.sh — makes sure a Pandora FMS server host has what the HA setup needs.
# PANDORA_PACKAGES: space-separated URLs (https://…) or absolute paths of the Pandora FMS server
# .rpm/.deb packages, installed only when /usr/bin/pandora_server is missing (may be empty when
# the server is installed already). DB_FLAVOR (percona84|percona80|mysql|mariadb1011): which database client
# to install when no mysql/mariadb client is present. NFS_CLIENT (0|1): nfs-utils / nfs-common
# for the shared data_in directories.
# Idempotent: what is installed already is skipped. Fails when no Pandora FMS server is installed
# and no package was given.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env DB_FLAVOR NFS_CLIENT
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
require_one_of NFS_CLIENT 0 1
PANDORA_PACKAGES="${PANDORA_PACKAGES:-}"
PANDORA_BIN=/usr/bin/pandora_server
pha_tmp_init
FAMILY=$(os_family)
read -r -a PACKAGES <<<"$PANDORA_PACKAGES"
ext=deb
[[ "$FAMILY" == rhel ]] && ext=rpm
for p in "${PACKAGES[@]}"; do
  [[ "$p" =~ ^(https?://[^[:space:]]+|/[^[:space:]]+)\.$ext$ ]] ||
    die "PANDORA_PACKAGES entry '$p' is not a URL or absolute path of a .$ext package (this host is $FAMILY)"
done

# --- the Pandora FMS server
if [[ -x "$PANDORA_BIN" ]]; then
  unchanged "Pandora FMS server installed ($PANDORA_BIN)"
elif ((${#PACKAGES[@]} > 0)); then
  files=()
  dl=$PHA_TMP
  for p in "${PACKAGES[@]}"; do
    if [[ "$p" == http* ]]; then
      f="$dl/$(basename "${p%%\?*}")"
      log "downloading $p"
      fetch "$p" "$f"
      files+=("$f")
    else
      [[ -f "$p" ]] || die "PANDORA_PACKAGES names $p, which does not exist on this host"
      files+=("$p")
    fi
  done
  if [[ "$FAMILY" == rhel ]]; then
    # The server's Perl dependencies come from EPEL and CRB/PowerTools (as in Pandora FMS's own
    # installer).
    pkg_install epel-release dnf-plugins-core
    dnf config-manager --set-enabled crb 2>/dev/null || dnf config-manager --set-enabled powertools 2>/dev/null ||
      warn "could not enable the crb/powertools repository; some dependencies may be missing"
  fi
  log "installing ${files[*]##*/}"
  pkg_install_files "${files[@]}"
  changed "installed the Pandora FMS server packages: ${files[*]##*/}"
fi
[[ -x "$PANDORA_BIN" ]] ||
  die "Pandora FMS server is not installed on this host; set pandora-ha:pandoraServerPackages"

# --- database client (any mysql/mariadb client will do; installing a second one conflicts)
if command -v mysql >/dev/null 2>&1 || command -v mariadb >/dev/null 2>&1; then
  unchanged "database client installed ($(command -v mariadb || command -v mysql))"
elif mysql_family "$DB_FLAVOR"; then
  if [[ "$FAMILY" == rhel ]]; then pkg_install mysql; else pkg_install mysql-client; fi
else
  if [[ "$FAMILY" == rhel ]]; then pkg_install mariadb; else pkg_install mariadb-client; fi
fi

# --- NFS client for the shared directories
if [[ "$NFS_CLIENT" == 1 ]]; then
  if [[ "$FAMILY" == rhel ]]; then pkg_install nfs-utils; else pkg_install nfs-common; fi
fi
