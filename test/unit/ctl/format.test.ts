import { describe, expect, it } from 'vitest';
import {
  formatAge,
  formatCount,
  formatDebt,
  formatNumber,
  formatPercent,
  formatRate,
  formatShare,
  formatSize,
  formatTime,
  formatUnitValue,
  truncate,
  visibleLength,
} from '../../../ctl/format.js';

const NOW = Date.parse('2025-01-31T12:00:00Z');

describe('values in words', () => {
  it.each([
    ['a whole minute', formatTime('2025-01-31T12:34:56.789Z'), '2025-01-31 12:34Z'],
    ['with seconds', formatTime('2025-01-31T12:34:56.789Z', { seconds: true }), '2025-01-31 12:34:56Z'],
    ['from milliseconds', formatTime(NOW), '2025-01-31 12:00Z'],
    ['missing', formatTime(null), '-'],
    ['not a time', formatTime('soon'), 'soon'],
  ])('time: %s', (_name, got, want) => expect(got).toBe(want));

  it.each([
    [NOW - 5_000, '5s ago'],
    [NOW - 59_400, '59s ago'],
    [NOW - 3 * 60_000, '3m ago'],
    [NOW - 2 * 3_600_000 - 1, '2h ago'],
    [NOW - 4 * 86_400_000, '4d ago'],
    [NOW + 20 * 60_000, 'in 20m'],
  ])('age of %d', (t, want) => expect(formatAge(new Date(t).toISOString(), NOW)).toBe(want));

  it('humanizes cpu, shares, bytes, rates, counts and debt', () => {
    expect([formatPercent(42.46), formatPercent(380.4), formatPercent(0), formatPercent(null), formatPercent(Number.NaN)]).toEqual(['42.5%', '380%', '0%', '-', '-']);
    expect([formatShare(0.125), formatShare(0.0004), formatShare(0), formatShare(1)]).toEqual(['12.5%', '0.04%', '0.0%', '100.0%']);
    expect([formatSize(1536), formatSize(2 * 1024 ** 3), formatSize(undefined)]).toEqual(['1.50 KiB', '2.00 GiB', '-']);
    expect(formatRate(10 * 1024 ** 2)).toBe('10.0 MiB/s');
    expect([formatCount(17), formatCount(5.5), formatCount(12.6)]).toEqual(['17', '5.5', '13']);
    expect([formatNumber(0.66789, 2), formatNumber(1), formatNumber(null)]).toEqual(['0.67', '1', '-']);
    expect([formatDebt(0.1254), formatDebt(-0.05), formatDebt(0), formatDebt(-0.0001)]).toEqual(['+0.125', '-0.050', '0.000', '0.000']);
  });

  it('writes explanation values in their unit', () => {
    expect(formatUnitValue(380, '% of one core')).toBe('380% of one core');
    expect(formatUnitValue(1024 ** 3, 'bytes')).toBe('1.00 GiB');
    expect(formatUnitValue(1024 ** 2, 'bytes/s')).toBe('1.00 MiB/s');
    expect(formatUnitValue(120, 'calls/min')).toBe('120 calls/min');
  });

  it('cuts text with an ellipsis and measures it without colour codes', () => {
    expect(truncate('abcdefgh', 5)).toBe('abcd…');
    expect(truncate('abc', 5)).toBe('abc');
    expect(truncate('äöüßé', 4)).toBe('äöü…');
    expect(visibleLength('\x1b[36m███\x1b[39m')).toBe(3);
  });
});
