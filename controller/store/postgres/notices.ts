// The notices' outbox on PostgreSQL: the NoticeStore of notice-store.ts, the rows and states of the SQLite store
// (sqlite/notices.ts), the cap slots keyed alike (notice-keys.ts). The synchronous callbacks of digest() and
// releaseHeld() get a SnapshotNoticeTx (notice-snapshot.ts) loaded inside the transaction before they run; what
// they write is written before it commits.
//
// Several controllers on one database: claim() takes the next due notice with FOR UPDATE SKIP LOCKED (two
// senders never claim one notice); a digest locks its tenant's held rows (the second controller finds none);
// releaseHeld() runs under an advisory lock (the cap budget is counted once). A claimed notice names its
// controller (claimed_by: the key of the advisory lock that controller's session holds while it lives, db.ts):
// requeueInterrupted() puts back only the attempts of controllers that are gone (and its own, at its start),
// never those of another live one, so a notice is not sent twice while both live; and claim() first puts back
// the attempts of a controller that died, so the other sends them (under the same Message-ID) without waiting
// for a restart. A notice is sent at least once: an attempt is only ever given up by a dead controller.
import type pg from 'pg';
import { capWaitingKey, SnapshotNoticeTx } from '../notice-snapshot.js';
import { contactFromRow } from '../notice-keys.js';
import type { AttemptOutcome, CapQueue, HeldNotice, NewNotice, NoticeFilter, NoticeRow, NoticeState, NoticeStore, NoticeTx } from '../notice-store.js';
import { OWNER_LOCK_CLASS, type PgDatabase, type Queryable } from './db.js';

/** True (SQL) when the controller of a `sending` notice no longer holds its liveness lock (db.ts ownerKey). */
const DEAD_OWNER = `NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = ${OWNER_LOCK_CLASS} AND l.objid = notices.claimed_by AND l.objsubid = 2 AND l.granted)`;
const ORPHAN_NOTE = 'the controller sending it stopped during the attempt; sent again by another with the same Message-ID';

/** The advisory lock of releaseHeld ('hwcap'). */
const CAP_LOCK = 0x6877636170;

const NOTICE_COLUMNS = [
  'kind', 'source', 'tenant', 'host', 'resource', 'incident_id', 'incident_key', 'event_type', 'step', 'level', 'manual', 'category', 'event_at',
  'created_at', 'state', 'recipient', 'bcc', 'subject', 'summary', 'body_text', 'body_html', 'message_id', 'next_attempt_at', 'error', 'digest_due',
] as const satisfies ReadonlyArray<keyof NewNotice>;

/** A notice row as NoticeRow has it (the columns of SQLite's table: not claimed_by, which is this store's). */
const ROW_COLUMNS = ['id', ...NOTICE_COLUMNS, 'attempts', 'attempt_id', 'last_attempt_at', 'sent_at', 'digest_id'] as const satisfies ReadonlyArray<keyof NoticeRow>;
const ROW = ROW_COLUMNS.join(', ');

/**
 * Write notices in one statement (multi-row); a notice whose source exists is skipped. The ids in order, undefined
 * for the skipped ones.
 */
export async function insertNotices(q: Queryable, notices: readonly NewNotice[]): Promise<Array<number | undefined>> {
  if (!notices.length) return [];
  const params: unknown[] = [];
  const tuples = notices.map((n) => `(${NOTICE_COLUMNS.map((c) => `$${params.push(n[c])}`).join(', ')})`);
  const r = await q.query<{ id: number; source: string }>(
    `INSERT INTO notices (${NOTICE_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (source) DO NOTHING RETURNING id, source`,
    params,
  );
  const ids = new Map(r.rows.map((row) => [row.source, row.id]));
  return notices.map((n) => {
    const id = ids.get(n.source);
    ids.delete(n.source); // a source twice in one call: the first gets the id
    return id;
  });
}

/** Ids for notices a SnapshotNoticeTx will hand out (taken from the identity's sequence: never reused). */
export async function takeNoticeIds(q: Queryable, n: number): Promise<number[]> {
  const r = await q.query<{ id: number }>("SELECT nextval(pg_get_serial_sequence('notices', 'id')) AS id FROM generate_series(1, $1)", [n]);
  return r.rows.map((row) => row.id);
}

/**
 * Write what a SnapshotNoticeTx's callback wrote: rate marks and cap slots, and the notices it enqueued under
 * the ids it was told. A notice whose source appeared meanwhile (another controller's transaction) makes the
 * ids told wrong: that throws, rolling the transaction back (the caller's retry finds the source existing).
 */
export async function writeSnapshot(c: Queryable, tx: SnapshotNoticeTx): Promise<void> {
  if (tx.writtenMarks.size) {
    const keys = [...tx.writtenMarks.keys()];
    await c.query(
      'INSERT INTO notice_limits (key, last_at) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at',
      [keys, keys.map((k) => tx.writtenMarks.get(k))],
    );
  }
  if (!tx.enqueued.length) return;
  const params: unknown[] = [];
  const tuples = tx.enqueued.map(({ id, notice }) => `($${params.push(id)}, ${NOTICE_COLUMNS.map((col) => `$${params.push(notice[col])}`).join(', ')})`);
  const r = await c.query(`INSERT INTO notices (id, ${NOTICE_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (source) DO NOTHING`, params);
  if (r.rowCount !== tx.enqueued.length) throw new Error('notices: a notice of the same source was written meanwhile by another transaction; try again');
}

/** Filter clauses with numbered parameters. */
export class PgWhere {
  readonly params: unknown[] = [];
  private readonly clauses: string[] = [];
  add(clause: (p: string) => string, value: unknown): this {
    if (value !== undefined) this.clauses.push(clause(`$${this.params.push(value)}`));
    return this;
  }
  toString(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
}

export class PgNotices implements NoticeStore {
  constructor(private readonly db: PgDatabase) {}

  async dueDigests(now: number): Promise<string[]> {
    const rows = await this.db.query<{ tenant: string }>("SELECT tenant FROM notices WHERE state = 'held' GROUP BY tenant HAVING min(digest_due) <= $1 ORDER BY tenant", [now]);
    return rows.map((r) => r.tenant);
  }

  /** The cap slots and cap queues, for a SnapshotNoticeTx. */
  async capState(c: pg.PoolClient): Promise<{ capSlots: Map<string, number>; capWaiting: Set<string> }> {
    const slots = await c.query<{ key: string; last_at: number }>("SELECT key, last_at FROM notice_limits WHERE key >= 'cap' || chr(31) AND key < 'cap' || chr(32)");
    const waiting = await c.query<{ host: string | null; category: string }>("SELECT DISTINCT host, category FROM notices WHERE state = 'held' AND digest_due IS NULL");
    return { capSlots: new Map(slots.rows.map((r) => [r.key, r.last_at])), capWaiting: new Set(waiting.rows.map((r) => capWaitingKey(r.host, r.category))) };
  }

  async digest(tenant: string, compose: (held: HeldNotice[], tx: NoticeTx) => NewNotice | undefined): Promise<number | undefined> {
    return this.db.tx(async (c) => {
      // Locked: a second controller digesting the tenant at once waits, then finds them no longer held.
      const held = await c.query<HeldNotice>(
        "SELECT id, host, resource, category, event_type, level, event_at, created_at, summary FROM notices WHERE state = 'held' AND tenant = $1 AND digest_due IS NOT NULL ORDER BY created_at, id FOR UPDATE",
        [tenant],
      );
      if (held.rows.length === 0) return undefined;
      const row = await c.query<{ spec: string | null; reported: string | null }>('SELECT spec, reported FROM tenants WHERE name = $1', [tenant]);
      const tx = new SnapshotNoticeTx({ contacts: new Map([[tenant, contactFromRow(row.rows[0])]]), ...(await this.capState(c)) });
      const notice = compose(held.rows, tx);
      await writeSnapshot(c, tx);
      if (!notice) return undefined;
      const [id] = await insertNotices(c, [notice]);
      if (id !== undefined) await c.query("UPDATE notices SET state = 'digested', digest_id = $1 WHERE id = ANY($2::bigint[]) AND state = 'held'", [id, held.rows.map((h) => h.id)]);
      return id;
    });
  }

  async releaseHeld(now: number, free: (queue: CapQueue, tx: NoticeTx) => number): Promise<number> {
    return this.db.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [CAP_LOCK]);
      const queues = await c.query<CapQueue>("SELECT host, category, count(*)::int AS waiting FROM notices WHERE state = 'held' AND digest_due IS NULL GROUP BY host, category ORDER BY host, category");
      if (!queues.rows.length) return 0;
      const tx = new SnapshotNoticeTx(await this.capState(c));
      let released = 0;
      for (const q of queues.rows) {
        const n = Math.min(q.waiting, Math.floor(free(q, tx)));
        if (!(n > 0)) continue;
        const r = await c.query<{ source: string }>(
          `UPDATE notices SET state = 'queued', next_attempt_at = $1 WHERE id IN (
             SELECT id FROM notices WHERE state = 'held' AND digest_due IS NULL AND host IS NOT DISTINCT FROM $2 AND category = $3 ORDER BY created_at, id LIMIT $4
           ) RETURNING source`,
          [now, q.host, q.category, n],
        );
        for (const { source } of r.rows) tx.takeCapSlot(q.host, q.category, now, source);
        released += r.rows.length;
      }
      await writeSnapshot(c, tx);
      return released;
    });
  }

  async claim(now: number, attemptId: string): Promise<NoticeRow | undefined> {
    const owner = await this.db.ownerKey();
    await this.db.query(
      `UPDATE notices SET state = 'queued', attempt_id = NULL, claimed_by = NULL, next_attempt_at = $1, error = $2
       WHERE state = 'sending' AND claimed_by IS NOT NULL AND claimed_by <> $3 AND ${DEAD_OWNER}`,
      [now, ORPHAN_NOTE, owner],
    );
    const [row] = await this.db.query<NoticeRow>(
      `UPDATE notices SET state = 'sending', attempt_id = $1, attempts = attempts + 1, last_attempt_at = $2, claimed_by = $3
       WHERE id = (SELECT id FROM notices WHERE state = 'queued' AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${ROW}`,
      [attemptId, now, owner],
    );
    return row;
  }

  async finishAttempt(id: number, attemptId: string, outcome: AttemptOutcome): Promise<boolean> {
    const mine = "id = $1 AND attempt_id = $2 AND state = 'sending'";
    let r: pg.QueryResult;
    if (outcome.state === 'queued') {
      r = await this.db.pool.query(`UPDATE notices SET state = 'queued', next_attempt_at = $3, error = $4, attempt_id = NULL WHERE ${mine}`, [id, attemptId, outcome.nextAt, outcome.error]);
    } else if (outcome.state === 'failed') {
      r = await this.db.pool.query(`UPDATE notices SET state = 'failed', error = $3, attempt_id = NULL, next_attempt_at = NULL WHERE ${mine}`, [id, attemptId, outcome.error]);
    } else {
      r = await this.db.pool.query(`UPDATE notices SET state = $3, sent_at = $4, error = $5, attempt_id = NULL, next_attempt_at = NULL WHERE ${mine}`, [
        id,
        attemptId,
        outcome.state,
        outcome.at,
        outcome.error,
      ]);
    }
    return r.rowCount === 1;
  }

  async requeueInterrupted(now: number, note: string): Promise<number> {
    const owner = await this.db.ownerKey();
    const [r] = await this.db.query<{ n: number }>(
      `WITH q AS (UPDATE notices SET state = 'queued', attempt_id = NULL, claimed_by = NULL, next_attempt_at = $1, error = $2
                  WHERE state = 'sending' AND (claimed_by IS NULL OR claimed_by = $3 OR ${DEAD_OWNER}) RETURNING 1)
       SELECT count(*)::int AS n FROM q`,
      [now, note, owner],
    );
    return r!.n;
  }

  async nextDue(): Promise<number | undefined> {
    const [r] = await this.db.query<{ q: number | null; d: number | null }>(
      "SELECT (SELECT min(next_attempt_at) FROM notices WHERE state = 'queued') AS q, (SELECT min(digest_due) FROM notices WHERE state = 'held') AS d",
    );
    if (r!.q === null && r!.d === null) return undefined;
    return Math.min(r!.q ?? Number.POSITIVE_INFINITY, r!.d ?? Number.POSITIVE_INFINITY);
  }

  async get(id: number): Promise<NoticeRow | undefined> {
    const [row] = await this.db.query<NoticeRow>(`SELECT ${ROW} FROM notices WHERE id = $1`, [id]);
    return row;
  }

  async list(filter: NoticeFilter = {}): Promise<NoticeRow[]> {
    const where = new PgWhere()
      .add((p) => `tenant = ${p}`, filter.tenant)
      .add((p) => `state = ${p}`, filter.state)
      .add((p) => `kind = ${p}`, filter.kind)
      .add((p) => `incident_id = ${p}`, filter.incident);
    return this.db.query<NoticeRow>(`SELECT ${ROW} FROM notices ${where} ORDER BY id DESC LIMIT $${where.params.length + 1}`, [...where.params, filter.limit ?? 100]);
  }

  async counts(): Promise<Partial<Record<NoticeState, number>>> {
    const out: Partial<Record<NoticeState, number>> = {};
    for (const r of await this.db.query<{ state: NoticeState; n: number }>('SELECT state, count(*)::int AS n FROM notices GROUP BY state')) out[r.state] = r.n;
    return out;
  }

  async prune(finishedBefore: number, marksBefore: number): Promise<number> {
    return this.db.tx(async (c) => {
      const r = await c.query("DELETE FROM notices WHERE created_at < $1 AND state IN ('sent', 'failed', 'digested', 'no_recipient', 'opted_out')", [finishedBefore]);
      await c.query('DELETE FROM notice_limits WHERE last_at < $1', [marksBefore]);
      return r.rowCount ?? 0;
    });
  }
}
