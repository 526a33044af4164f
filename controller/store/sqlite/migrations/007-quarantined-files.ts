// Migration 7: infected data (issue 16). `quarantined_files`: the file quarantine manifest entries agents report
// (the entry as last reported, JSON, with its state and tenant broken out for listing); ids are the agents'
// (UUIDs), one host each. `file_requests`: admins' restores and deletes of those files and on-demand scans,
// served in the host's policy while pending, answered by the agent's `file_acks`. Times: ms since the epoch.
export const MIGRATION_007 = `
CREATE TABLE quarantined_files (
  id TEXT PRIMARY KEY,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  tenant TEXT NOT NULL,
  state TEXT NOT NULL,
  quarantined_at INTEGER NOT NULL,
  reported_at INTEGER NOT NULL,
  entry TEXT NOT NULL
);
CREATE INDEX quarantined_files_tenant ON quarantined_files (tenant, quarantined_at);
CREATE INDEX quarantined_files_host ON quarantined_files (host_id, quarantined_at);
CREATE TABLE file_requests (
  id TEXT PRIMARY KEY,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  tenant TEXT NOT NULL,
  action TEXT NOT NULL,
  file_id TEXT,
  by TEXT,
  created_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  state_at INTEGER NOT NULL,
  message TEXT
);
CREATE INDEX file_requests_pending ON file_requests (host_id, state);
CREATE INDEX file_requests_file ON file_requests (file_id, created_at);
`;
