// The v1/hybrid driver on this machine's real kernel: cgroups under a unique parent in every v1 hierarchy and
// the unified mount, real processes, real stats, a CPU cap and the freezer measured, not asserted on timing.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriver, detectLayout } from '../../../../../agent/kernel/cgroup/detect.js';
import type { CgroupDriver } from '../../../../../agent/kernel/cgroup/driver.js';
import { CgroupBusyError, NoSuchProcessError } from '../../../../../agent/kernel/cgroup/errors.js';
import { KeptFile } from '../../../../../agent/kernel/cgroup/fd-reader.js';
import { V1Driver } from '../../../../../agent/kernel/cgroup/v1.js';
import { describeWith, missing, needRoot, needV1Cgroups } from '../../../../helpers/env.js';
import { BUSY_LOOP, cgroupsOf, cleanupSuite, cpuAndIdle, exited, expectReached, go, killAndWait, memoryHog, printed, Procs, sleep, SLEEPER, uniqueParent } from './procs.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
const HIERARCHIES = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'freezer'];
/**
 * The hierarchies a process is moved into: where the unified mount freezes (cgroup.freeze, kernel 5.2+, as on
 * this host) not the v1 freezer (V1Driver.placementDirs).
 */
function placedIn(parent: string): { placed: string[]; skipped: string[] } {
  if (!existsSync(join(CGROUP_ROOT, 'unified', parent, 'cgroup.freeze'))) return { placed: HIERARCHIES, skipped: [] };
  return { placed: HIERARCHIES.filter((h) => h !== 'freezer'), skipped: ['freezer'] };
}

/** A whole disk (listed in /sys/block) that holds `path`'s filesystem, as MAJ:MIN, or undefined. */
function wholeDiskOf(path: string): { major: number; minor: number } | undefined {
  const dev = statSync(path).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | ((Math.floor(dev / 2 ** 20) & 0xfff) << 8);
  const sys = `/sys/dev/block/${major}:${minor}`;
  if (!existsSync(sys) || existsSync(join(sys, 'partition'))) return undefined;
  return { major, minor };
}

describeWith(missing([needRoot, needV1Cgroups]), 'v1/hybrid cgroup driver on the real kernel', () => {
  const parent = uniqueParent();
  const procs = new Procs();
  let driver: CgroupDriver;
  let roots: string[] = [];

  beforeAll(() => {
    driver = createDriver({ cgroupRoot: CGROUP_ROOT, procRoot: '/proc', parent });
    roots = driver.parentPaths().map((p) => join(p, '..'));
    driver.setup();
    for (const t of ['alice', 'bob', 'carol']) driver.create(t);
  });

  afterAll(async () => {
    const problems = await cleanupSuite(driver, procs, roots, parent);
    for (const r of roots) expect(existsSync(join(r, parent)), `${join(r, parent)} left behind: ${problems.join('; ')}`).toBe(false);
  });

  it('is the v1 backend with the parent in every v1 hierarchy and on the unified mount', () => {
    expect(driver.kind).toBe('v1');
    const layout = detectLayout({ cgroupRoot: CGROUP_ROOT, procRoot: '/proc' });
    for (const h of HIERARCHIES) expect(existsSync(join(layout.v1[h as 'cpu']!.mountPoint, parent, 'alice')), h).toBe(true);
    if (layout.unified) expect(existsSync(join(layout.unified.mountPoint, parent, 'alice'))).toBe(true);
    expect(driver.list()).toEqual(['alice', 'bob', 'carol']);
  });

  it('moves a real process into every hierarchy', async () => {
    const child = procs.startIn(driver, 'alice', SLEEPER);
    const where = cgroupsOf(child.pid!);
    const { placed, skipped } = placedIn(parent);
    for (const h of placed) expect(where[h], h).toBe(`/${parent}/alice`);
    for (const h of skipped) expect(where[h], h).not.toBe(`/${parent}/alice`);
    if (where[''] !== undefined) expect(where['']).toBe(`/${parent}/alice`);
    expect(driver.procs('alice')).toContain(child.pid);
    expect(driver.tenantOf(child.pid!)).toBe('alice');
    expect(driver.tenantOf(process.pid)).toBeNull();
    // a process that has gone is NoSuchProcessError, which placement may skip
    const gone = procs.start(['true', []]);
    await exited(gone);
    expect(() => driver.move('alice', gone.pid!)).toThrow(NoSuchProcessError);
  });

  it('moves through the cgroup.procs it keeps open, and past a cgroup removed and made again meanwhile', async () => {
    driver.create('dave');
    const first = procs.startIn(driver, 'dave', SLEEPER); // by path; the files stay open from here on
    const second = procs.startIn(driver, 'dave', SLEEPER); // through the kept files
    for (const child of [first, second]) {
      const where = cgroupsOf(child.pid!);
      for (const h of placedIn(parent).placed) expect(where[h], h).toBe(`/${parent}/dave`);
      if (where[''] !== undefined) expect(where['']).toBe(`/${parent}/dave`);
    }
    // Removed (its processes released to the root) and made again under the same name: the kept files are stale.
    driver.remove('dave', { moveTo: '/' });
    let code: string | undefined;
    try {
      driver.move('dave', first.pid!);
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    expect(code).toBe('HW_CGROUP_NO_TENANT');
    driver.create('dave');
    driver.move('dave', first.pid!);
    const where = cgroupsOf(first.pid!);
    for (const h of placedIn(parent).placed) expect(where[h], h).toBe(`/${parent}/dave`);
    expect(driver.procs('dave')).toEqual([first.pid]);
    await Promise.all([killAndWait(first), killAndWait(second)]);
  });

  it('reads real stats that move: cpu of a burner, memory of a hog, pids, pressure', async () => {
    const burner = procs.startIn(driver, 'bob', BUSY_LOOP);
    const hog = procs.start(memoryHog(64));
    driver.move('bob', hog.pid!);
    const ready = printed(hog, 'ready');
    go(hog);
    await ready;
    expectReached(await cpuAndIdle(driver, 'bob', 1000), 30); // a busy loop for ~1 s
    const r = driver.openStats('bob');
    try {
      const a = r.read();
      await sleep(200);
      const b = r.read();
      expect(b.cpuUsageUsec! - a.cpuUsageUsec!).toBeGreaterThan(0);
      expect(b.memory!.current).toBeGreaterThanOrEqual(64 * 2 ** 20);
      expect(b.memory!.anon).toBeGreaterThanOrEqual(60 * 2 ** 20);
      expect(b.pids).toBeGreaterThanOrEqual(2);
      expect(b.pressure?.cpu?.some).toBeDefined();
      expect(b.frozen).toBe(false);
    } finally {
      r.close();
      await killAndWait(burner); // the machine is small and shared: no burner runs longer than its test
    }
  });

  it('re-reads a kept file fresh with a positional read at offset 0', async () => {
    const burner = procs.startIn(driver, 'bob', BUSY_LOOP);
    const f = new KeptFile(join(CGROUP_ROOT, 'cpuacct', parent, 'bob', 'cpuacct.usage'));
    try {
      const a = Number(f.read());
      await sleep(200);
      const b = Number(f.read());
      expect(b).toBeGreaterThan(a);
    } finally {
      f.close();
      await killAndWait(burner);
    }
  });

  it('counts real disk IO (throttle accounting activated by setup)', async () => {
    const dir = mkdtempSync('/var/tmp/hostwarden-io-');
    try {
      const before = driver.openStats('carol');
      const a = before.read().io!;
      const file = join(dir, 'data');
      const dd = procs.start(['sh', ['-c', `read go; dd if=/dev/zero of=${file} bs=1M count=16 oflag=direct 2>/dev/null && dd if=${file} of=/dev/null bs=1M iflag=direct 2>/dev/null; echo done`]]);
      driver.move('carol', dd.pid!);
      const done = printed(dd, 'done');
      go(dd);
      await done;
      const b = before.read().io!;
      before.close();
      if (wholeDiskOf(dir) === undefined) return; // a filesystem not on a plain disk (overlay, tmpfs): nothing to count here
      expect(b.wbytes - a.wbytes).toBeGreaterThanOrEqual(16 * 2 ** 20);
      expect(b.rbytes - a.rbytes).toBeGreaterThanOrEqual(16 * 2 ** 20);
      expect(b.wios - a.wios).toBeGreaterThanOrEqual(16);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds a burner near a 30% cfs quota', async () => {
    driver.create('capped');
    const burner = procs.startIn(driver, 'capped', BUSY_LOOP);
    expect(driver.setLimits('capped', { cpuPercent: 30 }).cpuPercent).toBe(30);
    await sleep(300);
    const capped = await cpuAndIdle(driver, 'capped', 2000);
    const pct = capped.pct;
    console.log(`cfs quota 30%: measured ${pct.toFixed(1)}% over 2 s (host idle ${capped.idle.toFixed(1)}%)`);
    expect(pct).toBeLessThanOrEqual(40); // the quota holds whatever else the machine does
    expectReached(capped, 20); // and the burner gets near it unless others took the CPU
    expect(driver.setLimits('capped', { cpuPercent: null }).cpuPercent).toBeNull();
    const free = await cpuAndIdle(driver, 'capped', 1000);
    console.log(`cap lifted: measured ${free.pct.toFixed(1)}% over 1 s (host idle ${free.idle.toFixed(1)}%)`);
    expectReached(free, Math.max(pct, 30) + 10); // clearly above the cap, unless the host had nothing to give
    await killAndWait(burner);
  });

  it('freezes a burner (its cpu time stops) and thaws it', async () => {
    driver.create('ice');
    const burner = procs.startIn(driver, 'ice', BUSY_LOOP);
    driver.freeze('ice');
    expect(driver.isFrozen('ice')).toBe(true);
    expect(readFileSync(join(CGROUP_ROOT, 'freezer', parent, 'ice', 'freezer.state'), 'utf8').trim()).toBe('FROZEN');
    const r = driver.openStats('ice');
    try {
      const a = r.read();
      expect(a.frozen).toBe(true);
      await sleep(1500);
      const b = r.read();
      expect(b.cpuUsageUsec! - a.cpuUsageUsec!).toBeLessThan(20_000);
      driver.thaw('ice');
      expect(driver.isFrozen('ice')).toBe(false);
      await sleep(1000);
      const c = r.read();
      console.log(`frozen: ${b.cpuUsageUsec! - a.cpuUsageUsec!} us of cpu in 1.5 s; thawed: ${c.cpuUsageUsec! - b.cpuUsageUsec!} us in 1 s`);
      expect(c.cpuUsageUsec! - b.cpuUsageUsec!).toBeGreaterThan(100_000); // runs again (>= 10% of a core)
    } finally {
      r.close();
      driver.thaw('ice');
      await killAndWait(burner);
    }
  });

  it('writes every limit to the kernel and reads back what it holds', () => {
    const disk = wholeDiskOf('/');
    const io = disk ? [{ ...disk, rbps: 10 * 2 ** 20, wiops: 500 }] : null;
    const got = driver.setLimits('carol', { cpuPercent: 150, cpuWeight: 50, memoryMax: 512 * 2 ** 20, memoryHigh: 256 * 2 ** 20, io, pidsMax: 64 });
    expect(got).toEqual({ cpuPercent: 150, cpuWeight: 50, memoryMax: 512 * 2 ** 20, memoryHigh: 256 * 2 ** 20, io, pidsMax: 64 });
    expect(driver.getLimits('carol')).toEqual(got);
    const lifted = driver.setLimits('carol', { cpuPercent: null, cpuWeight: null, memoryMax: null, memoryHigh: null, io: null, pidsMax: null });
    expect(lifted).toEqual({ cpuPercent: null, cpuWeight: 100, memoryMax: null, memoryHigh: null, io: null, pidsMax: null });
  });

  it('explains an EBUSY memory limit below what cannot be reclaimed, keeping the old limit', async () => {
    driver.create('fat');
    const hog = procs.start(memoryHog(64));
    driver.move('fat', hog.pid!);
    const ready = printed(hog, 'ready');
    go(hog);
    await ready;
    let err: unknown;
    try {
      driver.setLimits('fat', { memoryMax: 16 * 2 ** 20 });
    } catch (e) {
      err = e;
    }
    // Without swap, 64 MiB of touched anon memory cannot be reclaimed below 16 MiB: the kernel says EBUSY.
    expect(err).toBeInstanceOf(CgroupBusyError);
    expect((err as Error).message).toMatch(/cannot set memoryMax of tenant fat to 16777216 bytes: the tenant uses \d+ bytes .*EBUSY.*previous limit stays/);
    expect(driver.getLimits('fat').memoryMax).toBeNull();
    expect(hog.exitCode).toBeNull(); // v1 does not OOM-kill on a refused limit
  });

  it('refuses to remove a tenant with processes, and kills them when asked', async () => {
    driver.create('doomed');
    const a = procs.startIn(driver, 'doomed', SLEEPER);
    const b = procs.startIn(driver, 'doomed', BUSY_LOOP);
    driver.freeze('doomed'); // a frozen tenant: remove must thaw before the kill can work
    expect(() => driver.remove('doomed')).toThrow(CgroupBusyError);
    expect(driver.exists('doomed')).toBe(true);
    driver.remove('doomed', { kill: true });
    await Promise.all([exited(a), exited(b)]);
    expect(a.signalCode).toBe('SIGKILL');
    expect(b.signalCode).toBe('SIGKILL');
    expect(driver.exists('doomed')).toBe(false);
    for (const r of roots) expect(existsSync(join(r, parent, 'doomed'))).toBe(false);
  });

  it('releases a tenant: thawed, limits lifted, processes left running', async () => {
    driver.create('freed');
    const child = procs.startIn(driver, 'freed', SLEEPER);
    driver.setLimits('freed', { cpuPercent: 20, pidsMax: 10 });
    driver.freeze('freed');
    driver.release('freed');
    expect(driver.isFrozen('freed')).toBe(false);
    expect(driver.getLimits('freed')).toMatchObject({ cpuPercent: null, pidsMax: null, memoryMax: null });
    expect(child.exitCode).toBeNull();
    expect(driver.procs('freed')).toContain(child.pid);
  });

  it('kills with freeze, SIGKILL, thaw where there is no unified mount', async () => {
    const layout = detectLayout({ cgroupRoot: CGROUP_ROOT, procRoot: '/proc' });
    const hierarchies = Object.fromEntries(Object.entries(layout.v1).map(([c, m]) => [c, m.mountPoint]));
    const pure = new V1Driver({ hierarchies, procRoot: '/proc', parent, ioAccounting: false });
    driver.create('pure'); // in every hierarchy incl. unified; `pure` only looks at the v1 ones
    const child = procs.startIn(pure, 'pure', BUSY_LOOP);
    pure.kill('pure');
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
    expect(pure.isFrozen('pure')).toBe(false);
  });

  it('reads host pressure', () => {
    const p = driver.hostPressure();
    expect(Object.keys(p).sort()).toEqual(['cpu', 'io', 'memory']);
    expect(p.cpu!.some.total).toBeGreaterThan(0);
  });

  it('refuses to tear down while tenants remain', () => {
    expect(() => driver.teardown()).toThrow(CgroupBusyError);
  });
});
