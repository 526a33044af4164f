// The outbox on a real store, SQLite and PostgreSQL (describeBackends), with a fake clock: notice rows are written in the transaction that stores
// their events (a report rolled back leaves none, a repeated one adds none); the rate limit and the digest
// over 100 violations in an hour; recipients from the managed record or the agent's directory; opt-out of
// informational notices only; and the sender: one .eml per notice in the outbox directory, retries with
// backoff and the error kept, failure after give_up, an interrupted attempt sent again under the same
// Message-ID (its file replaced, not doubled).
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { OutboxDirMailer } from '../../../../controller/notices/mailer.js';
import { NoticeOutbox, type NoticeRow } from '../../../../controller/notices/outbox.js';
import { NoticeSender } from '../../../../controller/notices/sender.js';
import { loadTemplates } from '../../../../controller/notices/templates.js';
import type { IncidentEvent, Report } from '../../../../shared/wire/agent.js';
import { describeBackends, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, HOUR, prepared, report } from '../fixtures.js';
import { ladderEvents, queuedManualEvents, storeQueue } from './events.js';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const templates = loadTemplates();

describeBackends('outbox', (backend) => {
  let t: OpenedStore;
  let clock: Clock;
  let outbox: NoticeOutbox;
  let seq = 0;

  function setup(yaml: Record<string, unknown> = {}): NoticeOutbox {
    const config = parseControllerConfig({ state_dir: t.dir, notices: { retry: { min: '1m', max: '8m', give_up: '1h' }, ...yaml } });
    outbox = new NoticeOutbox({ store: t.store.notices, config: config.notices, templates, domain: 'example.com' });
    t.store.onIncidentEvents((events, tx) => outbox.enqueueEvents(events, tx));
    return outbox;
  }

  async function post(events: IncidentEvent[], extra: Partial<Report> = {}, host = 'web01') {
    return t.store.ingest(prepared(report(host, ++seq, clock.t - 1000, [{ tenant: events[0]?.tenant ?? 'alice', cpu: { percent: 150 } }], { events, ...extra })));
  }

  const rows = async (filter: Parameters<NoticeOutbox['list']>[0] = {}) => (await outbox.list({ limit: 10000, ...filter })).reverse();
  const states = async () => (await rows()).map((r) => [r.event_type ?? r.kind, r.level, r.state]);

  beforeEach(async () => {
    clock = new Clock(T0);
    t = await backend.openStore({ now: clock.now });
    seq = 0;
  });
  afterEach(async () => {
    await t.close();
  });

  describe('notices from incident events', () => {
    it('are written with the report that carries the events: none when it rolls back, none twice', async () => {
      setup();
      const events = ladderEvents('alice', T0 - 5 * 60_000).slice(0, 2);
      let fail = true;
      t.store.onIncidentEvents(() => {
        if (fail) throw new Error('disk full');
      });
      await expect(post(events, { tenants: [{ name: 'alice', email: 'alice@example.com' }] })).rejects.toThrow('disk full');
      expect(await rows()).toEqual([]);
      fail = false;
      seq--;
      await post(events, { tenants: [{ name: 'alice', email: 'alice@example.com' }] });
      expect(await states()).toEqual([
        ['opened', 0, 'queued'],
        ['escalated', 1, 'queued'],
      ]);
      seq--;
      expect((await post(events)).duplicate).toBe(true);
      expect(await rows()).toHaveLength(2);
      const r = (await rows())[1]!;
      expect(r).toMatchObject({ tenant: 'alice', host: 'web01', resource: 'cpu', recipient: 'alice@example.com', category: 'throttle', subject: '[web01] alice: cpu throttled (level 1)', next_attempt_at: T0, attempts: 0 });
      expect(r.message_id).toMatch(/^<[0-9a-f-]{36}@example\.com>$/);
      expect(r.body_text).toContain('WHAT WAS MEASURED');
    });

    it('go to the managed address first, else to the one the agent reported; without one they are recorded', async () => {
      setup({ admin_bcc: [] });
      await post(await queuedManualEvents(storeQueue(t.store), 'notice', { tenant: 'bob', now: T0 - 1000 }));
      expect((await rows())[0]).toMatchObject({ tenant: 'bob', state: 'no_recipient', recipient: null, error: expect.stringContaining('no email address for this tenant') });
      await post(await queuedManualEvents(storeQueue(t.store), 'quarantine', { tenant: 'bob', now: T0 - 900 }), { tenants: [{ name: 'bob', email: 'bob@agent.example' }] });
      expect((await rows())[1]).toMatchObject({ state: 'queued', recipient: 'bob@agent.example' });
      await t.store.putPlan('basic', { weight: 1 });
      await t.store.putTenant('bob', { users: ['bob'], plan: 'basic', email: 'bob@managed.example' });
      await post(await queuedManualEvents(storeQueue(t.store), 'throttle', { tenant: 'bob', now: T0 - 800 }));
      expect((await rows())[2]).toMatchObject({ state: 'queued', recipient: 'bob@managed.example' });
    });

    it('with an admin copy, a notice without a tenant address still goes out, to the admin only', async () => {
      setup({ admin_bcc: ['abuse@example.com'] });
      await post(await queuedManualEvents(storeQueue(t.store), 'notice', { tenant: 'carol', now: T0 - 1000 }));
      expect((await rows())[0]).toMatchObject({ state: 'queued', recipient: null, bcc: '["abuse@example.com"]', error: expect.stringContaining('only the admin copy goes out') });
    });

    it('respect an opt-out for warnings and digests only, never for throttles, quarantines and releases', async () => {
      setup();
      await t.store.putPlan('basic', { weight: 1 });
      await t.store.putTenant('alice', { users: ['alice'], plan: 'basic', email: 'alice@example.com', notices: false, host: 'web01' });
      await post(ladderEvents('alice', T0 - 5 * 60_000));
      expect(await states()).toEqual([
        ['opened', 0, 'opted_out'],
        ['escalated', 1, 'queued'],
        ['escalated', 2, 'queued'],
        ['escalated', 3, 'queued'],
        ['relaxed', 2, 'queued'],
        ['released', 0, 'queued'],
      ]);
      // The next incident's throttles are held back; their digest is informational: not sent.
      clock.advance(10 * 60_000);
      await post(ladderEvents('alice', clock.t - 5 * 60_000));
      expect((await rows({ state: 'held' })).map((r) => [r.event_type, r.level])).toEqual([
        ['escalated', 1],
        ['escalated', 2],
        ['relaxed', 2],
      ]);
      expect(await outbox.makeDueDigests(clock.t + 12 * HOUR)).toBe(1);
      expect((await rows({ kind: 'digest' }))[0]).toMatchObject({ state: 'opted_out', summary: '3 notices held back' });
    });

    it('100 violations of one tenant within an hour: one email per step, every quarantine and release, one digest', async () => {
      setup({ interval: '12h' });
      // 17 incidents, 3.5 minutes apart, each notice -> throttle 1 -> 2 -> quarantine -> thawed -> released:
      // 102 events in an hour, posted as the agent reports them.
      const incidents = Array.from({ length: 17 }, (_, i) => ladderEvents('alice', T0 + i * 210_000));
      const all = incidents.flat();
      expect(all).toHaveLength(102);
      expect(all[all.length - 1]!.at < new Date(T0 + HOUR).toISOString()).toBe(true);
      await post([], { tenants: [{ name: 'alice', email: 'alice@example.com' }] });
      for (const ev of all) {
        clock.t = Date.parse(ev.at) + 1000;
        await post([ev]);
      }
      const count = async (state: string, type?: string, level?: number) => (await rows({ state: state as NoticeRow['state'] })).filter((r) => (type === undefined || r.event_type === type) && (level === undefined || r.level === level)).length;
      // The first of each step goes out; later ones of the same step are held back.
      expect([await count('queued', 'opened'), await count('queued', 'escalated', 1), await count('queued', 'escalated', 2), await count('queued', 'relaxed')]).toEqual([1, 1, 1, 1]);
      // Quarantines and releases always go out.
      expect([await count('queued', 'escalated', 3), await count('queued', 'released')]).toEqual([17, 17]);
      expect(await count('held')).toBe(64);
      expect(await count('queued')).toBe(38);

      // Nothing is due before the interval of the first notices ends; then one digest tells all 64.
      expect(await outbox.makeDueDigests(clock.t)).toBe(0);
      expect(await outbox.nextDue()).toBe(Date.parse(all[0]!.at) + 1000); // the first queued one
      clock.t = Date.parse(all[0]!.at) + 1000 + 12 * HOUR;
      expect(await outbox.makeDueDigests(clock.t)).toBe(1);
      expect(await outbox.makeDueDigests(clock.t)).toBe(0);
      const [digest] = await rows({ kind: 'digest' });
      expect(digest).toMatchObject({ state: 'queued', recipient: 'alice@example.com', summary: '64 notices held back', category: 'digest' });
      expect(digest!.subject).toMatch(/^\[web01\] alice: 64 notices held back since 2026-11-29 12:03:55 UTC$/);
      expect(digest!.body_text).toMatch(/cpu +warnings +x16 /);
      expect(digest!.body_text).toMatch(/cpu +throttle level 1 +x16 /);
      expect(digest!.body_text).toMatch(/cpu +quarantine ended, still throttled +x16 /);
      expect(await count('held')).toBe(0);
      expect(await count('digested')).toBe(64);
      expect(new Set((await rows({ state: 'digested' })).map((r) => r.digest_id))).toEqual(new Set([digest!.id]));

      // A new incident after the interval is told again.
      const later = ladderEvents('alice', clock.t);
      clock.t = Date.parse(later[0]!.at) + 1000;
      await post([later[0]!]);
      expect((await rows()).at(-1)).toMatchObject({ event_type: 'opened', state: 'queued' });
    });

    it('one digest per tenant per interval: a notice held after a digest waits an interval after it', async () => {
      setup({ interval: '1h' });
      await post([], { tenants: [{ name: 'alice', email: 'alice@example.com' }] });
      const [opened, throttled] = ladderEvents('alice', T0 - 30_000);
      const at = async (t: number, ev: IncidentEvent) => {
        clock.t = t;
        await post([{ ...ev, id: `${ev.id}-${t}`, at: new Date(t - 1000).toISOString() }]);
        return (await rows()).at(-1)!;
      };
      expect((await at(T0, opened!)).state).toBe('queued');
      expect(await at(T0 + 10 * 60_000, opened!)).toMatchObject({ state: 'held', digest_due: T0 + HOUR });
      expect((await at(T0 + 50 * 60_000, throttled!)).state).toBe('queued');
      expect(await at(T0 + 55 * 60_000, throttled!)).toMatchObject({ state: 'held', digest_due: T0 + 110 * 60_000 });
      expect(await outbox.makeDueDigests(T0 + HOUR - 1)).toBe(0);
      expect(await outbox.makeDueDigests(T0 + HOUR)).toBe(1); // both held notices, the second before its own time
      expect((await rows({ kind: 'digest' }))[0]!.summary).toBe('2 notices held back');
      // The throttle's interval ends at 1h50m, but the last digest was at 1h: the next one waits until 2h.
      expect(await at(T0 + 70 * 60_000, throttled!)).toMatchObject({ state: 'held', digest_due: T0 + 2 * HOUR });
      expect(await outbox.makeDueDigests(T0 + 110 * 60_000)).toBe(0);
      expect(await outbox.makeDueDigests(T0 + 2 * HOUR)).toBe(1);
    });
  });

  describe('the sender', () => {
    it('writes one .eml per notice to the outbox directory, retries with backoff while it cannot, and fails after give_up', async () => {
      setup();
      const dir = join(t.dir, 'outbox');
      writeFileSync(dir, 'not a directory'); // every write fails until this goes
      const sender = new NoticeSender({ outbox, mailer: new OutboxDirMailer(dir, { from: 'Hosting <noreply@example.com>' }), now: clock.now, retry: { minMs: 60_000, maxMs: 480_000, giveUpMs: HOUR } });
      await post(ladderEvents('alice', T0 - 5 * 60_000).slice(0, 2), { tenants: [{ name: 'alice', email: 'alice@example.com' }] });
      expect(await sender.runOnce()).toBe(2);
      let [a, b] = await rows();
      expect([a!.state, a!.attempts, a!.next_attempt_at, b!.next_attempt_at]).toEqual(['queued', 1, T0 + 60_000, T0 + 60_000]);
      expect(a!.error).toMatch(new RegExp(`cannot write ${dir}/.*\\.eml`));
      expect(await sender.runOnce()).toBe(0); // not yet due
      clock.advance(60_000);
      expect(await sender.runOnce()).toBe(2);
      [a] = await rows();
      expect([a!.attempts, a!.next_attempt_at]).toEqual([2, T0 + 60_000 + 120_000]);

      rmSync(dir);
      clock.advance(120_000);
      expect(await sender.runOnce()).toBe(2);
      expect((await rows()).map((r) => [r.state, r.attempts, r.sent_at])).toEqual([
        ['sent', 3, clock.t],
        ['sent', 3, clock.t],
      ]);
      const files = readdirSync(dir).sort();
      expect(files).toEqual([OutboxDirMailer.fileName((await rows())[0]!), OutboxDirMailer.fileName((await rows())[1]!)]);
      expect(files.every((f) => /^20261129T\d{6}Z-\d{6}-alice-event\.eml$/.test(f))).toBe(true);
      const mail = await simpleParser(readFileSync(join(dir, files[1]!)));
      expect(mail.subject).toBe('[web01] alice: cpu throttled (level 1)');
      expect(mail.messageId).toBe((await rows())[1]!.message_id);
      expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
      expect(mail.text).toContain('Throttled (level 1)');
      expect(mail.html).toContain('&lt;script&gt;');

      // A notice the server never takes fails after give_up, with its last error.
      writeFileSync(join(t.dir, 'blocked'), '');
      const stuck = new NoticeSender({ outbox, mailer: new OutboxDirMailer(join(t.dir, 'blocked'), { from: 'a@b.example' }), now: clock.now, retry: { minMs: 60_000, maxMs: 480_000, giveUpMs: HOUR } });
      await post(await queuedManualEvents(storeQueue(t.store), 'quarantine', { now: clock.t - 1000 }));
      for (let i = 0; i < 20 && (await rows({ state: 'queued' })).length; i++) {
        await stuck.runOnce();
        clock.advance(480_000);
      }
      const failed = await rows({ state: 'failed' });
      expect(failed).toHaveLength(1);
      expect(failed[0]!.attempts).toBeGreaterThan(5);
      expect(failed[0]!.error).toMatch(/^not accepted within 1h \(\d+ attempts\); last error: cannot write /);
    });

    it('sends an attempt the controller was stopped in again after a restart, under the same Message-ID, replacing its file', async () => {
      setup();
      const dir = join(t.dir, 'outbox');
      await post(await queuedManualEvents(storeQueue(t.store), 'throttle', { now: T0 - 1000 }), { tenants: [{ name: 'alice', email: 'alice@example.com' }] });
      const claimed = (await outbox.claim(clock.t))!;
      expect(claimed).toMatchObject({ state: 'sending', attempts: 1 });
      // Delivered, then the process died before the row was marked.
      await new OutboxDirMailer(dir, { from: 'a@b.example' }).send(claimed);
      const first = readFileSync(join(dir, OutboxDirMailer.fileName(claimed)));

      const store = await t.reopen();
      outbox = new NoticeOutbox({ store: store.notices, config: parseControllerConfig({}).notices, templates, domain: 'example.com' });
      expect(await outbox.recoverInterrupted(clock.t)).toBe(1);
      expect((await rows())[0]).toMatchObject({ state: 'queued', error: expect.stringContaining('sent again with the same Message-ID') });
      await outbox.claim(clock.t); // once more: start() below must find it
      const sender = new NoticeSender({ outbox, mailer: new OutboxDirMailer(dir, { from: 'a@b.example' }), now: clock.now, retry: { minMs: 1000, maxMs: 1000, giveUpMs: HOUR } });
      sender.start();
      await vi.waitFor(async () => expect((await rows())[0]).toMatchObject({ state: 'sent', attempts: 3 }));
      await sender.close();
      expect(readdirSync(dir)).toEqual([OutboxDirMailer.fileName(claimed)]);
      const again = readFileSync(join(dir, OutboxDirMailer.fileName(claimed)));
      expect((await simpleParser(again)).messageId).toBe((await simpleParser(first)).messageId);
    });

    it('drops finished notices past notices.keep', async () => {
      setup({ keep: '2h', interval: '1h' });
      await post(await queuedManualEvents(storeQueue(t.store), 'throttle', { now: T0 - 1000 }), { tenants: [{ name: 'alice', email: 'alice@example.com' }] });
      const sender = new NoticeSender({ outbox, mailer: new OutboxDirMailer(join(t.dir, 'o'), { from: 'a@b.example' }), now: clock.now, retry: { minMs: 1000, maxMs: 1000, giveUpMs: HOUR } });
      await sender.runOnce();
      expect(await outbox.prune(clock.t + 2 * HOUR)).toBe(0);
      expect(await outbox.prune(clock.t + 2 * HOUR + 1)).toBe(1);
      expect(await rows()).toEqual([]);
      expect(existsSync(join(t.dir, 'o'))).toBe(true);
    });
  });
});
