// One usage chart: a resource's average line over a band up to its maximum per point, the plan's cap as a
// dashed line, and the periods the tenant was throttled (or frozen) shaded behind. Drawn by uPlot on canvas.
// The container carries what it plots as data-series (JSON) and data-ready="1" once drawn, so the browser
// tests read back exactly the values on screen (UI-CONTRACT.md).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';
import { inUnit } from './format.js';
import { floorOf, plotted, type ChartSpec, type Plotted } from './series.js';
import type { SeriesResponse } from './wire.js';

export { STATE_METRICS, type ChartSpec } from './series.js';

let rootStyle: CSSStyleDeclaration | null = null;
/** A colour of the stylesheet (read once: each read of computed style may force a style pass). */
const css = (name: string, fallback: string) => (rootStyle ??= getComputedStyle(document.documentElement)).getPropertyValue(name).trim() || fallback;

/**
 * A chart's container, appended to `parent`, and the function that draws it at a width. Two steps so that a
 * page appends all its charts, reads the width once (one layout) and then draws them all, instead of a
 * layout forced by each chart's read after the previous one's writes.
 */
export function prepareChart(parent: HTMLElement, r: SeriesResponse, spec: ChartSpec): { box: HTMLElement; plot: HTMLElement; draw: (width: number) => void } {
  const p = plotted(r, spec);
  const plot = h('div', { class: 'plot' });
  const box = h('figure', { class: 'chart', 'data-metric': spec.metric, 'data-points': p.t.length }, h('figcaption', {}, spec.title, p.unit ? h('span', { class: 'unit' }, ` (${p.unit})`) : null), plot);
  box.dataset.series = JSON.stringify(p);
  parent.appendChild(box);
  if (p.t.length === 0) {
    plot.appendChild(h('p', { class: 'empty' }, 'no data in this range'));
    box.dataset.ready = '1';
    return { box, plot, draw: () => undefined };
  }
  return { box, plot, draw: (width) => draw(box, plot, p, width) };
}

function draw(box: HTMLElement, plot: HTMLElement, p: Plotted, width: number): void {
  const accent = css('--accent', '#2563eb');
  const capColor = css('--danger', '#dc2626');
  const shade = css('--throttle', 'rgba(234, 88, 12, 0.18)');
  const capLine = p.t.map(() => p.cap);
  const xFrom = Math.min(Date.parse(p.from) / 1000, p.t[0]!);
  const xTo = Math.max(Date.parse(p.to) / 1000, p.t.at(-1)! + p.step_seconds);
  const fmt = (v: number | null) => inUnit(v, p.unit);
  const opts: uPlot.Options = {
    width: Math.max(240, width || 600),
    height: 180,
    // Labels only: live values per cursor move would rewrite the legend's cells on every mouse move.
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      // The range asked for, whatever part of it has points: a day with an hour of data shows as a day.
      x: { time: true, range: (): uPlot.Range.MinMax => [xFrom, xTo] },
      y: {
        // From 0, up to the cap or the data, and never below a floor of the unit (all-zero bytes read as 0 B).
        range: (_u, _min, max) => [0, Math.max(max ?? 0, p.cap ?? 0, floorOf(p.unit)) * 1.1],
      },
    },
    axes: [{}, { size: 70, values: (_u, vals) => vals.map((v) => fmt(v)) }],
    series: [
      {},
      { label: 'average', stroke: accent, width: 1.5, value: (_u, v) => fmt(v) },
      { label: 'maximum', stroke: 'rgba(37, 99, 235, 0.35)', width: 1, value: (_u, v) => fmt(v) },
      ...(p.cap === null ? [] : [{ label: 'plan cap', stroke: capColor, width: 1.5, dash: [6, 4], value: (_u: uPlot, v: number | null) => fmt(v) }]),
    ],
    bands: [{ series: [2, 1], fill: 'rgba(37, 99, 235, 0.15)' }],
    hooks: {
      drawClear: [
        (u) => {
          const { ctx } = u;
          const { top, height } = u.bbox;
          ctx.save();
          ctx.fillStyle = shade;
          for (const [s, e] of p.throttle) {
            const x0 = u.valToPos(s, 'x', true);
            const x1 = u.valToPos(e, 'x', true);
            ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
          }
          ctx.restore();
        },
      ],
      draw: [() => (box.dataset.ready = '1')],
    },
  };
  // Throttle periods also in words (a chart is not the only way to read them).
  if (p.throttle.length > 0) {
    box.appendChild(h('p', { class: 'throttled' }, `throttled: ${p.throttle.map(([s, e, w]) => `${w} ${new Date(s * 1000).toISOString().slice(0, 16).replace('T', ' ')}–${new Date(e * 1000).toISOString().slice(11, 16)}`).join('; ')}`));
  }
  const u = new uPlot(opts, (p.cap === null ? [p.t, p.avg, p.max] : [p.t, p.avg, p.max, capLine]) as uPlot.AlignedData, plot);
  new ResizeObserver(([entry]) => {
    const w = Math.floor(entry?.contentRect.width ?? 0);
    if (w > 0 && Math.abs(w - u.width) > 4) u.setSize({ width: w, height: 180 });
  }).observe(plot);
}
