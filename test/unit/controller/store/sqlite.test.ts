// The SQLite store on a real database file: idempotent ingest, rollups (average and maximum) from memory, from
// the tables and after a reopen, retention by tier, late reports, the fairness ledger, incidents and their
// hook, manual actions through policy and acknowledgements.
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictStateError } from '../../../../controller/store/errors.js';
import type { SqliteStore } from '../../../../controller/store/sqlite/sqlite-store.js';
import type { NewIncidentEvent } from '../../../../controller/store/store.js';
import type { TenantSample } from '../../../../shared/wire/agent.js';
import { Clock, DAY, event, GiB, HOUR, MIN, prepared, report, tempStore } from '../fixtures.js';

const T0 = Date.UTC(2025, 5, 1, 10, 0, 0);
const cpu = (tenant: string, percent: number, memory = 1 * GiB): TenantSample => ({ tenant, cpu: { percent }, memory: { current: memory, anon: memory, file: 0 } });

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

function open(clock: Clock, opts: Parameters<typeof tempStore>[0] = {}) {
  const t = tempStore({ now: clock.now, ...opts });
  cleanup.push(t.dispose);
  return t;
}

function count(store: SqliteStore, table: string): number {
  return (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

describe('ingest', () => {
  it('stores a repeated (host, seq) once and refuses a reused seq with another time', async () => {
    const clock = new Clock(T0 + HOUR);
    const { store } = open(clock);
    const r = report('web01', 1, T0, [cpu('alice', 50)]);
    expect(await store.ingest(prepared(r))).toMatchObject({ accepted: true, duplicate: false, samples: 1 });
    expect(await store.ingest(prepared(r))).toMatchObject({ accepted: true, duplicate: true, samples: 0 });
    expect(count(store, 'reports')).toBe(1);
    const h = await store.tenantHistory('alice', { from: T0 - MIN, to: T0 + MIN });
    expect(h?.samples).toEqual([1]);
    await expect(store.ingest(prepared(report('web01', 1, T0 + 5000, [cpu('alice', 50)])))).rejects.toThrow(ConflictStateError);
    await expect(store.ingest(prepared(report('web01', 1, T0 + 5000, [cpu('alice', 50)])))).rejects.toThrow(/seq 1 of host web01 was already used/);
  });

  it('refuses reports from a clock far ahead, naming the field', async () => {
    const clock = new Clock(T0);
    const { store } = open(clock);
    await expect(store.ingest(prepared(report('web01', 1, T0 + HOUR, [])))).rejects.toThrow(/^at \/at: .* ahead of the controller's clock/);
  });

  it('lists tenants seen in reports with their host, and managed ones', async () => {
    const clock = new Clock(T0 + HOUR);
    const { store } = open(clock);
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 50), cpu('bob', 5)])));
    await store.putPlan('basic', { cpu: 100, weight: 1 });
    await store.putTenant('carol', { users: ['carol'], plan: 'basic', host: 'web02' });
    const { tenants, total } = await store.listTenants();
    expect(total).toBe(3);
    expect(tenants.map((t) => [t.name, t.host, t.managed, t.plan])).toEqual([
      ['alice', 'web01', false, null],
      ['bob', 'web01', false, null],
      ['carol', 'web02', true, 'basic'],
    ]);
    expect((await store.listTenants({ host: 'web01' })).total).toBe(2);
    expect((await store.listHosts()).map((h) => [h.host, h.tenants, h.last_seq])).toEqual([
      ['web01', 2, 1],
      ['web02', 1, null],
    ]);
  });
});

describe('rollups', () => {
  // minute 0: cpu 10, 20, 30, 40 (memory 1, 3, 1, 1 GiB); minute 1: 50, 70; minute 59: 100; next hour: 5
  const inputs: Array<[number, number, number]> = [
    [T0, 10, 1],
    [T0 + 15_000, 20, 3],
    [T0 + 30_000, 30, 1],
    [T0 + 45_000, 40, 1],
    [T0 + 60_000, 50, 1],
    [T0 + 75_000, 70, 1],
    [T0 + 59 * MIN, 100, 1],
    [T0 + HOUR, 5, 1],
  ];

  async function feed(store: SqliteStore): Promise<void> {
    let seq = 1;
    for (const [at, c, m] of inputs) await store.ingest(prepared(report('web01', seq++, at, [cpu('alice', c, m * GiB)])));
  }

  async function expectRollups(store: SqliteStore): Promise<void> {
    const minutes = await store.tenantHistory('alice', { from: T0, to: T0 + 2 * HOUR, stepMs: MIN, metrics: ['cpu', 'memory_current'] });
    expect(minutes?.source).toBe('minute');
    expect(minutes?.times).toEqual([T0, T0 + MIN, T0 + 59 * MIN, T0 + HOUR].map((t) => new Date(t).toISOString()));
    expect(minutes?.samples).toEqual([4, 2, 1, 1]);
    expect(minutes?.series.cpu_percent).toEqual({ unit: '% of one core', avg: [25, 60, 100, 5], max: [40, 70, 100, 5] });
    expect(minutes?.series.memory_current?.avg[0]).toBe(1.5 * GiB);
    expect(minutes?.series.memory_current?.max[0]).toBe(3 * GiB);
    const hours = await store.tenantHistory('alice', { from: T0, to: T0 + 2 * HOUR, stepMs: HOUR, metrics: ['cpu'] });
    expect(hours?.source).toBe('hour');
    expect(hours?.samples).toEqual([7, 1]);
    expect(hours?.series.cpu_percent?.avg[0]).toBeCloseTo(320 / 7, 9);
    expect(hours?.series.cpu_percent?.max).toEqual([100, 5]);
    expect(hours?.series.cpu_percent?.avg[1]).toBe(5);
    // 5-minute points from minute rows: minutes 0 and 1 together
    const five = await store.tenantHistory('alice', { from: T0, to: T0 + 10 * MIN, stepMs: 5 * MIN, metrics: ['cpu'] });
    expect(five?.samples).toEqual([6]);
    expect(five?.series.cpu_percent?.avg[0]).toBeCloseTo(220 / 6, 9);
    expect(five?.series.cpu_percent?.max).toEqual([70]);
  }

  it('gives the same average and maximum from memory, from the tables, and after a reopen', async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const t = open(clock);
    await feed(t.store);
    expect(count(t.store, 'minute')).toBe(0);
    await expectRollups(t.store); // all in memory

    const flushed = await t.store.flush({ all: true });
    expect(flushed.minuteRows).toBe(2 * 4); // tenant and host series, 4 minutes
    expect(count(t.store, 'minute')).toBe(8);
    expect(count(t.store, 'hour')).toBe(4);
    await expectRollups(t.store); // all in the tables

    const again = await t.reopen();
    await expectRollups(again);
  });

  it('flushes a host once it holds flush_interval of closed minutes, one row per series and minute', async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const { store } = open(clock, { flushIntervalMs: 15 * MIN });
    let seq = 1;
    for (let at = T0; at < T0 + 15 * MIN; at += 5000) await store.ingest(prepared(report('web01', seq++, at, [cpu('alice', 10), cpu('bob', 20)])));
    expect(store.flushDue()).toBe(false);
    await store.ingest(prepared(report('web01', seq++, T0 + 15 * MIN, [cpu('alice', 10), cpu('bob', 20)])));
    expect(store.flushDue()).toBe(true);
    const r = await store.flush();
    expect(r).toMatchObject({ hosts: 1, minuteRows: 15 * 3, hourRows: 3, remaining: 0 });
    expect(store.flushDue()).toBe(false);
    expect((await store.stats()).bufferedBuckets).toBe(1); // the open minute
    const h = await store.tenantHistory('bob', { from: T0, to: T0 + HOUR, stepMs: HOUR, metrics: ['cpu'] });
    expect(h?.samples).toEqual([15 * 12 + 1]);
  });

  it('merges a late report (older than what is on disk) into the minute and hour rows', async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const { store } = open(clock);
    await store.ingest(prepared(report('web01', 1, T0 + 10 * MIN, [cpu('alice', 10)])));
    await store.flush({ all: true });
    await store.ingest(prepared(report('web01', 2, T0 + 2 * MIN, [cpu('alice', 90)])));
    await store.ingest(prepared(report('web01', 3, T0 + 10 * MIN + 5000, [cpu('alice', 30)])));
    const m = await store.tenantHistory('alice', { from: T0, to: T0 + HOUR, stepMs: MIN, metrics: ['cpu'] });
    expect(m?.series.cpu_percent).toMatchObject({ avg: [90, 20], max: [90, 30] });
    const h = await store.tenantHistory('alice', { from: T0, to: T0 + HOUR, stepMs: HOUR, metrics: ['cpu'] });
    expect(h?.series.cpu_percent).toMatchObject({ avg: [130 / 3], max: [90] });
  });
});

describe('retention', () => {
  it('drops each tier past its span and keeps the rest', async () => {
    const clock = new Clock(T0 + 48 * HOUR);
    const { store } = open(clock);
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])));
    await store.ingest(prepared(report('web01', 2, T0 + 47 * HOUR, [cpu('alice', 20)])));

    // Not yet rolled up: raw rows are the only copy and stay whatever their age.
    expect((await store.applyRetention(T0 + 49 * HOUR)).raw).toBe(0);
    await store.flush({ all: true });
    expect(count(store, 'minute')).toBe(4); // 2 minutes x (tenant, host)

    expect(await store.applyRetention(T0 + 49 * HOUR)).toEqual({ raw: 1, minute: 0, hour: 0, expiredActions: 0, records: 0 });
    expect((store.db.prepare('SELECT at FROM reports').all() as Array<{ at: number }>).map((r) => r.at)).toEqual([T0 + 47 * HOUR]);
    // Its row is gone, yet a resend of report 1 is still a duplicate; seq 1 with new data is a conflict.
    expect(await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])))).toMatchObject({ duplicate: true });
    await expect(store.ingest(prepared(report('web01', 1, T0 + 47 * HOUR + MIN, [cpu('alice', 10)])))).rejects.toThrow(/seq 1 of host web01 was already used/);
    expect(count(store, 'minute')).toBe(4);

    expect(await store.applyRetention(T0 + 91 * DAY)).toMatchObject({ minute: 2, hour: 0 });
    expect((store.db.prepare('SELECT DISTINCT bucket FROM minute').all() as Array<{ bucket: number }>).map((r) => r.bucket)).toEqual([T0 + 47 * HOUR]);

    expect(await store.applyRetention(T0 + 731 * DAY)).toMatchObject({ minute: 2, hour: 2 });
    expect((store.db.prepare('SELECT DISTINCT bucket FROM hour').all() as Array<{ bucket: number }>).map((r) => r.bucket)).toEqual([T0 + 47 * HOUR]);
  });

  it('keeps released incidents, finished actions and the audit log as long as the hour rollups', async () => {
    const clock = new Clock(T0 + HOUR);
    const { store } = open(clock);
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 1)], { events: [event('e1', 'i1', 'opened', T0), event('e2', 'i1', 'released', T0 + MIN)] })));
    await store.ingest(prepared(report('web01', 2, T0 + 5000, [], { events: [event('e3', 'i2', 'opened', T0 + 5000)] })));
    const a = await store.queueAction('alice', { action: 'notice', reason: 'heads up' }, 'admin');
    await store.ingest(prepared(report('web01', 3, T0 + 10_000, [], { acks: [{ action_id: a.id, state: 'applied', at: new Date(T0 + 10_000).toISOString() }] })));
    await store.addAudit({ at: new Date(T0).toISOString(), who: 'admin', method: 'GET', path: '/v1/hosts', status: 200, ip: null, detail: null });
    expect((await store.applyRetention(T0 + 700 * DAY)).records).toBe(0);
    // 2 events + 1 released incident + 1 done action + 1 audit entry; the open incident stays
    expect((await store.applyRetention(T0 + 731 * DAY)).records).toBe(5);
    expect((await store.listIncidents()).map((i) => [i.agent_incident, i.state])).toEqual([['i2', 'open']]);
    expect(await store.listAudit()).toEqual([]);
  });
});

describe('fairness ledger', () => {
  // Host: 4 cores, 16 GiB. a: 200% + 2 GiB (basic, w1); b: 50% + 8 GiB (double, w2); c: 20% + 1 GiB (basic, w1).
  // Hand-computed: dominant 0.5, 0.25, 0.0625; fair share 0.25; Jain 169/243; debt after 5 s: (d - 0.25) * 5 / 3600.
  async function constructed(store: SqliteStore): Promise<void> {
    await store.putPlan('basic', { cpu: 400, weight: 1 });
    await store.putPlan('double', { cpu: 400, weight: 2 });
    await store.putTenant('a', { users: ['a'], plan: 'basic', host: 'web01' });
    await store.putTenant('b', { users: ['b'], plan: 'double', host: 'web01' });
    await store.putTenant('c', { users: ['c'], plan: 'basic', host: 'web01' });
    await store.ingest(prepared(report('web01', 1, T0, [cpu('a', 200, 2 * GiB), cpu('b', 50, 8 * GiB), cpu('c', 20, 1 * GiB)])));
  }

  it('records shares, dominant shares, the fair share, Jain and the debt as hand-computed', async () => {
    const clock = new Clock(T0 + MIN);
    const { store } = open(clock);
    await constructed(store);
    const expected = {
      a: { share_cpu: 0.5, share_memory: 0.125, dominant_share: 0.5, debt: (0.25 * 5) / 3600 },
      b: { share_cpu: 0.125, share_memory: 0.5, dominant_share: 0.25, debt: 0 },
      c: { share_cpu: 0.05, share_memory: 0.0625, dominant_share: 0.0625, debt: (-0.1875 * 5) / 3600 },
    };
    for (const [name, want] of Object.entries(expected)) {
      const f = await store.tenantHistory(name, { from: T0, to: T0 + MIN, metrics: ['fairness'] });
      const got = Object.fromEntries(Object.entries(f!.series).map(([k, s]) => [k, s.avg[0]]));
      expect(got.share_cpu).toBe(want.share_cpu);
      expect(got.share_memory).toBe(want.share_memory);
      expect(got.dominant_share).toBe(want.dominant_share);
      expect(got.fair_share).toBe(0.25);
      expect(got.active).toBe(1);
      expect(got.debt).toBeCloseTo(want.debt, 9);
    }
    const host = await store.hostHistory('web01', { from: T0, to: T0 + MIN, metrics: ['jain', 'fair_share', 'active_tenants'] });
    expect(host?.series.jain?.avg[0]).toBeCloseTo(169 / 243, 6);
    expect(host?.series.fair_share?.avg[0]).toBe(0.25);
    expect(host?.series.active_tenants?.avg[0]).toBe(3);
    const h = await store.getHost('web01');
    expect(h?.fairness?.jain).toBeCloseTo(169 / 243, 6);
  });

  it('ranks tenants by debt and decays it with the half-life', async () => {
    const clock = new Clock(T0);
    const { store } = open(clock);
    await constructed(store);
    const now = await store.fairnessRanking({ host: 'web01', windowMs: HOUR, limit: 10 });
    expect(now.tenants.map((t) => t.tenant)).toEqual(['a', 'b', 'c']);
    expect(now.tenants[0]!.debt).toBeCloseTo((0.25 * 5) / 3600, 12);
    expect(now.tenants[0]).toMatchObject({ rank: 1, weight: 1, plan: 'basic', dominant_share: { avg: 0.5, max: 0.5 }, fair_share: 0.25, shares: { cpu: 0.5, memory: 0.125, io: null } });
    expect(now.hosts[0]!.jain.last).toBeCloseTo(169 / 243, 6);
    clock.advance(DAY);
    const later = await store.fairnessRanking({ host: 'web01', windowMs: HOUR, limit: 2 });
    expect(later.tenants.map((t) => t.tenant)).toEqual(['a', 'b']);
    expect(later.tenants[0]!.debt).toBeCloseTo((0.25 * 5) / 3600 / 2, 12);
    expect(later.tenants[0]!.dominant_share.avg).toBeNull(); // nothing in the last hour
  });

  it('uses the new weight once a plan changes', async () => {
    const clock = new Clock(T0 + MIN);
    const { store } = open(clock);
    await constructed(store);
    await store.putPlan('double', { cpu: 400, weight: 1 });
    await store.ingest(prepared(report('web01', 2, T0 + 5000, [cpu('a', 200, 2 * GiB), cpu('b', 50, 8 * GiB), cpu('c', 20, 1 * GiB)])));
    const f = await store.tenantHistory('b', { from: T0 + 1000, to: T0 + MIN, metrics: ['dominant_share', 'fair_share'] });
    expect(f?.series.dominant_share?.avg).toEqual([0.5]);
    expect(f?.series.fair_share?.avg[0]).toBeCloseTo(1 / 3, 6);
  });
});

describe('incidents', () => {
  it('stores each event once, keeps the incident current and tells the hook inside the transaction', async () => {
    const clock = new Clock(T0 + HOUR);
    const { store } = open(clock);
    const told: NewIncidentEvent[][] = [];
    let inTransaction: boolean[] = [];
    store.onIncidentEvents((events, tx) => {
      told.push(events);
      inTransaction.push(store.db.inTransaction && tx.now === clock.t);
    });
    const e1 = event('e1', 'i1', 'opened', T0);
    const e2 = event('e2', 'i1', 'escalated', T0 + MIN, { until: new Date(T0 + HOUR).toISOString() });
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 380)], { events: [e1] })));
    await store.ingest(prepared(report('web01', 2, T0 + MIN, [cpu('alice', 380)], { events: [e1, e2] }))); // e1 again
    expect(told.map((batch) => batch.map((e) => e.event.id))).toEqual([['e1'], ['e2']]);
    expect(inTransaction).toEqual([true, true]);
    expect(told[1]![0]!.incident).toMatchObject({ state: 'open', step: 'throttle', level: 1, events: 2, host: 'web01' });

    const [inc] = await store.listIncidents({ tenant: 'alice' });
    expect(inc).toMatchObject({ agent_incident: 'i1', state: 'open', step: 'throttle', level: 1, events: 2, opened_at: new Date(T0).toISOString(), until: new Date(T0 + HOUR).toISOString() });
    const detail = await store.getIncident(inc!.id);
    expect(detail?.history.map((e) => e.id)).toEqual(['e1', 'e2']);
    expect(detail?.explanation.top_processes[0]?.command).toBe('php-fpm: pool alice');
    // The controller adds the tenant's fairness debt from its ledger (the agent has none), to the event too.
    const ledger = (await store.fairnessRanking({ windowMs: HOUR, limit: 10 })).tenants.find((t) => t.tenant === 'alice');
    expect(detail?.explanation.fairness).toEqual({ debt: expect.any(Number), half_life_seconds: 86_400, text: expect.stringMatching(/^fairness debt of alice: -?[\d.]+ share-hours \(.*half-life 1d\)$/) });
    expect(detail?.history[1]?.explanation.fairness?.debt).toBe(detail?.explanation.fairness?.debt);
    expect(Math.abs(detail!.explanation.fairness!.debt - (ledger?.debt ?? 0))).toBeLessThan(0.01);

    await store.ingest(prepared(report('web01', 3, T0 + 10 * MIN, [], { events: [event('e3', 'i1', 'released', T0 + 10 * MIN)] })));
    expect(await store.listIncidents({ state: 'open' })).toEqual([]);
    const released = await store.listIncidents({ state: 'released', host: 'web01' });
    expect(released[0]).toMatchObject({ state: 'released', released_at: new Date(T0 + 10 * MIN).toISOString(), events: 3 });
    // overlap filter: open during [T0+5m, T0+6m), not in [T0+11m, T0+12m)
    expect(await store.listIncidents({ from: T0 + 5 * MIN, to: T0 + 6 * MIN })).toHaveLength(1);
    expect(await store.listIncidents({ from: T0 + 11 * MIN, to: T0 + 12 * MIN })).toHaveLength(0);
    expect((await store.stats()).openIncidents).toBe(0);
    inTransaction = [];
  });

  it('rolls the whole report back when a hook throws', async () => {
    const clock = new Clock(T0 + HOUR);
    const { store } = open(clock);
    const off = store.onIncidentEvents(() => {
      throw new Error('outbox full');
    });
    await expect(store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 1)], { events: [event('e1', 'i1', 'opened', T0)] })))).rejects.toThrow('outbox full');
    expect(count(store, 'reports')).toBe(0);
    expect(count(store, 'incidents')).toBe(0);
    off();
    expect(await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 1)], { events: [event('e1', 'i1', 'opened', T0)] })))).toMatchObject({ duplicate: false, events: 1 });
  });
});

describe('manual actions', () => {
  it('goes pending -> served in the policy -> applied by the ack -> released, with the ETag following', async () => {
    const clock = new Clock(T0);
    const { store } = open(clock);
    await store.putPlan('basic', { cpu: 100, weight: 1 });
    await store.putTenant('alice', { users: ['alice'], plan: 'basic', host: 'web01', email: 'alice@example.com' });
    const p0 = await store.getPolicy('web01');
    expect(p0.policy.tenants).toEqual([{ name: 'alice', users: ['alice'], plan: 'basic', host: 'web01', email: 'alice@example.com' }]);
    expect(p0.policy.plans).toEqual({ basic: { cpu: 100, weight: 1 } });
    expect((await store.getPolicy('web01')).etag).toBe(p0.etag);

    const queued: string[] = [];
    store.onActionQueued((a, tx) => queued.push(`${a.action}:${a.state}:${store.db.inTransaction && tx.now === clock.t}`));
    const a = await store.queueAction('alice', { action: 'throttle', level: 2, reason: 'crypto miner', ttlMs: 2 * HOUR }, 'admin');
    expect(a).toMatchObject({ tenant: 'alice', host: 'web01', action: 'throttle', level: 2, state: 'pending', by: 'admin', expires_at: new Date(T0 + 2 * HOUR).toISOString() });
    expect(queued).toEqual(['throttle:pending:true']);
    const p1 = await store.getPolicy('web01');
    expect(p1.etag).not.toBe(p0.etag);
    expect(p1.policy.actions).toEqual([{ id: a.id, tenant: 'alice', action: 'throttle', level: 2, reason: 'crypto miner', by: 'admin', created_at: new Date(T0).toISOString(), expires_at: new Date(T0 + 2 * HOUR).toISOString() }]);

    // Another host cannot acknowledge it.
    clock.advance(5000);
    await store.ingest(prepared(report('web02', 1, T0 + 5000, [], { acks: [{ action_id: a.id, state: 'applied', at: new Date(T0 + 5000).toISOString() }] })));
    expect((await store.getAction(a.id))?.state).toBe('pending');

    await store.ingest(prepared(report('web01', 1, T0 + 5000, [], { acks: [{ action_id: a.id, state: 'applied', at: new Date(T0 + 5000).toISOString(), message: 'cpu.max 200000 100000' }] })));
    expect(await store.getAction(a.id)).toMatchObject({ state: 'applied', state_at: new Date(T0 + 5000).toISOString(), message: 'cpu.max 200000 100000' });
    const p2 = await store.getPolicy('web01');
    expect(p2.etag).toBe(p1.etag); // the same content: the agent's copy stays valid
    expect(p2.policy.actions.map((x) => x.id)).toEqual([a.id]); // still in effect: served so a restarted agent re-applies it

    const rel = await store.queueAction('alice', { action: 'release', reason: 'cleaned up' }, 'admin');
    clock.advance(5000);
    await store.ingest(prepared(report('web01', 2, T0 + 10_000, [], { acks: [{ action_id: rel.id, state: 'applied', at: new Date(T0 + 10_000).toISOString() }] })));
    expect((await store.getAction(rel.id))?.state).toBe('done');
    expect((await store.getAction(a.id))?.state).toBe('released');
    const p3 = await store.getPolicy('web01');
    expect(p3.policy.actions).toEqual([]);
    expect(p3.etag).not.toBe(p2.etag);
    expect((await store.listActions({ tenant: 'alice' })).map((x) => x.state)).toEqual(['done', 'released']);
  });

  it('expires actions at their time and refuses what makes no sense', async () => {
    const clock = new Clock(T0);
    const { store } = open(clock);
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 1)])));
    const q = await store.queueAction('alice', { action: 'quarantine', reason: 'malware', ttlMs: 60_000 }, 'admin');
    expect((await store.getPolicy('web01')).policy.actions).toHaveLength(1);
    clock.advance(61_000);
    expect((await store.getAction(q.id))?.state).toBe('expired');
    expect((await store.getPolicy('web01')).policy.actions).toHaveLength(0);
    expect((await store.applyRetention()).expiredActions).toBe(1);
    await expect(store.queueAction('nobody', { action: 'notice', reason: 'x' }, 'admin')).rejects.toThrow(/tenant nobody is not known/);
    await expect(store.queueAction('alice', { action: 'notice', reason: 'x', ttlMs: HOUR }, 'admin')).rejects.toThrow(/^ttl: only a throttle or a quarantine/);
    await expect(store.queueAction('alice', { action: 'quarantine', reason: 'x', level: 2 }, 'admin')).rejects.toThrow(/^level: only a throttle/);
    // The API's ttl is parsed by the route (errors.test.ts); the store takes milliseconds.
    await expect(store.queueAction('alice', { action: 'throttle', reason: 'x', ttlMs: 0 }, 'admin')).rejects.toThrow(/^ttl: must be more than zero/);
  });
});

describe('tenants', () => {
  it('needs a defined plan and a host; DELETE stops managing but keeps history', async () => {
    const clock = new Clock(T0 + HOUR);
    const { store } = open(clock);
    await expect(store.putTenant('alice', { users: ['alice'], plan: 'gold', host: 'web01' })).rejects.toThrow(/^plan: "gold" is not defined/);
    await store.putPlan('gold', { cpu: 400, weight: 4 });
    await expect(store.putTenant('alice', { users: ['alice'], plan: 'gold' })).rejects.toThrow(/^host: required/);
    await expect(store.putTenant('alice', { name: 'bob', users: ['alice'], plan: 'gold', host: 'web01' })).rejects.toThrow(/^name: "bob" differs/);
    expect((await store.putTenant('alice', { users: ['alice'], plan: 'gold', host: 'web01' })).created).toBe(true);
    expect((await store.putTenant('alice', { users: ['alice', 1001], plan: 'gold', host: 'web01' })).created).toBe(false);
    expect((await store.getTenant('alice'))?.weight).toBe(4);
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])));
    expect(await store.deleteTenant('alice')).toBe(true);
    const t = await store.getTenant('alice');
    expect(t).toMatchObject({ managed: false, weight: 1, host: 'web01' });
    expect(t?.latest?.values.cpu_percent).toBe(10);
    expect((await store.getPolicy('web01')).policy.tenants).toEqual([]);
    await store.putTenant('dave', { users: ['dave'], plan: 'gold', host: 'web01' });
    expect(await store.deleteTenant('dave')).toBe(true);
    expect(await store.getTenant('dave')).toBeUndefined(); // never reported: gone
    expect(await store.deleteTenant('dave')).toBe(false);
  });

  it("keeps the agent's tenant directory: plans give unmanaged tenants their weight", async () => {
    const clock = new Clock(T0 + HOUR);
    const { store } = open(clock);
    await store.putPlan('gold', { cpu: 400, weight: 4 });
    const directory = [
      { name: 'alice', email: 'alice@example.com', plan: 'gold', uids: [1001], source: 'config' as const },
      { name: 'dave', plan: 'bronze', source: 'discovered' as const },
    ];
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 200, 1)], { tenants: directory })));
    const alice = await store.getTenant('alice');
    expect(alice).toMatchObject({ managed: false, plan: 'gold', weight: 4, reported: directory[0] });
    expect(await store.getTenant('dave')).toMatchObject({ host: 'web01', plan: 'bronze', weight: 1, first_seen: null, reported: directory[1] });
    // the weight counts from the next report on: 200% of 4 cores = 0.5, over weight 4
    await store.ingest(prepared(report('web01', 2, T0 + 5000, [cpu('alice', 200, 1)])));
    const f = await store.tenantHistory('alice', { from: T0 + 1, to: T0 + MIN, metrics: ['dominant_share'] });
    expect(f?.series.dominant_share?.avg).toEqual([0.125]);
    // reported but never measured: DELETE keeps what the agent said
    expect(await store.deleteTenant('dave')).toBe(true);
    expect((await store.getTenant('dave'))?.reported?.plan).toBe('bronze');
  });

  it('does not flip a tenant between two hosts that both report it (item 6: nor move it when its host goes quiet)', async () => {
    const clock = new Clock(T0 + HOUR);
    const { store } = open(clock);
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])));
    await store.ingest(prepared(report('web02', 1, T0 + 5000, [cpu('alice', 10)])));
    expect((await store.getTenant('alice'))?.host).toBe('web01');
    // web01 stops sending it: it stays web01's (DESIGN 8: only an admin moves a tenant, with PUT host).
    const r = await store.ingest(prepared(report('web02', 2, T0 + 11 * MIN, [cpu('alice', 10)])));
    expect(r.rejected?.counts.cross_host).toBe(1);
    expect((await store.getTenant('alice'))?.host).toBe('web01');
  });
});

describe('one controller per database', () => {
  it('refuses a second store on the same file', async () => {
    const clock = new Clock(T0);
    const t = open(clock);
    const { SqliteStore } = await import('../../../../controller/store/sqlite/sqlite-store.js');
    expect(() => new SqliteStore({ file: t.file })).toThrow(/in use by another controller/);
    expect(() => new SqliteStore({ file: t.file })).toThrow(expect.objectContaining({ code: 'HW_STORE_LOCKED' }));
  });
});
