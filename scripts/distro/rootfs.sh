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
# The kernel is not installed by debootstrap but unpacked (below): its postinst would build an initramfs-tools
# image twice, minutes each, that the guest never boots (it boots build-image.sh's busybox initramfs).
kernel_meta=linux-image-amd64

mirror=${HOSTWARDEN_DISTRO_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^deb / && $3 ~ /^'"$suite"'$/ { print $2; exit } /^URIs:/ && $2 !~ /security/ { print $2; exit }' || true)
fi
[ -n "$mirror" ] || die "no Debian mirror in apt's sources; set HOSTWARDEN_DISTRO_MIRROR"
log "building image $key: debootstrap $suite from $mirror (minutes; once per package list)"
root="$dir.tmp/root"
# Built in memory: dpkg syncs every file it unpacks, which on a disk shared with other work is most of a
# debootstrap's time; nothing of the tree is needed once it is packed. Unmounted on any exit.
mkdir -p "$root"
mount -t tmpfs -o size=8g,mode=0755 hw-distro-rootfs "$root"
trap 'umount "$root" 2>/dev/null || umount -l "$root" 2>/dev/null || true' EXIT
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$dir.tmp/debootstrap.log" 2>&1 || {
  tail -n 30 "$dir.tmp/debootstrap.log" >&2
  die "debootstrap failed (log above)"
}

# --- the kernel: the package linux-image-amd64 depends on, unpacked (no postinst, no initramfs-tools) ------
# From the image's own apt sources and lists (debootstrap's), in the chroot; its modules go to
# /usr/lib/modules and are indexed by the image's depmod; the kernel is booted by qemu directly.
kpkg=$(chroot "$root" apt-cache depends "$kernel_meta" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' || true)
if [ -z "$kpkg" ]; then
  chroot "$root" apt-get update -qq >/dev/null 2>&1 || die "apt-get update in the image failed"
  kpkg=$(chroot "$root" apt-cache depends "$kernel_meta" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' || true)
fi
[ -n "$kpkg" ] || die "cannot resolve the kernel package of $kernel_meta in the image's apt lists"
log "unpacking $kpkg (not installed: no initramfs-tools)"
mkdir -p "$root/tmp/kernel-deb"
chroot "$root" sh -c "cd /tmp/kernel-deb && apt-get download -q $kpkg" >"$dir.tmp/kernel-download.log" 2>&1 || {
  cat "$dir.tmp/kernel-download.log" >&2
  die "apt-get download $kpkg failed (log above)"
}
kdeb=$(find "$root/tmp/kernel-deb" -name '*.deb' | head -n 1)
[ -n "$kdeb" ] || die "apt-get download $kpkg produced no .deb"
kx="$dir.tmp/kernel"
dpkg -x "$kdeb" "$kx"
rm -rf "$root/tmp/kernel-deb"
kmods=$(find "$kx/lib/modules" "$kx/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$kmods" ] || die "$kpkg has no lib/modules/<version>"
kver=$(basename "$kmods")
mkdir -p "$root/usr/lib/modules"
cp -a "$kmods" "$root/usr/lib/modules/"
cp "$kx/boot/vmlinuz-$kver" "$dir.tmp/vmlinuz"
chroot "$root" depmod "$kver" || die "depmod $kver in the image failed"
rm -rf "$kx"

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

# --- the disk: ext4 filled from the tree, no mount and no loop device ------------------------------------
used=$(du -sm "$root" | cut -f1)
size=$((used + 2048)) # room for the packages, tenants, logs and the controller's history
log "packing the root filesystem (${used} MiB) into a ${size} MiB ext4 image"
truncate -s "${size}M" "$dir.tmp/disk.raw"
mkfs.ext4 -q -F -L hw-distro -O quota -E quotatype=usrquota:grpquota -d "$root" "$dir.tmp/disk.raw" ||
  die "mkfs.ext4 -d failed"
{
  dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package} ${Version}\n'
  echo "$kpkg (unpacked)"
} >"$dir.tmp/packages.lock"
echo "$kver" >"$dir.tmp/kernel-release"
umount "$root"
rmdir "$root"
trap - EXIT
