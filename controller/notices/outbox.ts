// The notices outbox in the controller's SQLite database (migration 4). Rows are written inside the
// transaction that stores their incident events (enqueueEvents, from store.onIncidentEvents), so a notice
// exists exactly when its event does. The sender (sender.ts) claims due rows one at a time with an attempt id
// and records the outcome; held-back rows wait for their tenant's digest (makeDueDigests).
//
// States:
//   queued        waiting to be sent (next_attempt_at); after a failed attempt its error is kept
//   sending       claimed by an attempt; a controller that stops mid-send puts it back to queued at start
//   sent          the mail server (or the outbox directory) accepted it
//   failed        rejected for good, or not accepted within notices.retry.give_up
//   held          rate-limited: waits for the tenant's digest
//   digested      told in a digest (digest_id)
//   no_recipient  the tenant has no address: only the admin copy went out (or nothing, without admin_bcc)
//   opted_out     informational, and the tenant opted out (notices: false)
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { NewIncidentEvent } from '../store/store.js';
import type { NoticesConfig } from './config.js';
import { digestKey, limitKey, rateDecision } from './rate.js';
import { renderSubject, renderWith, type Rendered, type TemplateSet } from './templates.js';
import { classify, clean, digestView, noticeView, type DigestItem, type NoticeView, type ViewContext } from './view.js';

export const NOTICE_STATES = ['queued', 'sending', 'sent', 'failed', 'held', 'digested', 'no_recipient', 'opted_out'] as const;
export type NoticeState = (typeof NOTICE_STATES)[number];

export interface NoticeRow {
  id: number;
  kind: 'event' | 'digest';
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

export interface NoticeFilter {
  tenant?: string | undefined;
  state?: NoticeState | undefined;
  kind?: 'event' | 'digest' | undefined;
  incident?: number | undefined;
  limit?: number | undefined;
}

export interface EnqueueCounts {
  queued: number;
  held: number;
  noRecipient: number;
  optedOut: number;
  failed: number;
}

export interface OutboxOptions {
  db: Database.Database;
  config: NoticesConfig;
  templates: TemplateSet;
  /** Domain of the Message-IDs (that of the From address). */
  domain: string;
  log?: Logger | undefined;
}

export const NO_RECIPIENT_NOTE = 'no email address for this tenant (neither its managed record nor its agent has one)';

type Insert = Omit<NoticeRow, 'id' | 'attempts' | 'attempt_id' | 'last_attempt_at' | 'sent_at' | 'digest_id'>;

export class NoticeOutbox {
  readonly db: Database.Database;
  private readonly config: NoticesConfig;
  private readonly templates: TemplateSet;
  private readonly domain: string;
  private readonly log: Logger | undefined;
  private readonly ctx: ViewContext;
  private readonly s: ReturnType<NoticeOutbox['prepare']>;

  constructor(opts: OutboxOptions) {
    this.db = opts.db;
    this.config = opts.config;
    this.templates = opts.templates;
    this.domain = opts.domain;
    this.log = opts.log;
    this.ctx = {
      serverName: opts.config.serverName,
      support: opts.config.support,
      usageUrl: opts.config.usageUrl,
      usageCommand: opts.config.usageCommand,
      intervalMs: opts.config.intervalMs,
    };
    this.s = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      tenant: db.prepare<[string], { spec: string | null; reported: string | null }>('SELECT spec, reported FROM tenants WHERE name = ?'),
      maxLevel: db.prepare<[number], { m: number | null }>("SELECT max(level) AS m FROM notices WHERE incident_id = ? AND kind = 'event'"),
      limit: db.prepare<[string], { last_at: number }>('SELECT last_at FROM notice_limits WHERE key = ?'),
      setLimit: db.prepare<[string, number]>('INSERT INTO notice_limits (key, last_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at'),
      insert: db.prepare<[Insert]>(
        `INSERT INTO notices (kind, source, tenant, host, resource, incident_id, incident_key, event_type, step, level, manual, category, event_at,
           created_at, state, recipient, bcc, subject, summary, body_text, body_html, message_id, next_attempt_at, error, digest_due)
         VALUES (@kind, @source, @tenant, @host, @resource, @incident_id, @incident_key, @event_type, @step, @level, @manual, @category, @event_at,
           @created_at, @state, @recipient, @bcc, @subject, @summary, @body_text, @body_html, @message_id, @next_attempt_at, @error, @digest_due)
         ON CONFLICT (source) DO NOTHING`,
      ),
      dueDigests: db.prepare<[number], { tenant: string }>("SELECT tenant FROM notices WHERE state = 'held' GROUP BY tenant HAVING min(digest_due) <= ?"),
      heldOf: db.prepare<[string], Pick<NoticeRow, 'id' | 'host' | 'resource' | 'category' | 'event_type' | 'level' | 'event_at' | 'created_at' | 'summary'>>(
        "SELECT id, host, resource, category, event_type, level, event_at, created_at, summary FROM notices WHERE state = 'held' AND tenant = ? ORDER BY created_at, id",
      ),
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

  /** The tenant's address (managed record first, else what its agent reported) and its opt-out. */
  recipientOf(tenant: string): { address: string | null; optedOut: boolean } {
    const row = this.s.tenant.get(tenant);
    if (!row) return { address: null, optedOut: false };
    const spec = row.spec ? (JSON.parse(row.spec) as { email?: string; notices?: boolean }) : null;
    const reported = row.reported ? (JSON.parse(row.reported) as { email?: string }) : null;
    return { address: spec?.email ?? reported?.email ?? null, optedOut: spec?.notices === false };
  }

  private messageId(): string {
    return `<${randomUUID()}@${this.domain}>`;
  }

  /**
   * One row per new incident event, inside the transaction that stores the events (call it from
   * store.onIncidentEvents). A notice that cannot be rendered is recorded as failed with the reason rather
   * than rolling the report back; database errors do roll it back (the agent retries).
   */
  enqueueEvents(events: readonly NewIncidentEvent[], now: number): EnqueueCounts {
    const counts: EnqueueCounts = { queued: 0, held: 0, noRecipient: 0, optedOut: 0, failed: 0 };
    for (const { event: ev, incident } of events) {
      const maxLevel = this.s.maxLevel.get(incident.id)?.m ?? -1;
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
        this.s.insert.run({ ...base, state: 'failed', recipient: null, subject: `${ev.tenant}: ${ev.type} ${ev.resource}`, body_text: null, body_html: null, next_attempt_at: null, error: `cannot render: ${(err as Error).message}`, digest_due: null });
        counts.failed++;
        continue;
      }
      const to = this.recipientOf(ev.tenant);
      const row: Insert = { ...base, state: 'queued', recipient: to.address, subject, body_text: null, body_html: null, next_attempt_at: null, error: null, digest_due: null };
      if (cls.informational && to.optedOut) {
        row.state = 'opted_out';
      } else {
        const key = limitKey(ev.tenant, ev.resource, ev.level, ev.type);
        const decision = rateDecision({ limited: cls.limited, lastSent: this.s.limit.get(key)?.last_at, lastDigest: this.s.limit.get(digestKey(ev.tenant))?.last_at, now, intervalMs: this.config.intervalMs });
        if (!decision.send) {
          row.state = 'held';
          row.digest_due = decision.digestDue;
        } else {
          if (cls.limited) this.s.setLimit.run(key, now);
          try {
            this.addressed(row, { subject, text: this.templates.notice.text.render(view), html: this.templates.notice.html.render(view) }, now);
          } catch (err) {
            this.log?.error({ err, tenant: ev.tenant, event: ev.id }, 'cannot render a notice; recorded as failed');
            Object.assign(row, { state: 'failed', error: `cannot render: ${(err as Error).message}` });
          }
        }
      }
      this.s.insert.run(row);
      if (row.state === 'queued') counts.queued++;
      else if (row.state === 'held') counts.held++;
      else if (row.state === 'opted_out') counts.optedOut++;
      else if (row.state === 'no_recipient') counts.noRecipient++;
      else counts.failed++;
    }
    return counts;
  }

  /** A row to send: queued with its bodies, or no_recipient when there is nobody to send it to. */
  private addressed(row: Insert, rendered: Rendered, now: number): void {
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
  makeDueDigests(now: number): number {
    let made = 0;
    for (const { tenant } of this.s.dueDigests.all(now)) {
      this.db.transaction(() => {
        const held = this.s.heldOf.all(tenant);
        if (held.length === 0) return;
        const items: DigestItem[] = held.map((h) => ({ host: h.host, resource: h.resource, category: h.category, event_type: h.event_type, level: h.level, at: h.event_at ?? h.created_at, summary: h.summary }));
        const rendered = renderWith(this.templates.digest, digestView(tenant, items, now, this.ctx));
        const to = this.recipientOf(tenant);
        const row: Insert = {
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
        const id = Number(this.s.insert.run(row).lastInsertRowid);
        for (const h of held) this.s.digested.run(id, h.id);
        this.s.setLimit.run(digestKey(tenant), now);
        made++;
      })();
    }
    return made;
  }

  /** Claim the next due notice for one attempt (state sending, attempts + 1). */
  claim(now: number): NoticeRow | undefined {
    return this.s.claim.get(randomUUID(), now, now);
  }

  /** The attempt succeeded: sent (no_recipient when only the admin copy went out). */
  markDelivered(row: NoticeRow, now: number, note: string | null = null): boolean {
    const state: NoticeState = row.recipient === null ? 'no_recipient' : 'sent';
    const error = row.recipient === null ? [row.error, note].filter(Boolean).join('; ') || null : note;
    return this.s.delivered.run(state, now, error, row.id, row.attempt_id!).changes === 1;
  }

  markRetry(row: NoticeRow, nextAt: number, error: string): boolean {
    return this.s.retry.run(nextAt, error.slice(0, 2000), row.id, row.attempt_id!).changes === 1;
  }

  markFailed(row: NoticeRow, error: string): boolean {
    return this.s.failed.run(error.slice(0, 2000), row.id, row.attempt_id!).changes === 1;
  }

  /** Attempts a stopped controller left open go back to the queue (sent again, same Message-ID). */
  recoverInterrupted(now: number): number {
    return this.s.recover.run(now, 'the controller stopped during an attempt; sent again with the same Message-ID').changes;
  }

  /** When the sender next has something to do (a queued notice or a digest), or undefined. */
  nextDue(): number | undefined {
    const a = this.s.nextQueued.get()?.t ?? null;
    const b = this.s.nextDigest.get()?.t ?? null;
    if (a === null && b === null) return undefined;
    return Math.min(a ?? Number.POSITIVE_INFINITY, b ?? Number.POSITIVE_INFINITY);
  }

  get(id: number): NoticeRow | undefined {
    return this.s.get.get(id);
  }

  list(filter: NoticeFilter = {}): NoticeRow[] {
    const where: string[] = [];
    const params: Array<string | number> = [];
    const add = (sql: string, v: string | number | undefined) => {
      if (v === undefined) return;
      where.push(sql);
      params.push(v);
    };
    add('tenant = ?', filter.tenant);
    add('state = ?', filter.state);
    add('kind = ?', filter.kind);
    add('incident_id = ?', filter.incident);
    params.push(filter.limit ?? 100);
    return this.db.prepare<Array<string | number>, NoticeRow>(`SELECT * FROM notices ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`).all(...params);
  }

  counts(): Partial<Record<NoticeState, number>> {
    const out: Partial<Record<NoticeState, number>> = {};
    for (const r of this.s.counts.all()) out[r.state] = r.n;
    return out;
  }

  /** Drop finished notices older than notices.keep and rate-limit marks older than the interval. */
  prune(now: number): number {
    const n = this.s.prune.run(now - this.config.keepMs).changes;
    this.s.pruneLimits.run(now - this.config.intervalMs);
    return n;
  }
}
