// Caps on the mail one host can make the controller send, whatever its reports say (`notices.caps`):
//
//   per host and category: at most caps.per_host_hour[category] notices go out in any sliding hour
//     (warning, throttle, quarantine, release: by the host of the event; digest: by the host of the notices it
//     tells, or one shared count for digests that span several hosts)
//   per report: at most caps.per_report of the notices one report makes go out with it
//
// A notice over a cap is stored `held`, with the cap named in its `error`, and is never lost:
//   - a warning or throttle notice (rate-limited kinds) waits for the tenant's digest, due an hour later at
//     the soonest (and never sooner than an interval after the tenant's last digest)
//   - a quarantine, a release, an administrator's action, a digest and a remediation case's lifecycle notice
//     (controller/remediation/notices.ts: never folded into a digest) wait (digest_due null) for a slot of
//     their host's hourly cap: the sender releases them oldest first as soon as the hour's window frees one
//     (releaseHeld, each sender run; the sender runs at least once a minute)
// A notice that would wait for a slot is held while older ones of its host and category still wait, so they
// go out in order. Counted in hostwarden_notices_held_total{category,cap}; logged once per host per hour.
import type { Logger } from 'pino';
import type { Section } from '../../shared/config.js';
import type { NoticeTx } from '../store/notice-store.js';

/** The window of the per-host caps: a sliding hour. */
export const CAP_WINDOW_MS = 3_600_000;
export const CAP_CATEGORIES = ['warning', 'throttle', 'quarantine', 'release', 'digest', 'remediation'] as const;
export type CapCategory = (typeof CAP_CATEGORIES)[number];
export const CAP_NAMES = ['per_host_hour', 'per_report'] as const;
export type CapName = (typeof CAP_NAMES)[number];
/** Largest value a cap takes (a count of emails; beyond it a cap means nothing). */
export const MAX_CAP = 1_000_000;

export interface NoticeCaps {
  /** Notices per host and category per sliding hour. */
  perHostHour: Record<CapCategory, number>;
  /** Notices one report may send at once. */
  perReport: number;
}

export const DEFAULT_CAPS: NoticeCaps = {
  perHostHour: { warning: 50, throttle: 50, quarantine: 30, release: 50, digest: 50, remediation: 30 },
  perReport: 20,
};

/** `notices.caps`: every key optional, whole numbers from 1 to MAX_CAP. */
export function parseCaps(s: Section): NoticeCaps {
  const h = s.section('per_host_hour');
  const perHostHour = {} as Record<CapCategory, number>;
  for (const c of CAP_CATEGORIES) perHostHour[c] = h.number(c, DEFAULT_CAPS.perHostHour[c], { min: 1, max: MAX_CAP, integer: true });
  h.done();
  const perReport = s.number('per_report', DEFAULT_CAPS.perReport, { min: 1, max: MAX_CAP, integer: true });
  s.done();
  return { perHostHour, perReport };
}

/** The category a cap counts a notice under (an event's category, or digest). */
export function capCategory(category: string): CapCategory | undefined {
  return (CAP_CATEGORIES as readonly string[]).includes(category) ? (category as CapCategory) : undefined;
}

/** A notice a cap held back, as the metric and the log count it. */
export interface CapHold {
  host: string | null;
  category: CapCategory;
  cap: CapName;
}

/** What a held notice's `error` says. `digest`: it waits for the tenant's digest (else for a slot). */
export function capNote(hold: CapHold, caps: NoticeCaps, digest: boolean): string {
  const what =
    hold.cap === 'per_report'
      ? `over notices.caps.per_report (${caps.perReport} notices per report)`
      : `over notices.caps.per_host_hour.${hold.category} (${caps.perHostHour[hold.category]} per host per hour${hold.host === null ? '; digests over several hosts share one count' : ` for ${hold.host}`})`;
  return `held back: ${what}; ${digest ? "told in the tenant's digest" : 'sent as soon as the cap allows'}`;
}

/**
 * The caps inside one transaction (one report's notices, or one digest): how many slots each host and category
 * has used this hour, read once from the store and counted on here, and how many notices went out with the
 * report. check() says which cap holds a notice back; take() records that one goes out.
 */
export class CapBudget {
  private readonly used = new Map<string, number>();
  private readonly waiting = new Map<string, boolean>();
  private sent = 0;

  /** @param perReport false for a digest (it comes from no report) */
  constructor(
    private readonly caps: NoticeCaps,
    private readonly tx: NoticeTx,
    private readonly now: number,
    private readonly perReport = true,
  ) {}

  private key(host: string | null, category: CapCategory): string {
    return `${category}\u001f${host ?? ''}`;
  }

  /** The cap that holds back a notice of `category` from `host`, or undefined: it may go (call take()). */
  check(host: string | null, category: CapCategory): CapName | undefined {
    if (this.perReport && this.sent >= this.caps.perReport) return 'per_report';
    const k = this.key(host, category);
    let waiting = this.waiting.get(k);
    if (waiting === undefined) {
      waiting = this.tx.capWaiting(host, category);
      this.waiting.set(k, waiting);
    }
    if (waiting || this.usedOf(host, category) >= this.caps.perHostHour[category]) return 'per_host_hour';
    return undefined;
  }

  private usedOf(host: string | null, category: CapCategory): number {
    const k = this.key(host, category);
    let used = this.used.get(k);
    if (used === undefined) {
      used = this.tx.capSlots(host, category, this.now - CAP_WINDOW_MS);
      this.used.set(k, used);
    }
    return used;
  }

  /** The notice of `source` goes out now: it takes a slot of its host's cap and counts against the report's. */
  take(host: string | null, category: CapCategory, source: string): void {
    this.tx.takeCapSlot(host, category, this.now, source);
    this.used.set(this.key(host, category), this.usedOf(host, category) + 1);
    this.sent++;
  }

  /** A notice of `category` from `host` now waits for a slot: later ones of the same queue wait behind it. */
  waits(host: string | null, category: CapCategory): void {
    this.waiting.set(this.key(host, category), true);
  }
}

/** How many notices waiting for a slot of (`host`, `category`) may go now. */
export function freeSlots(caps: NoticeCaps, tx: NoticeTx, host: string | null, category: string, now: number): number {
  const c = capCategory(category);
  if (c === undefined) return Number.MAX_SAFE_INTEGER; // not a capped category: nothing holds it
  return Math.max(0, caps.perHostHour[c] - tx.capSlots(host, c, now - CAP_WINDOW_MS));
}

/** The counter of held notices (prom-client's Counter fits). */
export interface HeldCounter {
  inc(labels: Partial<Record<'category' | 'cap', string>>, value?: number): void;
}

/**
 * The metric of held notices, and one log line per host and hour (the first hold of a host in an hour; the
 * metric counts them all). Call record() after the transaction that held them committed.
 */
export class CapWatch {
  private readonly lastLog = new Map<string, number>();

  constructor(
    private readonly caps: NoticeCaps,
    private readonly log: Logger | undefined,
    private readonly counter: HeldCounter | undefined,
  ) {
    for (const category of CAP_CATEGORIES) for (const cap of CAP_NAMES) counter?.inc({ category, cap }, 0);
  }

  record(holds: readonly CapHold[], now: number): void {
    if (holds.length === 0) return;
    const byHost = new Map<string | null, Record<string, number>>();
    for (const h of holds) {
      this.counter?.inc({ category: h.category, cap: h.cap });
      const counts = byHost.get(h.host) ?? {};
      const k = `${h.category}/${h.cap}`;
      counts[k] = (counts[k] ?? 0) + 1;
      byHost.set(h.host, counts);
    }
    for (const [host, held] of byHost) {
      const key = host ?? '';
      const last = this.lastLog.get(key);
      if (last !== undefined && now - last < CAP_WINDOW_MS) continue;
      this.lastLog.set(key, now);
      this.log?.warn(
        { host, held, caps: { per_host_hour: this.caps.perHostHour, per_report: this.caps.perReport } },
        'notices held back by notices.caps (logged once per host per hour; hostwarden_notices_held_total counts every one)',
      );
    }
    if (this.lastLog.size > 10_000) for (const [k, at] of this.lastLog) if (now - at >= CAP_WINDOW_MS) this.lastLog.delete(k);
  }
}
