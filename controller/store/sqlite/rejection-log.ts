// Refused report items (controller/trust.ts) in the log, without letting a host flood it: each (host, kind,
// tenant) is logged at most once per window, each host at most LINES_PER_HOST lines per window; the rest are
// counted, said once when a host's lines run out and summed up when its window ends. A host that sends 20,000
// foreign names in every report costs a few lines an hour; every item is still counted in the metric
// hostwarden_report_items_rejected_total and named in the report's answer.
import type { Logger } from 'pino';
import { REJECTION_KINDS, type RejectionKind } from '../../trust.js';

/** One refused item, for the log. */
export interface RejectionNote {
  kind: RejectionKind;
  tenant: string;
  path: string;
  message: string;
}

export const REJECTION_LOG_WINDOW_MS = 3_600_000;
export const LINES_PER_HOST = 20;
/** (host, kind, tenant) keys remembered before the stale ones are dropped. */
const MAX_KEYS = 10_000;

interface HostWindow {
  start: number;
  lines: number;
  suppressed: Record<RejectionKind, number>;
}

const zero = (): Record<RejectionKind, number> => ({ cross_host: 0, unmanaged_cap: 0, forged_manual: 0 });
const total = (r: Record<RejectionKind, number>): number => REJECTION_KINDS.reduce((n, k) => n + r[k], 0);

export class RejectionLog {
  private readonly logged = new Map<string, number>();
  private readonly hosts = new Map<string, HostWindow>();

  constructor(
    private readonly log: Logger | undefined,
    private readonly windowMs = REJECTION_LOG_WINDOW_MS,
    private readonly linesPerHost = LINES_PER_HOST,
  ) {}

  /** Log what deserves a line of one report's refused items. */
  write(host: string, notes: readonly RejectionNote[], now: number): void {
    const log = this.log;
    if (!log || notes.length === 0) return;
    let w = this.hosts.get(host);
    if (!w || now - w.start >= this.windowMs) {
      if (w && total(w.suppressed) > 0) {
        log.warn({ host, not_logged: w.suppressed, since: new Date(w.start).toISOString() }, `${total(w.suppressed)} more refused report items of host ${host} were counted but not logged one by one`);
      }
      w = { start: now, lines: 0, suppressed: zero() };
      this.hosts.set(host, w);
    }
    for (const note of notes) {
      const key = `${host}\0${note.kind}\0${note.tenant}`;
      const last = this.logged.get(key);
      if ((last !== undefined && now - last < this.windowMs) || w.lines >= this.linesPerHost) {
        w.suppressed[note.kind]++;
        continue;
      }
      this.logged.set(key, now);
      w.lines++;
      log.warn({ host, tenant: note.tenant, kind: note.kind, item: note.path }, `report item refused: ${note.message}`);
      if (w.lines === this.linesPerHost) {
        log.warn({ host, until: new Date(w.start + this.windowMs).toISOString() }, `host ${host} reached ${this.linesPerHost} logged refusals this hour: further ones are counted (hostwarden_report_items_rejected_total), not logged`);
      }
    }
    if (this.logged.size > MAX_KEYS) this.prune(now);
  }

  private prune(now: number): void {
    for (const [key, at] of this.logged) if (now - at >= this.windowMs) this.logged.delete(key);
    if (this.logged.size > MAX_KEYS) this.logged.clear();
  }
}
