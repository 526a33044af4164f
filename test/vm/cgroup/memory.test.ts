// memory.max and memory.high through the project's v2 driver: the OOM killer acts inside the tenant only, and
// memory.high holds a tenant's page cache near the limit without killing anything.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cgDir, isAlive, readKeyed, readNumber, requireGuest, SCRATCH, tenantScope } from '../guest.js';

requireGuest();

const MiB = 1024 * 1024;

describe('memory limits on the guest v2 hierarchy', () => {
  const g = tenantScope(['hog', 'bystander', 'cache', 'nolimit']);
  const files: string[] = [];
  afterAll(() => {
    for (const f of files) rmSync(f, { force: true });
  });

  it('memory.max OOM-kills inside the tenant only: a process of another tenant and the host survive', async () => {
    const driver = g.driver;
    const bystander = await g.start('bystander', 'exec sleep 600');
    expect(driver.setLimits('hog', { memoryMax: 64 * MiB }).memoryMax).toBe(64 * MiB);
    // `tail` keeps the whole line it is reading: it grows until something stops it.
    const hog = await g.start('hog', 'head -c 600M /dev/zero | tail > /dev/null; echo "pipeline status $?"');
    const { code } = await hog.exited;
    expect(hog.output()).toContain('pipeline status 137'); // tail died of SIGKILL (128 + 9)
    expect(code).toBe(0); // the shell that ran it, in the same cgroup, was not the victim
    const events = readKeyed(join(cgDir(driver.parent, 'hog'), 'memory.events'));
    expect(events.oom_kill).toBeGreaterThanOrEqual(1);
    expect(events.max).toBeGreaterThan(0);
    expect(readKeyed(join(cgDir(driver.parent, 'bystander'), 'memory.events')).oom_kill).toBe(0);
    expect(isAlive(bystander.pid)).toBe(true);
    // The kernel never charged the tenant past its limit.
    const peak = readKeyedOptional(join(cgDir(driver.parent, 'hog'), 'memory.peak'));
    if (peak !== undefined) expect(peak).toBeLessThanOrEqual(64 * MiB);
  });

  it('charges a tenant its page cache (the baseline for memory.high)', async () => {
    const driver = g.driver;
    const file = join(SCRATCH, `nolimit-${process.pid}.bin`);
    files.push(file);
    const w = await g.start('nolimit', `dd if=/dev/zero of=${file} bs=1M count=128 status=none`);
    expect((await w.exited).code).toBe(0);
    expect(readNumber(join(cgDir(driver.parent, 'nolimit'), 'memory.current'))).toBeGreaterThan(100 * MiB);
    const stats = driver.openStats('nolimit');
    try {
      expect(stats.read().memory!.file).toBeGreaterThan(100 * MiB);
    } finally {
      stats.close();
    }
  });

  it('memory.high holds the page cache of a 128 MiB write near 32 MiB and kills nothing', async () => {
    const driver = g.driver;
    expect(driver.setLimits('cache', { memoryHigh: 32 * MiB }).memoryHigh).toBe(32 * MiB);
    const file = join(SCRATCH, `cache-${process.pid}.bin`);
    files.push(file);
    const w = await g.start('cache', `dd if=/dev/zero of=${file} bs=1M count=128 status=none && echo written`);
    expect((await w.exited).code).toBe(0);
    expect(w.output()).toContain('written');
    const dir = cgDir(driver.parent, 'cache');
    const current = readNumber(join(dir, 'memory.current'));
    console.log(`memory.high 32 MiB: memory.current after a 128 MiB write is ${(current / MiB).toFixed(1)} MiB`);
    expect(current).toBeLessThanOrEqual(40 * MiB);
    const events = readKeyed(join(dir, 'memory.events'));
    expect(events.high).toBeGreaterThan(0);
    expect(events.oom_kill).toBe(0);
  });
});

function readKeyedOptional(file: string): number | undefined {
  try {
    return readNumber(file);
  } catch {
    return undefined;
  }
}
