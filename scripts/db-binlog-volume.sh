#!/usr/bin/env bash
# db-binlog-volume.sh — puts the binary-log EBS volume of a DB node on MOUNT_POINT.
# VOLUME_ID: the EBS volume id (vol-0abc…). MOUNT_POINT: where to mount it (absolute path).
# Finds the device (NVMe: /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc…; Xen:
# /dev/xvdf or /dev/sdf), waiting up to 120 s for the attachment to show up. It creates an XFS
# filesystem ONLY when the device carries no filesystem and no partition table at all — a
# volume that already holds something is never formatted. Then an /etc/fstab line by UUID
# (defaults,nofail) and the mount. Idempotent: mounted and listed already → unchanged.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env VOLUME_ID MOUNT_POINT
require_match VOLUME_ID '^vol-[0-9a-f]{8,32}$' "an EBS volume id (vol-0123456789abcdef0)"
require_abs_path MOUNT_POINT
DEVICE_WAIT="${DEVICE_WAIT:-120}"
pha_tmp_init

# find_device: prints the block device of VOLUME_ID, or nothing when it is not there yet.
find_device() {
  local byid="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${VOLUME_ID//-/}" d
  if [[ -e "$byid" ]]; then
    readlink -f "$byid"
    return 0
  fi
  # Xen instances name the device as attached (/dev/sdf appears as /dev/xvdf). NVMe instances
  # always have the by-id link, so a bare xvdf/sdf here is the attachment itself.
  for d in /dev/xvdf /dev/sdf; do
    if [[ -b "$d" ]]; then
      readlink -f "$d"
      return 0
    fi
  done
}

DEVICE=""
deadline=$((SECONDS + DEVICE_WAIT))
while :; do
  DEVICE=$(find_device)
  [[ -n "$DEVICE" ]] && break
  ((SECONDS >= deadline)) && die "volume $VOLUME_ID did not appear within ${DEVICE_WAIT} s (looked for its NVMe by-id link, /dev/xvdf, /dev/sdf)"
  sleep 2
done
log "volume $VOLUME_ID is $DEVICE"

# The device must not be in use elsewhere (e.g. the root disk by mistake).
if current=$(findmnt -n -o TARGET --source "$DEVICE" 2>/dev/null) && [[ -n "$current" && "$current" != "$MOUNT_POINT" ]]; then
  die "$DEVICE is already mounted on $current; refusing to use it for $MOUNT_POINT"
fi

# Low-level probe (no cache): TYPE for a filesystem, PTTYPE for a partition table.
probe() { blkid -p -o export "$DEVICE" 2>/dev/null | sed -n "s/^$1=//p" || true; }
FSTYPE=$(probe TYPE)
PTTYPE=$(probe PTTYPE)
if [[ -z "$FSTYPE" && -n "$PTTYPE" ]]; then
  die "$DEVICE has a $PTTYPE partition table and no filesystem; refusing to format it (check the volume)"
fi
if [[ -z "$FSTYPE" ]]; then
  command -v mkfs.xfs >/dev/null 2>&1 || pkg_install xfsprogs
  log "$DEVICE has no filesystem: creating XFS"
  mkfs.xfs -q "$DEVICE" || die "mkfs.xfs $DEVICE failed"
  FSTYPE=xfs
  changed "created an XFS filesystem on $DEVICE ($VOLUME_ID)"
else
  unchanged "$DEVICE already has a $FSTYPE filesystem (kept as is)"
fi

UUID=$(blkid -p -o export "$DEVICE" | sed -n 's/^UUID=//p')
[[ -n "$UUID" ]] || die "cannot read the filesystem UUID of $DEVICE"

if fstab_ensure "UUID=$UUID" "$MOUNT_POINT" "$FSTYPE" defaults,nofail; then
  changed "fstab entry UUID=$UUID $MOUNT_POINT"
else
  unchanged "fstab entry for $MOUNT_POINT"
fi

if mountpoint -q "$MOUNT_POINT"; then
  src=$(findmnt -n -o SOURCE --mountpoint "$MOUNT_POINT")
  [[ "$(readlink -f "$src")" == "$DEVICE" ]] || die "$MOUNT_POINT is already mounted from $src, not from $DEVICE"
  unchanged "$DEVICE mounted on $MOUNT_POINT"
else
  mkdir -p "$MOUNT_POINT"
  mount "$MOUNT_POINT" || die "mount $MOUNT_POINT failed"
  changed "mounted $DEVICE on $MOUNT_POINT"
fi
