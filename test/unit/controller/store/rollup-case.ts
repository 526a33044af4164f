// The hand-computed rollup case both store suites check (store.test.ts on both backends, sqlite.test.ts for
// SQLite's memory, flushes and reopen): eight reports of one tenant and the minute, hour and 5-minute answers.
import { expect } from 'vitest';
import type { Store } from '../../../../controller/store/store.js';
import type { TenantSample } from '../../../../shared/wire/agent.js';
import { GiB, HOUR, MIN, prepared, report } from '../fixtures.js';

export const T0 = Date.UTC(2025, 5, 1, 10, 0, 0);
export const cpu = (tenant: string, percent: number, memory = 1 * GiB): TenantSample => ({ tenant, cpu: { percent }, memory: { current: memory, anon: memory, file: 0 } });

// minute 0: cpu 10, 20, 30, 40 (memory 1, 3, 1, 1 GiB); minute 1: 50, 70; minute 59: 100; next hour: 5
const INPUTS: Array<[number, number, number]> = [
  [T0, 10, 1],
  [T0 + 15_000, 20, 3],
  [T0 + 30_000, 30, 1],
  [T0 + 45_000, 40, 1],
  [T0 + 60_000, 50, 1],
  [T0 + 75_000, 70, 1],
  [T0 + 59 * MIN, 100, 1],
  [T0 + HOUR, 5, 1],
];

/** The eight reports of host web01 (seq 1..8), tenant alice. */
export async function feedRollups(store: Store): Promise<void> {
  let seq = 1;
  for (const [at, c, m] of INPUTS) await store.ingest(prepared(report('web01', seq++, at, [cpu('alice', c, m * GiB)])));
}

export async function expectRollups(store: Store): Promise<void> {
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
  const host = await store.hostHistory('web01', { from: T0, to: T0 + 2 * HOUR, stepMs: HOUR, metrics: ['tenants'] });
  expect(host?.samples).toEqual([7, 1]);
}
