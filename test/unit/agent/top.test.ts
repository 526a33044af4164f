import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { topProcesses } from '../../../agent/top.js';
import { hostIdleSeconds, reachedUnlessBusy } from '../../helpers/system.js';

describe('top processes', () => {
  const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
  const idle = spawn('sleep', ['30'], { stdio: 'ignore' });
  afterAll(() => {
    busy.kill('SIGKILL');
    idle.kill('SIGKILL');
  });

  it('ranks a tenant\'s processes by cpu over a short span, with command lines and rss; gone pids are skipped', async () => {
    // A span of 1 s: the busy loop gets CPU ticks in it even while the parallel unit tests load the machine.
    const [idle0, t0] = [hostIdleSeconds(), performance.now()];
    const tops = await topProcesses('/proc', new Map([['t', () => [idle.pid!, busy.pid!, 999_999_999]]]), 5, 1000);
    const hostIdle = ((hostIdleSeconds() - idle0) / ((performance.now() - t0) / 1000)) * 100;
    const rows = tops.get('t')!;
    expect(rows.map((r) => r.pid)).toEqual([busy.pid, idle.pid]);
    expect(rows[0]!.command).toBe('sh -c while :; do :; done');
    expect(rows[0]!.cpu_percent).toBeGreaterThan(0);
    const verdict = reachedUnlessBusy(rows[0]!.cpu_percent, hostIdle, 30); // 30% at least, unless others took the CPU
    expect(verdict.ok, verdict.why).toBe(true);
    expect(rows[1]!.cpu_percent).toBe(0);
    expect(rows[1]!.rss_bytes).toBeGreaterThan(0);
  });
});
