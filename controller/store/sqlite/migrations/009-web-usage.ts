// Migration 9: the web tier's exact counts. `web_minutes`: what a tenant's web sites served per minute (ms since
// the epoch, floored), added up from the access-log counts of reports (each report once, in its ingest
// transaction) and, with source 1, the API calls platforms pushed (POST /v1/usage/api; host_id 0). `api_pushes`:
// the idempotency keys of pushes counted. `web_log_stats`: each host's access-log reader counts, added up.
// No foreign keys: tenant ids are never reused (tenants.ts NEW_TENANT_ID), and an expired or deleted tenant must
// not be held back by its counts.
export const MIGRATION_009 = `
CREATE TABLE web_minutes (
  tenant_id INTEGER NOT NULL,
  minute INTEGER NOT NULL,
  host_id INTEGER NOT NULL,
  source INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  api_calls INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  errors_5xx INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, minute, host_id, source)
) WITHOUT ROWID;
CREATE TABLE api_pushes (
  id TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  by TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE web_log_stats (
  host_id INTEGER PRIMARY KEY,
  lines INTEGER NOT NULL,
  unparsed INTEGER NOT NULL,
  unattributed INTEGER NOT NULL,
  rotations INTEGER NOT NULL,
  truncations INTEGER NOT NULL,
  lost_files INTEGER NOT NULL,
  lost_bytes INTEGER NOT NULL,
  backlog_bytes INTEGER NOT NULL,
  updated INTEGER NOT NULL
);
`;
