// The v2 backend on this machine's REAL cgroup2 mount (/sys/fs/cgroup/unified on a hybrid host). That mount has
// no cpu/memory/io/pids controllers, but every cgroup still has cpu.stat, *.pressure, cgroup.freeze and
// cgroup.kill: the backend must use those and treat the rest as no data (and limits on them as clear errors).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDriver, detectLayout } from '../../../../../agent/kernel/cgroup/detect.js';
import type { CgroupDriver, CgroupLogger } from '../../../../../agent/kernel/cgroup/driver.js';
import { CgroupBusyError, CgroupUnsupportedError } from '../../../../../agent/kernel/cgroup/errors.js';
import { describeWith, missing, needRoot } from '../../../../helpers/env.js';
import { BUSY_LOOP, cgroupsOf, cleanupSuite, cpuAndIdle, exited, expectReached, killAndWait, Procs, sleep, SLEEPER, uniqueParent } from './procs.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
const layout = existsSync(CGROUP_ROOT) ? detectLayout({ cgroupRoot: CGROUP_ROOT, procRoot: '/proc' }) : undefined;
const hybrid = layout?.unified !== undefined && layout.unified.mountPoint !== CGROUP_ROOT;
const needHybrid: [boolean, string] = [hybrid && existsSync(join(layout!.unified!.mountPoint, 'cgroup.procs')), 'needs a hybrid host (cgroup2 mounted below /sys/fs/cgroup)'];

describeWith(missing([needRoot, needHybrid]), 'v2 driver on the real unified mount of a hybrid host', () => {
  const parent = uniqueParent();
  const procs = new Procs();
  const warnings: object[] = [];
  const logger: CgroupLogger = { info() {}, debug() {}, warn: (o) => warnings.push(o) };
  let driver: CgroupDriver;

  beforeAll(() => {
    driver = createDriver({ cgroupRoot: CGROUP_ROOT, procRoot: '/proc', parent, driver: 'v2', logger });
    driver.setup();
    driver.create('alice');
  });

  afterAll(async () => {
    const problems = await cleanupSuite(driver, procs, [layout!.unified!.mountPoint], parent);
    expect(existsSync(join(layout!.unified!.mountPoint, parent)), problems.join('; ')).toBe(false);
  });

  it('sets up under the unified mount, warning about the controllers it lacks', () => {
    expect(driver.kind).toBe('v2');
    expect(driver.parentPaths()).toEqual([join(layout!.unified!.mountPoint, parent)]);
    expect(warnings).toContainEqual({ parent: join(layout!.unified!.mountPoint, parent), missing: ['cpu', 'io', 'memory', 'pids'] });
  });

  it('moves a process into the unified hierarchy only', () => {
    const child = procs.startIn(driver, 'alice', SLEEPER);
    expect(cgroupsOf(child.pid!)['']).toBe(`/${parent}/alice`);
    expect(cgroupsOf(child.pid!).cpu).not.toContain(parent);
    expect(driver.procs('alice')).toEqual([child.pid]);
    expect(driver.tenantOf(child.pid!)).toBe('alice');
  });

  it('reads cpu.stat, pressure and the freeze state; the missing controllers are no data', async () => {
    const burner = procs.startIn(driver, 'alice', BUSY_LOOP);
    expectReached(await cpuAndIdle(driver, 'alice', 1000), 30); // a busy loop for ~1 s
    const r = driver.openStats('alice');
    try {
      const a = r.read();
      await sleep(200);
      const b = r.read();
      expect(b.cpuUsageUsec! - a.cpuUsageUsec!).toBeGreaterThan(0);
      expect(b.pressure?.cpu?.some).toBeDefined();
      expect(b.pressure?.io?.some).toBeDefined();
      expect(b.frozen).toBe(false);
      expect(b.memory).toBeUndefined();
      expect(b.io).toBeUndefined();
      expect(b.pids).toBeUndefined();
    } finally {
      r.close();
      await killAndWait(burner);
    }
  });

  it('refuses limits on controllers the mount lacks, naming the file', () => {
    expect(driver.getLimits('alice')).toEqual({});
    expect(() => driver.setLimits('alice', { cpuPercent: 50 })).toThrow(CgroupUnsupportedError);
    expect(() => driver.setLimits('alice', { cpuPercent: 50 })).toThrow(/cpu\.max does not exist/);
  });

  it('freezes through cgroup.freeze: a burner stops using cpu, and runs again when thawed', async () => {
    driver.create('ice');
    const burner = procs.startIn(driver, 'ice', BUSY_LOOP);
    const r = driver.openStats('ice');
    try {
      driver.freeze('ice');
      expect(driver.isFrozen('ice')).toBe(true);
      const a = r.read();
      expect(a.frozen).toBe(true);
      await sleep(1500);
      const b = r.read();
      driver.thaw('ice');
      await sleep(1000);
      const c = r.read();
      console.log(`unified freeze: ${b.cpuUsageUsec! - a.cpuUsageUsec!} us of cpu in 1.5 s frozen; ${c.cpuUsageUsec! - b.cpuUsageUsec!} us in 1 s thawed`);
      expect(b.cpuUsageUsec! - a.cpuUsageUsec!).toBeLessThan(20_000);
      expect(c.cpuUsageUsec! - b.cpuUsageUsec!).toBeGreaterThan(100_000);
    } finally {
      r.close();
      await killAndWait(burner);
    }
  });

  it('kills a frozen tenant through cgroup.kill and then removes it', async () => {
    driver.create('doomed');
    const a = procs.startIn(driver, 'doomed', SLEEPER);
    const b = procs.startIn(driver, 'doomed', BUSY_LOOP);
    driver.freeze('doomed');
    expect(() => driver.remove('doomed')).toThrow(CgroupBusyError);
    driver.kill('doomed');
    await Promise.all([exited(a), exited(b)]);
    expect([a.signalCode, b.signalCode]).toEqual(['SIGKILL', 'SIGKILL']);
    driver.remove('doomed');
    expect(driver.exists('doomed')).toBe(false);
  });
});
