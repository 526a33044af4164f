// How the notices' outbox keys its cap slots in notice_limits, for every backend (the SQLite and PostgreSQL
// stores read each other's rows: --migrate-from-sqlite copies them unchanged). One row per notice that went
// out under a cap, keyed `cap<US>host<US>category<US>time (16 digits)<US>notice source` with last_at = the
// time: a range of the primary key counts a host's slots of the last hour, and prune() drops them with the
// other marks.
const US = '\u001f';

/** The key prefix of the cap slots of one host (null: '') and category. */
export const capPrefix = (host: string | null, category: string): string => `cap${US}${host ?? ''}${US}${category}${US}`;

/** The time part of a cap slot's key: sorts as the number does. */
export const capTime = (at: number): string => String(Math.max(0, Math.trunc(at))).padStart(16, '0');

/** The key of the slot `source` took at `at`. */
export const capSlotKey = (host: string | null, category: string, at: number, source: string): string => `${capPrefix(host, category)}${capTime(at)}${US}${source}`;

/** The key range [from, to) of the slots of `host` and `category` taken after `since`. */
export function capSlotRange(host: string | null, category: string, since: number): [from: string, to: string] {
  const prefix = capPrefix(host, category);
  return [prefix + capTime(since + 1), `${prefix}\u007f`];
}

/** What a stored tenant's spec and reported directory entry say about its notices (TenantContact). */
export function contactFromRow(row: { spec: string | null; reported: string | null } | undefined): { address: string | null; optedOut: boolean } {
  if (!row) return { address: null, optedOut: false };
  const spec = row.spec ? (JSON.parse(row.spec) as { email?: string; notices?: boolean }) : null;
  const reported = row.reported ? (JSON.parse(row.reported) as { email?: string }) : null;
  return { address: spec?.email ?? reported?.email ?? null, optedOut: spec?.notices === false };
}
