// Sampling cost per tenant per tick (goal: at most 70 us of CPU per tenant, parsing included), on this machine's
// real cgroups: 1000 and then 3000 tenant cgroups under a unique parent, read through the driver's StatsReader
// (descriptors kept open, positional re-reads at offset 0). Baseline in the same run: the same files read with
// readFileSync (open + fstat + read + close) and parsed by the same code. CPU time from process.cpuUsage().
// Every cgroup it creates is removed again, also on failure and on SIGINT/SIGTERM.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BaseDriver } from '../agent/kernel/cgroup/base.js';
import { createDriver } from '../agent/kernel/cgroup/detect.js';
import type { CgroupKind, CgroupStats, StatsReader } from '../agent/kernel/cgroup/driver.js';
import { CgroupStatsReader, type StatFile } from '../agent/kernel/cgroup/stats-reader.js';

export interface SamplingBenchOptions {
  /** Tenant counts to measure, in increasing order (default [1000, 3000]). */
  tenants?: number[];
  /** Measured passes per method and count; the median is reported (default 7, after one warm-up pass). */
  passes?: number;
  cgroupRoot?: string;
  procRoot?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface SamplingResult {
  tenants: number;
  filesPerTenant: number;
  /** Median CPU microseconds per tenant per pass, fd-kept StatsReader (read + parse). */
  keptUsPerTenant: number;
  /** Tenants the kept pass covered: all of them, unless the descriptor limit allowed fewer (see notes). */
  keptTenants: number;
  /** The same with readFileSync of the same files and the same parsing. */
  baselineUsPerTenant: number;
  /** baseline / kept: how many times cheaper the kept descriptors are. */
  ratio: number;
  /** Wall time of one kept pass over keptTenants tenants, ms (median). */
  keptPassMs: number;
  /** CPU ms to open every tenant's readers once. */
  openMs: number;
}

export interface SamplingBenchResult {
  kind: CgroupKind;
  goalUsPerTenant: number;
  results: SamplingResult[];
  /** Tenant counts skipped or reduced, and why (e.g. the descriptor limit). */
  notes: string[];
}

const GOAL_US = 70;

/** A StatFile that reads with readFileSync every time: the baseline. */
class ReadFileFile implements StatFile {
  constructor(readonly path: string) {}
  read(): string | undefined {
    try {
      return readFileSync(this.path, 'latin1');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EOPNOTSUPP') return undefined;
      throw err;
    }
  }
  close(): void {}
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU microseconds (user + system) of one pass over all readers. */
function cpuPass(readers: StatsReader[], sink: { n: number }): { cpuUs: number; wallMs: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (const r of readers) {
    const s: CgroupStats = r.read();
    sink.n += s.cpuUsageUsec ?? 0;
  }
  const c = process.cpuUsage(c0);
  return { cpuUs: c.user + c.system, wallMs: performance.now() - t0 };
}

function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m && m[1] !== 'unlimited' ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

/** Raise this process's descriptor limit with prlimit(1) (root may raise the hard limit); returns the new soft limit. */
function raiseFileLimit(want: number): number {
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], { stdio: 'ignore' });
  } catch {
    // not root, or no prlimit: keep what we have
  }
  return openFileLimit();
}

export async function benchSampling(opts: SamplingBenchOptions = {}): Promise<SamplingBenchResult> {
  const counts = opts.tenants ?? [1000, 3000];
  const passes = opts.passes ?? 7;
  const log = opts.log ?? (() => {});
  const parent = `hostwarden-t${randomBytes(4).toString('hex')}`;
  const driver = createDriver({ cgroupRoot: opts.cgroupRoot ?? '/sys/fs/cgroup', procRoot: opts.procRoot ?? '/proc', parent });
  if (!(driver instanceof BaseDriver)) throw new Error('the sampling bench needs a BaseDriver backend');
  const notes: string[] = [];
  const results: SamplingResult[] = [];
  const created: string[] = [];
  let kept: StatsReader[] = [];
  let cleaned = false;

  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    for (const r of kept) r.close();
    kept = [];
    const problems: string[] = [];
    for (const t of created) {
      try {
        driver.remove(t);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    try {
      driver.teardown();
    } catch (err) {
      problems.push((err as Error).message);
    }
    if (problems.length > 0) console.error(`sampling bench cleanup: ${problems.slice(0, 5).join('; ')}`);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    driver.setup();
    log(`sampling bench: ${driver.kind} driver, parent ${driver.parentPaths()[0]}`);
    const perTenantFiles = (() => {
      driver.create('t0');
      created.push('t0');
      const r = new CgroupStatsReader(driver.statsSources('t0'));
      const n = r.files;
      r.close();
      return n;
    })();
    // Kept readers need about perTenantFiles descriptors per tenant, plus headroom.
    const need = perTenantFiles * Math.max(...counts) + 1000;
    let limit = openFileLimit();
    if (limit < need) limit = raiseFileLimit(need);
    const keptMax = Math.floor((limit - 500) / perTenantFiles);
    for (const n of counts) {
      const c0 = performance.now();
      for (let i = created.length; i < n; i++) {
        driver.create(`t${i}`);
        created.push(`t${i}`);
      }
      log(`  ${n} tenant cgroups ready (${(performance.now() - c0).toFixed(0)} ms to create)`);
      // Kept readers hold descriptors: over the descriptor limit, measure them on as many tenants as fit
      // (all n cgroups exist meanwhile) and say so; the baseline holds none and covers all n.
      const keptTenants = Math.min(n, keptMax);
      if (keptTenants < n) {
        notes.push(`${n} tenants need ~${perTenantFiles * n} descriptors kept open but the limit is ${limit} (raise it: LimitNOFILE); the fd-kept pass covered ${keptTenants} of the ${n} tenants`);
      }
      for (const r of kept) r.close();
      const o0 = process.cpuUsage();
      kept = created.slice(0, keptTenants).map((t) => driver.openStats(t));
      const oc = process.cpuUsage(o0);
      const baseline = created.slice(0, n).map((t) => new CgroupStatsReader(driver.statsSources(t), (p) => new ReadFileFile(p)));
      const sink = { n: 0 };
      cpuPass(kept, sink); // warm-up
      cpuPass(baseline, sink);
      const k: number[] = [];
      const kWall: number[] = [];
      const b: number[] = [];
      for (let p = 0; p < passes; p++) {
        const kp = cpuPass(kept, sink);
        k.push(kp.cpuUs / keptTenants);
        kWall.push(kp.wallMs);
        b.push(cpuPass(baseline, sink).cpuUs / n);
      }
      const keptUs = median(k);
      const baseUs = median(b);
      const r: SamplingResult = {
        tenants: n,
        filesPerTenant: perTenantFiles,
        keptUsPerTenant: keptUs,
        keptTenants,
        baselineUsPerTenant: baseUs,
        ratio: baseUs / keptUs,
        keptPassMs: median(kWall),
        openMs: (oc.user + oc.system) / 1000,
      };
      results.push(r);
      log(`  ${n} tenants: kept ${keptUs.toFixed(1)} us/tenant, readFileSync ${baseUs.toFixed(1)} us/tenant, ratio ${r.ratio.toFixed(2)}x`);
    }
  } finally {
    cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  return { kind: driver.kind, goalUsPerTenant: GOAL_US, results, notes };
}

export function printSampling(r: SamplingBenchResult): void {
  for (const x of r.results) {
    console.log(
      `sampling (${r.kind}): ${x.tenants} tenants x ${x.filesPerTenant} files: fd-kept ${x.keptUsPerTenant.toFixed(1)} us CPU/tenant/pass ` +
        `${x.keptTenants < x.tenants ? `(over ${x.keptTenants} of them) ` : ''}` +
        `(goal <= ${r.goalUsPerTenant}${x.keptUsPerTenant <= r.goalUsPerTenant ? ', met' : ', NOT met'}), ` +
        `readFileSync baseline ${x.baselineUsPerTenant.toFixed(1)} us, ratio ${x.ratio.toFixed(2)}x; ` +
        `one fd-kept pass ${x.keptPassMs.toFixed(1)} ms wall; opening the readers ${x.openMs.toFixed(0)} ms CPU`,
    );
  }
  for (const n of r.notes) console.log(`sampling: note: ${n}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  benchSampling({ log: (l) => console.log(l) })
    .then(printSampling)
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}
