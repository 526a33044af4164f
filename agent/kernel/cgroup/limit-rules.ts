// The kernel's rules for the limits of agent/limits.ts: validated completely before anything is written (bad
// input changes nothing), converted to the kernel's units, and checked after the write against what the kernel
// reads back.
import type { IoDeviceLimit, Limits } from '../../limits.js';
import { CgroupWriteError, InvalidLimitError } from './errors.js';

/** CFS bandwidth period used for every quota we set (100 ms, the kernel's default). */
export const CPU_PERIOD_USEC = 100_000;
/** The kernel rejects quotas below 1 ms. */
export const CPU_MIN_QUOTA_USEC = 1000;
/** v2 cpu.weight range and default. */
export const CPU_WEIGHT_MIN = 1;
export const CPU_WEIGHT_MAX = 10_000;
export const CPU_WEIGHT_DEFAULT = 100;
/** Memory limits are stored in pages; what reads back may be up to one (largest common) page lower. */
const MEMORY_ROUNDING = 65_536;

export const LIMIT_FIELDS = ['cpuPercent', 'cpuWeight', 'memoryHigh', 'memoryMax', 'io', 'pidsMax'] as const;
export type LimitField = (typeof LIMIT_FIELDS)[number];

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Throws InvalidLimitError naming the first bad field; accepts undefined (leave) and null (no limit). */
export function validateLimits(limits: Limits): void {
  if (limits === null || typeof limits !== 'object') throw new InvalidLimitError('limits', limits, 'must be an object');
  for (const key of Object.keys(limits)) {
    if (!(LIMIT_FIELDS as readonly string[]).includes(key)) throw new InvalidLimitError(key, (limits as Record<string, unknown>)[key], `unknown field; known: ${LIMIT_FIELDS.join(', ')}`);
  }
  const { cpuPercent, cpuWeight, memoryHigh, memoryMax, io, pidsMax } = limits;
  if (cpuPercent != null) {
    const minPercent = (CPU_MIN_QUOTA_USEC * 100) / CPU_PERIOD_USEC;
    if (typeof cpuPercent !== 'number' || !Number.isFinite(cpuPercent) || cpuPercent < minPercent || cpuPercent > 100_000) {
      throw new InvalidLimitError('cpuPercent', cpuPercent, `must be a number of percent of one core from ${minPercent} to 100000`);
    }
  }
  if (cpuWeight != null && (!Number.isInteger(cpuWeight) || cpuWeight < CPU_WEIGHT_MIN || cpuWeight > CPU_WEIGHT_MAX)) {
    throw new InvalidLimitError('cpuWeight', cpuWeight, `must be a whole number from ${CPU_WEIGHT_MIN} to ${CPU_WEIGHT_MAX}`);
  }
  if (memoryHigh != null && !isUint(memoryHigh)) throw new InvalidLimitError('memoryHigh', memoryHigh, 'must be a whole number of bytes >= 0');
  if (memoryMax != null && !isUint(memoryMax)) throw new InvalidLimitError('memoryMax', memoryMax, 'must be a whole number of bytes >= 0');
  if (pidsMax != null && !isUint(pidsMax)) throw new InvalidLimitError('pidsMax', pidsMax, 'must be a whole number >= 0');
  if (io != null) {
    if (!Array.isArray(io)) throw new InvalidLimitError('io', io, 'must be a list of device limits or null');
    const seen = new Set<string>();
    io.forEach((d, i) => {
      if (d === null || typeof d !== 'object' || !isUint(d.major) || !isUint(d.minor)) {
        throw new InvalidLimitError(`io[${i}]`, d, 'needs whole-number major and minor device numbers');
      }
      const dev = `${d.major}:${d.minor}`;
      if (seen.has(dev)) throw new InvalidLimitError(`io[${i}]`, dev, 'device listed twice');
      seen.add(dev);
      for (const k of Object.keys(d)) {
        if (!['major', 'minor', 'rbps', 'wbps', 'riops', 'wiops'].includes(k)) throw new InvalidLimitError(`io[${i}].${k}`, (d as unknown as Record<string, unknown>)[k], 'unknown field');
      }
      for (const k of ['rbps', 'wbps', 'riops', 'wiops'] as const) {
        const v = d[k];
        if (v !== undefined && (!isUint(v) || v === 0)) throw new InvalidLimitError(`io[${i}].${k}`, v, 'must be a whole number >= 1 (leave it out for no limit)');
      }
    });
  }
}

/** cpu percent of one core -> quota in microseconds per CPU_PERIOD_USEC. */
export function cpuQuotaUsec(percent: number): number {
  return Math.max(CPU_MIN_QUOTA_USEC, Math.round((percent * CPU_PERIOD_USEC) / 100));
}

export function cpuPercentOf(quotaUsec: number, periodUsec: number): number {
  return Math.round(((quotaUsec * 100) / periodUsec) * 1000) / 1000;
}

/** v2 weight (1..10000, default 100) -> v1 cpu.shares (2..262144, default 1024): weight * 1024 / 100. */
export function weightToShares(weight: number): number {
  return Math.min(262_144, Math.max(2, Math.round((weight * 1024) / 100)));
}

export function sharesToWeight(shares: number): number {
  return Math.min(CPU_WEIGHT_MAX, Math.max(CPU_WEIGHT_MIN, Math.round((shares * 100) / 1024)));
}

/** The canonical form of a device list for comparison: sorted by device, "max" fields absent. */
export function sortIo(io: IoDeviceLimit[]): IoDeviceLimit[] {
  return [...io].sort((a, b) => a.major - b.major || a.minor - b.minor);
}

function sameIo(want: IoDeviceLimit[] | null, got: IoDeviceLimit[] | null | undefined): boolean {
  const w = sortIo(want ?? []);
  const g = sortIo(got ?? []);
  if (w.length !== g.length) return false;
  return w.every((d, i) => {
    const o = g[i]!;
    return d.major === o.major && d.minor === o.minor && d.rbps === o.rbps && d.wbps === o.wbps && d.riops === o.riops && d.wiops === o.wiops;
  });
}

/**
 * Compare what was asked with what the kernel now holds; throws CgroupWriteError naming the first field that
 * did not take. Memory may read back rounded down to a page; a cpu percent within 0.01 points counts as equal.
 */
export function verifyLimits(tenant: string, asked: Limits, got: Limits, fileOf: (field: LimitField) => string): void {
  for (const field of LIMIT_FIELDS) {
    // A weight of null is the default weight: that is what reads back.
    const want = field === 'cpuWeight' && asked.cpuWeight === null ? CPU_WEIGHT_DEFAULT : asked[field];
    if (want === undefined) continue;
    const have = got[field];
    let ok: boolean;
    if (field === 'io') ok = sameIo(want as IoDeviceLimit[] | null, have as IoDeviceLimit[] | null | undefined);
    else if (want === null || have === null || have === undefined) ok = want === have;
    else if (field === 'memoryHigh' || field === 'memoryMax') ok = (have as number) <= (want as number) && (want as number) - (have as number) < MEMORY_ROUNDING;
    else if (field === 'cpuPercent') ok = Math.abs((have as number) - (want as number)) <= 0.01;
    else ok = have === want;
    if (!ok) {
      throw new CgroupWriteError(
        fileOf(field),
        `limit ${field} of tenant ${tenant} did not take: asked ${JSON.stringify(want)}, ${fileOf(field)} now holds ${JSON.stringify(have ?? null)}`,
      );
    }
  }
}
