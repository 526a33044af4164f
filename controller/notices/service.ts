// Notices in the running controller: templates and mailer from the config, the outbox fed inside the ingest
// transaction (store.onIncidentEvents), the sender loop, GET /v1/notices and /metrics.
//
//   const notices = startNotices(store, config, { log, now, registry });   // before the API listens
//   ... buildApp({ ..., outbox: notices.outbox })                           // GET /v1/notices reads it
//   await notices.close();                                                  // before the store closes
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ControllerConfig } from '../config.js';
import type { Registry } from '../metrics.js';
import type { Store } from '../store/store.js';
import { CapWatch, type CapHold } from './caps.js';
import { parseAddresses } from './config.js';
import { OutboxDirMailer, SmtpMailer, type Mailer } from './mailer.js';
import { NOTICE_STATES, NoticeOutbox } from './outbox.js';
import { NoticeSender } from './sender.js';
import { loadTemplates } from './templates.js';

export interface NoticesOptions {
  log: Logger;
  now?: (() => number) | undefined;
  /** The controller's metrics registry: notices by state, send attempts by result. */
  registry?: Registry | undefined;
  /** A mailer of the caller's (tests); default from the config: SMTP, else the outbox directory. */
  mailer?: Mailer | undefined;
  /** The tenant's signed usage page link (controller/ui/tenant-link.ts TenantLinks.url), when public_url is set. */
  tenantLink?: ((tenant: string) => string) | undefined;
}

export interface Notices {
  readonly outbox: NoticeOutbox;
  /** Undefined when notices.enabled is false (the API still lists what is stored). */
  readonly sender: NoticeSender | undefined;
  readonly mailer: Mailer | undefined;
  /** Domain of the Message-IDs (that of the From address). */
  readonly domain: string;
  /** Notices were queued outside an ingest (remediation cases): the sender runs soon. */
  kick(): void;
  /** Notices a cap held outside an ingest, after their transaction: counted and logged like the others. */
  recordHolds(holds: CapHold[], at: number): void;
  close(): Promise<void>;
}

/** The outbox directory: notices.outbox_dir, default <state_dir>/outbox. */
export function outboxDirOf(config: ControllerConfig): string {
  return config.notices.outboxDir ?? join(config.stateDir, 'outbox');
}

export function startNotices(store: Store, config: ControllerConfig, opts: NoticesOptions): Notices {
  const n = config.notices;
  const log = opts.log.child({ component: 'notices' });
  const now = opts.now ?? Date.now;
  const templates = loadTemplates(n.templatesDir);
  const from = config.smtp?.from ?? n.from;
  const domain = parseAddresses(from)?.[0]?.split('@')[1] ?? 'localhost';
  const held = opts.registry?.counter('hostwarden_notices_held_total', 'notices a cap held back (notices.caps), by category and cap (per_host_hour, per_report)', ['category', 'cap']);
  const caps = new CapWatch(n.caps, log, held);
  const outbox = new NoticeOutbox({ store: store.notices, config: n, templates, domain, log, onHeld: (holds, at) => caps.record(holds, at), tenantLink: opts.tenantLink });
  let sender: NoticeSender | undefined;
  let mailer: Mailer | undefined;
  const sends = opts.registry?.counter('hostwarden_notice_sends_total', 'notice delivery attempts, by result (sent, retry, failed)', ['result']);
  if (opts.registry) {
    const byState = opts.registry.gauge('hostwarden_notices', 'notices in the outbox, by state', ['state']);
    opts.registry.onCollect(async () => {
      const counts = await outbox.counts();
      for (const s of NOTICE_STATES) byState.set(counts[s] ?? 0, { state: s });
    });
  }
  let unhook: (() => void) | undefined;
  if (n.enabled) {
    const message = { from, replyTo: n.replyTo ?? n.support.email };
    mailer = opts.mailer ?? (config.smtp ? new SmtpMailer(config.smtp, message) : new OutboxDirMailer(outboxDirOf(config), message));
    const s = new NoticeSender({ outbox, mailer, now, retry: n.retry, log, onResult: (result) => sends?.inc({ result }) });
    sender = s;
    unhook = store.onIncidentEvents((events, tx) => {
      const c = outbox.enqueueEvents(events, tx);
      // After the transaction: the sender must see committed rows.
      if (c.queued) tx.afterCommit(() => s.kick());
      if (c.holds.length) tx.afterCommit(() => void recordIfCommitted(c.holds, tx.now, c.anyId));
    });
    s.start();
    log.info({ via: mailer.kind, target: mailer.target, interval_ms: n.intervalMs, templates: n.templatesDir ?? 'built-in' }, 'notices enabled');
  } else log.info('notices disabled (notices.enabled: false)');
  /** Holds count once their report committed (a rolled-back report is sent again by its agent). */
  async function recordIfCommitted(holds: CapHold[], at: number, id: number | undefined): Promise<void> {
    try {
      if (id !== undefined && (await outbox.get(id))) caps.record(holds, at);
    } catch (err) {
      log.error({ err }, 'cannot count the notices held back by notices.caps');
    }
  }
  return {
    outbox,
    sender,
    mailer,
    domain,
    kick: () => sender?.kick(),
    recordHolds: (holds, at) => caps.record(holds, at),
    close: async () => {
      unhook?.();
      await sender?.close();
    },
  };
}
