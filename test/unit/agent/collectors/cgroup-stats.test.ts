// The quiet-tenant shortcut of the cgroup_stats collector: a tenant whose CPU time did not move since its last
// full read costs one read (two when placement moved a process in: its task count) and repeats that read, at
// most QUIET_FULL_EVERY ticks in a row; CPU time moving reads everything again.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { calmResources, CgroupStatsSource, LIGHT_CPU_USEC, QUIET_FULL_EVERY } from '../../../../agent/collectors/cgroup-stats.js';
import type { CollectContext } from '../../../../agent/collectors/collector.js';
import { PressureCollector } from '../../../../agent/collectors/pressure.js';
import type { CgroupDriver, CgroupStats, StatsReader, StatsReadOptions } from '../../../../agent/kernel/cgroup/driver.js';
import type { Tenant } from '../../../../agent/tenants.js';

/** One tenant's counters as the kernel would show them, and how often each kind of read ran. */
function kernel() {
  const now: Required<Pick<CgroupStats, 'cpuUsageUsec' | 'pids'>> & { memory: NonNullable<CgroupStats['memory']>; writebackPending?: true; stall: number } = {
    cpuUsageUsec: 1000,
    pids: 3,
    memory: { current: 100, anon: 60, file: 40 },
    stall: 0,
  };
  const reads = { full: 0, activity: 0, light: 0 };
  const options: Array<StatsReadOptions | undefined> = [];
  const reader: StatsReader = {
    read: (opts) => (reads.full++, options.push(opts), { cpuUsageUsec: now.cpuUsageUsec, pids: now.pids, memory: { ...now.memory }, ...(now.writebackPending ? { writebackPending: true } : {}) }),
    readActivity: (opts) => (reads.activity++, { cpuUsageUsec: now.cpuUsageUsec, ...(opts?.pids === false ? {} : { pids: now.pids }) }),
    readLight: () => (reads.light++, { cpuUsageUsec: now.cpuUsageUsec, pids: now.pids, pressure: { cpu: { some: { avg10: now.stall, avg60: 0, avg300: 0, total: 0 } } } }),
    close: () => {},
  };
  const driver = { openStats: () => reader, hostPressure: () => ({}) } as unknown as CgroupDriver;
  /** Tenants placement moved processes into since the last tick. */
  const placed = new Set<string>();
  return { now, reads, options, driver, placed, source: new CgroupStatsSource(driver, pino({ level: 'silent' }), () => placed) };
}

const alice: Tenant = { name: 'alice', uids: [1001], homes: [], domains: [], source: 'config' };

function tick(source: CgroupStatsSource): CgroupStats {
  const ctx: CollectContext = { mono: 0, tenants: [alice], stats: new Map(), samples: new Map(), host: { cores: 2, memory_bytes: 1 } as CollectContext['host'] };
  source.collect(ctx);
  return ctx.stats.get('alice')!;
}

describe('cgroup_stats: quiet tenants', () => {
  it('a tenant in which nothing ran costs one read a tick and repeats its last full read, read in full again every few ticks', () => {
    const { now, reads, source } = kernel();
    tick(source);
    expect(reads).toEqual({ full: 1, activity: 0, light: 0 });
    now.memory.file = 10; // reclaimed page cache: no CPU of its own
    for (let i = 1; i < QUIET_FULL_EVERY; i++) expect(tick(source).memory).toEqual({ current: 100, anon: 60, file: 40 });
    expect(reads).toEqual({ full: 1, activity: QUIET_FULL_EVERY - 1, light: 0 });
    expect(tick(source).memory?.file).toBe(10); // the periodic full read
    expect(reads.full).toBe(2);
  });

  it('CPU time (a task ran, was born or exited) makes the next read a full one', () => {
    const { now, reads, source } = kernel();
    tick(source);
    now.memory.anon = 500;
    now.cpuUsageUsec += LIGHT_CPU_USEC;
    expect(tick(source).memory?.anon).toBe(500);
    expect(reads.full).toBe(2);
    // A zombie reaped by a parent outside the cgroup: the task count alone moves, seen by the periodic full read.
    now.pids = 2;
    expect(tick(source).pids).toBe(3);
    expect(reads.full).toBe(2);
  });

  it('a process placement moved in that has not run since: its task count is read, the rest repeated; one that ran: a full read', () => {
    const { now, reads, placed, source } = kernel();
    tick(source);
    now.memory.file = 10; // not read: nothing ran
    now.pids = 4; // a sleeping process placed into the tenant: no CPU time of its own
    placed.add('alice');
    expect(tick(source)).toMatchObject({ pids: 4, memory: { file: 40 } });
    expect(reads).toEqual({ full: 1, activity: 1, light: 0 });
    placed.clear();
    expect(tick(source).pids).toBe(4); // the new count stands on the quiet ticks after it
    expect(reads.full).toBe(1);
    // Moved in and ran (or anything else ran): read in full.
    now.pids = 5;
    now.cpuUsageUsec += LIGHT_CPU_USEC;
    now.memory.anon = 700;
    placed.add('alice');
    expect(tick(source)).toMatchObject({ pids: 5, memory: { anon: 700, file: 10 } });
    expect(reads.full).toBe(2);
  });

  it('a tenant whose tasks ran a little has its CPU time, tasks and pressure read, the rest repeated, until it ran LIGHT_CPU_USEC in all', () => {
    const { now, reads, source } = kernel();
    const first = tick(source);
    // A process exited: a little CPU time, one task less, a stall; its memory went down too, but that waits.
    now.cpuUsageUsec += 400;
    now.pids = 2;
    now.stall = 3.5;
    now.memory.anon = 20;
    const light = tick(source);
    expect(reads).toEqual({ full: 1, activity: 1, light: 1 });
    expect(light).toMatchObject({ cpuUsageUsec: 1400, pids: 2, memory: { anon: 60 }, pressure: { cpu: { some: { avg10: 3.5 } } } });
    expect(light.memory).toBe(first.memory); // repeated, not copied: the memory collector shares its sample
    // Nothing ran since: quiet, the light read repeated (one read).
    expect(tick(source)).toBe(light);
    expect(reads).toEqual({ full: 1, activity: 2, light: 1 });
    // Another small run: 400 + 500 us since the full read, still light.
    now.cpuUsageUsec += 500;
    expect(tick(source).cpuUsageUsec).toBe(1900);
    expect(reads).toEqual({ full: 1, activity: 3, light: 2 });
    // 1,000 us in all since the full read: read in full.
    now.cpuUsageUsec += 100;
    expect(tick(source).memory?.anon).toBe(20);
    expect(reads).toEqual({ full: 2, activity: 4, light: 2 });
    // A CPU time that went backwards (the cgroup made anew): a full read, never a light one.
    now.cpuUsageUsec = 5;
    tick(source);
    expect(reads).toEqual({ full: 3, activity: 5, light: 2 });
  });

  it('tenants first read together are read in full again on different ticks, as many each tick', () => {
    const { driver } = kernel();
    const source = new CgroupStatsSource(driver, pino({ level: 'silent' }));
    const many = Array.from({ length: 4 * QUIET_FULL_EVERY }, (_, i): Tenant => ({ ...alice, name: `t${i}` }));
    const fullReads: number[] = [];
    for (let tickNo = 0; tickNo < 3 * QUIET_FULL_EVERY; tickNo++) {
      source.collect({ mono: 0, tenants: many, stats: new Map(), samples: new Map(), host: { cores: 2, memory_bytes: 1 } as CollectContext['host'] });
      fullReads.push(source.lastReads.full);
    }
    // All at the first tick; then, nothing having run, 4 a tick (each tenant every QUIET_FULL_EVERY ticks).
    expect(fullReads).toEqual([many.length, ...Array.from({ length: 3 * QUIET_FULL_EVERY - 1 }, () => 4)]);
  });

  it('light reads count towards the periodic full read', () => {
    const { now, reads, source } = kernel();
    tick(source);
    for (let i = 1; i < QUIET_FULL_EVERY; i++) {
      now.cpuUsageUsec += 10;
      tick(source);
    }
    expect(reads).toEqual({ full: 1, activity: QUIET_FULL_EVERY - 1, light: QUIET_FULL_EVERY - 1 });
    now.cpuUsageUsec += 10;
    tick(source);
    expect(reads.full).toBe(2);
  });

  it('a tenant whose last read saw page cache waiting for writeback is read in full until it was written (v2 charges that io to it)', () => {
    const { now, reads, source } = kernel();
    now.writebackPending = true; // it wrote files, then its processes went to sleep: the kernel writes them back later
    tick(source);
    tick(source);
    tick(source);
    expect(reads).toEqual({ full: 3, activity: 0, light: 0 });
    delete now.writebackPending; // written
    tick(source);
    expect(reads).toEqual({ full: 4, activity: 0, light: 0 });
    tick(source); // quiet again
    expect(reads).toEqual({ full: 4, activity: 1, light: 0 });
  });

  it("a changed tenant's full read reuses the activity read's CPU time and tasks, and the tick never reads the freezer", () => {
    const { now, options, source } = kernel();
    tick(source);
    now.cpuUsageUsec += LIGHT_CPU_USEC;
    tick(source);
    expect(options).toEqual([
      { afterActivity: false, frozen: false }, // the first read: no activity read before it
      { afterActivity: true, frozen: false },
    ]);
  });

  it('asks for the pressure of the resources calm on the whole host not to be read', () => {
    const psi = (avg10: number, avg60 = 0, avg300 = 0) => ({ some: { avg10, avg60, avg300, total: 5 } });
    expect([...calmResources({ cpu: psi(3.2), memory: psi(0), io: psi(0, 0.01) })]).toEqual(['memory']);
    expect([...calmResources({})]).toEqual([]); // no PSI on the host: everything read
    const { now, options, driver } = kernel();
    (driver as { hostPressure?: () => unknown }).hostPressure = () => ({ cpu: psi(1), memory: psi(0), io: psi(0) });
    const source = new CgroupStatsSource(driver, pino({ level: 'silent' }));
    tick(source);
    now.cpuUsageUsec += LIGHT_CPU_USEC;
    tick(source);
    expect(options.map((o) => [...(o?.calm ?? [])])).toEqual([
      ['memory', 'io'],
      ['memory', 'io'],
    ]);
    // Unreadable host PSI: nothing is calm (every tenant's pressure read); the pressure collector reports the error.
    (driver as { hostPressure?: () => unknown }).hostPressure = () => {
      throw new Error('EACCES');
    };
    now.cpuUsageUsec += LIGHT_CPU_USEC;
    tick(source);
    expect(options.at(-1)?.calm).toBeUndefined();
  });

  it('reads the host PSI once a tick: the pressure collector reports what cgroup_stats read', () => {
    const { driver } = kernel();
    let reads = 0;
    (driver as { hostPressure?: () => unknown }).hostPressure = () => (reads++, { cpu: { some: { avg10: 1, avg60: 0, avg300: 0, total: 5 } } });
    const source = new CgroupStatsSource(driver, pino({ level: 'silent' }));
    const pressure = new PressureCollector(() => (reads++, {}));
    const ctx: CollectContext = { mono: 0, tenants: [alice], stats: new Map(), samples: new Map(), host: { cores: 2, memory_bytes: 1 } as CollectContext['host'] };
    source.collect(ctx);
    pressure.collect(ctx);
    expect(reads).toBe(1);
    expect(ctx.host.pressure?.cpu?.some.avg10).toBe(1);
  });
});
