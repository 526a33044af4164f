// The usage charts a tenant page draws (admin and tenant alike): which series, with which plan cap.
import { chart, STATE_METRICS, type ChartSpec } from './chart.js';
import { h } from './dom.js';
import type { Plan, SeriesResponse } from './wire.js';

export function chartSpecs(plan: Plan | null | undefined): ChartSpec[] {
  return [
    { metric: 'cpu_percent', title: 'CPU', cap: plan?.cpu },
    { metric: 'memory_current', title: 'Memory', cap: plan?.memory },
    { metric: 'io_read_bps', title: 'Disk read', cap: plan?.io_read },
    { metric: 'io_write_bps', title: 'Disk write', cap: plan?.io_write },
    { metric: 'processes', title: 'Processes', cap: plan?.processes },
  ];
}

/** The `resources` parameter of a usage call for these charts. */
export function usageResources(specs: ChartSpec[]): string {
  return [...specs.map((s) => s.metric), ...STATE_METRICS].join(',');
}

export function drawCharts(parent: HTMLElement, r: SeriesResponse, specs: ChartSpec[], label: string): HTMLElement {
  const grid = h('section', { class: 'charts', 'data-range': label, 'aria-label': `usage, ${label}` });
  parent.appendChild(grid);
  for (const s of specs) chart(grid, r, s);
  return grid;
}

export interface Range {
  label: string;
  from: string;
  to: string;
  step?: string | undefined;
}

const PRESETS: Record<string, number> = { '1h': 3_600_000, '24h': 86_400_000, '30d': 30 * 86_400_000 };
export const PRESET_NAMES = Object.keys(PRESETS);

/** A preset (1h, 24h, 30d) or a custom from/to (ISO) as absolute times, so the API is asked exactly once. */
export function rangeOf(params: URLSearchParams, now = Date.now()): Range {
  const from = Date.parse(params.get('from') ?? '');
  const to = Date.parse(params.get('to') ?? '');
  const step = params.get('step') ?? undefined;
  const okStep = step && /^[0-9]{1,6}[smhd]$/.test(step) ? step : undefined;
  if (Number.isFinite(from) && Number.isFinite(to) && from < to) {
    return { label: 'custom', from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: okStep };
  }
  const name = params.get('range') ?? '24h';
  const span = PRESETS[name] ?? PRESETS['24h']!;
  return { label: PRESETS[name] ? name : '24h', from: new Date(now - span).toISOString(), to: new Date(now).toISOString(), step: okStep };
}
