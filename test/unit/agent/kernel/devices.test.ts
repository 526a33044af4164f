import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { devicesOf, splitDev, wholeDisk } from '../../../../agent/kernel/devices.js';

const sys = mkdtempSync(join(tmpdir(), 'hw-sys-'));
afterAll(() => rmSync(sys, { recursive: true, force: true }));

describe('devices', () => {
  it('splits dev_t like glibc', () => {
    expect(splitDev(0xfe00n)).toEqual({ major: 254, minor: 0 });
    expect(splitDev(0x801n)).toEqual({ major: 8, minor: 1 });
    // glibc makedev(0x1103, 0x2045): large majors and minors spill into the high bits.
    const makedev = (ma: bigint, mi: bigint) => (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
    expect(splitDev(makedev(0x1103n, 0x2045n))).toEqual({ major: 0x1103, minor: 0x2045 });
  });

  it('maps a partition to its whole disk through sysfs', () => {
    // /sys/dev/block/8:1 -> .../sda/sda1 (a partition), whose parent holds dev "8:0".
    mkdirSync(join(sys, 'devices/sda/sda1'), { recursive: true });
    writeFileSync(join(sys, 'devices/sda/dev'), '8:0\n');
    writeFileSync(join(sys, 'devices/sda/sda1/partition'), '1\n');
    mkdirSync(join(sys, 'dev/block'), { recursive: true });
    symlinkSync(join(sys, 'devices/sda/sda1'), join(sys, 'dev/block/8:1'));
    symlinkSync(join(sys, 'devices/sda'), join(sys, 'dev/block/8:0'));
    expect(wholeDisk({ major: 8, minor: 1 }, sys)).toEqual({ major: 8, minor: 0 });
    expect(wholeDisk({ major: 8, minor: 0 }, sys)).toEqual({ major: 8, minor: 0 });
  });

  it('finds the disk of real paths and skips device-less filesystems and missing paths', () => {
    const found = devicesOf(['/', '/nonexistent-path', '/proc']);
    expect(found.length).toBe(1); // "/" is on a block device here; /proc has major 0
    expect(found[0]!.major).toBeGreaterThan(0);
  });
});
