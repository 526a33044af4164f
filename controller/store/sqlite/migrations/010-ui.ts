// Migration 10: the dashboard (controller/store/ui-store.ts). `ui_sessions`: admins' sessions by the SHA-256 of
// the cookie's value, with their CSRF token and expiry. `tenant_links`: tenant links an admin made, and the
// revocation list (a revoked link of a notice, never recorded before, gets a row of its own with tenant '').
// The signing keys are meta rows (key `ui_key:<name>`).
export const MIGRATION_010 = `
CREATE TABLE ui_sessions (
  id_hash TEXT PRIMARY KEY,
  admin TEXT NOT NULL,
  role TEXT NOT NULL,
  csrf TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
CREATE TABLE tenant_links (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at INTEGER,
  revoked_by TEXT
) WITHOUT ROWID;
CREATE INDEX tenant_links_expiry ON tenant_links (expires_at);
`;
