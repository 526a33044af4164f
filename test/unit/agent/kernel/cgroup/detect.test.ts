// Backend detection from captured mount tables (this machine: hybrid; a pure v2 host), and from the directory
// layout when there is no mount table.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDriver, detectLayout } from '../../../../../agent/kernel/cgroup/detect.js';
import { CgroupUnsupportedError } from '../../../../../agent/kernel/cgroup/errors.js';
import { V1Driver } from '../../../../../agent/kernel/cgroup/v1.js';
import { V2Driver } from '../../../../../agent/kernel/cgroup/v2.js';
import { FIXTURES, tempTree, writeTree, type TempTree } from '../../../../helpers/cgroup-tree.js';

const V1_ROOT = join(FIXTURES, 'cgroup-v1/cgroup');
const V2_ROOT = join(FIXTURES, 'cgroup-v2/cgroup');
const HYBRID_PROC = join(FIXTURES, 'proc');
const V2_PROC = join(FIXTURES, 'cgroup-v2/proc');

describe('detectLayout', () => {
  let tree: TempTree | undefined;
  afterEach(() => tree?.cleanup());

  it('finds this machine hybrid from its mountinfo, rebased onto the cgroup root', () => {
    const layout = detectLayout({ cgroupRoot: V1_ROOT, procRoot: HYBRID_PROC });
    expect(layout).toMatchObject({ kind: 'v1', source: 'mountinfo', unified: { mountPoint: join(V1_ROOT, 'unified'), root: '/' }, unifiedControllers: ['hugetlb'] });
    expect(layout.v1.cpu?.mountPoint).toBe(join(V1_ROOT, 'cpu'));
    expect(layout.v1.cpuacct?.mountPoint).toBe(join(V1_ROOT, 'cpuacct'));
    expect(Object.keys(layout.v1).sort()).toEqual(['blkio', 'cpu', 'cpuacct', 'freezer', 'memory', 'pids']);
  });

  it('finds a pure v2 host from its mountinfo', () => {
    expect(detectLayout({ cgroupRoot: V2_ROOT, procRoot: V2_PROC })).toMatchObject({
      kind: 'v2',
      source: 'mountinfo',
      unified: { mountPoint: V2_ROOT, root: '/' },
      v1: {},
      unifiedControllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'],
    });
  });

  it('looks at the directories when there is no mount table', () => {
    tree = tempTree();
    expect(detectLayout({ cgroupRoot: V2_ROOT, procRoot: tree.root })).toMatchObject({ kind: 'v2', source: 'scan', unified: { mountPoint: V2_ROOT } });
    const v1 = detectLayout({ cgroupRoot: V1_ROOT, procRoot: tree.root });
    expect(v1).toMatchObject({ kind: 'v1', source: 'scan', unified: { mountPoint: join(V1_ROOT, 'unified') } });
    expect(v1.v1.memory?.mountPoint).toBe(join(V1_ROOT, 'memory'));
  });

  it('finds co-mounted hierarchies by scanning too', () => {
    tree = tempTree();
    writeTree(tree.root, { 'cg/cpu,cpuacct/cgroup.procs': '1\n', 'cg/memory/cgroup.procs': '1\n', 'cg/systemd/cgroup.procs': '1\n' });
    const layout = detectLayout({ cgroupRoot: join(tree.root, 'cg'), procRoot: tree.root });
    expect(layout.v1.cpu?.mountPoint).toBe(join(tree.root, 'cg', 'cpu,cpuacct'));
    expect(layout.v1.cpuacct?.mountPoint).toBe(join(tree.root, 'cg', 'cpu,cpuacct'));
    expect(layout.unified).toBeUndefined();
  });
});

describe('createDriver', () => {
  let tree: TempTree | undefined;
  afterEach(() => tree?.cleanup());

  it('picks v1 on this machine and v2 on a pure v2 host', () => {
    expect(createDriver({ cgroupRoot: V1_ROOT, procRoot: HYBRID_PROC, parent: 'hostwarden' })).toBeInstanceOf(V1Driver);
    expect(createDriver({ cgroupRoot: V2_ROOT, procRoot: V2_PROC, parent: 'hostwarden' })).toBeInstanceOf(V2Driver);
    expect(createDriver({ cgroupRoot: V2_ROOT, procRoot: V2_PROC, parent: 'hostwarden', driver: 'auto' }).kind).toBe('v2');
  });

  it('forces v2 onto the unified mount of a hybrid host, where missing controllers are no data', () => {
    tree = tempTree('cgroup-v1/cgroup');
    const d = createDriver({ cgroupRoot: tree.root, procRoot: HYBRID_PROC, parent: 'hostwarden', driver: 'v2' });
    expect(d.kind).toBe('v2');
    expect(d.parentPaths()).toEqual([join(tree.root, 'unified', 'hostwarden')]);
    d.setup(); // warns, does not throw
    const r = d.openStats('alice');
    const s = r.read();
    r.close();
    expect(s).toMatchObject({ cpuUsageUsec: 349559, frozen: false });
    expect(s.pressure?.io?.some.avg10).toBe(14.98);
    expect(s.memory).toBeUndefined();
    expect(s.io).toBeUndefined();
    expect(s.pids).toBeUndefined();
    expect(d.getLimits('alice')).toEqual({});
    expect(() => d.setLimits('alice', { memoryMax: 2 ** 30 })).toThrow(CgroupUnsupportedError);
    expect(() => d.setLimits('alice', { memoryMax: 2 ** 30 })).toThrow(/cannot set memoryMax of tenant alice: .*memory.max does not exist/);
    expect(d.tenantOf(4242)).toBe('alice'); // the "0::" line
  });

  it('refuses v2 at the cgroup root without cpu and memory', () => {
    tree = tempTree();
    writeTree(tree.root, { 'cg/cgroup.controllers': 'io pids\n', 'cg/cgroup.subtree_control': '', 'cg/hw/cgroup.controllers': '', 'cg/hw/cgroup.subtree_control': '' });
    const d = createDriver({ cgroupRoot: join(tree.root, 'cg'), procRoot: tree.root, parent: 'hw' });
    expect(d.kind).toBe('v2');
    expect(() => d.setup()).toThrow(/controllers cpu, memory are not available/);
  });

  it('says what is missing', () => {
    tree = tempTree();
    expect(() => createDriver({ cgroupRoot: V2_ROOT, procRoot: V2_PROC, parent: 'hostwarden', driver: 'v1' })).toThrow('no v1 cpu hierarchy found (mountinfo)');
    expect(() => createDriver({ cgroupRoot: tree!.root, procRoot: tree!.root, parent: 'hostwarden' })).toThrow(CgroupUnsupportedError);
    expect(() => createDriver({ cgroupRoot: tree!.root, procRoot: tree!.root, parent: 'hostwarden', driver: 'v2' })).toThrow(/no cgroup2 mount found \(scan/);
  });
});
