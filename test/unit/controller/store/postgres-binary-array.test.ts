// Numbers sent to PostgreSQL as binary arrays (binary-array.ts) come back as the same numbers: every int8 a
// JavaScript number holds exactly (both signs, past 2^32, up to 2^53-1), float8 to the bit (negative zero, the
// smallest subnormal, infinities), int4 to its bounds, and the empty array; a value the type cannot hold is
// refused before it is sent, and an element type the statement did not ask for is refused by PostgreSQL.
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { binaryArray } from '../../../../controller/store/postgres/binary-array.js';
import { describeWith } from '../../../helpers/env.js';
import { postgresMissing, usePostgres } from '../../../helpers/postgres.js';

describeWith(postgresMissing(), 'PostgreSQL binary array parameters', () => {
  const cluster = usePostgres();
  let c: pg.Client;
  beforeAll(async () => {
    c = new pg.Client({ connectionString: cluster().url(await cluster().createDatabase()) });
    await c.connect();
  });
  afterAll(async () => c?.end());

  const ints = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 32 + 1, -(2 ** 32) - 1, Date.UTC(2026, 11, 7), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];

  it('int8: every safe integer back as it was (as text, exact)', async () => {
    const r = await c.query<{ v: string[] }>('SELECT $1::bigint[]::text[] AS v', [binaryArray('int8', ints)]);
    expect(r.rows[0]!.v).toEqual(ints.map((x) => BigInt(x).toString()));
  });

  it('float8: to the bit, with -0, subnormals and infinities', async () => {
    const xs = [0, -0, 1.5, -2.25, Math.PI, 1e-310, Number.MIN_VALUE, Number.MAX_VALUE, Infinity, -Infinity, 0.1 + 0.2];
    // Back through float8's text form, which PostgreSQL prints with the shortest digits that read back exactly.
    const t = await c.query<{ v: string[] }>('SELECT $1::float8[]::text[] AS v', [binaryArray('float8', xs)]);
    const back = t.rows[0]!.v.map(Number);
    expect(back.map((x) => Object.is(x, -0) ? '-0' : String(x))).toEqual(xs.map((x) => Object.is(x, -0) ? '-0' : String(x)));
    const nan = await c.query<{ v: string[] }>('SELECT $1::float8[]::text[] AS v', [binaryArray('float8', [Number.NaN])]);
    expect(nan.rows[0]!.v).toEqual(['NaN']);
  });

  it('int4 to its bounds; an empty array of each type', async () => {
    const xs = [0, 7, -7, 2 ** 31 - 1, -(2 ** 31)];
    expect((await c.query<{ v: number[] }>('SELECT $1::int[] AS v', [binaryArray('int4', xs)])).rows[0]!.v).toEqual(xs);
    for (const [type, cast] of [['int8', 'bigint'], ['float8', 'float8'], ['int4', 'int']] as const) {
      const r = await c.query<{ n: number | null; c: number }>(`SELECT array_length($1::${cast}[], 1) AS n, cardinality($1::${cast}[]) AS c`, [binaryArray(type, [])]);
      expect(r.rows[0]).toEqual({ n: null, c: 0 });
    }
  });

  it('unnest of several arrays in one statement keeps their order', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => 1_000_000 + i * 7);
    const debts = ids.map((x) => x / 3);
    const r = await c.query<{ id: string; d: number }>('SELECT u.id::text AS id, u.d FROM unnest($1::bigint[], $2::float8[]) WITH ORDINALITY AS u(id, d, k) ORDER BY k', [binaryArray('int8', ids), binaryArray('float8', debts)]);
    expect(r.rows.map((x) => Number(x.id))).toEqual(ids);
    expect(r.rows.map((x) => x.d)).toEqual(debts);
  });

  it('refuses what the type cannot hold, before sending; PostgreSQL refuses another element type', async () => {
    expect(() => binaryArray('int8', [1.5])).toThrow(RangeError);
    expect(() => binaryArray('int8', [2 ** 53])).toThrow(RangeError);
    expect(() => binaryArray('int8', [Number.NaN])).toThrow(RangeError);
    expect(() => binaryArray('int4', [2 ** 31])).toThrow(RangeError);
    expect(() => binaryArray('int4', [0.5])).toThrow(RangeError);
    await expect(c.query('SELECT $1::bigint[] AS v', [binaryArray('float8', [1])])).rejects.toThrow(/element type/);
  });
});
