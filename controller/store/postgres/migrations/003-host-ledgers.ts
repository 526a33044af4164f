// Migration 3 of the PostgreSQL store: the fairness ledger per host, in one row (ingest.ts).
//   host_ledgers   per host, its tenants' fairness debt and its time (the newest report that carried the
//                  tenant), as three arrays of one length: tenant_ids[k] owes debts[k] as of debt_ats[k]. A report
//                  rewrites its host's row once (under the host's advisory lock), where it used to update every
//                  one of its tenants' rows (300 row versions a report). A tenant's debt is the entry of the
//                  ledger of its host (tenants.host_id) when it has one, else tenants.debt/debt_at (copied there
//                  from the old host's ledger when an admin moves the tenant, and by --migrate-from-sqlite); its
//                  last_seen is the greater of tenants.last_seen and that entry's time (tenants.last_seen itself
//                  is rewritten only when it is 5 minutes or more behind). rows.ts TENANT_FROM reads them so.
export const PG_MIGRATION_003 = `
CREATE TABLE host_ledgers (
  host BIGINT PRIMARY KEY REFERENCES hosts(id),
  tenant_ids BIGINT[] NOT NULL,
  debts DOUBLE PRECISION[] NOT NULL,
  debt_ats BIGINT[] NOT NULL
);
`;
