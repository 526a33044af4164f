import { describe, expect, it } from 'vitest';
import { niceCeil, niceCeilBinary, renderChart } from '../../../ctl/chart.js';
import { formatPercent, formatSize, visibleLength } from '../../../ctl/format.js';

const T0 = Date.parse('2025-01-31T00:00:00Z');
const HOUR = 3_600_000;
const fmtTime = (t: number) => new Date(t).toISOString().slice(11, 16);
const input = (avg: Array<number | null>, max = avg) => ({ times: avg.map((_, i) => T0 + i * HOUR), avg, max });

describe('terminal chart', () => {
  it('draws one bar per point in eighth blocks, a dot at the maximum, the scale and the first and last time', () => {
    // 4 rows of 8 eighths: 20% = 6.4 eighths -> ▆; 50% = two full rows; the 90% maximum of the third point is a dot.
    const out = renderChart(input([0, 20, 50, 100], [0, 20, 90, 100]), { width: 10, height: 4, format: formatPercent, formatTime: fmtTime });
    expect(out).toBe(
      [
        '100% ┤  ·█',
        '     │   █',
        '     │  ██',
        '  0% ┤ ▆██',
        '     └────',
        '      00:00',
      ].join('\n') + '\n',
    );
  });

  it('widens bars to fill the width, leaving a gap between bars of 3 columns or more', () => {
    const out = renderChart(input([50, 100]), { width: 10, height: 2, format: formatPercent, formatTime: fmtTime });
    // 10 columns: 4 of labels and axis, 2 for each bar.
    expect(out.split('\n').slice(0, 2)).toEqual(['100% ┤  ██', '  0% ┤████']);
    const wide = renderChart(input([50, 100]), { width: 18, height: 2, format: formatPercent, formatTime: fmtTime });
    expect(wide.split('\n').slice(0, 2)).toEqual(['100% ┤      █████', '  0% ┤█████ █████']);
    expect(wide.split('\n')[3]).toBe('      00:00  01:00');
  });

  it('merges points when there are more than columns: average of the averages, maximum of the maxima', () => {
    const avg = [10, 30, 100, 100, 0, 0];
    const out = renderChart(input(avg, [20, 40, 100, 100, 0, 80]), { width: 9, height: 2, format: formatPercent, formatTime: fmtTime });
    // 6 points over 3 columns: (10+30)/2 = 20 with max 40, 100, 0 with max 80.
    expect(out.split('\n').slice(0, 2)).toEqual(['100% ┤ █·', '  0% ┤▃█']);
  });

  it('shows no data as a gap, and nothing at all when no point has a value', () => {
    const out = renderChart(input([100, null, 100]), { width: 9, height: 2, format: formatPercent, formatTime: fmtTime });
    expect(out.split('\n')[1]).toBe('  0% ┤█ █');
    expect(renderChart(input([null, null]), { width: 40, format: formatPercent, formatTime: fmtTime })).toBe('');
    expect(renderChart(input([]), { width: 40, format: formatPercent, formatTime: fmtTime })).toBe('');
  });

  it('stays within the width it is given, and colours only when asked', () => {
    const avg = Array.from({ length: 500 }, (_, i) => 50 + 50 * Math.sin(i / 30));
    for (const width of [20, 57, 80, 131]) {
      const out = renderChart(input(avg), { width, format: formatPercent, formatTime: fmtTime });
      for (const line of out.trimEnd().split('\n')) expect(visibleLength(line)).toBeLessThanOrEqual(width);
      expect(out).not.toContain('\x1b[');
    }
    const coloured = renderChart(input(avg), { width: 60, color: true, format: formatPercent, formatTime: fmtTime });
    expect(coloured).toContain('\x1b[36m');
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(renderChart(input(avg), { width: 60, format: formatPercent, formatTime: fmtTime }));
  });

  it('rounds the top of the scale to 1, 2, 2.5 or 5 times a power of ten (binary units for bytes)', () => {
    expect([niceCeil(0), niceCeil(0.3), niceCeil(1), niceCeil(1.2), niceCeil(2.2), niceCeil(380), niceCeil(9000)]).toEqual([1, 0.5, 1, 2, 2.5, 500, 10000]);
    expect(formatSize(niceCeilBinary(1.9 * 1024 ** 3))).toBe('2.00 GiB');
    expect(formatSize(niceCeilBinary(700 * 1024 ** 2))).toBe('1000 MiB');
    expect(niceCeilBinary(0)).toBe(1);
  });
});
