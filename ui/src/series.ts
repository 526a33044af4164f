// What a chart plots, computed from an API answer without the DOM or uPlot (so unit tests run it in Node):
// the values read back by the browser tests as data-series, the throttle periods, the ranges of the pages.
import type { Num, SeriesResponse } from './wire.js';

export interface ChartSpec {
  /** The API's series name, e.g. cpu_percent. */
  metric: string;
  title: string;
  /** The plan's cap in the series' unit, when the plan has one. */
  cap?: number | undefined;
}

/** The series names a page asks for besides its charts' own: throttle and freeze periods. */
export const STATE_METRICS = ['throttle_level', 'frozen'];

export interface Plotted {
  metric: string;
  unit: string;
  from: string;
  to: string;
  step_seconds: number;
  source: string;
  /** Start of each point, seconds since the epoch. */
  t: number[];
  avg: Num[];
  max: Num[];
  cap: number | null;
  /** [start, end) in seconds of each run of points with throttle_level > 0 or frozen (the maximum per point). */
  throttle: Array<[number, number, string]>;
}

/** The periods when a throttle or a freeze held, from the state series of the same answer. */
export function throttlePeriods(r: SeriesResponse, t: number[]): Array<[number, number, string]> {
  const level = r.series.throttle_level?.max ?? [];
  const frozen = r.series.frozen?.max ?? [];
  const out: Array<[number, number, string]> = [];
  let cur: [number, number, string] | null = null;
  for (let i = 0; i < t.length; i++) {
    const what = (frozen[i] ?? 0) > 0 ? 'frozen' : (level[i] ?? 0) > 0 ? `throttle ${level[i]}` : null;
    const end = t[i]! + r.step_seconds;
    if (what && cur && cur[2] === what && cur[1] >= t[i]!) cur[1] = end;
    else if (what) out.push((cur = [t[i]!, end, what]));
    else cur = null;
  }
  return out;
}

/** Per answer, once for all its charts: the times in seconds and the throttle periods. */
const perAnswer = new WeakMap<SeriesResponse, { t: number[]; throttle: Array<[number, number, string]> }>();

export function plotted(r: SeriesResponse, spec: ChartSpec): Plotted {
  const s = r.series[spec.metric];
  let shared = perAnswer.get(r);
  if (!shared) {
    const t = r.times.map((x) => Math.round(Date.parse(x) / 1000));
    perAnswer.set(r, (shared = { t, throttle: throttlePeriods(r, t) }));
  }
  const { t } = shared;
  return {
    metric: spec.metric,
    unit: s?.unit ?? '',
    from: r.from,
    to: r.to,
    step_seconds: r.step_seconds,
    source: r.source,
    t,
    avg: s?.avg ?? t.map(() => null),
    max: s?.max ?? t.map(() => null),
    cap: spec.cap ?? null,
    throttle: shared.throttle,
  };
}

/** The smallest top of a chart's scale, by unit: ticks of a fraction of a byte or a task mean nothing. */
export function floorOf(unit: string): number {
  return unit.startsWith('bytes') ? 1024 : 1;
}


export interface Range {
  label: string;
  from: string;
  to: string;
  step?: string | undefined;
}

// A Map, not an object: a name from the address bar such as __proto__ must not find anything.
const PRESETS = new Map<string, number>([
  ['1h', 3_600_000],
  ['24h', 86_400_000],
  ['30d', 30 * 86_400_000],
]);
export const PRESET_NAMES = [...PRESETS.keys()];

/** A preset (1h, 24h, 30d) or a custom from/to (ISO) as absolute times, so the API is asked exactly once. */
export function rangeOf(params: URLSearchParams, now = Date.now()): Range {
  const from = Date.parse(params.get('from') ?? '');
  const to = Date.parse(params.get('to') ?? '');
  const step = params.get('step') ?? undefined;
  const okStep = step && /^[0-9]{1,6}[smhd]$/.test(step) ? step : undefined;
  if (Number.isFinite(from) && Number.isFinite(to) && from < to) {
    return { label: 'custom', from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: okStep };
  }
  const asked = params.get('range') ?? '24h';
  const name = PRESETS.has(asked) ? asked : '24h';
  const span = PRESETS.get(name)!;
  return { label: name, from: new Date(now - span).toISOString(), to: new Date(now).toISOString(), step: okStep };
}
