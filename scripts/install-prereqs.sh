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
want stress-ng stress-ng   # real tenant load for the contention tests (test/system/contention.test.ts, test/vm/contention.test.ts)
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
