// One-dimensional arrays of numbers as PostgreSQL's binary wire format (array_recv), for parameters that carry
// hundreds to thousands of numbers: a report's ledger, a drain's series and buckets. The driver sends a Buffer
// parameter in binary, so neither side formats or parses a number as text (the text literals took about 2 % of
// the controller's thread and PostgreSQL's float8in/int8in per element). The statement casts the parameter
// ($1::bigint[], ::float8[], ::int[]): PostgreSQL then checks the element type carried here against it.
//
//   header: ndim int32 (1; 0 for an empty array), has-nulls int32 (0), element type oid int32,
//           then for the dimension: its length int32, its lower bound int32 (1)
//   each element: its byte length int32, then the value, big-endian (int8, float8 IEEE 754, int4)

export type BinaryElement = 'int8' | 'float8' | 'int4';

const OID: Record<BinaryElement, number> = { int8: 20, float8: 701, int4: 23 };
const SIZE: Record<BinaryElement, number> = { int8: 8, float8: 8, int4: 4 };
const TWO_32 = 2 ** 32;

/** A PostgreSQL binary array of `xs`; throws RangeError for a value its type cannot hold (as the text form would fail). */
export function binaryArray(type: BinaryElement, xs: ArrayLike<number>): Buffer {
  const n = xs.length;
  const size = SIZE[type];
  const buf = Buffer.allocUnsafe(n === 0 ? 12 : 20 + n * (4 + size));
  buf.writeInt32BE(n === 0 ? 0 : 1, 0);
  buf.writeInt32BE(0, 4);
  buf.writeInt32BE(OID[type], 8);
  if (n === 0) return buf;
  buf.writeInt32BE(n, 12);
  buf.writeInt32BE(1, 16);
  let at = 20;
  for (let i = 0; i < n; i++) {
    const x = xs[i]!;
    buf.writeInt32BE(size, at);
    at += 4;
    if (type === 'float8') {
      buf.writeDoubleBE(x, at);
    } else if (type === 'int4') {
      if (!Number.isInteger(x) || x < -2147483648 || x > 2147483647) throw new RangeError(`${x} is not an int4`);
      buf.writeInt32BE(x, at);
    } else {
      if (!Number.isSafeInteger(x)) throw new RangeError(`${x} is not an integer an int8 holds exactly`);
      const hi = Math.floor(x / TWO_32);
      buf.writeInt32BE(hi, at);
      buf.writeUInt32BE(x - hi * TWO_32, at + 4);
    }
    at += size;
  }
  return buf;
}
