// What only the SQLite store has: minutes held in memory and written by flushes (averages and maxima the
// same from memory, from the tables and after a reopen; a flush once flush_interval of minutes is held), raw
// rows kept until they are rolled up, one controller per file. The store suite of both backends is
// store.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import type { SqliteStore } from '../../../../controller/store/sqlite/sqlite-store.js';
import type { TenantSample } from '../../../../shared/wire/agent.js';
import { Clock, DAY, GiB, HOUR, MIN, prepared, report, tempStore } from '../fixtures.js';

const T0 = Date.UTC(2025, 5, 1, 10, 0, 0);
const cpu = (tenant: string, percent: number, memory = 1 * GiB): TenantSample => ({ tenant, cpu: { percent }, memory: { current: memory, anon: memory, file: 0 } });

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

function open(clock: Clock, opts: Parameters<typeof tempStore>[0] = {}) {
  const t = tempStore({ now: clock.now, ...opts });
  cleanup.push(t.dispose);
  return t;
}

function count(store: SqliteStore, table: string): number {
  return (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

describe('rollups', () => {
  // minute 0: cpu 10, 20, 30, 40 (memory 1, 3, 1, 1 GiB); minute 1: 50, 70; minute 59: 100; next hour: 5
  const inputs: Array<[number, number, number]> = [
    [T0, 10, 1],
    [T0 + 15_000, 20, 3],
    [T0 + 30_000, 30, 1],
    [T0 + 45_000, 40, 1],
    [T0 + 60_000, 50, 1],
    [T0 + 75_000, 70, 1],
    [T0 + 59 * MIN, 100, 1],
    [T0 + HOUR, 5, 1],
  ];

  async function feed(store: SqliteStore): Promise<void> {
    let seq = 1;
    for (const [at, c, m] of inputs) await store.ingest(prepared(report('web01', seq++, at, [cpu('alice', c, m * GiB)])));
  }

  async function expectRollups(store: SqliteStore): Promise<void> {
    const minutes = await store.tenantHistory('alice', { from: T0, to: T0 + 2 * HOUR, stepMs: MIN, metrics: ['cpu', 'memory_current'] });
    expect(minutes?.source).toBe('minute');
    expect(minutes?.times).toEqual([T0, T0 + MIN, T0 + 59 * MIN, T0 + HOUR].map((t) => new Date(t).toISOString()));
    expect(minutes?.samples).toEqual([4, 2, 1, 1]);
    expect(minutes?.series.cpu_percent).toEqual({ unit: '% of one core', avg: [25, 60, 100, 5], max: [40, 70, 100, 5] });
    expect(minutes?.series.memory_current?.avg[0]).toBe(1.5 * GiB);
    expect(minutes?.series.memory_current?.max[0]).toBe(3 * GiB);
    const hours = await store.tenantHistory('alice', { from: T0, to: T0 + 2 * HOUR, stepMs: HOUR, metrics: ['cpu'] });
    expect(hours?.source).toBe('hour');
    expect(hours?.samples).toEqual([7, 1]);
    expect(hours?.series.cpu_percent?.avg[0]).toBeCloseTo(320 / 7, 9);
    expect(hours?.series.cpu_percent?.max).toEqual([100, 5]);
    expect(hours?.series.cpu_percent?.avg[1]).toBe(5);
    // 5-minute points from minute rows: minutes 0 and 1 together
    const five = await store.tenantHistory('alice', { from: T0, to: T0 + 10 * MIN, stepMs: 5 * MIN, metrics: ['cpu'] });
    expect(five?.samples).toEqual([6]);
    expect(five?.series.cpu_percent?.avg[0]).toBeCloseTo(220 / 6, 9);
    expect(five?.series.cpu_percent?.max).toEqual([70]);
  }

  it('gives the same average and maximum from memory, from the tables, and after a reopen', async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const t = open(clock);
    await feed(t.store);
    expect(count(t.store, 'minute')).toBe(0);
    await expectRollups(t.store); // all in memory

    const flushed = await t.store.flush({ all: true });
    expect(flushed.minuteRows).toBe(2 * 4); // tenant and host series, 4 minutes
    expect(count(t.store, 'minute')).toBe(8);
    expect(count(t.store, 'hour')).toBe(4);
    await expectRollups(t.store); // all in the tables

    const again = await t.reopen();
    await expectRollups(again);
  });

  it('flushes a host once it holds flush_interval of closed minutes, one row per series and minute', async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const { store } = open(clock, { flushIntervalMs: 15 * MIN });
    let seq = 1;
    for (let at = T0; at < T0 + 15 * MIN; at += 5000) await store.ingest(prepared(report('web01', seq++, at, [cpu('alice', 10), cpu('bob', 20)])));
    expect(store.flushDue()).toBe(false);
    await store.ingest(prepared(report('web01', seq++, T0 + 15 * MIN, [cpu('alice', 10), cpu('bob', 20)])));
    expect(store.flushDue()).toBe(true);
    const r = await store.flush();
    expect(r).toMatchObject({ hosts: 1, minuteRows: 15 * 3, hourRows: 3, remaining: 0 });
    expect(store.flushDue()).toBe(false);
    expect((await store.stats()).bufferedBuckets).toBe(1); // the open minute
    const h = await store.tenantHistory('bob', { from: T0, to: T0 + HOUR, stepMs: HOUR, metrics: ['cpu'] });
    expect(h?.samples).toEqual([15 * 12 + 1]);
  });

});

describe('retention', () => {
  it('drops each tier past its span and keeps the rest', async () => {
    const clock = new Clock(T0 + 48 * HOUR);
    const { store } = open(clock);
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])));
    await store.ingest(prepared(report('web01', 2, T0 + 47 * HOUR, [cpu('alice', 20)])));

    // Not yet rolled up: raw rows are the only copy and stay whatever their age.
    expect((await store.applyRetention(T0 + 49 * HOUR)).raw).toBe(0);
    await store.flush({ all: true });
    expect(count(store, 'minute')).toBe(4); // 2 minutes x (tenant, host)

    expect(await store.applyRetention(T0 + 49 * HOUR)).toEqual({ raw: 1, minute: 0, hour: 0, expiredActions: 0, records: 0 });
    expect((store.db.prepare('SELECT at FROM reports').all() as Array<{ at: number }>).map((r) => r.at)).toEqual([T0 + 47 * HOUR]);
    // Its row is gone, yet a resend of report 1 is still a duplicate; seq 1 with new data is a conflict.
    expect(await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])))).toMatchObject({ duplicate: true });
    await expect(store.ingest(prepared(report('web01', 1, T0 + 47 * HOUR + MIN, [cpu('alice', 10)])))).rejects.toThrow(/seq 1 of host web01 was already used/);
    expect(count(store, 'minute')).toBe(4);

    expect(await store.applyRetention(T0 + 91 * DAY)).toMatchObject({ minute: 2, hour: 0 });
    expect((store.db.prepare('SELECT DISTINCT bucket FROM minute').all() as Array<{ bucket: number }>).map((r) => r.bucket)).toEqual([T0 + 47 * HOUR]);

    expect(await store.applyRetention(T0 + 731 * DAY)).toMatchObject({ minute: 2, hour: 2 });
    expect((store.db.prepare('SELECT DISTINCT bucket FROM hour').all() as Array<{ bucket: number }>).map((r) => r.bucket)).toEqual([T0 + 47 * HOUR]);
  });

});

describe('one controller per database', () => {
  it('refuses a second store on the same file', async () => {
    const clock = new Clock(T0);
    const t = open(clock);
    const { SqliteStore } = await import('../../../../controller/store/sqlite/sqlite-store.js');
    expect(() => new SqliteStore({ file: t.file })).toThrow(/in use by another controller/);
    expect(() => new SqliteStore({ file: t.file })).toThrow(expect.objectContaining({ code: 'HW_STORE_LOCKED' }));
  });
});
