// What only the SQLite store has: minutes held in memory and written by flushes (averages and maxima the
// same from memory, from the tables and after a reopen; a flush once flush_interval of minutes is held), raw
// rows kept until they are rolled up, one controller per file. The store suite of both backends is
// store.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import type { SqliteStore } from '../../../../controller/store/sqlite/sqlite-store.js';
import { Clock, DAY, HOUR, MIN, prepared, report, tempStore } from '../fixtures.js';
import { cpu, expectRollups, feedRollups, T0 } from './rollup-case.js';


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
  it('gives the same average and maximum from memory, from the tables, and after a reopen', async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const t = open(clock);
    await feedRollups(t.store);
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
