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
want lintian lintian       # Debian's package checker on the built .debs (test/system/packaging/deb.test.ts)
want strip binutils        # packaging/build-deb.sh strips the runtime and the native module
want man man-db            # the packaged manual pages are read with man --warnings
want /usr/bin/python3 python3-minimal
want clamscan clamav         # the malware scanner's engine (test/unit/agent/malware/, bench scan); updater disabled below
want clamdscan clamdscan
want clamd clamav-daemon
want nginx nginx             # the web tier: a real nginx on loopback (test/system/weblogs.test.ts)
want logrotate logrotate     # ... rotated by Debian's logrotate with the test's own config and state file
want promtool prometheus   # promtool check metrics on a scrape of /metrics (test/unit/controller/metrics.test.ts)
want prometheus prometheus # a real Prometheus the test starts itself scrapes an agent (test/system/prometheus.test.ts); its service disabled below
want stress-ng stress-ng   # real tenant load for the contention tests (test/system/contention.test.ts, test/vm/contention.test.ts)
want iperf3 iperf3         # real TCP transfers for the bandwidth counters and the HTB shaper (test/system/bandwidth.test.ts)
want chromium chromium     # headless browser of the dashboard tests (test/system/ui/) and bench ui, driven by playwright-core
# PostgreSQL's server for the PostgreSQL store's tests (test/helpers/postgres.ts starts a cluster of its own
# in /tmp; the package's `main` cluster is stopped and set to manual below). initdb is not on PATH: look for it.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
if [ "${1:-}" != "--host-only" ]; then
  want qemu-system-x86_64 qemu-system-x86
  want busybox busybox-static
  want cpio cpio
  want depmod kmod
  want debootstrap debootstrap   # the distro tier's Debian 12 root filesystem (scripts/distro/)
  want qemu-img qemu-utils       # ... booted from a copy-on-write overlay of the cached image
fi
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-prereqs: missing packages:$need (run as root, or install them)" >&2
    exit 1
  fi
  echo "install-prereqs: installing$need" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # No service a package brings may start during the install (ClamAV's updater would reach the internet,
  # nginx would take port 80 and stay running):
  # a policy-rc.d of our own for the install alone, where the machine has none.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >/dev/null || { [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
# ClamAV's signature updater and the packaged clamd stay off: tests bring their own small signature
# databases (and their own clamd); nothing may reach the internet. So does the packaged Prometheus (it would
# scrape this machine on port 9090 for good): the tests start their own, on addresses of their own.
for svc in clamav-freshclam clamav-daemon prometheus; do
  [ -e "/etc/init.d/$svc" ] || [ -e "/lib/systemd/system/$svc.service" ] || continue
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  else
    command -v update-rc.d >/dev/null 2>&1 && update-rc.d "$svc" disable >/dev/null 2>&1 || true
    [ ! -x "/etc/init.d/$svc" ] || "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done
# The postgresql package makes a `main` cluster and would start it at boot: the tests never use it.
for conf in /etc/postgresql/*/main/start.conf; do
  [ -f "$conf" ] || continue
  sed -i 's/^auto$/manual/' "$conf"
  command -v pg_ctlcluster >/dev/null 2>&1 || continue
  v=$(basename "$(dirname "$(dirname "$conf")")")
  pg_ctlcluster "$v" main status >/dev/null 2>&1 && pg_ctlcluster "$v" main stop >/dev/null 2>&1 || true
done

# The OpenAPI client test generates a client with @hey-api/openapi-ts, which needs the TypeScript compiler
# API; the project's typescript 7 (the native compiler) has none. A typescript 6 package from the npm
# registry, unpacked once into a machine-level cache keyed by its version (never into node_modules, where
# its `tsc` could shadow the project's), is handed to the generator alone (HW_TEST_TYPESCRIPT_API, set by
# scripts/test.sh).
TS_API_VERSION=6.0.3
ts_api=${HW_TEST_TYPESCRIPT_API:-/var/cache/hostwarden-tests/typescript-$TS_API_VERSION}
if [ ! -f "$ts_api/lib/typescript.js" ] && [ "$(id -u)" = 0 ]; then
  echo "install-prereqs: unpacking typescript@$TS_API_VERSION (compiler API for the OpenAPI client test) into $ts_api" >&2
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent "typescript@$TS_API_VERSION" >/dev/null 2>&1) && mkdir -p "$ts_api" && tar -xzf "$tmp"/typescript-*.tgz -C "$ts_api" --strip-components=1; then
    :
  else
    echo "install-prereqs: could not fetch typescript@$TS_API_VERSION; the OpenAPI client test will say so" >&2
    rm -rf "$ts_api"
  fi
  rm -rf "$tmp"
fi
