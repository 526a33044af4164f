// Where JSON text stops being JSON (shared/json-error.ts): the scan agrees with JSON.parse on what is valid and
// with V8 on the position wherever V8 names one; messages give line, column and position, never the text.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeJsonError, jsonErrorOffset, lineColumn } from '../../../shared/json-error.js';

const V8_POSITION = / in JSON at position (\d+)/;

function parseError(text: string): Error | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

describe('jsonErrorOffset', () => {
  it.each([
    ['{"cpu": 1,,}', 10],
    ['{"a":', 5],
    ['', 0],
    ['   ', 3],
    ['{"a":tru}', 8],
    ['{"a":1} x', 8],
    ['[1,2', 4],
    ['{"a":"\u0001"}', 6],
    ['{"a":01}', 6],
    ['{"a":-}', 6],
    ['{"a":1.}', 7],
    ['{"a":1e}', 7],
    ['{"a":"\\q"}', 7],
    ['{"a":"\\u12G4"}', 10],
    ['{"a" 1}', 5],
    ['{1:2}', 1],
    ['[1,]', 3],
    ['{"a":1,}', 7],
    ['["x"', 4],
    ['"abc', 4],
    ['nul', 3],
    ['{"a":[{"b":[1,2,{"c":null}]}],"d":falsy}', 38],
  ])('%j fails at %i', (text, at) => {
    expect(parseError(text)).toBeDefined();
    expect(jsonErrorOffset(text)).toBe(at);
  });

  it.each(['{}', '[]', ' [ ] ', '{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\n"],"b":{}}', '0', '-0', '"x"', '[[[[[]]]]]'])('%j is valid', (text) => {
    expect(parseError(text)).toBeUndefined();
    expect(jsonErrorOffset(text)).toBeUndefined();
  });

  it('scans nesting 100,000 deep without recursion', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(99_999);
    expect(jsonErrorOffset(deep)).toBe(deep.length);
  });

  it('agrees with JSON.parse on validity and with V8 on the position of damaged JSON', () => {
    const damaged = fc
      .tuple(fc.json(), fc.nat(), fc.constantFrom('delete', 'insert', 'replace'), fc.constantFrom(',', '}', ']', '{', '[', '"', ':', 'x', '\\', '1', '-', '.', 'e', ' ', '\u0001'))
      .map(([text, at, op, ch]) => {
        const i = text.length === 0 ? 0 : at % text.length;
        if (op === 'delete') return text.slice(0, i) + text.slice(i + 1);
        if (op === 'insert') return text.slice(0, i) + ch + text.slice(i);
        return text.slice(0, i) + ch + text.slice(i + 1);
      });
    fc.assert(
      fc.property(damaged, (text) => {
        const err = parseError(text);
        const offset = jsonErrorOffset(text);
        expect(offset === undefined).toBe(err === undefined);
        const v8 = err && V8_POSITION.exec(err.message);
        if (v8) expect(offset).toBe(Number(v8[1]));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('describeJsonError', () => {
  it('says what is wrong and where, in lines and columns, without the text', () => {
    const text = '{\n  "cpu": 100,\n  "weight": tru\n}';
    const msg = describeJsonError(text, parseError(text));
    expect(msg).toBe("unexpected token '\\u000a' at line 3, column 16 (position 31)");
    const long = `["${'x'.repeat(100)}", tru, "secret"]`;
    expect(describeJsonError(long, parseError(long))).toBe("unexpected token ',' at line 1, column 109 (position 108)");
    const v8 = '{"cpu": 1,,}';
    expect(describeJsonError(v8, parseError(v8))).toBe('expected double-quoted property name at line 1, column 11 (position 10)');
    expect(describeJsonError('{"a":', parseError('{"a":'))).toBe('unexpected end of JSON input at line 1, column 6 (position 5)');
  });

  it('counts lines and columns from 1', () => {
    expect(lineColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('ab\ncd', 3)).toEqual({ line: 2, column: 1 });
    expect(lineColumn('ab\ncd', 5)).toEqual({ line: 2, column: 3 });
  });
});
