#!/bin/sh
# Debian packages the tests need beyond npm: check `command -v` first, apt-get only what is missing.
set -eu
need=""
want() { command -v "$1" >/dev/null 2>&1 || need="$need $2"; }
want nft nftables
want ip iproute2
want tc iproute2
want losetup mount
want mkfs.ext4 e2fsprogs
want setquota quota
want dpkg-shlibdeps dpkg-dev
want deb-systemd-helper init-system-helpers
want adduser adduser
want /usr/bin/python3 python3-minimal
want promtool prometheus   # promtool check metrics on a scrape of /metrics (test/unit/controller/metrics.test.ts)
if [ "${1:-}" != "--host-only" ]; then
  want qemu-system-x86_64 qemu-system-x86
  want busybox busybox-static
  want cpio cpio
  want depmod kmod
fi
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-prereqs: missing packages:$need (run as root, or install them)" >&2
    exit 1
  fi
  echo "install-prereqs: installing$need" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
