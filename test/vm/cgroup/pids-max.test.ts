// pids.max through the project's v2 driver stops a fork storm; the driver then kills the tenant's processes.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgDir, readKeyed, readNumber, requireGuest, sleep, tenantScope, waitFor } from '../guest.js';

requireGuest();

/**
 * A shell that forks 255 sleepers as fast as it can: a storm, but a bounded one (256 tasks). Its tasks live on
 * after a fork fails (busybox sh may give up there, its sleepers stay), so the count sits at the limit and a
 * sampler sees it. A fork *tree* did not: its shells die where their fork fails, the count touched the limit
 * for an instant and settled far below it (CI once sampled a highest of 9 under a limit of 24).
 */
const STORM = 'i=0; while [ $i -lt 255 ]; do sleep 120 & i=$((i + 1)); done; wait';

describe('pids.max on the guest v2 hierarchy', () => {
  const g = tenantScope(['free', 'storm']);

  it('lets an unlimited tenant grow the whole storm (the baseline)', async () => {
    const driver = g.driver;
    await g.start('free', STORM);
    const pids = join(cgDir(driver.parent, 'free'), 'pids.current');
    expect(await waitFor(() => readNumber(pids) >= 200, 30_000)).toBe(true);
    driver.kill('free');
    expect(await waitFor(() => driver.procs('free').length === 0, 5000)).toBe(true);
  });

  it('stops the storm at pids.max, then kill() empties the tenant', async () => {
    const driver = g.driver;
    expect(driver.setLimits('storm', { pidsMax: 24 }).pidsMax).toBe(24);
    await g.start('storm', STORM);
    const dir = cgDir(driver.parent, 'storm');
    // Fork failures are counted in pids.events "max"; watch the count while the storm beats on the limit.
    let highest = 0;
    const deadline = performance.now() + 4000;
    while (performance.now() < deadline) {
      highest = Math.max(highest, readNumber(join(dir, 'pids.current')));
      await sleep(50);
    }
    console.log(`pids.max 24: highest pids.current ${highest}, fork failures ${readKeyed(join(dir, 'pids.events')).max}`);
    expect(readKeyed(join(dir, 'pids.events')).max).toBeGreaterThan(0);
    expect(highest).toBeLessThanOrEqual(24);
    expect(highest).toBeGreaterThanOrEqual(20);
    driver.kill('storm');
    expect(await waitFor(() => driver.procs('storm').length === 0, 5000)).toBe(true);
    // A task leaves cgroup.procs when it exits but still counts in pids.current until its parent has reaped it
    // (seen in CI: procs empty, pids.current 1): wait for the count as well.
    expect(await waitFor(() => readNumber(join(dir, 'pids.current')) === 0, 5000), `pids.current ${readNumber(join(dir, 'pids.current'))}`).toBe(true);
  });
});
