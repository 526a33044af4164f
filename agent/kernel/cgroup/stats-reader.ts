// The per-tenant StatsReader of both backends: each backend says which files hold what (StatsSources); this
// keeps them open (KeptFile) and turns their text into CgroupStats every tick. The hot path of the agent:
// one pread per file, indexOf parsers, one result object.
import type { KernelPressure as Pressure, KernelPsi } from '../../../shared/wire/agent.js';
import type { CgroupStats, StatsReader, StatsReadOptions } from './driver.js';
import { KeptFile } from './fd-reader.js';
import { CgroupParseError } from './errors.js';
import { flatKeyedValue, parseCgroupEvents, parseFreezerState, parsePsi, parseU64, sumBlkioThrottle, sumIoStat } from './parse.js';

/** Where a backend finds each statistic of one tenant. Absent source = the host lacks it. */
export interface StatsSources {
  cpu?: { kind: 'cpuacct.usage' | 'cpu.stat'; path: string };
  /** Throttled time: `throttled_usec` in the cpu file itself (v2 cpu.stat), or v1's cpu.stat `throttled_time` (ns). */
  throttled?: { kind: 'same-cpu.stat' } | { kind: 'throttled_time'; path: string };
  /**
   * memory.current (v2) or memory.usage_in_bytes (v1), with memory.stat and its keys, first found wins.
   * `writebackKeys`: page cache the kernel will still write and charge to the cgroup's io (v2's cgroup
   * writeback: dirty and under writeback), where that io needs no task of the cgroup to run.
   */
  memory?: { current: string; stat: string; anonKeys: string[]; fileKeys: string[]; writebackKeys?: string[] };
  io?: { kind: 'io.stat'; path: string } | { kind: 'blkio'; bytes: string; ios: string };
  pids?: string;
  pressure?: { cpu?: string; memory?: string; io?: string };
  /** Any of these reporting frozen makes the tenant frozen. */
  frozen?: Array<{ kind: 'cgroup.events' | 'freezer.state'; path: string }>;
}

/** What the reader needs of a stats file; KeptFile in production, other readers for benchmarks. */
export interface StatFile {
  readonly path: string;
  read(): string | undefined;
  close(): void;
}

export class CgroupStatsReader implements StatsReader {
  private readonly cpu?: { cpuacct: boolean; file: StatFile; throttledToo: boolean };
  private readonly throttledTime?: StatFile;
  private readonly memory?: { current: StatFile; stat: StatFile; anonKeys: string[]; fileKeys: string[]; writebackKeys: string[] };
  private readonly io?: { kind: 'io.stat'; file: StatFile } | { kind: 'blkio'; bytes: StatFile; ios: StatFile };
  private readonly pids?: StatFile;
  private readonly pressure: Array<['cpu' | 'memory' | 'io', StatFile]> = [];
  private readonly frozen: Array<{ events: boolean; file: StatFile }> = [];
  private readonly all: StatFile[] = [];
  /** What the last readActivity() read (read({ afterActivity }) takes it instead of reading again). */
  private activity: { cpuUsageUsec?: number; throttledUsec?: number; pids?: number } = {};
  /** The pressure of the last read (its totals stand for a calm resource's, which is not read). */
  private lastPressure: Pressure | undefined;

  /** `open` makes the file objects (default: KeptFile, descriptors kept open). */
  constructor(src: StatsSources, open: (path: string) => StatFile = (path) => new KeptFile(path)) {
    const keep = (path: string): StatFile => {
      const f = open(path);
      this.all.push(f);
      return f;
    };
    try {
      if (src.cpu) this.cpu = { cpuacct: src.cpu.kind === 'cpuacct.usage', file: keep(src.cpu.path), throttledToo: src.throttled?.kind === 'same-cpu.stat' && src.cpu.kind === 'cpu.stat' };
      if (src.throttled?.kind === 'throttled_time') this.throttledTime = keep(src.throttled.path);
      if (src.memory) {
        // Keys are looked up as "key " at a line start; prepare the strings once.
        this.memory = {
          current: keep(src.memory.current),
          stat: keep(src.memory.stat),
          anonKeys: src.memory.anonKeys.map((k) => `${k} `),
          fileKeys: src.memory.fileKeys.map((k) => `${k} `),
          writebackKeys: (src.memory.writebackKeys ?? []).map((k) => `${k} `),
        };
      }
      if (src.io) this.io = src.io.kind === 'io.stat' ? { kind: 'io.stat', file: keep(src.io.path) } : { kind: 'blkio', bytes: keep(src.io.bytes), ios: keep(src.io.ios) };
      if (src.pids) this.pids = keep(src.pids);
      for (const r of ['cpu', 'memory', 'io'] as const) {
        const p = src.pressure?.[r];
        if (p) this.pressure.push([r, keep(p)]);
      }
      for (const f of src.frozen ?? []) this.frozen.push({ events: f.kind === 'cgroup.events', file: keep(f.path) });
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /**
   * Only the two counters that move whenever anything runs in the cgroup: CPU time and tasks (`pids: false`: CPU
   * time alone). Equal to the last full read(), nothing ran, was born, exited or was moved in since (the
   * collector's quiet-tenant shortcut).
   */
  readActivity(opts: { pids?: boolean } = {}): { cpuUsageUsec?: number; pids?: number } {
    const a: { cpuUsageUsec?: number; throttledUsec?: number; pids?: number } = {};
    this.readCpuInto(a);
    if (opts.pids !== false) {
      const pids = this.readPids();
      if (pids !== undefined) a.pids = pids;
    }
    this.activity = a;
    const out: { cpuUsageUsec?: number; pids?: number } = {};
    if (a.cpuUsageUsec !== undefined) out.cpuUsageUsec = a.cpuUsageUsec;
    if (a.pids !== undefined) out.pids = a.pids;
    return out;
  }

  /** CPU time (and v2's throttled time from the same cpu.stat) into `out`. */
  private readCpuInto(out: { cpuUsageUsec?: number; throttledUsec?: number }): void {
    if (!this.cpu) return;
    const text = this.cpu.file.read();
    if (text === undefined) return;
    const usage = this.cpu.cpuacct ? Math.floor(parseU64(text, this.cpu.file.path) / 1000) : flatKeyedValue(text, 'usage_usec ', this.cpu.file.path);
    if (usage !== undefined) out.cpuUsageUsec = usage;
    if (this.cpu.throttledToo) {
      const t = flatKeyedValue(text, 'throttled_usec ', this.cpu.file.path);
      if (t !== undefined) out.throttledUsec = t;
    }
  }

  read(opts: StatsReadOptions = {}): CgroupStats {
    const out: CgroupStats = {};
    const reuse = opts.afterActivity === true;
    if (reuse) {
      if (this.activity.cpuUsageUsec !== undefined) out.cpuUsageUsec = this.activity.cpuUsageUsec;
      if (this.activity.throttledUsec !== undefined) out.throttledUsec = this.activity.throttledUsec;
    } else this.readCpuInto(out);
    if (this.throttledTime) {
      const text = this.throttledTime.read();
      const ns = text === undefined ? undefined : flatKeyedValue(text, 'throttled_time ', this.throttledTime.path);
      if (ns !== undefined) out.throttledUsec = Math.floor(ns / 1000);
    }
    if (this.memory) {
      const m = this.memory;
      const current = m.current.read();
      const stat = current === undefined ? undefined : m.stat.read();
      if (current !== undefined && stat !== undefined) {
        out.memory = { current: parseU64(current, m.current.path), anon: firstKey(stat, m.anonKeys, m.stat.path), file: firstKey(stat, m.fileKeys, m.stat.path) };
        for (const k of m.writebackKeys) {
          if ((flatKeyedValue(stat, k, m.stat.path) ?? 0) > 0) {
            out.writebackPending = true;
            break;
          }
        }
      }
    }
    if (this.io) {
      if (this.io.kind === 'io.stat') {
        const text = this.io.file.read();
        if (text !== undefined) out.io = sumIoStat(text, this.io.file.path);
      } else {
        const bytes = this.io.bytes.read();
        const ios = bytes === undefined ? undefined : this.io.ios.read();
        if (bytes !== undefined && ios !== undefined) {
          const b = sumBlkioThrottle(bytes, this.io.bytes.path);
          const n = sumBlkioThrottle(ios, this.io.ios.path);
          out.io = { rbytes: b.read, wbytes: b.write, rios: n.read, wios: n.write };
        }
      }
    }
    if (reuse && this.activity.pids !== undefined) {
      out.pids = this.activity.pids;
    } else {
      const pids = this.readPids();
      if (pids !== undefined) out.pids = pids;
    }
    // Only for a cgroup that answered: one whose every file is gone must read as nothing at all (the caller
    // closes its reader then, to open the cgroup afresh once it exists again).
    this.readPressureInto(out, Object.keys(out).length > 0, opts.calm);
    if (opts.frozen === false) return out;
    for (const f of this.frozen) {
      const text = f.file.read();
      if (text === undefined) continue;
      const frozen = f.events ? parseCgroupEvents(text, f.file.path).frozen : parseFreezerState(text, f.file.path) === 'FROZEN';
      out.frozen = (out.frozen ?? false) || frozen;
    }
    return out;
  }

  readLight(opts: Pick<StatsReadOptions, 'calm'> = {}): Pick<CgroupStats, 'cpuUsageUsec' | 'pids' | 'pressure'> {
    const out: Pick<CgroupStats, 'cpuUsageUsec' | 'pids' | 'pressure'> = {};
    if (this.activity.cpuUsageUsec !== undefined) out.cpuUsageUsec = this.activity.cpuUsageUsec;
    const pids = this.activity.pids ?? this.readPids();
    if (pids !== undefined) out.pids = pids;
    this.readPressureInto(out, Object.keys(out).length > 0, opts.calm);
    return out;
  }

  /** The task count (pids.current), or undefined without the file or when it read nothing. */
  private readPids(): number | undefined {
    const text = this.pids?.read();
    return text === undefined ? undefined : parseU64(text, this.pids!.path);
  }

  /** The pressure files into `out.pressure`; a calm resource's from the last read (`present`: the cgroup answered). */
  private readPressureInto(out: { pressure?: Pressure }, present: boolean, calm: ReadonlySet<'cpu' | 'memory' | 'io'> | undefined): void {
    if (this.pressure.length === 0) return;
    let pressure: Pressure | undefined;
    for (const [r, f] of this.pressure) {
      const last = present && calm?.has(r) ? this.lastPressure?.[r] : undefined;
      if (last) {
        (pressure ??= {})[r] = calmPsi(last);
        continue;
      }
      const text = f.read();
      if (text !== undefined) (pressure ??= {})[r] = parsePsi(text, f.path);
    }
    if (pressure) out.pressure = pressure;
    this.lastPressure = pressure;
  }

  /** How many files this reader reads per read(). */
  get files(): number {
    return this.all.length;
  }

  close(): void {
    for (const f of this.all) f.close();
  }
}

/** A calm resource's PSI: no stall in the last five minutes (averages 0), the totals as last read. */
function calmPsi(last: KernelPsi): KernelPsi {
  const out: KernelPsi = { some: { avg10: 0, avg60: 0, avg300: 0, total: last.some.total } };
  if (last.full) out.full = { avg10: 0, avg60: 0, avg300: 0, total: last.full.total };
  return out;
}

/** The value of the first key present (keys end with a space). */
function firstKey(text: string, keys: string[], file: string): number {
  for (const k of keys) {
    const v = flatKeyedValue(text, k, file);
    if (v !== undefined) return v;
  }
  throw new CgroupParseError(file, `none of the keys ${keys.map((k) => k.trimEnd()).join(', ')}`);
}
