#!/bin/sh
# The test command of the README: installs what the tests need beyond npm, builds, type-checks, then runs
# unit tests, system tests (real cgroups, users, processes) and, unless --host-only, the VM tier and the
# distro tier (a Debian 12 guest with systemd and a hosting stack, the packages installed from the tree).
set -eu
cd "$(dirname "$0")/.."
host_only=0
[ "${1:-}" = "--host-only" ] && host_only=1

scripts/install-prereqs.sh $([ $host_only = 1 ] && echo --host-only)
export HW_TEST_TYPESCRIPT_API="${HW_TEST_TYPESCRIPT_API:-/var/cache/hostwarden-tests/typescript-6.0.3}"
npm run --silent typecheck
npm run --silent build:ui   # dist/ui: the browser tests (test/system/ui/) drive the built pages
npx vitest run --project unit
npx vitest run --project system
if [ $host_only = 0 ]; then
  npm run --silent test:vm
  npm run --silent test:distro
fi
