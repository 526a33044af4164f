// Migration 2 of the PostgreSQL store: what the whole store needs beyond SQLite's tables, for several
// controllers on one database (pg-store.ts says how). Rollups are kept as arrays PostgreSQL can merge itself,
// so a report's rollups are added by an upsert in the statement that stores it, and nothing waits in memory:
//   rollup_minute, rollup_hour  (series, bucket) -> acc FLOAT8[]: [n, count_0, sum_0, max_0, count_1, ...],
//                               the layout of controller/history/codec.ts's Acc (n, then per metric count,
//                               sum, max; max -Infinity while count is 0); merged by hw_acc_merge.
//   tenants.directory_seen_at   the newest report whose directory listed the tenant (SQLite keeps it in memory
//                               only; here any controller may expire tenants, so it is a column).
//   notices.claimed_by          the controller whose attempt a `sending` notice is (the key of the session
//                               advisory lock it holds while it lives, db.ts ownerKey): only a dead one's
//                               attempts are put back in the queue.
// The `minute` and `hour` tables of migration 1 stay: they hold what --migrate-from-sqlite copied (the codec's
// blobs), read beside these by history queries and dropped by retention like them.
export const PG_MIGRATION_002 = `
CREATE FUNCTION hw_acc_merge(a FLOAT8[], b FLOAT8[]) RETURNS FLOAT8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT array_agg(CASE WHEN i > 1 AND (i - 2) % 3 = 2 THEN greatest(x, y) ELSE x + y END ORDER BY i)
  FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;

CREATE TABLE rollup_minute (
  series BIGINT NOT NULL,
  bucket BIGINT NOT NULL,
  acc FLOAT8[] NOT NULL,
  PRIMARY KEY (series, bucket)
);
CREATE INDEX rollup_minute_bucket ON rollup_minute(bucket);

CREATE TABLE rollup_hour (
  series BIGINT NOT NULL,
  bucket BIGINT NOT NULL,
  acc FLOAT8[] NOT NULL,
  PRIMARY KEY (series, bucket)
);
CREATE INDEX rollup_hour_bucket ON rollup_hour(bucket);

CREATE INDEX minute_bucket ON minute(bucket);
CREATE INDEX hour_bucket ON hour(bucket);
CREATE INDEX reports_at ON reports(at);

ALTER TABLE tenants ADD COLUMN directory_seen_at BIGINT;
ALTER TABLE notices ADD COLUMN claimed_by INTEGER;
CREATE INDEX notices_sending ON notices(claimed_by) WHERE state = 'sending';
`;
