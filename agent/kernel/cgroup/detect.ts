// Backend detection, in one place. The mount table (<procRoot>/self/mountinfo) says where each hierarchy is;
// mount points under /sys/fs/cgroup are rebased onto opts.cgroupRoot so tests can point a captured mount table
// at a fixture tree. Without a mount table, the layout is guessed from the directories under cgroupRoot.
//   pure v2 (cgroup2 mounted at the cgroup root, offering cpu and memory) -> v2
//   otherwise, a v1 cpu hierarchy                                        -> v1 (hybrid when cgroup2 is also mounted)
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readControl } from './control.js';
import type { CgroupDriver, DriverOptions } from './driver.js';
import { CgroupUnsupportedError } from './errors.js';
import { parseMountinfo, type MountinfoEntry } from '../procfs.js';
import { parseControllerList } from './parse.js';
import { V1_USED, V1Driver, type V1Controller } from './v1.js';
import { V2Driver } from './v2.js';

export const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc',
]);

export interface CgroupMount {
  mountPoint: string;
  /** Root of the mount within the hierarchy ("/" on the host; deeper inside a cgroup namespace or bind mount). */
  root: string;
}

export interface CgroupMounts {
  /** The cgroup2 mount (pure v2: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified). */
  unified?: CgroupMount;
  /** Each v1 controller's hierarchy; co-mounted controllers ("cpu,cpuacct") share one entry's mount point. */
  v1: Record<string, CgroupMount>;
}

/** The cgroup mounts of a mount table; the first mount of each hierarchy wins (later ones are bind mounts). */
export function findCgroupMounts(entries: MountinfoEntry[]): CgroupMounts {
  const out: CgroupMounts = { v1: {} };
  for (const e of entries) {
    if (e.fsType === 'cgroup2') {
      out.unified ??= { mountPoint: e.mountPoint, root: e.root };
    } else if (e.fsType === 'cgroup') {
      for (const opt of e.superOptions) {
        if (V1_CONTROLLERS.has(opt)) out.v1[opt] ??= { mountPoint: e.mountPoint, root: e.root };
      }
    }
  }
  return out;
}

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';
export const DEFAULT_PROC_ROOT = '/proc';
export const DEFAULT_PARENT = 'hostwarden';

export interface CgroupLayout {
  /** Which backend auto-detection picks for this layout. */
  kind: 'v1' | 'v2';
  /** Rebased cgroup2 mount, if any. */
  unified?: CgroupMount;
  /** Rebased v1 hierarchies of the controllers the agent uses. */
  v1: Partial<Record<V1Controller, CgroupMount>>;
  /** Controllers the cgroup2 root offers (its cgroup.controllers). */
  unifiedControllers: string[];
  /** Where the layout came from. */
  source: 'mountinfo' | 'scan';
}

function rebase(mountPoint: string, cgroupRoot: string): string {
  if (mountPoint === DEFAULT_CGROUP_ROOT) return cgroupRoot;
  if (mountPoint.startsWith(`${DEFAULT_CGROUP_ROOT}/`)) return join(cgroupRoot, mountPoint.slice(DEFAULT_CGROUP_ROOT.length + 1));
  return mountPoint;
}

/** Find the hierarchies: from the mount table when there is one, else by looking at cgroupRoot. */
export function detectLayout(opts: Pick<DriverOptions, 'cgroupRoot' | 'procRoot'>): CgroupLayout {
  const cgroupRoot = opts.cgroupRoot;
  const mountinfoFile = join(opts.procRoot, 'self', 'mountinfo');
  const text = readControl(mountinfoFile);
  let unified: CgroupMount | undefined;
  const v1: Partial<Record<V1Controller, CgroupMount>> = {};
  let source: CgroupLayout['source'];
  if (text !== undefined) {
    source = 'mountinfo';
    const mounts = findCgroupMounts(parseMountinfo(text, mountinfoFile));
    if (mounts.unified) unified = { mountPoint: rebase(mounts.unified.mountPoint, cgroupRoot), root: mounts.unified.root };
    for (const c of V1_USED) {
      const m = mounts.v1[c];
      if (m) v1[c] = { mountPoint: rebase(m.mountPoint, cgroupRoot), root: m.root };
    }
  } else {
    source = 'scan';
    if (existsSync(join(cgroupRoot, 'cgroup.controllers'))) {
      unified = { mountPoint: cgroupRoot, root: '/' };
    } else {
      let names: string[] = [];
      try {
        names = readdirSync(cgroupRoot);
      } catch {
        // no cgroup root at all: reported below
      }
      for (const name of names.sort()) {
        const dir = join(cgroupRoot, name);
        if (existsSync(join(dir, 'cgroup.controllers'))) {
          unified ??= { mountPoint: dir, root: '/' };
          continue;
        }
        if (!existsSync(join(dir, 'cgroup.procs'))) continue;
        for (const c of name.split(',')) if (V1_CONTROLLERS.has(c) && (V1_USED as readonly string[]).includes(c)) v1[c as V1Controller] ??= { mountPoint: dir, root: '/' };
      }
    }
  }
  const unifiedControllers = unified ? parseControllerList(readControl(join(unified.mountPoint, 'cgroup.controllers')) ?? '') : [];
  const pureV2 = unified !== undefined && !v1.cpu && unifiedControllers.includes('cpu') && unifiedControllers.includes('memory');
  return { kind: pureV2 || (!v1.cpu && unified !== undefined) ? 'v2' : 'v1', unified, v1, unifiedControllers, source };
}

/**
 * The driver for this host: the detected backend, or the one opts.driver forces. A v2 backend on cgroup2 mounted
 * at the cgroup root needs cpu and memory (setup fails clearly without them); one forced onto a hybrid host's
 * unified mount tolerates its missing controllers (no data; limits on them fail clearly).
 */
export function createDriver(opts: DriverOptions): CgroupDriver {
  const layout = detectLayout(opts);
  const kind = opts.driver === undefined || opts.driver === 'auto' ? layout.kind : opts.driver;
  const common = {
    procRoot: opts.procRoot,
    parent: opts.parent,
    freezeTimeoutMs: opts.freezeTimeoutMs,
    killTimeoutMs: opts.killTimeoutMs,
    logger: opts.logger,
  };
  if (kind === 'v2') {
    if (!layout.unified) throw new CgroupUnsupportedError(`no cgroup2 mount found (${layout.source}: ${layout.source === 'mountinfo' ? join(opts.procRoot, 'self/mountinfo') : opts.cgroupRoot})`);
    return new V2Driver({
      ...common,
      root: layout.unified.mountPoint,
      mountRoot: layout.unified.root,
      requireControllers: resolve(layout.unified.mountPoint) === resolve(opts.cgroupRoot),
      enableRootControllers: opts.enableRootControllers,
    });
  }
  if (!layout.v1.cpu) throw new CgroupUnsupportedError(`no v1 cpu hierarchy found (${layout.source}) under ${opts.cgroupRoot}`);
  const hierarchies: Partial<Record<V1Controller, string>> = {};
  for (const c of V1_USED) {
    const m = layout.v1[c];
    if (m) hierarchies[c] = m.mountPoint;
  }
  return new V1Driver({ ...common, hierarchies, unified: layout.unified?.mountPoint, mountRoot: layout.v1.cpu.root, ioAccounting: opts.ioAccounting });
}
