// cpu.max through the project's v2 driver holds a CPU burner at its cap (issue 5: within 5 points).
import { describe, expect, it } from 'vitest';
import { BURNER, measureCpuPercent, requireGuest, sleep, tenantScope } from '../guest.js';

requireGuest();

const WINDOW_MS = 5000;

describe('cpu.max on the guest v2 hierarchy', () => {
  const g = tenantScope(['burn']);

  it('lets an uncapped burner use a whole core (the baseline the caps are measured against)', async () => {
    await g.start('burn', BURNER);
    await sleep(500);
    const pct = await measureCpuPercent(g.driver.parent, 'burn', 2000);
    expect(pct).toBeGreaterThan(85);
  });

  it('holds one burner within 5 points of a 50% cap', async () => {
    expect(g.driver.setLimits('burn', { cpuPercent: 50 }).cpuPercent).toBe(50);
    await sleep(1000);
    const pct = await measureCpuPercent(g.driver.parent, 'burn', WINDOW_MS);
    console.log(`cpu.max 50%: measured ${pct.toFixed(1)}% over ${WINDOW_MS} ms`);
    expect(Math.abs(pct - 50)).toBeLessThanOrEqual(5);
  });

  it('holds the whole cgroup, two burners together, within 5 points of a 30% cap', async () => {
    await g.start('burn', BURNER);
    expect(g.driver.procs('burn')).toHaveLength(2);
    expect(g.driver.setLimits('burn', { cpuPercent: 30 }).cpuPercent).toBe(30);
    await sleep(1000);
    const pct = await measureCpuPercent(g.driver.parent, 'burn', WINDOW_MS);
    console.log(`cpu.max 30%, two burners: measured ${pct.toFixed(1)}% over ${WINDOW_MS} ms`);
    expect(Math.abs(pct - 30)).toBeLessThanOrEqual(5);
  });

  it('gives the cores back when the cap is lifted', async () => {
    expect(g.driver.setLimits('burn', { cpuPercent: null }).cpuPercent).toBeNull();
    await sleep(500);
    const pct = await measureCpuPercent(g.driver.parent, 'burn', 2000);
    expect(pct).toBeGreaterThan(150);
  });
});

describe('cpu.weight on the guest v2 hierarchy', () => {
  const g = tenantScope(['light', 'heavy']);

  it('splits two contended CPUs 1:3 between weights 100 and 300', async () => {
    g.driver.setLimits('light', { cpuWeight: 100 });
    g.driver.setLimits('heavy', { cpuWeight: 300 });
    // Two burners each: four runnable tasks on two CPUs, so the weights decide.
    for (const t of ['light', 'heavy', 'light', 'heavy']) await g.start(t, BURNER);
    await sleep(1000);
    const [light, heavy] = await Promise.all([measureCpuPercent(g.driver.parent, 'light', 4000), measureCpuPercent(g.driver.parent, 'heavy', 4000)]);
    console.log(`cpu.weight 100 vs 300: ${light.toFixed(1)}% vs ${heavy.toFixed(1)}% (ratio ${(heavy / light).toFixed(2)})`);
    expect(heavy / light).toBeGreaterThan(2.4);
    expect(heavy / light).toBeLessThan(3.6);
    expect(light + heavy).toBeGreaterThan(170);
  });
});
