// The history codec refuses what it cannot store exactly instead of looping (Infinity) or writing past the
// bytes it reserves (above 2^56), and the store never writes such a value: issue item 1.
import { describe, expect, it } from 'vitest';
import { TENANT_WIDTH } from '../../../../controller/history/catalog.js';
import {
  CodecError,
  decodeAcc,
  decodeVector,
  encodeAcc,
  encodeSamples,
  encodeVector,
  MAX_VARINT,
  MAX_ZIGZAG,
  MIN_ZIGZAG,
  newAcc,
  accAdd,
  Reader,
  Writer,
} from '../../../../controller/history/codec.js';
import { InvalidError } from '../../../../controller/store/errors.js';
import { prepared, report, tempStore } from '../fixtures.js';

const within = async <T>(ms: number, fn: () => T): Promise<T> => {
  const started = performance.now();
  const out = fn();
  expect(performance.now() - started).toBeLessThan(ms);
  return out;
};

describe('codec bounds', () => {
  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a fraction', 1.5],
    ['a negative number', -1],
    ['2^53', 2 ** 53],
    ['1e300', 1e300],
  ])('a varint of %s throws a CodecError at once and writes nothing', async (_name, v) => {
    const w = new Writer(16);
    await within(100, () => expect(() => w.varint(v)).toThrow(CodecError));
    expect(w.pos).toBe(0);
  });

  it.each([
    ['Infinity (cpu 1e308 scaled)', 1e308 * 1000],
    ['NaN', Number.NaN],
    ['2^52', 2 ** 52],
    ['-(2^52) - 1', MIN_ZIGZAG - 1],
    ['1e300 (memory.current 1e300)', 1e300],
    ['a fraction', -0.5],
  ])('a zigzag value of %s throws a CodecError at once and writes nothing', async (_name, v) => {
    const w = new Writer(16);
    await within(100, () => expect(() => w.zigzag(v)).toThrow(CodecError));
    expect(w.pos).toBe(0);
  });

  it('round-trips the extremes it accepts exactly', () => {
    for (const v of [0, -0, 1, MAX_ZIGZAG, MIN_ZIGZAG, 2 ** 50, -(2 ** 50)]) {
      const row = new Float64Array([v, Number.NaN, v]);
      expect([...decodeVector(encodeVector(row, 3), 3)]).toEqual([v === 0 ? 0 : v, Number.NaN, v === 0 ? 0 : v]);
    }
    const w = new Writer(16);
    w.varint(MAX_VARINT);
    expect(w.pos).toBe(8);
    expect(new Reader(w.take()).varint()).toBe(MAX_VARINT);
  });

  it('reads no varint longer than 8 bytes or above 2^53-1', () => {
    expect(() => new Reader(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).varint()).toThrow(/varint too long/);
    expect(() => new Reader(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).varint()).toThrow(/above 2\^53-1/);
  });

  it('refuses a samples blob or a host vector holding an unencodable value', () => {
    const values = new Float64Array(TENANT_WIDTH).fill(Number.NaN);
    values[0] = Number.POSITIVE_INFINITY;
    expect(() => encodeSamples([1], values, 1, TENANT_WIDTH)).toThrow(CodecError);
    expect(() => encodeVector(values, TENANT_WIDTH)).toThrow(CodecError);
  });

  it('saturates a rollup sum beyond the zigzag range; count and max stay exact', () => {
    const acc = newAcc(1);
    const row = new Float64Array([2 ** 51]);
    for (let i = 0; i < 5; i++) accAdd(acc, row, 0, 1);
    expect(acc.v[1]).toBeGreaterThan(MAX_ZIGZAG);
    const back = decodeAcc(encodeAcc(acc, 1), 1);
    expect([back.n, back.v[0], back.v[1], back.v[2]]).toEqual([5, 5, MAX_ZIGZAG, 2 ** 51]);
  });
});

describe('the store never writes an unencodable value', () => {
  it('item 1: a report whose vector holds Infinity is refused before any row is written', async () => {
    const t = tempStore({ now: () => Date.UTC(2025, 5, 1, 12) });
    try {
      const p = prepared(report('web01', 1, Date.UTC(2025, 5, 1, 11), [{ tenant: 'alice', cpu: { percent: 10 } }]));
      p.values[0] = Number.POSITIVE_INFINITY; // what cpu 1e308 became before the wire had bounds
      await expect(t.store.ingest(p)).rejects.toThrow(InvalidError);
      await expect(t.store.ingest(p)).rejects.toThrow(/report cannot be stored: cannot encode Infinity/);
      expect((await t.store.stats()).reports).toBe(0);
      const ok = prepared(report('web01', 1, Date.UTC(2025, 5, 1, 11), [{ tenant: 'alice', cpu: { percent: 10 } }]));
      expect((await t.store.ingest(ok)).accepted).toBe(true);
      await t.reopen();
      expect((await t.store.getTenant('alice'))?.latest?.values.cpu_percent).toBe(10);
    } finally {
      await t.dispose();
    }
  });
});
