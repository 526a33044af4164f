#!/bin/bash
# Builds (once, then cached) the distro tier's guest: a Debian 12 root filesystem made with debootstrap from
# Debian's packages (packages.txt), with systemd as PID 1 and the Debian kernel, packed into an ext4 disk image
# without mounting anything (mkfs.ext4 -d), plus a small busybox initramfs that loads the virtio and ext4
# modules of that same kernel and hands over to systemd (rootfs.sh makes the image; the initramfs is made here
# from the cached image, under a key of its own).
#
#   scripts/distro/build-image.sh     prints three lines: the kernel, the initramfs, the disk image (raw ext4)
#
# Cache (outside the checkout, so a fresh clone on this machine finds it warm):
#   ${HOSTWARDEN_DISTRO_CACHE:-/var/cache/hostwarden-tests/distro}/image-<key>/
# where <key> is the sha256 of packages.txt, rootfs.sh (the build script) and guest-run.sh (baked into the image): the image is
# rebuilt only when one of them changes, and the images of older keys are removed then. A warm cache never
# touches the network. The disk image is only ever read: each run boots a copy-on-write overlay of it.
# Environment: HOSTWARDEN_DISTRO_CACHE, HOSTWARDEN_DISTRO_MIRROR (default: the first deb.debian.org-style
# mirror of apt's sources for the suite), HOSTWARDEN_DISTRO_SUITE (bookworm; changes the key).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${HOSTWARDEN_DISTRO_CACHE:-/var/cache/hostwarden-tests/distro}
suite=${HOSTWARDEN_DISTRO_SUITE:-bookworm}

log() { echo "distro/build-image: $*" >&2; }
die() {
  log "$*"
  exit 1
}

for cmd in debootstrap mkfs.ext4 busybox cpio gzip depmod modprobe sha256sum flock; do
  command -v "$cmd" >/dev/null 2>&1 || die "missing command '$cmd' (scripts/install-prereqs.sh installs it)"
done
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap)"
busybox_bin=$(command -v busybox)
if command -v readelf >/dev/null 2>&1 && LC_ALL=C readelf -l "$busybox_bin" 2>/dev/null | grep -q INTERP; then
  die "$busybox_bin is dynamically linked: install Debian's busybox-static"
fi

packages=$(sed 's/#.*//' "$here/packages.txt" | tr -s ' \n' '\n' | sed '/^$/d' | sort -u | paste -sd, -)
key=$( (
  echo "$suite"
  sha256sum <"$here/packages.txt"
  sha256sum <"$here/rootfs.sh"
  sha256sum <"$here/guest-run.sh"
) | sha256sum | cut -c1-16)
dir="$cache/image-$key"

mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9 # one build at a time; a second run waits, then finds the cache filled

if [ ! -f "$dir/.complete" ]; then
  umount "$dir.tmp/root" 2>/dev/null || true # the in-memory tree of a killed build (rootfs.sh)
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$dir.tmp"
  trap 'rm -rf "$dir.tmp"' EXIT
  started=$(date +%s)
  "$here/rootfs.sh" "$dir.tmp" || die "building the root filesystem failed"
  touch "$dir.tmp/.complete"
  mv "$dir.tmp" "$dir"
  trap - EXIT
  log "image $key ready in $(($(date +%s) - started)) s ($(du -sh "$dir" | cut -f1) on disk)"
  # One image at a time: the older keys' images are stale now.
  for old in "$cache"/image-*; do
    [ "$old" = "$dir" ] || [ ! -d "$old" ] || { log "removing the stale $(basename "$old")"; rm -rf "$old"; }
  done
fi

# --- the initramfs: its own key (the init below, the modules, busybox), made from the cached image ----------
# Loads virtio and ext4 from the image's own kernel, mounts the root disk, hands over to systemd. The modules
# are read out of the disk image with debugfs (no mount).
# crc32c_generic: ext4 asks the crypto API for crc32c, and quota_v2 for the disk's quota feature (soft
# dependencies modules.dep does not list).
BOOT_MODULES="virtio_pci virtio_blk virtio_rng crc32c_generic quota_v2 ext4 9pnet_virtio 9p"
INIT='#!/bin/busybox sh
# The distro guest'"'"'s initramfs: load virtio and ext4, mount the root disk, hand over to systemd.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/boot-modules); do modprobe "$m" || echo "distro-initramfs: cannot load $m"; done
# Under emulation on a loaded machine the disk may take a while to appear.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
if ! mount -t ext4 -o rw,noatime /dev/vda /newroot; then
  echo "distro-initramfs: FAILED: cannot mount /dev/vda"; cat /proc/partitions; lsmod; dmesg | tail -n 30
  poweroff -f
fi
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/init'
kver=$(cat "$dir/kernel-release")
ikey=$( (
  echo "$INIT"
  echo "$BOOT_MODULES $kver"
  sha256sum <"$0"
  sha256sum <"$busybox_bin"
) | sha256sum | cut -c1-16)
initramfs="$dir/initramfs-$ikey.cpio.gz"
if [ ! -f "$initramfs" ]; then
  command -v debugfs >/dev/null 2>&1 || die "missing command debugfs (e2fsprogs)"
  stage=$(mktemp -d "$cache/.initramfs.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  x=$stage/x/lib/modules/$kver
  mkdir -p "$x" "$stage/root"/{bin,proc,sys,dev,newroot,etc}
  for f in modules.dep modules.dep.bin modules.builtin modules.builtin.bin modules.order modules.alias.bin modules.symbols.bin modules.softdep; do
    debugfs -R "dump /usr/lib/modules/$kver/$f $x/$f" "$dir/disk.raw" >/dev/null 2>&1 || true
  done
  [ -s "$x/modules.dep" ] || die "the image has no /usr/lib/modules/$kver/modules.dep"
  # The dependency closure, from the image's modules.dep ("kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko ...").
  files=$(awk -v want="$(echo "$BOOT_MODULES" | tr '-' '_')" '
    BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) wanted[w[i]] = 1 }
    { key = $1; sub(/:$/, "", key); name = key; sub(/.*\//, "", name); sub(/\.ko.*$/, "", name); gsub(/-/, "_", name)
      deps[key] = ""; for (i = 2; i <= NF; i++) deps[key] = deps[key] " " $i
      if (name in wanted) { todo[key] = 1; found[name] = 1 } }
    END {
      for (name in wanted) if (!(name in found)) { print "MISSING " name; exit }
      changed = 1
      while (changed) { changed = 0
        for (k in todo) { m = split(deps[k], d, " "); for (i = 1; i <= m; i++) if (!(d[i] in todo)) { todo[d[i]] = 1; changed = 1 } } }
      for (k in todo) print k
    }' "$x/modules.dep")
  case "$files" in MISSING*) die "kernel $kver lacks module ${files#MISSING }" ;; esac
  for rel in $files; do
    mkdir -p "$(dirname "$x/$rel")"
    debugfs -R "dump /usr/lib/modules/$kver/$rel $x/$rel" "$dir/disk.raw" >/dev/null 2>&1
    [ -s "$x/$rel" ] || die "cannot read $rel out of the image"
  done
  mkdir -p "$stage/root/lib"
  cp -a "$stage/x/lib/modules" "$stage/root/lib/"
  rm -f "$stage/root/lib/modules/$kver"/modules.*
  echo "$BOOT_MODULES" >"$stage/root/etc/boot-modules"
  cp "$x/modules.builtin" "$x/modules.order" "$stage/root/lib/modules/$kver/"
  depmod -b "$stage/root" "$kver" 2>/dev/null
  cp "$busybox_bin" "$stage/root/bin/busybox"
  printf '%s\n' "$INIT" >"$stage/root/init"
  chmod 0755 "$stage/root/init" "$stage/root/bin/busybox"
  (cd "$stage/root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1) >"$initramfs.tmp"
  mv "$initramfs.tmp" "$initramfs"
  find "$dir" -maxdepth 1 -name 'initramfs*.cpio.gz' ! -name "$(basename "$initramfs")" -delete
  rm -rf "$stage"
  trap - EXIT
fi

echo "$dir/vmlinuz"
echo "$initramfs"
echo "$dir/disk.raw"
