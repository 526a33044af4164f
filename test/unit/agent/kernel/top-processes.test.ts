import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { topProcesses } from '../../../../agent/kernel/top-processes.js';

describe('top processes', () => {
  const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
  const idle = spawn('sleep', ['30'], { stdio: 'ignore' });
  afterAll(() => {
    busy.kill('SIGKILL');
    idle.kill('SIGKILL');
  });

  it('ranks a tenant\'s processes by cpu over a short span, with command lines and rss; gone pids are skipped', async () => {
    const tops = await topProcesses('/proc', new Map([['t', () => [idle.pid!, busy.pid!, 999_999_999]]]), 5, 300);
    const rows = tops.get('t')!;
    expect(rows.map((r) => r.pid)).toEqual([busy.pid, idle.pid]);
    expect(rows[0]!.command).toBe('sh -c while :; do :; done');
    expect(rows[0]!.cpu_percent).toBeGreaterThan(30);
    expect(rows[1]!.cpu_percent).toBe(0);
    expect(rows[1]!.rss_bytes).toBeGreaterThan(0);
  });
});
