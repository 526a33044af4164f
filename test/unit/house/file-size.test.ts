// The house check "no source file over 500 lines" in agent, controller, shared and ctl: a file that grows
// past it holds more than one concern and is split by concern (not mechanically).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../../helpers/import-graph.js';
import { ROOT } from '../../helpers/system.js';

const FOLDERS = ['agent', 'controller', 'shared', 'ctl', 'ui'];
const MAX_LINES = 500;

/** Lines as `wc -l` counts them, plus a last line without a newline. */
function lineCount(text: string): number {
  const newlines = text.split('\n').length - 1;
  return text.length > 0 && !text.endsWith('\n') ? newlines + 1 : newlines;
}

describe('no source file over 500 lines', () => {
  const sizes = new Map(sourceFiles(ROOT, FOLDERS).map((f) => [f, lineCount(readFileSync(join(ROOT, f), 'utf8'))]));

  it(`${FOLDERS.join(', ')}: every file ${MAX_LINES} lines or fewer`, () => {
    expect(sizes.size).toBeGreaterThan(50);
    const over = [...sizes].filter(([f, n]) => n > MAX_LINES).map(([f, n]) => `${f}: ${n} lines`);
    expect(over).toEqual([]);
  });

  it.each([
    ['', 0],
    ['a', 1],
    ['a\n', 1],
    ['a\nb', 2],
    ['a\n\n', 2],
  ])('counts lines like wc -l, and a last one without a newline: %j', (text, n) => {
    expect(lineCount(text)).toBe(n);
  });
});
