// The dashboard's controller side over real HTTP on loopback, on a real SQLite store, with a clock the test
// moves: login, the session cookie (HttpOnly, SameSite=Strict, Max-Age) on the /v1 routes, CSRF on state
// changes made with it (bearer calls unchanged), the viewer role, expiry and logout, every change audited
// under the admin's name; the UI's files with their CSP; tenant links (valid: that tenant's data only;
// altered, expired, revoked: refused), the tenant's JSON in tenant-safe words, its acknowledgement of a
// remediation request; notices carrying the link; the tenant pages' own listener; the ui: config keys.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenRegistry } from '../../../../controller/auth.js';
import { parseControllerConfig } from '../../../../controller/config.js';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { CONTENT_SECURITY_POLICY } from '../../../../controller/http/ui-files.js';
import { startNotices, type Notices } from '../../../../controller/notices/service.js';
import { RemediationService } from '../../../../controller/remediation/service.js';
import { startController } from '../../../../controller/server.js';
import { TenantLinkService } from '../../../../controller/ui/links.js';
import { verifyTenantLink } from '../../../../controller/ui/tenant-link.js';
import { ConfigError } from '../../../../shared/errors.js';
import { Clock, event, explanation, prepared, report, tempStore } from '../fixtures.js';

const ADMIN = 'admin-token-for-dashboard-tests';
const VIEWER = 'viewer-token-for-dashboard-tests';
const AGENT = 'agent-token-for-dashboard-tests';
const MIN = 60_000;
const HOUR = 3_600_000;
const T0 = Math.floor(Date.now() / MIN) * MIN;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const json = { 'content-type': 'application/json' };

interface Setup {
  t: ReturnType<typeof tempStore>;
  clock: Clock;
  notices: Notices;
  service: RemediationService;
  app: App;
  url: string;
  uiDir: string;
}

function fakeUi(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hw-ui-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!DOCTYPE html><title>admin</title><script type="module" src="./assets/app.js"></script>');
  writeFileSync(join(dir, 'tenant.html'), '<!DOCTYPE html><title>tenant</title><script type="module" src="./assets/tenant.js"></script>');
  writeFileSync(join(dir, 'assets', 'app.js'), 'console.log("admin")');
  writeFileSync(join(dir, 'assets', 'tenant.js'), 'console.log("tenant")');
  return dir;
}

async function setup(): Promise<Setup> {
  const clock = new Clock(T0);
  const t = tempStore({ now: clock.now });
  const uiDir = fakeUi();
  const config = parseControllerConfig({ state_dir: t.dir, public_url: 'https://ctl.example.com:8640/', notices: { enabled: false, support: { email: 'support@example.com' } } });
  const log = pino({ level: 'silent' });
  const links = await new TenantLinkService(t.store.ui, 86_400_000, clock.now).links('https://ctl.example.com:8640');
  const notices = startNotices(t.store, config, { log, now: clock.now, tenantLink: (tenant) => links.url(tenant) });
  const service = new RemediationService({ store: t.store, config: config.remediation, notices: config.notices, publicUrl: config.publicUrl, tenantLink: (tenant) => links.url(tenant), domain: 'example.com', now: clock.now });
  const tokens = new TokenRegistry();
  tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
  tokens.addToken(VIEWER, { kind: 'admin', name: 'carol', role: 'viewer' });
  tokens.addToken(AGENT, { kind: 'agent', name: 'agent:web01', host: 'web01' });
  const app = await buildApp({
    store: t.store,
    tokens,
    outbox: notices.outbox,
    remediation: service,
    now: clock.now,
    autoFlush: false,
    ui: { dir: uiDir, sessionTtlMs: HOUR, tenantLinkTtlMs: 86_400_000, support: { email: 'support@example.com' } },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  const url = `http://127.0.0.1:${addr.port}`;
  for (const [path, body] of [
    ['/v1/plans/basic', { cpu: 100, memory: 1073741824 }],
    ['/v1/tenants/alice', { users: ['alice'], plan: 'basic', host: 'web01', email: 'alice@example.com' }],
    ['/v1/tenants/bob', { users: ['bob'], plan: 'basic', host: 'web01', email: 'bob@example.com' }],
  ] as const) {
    const res = await fetch(`${url}${path}`, { method: 'PUT', headers: { ...bearer(ADMIN), ...json }, body: JSON.stringify(body) });
    expect(res.status).toBeLessThan(300);
  }
  // alice's incident: its texts name bob (as a careless agent might), its contention detail names bob (admins only).
  const named = { ...explanation('alice used 380% CPU while bob was waiting'), avoid: 'keep CPU under 100%; bob and other customers share this server' };
  named.contention = { ...named.contention, detail: 'pressure seen by bob (cpu psi 42%)' };
  const samples = [
    { tenant: 'alice', cpu: { percent: 120 }, memory: { current: 2 ** 30, anon: 2 ** 30, file: 0 } },
    { tenant: 'bob', cpu: { percent: 30 }, memory: { current: 2 ** 29, anon: 2 ** 29, file: 0 } },
  ];
  for (let k = 0; k < 12; k++) {
    const events = k === 0 ? [event('e1', 'alice-cpu-1', 'escalated', T0 - 10 * MIN, { explanation: named })] : [];
    await t.store.ingest(prepared(report('web01', k + 1, T0 - 10 * MIN + k * 30_000, samples, { events })));
  }
  await t.store.flush({ all: true });
  return { t, clock, notices, service, app, url, uiDir };
}

/** A browser's view of one session: its cookie jar of one cookie. */
class Browser {
  cookie: string | undefined;
  csrf: string | undefined;
  constructor(readonly url: string) {}

  async login(token: string): Promise<Response> {
    const res = await fetch(`${this.url}/ui/api/login`, { method: 'POST', headers: json, body: JSON.stringify({ token }) });
    const set = res.headers.getSetCookie().find((c) => c.startsWith('hw_session='));
    if (set) this.cookie = set.split(';')[0];
    if (res.ok) this.csrf = ((await res.clone().json()) as { csrf: string }).csrf;
    return res;
  }

  fetch(path: string, init: { method?: string; body?: unknown; csrf?: string | null } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...(this.cookie ? { cookie: this.cookie } : {}) };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    if (init.csrf !== null && init.csrf !== undefined) headers['x-csrf-token'] = init.csrf;
    return fetch(`${this.url}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  }
}

describe('dashboard sessions, roles and CSRF', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup();
  });
  afterAll(async () => {
    await s.app.close();
    await s.notices.close();
    await s.t.dispose();
    rmSync(s.uiDir, { recursive: true, force: true });
  });

  it('logs in with an admin token: a session cookie HttpOnly, SameSite=Strict, Path=/, Max-Age of session_ttl', async () => {
    const b = new Browser(s.url);
    for (const token of ['not-a-token-at-all-xxxxxx', AGENT]) {
      const res = await b.login(token);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'unauthorized', message: 'not an admin token' });
      expect(res.headers.getSetCookie()).toEqual([]);
    }
    const res = await b.login(ADMIN);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(body).toEqual({ admin: 'admin', role: 'admin', csrf: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires_at: new Date(T0 + HOUR).toISOString() });
    const set = res.headers.getSetCookie()[0]!;
    expect(set).toMatch(/^hw_session=[A-Za-z0-9_-]{43}; Max-Age=3600; Path=\/; HttpOnly; SameSite=Strict$/);
    // The store holds the session by the hash of the cookie, never the cookie itself.
    const rows = s.t.store.db.prepare('SELECT id_hash, admin FROM ui_sessions').all() as Array<{ id_hash: string; admin: string }>;
    expect(rows.some((r) => r.admin === 'admin' && r.id_hash.length === 64)).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(b.cookie!.slice('hw_session='.length));
    const again = await b.fetch('/ui/api/session');
    expect([again.status, await again.json()]).toEqual([200, body]);
    expect((await new Browser(s.url).fetch('/ui/api/session')).status).toBe(401);
  });

  it('the cookie works on the /v1 GET routes as the bearer token does; a forged cookie is refused', async () => {
    const b = new Browser(s.url);
    await b.login(ADMIN);
    for (const path of ['/v1/tenants', '/v1/hosts', '/v1/tenants/alice/usage?from=1h', '/v1/incidents', '/v1/audit?limit=1']) {
      const viaCookie = await b.fetch(path);
      const viaBearer = await fetch(`${s.url}${path}`, { headers: bearer(ADMIN) });
      expect([path, viaCookie.status]).toEqual([path, 200]);
      const [c, d] = [(await viaCookie.json()) as Record<string, unknown>, (await viaBearer.json()) as Record<string, unknown>];
      if (path.startsWith('/v1/audit')) expect(Object.keys(c)).toEqual(Object.keys(d));
      else expect(c).toEqual(d);
    }
    const forged = new Browser(s.url);
    forged.cookie = `hw_session=${'A'.repeat(43)}`;
    const res = await forged.fetch('/v1/tenants');
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('unauthorized');
  });

  it('a state change with the cookie needs the CSRF token (403 csrf without or wrong); with it, done and audited under the admin', async () => {
    const b = new Browser(s.url);
    await b.login(ADMIN);
    const action = { action: 'notice', reason: 'from the dashboard' };
    for (const csrf of [null, 'x'.repeat(43), '']) {
      const res = await b.fetch('/v1/tenants/alice/actions', { method: 'POST', body: action, csrf });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: string }).error).toBe('csrf');
    }
    expect(await s.t.store.listActions({ tenant: 'alice' })).toEqual([]);
    const ok = await b.fetch('/v1/tenants/alice/actions', { method: 'POST', body: action, csrf: b.csrf! });
    expect(ok.status).toBe(201);
    const created = (await ok.json()) as { id: string; by: string };
    expect(created.by).toBe('admin');
    const audit = await s.t.store.listAudit({ limit: 20 });
    const posts = audit.filter((a) => a.path === '/v1/tenants/alice/actions');
    expect(posts.map((a) => [a.who, a.status])).toEqual([
      ['admin', 201],
      ['admin', 403],
      ['admin', 403],
      ['admin', 403],
    ]);
    // Bearer calls are unchanged: no CSRF token needed.
    const viaBearer = await fetch(`${s.url}/v1/tenants/bob/actions`, { method: 'POST', headers: { ...bearer(ADMIN), ...json }, body: JSON.stringify(action) });
    expect(viaBearer.status).toBe(201);
  });

  it('a viewer reads everything and changes nothing, by cookie or bearer (403 forbidden)', async () => {
    const b = new Browser(s.url);
    const login = await b.login(VIEWER);
    expect(((await login.json()) as { role: string; admin: string })).toMatchObject({ admin: 'carol', role: 'viewer' });
    expect((await b.fetch('/v1/tenants')).status).toBe(200);
    expect((await fetch(`${s.url}/v1/tenants`, { headers: bearer(VIEWER) })).status).toBe(200);
    const action = { action: 'throttle', reason: 'viewer tries' };
    const viaCookie = await b.fetch('/v1/tenants/alice/actions', { method: 'POST', body: action, csrf: b.csrf! });
    expect([viaCookie.status, ((await viaCookie.json()) as { error: string }).error]).toEqual([403, 'forbidden']);
    for (const [method, path, body] of [
      ['POST', '/v1/tenants/alice/actions', action],
      ['PUT', '/v1/plans/basic', { cpu: 50 }],
      ['DELETE', '/v1/tenants/bob', undefined],
      ['POST', '/v1/tenants/alice/links', undefined],
    ] as const) {
      const res = await fetch(`${s.url}${path}`, { method, headers: { ...bearer(VIEWER), ...(body ? json : {}) }, body: body ? JSON.stringify(body) : undefined });
      expect([method, path, res.status, ((await res.json()) as { error: string }).error]).toEqual([method, path, 403, 'forbidden']);
    }
    expect((await s.t.store.listActions({ tenant: 'alice' })).filter((a) => a.reason === 'viewer tries')).toEqual([]);
    expect((await s.t.store.listAudit({ who: 'carol', limit: 10 })).filter((a) => a.status === 403).length).toBe(5);
  });

  it('an expired session is refused (401) and logging in again works', async () => {
    const b = new Browser(s.url);
    await b.login(ADMIN);
    s.clock.advance(HOUR + 1000);
    try {
      expect((await b.fetch('/v1/tenants')).status).toBe(401);
      expect((await b.fetch('/ui/api/session')).status).toBe(401);
      expect((await b.fetch('/v1/tenants/alice/actions', { method: 'POST', body: { action: 'notice', reason: 'late' }, csrf: b.csrf! })).status).toBe(401);
      await b.login(ADMIN);
      expect((await b.fetch('/v1/tenants')).status).toBe(200);
    } finally {
      s.clock.advance(-(HOUR + 1000));
    }
  });

  it('logout needs the CSRF token, ends the session in the store and clears the cookie', async () => {
    const b = new Browser(s.url);
    await b.login(ADMIN);
    expect((await b.fetch('/ui/api/logout', { method: 'POST' })).status).toBe(403);
    const before = (s.t.store.db.prepare('SELECT count(*) AS n FROM ui_sessions').get() as { n: number }).n;
    const res = await b.fetch('/ui/api/logout', { method: 'POST', csrf: b.csrf! });
    expect(res.status).toBe(204);
    expect(res.headers.getSetCookie()[0]).toMatch(/^hw_session=; Max-Age=0; Path=\/; (Expires=[^;]+; )?HttpOnly; SameSite=Strict$/);
    expect((s.t.store.db.prepare('SELECT count(*) AS n FROM ui_sessions').get() as { n: number }).n).toBe(before - 1);
    expect((await b.fetch('/v1/tenants')).status).toBe(401);
    const audit = await s.t.store.listAudit({ who: 'admin', limit: 5 });
    expect(audit.some((a) => a.path === '/ui/api/logout' && a.status === 204)).toBe(true);
  });

  it('serves the UI with the CSP and security headers; 503 saying how to build it when it is missing', async () => {
    for (const [path, type] of [
      ['/ui/', 'text/html'],
      ['/ui/assets/app.js', 'text/javascript'],
    ] as const) {
      const res = await fetch(`${s.url}${path}`);
      expect([path, res.status, res.headers.get('content-type')]).toEqual([path, 200, expect.stringContaining(type)]);
      expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      if (type === 'text/html') expect(res.headers.get('cache-control')).toBe('no-store');
    }
    expect(await (await fetch(`${s.url}/ui/`)).text()).toContain('<title>admin</title>');
    const bare = await fetch(`${s.url}/ui`, { redirect: 'manual' });
    expect([bare.status, bare.headers.get('location')]).toEqual([308, '/ui/']);
    for (const path of ['/ui/assets/%2e%2e/index.html', '/ui/assets/..%2findex.html', '/ui/assets/missing.js', '/ui/assets/.hidden.js', '/ui/assets/app.exe']) {
      expect([path, (await fetch(`${s.url}${path}`)).status]).toEqual([path, 404]);
    }
    const app = await buildApp({ store: s.t.store, tokens: new TokenRegistry(), ui: { dir: join(s.uiDir, 'absent') } });
    try {
      const res = await app.inject({ url: '/ui/', headers: { accept: 'text/html,application/xhtml+xml' } });
      expect(res.statusCode).toBe(503);
      expect(res.body).toContain('npm run build');
      expect(res.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      // To anything but a browser, the refusal is the API's own shape.
      const api = await app.inject({ url: '/ui/' });
      expect([api.statusCode, api.json().error, api.json().message]).toEqual([503, 'ui_not_built', expect.stringContaining('npm run build')]);
    } finally {
      await app.close();
    }
  });
});

describe('tenant links and pages', () => {
  let s: Setup;
  const make = async (tenant: string) => {
    const res = await fetch(`${s.url}/v1/tenants/${tenant}/links`, { method: 'POST', headers: bearer(ADMIN) });
    expect(res.status).toBe(201);
    const link = (await res.json()) as { id: string; url: string; expires_at: string };
    return { ...link, path: new URL(link.url).pathname };
  };
  beforeAll(async () => {
    s = await setup();
  });
  afterAll(async () => {
    await s.app.close();
    await s.notices.close();
    await s.t.dispose();
    rmSync(s.uiDir, { recursive: true, force: true });
  });

  it('a valid link shows the tenant page (with the CSP) and that tenant\'s data only, in tenant-safe words', async () => {
    const link = await make('alice');
    expect(link.id).toMatch(/^[0-9a-f]{16}$/);
    expect(link.expires_at).toBe(new Date(T0 + 86_400_000).toISOString());
    const page = await fetch(`${s.url}${link.path}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>tenant</title>');
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(page.headers.get('cache-control')).toBe('no-store');
    const asset = await fetch(`${s.url}/t/assets/tenant.js`);
    expect([asset.status, asset.headers.get('content-security-policy')]).toEqual([200, CONTENT_SECURITY_POLICY]);

    const summary = (await (await fetch(`${s.url}${link.path}/api/summary`)).json()) as Record<string, unknown>;
    expect(summary).toEqual({
      tenant: 'alice',
      plan: { name: 'basic', cpu: 100, memory: 1073741824, weight: 1 },
      contact: { email: 'support@example.com', url: null },
      hosts: ['web01'],
      open_incidents: 1,
      link_expires_at: link.expires_at,
    });
    const q = `from=${encodeURIComponent(new Date(T0 - 15 * MIN).toISOString())}&to=${encodeURIComponent(new Date(T0).toISOString())}&step=1m`;
    const usage = await (await fetch(`${s.url}${link.path}/api/usage?${q}`)).json();
    const admin = await (await fetch(`${s.url}/v1/tenants/alice/usage?${q}`, { headers: bearer(ADMIN) })).json();
    expect(usage).toEqual(admin);
    expect((usage as { tenant: string }).tenant).toBe('alice');

    const res = await fetch(`${s.url}${link.path}/api/incidents`);
    const text = await res.text();
    const { incidents } = JSON.parse(text) as { incidents: Array<Record<string, unknown>> };
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ resource: 'cpu', state: 'open', level: 1, others_waiting: true, summary: 'alice used 380% CPU while another customer was waiting' });
    expect((incidents[0]!.what_to_change as string[]).length).toBeGreaterThan(0);
    expect(text).not.toMatch(/\bbob\b/);
    expect(text).not.toContain('psi 42%');
    // bob's link: bob's data, none of alice's.
    const bobs = await make('bob');
    expect(((await (await fetch(`${s.url}${bobs.path}/api/summary`)).json()) as { tenant: string }).tenant).toBe('bob');
    expect(await (await fetch(`${s.url}${bobs.path}/api/incidents`)).json()).toEqual({ incidents: [] });
  });

  it('an altered link is refused (403), an expired one (410), a revoked one (410)', async () => {
    const link = await make('alice');
    const token = link.path.slice('/t/'.length);
    const [payload, mac] = token.split('.') as [string, string];
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${Buffer.from(JSON.stringify({ ...decoded, t: 'bob' })).toString('base64url')}.${mac}`;
    const flipped = `${payload}.${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const bad of [forged, flipped, payload, 'nonsense']) {
      const page = await fetch(`${s.url}/t/${bad}`, { headers: { accept: 'text/html' } });
      expect([bad, page.status, page.headers.get('content-security-policy')]).toEqual([bad, 403, CONTENT_SECURITY_POLICY]);
      expect(await page.text()).toMatch(/not valid|cut short/);
      const api = await fetch(`${s.url}/t/${bad}/api/summary`);
      expect(api.status).toBe(403);
      expect(((await api.json()) as { error: string }).error).toMatch(/^link_(bad_signature|malformed)$/);
    }
    s.clock.advance(86_400_000);
    try {
      const page = await fetch(`${s.url}${link.path}`, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(410);
      expect(await page.text()).toContain('expired');
      expect((await fetch(`${s.url}${link.path}/api/usage`)).status).toBe(410);
    } finally {
      s.clock.advance(-86_400_000);
    }
    expect((await fetch(`${s.url}${link.path}/api/summary`)).status).toBe(200);
    const del = await fetch(`${s.url}/v1/tenant-links/${link.id}`, { method: 'DELETE', headers: bearer(ADMIN) });
    expect(del.status).toBe(204);
    for (const p of [link.path, `${link.path}/api/summary`, `${link.path}/api/incidents`]) {
      const res = await fetch(`${s.url}${p}`);
      expect([p, res.status]).toEqual([p, 410]);
    }
    expect((await fetch(`${s.url}/v1/tenant-links/${link.id}`, { method: 'DELETE', headers: bearer(ADMIN) })).status).toBe(204);
    expect((await fetch(`${s.url}/v1/tenant-links/not-an-id`, { method: 'DELETE', headers: bearer(ADMIN) })).status).toBe(400);
    expect((await fetch(`${s.url}/v1/tenants/nobody/links`, { method: 'POST', headers: bearer(ADMIN) })).status).toBe(404);
    expect(await s.t.store.listAudit({ who: 'admin', limit: 50 })).toEqual(expect.arrayContaining([expect.objectContaining({ method: 'DELETE', path: `/v1/tenant-links/${link.id}`, status: 204 })]));
  });

  it("the tenant acknowledges its own remediation request, never another tenant's", async () => {
    const c = await s.service.open({ tenant: 'alice', what: 'Your cron job runs every minute: run it hourly.', deadline: T0 + 7 * 86_400_000 }, 'admin');
    const link = await make('alice');
    const bobs = await make('bob');
    const list = (await (await fetch(`${s.url}${link.path}/api/remediation`)).json()) as { cases: Array<Record<string, unknown>> };
    expect(list.cases).toEqual([expect.objectContaining({ id: c.id, state: 'open', can_acknowledge: true, what: 'Your cron job runs every minute: run it hourly.' })]);
    expect(await (await fetch(`${s.url}${bobs.path}/api/remediation`)).json()).toEqual({ cases: [] });
    const other = await fetch(`${s.url}${bobs.path}/api/remediation/${c.id}/ack`, { method: 'POST' });
    expect(other.status).toBe(404);
    const ack = await fetch(`${s.url}${link.path}/api/remediation/${c.id}/ack`, { method: 'POST' });
    expect(ack.status).toBe(200);
    expect(await ack.json()).toMatchObject({ id: c.id, state: 'acknowledged', can_acknowledge: false });
    expect((await s.service.get(c.id))!.state).toBe('acknowledged');
  });

  it('every notice carries the tenant\'s link, which opens that tenant\'s page', async () => {
    const rows = await s.t.store.notices.list({ tenant: 'alice' });
    const withBody = [];
    for (const r of rows) {
      const n = await s.t.store.notices.get(r.id);
      if (n?.body_text) withBody.push(n);
    }
    expect(withBody.length).toBeGreaterThan(0);
    for (const n of withBody) {
      const url = /https:\/\/ctl\.example\.com:8640\/t\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/.exec(n.body_text!);
      expect(url, n.body_text!).not.toBeNull();
      expect(n.body_html).toContain(url![0]);
      const key = await s.t.store.ui.signingKey('tenant_link');
      const check = verifyTenantLink(key, url![1]!, s.clock.now());
      expect(check.ok && check.claims.tenant).toBe('alice');
      const res = await fetch(`${s.url}/t/${url![1]}/api/summary`);
      expect(((await res.json()) as { tenant: string }).tenant).toBe('alice');
    }
  });
});

describe('the tenant listener and the ui: config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hw-ui-listen-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ui.tenant_listen serves only /t/ pages; /v1 and /ui are not on it', async () => {
    const uiDir = fakeUi();
    writeFileSync(join(dir, 'admin.token'), `${ADMIN}\n`);
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, 'state'),
      admin_token_file: join(dir, 'admin.token'),
      public_url: 'https://tenants.example.com',
      ingest: { parser_threads: 0 },
      ui: { tenant_listen: '127.0.0.1:0', dir: uiDir, session_ttl: '1h', tenant_link_ttl: '2d' },
    });
    const running = await startController(config, { log: pino({ level: 'silent' }) });
    try {
      expect(running.tenantUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(running.tenantUrl).not.toBe(running.url);
      expect((await fetch(`${running.url}/v1/plans/basic`, { method: 'PUT', headers: { ...bearer(ADMIN), ...json }, body: JSON.stringify({ cpu: 100 }) })).status).toBe(201);
      const put = await fetch(`${running.url}/v1/tenants/alice`, { method: 'PUT', headers: { ...bearer(ADMIN), ...json }, body: JSON.stringify({ users: ['alice'], host: 'web01', plan: 'basic' }) });
      expect(put.status).toBe(201);
      const link = (await (await fetch(`${running.url}/v1/tenants/alice/links`, { method: 'POST', headers: bearer(ADMIN) })).json()) as { url: string; expires_at: string };
      expect(link.url).toMatch(/^https:\/\/tenants\.example\.com\/t\//);
      expect(Date.parse(link.expires_at) - Date.now()).toBeGreaterThan(47 * HOUR);
      const path = new URL(link.url).pathname;
      expect((await fetch(`${running.tenantUrl}${path}`)).status).toBe(200);
      expect(((await (await fetch(`${running.tenantUrl}${path}/api/summary`)).json()) as { tenant: string }).tenant).toBe('alice');
      expect((await fetch(`${running.tenantUrl}/t/assets/tenant.js`)).status).toBe(200);
      for (const p of ['/v1/tenants', '/ui/', '/ui/api/session', '/openapi.json', '/metrics']) {
        expect([p, (await fetch(`${running.tenantUrl}${p}`, { headers: bearer(ADMIN) })).status]).toEqual([p, 404]);
      }
      const login = await fetch(`${running.tenantUrl}/ui/api/login`, { method: 'POST', headers: json, body: JSON.stringify({ token: ADMIN }) });
      expect(login.status).toBe(404);
    } finally {
      await running.close();
      rmSync(uiDir, { recursive: true, force: true });
    }
  });

  it('has defaults, takes the viewer role, and refuses bad values naming the key', () => {
    const c = parseControllerConfig({});
    expect(c.ui.sessionTtlMs).toBe(12 * HOUR);
    expect(c.ui.tenantLinkTtlMs).toBe(30 * 86_400_000);
    expect(c.ui.tenantListen).toBeUndefined();
    expect(c.ui.dir).toMatch(/\/dist\/ui$/);
    expect(parseControllerConfig({ admins: [{ name: 'carol', token_sha256: 'a'.repeat(64), role: 'viewer' }] }).admins[0]!.role).toBe('viewer');
    expect(parseControllerConfig({ admins: [{ name: 'dave', token_sha256: 'b'.repeat(64) }] }).admins[0]!.role).toBe('admin');
    const bad: Array<[unknown, string]> = [
      [{ ui: { session_ttl: '1m' } }, 'ui.session_ttl'],
      [{ ui: { session_ttl: '31d' } }, 'ui.session_ttl'],
      [{ ui: { tenant_link_ttl: '10m' } }, 'ui.tenant_link_ttl'],
      [{ ui: { tenant_listen: 'everywhere' } }, 'ui.tenant_listen'],
      [{ ui: { dir: 'relative/ui' } }, 'ui.dir'],
      [{ ui: { colour: 'blue' } }, 'ui.colour'],
      [{ admins: [{ name: 'carol', token_sha256: 'a'.repeat(64), role: 'root' }] }, 'admins[0].role'],
    ];
    for (const [raw, key] of bad) {
      let caught: unknown;
      try {
        parseControllerConfig(raw);
      } catch (err) {
        caught = err;
      }
      expect([key, caught instanceof ConfigError && caught.key]).toEqual([key, key]);
    }
  });
});
