#!/bin/bash
# `npm run test:distro`: the distro tier. Builds the .deb packages from this tree (packaging/build-deb.sh),
# checks them with lintian (no error allowed), then boots the Debian 12 guest once (scripts/distro/run.sh:
# systemd as PID 1, the Debian kernel, pure cgroup v2, nginx, php8.2-fpm, cron, nftables; the image is built
# with debootstrap once and cached under /var/cache/hostwarden-tests/distro) and runs test/distro/checks.sh in
# it: the packages of an earlier commit installed and used, the tree's installed over them with apt-get
# (scripts/distro/old-debs.sh, test/distro/upgrade.sh), placement of PHP-FPM workers, cron jobs and logins,
# systemd restarts and daemon-reload, the journal, agent -> controller -> hostwardenctl, purge, a fresh
# install. Nothing skips: a missing tool, an image that cannot be built or a guest that does not boot fails
# with a message and a non-zero status.
# Environment: HOSTWARDEN_DISTRO_TIMEOUT (s, default 1500) and those of run.sh and build-image.sh;
# HOSTWARDEN_DISTRO_JOURNAL=FILE keeps the guest's journal there.
set -euo pipefail
cd "$(dirname "$0")/../.."
checkout=$PWD
started=$(date +%s)

missing=""
for cmd in qemu-system-x86_64 qemu-img debootstrap busybox cpio depmod mkfs.ext4 dpkg-deb lintian; do
  command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
done
if [ -n "$missing" ]; then
  echo "test:distro: FAILED: missing$missing; install them with scripts/install-prereqs.sh" >&2
  exit 1
fi
[ "$(id -u)" = 0 ] || { echo "test:distro: FAILED: must run as root (debootstrap, qemu)" >&2; exit 1; }

work=$(mktemp -d /tmp/hw-distro.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/share/debs"
echo "test:distro: building the packages from the tree" >&2
# gzip, not dpkg-deb's default xz: the same files, compressed in seconds instead of minutes (the runtime is
# 100 MB) and unpacked faster in the emulated guest; HOSTWARDEN_DEB_COMPRESS=xz checks release-like packages.
HOSTWARDEN_DEB_COMPRESS=${HOSTWARDEN_DEB_COMPRESS:-gzip} packaging/build-deb.sh --out "$work/share/debs" >/dev/null ||
  { echo "test:distro: FAILED: packaging/build-deb.sh" >&2; exit 1; }
rm -rf "$work/share/debs/staging"
# The packages the guest upgrades from (an earlier commit's, built once and cached: scripts/distro/old-debs.sh).
old=$(scripts/distro/old-debs.sh) || { echo "test:distro: FAILED: the packages of the earlier commit (scripts/distro/old-debs.sh)" >&2; exit 1; }
cp -a "$old" "$work/share/old-debs"
cp test/distro/lib.sh test/distro/upgrade.sh bench/distro/load.mjs "$work/share/"
echo "test:distro: lintian on the built packages" >&2
lint_started=$(date +%s)
if ! lintian --fail-on error --suppress-tags-from-file /dev/null "$work"/share/debs/*.deb >"$work/lintian.log" 2>&1; then
  cat "$work/lintian.log" >&2
  echo "test:distro: FAILED: lintian found errors" >&2
  exit 1
fi
echo "test:distro: lintian: $(grep -c '^E:' "$work/lintian.log" || true) errors, $(grep -c '^W:' "$work/lintian.log" || true) warnings ($(($(date +%s) - lint_started)) s)" >&2
built=$(date +%s)

rc=0
"$checkout/scripts/distro/run.sh" --timeout "${HOSTWARDEN_DISTRO_TIMEOUT:-1500}" --share "$work/share" -- "$checkout/test/distro/checks.sh" || rc=$?
echo "test:distro: $([ $rc = 0 ] && echo passed || echo "FAILED ($rc)") in $(($(date +%s) - started)) s (packages and lintian $((built - started)) s)" >&2
exit $rc
