#!/bin/bash
# `npm run test:vm`: the kernel-facing tests (test/vm/**) inside the VM tier's guest, on a real cgroup v2
# hierarchy with the cpu io memory pids controllers enabled. Arguments go to vitest, e.g. a file filter:
#   npm run test:vm -- test/vm/cgroup/cpu-max.test.ts
# Nothing here is optional: a missing qemu, a kernel that cannot be fetched, a guest that does not boot or a
# run over the time limit fails with a message and a non-zero status; it never skips.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=""
for cmd in qemu-system-x86_64 busybox cpio depmod; do
  command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
done
if [ -n "$missing" ]; then
  echo "test:vm: FAILED: missing$missing; install them with scripts/install-prereqs.sh (Debian: qemu-system-x86 busybox-static cpio kmod)" >&2
  exit 1
fi
[ -x node_modules/.bin/vitest ] || {
  echo "test:vm: FAILED: node_modules/.bin/vitest is missing: run npm ci first" >&2
  exit 1
}
# The guest runs the built agent and controller (dist/) as daemons: build them first (quick when up to date).
PATH="$PWD/node_modules/.bin:$PATH" tsc -b || {
  echo "test:vm: FAILED: the build (tsc -b) failed" >&2
  exit 1
}

# exec: a signal to this script reaches run.sh itself, whose trap stops qemu (and PR_SET_PDEATHSIG covers
# SIGKILL). run.sh prints how the run ended: the command's status, 124 timeout, 125 VM failure.
# One worker for every file (--no-isolate): each file makes its own parent cgroup and cleans it up, and
# re-importing vitest over 9p under emulation for each file costs ~4 s a file (measured: 212 s -> 160 s).
# The cap: 30 min (the inode tests make a tree of 100k files under emulation: minutes on a loaded machine).
exec scripts/vm/run.sh --timeout "${HOSTWARDEN_VM_TIMEOUT:-1800}" -- vitest run --project vm --no-isolate "$@"
