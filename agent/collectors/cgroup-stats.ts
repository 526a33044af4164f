// cgroup_stats: the shared source of the per-tenant collectors (cpu, memory, io, processes, pressure), run by
// the collector runner first of all: one pass over every tenant's stats files, kept open between ticks
// (positional re-reads at offset 0), into CollectContext.stats. A tenant whose read fails gets no stats this tick
// and its reader is reopened on the next; the failures of a tick make one warning and one failed collector
// status (the tenants read are still used), not a warning per tenant per tick.
import type { Logger } from 'pino';
import type { Pressure } from '../../shared/wire/agent.js';
import type { CgroupDriver, CgroupStats, StatsReader } from '../kernel/cgroup/driver.js';
import type { Tenant } from '../tenants.js';
import { type CollectContext, type Collector, Incomplete } from './collector.js';

/** How many failed tenants a status or warning names; the rest are counted. */
const NAMED_FAILURES = 5;
/** A quiet tenant is still read in full at least every this many ticks (30 s at the default 5 s interval). */
export const QUIET_FULL_EVERY = 6;

/**
 * A tenant whose tasks ran less than this much CPU time in all since its last full read (a process that exited,
 * a daemon's timer) has only its CPU time, task count and pressure read, the rest repeated; what so little CPU
 * can change in memory or io waits for the next full read (QUIET_FULL_EVERY at the latest). Cumulative, so
 * small runs tick after tick add up to a full read.
 */
export const LIGHT_CPU_USEC = 1000;

/** A tenant's last read, and how many ticks since its last full read were answered without one. */
interface LastRead {
  /** What the tick gives: the full read, or the last light read over it. */
  stats: CgroupStats;
  quietTicks: number;
  /** The CPU time at the full read. */
  fullCpuUsec: number | undefined;
}

export interface StatsFailure {
  tenant: string;
  error: string;
}

/** How the last collection read the tenants: in full, light, quiet (the tick's log line carries it). */
export interface StatsReads {
  full: number;
  light: number;
  quiet: number;
}

export class CgroupStatsSource implements Collector {
  readonly name = 'cgroup_stats';
  private readers = new Map<string, StatsReader>();
  private last = new Map<string, LastRead>();
  /** Where the next tenant read for the first time starts in the periodic full read (quietTicks). */
  private firstPhase = 0;
  /** The last collect()'s reads by kind. */
  lastReads: StatsReads = { full: 0, light: 0, quiet: 0 };

  constructor(
    private readonly driver: CgroupDriver,
    /** Where read() (used outside the collector runner) warns about the tenants it could not read. */
    private readonly log: Logger,
    /** The tenants placement moved processes into since the last collection (read in full: a sleeping process moved in uses no CPU). */
    private readonly placedInto: () => { has(tenant: string): boolean } = () => NONE,
  ) {}

  collect(ctx: CollectContext): void | Incomplete {
    let calm: Set<PsiResource> | undefined;
    try {
      ctx.hostPressure = this.driver.hostPressure();
      calm = calmResources(ctx.hostPressure);
    } catch {
      // Unreadable host PSI: every tenant's pressure is read, and the pressure collector reports the error.
    }
    this.lastReads = { full: 0, light: 0, quiet: 0 };
    const failed = this.readInto(ctx.tenants, ctx.stats, true, calm, this.lastReads);
    if (failed.length > 0) return new Incomplete(describeFailures(failed, ctx.tenants.length));
  }

  /** Every tenant's stats, for callers outside the collector runner; one warning for all the tenants that failed. */
  read(tenants: readonly Tenant[]): Map<string, CgroupStats> {
    const out = new Map<string, CgroupStats>();
    const failed = this.readInto(tenants, out);
    if (failed.length > 0) this.log.warn({ failed: failed.length, err: describeFailures(failed, tenants.length) }, 'cannot read tenant cgroup stats');
    return out;
  }

  /**
   * Read every tenant into `out`; returns the tenants whose read failed. `quiet`: a tenant in which nothing ran,
   * was born, exited or was moved in since its last read (CPU time unchanged and placement moved nothing into
   * it: one read instead of about ten), and that held no page cache waiting for writeback at its last full read,
   * repeats its last read's memory, io, tasks, pressure and frozen state; one whose tasks ran less than
   * LIGHT_CPU_USEC since its last full read has its tasks and pressure read too. Either for at most
   * QUIET_FULL_EVERY ticks in a row. Idle tenants (sleeping processes or none) then cost one read a tick,
   * whatever their files hold.
   */
  private readInto(tenants: readonly Tenant[], out: Map<string, CgroupStats>, quiet = false, calm?: ReadonlySet<PsiResource>, counts?: StatsReads): StatsFailure[] {
    const failed: StatsFailure[] = [];
    const placed = quiet ? this.placedInto() : undefined;
    for (const t of tenants) {
      let r = this.readers.get(t.name);
      try {
        if (!r) {
          r = this.driver.openStats(t.name);
          this.readers.set(t.name, r);
        }
        const prev = quiet ? this.last.get(t.name) : undefined;
        let afterActivity = false;
        // Not while the last read saw page cache waiting for writeback (v2): the kernel writes it, and charges the
        // tenant's io, with none of its tasks running, so its io counters must be read until it has been written.
        if (prev && r.readActivity && prev.quietTicks < QUIET_FULL_EVERY - 1 && prev.stats.writebackPending !== true) {
          // CPU time alone: a task born, exiting or killed runs in the cgroup, so its CPU time moves; a process
          // moved in is known from placement. Only a zombie reaped by a parent outside the cgroup (cron, sshd)
          // changes the task count without it: that count is at most QUIET_FULL_EVERY ticks old.
          // Processes placement moved in that have not run since (a stray sleeping when moved) change the task
          // count alone: their memory stays charged where it was (v1 without move_charge_at_immigrate, v2), and
          // they can take no memory, do no io, wait on nothing and be throttled by nothing without running.
          const movedIn = placed?.has(t.name) === true;
          const a = r.readActivity({ pids: movedIn });
          if (a.cpuUsageUsec !== undefined && a.cpuUsageUsec === prev.stats.cpuUsageUsec && (!movedIn || a.pids !== undefined)) {
            if (movedIn) prev.stats = { ...prev.stats, pids: a.pids! };
            prev.quietTicks++;
            out.set(t.name, prev.stats); // the same object: stats are never changed once read (a new count replaces it)
            if (counts) counts.quiet++;
            continue;
          }
          const ran = a.cpuUsageUsec === undefined || prev.fullCpuUsec === undefined ? undefined : a.cpuUsageUsec - prev.fullCpuUsec;
          if (r.readLight && ran !== undefined && ran >= 0 && ran < LIGHT_CPU_USEC && a.cpuUsageUsec! >= prev.stats.cpuUsageUsec!) {
            // Ran a little: CPU time, tasks and pressure afresh; memory, io and throttled time from the full read
            // (its io object too, which tells the io collector that nothing was read).
            prev.stats = { ...prev.stats, ...r.readLight(calm && calm.size > 0 ? { calm } : {}) };
            prev.quietTicks++;
            out.set(t.name, prev.stats);
            if (counts) counts.light++;
            continue;
          }
          afterActivity = true; // the full read takes the CPU time and tasks just read
        }
        // The tick leaves the freezer state out: the agent knows whom it froze (enforcement re-verifies that).
        const st = quiet ? r.read({ afterActivity, frozen: false, ...(calm && calm.size > 0 ? { calm } : {}) }) : r.read();
        out.set(t.name, st);
        if (counts) counts.full++;
        if (quiet) {
          // A tenant's first read starts it at a different point of the periodic full read than the tenant before
          // it, so that tenants read first together (all of them at the agent's start) are not all read in full
          // again on the same tick, every QUIET_FULL_EVERY ticks: each tick reads about as many as the next.
          const quietTicks = prev ? 0 : this.firstPhase++ % QUIET_FULL_EVERY;
          this.last.set(t.name, { stats: st, quietTicks, fullCpuUsec: st.cpuUsageUsec });
        }
        // Nothing at all: the cgroup is gone (its kept files read ENODEV, then ENOENT). Close the reader so the
        // next tick opens the cgroup afresh once it exists again under the same name.
        if (Object.keys(st).length === 0) this.close(t.name);
      } catch (err) {
        failed.push({ tenant: t.name, error: err instanceof Error ? err.message : String(err) });
        this.close(t.name);
      }
    }
    if (this.readers.size > out.size) {
      const live = new Set(tenants.map((t) => t.name));
      for (const name of [...this.readers.keys()]) if (!live.has(name)) this.close(name);
    }
    return failed;
  }

  close(tenant: string): void {
    this.last.delete(tenant);
    const r = this.readers.get(tenant);
    if (!r) return;
    this.readers.delete(tenant);
    try {
      r.close();
    } catch {
      /* already gone */
    }
  }

  closeAll(): void {
    for (const name of [...this.readers.keys()]) this.close(name);
  }
}

type PsiResource = 'cpu' | 'memory' | 'io';

const NONE: ReadonlySet<string> = new Set();

/**
 * The resources in which nothing on the host stalled for five minutes (host PSI `some` avg10, avg60 and avg300
 * all 0): no tenant's pressure file for them needs reading this tick (StatsReadOptions.calm). On a quiet server
 * memory and io usually are, which spares two of the eight reads (v1) of a tenant that changed.
 */
export function calmResources(host: Pressure): Set<PsiResource> {
  const calm = new Set<PsiResource>();
  for (const r of ['cpu', 'memory', 'io'] as const) {
    const some = host[r]?.some;
    if (some && some.avg10 === 0 && some.avg60 === 0 && some.avg300 === 0) calm.add(r);
  }
  return calm;
}

/** "cannot read the cgroup stats of 2 of 40 tenants: alice: <error>; bob: <error>" (the first few named). */
export function describeFailures(failed: readonly StatsFailure[], of: number): string {
  const named = failed.slice(0, NAMED_FAILURES).map((f) => `${f.tenant}: ${f.error}`);
  const more = failed.length > NAMED_FAILURES ? `; and ${failed.length - NAMED_FAILURES} more` : '';
  return `cannot read the cgroup stats of ${failed.length} of ${of} tenants: ${named.join('; ')}${more}`;
}
