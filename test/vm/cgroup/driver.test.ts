// The v2 driver's own contract on the guest's real cgroup v2 hierarchy: detection, setup, tenant lifecycle,
// placement queries, stats, limits written and read back, bad input refused with nothing written, teardown.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriver } from '../../../agent/kernel/cgroup/detect.js';
import type { CgroupDriver } from '../../../agent/kernel/cgroup/driver.js';
import {
  BURNER,
  CGROUP_ROOT,
  cgDir,
  destroyParent,
  deviceNumbers,
  killAll,
  PROC_ROOT,
  readNumber,
  readPsiFile,
  requireGuest,
  SCRATCH_DEV,
  sleep,
  startIn,
  uniqueParent,
  waitFor,
  type Started,
} from '../guest.js';

requireGuest();

const MiB = 1024 * 1024;

describe('the v2 cgroup driver on a real v2 hierarchy', () => {
  const parent = uniqueParent();
  let driver: CgroupDriver;
  const started: Started[] = [];

  beforeAll(() => {
    // Auto-detection, not forced: the guest is a pure v2 host.
    driver = createDriver({ cgroupRoot: CGROUP_ROOT, procRoot: PROC_ROOT, parent });
  });
  afterAll(async () => {
    killAll(started);
    await destroyParent(parent);
  });

  it('is detected as v2 and sets up its parent with cpu io memory pids enabled for tenants', () => {
    expect(driver.kind).toBe('v2');
    expect(driver.parentPaths()).toEqual([cgDir(parent)]);
    driver.setup();
    driver.setup(); // idempotent
    const enabled = readFileSync(join(cgDir(parent), 'cgroup.subtree_control'), 'utf8').trim().split(/\s+/);
    expect(enabled.sort()).toEqual(['cpu', 'io', 'memory', 'pids']);
  });

  it('creates tenants idempotently, with every controller interface file', () => {
    driver.create('alice');
    driver.create('alice');
    driver.create('bob');
    expect(driver.list()).toEqual(['alice', 'bob']);
    expect(driver.exists('alice')).toBe(true);
    expect(driver.exists('carol')).toBe(false);
    for (const f of ['cpu.max', 'cpu.weight', 'memory.max', 'memory.high', 'io.max', 'pids.max', 'cgroup.freeze', 'cgroup.kill', 'cpu.pressure']) {
      expect(existsSync(join(cgDir(parent, 'alice'), f)), f).toBe(true);
    }
  });

  it('refuses tenant names that are not one safe path component', () => {
    for (const bad of ['..', '.', 'a/b', '', '../../etc', '-x']) expect(() => driver.create(bad), bad).toThrow();
    expect(driver.list()).toEqual(['alice', 'bob']);
  });

  it('moves a process and knows where it is', async () => {
    const p = await startIn(driver, 'alice', 'exec sleep 600');
    started.push(p);
    expect(driver.procs('alice')).toEqual([p.pid]);
    expect(driver.tenantOf(p.pid)).toBe('alice');
    expect(driver.tenantOf(process.pid)).toBeNull();
    expect(readFileSync(`/proc/${p.pid}/cgroup`, 'utf8').trim()).toBe(`0::/${parent}/alice`);
    driver.move('bob', p.pid);
    expect(driver.tenantOf(p.pid)).toBe('bob');
    expect(driver.procs('alice')).toEqual([]);
    expect(() => driver.move('alice', 2 ** 22 + 12345)).toThrow(/does not exist|ESRCH/);
  });

  it('reads cpu, memory, io, pids, pressure and frozen from the kernel', async () => {
    const burner = await startIn(driver, 'alice', BURNER);
    started.push(burner);
    const stats = driver.openStats('alice');
    try {
      const a = stats.read();
      const raw = Object.fromEntries((['cpu', 'io', 'memory'] as const).map((r) => [r, readPsiFile(join(cgDir(parent, 'alice'), `${r}.pressure`))]));
      await sleep(1000);
      const b = stats.read();
      expect(b.cpuUsageUsec! - a.cpuUsageUsec!).toBeGreaterThan(500_000);
      expect(b.memory!.current).toBe(readNumber(join(cgDir(parent, 'alice'), 'memory.current')));
      expect(b.memory!.anon).toBeGreaterThan(0);
      expect(b.pids).toBe(1);
      expect(b.io).toEqual(expect.objectContaining({ rbytes: expect.any(Number), wbytes: expect.any(Number) }));
      expect(Object.keys(b.pressure ?? {}).sort()).toEqual(['cpu', 'io', 'memory']);
      // Every line of each pressure file parsed with all its fields; the kernel's totals only grow, so the one
      // read from the file between the driver's two reads lies between theirs.
      for (const r of ['cpu', 'io', 'memory'] as const) {
        expect(Object.keys(b.pressure![r]!).sort(), r).toEqual(Object.keys(raw[r]!).sort());
        for (const [kind, line] of Object.entries(raw[r]!)) {
          const [before, after] = [a, b].map((s) => s.pressure![r]![kind as 'some' | 'full']!);
          expect(Object.keys(after!).sort(), `${r} ${kind}`).toEqual(['avg10', 'avg300', 'avg60', 'total']);
          for (const avg of [after!.avg10, after!.avg60, after!.avg300]) expect(avg >= 0 && avg <= 100, `${r} ${kind} avg ${avg}`).toBe(true);
          expect(Number.isInteger(after!.total), `${r} ${kind} total`).toBe(true);
          expect([before!.total <= line.total, line.total <= after!.total], `${r} ${kind}: ${before!.total} <= ${line.total} <= ${after!.total}`).toEqual([true, true]);
        }
      }
      expect(b.frozen).toBe(false);
    } finally {
      stats.close();
    }
  });

  it('writes every limit, reads it back, and the kernel files hold it', () => {
    const dev = deviceNumbers(SCRATCH_DEV);
    const got = driver.setLimits('alice', {
      cpuPercent: 150,
      cpuWeight: 250,
      memoryHigh: 96 * MiB,
      memoryMax: 128 * MiB,
      io: [{ ...dev, rbps: 8 * MiB, wiops: 300 }],
      pidsMax: 77,
    });
    expect(got).toEqual({ cpuPercent: 150, cpuWeight: 250, memoryHigh: 96 * MiB, memoryMax: 128 * MiB, io: [{ ...dev, rbps: 8 * MiB, wiops: 300 }], pidsMax: 77 });
    expect(driver.getLimits('alice')).toEqual(got);
    const f = (name: string): string => readFileSync(join(cgDir(parent, 'alice'), name), 'utf8').trim();
    expect(f('cpu.max')).toBe('150000 100000');
    expect(f('cpu.weight')).toBe('250');
    expect(f('memory.high')).toBe(String(96 * MiB));
    expect(f('memory.max')).toBe(String(128 * MiB));
    expect(f('io.max')).toBe(`${dev.major}:${dev.minor} rbps=${8 * MiB} wbps=max riops=max wiops=300`);
    expect(f('pids.max')).toBe('77');
  });

  it('refuses bad limits naming the field, and writes nothing of them', () => {
    const before = driver.getLimits('alice');
    expect(() => driver.setLimits('alice', { cpuPercent: 50, pidsMax: -1 })).toThrow(/pidsMax/);
    expect(() => driver.setLimits('alice', { memoryMax: 1.5 })).toThrow(/memoryMax/);
    expect(() => driver.setLimits('alice', { io: [{ major: 1, minor: 2, wbps: 0 }] })).toThrow(/io\[0\]\.wbps/);
    expect(driver.getLimits('alice')).toEqual(before);
  });

  it('reports an io limit on a device the kernel refuses as a write error', () => {
    // 1:3 is /dev/null: not a block device, so io.max rejects it.
    expect(() => driver.setLimits('alice', { io: [{ major: 1, minor: 3, wbps: MiB }] })).toThrow(/io/);
  });

  it('lifts every limit with null', () => {
    const got = driver.setLimits('alice', { cpuPercent: null, cpuWeight: null, memoryHigh: null, memoryMax: null, io: null, pidsMax: null });
    expect(got).toEqual({ cpuPercent: null, cpuWeight: 100, memoryHigh: null, memoryMax: null, io: null, pidsMax: null });
    expect(readFileSync(join(cgDir(parent, 'alice'), 'cpu.max'), 'utf8').trim()).toBe('max 100000');
  });

  it('reads host pressure from /proc/pressure', () => {
    const read = () => Object.fromEntries((['cpu', 'io', 'memory'] as const).map((r) => [r, readPsiFile(join(PROC_ROOT, 'pressure', r))]));
    const before = read();
    const psi = driver.hostPressure();
    const after = read();
    expect(Object.keys(psi).sort()).toEqual(['cpu', 'io', 'memory']);
    expect(psi.memory!.full).toBeDefined();
    // Each line the kernel has, parsed whole: averages in range, and the total between two raw reads around it
    // (the kernel's totals only grow), which a parser reading the wrong field or line cannot meet.
    for (const r of ['cpu', 'io', 'memory'] as const) {
      expect(Object.keys(psi[r]!).sort(), r).toEqual(Object.keys(after[r]!).sort());
      for (const kind of Object.keys(after[r]!) as Array<'some' | 'full'>) {
        const line = psi[r]![kind]!;
        for (const avg of [line.avg10, line.avg60, line.avg300]) expect(avg >= 0 && avg <= 100, `${r} ${kind} avg ${avg}`).toBe(true);
        expect([before[r]![kind]!.total <= line.total, line.total <= after[r]![kind]!.total], `${r} ${kind}: ${before[r]![kind]!.total} <= ${line.total} <= ${after[r]![kind]!.total}`).toEqual([true, true]);
      }
    }
  });

  it('removes tenants and tears the parent down, refusing while something is left', async () => {
    expect(() => driver.teardown()).toThrow(/remain/);
    driver.remove('alice', { kill: true });
    driver.remove('bob', { kill: true });
    driver.remove('bob'); // idempotent
    expect(driver.list()).toEqual([]);
    expect(await waitFor(() => started.every((s) => s.child.exitCode !== null || s.child.signalCode !== null), 5000)).toBe(true);
    driver.teardown();
    expect(existsSync(cgDir(parent))).toBe(false);
  });
});
