import { describe, expect, it } from 'vitest';
import { Bucketer, chooseTier, floorTo, HOUR_MS, MINUTE_MS, selectMetrics, seriesBody } from '../../../../controller/history/rollup.js';
import { TENANT_METRICS, TENANT_WIDTH, TENANT_INDEX } from '../../../../controller/history/catalog.js';
import { DEFAULT_RETENTION } from '../../../../controller/history/rollup.js';
import { InvalidError } from '../../../../controller/store/errors.js';

const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const row = (cpu: number) => {
  const r = new Float64Array(TENANT_WIDTH).fill(Number.NaN);
  r[TENANT_INDEX.cpu_percent] = cpu * 1000;
  return r;
};

describe('choosing a history tier', () => {
  it.each([
    ['1 h, no step', now - HOUR_MS, undefined, { tier: 'raw', stepMs: undefined }],
    ['1 d, no step', now - 24 * HOUR_MS, undefined, { tier: 'minute', stepMs: MINUTE_MS }],
    ['30 d, no step', now - 30 * 24 * HOUR_MS, undefined, { tier: 'hour', stepMs: HOUR_MS }],
    ['1 h, step 10s', now - HOUR_MS, 10_000, { tier: 'raw', stepMs: 10_000 }],
    ['1 d, step 5m', now - 24 * HOUR_MS, 300_000, { tier: 'minute', stepMs: 300_000 }],
    ['1 d, step 90s rounds up to whole minutes', now - 24 * HOUR_MS, 90_000, { tier: 'minute', stepMs: 120_000 }],
    ['3 d back, step 10s: raw is gone, minutes', now - 72 * HOUR_MS, 10_000, { tier: 'minute', stepMs: MINUTE_MS }],
    ['100 d back, step 1m: minutes are gone, hours', now - 100 * 24 * HOUR_MS, MINUTE_MS, { tier: 'hour', stepMs: HOUR_MS }],
    ['30 d, step 1h', now - 30 * 24 * HOUR_MS, HOUR_MS, { tier: 'hour', stepMs: HOUR_MS }],
  ] as const)('%s', (_name, from, step, expected) => {
    expect(chooseTier(from, now, step, now, DEFAULT_RETENTION)).toEqual(expected);
  });
});

describe('re-bucketing rows', () => {
  it('averages and keeps the maximum per step', () => {
    const b = new Bucketer(2 * MINUTE_MS, TENANT_WIDTH);
    const t0 = floorTo(now, HOUR_MS);
    // minute 0: 10, 20; minute 1: 30, 40 -> one 2-minute point avg 25 max 40; minute 2: 50 -> avg 50
    b.addRow(t0, row(10));
    b.addRow(t0 + 15_000, row(20));
    b.addRow(t0 + 60_000, row(30));
    b.addRow(t0 + 75_000, row(40));
    b.addRow(t0 + 120_000, row(50));
    const body = seriesBody(b.sorted(), TENANT_METRICS, selectMetrics(TENANT_METRICS, ['cpu']));
    expect(body.times).toEqual([new Date(t0).toISOString(), new Date(t0 + 120_000).toISOString()]);
    expect(body.samples).toEqual([4, 1]);
    expect(body.series).toEqual({ cpu_percent: { unit: '% of one core', avg: [25, 50], max: [40, 50] } });
  });

  it('selects by resource or series name and names what it does not know', () => {
    expect(selectMetrics(TENANT_METRICS, ['memory']).map((i) => TENANT_METRICS[i]!.name)).toEqual(['memory_current', 'memory_anon', 'memory_file']);
    expect(selectMetrics(TENANT_METRICS, ['debt', 'cpu']).map((i) => TENANT_METRICS[i]!.name)).toEqual(['cpu_percent', 'debt']);
    expect(() => selectMetrics(TENANT_METRICS, ['cpu', 'gpu'])).toThrow(InvalidError);
    expect(() => selectMetrics(TENANT_METRICS, ['gpu'])).toThrow(/unknown "gpu"/);
  });
});
