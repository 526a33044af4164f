#!/bin/bash
# The distro tier's root filesystem, called by build-image.sh when the image of its key is not cached:
#   scripts/distro/rootfs.sh OUT
# debootstraps Debian (packages.txt) into OUT/root, configures the guest, packs it into OUT/disk.raw (ext4, made
# with mkfs.ext4 -d: nothing is mounted, no loop device) and leaves OUT/vmlinuz, OUT/kernel-release and
# OUT/packages.lock. This file, packages.txt and guest-run.sh are the image's cache key.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=${HOSTWARDEN_DISTRO_SUITE:-bookworm}
out=${1:?usage: rootfs.sh OUT}
dir=${out%.tmp}
key=$(basename "$dir" | sed 's/^image-//')
log() { echo "distro/rootfs: $*" >&2; }
die() {
  log "$*"
  exit 1
}
packages=$(sed 's/#.*//' "$here/packages.txt" | tr -s ' \n' '\n' | sed '/^$/d' | sort -u | paste -sd, -)

mirror=${HOSTWARDEN_DISTRO_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^deb / && $3 ~ /^'"$suite"'$/ { print $2; exit } /^URIs:/ && $2 !~ /security/ { print $2; exit }' || true)
fi
[ -n "$mirror" ] || die "no Debian mirror in apt's sources; set HOSTWARDEN_DISTRO_MIRROR"
log "building image $key: debootstrap $suite from $mirror (minutes; once per package list)"
root="$dir.tmp/root"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$dir.tmp/debootstrap.log" 2>&1 || {
  tail -n 30 "$dir.tmp/debootstrap.log" >&2
  die "debootstrap failed (log above)"
}

# --- the guest's configuration ---------------------------------------------------------------------------
echo hostwarden-distro >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 hostwarden-distro\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,noatime,errors=remount-ro 0 1\n' >"$root/etc/fstab"
: >"$root/etc/machine-id" # systemd makes one at first boot (each run boots a fresh overlay)
# Quiet and quick: no gettys, no timers that would run apt, man-db or fstrim during the checks.
for unit in serial-getty@ttyS0.service getty@tty1.service console-getty.service apt-daily.timer apt-daily-upgrade.timer \
  man-db.timer fstrim.timer e2scrub_all.timer e2scrub_reap.service systemd-timesyncd.service logrotate.timer \
  phpsessionclean.timer dpkg-db-backup.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nForwardToConsole=no\n' >"$root/etc/systemd/journald.conf.d/distro.conf"
# The runner: mounts the host's share and runs the tier's command once the system is up (guest-run.sh).
install -m 0755 "$here/guest-run.sh" "$root/usr/local/sbin/hostwarden-distro-run"
cat >"$root/etc/systemd/system/hostwarden-distro-run.service" <<'EOF'
[Unit]
Description=distro tier: run the command the host shared, then power off
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hostwarden-distro-run
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
[Install]
WantedBy=default.target
EOF
mkdir -p "$root/etc/systemd/system/default.target.wants"
ln -sf ../hostwarden-distro-run.service "$root/etc/systemd/system/default.target.wants/"
# No service of the image runs with stale state from the build: clear apt's lists (no network in the
# guest anyway) and the packages' caches.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root/debootstrap"

# --- kernel and initramfs -------------------------------------------------------------------------------
kver=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)
[ -n "$kver" ] || die "the image has no kernel modules (linux-image-amd64 missing from packages.txt?)"
cp "$root/boot/vmlinuz-$kver" "$dir.tmp/vmlinuz"
# --- the disk: ext4 filled from the tree, no mount and no loop device ------------------------------------
used=$(du -sm "$root" | cut -f1)
size=$((used + 2048)) # room for the packages, tenants, logs and the controller's history
log "packing the root filesystem (${used} MiB) into a ${size} MiB ext4 image"
truncate -s "${size}M" "$dir.tmp/disk.raw"
mkfs.ext4 -q -F -L hw-distro -O quota -E quotatype=usrquota:grpquota -d "$root" "$dir.tmp/disk.raw" ||
  die "mkfs.ext4 -d failed"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package} ${Version}\n' >"$dir.tmp/packages.lock"
echo "$kver" >"$dir.tmp/kernel-release"
rm -rf "$root"
