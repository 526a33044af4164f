// LogTail on real files in a temp dir: every line once across rename rotation (also while "away"), copytruncate
// with its copy found, a restart from the committed state, lines longer than the buffer, partial lines.
import { appendFileSync, copyFileSync, mkdtempSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogTail, type TailCounters } from '../../../../agent/weblogs/tail.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(chunk = 4096) {
  const dir = mkdtempSync(join(tmpdir(), 'hw-tail-'));
  dirs.push(dir);
  const path = join(dir, 'access.log');
  const counters: TailCounters = { rotations: 0, truncations: 0, lostFiles: 0, lostBytes: 0, longLines: 0 };
  const got: string[] = [];
  const buf = Buffer.alloc(chunk);
  let tail = new LogTail(path, undefined, false, buf, counters);
  const poll = (bytes = 1 << 30) => tail.poll({ bytes, deadline: performance.now() + 10_000 }, (t) => got.push(...t.split('\n')));
  const restart = () => {
    const state = tail.state();
    tail.close();
    tail = new LogTail(path, JSON.parse(JSON.stringify(state)), false, buf, counters);
  };
  let n = 0;
  const write = (k: number, file = path) => {
    let s = '';
    for (let i = 0; i < k; i++) s += `line ${++n} ${'x'.repeat(n % 50)}\n`;
    appendFileSync(file, s);
  };
  const expectAll = () => expect(got.map((l) => Number(l.split(' ')[1]))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  return { dir, path, counters, got, poll, restart, write, expectAll, tail: () => tail };
}

describe('LogTail', () => {
  it('reads whole lines only, in bounded chunks, and a partial line once it is complete', () => {
    const t = setup();
    t.write(500);
    appendFileSync(t.path, 'partial');
    t.poll(1000);
    expect(t.got.length).toBeGreaterThan(0);
    expect(t.got.length).toBeLessThan(100);
    t.poll();
    t.expectAll();
    appendFileSync(t.path, ' rest\n');
    t.poll();
    expect(t.got.at(-1)).toBe('partial rest');
  });

  it('rotation by rename: the old file is read to its end (also what is written to it after the rename), then the new one', () => {
    const t = setup();
    t.write(100);
    t.poll();
    t.write(10);
    renameSync(t.path, `${t.path}.1`);
    t.write(5, `${t.path}.1`); // the server still writes to the old file until it reopens
    t.write(20);
    t.poll();
    t.write(7);
    t.poll();
    t.poll();
    t.poll();
    t.expectAll();
    expect(t.counters.rotations).toBe(1);
  });

  it('a restart from the committed state finds a file rotated while the agent was away by its inode', () => {
    const t = setup();
    t.write(50);
    t.poll();
    t.write(30);
    const state = t.tail().state();
    t.tail().close();
    renameSync(t.path, `${t.path}.1`);
    t.write(40);
    renameSync(`${t.path}.1`, `${t.path}.2`);
    renameSync(t.path, `${t.path}.1`);
    t.write(10);
    const tail = new LogTail(t.path, state, false, Buffer.alloc(4096), t.counters);
    tail.poll({ bytes: 1 << 30, deadline: performance.now() + 10_000 }, (s) => t.got.push(...s.split('\n')));
    // the second rotation's file (.1) was never known to a cursor: its 40 lines are lost (two rotations while away)
    expect(t.got.length).toBe(50 + 30 + 10);
    tail.close();
  });

  it('restart: nothing lost, nothing twice', () => {
    const t = setup();
    t.write(100);
    t.poll(700);
    t.restart();
    t.write(10);
    renameSync(t.path, `${t.path}.1`);
    t.write(10);
    t.poll(300);
    t.restart();
    t.poll();
    t.restart();
    t.poll();
    t.expectAll();
  });

  it('copytruncate: the rest of the copy is read, the log again from 0, the truncation counted', () => {
    const t = setup();
    t.write(100);
    t.poll(2000);
    t.write(50);
    copyFileSync(t.path, `${t.path}.1`);
    truncateSync(t.path, 0);
    t.write(300); // more than before: only the head tells the truncation
    t.poll();
    t.poll();
    t.expectAll();
    expect(t.counters.truncations).toBe(1);
    expect(t.counters.lostBytes).toBe(0);
  });

  it('copytruncate without a copy (deleted): known unread bytes are counted as lost', () => {
    const t = setup();
    t.write(100);
    t.poll(2000);
    const read = t.got.length;
    t.write(1);
    t.poll(0); // notices the size, reads nothing
    copyFileSync(t.path, `${t.path}.1`);
    unlinkSync(`${t.path}.1`);
    truncateSync(t.path, 0);
    t.write(3);
    t.poll();
    expect(t.counters.truncations).toBe(1);
    expect(t.counters.lostBytes).toBeGreaterThan(0);
    expect(t.got.length).toBe(read + 3);
  });

  it('a line longer than the buffer is skipped and counted, the next one read', () => {
    const t = setup(4096);
    appendFileSync(t.path, `${'y'.repeat(10_000)}\nshort\n`);
    t.poll();
    expect(t.got).toEqual(['short']);
    expect(t.counters.longLines).toBe(1);
  });

  it('a log that does not exist yet is read from its start once it appears', () => {
    const t = setup();
    t.poll();
    writeFileSync(t.path, 'first\n');
    t.poll();
    expect(t.got).toEqual(['first']);
  });
});

describe('LogTail, copytruncate of a log seen empty', () => {
  it('reads the copy made since the last poll', () => {
    const t = setup();
    writeFileSync(t.path, '');
    t.poll();
    t.write(20);
    copyFileSync(t.path, `${t.path}.1`);
    truncateSync(t.path, 0);
    t.write(5);
    t.poll();
    t.poll();
    t.expectAll();
    expect(t.counters.truncations).toBe(1);
  });
});
