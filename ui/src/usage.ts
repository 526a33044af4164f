// The usage charts a tenant page draws (admin and tenant alike): which series, with which plan cap.
import { prepareChart, STATE_METRICS, type ChartSpec } from './chart.js';
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
  const charts = specs.map((s) => prepareChart(grid, r, s));
  // One layout for all: the charts of a grid are equally wide.
  const width = charts[0]?.plot.clientWidth ?? 0;
  for (const c of charts) c.draw(width);
  return grid;
}

export { PRESET_NAMES, rangeOf, type Range } from './series.js';
