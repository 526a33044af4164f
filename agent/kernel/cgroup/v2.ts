// cgroup v2 backend: `<root>/<parent>/<tenant>` on the cgroup2 mount, with cpu io memory pids enabled in the
// parent's cgroup.subtree_control. Also usable on a hybrid host's unified mount, which has no cpu/memory/io/pids
// controllers but still gives cpu.stat, *.pressure, cgroup.freeze and cgroup.kill per cgroup: with
// `requireControllers: false` the missing controllers are no data (and limits on them a clear error).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { IoDeviceLimit, Limits } from '../../limits.js';
import type { ProcCgroupLine } from '../procfs.js';
import { BaseDriver, type BaseOptions } from './base.js';
import { killPids, mkdirCgroup, readControl, readPids, waitUntil, writeControl } from './control.js';
import { CgroupUnsupportedError } from './errors.js';
import { CPU_PERIOD_USEC, CPU_WEIGHT_DEFAULT, cpuPercentOf, cpuQuotaUsec, type LimitField } from './limit-rules.js';
import { parseCgroupEvents, parseControllerList, parseCpuMax, parseIoMax, parseMaxOrU64, parseU64 } from './parse.js';
import type { StatsSources } from './stats-reader.js';

/** The controllers tenants need, in the order they are enabled. */
export const V2_CONTROLLERS = ['cpu', 'io', 'memory', 'pids'] as const;
/** Without these the v2 backend cannot govern at all; io and pids are only warned about. */
const ESSENTIAL = ['cpu', 'memory'];

/** Interface file names (cgroup-v2.rst). */
export const V2_FILES = {
  procs: 'cgroup.procs',
  controllers: 'cgroup.controllers',
  subtreeControl: 'cgroup.subtree_control',
  events: 'cgroup.events',
  freeze: 'cgroup.freeze',
  kill: 'cgroup.kill',
  cpuStat: 'cpu.stat',
  cpuMax: 'cpu.max',
  cpuWeight: 'cpu.weight',
  memoryCurrent: 'memory.current',
  memoryStat: 'memory.stat',
  memoryHigh: 'memory.high',
  memoryMax: 'memory.max',
  ioStat: 'io.stat',
  ioMax: 'io.max',
  pidsCurrent: 'pids.current',
  pidsMax: 'pids.max',
  cpuPressure: 'cpu.pressure',
  memoryPressure: 'memory.pressure',
  ioPressure: 'io.pressure',
} as const;

const LIMIT_FILES: Record<LimitField, string> = {
  cpuPercent: V2_FILES.cpuMax,
  cpuWeight: V2_FILES.cpuWeight,
  memoryHigh: V2_FILES.memoryHigh,
  memoryMax: V2_FILES.memoryMax,
  io: V2_FILES.ioMax,
  pidsMax: V2_FILES.pidsMax,
};

export interface V2Options extends BaseOptions {
  /** The cgroup2 mount point (pure v2: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified). */
  root: string;
  /** Root of the mount within the hierarchy, as in mountinfo ("/" on the host). */
  mountRoot?: string;
  /** setup() fails when cpu or memory cannot be enabled for tenants (default true). */
  requireControllers?: boolean;
  /** See DriverOptions.enableRootControllers (default false). */
  enableRootControllers?: boolean;
}

export class V2Driver extends BaseDriver {
  readonly kind = 'v2' as const;
  readonly root: string;
  private readonly mountRoot: string;
  private readonly requireControllers: boolean;
  private readonly enableRootControllers: boolean;

  constructor(opts: V2Options) {
    super(opts);
    this.root = opts.root;
    this.mountRoot = opts.mountRoot ?? '/';
    this.requireControllers = opts.requireControllers ?? true;
    this.enableRootControllers = opts.enableRootControllers ?? false;
  }

  private get parentDir(): string {
    return join(this.root, this.parent);
  }

  parentPaths(): string[] {
    return [this.parentDir];
  }

  protected tenantDirs(tenant: string): string[] {
    return [join(this.parentDir, tenant)];
  }

  protected mkdirTenant(dir: string): void {
    mkdirCgroup(dir);
  }

  /**
   * Create the parent and enable the tenant controllers in its cgroup.subtree_control. Controllers reach the
   * parent only if the ROOT's subtree_control has them: on a real v2 host the host's governor has to enable them
   * there, a write into a cgroup we did not create, so it is done only with enableRootControllers (and logged).
   */
  setup(): void {
    const wanted = [...V2_CONTROLLERS];
    if (this.enableRootControllers) this.enableIn(this.root, wanted, 'root cgroup (enableRootControllers: host governor step)', 'info');
    mkdirCgroup(this.parentDir);
    const available = this.enableIn(this.parentDir, wanted, 'parent cgroup', 'debug');
    const missing = wanted.filter((c) => !available.includes(c));
    if (missing.length > 0) {
      const hint = this.enableRootControllers
        ? `the root cgroup of ${this.root} does not offer them (cgroup.controllers)`
        : `enable them in ${join(this.root, V2_FILES.subtreeControl)} (the agent does so with enable_root_controllers)`;
      const essential = missing.filter((c) => ESSENTIAL.includes(c));
      if (essential.length > 0 && this.requireControllers) {
        throw new CgroupUnsupportedError(`controllers ${essential.join(', ')} are not available to ${this.parentDir}: ${hint}`);
      }
      this.log.warn({ parent: this.parentDir, missing }, `cgroup controllers not available, their stats are no data and their limits fail: ${hint}`);
    }
  }

  /** Enable the wanted controllers the cgroup offers in its subtree_control; returns those now enabled. */
  private enableIn(dir: string, wanted: string[], what: string, level: 'info' | 'debug'): string[] {
    const offered = parseControllerList(readControl(join(dir, V2_FILES.controllers)) ?? '');
    const enabled = parseControllerList(readControl(join(dir, V2_FILES.subtreeControl)) ?? '');
    const add = wanted.filter((c) => offered.includes(c) && !enabled.includes(c));
    if (add.length > 0) {
      this.log[level]({ cgroup: dir, controllers: add }, `enabling cgroup controllers in the ${what}`);
      writeControl(join(dir, V2_FILES.subtreeControl), add.map((c) => `+${c}`).join(' '), `enable controllers ${add.join(' ')} in ${dir}`);
    }
    return wanted.filter((c) => enabled.includes(c) || add.includes(c));
  }

  protected cgroup2Mount(): string {
    return this.root;
  }

  protected primaryLine(lines: ProcCgroupLine[]): { line?: ProcCgroupLine; mountRoot: string } {
    return { line: lines.find((l) => l.id === 0 && l.controllers.length === 0), mountRoot: this.mountRoot };
  }

  statsSources(tenant: string): StatsSources {
    const f = (name: string): string => join(this.parentDir, tenant, name);
    return {
      cpu: { kind: 'cpu.stat', path: f(V2_FILES.cpuStat) },
      throttled: { kind: 'same-cpu.stat' },
      memory: { current: f(V2_FILES.memoryCurrent), stat: f(V2_FILES.memoryStat), anonKeys: ['anon'], fileKeys: ['file'], writebackKeys: ['file_dirty', 'file_writeback'] },
      io: { kind: 'io.stat', path: f(V2_FILES.ioStat) },
      pids: f(V2_FILES.pidsCurrent),
      pressure: { cpu: f(V2_FILES.cpuPressure), memory: f(V2_FILES.memoryPressure), io: f(V2_FILES.ioPressure) },
      frozen: [{ kind: 'cgroup.events', path: f(V2_FILES.events) }],
    };
  }

  protected limitFile(tenant: string, field: LimitField): string {
    return join(this.parentDir, tenant, LIMIT_FILES[field]);
  }

  protected writeLimits(tenant: string, limits: Limits): void {
    const w = (field: LimitField, value: string): void => writeControl(this.limitFile(tenant, field), value, `set ${field} of tenant ${tenant}`);
    const { cpuPercent, cpuWeight, memoryHigh, memoryMax, io, pidsMax } = limits;
    if (cpuPercent !== undefined) w('cpuPercent', cpuPercent === null ? `max ${CPU_PERIOD_USEC}` : `${cpuQuotaUsec(cpuPercent)} ${CPU_PERIOD_USEC}`);
    if (cpuWeight !== undefined) w('cpuWeight', String(cpuWeight ?? CPU_WEIGHT_DEFAULT));
    if (memoryHigh !== undefined) w('memoryHigh', memoryHigh === null ? 'max' : String(memoryHigh));
    if (memoryMax !== undefined) w('memoryMax', memoryMax === null ? 'max' : String(memoryMax));
    if (io !== undefined) {
      const wanted = io ?? [];
      const current = parseIoMax(readControl(this.limitFile(tenant, 'io')) ?? '', this.limitFile(tenant, 'io'));
      for (const d of wanted) w('io', ioMaxLine(d));
      for (const d of current) {
        if (!wanted.some((x) => x.major === d.major && x.minor === d.minor)) w('io', ioMaxLine({ major: d.major, minor: d.minor }));
      }
    }
    if (pidsMax !== undefined) w('pidsMax', pidsMax === null ? 'max' : String(pidsMax));
  }

  protected readLimits(tenant: string): Limits {
    const read = (field: LimitField): { text: string; file: string } | undefined => {
      const file = this.limitFile(tenant, field);
      const text = readControl(file);
      return text === undefined ? undefined : { text, file };
    };
    const out: Limits = {};
    const cpuMax = read('cpuPercent');
    if (cpuMax) {
      const { quotaUsec, periodUsec } = parseCpuMax(cpuMax.text, cpuMax.file);
      out.cpuPercent = quotaUsec === null ? null : cpuPercentOf(quotaUsec, periodUsec);
    }
    const weight = read('cpuWeight');
    if (weight) out.cpuWeight = parseU64(weight.text, weight.file);
    for (const field of ['memoryHigh', 'memoryMax', 'pidsMax'] as const) {
      const v = read(field);
      if (v) out[field] = parseMaxOrU64(v.text, v.file);
    }
    const io = read('io');
    if (io) {
      const devices = parseIoMax(io.text, io.file).filter((d) => d.rbps !== undefined || d.wbps !== undefined || d.riops !== undefined || d.wiops !== undefined);
      out.io = devices.length > 0 ? devices : null;
    }
    return out;
  }

  private eventsFrozen(tenant: string): boolean {
    const file = join(this.parentDir, tenant, V2_FILES.events);
    const text = readControl(file);
    return text !== undefined && parseCgroupEvents(text, file).frozen;
  }

  protected freezeNow(tenant: string): void {
    writeControl(join(this.parentDir, tenant, V2_FILES.freeze), '1', `freeze tenant ${tenant}`);
    waitUntil(() => this.eventsFrozen(tenant), this.freezeTimeoutMs, () => `tenant ${tenant} not frozen (cgroup.events frozen 0)`);
  }

  protected thawNow(tenant: string): void {
    const file = join(this.parentDir, tenant, V2_FILES.freeze);
    if (!existsSync(file)) return; // kernel < 5.2: nothing can be frozen
    writeControl(file, '0', `thaw tenant ${tenant}`);
    waitUntil(() => !this.eventsFrozen(tenant), this.freezeTimeoutMs, () => `tenant ${tenant} still frozen (cgroup.events frozen 1)`);
  }

  protected frozenNow(tenant: string): boolean {
    return this.eventsFrozen(tenant);
  }

  /**
   * Thaw, then cgroup.kill (kernel >= 5.14: kills every task, forks racing with it included). Older kernels:
   * SIGKILL each PID of cgroup.procs, a few rounds to catch forks. Does not wait for the tasks to be gone.
   */
  protected killNow(tenant: string): void {
    const dir = join(this.parentDir, tenant);
    const freeze = join(dir, V2_FILES.freeze);
    if (existsSync(freeze)) writeControl(freeze, '0', `thaw tenant ${tenant} before killing`);
    const killFile = join(dir, V2_FILES.kill);
    if (existsSync(killFile)) {
      writeControl(killFile, '1', `kill the processes of tenant ${tenant}`);
      return;
    }
    for (let round = 0; round < 3; round++) {
      if (killPids(readPids(join(dir, V2_FILES.procs))) === 0) break;
    }
  }
}

/** One io.max line: "MAJ:MIN rbps=N wbps=max riops=max wiops=N" (absent fields are max). */
export function ioMaxLine(d: IoDeviceLimit): string {
  const v = (n: number | undefined): string => (n === undefined ? 'max' : String(n));
  return `${d.major}:${d.minor} rbps=${v(d.rbps)} wbps=${v(d.wbps)} riops=${v(d.riops)} wiops=${v(d.wiops)}`;
}
