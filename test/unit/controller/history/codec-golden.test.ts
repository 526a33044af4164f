// Golden bytes of the history codec, one or more fixtures per on-disk format and version (test/fixtures/history,
// README there): each decodes to the values written beside it, and today's encoder writes those values to the
// same bytes. A round trip alone passes when encoder and decoder change together; databases on disk do not.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST_METRICS, TENANT_METRICS } from '../../../../controller/history/catalog.js';
import { decodeAcc, decodeVector, encodeAcc, encodeSamples, encodeVector, findSample, forEachSample, newAcc, Reader, readAcc, readVector, ROLLUP_VERSION, SAMPLES_VERSION } from '../../../../controller/history/codec.js';
import { FIXTURES } from '../../../helpers/cgroup-tree.js';

type Values = Record<string, number>;
type Stats = Record<string, { count: number; sum: number; max: number }>;
interface Fixture {
  name: string;
  format: 'vector' | 'samples' | 'rollup';
  version: number | null;
  catalog: 'tenant' | 'host';
  what: string;
  values?: Values;
  samples?: Array<{ id: number; values: Values }>;
  n?: number;
  metrics?: Stats;
  bytes: Buffer;
}

const DIR = join(FIXTURES, 'history');
const CURRENT = { vector: null, samples: SAMPLES_VERSION, rollup: ROLLUP_VERSION } as const;
const NAMES = { tenant: TENANT_METRICS.map((m) => m.name as string), host: HOST_METRICS.map((m) => m.name as string) };

const names = readdirSync(DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)).sort();
const fixtures: Fixture[] = names.map((name) => ({
  name,
  ...(JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Omit<Fixture, 'name' | 'bytes'>),
  bytes: Buffer.from(readFileSync(join(DIR, `${name}.hex`), 'utf8').replace(/\s+/g, ''), 'hex'),
}));

/** A row of the catalog from named values, NaN where a metric is absent; an unknown name throws. */
function row(catalog: Fixture['catalog'], values: Values): Float64Array {
  const out = new Float64Array(NAMES[catalog].length).fill(Number.NaN);
  for (const [name, v] of Object.entries(values)) {
    const i = NAMES[catalog].indexOf(name);
    if (i < 0) throw new Error(`no ${catalog} metric ${name}`);
    out[i] = v;
  }
  return out;
}
const named = (catalog: Fixture['catalog'], r: Float64Array): Values => Object.fromEntries(NAMES[catalog].flatMap((name, i) => (Number.isNaN(r[i]) ? [] : [[name, r[i]!]])));
const statsOf = (catalog: Fixture['catalog'], v: Float64Array): Stats =>
  Object.fromEntries(NAMES[catalog].flatMap((name, i) => (v[3 * i] === 0 ? [] : [[name, { count: v[3 * i]!, sum: v[3 * i + 1]!, max: v[3 * i + 2]! }]])));

describe('history codec golden bytes', () => {
  it('has a fixture of the current version of every format, and every .json its .hex', () => {
    for (const [format, version] of Object.entries(CURRENT)) expect(fixtures.some((f) => f.format === format && f.version === version), `${format} version ${version}`).toBe(true);
    const hex = readdirSync(DIR).filter((f) => f.endsWith('.hex')).map((f) => f.slice(0, -'.hex'.length)).sort();
    expect(hex).toEqual(names);
  });

  describe.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const width = NAMES[f.catalog].length;

    it(`decodes to its values (${f.what})`, () => {
      if (f.format !== 'vector') expect(f.bytes[0], 'the version byte').toBe(f.version);
      if (f.format === 'vector') {
        expect(named(f.catalog, decodeVector(f.bytes, width))).toEqual(f.values);
        const r = new Reader(f.bytes);
        readVector(r, new Float64Array(width), 0, width);
        expect(r.done, 'every byte read').toBe(true);
      } else if (f.format === 'samples') {
        const seen: Array<{ id: number; values: Values }> = [];
        forEachSample(f.bytes, width, (id, values) => seen.push({ id, values: named(f.catalog, values) }));
        expect(seen).toEqual(f.samples);
        for (const s of f.samples!) expect(named(f.catalog, findSample(f.bytes, s.id, width)!)).toEqual(s.values);
        expect(findSample(f.bytes, Math.max(0, ...f.samples!.map((s) => s.id)) + 1, width)).toBeUndefined();
        // The layout, walked apart from the codec's loops: each payload length is its vector's, nothing follows.
        const r = new Reader(f.bytes);
        expect([r.varint(), r.varint()]).toEqual([f.version, f.samples!.length]);
        for (const s of f.samples!) {
          expect(r.varint()).toBe(s.id);
          const length = r.u16();
          const start = r.pos;
          readVector(r, new Float64Array(width), 0, width);
          expect(r.pos - start, `payload length of series ${s.id}`).toBe(length);
        }
        expect(r.done, 'every byte read').toBe(true);
      } else {
        const acc = decodeAcc(f.bytes, width);
        expect({ n: acc.n, metrics: statsOf(f.catalog, acc.v) }).toEqual({ n: f.n, metrics: f.metrics });
        const r = new Reader(f.bytes);
        readAcc(r, width);
        expect(r.done, 'every byte read').toBe(true);
      }
    });

    it.runIf(f.version === CURRENT[f.format])(`today's encoder writes its values to the same bytes`, () => {
      let bytes: Buffer;
      if (f.format === 'vector') {
        bytes = encodeVector(row(f.catalog, f.values!), width);
      } else if (f.format === 'samples') {
        const flat = new Float64Array(f.samples!.length * width);
        f.samples!.forEach((s, k) => flat.set(row(f.catalog, s.values), k * width));
        bytes = encodeSamples(f.samples!.map((s) => s.id), flat, f.samples!.length, width);
      } else {
        const acc = newAcc(width);
        acc.n = f.n!;
        for (const [name, s] of Object.entries(f.metrics!)) {
          const i = NAMES[f.catalog].indexOf(name);
          if (i < 0) throw new Error(`no ${f.catalog} metric ${name}`);
          acc.v.set([s.count, s.sum, s.max], 3 * i);
        }
        bytes = encodeAcc(acc, width);
      }
      expect(bytes.toString('hex')).toBe(f.bytes.toString('hex'));
    });
  });
});
