// One host's minute of rollups in memory, awaiting its flush. Open, it holds an accumulator per series; once
// the minute is over it is closed into one buffer of encoded rows (codec.ts) with a sorted index of series,
// about 180 bytes a tenant instead of an accumulator's 700 and an object per row. A report that still arrives
// for a closed minute is kept beside it and merged when the rows are read.
import { accAdd, accMerge, decodeAcc, newAcc, writeAcc, type Acc, type Writer } from './codec.js';

/** Accumulators per slab of an open minute. */
const SLAB_ACCS = 64;

export class MinuteBucket {
  private open: Map<number, Acc> | undefined = new Map();
  private ids: Int32Array | undefined;
  private offsets: Uint32Array | undefined;
  private data: Buffer | undefined;
  private late: Map<number, Acc> | undefined;
  private slab: Float64Array | undefined;
  private slabPos = 0;

  /** @param widthOf the number of metrics of a series */
  constructor(private readonly widthOf: (series: number) => number) {}

  get closed(): boolean {
    return this.open === undefined;
  }

  /** Series held. */
  get size(): number {
    if (this.open) return this.open.size;
    let n = this.ids!.length;
    if (this.late) for (const s of this.late.keys()) if (this.indexOf(s) < 0) n++;
    return n;
  }

  /** Add one sample vector of a series. */
  add(series: number, row: Float64Array, offset: number, width: number): void {
    const map = this.open ?? (this.late ??= new Map());
    let acc = map.get(series);
    if (!acc) map.set(series, (acc = this.open ? this.newOpenAcc(width) : newAcc(width)));
    accAdd(acc, row, offset, width);
  }

  /**
   * An empty accumulator of the open minute, carved from a slab shared by the minute's series: one
   * allocation per SLAB_ACCS series instead of one each (the ingest path's; the slab goes with the minute).
   */
  private newOpenAcc(width: number): Acc {
    const len = 3 * width;
    if (!this.slab || this.slabPos + len > this.slab.length) {
      this.slab = new Float64Array(Math.max(len, SLAB_ACCS * len));
      this.slabPos = 0;
    }
    const v = this.slab.subarray(this.slabPos, this.slabPos + len);
    this.slabPos += len;
    for (let j = 2; j < len; j += 3) v[j] = Number.NEGATIVE_INFINITY;
    return { n: 0, v };
  }

  /** Encode the accumulators into one buffer (the minute is over). */
  close(w: Writer): void {
    if (!this.open) return;
    const ids = Int32Array.from(this.open.keys()).sort();
    const offsets = new Uint32Array(ids.length + 1);
    w.reset();
    ids.forEach((series, i) => {
      offsets[i] = w.pos;
      writeAcc(w, this.open!.get(series)!, this.widthOf(series));
    });
    offsets[ids.length] = w.pos;
    this.ids = ids;
    this.offsets = offsets;
    this.data = w.take();
    this.open = undefined;
    this.slab = undefined;
  }

  private indexOf(series: number): number {
    const ids = this.ids!;
    let lo = 0;
    let hi = ids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = ids[mid]!;
      if (v === series) return mid;
      if (v < series) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private blob(i: number): Buffer {
    return this.data!.subarray(this.offsets![i], this.offsets![i + 1]);
  }

  /** The series' accumulator (a copy the caller may keep), or undefined when it has no sample here. */
  get(series: number): Acc | undefined {
    const width = this.widthOf(series);
    if (this.open) {
      const acc = this.open.get(series);
      if (!acc) return undefined;
      const copy = newAcc(width);
      accMerge(copy, acc, width);
      return copy;
    }
    const i = this.indexOf(series);
    const late = this.late?.get(series);
    if (i < 0 && !late) return undefined;
    const acc = i >= 0 ? decodeAcc(this.blob(i), width) : newAcc(width);
    if (late) accMerge(acc, late, width);
    return acc;
  }

  /** Every series with its row: an encoded row where there is one, else an accumulator. */
  *rows(): Iterable<[number, Buffer | Acc]> {
    if (this.open) {
      yield* this.open;
      return;
    }
    const ids = this.ids!;
    for (let i = 0; i < ids.length; i++) {
      const series = ids[i]!;
      const late = this.late?.get(series);
      if (!late) yield [series, this.blob(i)];
      else {
        const width = this.widthOf(series);
        const acc = decodeAcc(this.blob(i), width);
        accMerge(acc, late, width);
        yield [series, acc];
      }
    }
    if (this.late) for (const [series, acc] of this.late) if (this.indexOf(series) < 0) yield [series, acc];
  }
}
