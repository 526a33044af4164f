#!/bin/bash
# In the distro guest (baked into the image as /usr/local/sbin/hostwarden-distro-run, started by
# hostwarden-distro-run.service once multi-user.target is up): mounts the host's share (9p tag "hwshare") at
# /run/hostwarden-distro, runs its `cmd` with bash there, writes the status to `exit-code`, powers off.
share=/run/hostwarden-distro
mkdir -p "$share"
modprobe 9pnet_virtio 2>/dev/null
modprobe 9p 2>/dev/null
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 hwshare "$share"; then
  echo "hostwarden-distro: FAILED: cannot mount the host's share"
  systemctl poweroff --no-block
  exit 1
fi
up=$(cut -d' ' -f1 /proc/uptime)
echo "$up" >"$share/boot-seconds"
echo "hostwarden-distro: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), systemd $(systemctl --version | awk 'NR==1 {print $2}'), up in ${up}s"
cd "$share" || exit 1
HOSTWARDEN_DISTRO=1 HOSTWARDEN_DISTRO_SHARE=$share bash "$share/cmd" </dev/null 2>&1
rc=$?
echo "hostwarden-distro: command exited with status $rc after $(cut -d' ' -f1 /proc/uptime)s of uptime"
journalctl -b --no-pager -o short-monotonic >"$share/journal.log" 2>/dev/null
echo "$rc" >"$share/exit-code"
sync
systemctl poweroff --no-block
