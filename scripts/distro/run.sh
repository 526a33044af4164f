#!/bin/bash
# Boots the distro tier's guest (Debian 12, systemd as PID 1, the Debian kernel, under qemu TCG) once and runs
# one script in it as root after multi-user.target is up.
#
#   scripts/distro/run.sh [--timeout SECONDS] [--keep] [--share DIR] [--] SCRIPT [ARG...]
#
# SCRIPT (a bash script on the host) and everything in --share DIR (e.g. the .deb packages) are copied into a
# fresh share that the guest mounts over 9p at /run/hostwarden-distro (its working directory); the script runs
# there with HOSTWARDEN_DISTRO=1. The guest boots a copy-on-write overlay of the cached image, so every run
# starts from the same freshly installed system and the cache is never written. The guest has no network
# device. Its console streams here as it runs.
#
# Exit status: the script's own; 124 when the hard timeout (default 1500 s) killed the guest; 125 when the
# guest could not run the script (image build failed, qemu failed, boot failed). No qemu process, mount,
# loop device or network interface is left behind: nothing is mounted on the host, and qemu dies with this
# script (trap, and PR_SET_PDEATHSIG for SIGKILL).
#
# Environment: HOSTWARDEN_DISTRO_TIMEOUT, HOSTWARDEN_DISTRO_MEMORY (MiB, default 2048), HOSTWARDEN_DISTRO_SMP
# (default 2), HOSTWARDEN_VM_ACCEL and HOSTWARDEN_VM_CPU as for the VM tier, HOSTWARDEN_DISTRO_CACHE (see
# build-image.sh). CI passes through (exported to the script).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${HOSTWARDEN_DISTRO_CACHE:-/var/cache/hostwarden-tests/distro}
timeout=${HOSTWARDEN_DISTRO_TIMEOUT:-1500}
memory=${HOSTWARDEN_DISTRO_MEMORY:-2048}
smp=${HOSTWARDEN_DISTRO_SMP:-2}
accel=${HOSTWARDEN_VM_ACCEL:-tcg,thread=multi}
keep=0
extra=""

EXIT_TIMEOUT=124
EXIT_INFRA=125
say() { echo "distro/run: $*" >&2; }
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
  --keep) keep=1; shift ;;
  --share) extra=${2:?--share needs a directory}; shift 2 ;;
  -h | --help) usage ;;
  --) shift; break ;;
  -*) say "unknown option $1"; usage ;;
  *) break ;;
  esac
done
[ $# -gt 0 ] || { say "no script given"; usage; }
case "$timeout" in '' | *[!0-9]*) say "--timeout must be a whole number of seconds"; exit 2 ;; esac
[ -f "$1" ] || { say "no such script: $1"; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap builds the image)"
for cmd in qemu-system-x86_64 qemu-img setpriv; do
  command -v "$cmd" >/dev/null 2>&1 || die "missing command '$cmd' (scripts/install-prereqs.sh installs it)"
done

started=$(date +%s.%N)
images=$("$here/build-image.sh") || die "building the guest image failed"
kernel=$(sed -n 1p <<<"$images")
initramfs=$(sed -n 2p <<<"$images")
disk=$(sed -n 3p <<<"$images")
built=$(date +%s.%N)

mkdir -p "$cache/runs"
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
  if [ $keep = 1 ]; then say "kept $run"; else rm -rf "$run"; fi
  exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$run/share"
[ -z "$extra" ] || cp -a "$extra/." "$run/share/"
script=$1
shift
cp "$script" "$run/share/main.sh"
{
  for var in CI NO_COLOR; do
    [ -n "${!var+x}" ] && printf 'export %s=%q\n' "$var" "${!var}"
  done
  printf 'exec bash ./main.sh'
  printf ' %q' "$@"
  echo
} >"$run/share/cmd"
qemu-img create -q -f qcow2 -F raw -b "$disk" "$run/overlay.qcow2" || die "qemu-img create of the overlay failed"

console="$run/console.log"
: >"$console"
setpriv --pdeathsig KILL -- qemu-system-x86_64 \
  -nodefaults -no-user-config -no-reboot \
  -machine pc -accel "$accel" -cpu "${HOSTWARDEN_VM_CPU:-Nehalem-v2}" -smp "$smp" -m "$memory" \
  -display none -vga none -monitor none -nic none \
  -serial "file:$console" \
  -kernel "$kernel" -initrd "$initramfs" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off 8250.nr_uarts=1 net.ifnames=0 systemd.show_status=0 systemd.unified_cgroup_hierarchy=1" \
  -device virtio-rng-pci \
  -drive "file=$run/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe,aio=threads" \
  -virtfs "local,path=$run/share,mount_tag=hwshare,security_model=none,multidevs=remap" \
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
  sleep 0.5
done
qrc=0
{ wait "$qpid"; } 2>/dev/null || qrc=$?
qpid=""
sleep 0.3
kill "$tpid" 2>/dev/null || true
wait "$tpid" 2>/dev/null || true
tpid=""
finished=$(date +%s.%N)

boot=$(cat "$run/share/boot-seconds" 2>/dev/null || echo "?")
timing=$(awk -v s="$started" -v b="$built" -v f="$finished" -v boot="$boot" \
  'BEGIN { printf "image %.1fs, guest boot to multi-user %ss, guest total %.1fs, all %.1fs", b - s, boot, f - b, f - s }')
[ ! -f "$run/share/journal.log" ] || cp "$run/share/journal.log" "${HOSTWARDEN_DISTRO_JOURNAL:-/dev/null}" 2>/dev/null || true
if [ $timed_out = 1 ]; then
  say "TIMEOUT: the guest ran longer than ${timeout}s and was killed ($timing)"
  exit $EXIT_TIMEOUT
fi
if [ ! -s "$run/share/exit-code" ]; then
  say "FAILED: the guest stopped without running the script to its end (qemu exit $qrc; $timing)"
  [ ! -s "$run/qemu.log" ] || { say "qemu said:"; sed 's/^/  /' "$run/qemu.log" >&2; }
  exit $EXIT_INFRA
fi
rc=$(cat "$run/share/exit-code")
if [ "$rc" = 0 ]; then say "script passed ($timing)"; else say "FAILED: the script exited $rc ($timing)"; fi
exit "$rc"
