// Rollup arithmetic that does not depend on the store: bucket boundaries, the choice of history tier for a
// query, re-bucketing rows into the requested step, and the API's series shape.
import { InvalidError } from '../store/errors.js';
import { accMerge, newAcc, type Acc } from './codec.js';
import type { MetricDef } from './catalog.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export type Tier = 'raw' | 'minute' | 'hour';

/** How long each tier of history is kept. */
export interface RetentionSpans {
  /** Raw samples, ms (default 48 h). */
  rawMs: number;
  /** 1-minute rollups, ms (default 90 d). */
  minuteMs: number;
  /** 1-hour rollups, ms (default 730 d); also how long released incidents, finished actions and the audit log are kept. */
  hourMs: number;
}

export const DEFAULT_RETENTION: RetentionSpans = { rawMs: 48 * HOUR_MS, minuteMs: 90 * 24 * HOUR_MS, hourMs: 730 * 24 * HOUR_MS };

export function floorTo(t: number, step: number): number {
  return Math.floor(t / step) * step;
}

export interface TierChoice {
  tier: Tier;
  /** Width of a point; undefined = every raw sample is a point. */
  stepMs: number | undefined;
}

/** Ranges up to this are served from raw samples when no step is asked for. */
export const RAW_DEFAULT_RANGE_MS = 2 * HOUR_MS;
/** Ranges up to this are served from minute rollups when no step is asked for. */
export const MINUTE_DEFAULT_RANGE_MS = 3 * 24 * HOUR_MS;

/**
 * The tier and step for a query. Without a step: raw up to 2 h of range, minutes up to 3 days, hours beyond.
 * With one: the finest tier at least as fine as the step (raw below 1 min, minutes below 1 h, else hours),
 * then coarser when the finer tier no longer holds `from` (retention); the step is rounded up to a multiple
 * of the tier's resolution.
 */
export function chooseTier(from: number, to: number, stepMs: number | undefined, now: number, retention: RetentionSpans): TierChoice {
  const range = to - from;
  let tier: Tier;
  if (stepMs === undefined) tier = range <= RAW_DEFAULT_RANGE_MS ? 'raw' : range <= MINUTE_DEFAULT_RANGE_MS ? 'minute' : 'hour';
  else tier = stepMs < MINUTE_MS ? 'raw' : stepMs < HOUR_MS ? 'minute' : 'hour';
  if (tier === 'raw' && from < now - retention.rawMs) tier = 'minute';
  if (tier === 'minute' && from < now - retention.minuteMs) tier = 'hour';
  if (tier === 'raw') return { tier, stepMs };
  const res = tier === 'minute' ? MINUTE_MS : HOUR_MS;
  return { tier, stepMs: Math.max(res, Math.ceil((stepMs ?? res) / res) * res) };
}

/** Merges (time, accumulator) rows into points of `stepMs` (or keeps each row a point). */
export class Bucketer {
  private readonly points = new Map<number, Acc>();
  constructor(
    readonly stepMs: number | undefined,
    readonly width: number,
  ) {}

  /** Add a row; with `owned`, the bucketer may keep `acc` itself (the caller will not touch it again). */
  add(t: number, acc: Acc, owned = false): void {
    const key = this.stepMs === undefined ? t : floorTo(t, this.stepMs);
    const cur = this.points.get(key);
    if (cur) accMerge(cur, acc, this.width);
    else if (owned) this.points.set(key, acc);
    else {
      const copy = newAcc(this.width);
      accMerge(copy, acc, this.width);
      this.points.set(key, copy);
    }
  }

  /** Add a single sample vector (quantized, NaN = absent). */
  addRow(t: number, row: Float64Array): void {
    const key = this.stepMs === undefined ? t : floorTo(t, this.stepMs);
    let cur = this.points.get(key);
    if (!cur) {
      cur = newAcc(this.width);
      this.points.set(key, cur);
    }
    cur.n++;
    const v = cur.v;
    for (let i = 0; i < this.width; i++) {
      const x = row[i]!;
      if (Number.isNaN(x)) continue;
      v[3 * i]!++;
      v[3 * i + 1]! += x;
      if (x > v[3 * i + 2]!) v[3 * i + 2] = x;
    }
  }

  sorted(): Array<[number, Acc]> {
    return [...this.points.entries()].sort((a, b) => a[0] - b[0]);
  }

  /** Everything merged into one accumulator. */
  total(): Acc {
    const out = newAcc(this.width);
    for (const acc of this.points.values()) accMerge(out, acc, this.width);
    return out;
  }
}

/**
 * The indices of the metrics a filter selects: resource groups (cpu, memory, io, processes, bandwidth,
 * inodes, api, pressure, state, fairness, host) or series names. Unknown names are refused, named.
 */
export function selectMetrics(catalog: readonly MetricDef[], filter: readonly string[] | undefined): number[] {
  if (!filter || filter.length === 0) return catalog.map((_, i) => i);
  const out = new Set<number>();
  const unknown: string[] = [];
  for (const f of filter) {
    let hit = false;
    catalog.forEach((d, i) => {
      if (d.group === f || d.name === f) {
        out.add(i);
        hit = true;
      }
    });
    if (!hit) unknown.push(f);
  }
  if (unknown.length) {
    const groups = [...new Set(catalog.map((d) => d.group))];
    throw new InvalidError(`resources: unknown ${unknown.map((u) => `"${u}"`).join(', ')}; use ${groups.join(', ')} or a series name`);
  }
  return [...out].sort((a, b) => a - b);
}

/** Average of metric i in real units, or null when it was never measured in the bucket. */
export function accAvg(acc: Acc, i: number, scale: number): number | null {
  const c = acc.v[3 * i]!;
  return c > 0 ? acc.v[3 * i + 1]! / c / scale : null;
}

export function accMax(acc: Acc, i: number, scale: number): number | null {
  return acc.v[3 * i]! > 0 ? acc.v[3 * i + 2]! / scale : null;
}

export interface SeriesBody {
  times: string[];
  samples: number[];
  series: Record<string, { unit: string; avg: Array<number | null>; max: Array<number | null> }>;
}

/** The API's columnar series: one array per metric, series never measured in the range left out. */
export function seriesBody(points: Array<[number, Acc]>, catalog: readonly MetricDef[], indices: readonly number[]): SeriesBody {
  const times = points.map(([t]) => new Date(t).toISOString());
  const samples = points.map(([, a]) => a.n);
  const series: SeriesBody['series'] = {};
  for (const i of indices) {
    const def = catalog[i]!;
    let any = false;
    const avg = new Array<number | null>(points.length);
    const max = new Array<number | null>(points.length);
    for (let k = 0; k < points.length; k++) {
      const acc = points[k]![1];
      avg[k] = accAvg(acc, i, def.scale);
      max[k] = accMax(acc, i, def.scale);
      if (avg[k] !== null) any = true;
    }
    if (any) series[def.name] = { unit: def.unit, avg, max };
  }
  return { times, samples, series };
}
