// A fast path for report bodies. JSON.parse builds ~25 objects per tenant sample only for ingest to pick ~30
// numbers out of them again; at 300+ tenants per report that is most of the cost of a report. This scanner
// reads the `samples` array straight from the bytes into the quantized vectors, checking every value against
// the same rules as TenantSampleSchema; everything else in the report (a few hundred bytes) goes through
// JSON.parse and the schema as usual.
//
// It is a fast path only: anything it does not handle exactly (an unknown key, an escape in a string, a
// number in exponent form it cannot convert exactly, a value out of range, a duplicate key, malformed JSON)
// makes it give up, and the caller runs the full JSON.parse + schema path, which strips unknown fields,
// refuses the samples that are out of range alone and names them (items.ts). So it never refuses a valid
// report and never accepts an invalid sample, as long as every check below is at least as strict as the
// schema's: the upper bounds are read from the schemas themselves (test/unit/controller/ingest/
// fast-report.test.ts compares both paths on generated valid and invalid samples).
import type { TObject } from 'typebox';
import { ApiSampleSchema, BandwidthSampleSchema, CpuSampleSchema, InodesSampleSchema, IoSampleSchema, MemorySampleSchema, ProcessesSampleSchema, PsiLineSchema, TenantSampleSchema } from '../../shared/wire/agent.js';
import { TENANT_INDEX, TENANT_SCALE, TENANT_WIDTH } from '../history/catalog.js';

// Byte constants.
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

/**
 * Keys of one object level. `match` finds a key's index from its bytes without making a string: the length
 * and the byte at one position within the shortest key (chosen so no two keys share both) pick the
 * candidate, then its bytes are compared.
 */
class Keys {
  readonly bytes: Uint8Array[];
  private readonly at: number;
  private readonly table = new Int8Array(64 * 256).fill(-1);
  constructor(readonly names: readonly string[]) {
    this.bytes = names.map(enc);
    const shortest = Math.min(...this.bytes.map((k) => k.length));
    let at = -1;
    for (let p = 0; p < shortest && at < 0; p++) {
      const sigs = new Set(this.bytes.map((k) => k.length * 256 + k[p]!));
      if (sigs.size === this.bytes.length) at = p;
    }
    if (at < 0 || this.bytes.some((k) => k.length >= 64)) throw new Error(`keys ${names.join(', ')} cannot be told apart`);
    this.at = at;
    this.shortest = shortest;
    this.bytes.forEach((k, i) => (this.table[k.length * 256 + k[at]!] = i));
  }

  private readonly shortest: number;

  match(buf: Uint8Array, start: number, len: number): number {
    if (len >= 64 || len < this.shortest) return -1;
    const i = this.table[len * 256 + buf[start + this.at]!]!;
    if (i < 0) return -1;
    const k = this.bytes[i]!;
    for (let j = 0; j < len; j++) if (buf[start + j] !== k[j]) return -1;
    return i;
  }
}

/** An object whose members are all numbers: keys, the check of each (kind, maximum), where it goes and its scale. */
interface Flat {
  keys: Keys;
  kinds: Int8Array;
  maxima: Float64Array;
  slots: Int16Array;
  scales: Float64Array;
  required: number;
}

/** The `maximum` the schema gives member `key` of `schema` (every number on the wire has one). */
function maximumOf(schema: TObject, key: string): number {
  const max = (schema.properties[key] as { maximum?: unknown } | undefined)?.maximum;
  if (typeof max !== 'number') throw new Error(`wire schema member ${key} has no maximum`);
  return max;
}

function flatOf(schema: TObject, names: string[], kinds: number[], slots: number[], scales: number[]): Flat {
  return {
    keys: new Keys(names),
    kinds: Int8Array.from(kinds),
    maxima: Float64Array.from(names.map((n) => maximumOf(schema, n))),
    slots: Int16Array.from(slots),
    scales: Float64Array.from(scales),
    required: (1 << names.length) - 1,
  };
}

/** Value kinds and their checks (TenantSampleSchema); the maximum comes from the schema. */
const NONNEG = 0; // Number, minimum 0
const COUNT = 1; // Integer, minimum 0

const SAMPLE_KEYS = new Keys(['tenant', 'cpu', 'memory', 'io', 'processes', 'bandwidth', 'inodes', 'api', 'pressure', 'strays', 'frozen', 'throttle_level']);
const PRESSURE_KEYS = new Keys(['cpu', 'memory', 'io']);
const PSI_KEYS = new Keys(['some', 'full']);
const CPU = flatOf(CpuSampleSchema, ['percent'], [NONNEG], [TENANT_INDEX.cpu_percent], [TENANT_SCALE.cpu_percent]);
const MEMORY = flatOf(MemorySampleSchema, ['current', 'anon', 'file'], [COUNT, COUNT, COUNT], [TENANT_INDEX.memory_current, TENANT_INDEX.memory_anon, TENANT_INDEX.memory_file], [TENANT_SCALE.memory_current, TENANT_SCALE.memory_anon, TENANT_SCALE.memory_file]);
const IO = flatOf(IoSampleSchema, ['read_bps', 'write_bps', 'read_iops', 'write_iops'], [NONNEG, NONNEG, NONNEG, NONNEG], [TENANT_INDEX.io_read_bps, TENANT_INDEX.io_write_bps, TENANT_INDEX.io_read_iops, TENANT_INDEX.io_write_iops], [TENANT_SCALE.io_read_bps, TENANT_SCALE.io_write_bps, TENANT_SCALE.io_read_iops, TENANT_SCALE.io_write_iops]);
const PROCESSES = flatOf(ProcessesSampleSchema, ['count'], [COUNT], [TENANT_INDEX.processes], [TENANT_SCALE.processes]);
// web_tx_bps (optional) is checked and not kept: the web bytes are kept exactly per minute (web_minutes).
const BANDWIDTH = { ...flatOf(BandwidthSampleSchema, ['tx_bps', 'rx_bps', 'web_tx_bps'], [NONNEG, NONNEG, NONNEG], [TENANT_INDEX.bandwidth_tx_bps, TENANT_INDEX.bandwidth_rx_bps, -1], [TENANT_SCALE.bandwidth_tx_bps, TENANT_SCALE.bandwidth_rx_bps, 0]), required: 0b11 };
const INODES = flatOf(InodesSampleSchema, ['count'], [COUNT], [TENANT_INDEX.inodes], [TENANT_SCALE.inodes]);
const API = flatOf(ApiSampleSchema, ['per_minute'], [NONNEG], [TENANT_INDEX.api_per_minute], [TENANT_SCALE.api_per_minute]);
/** The members of a sample that are flat objects, by their index in SAMPLE_KEYS. */
const SAMPLE_FLATS: ReadonlyArray<Flat | undefined> = [undefined, CPU, MEMORY, IO, PROCESSES, BANDWIDTH, INODES, API];
/** A PSI line: only avg10 is kept, in the slot given by the caller, and only avg10 is required. */
const PSI_LINE = { ...flatOf(PsiLineSchema, ['avg10', 'avg60', 'avg300', 'total'], [NONNEG, NONNEG, NONNEG, COUNT], [-2, -1, -1, -1], [TENANT_SCALE.pressure_cpu_some, 0, 0, 0]), required: 1 };
const STRAYS_MAX = maximumOf(TenantSampleSchema, 'strays');
const THROTTLE_LEVEL_MAX = maximumOf(TenantSampleSchema, 'throttle_level');

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const MAX_EXACT = 2 ** 53;
const MAX_SAMPLES = 20000; // ReportSchema samples maxItems

class GiveUp extends Error {}
const GIVE_UP = new GiveUp();

class Scanner {
  pos = 0;
  num = 0;
  keyStart = 0;
  keyLen = 0;
  /** The same bytes as a Buffer, for making strings. */
  readonly text: Buffer;
  constructor(readonly buf: Uint8Array) {
    this.text = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  ws(): void {
    const b = this.buf;
    let p = this.pos;
    if (!(b[p]! <= 0x20)) return; // compact JSON: no white space at all
    for (;;) {
      const c = b[p];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  expect(c: number): void {
    this.ws();
    if (this.buf[this.pos] !== c) throw GIVE_UP;
    this.pos++;
  }

  /** After a member: true when another follows (","), false at the closing byte. */
  more(close: number): boolean {
    this.ws();
    const c = this.buf[this.pos];
    this.pos++;
    if (c === COMMA) return true;
    if (c === close) return false;
    throw GIVE_UP;
  }

  /** A key without escapes: sets keyStart/keyLen, consumes the colon. */
  key(): void {
    this.expect(QUOTE);
    const b = this.buf;
    const start = this.pos;
    let p = start;
    for (;;) {
      const c = b[p]!;
      if (c === QUOTE) break;
      if (!(c >= 0x20 && c <= 0x7e) || c === BACKSLASH) throw GIVE_UP; // (also past the end: undefined)
      p++;
    }
    this.keyStart = start;
    this.keyLen = p - start;
    this.pos = p + 1;
    this.expect(COLON);
    this.ws();
  }

  /** A JSON number into `num`; exact (Clinger's fast path) or through Number() of its text. */
  number(): void {
    const b = this.buf;
    const start = this.pos;
    let p = start;
    let neg = false;
    if (b[p] === MINUS) {
      neg = true;
      p++;
    }
    let c = b[p];
    if (c === undefined || c < ZERO || c > NINE) throw GIVE_UP;
    let m = 0;
    let digits = 0;
    if (c === ZERO) {
      p++;
      c = b[p];
      if (c !== undefined && c >= ZERO && c <= NINE) throw GIVE_UP; // leading zero: not JSON
    } else {
      while (c !== undefined && c >= ZERO && c <= NINE) {
        m = m * 10 + (c - ZERO);
        digits++;
        c = b[++p];
      }
    }
    let frac = 0;
    if (c === DOT) {
      c = b[++p];
      if (c === undefined || c < ZERO || c > NINE) throw GIVE_UP;
      while (c !== undefined && c >= ZERO && c <= NINE) {
        m = m * 10 + (c - ZERO);
        frac++;
        digits++;
        c = b[++p];
      }
    }
    let slow = digits > 15 || frac > 22 || m > MAX_EXACT;
    if (c === 0x65 || c === 0x45) {
      // Exponent: valid JSON, converted by Number() from its text.
      c = b[++p];
      if (c === 0x2b || c === MINUS) c = b[++p];
      if (c === undefined || c < ZERO || c > NINE) throw GIVE_UP;
      while (c !== undefined && c >= ZERO && c <= NINE) c = b[++p];
      slow = true;
    }
    this.pos = p;
    if (slow) {
      this.num = Number(this.text.toString('latin1', start, p));
      if (!Number.isFinite(this.num)) throw GIVE_UP;
      return;
    }
    const v = frac === 0 ? m : m / POW10[frac]!;
    this.num = neg ? -v : v;
  }

  /** A checked number of `kind`, 0..max. */
  value(kind: number, max: number): number {
    this.number();
    const v = this.num;
    if (!(v >= 0) || v > max) throw GIVE_UP;
    if (kind === COUNT && !Number.isInteger(v)) throw GIVE_UP;
    return v;
  }

  /** The tenant name: ASCII matching ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$. */
  tenant(): string {
    if (this.buf[this.pos] !== QUOTE) throw GIVE_UP;
    const b = this.buf;
    const start = this.pos + 1;
    let p = start;
    for (;;) {
      const c = b[p];
      if (c === QUOTE) break;
      const alnum = (c! >= 0x30 && c! <= 0x39) || (c! >= 0x41 && c! <= 0x5a) || (c! >= 0x61 && c! <= 0x7a);
      if (!alnum && (p === start || (c !== DOT && c !== 0x5f && c !== MINUS))) throw GIVE_UP;
      p++;
    }
    const len = p - start;
    if (len < 1 || len > 64) throw GIVE_UP;
    this.pos = p + 1;
    return this.text.toString('latin1', start, p);
  }

  literal(): boolean {
    const b = this.buf;
    const p = this.pos;
    if (b[p] === 0x74 && b[p + 1] === 0x72 && b[p + 2] === 0x75 && b[p + 3] === 0x65) {
      this.pos = p + 4;
      return true;
    }
    if (b[p] === 0x66 && b[p + 1] === 0x61 && b[p + 2] === 0x6c && b[p + 3] === 0x73 && b[p + 4] === 0x65) {
      this.pos = p + 5;
      return false;
    }
    throw GIVE_UP;
  }

  /**
   * An object of numbers, every key required, into out[offset + slot] quantized with its scale; slot -1 is
   * checked and dropped, slot -2 goes to `slot2`.
   */
  flat(f: Flat, out: Float64Array, offset: number, slot2: number): void {
    this.expect(LBRACE);
    this.ws();
    let seen = 0;
    if (this.buf[this.pos] === RBRACE) this.pos++;
    else {
      do {
        this.key();
        const i = f.keys.match(this.buf, this.keyStart, this.keyLen);
        if (i < 0 || seen & (1 << i)) throw GIVE_UP;
        seen |= 1 << i;
        const v = this.value(f.kinds[i]!, f.maxima[i]!);
        let slot = f.slots[i]!;
        if (slot === -2) slot = slot2;
        if (slot >= 0) out[offset + slot] = Math.round(v * f.scales[i]!);
      } while (this.more(RBRACE));
    }
    if ((seen & f.required) !== f.required) throw GIVE_UP;
  }

  /** A PSI line; only avg10 is kept. */
  psiLine(out: Float64Array, offset: number, slot: number): void {
    this.flat(PSI_LINE, out, offset, slot);
  }

  psi(out: Float64Array, offset: number, someSlot: number, fullSlot: number): void {
    this.expect(LBRACE);
    this.ws();
    let seen = 0;
    if (this.buf[this.pos] === RBRACE) this.pos++;
    else {
      do {
        this.key();
        const i = PSI_KEYS.match(this.buf, this.keyStart, this.keyLen);
        if (i < 0 || seen & (1 << i)) throw GIVE_UP;
        seen |= 1 << i;
        this.psiLine(out, offset, i === 0 ? someSlot : fullSlot);
      } while (this.more(RBRACE));
    }
    if (!(seen & 1)) throw GIVE_UP; // `some` is required
  }

  pressure(out: Float64Array, offset: number): void {
    this.expect(LBRACE);
    this.ws();
    let seen = 0;
    if (this.buf[this.pos] === RBRACE) {
      this.pos++;
      return;
    }
    do {
      this.key();
      const i = PRESSURE_KEYS.match(this.buf, this.keyStart, this.keyLen);
      if (i < 0 || seen & (1 << i)) throw GIVE_UP;
      seen |= 1 << i;
      if (i === 0) this.psi(out, offset, TENANT_INDEX.pressure_cpu_some, TENANT_INDEX.pressure_cpu_full);
      else if (i === 1) this.psi(out, offset, TENANT_INDEX.pressure_memory_some, TENANT_INDEX.pressure_memory_full);
      else this.psi(out, offset, TENANT_INDEX.pressure_io_some, TENANT_INDEX.pressure_io_full);
    } while (this.more(RBRACE));
  }

  /** One tenant sample into out[offset ..]; returns its name. */
  sample(out: Float64Array, offset: number): string {
    for (let i = 0; i < TENANT_WIDTH; i++) out[offset + i] = Number.NaN;
    this.expect(LBRACE);
    this.ws();
    let seen = 0;
    let tenant: string | undefined;
    if (this.buf[this.pos] !== RBRACE) {
      do {
        this.key();
        const i = SAMPLE_KEYS.match(this.buf, this.keyStart, this.keyLen);
        if (i < 0 || seen & (1 << i)) throw GIVE_UP;
        seen |= 1 << i;
        if (i === 0) tenant = this.tenant();
        else if (i <= 7) this.flat(SAMPLE_FLATS[i]!, out, offset, -1);
        else if (i === 8) this.pressure(out, offset);
        else if (i === 9) out[offset + TENANT_INDEX.strays] = this.value(COUNT, STRAYS_MAX);
        else if (i === 10) out[offset + TENANT_INDEX.frozen] = this.literal() ? 1 : 0;
        else out[offset + TENANT_INDEX.throttle_level] = this.value(COUNT, THROTTLE_LEVEL_MAX);
      } while (this.more(RBRACE));
    } else this.pos++;
    if (tenant === undefined) throw GIVE_UP;
    return tenant;
  }

  /** Skip any JSON value (syntax is checked later by JSON.parse of the slice). */
  skipValue(): void {
    const b = this.buf;
    let p = this.pos;
    let depth = 0;
    for (;;) {
      const c = b[p];
      if (c === undefined) throw GIVE_UP;
      if (c === QUOTE) {
        p++;
        for (;;) {
          const d = b[p];
          if (d === undefined) throw GIVE_UP;
          if (d === BACKSLASH) p += 2;
          else if (d === QUOTE) break;
          else p++;
        }
        p++;
        if (depth === 0) break;
        continue;
      }
      if (c === LBRACE || c === LBRACKET) depth++;
      else if (c === RBRACE || c === RBRACKET) {
        if (depth === 0) break;
        depth--;
        if (depth === 0) {
          p++;
          break;
        }
      } else if (depth === 0 && (c === COMMA || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) break;
      p++;
    }
    if (p === this.pos) throw GIVE_UP;
    this.pos = p;
  }
}


export interface FastReport {
  /** The report without its samples (samples: []), as JSON.parse gives it, not yet validated. */
  rest: Record<string, unknown>;
  tenants: string[];
  values: Float64Array;
}

/** Scan a report body; undefined = not handled here, use JSON.parse and the schema. */
export function scanReport(buf: Uint8Array): FastReport | undefined {
  const s = new Scanner(buf);
  try {
    s.expect(LBRACE);
    const parts: string[] = [];
    const seenKeys = new Set<string>();
    let tenants: string[] | undefined;
    let values: Float64Array | undefined;
    s.ws();
    if (buf[s.pos] === RBRACE) throw GIVE_UP;
    do {
      s.key();
      const key = s.text.toString('latin1', s.keyStart, s.keyStart + s.keyLen);
      if (seenKeys.has(key)) throw GIVE_UP;
      seenKeys.add(key);
      if (key === 'samples') {
        s.expect(LBRACKET);
        s.ws();
        tenants = [];
        let cap = 512;
        values = new Float64Array(cap * TENANT_WIDTH);
        if (buf[s.pos] === RBRACKET) s.pos++;
        else {
          let n = 0;
          do {
            if (n >= MAX_SAMPLES) throw GIVE_UP;
            if (n === cap) {
              cap *= 2;
              const next = new Float64Array(cap * TENANT_WIDTH);
              next.set(values);
              values = next;
            }
            tenants.push(s.sample(values, n * TENANT_WIDTH));
            n++;
          } while (s.more(RBRACKET));
        }
      } else {
        const start = s.pos;
        s.skipValue();
        parts.push(`"${key}":${s.text.toString('utf8', start, s.pos)}`);
      }
    } while (s.more(RBRACE));
    s.ws();
    if (s.pos !== buf.length || !tenants || !values) throw GIVE_UP;
    parts.push('"samples":[]');
    const rest = JSON.parse(`{${parts.join(',')}}`) as Record<string, unknown>;
    return { rest, tenants, values: values.subarray(0, tenants.length * TENANT_WIDTH) };
  } catch (err) {
    if (err === GIVE_UP || err instanceof SyntaxError) return undefined;
    throw err;
  }
}
