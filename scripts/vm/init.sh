#!/bin/busybox sh
# /init of the VM tier's guest (busybox, in the initramfs that build-image.sh makes).
#
# 1. loads the modules listed in /etc/boot-modules (virtio, 9p, overlay, ext4, quota, nftables, tc, veth);
# 2. mounts the host's root read-only over 9p (tag "hostroot") and lays a tmpfs overlay on it, so the guest
#    runs the host's own binaries, the pinned Node and the checkout, and may write anywhere without ever
#    writing to the host;
# 3. mounts proc, sys, dev, a cgroup2 hierarchy with cpu io memory pids enabled for children, tmpfs /tmp and
#    /run, the writable results share (tag "results") at /run/hostwarden-vm, and the scratch disk /dev/vda
#    (ext4 with the quota feature, made by run.sh) at /mnt/scratch; brings up lo;
# 4. runs /run/hostwarden-vm/cmd with bash in the overlay root, from the checkout, with the variables of
#    /run/hostwarden-vm/env; writes its exit status to /run/hostwarden-vm/exit-code and powers off.
# Any failure before the command runs prints "hostwarden-vm: FAILED ..." and powers off without an exit code,
# which run.sh reports as a boot failure.
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
stty -onlcr 2>/dev/null

fail() {
  echo "hostwarden-vm: FAILED: $*"
  dmesg | tail -n 30
  sync
  poweroff -f
  sleep 60
}

while read -r m; do
  [ -n "$m" ] || continue
  modprobe "$m" || fail "cannot load module $m"
done </etc/boot-modules

msize=512000
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=$msize hostroot /lower ||
  fail "cannot mount the host root (9p tag hostroot)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=$msize results /results ||
  fail "cannot mount the results share (9p tag results)"
mount -t tmpfs -o mode=0755 upper /upper
mkdir -p /upper/rw /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/rw,workdir=/upper/work overlay /newroot ||
  fail "cannot lay the overlay on the host root"

N=/newroot
project=$(cat /results/project)
[ -d "$N$project" ] || fail "the checkout $project is not visible through the host root share"
# A checkout under a folder that gets a fresh tmpfs below (a clone in /tmp) stays visible: hold it aside.
held=0
case "$project" in
/tmp/* | /var/tmp/* | /run/*)
  mkdir -p /keep && mount --bind "$N$project" /keep || fail "cannot hold $project aside"
  held=1
  ;;
esac
mount -t proc proc $N/proc || fail "cannot mount proc"
mount -t sysfs sysfs $N/sys || fail "cannot mount sysfs"
mount -t devtmpfs devtmpfs $N/dev || fail "cannot mount devtmpfs"
mkdir -p $N/dev/pts $N/dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts $N/dev/pts
mount -t tmpfs -o mode=1777 shm $N/dev/shm
# cgroup v2 the way current distributions mount it; fall back when the kernel lacks an option.
cg=$N/sys/fs/cgroup
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 $cg 2>/dev/null ||
  mount -t cgroup2 -o nsdelegate cgroup2 $cg 2>/dev/null ||
  mount -t cgroup2 cgroup2 $cg || fail "cannot mount cgroup2"
echo "+cpu +io +memory +pids" >$cg/cgroup.subtree_control ||
  fail "cannot enable cpu io memory pids (root offers: $(cat $cg/cgroup.controllers))"
mount -t debugfs debugfs $N/sys/kernel/debug 2>/dev/null
mount -t tmpfs -o mode=1777 tmp $N/tmp
mount -t tmpfs -o mode=1777 vartmp $N/var/tmp
mount -t tmpfs -o mode=0755 run $N/run
mkdir -p $N/run/hostwarden-vm $N/run/lock
mount --bind /results $N/run/hostwarden-vm || fail "cannot bind the results share"
if [ $held = 1 ]; then
  mkdir -p "$N$project" && mount --move /keep "$N$project" || fail "cannot put $project back"
fi
if [ -b /dev/vda ]; then
  mkdir -p $N/mnt/scratch
  mount -t ext4 -o usrquota,grpquota /dev/vda $N/mnt/scratch || fail "cannot mount the scratch disk /dev/vda"
fi
# The host's mount table is not ours: give the guest its own.
ln -sf /proc/self/mounts $N/etc/mtab 2>/dev/null
ip link set lo up || fail "cannot bring up lo"
hostname hostwarden-vm

up=$(cut -d' ' -f1 /proc/uptime)
echo "hostwarden-vm: kernel $(uname -r) up in ${up}s; running the command in $project"
echo "$up" >/results/boot-seconds

# Output goes through a pipe, not straight to the serial console, so that tools do not take it for a terminal.
{
  chroot $N /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 HOSTWARDEN_VM=1 \
    HOSTWARDEN_VM_SCRATCH=/mnt/scratch HOSTWARDEN_VM_SCRATCH_DEV=/dev/vda HOSTWARDEN_VM_RESULTS=/run/hostwarden-vm \
    PATH="$project/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    /bin/bash -c 'cd "$1" && . /run/hostwarden-vm/env && exec /bin/bash /run/hostwarden-vm/cmd' hostwarden-vm "$project" \
    </dev/null
  echo $? >/results/.status
} 2>&1 | cat
rc=$(cat /results/.status 2>/dev/null)
rm -f /results/.status
[ -n "$rc" ] || rc=255
echo "hostwarden-vm: command exited with status $rc after $(cut -d' ' -f1 /proc/uptime)s of uptime"
dmesg >/results/dmesg.log 2>/dev/null
echo "$rc" >/results/exit-code
sync
umount $N/mnt/scratch 2>/dev/null
echo 0 >/proc/sys/kernel/printk
poweroff -f
sleep 60
