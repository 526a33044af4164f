// The requests of the fuzz run, as fast-check arbitraries: for every operation of /openapi.json a target,
// a token (host A's, host B's, the admin's, none, a wrong one, a malformed header) and, where the operation
// takes one, a body: valid against the wire schema (extreme numbers included), mutated, or text no parser
// should take, sent as JSON or under another content type. Some requests carry a read-back: a valid value that
// was accepted must read back as sent.
import fc, { type Arbitrary } from 'fast-check';
import { ReportSchema } from '../../../shared/wire/agent.js';
import { ActionRequestSchema, PlanPutSchema, RemediationAckSchema, RemediationNoteSchema, RemediationOpenSchema, TenantPutSchema } from '../../../shared/wire/api.js';
import { EmptyBodySchema } from '../../../shared/wire/files.js';
import { LoginSchema } from '../../../shared/wire/ui.js';
import { ApiUsagePushSchema } from '../../../shared/wire/web.js';
import { EXPLANATION } from '../../unit/ctl/fixtures.js';
import { HOST_A, HOST_B, type Who } from './fuzz-controller.js';
import { INVALID_UTF8, isPlainObject, RawNumber, toText, type JsonIsh } from './json-ish.js';
import { fromPool, FRESH, otherTargetArb, rarely, targetArb, type Operation, type Pools } from './routes.js';
import { DEEP_ARRAYS, DEEP_OBJECTS, mutate, mutationArb, schemaArb, type Overrides, type SchemaNode } from './schema-arb.js';

export type ReadBackKind = 'plan' | 'tenant' | 'action' | 'report';

export interface BodySpec {
  /** The value meant (FRESH placeholders not yet filled in). */
  value: JsonIsh;
  /** Text sent instead of the value's (text-level bodies). */
  text?: string;
  /** Which invalid UTF-8 sequence stands for the marks in strings. */
  bad: number;
  contentType: string | null;
}

export interface FuzzRequest {
  /** The operation (`METHOD /path` of /openapi.json), or `other` for no route. */
  route: string;
  method: string;
  target: string;
  who: Who;
  /** An Authorization header sent as it is instead of the one `who` implies. */
  auth?: string;
  headers: Array<[string, string]>;
  body?: BodySpec;
  readBack?: ReadBackKind;
  /** What is odd about it (for the findings): `mutated:wrongType`, `text:deep`, `ct:text/plain`, ... */
  notes: string[];
}

/** The body schema of each operation that takes one (a new one must be added here: the coverage test says so). */
export const BODY_SCHEMAS: Record<string, SchemaNode> = {
  'POST /v1/reports': ReportSchema as unknown as SchemaNode,
  'PUT /v1/tenants/{tenant}': TenantPutSchema as unknown as SchemaNode,
  'POST /v1/tenants/{tenant}/actions': ActionRequestSchema as unknown as SchemaNode,
  'PUT /v1/plans/{plan}': PlanPutSchema as unknown as SchemaNode,
  'POST /v1/remediation-cases': RemediationOpenSchema as unknown as SchemaNode,
  'POST /v1/remediation-cases/{id}/acknowledge': RemediationAckSchema as unknown as SchemaNode,
  'POST /v1/remediation-cases/{id}/resolve': RemediationNoteSchema as unknown as SchemaNode,
  // The tenant's confirm form: no fields (the body is ignored whatever it is).
  'POST /remediation/{token}': { type: 'object', properties: {}, additionalProperties: false } as SchemaNode,
  'POST /v1/quarantined-files/{id}/restore': EmptyBodySchema as unknown as SchemaNode,
  'POST /v1/tenants/{tenant}/scan': EmptyBodySchema as unknown as SchemaNode,
  'POST /v1/usage/api': ApiUsagePushSchema as unknown as SchemaNode,
  'POST /v1/tenants/{tenant}/links': EmptyBodySchema as unknown as SchemaNode,
  'POST /ui/api/login': LoginSchema as unknown as SchemaNode,
  'POST /ui/api/logout': EmptyBodySchema as unknown as SchemaNode,
  'POST /t/{token}/api/remediation/{id}/ack': EmptyBodySchema as unknown as SchemaNode,
};

export const AGENT_ROUTES = new Set(['POST /v1/reports', 'GET /v1/hosts/{host}/policy']);
/** Public pages for people: a refusal asked for with `Accept: text/html` is a small HTML page saying why. */
export const HTML_ROUTES = new Set(['GET /remediation/{token}', 'POST /remediation/{token}', 'GET /ui/', 'GET /ui/assets/{file}', 'GET /t/{token}', 'GET /t/assets/{file}']);
export const PUBLIC_ROUTES = new Set([
  'GET /healthz',
  'GET /openapi.json',
  ...HTML_ROUTES,
  'POST /ui/api/login',
  'GET /ui/api/session',
  'POST /ui/api/logout',
  'GET /t/{token}/api/summary',
  'GET /t/{token}/api/usage',
  'GET /t/{token}/api/incidents',
  'GET /t/{token}/api/remediation',
  'POST /t/{token}/api/remediation/{id}/ack',
]);

const CONTENT_TYPES = [
  null,
  'text/plain',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json, text/plain',
  'application/jsonp',
  'application/merge-patch+json',
  '',
  `application/json; charset=utf-8; x=${'y'.repeat(1000)}`,
];

/** Whole bodies no JSON reader should take, or should take as something else. */
const TEXT_BODIES = ['', ' ', 'null', 'true', '0', '[]', '"x"', '{', '{"a":', '{}', '[{}]', DEEP_ARRAYS.text, DEEP_OBJECTS.text, '\uFEFF{}', '{"a":1}{"b":2}', '{"a":1} x', '\u0000', '{"a":NaN}', '{"a":Infinity}', '{"a":1e999}', "{'a':1}", '{"a":1,}', '{a:1}'];

function whoArb(route: string): Arbitrary<{ who: Who; auth?: string }> {
  const agent = AGENT_ROUTES.has(route);
  const pub = PUBLIC_ROUTES.has(route);
  const w = (who: Who, weight: number) => ({ weight, arbitrary: fc.constant({ who }) });
  const malformed = fc.constantFrom('Basic YWRtaW46YWRtaW4=', 'Bearer', 'Bearer ', `Bearer ${'x'.repeat(10_000)}`, 'bearer@', 'Token abc', 'Bearer a b', '\u00ff\u00fe').map((auth) => ({ who: 'none' as Who, auth }));
  if (pub) return fc.oneof(w('none', 6), w('admin', 1), w('hostA', 1), w('wrong', 1));
  if (agent) return fc.oneof(w('hostA', 8), w('hostB', 6), w('admin', 2), w('none', 1), w('wrong', 1), { weight: 1, arbitrary: malformed });
  return fc.oneof(w('admin', 16), w('hostA', 1), w('hostB', 1), w('none', 1), w('wrong', 1), { weight: 1, arbitrary: malformed });
}

/** A tenant name for a report of `host`: mostly its own tenants, some of the other host's, some new. */
function tenantOf(host: string, pools: Pools, derived: () => Arbitrary<JsonIsh>): Arbitrary<JsonIsh> {
  const other = host === HOST_A ? HOST_B : HOST_A;
  return fc.oneof({ weight: 8, arbitrary: fromPool(pools.tenants[host]!, 'alice') }, { weight: 1, arbitrary: fromPool(pools.tenants[other]!, 'bob') }, { weight: 2, arbitrary: derived() });
}

function reportOverrides(host: string, pools: Pools, now: number, fresh: boolean): Overrides {
  const near = (spanMs: number) => fc.integer({ min: now - spanMs, max: now }).map((t) => new Date(t).toISOString());
  return (path, derived) => {
    switch (path) {
      case '/version':
        return fc.constant(1);
      case '/host':
        return fc.constant(host);
      case '/seq':
        return fc.oneof({ weight: 30, arbitrary: fc.integer({ min: 1, max: 2 ** 40 }) }, { weight: 1, arbitrary: fc.constantFrom<JsonIsh>(1, 2 ** 31, 2 ** 53 - 1, new RawNumber('9007199254740993'), 1e308) });
      case '/at':
        return fresh ? near(30 * 60_000) : fc.oneof({ weight: 6, arbitrary: near(3 * 3_600_000) }, { weight: 1, arbitrary: derived() });
      case '/sent_at':
        return fc.constant(new Date(now).toISOString());
      case '/interval':
        return fresh ? fc.constantFrom(5, 10, 60) : fc.oneof({ weight: 6, arbitrary: fc.constantFrom(5, 10, 60) }, { weight: 1, arbitrary: derived() });
      case '/host_stats/cores':
        return fc.oneof({ weight: 6, arbitrary: fc.constantFrom(2, 4, 64) }, { weight: fresh ? 0 : 1, arbitrary: derived() });
      case '/host_stats/memory_bytes':
        return fc.oneof({ weight: 6, arbitrary: fc.constant(16 * 1024 ** 3) }, { weight: fresh ? 0 : 1, arbitrary: derived() });
      case '/samples':
        return fresh ? fc.array(schemaArb((ReportSchema as unknown as SchemaNode).properties!.samples!.items!, { now, overrides: reportOverrides(host, pools, now, true) }, '/samples/*'), { minLength: 1, maxLength: 1 }) : undefined;
      case '/samples/*/tenant':
        return fresh ? fc.constant(FRESH) : tenantOf(host, pools, derived);
      case '/tenants/*/name':
      case '/events/*/tenant':
        return tenantOf(host, pools, derived);
      case '/events':
      case '/acks':
      case '/tenants':
      case '/collectors':
        return fresh ? fc.constant([]) : undefined;
      case '/acks/*/action_id':
        return fc.oneof(fromPool(pools.actions, 'a1'), derived());
      case '/events/*/at':
        return near(3 * 3_600_000);
      case '/events/*/explanation':
        return fc.oneof({ weight: 3, arbitrary: fc.constant(EXPLANATION as unknown as JsonIsh) }, { weight: 1, arbitrary: derived() });
      default:
        return undefined;
    }
  };
}

function tenantPutOverrides(pools: Pools, fresh: boolean): Overrides {
  return (path, derived) => {
    switch (path) {
      case '/name':
        return fresh ? fc.constant(FRESH) : undefined;
      case '/host':
        return fc.oneof({ weight: 6, arbitrary: fc.constantFrom(HOST_A, HOST_B) }, { weight: 1, arbitrary: derived() });
      case '/plan':
        return fc.oneof({ weight: 6, arbitrary: fromPool(pools.plans, 'basic') }, { weight: 1, arbitrary: derived() });
      default:
        return undefined;
    }
  };
}

/** The valid value of a body (with the overrides that let it get past who-may-do-what). */
function validBody(route: string, host: string, pools: Pools, now: number, fresh: boolean): Arbitrary<JsonIsh> {
  const schema = BODY_SCHEMAS[route] ?? {};
  // Half the reports keep their numbers in the typical range, so that they reach incidents, notices and
  // rollups instead of stopping at the first extreme value.
  if (route === 'POST /v1/reports') return fc.oneof(...[false, true].map((tame) => schemaArb(schema, { now, tame: tame && !fresh, overrides: reportOverrides(host, pools, now, fresh) })));
  if (route === 'PUT /v1/tenants/{tenant}') return schemaArb(schema, { now, overrides: tenantPutOverrides(pools, fresh) });
  if (route === 'POST /v1/tenants/{tenant}/actions') return schemaArb(schema, { now, overrides: (path, derived) => (path === '/ttl' ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom<JsonIsh>('30s', '5m', '1h', '2d', 60, 3600.5) }, { weight: 1, arbitrary: derived() }) : undefined) });
  if (route === 'POST /v1/remediation-cases') {
    // Half reach a case: a tenant the run knows and a deadline ahead; the rest as the schema derives them.
    const tenants = fromPool([...pools.tenants[HOST_A]!, ...pools.tenants[HOST_B]!], 'alice');
    const deadlines = fc.constantFrom<JsonIsh>('30s', '3d', '2099-01-01T00:00:00Z', '0s', 'now', '99999999999999999999d');
    return schemaArb(schema, { now, overrides: (path, derived) => (path === '/tenant' ? fc.oneof(tenants, derived()) : path === '/deadline' ? fc.oneof(deadlines, derived()) : undefined) });
  }
  return schemaArb(schema, { now });
}

function bodyArb(op: Operation, host: string, pools: Pools, now: number): Arbitrary<{ body: BodySpec; notes: string[] }> {
  const valid = validBody(op.route, host, pools, now, false);
  const ct = fc.oneof({ weight: 12, arbitrary: fc.constant<string | null>('application/json') }, { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) });
  const bad = fc.nat({ max: INVALID_UTF8.length - 1 });
  const plainBody = fc.record({ value: valid, contentType: ct, bad }).map(({ value, contentType, bad: b }) => ({ body: { value, contentType, bad: b }, notes: contentType === 'application/json' ? ['valid'] : ['valid', `ct:${contentType}`] }));
  const mutated = fc.record({ value: valid, ms: fc.array(mutationArb, { minLength: 1, maxLength: 3 }), bad }).map(({ value, ms, bad: b }) => {
    const m = mutate(value, ms);
    return { body: { value: m.value, contentType: 'application/json', bad: b }, notes: m.applied.map((k) => `mutated:${k}`) };
  });
  const text = fc.oneof(
    fc.constantFrom(...TEXT_BODIES).map((t) => ({ t, note: 'text' })),
    fc.tuple(valid, fc.nat()).map(([v, n]) => {
      const t = toText(v);
      return { t: t.slice(0, n % Math.max(1, t.length)), note: 'text:truncated' };
    }),
    fc.tuple(valid, fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e999', '-0', '1e308')).map(([v, num]) => ({ t: toText(v).replace(/(?<=:)-?\d+(\.\d+)?([eE][+-]?\d+)?/, num), note: `text:number:${num}` })),
  );
  const textBody = fc.record({ x: text, contentType: ct, bad }).map(({ x, contentType, bad: b }) => ({ body: { value: null, text: x.t, contentType, bad: b }, notes: [x.note] }));
  return fc.oneof({ weight: 9, arbitrary: plainBody }, { weight: 7, arbitrary: mutated }, { weight: 4, arbitrary: textBody });
}

/**
 * One request to `op`: two in five well-formed (the right token, known names, well-formed query values, a
 * valid body: they reach the handlers and the store), the rest hostile anywhere.
 */
export function opRequestArb(op: Operation, pools: Pools, now: number): Arbitrary<FuzzRequest> {
  return fc.oneof({ weight: 2, arbitrary: cleanRequestArb(op, pools, now) }, { weight: 3, arbitrary: hostileRequestArb(op, pools, now) });
}

function cleanRequestArb(op: Operation, pools: Pools, now: number): Arbitrary<FuzzRequest> {
  const who: Arbitrary<Who> = PUBLIC_ROUTES.has(op.route) ? fc.constant('none') : AGENT_ROUTES.has(op.route) ? fc.constantFrom('hostA', 'hostB') : fc.constant('admin');
  return who.chain((w) => {
    const body = op.hasBody ? validBody(op.route, w === 'hostB' ? HOST_B : HOST_A, pools, now, false).map((value): BodySpec => ({ value, contentType: 'application/json', bad: 0 })) : fc.constant(undefined);
    return fc.record({ target: targetArb(op, pools, now, true), body }).map(({ target, body: b }): FuzzRequest => {
      // A tenant's name in the body is the one in the path (or absent).
      if (b && op.route === 'PUT /v1/tenants/{tenant}' && isPlainObject(b.value) && b.value.name !== undefined) b.value.name = target.split('/')[3]!;
      // Only a throttle has a level; only a throttle or a quarantine lasts for a time.
      if (b && op.route === 'POST /v1/tenants/{tenant}/actions' && isPlainObject(b.value)) {
        if (b.value.action !== 'throttle') delete b.value.level;
        if (b.value.action !== 'throttle' && b.value.action !== 'quarantine') delete b.value.ttl;
      }
      return { route: op.route, method: op.method, target, who: w, headers: [], ...(b ? { body: b } : {}), notes: ['clean'] };
    });
  });
}

function hostileRequestArb(op: Operation, pools: Pools, now: number): Arbitrary<FuzzRequest> {
  const strayBody = rarely(fc.constantFrom<BodySpec>({ value: {}, contentType: 'application/json', bad: 0 }, { value: null, text: 'x', contentType: 'text/plain', bad: 0 }), 20);
  return whoArb(op.route).chain(({ who, auth }) => {
    const host = who === 'hostB' ? HOST_B : HOST_A;
    const body: Arbitrary<{ body?: BodySpec; notes: string[] }> = op.hasBody ? bodyArb(op, host, pools, now) : strayBody.map((b) => (b ? { body: b, notes: ['body-on-' + op.method] } : { notes: [] }));
    const extraHeaders = rarely(fc.constantFrom<Array<[string, string]>>([['if-none-match', '*']], [['if-none-match', `"${'x'.repeat(2000)}"`]], [['accept', 'text/html']], [['x-forwarded-for', '1.2.3.4']], [['content-encoding', 'gzip']], [['expect', '100-continue']]), 12);
    return fc.record({ target: targetArb(op, pools, now), b: body, extra: extraHeaders }).map(({ target, b, extra }) => ({
      route: op.route,
      method: op.method,
      target,
      who,
      ...(auth !== undefined ? { auth } : {}),
      headers: extra ?? [],
      ...(b.body ? { body: b.body } : {}),
      notes: [...b.notes, ...(auth !== undefined ? ['auth:malformed'] : []), ...(extra ? [`header:${extra[0]![0]}`] : [])],
    }));
  });
}

/** A request to no route. */
export const otherRequestArb: Arbitrary<FuzzRequest> = fc.record({ t: otherTargetArb, who: fc.constantFrom<Who>('admin', 'hostA', 'none') }).map(({ t, who }) => ({ route: 'other', method: t.method, target: t.target, who, headers: [], notes: ['no-route'] }));

/** Valid requests with a fresh name whose accepted values are read back. */
export function readBackArb(pools: Pools, now: number): Arbitrary<FuzzRequest> {
  const json = (value: JsonIsh): BodySpec => ({ value, contentType: 'application/json', bad: 0 });
  const plan = validBody('PUT /v1/plans/{plan}', HOST_A, pools, now, true).map((v): FuzzRequest => ({ route: 'PUT /v1/plans/{plan}', method: 'PUT', target: `/v1/plans/${FRESH}`, who: 'admin', headers: [], body: json(v), readBack: 'plan', notes: ['read-back'] }));
  const tenant = validBody('PUT /v1/tenants/{tenant}', HOST_A, pools, now, true).map((v): FuzzRequest => ({ route: 'PUT /v1/tenants/{tenant}', method: 'PUT', target: `/v1/tenants/${FRESH}`, who: 'admin', headers: [], body: json(v), readBack: 'tenant', notes: ['read-back'] }));
  const managed = [...pools.tenants[HOST_A]!, ...pools.tenants[HOST_B]!];
  const action = fc.tuple(fromPool(managed, 'alice'), validBody('POST /v1/tenants/{tenant}/actions', HOST_A, pools, now, true)).map(([t, v]): FuzzRequest => ({ route: 'POST /v1/tenants/{tenant}/actions', method: 'POST', target: `/v1/tenants/${t}/actions`, who: 'admin', headers: [], body: json(v), readBack: 'action', notes: ['read-back'] }));
  const report = fc.constantFrom(HOST_A, HOST_B).chain((host) =>
    validBody('POST /v1/reports', host, pools, now, true).map((v): FuzzRequest => ({ route: 'POST /v1/reports', method: 'POST', target: '/v1/reports', who: host === HOST_A ? 'hostA' : 'hostB', headers: [], body: json(v), readBack: 'report', notes: ['read-back'] })),
  );
  return fc.oneof({ weight: 2, arbitrary: plan }, { weight: 2, arbitrary: tenant }, { weight: 1, arbitrary: action }, { weight: 3, arbitrary: report });
}

/** One report of thousands of directory entries and quarantine events (a flood of notices, a large body). */
export function bulkReportArb(now: number): Arbitrary<FuzzRequest> {
  return fc.record({ host: fc.constantFrom(HOST_A, HOST_B), n: fc.constant(2000), seq: fc.integer({ min: 1, max: 2 ** 40 }) }).map(({ host, n, seq }) => {
    const at = new Date(now).toISOString();
    const names = Array.from({ length: n }, (_, i) => `bulk${i}`);
    const value: JsonIsh = {
      version: 1,
      host,
      seq,
      at,
      sent_at: at,
      interval: 5,
      host_stats: { cores: 4, memory_bytes: 16 * 1024 ** 3 },
      samples: names.map((tenant) => ({ tenant, cpu: { percent: 1 } })),
      tenants: names.map((name) => ({ name, email: `${name}@example.com` })),
      events: names.map((tenant, i) => ({ id: `bulk-${seq}-${i}`, incident: `bulk-${seq}-${i}`, tenant, resource: 'cpu', rule: 'cpu-fair-share', type: 'opened', step: 'quarantine', level: 3, at, explanation: EXPLANATION as unknown as JsonIsh })),
    };
    return { route: 'POST /v1/reports', method: 'POST', target: '/v1/reports', who: host === HOST_A ? 'hostA' : 'hostB', headers: [], body: { value, contentType: 'application/json', bad: 0 }, notes: [`bulk:${n}`] };
  });
}
