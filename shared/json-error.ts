// Where JSON text stops being JSON, for error messages that say so: "body is not valid JSON: expected
// double-quoted property name at line 1, column 11 (position 10)". V8's JSON.parse names the position for most
// errors; for "Unexpected token 'x', "<a snippet of the input>" is not valid JSON" and "Unexpected end of JSON
// input" it does not, so those are located with a scan over the grammar (RFC 8259) that stops at the first
// byte it cannot take. The scan is iterative (no recursion: deep nesting cannot overflow the stack) and runs
// only after JSON.parse has failed. The input's own text is never echoed back.

const V8_POSITION = / in JSON at position (\d+)(?: \(line \d+ column \d+\))?/;
const V8_SNIPPET = /, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `JSON.parse(text)` failed with `err`: its reason, where, and nothing of the text itself. */
export function describeJsonError(text: string, err: unknown): string {
  const v8 = err instanceof Error ? err.message : String(err);
  const at = V8_POSITION.exec(v8);
  const position = at ? Number(at[1]) : jsonErrorOffset(text);
  let reason = v8
    .replace(V8_POSITION, '')
    .replace(V8_SNIPPET, '')
    .replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (reason.length > 0) reason = reason[0]!.toLowerCase() + reason.slice(1);
  if (position === undefined) return reason;
  const { line, column } = lineColumn(text, position);
  return `${reason} at line ${line}, column ${column} (position ${position})`;
}

/** 1-based line and column of a 0-based offset. */
export function lineColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < position; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: position - start + 1 };
}

/** What the scan expects next. */
const Expect = {
  Value: 0,
  /** After `{` or `,` in an object: a key (or `}` right after `{`). */
  Key: 1,
  /** After a key: `:`. */
  Colon: 2,
  /** After a value inside a container: `,` or the closer. */
  Next: 3,
} as const;
type Expecting = (typeof Expect)[keyof typeof Expect];

const isWs = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/**
 * The offset of the first character at which `text` stops being one JSON value (text.length when it ends
 * too early); undefined when it is valid JSON.
 */
export function jsonErrorOffset(text: string): number | undefined {
  const n = text.length;
  const stack: number[] = []; // 0x7b '{' or 0x5b '['
  let i = 0;
  let expect: Expecting = Expect.Value;
  let allowClose = false; // `]` right after `[`, `}` right after `{`
  const skipWs = () => {
    while (i < n && isWs(text.charCodeAt(i))) i++;
  };
  /** Past a string starting at i (a quote); the offset of the fault, or -1. */
  const string = (): number => {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return -1;
      }
      if (c < 0x20) return i;
      if (c === 0x5c) {
        const e = text.charCodeAt(i + 1);
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) if (!isHex(text.charCodeAt(i + k))) return i + k < n ? i + k : n;
          i += 6;
        } else if ('"\\/bfnrt'.includes(text[i + 1] ?? '')) i += 2;
        else return i + 1 < n ? i + 1 : n;
      } else i++;
    }
    return n;
  };
  /** Past a number starting at i; the offset of the fault, or -1. */
  const number = (): number => {
    if (text.charCodeAt(i) === 0x2d) i++;
    if (text.charCodeAt(i) === 0x30) i++;
    else if (isDigit(text.charCodeAt(i))) while (isDigit(text.charCodeAt(i))) i++;
    else return i;
    if (text.charCodeAt(i) === 0x2e) {
      i++;
      if (!isDigit(text.charCodeAt(i))) return i;
      while (isDigit(text.charCodeAt(i))) i++;
    }
    if ((text.charCodeAt(i) | 0x20) === 0x65) {
      i++;
      if (text.charCodeAt(i) === 0x2b || text.charCodeAt(i) === 0x2d) i++;
      if (!isDigit(text.charCodeAt(i))) return i;
      while (isDigit(text.charCodeAt(i))) i++;
    }
    return -1;
  };
  for (;;) {
    skipWs();
    if (i >= n) return n;
    const c = text.charCodeAt(i);
    if (expect === Expect.Value) {
      if (allowClose && c === 0x5d && stack.at(-1) === 0x5b) {
        allowClose = false;
        stack.pop();
        i++;
      } else if (c === 0x7b || c === 0x5b) {
        stack.push(c);
        i++;
        allowClose = true;
        expect = c === 0x7b ? Expect.Key : Expect.Value;
        continue;
      } else if (c === 0x22) {
        const fault = string();
        if (fault >= 0) return fault;
      } else if (c === 0x2d || isDigit(c)) {
        const fault = number();
        if (fault >= 0) return fault < n ? fault : n;
      } else {
        const word = c === 0x74 ? 'true' : c === 0x66 ? 'false' : c === 0x6e ? 'null' : '';
        if (!word) return i;
        for (let k = 0; k < word.length; k++) if (text[i + k] !== word[k]) return i + k < n ? i + k : n;
        i += word.length;
      }
      allowClose = false;
      if (stack.length === 0) {
        skipWs();
        return i < n ? i : undefined;
      }
      expect = Expect.Next;
    } else if (expect === Expect.Key) {
      if (allowClose && c === 0x7d) {
        allowClose = false;
        stack.pop();
        i++;
        if (stack.length === 0) {
          skipWs();
          return i < n ? i : undefined;
        }
        expect = Expect.Next;
        continue;
      }
      if (c !== 0x22) return i;
      const fault = string();
      if (fault >= 0) return fault;
      allowClose = false;
      expect = Expect.Colon;
    } else if (expect === Expect.Colon) {
      if (c !== 0x3a) return i;
      i++;
      expect = Expect.Value;
    } else {
      const open = stack.at(-1)!;
      if (c === 0x2c) {
        i++;
        expect = open === 0x7b ? Expect.Key : Expect.Value;
      } else if ((open === 0x7b && c === 0x7d) || (open === 0x5b && c === 0x5d)) {
        stack.pop();
        i++;
        if (stack.length === 0) {
          skipWs();
          return i < n ? i : undefined;
        }
      } else return i;
    }
  }
}
