// Pressure stall information through the project's driver, on the guest's real kernel: per tenant and host.
// Contention is made for real (more runnable tasks than CPUs, a memory.high squeeze, throttled IO) and the
// driver's readings must show it.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StatsReader } from '../../../agent/kernel/cgroup/driver.js';
import { BURNER, deviceNumbers, execDone, requireGuest, SCRATCH, SCRATCH_DEV, sleep, tenantScope } from '../guest.js';

requireGuest();

const MiB = 1024 * 1024;

describe('PSI on the guest v2 hierarchy', () => {
  const g = tenantScope(['idle', 'crowd', 'squeeze', 'slowio']);
  const readers: StatsReader[] = [];
  const files: string[] = [];

  function stats(tenant: string): StatsReader {
    const r = g.driver.openStats(tenant);
    readers.push(r);
    return r;
  }

  afterAll(() => {
    for (const r of readers) r.close();
    for (const f of files) rmSync(f, { force: true });
  });

  it('an idle tenant has (next to) no cpu pressure', async () => {
    expect(await execDone(await g.start('idle', 'exec sleep 600'), 'sleep')).toBe(true);
    await sleep(500);
    const r = stats('idle');
    const a = r.read().pressure!.cpu!.some.total;
    await sleep(2000);
    // Under 1% of the window: the contrast for the crowded tenant below, which stalls ~100%.
    expect(r.read().pressure!.cpu!.some.total - a).toBeLessThan(20_000);
  });

  it('four burners on two CPUs: the tenant and the host show cpu pressure', async () => {
    const r = stats('crowd');
    const a = r.read().pressure!.cpu!.some.total;
    for (let i = 0; i < 4; i++) await g.start('crowd', BURNER);
    await sleep(5000);
    const p = r.read().pressure!.cpu!;
    console.log(`crowd: cpu some avg10 ${p.some.avg10}, stalled ${((p.some.total - a) / 1e6).toFixed(2)} s`);
    // Stalled for most of the 5 s; avg10, a 10 s moving average, has climbed to about 1 - e^-0.5 = 39%.
    expect(p.some.total - a).toBeGreaterThan(2_500_000);
    expect(p.some.avg10).toBeGreaterThan(15);
    expect(g.driver.hostPressure().cpu!.some.avg10).toBeGreaterThan(15);
    g.driver.kill('crowd');
  });

  it('a page-cache writer squeezed by memory.high stalls on memory', async () => {
    g.driver.setLimits('squeeze', { memoryHigh: 16 * MiB });
    const r = stats('squeeze');
    const a = r.read().pressure!.memory!.some.total;
    const file = join(SCRATCH, `psi-${process.pid}.bin`);
    files.push(file);
    const w = await g.start('squeeze', `dd if=/dev/zero of=${file} bs=1M count=96 status=none`);
    expect((await w.exited).code).toBe(0);
    const stalled = r.read().pressure!.memory!.some.total - a;
    console.log(`squeeze: memory some stalled ${(stalled / 1000).toFixed(1)} ms`);
    expect(stalled).toBeGreaterThan(0);
  });

  it('a writer held by io.max stalls on io', async () => {
    g.driver.setLimits('slowio', { io: [{ ...deviceNumbers(SCRATCH_DEV), wbps: 2 * MiB }] });
    const r = stats('slowio');
    const a = r.read().pressure!.io!.some.total;
    const file = join(SCRATCH, `psi-io-${process.pid}.bin`);
    files.push(file);
    const w = await g.start('slowio', `dd if=/dev/zero of=${file} bs=256k count=12 oflag=direct status=none`);
    expect((await w.exited).code).toBe(0);
    const stalled = r.read().pressure!.io!.some.total - a;
    console.log(`slowio: io some stalled ${(stalled / 1e6).toFixed(2)} s for 3 MiB at 2 MiB/s`);
    expect(stalled).toBeGreaterThan(500_000);
  });
});
