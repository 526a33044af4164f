// The notices' outbox in SQLite (migration 4): the NoticeStore and the NoticeTx of notice-store.ts. Rows
// written through the NoticeTx inside a store transaction commit with it: an ingest's notices with the events
// that cause them, a digest with the held notices it marks.
//
// Cap slots (notices/caps.ts) are rows of notice_limits too, keyed as ../notice-keys.ts says.
import type Database from 'better-sqlite3';
import { Where } from './context.js';
import type { AttemptOutcome, CapQueue, HeldNotice, NewNotice, NoticeFilter, NoticeRow, NoticeState, NoticeStore, NoticeTx, TenantContact } from '../notice-store.js';
import { capSlotKey, capSlotRange, contactFromRow } from '../notice-keys.js';

function statements(db: Database.Database) {
  return {
    tenant: db.prepare<[string], { spec: string | null; reported: string | null }>('SELECT spec, reported FROM tenants WHERE name = ?'),
    maxLevel: db.prepare<[number], { m: number | null }>("SELECT max(level) AS m FROM notices WHERE incident_id = ? AND kind = 'event'"),
    limit: db.prepare<[string], { last_at: number }>('SELECT last_at FROM notice_limits WHERE key = ?'),
    setLimit: db.prepare<[string, number]>('INSERT INTO notice_limits (key, last_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at'),
    insert: db.prepare<[NewNotice]>(
      `INSERT INTO notices (kind, source, tenant, host, resource, incident_id, incident_key, event_type, step, level, manual, category, event_at,
         created_at, state, recipient, bcc, subject, summary, body_text, body_html, message_id, next_attempt_at, error, digest_due)
       VALUES (@kind, @source, @tenant, @host, @resource, @incident_id, @incident_key, @event_type, @step, @level, @manual, @category, @event_at,
         @created_at, @state, @recipient, @bcc, @subject, @summary, @body_text, @body_html, @message_id, @next_attempt_at, @error, @digest_due)
       ON CONFLICT (source) DO NOTHING`,
    ),
    dueDigests: db.prepare<[number], { tenant: string }>("SELECT tenant FROM notices WHERE state = 'held' GROUP BY tenant HAVING min(digest_due) <= ?"),
    heldOf: db.prepare<[string], HeldNotice>(
      "SELECT id, host, resource, category, event_type, level, event_at, created_at, summary FROM notices WHERE state = 'held' AND tenant = ? AND digest_due IS NOT NULL ORDER BY created_at, id",
    ),
    capSlots: db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM notice_limits WHERE key >= ? AND key < ?'),
    capWaiting: db.prepare<[string | null, string], { one: number }>(
      "SELECT 1 AS one FROM notices WHERE state = 'held' AND digest_due IS NULL AND host IS ? AND category = ? LIMIT 1",
    ),
    capQueues: db.prepare<[], CapQueue>("SELECT host, category, count(*) AS waiting FROM notices WHERE state = 'held' AND digest_due IS NULL GROUP BY host, category"),
    capOldest: db.prepare<[string | null, string, number], { id: number; source: string }>(
      "SELECT id, source FROM notices WHERE state = 'held' AND digest_due IS NULL AND host IS ? AND category = ? ORDER BY created_at, id LIMIT ?",
    ),
    release: db.prepare<[number, number]>("UPDATE notices SET state = 'queued', next_attempt_at = ? WHERE id = ? AND state = 'held' AND digest_due IS NULL"),
    digested: db.prepare<[number, number]>("UPDATE notices SET state = 'digested', digest_id = ? WHERE id = ? AND state = 'held'"),
    claim: db.prepare<[string, number, number], NoticeRow>(
      `UPDATE notices SET state = 'sending', attempt_id = ?, attempts = attempts + 1, last_attempt_at = ?
       WHERE id = (SELECT id FROM notices WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1)
       RETURNING *`,
    ),
    delivered: db.prepare<[NoticeState, number, string | null, number, string]>(
      "UPDATE notices SET state = ?, sent_at = ?, error = ?, attempt_id = NULL, next_attempt_at = NULL WHERE id = ? AND attempt_id = ? AND state = 'sending'",
    ),
    retry: db.prepare<[number, string, number, string]>(
      "UPDATE notices SET state = 'queued', next_attempt_at = ?, error = ?, attempt_id = NULL WHERE id = ? AND attempt_id = ? AND state = 'sending'",
    ),
    failed: db.prepare<[string, number, string]>(
      "UPDATE notices SET state = 'failed', error = ?, attempt_id = NULL, next_attempt_at = NULL WHERE id = ? AND attempt_id = ? AND state = 'sending'",
    ),
    recover: db.prepare<[number, string]>("UPDATE notices SET state = 'queued', attempt_id = NULL, next_attempt_at = ?, error = ? WHERE state = 'sending'"),
    nextQueued: db.prepare<[], { t: number | null }>("SELECT min(next_attempt_at) AS t FROM notices WHERE state = 'queued'"),
    nextDigest: db.prepare<[], { t: number | null }>("SELECT min(digest_due) AS t FROM notices WHERE state = 'held'"),
    counts: db.prepare<[], { state: NoticeState; n: number }>('SELECT state, count(*) AS n FROM notices GROUP BY state'),
    get: db.prepare<[number], NoticeRow>('SELECT * FROM notices WHERE id = ?'),
    prune: db.prepare<[number]>("DELETE FROM notices WHERE created_at < ? AND state IN ('sent', 'failed', 'digested', 'no_recipient', 'opted_out')"),
    pruneLimits: db.prepare<[number]>('DELETE FROM notice_limits WHERE last_at < ?'),
  };
}

/** The outbox on one connection: NoticeTx for hooks (inside the caller's transaction) and the NoticeStore. */
export class SqliteNotices implements NoticeStore, NoticeTx {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly db: Database.Database) {
    this.sql = statements(db);
  }

  // --- NoticeTx: synchronous, inside the caller's transaction ---------------------------------------------
  contactOf(tenant: string): TenantContact {
    return contactFromRow(this.sql.tenant.get(tenant));
  }

  lastLevel(incidentId: number): number {
    return this.sql.maxLevel.get(incidentId)?.m ?? -1;
  }

  rateMark(key: string): number | undefined {
    return this.sql.limit.get(key)?.last_at;
  }

  setRateMark(key: string, at: number): void {
    this.sql.setLimit.run(key, at);
  }

  enqueue(notice: NewNotice): number | undefined {
    const r = this.sql.insert.run(notice);
    return r.changes ? Number(r.lastInsertRowid) : undefined;
  }

  capSlots(host: string | null, category: string, since: number): number {
    return this.sql.capSlots.get(...capSlotRange(host, category, since))!.n;
  }

  takeCapSlot(host: string | null, category: string, at: number, source: string): void {
    this.sql.setLimit.run(capSlotKey(host, category, at, source), at);
  }

  capWaiting(host: string | null, category: string): boolean {
    return this.sql.capWaiting.get(host, category) !== undefined;
  }

  // --- NoticeStore ---------------------------------------------------------------------------------------
  async dueDigests(now: number): Promise<string[]> {
    return this.sql.dueDigests.all(now).map((r) => r.tenant);
  }

  async digest(tenant: string, compose: (held: HeldNotice[], tx: NoticeTx) => NewNotice | undefined): Promise<number | undefined> {
    return this.db.transaction(() => {
      const held = this.sql.heldOf.all(tenant);
      if (held.length === 0) return undefined;
      const notice = compose(held, this);
      if (!notice) return undefined;
      const id = this.enqueue(notice);
      if (id !== undefined) for (const h of held) this.sql.digested.run(id, h.id);
      return id;
    })();
  }

  async releaseHeld(now: number, free: (queue: CapQueue, tx: NoticeTx) => number): Promise<number> {
    return this.db.transaction(() => {
      let released = 0;
      for (const q of this.sql.capQueues.all()) {
        const n = Math.min(q.waiting, Math.floor(free(q, this)));
        if (!(n > 0)) continue;
        for (const { id, source } of this.sql.capOldest.all(q.host, q.category, n)) {
          if (this.sql.release.run(now, id).changes === 0) continue;
          this.takeCapSlot(q.host, q.category, now, source);
          released++;
        }
      }
      return released;
    })();
  }

  async claim(now: number, attemptId: string): Promise<NoticeRow | undefined> {
    return this.sql.claim.get(attemptId, now, now);
  }

  async finishAttempt(id: number, attemptId: string, outcome: AttemptOutcome): Promise<boolean> {
    let changes: number;
    if (outcome.state === 'queued') changes = this.sql.retry.run(outcome.nextAt, outcome.error, id, attemptId).changes;
    else if (outcome.state === 'failed') changes = this.sql.failed.run(outcome.error, id, attemptId).changes;
    else changes = this.sql.delivered.run(outcome.state, outcome.at, outcome.error, id, attemptId).changes;
    return changes === 1;
  }

  async requeueInterrupted(now: number, note: string): Promise<number> {
    return this.sql.recover.run(now, note).changes;
  }

  async nextDue(): Promise<number | undefined> {
    const a = this.sql.nextQueued.get()?.t ?? null;
    const b = this.sql.nextDigest.get()?.t ?? null;
    if (a === null && b === null) return undefined;
    return Math.min(a ?? Number.POSITIVE_INFINITY, b ?? Number.POSITIVE_INFINITY);
  }

  async get(id: number): Promise<NoticeRow | undefined> {
    return this.sql.get.get(id);
  }

  async list(filter: NoticeFilter = {}): Promise<NoticeRow[]> {
    const where = new Where().add('tenant = ?', filter.tenant).add('state = ?', filter.state).add('kind = ?', filter.kind).add('incident_id = ?', filter.incident);
    return this.db.prepare<Array<string | number>, NoticeRow>(`SELECT * FROM notices ${where} ORDER BY id DESC LIMIT ?`).all(...where.params, filter.limit ?? 100);
  }

  async counts(): Promise<Partial<Record<NoticeState, number>>> {
    const out: Partial<Record<NoticeState, number>> = {};
    for (const r of this.sql.counts.all()) out[r.state] = r.n;
    return out;
  }

  async prune(finishedBefore: number, marksBefore: number): Promise<number> {
    const n = this.sql.prune.run(finishedBefore).changes;
    this.sql.pruneLimits.run(marksBefore);
    return n;
  }
}
