// The notices' outbox (NoticeStore) through its interface, on both backends: attempts claimed one at a time
// in due order and finished only by their own attempt, interrupted ones requeued, digests of a tenant's held
// notices (once), notices held for a cap released as slots free up (counted through the transaction's
// NoticeTx), listing, counts and pruning. On PostgreSQL also two controllers at once: concurrent claims never
// take one notice twice, concurrent digests make one digest.
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { NewNotice } from '../../../../controller/store/notice-store.js';
import { describeBackends, itShared, type OpenedParts } from '../../../helpers/store-backends.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;

let n = 0;
function notice(extra: Partial<NewNotice> = {}): NewNotice {
  n++;
  return {
    kind: 'event',
    source: `event:web01:e${n}`,
    tenant: 'alice',
    host: 'web01',
    resource: 'cpu',
    incident_id: 1,
    incident_key: 'inc-1',
    event_type: 'escalated',
    step: 'throttle',
    level: 1,
    manual: 0,
    category: 'throttle',
    event_at: T0 - MIN,
    created_at: T0,
    state: 'queued',
    recipient: 'alice@example.com',
    bcc: '[]',
    subject: `notice ${n}`,
    summary: `summary ${n}`,
    body_text: 'text',
    body_html: null,
    message_id: `<m${n}@example.com>`,
    next_attempt_at: T0,
    error: null,
    digest_due: null,
    ...extra,
  };
}

const digestOf = (tenant: string, ids: number[]): NewNotice =>
  notice({ kind: 'digest', source: `digest:${tenant}:${T0}:${ids[0]}`, tenant, host: null, resource: null, incident_id: null, event_type: null, level: null, category: 'digest', subject: `${ids.length} held` });

describeBackends('NoticeStore', (backend) => {
  let store: OpenedParts;
  beforeEach(async () => {
    store = await backend.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('claims due notices one attempt at a time, in due order; only the attempt finishes it', async () => {
    const lateNotice = notice({ next_attempt_at: T0 + MIN });
    const late = (await store.seedNotice(lateNotice))!;
    const first = (await store.seedNotice(notice({ next_attempt_at: T0 - MIN })))!;
    expect(await store.seedNotice(notice({ source: lateNotice.source }))).toBeUndefined(); // the same source: not written
    expect(await store.notices.nextDue()).toBe(T0 - MIN);

    const a = (await store.notices.claim(T0, 'attempt-a'))!;
    expect(a).toMatchObject({ id: first, state: 'sending', attempts: 1, attempt_id: 'attempt-a', last_attempt_at: T0 });
    expect(await store.notices.claim(T0, 'attempt-b')).toBeUndefined(); // the other is not due yet
    expect(await store.notices.finishAttempt(first, 'attempt-x', { state: 'sent', at: T0, error: null })).toBe(false);
    expect(await store.notices.finishAttempt(first, 'attempt-a', { state: 'queued', nextAt: T0 + 2 * MIN, error: 'connection refused' })).toBe(true);
    expect(await store.notices.get(first)).toMatchObject({ state: 'queued', next_attempt_at: T0 + 2 * MIN, error: 'connection refused', attempt_id: null });

    const b = (await store.notices.claim(T0 + 3 * MIN, 'attempt-c'))!;
    expect(b.id).toBe(late); // due earlier than the retry
    expect(await store.notices.finishAttempt(late, 'attempt-c', { state: 'sent', at: T0 + 3 * MIN, error: null })).toBe(true);
    expect(await store.notices.finishAttempt(late, 'attempt-c', { state: 'sent', at: T0 + 3 * MIN, error: null })).toBe(false);
    const c = (await store.notices.claim(T0 + 3 * MIN, 'attempt-d'))!;
    expect(c).toMatchObject({ id: first, attempts: 2 });
    expect(await store.notices.finishAttempt(first, 'attempt-d', { state: 'failed', error: '550 no such user' })).toBe(true);
    expect(await store.notices.get(late)).toMatchObject({ state: 'sent', sent_at: T0 + 3 * MIN, next_attempt_at: null });
    expect(await store.notices.get(first)).toMatchObject({ state: 'failed', error: '550 no such user' });
    expect(await store.notices.counts()).toEqual({ sent: 1, failed: 1 });
    expect(await store.notices.nextDue()).toBeUndefined();
  });

  it('puts attempts a stopped controller left open back in the queue', async () => {
    const id = (await store.seedNotice(notice()))!;
    await store.notices.claim(T0, 'attempt-a');
    expect(await store.notices.requeueInterrupted(T0 + MIN, 'interrupted')).toBe(1);
    expect(await store.notices.get(id)).toMatchObject({ state: 'queued', attempt_id: null, next_attempt_at: T0 + MIN, error: 'interrupted', attempts: 1 });
    expect(await store.notices.finishAttempt(id, 'attempt-a', { state: 'sent', at: T0, error: null })).toBe(false);
  });

  it('lists newest first with filters, and prunes finished notices and old marks', async () => {
    const ids = [];
    for (const [tenant, state] of [['alice', 'sent'], ['bob', 'queued'], ['alice', 'no_recipient'], ['alice', 'queued']] as const) {
      ids.push((await store.seedNotice(notice({ tenant, state, created_at: T0 + ids.length * MIN })))!);
    }
    expect((await store.notices.list()).map((r) => r.id)).toEqual([...ids].reverse());
    expect((await store.notices.list({ tenant: 'alice', limit: 2 })).map((r) => r.id)).toEqual([ids[3], ids[2]]);
    expect((await store.notices.list({ tenant: 'alice', state: 'queued' })).map((r) => r.id)).toEqual([ids[3]]);
    expect(await store.notices.list({ kind: 'digest' })).toEqual([]);
    expect(await store.notices.get(ids[1]!)).toMatchObject({ tenant: 'bob', bcc: '[]', manual: 0, level: 1, event_at: T0 - MIN });
    expect(await store.notices.prune(T0 + 3 * MIN, T0)).toBe(2); // the sent and the no_recipient ones
    expect((await store.notices.list()).map((r) => r.id)).toEqual([ids[3], ids[1]]);
  });

  it("digests a tenant's held notices once: its contact and marks in the transaction, the held ones marked", async () => {
    const held = [];
    for (let i = 0; i < 3; i++) held.push((await store.seedNotice(notice({ state: 'held', digest_due: T0 + HOUR, next_attempt_at: null, created_at: T0 + i })))!);
    await store.seedNotice(notice({ tenant: 'bob', state: 'held', digest_due: T0 + 2 * HOUR, next_attempt_at: null }));
    const capped = (await store.seedNotice(notice({ state: 'held', digest_due: null, next_attempt_at: null })))!; // waits for a cap slot, not the digest
    expect(await store.notices.dueDigests(T0 + HOUR - 1)).toEqual([]);
    expect(await store.notices.dueDigests(T0 + HOUR)).toEqual(['alice']);
    expect(await store.notices.nextDue()).toBe(T0 + HOUR);

    const seen: number[][] = [];
    const id = await store.notices.digest('alice', (h, tx) => {
      seen.push(h.map((x) => x.id));
      expect(tx.contactOf('alice')).toEqual({ address: null, optedOut: false }); // no tenant row in this suite
      expect(tx.capWaiting('web01', 'throttle')).toBe(true);
      tx.setRateMark('digest\u001falice', T0 + HOUR);
      return digestOf('alice', h.map((x) => x.id));
    });
    expect(seen).toEqual([held]);
    expect(id).toBeGreaterThan(capped);
    expect((await store.notices.list({ state: 'digested' })).map((r) => [r.id, r.digest_id]).sort()).toEqual(held.map((h) => [h, id]).sort());
    expect(await store.notices.get(id!)).toMatchObject({ kind: 'digest', state: 'queued', tenant: 'alice' });
    expect(await store.notices.get(capped)).toMatchObject({ state: 'held' });
    // Nothing held any more: compose is not called, no digest.
    expect(await store.notices.digest('alice', () => expect.fail('nothing to compose'))).toBeUndefined();
    // compose may decide to make none: the held ones stay held.
    expect(await store.notices.digest('bob', () => undefined)).toBeUndefined();
    expect((await store.notices.list({ tenant: 'bob' }))[0]).toMatchObject({ state: 'held' });
  });

  it('releases notices held for a cap as slots free up, oldest first, counting the slots taken', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await store.seedNotice(notice({ state: 'held', digest_due: null, next_attempt_at: null, created_at: T0 + i })))!);
    await store.seedNotice(notice({ host: 'web02', category: 'quarantine', state: 'held', digest_due: null, next_attempt_at: null }));
    const queues: string[] = [];
    // At most two slots an hour per host and category.
    const free = (q: { host: string | null; category: string; waiting: number }, tx: { capSlots(h: string | null, c: string, s: number): number }) => {
      queues.push(`${q.host}/${q.category}/${q.waiting}`);
      return q.category === 'throttle' ? Math.max(0, 2 - tx.capSlots(q.host, q.category, T0 + 10 * MIN - HOUR)) : 0;
    };
    expect(await store.notices.releaseHeld(T0 + 10 * MIN, free)).toBe(2);
    expect(queues.sort()).toEqual(['web01/throttle/3', 'web02/quarantine/1']);
    expect((await store.notices.list({ state: 'queued' })).map((r) => [r.id, r.next_attempt_at])).toEqual([
      [ids[1], T0 + 10 * MIN],
      [ids[0], T0 + 10 * MIN],
    ]);
    // The two slots are taken: nothing more this hour; an hour later there is room again.
    expect(await store.notices.releaseHeld(T0 + 20 * MIN, free)).toBe(0);
    const later = (q: { host: string | null; category: string }, tx: { capSlots(h: string | null, c: string, s: number): number }) =>
      q.category === 'throttle' ? Math.max(0, 2 - tx.capSlots(q.host, q.category, T0 + 80 * MIN - HOUR)) : 0;
    expect(await store.notices.releaseHeld(T0 + 80 * MIN, later)).toBe(1);
    expect(await store.notices.get(ids[2]!)).toMatchObject({ state: 'queued', next_attempt_at: T0 + 80 * MIN });
  });

  itShared(backend)("two controllers at once: a live one's attempt is never put back by the other; a dead one's is, at the other's next claim", async () => {
    const second = await store.another!();
    const id = (await store.seedNotice(notice()))!;
    expect((await store.notices.claim(T0, 'attempt-a'))?.id).toBe(id);
    // The second controller starts: the first is alive, its attempt stays its own.
    expect(await second.notices.requeueInterrupted(T0 + MIN, 'interrupted')).toBe(0);
    expect(await second.notices.claim(T0 + MIN, 'attempt-b')).toBeUndefined();
    expect((await second.notices.get(id))?.state).toBe('sending');
    // The first stops (its session ends; restarted, it is another controller): the second's next claim takes
    // the notice back and sends it, under the same Message-ID.
    await store.reopen();
    const again = await second.notices.claim(T0 + 2 * MIN, 'attempt-b');
    expect(again).toMatchObject({ id, state: 'sending', attempt_id: 'attempt-b', attempts: 2, message_id: (await second.notices.get(id))!.message_id });
    expect(await second.notices.finishAttempt(id, 'attempt-a', { state: 'sent', at: T0, error: null })).toBe(false);
    expect(await second.notices.finishAttempt(id, 'attempt-b', { state: 'sent', at: T0 + 2 * MIN, error: null })).toBe(true);
  });

  itShared(backend)('two controllers at once: a notice is claimed by one of them, a digest made once (not SQLite: one controller per file)', async () => {
    const second = await store.another!();
    const ids = [];
    for (let i = 0; i < 10; i++) ids.push((await store.seedNotice(notice()))!);
    const claimed: number[] = [];
    await Promise.all(
      [store, second].map(async (s, k) => {
        for (let i = 0; i < 8; i++) {
          const row = await s.notices.claim(T0, `attempt-${k}-${i}`);
          if (row) claimed.push(row.id);
        }
      }),
    );
    expect(claimed.sort((a, b) => a - b)).toEqual(ids);
    for (let i = 0; i < 4; i++) await store.seedNotice(notice({ tenant: 'carol', state: 'held', digest_due: T0, next_attempt_at: null }));
    const made = await Promise.all([store, second].map((s) => s.notices.digest('carol', (h) => digestOf('carol', h.map((x) => x.id)))));
    expect(made.filter((id) => id !== undefined)).toHaveLength(1);
    expect(await store.notices.list({ tenant: 'carol', state: 'digested' })).toHaveLength(4);
  });
});
