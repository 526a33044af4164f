import { describe, expect, it } from 'vitest';
import { MinuteBucket } from '../../../../controller/history/bucket.js';
import { decodeAcc, Writer, type Acc } from '../../../../controller/history/codec.js';

const W = 3;
const row = (...v: number[]) => Float64Array.from(v);
const plain = (a: Acc | undefined) => (a ? { n: a.n, v: [...a.v].map((x) => (x === Number.NEGATIVE_INFINITY ? null : x)) } : undefined);

describe('a minute of rollups in memory', () => {
  it('answers the same open, closed, and with late samples merged', () => {
    const b = new MinuteBucket(() => W);
    b.add(7, row(10, Number.NaN, 1), 0, W);
    b.add(7, row(30, 5, 1), 0, W);
    b.add(-2, row(1, 1, 1), 0, W);
    const open = plain(b.get(7));
    expect(open).toEqual({ n: 2, v: [2, 40, 30, 1, 5, 5, 2, 2, 1] });
    expect(b.size).toBe(2);

    b.close(new Writer(16));
    expect(b.closed).toBe(true);
    expect(plain(b.get(7))).toEqual(open);
    expect(b.get(8)).toBeUndefined();

    // A late sample for a known series and one for a new series.
    b.add(7, row(2, Number.NaN, Number.NaN), 0, W);
    b.add(9, row(4, 4, 4), 0, W);
    expect(plain(b.get(7))).toEqual({ n: 3, v: [3, 42, 30, 1, 5, 5, 2, 2, 1] });
    expect(b.size).toBe(3);
    const rows = [...b.rows()].map(([s, v]) => [s, plain(Buffer.isBuffer(v) ? decodeAcc(v, W) : v)]);
    expect(rows).toEqual([
      [-2, { n: 1, v: [1, 1, 1, 1, 1, 1, 1, 1, 1] }],
      [7, { n: 3, v: [3, 42, 30, 1, 5, 5, 2, 2, 1] }],
      [9, { n: 1, v: [1, 4, 4, 1, 4, 4, 1, 4, 4] }],
    ]);
    // get() hands out copies
    b.get(9)!.n = 99;
    expect(b.get(9)!.n).toBe(1);
  });
});
