#!/bin/bash
# Boots the VM tier's guest (a Debian kernel under qemu, TCG) and runs one command inside it, on a real cgroup
# v2 hierarchy with the cpu io memory pids controllers enabled, from this checkout, as root.
#
#   scripts/vm/run.sh [--timeout SECONDS] [--keep] [--] COMMAND [ARG...]
#
# The guest sees the host's root read-only through 9p with a tmpfs overlay (it may write anywhere; nothing
# reaches the host), the checkout at its host path, a fresh ext4 scratch disk with user and group quotas at
# /mnt/scratch (/dev/vda), and a writable results share at /run/hostwarden-vm. The command runs with bash in
# the checkout with HOSTWARDEN_VM=1 and the checkout's node_modules/.bin first in PATH. Its output streams
# here as it runs.
#
# Exit status: the command's own; 124 when the hard timeout (default 480 s) killed the guest; 125 when the
# guest could not run the command (qemu missing, kernel fetch failed, boot failed). No qemu process, mount
# or loop device is left behind: qemu dies with this script (trap, and PR_SET_PDEATHSIG for SIGKILL).
#
# Environment: HOSTWARDEN_VM_TIMEOUT (seconds, default 480), HOSTWARDEN_VM_MEMORY (MiB, default 1536),
# HOSTWARDEN_VM_SMP (default 2), HOSTWARDEN_VM_ACCEL (default tcg,thread=multi), HOSTWARDEN_VM_CPU (default
# Nehalem-v2: SSE4.2 but no AVX, so glibc and V8 take code paths TCG emulates fast; measured against `max`:
# node start-up and exec-heavy work about 1.3-2x faster), HOSTWARDEN_VM_SCRATCH_SIZE
# (default 1G), HOSTWARDEN_VM_SCRATCH_INODES (default 262144: room for the inode tests' tree of 100k files; mkfs's
# default of one inode per 16 KiB gives a 1G disk only 65536), HOSTWARDEN_VM_CACHE (default /var/cache/hostwarden-tests/vm,
# outside the checkout: a fresh clone on this machine finds it warm).
# CI, NO_COLOR and FORCE_COLOR pass through.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)
cache=${HOSTWARDEN_VM_CACHE:-/var/cache/hostwarden-tests/vm}
timeout=${HOSTWARDEN_VM_TIMEOUT:-480}
memory=${HOSTWARDEN_VM_MEMORY:-1536}
smp=${HOSTWARDEN_VM_SMP:-2}
accel=${HOSTWARDEN_VM_ACCEL:-tcg,thread=multi}
scratch_size=${HOSTWARDEN_VM_SCRATCH_SIZE:-1G}
scratch_inodes=${HOSTWARDEN_VM_SCRATCH_INODES:-262144}
keep=0

EXIT_TIMEOUT=124
EXIT_INFRA=125

say() { echo "vm/run: $*" >&2; }
die() {
  say "$*"
  exit $EXIT_INFRA
}
usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
  --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
  --timeout=*) timeout=${1#*=}; shift ;;
  --keep) keep=1; shift ;;
  -h | --help) usage ;;
  --) shift; break ;;
  -*) say "unknown option $1"; usage ;;
  *) break ;;
  esac
done
[ $# -gt 0 ] || { say "no command given"; usage; }
case "$timeout" in '' | *[!0-9]*) say "--timeout must be a whole number of seconds, got '$timeout'"; exit 2 ;; esac
case "$scratch_inodes" in '' | *[!0-9]*) say "HOSTWARDEN_VM_SCRATCH_INODES must be a whole number, got '$scratch_inodes'"; exit 2 ;; esac

[ "$(id -u)" = 0 ] || die "must run as root (the guest shares the host's root filesystem read-only over 9p)"
for cmd in qemu-system-x86_64 mkfs.ext4 setpriv truncate; do
  command -v "$cmd" >/dev/null 2>&1 || die "missing command '$cmd' (scripts/install-prereqs.sh installs it)"
done

started=$(date +%s.%N)
images=$("$here/build-image.sh") || die "building the kernel and initramfs failed"
kernel=$(sed -n 1p <<<"$images")
initramfs=$(sed -n 2p <<<"$images")
[ -f "$kernel" ] && [ -f "$initramfs" ] || die "build-image.sh gave no kernel/initramfs"
built=$(date +%s.%N)

mkdir -p "$cache/runs"
# Run folders of earlier runs that were SIGKILLed (their trap could not run): their qemu died with them.
for old in "$cache"/runs/run-*; do
  [ -d "$old" ] || continue
  owner=$(cat "$old/owner" 2>/dev/null || true)
  if [ -z "$owner" ] || ! kill -0 "$owner" 2>/dev/null; then rm -rf "$old"; fi
done
run=$(mktemp -d "$cache/runs/run-XXXXXX")
echo $$ >"$run/owner"
qpid=""
tpid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
    say "stopping qemu (pid $qpid)"
    kill -TERM "$qpid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  if [ -n "$tpid" ]; then
    kill "$tpid" 2>/dev/null || true
    wait "$tpid" 2>/dev/null || true
  fi
  if [ $keep = 1 ]; then
    say "kept $run"
  else
    rm -rf "$run"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM
trap 'exit 129' HUP

# What the guest's init reads from the results share.
mkdir -p "$run/share"
printf '%s\n' "$checkout" >"$run/share/project"
{
  for var in CI NO_COLOR FORCE_COLOR; do
    [ -n "${!var+x}" ] && printf 'export %s=%q\n' "$var" "${!var}"
  done
  true
} >"$run/share/env"
{
  printf '%q ' "$@"
  echo
} >"$run/share/cmd"

# A fresh scratch disk: sparse, ext4 with the quota feature (user and group accounting from mount on).
# Inode tables and journal are written now, so no lazy-init writer runs in the guest during IO tests.
truncate -s "$scratch_size" "$run/scratch.img"
mkfs.ext4 -q -F -m 0 -N "$scratch_inodes" -O quota -E quotatype=usrquota:grpquota,lazy_itable_init=0,lazy_journal_init=0 \
  -L hw-scratch "$run/scratch.img" || die "mkfs.ext4 of the scratch disk failed"

console="$run/console.log"
: >"$console"
# PR_SET_PDEATHSIG: if this script is SIGKILLed (no trap runs), the kernel kills qemu too.
setpriv --pdeathsig KILL -- qemu-system-x86_64 \
  -nodefaults -no-user-config -no-reboot \
  -machine pc -accel "$accel" -cpu "${HOSTWARDEN_VM_CPU:-Nehalem-v2}" -smp "$smp" -m "$memory" \
  -display none -vga none -monitor none \
  -serial "file:$console" \
  -kernel "$kernel" -initrd "$initramfs" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off 8250.nr_uarts=1 cgroup_no_v1=all" \
  -device virtio-rng-pci \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$run/share,mount_tag=results,security_model=none,multidevs=remap" \
  -drive "file=$run/scratch.img,if=virtio,format=raw,cache=unsafe,aio=threads" \
  </dev/null >"$run/qemu.log" 2>&1 &
qpid=$!
tail -n +1 -F --pid="$qpid" "$console" 2>/dev/null &
tpid=$!

deadline=$(($(date +%s) + timeout))
timed_out=0
while kill -0 "$qpid" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    timed_out=1
    kill -KILL "$qpid" 2>/dev/null || true
    break
  fi
  sleep 0.25
done
qrc=0
{ wait "$qpid"; } 2>/dev/null || qrc=$?
qpid=""
# Let tail print the last lines, then stop it.
sleep 0.3
kill "$tpid" 2>/dev/null || true
wait "$tpid" 2>/dev/null || true
tpid=""
finished=$(date +%s.%N)

boot=$(cat "$run/share/boot-seconds" 2>/dev/null || echo "?")
timing=$(awk -v s="$started" -v b="$built" -v f="$finished" -v boot="$boot" \
  'BEGIN { printf "image %.1fs, guest boot %ss, guest total %.1fs, all %.1fs", b - s, boot, f - b, f - s }')
if [ $timed_out = 1 ]; then
  say "TIMEOUT: the guest ran longer than ${timeout}s and was killed ($timing)"
  exit $EXIT_TIMEOUT
fi
if [ ! -s "$run/share/exit-code" ]; then
  say "FAILED: the guest stopped without running the command to its end (qemu exit $qrc; $timing)"
  if [ -s "$run/qemu.log" ]; then
    say "qemu said:"
    sed 's/^/  /' "$run/qemu.log" >&2
  fi
  exit $EXIT_INFRA
fi
rc=$(cat "$run/share/exit-code")
if [ "$rc" = 0 ]; then say "command passed ($timing)"; else say "FAILED: the command exited $rc ($timing)"; fi
exit "$rc"
