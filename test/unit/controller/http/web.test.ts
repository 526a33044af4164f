// The web tier at the controller, through app.inject() on a real store (SQLite and PostgreSQL, describeBackends): a report's access-log minutes are
// added once (a resent report adds nothing), only for the reporting host's tenants, totals over a range are
// exact sums; POST /v1/usage/api takes an admin or a usage_api token (which can do nothing else), counts a
// push with a given id once, refuses an unknown tenant by name; the fast report scanner hands `web` over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenRegistry } from '../../../../controller/auth.js';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { prepareReport, prepareSlow } from '../../../../controller/ingest/prepare.js';
import type { WebMinute } from '../../../../shared/wire/agent.js';
import { describeBackends, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, HOUR, MIN, report } from '../fixtures.js';

const ADMIN = 'admin-token-for-tests-0001';
const AGENT = 'agent-token-web01-tests-01';
const AGENT2 = 'agent-token-web02-tests-01';
const USAGE = 'usage-token-shop-tests-001';
const T0 = Date.UTC(2025, 5, 1, 10);

describeBackends('http: web', (backend) => {
  const clock = new Clock(T0 + HOUR);
  const auth = (t: string) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' });
  const iso = (t: number) => new Date(t).toISOString();

  let app: App;
  let t: OpenedStore;

  beforeAll(async () => {
    t = await backend.openStore({ now: clock.now });
    const tokens = new TokenRegistry();
    tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    tokens.addToken(AGENT, { kind: 'agent', name: 'agent:web01', host: 'web01' });
    tokens.addToken(AGENT2, { kind: 'agent', name: 'agent:web02', host: 'web02' });
    tokens.addToken(USAGE, { kind: 'usage', name: 'shop' });
    app = await buildApp({ store: t.store, tokens, now: clock.now, reportBodyLimit: 256 * 1024 });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await t.close();
  });

  const post = (token: string, body: unknown) => app.inject({ method: 'POST', url: '/v1/reports', headers: auth(token), payload: JSON.stringify(body) });
  const web = async (tenant: string, from: number, to: number) => {
    const res = await app.inject({ url: `/v1/tenants/${tenant}/web?from=${iso(from)}&to=${iso(to)}`, headers: auth(ADMIN) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const minute = (tenant: string, at: number, n: number): WebMinute => ({ tenant, minute: iso(at), requests: n, api_calls: Math.floor(n / 3), bytes: n * 1000, errors_5xx: n % 2 });
  const stats = { lines: 10, unparsed: 2, unattributed: 1, rotations: 1, truncations: 0, lost_files: 0, lost_bytes: 0, backlog_bytes: 5 };

  describe('web counts at the controller', () => {
    it('adds a report\'s minutes once, for the host\'s own tenants only, and sums them exactly over a range', async () => {
      const r1 = report('web01', 1, T0, [{ tenant: 'alice' }, { tenant: 'bob' }], { web: [minute('alice', T0 - 2 * MIN, 7), minute('alice', T0 - MIN, 5), minute('bob', T0 - MIN, 3)], web_logs: stats });
      expect((await post(AGENT, r1)).statusCode).toBe(202);
      expect((await post(AGENT, r1)).statusCode).toBe(202); // resent: a duplicate by (host, seq)
      const r2 = report('web01', 2, T0 + 5000, [{ tenant: 'alice' }], { web: [minute('alice', T0 - MIN, 4), minute('carol', T0, 9)], web_logs: stats });
      expect((await post(AGENT, r2)).statusCode).toBe(202);
      // web02 cannot add to web01's tenants
      expect((await post(AGENT2, report('web02', 1, T0, [{ tenant: 'dave' }], { web: [minute('alice', T0, 100)] }))).statusCode).toBe(202);
      const all = await web('alice', T0 - HOUR, T0 + HOUR);
      expect(all).toMatchObject({ requests: 16, api_calls: 2 + 1 + 1, bytes: 16_000, errors_5xx: 1 + 1 + 0, pushed_api_calls: 0 });
      expect(all.minutes.map((m: { minute: string; requests: number }) => [m.minute, m.requests])).toEqual([
        [iso(T0 - 2 * MIN), 7],
        [iso(T0 - MIN), 9],
      ]);
      expect(await web('alice', T0 - MIN, T0 + HOUR)).toMatchObject({ requests: 9 });
      expect((await web('bob', T0 - HOUR, T0 + HOUR)).requests).toBe(3);
      const host = await app.inject({ url: '/v1/hosts/web01/web', headers: auth(ADMIN) });
      expect(host.json()).toEqual({ host: 'web01', ...stats, lines: 20, unparsed: 4, unattributed: 2, rotations: 2 });
    });

    it('the fast report path hands web and web_logs over as the reference path does', () => {
      const body = JSON.stringify(report('web01', 9, T0, [{ tenant: 'alice', cpu: { percent: 1 } }], { web: [minute('alice', T0, 2)], web_logs: stats }));
      const fast = prepareReport(new TextEncoder().encode(body));
      const slow = prepareSlow(body);
      expect(fast.ok && fast.report.fast).toBe(true);
      if (!fast.ok || !slow.ok) throw new Error('not prepared');
      expect(fast.report.web).toEqual(slow.report.web);
      expect(fast.report.webLogs).toEqual(stats);
    });

    it('POST /v1/usage/api: admin or usage token, an id counts once, an unknown tenant is named', async () => {
      const push = (token: string, body: unknown) => app.inject({ method: 'POST', url: '/v1/usage/api', headers: auth(token), payload: JSON.stringify(body) });
      const body = { id: 'shop-1', counts: [{ tenant: 'alice', minute: iso(T0 + 30_000), calls: 40 }, { tenant: 'bob', calls: 2 }] };
      let res = await push(USAGE, body);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ accepted: 2, duplicate: false });
      expect((await push(USAGE, body)).json()).toEqual({ accepted: 0, duplicate: true });
      expect((await push(ADMIN, { counts: [{ tenant: 'alice', minute: iso(T0), calls: 2 }] })).statusCode).toBe(200);
      expect(await web('alice', T0 - HOUR, T0 + HOUR)).toMatchObject({ requests: 16, pushed_api_calls: 42 });
      res = await push(USAGE, { id: 'shop-2', counts: [{ tenant: 'nobody', calls: 1 }] });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toContain('nobody');
      // the failed push left no id behind: it can be sent again once fixed
      expect((await push(USAGE, { id: 'shop-2', counts: [{ tenant: 'bob', calls: 1 }] })).json()).toEqual({ accepted: 1, duplicate: false });
      expect((await push(AGENT, body)).statusCode).toBe(403);
      expect((await push(USAGE, { counts: [] })).statusCode).toBe(400);
      expect((await push(USAGE, { counts: [{ tenant: 'alice', calls: -1 }] })).statusCode).toBe(400);
    });

    it('/metrics: fleet totals of the web tier and of the pushes', async () => {
      const text = (await app.inject({ url: '/metrics', headers: auth(ADMIN) })).body;
      expect(text).toMatch(/^hostwarden_web_requests_total 19$/m); // alice 7 + 5 + 4, bob 3; web02's row for alice left out
      expect(text).toMatch(/^hostwarden_web_log_unparsed_lines_total 4$/m);
      expect(text).toMatch(/^hostwarden_api_usage_pushed_calls_total 45$/m);
      expect(text).toMatch(/^hostwarden_api_usage_pushes_total\{result="duplicate"\} 1$/m);
    });

    it('a usage_api token can do nothing else', async () => {
      for (const [method, url] of [
        ['GET', '/v1/tenants'],
        ['GET', '/v1/tenants/alice/web'],
        ['GET', '/v1/hosts/web01/policy'],
        ['POST', '/v1/reports'],
      ] as const) {
        const res = await app.inject({ method, url, headers: auth(USAGE), ...(method === 'POST' ? { payload: '{}' } : {}) });
        expect(res.statusCode, `${method} ${url}`).toBe(403);
      }
    });
  });

  describe('web counts and retention', () => {
    it('go with the minute rollups (retention.minute, 90 days by default), push ids too', async () => {
      expect((await web('alice', T0 - HOUR, T0 + HOUR)).requests).toBe(16);
      await t.store.applyRetention(T0 + 91 * 24 * HOUR);
      expect(await web('alice', T0 - HOUR, T0 + HOUR)).toMatchObject({ requests: 0, pushed_api_calls: 0, minutes: [] });
      const again = await app.inject({ method: 'POST', url: '/v1/usage/api', headers: auth(USAGE), payload: JSON.stringify({ id: 'shop-1', counts: [{ tenant: 'alice', calls: 1 }] }) });
      expect(again.json()).toEqual({ accepted: 1, duplicate: false });
    });
  });
});
