import { describe, expect, it } from 'vitest';
import type { Limits } from '../../../../../agent/limits.js';
import { InvalidLimitError } from '../../../../../agent/kernel/cgroup/errors.js';
import { cpuPercentOf, cpuQuotaUsec, sharesToWeight, validateLimits, verifyLimits, weightToShares } from '../../../../../agent/kernel/cgroup/limit-rules.js';

describe('validateLimits', () => {
  it.each<[string, Limits]>([
    ['empty', {}],
    ['all lifted', { cpuPercent: null, cpuWeight: null, memoryHigh: null, memoryMax: null, io: null, pidsMax: null }],
    ['typical plan', { cpuPercent: 100, cpuWeight: 100, memoryHigh: 768 << 20, memoryMax: 1 << 30, io: [{ major: 8, minor: 0, rbps: 10 << 20, wiops: 1000 }], pidsMax: 100 }],
    ['smallest cpu cap', { cpuPercent: 1 }],
    ['fractional cpu', { cpuPercent: 12.5 }],
  ])('accepts %s', (_name, limits) => expect(() => validateLimits(limits)).not.toThrow());

  it.each<[string, unknown, RegExp]>([
    ['negative cpu', { cpuPercent: -5 }, /invalid limit cpuPercent=-5: must be a number of percent of one core from 1 to 100000/],
    ['cpu below 1 ms quota', { cpuPercent: 0.5 }, /cpuPercent=0.5/],
    ['NaN cpu', { cpuPercent: Number.NaN }, /cpuPercent/],
    ['weight 0', { cpuWeight: 0 }, /cpuWeight=0: must be a whole number from 1 to 10000/],
    ['fractional weight', { cpuWeight: 1.5 }, /cpuWeight/],
    ['negative memory', { memoryMax: -1 }, /memoryMax=-1/],
    ['string memory', { memoryHigh: '1G' }, /memoryHigh="1G"/],
    ['fractional pids', { pidsMax: 2.5 }, /pidsMax=2.5/],
    ['io not a list', { io: {} }, /invalid limit io=\{\}: must be a list/],
    ['io without minor', { io: [{ major: 8 }] }, /io\[0\].*major and minor/],
    ['io zero rate', { io: [{ major: 8, minor: 0, rbps: 0 }] }, /io\[0\]\.rbps=0: must be a whole number >= 1/],
    ['io device twice', { io: [{ major: 8, minor: 0 }, { major: 8, minor: 0, rbps: 1 }] }, /io\[1\]="8:0": device listed twice/],
    ['io unknown field', { io: [{ major: 8, minor: 0, bps: 1 }] }, /io\[0\]\.bps=1: unknown field/],
    ['unknown field', { cpu: 100 }, /invalid limit cpu=100: unknown field; known: cpuPercent/],
  ])('rejects %s', (_name, limits, message) => {
    expect(() => validateLimits(limits as Limits)).toThrow(InvalidLimitError);
    expect(() => validateLimits(limits as Limits)).toThrow(message);
  });
});

describe('unit conversions', () => {
  it('turns percent of one core into a quota per 100 ms period and back', () => {
    expect(cpuQuotaUsec(50)).toBe(50_000);
    expect(cpuQuotaUsec(250)).toBe(250_000);
    expect(cpuQuotaUsec(12.5)).toBe(12_500);
    expect(cpuPercentOf(50_000, 100_000)).toBe(50);
    expect(cpuPercentOf(12_345, 100_000)).toBe(12.345);
    expect(cpuPercentOf(25_000, 50_000)).toBe(50);
  });

  it('maps every v2 weight to cpu.shares and back unchanged', () => {
    expect(weightToShares(100)).toBe(1024);
    expect(weightToShares(1)).toBe(10);
    expect(weightToShares(10_000)).toBe(102_400);
    for (let w = 1; w <= 10_000; w++) expect(sharesToWeight(weightToShares(w))).toBe(w);
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262_144)).toBe(10_000);
  });
});

describe('verifyLimits', () => {
  const file = (f: string) => `/cg/alice/${f}`;

  it('accepts memory rounded down to a page and cpu within 0.01 points', () => {
    expect(() => verifyLimits('alice', { memoryMax: 1_000_000, cpuPercent: 33.333 }, { memoryMax: 999_424, cpuPercent: 33.33 }, file)).not.toThrow();
  });

  it('names the field that did not take', () => {
    expect(() => verifyLimits('alice', { pidsMax: 50 }, { pidsMax: 100 }, file)).toThrow(
      'limit pidsMax of tenant alice did not take: asked 50, /cg/alice/pidsMax now holds 100',
    );
    expect(() => verifyLimits('alice', { memoryMax: null }, { memoryMax: 4096 }, file)).toThrow(/memoryMax/);
    expect(() => verifyLimits('alice', { io: [{ major: 8, minor: 0, rbps: 5 }] }, { io: null }, file)).toThrow(/io of tenant alice/);
  });

  it('reads a weight of null as the default weight', () => {
    expect(() => verifyLimits('t', { cpuWeight: null }, { cpuWeight: 100 }, file)).not.toThrow();
    expect(() => verifyLimits('t', { cpuWeight: null }, { cpuWeight: 50 }, file)).toThrow(/asked 100/);
  });

  it('compares device lists regardless of order, null meaning none', () => {
    const a = { major: 8, minor: 0, rbps: 5 };
    const b = { major: 8, minor: 16, wiops: 7 };
    expect(() => verifyLimits('t', { io: [a, b] }, { io: [b, a] }, file)).not.toThrow();
    expect(() => verifyLimits('t', { io: [] }, { io: null }, file)).not.toThrow();
  });
});
