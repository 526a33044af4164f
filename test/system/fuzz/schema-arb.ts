// fast-check arbitraries derived from the JSON Schemas the API declares (the TypeBox schemas of shared/wire are
// plain JSON Schema), plus mutations of what they generate. "Valid" values keep every constraint the schema
// states, which today includes numbers with no upper bound: 1e308, 2^53+1 and 5e-324 are valid where a schema
// says only `minimum: 0`, and are drawn often on purpose. Mutations then break a value the ways a hostile
// client would: wrong types, unknown and missing fields, duplicate keys, NaN/Infinity as text, invalid UTF-8,
// deep nesting, huge strings.
import fc, { type Arbitrary } from 'fast-check';
import { BAD_BYTES_MARK, DupObject, isPlainObject, RawJson, RawNumber, type JsonIsh } from './json-ish.js';

/** A JSON Schema node as TypeBox writes it (the keys the API's schemas use). */
export interface SchemaNode {
  type?: string | string[];
  const?: unknown;
  anyOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  required?: string[];
  patternProperties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
}

/**
 * An arbitrary for the value at a path ('/samples/*\/tenant'), or undefined to derive it from the schema;
 * `derived` gives the schema's own arbitrary, to mix with.
 */
export type Overrides = (path: string, derived: () => Arbitrary<JsonIsh>) => Arbitrary<JsonIsh> | undefined;

const MiB = 1 << 20;
export const HUGE_STRING = 'x'.repeat(MiB);
/** 10,000 levels of arrays. */
export const DEEP_ARRAYS = new RawJson(`${'['.repeat(10_000)}${']'.repeat(10_000)}`);
/** 10,000 levels of objects. */
export const DEEP_OBJECTS = new RawJson(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`);

/** Numbers at the edges of doubles and of what stores and encoders keep; `-0` and 2^53+1 as text. */
export const NUMBER_EXTREMES: Array<number | RawNumber> = [
  0,
  new RawNumber('-0'),
  5e-324,
  1e-300,
  1e-7,
  0.1,
  0.5,
  1,
  100,
  1e6,
  2 ** 31,
  2 ** 32,
  2 ** 52,
  2 ** 53 - 1,
  2 ** 53,
  new RawNumber('9007199254740993'),
  2 ** 56,
  2 ** 63,
  1e20,
  1e300,
  1e308,
  Number.MAX_VALUE,
  new RawNumber('1E+2'),
  new RawNumber('100.0'),
  new RawNumber('1e-999'),
  -1,
  -1e308,
];

/** Numbers as text no JSON reader takes, or takes as something else. */
export const BAD_NUMBER_TEXTS = ['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '0x10', '01', '+1', '.5', '1.', '1e', '--1', '1_000'];

/** Values of every other type, for a node of any type. */
export const WRONG_VALUES: JsonIsh[] = [
  null,
  true,
  false,
  '',
  '1',
  '1e308',
  'NaN',
  [],
  [null],
  {},
  { a: 1 },
  -1,
  0,
  1e308,
  -1e308,
  new RawNumber('9007199254740993'),
  ...BAD_NUMBER_TEXTS.slice(0, 5).map((t) => new RawNumber(t)),
  '\u0000',
  'a\r\nX-Injected: 1',
  '\u001b[2J\u001b]0;title\u0007',
  BAD_BYTES_MARK,
];

/** Strings at the edges: empty, control characters, bidi overrides, emoji, a lone surrogate, invalid UTF-8. */
export const STRING_EXTREMES = ['', ' ', '\u0000', '\t\r\n', '\u001b[31mred\u001b[0m', '\u202eevil', '\ud800', '😀', 'ü', `a${BAD_BYTES_MARK}b`, '../../etc/passwd', '%ff', '${x}', '<script>', "'; DROP TABLE t; --"];

/** Keys an object should not have. */
export const UNKNOWN_KEYS = ['extra', '__proto__', 'constructor', 'prototype', '', 'x'.repeat(300), 'manual', 'host', 'id', 'admin', 'by'];

function inRange(v: number, s: SchemaNode): boolean {
  if (!Number.isFinite(v)) return false;
  if (s.minimum !== undefined && !(v >= s.minimum)) return false;
  if (s.maximum !== undefined && !(v <= s.maximum)) return false;
  if (s.exclusiveMinimum !== undefined && !(v > s.exclusiveMinimum)) return false;
  if (s.exclusiveMaximum !== undefined && !(v < s.exclusiveMaximum)) return false;
  return true;
}

function numberArb(s: SchemaNode, integer: boolean, tame = false): Arbitrary<JsonIsh> {
  const lo = Math.max(s.minimum ?? -1e6, s.exclusiveMinimum ?? -Infinity);
  const hi = Math.min(s.maximum ?? 1e6, s.exclusiveMaximum ?? Infinity, lo + 1e6);
  const ok = (v: number) => inRange(v, s) && (!integer || Number.isInteger(v));
  const extremes = NUMBER_EXTREMES.filter((x) => ok(x instanceof RawNumber ? x.value : x));
  // Typical: moderate values, in thousandths for numbers (fc.double favours 5e-324 and the like: those are the
  // extremes' part).
  const typical: Arbitrary<JsonIsh> = integer
    ? fc.integer({ min: Math.ceil(lo), max: Math.max(Math.ceil(lo), Math.floor(hi)) }).filter(ok)
    : fc.integer({ min: Math.ceil(lo * 1000), max: Math.max(Math.ceil(lo * 1000), Math.floor(hi * 1000)) }).map((n) => n / 1000).filter(ok);
  const intLo = BigInt(Math.ceil(Math.max(s.minimum ?? -(2 ** 70), (s.exclusiveMinimum ?? -(2 ** 70)) + 1)));
  const intHi = BigInt(Math.floor(Math.min(s.maximum ?? 2 ** 70, (s.exclusiveMaximum ?? 2 ** 70) - 1)));
  const wide: Arbitrary<JsonIsh> = integer
    ? fc.bigInt({ min: intLo, max: intHi }).map((b) => Number(b)).filter(ok)
    : fc.double({ min: s.minimum ?? s.exclusiveMinimum ?? -Number.MAX_VALUE, max: s.maximum ?? s.exclusiveMaximum ?? Number.MAX_VALUE, noNaN: true, noDefaultInfinity: true }).filter(ok);
  if (tame) return typical;
  const arbs: Array<fc.WeightedArbitrary<JsonIsh>> = [
    { weight: 6, arbitrary: typical },
    { weight: 1, arbitrary: wide },
  ];
  if (extremes.length) arbs.push({ weight: 2, arbitrary: fc.constantFrom(...extremes) });
  return fc.oneof(...arbs);
}

/** An ISO-8601 UTC timestamp: mostly within the last two days, sometimes at the edges of what parses. */
export function timestampArb(now: number): Arbitrary<JsonIsh> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: now - 48 * 3_600_000, max: now + 60_000 }).map((t) => new Date(t).toISOString()) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '1970-01-01T00:00:00Z',
        '0001-01-01T00:00:00Z',
        '9999-12-31T23:59:59.999Z',
        '+275760-09-13T00:00:00.000Z',
        '2026-02-30T00:00:00Z',
        '2026-06-30T23:59:60Z',
        new Date(now).toISOString().replace('Z', '+14:00'),
        new Date(now).toISOString().replace('T', 't').replace('Z', 'z'),
        new Date(now).toISOString().replace('Z', '123456789Z'),
      ),
    },
  );
}

const EMAILS = ['a@b.co', 'alice@example.com', `${'a'.repeat(64)}@example.com`, `a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`.slice(0, 254), 'x+tag@sub.example.org', "o'brien@example.ie"];

function stringArb(s: SchemaNode, now: number): Arbitrary<JsonIsh> {
  if (s.format === 'date-time') return timestampArb(now);
  if (s.pattern !== undefined) {
    const re = new RegExp(s.pattern);
    if (s.pattern.includes('(?=')) return fc.oneof(fc.constantFrom(...EMAILS), fc.emailAddress().filter((e) => re.test(e)));
    return fc.stringMatching(re).filter((x) => x.length <= (s.maxLength ?? Infinity));
  }
  const min = s.minLength ?? 0;
  const max = s.maxLength ?? 4096;
  const fits = (x: string) => x.length >= min && x.length <= max;
  return fc.oneof(
    { weight: 6, arbitrary: fc.string({ minLength: min, maxLength: Math.max(min, Math.min(max, 24)) }) },
    { weight: 1, arbitrary: fc.string({ minLength: min, maxLength: Math.max(min, Math.min(max, 24)), unit: 'binary' }) },
    { weight: 2, arbitrary: fc.constantFrom(...STRING_EXTREMES.filter(fits), 'x'.repeat(Math.max(min, Math.min(max, 5000)))) },
  );
}

/**
 * The arbitrary of values valid against `s` (as far as the schema's own keywords go), with `overrides` taking
 * the place of what a path must hold for the request to get further (a host's own name, a known tenant).
 * `tame`: numbers only from the typical range (so a value reaches the code behind the checks).
 */
export function schemaArb(s: SchemaNode, opts: { now: number; overrides?: Overrides; maxArray?: number; tame?: boolean }, path = ''): Arbitrary<JsonIsh> {
  const o = opts.overrides?.(path, () => schemaArb(s, { ...opts, overrides: undefined }, path));
  if (o) return o;
  if (s.const !== undefined) return fc.constant(s.const as JsonIsh);
  if (s.anyOf) return fc.oneof(...s.anyOf.map((b) => schemaArb(b, opts, path)));
  const types = Array.isArray(s.type) ? s.type : [s.type];
  if (types.length > 1) return fc.oneof(...types.map((t) => schemaArb({ ...s, type: t }, opts, path)));
  switch (types[0]) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return numberArb(s, true, opts.tame);
    case 'number':
      return numberArb(s, false, opts.tame);
    case 'string':
      return stringArb(s, opts.now);
    case 'array': {
      const min = s.minItems ?? 0;
      const max = Math.max(min, Math.min(s.maxItems ?? 3, opts.maxArray ?? 3));
      return fc.array(schemaArb(s.items ?? {}, opts, `${path}/*`), { minLength: min, maxLength: max });
    }
    case 'object': {
      if (s.patternProperties) {
        const [, value] = Object.entries(s.patternProperties)[0]!;
        return fc.dictionary(fc.string({ maxLength: 12 }), schemaArb(value, opts, `${path}/*`), { maxKeys: 3 }) as Arbitrary<JsonIsh>;
      }
      const model: Record<string, Arbitrary<JsonIsh>> = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) model[k] = schemaArb(v, opts, `${path}/${k}`);
      return fc.record(model, { requiredKeys: (s.required ?? []).filter((k) => k in model) }) as Arbitrary<JsonIsh>;
    }
    default:
      return fc.constantFrom<JsonIsh>(null, 1, 'x', [], {});
  }
}

// --- mutations ------------------------------------------------------------------------------------------
export type MutationKind = 'wrongType' | 'unknownField' | 'dropField' | 'dupKey' | 'badUtf8' | 'badNumberText' | 'deep' | 'huge';
export interface Mutation {
  kind: MutationKind;
  /** Which node (modulo the number of candidate nodes). */
  pick: number;
  /** Which replacement (modulo the list it picks from). */
  choice: number;
}

export const mutationArb: Arbitrary<Mutation> = fc.record({
  kind: fc.oneof(
    { weight: 6, arbitrary: fc.constant<MutationKind>('wrongType') },
    { weight: 3, arbitrary: fc.constant<MutationKind>('unknownField') },
    { weight: 2, arbitrary: fc.constant<MutationKind>('dropField') },
    { weight: 2, arbitrary: fc.constant<MutationKind>('dupKey') },
    { weight: 2, arbitrary: fc.constant<MutationKind>('badUtf8') },
    { weight: 3, arbitrary: fc.constant<MutationKind>('badNumberText') },
    { weight: 1, arbitrary: fc.constant<MutationKind>('deep') },
    { weight: 1, arbitrary: fc.constant<MutationKind>('huge') },
  ),
  pick: fc.nat(),
  choice: fc.nat(),
});

interface Slot {
  get: () => JsonIsh;
  set: (v: JsonIsh) => void;
}

/** Every node below the root with a way to replace it. */
function slots(root: JsonIsh, out: Slot[] = []): Slot[] {
  if (Array.isArray(root)) {
    root.forEach((v, i) => {
      out.push({ get: () => root[i]!, set: (x) => (root[i] = x) });
      slots(v, out);
    });
  } else if (isPlainObject(root)) {
    for (const k of Object.keys(root)) {
      out.push({ get: () => root[k]!, set: (x) => Object.defineProperty(root, k, { value: x, enumerable: true, writable: true, configurable: true }) });
      slots(root[k]!, out);
    }
  }
  return out;
}

function objects(root: JsonIsh, out: Array<{ [key: string]: JsonIsh }> = []): Array<{ [key: string]: JsonIsh }> {
  if (Array.isArray(root)) root.forEach((v) => objects(v, out));
  else if (isPlainObject(root)) {
    out.push(root);
    Object.values(root).forEach((v) => objects(v, out));
  }
  return out;
}

const at = <T>(list: readonly T[], i: number): T => list[i % list.length]!;

/**
 * Apply mutations to a copy of `value`; the result says what was done (for the findings). Every value put in is a
 * copy: a shared WRONG_VALUES object, once placed, could be given itself as a field by a later mutation (a cycle
 * that overflowed the stack of toText) and would carry one request's mutations into the next.
 */
export function mutate(value: JsonIsh, mutations: Mutation[]): { value: JsonIsh; applied: string[] } {
  const root: { v: JsonIsh } = { v: structuredCloneJson(value) };
  const applied: string[] = [];
  for (const m of mutations) {
    const all = [{ get: () => root.v, set: (x: JsonIsh) => (root.v = x) }, ...slots(root.v)];
    const objs = objects(root.v);
    switch (m.kind) {
      case 'wrongType':
        at(all, m.pick).set(structuredCloneJson(at(WRONG_VALUES, m.choice)));
        break;
      case 'unknownField':
        if (objs.length) Object.defineProperty(at(objs, m.pick), at(UNKNOWN_KEYS, m.choice), { value: structuredCloneJson(at(WRONG_VALUES, m.pick)), enumerable: true, writable: true, configurable: true });
        break;
      case 'dropField': {
        const o = objs.length ? at(objs, m.pick) : undefined;
        const keys = o ? Object.keys(o) : [];
        if (o && keys.length) delete o[at(keys, m.choice)];
        break;
      }
      case 'dupKey': {
        const o = objs.length ? at(objs, m.pick) : undefined;
        const keys = o ? Object.keys(o) : [];
        if (o && keys.length) {
          const k = at(keys, m.choice);
          const dup = new DupObject([...Object.entries(o), [k, structuredCloneJson(at(WRONG_VALUES, m.choice))]]);
          const slot = all.find((s) => s.get() === o);
          slot?.set(dup);
        }
        break;
      }
      case 'badUtf8': {
        const strings = all.filter((s) => typeof s.get() === 'string');
        if (strings.length) {
          const s = at(strings, m.pick);
          s.set(`${s.get() as string}${BAD_BYTES_MARK}`);
        }
        break;
      }
      case 'badNumberText': {
        const numbers = all.filter((s) => typeof s.get() === 'number' || s.get() instanceof RawNumber);
        if (numbers.length) at(numbers, m.pick).set(new RawNumber(at(BAD_NUMBER_TEXTS, m.choice)));
        break;
      }
      case 'deep':
        at(all, m.pick).set(m.choice % 2 ? DEEP_ARRAYS : DEEP_OBJECTS);
        break;
      case 'huge':
        at(all, m.pick).set(HUGE_STRING);
        break;
    }
    applied.push(m.kind);
  }
  return { value: root.v, applied };
}

function structuredCloneJson(v: JsonIsh): JsonIsh {
  if (v instanceof RawNumber || v instanceof RawJson || v === null || typeof v !== 'object') return v;
  if (v instanceof DupObject) return new DupObject(v.entries.map(([k, x]) => [k, structuredCloneJson(x)]));
  if (Array.isArray(v)) return v.map(structuredCloneJson);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, structuredCloneJson(x)]));
}
