import { describe, expect, it } from 'vitest';
import { renderFields, renderTable, wrap, type Column } from '../../../ctl/table.js';

interface Row {
  name: string;
  n: number;
  note: string;
}
const rows: Row[] = [
  { name: 'alice', n: 5, note: 'a long note that will not fit in a narrow terminal' },
  { name: 'bob', n: 1234, note: 'short' },
];
const cols: Array<Column<Row>> = [
  { header: 'NAME', value: (r) => r.name },
  { header: 'COUNT', value: (r) => String(r.n), align: 'right' },
  { header: 'NOTE', value: (r) => r.note, flex: true, minWidth: 10 },
];

describe('tables', () => {
  it('aligns columns, numbers to the right, with no trailing spaces', () => {
    expect(renderTable(cols, rows)).toBe(
      ['NAME   COUNT  NOTE', 'alice      5  a long note that will not fit in a narrow terminal', 'bob     1234  short', ''].join('\n'),
    );
  });

  it('cuts the flexible column to the width', () => {
    const out = renderTable(cols, rows, 40);
    expect(out).toBe(['NAME   COUNT  NOTE', 'alice      5  a long note that will not…', 'bob     1234  short', ''].join('\n'));
    for (const line of out.split('\n')) expect(line.length).toBeLessThanOrEqual(40);
  });

  it('moves the flexible column under each row when too little of it would be left', () => {
    expect(renderTable(cols, rows, 22)).toBe(['NAME   COUNT', 'alice      5', '    note: a long note t…', 'bob     1234', '    note: short', ''].join('\n'));
  });

  it('keeps line breaks and tabs of values out of the layout', () => {
    expect(renderTable([{ header: 'X', value: (s: string) => s }], ['a\nb\tc'])).toBe('X\na b c\n');
  });

  it('aligns label: value blocks and leaves out undefined values', () => {
    expect(renderFields([['host', 'web01'], ['agent', undefined], ['open incidents', '2']], '  ')).toBe('  host:            web01\n  open incidents:  2\n');
    expect(renderFields([])).toBe('');
  });

  it('wraps words with a hanging indent', () => {
    expect(wrap('one two three four five six', 10, '  ')).toBe('one two\n  three\n  four\n  five six');
  });
});
