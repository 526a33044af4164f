// Issue item 8: the API refuses what the agent refuses (one plan rule, shared/wire/bounds.ts, used by both
// agent.yaml's reader and PUT /v1/plans), UIDs of system accounts, and time parameters no answer can hold.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../../../agent/config.js';
import { TokenRegistry } from '../../../../controller/auth.js';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { ConfigError } from '../../../../shared/errors.js';
import { MAX_CPU_PERCENT, MAX_UID, PLAN_LIMITS } from '../../../../shared/wire/bounds.js';
import { describeBackends, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, HOUR, report } from '../fixtures.js';

const ADMIN = 'admin-token-for-tests-0001';
const AGENT1 = 'agent-token-web01-tests-01';
const T0 = Date.UTC(2025, 5, 1, 10);

describeBackends('http: plan-bounds', (backend) => {
  const clock = new Clock(T0 + HOUR);
  const auth = { authorization: `Bearer ${ADMIN}` };

  let app: App;
  let t: OpenedStore;

  beforeAll(async () => {
    t = await backend.openStore({ now: clock.now });
    const reg = new TokenRegistry();
    reg.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    reg.addToken(AGENT1, { kind: 'agent', name: 'agent:web01', host: 'web01' });
    app = await buildApp({ store: t.store, tokens: reg, now: clock.now, autoFlush: false });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await t.close();
  });

  const putPlan = (name: string, payload: Record<string, unknown>) => app.inject({ method: 'PUT', url: `/v1/plans/${name}`, headers: auth, payload });

  /** Plans the agent refuses in agent.yaml: each one the API refuses too. */
  const REFUSED: Array<[string, Record<string, unknown>, RegExp]> = [
    ['cpu 1e308', { cpu: 1e308 }, /^at \/cpu: must be <= 409600$/],
    ['cpu 0.5 (under 1% of a core)', { cpu: 0.5 }, /^at \/cpu: must be >= 1$/],
    ['weight 1e-300', { weight: 1e-300 }, /^at \/weight: must be >= 0.01$/],
    ['weight 20000', { weight: 20000 }, /^at \/weight: must be <= 10000$/],
    ['memory 1 MiB', { memory: 1024 * 1024 }, /^at \/memory: must be >= 4194304$/],
    ['memory 2^60', { memory: 2 ** 60 }, /^at \/memory: must be <= 1125899906842624$/],
    ['processes 1e7', { processes: 1e7 }, /^at \/processes: must be <= 4194304$/],
    ['iops 1.5', { iops: 1.5 }, /^at \/iops: must be integer$/],
  ];

  describe('item 8: plans the agent would refuse', () => {
    it.each(REFUSED)('PUT /v1/plans/x with %s is a 400 naming the field', async (_name, plan, message) => {
      const res = await putPlan('x', { weight: 1, ...plan });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('bad_request');
      expect(res.json().message).toMatch(message);
    });

    it.each(REFUSED)('the agent refuses %s in agent.yaml too (the same rule)', (_name, plan) => {
      expect(() => readAgentConfig({ plans: { x: { weight: 1, ...plan } } })).toThrow(ConfigError);
      expect(() => readAgentConfig({ plans: { x: { weight: 1, ...plan } } })).toThrow(`config key "plans.x.${Object.keys(plan)[0]}": `);
    });

    it('accepts the bounds themselves, in the API and in agent.yaml alike', async () => {
      const edge = { cpu: PLAN_LIMITS.cpu.max, memory: PLAN_LIMITS.memory.min, io_read: PLAN_LIMITS.io_read.max, iops: 1, processes: PLAN_LIMITS.processes.max, weight: PLAN_LIMITS.weight.min };
      const res = await putPlan('edge', edge);
      expect(res.statusCode).toBe(201);
      expect(res.json().plan).toEqual(edge);
      expect(readAgentConfig({ plans: { edge } }).plans.edge).toEqual(edge);
    });

    it("item 8: PUT /v1/plans/x {weight: 1e-300} is refused, and the next report is stored and read back", async () => {
      expect((await putPlan('x', { weight: 1e-300 })).statusCode).toBe(400);
      expect((await putPlan('x', { cpu: 1e308 })).statusCode).toBe(400);
      expect((await app.inject({ url: '/v1/plans', headers: auth })).json().plans.map((p: { name: string }) => p.name)).not.toContain('x');
      const post = await app.inject({
        method: 'POST',
        url: '/v1/reports',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${AGENT1}` },
        payload: JSON.stringify(report('web01', 1, T0, [{ tenant: 'alice', cpu: { percent: 50 } }], { tenants: [{ name: 'alice', plan: 'x' }] })),
      });
      expect(post.statusCode).toBe(202);
      const alice = await app.inject({ url: '/v1/tenants/alice', headers: auth });
      expect([alice.statusCode, alice.json().weight]).toEqual([200, 1]);
      expect((await app.inject({ url: '/v1/tenants/alice/usage?from=2025-06-01T09:00:00Z', headers: auth })).statusCode).toBe(200);
    });
  });

  describe('item 8: tenants with UIDs the agent never governs', () => {
    it.each([
      ['users: [0]', [0], /^at \/users\/0: /],
      ['a UID below the default uid_min', [999], /^at \/users\/0: /],
      ['a UID beyond 2^32-2', [MAX_UID + 1], /^at \/users\/0: /],
      ['a negative UID', [-1], /^at \/users\/0: /],
    ])('PUT /v1/tenants/y with %s is a 400', async (_name, users, message) => {
      const res = await app.inject({ method: 'PUT', url: '/v1/tenants/y', headers: auth, payload: { users, plan: 'edge', host: 'web01' } });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(message);
    });

    it('takes UIDs from 1000 on and user names as before', async () => {
      const res = await app.inject({ method: 'PUT', url: '/v1/tenants/y', headers: auth, payload: { users: [1000, 'yvonne', MAX_UID], plan: 'edge', host: 'web01' } });
      expect(res.statusCode).toBe(201);
    });

    it('the agent refuses the same UIDs in agent.yaml', () => {
      for (const uid of [0, 999, MAX_UID + 1]) expect(() => readAgentConfig({ tenants: [{ name: 'y', users: [uid] }] })).toThrow(/config key "tenants\[0\]\.users\[0\]": UID/);
    });
  });

  describe('item 8: time parameters no answer can hold', () => {
    it.each([
      ['from=99999999999999999999d', /^from: "99999999999999999999d" reaches back before 0000-01-01T00:00:00.000Z/],
      ['from=300000000d', /^from: "300000000d" reaches back before/],
      ['to=1e400d', /^to: "1e400d" is neither an ISO-8601 time/],
    ])('GET /v1/tenants/alice/usage?%s is a 400 with a message', async (query, message) => {
      const res = await app.inject({ url: `/v1/tenants/alice/usage?${query}`, headers: auth });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ error: 'bad_request', message: expect.stringMatching(message) });
    });

    it('refuses a ttl beyond ten years, as a number or a duration', async () => {
      await app.inject({ method: 'PUT', url: '/v1/tenants/alice', headers: auth, payload: { users: ['alice'], plan: 'edge', host: 'web01' } });
      for (const ttl of [1e308, '99999999999d', '4000d']) {
        const res = await app.inject({ method: 'POST', url: '/v1/tenants/alice/actions', headers: auth, payload: { action: 'throttle', reason: 'test', ttl } });
        expect([ttl, res.statusCode]).toEqual([ttl, 400]);
      }
      const ok = await app.inject({ method: 'POST', url: '/v1/tenants/alice/actions', headers: auth, payload: { action: 'throttle', reason: 'test', ttl: '30d' } });
      expect(ok.statusCode).toBe(201);
    });

    it('the largest cpu percent a plan takes is what a report may carry', () => {
      expect(PLAN_LIMITS.cpu.max).toBe(MAX_CPU_PERCENT);
    });
  });
});
