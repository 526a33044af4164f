// The v2 backend against a temp copy of test/fixtures/cgroup-v2 (files in the exact formats of cgroup-v2.rst).
// A temp tree is not a kernel: writes land as plain file contents, so these tests check the exact strings the
// kernel expects and what the driver makes of what it reads back; test/vm and test/system use real kernels.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDriver } from '../../../../../agent/kernel/cgroup/detect.js';
import type { CgroupDriver, CgroupLogger } from '../../../../../agent/kernel/cgroup/driver.js';
import { CgroupBusyError, CgroupTimeoutError, CgroupUnsupportedError, InvalidLimitError, InvalidTenantError } from '../../../../../agent/kernel/cgroup/errors.js';
import { V2Driver } from '../../../../../agent/kernel/cgroup/v2.js';
import { FIXTURES, readTree, snapshot, tempTree, writeLater, writeTree, type TempTree } from '../../../../helpers/cgroup-tree.js';

const PROC = join(FIXTURES, 'cgroup-v2/proc');

describe('v2 driver on a fixture tree', () => {
  let tree: TempTree;
  let driver: CgroupDriver;
  const alice = (f: string) => `hostwarden/alice/${f}`;

  beforeEach(() => {
    tree = tempTree('cgroup-v2/cgroup');
    driver = createDriver({ cgroupRoot: tree.root, procRoot: PROC, parent: 'hostwarden', freezeTimeoutMs: 300 });
  });
  afterEach(() => tree.cleanup());

  it('is detected as v2 and lists its tenants', () => {
    expect(driver.kind).toBe('v2');
    expect(driver.parentPaths()).toEqual([join(tree.root, 'hostwarden')]);
    expect(driver.list()).toEqual(['alice', 'bob']);
    expect(driver.exists('alice')).toBe(true);
    expect(driver.exists('carol')).toBe(false);
  });

  it('reads every statistic of a busy tenant', () => {
    const r = driver.openStats('alice');
    try {
      expect(r.read()).toEqual({
        cpuUsageUsec: 8754312,
        throttledUsec: 9832115, // cpu.stat throttled_usec
        memory: { current: 268435456, anon: 201326592, file: 50331648 },
        writebackPending: true, // memory.stat file_dirty 4096: the kernel will write it and charge alice's io
        io: { rbytes: 1459200 + 90430464, wbytes: 314773504 + 299008000, rios: 192 + 8950, wios: 353 + 1252 },
        pids: 12,
        pressure: {
          cpu: { some: { avg10: 12.5, avg60: 8.2, avg300: 3.1, total: 5391804 }, full: { avg10: 4, avg60: 2.75, avg300: 1.02, total: 1820312 } },
          memory: { some: { avg10: 0, avg60: 0, avg300: 0, total: 0 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 0 } },
          io: { some: { avg10: 1.21, avg60: 0.45, avg300: 0.1, total: 310442 }, full: { avg10: 1.05, avg60: 0.4, avg300: 0.09, total: 288120 } },
        },
        frozen: false,
      });
      // The same reader sees new values: the files are re-read, not cached.
      writeTree(tree.root, { [alice('cpu.stat')]: 'usage_usec 9000000\nuser_usec 1\nsystem_usec 2\n', [alice('pids.current')]: '13\n' });
      expect(r.read()).toMatchObject({ cpuUsageUsec: 9000000, pids: 13 });
    } finally {
      r.close();
    }
  });

  it('says whether page cache waits for writeback (dirty or being written), whose io the kernel charges to the tenant', () => {
    const stat = (dirty: number, writeback: number) => `anon 100\nfile 200\nfile_dirty ${dirty}\nfile_writeback ${writeback}\n`;
    const r = driver.openStats('alice');
    try {
      writeTree(tree.root, { [alice('memory.stat')]: stat(0, 8192) });
      expect(r.read().writebackPending).toBe(true);
      writeTree(tree.root, { [alice('memory.stat')]: stat(0, 0) });
      expect(r.read()).not.toHaveProperty('writebackPending');
      writeTree(tree.root, { [alice('memory.stat')]: 'anon 100\nfile 200\n' }); // a kernel without the keys: none pending
      expect(r.read()).not.toHaveProperty('writebackPending');
    } finally {
      r.close();
    }
  });

  it('does not read the pressure of a resource calm on the whole host: averages 0, totals as last read', () => {
    const r = driver.openStats('alice');
    try {
      const first = r.read({ calm: new Set(['memory', 'io']) }); // nothing read before: read anyway
      expect(first.pressure?.io?.some.avg10).toBe(1.21);
      // Changed files: cpu is read again, memory and io (calm) are not.
      writeTree(tree.root, {
        [alice('cpu.pressure')]: 'some avg10=1.00 avg60=2.00 avg300=3.00 total=6000000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1900000\n',
        [alice('io.pressure')]: 'some avg10=9.00 avg60=9.00 avg300=9.00 total=999999\nfull avg10=9.00 avg60=9.00 avg300=9.00 total=999999\n',
      });
      const second = r.read({ calm: new Set(['memory', 'io']) });
      expect(second.pressure).toEqual({
        cpu: { some: { avg10: 1, avg60: 2, avg300: 3, total: 6000000 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 1900000 } },
        memory: { some: { avg10: 0, avg60: 0, avg300: 0, total: 0 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 0 } },
        io: { some: { avg10: 0, avg60: 0, avg300: 0, total: 310442 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 288120 } },
      });
      expect(r.read().pressure?.io?.some.avg10).toBe(9); // not calm any more: read
    } finally {
      r.close();
    }
  });

  it('reads an idle tenant as zeros and a missing file as no data', () => {
    writeTree(tree.root, {});
    const r = driver.openStats('bob');
    expect(r.read()).toMatchObject({ cpuUsageUsec: 0, memory: { current: 0, anon: 0, file: 0 }, io: { rbytes: 0, wbytes: 0, rios: 0, wios: 0 }, pids: 0, frozen: false });
    r.close();
  });

  it('fails clearly on kernel text it cannot parse', () => {
    writeTree(tree.root, { [alice('memory.stat')]: 'anon lots\nfile 0\n' });
    const r = driver.openStats('alice');
    expect(() => r.read()).toThrow(`Cannot parse ${join(tree.root, alice('memory.stat'))}: value of anon is not an unsigned integer: "lots"`);
    r.close();
  });

  it('refuses to open stats of a tenant that does not exist', () => {
    expect(() => driver.openStats('carol')).toThrow(/does not exist: create\(\) it first/);
  });

  it('reads the limits the fixture holds', () => {
    expect(driver.getLimits('alice')).toEqual({
      cpuPercent: 50,
      cpuWeight: 200,
      memoryHigh: 402653184,
      memoryMax: 536870912,
      io: [{ major: 8, minor: 0, rbps: 10485760, wiops: 120 }],
      pidsMax: 100,
    });
    expect(driver.getLimits('bob')).toEqual({ cpuPercent: null, cpuWeight: 100, memoryHigh: null, memoryMax: null, io: null, pidsMax: null });
  });

  it('writes limits in the exact kernel syntax and returns what reads back', () => {
    const got = driver.setLimits('bob', {
      cpuPercent: 25,
      cpuWeight: 50,
      memoryHigh: 768 * 2 ** 20,
      memoryMax: 2 ** 30,
      io: [{ major: 8, minor: 16, wbps: 5242880, riops: 300 }],
      pidsMax: 64,
    });
    expect(readTree(tree.root, 'hostwarden/bob/cpu.max')).toBe('25000 100000');
    expect(readTree(tree.root, 'hostwarden/bob/cpu.weight')).toBe('50');
    expect(readTree(tree.root, 'hostwarden/bob/memory.high')).toBe('805306368');
    expect(readTree(tree.root, 'hostwarden/bob/memory.max')).toBe('1073741824');
    expect(readTree(tree.root, 'hostwarden/bob/io.max')).toBe('8:16 rbps=max wbps=5242880 riops=300 wiops=max');
    expect(readTree(tree.root, 'hostwarden/bob/pids.max')).toBe('64');
    expect(got).toEqual({ cpuPercent: 25, cpuWeight: 50, memoryHigh: 805306368, memoryMax: 1073741824, io: [{ major: 8, minor: 16, wbps: 5242880, riops: 300 }], pidsMax: 64 });
  });

  it('lifts limits with "max" and leaves fields it is not given alone', () => {
    const got = driver.setLimits('alice', { cpuPercent: null, memoryMax: null, io: null, cpuWeight: null });
    expect(readTree(tree.root, alice('cpu.max'))).toBe('max 100000');
    expect(readTree(tree.root, alice('memory.max'))).toBe('max');
    expect(readTree(tree.root, alice('cpu.weight'))).toBe('100');
    // io.max: the device that had a limit is set back to max on every key (the kernel then drops the line)
    expect(readTree(tree.root, alice('io.max'))).toBe('8:0 rbps=max wbps=max riops=max wiops=max');
    expect(got).toMatchObject({ cpuPercent: null, memoryMax: null, io: null, cpuWeight: 100, memoryHigh: 402653184, pidsMax: 100 });
  });

  it('changes nothing when any limit is invalid', () => {
    const before = snapshot(tree.root);
    expect(() => driver.setLimits('alice', { cpuPercent: 10, memoryMax: -1 })).toThrow(InvalidLimitError);
    expect(snapshot(tree.root)).toEqual(before);
  });

  it('freezes through cgroup.freeze and waits for cgroup.events to say frozen', async () => {
    // The "kernel" (another thread) reports frozen 40 ms after the request. A worker thread may take far longer
    // than that to start on a loaded machine: the driver here waits up to 10 s (it returns as soon as it sees it).
    const driver = createDriver({ cgroupRoot: tree.root, procRoot: PROC, parent: 'hostwarden', freezeTimeoutMs: 10_000 });
    const kernel = writeLater(join(tree.root, alice('cgroup.events')), 'populated 1\nfrozen 1\n', 40);
    driver.freeze('alice');
    expect(readTree(tree.root, alice('cgroup.freeze'))).toBe('1');
    expect(driver.isFrozen('alice')).toBe(true);
    await kernel;
    const thawed = writeLater(join(tree.root, alice('cgroup.events')), 'populated 1\nfrozen 0\n', 40);
    driver.thaw('alice');
    expect(readTree(tree.root, alice('cgroup.freeze'))).toBe('0');
    expect(driver.isFrozen('alice')).toBe(false);
    await thawed;
  });

  it('gives up freezing after the bound, saying what it saw', () => {
    expect(() => driver.freeze('alice')).toThrow(CgroupTimeoutError);
    expect(() => driver.freeze('alice')).toThrow('tenant alice not frozen (cgroup.events frozen 0) after 300 ms');
  });

  it('kills through cgroup.kill after thawing', () => {
    writeTree(tree.root, { [alice('cgroup.freeze')]: '1\n' });
    driver.kill('alice');
    expect(readTree(tree.root, alice('cgroup.freeze'))).toBe('0');
    expect(readTree(tree.root, alice('cgroup.kill'))).toBe('1');
  });

  it('moves a process by writing its PID into cgroup.procs', () => {
    driver.move('bob', 4243);
    expect(readTree(tree.root, 'hostwarden/bob/cgroup.procs')).toBe('4243');
    expect(() => driver.move('carol', 4243)).toThrow(/does not exist/);
    expect(() => driver.move('bob', -1)).toThrow('invalid PID -1');
  });

  it('lists the processes of a tenant and finds the tenant of a process', () => {
    expect(driver.procs('alice')).toEqual([4242, 4250]);
    expect(driver.procs('bob')).toEqual([]);
    expect(driver.tenantOf(4242)).toBe('alice');
    expect(driver.tenantOf(4243)).toBeNull(); // system.slice
    expect(driver.tenantOf(4244)).toBeNull(); // below a tenant: not ours to name
    expect(driver.tenantOf(999999)).toBeNull(); // no such process
  });

  it('creates and removes an empty tenant', () => {
    driver.create('carol');
    driver.create('carol'); // idempotent
    expect(existsSync(join(tree.root, 'hostwarden/carol'))).toBe(true);
    expect(driver.list()).toContain('carol');
    driver.remove('carol');
    expect(existsSync(join(tree.root, 'hostwarden/carol'))).toBe(false);
    driver.remove('carol'); // idempotent
  });

  it('refuses to remove a tenant that still has processes', () => {
    expect(() => driver.remove('alice')).toThrow(CgroupBusyError);
    expect(() => driver.remove('alice')).toThrow(/tenant alice still has 2 process\(es\) \(4242, 4250\); release\(\) it/);
    expect(existsSync(join(tree.root, 'hostwarden/alice'))).toBe(true);
  });

  it('releases a tenant: thawed, every limit lifted, cgroup kept', () => {
    driver.release('alice');
    expect(driver.getLimits('alice')).toEqual({ cpuPercent: null, cpuWeight: 100, memoryHigh: null, memoryMax: null, io: null, pidsMax: null });
    expect(driver.exists('alice')).toBe(true);
  });

  it('refuses to tear down a parent that still has tenants', () => {
    expect(() => driver.teardown()).toThrow('cannot remove parent cgroup hostwarden: tenant cgroups alice, bob remain');
  });

  it.each(['', '.', '..', '../etc', 'a/b', '/abs', '-dash', '.hidden', 'x'.repeat(65), 'sp ace', 'nul\0'])('rejects the tenant name %j before touching a path', (name) => {
    const before = snapshot(tree.root);
    for (const call of [() => driver.create(name), () => driver.remove(name), () => driver.exists(name), () => driver.openStats(name), () => driver.move(name, 1), () => driver.setLimits(name, {})]) {
      expect(call).toThrow(InvalidTenantError);
    }
    expect(snapshot(tree.root)).toEqual(before);
  });

  it('reads host pressure from <procRoot>/pressure', () => {
    expect(driver.hostPressure()).toEqual({
      cpu: { some: { avg10: 3.24, avg60: 2.1, avg300: 1.47, total: 918273645 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 0 } },
      memory: { some: { avg10: 0, avg60: 0.02, avg300: 0, total: 1203934 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 830221 } },
      io: { some: { avg10: 0.41, avg60: 0.35, avg300: 0.22, total: 73620198 }, full: { avg10: 0.3, avg60: 0.25, avg300: 0.17, total: 52210388 } },
    });
    const none = new V2Driver({ root: tree.root, procRoot: tree.root, parent: 'hostwarden' });
    expect(none.hostPressure()).toEqual({});
  });
});

describe('v2 setup', () => {
  let tree: TempTree;
  const logged: Array<[string, object, string]> = [];
  const logger: CgroupLogger = {
    info: (o, m) => logged.push(['info', o, m]),
    warn: (o, m) => logged.push(['warn', o, m]),
    debug: (o, m) => logged.push(['debug', o, m]),
  };
  beforeEach(() => {
    logged.length = 0;
    tree = tempTree();
    // A v2 root whose subtree_control enables only cpuset, and a parent that the kernel would create with
    // the root's subtree_control as its cgroup.controllers (a temp tree needs it written).
    writeTree(tree.root, {
      'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
      'cgroup.subtree_control': 'cpuset cpu io memory pids\n',
      'hw/cgroup.controllers': 'cpuset cpu io memory pids\n',
      'hw/cgroup.subtree_control': '\n',
    });
  });
  afterEach(() => tree.cleanup());

  it('enables cpu io memory pids in the parent only, leaving the root alone by default', () => {
    const root = readTree(tree.root, 'cgroup.subtree_control');
    new V2Driver({ root: tree.root, procRoot: PROC, parent: 'hw', logger }).setup();
    expect(readTree(tree.root, 'hw/cgroup.subtree_control')).toBe('+cpu +io +memory +pids');
    expect(readTree(tree.root, 'cgroup.subtree_control')).toBe(root);
  });

  it('enables the controllers in the root only when asked to, and logs it', () => {
    writeTree(tree.root, { 'cgroup.subtree_control': 'cpuset\n' });
    new V2Driver({ root: tree.root, procRoot: PROC, parent: 'hw', logger, enableRootControllers: true }).setup();
    expect(readTree(tree.root, 'cgroup.subtree_control')).toBe('+cpu +io +memory +pids');
    expect(logged).toContainEqual(['info', { cgroup: tree.root, controllers: ['cpu', 'io', 'memory', 'pids'] }, 'enabling cgroup controllers in the root cgroup (enableRootControllers: host governor step)']);
  });

  it('fails clearly when cpu or memory cannot reach the tenants', () => {
    writeTree(tree.root, { 'hw/cgroup.controllers': 'io pids\n' });
    const d = new V2Driver({ root: tree.root, procRoot: PROC, parent: 'hw', logger });
    expect(() => d.setup()).toThrow(CgroupUnsupportedError);
    expect(() => d.setup()).toThrow(`controllers cpu, memory are not available to ${join(tree.root, 'hw')}: enable them in ${join(tree.root, 'cgroup.subtree_control')}`);
  });

  it('only warns about missing controllers when tolerant', () => {
    writeTree(tree.root, { 'hw/cgroup.controllers': '\n' });
    new V2Driver({ root: tree.root, procRoot: PROC, parent: 'hw', logger, requireControllers: false }).setup();
    expect(logged.find(([level]) => level === 'warn')?.[1]).toEqual({ parent: join(tree.root, 'hw'), missing: ['cpu', 'io', 'memory', 'pids'] });
  });

  it('creates the parent when it does not exist', () => {
    const d = new V2Driver({ root: tree.root, procRoot: PROC, parent: 'fresh', requireControllers: false });
    d.setup();
    expect(existsSync(join(tree.root, 'fresh'))).toBe(true);
    d.teardown();
    expect(existsSync(join(tree.root, 'fresh'))).toBe(false);
  });

  it('rejects a parent name that is not one path component', () => {
    expect(() => new V2Driver({ root: tree.root, procRoot: PROC, parent: '../x' })).toThrow('invalid parent cgroup name "../x"');
  });
});
