#!/usr/bin/env bash
# server-shared-storage.sh — shares the Pandora FMS directories that data servers and consoles
# must see alike, on a filesystem every server host sees. SHARED_KIND says where it comes from:
# - nfs (the default): SHARED_SOURCE (NFS source: fs-123.efs.eu-west-1.amazonaws.com:/ or
#   nfs1:/export/pandora) is mounted on MOUNT_ROOT (nfs4, nfsvers=4.1, hard, noresvport,
#   _netdev, nofail; /etc/fstab).
# - mounted: the host mounts it itself (CephFS, GlusterFS, a SAN filesystem, ...) and MOUNT_ROOT
#   is that path (sharedPath). Nothing is mounted there and fstab gets no line for it; MOUNT_ROOT
#   must be an existing directory on a filesystem other than the one holding INCOMING_DIR (its
#   mount point, or a directory in it): a share not mounted is refused.
# On MOUNT_ROOT, data_in/<sub> for each of SUBDIRS (e.g. "conf collections md5 netflow
# discovery") and attachment/. Each local directory — INCOMING_DIR/<sub> and ATTACHMENT_DIR — is
# then bind-mounted from its shared twin (fstab `bind` lines). INCOMING_DIR itself is never
# shared: each server keeps its own queue of incoming XML. No file is lost: when the shared
# directory is empty the local files are copied onto it first; otherwise the local files the
# share lacks are copied (nothing is overwritten). The shared directory takes the local one's
# owner and mode. Idempotent: mounted already → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env MOUNT_ROOT INCOMING_DIR SUBDIRS ATTACHMENT_DIR
SHARED_KIND=${SHARED_KIND:-nfs}
require_one_of SHARED_KIND nfs mounted
if [[ "$SHARED_KIND" == nfs ]]; then
  require_env SHARED_SOURCE
  require_match SHARED_SOURCE '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:/[A-Za-z0-9._/@+-]*$' "an NFS source host:/path"
fi
require_abs_path MOUNT_ROOT
require_abs_path INCOMING_DIR
require_abs_path ATTACHMENT_DIR
read -r -a SUBS <<<"$SUBDIRS"
((${#SUBS[@]} > 0)) || die "SUBDIRS names no directory"
for s in "${SUBS[@]}"; do
  [[ "$s" =~ ^[A-Za-z0-9_][A-Za-z0-9_-]*$ ]] || die "SUBDIRS holds '$s', which is not a plain directory name"
done
# The share holds the shared twins: it may neither lie in nor hold the directories it replaces.
for d in "$INCOMING_DIR" "$ATTACHMENT_DIR"; do
  if [[ "$MOUNT_ROOT/" == "${d%/}/"* || "${d%/}/" == "$MOUNT_ROOT/"* ]]; then
    die "MOUNT_ROOT $MOUNT_ROOT and $d overlap: the share must lie outside Pandora's directories"
  fi
done
pha_tmp_init
NFS_OPTS="nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,_netdev,nofail"
BIND_OPTS="bind,_netdev,nofail,x-systemd.requires-mounts-for=$MOUNT_ROOT"

# nfs_share: SHARED_SOURCE mounted on MOUNT_ROOT, by its fstab line.
nfs_share() {
  local src
  command -v mount.nfs4 >/dev/null 2>&1 || command -v mount.nfs >/dev/null 2>&1 ||
    die "no NFS client on this host (mount.nfs4): run server-install.sh with NFS_CLIENT=1"
  if fstab_ensure "$SHARED_SOURCE" "$MOUNT_ROOT" nfs4 "$NFS_OPTS"; then
    changed "fstab entry $SHARED_SOURCE on $MOUNT_ROOT"
  else
    unchanged "fstab entry for $MOUNT_ROOT"
  fi
  if mountpoint -q "$MOUNT_ROOT"; then
    src=$(findmnt -n -o SOURCE --mountpoint "$MOUNT_ROOT")
    [[ "${src%/}" == "${SHARED_SOURCE%/}" ]] || die "$MOUNT_ROOT is mounted from $src, not from $SHARED_SOURCE; unmount it first"
    unchanged "$SHARED_SOURCE mounted on $MOUNT_ROOT"
  else
    mkdir -p "$MOUNT_ROOT"
    mount -T "$PHA_FSTAB" "$MOUNT_ROOT" || die "mounting $SHARED_SOURCE on $MOUNT_ROOT failed"
    changed "mounted $SHARED_SOURCE on $MOUNT_ROOT"
  fi
}

# mount_of PATH: the mount point of the filesystem holding PATH (or its nearest existing parent).
mount_of() {
  local p=$1
  while [[ ! -e "$p" && "$p" != / ]]; do p=$(dirname "$p"); done
  findmnt -n -r -o TARGET --target "$p"
}

# host_share: MOUNT_ROOT, which the host mounts itself, is there: a mount point, or a directory on
# a filesystem other than the one holding Pandora's directories. A share not mounted (yet, or
# after a boot where its mount failed) is an empty local directory: taking it would give each
# server its own copies, hidden once the share is mounted over it.
host_share() {
  local on local_on
  [[ -d "$MOUNT_ROOT" ]] ||
    die "the shared directory $MOUNT_ROOT (sharedPath) does not exist or is not a directory: mount the shared filesystem there first"
  if mountpoint -q "$MOUNT_ROOT"; then
    unchanged "$MOUNT_ROOT is a mount point ($(findmnt -n -o FSTYPE --mountpoint "$MOUNT_ROOT")), mounted by the host"
    return 0
  fi
  on=$(mount_of "$MOUNT_ROOT")
  local_on=$(mount_of "$INCOMING_DIR")
  [[ "$on" != "$local_on" ]] ||
    die "the shared directory $MOUNT_ROOT (sharedPath) lies on the filesystem mounted on $on, as $INCOMING_DIR does: the shared filesystem is not mounted there"
  unchanged "$MOUNT_ROOT lies on the filesystem mounted on $on, mounted by the host"
}

# --- the share
if [[ "$SHARED_KIND" == nfs ]]; then nfs_share; else host_share; fi

# share_dir LOCAL SHARED: bind-mounts SHARED over LOCAL without losing a file of either.
share_dir() {
  local local_dir=$1 shared=$2 copied=""
  [[ "$local_dir" != "${INCOMING_DIR%/}" ]] || die "refusing to share $INCOMING_DIR itself"
  mkdir -p "$local_dir" "$shared"
  # Bind-mounted already: both names are the same directory.
  if mountpoint -q "$local_dir" && [[ "$(stat -c %d:%i "$local_dir")" == "$(stat -c %d:%i "$shared")" ]]; then
    unchanged "$local_dir is the shared $shared"
    if fstab_ensure "$shared" "$local_dir" none "$BIND_OPTS"; then changed "fstab bind entry for $local_dir"; fi
    return 0
  fi
  mountpoint -q "$local_dir" && die "$local_dir is already a mount point of something else; unmount it first"

  chown --reference="$local_dir" "$shared" || warn "cannot give $shared the owner of $local_dir (root squashed?)"
  chmod --reference="$local_dir" "$shared" || warn "cannot give $shared the mode of $local_dir"
  if [[ -n "$(ls -A "$local_dir")" ]]; then
    # Files already on the share win; local ones it lacks are added (GNU tar --skip-old-files).
    tar -C "$local_dir" -cf - . | tar -C "$shared" --skip-old-files -xpf - ||
      die "copying $local_dir onto $shared failed; nothing was mounted"
    copied=" (its files copied onto the share first; the originals stay underneath the mount)"
  fi
  if fstab_ensure "$shared" "$local_dir" none "$BIND_OPTS"; then :; fi
  mount -T "$PHA_FSTAB" "$local_dir" || die "bind-mounting $shared on $local_dir failed"
  changed "bind-mounted $shared on $local_dir$copied"
}

for s in "${SUBS[@]}"; do
  share_dir "${INCOMING_DIR%/}/$s" "$MOUNT_ROOT/data_in/$s"
done
share_dir "${ATTACHMENT_DIR%/}" "$MOUNT_ROOT/attachment"
