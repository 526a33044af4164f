// Scanning primitives of the kernel's text formats, shared by the cgroup parsers (cgroup/parse.ts) and the
// procfs parsers (procfs.ts). Hot-path callers use the index-based ones (digitsAt, decimalAt, lineEnd, trimEnd),
// which allocate nothing; numberedLines allocates and is for the general parsers.

/** Character codes the scanners compare against. */
export const NL = 10;
export const SPACE = 32;
const TAB = 9;
const ZERO = 48;
const NINE = 57;
const DOT = 46;
const CR = 13;

/** Digits of text[start, end) as a number, or -1 when the range is empty or holds a non-digit. */
export function digitsAt(text: string, start: number, end: number): number {
  if (start >= end) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) return -1;
    n = n * 10 + (c - ZERO);
  }
  return n;
}

/** A non-negative decimal ("0.29", "12", "100.00") in text[start, end), or -1. Rounded exactly as Number(). */
export function decimalAt(text: string, start: number, end: number): number {
  if (start >= end) return -1;
  let n = 0;
  let scale = 1;
  let seenDot = false;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT && !seenDot) {
      seenDot = true;
      continue;
    }
    if (c < ZERO || c > NINE) return -1;
    n = n * 10 + (c - ZERO);
    digits++;
    if (seenDot) scale *= 10;
  }
  // One correctly rounded division of two exact integers gives the same double as Number("12.34").
  return digits === 0 ? -1 : n / scale;
}

/** End of the line that starts at `start` (index of "\n", or text.length). */
export function lineEnd(text: string, start: number): number {
  const nl = text.indexOf('\n', start);
  return nl < 0 ? text.length : nl;
}

/** End of trailing whitespace trimmed from text[start, end). */
export function trimEnd(text: string, start: number, end: number): number {
  while (end > start) {
    const c = text.charCodeAt(end - 1);
    if (c !== SPACE && c !== NL && c !== TAB && c !== CR) break;
    end--;
  }
  return end;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The non-blank lines of a file, trimmed, with their 1-based numbers. For the general parsers (it allocates). */
export function numberedLines(text: string): Array<[lineNo: number, line: string]> {
  const out: Array<[number, string]> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line !== '') out.push([i + 1, line]);
  }
  return out;
}
