// Migration 1: the initial schema. Times are integers, milliseconds since the epoch (UTC).
//
// Raw samples are one row per report (`reports`), appended in arrival order, the tenants' samples packed in
// one blob (history/codec.ts): no index by tenant, so a report of 300 tenants costs one row and two small
// index entries. Rollups (`minute`, `hour`) are keyed by (series, bucket) so one tenant's history is
// contiguous on disk; they are written in batches per host (see ../rollups.ts) so each write fills pages instead
// of touching one page per tenant per minute. A series is a tenant (its id) or a host (minus its id).
export const MIGRATION_001 = `
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE hosts (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER,
  watermark INTEGER
);

CREATE TABLE plans (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE tenants (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  host_id INTEGER REFERENCES hosts(id),
  spec TEXT,
  updated_at INTEGER,
  first_seen INTEGER,
  last_seen INTEGER,
  debt REAL NOT NULL DEFAULT 0,
  debt_at INTEGER
);
CREATE INDEX tenants_host ON tenants(host_id);

CREATE TABLE reports (
  id INTEGER PRIMARY KEY,
  host_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  received INTEGER NOT NULL,
  interval_ms INTEGER NOT NULL,
  n INTEGER NOT NULL,
  meta TEXT NOT NULL,
  host_values BLOB NOT NULL,
  samples BLOB NOT NULL
);
CREATE UNIQUE INDEX reports_host_seq ON reports(host_id, seq);
CREATE INDEX reports_host_at ON reports(host_id, at);

CREATE TABLE minute (
  series INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (series, bucket)
) WITHOUT ROWID;

CREATE TABLE hour (
  series INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (series, bucket)
) WITHOUT ROWID;

CREATE TABLE incidents (
  id INTEGER PRIMARY KEY,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  key TEXT NOT NULL,
  tenant TEXT NOT NULL,
  resource TEXT NOT NULL,
  rule TEXT NOT NULL,
  state TEXT NOT NULL,
  step TEXT NOT NULL,
  level INTEGER NOT NULL,
  manual INTEGER NOT NULL,
  opened_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  released_at INTEGER,
  until INTEGER,
  events INTEGER NOT NULL,
  explanation TEXT NOT NULL,
  UNIQUE (host_id, key)
);
CREATE INDEX incidents_state ON incidents(state, opened_at);
CREATE INDEX incidents_tenant ON incidents(tenant, opened_at);
CREATE INDEX incidents_opened ON incidents(opened_at);

CREATE TABLE incident_events (
  id INTEGER PRIMARY KEY,
  host_id INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  incident_id INTEGER NOT NULL REFERENCES incidents(id),
  at INTEGER NOT NULL,
  received INTEGER NOT NULL,
  body TEXT NOT NULL,
  UNIQUE (host_id, event_id)
);
CREATE INDEX incident_events_incident ON incident_events(incident_id, at);

CREATE TABLE actions (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  action TEXT NOT NULL,
  level INTEGER,
  reason TEXT NOT NULL,
  by TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  state TEXT NOT NULL,
  state_at INTEGER NOT NULL,
  message TEXT
) WITHOUT ROWID;
CREATE INDEX actions_host_state ON actions(host_id, state);
CREATE INDEX actions_tenant ON actions(tenant, created_at);

CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  who TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL,
  ip TEXT,
  detail TEXT
);
CREATE INDEX audit_at ON audit(at);
`;
