// Migration 5: unmanaged tenants that expired (tenants.unmanaged_ttl) leave the tenants table, but their
// history (raw rows, rollups keyed by the tenant's id) stays until retention drops it. Their ids are kept here
// meanwhile, so retention still finds their series and no new tenant is given an id whose history is not gone
// (a new row's id is above every id in both tables: see tenants.ts).
export const MIGRATION_005 = `
CREATE TABLE retired_tenants (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  host_id INTEGER,
  retired_at INTEGER NOT NULL
);
CREATE INDEX retired_tenants_at ON retired_tenants(retired_at);
`;
