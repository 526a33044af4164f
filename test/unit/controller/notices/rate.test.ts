// The rate limit and the backoff, stepped with a fake clock.
import { describe, expect, it } from 'vitest';
import { backoffMs, digestKey, limitKey, rateDecision } from '../../../../controller/notices/rate.js';

const H = 3_600_000;
const interval = 12 * H;

describe('rate limit', () => {
  it.each([
    ['never sent: send', { limited: true, lastSent: undefined, lastDigest: undefined, now: 0 }, { send: true }],
    ['not limited (quarantine, release, manual): always send', { limited: false, lastSent: 0, lastDigest: undefined, now: 1 }, { send: true }],
    ['sent 1 h ago: hold until that interval ends', { limited: true, lastSent: 0, lastDigest: undefined, now: H }, { send: false, digestDue: interval }],
    ['sent 11 h 59 m ago: still held', { limited: true, lastSent: 0, lastDigest: undefined, now: interval - 60_000 }, { send: false, digestDue: interval }],
    ['sent exactly one interval ago: send', { limited: true, lastSent: 0, lastDigest: undefined, now: interval }, { send: true }],
    ['a digest went out after the last send: the next digest waits a whole interval', { limited: true, lastSent: 0, lastDigest: 10 * H, now: 11 * H }, { send: false, digestDue: 22 * H }],
    ['an old digest does not delay', { limited: true, lastSent: 5 * H, lastDigest: 0, now: 6 * H }, { send: false, digestDue: 17 * H }],
  ])('%s', (_name, input, expected) => {
    expect(rateDecision({ ...input, intervalMs: interval })).toEqual(expected);
  });

  it('holds all but the first of 100 violations of one kind within an hour, then sends again', () => {
    let lastSent: number | undefined;
    const decisions = [];
    for (let k = 0; k < 100; k++) {
      const now = k * 36_000; // 100 in an hour
      const d = rateDecision({ limited: true, lastSent, lastDigest: undefined, now, intervalMs: interval });
      if (d.send) lastSent = now;
      decisions.push(d);
    }
    expect(decisions.filter((d) => d.send)).toHaveLength(1);
    expect(new Set(decisions.filter((d) => !d.send).map((d) => (d as { digestDue: number }).digestDue))).toEqual(new Set([interval]));
    expect(rateDecision({ limited: true, lastSent, lastDigest: interval, now: interval + 1, intervalMs: interval })).toEqual({ send: true });
  });

  it('keys differ by tenant, resource, level and event type', () => {
    const keys = new Set([limitKey('a', 'cpu', 1, 'escalated'), limitKey('b', 'cpu', 1, 'escalated'), limitKey('a', 'io', 1, 'escalated'), limitKey('a', 'cpu', 2, 'escalated'), limitKey('a', 'cpu', 2, 'relaxed'), digestKey('a')]);
    expect(keys.size).toBe(6);
  });

  it('backs off exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 100].map((n) => backoffMs(n, 30_000, 30 * 60_000))).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_800_000, 1_800_000]);
    expect(backoffMs(0, 1000, 5000)).toBe(1000);
  });
});
