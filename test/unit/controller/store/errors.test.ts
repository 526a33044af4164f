// What clients see when the store refuses something: the status and the exact `{ error, message }` body of
// every refusal the store makes, through app.inject() on a real store. The store speaks data (its own error
// kinds, no routes in its words); the HTTP layer maps the kinds to statuses and adds the hints that name
// routes. These bodies were captured before the store stopped throwing HTTP errors and must not change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { TokenRegistry } from '../../../../controller/auth.js';
import { Clock, HOUR, MIN, report, tempStore } from '../fixtures.js';

const ADMIN = 'admin-token-for-store-errors';
const AGENT = 'agent-token-web01-store-errors';
const T0 = Date.UTC(2025, 5, 1, 10);
const clock = new Clock(T0 + HOUR);
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

let app: App;
let t: ReturnType<typeof tempStore>;

beforeAll(async () => {
  t = tempStore({ now: clock.now });
  const tokens = new TokenRegistry();
  tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
  tokens.addToken(AGENT, { kind: 'agent', name: 'agent:web01', host: 'web01' });
  app = await buildApp({ store: t.store, tokens, now: clock.now, autoFlush: false });
  await app.ready();
  const res = await app.inject({ method: 'POST', url: '/v1/reports', headers: auth(AGENT), payload: report('web01', 1, T0, [{ tenant: 'alice', cpu: { percent: 10 } }]) });
  expect(res.statusCode).toBe(202);
});
afterAll(async () => {
  await app.close();
  await t.dispose();
});

async function call(method: 'GET' | 'PUT' | 'POST', url: string, payload?: unknown, token = ADMIN): Promise<[number, unknown]> {
  const res = await app.inject({ method, url, headers: auth(token), ...(payload === undefined ? {} : { payload: payload as object }) });
  return [res.statusCode, res.json()];
}

describe('refusals of the store, as clients see them', () => {
  it('tenants: an undefined plan names the route that defines it; a missing host; a name that differs', async () => {
    expect(await call('PUT', '/v1/tenants/carol', { users: ['carol'], plan: 'gold', host: 'web01' })).toEqual([
      400,
      { error: 'bad_request', message: 'plan: "gold" is not defined; create it first with PUT /v1/plans/gold' },
    ]);
    expect((await call('PUT', '/v1/plans/gold', { cpu: 400, weight: 4 }))[0]).toBe(201);
    expect(await call('PUT', '/v1/tenants/carol', { users: ['carol'], plan: 'gold' })).toEqual([
      400,
      { error: 'bad_request', message: 'host: required for a tenant that has not reported yet (carol)' },
    ]);
    expect(await call('PUT', '/v1/tenants/carol', { name: 'dave', users: ['carol'], plan: 'gold', host: 'web01' })).toEqual([
      400,
      { error: 'bad_request', message: 'name: "dave" differs from the tenant in the path ("carol")' },
    ]);
  });

  it('manual actions: an unknown tenant, a level or a ttl that makes no sense, a ttl that does not parse', async () => {
    expect(await call('POST', '/v1/tenants/nobody/actions', { action: 'notice', reason: 'x' })).toEqual([404, { error: 'not_found', message: 'tenant nobody is not known' }]);
    expect(await call('POST', '/v1/tenants/alice/actions', { action: 'quarantine', reason: 'x', level: 2 })).toEqual([
      400,
      { error: 'bad_request', message: 'level: only a throttle has a level' },
    ]);
    expect(await call('POST', '/v1/tenants/alice/actions', { action: 'notice', reason: 'x', ttl: '1h' })).toEqual([
      400,
      { error: 'bad_request', message: 'ttl: only a throttle or a quarantine lasts for a time' },
    ]);
    expect(await call('POST', '/v1/tenants/alice/actions', { action: 'throttle', reason: 'x', ttl: '5x' })).toEqual([
      400,
      { error: 'bad_request', message: 'ttl: invalid duration "5x": use a number with ms, s, m, h or d (e.g. 500ms, 5s, 2m, 1h)' },
    ]);
    expect(await call('POST', '/v1/tenants/alice/actions', { action: 'throttle', reason: 'x', ttl: '0s' })).toEqual([400, { error: 'bad_request', message: 'ttl: must be more than zero' }]);
    const [status, body] = await call('POST', '/v1/tenants/alice/actions', { action: 'throttle', reason: 'x', ttl: 90 });
    expect([status, (body as { expires_at: string }).expires_at]).toEqual([201, new Date(T0 + HOUR + 90_000).toISOString()]);
  });

  it('reports: a reused seq is a conflict, a clock far ahead is refused, both counted by result', async () => {
    expect(await call('POST', '/v1/reports', report('web01', 1, T0 + 5000, [{ tenant: 'alice', cpu: { percent: 10 } }]), AGENT)).toEqual([
      409,
      {
        error: 'seq_conflict',
        message: `seq 1 of host web01 was already used by a report at ${new Date(T0).toISOString()}, this one is at ${new Date(T0 + 5000).toISOString()}: the agent's sequence went back (was its spool lost?)`,
      },
    ]);
    const ahead = T0 + 2 * HOUR;
    expect(await call('POST', '/v1/reports', report('web01', 2, ahead, []), AGENT)).toEqual([
      400,
      {
        error: 'bad_request',
        message: `at /at: ${new Date(ahead).toISOString()} is more than 10 minutes ahead of the controller's clock (${new Date(T0 + HOUR).toISOString()}); check the agent host's clock`,
      },
    ]);
    const metrics = (await app.inject({ url: '/metrics', headers: auth(ADMIN) })).body;
    expect(metrics).toMatch(/^hostwarden_reports_total\{result="conflict"\} 1$/m);
    expect(metrics).toMatch(/^hostwarden_reports_total\{result="rejected"\} 1$/m);
  });

  it('history and fairness: an empty range (refused by the route), an unknown series, an unknown host', async () => {
    const from = new Date(T0).toISOString();
    expect(await call('GET', `/v1/tenants/alice/usage?from=${from}&to=${from}`)).toEqual([400, { error: 'bad_request', message: `to: must be after from (from ${from}, to ${from})` }]);
    expect(await call('GET', `/v1/tenants/alice/usage?from=${from}&resources=cpu,gpu`)).toEqual([
      400,
      { error: 'bad_request', message: 'resources: unknown "gpu"; use cpu, memory, io, processes, bandwidth, inodes, api, pressure, state, fairness or a series name' },
    ]);
    expect(await call('GET', '/v1/fairness?host=web99')).toEqual([404, { error: 'not_found', message: 'host web99 is not known' }]);
    expect((await call('GET', `/v1/tenants/alice/usage?from=${new Date(T0 - MIN).toISOString()}`))[0]).toBe(200);
  });
});
