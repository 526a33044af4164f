// usage TENANT [--since 24h] [--until now] [--step 1h]: a table of the points and a terminal chart.
// Without --step, a step giving at most MAX_ROWS points is chosen, so the table fits a screen.
import type { SeriesResponse } from '../../shared/wire/api.js';
import { UsageError } from '../../shared/errors.js';
import { formatDuration } from '../../shared/units.js';
import { stringOption } from '../args.js';
import { niceCeilBinary, renderChart } from '../chart.js';
import { checked } from '../shape.js';
import { printJson, type Command, type View } from '../command.js';
import { formatCount, formatPercent, formatRate, formatSize, formatTime, NONE } from '../format.js';
import { renderTable, type Column } from '../table.js';
import { durationValue, oneOfValue, tenantValue, timeValue } from '../values.js';
import { sinceOption, untilOption } from './options.js';

export const MAX_ROWS = 30;
const NICE_STEPS = ['10s', '30s', '1m', '2m', '5m', '10m', '15m', '30m', '1h', '2h', '3h', '6h', '12h', '1d', '7d', '30d'];
const NICE_STEPS_MS = NICE_STEPS.map((s) => durationValue('step', s));

/** The smallest nice step that cuts `rangeMs` into at most MAX_ROWS points. */
export function defaultStep(rangeMs: number): string {
  const i = NICE_STEPS_MS.findIndex((ms) => rangeMs / ms <= MAX_ROWS);
  return NICE_STEPS[i === -1 ? NICE_STEPS.length - 1 : i]!;
}

type Nums = ReadonlyArray<number | null>;

interface ChartSpec {
  series: string;
  title: string;
  format: (v: number) => string;
  binary?: boolean;
}

export const CHARTS: Record<string, ChartSpec> = {
  cpu: { series: 'cpu_percent', title: 'cpu, % of one core', format: formatPercent },
  memory: { series: 'memory_current', title: 'memory', format: formatSize, binary: true },
  'io-read': { series: 'io_read_bps', title: 'disk reads', format: formatRate, binary: true },
  'io-write': { series: 'io_write_bps', title: 'disk writes', format: formatRate, binary: true },
  processes: { series: 'processes', title: 'processes', format: formatCount },
};

function sum(a: Nums | undefined, b: Nums | undefined, i: number): number | null {
  const x = a?.[i] ?? null;
  const y = b?.[i] ?? null;
  return x === null && y === null ? null : (x ?? 0) + (y ?? 0);
}

/** The table of points: time, then every resource that has data in the range. */
export function renderUsageTable(u: SeriesResponse, view: View): string {
  const s = u.series;
  const has = (...names: string[]) => names.some((n) => s[n]?.avg.some((v) => v !== null) || s[n]?.max.some((v) => v !== null));
  const avg = (n: string) => (i: number) => s[n]?.avg[i] ?? null;
  const max = (n: string) => (i: number) => s[n]?.max[i] ?? null;
  const cols: Array<Column<number>> = [{ header: 'TIME', value: (i) => formatTime(u.times[i], { seconds: u.step_seconds < 60 }) }];
  const add = (when: boolean, ...c: Array<Column<number>>) => when && cols.push(...c.map((x) => ({ align: 'right' as const, ...x })));
  add(has('cpu_percent'), { header: 'CPU AVG', value: (i) => formatPercent(avg('cpu_percent')(i)) }, { header: 'CPU MAX', value: (i) => formatPercent(max('cpu_percent')(i)) });
  add(has('memory_current'), { header: 'MEM AVG', value: (i) => formatSize(avg('memory_current')(i)) }, { header: 'MEM MAX', value: (i) => formatSize(max('memory_current')(i)) });
  add(has('io_read_bps', 'io_write_bps'), { header: 'READ', value: (i) => formatRate(avg('io_read_bps')(i)) }, { header: 'WRITE', value: (i) => formatRate(avg('io_write_bps')(i)) });
  add(has('io_read_iops', 'io_write_iops'), { header: 'IOPS', value: (i) => formatCount(sum(s.io_read_iops?.avg, s.io_write_iops?.avg, i)) });
  add(has('processes'), { header: 'PROCS', value: (i) => formatCount(max('processes')(i)) });
  add(has('bandwidth_tx_bps', 'bandwidth_rx_bps'), { header: 'NET OUT', value: (i) => formatRate(avg('bandwidth_tx_bps')(i)) }, { header: 'NET IN', value: (i) => formatRate(avg('bandwidth_rx_bps')(i)) });
  add(has('inodes'), { header: 'INODES', value: (i) => formatCount(max('inodes')(i)) });
  add(has('api_per_minute'), { header: 'API/MIN', value: (i) => formatCount(avg('api_per_minute')(i)) });
  add(has('pressure_cpu_some'), { header: 'PSI CPU', value: (i) => formatPercent(avg('pressure_cpu_some')(i)) });
  add(has('throttle_level'), { header: 'THROTTLE', value: (i) => formatCount(max('throttle_level')(i)) });
  add(has('frozen'), { header: 'FROZEN', value: (i) => ((max('frozen')(i) ?? 0) > 0 ? 'yes' : NONE) });
  add(true, { header: 'SAMPLES', value: (i) => String(u.samples[i] ?? 0) });
  return renderTable(
    cols,
    u.times.map((_, i) => i),
    view.width,
  );
}

/** The chart of one series, with the gaps between points (no samples) shown as gaps. */
export function renderUsageChart(u: SeriesResponse, chart: ChartSpec, view: View): string {
  const series = u.series[chart.series];
  if (!series) return '';
  const stepMs = u.step_seconds * 1000;
  let times = u.times.map((t) => Date.parse(t));
  let avg: Nums = series.avg;
  let max: Nums = series.max;
  const first = times[0];
  const last = times[times.length - 1];
  if (stepMs > 0 && first !== undefined && last !== undefined && (last - first) / stepMs < 10_000) {
    const n = Math.round((last - first) / stepMs) + 1;
    const grid = Array.from({ length: n }, (_, k) => first + k * stepMs);
    const a: Array<number | null> = Array(n).fill(null);
    const m: Array<number | null> = Array(n).fill(null);
    times.forEach((t, i) => {
      const k = Math.round((t - first) / stepMs);
      a[k] = series.avg[i] ?? null;
      m[k] = series.max[i] ?? null;
    });
    [times, avg, max] = [grid, a, m];
  }
  const body = renderChart(
    { times, avg, max },
    { width: view.width, color: view.color, format: chart.format, formatTime: (t) => formatTime(t), height: 8, ...(chart.binary ? { niceTop: niceCeilBinary } : {}) },
  );
  if (!body) return '';
  const per = stepMs > 0 ? `per ${formatDuration(stepMs)}` : 'per sample';
  return `${chart.title}: bars are the average ${per}, dots the maximum\n${body}`;
}

export function renderUsage(u: SeriesResponse, chart: ChartSpec | undefined, view: View): string {
  const what = `${u.tenant ?? '?'}${u.host ? ` on ${u.host}` : ''}`;
  const source = u.source === 'raw' ? 'raw samples' : `${u.source} rollups`;
  const step = u.step_seconds > 0 ? `per ${formatDuration(u.step_seconds * 1000)}` : 'per sample';
  let text = `${what}, ${formatTime(u.from)} to ${formatTime(u.to)}, ${step} (${source})\n`;
  if (u.times.length === 0) return `${text}no samples in this range\n`;
  text += renderUsageTable(u, view);
  if (chart) {
    const c = renderUsageChart(u, chart, view);
    text += c ? `\n${c}` : `\nno ${chart.title} data to chart\n`;
  }
  return text;
}

export const usageCommand: Command = {
  name: 'usage',
  summary: "a tenant's usage over time: a table of the points and a chart",
  args: [{ name: 'TENANT', help: 'tenant name' }],
  options: [
    sinceOption('from TIME: a duration back from now (24h, 7d) or ISO-8601 (default 24h)'),
    untilOption(),
    { name: 'step', type: 'string', value: 'DURATION', help: `width of a point (default: the smallest of ${NICE_STEPS.slice(0, 6).join(', ')}, ... giving at most ${MAX_ROWS} points)` },
    { name: 'resources', type: 'string', value: 'LIST', help: 'only these resources or series, comma-separated (cpu,memory)' },
    { name: 'chart', type: 'string', value: 'WHAT', help: `what to chart: ${Object.keys(CHARTS).join(', ')} or none (default cpu)` },
  ],
  details:
    'Points under 1m come from raw samples, under 1h from minute rollups, else from hour rollups (coarser when the finer tier no longer ' +
    'holds the range). CPU is in % of one core; memory and io in KiB/MiB/GiB; times in UTC. MEM MAX, CPU MAX: the largest sample in the point.',
  examples: ['hostwardenctl usage alice', 'hostwardenctl usage alice --since 7d --step 6h --chart memory', 'hostwardenctl usage alice --since 2025-01-31T00:00Z --until 2025-01-31T06:00Z'],
  async run(ctx, args, o) {
    const tenant = tenantValue('TENANT', args[0]!);
    const since = stringOption(o, 'since') ?? '24h';
    const until = stringOption(o, 'until');
    const from = timeValue('--since', since, ctx.view.now);
    const to = until === undefined ? ctx.view.now : timeValue('--until', until, ctx.view.now);
    if (!(to > from)) throw new UsageError(`--until must be after --since (${formatTime(from)} to ${formatTime(to)})`);
    const stepText = stringOption(o, 'step');
    const step = stepText === undefined ? defaultStep(to - from) : (durationValue('--step', stepText, { min: 1000 }), stepText);
    const chartName = oneOfValue('--chart', stringOption(o, 'chart') ?? 'cpu', [...Object.keys(CHARTS), 'none']);
    const a = await ctx.client.get(`/v1/tenants/${encodeURIComponent(tenant)}/usage`, {
      from: since,
      to: until,
      step,
      resources: stringOption(o, 'resources'),
    });
    if (ctx.json) return printJson(ctx, a.text);
    ctx.out(renderUsage(await checked(a, 'SeriesResponseSchema'), chartName === 'none' ? undefined : CHARTS[chartName], ctx.view));
  },
};

