// cgroup v1 and hybrid backend: the same relative path `<parent>/<tenant>` in each controller hierarchy (cpu,
// cpuacct, memory, blkio, pids, freezer; co-mounted ones such as "cpu,cpuacct" share a directory) AND, on a
// hybrid host, in the cgroup2 mount, which gives cpu.stat, *.pressure, cgroup.freeze and cgroup.kill per
// cgroup (as systemd does). The primary hierarchy, for procs() and tenantOf(), is cpu.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { IoDeviceLimit, Limits } from '../../limits.js';
import type { ProcCgroupLine } from '../procfs.js';
import { BaseDriver, type BaseOptions } from './base.js';
import { killPids, mkdirCgroup, readControl, waitUntil, writeControl } from './control.js';
import { CgroupBusyError, CgroupTimeoutError, CgroupUnsupportedError, CgroupWriteError } from './errors.js';
import { CPU_PERIOD_USEC, cpuPercentOf, cpuQuotaUsec, sharesToWeight, weightToShares, type LimitField } from './limit-rules.js';
import { parseCgroupEvents, parseFreezerState, parseMaxOrU64, parseU64, parseV1DeviceValues, parseV1Limit } from './parse.js';
import type { StatsSources } from './stats-reader.js';

/** The v1 controllers the agent uses. */
export const V1_USED = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'freezer'] as const;
export type V1Controller = (typeof V1_USED)[number];

/** Interface file names of the v1 controllers (Documentation/admin-guide/cgroup-v1/). */
export const V1_FILES = {
  procs: 'cgroup.procs',
  cfsQuota: 'cpu.cfs_quota_us',
  cfsPeriod: 'cpu.cfs_period_us',
  shares: 'cpu.shares',
  cpuacctUsage: 'cpuacct.usage',
  memoryUsage: 'memory.usage_in_bytes',
  memoryStat: 'memory.stat',
  memoryLimit: 'memory.limit_in_bytes',
  memorySoftLimit: 'memory.soft_limit_in_bytes',
  memoryUseHierarchy: 'memory.use_hierarchy',
  blkioBytes: 'blkio.throttle.io_service_bytes_recursive',
  blkioIos: 'blkio.throttle.io_serviced_recursive',
  readBps: 'blkio.throttle.read_bps_device',
  writeBps: 'blkio.throttle.write_bps_device',
  readIops: 'blkio.throttle.read_iops_device',
  writeIops: 'blkio.throttle.write_iops_device',
  pidsCurrent: 'pids.current',
  pidsMax: 'pids.max',
  freezerState: 'freezer.state',
  // on the unified mount of a hybrid host
  cpuStat: 'cpu.stat',
  events: 'cgroup.events',
  freeze: 'cgroup.freeze',
  kill: 'cgroup.kill',
  cpuPressure: 'cpu.pressure',
  memoryPressure: 'memory.pressure',
  ioPressure: 'io.pressure',
} as const;

/** Each Limits io field and its blkio throttle file. */
const IO_FILES = [
  ['rbps', V1_FILES.readBps],
  ['wbps', V1_FILES.writeBps],
  ['riops', V1_FILES.readIops],
  ['wiops', V1_FILES.writeIops],
] as const;

const LIMIT_FILES: Record<LimitField, [V1Controller, string]> = {
  cpuPercent: ['cpu', V1_FILES.cfsQuota],
  cpuWeight: ['cpu', V1_FILES.shares],
  memoryHigh: ['memory', V1_FILES.memorySoftLimit],
  memoryMax: ['memory', V1_FILES.memoryLimit],
  io: ['blkio', V1_FILES.readBps],
  pidsMax: ['pids', V1_FILES.pidsMax],
};

export interface V1Options extends BaseOptions {
  /** Mount point of each controller's hierarchy; co-mounted controllers name the same directory. cpu is required. */
  hierarchies: Partial<Record<V1Controller, string>>;
  /** The cgroup2 mount of a hybrid host, when there is one. */
  unified?: string;
  /** Root of the cpu hierarchy's mount within the hierarchy, as in mountinfo ("/" on the host). */
  mountRoot?: string;
  /** See DriverOptions.ioAccounting (default true). */
  ioAccounting?: boolean;
}

export class V1Driver extends BaseDriver {
  readonly kind = 'v1' as const;
  readonly hierarchies: Partial<Record<V1Controller, string>>;
  readonly unified?: string;
  private readonly mountRoot: string;
  private readonly ioAccounting: boolean;
  /** Distinct hierarchy mount points, cpu first, then the unified mount. */
  private readonly roots: string[];
  /** The roots processes are moved into (placementDirs); undefined until known. */
  private placedRoots: string[] | undefined;

  constructor(opts: V1Options) {
    super(opts);
    if (!opts.hierarchies.cpu) throw new CgroupUnsupportedError('no v1 cpu hierarchy found: the v1 backend needs at least the cpu controller mounted');
    this.hierarchies = { ...opts.hierarchies };
    this.unified = opts.unified;
    this.mountRoot = opts.mountRoot ?? '/';
    this.ioAccounting = opts.ioAccounting ?? true;
    const roots = [opts.hierarchies.cpu];
    for (const c of V1_USED) {
      const dir = opts.hierarchies[c];
      if (dir && !roots.includes(dir)) roots.push(dir);
    }
    if (opts.unified) roots.push(opts.unified);
    this.roots = roots;
  }

  parentPaths(): string[] {
    return this.roots.map((r) => join(r, this.parent));
  }

  protected tenantDirs(tenant: string): string[] {
    return this.roots.map((r) => join(r, this.parent, tenant));
  }

  /**
   * On a hybrid host whose cgroup2 mount has cgroup.freeze (kernel 5.2+), a process is not moved into the v1
   * freezer hierarchy: the unified mount freezes it. One write of seven less for each stray. The tenant's
   * freezer directory is still made (an older agent's processes may sit in it; freeze and thaw still write the
   * v1 freezer, which freezes an empty cgroup at once). cpuacct is kept even where it is mounted apart from
   * cpu: the unified mount's cpu.stat would count the CPU time too, but reading it costs about 1.6 times
   * cpuacct.usage (an rstat flush each time, measured here), and it is read for every tenant every tick.
   */
  protected override placementDirs(tenant: string): string[] {
    return this.placementRoots().map((r) => join(r, this.parent, tenant));
  }

  /** The roots without the v1 freezer where the unified mount freezes; decided once the parent exists there. */
  private placementRoots(): string[] {
    if (this.placedRoots) return this.placedRoots;
    const { freezer } = this.hierarchies;
    if (this.unified === undefined || freezer === undefined) return (this.placedRoots = this.roots);
    const parent = join(this.unified, this.parent);
    if (!existsSync(parent)) return this.roots; // before setup(): decided later
    // A freezer co-mounted with a governing controller (never seen, but possible) keeps its directory.
    const apart = V1_USED.every((c) => c === 'freezer' || this.hierarchies[c] !== freezer);
    this.placedRoots = apart && existsSync(join(parent, V1_FILES.freeze)) ? this.roots.filter((r) => r !== freezer) : this.roots;
    return this.placedRoots;
  }

  protected mkdirTenant(dir: string): void {
    mkdirCgroup(dir);
  }

  /** The tenant's directory in one controller's hierarchy, or undefined when the host lacks it. */
  private dirOf(c: V1Controller, tenant: string): string | undefined {
    const root = this.hierarchies[c];
    return root === undefined ? undefined : join(root, this.parent, tenant);
  }

  private unifiedDir(tenant: string): string | undefined {
    return this.unified === undefined ? undefined : join(this.unified, this.parent, tenant);
  }

  private need(c: V1Controller, tenant: string, what: string): string {
    const dir = this.dirOf(c, tenant);
    if (!dir) throw new CgroupUnsupportedError(`cannot ${what}: no v1 ${c} hierarchy on this host`);
    return dir;
  }

  /**
   * Create the parent in every hierarchy. memory: make sure use_hierarchy is 1 (always on since 5.x; older
   * kernels need it set before children exist). blkio: activate throttle accounting (see DriverOptions.ioAccounting).
   */
  setup(): void {
    for (const dir of this.parentPaths()) mkdirCgroup(dir);
    if (this.hierarchies.memory) {
      const file = join(this.hierarchies.memory, this.parent, V1_FILES.memoryUseHierarchy);
      if (readControl(file)?.trim() === '0') {
        this.log.info({ file }, 'enabling memory.use_hierarchy on the parent cgroup');
        writeControl(file, '1', 'enable hierarchical memory accounting');
      }
    }
    if (this.hierarchies.blkio && this.ioAccounting) this.activateIoAccounting(join(this.hierarchies.blkio, this.parent, V1_FILES.readBps));
  }

  /**
   * Recent kernels count blkio.throttle.io_service_bytes/io_serviced only on disks whose queue has blk-throttle
   * activated, which the first rule written for that disk does. "MAJ:MIN 0" is "no limit", so writing it into our
   * parent activates the accounting without throttling anything. Partitions and absent devices are refused by
   * the kernel (ENODEV/EINVAL) and skipped.
   */
  private activateIoAccounting(file: string): void {
    const text = readControl(join(this.procRoot, 'partitions')) ?? '';
    const activated: string[] = [];
    for (const line of text.split('\n').slice(2)) {
      const [major, minor, , name] = line.trim().split(/\s+/);
      if (!major || !minor || !/^\d+$/.test(major) || !/^\d+$/.test(minor)) continue;
      try {
        writeControl(file, `${major}:${minor} 0`, `activate io accounting for ${name}`);
        activated.push(`${name} (${major}:${minor})`);
      } catch (err) {
        this.log.debug({ device: name, err: (err as Error).message }, 'io accounting not activated for device');
      }
    }
    this.log.info({ devices: activated }, 'blkio throttle accounting activated (no-op rules on the parent)');
  }

  protected cgroup2Mount(): string | undefined {
    return this.unified;
  }

  protected primaryLine(lines: ProcCgroupLine[]): { line?: ProcCgroupLine; mountRoot: string } {
    return { line: lines.find((l) => l.id !== 0 && l.controllers.includes('cpu')), mountRoot: this.mountRoot };
  }

  statsSources(tenant: string): StatsSources {
    const at = (c: V1Controller, file: string): string | undefined => {
      const dir = this.dirOf(c, tenant);
      return dir === undefined ? undefined : join(dir, file);
    };
    const u = this.unifiedDir(tenant);
    const src: StatsSources = {};
    const cpuacct = at('cpuacct', V1_FILES.cpuacctUsage);
    if (cpuacct) src.cpu = { kind: 'cpuacct.usage', path: cpuacct };
    else if (u) src.cpu = { kind: 'cpu.stat', path: join(u, V1_FILES.cpuStat) };
    const cpuStat = at('cpu', V1_FILES.cpuStat);
    if (cpuStat) src.throttled = { kind: 'throttled_time', path: cpuStat };
    const memDir = this.dirOf('memory', tenant);
    if (memDir) {
      // total_* are the hierarchical values; rss/cache are the fallbacks of kernels without them.
      src.memory = {
        current: join(memDir, V1_FILES.memoryUsage),
        stat: join(memDir, V1_FILES.memoryStat),
        anonKeys: ['total_rss', 'rss'],
        fileKeys: ['total_cache', 'cache'],
      };
    }
    const blkDir = this.dirOf('blkio', tenant);
    if (blkDir) src.io = { kind: 'blkio', bytes: join(blkDir, V1_FILES.blkioBytes), ios: join(blkDir, V1_FILES.blkioIos) };
    const pids = at('pids', V1_FILES.pidsCurrent);
    if (pids) src.pids = pids;
    if (u) src.pressure = { cpu: join(u, V1_FILES.cpuPressure), memory: join(u, V1_FILES.memoryPressure), io: join(u, V1_FILES.ioPressure) };
    // freeze() always uses the v1 freezer when there is one, so its state alone says "frozen" in the hot path
    // (one descriptor and one read less per tenant); isFrozen() still looks at both.
    const freezer = at('freezer', V1_FILES.freezerState);
    if (freezer) src.frozen = [{ kind: 'freezer.state', path: freezer }];
    else if (u) src.frozen = [{ kind: 'cgroup.events', path: join(u, V1_FILES.events) }];
    return src;
  }

  protected limitFile(tenant: string, field: LimitField): string {
    const [c, file] = LIMIT_FILES[field];
    const dir = this.dirOf(c, tenant);
    return dir === undefined ? `(no ${c} hierarchy)/${file}` : join(dir, file);
  }

  protected writeLimits(tenant: string, limits: Limits): void {
    const { cpuPercent, cpuWeight, memoryHigh, memoryMax, io, pidsMax } = limits;
    if (cpuPercent !== undefined || cpuWeight !== undefined) {
      const cpu = this.need('cpu', tenant, `set the cpu limits of tenant ${tenant}`);
      if (cpuPercent !== undefined) {
        if (cpuPercent === null) {
          writeControl(join(cpu, V1_FILES.cfsQuota), '-1', `lift the cpu cap of tenant ${tenant}`);
        } else {
          writeControl(join(cpu, V1_FILES.cfsPeriod), String(CPU_PERIOD_USEC), `set the cfs period of tenant ${tenant}`);
          writeControl(join(cpu, V1_FILES.cfsQuota), String(cpuQuotaUsec(cpuPercent)), `set cpuPercent of tenant ${tenant}`);
        }
      }
      if (cpuWeight !== undefined) writeControl(join(cpu, V1_FILES.shares), String(weightToShares(cpuWeight ?? 100)), `set cpuWeight of tenant ${tenant}`);
    }
    if (memoryHigh !== undefined || memoryMax !== undefined) {
      const mem = this.need('memory', tenant, `set the memory limits of tenant ${tenant}`);
      if (memoryMax !== undefined) this.writeMemoryLimit(tenant, mem, memoryMax);
      if (memoryHigh !== undefined) writeControl(join(mem, V1_FILES.memorySoftLimit), memoryHigh === null ? '-1' : String(memoryHigh), `set memoryHigh of tenant ${tenant}`);
    }
    if (io !== undefined) this.writeIoLimits(tenant, this.need('blkio', tenant, `set the io limits of tenant ${tenant}`), io ?? []);
    if (pidsMax !== undefined) {
      const pids = this.need('pids', tenant, `set pidsMax of tenant ${tenant}`);
      writeControl(join(pids, V1_FILES.pidsMax), pidsMax === null ? 'max' : String(pidsMax), `set pidsMax of tenant ${tenant}`);
    }
  }

  /**
   * memory.limit_in_bytes below what the tenant uses makes the kernel reclaim first; when it cannot get below
   * the new limit it answers EBUSY and keeps the old one. That is reported with the usage, not retried.
   */
  private writeMemoryLimit(tenant: string, mem: string, bytes: number | null): void {
    try {
      writeControl(join(mem, V1_FILES.memoryLimit), bytes === null ? '-1' : String(bytes), `set memoryMax of tenant ${tenant}`);
    } catch (err) {
      if (!(err instanceof CgroupBusyError)) throw err;
      const usage = readControl(join(mem, V1_FILES.memoryUsage))?.trim() ?? 'unknown';
      throw new CgroupBusyError(
        `cannot set memoryMax of tenant ${tenant} to ${bytes} bytes: the tenant uses ${usage} bytes and the kernel could not reclaim ` +
          'enough to fit under the new limit (EBUSY); the previous limit stays',
        { cause: err },
      );
    }
  }

  /** Write each wanted device rule; set the devices that have a rule but are not wanted back to 0 (no limit). */
  private writeIoLimits(tenant: string, dir: string, wanted: IoDeviceLimit[]): void {
    for (const [field, name] of IO_FILES) {
      const file = join(dir, name);
      const current = parseV1DeviceValues(readControl(file) ?? '', file);
      for (const d of wanted) {
        const v = d[field];
        const has = current.some((c) => c.major === d.major && c.minor === d.minor);
        if (v !== undefined) writeControl(file, `${d.major}:${d.minor} ${v}`, `set io ${field} of tenant ${tenant}`);
        else if (has) writeControl(file, `${d.major}:${d.minor} 0`, `clear io ${field} of tenant ${tenant}`);
      }
      for (const c of current) {
        if (!wanted.some((d) => d.major === c.major && d.minor === c.minor)) writeControl(file, `${c.major}:${c.minor} 0`, `clear io ${field} of tenant ${tenant}`);
      }
    }
  }

  protected readLimits(tenant: string): Limits {
    const out: Limits = {};
    const cpu = this.dirOf('cpu', tenant)!;
    const quotaFile = join(cpu, V1_FILES.cfsQuota);
    const quota = readControl(quotaFile);
    if (quota !== undefined) {
      const q = parseV1Limit(quota, quotaFile);
      const periodFile = join(cpu, V1_FILES.cfsPeriod);
      out.cpuPercent = q === null ? null : cpuPercentOf(q, parseU64(readControl(periodFile) ?? String(CPU_PERIOD_USEC), periodFile));
    }
    const sharesFile = join(cpu, V1_FILES.shares);
    const shares = readControl(sharesFile);
    if (shares !== undefined) out.cpuWeight = sharesToWeight(parseU64(shares, sharesFile));
    const mem = this.dirOf('memory', tenant);
    if (mem) {
      for (const [field, name] of [['memoryMax', V1_FILES.memoryLimit], ['memoryHigh', V1_FILES.memorySoftLimit]] as const) {
        const text = readControl(join(mem, name));
        if (text !== undefined) out[field] = parseV1Limit(text, join(mem, name));
      }
    }
    const blk = this.dirOf('blkio', tenant);
    // The read rule file first: absent, the host has no blk-throttle and io stays undefined (no existence check of its own).
    const readBps = blk === undefined ? undefined : readControl(join(blk, V1_FILES.readBps));
    if (blk && readBps !== undefined) {
      const byDev = new Map<string, IoDeviceLimit>();
      for (const [field, name] of IO_FILES) {
        const file = join(blk, name);
        for (const { major, minor, value } of parseV1DeviceValues((name === V1_FILES.readBps ? readBps : readControl(file)) ?? '', file)) {
          if (value === 0) continue; // "0" is how a rule is removed; the kernel never lists it
          const key = `${major}:${minor}`;
          const d = byDev.get(key) ?? { major, minor };
          d[field] = value;
          byDev.set(key, d);
        }
      }
      out.io = byDev.size > 0 ? [...byDev.values()] : null;
    }
    const pids = this.dirOf('pids', tenant);
    if (pids) {
      const file = join(pids, V1_FILES.pidsMax);
      const text = readControl(file);
      if (text !== undefined) out.pidsMax = parseMaxOrU64(text, file);
    }
    return out;
  }

  // --- freezing: the v1 freezer hierarchy, plus cgroup.freeze on the unified mount when present -------------
  private freezerState(tenant: string): string | undefined {
    const dir = this.dirOf('freezer', tenant);
    if (!dir) return undefined;
    const file = join(dir, V1_FILES.freezerState);
    const text = readControl(file);
    return text === undefined ? undefined : parseFreezerState(text, file);
  }

  private unifiedFrozen(tenant: string): boolean | undefined {
    const u = this.unifiedDir(tenant);
    if (!u) return undefined;
    const file = join(u, V1_FILES.events);
    const text = readControl(file);
    return text === undefined ? undefined : parseCgroupEvents(text, file).frozen;
  }

  private unifiedFreezeFile(tenant: string): string | undefined {
    const u = this.unifiedDir(tenant);
    return u !== undefined && existsSync(join(u, V1_FILES.freeze)) ? join(u, V1_FILES.freeze) : undefined;
  }

  /**
   * Freeze in both freezers, the unified one FIRST: a task already in the v1 freezer never reaches the point
   * where the v2 freezer counts it, so cgroup.events stays "frozen 0" forever (measured on 6.18; the other
   * order freezes both). A tenant left frozen by v1 alone is thawed there before the unified freeze.
   */
  protected freezeNow(tenant: string): void {
    const freezer = this.dirOf('freezer', tenant);
    const unified = this.unifiedFreezeFile(tenant);
    if (!freezer && !unified) throw new CgroupUnsupportedError(`cannot freeze tenant ${tenant}: no freezer hierarchy and no cgroup.freeze on this host`);
    const describe = () => `tenant ${tenant} not frozen (freezer.state ${this.freezerState(tenant) ?? '-'}, cgroup.events frozen ${this.unifiedFrozen(tenant) ? 1 : 0})`;
    if (unified) {
      if (freezer && this.freezerState(tenant) !== 'THAWED' && !this.unifiedFrozen(tenant)) {
        writeControl(join(freezer, V1_FILES.freezerState), 'THAWED', `thaw tenant ${tenant} before the unified freeze`);
        waitUntil(() => this.freezerState(tenant) === 'THAWED', this.freezeTimeoutMs, describe);
      }
      writeControl(unified, '1', `freeze tenant ${tenant} (unified)`);
      waitUntil(() => this.unifiedFrozen(tenant) === true, this.freezeTimeoutMs, describe);
    }
    if (freezer) {
      writeControl(join(freezer, V1_FILES.freezerState), 'FROZEN', `freeze tenant ${tenant}`);
      waitUntil(() => this.freezerState(tenant) === 'FROZEN', this.freezeTimeoutMs, describe);
    }
  }

  protected thawNow(tenant: string): void {
    const freezer = this.dirOf('freezer', tenant);
    const unified = this.unifiedFreezeFile(tenant);
    if (unified) writeControl(unified, '0', `thaw tenant ${tenant} (unified)`);
    if (freezer && existsSync(join(freezer, V1_FILES.freezerState))) writeControl(join(freezer, V1_FILES.freezerState), 'THAWED', `thaw tenant ${tenant}`);
    waitUntil(
      () => (this.freezerState(tenant) ?? 'THAWED') === 'THAWED' && !this.unifiedFrozen(tenant),
      this.freezeTimeoutMs,
      () => `tenant ${tenant} still frozen (freezer.state ${this.freezerState(tenant) ?? '-'}, cgroup.events frozen ${this.unifiedFrozen(tenant) ? 1 : 0})`,
    );
  }

  protected frozenNow(tenant: string): boolean {
    return this.freezerState(tenant) === 'FROZEN' || this.unifiedFrozen(tenant) === true;
  }

  /**
   * With a unified mount: thaw, then cgroup.kill (race-free against forks), then SIGKILL any task that sits in a
   * v1 hierarchy only. Without one: the classic v1 sequence freeze, SIGKILL every task, thaw: frozen tasks
   * cannot fork, and the pending SIGKILL takes effect the moment they thaw. Does not wait for the tasks to go.
   */
  protected killNow(tenant: string): void {
    const unifiedKill = this.unifiedDir(tenant);
    if (unifiedKill && existsSync(join(unifiedKill, V1_FILES.kill))) {
      this.thawNow(tenant);
      writeControl(join(unifiedKill, V1_FILES.kill), '1', `kill the processes of tenant ${tenant}`);
      killPids(this.leftoverPids(tenant));
      return;
    }
    let frozen = false;
    if (this.dirOf('freezer', tenant)) {
      try {
        this.freezeNow(tenant);
        frozen = true;
      } catch (err) {
        if (!(err instanceof CgroupTimeoutError || err instanceof CgroupWriteError)) throw err;
        this.log.warn({ tenant, err: err.message }, 'could not freeze before killing; killing unfrozen');
      }
    }
    killPids(this.leftoverPids(tenant));
    this.thawNow(tenant);
    if (!frozen) killPids(this.leftoverPids(tenant));
  }
}
