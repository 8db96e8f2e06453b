#!/usr/bin/env bash
# server-ha-tools.sh — installs the resync tool on a Pandora server host.
# TOOLS_DIR (e.g. /usr/share/pandora-ha) gets pandora_ha_resync_slave.sh (0755, from
# RESYNC_SCRIPT_B64) and db-seed.sh (0644, from SEED_SCRIPT_B64: what the resync runs on the
# replica over SSH). CLUSTER_ENV_PATH (e.g. /etc/pandora-ha/cluster.env) records what the
# resync needs to know about the DB nodes: DB_FLAVOR, SEED_METHOD (optional: db-seed.sh's
# default for the flavor), MYCNF_PATH, DATADIR, NODE_KEY_FILE (the key a node streams from
# another with) and SEED_SCRIPT. The ha_resync token points at the tool.
# Idempotent: same files → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env TOOLS_DIR CLUSTER_ENV_PATH DB_FLAVOR MYCNF_PATH DATADIR NODE_KEY_FILE RESYNC_SCRIPT_B64 SEED_SCRIPT_B64
require_abs_path TOOLS_DIR
require_abs_path CLUSTER_ENV_PATH
require_one_of DB_FLAVOR percona84 percona80 mysql mariadb1011
require_abs_path MYCNF_PATH
require_abs_path DATADIR
require_abs_path NODE_KEY_FILE
SEED_METHOD="${SEED_METHOD:-}"
[[ -z "$SEED_METHOD" ]] || require_one_of SEED_METHOD clone xtrabackup mariabackup

pha_tmp_init
RESYNC=$(pha_mktemp)
SEED=$(pha_mktemp)
b64d <<<"$RESYNC_SCRIPT_B64" >"$RESYNC" 2>/dev/null || die "RESYNC_SCRIPT_B64 is not valid base64"
b64d <<<"$SEED_SCRIPT_B64" >"$SEED" 2>/dev/null || die "SEED_SCRIPT_B64 is not valid base64"
for f in "$RESYNC" "$SEED"; do
  bash -n "$f" 2>/dev/null || die "a script to install is not valid bash (RESYNC_SCRIPT_B64 / SEED_SCRIPT_B64)"
done

mkdir -p "$TOOLS_DIR" "$(dirname "$CLUSTER_ENV_PATH")"
install_one() { # DEST MODE < content
  if install_file_if_changed "$1" "$2" root:root; then changed "$1"; else unchanged "$1"; fi
}
install_one "$TOOLS_DIR/pandora_ha_resync_slave.sh" 0755 <"$RESYNC"
install_one "$TOOLS_DIR/db-seed.sh" 0644 <"$SEED"
install_one "$CLUSTER_ENV_PATH" 0644 <<EOT
# Managed by pandora-ha: what pandora_ha_resync_slave.sh needs to know about the DB nodes.
DB_FLAVOR=$DB_FLAVOR
SEED_METHOD=$SEED_METHOD
MYCNF_PATH=$MYCNF_PATH
DATADIR=$DATADIR
NODE_KEY_FILE=$NODE_KEY_FILE
SEED_SCRIPT=$TOOLS_DIR/db-seed.sh
EOT
