// The notices' outbox as the store keeps it (DESIGN 6): rows written in the transaction that stores their
// incident events, claimed one attempt at a time, marked with the outcome; held rows wait for their tenant's
// digest. The decisions (what to send, when to hold, what a message says) are controller/notices'; the store
// only keeps the rows, so any backend can carry them.
//
// States:
//   queued        waiting to be sent (next_attempt_at); after a failed attempt its error is kept
//   sending       claimed by an attempt; a controller that stops mid-send puts it back to queued at start
//   sent          the mail server (or the outbox directory) accepted it
//   failed        rejected for good, or not accepted within notices.retry.give_up
//   held          rate-limited or over a cap (notices/caps.ts; `error` names it): with digest_due it waits for
//                 the tenant's digest; without, for a slot of its host's hourly cap, then it is queued as it is
//   digested      told in a digest (digest_id)
//   no_recipient  the tenant has no address: only the admin copy went out (or nothing, without admin_bcc)
//   opted_out     informational, and the tenant opted out (notices: false)

export const NOTICE_STATES = ['queued', 'sending', 'sent', 'failed', 'held', 'digested', 'no_recipient', 'opted_out'] as const;
export type NoticeState = (typeof NOTICE_STATES)[number];

/** A notice as stored. Times are ms since the epoch; `manual` is 0/1; `bcc` is a JSON array of addresses. */
export interface NoticeRow {
  id: number;
  kind: 'event' | 'digest';
  /** What made it, unique: `event:<host>:<event id>` or `digest:<tenant>:<time>:<first held id>`. */
  source: string;
  tenant: string;
  host: string | null;
  resource: string | null;
  incident_id: number | null;
  incident_key: string | null;
  event_type: string | null;
  step: string | null;
  level: number | null;
  manual: number;
  category: string;
  event_at: number | null;
  created_at: number;
  state: NoticeState;
  recipient: string | null;
  bcc: string;
  subject: string;
  summary: string;
  body_text: string | null;
  body_html: string | null;
  message_id: string;
  attempts: number;
  next_attempt_at: number | null;
  attempt_id: string | null;
  last_attempt_at: number | null;
  error: string | null;
  sent_at: number | null;
  digest_id: number | null;
  digest_due: number | null;
}

/** A notice to write: a row without what attempts and digests fill in later. */
export type NewNotice = Omit<NoticeRow, 'id' | 'attempts' | 'attempt_id' | 'last_attempt_at' | 'sent_at' | 'digest_id'>;

/** A held notice as its digest tells it. */
export type HeldNotice = Pick<NoticeRow, 'id' | 'host' | 'resource' | 'category' | 'event_type' | 'level' | 'event_at' | 'created_at' | 'summary'>;

export interface NoticeFilter {
  tenant?: string | undefined;
  state?: NoticeState | undefined;
  kind?: 'event' | 'digest' | undefined;
  incident?: number | undefined;
  limit?: number | undefined;
}

/** Where a tenant's notices go: its address (managed record first, else what its agent reported) and its opt-out. */
export interface TenantContact {
  address: string | null;
  optedOut: boolean;
}

/**
 * The outbox inside a store transaction (an ingest's, through TxContext.notices, or a digest's): what it
 * reads sees the transaction's own writes, what it writes commits or rolls back with it.
 *
 * Synchronous, because hooks run inside the transaction without awaiting (see IncidentEventsHook). The
 * SQLite store runs these on its connection. A store over an asynchronous driver opens its transaction,
 * reads what these can ask for (the contacts of the events' tenants, the notice levels of their incidents,
 * the rate marks of those tenants) before it calls the hooks, and writes what they enqueued before it commits.
 */
export interface NoticeTx {
  contactOf(tenant: string): TenantContact;
  /** The highest level among the event notices of an incident so far; -1 when it has none. */
  lastLevel(incidentId: number): number;
  /** When a rate-limit key last fired; undefined when never (or pruned). */
  rateMark(key: string): number | undefined;
  setRateMark(key: string, at: number): void;
  /** Write a notice; its id, or undefined when a notice of the same source exists (nothing is written). */
  enqueue(notice: NewNotice): number | undefined;
  /** How many notices of `host` (null: digests over several hosts) and `category` took a cap slot after `since`. */
  capSlots(host: string | null, category: string, since: number): number;
  /** The notice of `source` (unique), of `host` and `category`, took a cap slot at `at` (kept at least an hour). */
  takeCapSlot(host: string | null, category: string, at: number, source: string): void;
  /** True when notices of `host` and `category` are held waiting for a cap slot (held, digest_due null). */
  capWaiting(host: string | null, category: string): boolean;
}

/** Notices held waiting for a cap slot, of one host and category. */
export interface CapQueue {
  host: string | null;
  category: string;
  waiting: number;
}

/** How an attempt ended, as the store records it. */
export type AttemptOutcome =
  | { state: 'sent' | 'no_recipient'; at: number; error: string | null }
  | { state: 'queued'; nextAt: number; error: string }
  | { state: 'failed'; error: string };

export interface NoticeStore {
  /** Tenants with notices held for their digest (digest_due set) whose digest is due at `now`. */
  dueDigests(now: number): Promise<string[]>;
  /**
   * In one transaction: the tenant's notices held for its digest (not those waiting for a cap slot), the digest `compose` makes of them (nothing when it makes
   * none, or there are none), the held ones marked as told by it. The digest's id, or undefined.
   */
  digest(tenant: string, compose: (held: HeldNotice[], tx: NoticeTx) => NewNotice | undefined): Promise<number | undefined>;
  /**
   * In one transaction, for each host and category with notices held waiting for a cap slot: `free` says how
   * many may go; that many of them, oldest first, become queued (due at `now`) and take a slot at `now`.
   * How many were released.
   */
  releaseHeld(now: number, free: (queue: CapQueue, tx: NoticeTx) => number): Promise<number>;
  /** Claim the next due queued notice for one attempt (state sending, attempts + 1, `attemptId`). */
  claim(now: number, attemptId: string): Promise<NoticeRow | undefined>;
  /** Record an attempt's outcome; false when the row is no longer that attempt's (nothing changed). */
  finishAttempt(id: number, attemptId: string, outcome: AttemptOutcome): Promise<boolean>;
  /** Attempts a stopped controller left open go back to the queue, due at `now`, with `note` as their error. */
  requeueInterrupted(now: number, note: string): Promise<number>;
  /** When the next queued notice or digest is due; undefined when nothing waits. */
  nextDue(): Promise<number | undefined>;
  get(id: number): Promise<NoticeRow | undefined>;
  /** Newest first. */
  list(filter?: NoticeFilter): Promise<NoticeRow[]>;
  counts(): Promise<Partial<Record<NoticeState, number>>>;
  /** Drop finished notices created before `finishedBefore` and rate marks (cap slots too) older than `marksBefore`. */
  prune(finishedBefore: number, marksBefore: number): Promise<number>;
}
