// Remediation cases through app.inject() on a real store, with the notices and the remediation service as the
// controller runs them and a clock the test moves: opening with evidence, the tenant's signed link (GET shows
// and changes nothing, POST acknowledges, a changed or expired link is refused), the overdue job queueing the
// step as a manual action, resolving lifting it with a release, each move's notice, the audit log, and the
// per-host cap holding a notice for a slot (never for a digest).
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { TokenRegistry } from '../../../../controller/auth.js';
import { parseControllerConfig } from '../../../../controller/config.js';
import { startNotices, type Notices } from '../../../../controller/notices/service.js';
import { RemediationService } from '../../../../controller/remediation/service.js';
import type { SqliteStore } from '../../../../controller/store/sqlite/sqlite-store.js';
import { Clock, event, prepared, report, tempStore } from '../fixtures.js';

const ADMIN = 'admin-token-for-remediation-tests';
const auth = { authorization: `Bearer ${ADMIN}` };
const H = 3_600_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');

interface Setup {
  t: ReturnType<typeof tempStore>;
  clock: Clock;
  notices: Notices;
  service: RemediationService;
  app: App;
}

async function setup(extra: Record<string, unknown> = {}): Promise<Setup> {
  const clock = new Clock(T0);
  const t = tempStore({ now: clock.now });
  const config = parseControllerConfig({ state_dir: t.dir, public_url: 'https://ctl.example.com:8640/', notices: { enabled: false }, ...extra });
  const log = pino({ level: 'silent' });
  // notices.enabled false: rows are written (the cases' notices go straight into the outbox), nothing is sent.
  const notices = startNotices(t.store, config, { log, now: clock.now });
  const service = new RemediationService({ store: t.store, config: config.remediation, notices: config.notices, publicUrl: config.publicUrl, domain: 'example.com', now: clock.now });
  const tokens = new TokenRegistry();
  tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
  const app = await buildApp({ store: t.store, tokens, outbox: notices.outbox, remediation: service, now: clock.now, autoFlush: false });
  for (const [url, payload] of [
    ['/v1/plans/basic', { cpu: 100 }],
    ['/v1/tenants/alice', { users: ['alice'], plan: 'basic', host: 'web01', email: 'alice@example.com' }],
    ['/v1/tenants/bob', { users: ['bob'], plan: 'basic', host: 'web01', email: 'bob@example.com' }],
  ] as const) {
    expect((await app.inject({ method: 'PUT', url, headers: auth, payload })).statusCode).toBeLessThan(300);
  }
  return { t, clock, notices, service, app };
}

async function teardown(s: Setup): Promise<void> {
  await s.app.close();
  await s.notices.close();
  await s.t.dispose();
}

async function noticesOf(store: SqliteStore, tenant: string) {
  return (await store.notices.list({ tenant })).filter((n) => n.category === 'remediation').reverse();
}

describe('remediation cases over the API', () => {
  let s: Setup;
  let id: number;
  let token: string;
  const what = 'Your cron job <script>alert(1)</script> & backup.sh runs every minute:\nrun it hourly.';

  beforeAll(async () => {
    s = await setup();
    // Two incidents of alice and one of bob, as an agent reports them.
    const r = report('web01', 1, T0 - 60_000, [], {
      events: [event('e1', 'alice-cpu-1', 'opened', T0 - 120_000), event('e2', 'alice-cpu-2', 'opened', T0 - 90_000), event('e3', 'bob-cpu-1', 'opened', T0 - 90_000, { tenant: 'bob' })],
    });
    await s.t.store.ingest(prepared(r));
  });
  afterAll(async () => teardown(s));

  it('opens a case with evidence; refuses what does not fit', async () => {
    const incidents = await s.t.store.listIncidents({});
    const alice = incidents.filter((i) => i.tenant === 'alice').map((i) => i.id);
    const bob = incidents.find((i) => i.tenant === 'bob')!.id;
    const bad = async (payload: object, status: number) => {
      const res = await s.app.inject({ method: 'POST', url: '/v1/remediation-cases', headers: auth, payload });
      expect([res.statusCode, Object.keys(res.json()).sort()]).toEqual([status, ['error', 'message']]);
      return res.json().message as string;
    };
    expect(await bad({ tenant: 'alice', what, deadline: '3d', incidents: [bob] }, 400)).toMatch(/incident \d+ is not one of tenant alice's/);
    expect(await bad({ tenant: 'carol', what, deadline: '3d' }, 404)).toMatch(/carol is not known/);
    expect(await bad({ tenant: 'alice', what, deadline: '2020-01-01T00:00:00Z' }, 400)).toMatch(/deadline: must be in the future/);
    expect(await bad({ tenant: 'alice', what, deadline: 'soon' }, 400)).toMatch(/deadline/);
    expect(await bad({ tenant: 'alice', what: 'x'.repeat(4001), deadline: '3d' }, 400)).toMatch(/what/);
    expect(await bad({ tenant: 'alice', what, deadline: '3d', step: { action: 'freeze' } }, 400)).toMatch(/step/);

    const res = await s.app.inject({ method: 'POST', url: '/v1/remediation-cases', headers: auth, payload: { tenant: 'alice', what, deadline: '3d', incidents: alice, step: { action: 'throttle', level: 2 } } });
    expect(res.statusCode).toBe(201);
    const c = res.json();
    id = c.id;
    expect(c).toMatchObject({ tenant: 'alice', host: 'web01', state: 'open', what, opened_by: 'admin', deadline: new Date(T0 + 72 * H).toISOString(), step: { action: 'throttle', level: 2 }, step_state: 'none' });
    expect(c.evidence.incidents.map((i: { id: number }) => i.id).sort()).toEqual([...alice].sort());
    // The top processes of both incidents' explanations, named once.
    expect(c.evidence.top_processes).toEqual([expect.objectContaining({ pid: 4242, command: 'php-fpm: pool alice' })]);
  });

  it('the tenant is told at once, with a signed link', async () => {
    const [opened] = await noticesOf(s.t.store, 'alice');
    expect(opened).toMatchObject({ event_type: 'remediation_opened', state: 'queued', recipient: 'alice@example.com', category: 'remediation', digest_due: null });
    expect(opened!.subject).toBe('[web01] alice: please fix an issue with your account by 2026-12-04 00:00:00 UTC');
    expect(opened!.body_text).toContain('backup.sh runs every minute');
    expect(opened!.body_text).toContain('php-fpm: pool alice');
    expect(opened!.body_html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; backup.sh');
    expect(opened!.body_html).not.toContain('<script>');
    const m = /https:\/\/ctl\.example\.com:8640\/remediation\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/.exec(opened!.body_text!);
    expect(m).not.toBeNull();
    token = m![1]!;
  });

  it('GET on the link shows the case, escaped, and changes nothing', async () => {
    const res = await s.app.inject({ method: 'GET', url: `/remediation/${token}`, headers: { accept: 'text/html' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.body).not.toContain('<script>');
    expect(res.body).toContain('<form method="post">');
    expect((await s.service.get(id))!.state).toBe('open');
    expect(await noticesOf(s.t.store, 'alice')).toHaveLength(1);
  });

  it('a changed link is refused: JSON to a client, a page to a browser', async () => {
    const changed = `${token.slice(0, 5)}${token[5] === 'A' ? 'B' : 'A'}${token.slice(6)}`;
    const json = await s.app.inject({ method: 'POST', url: `/remediation/${changed}` });
    expect([json.statusCode, json.json()]).toEqual([404, { error: 'link_bad_signature', message: expect.stringContaining('not valid') }]);
    const html = await s.app.inject({ method: 'GET', url: `/remediation/${changed}`, headers: { accept: 'text/html,application/xhtml+xml' } });
    expect([html.statusCode, html.headers['content-type']]).toEqual([404, 'text/html; charset=utf-8']);
    expect((await s.app.inject({ method: 'GET', url: '/remediation/not<a>token' })).statusCode).toBe(400);
    expect((await s.service.get(id))!.state).toBe('open');
  });

  it('POST on the link acknowledges (a form post works), once', async () => {
    const res = await s.app.inject({ method: 'POST', url: `/remediation/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, payload: '' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('your acknowledgement is recorded');
    const c = await s.service.get(id);
    expect(c).toMatchObject({ state: 'acknowledged', acknowledged_at: new Date(T0).toISOString() });
    expect(c!.history.at(-1)).toMatchObject({ type: 'acknowledged', by: 'tenant (signed link)' });
    expect((await s.app.inject({ method: 'POST', url: `/remediation/${token}` })).statusCode).toBe(200);
    expect((await noticesOf(s.t.store, 'alice')).map((n) => n.event_type)).toEqual(['remediation_opened', 'remediation_acknowledged']);
  });

  it('the overdue job: reminder, then overdue with the step queued as a manual action', async () => {
    s.clock.advance(48 * H);
    expect(await s.service.tick()).toMatchObject({ reminded: 1, overdue: 0 });
    s.clock.advance(24 * H);
    expect(await s.service.tick()).toMatchObject({ overdue: 1, stepsApplied: 1 });
    const c = (await s.service.get(id))!;
    expect(c).toMatchObject({ state: 'overdue', step_state: 'applied' });
    const action = (await s.t.store.getAction(c.step_action_id!))!;
    expect(action).toMatchObject({ tenant: 'alice', action: 'throttle', level: 2, state: 'pending', by: `remediation:${id}` });
    expect(action.reason).toContain(`remediation case ${id} is overdue`);
    // The agent's policy carries it.
    expect((await s.t.store.getPolicy('web01')).policy.actions.map((a) => a.id)).toContain(action.id);
    expect(await s.service.tick()).toMatchObject({ overdue: 0, stepsApplied: 0 });
    expect((await noticesOf(s.t.store, 'alice')).map((n) => n.event_type)).toEqual(['remediation_opened', 'remediation_acknowledged', 'remediation_reminder', 'remediation_overdue']);
  });

  it('resolving lifts the step with a release; every admin call is in the audit log', async () => {
    const bad = await s.app.inject({ method: 'POST', url: `/v1/remediation-cases/${id}/resolve`, headers: auth, payload: {} });
    expect(bad.statusCode).toBe(400);
    const res = await s.app.inject({ method: 'POST', url: `/v1/remediation-cases/${id}/resolve`, headers: auth, payload: { note: 'the cron job runs hourly now' } });
    expect(res.statusCode).toBe(200);
    const c = res.json();
    expect(c).toMatchObject({ state: 'resolved', resolution: 'the cron job runs hourly now', step_state: 'lifted' });
    const release = (await s.t.store.getAction(c.lift_action_id))!;
    expect(release).toMatchObject({ action: 'release', tenant: 'alice', by: `remediation:${id}` });
    const again = await s.app.inject({ method: 'POST', url: `/v1/remediation-cases/${id}/resolve`, headers: auth, payload: { note: 'again' } });
    expect([again.statusCode, again.json().error]).toEqual([409, 'case_resolved']);
    const resolved = (await noticesOf(s.t.store, 'alice')).at(-1)!;
    expect(resolved.event_type).toBe('remediation_resolved');
    expect(resolved.body_text).toContain('the cron job runs hourly now');
    expect(resolved.body_text).not.toContain('/remediation/');
    const audit = await s.t.store.listAudit({});
    expect(audit.filter((a) => a.path.startsWith('/v1/remediation-cases')).map((a) => `${a.method} ${a.status}`)).toEqual(expect.arrayContaining(['POST 201', 'POST 200', 'POST 409']));
    const list = await s.app.inject({ method: 'GET', url: '/v1/remediation-cases?state=resolved&tenant=alice', headers: auth });
    expect(list.json().cases.map((x: { id: number }) => x.id)).toEqual([id]);
    expect((await s.app.inject({ method: 'GET', url: '/v1/remediation-cases/999', headers: auth })).statusCode).toBe(404);
    expect((await s.app.inject({ method: 'GET', url: '/v1/remediation-cases' })).statusCode).toBe(401);
  });

  it('an expired link is refused (410)', async () => {
    s.clock.advance(31 * 24 * H);
    const res = await s.app.inject({ method: 'GET', url: `/remediation/${token}` });
    expect([res.statusCode, res.json().error]).toEqual([410, 'link_expired']);
  });
});

describe('remediation notices under the per-host cap', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup({ notices: { enabled: false, caps: { per_host_hour: { remediation: 2 } } } });
  });
  afterAll(async () => teardown(s));

  it('over the cap a notice is held for a slot, never for a digest, and goes out when the hour frees one', async () => {
    for (const tenant of ['alice', 'bob', 'alice']) await s.service.open({ tenant, what: 'fix it', deadline: T0 + 72 * H }, 'admin');
    const all = (await s.t.store.notices.list({})).reverse();
    expect(all.map((n) => [n.tenant, n.state, n.digest_due])).toEqual([
      ['alice', 'queued', null],
      ['bob', 'queued', null],
      ['alice', 'held', null],
    ]);
    expect(all[2]!.error).toMatch(/notices\.caps\.per_host_hour\.remediation \(2 per host per hour for web01\)/);
    expect(await s.t.store.notices.dueDigests(T0 + 30 * 24 * H)).toEqual([]);
    s.clock.advance(H + 1);
    expect(await s.notices.outbox.releaseHeld(s.clock.now())).toBe(1);
    expect((await s.t.store.notices.get(all[2]!.id))!.state).toBe('queued');
  });
});
