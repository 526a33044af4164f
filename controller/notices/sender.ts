// The sender loop: makes the digests whose time has come, queues the notices a cap held as far as their hour
// now allows (caps.ts; the loop runs at least every IDLE_POLL_MS), then sends due notices one at a time. A failed
// attempt waits min, 2 min, 4 min ... up to max (notices.retry) and keeps its error; a refusal for good (5xx
// for the recipients or the message) or an age past retry.give_up marks the notice failed.
//
// Exactly once: a notice is claimed with an attempt id (state sending) before the attempt and marked sent
// right after the mail server's 250 (or the outbox file's rename), in one statement that must find the same
// attempt id. The remaining window is between the server's 250 and that UPDATE (microseconds unless the
// process dies exactly then): a controller that stopped in it finds the notice "sending" at start and sends it
// again, with the same Message-ID, so a mail reader can tell it is the same message. At least once there,
// exactly once everywhere else; the outbox directory is exactly once (the file of a notice is replaced).
import type { Logger } from 'pino';
import type { Mailer } from './mailer.js';
import { DeliveryError, describeError } from './mailer.js';
import type { NoticeOutbox, NoticeRow } from './outbox.js';
import { backoffMs } from './rate.js';
import { formatDuration } from '../../shared/units.js';

/** Longest sleep of the loop when nothing is due (the clock may be moved by hand in tests). */
export const IDLE_POLL_MS = 60_000;
/** How long close() lets a send in flight finish before it aborts it. */
export const CLOSE_GRACE_MS = 5_000;
export const PRUNE_EVERY_MS = 3_600_000;

export type SendResult = 'sent' | 'retry' | 'failed';

export interface SenderOptions {
  outbox: NoticeOutbox;
  mailer: Mailer;
  now?: () => number;
  retry: { minMs: number; maxMs: number; giveUpMs: number };
  log?: Logger | undefined;
  onResult?: (result: SendResult, row: NoticeRow) => void;
}

export class NoticeSender {
  private readonly outbox: NoticeOutbox;
  private readonly mailer: Mailer;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private abort: AbortController | undefined;
  private lastPrune = Number.NEGATIVE_INFINITY;
  /** The recovery of interrupted attempts begun by start(); the loop waits for it. */
  private recovered: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SenderOptions) {
    this.outbox = opts.outbox;
    this.mailer = opts.mailer;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
  }

  /** Put interrupted attempts back in the queue and start the loop (its first run waits for that). */
  start(): void {
    this.recovered = this.outbox.recoverInterrupted(this.now()).then(
      (n) => {
        if (n) this.log?.warn({ notices: n }, 'notices interrupted by the last stop are sent again (same Message-ID)');
      },
      (err: unknown) => this.log?.error({ err }, 'cannot requeue the notices interrupted by the last stop'),
    );
    this.kick();
  }

  /** Run soon (new notices were queued). */
  kick(): void {
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop(), Math.max(0, delayMs));
    this.timer.unref();
  }

  private async loop(): Promise<void> {
    if (this.closed || this.running) return;
    let next: number | undefined;
    // When the next notice is due is read while still running, so a kick() meanwhile sets `again`.
    this.running = this.runOnce()
      .then(
        () => undefined,
        (err: unknown) => this.log?.error({ err }, 'notice sender failed; trying again shortly'),
      )
      .then(async () => {
        next = await this.outbox.nextDue();
      })
      .catch((err: unknown) => this.log?.error({ err }, 'cannot read when the next notice is due'));
    await this.running;
    this.running = undefined;
    if (this.closed) return;
    if (this.again) {
      this.again = false;
      this.schedule(0);
      return;
    }
    const wait = next === undefined ? IDLE_POLL_MS : Math.min(IDLE_POLL_MS, next - this.now());
    this.schedule(wait);
  }

  /** Make due digests, then send every due notice. Returns how many attempts were made. */
  async runOnce(): Promise<number> {
    await this.recovered;
    const now = this.now();
    const digests = await this.outbox.makeDueDigests(now);
    if (digests) this.log?.info({ digests }, 'digests of held-back notices queued');
    const released = await this.outbox.releaseHeld(now);
    if (released) this.log?.info({ notices: released }, 'notices held by notices.caps released: the hour frees their slots');
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      const pruned = await this.outbox.prune(now);
      if (pruned) this.log?.info({ notices: pruned }, 'old notices dropped');
    }
    let attempts = 0;
    while (!this.closed) {
      const row = await this.outbox.claim(this.now());
      if (!row) break;
      attempts++;
      await this.attempt(row);
    }
    return attempts;
  }

  private async attempt(row: NoticeRow): Promise<void> {
    const log = this.log?.child({ notice: row.id, tenant: row.tenant, attempt: row.attempts });
    this.abort = new AbortController();
    try {
      const { note } = await this.mailer.send(row, this.abort.signal);
      const done = this.now();
      if (!(await this.outbox.markDelivered(row, done, note))) log?.warn('notice was sent but its row changed meanwhile');
      log?.info({ to: row.recipient, kind: row.kind, via: this.mailer.kind, ...(note ? { note } : {}) }, 'notice sent');
      this.opts.onResult?.('sent', row);
    } catch (err) {
      const now = this.now();
      const message = err instanceof DeliveryError ? err.message : describeError(err);
      const permanent = err instanceof DeliveryError && err.permanent;
      const age = now - row.created_at;
      if (permanent || age >= this.opts.retry.giveUpMs) {
        const why = permanent ? `refused for good: ${message}` : `not accepted within ${formatDuration(this.opts.retry.giveUpMs)} (${row.attempts} attempts); last error: ${message}`;
        await this.outbox.markFailed(row, why);
        log?.error({ error: why }, 'notice failed');
        this.opts.onResult?.('failed', row);
      } else {
        const wait = backoffMs(row.attempts, this.opts.retry.minMs, this.opts.retry.maxMs);
        await this.outbox.markRetry(row, now + wait, message);
        log?.warn({ error: message, retry_in: formatDuration(wait) }, 'notice not sent; will retry');
        this.opts.onResult?.('retry', row);
      }
    } finally {
      this.abort = undefined;
    }
  }

  /** Stop: no new attempts; a send in flight gets CLOSE_GRACE_MS to finish, then it is aborted (and retried later). */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.running) {
      const grace = setTimeout(() => this.abort?.abort(new Error('the controller is stopping')), graceMs);
      await this.running;
      clearTimeout(grace);
    }
    this.mailer.close();
  }
}
