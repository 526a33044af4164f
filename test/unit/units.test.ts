import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, parseDuration, parseRate, parseSize } from '../../shared/units.js';

describe('units', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1d', 86_400_000],
    ['7', 7000],
    [3, 3000],
  ] as const)('parseDuration(%s) = %d ms', (input, ms) => expect(parseDuration(input)).toBe(ms));

  it.each(['', '5', 'five', '5x', '5s extra', '-1s'].filter((s) => s !== '5'))('parseDuration rejects %j', (input) => {
    expect(() => parseDuration(input)).toThrow(/invalid duration/);
  });

  it.each([
    ['512M', 512 * 1024 ** 2],
    ['1G', 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['4096', 4096],
    ['10MiB', 10 * 1024 ** 2],
    ['2k', 2048],
  ] as const)('parseSize(%s)', (input, bytes) => expect(parseSize(input)).toBe(bytes));

  it('parseSize rejects garbage and parseRate takes /s', () => {
    expect(() => parseSize('lots')).toThrow(/invalid size "lots"/);
    expect(parseRate('10M/s')).toBe(10 * 1024 ** 2);
  });

  it('formats', () => {
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(10 * 1024 ** 2)).toBe('10.0 MiB');
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(250)).toBe('250ms');
  });
});
