// A NoticeTx over what a store with an asynchronous driver read before it called a synchronous callback
// (notice-store.ts: "reads what these can ask for ... before it calls the hooks, and writes what they enqueued
// before it commits"). Reads answer from the loaded rows plus this transaction's own writes; writes are kept
// for the store to write before it commits. Asking for something that was not loaded is a programming error
// (it throws, which rolls the transaction back), never a silent "none".
//
// Pure: no driver. The PostgreSQL store loads it (postgres/notices.ts) for digests and cap releases, and for an
// ingest's hooks (postgres/ingest-hooks.ts: contacts of the events' tenants, levels of their incidents, their
// rate marks, new ids).
import { capSlotKey, capSlotRange } from './notice-keys.js';
import type { NewNotice, NoticeTx, TenantContact } from './notice-store.js';

export interface NoticeSnapshotData {
  /** Contacts of the tenants the callback may ask about. */
  contacts?: Map<string, TenantContact>;
  /** Notice levels (lastLevel) of the incidents the callback may ask about. */
  levels?: Map<number, number>;
  /** Rate marks by key, of the keys the callback may ask about. */
  marks?: Map<string, number>;
  /** Every cap slot key with its time (notice_limits rows under the cap prefix); undefined: not loaded. */
  capSlots?: Map<string, number>;
  /** `host<US>category` of the host/category pairs with notices waiting for a cap slot; undefined: not loaded. */
  capWaiting?: Set<string>;
  /**
   * What enqueue() needs: the sources starting with `prefix` that exist already, and ids taken from the
   * notices' sequence for the notices to write (enqueue answers at once; the store writes them before it commits).
   */
  enqueue?: { prefix: string; existing: Set<string>; ids: number[] };
}

/** A notice a callback enqueued, with the id it was told. */
export interface EnqueuedNotice {
  id: number;
  notice: NewNotice;
}

const pair = (host: string | null, category: string): string => `${host ?? ''}\u001f${category}`;

export class SnapshotNoticeTx implements NoticeTx {
  /** Rate marks and cap slots to write (key -> last_at), in the order they were set. */
  readonly writtenMarks = new Map<string, number>();
  /** Notices to write, in order. */
  readonly enqueued: EnqueuedNotice[] = [];

  constructor(private readonly data: NoticeSnapshotData) {}

  private missing(what: string): never {
    throw new Error(`notice transaction: ${what} was not loaded for this transaction (a store bug: load it before the callback)`);
  }

  contactOf(tenant: string): TenantContact {
    return this.data.contacts?.get(tenant) ?? this.missing(`the contact of tenant ${tenant}`);
  }

  lastLevel(incidentId: number): number {
    const v = this.data.levels?.get(incidentId);
    return v ?? this.missing(`the notice level of incident ${incidentId}`);
  }

  rateMark(key: string): number | undefined {
    if (this.writtenMarks.has(key)) return this.writtenMarks.get(key);
    if (!this.data.marks?.has(key)) this.missing(`the rate mark ${JSON.stringify(key)}`);
    return this.data.marks.get(key);
  }

  setRateMark(key: string, at: number): void {
    this.writtenMarks.set(key, at);
  }

  enqueue(notice: NewNotice): number | undefined {
    const e = this.data.enqueue;
    if (!e || !notice.source.startsWith(e.prefix)) this.missing(`whether notice ${JSON.stringify(notice.source)} exists`);
    if (e.existing.has(notice.source)) return undefined;
    const id = e.ids.shift() ?? this.missing('another notice id');
    e.existing.add(notice.source);
    this.enqueued.push({ id, notice });
    // What later reads of this transaction see of it (as a database would): its incident's level, its cap queue.
    const levels = this.data.levels;
    if (notice.kind === 'event' && notice.incident_id !== null && notice.level !== null && levels?.has(notice.incident_id)) {
      levels.set(notice.incident_id, Math.max(levels.get(notice.incident_id)!, notice.level));
    }
    if (notice.state === 'held' && notice.digest_due === null) this.data.capWaiting?.add(pair(notice.host, notice.category));
    return id;
  }

  capSlots(host: string | null, category: string, since: number): number {
    const slots = this.data.capSlots ?? this.missing('the cap slots');
    const [from, to] = capSlotRange(host, category, since);
    let n = 0;
    for (const key of slots.keys()) if (key >= from && key < to) n++;
    for (const key of this.writtenMarks.keys()) if (key >= from && key < to && !slots.has(key)) n++;
    return n;
  }

  takeCapSlot(host: string | null, category: string, at: number, source: string): void {
    this.writtenMarks.set(capSlotKey(host, category, at, source), at);
  }

  capWaiting(host: string | null, category: string): boolean {
    return (this.data.capWaiting ?? this.missing('the cap queues')).has(pair(host, category));
  }
}

/** The capWaiting set's member for a host and category (for the store that loads it). */
export const capWaitingKey = pair;
