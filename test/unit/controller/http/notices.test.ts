// GET /v1/notices and /v1/notices/{id} through app.inject() on a real store, with the notices service as the
// controller runs it (hook, sender into a temporary outbox directory, metrics): admin only, validated query,
// the rows with their states and errors, one notice with its bodies.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { TokenRegistry } from '../../../../controller/auth.js';
import { parseControllerConfig } from '../../../../controller/config.js';
import { controllerMetrics } from '../../../../controller/metrics.js';
import { NOTICE_STATES, type NoticeState } from '../../../../controller/notices/outbox.js';
import { startNotices, type Notices } from '../../../../controller/notices/service.js';
import { NoticeStateSchema, type NoticeStateName } from '../../../../shared/wire/api.js';
import { describeBackends, type OpenedStore } from '../../../helpers/store-backends.js';
import { report } from '../fixtures.js';
import { ladderEvents, queuedManualEvents, storeQueue } from '../notices/events.js';

const ADMIN = 'admin-token-for-notice-tests';
const AGENT = 'agent-token-web01-notice-tests';
const auth = (t: string) => ({ authorization: `Bearer ${t}` });


describeBackends('http: notices', (backend) => {
  let app: App;
  let t: OpenedStore;
  let notices: Notices;

  beforeAll(async () => {
    t = await backend.openStore();
    const config = parseControllerConfig({ state_dir: t.dir, notices: { admin_bcc: ['abuse@example.com'] } });
    const metrics = controllerMetrics();
    notices = startNotices(t.store, config, { log: pino({ level: 'silent' }), registry: metrics.registry });
    const tokens = new TokenRegistry();
    tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    tokens.addToken(AGENT, { kind: 'agent', name: 'agent:web01', host: 'web01' });
    app = await buildApp({ store: t.store, tokens, metrics, outbox: notices.outbox });
    const now = Date.now();
    const body = report('web01', 1, now - 1000, [{ tenant: 'alice', cpu: { percent: 150 } }], {
      events: [...ladderEvents('alice', now - 200_000).slice(0, 2), ...(await queuedManualEvents(storeQueue(t.store), 'notice', { tenant: 'bob', now: now - 2000 }))],
      tenants: [{ name: 'alice', email: 'alice@example.com' }],
    });
    const res = await app.inject({ method: 'POST', url: '/v1/reports', headers: auth(AGENT), payload: body });
    expect(res.statusCode).toBe(202);
    await vi.waitFor(() => expect(readdirSync(join(t.dir, 'outbox'))).toHaveLength(3), { timeout: 10_000 });
  });
  afterAll(async () => {
    await app.close();
    await notices.close();
    await t.close();
  });

  // The API's notice states and the outbox's are the same list: at compile time (this line fails to type-check
  // when either side gains a state the other lacks) and at run time.
  const sameStates: [NoticeStateName, NoticeState] extends [NoticeState, NoticeStateName] ? true : never = true;

  describe('GET /v1/notices', () => {
    it("declares the outbox's states in its schema", () => {
      expect(sameStates).toBe(true);
      expect(NoticeStateSchema.anyOf.map((s) => s.const).sort()).toEqual([...NOTICE_STATES].sort());
    });


    it('is for admins only', async () => {
      expect((await app.inject({ url: '/v1/notices' })).statusCode).toBe(401);
      expect((await app.inject({ url: '/v1/notices', headers: auth(AGENT) })).statusCode).toBe(403);
      expect((await app.inject({ url: '/v1/notices/1', headers: auth(AGENT) })).statusCode).toBe(403);
    });

    it('lists notices newest first with their states, recipients and errors', async () => {
      // Every notice done: none queued and none mid-send (a claimed one is `sending` until its answer is stored).
      await vi.waitFor(async () => {
        const counts = (await app.inject({ url: '/v1/notices', headers: auth(ADMIN) })).json().counts as Record<string, number>;
        expect([counts.queued ?? 0, counts.sending ?? 0]).toEqual([0, 0]);
      });
      const res = await app.inject({ url: '/v1/notices', headers: auth(ADMIN) });
      expect(res.statusCode).toBe(200);
      const { notices: list, counts } = res.json() as { notices: Array<Record<string, unknown>>; counts: Record<string, number> };
      expect(list.map((n) => [n.id, n.tenant, n.event_type, n.state, n.recipient])).toEqual([
        [3, 'bob', 'opened', 'no_recipient', null],
        [2, 'alice', 'escalated', 'sent', 'alice@example.com'],
        [1, 'alice', 'opened', 'sent', 'alice@example.com'],
      ]);
      expect(counts).toEqual({ sent: 2, no_recipient: 1 });
      expect(list[0]).toMatchObject({ kind: 'event', manual: true, bcc: ['abuse@example.com'], attempts: 1, error: expect.stringContaining('only the admin copy goes out'), sent_at: expect.any(String) });
      expect(list[1]).toMatchObject({ host: 'web01', resource: 'cpu', step: 'throttle', level: 1, category: 'throttle', subject: '[web01] alice: cpu throttled (level 1)', incident: expect.stringMatching(/^alice-cpu-/), incident_id: expect.any(Number) });
      const only = await app.inject({ url: '/v1/notices?tenant=alice&state=sent&kind=event&limit=1', headers: auth(ADMIN) });
      expect(only.json().notices.map((n: { id: number }) => n.id)).toEqual([2]);
    });

    it('refuses a bad query with a 400 naming the parameter', async () => {
      const bad = await app.inject({ url: '/v1/notices?state=lost', headers: auth(ADMIN) });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/^query parameter state: /);
      const unknown = await app.inject({ url: '/v1/notices?tenants=alice', headers: auth(ADMIN) });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json().message).toContain('"tenants"');
    });

    it('shows one notice with its plain-text and HTML bodies', async () => {
      const one = await app.inject({ url: '/v1/notices/2', headers: auth(ADMIN) });
      expect(one.statusCode).toBe(200);
      expect(one.json().text).toContain('WHAT WAS MEASURED');
      expect(one.json().html).toContain('&lt;script&gt;');
      const none = await app.inject({ url: '/v1/notices/99', headers: auth(ADMIN) });
      expect([none.statusCode, none.json()]).toEqual([404, { error: 'not_found', message: 'notice 99 is not known' }]);
    });

    it('counts notices by state and delivery attempts in /metrics', async () => {
      const m = (await app.inject({ url: '/metrics', headers: auth(ADMIN) })).body;
      expect(m).toContain('hostwarden_notices{state="sent"} 2');
      expect(m).toContain('hostwarden_notices{state="no_recipient"} 1');
      expect(m).toContain('hostwarden_notices{state="held"} 0');
      expect(m).toContain('hostwarden_notice_sends_total{result="sent"} 3');
    });
  });
});
