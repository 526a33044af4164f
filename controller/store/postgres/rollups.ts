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
// PostgreSQL. Drained in batches, a row is rewritten about once per drain that holds its host's reports: a
// drain takes whole hosts' queued minutes in (host, time) order, the minutes that are over of the hosts whose
// oldest queued minute is rollup.flush_interval old (pg-store.ts flush, DrainWindow), so a minute row is
// written about once and an hour row about once per flush interval, as SQLite writes them from memory (a report
// that comes late is merged into its rows by the next drain of its host).
import type pg from 'pg';
import { HOST_WIDTH, TENANT_WIDTH } from '../../history/catalog.js';
import { accAdd, accMerge, decodeAcc, decodeVector, encodeAcc, forEachSample, newAcc, type Acc, Writer } from '../../history/codec.js';
import { floorTo, HOUR_MS, MINUTE_MS } from '../../history/rollup.js';
import { hostSeries, widthOf } from '../../history/series.js';
import type { PgDatabase } from './db.js';
import { binaryArray } from './binary-array.js';

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

/** One tier's accumulators of a batch: bucket -> series -> entry (a report's samples share their bucket). */
class TierMap {
  private readonly buckets = new Map<number, Map<number, Entry>>();

  /** The accumulators of `bucket` (made when missing). */
  bucket(bucket: number): Map<number, Entry> {
    let m = this.buckets.get(bucket);
    if (!m) this.buckets.set(bucket, (m = new Map()));
    return m;
  }

  get(series: number, bucket: number): Entry | undefined {
    return this.buckets.get(bucket)?.get(series);
  }

  *values(): IterableIterator<Entry> {
    for (const m of this.buckets.values()) yield* m.values();
  }
}

function addTo(m: Map<number, Entry>, series: number, bucket: number, row: Float64Array, width: number): void {
  let e = m.get(series);
  if (!e) m.set(series, (e = { series, bucket, acc: newAcc(width) }));
  accAdd(e.acc, row, 0, width);
}

/** Accumulators of a batch, per tier. */
export class TierAccs {
  readonly minute = new TierMap();
  readonly hour = new TierMap();

  /** Add one row (a sample of `series` at `at`) to its minute and its hour. */
  add(series: number, at: number, row: Float64Array, width: number): void {
    const minute = floorTo(at, MINUTE_MS);
    const hour = floorTo(at, HOUR_MS);
    addTo(this.minute.bucket(minute), series, minute, row, width);
    addTo(this.hour.bucket(hour), series, hour, row, width);
  }

  /** A stored report's samples and host vector (the buckets looked up once a report, the series per sample). */
  addReport(hostId: number, at: number, samples: Buffer, hostValues: Buffer): void {
    const minute = floorTo(at, MINUTE_MS);
    const hour = floorTo(at, HOUR_MS);
    const m = this.minute.bucket(minute);
    const h = this.hour.bucket(hour);
    forEachSample(samples, TENANT_WIDTH, (id, row) => {
      addTo(m, id, minute, row, TENANT_WIDTH);
      addTo(h, id, hour, row, TENANT_WIDTH);
    });
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
        [binaryArray('int8', series), binaryArray('int8', buckets)],
      );
      await yieldToLoop();
      for (const r of existing.rows) {
        const e = accs[tier].get(r.series, r.bucket)!;
        const width = widthOf(e.series);
        const old = decodeAcc(r.data, width);
        accMerge(old, e.acc, width);
        e.acc = old;
      }
      // The rows' blobs go as one binary parameter cut by offsets in the statement: a bytea[] parameter would
      // go as text, every byte hex-escaped (twice the bytes, and the most time of a drain's writes).
      const blobs = chunk.map((e) => Buffer.from(encodeAcc(e.acc, widthOf(e.series), w)));
      const starts: number[] = [];
      let at = 1;
      for (const b of blobs) {
        starts.push(at);
        at += b.length;
      }
      await c.query(
        `INSERT INTO ${tier} (series, bucket, data)
         SELECT u.s, u.b, substring($3::bytea FROM u.o FOR u.l) FROM unnest($1::bigint[], $2::bigint[], $4::int[], $5::int[]) AS u(s, b, o, l)
         ON CONFLICT (series, bucket) DO UPDATE SET data = excluded.data`,
        [binaryArray('int8', series), binaryArray('int8', buckets), Buffer.concat(blobs), binaryArray('int4', starts), binaryArray('int4', blobs.map((b) => b.length))],
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
 * Which queued reports a drain takes (all of them without one):
 *   before     a host's reports of times before it (the controller passes the start of the current minute, less
 *              a grace: a minute row is then written once, when the minute is over);
 *   dueBefore  only hosts whose oldest queued report is before it (the controller passes `before` less its
 *              rollup.flush_interval: a host's minutes are held in the queue for that long, so its hour rows are
 *              rewritten once per interval instead of once a minute, as SQLite holds them in memory);
 *   idleBefore and, whatever their age, every queued report of a host whose newest was received before it
 *              (a host gone silent: SQLite's IDLE_FLUSH_MS).
 */
export interface DrainWindow {
  before: number;
  dueBefore: number;
  idleBefore: number;
}

/** Queued reports taken: a window's due hosts, else every host, in (host, time) order. */
function takeSql(window: boolean): string {
  const pick = window
    ? `WITH due AS (SELECT q.host_id, bool_or(h.last_seen < $4) AS idle FROM rollup_queue q JOIN hosts h ON h.id = q.host_id
                   GROUP BY q.host_id HAVING min(q.at) < $3 OR bool_or(h.last_seen < $4)),
       pick AS (SELECT q.report_id FROM rollup_queue q JOIN due ON due.host_id = q.host_id WHERE due.idle OR q.at < $2 ORDER BY q.host_id, q.at LIMIT $1)`
    : `WITH pick AS (SELECT report_id FROM rollup_queue ORDER BY host_id, at LIMIT $1)`;
  return `${pick},
       d AS (DELETE FROM rollup_queue WHERE report_id IN (SELECT report_id FROM pick) RETURNING report_id)
     SELECT r.host_id, r.at, r.samples, r.host_values FROM reports r JOIN d ON d.report_id = r.id`;
}

/**
 * One drain transaction: up to `max` queued reports into the rollups, whole hosts' runs of minutes at a time
 * (the reports in host and time order: a batch of a fleet's reports in arrival order held a report or two of
 * every host, and each batch rewrote every tenant's minute and hour rows again); with `window`, only what is
 * due (DrainWindow).
 */
export async function drainOnce(db: PgDatabase, max = DRAIN_BATCH, window: DrainWindow | null = null): Promise<DrainResult> {
  return db.tx(async (c) => {
    const lock = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [ROLLUP_LOCK]);
    if (!lock.rows[0]!.ok) return { reports: 0, hosts: 0, minuteRows: 0, hourRows: 0, busy: true };
    const taken = await c.query<{ host_id: number; at: number; samples: Buffer; host_values: Buffer }>(
      takeSql(window !== null),
      window ? [max, window.before, window.dueBefore, window.idleBefore] : [max],
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
