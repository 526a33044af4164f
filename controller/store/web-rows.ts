// A tenant's web usage (GET /v1/tenants/{name}/web) from its web_minutes, summed by minute, shared by the
// SQLite and PostgreSQL stores: the totals cover the whole range, the minutes listed are bounded.
import type { WebUsage } from '../../shared/wire/web.js';

/** One minute of a tenant: from the access logs (requests, api_calls) and pushed API calls apart. */
export interface WebMinuteRow {
  minute: number;
  requests: number;
  api_calls: number;
  pushed_api_calls: number;
  bytes: number;
  errors_5xx: number;
}

/** Minutes listed in an answer at most (the totals always cover the whole range). */
export const MAX_LISTED_MINUTES = 1440;

const iso = (t: number): string => new Date(t).toISOString();

export function webUsageOf(tenant: string, from: number, to: number, rows: Iterable<WebMinuteRow>): WebUsage {
  const out: WebUsage = { tenant, from: iso(from), to: iso(to), requests: 0, api_calls: 0, pushed_api_calls: 0, bytes: 0, errors_5xx: 0, minutes: [] };
  for (const r of rows) {
    out.requests += r.requests;
    out.api_calls += r.api_calls;
    out.pushed_api_calls += r.pushed_api_calls;
    out.bytes += r.bytes;
    out.errors_5xx += r.errors_5xx;
    if (out.minutes.length < MAX_LISTED_MINUTES) out.minutes.push({ ...r, minute: iso(r.minute) });
  }
  return out;
}
