// Reports through app.inject() on a real SQLite file: a value out of range refuses its sample, event or
// directory entry alone (named in the 202 and counted in a metric); the controller stays up, answers for the
// tenant and restarts on the file (issue item 1). Fields a newer agent adds are stripped at every level.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenRegistry } from '../../../../controller/auth.js';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { MAX_REPORT_PROBLEMS, type TenantSample } from '../../../../shared/wire/agent.js';
import { MAX_BYTES, MAX_CPU_PERCENT } from '../../../../shared/wire/bounds.js';
import { describeBackends, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, event, GiB, HOUR, report } from '../fixtures.js';

const ADMIN = 'admin-token-for-tests-0001';
const AGENT1 = 'agent-token-web01-tests-01';
const T0 = Date.UTC(2025, 5, 1, 10);

describeBackends('http: report-items', (backend) => {
  const clock = new Clock(T0 + HOUR);
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });

  function tokens(): TokenRegistry {
    const reg = new TokenRegistry();
    reg.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    reg.addToken(AGENT1, { kind: 'agent', name: 'agent:web01', host: 'web01' });
    return reg;
  }

  let app: App;
  let t: OpenedStore;
  let seq = 0;

  async function open(): Promise<void> {
    app = await buildApp({ store: t.store, tokens: tokens(), now: clock.now, autoFlush: false });
    await app.ready();
  }

  beforeAll(async () => {
    t = await backend.openStore({ now: clock.now });
    await open();
  });
  afterAll(async () => {
    await app.close();
    await t.close();
  });

  const post = (body: unknown) =>
    app.inject({ method: 'POST', url: '/v1/reports', headers: { 'content-type': 'application/json', ...auth(AGENT1) }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
  const get = (url: string) => app.inject({ url, headers: auth(ADMIN) });
  const next = () => ++seq;
  const at = () => T0 + seq * 5000;

  describe('item 1: one report cannot stop the controller', () => {
    it('item 1: {"cpu":{"percent":1e308}} in a sample: 202 with that sample refused and named; /healthz, usage and detail answer; a restart works', async () => {
      const s = next();
      const body = JSON.stringify(report('web01', s, at(), [{ tenant: 'alice', cpu: { percent: 10 } }, { tenant: 'bob', cpu: { percent: 5 } }])).replace('"percent":5', '"percent":1e308');
      const res = await post(body);
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({
        accepted: true,
        duplicate: false,
        seq: s,
        rejected: { samples: 1, events: 0, tenants: 0 },
        problems: [`samples/1/cpu/percent: must be <= ${MAX_CPU_PERCENT}`],
      });
      expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
      const alice = await get('/v1/tenants/alice');
      expect([alice.statusCode, alice.json().latest.values.cpu_percent]).toEqual([200, 10]);
      expect((await get('/v1/tenants/alice/usage?from=2025-06-01T09:00:00Z&to=2025-06-01T12:00:00Z')).statusCode).toBe(200);
      // bob's only sample was refused: he is not known, and nothing of the value reached the store
      expect((await get('/v1/tenants/bob')).statusCode).toBe(404);
      const metrics = await get('/metrics');
      expect(metrics.body).toMatch(/^hostwarden_report_items_rejected_total\{kind="samples"\} 1$/m);
      await app.close();
      await t.reopen();
      await open();
      expect((await get('/v1/tenants/alice/usage?from=2025-06-01T09:00:00Z&to=2025-06-01T12:00:00Z')).json().series.cpu_percent.max).toContain(10);
    });

    it('item 1: memory.current 1e300 refuses that sample; the tenant answers 200 before and after a restart', async () => {
      const s = next();
      const res = await post(report('web01', s, at(), [{ tenant: 'carol', memory: { current: 1e300, anon: 0, file: 0 } }, { tenant: 'alice', memory: { current: GiB, anon: GiB, file: 0 } }]));
      expect([res.statusCode, res.json().rejected, res.json().problems]).toEqual([202, { samples: 1, events: 0, tenants: 0 }, [`samples/0/memory/current: must be <= ${MAX_BYTES}`]]);
      expect((await get('/v1/tenants/alice')).json().latest.values.memory_current).toBe(GiB);
      await app.close();
      await t.reopen();
      await open();
      expect((await get('/v1/tenants/alice')).statusCode).toBe(200);
      expect((await get('/v1/tenants/alice/usage?from=2025-06-01T09:00:00Z&to=2025-06-01T12:00:00Z&resources=memory')).statusCode).toBe(200);
    });

    it('item 1: the largest values the schema allows are stored and read back as sent', async () => {
      const s = next();
      const res = await post(report('web01', s, at(), [{ tenant: 'max', cpu: { percent: MAX_CPU_PERCENT }, memory: { current: MAX_BYTES, anon: MAX_BYTES, file: MAX_BYTES } }], { host_stats: { cores: 0.01, memory_bytes: 1 } }));
      expect([res.statusCode, res.json().rejected.samples]).toEqual([202, 0]);
      const latest = (await get('/v1/tenants/max')).json().latest.values;
      expect([latest.cpu_percent, latest.memory_current, latest.memory_file]).toEqual([MAX_CPU_PERCENT, MAX_BYTES, MAX_BYTES]);
      // the ledger's columns are clamped, never beyond what the codec stores
      expect(latest.share_memory).toBe(1e6);
    });
  });

  describe('item 2: partial acceptance', () => {
    it('stores the valid items, counts and names the refused ones (samples, events, directory entries)', async () => {
      const s = next();
      const good = event('ev-ok', 'inc-1', 'opened', at());
      const bad = { ...event('ev-bad', 'inc-2', 'opened', at()), level: 7 };
      const badTime = event('ev-time', 'inc-3', 'opened', at(), { at: '2025-02-30T99:99:99Z' });
      const res = await post(
        report('web01', s, at(), [{ tenant: 'alice', cpu: { percent: 1 } }, { tenant: 'dave', cpu: { percent: -1 } }, { tenant: 'alice', cpu: { percent: 2 } }], {
          events: [good, bad, badTime],
          tenants: [{ name: 'alice', email: 'alice@example.com' }, { name: 'erin', uids: [-5] }],
        }),
      );
      expect(res.statusCode).toBe(202);
      const body = res.json();
      expect(body.rejected).toEqual({ samples: 2, events: 2, tenants: 1 });
      expect(body.problems).toEqual([
        'samples/1/cpu/percent: must be >= 0',
        'samples/2/tenant: "alice" appears more than once in this report (the first is kept)',
        'events/1/level: must be <= 3',
        'events/2/at: must match format "date-time"',
        'tenants/1/uids/0: must be >= 0',
      ]);
      expect((await get('/v1/tenants/alice')).json().latest.values.cpu_percent).toBe(1);
      expect((await get('/v1/tenants/alice')).json().reported.email).toBe('alice@example.com');
      expect((await get('/v1/tenants/erin')).statusCode).toBe(404);
      const incidents = (await get('/v1/incidents?tenant=alice')).json().incidents as Array<{ agent_incident: string }>;
      expect(incidents.map((i) => i.agent_incident)).toEqual(['inc-1']);
      const metrics = (await get('/metrics')).body;
      expect(metrics).toMatch(/^hostwarden_report_items_rejected_total\{kind="events"\} 2$/m);
      expect(metrics).toMatch(/^hostwarden_report_items_rejected_total\{kind="tenants"\} 1$/m);
    });

    it('a leap second passes the date-time format but is no time Date can hold: that event or acknowledgement is refused alone (found by the fuzz test: a 500 before)', async () => {
      const leap = '2025-06-30T23:59:60Z';
      const res = await post(
        report('web01', next(), at(), [{ tenant: 'alice', cpu: { percent: 3 } }], {
          events: [event('ev-leap', 'inc-9', 'opened', at(), { until: leap }), event('ev-fine', 'inc-10', 'opened', at())],
          acks: [{ action_id: 'act-unknown', state: 'applied', at: leap }],
        }),
      );
      expect(res.statusCode).toBe(202);
      expect(res.json().rejected).toEqual({ samples: 0, events: 1, tenants: 0 });
      expect(res.json().problems).toEqual([`events/0/until: "${leap}" is not a valid time`, `acks/0/at: "${leap}" is not a valid time`]);
      expect((await get('/v1/tenants/alice')).json().latest.values.cpu_percent).toBe(3);
      expect((await post(report('web01', next(), at(), [], { sent_at: leap }))).json()).toEqual({ error: 'bad_request', message: `at /sent_at: "${leap}" is not a valid time` });
      expect((await get('/healthz')).statusCode).toBe(200);
    });

    it('names at most MAX_REPORT_PROBLEMS problems but counts every refused item', async () => {
      const samples = Array.from({ length: 30 }, (_, k) => ({ tenant: `bad${k}`, cpu: { percent: -k - 1 } }));
      const res = await post(report('web01', next(), at(), samples));
      expect(res.statusCode).toBe(202);
      expect(res.json().rejected.samples).toBe(30);
      expect(res.json().problems).toHaveLength(MAX_REPORT_PROBLEMS);
    });

    it('still refuses a report whose envelope is broken (not JSON, no seq, wrong host)', async () => {
      expect((await post('{"version":1')).statusCode).toBe(400);
      expect((await post({ ...report('web01', 1, at(), []), seq: undefined })).statusCode).toBe(400);
      expect((await post(report('web01', next(), at(), [], { interval: 1e308 }))).statusCode).toBe(400);
      expect((await post(report('web02', next(), at(), []))).statusCode).toBe(403);
    });
  });

  describe('wire compatibility: fields a newer agent adds', () => {
    it('strips unknown fields at every level and stores the known parts; a known field out of range is still refused', async () => {
      const s = next();
      const ev = { ...event('ev-new', 'inc-new', 'opened', at()), severity: 'high', explanation: { ...event('x', 'y', 'opened', at()).explanation, confidence: 0.9 } };
      const body = {
        ...report('web01', s, at(), [
          { tenant: 'alice', cpu: { percent: 7, steal: 1 }, gpu: { percent: 50 }, pressure: { cpu: { some: { avg10: 1, avg3: 2 } } } },
          { tenant: 'frank', cpu: { percent: -3 }, future: true },
        ] as unknown as TenantSample[]),
        host_stats: { cores: 4, memory_bytes: 16 * GiB, numa_nodes: 2 },
        events: [ev],
        tenants: [{ name: 'alice', email: 'alice@example.com', quota_class: 'gold' }],
        collectors: [{ name: 'cpu', ok: true, duration_ms: 1, retries: 0 }],
        compression: 'none',
      };
      const res = await post(body);
      expect(res.statusCode).toBe(202);
      expect(res.json().rejected).toEqual({ samples: 1, events: 0, tenants: 0 });
      expect(res.json().problems).toEqual(['samples/1/cpu/percent: must be >= 0']);
      const alice = (await get('/v1/tenants/alice')).json();
      expect(alice.latest.values.cpu_percent).toBe(7);
      expect(alice.latest.values.pressure_cpu_some).toBe(1);
      expect(alice.reported).toEqual({ name: 'alice', email: 'alice@example.com' });
      const host = (await get('/v1/hosts/web01')).json();
      expect(host.host_stats).toEqual({ cores: 4, memory_bytes: 16 * GiB });
      expect(host.collectors).toEqual([{ name: 'cpu', ok: true, duration_ms: 1 }]);
      const incidents = (await get('/v1/incidents?tenant=alice')).json().incidents as Array<{ id: number; agent_incident: string }>;
      const stored = (await get(`/v1/incidents/${incidents.find((i) => i.agent_incident === 'inc-new')!.id}`)).json();
      expect(stored.history[0].severity).toBeUndefined();
      expect(stored.explanation.confidence).toBeUndefined();
    });
  });
});
