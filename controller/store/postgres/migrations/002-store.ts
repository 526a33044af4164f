// Migration 2 of the PostgreSQL store: what the whole store needs beyond SQLite's tables, for several
// controllers on one database (pg-store.ts says how):
//   rollup_queue                the reports stored whose samples are not in the `minute` and `hour` rollups
//                               yet (rollups.ts drains it in batches under an advisory lock; history reads
//                               the queued reports beside the rollups).
//   tenant_ids                  the sequence of new tenants' ids (ever rising: an expired tenant's id, whose
//                               history may still be kept, is never given again; --migrate-from-sqlite moves
//                               it past the copied ids).
//   tenants.directory_seen_at   the newest report whose directory listed the tenant (SQLite keeps it in memory
//                               only; here any controller may expire tenants, so it is a column).
//   notices.claimed_by          the controller whose attempt a `sending` notice is (the key of the session
//                               advisory lock it holds while it lives, db.ts ownerKey): only a dead one's
//                               attempts are put back in the queue.
// The rollups are the `minute` and `hour` tables of migration 1 (the codec's blobs, as in SQLite).
export const PG_MIGRATION_002 = `
CREATE SEQUENCE tenant_ids;
SELECT setval('tenant_ids', greatest(coalesce((SELECT max(id) FROM tenants), 0), coalesce((SELECT max(id) FROM retired_tenants), 0), 1),
  coalesce((SELECT max(id) FROM tenants), (SELECT max(id) FROM retired_tenants)) IS NOT NULL);

CREATE TABLE rollup_queue (
  report_id BIGINT PRIMARY KEY
);

CREATE INDEX minute_bucket ON minute(bucket);
CREATE INDEX hour_bucket ON hour(bucket);
CREATE INDEX reports_at ON reports(at);

ALTER TABLE tenants ADD COLUMN directory_seen_at BIGINT;
ALTER TABLE notices ADD COLUMN claimed_by INTEGER;
CREATE INDEX notices_sending ON notices(claimed_by) WHERE state = 'sending';
`;
