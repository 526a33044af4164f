#!/bin/bash
# Builds (once, then cached) what the VM tier boots: a Debian kernel and a busybox initramfs that carries the
# modules the tests need. Nothing is installed on the host: the kernel package is fetched with `apt-get
# download` and unpacked with `dpkg -x` into the cache.
#
#   scripts/vm/build-image.sh            prints two lines: the kernel image path, then the initramfs path
#
# Cache (outside the checkout, shared by every clone on this machine): /var/cache/hostwarden-tests/vm/
#   kernel-<package>_<version>/vmlinuz     the kernel
#   kernel-<package>_<version>/modroot/    the subset of its modules the guest needs, with modules.dep
#   initramfs-<version>-<hash>.cpio.gz     busybox + init.sh + modroot (hash of everything that goes in)
# Environment:
#   HOSTWARDEN_VM_KERNEL=<package>   use this kernel package instead of the one linux-image-amd64 depends on
#   HOSTWARDEN_VM_CACHE=<dir>        cache directory (default /var/cache/hostwarden-tests/vm, outside the checkout: a fresh clone on this machine finds it warm)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)
cache=${HOSTWARDEN_VM_CACHE:-/var/cache/hostwarden-tests/vm}

# Modules loaded at boot, in this order (each with its dependencies). Built-in ones are skipped.
BOOT_MODULES="virtio_pci virtio_blk virtio_rng 9pnet_virtio 9p overlay ext4 quota_v2 nf_tables nft_socket
  sch_htb cls_fw veth"
# Carried too, loaded on demand (the kernel calls the initramfs's modprobe when a test asks for them): these,
# and every module of these directories (all of nftables/netfilter and traffic control: an nft ruleset may
# need any expression, e.g. nft_objref for `counter name ... map`).
EXTRA_MODULES="loop ifb veth dummy"
EXTRA_DIRS="kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter kernel/net/sched kernel/net/bridge/netfilter"
# A cached kernel folder is complete only for the module selection it was made with.
recipe=$(echo "$BOOT_MODULES|$EXTRA_MODULES|$EXTRA_DIRS" | tr -s ' \n' ' ' | sha256sum | cut -c1-16)
kernel_ready() { [ -f "$1/.complete" ] && [ "$(cat "$1/recipe" 2>/dev/null)" = "$recipe" ]; }
is_boot_module() {
  local b
  for b in $BOOT_MODULES; do [ "$b" = "$1" ] && return 0; done
  return 1
}

die() {
  echo "vm/build-image: $*" >&2
  exit 1
}
log() { echo "vm/build-image: $*" >&2; }

for cmd in apt-get apt-cache dpkg depmod modprobe cpio gzip busybox flock sha256sum; do
  command -v "$cmd" >/dev/null 2>&1 || die "missing command '$cmd' (scripts/install-prereqs.sh installs it)"
done
busybox_bin=$(command -v busybox)
# A dynamically linked busybox cannot run in the initramfs (no libc there): insist on busybox-static.
if command -v readelf >/dev/null 2>&1 && LC_ALL=C readelf -l "$busybox_bin" 2>/dev/null | grep -q 'INTERP'; then
  die "$busybox_bin is dynamically linked: install Debian's busybox-static"
fi

mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9 # one build at a time; a second run waits, then finds the cache filled

# --- which kernel -------------------------------------------------------------------------------------
kernel_package() {
  if [ -n "${HOSTWARDEN_VM_KERNEL:-}" ]; then
    echo "$HOSTWARDEN_VM_KERNEL"
    return
  fi
  apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
package_version() {
  apt-cache show --no-all-versions "$1" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }'
}

# Sets pkg, version and kdir from apt's lists; with none to be had, the newest kernel in the cache.
resolve() {
  pkg=$(kernel_package || true)
  version=""
  [ -n "$pkg" ] && version=$(package_version "$pkg" || true)
  if [ -n "$pkg" ] && [ -n "$version" ]; then
    kdir="$cache/kernel-${pkg}_${version//[^A-Za-z0-9.+~-]/_}"
    return
  fi
  kdir=$(find "$cache" -maxdepth 1 -type d -name 'kernel-*' -exec test -f '{}/.complete' ';' -print 2>/dev/null | sort -V | tail -n 1)
}
refresh_lists() {
  [ "$(id -u)" = 0 ] || return 0
  log "refreshing apt's package lists"
  apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed: going on with the lists there are"
}

resolve
if [ -z "$kdir" ] || ! kernel_ready "$kdir"; then
  # Not cached: the lists may be stale (a replaced version is no longer on the mirror), so refresh them
  # before fetching. A warm cache never touches the network.
  refresh_lists
  resolve
fi
[ -n "$kdir" ] || die "cannot resolve a kernel package from apt (apt-cache depends linux-image-amd64) and none is cached"
if [ -z "$version" ]; then
  log "apt cannot resolve a kernel: using the cached $(basename "$kdir")"
  kernel_ready "$kdir" || log "the cached kernel was made with another module selection: the guest may miss modules"
fi

# --- kernel and modules ---------------------------------------------------------------------------------
if [ -n "$version" ] && ! kernel_ready "$kdir"; then
  log "fetching $pkg $version"
  rm -rf "$kdir" "$kdir.tmp"
  mkdir -p "$kdir.tmp/deb"
  (cd "$kdir.tmp/deb" && apt-get download "$pkg=$version" 2>&1) | { grep -v '^W: Download is performed unsandboxed' >&2 || true; } ||
    die "apt-get download $pkg=$version failed"
  deb=$(find "$kdir.tmp/deb" -name '*.deb' | head -n 1)
  [ -n "$deb" ] || die "apt-get download $pkg=$version produced no .deb"
  dpkg -x "$deb" "$kdir.tmp/x"
  rm -f "$deb"
  kver=$(find "$kdir.tmp/x/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | head -n 1)
  [ -n "$kver" ] || die "$pkg has no lib/modules/<version>"
  vmlinuz=$(find "$kdir.tmp/x/boot" -name 'vmlinuz-*' | head -n 1)
  [ -n "$vmlinuz" ] || die "$pkg has no boot/vmlinuz-*"
  depmod -b "$kdir.tmp/x" "$kver"

  # The dependency closure of the modules we want, resolved by kmod against the unpacked tree.
  mods="$kdir.tmp/x/lib/modules/$kver"
  mkdir -p "$kdir.tmp/modroot/lib/modules/$kver"
  : >"$kdir.tmp/boot-modules"
  dir_modules=$(cd "$mods" && for d in $EXTRA_DIRS; do [ -d "$d" ] && find "$d" -name '*.ko*' -printf '%f\n'; done | sed 's/\.ko.*$//' | sort -u)
  for m in $BOOT_MODULES $EXTRA_MODULES $dir_modules; do
    if ! deps=$(modprobe -d "$kdir.tmp/x" -S "$kver" --show-depends "$m" 2>&1); then
      is_boot_module "$m" && die "kernel $kver lacks module $m: $deps"
      log "kernel $kver lacks optional module $m"
      continue
    fi
    builtin_only=1
    while read -r kind path _; do
      [ "$kind" = insmod ] || continue
      builtin_only=0
      rel=${path#"$mods/"}
      mkdir -p "$kdir.tmp/modroot/lib/modules/$kver/$(dirname "$rel")"
      cp -n "$path" "$kdir.tmp/modroot/lib/modules/$kver/$rel"
    done <<<"$deps"
    if is_boot_module "$m" && [ $builtin_only = 0 ]; then echo "$m" >>"$kdir.tmp/boot-modules"; fi
  done
  cp "$mods/modules.builtin" "$mods/modules.order" "$kdir.tmp/modroot/lib/modules/$kver/"
  [ -f "$mods/modules.builtin.modinfo" ] && cp "$mods/modules.builtin.modinfo" "$kdir.tmp/modroot/lib/modules/$kver/"
  depmod -b "$kdir.tmp/modroot" "$kver"
  cp "$vmlinuz" "$kdir.tmp/vmlinuz"
  cp "$kdir.tmp/x/boot/config-$kver" "$kdir.tmp/config" 2>/dev/null || true
  echo "$kver" >"$kdir.tmp/kernel-release"
  echo "$pkg $version" >"$kdir.tmp/package"
  echo "$recipe" >"$kdir.tmp/recipe"
  rm -rf "$kdir.tmp/x" "$kdir.tmp/deb"
  touch "$kdir.tmp/.complete"
  mv "$kdir.tmp" "$kdir"
  log "kernel $kver ready in $kdir ($(du -sh "$kdir" | cut -f1))"
  # Keep the cache to one kernel: drop the ones Debian has replaced, and their initramfs images.
  for old in "$cache"/kernel-*; do
    [ "$old" = "$kdir" ] && continue
    [ -d "$old" ] || continue
    log "removing the replaced $(basename "$old")"
    rm -rf "$old" "$cache/initramfs-$(basename "$old" | sed 's/^kernel-//')-"*.cpio.gz
  done
fi
kver=$(cat "$kdir/kernel-release")

# --- initramfs -------------------------------------------------------------------------------------------
key=$( (
  for f in "$here/init.sh" "$busybox_bin" "$kdir/boot-modules"; do sha256sum <"$f"; done
  find "$kdir/modroot" -type f -printf '%P %s\n' | sort
) | sha256sum | cut -c1-16)
initramfs="$cache/initramfs-$(basename "$kdir" | sed 's/^kernel-//')-$key.cpio.gz"
if [ ! -f "$initramfs" ]; then
  log "building $(basename "$initramfs")"
  stage=$(mktemp -d "$cache/.initramfs.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage"/{bin,sbin,etc,proc,sys,dev,tmp,run,lower,upper,newroot,results,usr/bin,usr/sbin}
  cp "$busybox_bin" "$stage/bin/busybox"
  cp "$here/init.sh" "$stage/init"
  chmod 0755 "$stage/init" "$stage/bin/busybox"
  cp -a "$kdir/modroot/lib" "$stage/"
  cp "$kdir/boot-modules" "$stage/etc/boot-modules"
  echo "$kver" >"$stage/etc/kernel-release"
  (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1) >"$initramfs.tmp"
  mv "$initramfs.tmp" "$initramfs"
  # Older initramfs images of this kernel are stale now.
  find "$cache" -maxdepth 1 -name "initramfs-$(basename "$kdir" | sed 's/^kernel-//')-*.cpio.gz" ! -name "$(basename "$initramfs")" -delete
fi

echo "$kdir/vmlinuz"
echo "$initramfs"
