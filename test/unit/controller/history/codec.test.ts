import { describe, expect, it } from 'vitest';
import { accAdd, accMerge, decodeAcc, decodeVector, encodeAcc, encodeSamples, encodeVector, findSample, forEachSample, newAcc, Reader, Writer, CodecError } from '../../../../controller/history/codec.js';
import { HOST_WIDTH, TENANT_WIDTH, TENANT_INDEX } from '../../../../controller/history/catalog.js';

describe('varints', () => {
  it.each([0, 1, 127, 128, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 40 + 7, 2 ** 52])('unsigned %d round-trips', (v) => {
    const w = new Writer(1);
    w.varint(v);
    const r = new Reader(w.take());
    expect(r.varint()).toBe(v);
    expect(r.done).toBe(true);
  });

  it.each([0, -1, 1, -64, 64, -(2 ** 40), 2 ** 40, -(2 ** 51), 2 ** 51])('zigzag %d round-trips', (v) => {
    const w = new Writer(1);
    w.zigzag(v);
    expect(new Reader(w.take()).zigzag()).toBe(v);
  });

  it('refuses truncated input', () => {
    expect(() => new Reader(Uint8Array.of(0x80)).varint()).toThrow(CodecError);
  });
});

describe('vectors and sample blobs', () => {
  const row = (seed: number): Float64Array => {
    const v = new Float64Array(TENANT_WIDTH).fill(Number.NaN);
    v[TENANT_INDEX.cpu_percent] = 12345 + seed;
    v[TENANT_INDEX.memory_current] = 2 ** 33 + seed;
    v[TENANT_INDEX.debt] = -123456789 * seed;
    return v;
  };

  it('keeps present values and NaN for absent ones', () => {
    const v = row(3);
    const back = decodeVector(encodeVector(v, TENANT_WIDTH), TENANT_WIDTH);
    expect([...back].map((x) => (Number.isNaN(x) ? null : x))).toEqual([...v].map((x) => (Number.isNaN(x) ? null : x)));
    expect(encodeVector(v, TENANT_WIDTH).length).toBeLessThan(20);
  });

  it('finds one series in a samples blob and walks all of them', () => {
    const n = 50;
    const values = new Float64Array(n * TENANT_WIDTH);
    const ids = Array.from({ length: n }, (_, k) => 1000 + k * 7);
    for (let k = 0; k < n; k++) values.set(row(k), k * TENANT_WIDTH);
    const blob = encodeSamples(ids, values, n, TENANT_WIDTH);
    expect(findSample(blob, 1000 + 33 * 7, TENANT_WIDTH)?.[TENANT_INDEX.cpu_percent]).toBe(12345 + 33);
    expect(findSample(blob, 999, TENANT_WIDTH)).toBeUndefined();
    const seen: number[] = [];
    forEachSample(blob, TENANT_WIDTH, (id, r) => seen.push(id, r[TENANT_INDEX.memory_current]!));
    expect(seen.length).toBe(2 * n);
    expect(seen[2 * 49 + 1]).toBe(2 ** 33 + 49);
  });
});

describe('vectors of more than 31 metrics (the mask above 2^31)', () => {
  const plain = (a: Float64Array) => [...a].map((x) => (Number.isNaN(x) ? null : x));

  it.each([31, 32, 40, 52])('%d metrics, every subset pattern round-trips, rows and rollups', (width) => {
    for (const pick of [(i: number) => i % 2 === 0, (i: number) => i >= 30, () => true, (i: number) => i === width - 1]) {
      const v = new Float64Array(width).fill(Number.NaN);
      for (let i = 0; i < width; i++) if (pick(i)) v[i] = (i + 1) * (i % 3 === 0 ? -1 : 1);
      expect(plain(decodeVector(encodeVector(v, width), width))).toEqual(plain(v));
      const acc = newAcc(width);
      accAdd(acc, v, 0, width);
      accAdd(acc, v, 0, width);
      const back = decodeAcc(encodeAcc(acc, width), width);
      for (let i = 0; i < width; i++) expect([back.v[3 * i], back.v[3 * i + 1]]).toEqual(pick(i) ? [2, 2 * v[i]!] : [0, 0]);
    }
    expect(() => encodeVector(new Float64Array(53), 53)).toThrow(CodecError);
  });

  it('a row of the 29-metric catalog (before the fairness of bandwidth, inodes and API) reads with the wider one, the new metrics absent', () => {
    const old = new Float64Array(29).fill(Number.NaN);
    old[0] = 5;
    old[28] = 1;
    const bytes = encodeVector(old, 29);
    expect(plain(decodeVector(bytes, TENANT_WIDTH))).toEqual([...plain(old), ...Array<null>(TENANT_WIDTH - 29).fill(null)]);
    // and a row of fewer than 32 metrics is written as before: the same bytes whatever the width
    expect(encodeVector(Float64Array.from([...old, Number.NaN, Number.NaN, Number.NaN]), 32)).toEqual(bytes);
  });
});

describe('rollup accumulators', () => {
  it('keeps count, sum and max per metric and merges exactly', () => {
    const a = newAcc(HOST_WIDTH);
    const b = newAcc(HOST_WIDTH);
    const v = (x: number) => {
      const r = new Float64Array(HOST_WIDTH).fill(Number.NaN);
      r[2] = x;
      return r;
    };
    for (const x of [10, 40, 25]) accAdd(a, v(x), 0, HOST_WIDTH);
    accAdd(b, v(-5), 0, HOST_WIDTH);
    accAdd(b, new Float64Array(HOST_WIDTH).fill(Number.NaN), 0, HOST_WIDTH); // a sample without the metric
    const back = decodeAcc(encodeAcc(a, HOST_WIDTH), HOST_WIDTH);
    expect(back.n).toBe(3);
    expect([back.v[6], back.v[7], back.v[8]]).toEqual([3, 75, 40]);
    accMerge(back, b, HOST_WIDTH);
    expect(back.n).toBe(5);
    expect([back.v[6], back.v[7], back.v[8]]).toEqual([4, 70, 40]);
    // metrics never seen stay absent
    expect(back.v[0]).toBe(0);
    expect(decodeAcc(encodeAcc(back, HOST_WIDTH), HOST_WIDTH).v[1 * 3 + 2]).toBe(Number.NEGATIVE_INFINITY);
  });
});
