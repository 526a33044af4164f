// Aligned text tables and "label: value" blocks. Columns are separated by two spaces; numbers align right.
// When a table is wider than the terminal, the flexible column (a summary, a reason) is cut with "…" first;
// other columns keep their width (a cut number would lie). Lines carry no trailing spaces.
import { truncate, visibleLength } from './format.js';

export interface Column<R> {
  header: string;
  value: (row: R) => string;
  align?: 'left' | 'right';
  /**
   * This column gives up width when the table is too wide (the first such column counts): it is cut with "…";
   * where that would leave it fewer than `minWidth` characters, it goes on a line of its own under each row.
   */
  flex?: boolean;
  minWidth?: number;
}

const GAP = '  ';
const BELOW = '    ';
const DEFAULT_MIN_FLEX = 20;

export function renderTable<R>(columns: ReadonlyArray<Column<R>>, rows: readonly R[], width = Number.POSITIVE_INFINITY): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r).replace(/[\r\n\t]+/g, ' ')));
  const widths = columns.map((c, i) => Math.max(visibleLength(c.header), ...cells.map((row) => visibleLength(row[i]!))));
  const flex = columns.findIndex((c) => c.flex);
  const total = widths.reduce((a, b) => a + b, 0) + GAP.length * (columns.length - 1);
  let below: string[] | undefined;
  if (flex !== -1 && total > width) {
    const room = width - (total - widths[flex]!);
    if (room >= Math.max(columns[flex]!.minWidth ?? DEFAULT_MIN_FLEX, visibleLength(columns[flex]!.header))) {
      widths[flex] = room;
      for (const row of cells) row[flex] = truncate(row[flex]!, room);
    } else {
      const label = columns[flex]!.header.toLowerCase();
      below = cells.map((row) => {
        const v = row.splice(flex, 1)[0]!;
        return v ? `${label}: ${v}` : '';
      });
      widths.splice(flex, 1);
      columns = columns.filter((_, i) => i !== flex);
    }
  }
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const pad = ' '.repeat(Math.max(0, widths[i]! - visibleLength(v)));
        return columns[i]!.align === 'right' ? pad + v : v + pad;
      })
      .join(GAP)
      .trimEnd();
  const out = [line(columns.map((c) => c.header))];
  cells.forEach((row, i) => {
    out.push(line(row));
    const extra = below?.[i];
    if (extra) out.push(BELOW + truncate(extra, Math.max(DEFAULT_MIN_FLEX, width - BELOW.length)));
  });
  return out.join('\n') + '\n';
}

/** "label:  value" lines with the values aligned; entries whose value is undefined are left out. */
export function renderFields(entries: ReadonlyArray<readonly [string, string | undefined]>, indent = ''): string {
  const shown = entries.filter((e): e is readonly [string, string] => e[1] !== undefined);
  const w = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${indent}${`${k}:`.padEnd(w)}  ${v}`.trimEnd()).join('\n') + (shown.length ? '\n' : '');
}

/** Indent every line of a block. */
export function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((l) => (l ? by + l : l))
    .join('\n');
}

/** Words wrapped at `width` columns, each line after the first indented by `hang`. */
export function wrap(text: string, width: number, hang = ''): string {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const limit = lines.length === 0 ? width : width - hang.length;
    if (cur && visibleLength(cur) + 1 + visibleLength(word) > limit) {
      lines.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) lines.push(cur);
  return lines.map((l, i) => (i === 0 ? l : hang + l)).join('\n');
}
