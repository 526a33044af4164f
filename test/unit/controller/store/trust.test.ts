// Trust boundaries in the store, on both backends (controller/trust.ts, store/sqlite/trust.ts, store/postgres/ingest.ts):
// a report is screened item by item (another host's tenants, the per-host cap of unmanaged tenants, forged
// administrator's events), a tenant never changes host on its own, unmanaged tenants expire after
// tenants.unmanaged_ttl unseen (with an injected clock) and their history goes with retention.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RejectionLog } from '../../../../controller/store/sqlite/rejection-log.js';
import type { Store, StoreOptions } from '../../../../controller/store/store.js';
import type { TenantSample } from '../../../../shared/wire/agent.js';
import { describeBackends, storeOpener, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, DAY, event, GiB, HOUR, MIN, prepared, report } from '../fixtures.js';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const cpu = (tenant: string, percent: number): TenantSample => ({ tenant, cpu: { percent }, memory: { current: GiB, anon: GiB, file: 0 } });
const iso = (t: number) => new Date(t).toISOString();

/** dave is host web02's, managed by an admin with his address; erin is web02's unmanaged tenant. */
async function fleet(store: Store, clock: Clock) {
  await store.putPlan('basic', { cpu: 100, weight: 1 });
  await store.putTenant('dave', { users: ['dave'], plan: 'basic', host: 'web02', email: 'dave@admin.example' });
  await store.ingest(prepared(report('web02', 1, clock.t - 10_000, [cpu('dave', 20), cpu('erin', 10)], { tenants: [{ name: 'erin', email: 'erin@web02.example', plan: 'basic' }] })));
}

describeBackends('trust', (backend) => {
  const openStore = storeOpener(backend);
  const open = (clock: Clock, opts: StoreOptions = {}): Promise<OpenedStore> => openStore(clock.now, opts);

  describe('a report is screened item by item', () => {
    it("item 2: host A cannot post samples for host B's tenant; its own samples in the same report are stored", async () => {
      const clock = new Clock(T0);
      const { store } = await open(clock);
      await fleet(store, clock);
      const r = await store.ingest(prepared(report('web01', 1, T0 - 5000, [cpu('alice', 30), cpu('dave', 400), cpu('erin', 400), cpu('bob', 40)])));
      expect(r).toMatchObject({ accepted: true, samples: 2 });
      expect(r.rejected?.counts).toEqual({ cross_host: 2, unmanaged_cap: 0, forged_manual: 0 });
      expect(r.rejected?.items.map((i) => i.path)).toEqual(['/samples/1', '/samples/2']);
      expect(r.rejected?.items[0]!.message).toMatch(/^tenant dave belongs to host web02, not to web01/);
      // dave's newest values are still web02's, alice's and bob's are stored in their right places.
      expect((await store.getTenant('dave'))?.latest?.values.cpu_percent).toBe(20);
      const dave = await store.tenantHistory('dave', { from: T0 - MIN, to: T0 + MIN, metrics: ['cpu'] });
      expect(dave?.series.cpu_percent?.max).toEqual([20]);
      const bob = await store.tenantHistory('bob', { from: T0 - MIN, to: T0 + MIN, metrics: ['cpu'] });
      expect(bob?.series.cpu_percent?.max).toEqual([40]);
      expect((await store.getTenant('alice'))?.host).toBe('web01');
      expect((await store.getTenant('erin'))?.host).toBe('web02');
    });

    it("item 2: a directory entry of another host's tenant changes nothing (email, plan), for managed and unmanaged tenants", async () => {
      const clock = new Clock(T0);
      const t = await open(clock);
      const { store } = t;
      await fleet(store, clock);
      const before = { dave: await store.getTenant('dave'), erin: await store.getTenant('erin') };
      const r = await store.ingest(
        prepared(
          report('web01', 1, T0 - 5000, [], {
            tenants: [
              { name: 'dave', email: 'attacker@evil.example', plan: 'gold' },
              { name: 'erin', email: 'attacker@evil.example' },
              { name: 'alice', email: 'alice@web01.example' },
            ],
          }),
        ),
      );
      expect(r.rejected?.counts.cross_host).toBe(2);
      expect(r.rejected?.items.map((i) => i.path)).toEqual(['/tenants/0', '/tenants/1']);
      expect(await store.getTenant('dave')).toEqual(before.dave);
      expect(await store.getTenant('erin')).toEqual(before.erin);
      expect((await t.contactOf('dave')).address).toBe('dave@admin.example');
      expect((await t.contactOf('erin')).address).toBe('erin@web02.example');
      expect((await t.contactOf('alice')).address).toBe('alice@web01.example');
    });

    it("item 2: what an admin set is never overwritten by its own host's directory; the agent fills only what the admin left unset", async () => {
      const clock = new Clock(T0);
      const t = await open(clock);
      const { store } = t;
      await fleet(store, clock);
      await store.putPlan('gold', { cpu: 400, weight: 4 });
      await store.putTenant('frank', { users: ['frank'], plan: 'basic', host: 'web02' }); // no email
      await store.ingest(
        prepared(
          report('web02', 2, T0 - 5000, [], {
            tenants: [
              { name: 'dave', email: 'dave@agent.example', plan: 'gold' },
              { name: 'frank', email: 'frank@agent.example', plan: 'gold' },
            ],
          }),
        ),
      );
      const dave = (await store.getTenant('dave'))!;
      expect(dave).toMatchObject({ host: 'web02', managed: true, plan: 'basic', weight: 1, spec: { email: 'dave@admin.example', users: ['dave'], host: 'web02' } });
      expect((await t.contactOf('dave')).address).toBe('dave@admin.example');
      expect(await store.getTenant('frank')).toMatchObject({ plan: 'basic', weight: 1 });
      expect((await t.contactOf('frank')).address).toBe('frank@agent.example');
      // The policy web02 pulls is the admin's.
      expect((await store.getPolicy('web02')).policy.tenants.find((t) => t.name === 'dave')).toMatchObject({ email: 'dave@admin.example', plan: 'basic' });
    });

    it("item 2: events and acknowledgements for another host's tenant are refused; the host's own go through", async () => {
      const clock = new Clock(T0);
      const { store } = await open(clock);
      await fleet(store, clock);
      const action = await store.queueAction('dave', { action: 'throttle', level: 1, reason: 'abuse ticket 7' }, 'ops-anna');
      const r = await store.ingest(
        prepared(
          report('web01', 1, T0 - 5000, [cpu('alice', 10)], {
            events: [event('e1', 'i1', 'opened', T0 - 6000, { tenant: 'dave' }), event('e2', 'i2', 'opened', T0 - 6000, { tenant: 'alice' })],
            acks: [{ action_id: action.id, state: 'applied', at: iso(T0 - 5000) }],
          }),
        ),
      );
      expect(r).toMatchObject({ events: 1, acks: 0 });
      expect(r.rejected?.counts.cross_host).toBe(2);
      expect(r.rejected?.items.map((i) => i.path)).toEqual(['/events/0', '/acks/0']);
      expect((await store.listIncidents({ tenant: 'dave' })).length).toBe(0);
      expect((await store.getAction(action.id))?.state).toBe('pending');
      await store.ingest(prepared(report('web02', 2, T0 - 4000, [], { acks: [{ action_id: action.id, state: 'applied', at: iso(T0 - 4000) }] })));
      expect((await store.getAction(action.id))?.state).toBe('applied');
    });

    it("item 2: an event's manual field must name an action queued for that tenant on that host; a matching one carries the admin's name and reason", async () => {
      const clock = new Clock(T0);
      const { store } = await open(clock);
      await fleet(store, clock);
      await store.ingest(prepared(report('web01', 1, T0 - 9000, [cpu('alice', 10)])));
      const forAlice = await store.queueAction('alice', { action: 'quarantine', reason: 'phishing kit' }, 'ops-anna');
      const forDave = await store.queueAction('dave', { action: 'quarantine', reason: 'malware' }, 'ops-anna');
      const manual = (id: string, by: string, reason = 'phishing kit') => ({ rule: 'manual', type: 'opened' as const, step: 'quarantine' as const, level: 3, manual: { action_id: id, reason, by } });
      const r = await store.ingest(
        prepared(
          report('web01', 2, T0 - 5000, [], {
            events: [
              event('f1', 'm1', 'opened', T0 - 6000, manual('no-such-action', 'ceo')), // made up
              event('f2', 'm2', 'opened', T0 - 6000, manual(forDave.id, 'ops-anna')), // another host's action
              event('f3', 'm3', 'opened', T0 - 6000, { ...manual(forDave.id, 'ops-anna'), tenant: 'alice' }), // another tenant's action
              event('ok', 'm4', 'opened', T0 - 6000, manual(forAlice.id, 'the-ceo', 'you were warned')), // real action, forged name
            ],
          }),
        ),
      );
      expect(r.events).toBe(1);
      expect(r.rejected?.counts).toEqual({ cross_host: 0, unmanaged_cap: 0, forged_manual: 3 });
      expect(r.rejected?.items.map((i) => i.path)).toEqual(['/events/0/manual', '/events/1/manual', '/events/2/manual']);
      const incidents = await store.listIncidents({ tenant: 'alice' });
      expect(incidents.map((i) => [i.agent_incident, i.manual])).toEqual([['m4', true]]);
      const detail = await store.getIncident(incidents[0]!.id);
      expect(detail?.history[0]!.manual).toEqual({ action_id: forAlice.id, reason: 'phishing kit', by: 'ops-anna' });
    });
  });

  describe('unmanaged tenants', () => {
    it('item 6: host B quiet for days: its tenant is still on B, and host A cannot take it', async () => {
      const clock = new Clock(T0);
      const { store } = await open(clock);
      await store.ingest(prepared(report('web02', 1, T0 - 5000, [cpu('erin', 10)], { tenants: [{ name: 'erin', email: 'erin@web02.example' }] })));
      for (let day = 1; day <= 5; day++) {
        clock.t = T0 + day * DAY;
        const r = await store.ingest(prepared(report('web01', day, clock.t - 5000, [cpu('erin', 90)], { tenants: [{ name: 'erin', email: 'attacker@evil.example' }] })));
        expect(r.rejected?.counts.cross_host).toBe(2);
      }
      expect(await store.getTenant('erin')).toMatchObject({ host: 'web02', reported: { name: 'erin', email: 'erin@web02.example' } });
      expect((await store.expireTenants()).expired).toBe(0);
      // Only an admin moves it.
      await store.putPlan('basic', { weight: 1 });
      await store.putTenant('erin', { users: ['erin'], plan: 'basic', host: 'web01' });
      const r = await store.ingest(prepared(report('web01', 9, clock.t - 1000, [cpu('erin', 90)])));
      expect(r.rejected).toBeUndefined();
      expect((await store.getTenant('erin'))?.host).toBe('web01');
    });

    it('item 6: unmanaged tenants expire after tenants.unmanaged_ttl unseen, with their directory entry; managed ones never; history goes with retention', async () => {
      const clock = new Clock(T0);
      const t = await open(clock, { tenants: { unmanagedTtlMs: 30 * DAY } });
      const { store } = t;
      await store.putPlan('basic', { weight: 1 });
      await store.putTenant('carol', { users: ['carol'], plan: 'basic', host: 'web01' });
      await store.ingest(prepared(report('web01', 1, T0 - 5000, [cpu('alice', 10), cpu('gone', 10), cpu('carol', 10)], { tenants: [{ name: 'listed', email: 'l@web01.example' }] })));
      await store.flush({ all: true });
      const goneId = await t.scalar("SELECT id AS n FROM tenants WHERE name = 'gone'");
      // alice keeps reporting; 'listed' stays in the directory (no samples); 'gone' and carol stop.
      clock.t = T0 + 20 * DAY;
      await store.ingest(prepared(report('web01', 2, clock.t - 5000, [cpu('alice', 10)], { tenants: [{ name: 'listed', email: 'l@web01.example' }] })));
      clock.t = T0 + 30 * DAY + HOUR;
      expect(await store.expireTenants()).toEqual({ expired: 1, names: ['gone'] });
      expect(await store.getTenant('gone')).toBeUndefined();
      expect((await store.listTenants()).tenants.map((x) => x.name)).toEqual(['alice', 'carol', 'listed']);
      expect(await t.scalar("SELECT count(*) AS n FROM tenants WHERE name = 'gone'")).toBe(0);
      // Its history stays (raw row, minute rollups) until retention drops it; its id is not given to anyone.
      expect(await t.scalar(`SELECT count(*) AS n FROM minute WHERE series = $1`, goneId)).toBeGreaterThan(0);
      await store.ingest(prepared(report('web01', 3, clock.t - 5000, [cpu('gone', 50)])));
      const again = await t.scalar("SELECT id AS n FROM tenants WHERE name = 'gone'");
      expect(again).toBeGreaterThan(goneId);
      expect(await t.scalar('SELECT max(id) AS n FROM tenants')).toBe(again);
      // 'listed' (directory only) and alice expire once unseen long enough, carol (managed) never.
      clock.t = T0 + 61 * DAY;
      expect((await store.expireTenants()).names.sort()).toEqual(['alice', 'gone', 'listed']);
      expect((await store.listTenants()).tenants.map((x) => x.name)).toEqual(['carol']);
      // After a restart the expired stay gone, and retention drops their rollups with everyone's.
      const reopened = await t.reopen();
      expect((await reopened.listTenants()).tenants.map((x) => x.name)).toEqual(['carol']);
      await reopened.applyRetention(T0 + 800 * DAY);
      expect(await t.scalar(`SELECT count(*) AS n FROM minute WHERE series = $1`, goneId)).toBe(0);
      expect(await t.scalar('SELECT count(*) AS n FROM retired_tenants')).toBe(0);
    });

    it('item 6: per-host cap: 20,000 new names in one report add max_per_host tenants, the rest are refused and counted', async () => {
      const clock = new Clock(T0);
      const t = await open(clock, { tenants: { maxUnmanagedPerHost: 5000 } });
      const { store } = t;
      await store.putPlan('basic', { weight: 1 });
      await store.putTenant('dave', { users: ['dave'], plan: 'basic', host: 'web02' });
      await store.ingest(prepared(report('web02', 1, T0 - 9000, [cpu('erin', 10)])));
      const names = Array.from({ length: 20_000 }, (_, i) => `t${String(i).padStart(5, '0')}`);
      const heapBefore = process.memoryUsage().heapUsed;
      const r = await store.ingest(prepared(report('web01', 1, T0 - 5000, names.map((n) => cpu(n, 1)), { tenants: names.map((name) => ({ name, email: `${name}@web01.example` })) })));
      expect(r.samples).toBe(5000);
      expect(r.rejected?.counts).toEqual({ cross_host: 0, unmanaged_cap: 30_000, forged_manual: 0 });
      expect(r.rejected?.items).toHaveLength(100);
      expect(r.rejected?.items[0]).toEqual({ kind: 'unmanaged_cap', path: '/samples/5000', message: 'host web01 already has 5000 unmanaged tenants (tenants.max_per_host): t05000 was not added' });
      expect((await store.listTenants({ host: 'web01' })).total).toBe(5000);
      expect(await t.scalar('SELECT count(*) AS n FROM tenants')).toBe(5002);
      // Another host's cap is its own; managed tenants do not count; a later report adds nothing more.
      expect((await store.ingest(prepared(report('web02', 2, T0 - 4000, [cpu('new-on-web02', 1)])))).rejected).toBeUndefined();
      const again = await store.ingest(prepared(report('web01', 2, T0 - 4000, [cpu('t19999', 1), cpu('t00001', 1)])));
      expect([again.samples, again.rejected?.counts.unmanaged_cap]).toEqual([1, 1]);
      expect((await store.stats()).tenants).toBe(5003);
      console.log(`20,000 names in one report: ${r.samples} added, heap +${((process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024).toFixed(1)} MiB`);
    });
  });
});

describe('rejection log', () => {
  it('the refusals of a host are logged once per tenant and kind, at most 20 lines an hour, the rest summed up', () => {
    const lines: Array<{ msg: string; tenant?: string }> = [];
    const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string }) });
    const rl = new RejectionLog(log);
    const notes = (n: number, kind: 'cross_host' | 'unmanaged_cap' = 'cross_host') => Array.from({ length: n }, (_, i) => ({ kind, tenant: `t${i}`, path: `/samples/${i}`, message: `tenant t${i} belongs to host web02` }));
    rl.write('web01', notes(5), T0);
    rl.write('web01', notes(5), T0 + MIN); // the same five: not again
    expect(lines.map((l) => l.tenant)).toEqual(['t0', 't1', 't2', 't3', 't4']);
    rl.write('web01', notes(20_000), T0 + 2 * MIN);
    expect(lines).toHaveLength(21); // 20 lines, then one saying the rest are counted
    expect(lines[20]!.msg).toMatch(/reached 20 logged refusals this hour/);
    rl.write('web02', notes(3), T0 + 2 * MIN); // another host has its own lines
    expect(lines).toHaveLength(24);
    rl.write('web01', notes(1, 'unmanaged_cap'), T0 + HOUR + 3 * MIN);
    expect(lines[24]!.msg).toBe('19990 more refused report items of host web01 were counted but not logged one by one');
    expect(lines[25]!.msg).toBe('report item refused: tenant t0 belongs to host web02');
  });
});
