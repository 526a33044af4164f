import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { CgroupStats } from '../../../../agent/kernel/cgroup/driver.js';
import { type CollectContext, type Collector, Incomplete, NoData, RateTracker, runCollectors } from '../../../../agent/collectors/collector.js';
import { CpuCollector } from '../../../../agent/collectors/cpu.js';
import { IoCollector } from '../../../../agent/collectors/io.js';
import { MemoryCollector } from '../../../../agent/collectors/memory.js';
import { ProcessesCollector } from '../../../../agent/collectors/processes.js';

const log = pino({ level: 'silent' });

function ctx(mono: number, stats: Record<string, CgroupStats>): CollectContext {
  return { mono, tenants: [], stats: new Map(Object.entries(stats)), samples: new Map(), host: { cores: 2, memory_bytes: 1 << 30 } };
}

describe('collectors', () => {
  it('RateTracker gives no rate on the first reading or after a counter reset', () => {
    const r = new RateTracker();
    expect(r.rate('a', 100, 0)).toBeUndefined();
    expect(r.rate('a', 300, 2000)).toBe(100);
    expect(r.rate('a', 50, 4000)).toBeUndefined(); // reset: went backwards
    expect(r.rate('a', 250, 6000)).toBe(100);
    expect(r.rate('a', 1e12, 7000, 1e6)).toBeUndefined(); // impossible: dropped
  });

  it('cpu: percent of one core over the interval, never negative after a recreated cgroup', () => {
    const cpu = new CpuCollector();
    cpu.collect(ctx(0, { a: { cpuUsageUsec: 1_000_000 }, b: { cpuUsageUsec: 0 } }));
    const c2 = ctx(5000, { a: { cpuUsageUsec: 6_000_000 }, b: { cpuUsageUsec: 250_000 } });
    cpu.collect(c2);
    expect(c2.samples.get('a')?.cpu).toEqual({ percent: 100 });
    expect(c2.samples.get('b')?.cpu).toEqual({ percent: 5 });
    const c3 = ctx(10_000, { a: { cpuUsageUsec: 10 }, b: { cpuUsageUsec: 250_000 } });
    cpu.collect(c3);
    expect(c3.samples.get('a')?.cpu).toBeUndefined();
    expect(c3.samples.get('b')?.cpu).toEqual({ percent: 0 });
  });

  it("cpu: the throttled percent per CPU the tenant ran on, for the policy only (never in the wire's sample)", () => {
    const cpu = new CpuCollector();
    cpu.collect(ctx(0, { a: { cpuUsageUsec: 0, throttledUsec: 0 }, b: { cpuUsageUsec: 0, throttledUsec: 0 }, c: { cpuUsageUsec: 0 } }));
    // a: 0.5 core over 10 s, one runqueue throttled 5 s of them: 50%. b: 1.5 cores, 2 runqueues throttled 2.5 s each: 25%.
    const c2 = ctx(10_000, { a: { cpuUsageUsec: 5_000_000, throttledUsec: 5_000_000 }, b: { cpuUsageUsec: 15_000_000, throttledUsec: 5_000_000 }, c: { cpuUsageUsec: 1_000_000 } });
    cpu.collect(c2);
    expect(Object.fromEntries(c2.throttled!)).toEqual({ a: 50, b: 25 });
    expect(c2.samples.get('a')).toEqual({ tenant: 'a', cpu: { percent: 50 } });
  });

  it('io: bytes and ops per second; memory and processes copied through', () => {
    const io = new IoCollector();
    io.collect(ctx(0, { a: { io: { rbytes: 0, wbytes: 0, rios: 0, wios: 0 } } }));
    const c = ctx(2000, { a: { io: { rbytes: 2048, wbytes: 4096, rios: 2, wios: 5 }, memory: { current: 30, anon: 10, file: 20 }, pids: 7 } });
    io.collect(c);
    new MemoryCollector().collect(c);
    new ProcessesCollector().collect(c);
    expect(c.samples.get('a')).toEqual({ tenant: 'a', io: { read_bps: 1024, write_bps: 2048, read_iops: 1, write_iops: 2.5 }, memory: { current: 30, anon: 10, file: 20 }, processes: { count: 7 } });
  });

  it('io: a counter that went backwards or an impossible rate gives no sample that tick; a tenant not read is read afresh', () => {
    const io = new IoCollector();
    const at = (mono: number, stats: Record<string, CgroupStats>) => {
      const c = ctx(mono, stats);
      io.collect(c);
      return c.samples.get('a')?.io;
    };
    const n = (rbytes: number) => ({ io: { rbytes, wbytes: 0, rios: 0, wios: 0 } });
    expect(at(0, { a: n(1000) })).toBeUndefined(); // a first reading
    expect(at(1000, { a: n(500) })).toBeUndefined(); // the cgroup was made anew: its counter restarted
    expect(at(2000, { a: n(1500) })?.read_bps).toBe(1000);
    expect(at(3000, { a: n(1500 + 2e12) })).toBeUndefined(); // more than any device: a reset, not a rate
    expect(at(4000, { a: n(1600 + 2e12) })?.read_bps).toBe(100);
    expect(at(5000, { b: n(0) })).toBeUndefined(); // a not read this tick: forgotten
    expect(at(6000, { a: n(1700 + 2e12) })).toBeUndefined(); // its next reading is a first one again
    expect(at(7000, { a: n(1800 + 2e12) })?.read_bps).toBe(100);
  });

  it('io: a quiet tick repeats the last read (not read again): no io that tick, and the next read is a rate over every tick since', () => {
    const io = new IoCollector();
    const at = (mono: number, io_: NonNullable<CgroupStats['io']>) => {
      const c = ctx(mono, { a: { io: io_ } });
      io.collect(c);
      return c.samples.get('a')?.io;
    };
    const first = { rbytes: 0, wbytes: 0, rios: 0, wios: 0 };
    at(0, first);
    // Four ticks in which cgroup_stats repeated the first read's object: nothing read, nothing of the tenant ran.
    for (const mono of [5000, 10_000, 15_000, 20_000]) expect(at(mono, first)).toEqual({ read_bps: 0, write_bps: 0, read_iops: 0, write_iops: 0 });
    // Read again: 25 MB written since the first read (writeback the kernel charged meanwhile) is 1 MB/s over the
    // 25 s, not 5 MB/s put into the last 5 s.
    expect(at(25_000, { rbytes: 0, wbytes: 25_000_000, rios: 0, wios: 250 })).toEqual({ read_bps: 0, write_bps: 1_000_000, read_iops: 0, write_iops: 10 });
  });

  it('a tenant that used no CPU and did no io shares one frozen sample of each; the others get their own', () => {
    const cpu = new CpuCollector();
    const io = new IoCollector();
    const idle = { cpuUsageUsec: 100, io: { rbytes: 5, wbytes: 5, rios: 1, wios: 1 } };
    const run = (mono: number, b: CgroupStats) => {
      const c = ctx(mono, { a: idle, b });
      cpu.collect(c);
      io.collect(c);
      return c;
    };
    run(0, { cpuUsageUsec: 0, io: { rbytes: 0, wbytes: 0, rios: 0, wios: 0 } });
    const c1 = run(1000, { cpuUsageUsec: 1000, io: { rbytes: 10, wbytes: 0, rios: 1, wios: 0 } });
    const c2 = run(2000, { cpuUsageUsec: 1000, io: { rbytes: 10, wbytes: 0, rios: 1, wios: 0 } });
    const a1 = c1.samples.get('a')!;
    expect(a1).toEqual({ tenant: 'a', cpu: { percent: 0 }, io: { read_bps: 0, write_bps: 0, read_iops: 0, write_iops: 0 } });
    expect(c2.samples.get('a')!.cpu).toBe(a1.cpu);
    expect(c2.samples.get('a')!.io).toBe(a1.io);
    expect(Object.isFrozen(a1.cpu) && Object.isFrozen(a1.io)).toBe(true);
    expect(c1.samples.get('b')).toEqual({ tenant: 'b', cpu: { percent: 0.1 }, io: { read_bps: 10, write_bps: 0, read_iops: 1, write_iops: 0 } });
    expect(c2.samples.get('b')!.cpu).toBe(a1.cpu); // b went idle: the shared one
  });

  it('a collector without its kernel source reports no data; a failing one is isolated', () => {
    const boom: Collector = { name: 'boom', collect: () => { throw new Error('Cannot parse io.stat: line 1 has 1 field'); } };
    const c = ctx(0, { a: { cpuUsageUsec: 1 } });
    const statuses = runCollectors([boom, new MemoryCollector(), new ProcessesCollector()], c, log);
    expect(statuses.map((s) => [s.name, s.ok, s.no_data ?? false, s.error])).toEqual([
      ['boom', false, false, 'Cannot parse io.stat: line 1 has 1 field'],
      ['memory', true, true, undefined],
      ['processes', true, true, undefined],
    ]);
    expect(new MemoryCollector().collect(c)).toBeInstanceOf(NoData);
  });

  it('a collector that measured only part of what it covers is reported as failed with its reason; its data is kept', () => {
    const partial: Collector = {
      name: 'partial',
      collect: (x) => {
        x.stats.set('a', { pids: 3 });
        return new Incomplete('cannot read the cgroup stats of 1 of 2 tenants: b: gone');
      },
    };
    const c = ctx(0, {});
    const statuses = runCollectors([partial, new ProcessesCollector()], c, log);
    expect(statuses.map((s) => [s.name, s.ok, s.error])).toEqual([
      ['partial', false, 'cannot read the cgroup stats of 1 of 2 tenants: b: gone'],
      ['processes', true, undefined],
    ]);
    expect(c.samples.get('a')?.processes).toEqual({ count: 3 });
  });
});

describe('pressure collector', () => {
  it("reports a tenant's PSI as avg10 of some and full (all the controller keeps), the host's in full", async () => {
    const { PressureCollector } = await import('../../../../agent/collectors/pressure.js');
    const line = (v: number) => ({ avg10: v, avg60: v / 2, avg300: v / 4, total: 1234 });
    const host = { cpu: { some: line(40), full: line(10) } };
    const c = new PressureCollector(() => host);
    const x = ctx(0, { a: { pressure: { cpu: { some: line(12.5), full: line(3) }, io: { some: line(1) } } } });
    c.collect(x);
    expect(x.samples.get('a')?.pressure).toEqual({ cpu: { some: { avg10: 12.5 }, full: { avg10: 3 } }, io: { some: { avg10: 1 } } });
    expect(x.host.pressure).toEqual(host);
  });

  it("shortens a quiet tenant's repeated PSI once (the same read: the same object), a new read again", async () => {
    const { PressureCollector } = await import('../../../../agent/collectors/pressure.js');
    const c = new PressureCollector(() => ({}));
    const read = { cpu: { some: { avg10: 2, avg60: 1, avg300: 0, total: 5 } } };
    const first = ctx(0, { a: { pressure: read } });
    const again = ctx(5, { a: { pressure: read } });
    const next = ctx(10, { a: { pressure: { cpu: { some: { avg10: 4, avg60: 1, avg300: 0, total: 9 } } } } });
    for (const x of [first, again, next]) c.collect(x);
    expect(again.samples.get('a')?.pressure).toBe(first.samples.get('a')?.pressure);
    expect(next.samples.get('a')?.pressure).toEqual({ cpu: { some: { avg10: 4 } } });
  });
});
