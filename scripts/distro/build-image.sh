#!/bin/bash
# Builds (once, then cached) the distro tier's guest: a Debian 12 root filesystem made with debootstrap from
# Debian's packages (packages.txt), with systemd as PID 1 and the Debian kernel, packed into an ext4 disk image
# without mounting anything (mkfs.ext4 -d), plus a small busybox initramfs that loads the virtio and ext4
# modules of that same kernel and hands over to systemd.
#
#   scripts/distro/build-image.sh     prints three lines: the kernel, the initramfs, the disk image (raw ext4)
#
# Cache (outside the checkout, so a fresh clone on this machine finds it warm):
#   ${HOSTWARDEN_DISTRO_CACHE:-/var/cache/hostwarden-tests/distro}/image-<key>/
# where <key> is the sha256 of packages.txt, this script and guest-run.sh (baked into the image): the image is
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
  sha256sum <"$0"
  sha256sum <"$here/guest-run.sh"
) | sha256sum | cut -c1-16)
dir="$cache/image-$key"

mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9 # one build at a time; a second run waits, then finds the cache filled

if [ ! -f "$dir/.complete" ]; then
  mirror=${HOSTWARDEN_DISTRO_MIRROR:-}
  if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '/^deb / && $3 ~ /^'"$suite"'$/ { print $2; exit } /^URIs:/ && $2 !~ /security/ { print $2; exit }' || true)
  fi
  [ -n "$mirror" ] || die "no Debian mirror in apt's sources; set HOSTWARDEN_DISTRO_MIRROR"
  started=$(date +%s)
  log "building image $key: debootstrap $suite from $mirror (minutes; once per package list)"
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$dir.tmp"
  trap 'rm -rf "$dir.tmp"' EXIT
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
  stage="$dir.tmp/initramfs"
  mkdir -p "$stage"/{bin,sbin,proc,sys,dev,newroot,etc}
  cp "$busybox_bin" "$stage/bin/busybox"
  for m in virtio_pci virtio_blk virtio_rng ext4 9pnet_virtio 9p; do
    deps=$(modprobe -d "$root" -S "$kver" --show-depends "$m") || die "kernel $kver lacks module $m"
    while read -r kind path _; do
      [ "$kind" = insmod ] || continue
      rel=${path#"$root"}
      mkdir -p "$stage$(dirname "$rel")"
      cp -n "$path" "$stage$rel"
    done <<<"$deps"
    echo "$m" >>"$stage/etc/boot-modules"
  done
  cp "$root/lib/modules/$kver/modules.builtin" "$root/lib/modules/$kver/modules.order" "$stage/lib/modules/$kver/"
  depmod -b "$stage" "$kver"
  cat >"$stage/init" <<'EOF'
#!/bin/busybox sh
# The distro guest's initramfs: load virtio and ext4, mount the root disk, hand over to systemd.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do modprobe "$m" || echo "distro-initramfs: cannot load $m"; done </etc/boot-modules
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
mount -t ext4 -o rw,noatime /dev/vda /newroot || { echo "distro-initramfs: FAILED: cannot mount /dev/vda"; poweroff -f; }
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/init
EOF
  chmod 0755 "$stage/init" "$stage/bin/busybox"
  (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1) >"$dir.tmp/initramfs.cpio.gz"
  rm -rf "$stage"

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
  touch "$dir.tmp/.complete"
  mv "$dir.tmp" "$dir"
  trap - EXIT
  log "image $key ready in $(($(date +%s) - started)) s ($(du -sh "$dir" | cut -f1) on disk)"
  # One image at a time: the older keys' images are stale now.
  for old in "$cache"/image-*; do
    [ "$old" = "$dir" ] || [ ! -d "$old" ] || { log "removing the stale $(basename "$old")"; rm -rf "$old"; }
  done
fi

echo "$dir/vmlinuz"
echo "$dir/initramfs.cpio.gz"
echo "$dir/disk.raw"
