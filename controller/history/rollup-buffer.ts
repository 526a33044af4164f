// One host's minutes of rollups held in memory between flushes, and the arithmetic of when they are written.
// Pure: it never touches the database; the store writes what `take` hands it and then calls `written`.
//
// Each report is added to the minute bucket of its time (bucket.ts). The minutes before the newest report's
// minute are complete and get encoded ("closed"); the minutes before the cut are due once they add up to the
// flush interval, or as soon as the host went silent (IDLE_FLUSH_MS). `watermark` is the first minute not yet
// on disk: a report older than it is no longer buffered (the store merges it into the tables directly), and
// after a restart the raw rows from the watermark on are replayed into a fresh buffer (`replay`).
import { MinuteBucket } from './bucket.js';
import { HOST_WIDTH, TENANT_WIDTH } from './catalog.js';
import { accAdd, decodeAcc, decodeVector, encodeAcc, forEachSample, newAcc, type Acc, type Writer } from './codec.js';
import { floorTo, HOUR_MS, MINUTE_MS, type Bucketer } from './rollup.js';
import { widthOf } from './series.js';

/** Reports dated further ahead of the controller's clock than this are refused (a broken agent clock). */
export const MAX_CLOCK_AHEAD_MS = 10 * 60_000;
/** A host silent this long has its open minutes flushed by the periodic flush. */
export const IDLE_FLUSH_MS = 2 * 60_000;

/** One minute row to write: the bucket's row as held (encoded or not) and its encoding. */
export interface MinuteRow {
  series: number;
  minute: number;
  row: Buffer | Acc;
  blob: Buffer;
}

/** What a flush writes: the minute rows before `cut`, and their sums per hour to merge into the hour rows. */
export interface FlushPlan {
  cut: number;
  minutes: number[];
  rows: MinuteRow[];
  /** Hour start -> series -> the sum of that series' minute rows of the hour in this plan. */
  hours: Map<number, Map<number, Acc>>;
}

/** The accumulators of one report, one per series (its tenants and the host): for a report too late to buffer. */
export function reportAccumulators(ids: ArrayLike<number>, values: Float64Array, n: number, hostSeries: number, hostValues: Float64Array): Map<number, Acc> {
  const perSeries = new Map<number, Acc>();
  for (let k = 0; k < n; k++) {
    const acc = newAcc(TENANT_WIDTH);
    accAdd(acc, values, k * TENANT_WIDTH, TENANT_WIDTH);
    perSeries.set(ids[k]!, acc);
  }
  const hostAcc = newAcc(HOST_WIDTH);
  accAdd(hostAcc, hostValues, 0, HOST_WIDTH);
  perSeries.set(hostSeries, hostAcc);
  return perSeries;
}

export class HostRollups {
  private readonly buckets = new Map<number, MinuteBucket>();
  /** Newest report time seen (-Infinity before the first). */
  private maxAt = Number.NEGATIVE_INFINITY;

  /**
   * @param watermark the first minute not on disk (null before the host's first report)
   * @param writer scratch space for encoding (shared: callers are synchronous)
   */
  constructor(
    public watermark: number | null,
    private readonly writer: Writer,
    private readonly smallWriter: Writer,
  ) {}

  /** Minute buckets held (open and closed). */
  get size(): number {
    return this.buckets.size;
  }

  /** True when a report at `at` falls before the watermark: its minute is on disk already. */
  isLate(at: number): boolean {
    return this.watermark !== null && floorTo(at, MINUTE_MS) < this.watermark;
  }

  /** Add a report: `n` tenant vectors (series `ids[k]`, values from k * TENANT_WIDTH) and the host's vector. */
  add(at: number, ids: ArrayLike<number>, values: Float64Array, n: number, hostSeries: number, hostValues: Float64Array): void {
    const bucket = this.bucketFor(floorTo(at, MINUTE_MS));
    for (let k = 0; k < n; k++) bucket.add(ids[k]!, values, k * TENANT_WIDTH, TENANT_WIDTH);
    bucket.add(hostSeries, hostValues, 0, HOST_WIDTH);
  }

  /** Replay a raw row (encoded samples and host vector) into its minute; `onSample` sees every tenant row. */
  replay(at: number, samples: Uint8Array, hostValues: Uint8Array, hostSeries: number, onSample: (series: number, row: Float64Array) => void): void {
    const bucket = this.bucketFor(floorTo(at, MINUTE_MS));
    forEachSample(samples, TENANT_WIDTH, (series, row) => {
      bucket.add(series, row, 0, TENANT_WIDTH);
      onSample(series, row);
    });
    bucket.add(hostSeries, decodeVector(hostValues, HOST_WIDTH), 0, HOST_WIDTH);
    this.maxAt = Math.max(this.maxAt, at);
  }

  /** A report at `at` was stored (buffered or merged): encode the minutes before its minute, now complete. */
  seen(at: number): void {
    this.maxAt = Math.max(this.maxAt, at);
    this.closeComplete();
  }

  /** Encode the minutes before the newest report's minute: they are complete. */
  closeComplete(): void {
    const current = floorTo(this.maxAt, MINUTE_MS);
    for (const [minute, b] of this.buckets) if (!b.closed && minute < current) b.close(this.writer);
  }

  private bucketFor(minute: number): MinuteBucket {
    let b = this.buckets.get(minute);
    if (!b) {
      b = new MinuteBucket(widthOf);
      this.buckets.set(minute, b);
    }
    return b;
  }

  private static idle(now: number, lastSeen: number | null): boolean {
    return lastSeen !== null && now - lastSeen >= IDLE_FLUSH_MS;
  }

  /** The minute before which buckets are written now: the current minute, or all of them once the host is idle. */
  cutFor(now: number, lastSeen: number | null): number {
    if (this.maxAt === Number.NEGATIVE_INFINITY) return this.watermark ?? 0;
    const current = floorTo(Math.min(this.maxAt, now + MAX_CLOCK_AHEAD_MS), MINUTE_MS);
    return HostRollups.idle(now, lastSeen) ? current + MINUTE_MS : current;
  }

  /** The cut that writes every bucket held (shutdown). */
  cutAll(): number {
    return this.buckets.size ? Math.max(...this.buckets.keys()) + MINUTE_MS : (this.watermark ?? 0);
  }

  /** True when a flush interval of complete minutes is held, or the host went silent with minutes held. */
  isDue(now: number, lastSeen: number | null, flushIntervalMs: number): boolean {
    if (this.watermark === null || this.buckets.size === 0) return false;
    const cut = this.cutFor(now, lastSeen);
    return cut - this.watermark >= flushIntervalMs || (HostRollups.idle(now, lastSeen) && cut > this.watermark);
  }

  /** The rows to write for the minutes before `cut` (nothing is removed until `written`). */
  take(cut: number): FlushPlan {
    const minutes = [...this.buckets.keys()].filter((m) => m < cut).sort((a, b) => a - b);
    const rows: MinuteRow[] = [];
    const hours = new Map<number, Map<number, Acc>>();
    for (const minute of minutes) {
      const hourStart = floorTo(minute, HOUR_MS);
      let perSeries = hours.get(hourStart);
      if (!perSeries) hours.set(hourStart, (perSeries = new Map()));
      for (const [series, row] of this.buckets.get(minute)!.rows()) {
        const width = widthOf(series);
        const blob = Buffer.isBuffer(row) ? row : encodeAcc(row, width, this.smallWriter);
        rows.push({ series, minute, row, blob });
        const hour = perSeries.get(series);
        if (hour) decodeAcc(blob, width, hour);
        else perSeries.set(series, decodeAcc(blob, width));
      }
    }
    return { cut, minutes, rows, hours };
  }

  /** The plan is on disk: drop its minutes and move the watermark to its cut. */
  written(plan: FlushPlan): void {
    for (const m of plan.minutes) this.buckets.delete(m);
    this.watermark = plan.cut;
  }

  /** Feed the buffered rows of a series in [from, to) into a bucketer (queries add them to the stored rows). */
  collect(series: number, from: number, to: number, out: Bucketer): void {
    for (const [minute, bucket] of this.buckets) {
      if (minute < from || minute >= to) continue;
      const acc = bucket.get(series);
      if (acc) out.add(minute, acc, true);
    }
  }
}
