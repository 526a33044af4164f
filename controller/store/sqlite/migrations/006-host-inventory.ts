// Migration 5: the latest host inventory each host's agent reported (the optional `inventory` of a report, sent
// at the agent's start and daily): one row per host, replaced by a newer one, kept as the JSON it came as.
// `reported_at` is the carrying report's `at`, `received` when the controller stored it (ms since the epoch).
export const MIGRATION_006 = `
CREATE TABLE host_inventory (
  host_id INTEGER PRIMARY KEY REFERENCES hosts(id),
  reported_at INTEGER NOT NULL,
  received INTEGER NOT NULL,
  inventory TEXT NOT NULL
);
`;
