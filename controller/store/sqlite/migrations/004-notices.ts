// Migration 4: the notices outbox (controller/notices). Every notice is a row here first, written in the
// transaction that stores its incident event; the sender delivers queued rows and records the outcome.
// Held-back notices wait for their tenant's digest. `notice_limits` remembers when each kind of notice last
// went out (the rate limit) and when each tenant's last digest was made. No foreign keys: retention drops
// incidents on its own schedule, notices on theirs.
export const MIGRATION_004 = `
CREATE TABLE notices (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  source TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  host TEXT,
  resource TEXT,
  incident_id INTEGER,
  incident_key TEXT,
  event_type TEXT,
  step TEXT,
  level INTEGER,
  manual INTEGER NOT NULL DEFAULT 0,
  category TEXT NOT NULL,
  event_at INTEGER,
  created_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  recipient TEXT,
  bcc TEXT NOT NULL DEFAULT '[]',
  subject TEXT NOT NULL,
  summary TEXT NOT NULL,
  body_text TEXT,
  body_html TEXT,
  message_id TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  attempt_id TEXT,
  last_attempt_at INTEGER,
  error TEXT,
  sent_at INTEGER,
  digest_id INTEGER,
  digest_due INTEGER
);
CREATE INDEX notices_queue ON notices(next_attempt_at) WHERE state = 'queued';
CREATE INDEX notices_held ON notices(tenant, digest_due) WHERE state = 'held';
CREATE INDEX notices_tenant ON notices(tenant, created_at);
CREATE INDEX notices_created ON notices(created_at);
CREATE INDEX notices_incident ON notices(incident_id);

CREATE TABLE notice_limits (
  key TEXT PRIMARY KEY,
  last_at INTEGER NOT NULL
) WITHOUT ROWID;
`;
