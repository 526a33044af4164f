// The outbox logic holds no SQL: it runs on any NoticeStore. Here on a small in-memory one (what a second
// backend must provide), with the same decisions as on SQLite: the rate limit holds back a repeated step, the
// digest tells what was held and marks it, an attempt's outcome is recorded only for its own attempt id.
import { describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { NoticeOutbox } from '../../../../controller/notices/outbox.js';
import { loadTemplates } from '../../../../controller/notices/templates.js';
import type { AttemptOutcome, CapQueue, HeldNotice, NewNotice, NoticeRow, NoticeStore, NoticeTx } from '../../../../controller/store/notice-store.js';
import type { IncidentSummary } from '../../../../shared/wire/api.js';
import { ladderEvents, stored } from './events.js';

const HOUR = 3_600_000;

class MemoryNotices implements NoticeStore, NoticeTx {
  rows: NoticeRow[] = [];
  marks = new Map<string, number>();
  contacts = new Map<string, string>();
  slots: Array<{ host: string | null; category: string; at: number; source: string }> = [];

  contactOf(tenant: string) {
    return { address: this.contacts.get(tenant) ?? null, optedOut: false };
  }
  lastLevel(incidentId: number): number {
    return Math.max(-1, ...this.rows.filter((r) => r.incident_id === incidentId && r.kind === 'event').map((r) => r.level ?? -1));
  }
  rateMark(key: string) {
    return this.marks.get(key);
  }
  setRateMark(key: string, at: number): void {
    this.marks.set(key, at);
  }
  enqueue(n: NewNotice): number | undefined {
    if (this.rows.some((r) => r.source === n.source)) return undefined;
    const id = this.rows.length + 1;
    this.rows.push({ ...n, id, attempts: 0, attempt_id: null, last_attempt_at: null, sent_at: null, digest_id: null });
    return id;
  }
  capSlots(host: string | null, category: string, since: number) {
    return this.slots.filter((s) => s.host === host && s.category === category && s.at > since).length;
  }
  takeCapSlot(host: string | null, category: string, at: number, source: string) {
    this.slots.push({ host, category, at, source });
  }
  private capHeld() {
    return this.rows.filter((r) => r.state === 'held' && r.digest_due === null);
  }
  capWaiting(host: string | null, category: string) {
    return this.capHeld().some((r) => r.host === host && r.category === category);
  }
  async releaseHeld(now: number, free: (q: CapQueue, tx: NoticeTx) => number) {
    let released = 0;
    const queues = new Map<string, CapQueue>();
    for (const r of this.capHeld()) {
      const q = queues.get(`${r.host}/${r.category}`) ?? { host: r.host, category: r.category, waiting: 0 };
      q.waiting++;
      queues.set(`${r.host}/${r.category}`, q);
    }
    for (const q of queues.values()) {
      const oldest = this.capHeld().filter((r) => r.host === q.host && r.category === q.category).slice(0, Math.max(0, free(q, this)));
      for (const r of oldest) {
        Object.assign(r, { state: 'queued', next_attempt_at: now });
        this.takeCapSlot(q.host, q.category, now, r.source);
        released++;
      }
    }
    return released;
  }
  async dueDigests(now: number) {
    return [...new Set(this.rows.filter((r) => r.state === 'held' && r.digest_due !== null && r.digest_due <= now).map((r) => r.tenant))];
  }
  async digest(tenant: string, compose: (held: HeldNotice[], tx: NoticeTx) => NewNotice | undefined) {
    const held = this.rows.filter((r) => r.state === 'held' && r.digest_due !== null && r.tenant === tenant);
    const n = held.length ? compose(held, this) : undefined;
    const id = n && this.enqueue(n);
    for (const r of id === undefined ? [] : held) Object.assign(r, { state: 'digested', digest_id: id });
    return id;
  }
  async claim(now: number, attemptId: string) {
    const r = this.rows.filter((x) => x.state === 'queued' && x.next_attempt_at! <= now).sort((a, b) => a.next_attempt_at! - b.next_attempt_at! || a.id - b.id)[0];
    if (r) Object.assign(r, { state: 'sending', attempt_id: attemptId, attempts: r.attempts + 1, last_attempt_at: now });
    return r && { ...r };
  }
  async finishAttempt(id: number, attemptId: string, o: AttemptOutcome) {
    const r = this.rows.find((x) => x.id === id && x.attempt_id === attemptId && x.state === 'sending');
    if (!r) return false;
    if (o.state === 'queued') Object.assign(r, { state: 'queued', next_attempt_at: o.nextAt, error: o.error, attempt_id: null });
    else if (o.state === 'failed') Object.assign(r, { state: 'failed', error: o.error, attempt_id: null, next_attempt_at: null });
    else Object.assign(r, { state: o.state, sent_at: o.at, error: o.error, attempt_id: null, next_attempt_at: null });
    return true;
  }
  async requeueInterrupted() {
    return 0;
  }
  async nextDue() {
    return undefined;
  }
  async get(id: number) {
    return this.rows.find((r) => r.id === id);
  }
  async list() {
    return [...this.rows].reverse();
  }
  async counts() {
    return {};
  }
  async prune() {
    return 0;
  }
}

describe('the outbox on an in-memory notice store', () => {
  it('makes the same decisions without a database', async () => {
    const store = new MemoryNotices();
    store.contacts.set('alice', 'alice@example.com');
    const config = parseControllerConfig({ notices: { interval: '1h' } });
    const outbox = new NoticeOutbox({ store, config: config.notices, templates: loadTemplates(), domain: 'example.com' });
    const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
    const incident = (id: number) => ({ id }) as IncidentSummary;
    const [opened, throttled] = ladderEvents('alice', T0);
    const tx = (now: number) => ({ now, notices: store, afterCommit: (fn: () => void) => void setImmediate(fn) });
    expect(outbox.enqueueEvents([{ event: stored(opened!), incident: incident(1) }, { event: stored(throttled!), incident: incident(1) }], tx(T0))).toMatchObject({ queued: 2, held: 0 });
    // The same steps of a second incident within the hour are held back for the digest.
    const again = ladderEvents('alice', T0 + 10 * 60_000).slice(0, 2).map((e) => ({ event: stored(e), incident: incident(2) }));
    expect(outbox.enqueueEvents(again, tx(T0 + 10 * 60_000))).toMatchObject({ queued: 0, held: 2 });
    expect(store.rows.map((r) => [r.event_type, r.state, r.recipient])).toEqual([
      ['opened', 'queued', 'alice@example.com'],
      ['escalated', 'queued', 'alice@example.com'],
      ['opened', 'held', 'alice@example.com'],
      ['escalated', 'held', 'alice@example.com'],
    ]);
    expect(await outbox.makeDueDigests(T0 + HOUR - 1)).toBe(0);
    expect(await outbox.makeDueDigests(T0 + HOUR)).toBe(1);
    expect(store.rows[4]).toMatchObject({ kind: 'digest', state: 'queued', summary: '2 notices held back' });
    expect(store.rows.filter((r) => r.state === 'digested').map((r) => r.digest_id)).toEqual([5, 5]);
    // An attempt is recorded for its own attempt id only.
    const claimed = (await outbox.claim(T0 + HOUR))!;
    expect(await outbox.markDelivered({ ...claimed, attempt_id: 'another attempt' }, T0 + HOUR)).toBe(false);
    expect(await outbox.markDelivered(claimed, T0 + HOUR)).toBe(true);
    expect(store.rows[0]).toMatchObject({ state: 'sent', attempts: 1, sent_at: T0 + HOUR });
  });
});
