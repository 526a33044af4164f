// notices.caps on a real SQLite store with a fake clock: per host and hour by category, and per report.
// Over a cap a notice is held with the cap named; held warnings and throttles end in the tenant's digest,
// held quarantines, releases and digests go out oldest first when the hour frees a slot; one host's cap never
// holds another host's notices; the metric and the log (once per host per hour) count what was held.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { CAP_WINDOW_MS, CapWatch, type CapHold } from '../../../../controller/notices/caps.js';
import { NoticeOutbox, type NoticeRow } from '../../../../controller/notices/outbox.js';
import { loadTemplates } from '../../../../controller/notices/templates.js';
import type { IncidentEvent, TenantInfoWire } from '../../../../shared/wire/agent.js';
import { describeBackends, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, HOUR, prepared, report } from '../fixtures.js';
import { floodEvents, names } from './flood.js';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const templates = loadTemplates();


describeBackends('notices: caps', (backend) => {
  let t: OpenedStore;
  let clock: Clock;
  let outbox: NoticeOutbox;
  const seqs = new Map<string, number>();

  function setup(caps: Record<string, unknown>, extra: Record<string, unknown> = {}): NoticeOutbox {
    const config = parseControllerConfig({ state_dir: t.dir, notices: { caps, ...extra } });
    outbox = new NoticeOutbox({ store: t.store.notices, config: config.notices, templates, domain: 'example.com' });
    t.store.onIncidentEvents((events, tx) => outbox.enqueueEvents(events, tx));
    return outbox;
  }

  const directory = (tenants: string[]): TenantInfoWire[] => tenants.map((name) => ({ name, email: `${name}@example.com` }));

  async function post(host: string, events: IncidentEvent[], tenants?: TenantInfoWire[]) {
    const seq = (seqs.get(host) ?? 0) + 1;
    seqs.set(host, seq);
    return t.store.ingest(prepared(report(host, seq, clock.t - 1000, [], { events, ...(tenants ? { tenants } : {}) })));
  }

  const rows = async (filter: Parameters<NoticeOutbox['list']>[0] = {}) => (await outbox.list({ limit: 100_000, ...filter })).reverse();
  const of = (list: NoticeRow[], category: string, state?: string) => list.filter((r) => r.category === category && (state === undefined || r.state === state));
  const tenantsOf = (list: NoticeRow[]) => list.map((r) => r.tenant);

  beforeEach(async () => {
    clock = new Clock(T0);
    t = await backend.openStore({ now: clock.now });
    seqs.clear();
  });
  afterEach(async () => {
    await t.close();
  });

  describe('notices.caps', () => {
    it('item 3: the hour cap of each category holds the rest of one host: warnings for the digest, quarantines until a slot frees', async () => {
      setup({ per_host_hour: { warning: 3, quarantine: 2, digest: 1 }, per_report: 1000 });
      const q = names('q', 5);
      const w = names('w', 5);
      await post('web01', [...floodEvents('quarantine', q, clock.t - 1000), ...floodEvents('warning', w, clock.t - 1000)], directory([...q, ...w]));
      let all = await rows();
      expect(tenantsOf(of(all, 'quarantine', 'queued'))).toEqual(q.slice(0, 2));
      const heldQ = of(all, 'quarantine', 'held');
      expect(tenantsOf(heldQ)).toEqual(q.slice(2));
      for (const r of heldQ) {
        // Held as it is, to be sent later: bodies rendered, no digest.
        expect(r).toMatchObject({ digest_due: null, next_attempt_at: null, recipient: `${r.tenant}@example.com` });
        expect(r.body_text).toContain('WHAT WAS MEASURED');
        expect(r.error).toBe('held back: over notices.caps.per_host_hour.quarantine (2 per host per hour for web01); sent as soon as the cap allows');
      }
      expect(tenantsOf(of(all, 'warning', 'queued'))).toEqual(w.slice(0, 3));
      const heldW = of(all, 'warning', 'held');
      expect(tenantsOf(heldW)).toEqual(w.slice(3));
      for (const r of heldW) {
        expect(r).toMatchObject({ digest_due: T0 + HOUR, body_text: null });
        expect(r.error).toBe("held back: over notices.caps.per_host_hour.warning (3 per host per hour for web01); told in the tenant's digest");
      }

      // Within the hour nothing more goes: a new quarantine waits behind the older ones.
      clock.advance(30 * 60_000);
      await post('web01', floodEvents('quarantine', ['late'], clock.t - 1000), directory(['late']));
      expect(await outbox.releaseHeld(clock.t)).toBe(0);
      expect(await outbox.makeDueDigests(clock.t)).toBe(0);
      expect((await rows()).at(-1)).toMatchObject({ tenant: 'late', state: 'held', digest_due: null });

      // The hour of the first two ends: two more, oldest first.
      clock.t = T0 + HOUR;
      expect(await outbox.releaseHeld(clock.t)).toBe(2);
      all = await rows();
      expect(tenantsOf(of(all, 'quarantine', 'queued'))).toEqual(q.slice(0, 4));
      expect(of(all, 'quarantine', 'queued').slice(2).every((r) => r.next_attempt_at === T0 + HOUR)).toBe(true);
      expect(await outbox.releaseHeld(clock.t)).toBe(0);
      // The held warnings end in their tenants' digests; the digest cap (1) holds the second digest for a slot.
      expect(await outbox.makeDueDigests(clock.t)).toBe(2);
      all = await rows();
      expect(of(all, 'warning', 'digested')).toHaveLength(2);
      const digests = of(all, 'digest');
      expect(digests.map((d) => [d.tenant, d.state, d.summary])).toEqual([
        [w[3], 'queued', '1 notice held back'],
        [w[4], 'held', '1 notice held back'],
      ]);
      expect(digests[1]!.error).toBe('held back: over notices.caps.per_host_hour.digest (1 per host per hour for web01); sent as soon as the cap allows');

      // An hour later: the last of the first report's quarantines and the one that came later, and the digest.
      clock.t = T0 + 2 * HOUR;
      expect(await outbox.releaseHeld(clock.t)).toBe(3);
      all = await rows();
      expect(tenantsOf(of(all, 'quarantine', 'queued'))).toEqual([...q, 'late']);
      expect(of(all, 'digest', 'queued')).toHaveLength(2);
      expect(all.filter((r) => r.state === 'held')).toEqual([]);
    });

    it('item 3: the per-report cap: one report sends at most per_report notices at once, the rest are held', async () => {
      setup({ per_host_hour: { quarantine: 1000, throttle: 1000, warning: 1000 }, per_report: 3 });
      const q = names('q', 4);
      const w = names('w', 2);
      await post('web01', [...floodEvents('quarantine', q, clock.t - 1000), ...floodEvents('warning', w, clock.t - 1000)], directory([...q, ...w]));
      let all = await rows();
      expect(all.filter((r) => r.state === 'queued').map((r) => r.tenant)).toEqual(q.slice(0, 3));
      expect(all.filter((r) => r.state === 'held').map((r) => [r.tenant, r.category, r.digest_due])).toEqual([
        [q[3], 'quarantine', null],
        [w[0], 'warning', T0 + HOUR],
        [w[1], 'warning', T0 + HOUR],
      ]);
      expect(of(all, 'quarantine', 'held')[0]!.error).toBe('held back: over notices.caps.per_report (3 notices per report); sent as soon as the cap allows');
      expect(of(all, 'warning', 'held')[0]!.error).toBe("held back: over notices.caps.per_report (3 notices per report); told in the tenant's digest");
      // The held quarantine goes with the sender's next run, as the hour allows; the warnings wait for the digest.
      expect(await outbox.releaseHeld(clock.t)).toBe(1);
      // The next report has its own budget.
      await post('web01', floodEvents('quarantine', ['next'], clock.t - 500), directory(['next']));
      all = await rows();
      expect(of(all, 'quarantine', 'queued')).toHaveLength(5);
      expect(of(all, 'warning', 'held')).toHaveLength(2);
    });

    it("item 3: a second host's notices are not held by the first host's cap", async () => {
      setup({ per_host_hour: { quarantine: 2 }, per_report: 1000 });
      const a = names('a', 10);
      await post('web01', floodEvents('quarantine', a, clock.t - 1000), directory(a));
      expect(of(await rows(), 'quarantine', 'held')).toHaveLength(8);
      const b = names('b', 2);
      await post('web02', floodEvents('quarantine', b, clock.t - 1000), directory(b));
      const web02 = (await rows()).filter((r) => r.host === 'web02');
      expect(web02.map((r) => [r.tenant, r.state])).toEqual([
        [b[0], 'queued'],
        [b[1], 'queued'],
      ]);
      // Its own cap still holds its third.
      await post('web02', floodEvents('quarantine', ['b-third'], clock.t - 500), directory(['b-third']));
      expect((await rows()).at(-1)).toMatchObject({ tenant: 'b-third', host: 'web02', state: 'held' });
      expect((await rows()).at(-1)!.error).toContain('for web02');
    });

    it('item 3: the per-tenant interval still applies: a warning a cap held sets no rate mark, the next one goes, the one after is held for the interval', async () => {
      setup({ per_host_hour: { warning: 1 } }, { interval: '12h' });
      await post('web01', floodEvents('warning', ['a', 'b'], clock.t - 1000), directory(['a', 'b']));
      expect((await rows()).map((r) => [r.tenant, r.state, r.digest_due])).toEqual([
        ['a', 'queued', null],
        ['b', 'held', T0 + HOUR],
      ]);
      clock.t = T0 + HOUR;
      await post('web01', floodEvents('warning', ['b'], clock.t - 1000));
      expect((await rows()).at(-1)).toMatchObject({ tenant: 'b', state: 'queued' }); // nothing went to b: no mark
      clock.advance(60_000);
      await post('web01', floodEvents('warning', ['b'], clock.t - 1000));
      const last = (await rows()).at(-1)!;
      expect(last).toMatchObject({ tenant: 'b', state: 'held', digest_due: T0 + HOUR + 12 * HOUR, error: null }); // the interval, not a cap
    });

    it('item 3: cap slots outlive a short notices.interval: pruning keeps the last hour', async () => {
      setup({ per_host_hour: { quarantine: 1 } }, { interval: '1s', keep: '1h' });
      await post('web01', floodEvents('quarantine', ['one'], clock.t - 1000), directory(['one']));
      clock.advance(30 * 60_000);
      await outbox.prune(clock.t);
      await post('web01', floodEvents('quarantine', ['two'], clock.t - 1000), directory(['two']));
      expect((await rows()).map((r) => [r.tenant, r.state])).toEqual([
        ['one', 'queued'],
        ['two', 'held'],
      ]);
      clock.t = T0 + HOUR;
      await outbox.prune(clock.t);
      expect(await outbox.releaseHeld(clock.t)).toBe(1);
    });

    it('item 3: notices not mailed (opted out, no address) take no slot', async () => {
      setup({ per_host_hour: { quarantine: 1, warning: 1 } }, { admin_bcc: [] });
      // No address for these tenants: recorded, nothing sent, nothing counted.
      await post('web01', floodEvents('quarantine', names('x', 3), clock.t - 1000));
      expect((await rows()).map((r) => r.state)).toEqual(['no_recipient', 'no_recipient', 'no_recipient']);
      await post('web01', floodEvents('quarantine', ['mailed'], clock.t - 1000), directory(['mailed']));
      expect((await rows()).at(-1)).toMatchObject({ tenant: 'mailed', state: 'queued' });
    });
  });

  describe('the metric and the log of held notices', () => {
    it('item 3: counts every held notice, and logs once per host per hour', () => {
      const lines: Array<Record<string, unknown>> = [];
      const log = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), cb()) }));
      const counted = new Map<string, number>();
      const counter = { inc: (labels: Partial<Record<'category' | 'cap', string>>, value = 1) => counted.set(`${labels.category}/${labels.cap}`, (counted.get(`${labels.category}/${labels.cap}`) ?? 0) + value) };
      const caps = parseControllerConfig({}).notices.caps;
      const watch = new CapWatch(caps, log, counter);
      expect(counted.get('quarantine/per_host_hour')).toBe(0); // every series exists from the start
      const holds = (host: string | null, n: number, category: CapHold['category'] = 'quarantine', cap: CapHold['cap'] = 'per_host_hour'): CapHold[] => Array.from({ length: n }, () => ({ host, category, cap }));
      watch.record([...holds('web01', 1980), ...holds('web01', 100, 'warning', 'per_report')], T0);
      watch.record(holds('web01', 5), T0 + 10 * 60_000);
      watch.record(holds('web02', 2, 'release'), T0 + 20 * 60_000);
      watch.record(holds('web01', 1), T0 + CAP_WINDOW_MS - 1);
      expect(lines.map((l) => l.host)).toEqual(['web01', 'web02']);
      expect(lines[0]).toMatchObject({ level: 40, held: { 'quarantine/per_host_hour': 1980, 'warning/per_report': 100 }, caps: { per_report: 20 } });
      expect(String(lines[0]!.msg)).toMatch(/held back by notices\.caps \(logged once per host per hour/);
      watch.record(holds('web01', 1, 'digest'), T0 + CAP_WINDOW_MS);
      watch.record(holds(null, 1, 'digest'), T0 + CAP_WINDOW_MS);
      expect(lines.map((l) => l.host)).toEqual(['web01', 'web02', 'web01', null]);
      expect(Object.fromEntries([...counted].filter(([, n]) => n > 0))).toEqual({ 'quarantine/per_host_hour': 1986, 'warning/per_report': 100, 'release/per_host_hour': 2, 'digest/per_host_hour': 2 });
    });
  });
});
