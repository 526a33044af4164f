// The store suite on both backends (issue 15: one suite, two backends): idempotent ingest, rollups (average
// and maximum) by minute and hour, late reports, retention by tier, the fairness ledger, manual actions'
// expiry, tenants and the directory; then, on PostgreSQL only, two controllers on one database.
// sqlite.test.ts keeps what only the SQLite store has (its memory and flushes, one controller per file) and,
// until the PostgreSQL store stores them, the tests of incident events and action acknowledgements.
import { expect, it } from 'vitest';
import { ConflictStateError } from '../../../../controller/store/errors.js';
import type { PreparedReport } from '../../../../controller/ingest/prepare.js';
import type { NewNotice } from '../../../../controller/store/notice-store.js';
import type { NewIncidentEvent, Store, StoreOptions } from '../../../../controller/store/store.js';
import { describeBackends, itShared, storeOpener, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, DAY, event, GiB, HOUR, MIN, prepared, report } from '../fixtures.js';
import { cpu, expectRollups, feedRollups, T0 } from './rollup-case.js';


describeBackends('store', (backend) => {
  const openStore = storeOpener(backend);
  const open = (clock: Clock, opts: StoreOptions = {}): Promise<OpenedStore> => openStore(clock.now, opts);

  it('stores a repeated (host, seq) once and refuses a reused seq with another time', async () => {
    const clock = new Clock(T0 + HOUR);
    const t = await open(clock);
    const { store } = t;
    const r = report('web01', 1, T0, [cpu('alice', 50)]);
    expect(await store.ingest(prepared(r))).toMatchObject({ accepted: true, duplicate: false, samples: 1 });
    expect(await store.ingest(prepared(r))).toMatchObject({ accepted: true, duplicate: true, samples: 0 });
    expect(await t.count('reports')).toBe(1);
    expect((await store.tenantHistory('alice', { from: T0 - MIN, to: T0 + MIN }))?.samples).toEqual([1]);
    await expect(store.ingest(prepared(report('web01', 1, T0 + 5000, [cpu('alice', 50)])))).rejects.toThrow(ConflictStateError);
    await expect(store.ingest(prepared(report('web01', 1, T0 + 5000, [cpu('alice', 50)])))).rejects.toThrow(/seq 1 of host web01 was already used/);
  });

  it('refuses reports from a clock far ahead, naming the field', async () => {
    const { store } = await open(new Clock(T0));
    await expect(store.ingest(prepared(report('web01', 1, T0 + HOUR, [])))).rejects.toThrow(/^at \/at: .* ahead of the controller's clock/);
  });

  it('lists tenants seen in reports with their host, and managed ones', async () => {
    const { store } = await open(new Clock(T0 + HOUR));
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

  it('gives minute and hour averages and maxima as hand-computed, before and after a flush and a reopen', async () => {
    const t = await open(new Clock(T0 + 2 * HOUR));
    await feedRollups(t.store);
    await expectRollups(t.store);
    await t.store.flush({ all: true });
    await expectRollups(t.store);
    await expectRollups(await t.reopen());
  });

  it('merges a late report (older than what is stored) into the minute and hour rows', async () => {
    const { store } = await open(new Clock(T0 + 2 * HOUR));
    await store.ingest(prepared(report('web01', 1, T0 + 10 * MIN, [cpu('alice', 10)])));
    await store.flush({ all: true });
    await store.ingest(prepared(report('web01', 2, T0 + 2 * MIN, [cpu('alice', 90)])));
    await store.ingest(prepared(report('web01', 3, T0 + 10 * MIN + 5000, [cpu('alice', 30)])));
    const m = await store.tenantHistory('alice', { from: T0, to: T0 + HOUR, stepMs: MIN, metrics: ['cpu'] });
    expect(m?.series.cpu_percent).toMatchObject({ avg: [90, 20], max: [90, 30] });
    const h = await store.tenantHistory('alice', { from: T0, to: T0 + HOUR, stepMs: HOUR, metrics: ['cpu'] });
    expect(h?.series.cpu_percent).toMatchObject({ avg: [130 / 3], max: [90] });
  });

  it('drops each tier past its span, keeps the rest, and remembers the dropped seqs', async () => {
    const { store } = await open(new Clock(T0 + 48 * HOUR));
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])));
    await store.ingest(prepared(report('web01', 2, T0 + 47 * HOUR, [cpu('alice', 20)])));
    // SQLite keeps raw rows not yet rolled up (its minutes wait in memory); PostgreSQL has none such.
    await store.flush({ all: true });
    expect(await store.applyRetention(T0 + 49 * HOUR)).toEqual({ raw: 1, minute: 0, hour: 0, expiredActions: 0, records: 0 });
    expect(await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])))).toMatchObject({ duplicate: true });
    await expect(store.ingest(prepared(report('web01', 1, T0 + 47 * HOUR + MIN, [cpu('alice', 10)])))).rejects.toThrow(/seq 1 of host web01 was already used/);
    const minutes = async () => (await store.tenantHistory('alice', { from: T0, to: T0 + 48 * HOUR, stepMs: MIN, metrics: ['cpu'] }))?.samples;
    expect(await minutes()).toEqual([1, 1]);
    expect(await store.applyRetention(T0 + 91 * DAY)).toMatchObject({ minute: 2, hour: 0 });
    expect(await store.applyRetention(T0 + 731 * DAY)).toMatchObject({ minute: 2, hour: 2 });
  });

  async function constructed(store: Store): Promise<void> {
    await store.putPlan('basic', { cpu: 400, weight: 1 });
    await store.putPlan('double', { cpu: 400, weight: 2 });
    await store.putTenant('a', { users: ['a'], plan: 'basic', host: 'web01' });
    await store.putTenant('b', { users: ['b'], plan: 'double', host: 'web01' });
    await store.putTenant('c', { users: ['c'], plan: 'basic', host: 'web01' });
    await store.ingest(prepared(report('web01', 1, T0, [cpu('a', 200, 2 * GiB), cpu('b', 50, 8 * GiB), cpu('c', 20, 1 * GiB)])));
  }

  it('records shares, dominant shares, the fair share, Jain and the debt as hand-computed', async () => {
    const { store } = await open(new Clock(T0 + MIN));
    await constructed(store);
    const expected = {
      a: { share_cpu: 0.5, share_memory: 0.125, dominant_share: 0.5, debt: (0.25 * 5) / 3600 },
      b: { share_cpu: 0.125, share_memory: 0.5, dominant_share: 0.25, debt: 0 },
      c: { share_cpu: 0.05, share_memory: 0.0625, dominant_share: 0.0625, debt: (-0.1875 * 5) / 3600 },
    };
    for (const [name, want] of Object.entries(expected)) {
      const f = await store.tenantHistory(name, { from: T0, to: T0 + MIN, metrics: ['fairness'] });
      const got = Object.fromEntries(Object.entries(f!.series).map(([k, s]) => [k, s.avg[0]]));
      expect(got).toMatchObject({ share_cpu: want.share_cpu, share_memory: want.share_memory, dominant_share: want.dominant_share, fair_share: 0.25, active: 1 });
      expect(got.debt).toBeCloseTo(want.debt, 9);
    }
    const host = await store.hostHistory('web01', { from: T0, to: T0 + MIN, metrics: ['jain', 'fair_share', 'active_tenants'] });
    expect(host?.series.jain?.avg[0]).toBeCloseTo(169 / 243, 6);
    expect(host?.series.active_tenants?.avg[0]).toBe(3);
    expect((await store.getHost('web01'))?.fairness?.jain).toBeCloseTo(169 / 243, 6);
  });

  it('ranks tenants by debt and decays it with the half-life', async () => {
    const clock = new Clock(T0);
    const { store } = await open(clock);
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
    expect(later.tenants[0]!.dominant_share.avg).toBeNull();
    await expect(store.fairnessRanking({ host: 'nope', windowMs: HOUR, limit: 2 })).rejects.toThrow(/host nope is not known/);
  });

  it('moves a tenant\'s debt with it to another host and back, and its last_seen is its newest report\'s', async () => {
    const { store } = await open(new Clock(T0 + HOUR));
    await constructed(store);
    await store.ingest(prepared(report('web01', 2, T0 + 5000, [cpu('a', 200, 2 * GiB), cpu('b', 50, 8 * GiB), cpu('c', 20, 1 * GiB)])));
    const before = (await store.getTenant('a'))!;
    expect(before.debt).toBeGreaterThan(0);
    expect(before.last_seen).toBe(new Date(T0 + 5000).toISOString());
    await store.putTenant('a', { users: ['a'], plan: 'basic', host: 'web02' });
    expect((await store.getTenant('a'))!.debt).toBeCloseTo(before.debt, 15);
    expect((await store.getTenant('a'))!.last_seen).toBe(before.last_seen);
    // Its old host reports without it: its debt stays.
    await store.ingest(prepared(report('web01', 3, T0 + 10_000, [cpu('b', 50, 8 * GiB), cpu('c', 20, 1 * GiB)])));
    expect((await store.getTenant('a'))!.debt).toBeCloseTo(before.debt, 15);
    // On its new host it accrues from there: what a new tenant alone on a host like it owes, added.
    await store.ingest(prepared(report('web02', 1, T0 + 10_000, [cpu('a', 200, 2 * GiB)])));
    await store.ingest(prepared(report('web03', 1, T0 + 10_000, [cpu('z', 200, 2 * GiB)])));
    const z = (await store.getTenant('z'))!.debt;
    expect(z).not.toBe(0);
    const moved = (await store.getTenant('a'))!;
    expect(moved.debt).toBeCloseTo(before.debt + z, 12);
    expect(moved.last_seen).toBe(new Date(T0 + 10_000).toISOString());
    // Back on web01 (whose ledger had it once): the debt it has now, not the one it left there.
    await store.putTenant('a', { users: ['a'], plan: 'basic', host: 'web01' });
    expect((await store.getTenant('a'))!.debt).toBeCloseTo(moved.debt, 12);
    const c = (await store.getTenant('c'))!;
    expect(c.debt).not.toBe(0);
    await store.ingest(prepared(report('web01', 4, T0 + 15_000, [cpu('a', 0, 0), cpu('b', 50, 8 * GiB)])));
    // c, on web01 but not in that report, keeps its debt and last_seen.
    expect(await store.getTenant('c')).toMatchObject({ debt: c.debt, last_seen: c.last_seen });
    expect((await store.listTenants({ host: 'web01' })).tenants.find((t) => t.name === 'a')!.debt).toBeLessThan(moved.debt + 1e-9);
    expect((await store.fairnessRanking({ host: 'web01', windowMs: HOUR, limit: 10 })).tenants.map((t) => t.tenant)).toContain('a');
  });

  it('uses the new weight once a plan changes', async () => {
    const { store } = await open(new Clock(T0 + MIN));
    await constructed(store);
    await store.putPlan('double', { cpu: 400, weight: 1 });
    await store.ingest(prepared(report('web01', 2, T0 + 5000, [cpu('a', 200, 2 * GiB), cpu('b', 50, 8 * GiB), cpu('c', 20, 1 * GiB)])));
    const f = await store.tenantHistory('b', { from: T0 + 1000, to: T0 + MIN, metrics: ['dominant_share', 'fair_share'] });
    expect(f?.series.dominant_share?.avg).toEqual([0.5]);
    expect(f?.series.fair_share?.avg[0]).toBeCloseTo(1 / 3, 6);
  });

  it('serves queued actions in the policy with an ETag that follows its content, and expires them at their time', async () => {
    const clock = new Clock(T0);
    const { store } = await open(clock);
    await store.putPlan('basic', { cpu: 100, weight: 1 });
    await store.putTenant('alice', { users: ['alice'], plan: 'basic', host: 'web01', email: 'alice@example.com' });
    const p0 = await store.getPolicy('web01');
    expect(p0.policy.tenants).toEqual([{ name: 'alice', users: ['alice'], plan: 'basic', host: 'web01', email: 'alice@example.com' }]);
    expect(p0.policy.plans).toEqual({ basic: { cpu: 100, weight: 1 } });
    expect((await store.getPolicy('web01')).etag).toBe(p0.etag);
    const queued: string[] = [];
    store.onActionQueued((a, tx) => queued.push(`${a.action}:${a.state}:${tx.now === clock.t}`));
    const q = await store.queueAction('alice', { action: 'quarantine', reason: 'malware', ttlMs: 60_000 }, 'admin');
    expect(queued).toEqual(['quarantine:pending:true']);
    const p1 = await store.getPolicy('web01');
    expect(p1.etag).not.toBe(p0.etag);
    expect(p1.policy.actions).toEqual([{ id: q.id, tenant: 'alice', action: 'quarantine', reason: 'malware', by: 'admin', created_at: new Date(T0).toISOString(), expires_at: new Date(T0 + MIN).toISOString() }]);
    clock.advance(61_000);
    expect((await store.getAction(q.id))?.state).toBe('expired');
    expect((await store.getPolicy('web01')).policy.actions).toHaveLength(0);
    expect((await store.getPolicy('web01')).etag).toBe(p0.etag);
    expect((await store.applyRetention()).expiredActions).toBe(1);
    expect((await store.listActions({ tenant: 'alice' })).map((x) => x.state)).toEqual(['expired']);
    await expect(store.queueAction('nobody', { action: 'notice', reason: 'x' }, 'admin')).rejects.toThrow(/tenant nobody is not known/);
    await expect(store.queueAction('alice', { action: 'notice', reason: 'x', ttlMs: HOUR }, 'admin')).rejects.toThrow(/^ttl: only a throttle or a quarantine/);
    await expect(store.queueAction('alice', { action: 'quarantine', reason: 'x', level: 2 }, 'admin')).rejects.toThrow(/^level: only a throttle/);
    await expect(store.queueAction('alice', { action: 'throttle', reason: 'x', ttlMs: 0 }, 'admin')).rejects.toThrow(/^ttl: must be more than zero/);
  });

  it('needs a defined plan and a host; DELETE stops managing but keeps history', async () => {
    const { store } = await open(new Clock(T0 + HOUR));
    await expect(store.putTenant('alice', { users: ['alice'], plan: 'gold', host: 'web01' })).rejects.toThrow(/^plan: "gold" is not defined/);
    await store.putPlan('gold', { cpu: 400, weight: 4 });
    await expect(store.putTenant('alice', { users: ['alice'], plan: 'gold' })).rejects.toThrow(/^host: required/);
    await expect(store.putTenant('alice', { name: 'bob', users: ['alice'], plan: 'gold', host: 'web01' })).rejects.toThrow(/^name: "bob" differs/);
    expect((await store.putTenant('alice', { users: ['alice'], plan: 'gold', host: 'web01' })).created).toBe(true);
    expect((await store.putTenant('alice', { users: ['alice', 1001], plan: 'gold', host: 'web01' })).created).toBe(false);
    expect((await store.getTenant('alice'))?.weight).toBe(4);
    expect((await store.listPlans()).map((p) => [p.name, p.tenants])).toEqual([['gold', 1]]);
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])));
    expect(await store.deleteTenant('alice')).toBe(true);
    const t = await store.getTenant('alice');
    expect(t).toMatchObject({ managed: false, weight: 1, host: 'web01' });
    expect(t?.latest?.values.cpu_percent).toBe(10);
    expect((await store.getPolicy('web01')).policy.tenants).toEqual([]);
    await store.putTenant('dave', { users: ['dave'], plan: 'gold', host: 'web01' });
    expect(await store.deleteTenant('dave')).toBe(true);
    expect(await store.getTenant('dave')).toBeUndefined();
    expect(await store.deleteTenant('dave')).toBe(false);
  });

  it("keeps the agent's tenant directory: plans give unmanaged tenants their weight", async () => {
    const { store } = await open(new Clock(T0 + HOUR));
    await store.putPlan('gold', { cpu: 400, weight: 4 });
    const directory = [
      { name: 'alice', email: 'alice@example.com', plan: 'gold', uids: [1001], source: 'config' as const },
      { name: 'dave', plan: 'bronze', source: 'discovered' as const },
    ];
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 200, 1)], { tenants: directory })));
    expect(await store.getTenant('alice')).toMatchObject({ managed: false, plan: 'gold', weight: 4, reported: directory[0] });
    expect(await store.getTenant('dave')).toMatchObject({ host: 'web01', plan: 'bronze', weight: 1, first_seen: null, reported: directory[1] });
    await store.ingest(prepared(report('web01', 2, T0 + 5000, [cpu('alice', 200, 1)])));
    const f = await store.tenantHistory('alice', { from: T0 + 1, to: T0 + MIN, metrics: ['dominant_share'] });
    expect(f?.series.dominant_share?.avg).toEqual([0.125]);
    expect(await store.deleteTenant('dave')).toBe(true);
    expect((await store.getTenant('dave'))?.reported?.plan).toBe('bronze');
  });

  it('does not flip a tenant between two hosts that both report it', async () => {
    const { store } = await open(new Clock(T0 + HOUR));
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 10)])));
    await store.ingest(prepared(report('web02', 1, T0 + 5000, [cpu('alice', 10)])));
    expect((await store.getTenant('alice'))?.host).toBe('web01');
    const r = await store.ingest(prepared(report('web02', 2, T0 + 11 * MIN, [cpu('alice', 10)])));
    expect(r.rejected?.counts.cross_host).toBe(1);
    expect((await store.getTenant('alice'))?.host).toBe('web01');
  });

  it('caps the unmanaged tenants of a host and expires those no report mentions', async () => {
    const clock = new Clock(T0 + 3 * HOUR);
    const { store } = await open(clock, { tenants: { maxUnmanagedPerHost: 2, unmanagedTtlMs: DAY } });
    const r = await store.ingest(prepared(report('web01', 1, T0, [cpu('a', 1), cpu('b', 1), cpu('c', 1)])));
    expect(r).toMatchObject({ samples: 2, rejected: { counts: { unmanaged_cap: 1 } } });
    expect((await store.listTenants()).tenants.map((t) => t.name)).toEqual(['a', 'b']);
    await store.ingest(prepared(report('web01', 2, T0 + 2 * HOUR, [cpu('a', 1)])));
    clock.t = T0 + DAY + HOUR;
    expect(await store.expireTenants()).toEqual({ expired: 1, names: ['b'] });
    expect((await store.listTenants()).tenants.map((t) => t.name)).toEqual(['a']);
    // Its history stays until retention drops it.
    expect((await store.tenantHistory('a', { from: T0, to: T0 + 3 * HOUR, stepMs: HOUR, metrics: ['cpu'] }))?.samples).toEqual([1, 1]);
  });

  /** A notice as the outbox writes it for an event (controller/notices decides the real ones). */
  const noticeOf = (e: NewIncidentEvent, now: number): NewNotice => ({
    kind: 'event',
    source: `event:${e.event.host}:${e.event.id}`,
    tenant: e.event.tenant,
    host: e.event.host,
    resource: e.event.resource,
    incident_id: e.incident.id,
    incident_key: e.event.incident,
    event_type: e.event.type,
    step: e.event.step,
    level: e.event.level,
    manual: 0,
    category: 'warning',
    event_at: Date.parse(e.event.at),
    created_at: now,
    state: 'queued',
    recipient: null,
    bcc: '[]',
    subject: e.event.id,
    summary: e.event.explanation.summary,
    body_text: null,
    body_html: null,
    message_id: `<${e.event.id}@test>`,
    next_attempt_at: now,
    error: null,
    digest_due: null,
  });

  it('stores each event once, keeps the incident current and tells the hook inside the transaction', async () => {
    const clock = new Clock(T0 + HOUR);
    const { store } = await open(clock);
    await store.putPlan('basic', { cpu: 100 });
    await store.putTenant('alice', { users: ['alice'], plan: 'basic', host: 'web01', email: 'alice@example.com' });
    const told: NewIncidentEvent[][] = [];
    const seen: string[] = [];
    store.onIncidentEvents((events, tx) => {
      told.push(events);
      // What a hook reads and writes is the transaction's: the tenant's address, the incident's notice level
      // (its own notice of the report before counts), a notice written now.
      for (const e of events) {
        seen.push(`${e.event.id}:${tx.notices.contactOf(e.event.tenant).address}:${tx.notices.lastLevel(e.incident.id)}:${tx.now === clock.t}`);
        tx.notices.enqueue(noticeOf(e, tx.now));
      }
    });
    const e1 = event('e1', 'i1', 'opened', T0);
    const e2 = event('e2', 'i1', 'escalated', T0 + MIN, { until: new Date(T0 + HOUR).toISOString() });
    await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 380)], { events: [e1] })));
    await store.ingest(prepared(report('web01', 2, T0 + MIN, [cpu('alice', 380)], { events: [e1, e2] }))); // e1 again
    expect(told.map((batch) => batch.map((e) => e.event.id))).toEqual([['e1'], ['e2']]);
    expect(seen).toEqual(['e1:alice@example.com:-1:true', 'e2:alice@example.com:0:true']);
    expect((await store.notices.list()).map((n) => [n.source, n.level])).toEqual([
      ['event:web01:e2', 1],
      ['event:web01:e1', 0],
    ]);
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
    expect(await store.listIncidents({ from: T0 + 5 * MIN, to: T0 + 6 * MIN })).toHaveLength(1);
    expect(await store.listIncidents({ from: T0 + 11 * MIN, to: T0 + 12 * MIN })).toHaveLength(0);
    expect(await store.listIncidents({ host: 'web09' })).toEqual([]);
    expect((await store.stats()).openIncidents).toBe(0);
  });

  it('rolls the whole report back when a hook throws, the notices it wrote with it', async () => {
    const t = await open(new Clock(T0 + HOUR));
    const { store } = t;
    const off = store.onIncidentEvents((events, tx) => {
      for (const e of events) tx.notices.enqueue(noticeOf(e, tx.now));
      throw new Error('outbox full');
    });
    await expect(store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 1)], { events: [event('e1', 'i1', 'opened', T0)] })))).rejects.toThrow('outbox full');
    expect(await t.count('reports')).toBe(0);
    expect(await t.count('incidents')).toBe(0);
    expect(await t.count('notices')).toBe(0);
    // PostgreSQL queues the report for its rollups in the report's statement (no queue row may stay behind).
    if (backend.name === 'postgres') expect(await t.count('rollup_queue')).toBe(0);
    off();
    expect(await store.ingest(prepared(report('web01', 1, T0, [cpu('alice', 1)], { events: [event('e1', 'i1', 'opened', T0)] })))).toMatchObject({ duplicate: false, events: 1 });
    expect((await store.tenantHistory('alice', { from: T0, to: T0 + MIN, stepMs: MIN }))?.samples).toEqual([1]);
  });

  it('moves an action pending -> served in the policy -> applied by the ack -> released, with the ETag following', async () => {
    const clock = new Clock(T0);
    const { store } = await open(clock);
    await store.putPlan('basic', { cpu: 100, weight: 1 });
    await store.putTenant('alice', { users: ['alice'], plan: 'basic', host: 'web01', email: 'alice@example.com' });
    const p0 = await store.getPolicy('web01');
    const a = await store.queueAction('alice', { action: 'throttle', level: 2, reason: 'crypto miner', ttlMs: 2 * HOUR }, 'admin');
    expect(a).toMatchObject({ tenant: 'alice', host: 'web01', action: 'throttle', level: 2, state: 'pending', by: 'admin', expires_at: new Date(T0 + 2 * HOUR).toISOString() });
    const p1 = await store.getPolicy('web01');
    expect(p1.etag).not.toBe(p0.etag);
    // Another host cannot acknowledge it.
    clock.advance(5000);
    const other = await store.ingest(prepared(report('web02', 1, T0 + 5000, [], { acks: [{ action_id: a.id, state: 'applied', at: new Date(T0 + 5000).toISOString() }] })));
    expect(other.rejected?.counts.cross_host).toBe(1);
    expect((await store.getAction(a.id))?.state).toBe('pending');
    await store.ingest(prepared(report('web01', 1, T0 + 5000, [], { acks: [{ action_id: a.id, state: 'applied', at: new Date(T0 + 5000).toISOString(), message: 'cpu.max 200000 100000' }] })));
    expect(await store.getAction(a.id)).toMatchObject({ state: 'applied', state_at: new Date(T0 + 5000).toISOString(), message: 'cpu.max 200000 100000' });
    const p2 = await store.getPolicy('web01');
    expect(p2.etag).toBe(p1.etag); // the same content: the agent's copy stays valid
    expect(p2.policy.actions.map((x) => x.id)).toEqual([a.id]);
    const rel = await store.queueAction('alice', { action: 'release', reason: 'cleaned up' }, 'admin');
    clock.advance(5000);
    await store.ingest(prepared(report('web01', 2, T0 + 10_000, [], { acks: [{ action_id: rel.id, state: 'applied', at: new Date(T0 + 10_000).toISOString() }] })));
    expect((await store.getAction(rel.id))?.state).toBe('done');
    expect((await store.getAction(a.id))?.state).toBe('released');
    const p3 = await store.getPolicy('web01');
    expect(p3.policy.actions).toEqual([]);
    expect(p3.etag).toBe(p0.etag);
    expect((await store.listActions({ tenant: 'alice' })).map((x) => x.state)).toEqual(['done', 'released']);
    expect((await store.listActions({ host: 'web09' }))).toEqual([]);
  });

  it('keeps released incidents, finished actions and the audit log as long as the hour rollups', async () => {
    const { store } = await open(new Clock(T0 + HOUR));
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

  it("writes a host's closed minutes once rollup.flush_interval of them wait, or once the host went silent; history answers alike meanwhile", async () => {
    const clock = new Clock(T0);
    const t = await open(clock, { flushIntervalMs: 15 * MIN });
    const { store } = t;
    let seq = 0;
    const until = async (end: number) => {
      while (clock.now() < end) {
        clock.advance(5000);
        await store.ingest(prepared(report('web01', ++seq, clock.now(), [cpu('alice', 10 + (seq % 40)), cpu('bob', 20)])));
      }
    };
    const q = { from: T0, to: T0 + 5 * MIN, stepMs: MIN, metrics: ['cpu'] };
    await until(T0 + 5 * MIN + 20_000);
    const early = await store.tenantHistory('alice', q);
    expect(early?.samples).toEqual([11, 12, 12, 12, 12]);
    expect((await store.flush()).minuteRows).toBe(0); // five closed minutes wait: not due
    expect(await t.count('minute')).toBe(0);
    await until(T0 + 16 * MIN + 20_000);
    expect((await store.flush()).minuteRows).toBeGreaterThan(0); // fifteen closed minutes: due
    const written = await t.count('minute');
    expect(written).toBeGreaterThanOrEqual(15 * 3); // alice, bob and the host, per closed minute
    expect(await store.tenantHistory('alice', q)).toEqual(early);
    clock.advance(3 * MIN); // no report for three minutes: the host is silent, the rest goes in
    await store.flush();
    expect(await t.count('minute')).toBeGreaterThan(written);
    expect(await store.tenantHistory('alice', q)).toEqual(early);
  });

  // --- two controllers on one database (PostgreSQL only: SQLite is one controller per file) --------------------
  const shared = itShared(backend);

  shared('stores a report and its retry once whichever controller gets them, at the same time or one after the other', async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const t = await open(clock);
    const other = await t.another!({ now: clock.now });
    const r = prepared(report('web01', 1, T0, [cpu('alice', 50), cpu('bob', 10)]));
    const both = await Promise.all([t.store.ingest(r), other.ingest(r)]);
    expect(both.map((x) => x.duplicate).sort()).toEqual([false, true]);
    expect(await other.ingest(r)).toMatchObject({ duplicate: true });
    expect(await t.count('reports')).toBe(1);
    const h = await other.tenantHistory('alice', { from: T0, to: T0 + HOUR, stepMs: MIN, metrics: ['cpu'] });
    expect(h?.samples).toEqual([1]);
    expect(h?.series.cpu_percent?.avg).toEqual([50]);
  });

  shared("keeps a host's tenants read by a report only while no controller changed them (a move, a new plan, a deletion)", async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const t = await open(clock);
    const other = await t.another!({ now: clock.now });
    await other.putPlan('big', { cpu: 400, weight: 4 });
    await other.putTenant('alice', { users: ['alice'], plan: 'big', host: 'web01' });
    let seq = 0;
    const send = (tenants: string[]) => t.store.ingest(prepared(report('web01', ++seq, T0 + seq * 5000, tenants.map((n) => cpu(n, 50)))));
    expect((await send(['alice', 'bob'])).rejected).toBeUndefined(); // the host's tenants now read and kept
    expect((await send(['alice', 'bob'])).rejected).toBeUndefined(); // and used
    // Moved to another host through the other controller: this one's next report of web01 may not carry her.
    await other.putTenant('alice', { users: ['alice'], plan: 'big', host: 'web02' });
    const moved = await send(['alice', 'bob']);
    expect(moved.rejected?.counts.cross_host).toBe(1);
    expect(moved.samples).toBe(1);
    // Back, then deleted: she is a new unmanaged tenant of web01 again, with a new id.
    await other.putTenant('alice', { users: ['alice'], plan: 'big', host: 'web01' });
    expect((await send(['alice', 'bob'])).samples).toBe(2);
    const before = (await other.getTenant('alice'))!;
    expect(await other.deleteTenant('alice')).toBe(true);
    expect((await send(['alice', 'bob'])).samples).toBe(2);
    const after = (await t.store.getTenant('alice'))!;
    expect(after.managed).toBe(false);
    expect(after.plan).toBeNull();
    expect(before.managed).toBe(true);
  });

  shared('gives rollups and debts equal to one controller when two agents post alternately to either, with retries to the other', async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const single = await open(clock);
    const pair = await open(clock);
    const other = await pair.another!({ now: clock.now });
    const reports: PreparedReport[] = [];
    for (let i = 0; i < 40; i++) {
      const at = T0 + i * 5000;
      reports.push(prepared(report('web01', i + 1, at, [cpu('a', 10 + i, (1 + (i % 3)) * GiB), cpu('b', 90 - i)])));
      reports.push(prepared(report('web02', i + 1, at, [cpu('c', (i * 7) % 100)])));
    }
    for (const r of reports) await single.store.ingest(r);
    const stores = [pair.store, other];
    await Promise.all(
      [0, 1].map(async (k) => {
        for (let i = k; i < reports.length; i += 2) {
          await stores[i % 2]!.ingest(reports[i]!);
          await stores[(i + 1) % 2]!.ingest(reports[i]!); // the retry, to the other controller
        }
      }),
    );
    expect(await pair.count('reports')).toBe(reports.length);
    for (const [name, step] of [['a', MIN], ['b', HOUR], ['c', MIN]] as const) {
      const q = { from: T0, to: T0 + HOUR, stepMs: step };
      expect(await other.tenantHistory(name, q)).toEqual(await single.store.tenantHistory(name, q));
    }
    const debts = async (s: Store) => (await s.listTenants()).tenants.map((x) => [x.name, x.debt]);
    expect(await debts(pair.store)).toEqual(await debts(single.store));
  });
});
