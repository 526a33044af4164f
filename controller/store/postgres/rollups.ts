// Rollups on PostgreSQL, for several controllers at once: a report is stored with one row in `rollup_queue`
// (in its own transaction, so it is queued exactly when it is stored), and its minute and hour rollups are
// written later, many reports at a time, by whichever controller takes ROLLUP_LOCK first:
//   drain: in one transaction under pg_try_advisory_xact_lock(ROLLUP_LOCK) (a controller that does not get it
//          leaves the work to the one that has it), up to `max` queued reports are deleted from the queue and
//          their samples added into accumulators per (series, minute) and (series, hour) in this process; the
//          rows they land in are read FOR UPDATE, merged (history/codec.ts accMerge) and written back as the
//          codec's blobs in `minute` and `hour`, the same rows SQLite writes and --migrate-from-sqlite copies.
//          The queue rows go in the same transaction as the merged rollups: each report is counted once, and a
//          controller killed mid-drain leaves its reports queued for the next.
//   read:  history queries read a tier's blobs and, in the same statement (one snapshot), the raw samples of
//          the reports still queued in the range, so an answer never misses a report and never counts one twice.
// Why not merge each report's rows as it comes: a report touches one row per tenant and tier; merged at once,
// a minute row is rewritten 12 times (5 s reports) and an hour row 720 times, each a full row version in
// PostgreSQL. Drained in batches, a row is rewritten about once per drain; and as the controller's drains take
// only the reports of minutes that are over (pg-store.ts flush), a minute row is written about once and an
// hour row about once a minute (a report that comes late is merged into its rows by the next drain).
import type pg from 'pg';
import { HOST_WIDTH, TENANT_WIDTH } from '../../history/catalog.js';
import { accAdd, accMerge, decodeAcc, decodeVector, encodeAcc, forEachSample, newAcc, type Acc, Writer } from '../../history/codec.js';
import { floorTo, HOUR_MS, MINUTE_MS } from '../../history/rollup.js';
import { hostSeries, widthOf } from '../../history/series.js';
import type { PgDatabase } from './db.js';

/** The advisory lock of a drain ('hwro'): one controller drains at a time. */
export const ROLLUP_LOCK = 0x6877726f;
/** Reports one drain transaction takes at most. */
export const DRAIN_BATCH = 2000;
const CHUNK = 2000;
/** Reports added between two turns of the event loop in a drain. */
const YIELD_EVERY = 20;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Entry {
  series: number;
  bucket: number;
  acc: Acc;
}

/** Accumulators of a batch, per tier, keyed "series:bucket". */
export class TierAccs {
  readonly minute = new Map<string, Entry>();
  readonly hour = new Map<string, Entry>();

  /** Add one row (a sample of `series` at `at`) to its minute and its hour. */
  add(series: number, at: number, row: Float64Array, width: number): void {
    for (const [map, res] of [
      [this.minute, MINUTE_MS],
      [this.hour, HOUR_MS],
    ] as const) {
      const bucket = floorTo(at, res);
      const key = `${series}:${bucket}`;
      let e = map.get(key);
      if (!e) map.set(key, (e = { series, bucket, acc: newAcc(width) }));
      accAdd(e.acc, row, 0, width);
    }
  }

  /** A stored report's samples and host vector. */
  addReport(hostId: number, at: number, samples: Buffer, hostValues: Buffer): void {
    forEachSample(samples, TENANT_WIDTH, (id, row) => this.add(id, at, row, TENANT_WIDTH));
    this.add(hostSeries(hostId), at, decodeVector(hostValues, HOST_WIDTH), HOST_WIDTH);
  }
}

/**
 * Merge the accumulators into the `minute` and `hour` rows (inside the caller's transaction, which must hold
 * ROLLUP_LOCK or otherwise be the only writer of these rows): existing rows read FOR UPDATE, merged, written.
 */
export async function mergeRollups(c: pg.PoolClient, accs: TierAccs): Promise<{ minuteRows: number; hourRows: number }> {
  const w = new Writer(1024);
  const rows = { minute: 0, hour: 0 };
  for (const tier of ['minute', 'hour'] as const) {
    const entries = [...accs[tier].values()];
    for (let i = 0; i < entries.length; i += CHUNK) {
      const chunk = entries.slice(i, i + CHUNK);
      const series = chunk.map((e) => e.series);
      const buckets = chunk.map((e) => e.bucket);
      const existing = await c.query<{ series: number; bucket: number; data: Buffer }>(
        `SELECT t.series, t.bucket, t.data FROM ${tier} t JOIN unnest($1::bigint[], $2::bigint[]) AS u(s, b) ON t.series = u.s AND t.bucket = u.b FOR UPDATE OF t`,
        [series, buckets],
      );
      await yieldToLoop();
      for (const r of existing.rows) {
        const e = accs[tier].get(`${r.series}:${r.bucket}`)!;
        const width = widthOf(e.series);
        const old = decodeAcc(r.data, width);
        accMerge(old, e.acc, width);
        e.acc = old;
      }
      await c.query(
        `INSERT INTO ${tier} (series, bucket, data) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])
         ON CONFLICT (series, bucket) DO UPDATE SET data = excluded.data`,
        [series, buckets, chunk.map((e) => Buffer.from(encodeAcc(e.acc, widthOf(e.series), w)))],
      );
      rows[tier] += chunk.length;
      await yieldToLoop();
    }
  }
  return { minuteRows: rows.minute, hourRows: rows.hour };
}

export interface DrainResult {
  reports: number;
  /** Hosts whose reports were drained. */
  hosts: number;
  minuteRows: number;
  hourRows: number;
  /** Another controller holds ROLLUP_LOCK: it drains. */
  busy: boolean;
}

/**
 * One drain transaction: up to `max` queued reports into the rollups; with `before`, only reports of times
 * before it (the controller passes the start of the current minute: a minute's row is then written about once,
 * when the minute is over, instead of once per drain that finds a report of it).
 */
export async function drainOnce(db: PgDatabase, max = DRAIN_BATCH, before: number | null = null): Promise<DrainResult> {
  return db.tx(async (c) => {
    const lock = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [ROLLUP_LOCK]);
    if (!lock.rows[0]!.ok) return { reports: 0, hosts: 0, minuteRows: 0, hourRows: 0, busy: true };
    const taken = await c.query<{ host_id: number; at: number; samples: Buffer; host_values: Buffer }>(
      `WITH d AS (DELETE FROM rollup_queue WHERE report_id IN (
           SELECT q.report_id FROM rollup_queue q JOIN reports r ON r.id = q.report_id WHERE $2::bigint IS NULL OR r.at < $2 ORDER BY q.report_id LIMIT $1) RETURNING report_id)
       SELECT r.host_id, r.at, r.samples, r.host_values FROM reports r JOIN d ON d.report_id = r.id`,
      [max, before],
    );
    if (taken.rows.length === 0) return { reports: 0, hosts: 0, minuteRows: 0, hourRows: 0, busy: false };
    const accs = new TierAccs();
    for (const [i, r] of taken.rows.entries()) {
      accs.addReport(r.host_id, r.at, r.samples, r.host_values);
      // Reports waiting on this controller's event loop are not held up by a whole batch's arithmetic.
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToLoop();
    }
    return { reports: taken.rows.length, hosts: new Set(taken.rows.map((r) => r.host_id)).size, ...(await mergeRollups(c, accs)), busy: false };
  });
}

/** Drain until the queue is empty (or another controller is draining). */
export async function drainAll(db: PgDatabase): Promise<DrainResult> {
  const total: DrainResult = { reports: 0, hosts: 0, minuteRows: 0, hourRows: 0, busy: false };
  for (;;) {
    const r = await drainOnce(db);
    total.reports += r.reports;
    total.hosts += r.hosts;
    total.minuteRows += r.minuteRows;
    total.hourRows += r.hourRows;
    total.busy = r.busy;
    if (r.busy || r.reports < DRAIN_BATCH) return total;
  }
}

/** The statement reading a tier's blobs and the queued reports' raw rows of one series in [from, to). */
export function tierWithQueueSql(tier: 'minute' | 'hour', tenantSeries: boolean): string {
  return `SELECT false AS raw, bucket AS at, data FROM ${tier} WHERE series = $1 AND bucket >= $2 AND bucket < $3
    UNION ALL
    SELECT true, r.at, r.${tenantSeries ? 'samples' : 'host_values'} FROM reports r JOIN rollup_queue q ON q.report_id = r.id
    WHERE r.host_id = $4 AND r.at >= $2 AND r.at < $3`;
}
