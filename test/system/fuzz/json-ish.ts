// JSON-ish values: JSON plus what JSON.stringify cannot write but a hostile client can: a number as exact text
// (1e308, -0, 9007199254740993, NaN, Infinity, 1e999), an object with duplicate keys, and invalid UTF-8 inside
// a string. The fuzz test builds bodies from these, keeps the value it meant, and compares read-backs to it.

/** A number written as this exact text. */
export class RawNumber {
  constructor(readonly text: string) {}
  /** What a JSON reader makes of it (NaN for text that is not JSON). */
  get value(): number {
    return Number(this.text);
  }
}

/** An object written with its entries as given, duplicate keys included. */
export class DupObject {
  constructor(readonly entries: Array<[string, JsonIsh]>) {}
}

/** Text inserted as it is (10,000 levels of nesting, a value no generator builds). */
export class RawJson {
  constructor(readonly text: string) {}
}

export type JsonIsh = null | boolean | number | string | RawNumber | DupObject | RawJson | JsonIsh[] | { [key: string]: JsonIsh };

/** Inside a string, this private-use character is sent as the invalid UTF-8 bytes of its string's `badBytes`. */
export const BAD_BYTES_MARK = '\uE0FF';
const MARK_UTF8 = Buffer.from(BAD_BYTES_MARK, 'utf8');

/** Invalid UTF-8: a lone continuation byte, 0xff, an overlong '/', a UTF-8-encoded surrogate, a cut sequence. */
export const INVALID_UTF8: Buffer[] = [Buffer.from([0xff]), Buffer.from([0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xe0, 0x80, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0xe2, 0x82])];

export function isPlainObject(v: unknown): v is { [key: string]: JsonIsh } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RawNumber) && !(v instanceof DupObject) && !(v instanceof RawJson);
}

/** The text of a value. */
export function toText(v: JsonIsh): string {
  if (v instanceof RawNumber || v instanceof RawJson) return v.text;
  if (v instanceof DupObject) return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${toText(x)}`).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(toText).join(',')}]`;
  if (isPlainObject(v)) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${toText(x)}`).join(',')}}`;
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v); // NaN, Infinity: JSON-ish on purpose
  return JSON.stringify(v);
}

/** The bytes of a text: UTF-8 with every BAD_BYTES_MARK replaced by `bad`. */
export function textBytes(text: string, bad: Buffer = INVALID_UTF8[0]!): Buffer {
  const utf8 = Buffer.from(text, 'utf8');
  if (utf8.indexOf(MARK_UTF8) < 0) return utf8;
  const parts: Buffer[] = [];
  let at = 0;
  for (let i = utf8.indexOf(MARK_UTF8); i >= 0; i = utf8.indexOf(MARK_UTF8, at)) {
    parts.push(utf8.subarray(at, i), bad);
    at = i + MARK_UTF8.length;
  }
  parts.push(utf8.subarray(at));
  return Buffer.concat(parts);
}

/** True when the value is plain JSON a reader gets back as meant: finite numbers, no duplicate keys, no marks. */
export function isFaithful(v: JsonIsh): boolean {
  if (v instanceof RawNumber) return Number.isFinite(v.value) && /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(v.text);
  if (v instanceof DupObject || v instanceof RawJson) return false;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v === 'string') return !v.includes(BAD_BYTES_MARK);
  if (Array.isArray(v)) return v.every(isFaithful);
  if (isPlainObject(v)) return Object.values(v).every(isFaithful);
  return true;
}

/** The value a JSON reader makes of it (RawNumber to number); only for faithful values. */
export function plain(v: JsonIsh): unknown {
  if (v instanceof RawNumber) return v.value;
  if (v instanceof DupObject) return Object.fromEntries(v.entries.map(([k, x]) => [k, plain(x)]));
  if (v instanceof RawJson) return JSON.parse(v.text) as unknown;
  if (Array.isArray(v)) return v.map(plain);
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/**
 * Whether `got` (parsed from an answer) is what `sent` meant: the same double, and for an integer field an
 * integer written as digits equal to the last digit (9007199254740993 read back as ...992 is not as sent: the
 * field cannot hold it, and saying so is the server's to do).
 */
export function sameNumber(sent: number | RawNumber, got: unknown, integer = false): boolean {
  if (typeof got !== 'number') return false;
  if (integer && sent instanceof RawNumber && /^-?\d+$/.test(sent.text)) return Number.isInteger(got) && BigInt(sent.text) === BigInt(got);
  return (sent instanceof RawNumber ? sent.value : sent) === got;
}
