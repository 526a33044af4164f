// The block devices that hold a tenant's home directories, by major:minor, for io limits. cgroup io limits
// take whole disks, so a partition is mapped to its disk through sysfs. Filesystems without a block
// device (tmpfs, overlay, 9p, NFS: major 0) have nothing to limit and are skipped.
import { existsSync, readFileSync, statSync } from 'node:fs';

export interface BlockDevice {
  major: number;
  minor: number;
}

/** Linux dev_t encoding (glibc gnu_dev_major/minor). */
export function splitDev(dev: bigint): BlockDevice {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn & 0xffffffffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn & 0xffffffffn));
  return { major, minor };
}

/** The whole disk of a block device: a partition's parent in /sys/dev/block, else the device itself. */
export function wholeDisk(d: BlockDevice, sysRoot = '/sys'): BlockDevice {
  const dir = `${sysRoot}/dev/block/${d.major}:${d.minor}`;
  if (!existsSync(`${dir}/partition`)) return d;
  const parent = readFileSync(`${dir}/../dev`, 'utf8').trim();
  const [major, minor] = parent.split(':').map(Number);
  return major !== undefined && minor !== undefined && Number.isInteger(major) && Number.isInteger(minor) ? { major, minor } : d;
}

export function devicesOf(paths: readonly string[], sysRoot = '/sys'): BlockDevice[] {
  const out = new Map<string, BlockDevice>();
  for (const p of paths) {
    const st = statSync(p, { bigint: true, throwIfNoEntry: false });
    if (!st) continue;
    const d = splitDev(st.dev);
    if (d.major === 0) continue;
    const disk = wholeDisk(d, sysRoot);
    out.set(`${disk.major}:${disk.minor}`, disk);
  }
  return [...out.values()];
}
