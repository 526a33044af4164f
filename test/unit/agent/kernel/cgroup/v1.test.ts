// The v1/hybrid backend against a temp copy of test/fixtures/cgroup-v1 (captured from this build machine:
// kernel 6.18, separate cpu and cpuacct hierarchies, memory, blkio, pids, freezer, and a cgroup2 mount at
// unified/ without controllers), with test/fixtures/proc as procRoot (its mountinfo is the same machine's).
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDriver } from '../../../../../agent/kernel/cgroup/detect.js';
import type { CgroupDriver } from '../../../../../agent/kernel/cgroup/driver.js';
import { CgroupBusyError, CgroupUnsupportedError, InvalidLimitError } from '../../../../../agent/kernel/cgroup/errors.js';
import { V1Driver } from '../../../../../agent/kernel/cgroup/v1.js';
import { FIXTURES, readTree, snapshot, tempTree, writeLater, writeTree, type TempTree } from '../../../../helpers/cgroup-tree.js';

const PROC = join(FIXTURES, 'proc');
const HIERARCHIES = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'freezer', 'unified'];

describe('v1 driver on the captured hybrid tree', () => {
  let tree: TempTree;
  let driver: CgroupDriver;
  const at = (h: string, tenant: string, f: string) => `${h}/hostwarden/${tenant}/${f}`;

  beforeEach(() => {
    tree = tempTree('cgroup-v1/cgroup');
    driver = createDriver({ cgroupRoot: tree.root, procRoot: PROC, parent: 'hostwarden', freezeTimeoutMs: 300 });
  });
  afterEach(() => tree.cleanup());

  it('is detected as v1 with the parent in every hierarchy and the unified mount', () => {
    expect(driver.kind).toBe('v1');
    expect(driver.parentPaths()).toEqual(HIERARCHIES.map((h) => join(tree.root, h, 'hostwarden')));
    expect(driver.list()).toEqual(['alice', 'bob']);
  });

  it('a full read right after the activity read takes its CPU time and tasks instead of reading them again; the freezer may be left out', () => {
    const r = driver.openStats('alice');
    try {
      expect(r.readActivity!()).toEqual({ cpuUsageUsec: 331616, pids: 2 });
      writeTree(tree.root, { [at('cpuacct', 'alice', 'cpuacct.usage')]: '999000000\n', [at('pids', 'alice', 'pids.current')]: '7\n' });
      const st = r.read({ afterActivity: true, frozen: false });
      expect(st).toMatchObject({ cpuUsageUsec: 331616, pids: 2, throttledUsec: 0, memory: { current: 30478336 } });
      expect(st.frozen).toBeUndefined();
      expect(r.read()).toMatchObject({ cpuUsageUsec: 999000, pids: 7, frozen: false });
    } finally {
      r.close();
    }
  });

  it('an activity read of CPU time alone leaves the task count to the full read after it', () => {
    const r = driver.openStats('alice');
    try {
      expect(r.readActivity!({ pids: false })).toEqual({ cpuUsageUsec: 331616 });
      writeTree(tree.root, { [at('pids', 'alice', 'pids.current')]: '9\n' });
      expect(r.read({ afterActivity: true, frozen: false })).toMatchObject({ cpuUsageUsec: 331616, pids: 9 });
    } finally {
      r.close();
    }
  });

  it('a light read after the activity read: its CPU time, the task count and the pressure, nothing else', () => {
    const r = driver.openStats('alice');
    try {
      const full = r.read();
      expect(full.pressure?.cpu).toBeDefined();
      expect(r.readActivity!({ pids: false })).toEqual({ cpuUsageUsec: 331616 });
      writeTree(tree.root, { [at('pids', 'alice', 'pids.current')]: '9\n', [at('unified', 'alice', 'cpu.pressure')]: 'some avg10=7.00 avg60=1.00 avg300=0.50 total=123\n' });
      const light = r.readLight!({ calm: new Set(['memory', 'io']) });
      expect(light).toEqual({
        cpuUsageUsec: 331616,
        pids: 9,
        pressure: {
          cpu: { some: { avg10: 7, avg60: 1, avg300: 0.5, total: 123 } },
          // calm on the host: not read, the last read's totals with averages of 0
          memory: { some: { avg10: 0, avg60: 0, avg300: 0, total: full.pressure!.memory!.some.total }, ...(full.pressure!.memory!.full ? { full: { avg10: 0, avg60: 0, avg300: 0, total: full.pressure!.memory!.full.total } } : {}) },
          io: { some: { avg10: 0, avg60: 0, avg300: 0, total: full.pressure!.io!.some.total }, ...(full.pressure!.io!.full ? { full: { avg10: 0, avg60: 0, avg300: 0, total: full.pressure!.io!.full.total } } : {}) },
        },
      });
      // Tasks already read by the activity read are not read again.
      expect(r.readActivity!()).toEqual({ cpuUsageUsec: 331616, pids: 9 });
      writeTree(tree.root, { [at('pids', 'alice', 'pids.current')]: '11\n' });
      expect(r.readLight!().pids).toBe(9);
    } finally {
      r.close();
    }
  });

  it('reads every statistic: cpuacct in ns, hierarchical memory, blkio summed, PSI and freeze from unified', () => {
    const r = driver.openStats('alice');
    try {
      expect(r.read()).toEqual({
        cpuUsageUsec: 331616, // cpuacct.usage 331616862 ns
        throttledUsec: 0, // the cpu hierarchy's cpu.stat throttled_time (ns)
        memory: { current: 30478336, anon: 30003200, file: 94208 }, // usage_in_bytes, total_rss, total_cache
        io: { rbytes: 16777216 + 42123264, wbytes: 41943040, rios: 32 + 54, wios: 72 },
        pids: 2,
        pressure: {
          cpu: { some: { avg10: 0, avg60: 0, avg300: 0, total: 7794 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 7365 } },
          memory: { some: { avg10: 0, avg60: 0, avg300: 0, total: 0 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 0 } },
          io: { some: { avg10: 14.98, avg60: 4.58, avg300: 1.04, total: 2079457 }, full: { avg10: 14.98, avg60: 4.58, avg300: 1.04, total: 2079448 } },
        },
        frozen: false,
      });
      writeTree(tree.root, { [at('freezer', 'alice', 'freezer.state')]: 'FROZEN\n' });
      expect(r.read().frozen).toBe(true);
    } finally {
      r.close();
    }
  });

  it('falls back to rss/cache and to the unified cpu.stat when the host lacks the hierarchical keys or cpuacct', () => {
    writeTree(tree.root, { [at('memory', 'bob', 'memory.stat')]: 'cache 4096\nrss 8192\n' });
    const noAcct = new V1Driver({ hierarchies: { cpu: join(tree.root, 'cpu'), memory: join(tree.root, 'memory') }, unified: join(tree.root, 'unified'), procRoot: PROC, parent: 'hostwarden' });
    const r = noAcct.openStats('bob');
    const s = r.read();
    r.close();
    expect(s.memory).toEqual({ current: 0, anon: 8192, file: 4096 });
    expect(s.cpuUsageUsec).toBe(0); // unified cpu.stat of bob
    expect(s.io).toBeUndefined(); // no blkio hierarchy given
    expect(s.pids).toBeUndefined();
  });

  it('reads the limits the captured tree holds', () => {
    expect(driver.getLimits('alice')).toEqual({
      cpuPercent: 50,
      cpuWeight: 50, // cpu.shares 512
      memoryMax: 536870912,
      memoryHigh: 268435456,
      io: [{ major: 254, minor: 0, rbps: 10485760, wbps: 5242880, wiops: 1000 }],
      pidsMax: 100,
    });
    expect(driver.getLimits('bob')).toEqual({ cpuPercent: null, cpuWeight: 100, memoryMax: null, memoryHigh: null, io: null, pidsMax: null });
  });

  it('writes limits in the exact v1 syntax and returns what reads back', () => {
    const got = driver.setLimits('bob', { cpuPercent: 150, cpuWeight: 200, memoryMax: 2 ** 30, memoryHigh: 2 ** 29, io: [{ major: 254, minor: 0, rbps: 1048576 }], pidsMax: 50 });
    expect(readTree(tree.root, at('cpu', 'bob', 'cpu.cfs_period_us'))).toBe('100000');
    expect(readTree(tree.root, at('cpu', 'bob', 'cpu.cfs_quota_us'))).toBe('150000');
    expect(readTree(tree.root, at('cpu', 'bob', 'cpu.shares'))).toBe('2048');
    expect(readTree(tree.root, at('memory', 'bob', 'memory.limit_in_bytes'))).toBe('1073741824');
    expect(readTree(tree.root, at('memory', 'bob', 'memory.soft_limit_in_bytes'))).toBe('536870912');
    expect(readTree(tree.root, at('blkio', 'bob', 'blkio.throttle.read_bps_device'))).toBe('254:0 1048576');
    expect(readTree(tree.root, at('blkio', 'bob', 'blkio.throttle.write_bps_device'))).toBe(''); // nothing to clear there
    expect(readTree(tree.root, at('pids', 'bob', 'pids.max'))).toBe('50');
    expect(got).toEqual({ cpuPercent: 150, cpuWeight: 200, memoryMax: 1073741824, memoryHigh: 536870912, io: [{ major: 254, minor: 0, rbps: 1048576 }], pidsMax: 50 });
  });

  it('lifts limits with -1, max and "MAJ:MIN 0"', () => {
    const got = driver.setLimits('alice', { cpuPercent: null, memoryMax: null, memoryHigh: null, io: null, pidsMax: null });
    expect(readTree(tree.root, at('cpu', 'alice', 'cpu.cfs_quota_us'))).toBe('-1');
    expect(readTree(tree.root, at('memory', 'alice', 'memory.limit_in_bytes'))).toBe('-1');
    expect(readTree(tree.root, at('memory', 'alice', 'memory.soft_limit_in_bytes'))).toBe('-1');
    expect(readTree(tree.root, at('blkio', 'alice', 'blkio.throttle.read_bps_device'))).toBe('254:0 0');
    expect(readTree(tree.root, at('blkio', 'alice', 'blkio.throttle.write_bps_device'))).toBe('254:0 0');
    expect(readTree(tree.root, at('blkio', 'alice', 'blkio.throttle.write_iops_device'))).toBe('254:0 0');
    expect(readTree(tree.root, at('pids', 'alice', 'pids.max'))).toBe('max');
    expect(got).toEqual({ cpuPercent: null, cpuWeight: 50, memoryMax: null, memoryHigh: null, io: null, pidsMax: null });
  });

  it('changes nothing when any limit is invalid', () => {
    const before = snapshot(tree.root);
    expect(() => driver.setLimits('alice', { pidsMax: 10, io: [{ major: 254, minor: 0, rbps: -1 }] })).toThrow(InvalidLimitError);
    expect(snapshot(tree.root)).toEqual(before);
  });

  it('moves a process in every hierarchy but the v1 freezer: the unified mount freezes', () => {
    driver.move('bob', 4243);
    for (const h of HIERARCHIES) expect(readTree(tree.root, at(h, 'bob', 'cgroup.procs')) === '4243', h).toBe(h !== 'freezer');
  });

  it('on a kernel whose cgroup2 cannot freeze (before 5.2) moves into every hierarchy', () => {
    tree.cleanup();
    tree = tempTree('cgroup-v1/cgroup');
    rmSync(join(tree.root, 'unified/hostwarden/cgroup.freeze'));
    const old = createDriver({ cgroupRoot: tree.root, procRoot: PROC, parent: 'hostwarden' });
    old.move('bob', 4243);
    for (const h of HIERARCHIES) expect(readTree(tree.root, at(h, 'bob', 'cgroup.procs')), h).toBe('4243');
    const r = old.openStats('alice');
    expect(r.read().cpuUsageUsec).toBe(331616); // cpuacct.usage 331616862 ns
    r.close();
  });

  it('finds tenants through the cpu line of /proc/PID/cgroup', () => {
    expect(driver.procs('alice')).toEqual([4242, 4250]);
    expect(driver.tenantOf(4242)).toBe('alice');
    expect(driver.tenantOf(4243)).toBeNull();
  });

  it('freezes through freezer.state and cgroup.freeze, and waits for both', async () => {
    // A worker thread (the "kernel") may take far longer than its 30 ms to start on a loaded machine: this
    // driver waits up to 10 s (it returns as soon as it sees the state).
    const driver = createDriver({ cgroupRoot: tree.root, procRoot: PROC, parent: 'hostwarden', freezeTimeoutMs: 10_000 });
    const kernel = writeLater(join(tree.root, at('unified', 'alice', 'cgroup.events')), 'populated 1\nfrozen 1\n', 30);
    driver.freeze('alice');
    expect(readTree(tree.root, at('freezer', 'alice', 'freezer.state'))).toBe('FROZEN');
    expect(readTree(tree.root, at('unified', 'alice', 'cgroup.freeze'))).toBe('1');
    expect(driver.isFrozen('alice')).toBe(true);
    await kernel;
    const thawed = writeLater(join(tree.root, at('unified', 'alice', 'cgroup.events')), 'populated 1\nfrozen 0\n', 30);
    driver.thaw('alice');
    expect(readTree(tree.root, at('freezer', 'alice', 'freezer.state'))).toBe('THAWED');
    expect(readTree(tree.root, at('unified', 'alice', 'cgroup.freeze'))).toBe('0');
    expect(driver.isFrozen('alice')).toBe(false);
    await thawed;
  });

  it('kills through cgroup.kill of the unified mount after thawing', () => {
    writeTree(tree.root, { [at('freezer', 'alice', 'freezer.state')]: 'FROZEN\n' });
    // the fixture's PIDs 4242/4250 are not this host's processes: write PIDs that cannot exist instead
    for (const h of HIERARCHIES) writeTree(tree.root, { [at(h, 'alice', 'cgroup.procs')]: '' });
    driver.kill('alice');
    expect(readTree(tree.root, at('freezer', 'alice', 'freezer.state'))).toBe('THAWED');
    expect(readTree(tree.root, at('unified', 'alice', 'cgroup.kill'))).toBe('1');
  });

  it('refuses to remove a tenant with processes in any hierarchy', () => {
    for (const h of HIERARCHIES) writeTree(tree.root, { [at(h, 'bob', 'cgroup.procs')]: '' });
    writeTree(tree.root, { [at('memory', 'bob', 'cgroup.procs')]: '4250\n' });
    expect(() => driver.remove('bob')).toThrow(CgroupBusyError);
    expect(() => driver.remove('bob')).toThrow(/tenant bob still has 1 process\(es\) \(4250\)/);
  });

  it('creates a tenant in every hierarchy and removes it from every one', () => {
    driver.create('carol');
    for (const h of HIERARCHIES) expect(existsSync(join(tree.root, h, 'hostwarden/carol'))).toBe(true);
    driver.remove('carol');
    for (const h of HIERARCHIES) expect(existsSync(join(tree.root, h, 'hostwarden/carol'))).toBe(false);
  });

  it('sets up the parent: activates io accounting with no-op rules, keeps use_hierarchy', () => {
    driver.setup();
    expect(readTree(tree.root, 'blkio/hostwarden/blkio.throttle.read_bps_device')).toBe('254:0 0'); // vda, from proc/partitions
    expect(readTree(tree.root, 'memory/hostwarden/memory.use_hierarchy')).toBe('1\n');
  });

  it('turns use_hierarchy on where an old kernel has it off', () => {
    writeTree(tree.root, { 'memory/hostwarden/memory.use_hierarchy': '0\n' });
    driver.setup();
    expect(readTree(tree.root, 'memory/hostwarden/memory.use_hierarchy')).toBe('1');
  });

  it('creates the parent in each hierarchy once', () => {
    const d = createDriver({ cgroupRoot: tree.root, procRoot: PROC, parent: 'fresh', ioAccounting: false });
    d.setup();
    for (const h of HIERARCHIES) expect(existsSync(join(tree.root, h, 'fresh'))).toBe(true);
    d.teardown();
    for (const h of HIERARCHIES) expect(existsSync(join(tree.root, h, 'fresh'))).toBe(false);
  });

  it('says what the host lacks', () => {
    const cpuOnly = new V1Driver({ hierarchies: { cpu: join(tree.root, 'cpu') }, procRoot: PROC, parent: 'hostwarden' });
    expect(() => cpuOnly.setLimits('alice', { memoryMax: 2 ** 30 })).toThrow(CgroupUnsupportedError);
    expect(() => cpuOnly.setLimits('alice', { memoryMax: 2 ** 30 })).toThrow('cannot set the memory limits of tenant alice: no v1 memory hierarchy on this host');
    expect(() => cpuOnly.freeze('alice')).toThrow('cannot freeze tenant alice: no freezer hierarchy and no cgroup.freeze on this host');
    expect(() => new V1Driver({ hierarchies: {}, procRoot: PROC, parent: 'hostwarden' })).toThrow('no v1 cpu hierarchy found');
  });
});

describe('v1 driver with co-mounted cpu,cpuacct', () => {
  let tree: TempTree;
  beforeEach(() => {
    tree = tempTree();
    writeTree(tree.root, {
      'proc/self/mountinfo': readTree(FIXTURES, 'cgroup-v1/mountinfo-comounted'),
      'cg/cpu,cpuacct/cgroup.procs': '1\n',
      'cg/memory/cgroup.procs': '1\n',
      'cg/cpu,cpuacct/hw/alice/cgroup.procs': '',
      'cg/cpu,cpuacct/hw/alice/cpuacct.usage': '2500000\n',
    });
    // a temp tree has no kernel to create interface files: give every tenant directory its cgroup.procs
    for (const h of ['memory', 'blkio', 'pids', 'freezer', 'unified']) writeTree(tree.root, { [`cg/${h}/hw/alice/cgroup.procs`]: '' });
    for (const h of ['net_cls,net_prio', 'systemd', 'devices']) mkdirSync(join(tree.root, 'cg', h), { recursive: true });
  });
  afterEach(() => tree.cleanup());

  it('uses the shared directory once for both controllers', () => {
    const d = createDriver({ cgroupRoot: join(tree.root, 'cg'), procRoot: join(tree.root, 'proc'), parent: 'hw' });
    const cg = join(tree.root, 'cg');
    expect(d.parentPaths()).toEqual(['cpu,cpuacct', 'memory', 'blkio', 'pids', 'freezer', 'unified'].map((h) => join(cg, h, 'hw')));
    d.move('alice', 77);
    for (const h of ['cpu,cpuacct', 'memory', 'blkio', 'pids', 'freezer', 'unified']) expect(readTree(cg, `${h}/hw/alice/cgroup.procs`)).toBe('77');
    const r = d.openStats('alice');
    expect(r.read().cpuUsageUsec).toBe(2500);
    r.close();
  });
});
