// io.max through the project's v2 driver, on the guest's virtio disk: O_DIRECT writes and reads, and small
// writes by count, are held within 10% of their caps; io.stat (via the driver's stats) sees the bytes.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cgDir, deviceNumbers, readIoStat, requireGuest, SCRATCH, SCRATCH_DEV, sleep, tenantScope } from '../guest.js';

requireGuest();

const MiB = 1024 * 1024;
const CAP_BPS = 4 * MiB;
const CAP_IOPS = 100;
const SETTLE_MS = 700;
const WINDOW_MS = 3000;

describe('io.max on the guest v2 hierarchy (virtio disk)', () => {
  const g = tenantScope(['io']);
  const dev = deviceNumbers(SCRATCH_DEV);
  const file = join(SCRATCH, `io-${process.pid}.bin`);

  /** Run a shell command in tenant "io" to its end; returns its wall time in seconds (it must succeed). */
  async function timed(script: string): Promise<number> {
    const t0 = performance.now();
    const p = await g.start('io', script);
    const { code } = await p.exited;
    expect(code, p.output()).toBe(0);
    return (performance.now() - t0) / 1000;
  }

  /**
   * Start `script` in tenant "io", let it settle, then measure the rate of one io.stat counter of the scratch
   * disk over a window (raw reads of the kernel's own accounting), then stop the script.
   */
  async function steadyRate(script: string, key: 'rbytes' | 'wbytes' | 'rios' | 'wios'): Promise<number> {
    const p = await g.start('io', script);
    try {
      await sleep(SETTLE_MS);
      const c0 = ioCounter(key);
      const t0 = performance.now();
      await sleep(WINDOW_MS);
      const c1 = ioCounter(key);
      const t1 = performance.now();
      expect(p.child.exitCode, `the IO load ended before the window did: ${p.output()}`).toBeNull();
      return (c1 - c0) / ((t1 - t0) / 1000);
    } finally {
      g.driver.kill('io');
      await p.exited;
    }
  }

  const ioCounter = (key: string): number => readIoStat(g.driver.parent, 'io', dev)[key] ?? 0;

  afterAll(() => {
    rmSync(file, { force: true });
  });

  it('writes O_DIRECT much faster than the cap without a limit (the baseline)', async () => {
    const secs = await timed(`dd if=/dev/zero of=${file} bs=1M count=32 oflag=direct status=none`);
    const bps = (32 * MiB) / secs;
    console.log(`unthrottled O_DIRECT write: ${(bps / MiB).toFixed(1)} MiB/s`);
    expect(bps).toBeGreaterThan(2 * CAP_BPS);
  });

  it('holds O_DIRECT writes within 10% of wbps and accounts them in io.stat', async () => {
    const driver = g.driver;
    const got = driver.setLimits('io', { io: [{ ...dev, wbps: CAP_BPS }] });
    expect(got.io).toEqual([{ ...dev, wbps: CAP_BPS }]);
    expect(readFileSync(join(cgDir(driver.parent, 'io'), 'io.max'), 'utf8')).toContain(`${dev.major}:${dev.minor} rbps=max wbps=${CAP_BPS} `);
    const stats = driver.openStats('io');
    try {
      const before = stats.read().io!;
      const bps = await steadyRate(`dd if=/dev/zero of=${file} bs=256k count=256 oflag=direct conv=notrunc status=none`, 'wbytes');
      console.log(`io.max wbps=${CAP_BPS / MiB} MiB/s: O_DIRECT writes at ${(bps / MiB).toFixed(2)} MiB/s`);
      expect(Math.abs(bps - CAP_BPS) / CAP_BPS).toBeLessThanOrEqual(0.1);
      // The driver's own stats see the same writes (at least what the window saw).
      const after = stats.read().io!;
      expect(after.wbytes - before.wbytes).toBeGreaterThanOrEqual(bps * (WINDOW_MS / 1000) * 0.9);
      expect(after.wios).toBeGreaterThan(before.wios);
    } finally {
      stats.close();
    }
  });

  it('holds O_DIRECT reads within 10% of rbps', async () => {
    g.driver.setLimits('io', { io: [{ ...dev, rbps: CAP_BPS }] });
    const bps = await steadyRate(`dd if=${file} of=/dev/null bs=256k iflag=direct status=none`, 'rbytes');
    console.log(`io.max rbps=${CAP_BPS / MiB} MiB/s: O_DIRECT reads at ${(bps / MiB).toFixed(2)} MiB/s`);
    expect(Math.abs(bps - CAP_BPS) / CAP_BPS).toBeLessThanOrEqual(0.1);
  });

  it('holds 4 KiB O_DIRECT writes within 10% of wiops', async () => {
    g.driver.setLimits('io', { io: [{ ...dev, wiops: CAP_IOPS }] });
    const iops = await steadyRate(`dd if=/dev/zero of=${file} bs=4k count=2000 oflag=direct conv=notrunc status=none`, 'wios');
    console.log(`io.max wiops=${CAP_IOPS}: ${iops.toFixed(1)} writes/s`);
    expect(Math.abs(iops - CAP_IOPS) / CAP_IOPS).toBeLessThanOrEqual(0.1);
  });

  it('lifts every device limit with io: null', () => {
    expect(g.driver.setLimits('io', { io: null }).io).toBeNull();
    expect(readFileSync(join(cgDir(g.driver.parent, 'io'), 'io.max'), 'utf8').trim()).toBe('');
  });
});
