// A terminal column chart of a series over time: one bar per point (eighth blocks ▁▂▃▄▅▆▇█ for the average),
// a dot above a bar where the point's maximum reached, a y axis with the scale, the first and last time below.
// It fills the width it is given: few points get wider bars, many points are merged (average of the
// averages, maximum of the maxima). Colour only when asked (a TTY without NO_COLOR).

const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const MAX_MARK = '·';
const BAR_COLOR = '\x1b[36m';
const MAX_COLOR = '\x1b[33m';
const RESET = '\x1b[39m';

export interface ChartInput {
  /** Start of each point, milliseconds. */
  times: readonly number[];
  avg: ReadonlyArray<number | null>;
  max: ReadonlyArray<number | null>;
}

export interface ChartOptions {
  /** Columns available, y-axis labels included. */
  width: number;
  /** Rows of bars (default 8). */
  height?: number;
  color?: boolean;
  /** Labels of the y axis. */
  format: (v: number) => string;
  /** Time labels below the axis. */
  formatTime: (ms: number) => string;
  /** The top of the scale for the largest value (default niceCeil; niceCeilBinary for bytes). */
  niceTop?: (v: number) => number;
}

interface Bar {
  avg: number | null;
  max: number | null;
}

/** The chart, ending in a newline; '' when no point has a value. */
export function renderChart(input: ChartInput, opts: ChartOptions): string {
  const n = input.times.length;
  const values = [...input.avg, ...input.max].filter((v): v is number => v !== null && Number.isFinite(v));
  if (n === 0 || !input.avg.some((v) => v !== null)) return '';
  const height = Math.max(2, opts.height ?? 8);
  const top = (opts.niceTop ?? niceCeil)(Math.max(0, ...values));
  const labels = new Map<number, string>([
    [height - 1, opts.format(top)],
    [0, opts.format(0)],
  ]);
  if (height >= 5) labels.set(Math.floor(height / 2), opts.format(top / 2));
  const labelWidth = Math.max(...[...labels.values()].map((l) => l.length));
  const plotWidth = Math.max(1, opts.width - labelWidth - 2);
  const bars = columns(input, plotWidth);

  const lines: string[] = [];
  const levels = height * 8;
  for (let row = height - 1; row >= 0; row--) {
    const label = labels.get(row);
    let cells = '';
    let open: string | undefined;
    for (const b of bars) {
      const [ch, color] = cell(b, row, top, height, levels);
      const want = opts.color && ch !== ' ' ? color : undefined;
      if (want !== open) {
        if (open) cells += RESET;
        if (want) cells += want;
        open = want;
      }
      cells += ch;
    }
    if (open) cells += RESET;
    lines.push(`${(label ?? '').padStart(labelWidth)} ${label === undefined ? '│' : '┤'}${cells}`.trimEnd());
  }
  lines.push(`${' '.repeat(labelWidth)} └${'─'.repeat(bars.length)}`);
  const first = opts.formatTime(input.times[0]!);
  const last = opts.formatTime(input.times[n - 1]!);
  const pad = ' '.repeat(labelWidth + 2);
  if (n > 1 && bars.length >= first.length + last.length + 2) lines.push(`${pad}${first}${' '.repeat(bars.length - first.length - last.length)}${last}`);
  else lines.push(`${pad}${first}`);
  return lines.join('\n') + '\n';
}

function cell(b: Bar, row: number, top: number, height: number, levels: number): [string, string] {
  if (b.avg === null) return [' ', ''];
  const level = Math.round((Math.max(0, b.avg) / top) * levels);
  const fill = Math.min(8, Math.max(0, level - row * 8));
  if (fill > 0) return [BLOCKS[fill - 1]!, BAR_COLOR];
  if (b.max !== null && b.max > b.avg && row === Math.min(height - 1, Math.floor((b.max / top) * height))) return [MAX_MARK, MAX_COLOR];
  return [' ', ''];
}

/**
 * The points laid out over `width` columns: each point k columns wide (the last of 3 or more left blank, so
 * neighbours stay apart), or several points merged in one column.
 */
function columns(input: ChartInput, width: number): Bar[] {
  const n = input.times.length;
  const out: Bar[] = [];
  if (n <= width) {
    const k = Math.floor(width / n);
    const gap: Bar = { avg: null, max: null };
    for (let i = 0; i < n; i++) {
      const bar = { avg: input.avg[i] ?? null, max: input.max[i] ?? input.avg[i] ?? null };
      for (let j = 0; j < k; j++) out.push(k >= 3 && j === k - 1 ? gap : bar);
    }
    return out;
  }
  for (let c = 0; c < width; c++) {
    let sum = 0;
    let count = 0;
    let max: number | null = null;
    for (let i = Math.floor((c * n) / width); i < Math.floor(((c + 1) * n) / width); i++) {
      const a = input.avg[i];
      if (a !== null && a !== undefined) {
        sum += a;
        count++;
      }
      const m = input.max[i] ?? a;
      if (m !== null && m !== undefined && (max === null || m > max)) max = m;
    }
    out.push({ avg: count ? sum / count : null, max });
  }
  return out;
}

/** The smallest of 1, 2, 2.5, 5 x 10^k at or above v (1 for 0). */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  const f = v / exp;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * exp;
}

/** niceCeil in binary units (KiB, MiB, GiB...), so a byte scale ends at 2 GiB rather than 2.33 GiB. */
export function niceCeilBinary(v: number): number {
  if (!(v > 0)) return 1;
  const unit = 1024 ** Math.max(0, Math.floor(Math.log(v) / Math.log(1024)));
  return niceCeil(v / unit) * unit;
}
