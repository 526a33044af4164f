// What the dashboard's charts plot and how its numbers read, computed without a browser (ui/src/series.ts,
// ui/src/format.ts): the browser tests (test/system/ui/) read the same values back from the page.
import { describe, expect, it } from 'vitest';
import { bytes, inUnit, num, pct } from '../../../ui/src/format.js';
import { floorOf, plotted, rangeOf, throttlePeriods } from '../../../ui/src/series.js';
import type { SeriesResponse } from '../../../ui/src/wire.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
function answer(levels: Array<number | null>, frozen: Array<number | null> = levels.map(() => 0), step = 60): SeriesResponse {
  const times = levels.map((_, i) => new Date(T0 + i * step * 1000).toISOString());
  return {
    from: times[0] ?? new Date(T0).toISOString(),
    to: new Date(T0 + levels.length * step * 1000).toISOString(),
    step_seconds: step,
    source: 'minute',
    times,
    samples: levels.map(() => 12),
    series: {
      cpu_percent: { unit: '% of one core', avg: levels.map((_, i) => i * 10), max: levels.map((_, i) => i * 10 + 5) },
      throttle_level: { unit: 'level', avg: levels, max: levels },
      frozen: { unit: '0/1', avg: frozen, max: frozen },
    },
  };
}

describe('plotted: what a chart draws is the API answer, unchanged', () => {
  it('times in seconds, averages and maxima as answered (nulls kept), the cap', () => {
    const r = answer([0, null, 0]);
    r.series.cpu_percent!.avg[1] = null;
    const p = plotted(r, { metric: 'cpu_percent', title: 'CPU', cap: 100 });
    expect(p.t).toEqual([T0 / 1000, T0 / 1000 + 60, T0 / 1000 + 120]);
    expect(p.avg).toEqual([0, null, 20]);
    expect(p.max).toEqual([5, 15, 25]);
    expect(p).toMatchObject({ metric: 'cpu_percent', unit: '% of one core', cap: 100, step_seconds: 60, throttle: [] });
  });

  it('a series the answer lacks plots as gaps, not zeros; no cap is null', () => {
    const p = plotted(answer([0, 0]), { metric: 'processes', title: 'Processes' });
    expect(p.avg).toEqual([null, null]);
    expect(p.cap).toBeNull();
    expect(plotted(answer([]), { metric: 'cpu_percent', title: 'CPU' }).t).toEqual([]);
  });
});

describe('throttle periods: runs of points with a throttle or a freeze', () => {
  const s = T0 / 1000;
  it('adjacent points of one level make one period, to the end of the last point', () => {
    const r = answer([0, 1, 1, 0, 2, null]);
    expect(throttlePeriods(r, plotted(r, { metric: 'cpu_percent', title: '' }).t)).toEqual([
      [s + 60, s + 180, 'throttle 1'],
      [s + 240, s + 300, 'throttle 2'],
    ]);
  });
  it('a freeze wins over a throttle level at the same point; a level change starts a new period', () => {
    const r = answer([1, 1, 2], [0, 1, 0]);
    expect(throttlePeriods(r, plotted(r, { metric: 'cpu_percent', title: '' }).t)).toEqual([
      [s, s + 60, 'throttle 1'],
      [s + 60, s + 120, 'frozen'],
      [s + 120, s + 180, 'throttle 2'],
    ]);
  });
});

describe('ranges of the tenant page', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  it('presets end now; custom ranges are taken as given; anything else is the 24 h preset', () => {
    expect(rangeOf(new URLSearchParams('range=1h'), now)).toEqual({ label: '1h', from: '2026-03-01T11:00:00.000Z', to: '2026-03-01T12:00:00.000Z', step: undefined });
    expect(rangeOf(new URLSearchParams('range=30d'), now).from).toBe('2026-01-30T12:00:00.000Z');
    expect(rangeOf(new URLSearchParams('from=2026-02-01T00:00:00Z&to=2026-02-02T00:00:00Z&step=1h'), now)).toEqual({ label: 'custom', from: '2026-02-01T00:00:00.000Z', to: '2026-02-02T00:00:00.000Z', step: '1h' });
    for (const q of ['range=7y', 'range=__proto__', 'from=2026-02-02&to=2026-02-01', 'from=x&to=y', 'from=99999999999999999999&to=1']) {
      expect(rangeOf(new URLSearchParams(q), now).label, q).toBe('24h');
    }
    expect(rangeOf(new URLSearchParams('range=1h&step=1h;drop'), now).step).toBeUndefined();
  });
});

describe('numbers as people read them, whatever the API sends', () => {
  it('bytes, percent, units; null, NaN and infinities as a dash', () => {
    expect([bytes(0), bytes(1023), bytes(1536), bytes(5 * 2 ** 30), bytes(-2048)]).toEqual(['0 B', '1023 B', '1.5 KiB', '5.0 GiB', '-2.0 KiB']);
    expect(bytes(1e300)).toMatch(/PiB$/);
    for (const v of [null, undefined, NaN, Infinity, -Infinity]) expect([bytes(v), num(v), pct(v)]).toEqual(['–', '–', '–']);
    expect([inUnit(2048, 'bytes/s'), inUnit(12.34, '% of one core'), inUnit(3, 'tasks')]).toEqual(['2.0 KiB/s', '12.3 %', '3 tasks']);
    expect([floorOf('bytes'), floorOf('bytes/s'), floorOf('tasks')]).toEqual([1024, 1024, 1]);
  });
});
