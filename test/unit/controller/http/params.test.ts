import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../../../controller/http/errors.js';
import { parseDurationParam, parseRange, parseTimeParam } from '../../../../controller/http/params.js';

const now = Date.UTC(2025, 5, 1, 12, 0, 0);

describe('time parameters', () => {
  it.each([
    ['now', now],
    ['24h', now - 86_400_000],
    ['90m', now - 5_400_000],
    ['7d', now - 7 * 86_400_000],
    ['2025-05-31T12:00:00Z', Date.UTC(2025, 4, 31, 12)],
    ['2025-05-31T14:00:00+02:00', Date.UTC(2025, 4, 31, 12)],
    ['2025-05-31T12:00:00', Date.UTC(2025, 4, 31, 12)],
    ['2025-05-31', Date.UTC(2025, 4, 31)],
  ] as const)('%s', (text, expected) => expect(parseTimeParam('from', text, now)).toBe(expected));

  it.each(['yesterday', '5x', '2025-13-45T00:00:00Z', '-1h'])('refuses %j naming the parameter', (text) => {
    expect(() => parseTimeParam('from', text, now)).toThrow(BadRequestError);
    expect(() => parseTimeParam('from', text, now)).toThrow(/^from: /);
  });

  it('checks durations and ranges', () => {
    expect(parseDurationParam('step', '5m')).toBe(300_000);
    expect(() => parseDurationParam('step', '10ms', { min: 1000 })).toThrow(/step: must be at least 1s/);
    expect(() => parseDurationParam('window', 'long')).toThrow(/^window: invalid duration/);
    expect(parseRange({}, now, 3_600_000)).toEqual({ from: now - 3_600_000, to: now });
    expect(parseRange({ from: '2h', to: '1h' }, now, 1)).toEqual({ from: now - 7_200_000, to: now - 3_600_000 });
    expect(() => parseRange({ from: '1h', to: '2h' }, now, 1)).toThrow(/to: must be after from/);
  });
});
