// The HTTP application through app.inject(), on a real store (SQLite and PostgreSQL, describeBackends): access rules for every route (collected
// from the app as it is built, so a new route cannot be left out), schema validation messages, errors,
// OpenAPI, metrics and the audit log.
import type { RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { TokenRegistry } from '../../../../controller/auth.js';
import { ConflictStateError, InvalidError, MissingError } from '../../../../controller/store/errors.js';
import type { Store } from '../../../../controller/store/store.js';
import { describeBackends, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, GiB, HOUR, report } from '../fixtures.js';

const ADMIN = 'admin-token-for-tests-0001';
const AGENT1 = 'agent-token-web01-tests-01';
const AGENT2 = 'agent-token-web02-tests-02';
const T0 = Date.UTC(2025, 5, 1, 10);

describeBackends('http: app', (backend) => {
  const clock = new Clock(T0 + HOUR);
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });

  function tokens(): TokenRegistry {
    const reg = new TokenRegistry();
    reg.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    reg.addToken(AGENT1, { kind: 'agent', name: 'agent:web01', host: 'web01' });
    reg.addToken(AGENT2, { kind: 'agent', name: 'agent:web02', host: 'web02' });
    return reg;
  }

  let app: App;
  let t: OpenedStore;
  const routes: RouteOptions[] = [];

  beforeAll(async () => {
    t = await backend.openStore({ now: clock.now });
    app = await buildApp({ store: t.store, tokens: tokens(), now: clock.now, reportBodyLimit: 256 * 1024, onRoute: (r) => routes.push(r) });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await t.close();
  });

  function fill(url: string): string {
    return url.replace(':tenant', 'alice').replace(':host', 'web01').replace(':plan', 'basic').replace(':id', '1').replace(':token', 'abc.def');
  }

  function methods(r: RouteOptions): string[] {
    return (Array.isArray(r.method) ? r.method : [r.method]).map(String);
  }

  describe('access', () => {
    it('classifies every route as public, agent, admin or usage_api, and gives each request and response schemas', () => {
      expect(routes.length).toBeGreaterThan(20);
      for (const r of routes) expect([r.url, r.config?.auth]).toEqual([r.url, expect.stringMatching(/^(public|agent|admin|usage_api)$/)]);
      expect(routes.filter((r) => r.config?.auth === 'usage_api').map((r) => `${methods(r).join()} ${r.url}`)).toEqual(['POST /v1/usage/api']);
      for (const r of routes) {
        const query = r.schema?.querystring as { type?: string; additionalProperties?: unknown } | undefined;
        expect([r.url, query?.type, query?.additionalProperties, Boolean(r.schema?.response)]).toEqual([r.url, 'object', false, true]);
        if (r.url.includes(':')) expect([r.url, Boolean(r.schema?.params)]).toEqual([r.url, true]);
        if (methods(r).some((m) => m === 'POST' || m === 'PUT')) expect([r.url, Boolean(r.schema?.body)]).toEqual([r.url, true]);
      }
      const pub = routes.filter((r) => r.config?.auth === 'public').map((r) => `${methods(r).join()} ${r.url}`);
      // The dashboard's login and files, and the tenant pages whose signed link is the credential, are public too.
      const get = (url: string) => [`GET ${url}`, `HEAD ${url}`];
      expect(pub.sort()).toEqual(
        [
          ...get('/healthz'),
          ...get('/openapi.json'),
          ...get('/remediation/:token'),
          'POST /remediation/:token',
          'POST /ui/api/login',
          'POST /ui/api/logout',
          ...get('/ui/api/session'),
          ...get('/ui/'),
          ...get('/ui/assets/:file'),
          ...get('/t/:token'),
          ...get('/t/assets/:file'),
          ...get('/t/:token/api/summary'),
          ...get('/t/:token/api/usage'),
          ...get('/t/:token/api/incidents'),
          ...get('/t/:token/api/remediation'),
          'POST /t/:token/api/remediation/:id/ack',
        ].sort(),
      );
    });

    it('refuses an unknown query parameter on every GET route, those that take none included', async () => {
      const gets = routes.filter((r) => methods(r).includes('GET'));
      expect(gets.map((r) => r.url)).toEqual(expect.arrayContaining(['/healthz', '/metrics', '/v1/hosts/:host/policy', '/v1/notices', '/v1/notices/:id']));
      for (const r of gets) {
        const res = await app.inject({ url: `${fill(r.url)}?zz_unknown=1`, headers: auth(ADMIN) });
        expect([r.url, res.statusCode, res.json()]).toEqual([r.url, 400, { error: 'bad_request', message: 'query parameters: unknown field(s) "zz_unknown"' }]);
      }
    });

    it('refuses no token, a wrong token and an agent token on every admin route', async () => {
      const admin = routes.filter((r) => r.config?.auth === 'admin');
      expect(admin.length).toBeGreaterThan(15);
      for (const r of admin) {
        for (const method of methods(r)) {
          const url = fill(r.url);
          const body = method === 'GET' || method === 'HEAD' || method === 'DELETE' ? undefined : '{}';
          const headers = body ? { 'content-type': 'application/json' } : {};
          const none = await app.inject({ method: method as 'GET', url, headers, payload: body });
          expect([method, url, none.statusCode]).toEqual([method, url, 401]);
          const wrong = await app.inject({ method: method as 'GET', url, headers: { ...headers, ...auth('not-a-token-at-all-xx') }, payload: body });
          expect([method, url, wrong.statusCode]).toEqual([method, url, 401]);
          const agent = await app.inject({ method: method as 'GET', url, headers: { ...headers, ...auth(AGENT1) }, payload: body });
          expect([method, url, agent.statusCode]).toEqual([method, url, 403]);
          if (method !== 'HEAD') {
            expect(none.json()).toEqual({ error: 'unauthorized', message: 'this route needs "Authorization: Bearer <token>"' });
            expect(agent.json().error).toBe('forbidden');
          }
        }
      }
    });

    it('lets the public routes answer without a token', async () => {
      expect((await app.inject({ url: '/healthz' })).json()).toMatchObject({ status: 'ok' });
      expect((await app.inject({ url: '/openapi.json' })).statusCode).toBe(200);
    });

    it('takes reports only with the agent token of the report host', async () => {
      const body = JSON.stringify(report('web01', 1, T0, [{ tenant: 'alice', cpu: { percent: 10 } }]));
      const h = { 'content-type': 'application/json' };
      expect((await app.inject({ method: 'POST', url: '/v1/reports', headers: h, payload: body })).statusCode).toBe(401);
      expect((await app.inject({ method: 'POST', url: '/v1/reports', headers: { ...h, ...auth('wrong-token-wrong-token') }, payload: body })).statusCode).toBe(401);
      const asAdmin = await app.inject({ method: 'POST', url: '/v1/reports', headers: { ...h, ...auth(ADMIN) }, payload: body });
      expect([asAdmin.statusCode, asAdmin.json().error]).toEqual([403, 'forbidden']);
      const other = await app.inject({ method: 'POST', url: '/v1/reports', headers: { ...h, ...auth(AGENT2) }, payload: body });
      expect(other.statusCode).toBe(403);
      expect(other.json().message).toBe('the token of host web02 cannot post reports for host web01');
      const ok = await app.inject({ method: 'POST', url: '/v1/reports', headers: { ...h, ...auth(AGENT1) }, payload: body });
      expect([ok.statusCode, ok.json()]).toEqual([202, { accepted: true, duplicate: false, seq: 1, rejected: { samples: 0, events: 0, tenants: 0 }, problems: [] }]);
    });

    it('serves a policy to its own agent and to admins only', async () => {
      expect((await app.inject({ url: '/v1/hosts/web01/policy', headers: auth(AGENT2) })).statusCode).toBe(403);
      expect((await app.inject({ url: '/v1/hosts/web01/policy' })).statusCode).toBe(401);
      const mine = await app.inject({ url: '/v1/hosts/web01/policy', headers: auth(AGENT1) });
      expect(mine.statusCode).toBe(200);
      const etag = mine.headers.etag as string;
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      const again = await app.inject({ url: '/v1/hosts/web01/policy', headers: { ...auth(AGENT1), 'if-none-match': etag } });
      expect([again.statusCode, again.body]).toEqual([304, '']);
      expect((await app.inject({ url: '/v1/hosts/web01/policy', headers: { ...auth(ADMIN), 'if-none-match': `W/${etag}` } })).statusCode).toBe(304);
    });
  });

  describe('validation', () => {
    const post = (payload: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      app.inject({ method: 'POST', url: '/v1/reports', headers: { ...headers, ...auth(AGENT1) }, payload });

    // A broken envelope refuses the whole report; a bad sample, event or directory entry is refused alone
    // (test/unit/controller/http/report-items.test.ts).
    it.each([
      ['a negative host value', JSON.stringify(report('web01', 7, T0, [], { host_stats: { cores: 4, memory_bytes: -1 } })), 'at /host_stats/memory_bytes: must be >= 0'],
      ['a seq of 0', JSON.stringify(report('web01', 0, T0, [])), 'at /seq: must be >= 1'],
      ['a missing field', JSON.stringify({ ...report('web01', 7, T0, []), seq: undefined }), 'at /: must have required properties seq'],
      ['not JSON', '{"version":1,', /^body is not valid JSON: /],
      ['samples that are not an array', JSON.stringify({ ...report('web01', 7, T0, []), samples: { tenant: 'alice' } }), 'at /samples: must be array'],
    ])('a report with %s gets 400 saying what is wrong', async (_name, payload, message) => {
      const res = await post(payload);
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('bad_request');
      if (typeof message === 'string') expect(res.json().message).toBe(message);
      else expect(res.json().message).toMatch(message);
    });

    it('answers 413 for a body over the limit and 415 for another content type', async () => {
      const big = JSON.stringify(report('web01', 8, T0, Array.from({ length: 8000 }, (_, k) => ({ tenant: `t${k}`, cpu: { percent: 1 } }))));
      expect(big.length).toBeGreaterThan(256 * 1024);
      const res = await post(big);
      expect([res.statusCode, res.json().error]).toEqual([413, 'payload_too_large']);
      const text = await post('hello', { 'content-type': 'text/plain' });
      expect([text.statusCode, text.json().error]).toEqual([415, 'unsupported_media_type']);
      const empty = await post('');
      expect(empty.statusCode).toBe(400);
    });

    it.each([
      ['/v1/incidents?limit=0', 'query parameter limit: must be >= 1'],
      ['/v1/incidents?state=closed', /^query parameter state: /],
      ['/v1/incidents?colour=red', 'query parameters: unknown field(s) "colour"'],
      ['/v1/hosts?verbose=1', 'query parameters: unknown field(s) "verbose"'],
      ['/v1/tenants/-alice', /^path parameter tenant: must match pattern/],
      ['/v1/incidents/abc', /^path parameter id: /],
      ['/v1/tenants/alice/usage?from=yesterday', /^from: "yesterday" is neither an ISO-8601 time/],
      ['/v1/tenants/alice/usage?from=1h&to=2h', /^to: must be after from/],
      ['/v1/tenants/alice/usage?step=10ms', /^step: must be at least 1s/],
      ['/v1/tenants/alice/usage?resources=cpu,gpu', /^resources: unknown "gpu"/],
      ['/v1/fairness?window=30s', /^window: must be at least 60s/],
    ])('GET %s -> 400 naming the parameter', async (url, message) => {
      const res = await app.inject({ url, headers: auth(ADMIN) });
      expect(res.statusCode).toBe(400);
      if (typeof message === 'string') expect(res.json().message).toBe(message);
      else expect(res.json().message).toMatch(message);
    });

    it('validates bodies of admin routes', async () => {
      const res = await app.inject({ method: 'PUT', url: '/v1/plans/basic', headers: auth(ADMIN), payload: { cpu: -5, weight: 1 } });
      expect([res.statusCode, res.json().message]).toEqual([400, 'at /cpu: must be >= 1']);
      const act = await app.inject({ method: 'POST', url: '/v1/tenants/alice/actions', headers: auth(ADMIN), payload: { action: 'explode', reason: 'x' } });
      expect(act.statusCode).toBe(400);
      expect(act.json().message).toMatch(/^at \/action: /);
    });
  });

  describe('resources', () => {
    it('creates, replaces and deletes a tenant; 404 for the unknown', async () => {
      const h = auth(ADMIN);
      expect((await app.inject({ method: 'PUT', url: '/v1/plans/basic', headers: h, payload: { cpu: 100, memory: GiB } })).statusCode).toBe(201);
      const plans = (await app.inject({ url: '/v1/plans', headers: h })).json();
      expect(plans.plans).toEqual([{ name: 'basic', plan: { cpu: 100, memory: GiB, weight: 1 }, updated_at: new Date(clock.t).toISOString(), tenants: 0 }]);
      const put = await app.inject({ method: 'PUT', url: '/v1/tenants/zoe', headers: h, payload: { users: ['zoe'], plan: 'basic', host: 'web09' } });
      expect([put.statusCode, put.json().managed, put.json().host]).toEqual([201, true, 'web09']);
      expect((await app.inject({ method: 'PUT', url: '/v1/tenants/zoe', headers: h, payload: { users: ['zoe'], plan: 'basic' } })).statusCode).toBe(200);
      expect((await app.inject({ method: 'DELETE', url: '/v1/tenants/zoe', headers: h })).statusCode).toBe(204);
      const gone = await app.inject({ method: 'DELETE', url: '/v1/tenants/zoe', headers: h });
      expect([gone.statusCode, gone.json()]).toEqual([404, { error: 'not_found', message: 'tenant zoe is not known' }]);
      expect((await app.inject({ url: '/v1/incidents/999', headers: h })).statusCode).toBe(404);
      const nothing = await app.inject({ url: '/v2/nothing', headers: h });
      expect([nothing.statusCode, nothing.json()]).toEqual([404, { error: 'not_found', message: 'no route GET /v2/nothing' }]);
    });

    it('serves usage, the fairness series and the ranking', async () => {
      const h = auth(ADMIN);
      const usage = (await app.inject({ url: `/v1/tenants/alice/usage?from=${new Date(T0 - 60_000).toISOString()}&to=${new Date(T0 + 60_000).toISOString()}`, headers: h })).json();
      expect(usage).toMatchObject({ tenant: 'alice', host: 'web01', source: 'raw', samples: [1], series: { cpu_percent: { avg: [10], max: [10] } } });
      const fair = (await app.inject({ url: `/v1/tenants/alice/fairness?from=${new Date(T0 - 60_000).toISOString()}&to=1m`, headers: h })).json();
      expect(Object.keys(fair.series).sort()).toEqual(['active', 'debt', 'dominant_share', 'fair_share', 'share_cpu']);
      expect(fair.series.share_cpu.avg).toEqual([10 / 400]);
      const ranking = (await app.inject({ url: '/v1/fairness?host=web01&window=2h', headers: h })).json();
      expect(ranking).toMatchObject({ window_seconds: 7200, half_life_seconds: 86400, hosts: [{ host: 'web01' }], tenants: [{ rank: 1, tenant: 'alice', host: 'web01' }] });
      expect((await app.inject({ url: '/v1/fairness?host=nowhere', headers: h })).statusCode).toBe(404);
      const host = (await app.inject({ url: `/v1/hosts/web01/usage?from=${new Date(T0 - 60_000).toISOString()}&to=${new Date(T0 + 60_000).toISOString()}&resources=jain`, headers: h })).json();
      expect(host.series.jain.avg).toEqual([1]);
    });

    it('queues an action (201) and shows its state', async () => {
      const h = auth(ADMIN);
      const res = await app.inject({ method: 'POST', url: '/v1/tenants/alice/actions', headers: h, payload: { action: 'throttle', level: 1, reason: 'too much', ttl: '1h' } });
      expect(res.statusCode).toBe(201);
      const a = res.json();
      expect(a).toMatchObject({ tenant: 'alice', host: 'web01', state: 'pending', by: 'admin', level: 1 });
      expect((await app.inject({ url: `/v1/actions/${a.id}`, headers: h })).json().state).toBe('pending');
      expect((await app.inject({ url: '/v1/tenants/alice/actions', headers: h })).json().actions).toHaveLength(1);
      const policy = (await app.inject({ url: '/v1/hosts/web01/policy', headers: auth(AGENT1) })).json();
      expect(policy.actions.map((x: { id: string }) => x.id)).toEqual([a.id]);
    });

    it('publishes OpenAPI with every route and metrics in Prometheus text', async () => {
      const doc = (await app.inject({ url: '/openapi.json' })).json();
      expect(doc.openapi).toMatch(/^3\./);
      const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
      for (const r of routes) {
        for (const m of methods(r)) if (m !== 'HEAD') expect(documented).toContain(`${m} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
      }
      expect(doc.paths['/v1/reports'].post.requestBody.content['application/json'].schema.properties.samples).toBeDefined();
      const metrics = await app.inject({ url: '/metrics', headers: auth(ADMIN) });
      expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0.0.4/);
      for (const line of [/^hostwarden_reports_total\{result="accepted"\} 1$/m, /^hostwarden_reports_total\{result="rejected"\} \d+$/m, /^hostwarden_samples_total 1$/m, /^hostwarden_reports_parsed_total\{parser="fast"\} 2$/m, /^hostwarden_report_duration_seconds_count \d+$/m, /^hostwarden_store_bytes [1-9]\d*$/m, /^hostwarden_incidents_open 0$/m, /^hostwarden_ingest_samples_per_second /m]) {
        expect(metrics.body).toMatch(line);
      }
    });

    it('writes every admin call, refused ones too, to the audit log', async () => {
      await app.inject({ url: '/v1/hosts' });
      await app.inject({ url: '/v1/hosts', headers: auth('some-wrong-token-123') });
      await app.inject({ url: '/v1/hosts', headers: auth(AGENT2) });
      await app.inject({ method: 'PUT', url: '/v1/plans/gold', headers: auth(ADMIN), payload: { cpu: 400, weight: 4 } });
      const entries = (await app.inject({ url: '/v1/audit?limit=4', headers: auth(ADMIN) })).json().entries as Array<Record<string, unknown>>;
      expect(entries.map((e) => [e.who, e.method, e.path, e.status])).toEqual([
        ['admin', 'PUT', '/v1/plans/gold', 201],
        ['agent:web02', 'GET', '/v1/hosts', 403],
        ['invalid-token', 'GET', '/v1/hosts', 401],
        ['anonymous', 'GET', '/v1/hosts', 401],
      ]);
      expect(entries[0]!.detail).toBe('{"cpu":400,"weight":4}');
      expect(entries[0]!.at).toBe(new Date(clock.t).toISOString());
    });

    it('a body too deep to record still gets its own answer, and the call is in the audit log (found by the fuzz test)', async () => {
      const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
      const res = await app.inject({ method: 'PUT', url: '/v1/plans/deep', headers: { ...auth(ADMIN), 'content-type': 'application/json' }, payload: deep });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatch(/^[a-z][a-z0-9_]*$/);
      const [entry] = (await app.inject({ url: '/v1/audit?limit=1', headers: auth(ADMIN) })).json().entries as Array<Record<string, unknown>>;
      expect([entry!.method, entry!.path, entry!.status]).toEqual(['PUT', '/v1/plans/deep', 400]);
    });
  });

  describe('failures', () => {
    /** The app on a store whose `method` (listHosts by default) fails with `err`. */
    async function failingApp(err: Error, method = 'listHosts'): Promise<App> {
      const broken = new Proxy(t.store, {
        get(target, prop, receiver) {
          if (prop === method) return async () => Promise.reject(err);
          return Reflect.get(target, prop, receiver) as unknown;
        },
      }) as Store;
      return buildApp({ store: broken, tokens: tokens(), now: clock.now });
    }

    it('answers 500 without the details of the error', async () => {
      const app2 = await failingApp(new Error('SQLITE_IOERR at /var/lib/hostwarden/controller.db'));
      const res = await app2.inject({ url: '/v1/hosts', headers: auth(ADMIN) });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: 'internal', message: 'internal error (details are in the controller log)' });
      await app2.close();
    });

    it.each([
      ['invalid', new InvalidError('plan: "gold" is not defined'), 400, 'bad_request'],
      ['not_found', new MissingError('tenant zoe is not known'), 404, 'not_found'],
      ['conflict', new ConflictStateError('no_host', 'tenant zoe has no host yet'), 409, 'no_host'],
    ] as const)('answers a store refusal of kind %s with its status, code and message', async (_kind, err, status, code) => {
      const app2 = await failingApp(err);
      const res = await app2.inject({ url: '/v1/hosts', headers: auth(ADMIN) });
      expect([res.statusCode, res.json()]).toEqual([status, { error: code, message: err.message }]);
      await app2.close();
    });

    it('counts a report the store refuses as a conflict by its kind', async () => {
      const app2 = await failingApp(new ConflictStateError('seq_conflict', 'seq 1 of host web01 was already used'), 'ingest');
      const body = JSON.stringify(report('web01', 1, T0, [{ tenant: 'alice', cpu: { percent: 10 } }]));
      const res = await app2.inject({ method: 'POST', url: '/v1/reports', headers: { 'content-type': 'application/json', ...auth(AGENT1) }, payload: body });
      expect([res.statusCode, res.json()]).toEqual([409, { error: 'seq_conflict', message: 'seq 1 of host web01 was already used' }]);
      const metrics = (await app2.inject({ url: '/metrics', headers: auth(ADMIN) })).body;
      expect(metrics).toMatch(/^hostwarden_reports_total\{result="conflict"\} 1$/m);
      await app2.close();
    });
  });
});
