// Migration 2: remember, per host, the newest report retention has dropped. Idempotency by (host, seq) must
// outlive the raw rows: a resend of a report whose row is gone is still a duplicate, not new data.
export const MIGRATION_002 = `
ALTER TABLE hosts ADD COLUMN retired_seq INTEGER;
ALTER TABLE hosts ADD COLUMN retired_at INTEGER;
`;
