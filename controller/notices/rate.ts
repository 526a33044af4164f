// The rate limit of notices and the sender's backoff: pure functions of times, tested with a fake clock.
//
//   per (tenant, resource, level, event type): at most one email per interval; what comes within the
//   interval is held back for the tenant's digest
//   per tenant: at most one digest per interval; it is due when the interval of the first held notice ends
//   quarantines, releases and administrators' actions are never held back (classify() in view.ts)

/** The key of the rate limit of one kind of notice. */
export function limitKey(tenant: string, resource: string, level: number, type: string): string {
  return `step\u001f${tenant}\u001f${resource}\u001f${level}\u001f${type}`;
}

export function digestKey(tenant: string): string {
  return `digest\u001f${tenant}`;
}

export type RateDecision = { send: true } | { send: false; digestDue: number };

/**
 * Send now, or hold back for the digest. `lastSent`: when the last notice of the same key went out (queued);
 * `lastDigest`: when the tenant's last digest was made; both undefined when never.
 */
export function rateDecision(input: { limited: boolean; lastSent: number | undefined; lastDigest: number | undefined; now: number; intervalMs: number }): RateDecision {
  const { limited, lastSent, lastDigest, now, intervalMs } = input;
  if (!limited || lastSent === undefined || now - lastSent >= intervalMs) return { send: true };
  return { send: false, digestDue: Math.max(lastSent + intervalMs, lastDigest === undefined ? 0 : lastDigest + intervalMs) };
}

/** Delay before attempt `attempts + 1` after `attempts` failed ones: min, 2 min, 4 min ... up to max. */
export function backoffMs(attempts: number, minMs: number, maxMs: number): number {
  const n = Math.max(1, attempts);
  return Math.min(maxMs, minMs * 2 ** Math.min(n - 1, 40));
}
