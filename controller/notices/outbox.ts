// The notices' outbox logic: which notices an incident event makes and in what state (rate limits, opt-outs,
// recipients), their subjects and bodies, the digests of what was held back, and the attempts' bookkeeping.
// The rows are the store's (store/notice-store.ts): this file holds no SQL and works with any store.
//
// Notices of events are written inside the transaction that stores the events (enqueueEvents, called from
// store.onIncidentEvents with the hook's transaction handle), so a notice exists exactly when its event does.
// The sender (sender.ts) claims due rows one at a time with an attempt id and records the outcome; held-back
// rows wait for their tenant's digest (makeDueDigests), or for a slot of their host's cap (releaseHeld; the
// caps are in caps.ts). The states are listed in store/notice-store.ts.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { HeldNotice, NewNotice, NoticeFilter, NoticeRow, NoticeState, NoticeStore, NoticeTx } from '../store/notice-store.js';
import type { NewIncidentEvent, TxContext } from '../store/store.js';
import { CAP_WINDOW_MS, CapBudget, capCategory, capNote, freeSlots, type CapHold } from './caps.js';
import type { NoticesConfig } from './config.js';
import { digestKey, limitKey, rateDecision } from './rate.js';
import { renderSubject, renderWith, type Rendered, type TemplateSet } from './templates.js';
import { classify, clean, digestView, noticeView, type DigestItem, type NoticeView, type ViewContext } from './view.js';

export { NOTICE_STATES, type NoticeFilter, type NoticeRow, type NoticeState } from '../store/notice-store.js';

export interface EnqueueCounts {
  queued: number;
  held: number;
  noRecipient: number;
  optedOut: number;
  failed: number;
  /** Notices a cap held back (notices.caps), for the metric and the log once the transaction committed. */
  holds: CapHold[];
  /** The id of one notice written (to tell whether the transaction committed), or undefined. */
  anyId: number | undefined;
}

export interface OutboxOptions {
  /** Where the rows are kept (Store.notices). */
  store: NoticeStore;
  config: NoticesConfig;
  templates: TemplateSet;
  /** Domain of the Message-IDs (that of the From address). */
  domain: string;
  log?: Logger | undefined;
  /** Told of the digests a cap held back, after their transaction (the event notices' holds are in EnqueueCounts). */
  onHeld?: ((holds: CapHold[], now: number) => void) | undefined;
  /** The tenant's signed usage page link (public_url set): every notice carries one, in place of usage_url. */
  tenantLink?: ((tenant: string) => string) | undefined;
}

export const NO_RECIPIENT_NOTE = 'no email address for this tenant (neither its managed record nor its agent has one)';
export const INTERRUPTED_NOTE = 'the controller stopped during an attempt; sent again with the same Message-ID';

export class NoticeOutbox {
  private readonly store: NoticeStore;
  private readonly config: NoticesConfig;
  private readonly templates: TemplateSet;
  private readonly domain: string;
  private readonly log: Logger | undefined;
  private readonly ctx: ViewContext;
  private readonly onHeld: OutboxOptions['onHeld'];

  constructor(opts: OutboxOptions) {
    this.onHeld = opts.onHeld;
    this.store = opts.store;
    this.config = opts.config;
    this.templates = opts.templates;
    this.domain = opts.domain;
    this.log = opts.log;
    this.ctx = {
      serverName: opts.config.serverName,
      support: opts.config.support,
      usageUrl: opts.config.usageUrl,
      tenantLink: opts.tenantLink,
      usageCommand: opts.config.usageCommand,
      intervalMs: opts.config.intervalMs,
    };
  }

  private messageId(): string {
    return `<${randomUUID()}@${this.domain}>`;
  }

  /**
   * One row per new incident event, inside the transaction that stores the events (call it from
   * store.onIncidentEvents with its `tx`). A notice that cannot be rendered is recorded as failed with the
   * reason rather than rolling the report back; store errors do roll it back (the agent retries).
   */
  enqueueEvents(events: readonly NewIncidentEvent[], tx: TxContext): EnqueueCounts {
    const { now, notices } = tx;
    const counts: EnqueueCounts = { queued: 0, held: 0, noRecipient: 0, optedOut: 0, failed: 0, holds: [], anyId: undefined };
    const budget = new CapBudget(this.config.caps, notices, now);
    for (const { event: ev, incident } of events) {
      const maxLevel = notices.lastLevel(incident.id);
      const cls = classify(ev, maxLevel);
      const base = {
        kind: 'event' as const,
        source: `event:${ev.host}:${ev.id}`,
        tenant: ev.tenant,
        host: ev.host,
        resource: ev.resource,
        incident_id: incident.id,
        incident_key: ev.incident,
        event_type: ev.type,
        step: ev.step,
        level: ev.level,
        manual: ev.manual ? 1 : 0,
        category: cls.category,
        event_at: Date.parse(ev.at),
        created_at: now,
        summary: clean(ev.explanation.summary, true).slice(0, 2000),
        message_id: this.messageId(),
        bcc: JSON.stringify(this.config.adminBcc),
      };
      // The subject now (every row has one); the bodies only for a notice that is going out.
      let view: NoticeView;
      let subject: string;
      try {
        view = noticeView(ev, incident, cls, this.ctx, maxLevel);
        subject = renderSubject(this.templates.notice, view);
      } catch (err) {
        this.log?.error({ err, tenant: ev.tenant, event: ev.id }, 'cannot render a notice; recorded as failed');
        notices.enqueue({ ...base, state: 'failed', recipient: null, subject: `${ev.tenant}: ${ev.type} ${ev.resource}`, body_text: null, body_html: null, next_attempt_at: null, error: `cannot render: ${(err as Error).message}`, digest_due: null });
        counts.failed++;
        continue;
      }
      const to = notices.contactOf(ev.tenant);
      const row: NewNotice = { ...base, state: 'queued', recipient: to.address, subject, body_text: null, body_html: null, next_attempt_at: null, error: null, digest_due: null };
      // A notice that would go out takes a slot of the caps, or is held by them (caps.ts).
      const capped = capCategory(cls.category);
      let hold: CapHold | undefined;
      if (cls.informational && to.optedOut) {
        row.state = 'opted_out';
      } else {
        const key = limitKey(ev.tenant, ev.resource, ev.level, ev.type);
        const lastDigest = notices.rateMark(digestKey(ev.tenant));
        const decision = rateDecision({ limited: cls.limited, lastSent: notices.rateMark(key), lastDigest, now, intervalMs: this.config.intervalMs });
        const cap = decision.send && capped && this.mails(to.address) ? budget.check(ev.host, capped) : undefined;
        if (!decision.send) {
          row.state = 'held';
          row.digest_due = decision.digestDue;
        } else if (cap && cls.limited) {
          // Over a cap, a rate-limited kind waits for the digest (its rate mark is not set: nothing went out).
          hold = { host: ev.host, category: capped!, cap };
          Object.assign(row, { state: 'held', digest_due: Math.max(now + CAP_WINDOW_MS, lastDigest === undefined ? 0 : lastDigest + this.config.intervalMs), error: capNote(hold, this.config.caps, true) });
        } else {
          if (cls.limited) notices.setRateMark(key, now);
          try {
            this.addressed(row, { subject, text: this.templates.notice.text.render(view), html: this.templates.notice.html.render(view) }, now);
          } catch (err) {
            this.log?.error({ err, tenant: ev.tenant, event: ev.id }, 'cannot render a notice; recorded as failed');
            Object.assign(row, { state: 'failed', error: `cannot render: ${(err as Error).message}` });
          }
          if (cap && row.state === 'queued') {
            // Over a cap, a quarantine, a release or an administrator's action waits for a slot, as it is.
            hold = { host: ev.host, category: capped!, cap };
            budget.waits(ev.host, capped!);
            Object.assign(row, { state: 'held', next_attempt_at: null, error: [capNote(hold, this.config.caps, false), row.error].filter(Boolean).join('; ') });
          }
        }
      }
      const id = notices.enqueue(row);
      if (id !== undefined) {
        counts.anyId ??= id;
        if (hold) counts.holds.push(hold);
        else if (row.state === 'queued' && capped) budget.take(ev.host, capped, row.source);
      }
      if (row.state === 'queued') counts.queued++;
      else if (row.state === 'held') counts.held++;
      else if (row.state === 'opted_out') counts.optedOut++;
      else if (row.state === 'no_recipient') counts.noRecipient++;
      else counts.failed++;
    }
    return counts;
  }

  /** True when a notice to `address` sends mail (to it, or the admin copy alone). */
  private mails(address: string | null): boolean {
    return address !== null || this.config.adminBcc.length > 0;
  }

  /** A row to send: queued with its bodies, or no_recipient when there is nobody to send it to. */
  private addressed(row: NewNotice, rendered: Rendered, now: number): void {
    row.body_text = rendered.text;
    row.body_html = rendered.html;
    if (row.recipient === null && this.config.adminBcc.length === 0) {
      row.state = 'no_recipient';
      row.error = NO_RECIPIENT_NOTE;
    } else {
      row.state = 'queued';
      row.next_attempt_at = now;
      if (row.recipient === null) row.error = `${NO_RECIPIENT_NOTE}; only the admin copy goes out`;
    }
  }

  /** Make the digests whose time has come: one per tenant, listing every notice of it held back so far. */
  async makeDueDigests(now: number): Promise<number> {
    let made = 0;
    for (const tenant of await this.store.dueDigests(now)) {
      const holds: CapHold[] = [];
      const id = await this.store.digest(tenant, (held, tx) => this.digestOf(tenant, held, tx, now, holds));
      if (id !== undefined) made++;
      if (id !== undefined && holds.length) this.onHeld?.(holds, now);
    }
    return made;
  }

  /** Notices held waiting for a cap slot go out, oldest first, as far as their host's hourly cap allows. */
  releaseHeld(now: number): Promise<number> {
    return this.store.releaseHeld(now, (q, tx) => freeSlots(this.config.caps, tx, q.host, q.category, now));
  }

  /** The digest of a tenant's held notices (inside the digest's transaction: its rate mark is set there). */
  private digestOf(tenant: string, held: HeldNotice[], tx: NoticeTx, now: number, holds: CapHold[]): NewNotice {
    const items: DigestItem[] = held.map((h) => ({ host: h.host, resource: h.resource, category: h.category, event_type: h.event_type, level: h.level, at: h.event_at ?? h.created_at, summary: h.summary }));
    const rendered = renderWith(this.templates.digest, digestView(tenant, items, now, this.ctx));
    const to = tx.contactOf(tenant);
    const row: NewNotice = {
      kind: 'digest',
      source: `digest:${tenant}:${now}:${held[0]!.id}`,
      tenant,
      host: held.length && held.every((h) => h.host === held[0]!.host) ? held[0]!.host : null,
      resource: null,
      incident_id: null,
      incident_key: null,
      event_type: null,
      step: null,
      level: null,
      manual: 0,
      category: 'digest',
      event_at: null,
      created_at: now,
      state: 'queued',
      recipient: to.address,
      bcc: JSON.stringify(this.config.adminBcc),
      subject: rendered.subject,
      summary: `${held.length} notice${held.length === 1 ? '' : 's'} held back`,
      body_text: null,
      body_html: null,
      message_id: this.messageId(),
      next_attempt_at: null,
      error: null,
      digest_due: null,
    };
    if (to.optedOut) row.state = 'opted_out';
    else this.addressed(row, rendered, now);
    // A digest takes a slot of its host's cap when it is written, or waits for one.
    if (row.state === 'queued') {
      const budget = new CapBudget(this.config.caps, tx, now, false);
      const cap = budget.check(row.host, 'digest');
      if (cap) {
        const hold: CapHold = { host: row.host, category: 'digest', cap };
        holds.push(hold);
        Object.assign(row, { state: 'held', next_attempt_at: null, error: [capNote(hold, this.config.caps, false), row.error].filter(Boolean).join('; ') });
      } else budget.take(row.host, 'digest', row.source);
    }
    tx.setRateMark(digestKey(tenant), now);
    return row;
  }

  /** Claim the next due notice for one attempt (state sending, attempts + 1). */
  claim(now: number): Promise<NoticeRow | undefined> {
    return this.store.claim(now, randomUUID());
  }

  /** The attempt succeeded: sent (no_recipient when only the admin copy went out). */
  markDelivered(row: NoticeRow, now: number, note: string | null = null): Promise<boolean> {
    const state = row.recipient === null ? 'no_recipient' : 'sent';
    const error = row.recipient === null ? [row.error, note].filter(Boolean).join('; ') || null : note;
    return this.store.finishAttempt(row.id, row.attempt_id!, { state, at: now, error });
  }

  markRetry(row: NoticeRow, nextAt: number, error: string): Promise<boolean> {
    return this.store.finishAttempt(row.id, row.attempt_id!, { state: 'queued', nextAt, error: error.slice(0, 2000) });
  }

  markFailed(row: NoticeRow, error: string): Promise<boolean> {
    return this.store.finishAttempt(row.id, row.attempt_id!, { state: 'failed', error: error.slice(0, 2000) });
  }

  /** Attempts a stopped controller left open go back to the queue (sent again, same Message-ID). */
  recoverInterrupted(now: number): Promise<number> {
    return this.store.requeueInterrupted(now, INTERRUPTED_NOTE);
  }

  /** When the sender next has something to do (a queued notice or a digest), or undefined. */
  nextDue(): Promise<number | undefined> {
    return this.store.nextDue();
  }

  get(id: number): Promise<NoticeRow | undefined> {
    return this.store.get(id);
  }

  list(filter: NoticeFilter = {}): Promise<NoticeRow[]> {
    return this.store.list(filter);
  }

  counts(): Promise<Partial<Record<NoticeState, number>>> {
    return this.store.counts();
  }

  /** Drop finished notices older than notices.keep, rate-limit marks older than the interval, cap slots older than an hour. */
  prune(now: number): Promise<number> {
    return this.store.prune(now - this.config.keepMs, now - Math.max(this.config.intervalMs, CAP_WINDOW_MS));
  }
}
