// Compact binary rows for history. Values are quantized integers (see catalog.ts) written as zigzag varints,
// with a bit mask of the metrics present, so a typical tenant sample takes 30-60 bytes on disk instead of the
// 400-600 bytes of its JSON. Integers up to 2^52 in magnitude round-trip exactly (sums of an hour of memory
// samples of a 1 TiB host stay far below that).
//
// What it refuses: a varint holds an integer 0..2^53-1 in at most 8 bytes (the space the writer reserves),
// so a zigzag value is an integer in -2^52..2^52-1. Anything else (NaN, Infinity, a fraction, a negative
// where the varint is unsigned, a magnitude beyond those) throws a CodecError before a byte is written,
// never loops or overruns; the reader refuses a varint longer than 8 bytes or above 2^53-1. Agents' values
// are kept within these by the wire schemas' ranges (shared/wire/bounds.ts) and the ledger's by its clamps
// (fairness.ts); a rollup's sum, the one value that grows with the number of samples, saturates at the
// zigzag range (writeAcc): its count and maximum stay exact, its average is then a lower bound.
//
// Formats (all varints unsigned LEB128 unless "zz" = zigzag):
//   vector:  mask, zz(value) for each bit set, in metric order
//   (a mask is a varint of up to MAX_METRICS bits: bits 0-30 are read and written as 32-bit integers, the bits
//   above as mask / 2^31, so a vector of 31 metrics or fewer is the same bytes as before the catalogs grew
//   past 31, and an older row read with a wider catalog has its newer metrics absent)
//   samples: version(1), n, then n times: series id, u16le payload length, vector   (raw tenant samples)
//   rollup:  version(1), n (samples), mask, then for each bit set: count, zz(sum), zz(max)

import { HostwardenError } from '../../shared/errors.js';

export const SAMPLES_VERSION = 1;
export const ROLLUP_VERSION = 1;
const MAX_METRICS = 52; // a mask is a varint, at most 2^53-1: 31 low bits in an integer, the rest above 2^31
const LOW_BITS = 31;
const HIGH = 2 ** LOW_BITS;
/** Largest varint: 2^53-1 (8 bytes of 7 bits hold 2^56; a double holds integers exactly up to 2^53). */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER;
/** Zigzag range: the integers whose zigzag form is a varint. */
export const MAX_ZIGZAG = 2 ** 52 - 1;
export const MIN_ZIGZAG = -(2 ** 52);
/** Bytes of the longest varint. */
const MAX_VARINT_BYTES = 8;

/**
 * A history blob that cannot be read (truncated, too long a varint, a format this controller does not know)
 * or a value that cannot be written exactly (not a safe integer of the varint's or the zigzag's range).
 */
export class CodecError extends HostwardenError {
  constructor(message: string) {
    super('HW_CODEC', message);
  }
}

export class Writer {
  private buf: Uint8Array;
  pos = 0;
  constructor(initial = 4096) {
    this.buf = new Uint8Array(initial);
  }

  reset(): this {
    this.pos = 0;
    return this;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  varint(v: number): void {
    if (!(Number.isInteger(v) && v >= 0 && v <= MAX_VARINT)) throw new CodecError(`cannot encode ${v}: a varint holds an integer 0..2^53-1`);
    this.put(v);
  }

  zigzag(v: number): void {
    if (!(Number.isInteger(v) && v >= MIN_ZIGZAG && v <= MAX_ZIGZAG)) throw new CodecError(`cannot encode ${v}: a stored value is an integer -2^52..2^52-1`);
    this.put(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  /** The bytes of a varint already checked (an integer 0..MAX_VARINT). */
  private put(v: number): void {
    if (this.pos + MAX_VARINT_BYTES > this.buf.length) this.ensure(MAX_VARINT_BYTES);
    const b = this.buf;
    let p = this.pos;
    // Above 2^31 with float arithmetic, then in 32-bit integers (the same bytes, faster).
    while (v >= 0x80000000) {
      b[p++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    let i = v | 0;
    while (i >= 0x80) {
      b[p++] = (i & 0x7f) | 0x80;
      i >>>= 7;
    }
    b[p++] = i;
    this.pos = p;
  }

  u16At(at: number, v: number): void {
    this.buf[at] = v & 0xff;
    this.buf[at + 1] = v >>> 8;
  }

  skip(n: number): number {
    this.ensure(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** A copy of what was written (a Buffer, as SQLite drivers want). */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

export class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    const b = this.buf;
    let result = 0;
    let mul = 1;
    for (let n = 1; ; n++) {
      if (this.pos >= b.length) throw new CodecError('truncated varint');
      const byte = b[this.pos++]!;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) {
        if (result > MAX_VARINT) throw new CodecError(`varint ${result} above 2^53-1`);
        return result;
      }
      if (n === MAX_VARINT_BYTES) throw new CodecError('varint too long');
      mul *= 0x80;
    }
  }

  zigzag(): number {
    const z = this.varint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  u16(): number {
    if (this.pos + 2 > this.buf.length) throw new CodecError('truncated length');
    const v = this.buf[this.pos]! | (this.buf[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }
}

function checkWidth(width: number): void {
  if (width > MAX_METRICS) throw new CodecError(`at most ${MAX_METRICS} metrics per vector, got ${width}`);
}

/** Write `values[offset .. offset+width)` (NaN = absent) as mask + zigzag varints. */
export function writeVector(w: Writer, values: Float64Array, offset: number, width: number): void {
  let low = 0;
  let high = 0;
  const lowWidth = width < LOW_BITS ? width : LOW_BITS;
  for (let i = 0; i < lowWidth; i++) if (!Number.isNaN(values[offset + i])) low |= 1 << i;
  for (let i = LOW_BITS; i < width; i++) if (!Number.isNaN(values[offset + i])) high |= 1 << (i - LOW_BITS);
  w.varint(high === 0 ? low : low + high * HIGH);
  for (let i = 0; i < width; i++) {
    const v = values[offset + i]!;
    if (!Number.isNaN(v)) w.zigzag(v);
  }
}

/** Read a vector into `out[offset ..]`, NaN for absent metrics. */
export function readVector(r: Reader, out: Float64Array, offset: number, width: number): void {
  const mask = r.varint();
  const low = mask < HIGH ? mask : mask % HIGH;
  const high = mask < HIGH ? 0 : Math.floor(mask / HIGH);
  const lowWidth = width < LOW_BITS ? width : LOW_BITS;
  for (let i = 0; i < lowWidth; i++) out[offset + i] = low & (1 << i) ? r.zigzag() : Number.NaN;
  for (let i = LOW_BITS; i < width; i++) out[offset + i] = high & (1 << (i - LOW_BITS)) ? r.zigzag() : Number.NaN;
}

/** Whether bit `i` of a mask (up to MAX_METRICS bits) is set. */
function hasBit(mask: number, i: number): boolean {
  return i < LOW_BITS ? ((mask < HIGH ? mask : mask % HIGH) & (1 << i)) !== 0 : (Math.floor(mask / HIGH) & (1 << (i - LOW_BITS))) !== 0;
}

/** A mask with bit `i` set for each `i` where `present(i)`. */
function maskOf(width: number, present: (i: number) => boolean): number {
  let low = 0;
  let high = 0;
  for (let i = 0; i < width; i++) {
    if (!present(i)) continue;
    if (i < LOW_BITS) low |= 1 << i;
    else high |= 1 << (i - LOW_BITS);
  }
  return high === 0 ? low : low + high * HIGH;
}

export function encodeVector(values: Float64Array, width: number, w = new Writer(256)): Buffer {
  checkWidth(width);
  w.reset();
  writeVector(w, values, 0, width);
  return w.take();
}

export function decodeVector(bytes: Uint8Array, width: number): Float64Array {
  const out = new Float64Array(width);
  readVector(new Reader(bytes), out, 0, width);
  return out;
}

/** Encode n samples: ids[k] with values[k*width ..]. */
export function encodeSamples(ids: ArrayLike<number>, values: Float64Array, n: number, width: number, w = new Writer(64 * 1024)): Buffer {
  checkWidth(width);
  w.reset();
  w.varint(SAMPLES_VERSION);
  w.varint(n);
  for (let k = 0; k < n; k++) {
    w.varint(ids[k]!);
    const lenAt = w.skip(2);
    writeVector(w, values, k * width, width);
    w.u16At(lenAt, w.pos - lenAt - 2);
  }
  return w.take();
}

function samplesReader(bytes: Uint8Array): { r: Reader; n: number } {
  const r = new Reader(bytes);
  const version = r.varint();
  if (version !== SAMPLES_VERSION) throw new CodecError(`unknown samples format ${version}`);
  return { r, n: r.varint() };
}

/** Call `fn(id, row)` for every sample; `row` is reused between calls. */
export function forEachSample(bytes: Uint8Array, width: number, fn: (id: number, row: Float64Array) => void): void {
  const { r, n } = samplesReader(bytes);
  const row = new Float64Array(width);
  for (let k = 0; k < n; k++) {
    const id = r.varint();
    r.u16();
    readVector(r, row, 0, width);
    fn(id, row);
  }
}

/** The vector of one series in a samples blob, skipping the others without decoding them. */
export function findSample(bytes: Uint8Array, id: number, width: number, out = new Float64Array(width)): Float64Array | undefined {
  const { r, n } = samplesReader(bytes);
  for (let k = 0; k < n; k++) {
    const sid = r.varint();
    const len = r.u16();
    if (sid === id) {
      readVector(r, out, 0, width);
      return out;
    }
    r.pos += len;
  }
  return undefined;
}

// --- rollup accumulators -----------------------------------------------------------------------------------
/**
 * Count, sum and maximum of each metric over a bucket, plus the number of samples. `v[3i]` = count,
 * `v[3i+1]` = sum, `v[3i+2]` = max (-Infinity while count is 0).
 */
export interface Acc {
  n: number;
  v: Float64Array;
}

const EMPTY = new Map<number, Float64Array>();

export function newAcc(width: number): Acc {
  let empty = EMPTY.get(width);
  if (!empty) {
    empty = new Float64Array(width * 3);
    for (let i = 0; i < width; i++) empty[3 * i + 2] = Number.NEGATIVE_INFINITY;
    EMPTY.set(width, empty);
  }
  return { n: 0, v: empty.slice() };
}

/** Add one sample vector (NaN = absent). */
export function accAdd(acc: Acc, row: Float64Array, offset: number, width: number): void {
  acc.n++;
  const v = acc.v;
  for (let i = 0; i < width; i++) {
    const x = row[offset + i]!;
    if (Number.isNaN(x)) continue;
    const j = 3 * i;
    v[j]!++;
    v[j + 1]! += x;
    if (x > v[j + 2]!) v[j + 2] = x;
  }
}

export function accMerge(into: Acc, from: Acc, width: number): void {
  into.n += from.n;
  const a = into.v;
  const b = from.v;
  for (let i = 0; i < width; i++) {
    const j = 3 * i;
    if (b[j] === 0) continue;
    a[j]! += b[j]!;
    a[j + 1]! += b[j + 1]!;
    if (b[j + 2]! > a[j + 2]!) a[j + 2] = b[j + 2]!;
  }
}

export function writeAcc(w: Writer, acc: Acc, width: number): void {
  checkWidth(width);
  w.varint(ROLLUP_VERSION);
  w.varint(acc.n);
  const mask = maskOf(width, (i) => acc.v[3 * i]! > 0);
  w.varint(mask);
  for (let i = 0; i < width; i++) {
    if (!(acc.v[3 * i]! > 0)) continue;
    w.varint(acc.v[3 * i]!);
    w.zigzag(saturated(acc.v[3 * i + 1]!));
    w.zigzag(acc.v[3 * i + 2]!);
  }
}

/** A rollup sum as stored: beyond the zigzag range it saturates (count and max stay exact; see the header). */
export function saturated(sum: number): number {
  return sum > MAX_ZIGZAG ? MAX_ZIGZAG : sum < MIN_ZIGZAG ? MIN_ZIGZAG : sum;
}

export function encodeAcc(acc: Acc, width: number, w = new Writer(512)): Buffer {
  w.reset();
  writeAcc(w, acc, width);
  return w.take();
}

export function readAcc(r: Reader, width: number, into?: Acc): Acc {
  const version = r.varint();
  if (version !== ROLLUP_VERSION) throw new CodecError(`unknown rollup format ${version}`);
  const acc = into ?? newAcc(width);
  const n = r.varint();
  const mask = r.varint();
  const v = acc.v;
  acc.n += n;
  for (let i = 0; i < width; i++) {
    if (!hasBit(mask, i)) continue;
    const j = 3 * i;
    v[j]! += r.varint();
    v[j + 1]! += r.zigzag();
    const max = r.zigzag();
    if (max > v[j + 2]!) v[j + 2] = max;
  }
  return acc;
}

/** Decode a rollup blob; with `into`, merge it into an existing accumulator instead. */
export function decodeAcc(bytes: Uint8Array, width: number, into?: Acc): Acc {
  return readAcc(new Reader(bytes), width, into);
}
