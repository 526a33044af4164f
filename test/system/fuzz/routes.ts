// The routes under fuzz, read from the controller's own /openapi.json, and the arbitraries of their URLs: path
// parameters from the pools of names the run knows (so requests reach existing tenants, plans, actions and
// incidents) or from the parameter's schema, mixed with hand-picked extremes (invalid UTF-8, overlong
// sequences, control characters, 10,000-character segments); query strings from the declared parameters with
// wrong types, unknown and duplicate keys and values such as `99999999999999999999d`.
import fc, { type Arbitrary } from 'fast-check';
import { HOST_A, HOST_B } from './fuzz-controller.js';
import { RawNumber, type JsonIsh } from './json-ish.js';
import { schemaArb, type SchemaNode } from './schema-arb.js';

export interface Operation {
  method: string;
  /** OpenAPI path template, e.g. `/v1/tenants/{tenant}/usage`. */
  path: string;
  /** `METHOD /path` */
  route: string;
  params: Array<{ in: string; name: string; schema: SchemaNode }>;
  hasBody: boolean;
}

/** Every operation of an OpenAPI document. */
export function operations(doc: { paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string; schema?: SchemaNode }>; requestBody?: unknown }>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(methods)) {
      const method = m.toUpperCase();
      if (!['GET', 'PUT', 'POST', 'DELETE', 'PATCH'].includes(method)) continue;
      ops.push({ method, path, route: `${method} ${path}`, params: (op.parameters ?? []).map((p) => ({ in: p.in, name: p.name, schema: p.schema ?? {} })), hasBody: op.requestBody !== undefined });
    }
  }
  return ops;
}

/** Names and ids the run has seen, so generated requests reach real rows. */
export interface Pools {
  tenants: Record<string, Set<string>>;
  plans: Set<string>;
  actions: Set<string>;
  incidents: Set<number>;
  notices: Set<number>;
  /** Tokens of tenant links the admin made (GET /t/{token}...): the tenant pages' handlers are reached too. */
  links: Set<string>;
}

export function emptyPools(): Pools {
  return { tenants: { [HOST_A]: new Set(), [HOST_B]: new Set() }, plans: new Set(), actions: new Set(), incidents: new Set(), notices: new Set(), links: new Set() };
}

/** A pick from a pool (bounded, newest last), or `fallback` when the pool is empty. */
export function fromPool<T>(pool: Iterable<T>, fallback: T): Arbitrary<T> {
  const list = [...pool].slice(-200);
  return list.length ? fc.constantFrom(...list) : fc.constant(fallback);
}

/** `arb` one time in `oneIn`, else undefined. */
export function rarely<T>(arb: Arbitrary<T>, oneIn: number): Arbitrary<T | undefined> {
  return fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

/** The placeholder for a fresh, unique name (filled in just before the request is sent). */
export const FRESH = '@RB@';

/** Path segments as sent (already percent-encoded where it says so; some raw bytes on purpose). */
export const PATH_EXTREMES = [
  '%ff',
  '%c0%af',
  '%e0%80%af',
  '%ed%a0%80',
  '%f4%90%80%80',
  '%00',
  '%01',
  '%1b%5b2J',
  '%0d%0a',
  '%7f',
  '%c2%85',
  '%e2%80%ae',
  '..',
  '.',
  '%2e%2e',
  '%2f',
  'a%2fb',
  '%25',
  '%',
  '%zz',
  '%c3%bc',
  '%f0%9f%98%80',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(254),
  'x'.repeat(10_000),
  '-',
  '_',
  'a..b',
  'a;b',
  'a?b=1',
  'a#b',
  // raw bytes in the request line: what no browser sends but a socket can
  '\x01',
  '\x7f',
  '\xff',
  'a\tb',
];

/** Query values as sent. */
export const QUERY_EXTREMES = [
  '99999999999999999999d',
  `${'9'.repeat(400)}d`,
  '1e308',
  '1e308d',
  '-1',
  '-1h',
  '0',
  '0s',
  '1ms',
  'NaN',
  'Infinity',
  '',
  '%ff',
  '%c0%af',
  '%00',
  '%0d%0a',
  'x'.repeat(10_000),
  'now',
  '-24h',
  '24h',
  '9007199254740993',
  '1.5',
  '0x10',
  '+275760-09-13T00:00:00.000Z',
  '-271821-04-20T00:00:00.000Z',
  '0000-00-00',
  '9999-12-31T23:59:59Z',
  '1970-01-01T00:00:00Z',
  'P1D',
  'true',
  'null',
  '[]',
  'cpu,cpu,cpu',
  ',,,',
  '%2C',
];

/** Percent-encoding of a string's UTF-8 (lone surrogates as U+FFFD, as encodeURIComponent cannot). */
const pct = (v: string): string => [...Buffer.from(v, 'utf8')].map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');

const enc = (v: JsonIsh): string => {
  if (v instanceof RawNumber) return v.text;
  if (typeof v === 'string') return pct(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return pct(JSON.stringify(v) ?? '');
};

/** A path parameter's value, as sent in the URL. */
function pathParamArb(op: Operation, name: string, schema: SchemaNode, pools: Pools, now: number, clean: boolean): Arbitrary<string> {
  const extremes = fc.constantFrom(...PATH_EXTREMES);
  const derived = schemaArb(schema, { now }).map(enc);
  const known = ((): Arbitrary<string> => {
    switch (name) {
      case 'tenant':
        return fromPool([...pools.tenants[HOST_A]!, ...pools.tenants[HOST_B]!], 'alice');
      case 'host':
        return fc.constantFrom(HOST_A, HOST_B);
      case 'plan':
        return fc.oneof(fromPool(pools.plans, 'basic'), fc.constant(FRESH));
      case 'token':
        return op.path.startsWith('/t/') ? fromPool(pools.links, 'abc') : derived;
      case 'id':
        if (op.path.startsWith('/v1/actions')) return fromPool(pools.actions, 'a1');
        if (op.path.startsWith('/v1/incidents')) return fromPool([...pools.incidents].map(String), '1');
        if (op.path.startsWith('/v1/notices')) return fromPool([...pools.notices].map(String), '1');
        return derived;
      default:
        return derived;
    }
  })();
  if (clean) return known;
  const numeric = fc.constantFrom('0', '-1', '1.5', '1e3', '9007199254740993', '99999999999999999999', '1e308', '0x1', '%201', '01');
  return fc.oneof({ weight: 12, arbitrary: known }, { weight: 3, arbitrary: derived }, { weight: 4, arbitrary: extremes }, { weight: name === 'id' ? 2 : 0, arbitrary: numeric });
}

/** Values a query parameter takes in a well-formed request (the schemas say only "string" for times). */
function usualQueryValue(name: string, schema: SchemaNode, pools: Pools, now: number): Arbitrary<string> {
  switch (name) {
    case 'tenant':
      return fromPool([...pools.tenants[HOST_A]!, ...pools.tenants[HOST_B]!], 'alice');
    case 'host':
      return fc.constantFrom(HOST_A, HOST_B);
    case 'from':
    case 'to':
      return fc.oneof(fc.constantFrom('now', '5m', '1h', '24h', '7d', '90d'), fc.integer({ min: 0, max: 30 * 86_400 }).map((s) => new Date(now - s * 1000).toISOString()));
    case 'step':
      return fc.constantFrom('5s', '30s', '1m', '5m', '1h', '1d');
    case 'window':
      return fc.constantFrom('1m', '15m', '1h', '24h', '7d');
    case 'resources':
      return fc.constantFrom('cpu', 'memory', 'io', 'cpu,memory', 'pressure', 'cpu_percent', 'fairness');
    default:
      return schemaArb(schema, { now, tame: true }).map(enc);
  }
}

/** The query string of an operation ('' or '?...'). */
function queryArb(op: Operation, pools: Pools, now: number, clean: boolean): Arbitrary<string> {
  const declared = op.params.filter((p) => p.in === 'query');
  const pair = (name: string, schema: SchemaNode): Arbitrary<string> => {
    const known = usualQueryValue(name, schema, pools, now);
    if (clean) return known.map((v) => `${name}=${v}`);
    return fc.oneof({ weight: 6, arbitrary: known }, { weight: 3, arbitrary: schemaArb(schema, { now }).map(enc) }, { weight: 3, arbitrary: fc.constantFrom(...QUERY_EXTREMES) }).map((v) => `${name}=${v}`);
  };
  const parts = declared.map((p) => fc.option(pair(p.name, p.schema), { freq: 2, nil: undefined }));
  const odd = fc.constantFrom(
    '',
    'x=1',
    'limit=1&limit=2',
    'from=1h&from=2h',
    'limit[]=1',
    'limit',
    '=',
    '&&&',
    'a=%ff',
    '%ff=1',
    'a=1#frag',
    Array.from({ length: 1000 }, (_, i) => `k${i}=${i}`).join('&'),
    `x=${'y'.repeat(20_000)}`,
  );
  return fc.tuple(fc.tuple(...parts), clean ? fc.constant(undefined) : rarely(odd, 8)).map(([ps, extra]) => {
    const all = [...ps.filter((p): p is string => p !== undefined), ...(extra !== undefined ? [extra] : [])];
    return all.length ? `?${all.join('&')}` : '';
  });
}

/**
 * The request-target of an operation: its path with parameters filled in, and a query string. `clean`: known
 * names and well-formed values only, so the request reaches the handler.
 */
export function targetArb(op: Operation, pools: Pools, now: number, clean = false): Arbitrary<string> {
  const names = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const values = names.map((n) => pathParamArb(op, n, op.params.find((p) => p.in === 'path' && p.name === n)?.schema ?? {}, pools, now, clean));
  return fc.tuple(fc.tuple(...values), queryArb(op, pools, now, clean)).map(([vals, q]) => {
    let i = 0;
    return `${op.path.replace(/\{\w+\}/g, () => vals[i++]!)}${q}`;
  });
}

/** Requests to no route: unknown paths and methods, odd forms of known paths. */
export const otherTargetArb: Arbitrary<{ method: string; target: string }> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'FOO'),
  target: fc.constantFrom(
    '/',
    '/v1',
    '/v1/',
    '/v1/tenants/a/b/c',
    '//v1//tenants',
    '/v1/tenants/../hosts',
    '/v1/./hosts',
    '/V1/TENANTS',
    '/v1/hosts/',
    '/v1/plans/basic',
    '/v1/hosts/hosta/policy/',
    '/v1/reports',
    '/healthz?x=1',
    '/openapi.json?x=1',
    '/metrics',
    '/%',
    '/%ff',
    '/v1/%ff/usage',
    `/${'x'.repeat(20_000)}`,
    '*',
    'http://127.0.0.1/v1/hosts',
    '/ui/',
    '/t/abc',
    '/v1/quarantined-files',
    '/v1/usage/api',
  ),
});
