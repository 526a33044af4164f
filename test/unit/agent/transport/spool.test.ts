import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Spool } from '../../../../agent/transport/spool.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'hw-spool-'));
  dirs.push(d);
  return d;
}

const report = (seq: number) => ({ version: 1 as const, host: 'h', seq, at: new Date(0).toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [] });

describe('spool', () => {
  it('numbers reports from the creation time on, keeps them across reopen until acknowledged', () => {
    const dir = tmp();
    let s = new Spool(dir, { now: () => 1_700_000_000_000 });
    const a = s.enqueue(report).report.seq;
    const b = s.enqueue(report).report.seq;
    expect([a, b]).toEqual([1_700_000_000_000, 1_700_000_000_001]);
    s.close();
    s = new Spool(dir, { now: () => 1_800_000_000_000 });
    expect(s.pending(10).map((p) => p.seq)).toEqual([a, b]);
    s.acknowledge(a);
    expect(s.enqueue(report).report.seq).toBe(b + 1); // never reuses or jumps back
    expect(s.size()).toBe(2);
    s.close();
  });

  it('drops the oldest beyond its cap and buries refused reports', () => {
    const s = new Spool(tmp(), { maxReports: 3, now: () => 1000 });
    for (let i = 0; i < 5; i++) s.enqueue(report);
    expect(s.pending(10).map((p) => p.seq)).toEqual([1002, 1003, 1004]);
    s.bury(1002, 400, 'bad');
    expect(s.pending(10).map((p) => p.seq)).toEqual([1003, 1004]);
    expect(s.db.prepare('SELECT seq, status, error FROM dead').all()).toEqual([{ seq: 1002, status: 400, error: 'bad' }]);
    s.close();
  });
});

describe('spool sequence after a conflict', () => {
  it('skipAhead numbers the next report from now on, never backwards', () => {
    let now = 5000;
    const s = new Spool(tmp(), { now: () => now });
    expect(s.enqueue(report).report.seq).toBe(5000);
    now = 9000;
    s.skipAhead();
    expect(s.enqueue(report).report.seq).toBe(9001);
    now = 1000; // a clock stepping back changes nothing
    s.skipAhead();
    expect(s.enqueue(report).report.seq).toBe(9002);
    s.close();
  });
});
