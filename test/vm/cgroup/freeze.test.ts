// Quarantine on the guest v2 hierarchy: freeze stops CPU use, thaw (release) restores it, kill works on a
// frozen tenant, and remove()/release() keep their promises about the tenant's processes.
import { describe, expect, it } from 'vitest';
import { BURNER, isAlive, measureCpuPercent, requireGuest, sleep, tenantScope, waitFor } from '../guest.js';

requireGuest();

describe('freeze, thaw, release and kill on the guest v2 hierarchy', () => {
  const g = tenantScope(['q']);

  it('freeze stops all CPU use of the tenant and thaw gives it back', async () => {
    const driver = g.driver;
    const burner = await g.start('q', BURNER);
    await sleep(300);
    expect(await measureCpuPercent(driver.parent, 'q', 2000)).toBeGreaterThan(80);

    driver.freeze('q');
    expect(driver.isFrozen('q')).toBe(true);
    const stats = driver.openStats('q');
    try {
      expect(stats.read().frozen).toBe(true);
      const frozenPct = await measureCpuPercent(driver.parent, 'q', 2000);
      console.log(`frozen tenant: ${frozenPct.toFixed(2)}% cpu over 2 s`);
      expect(frozenPct).toBeLessThan(1);
      expect(isAlive(burner.pid)).toBe(true);

      driver.thaw('q');
      expect(driver.isFrozen('q')).toBe(false);
      expect(stats.read().frozen).toBe(false);
    } finally {
      stats.close();
    }
    await sleep(300);
    expect(await measureCpuPercent(driver.parent, 'q', 2000)).toBeGreaterThan(80);
  });

  it('release() thaws a quarantined, capped tenant and lifts its limits; its processes go on', async () => {
    const driver = g.driver;
    driver.setLimits('q', { cpuPercent: 20, pidsMax: 50 });
    driver.freeze('q');
    driver.release('q');
    expect(driver.isFrozen('q')).toBe(false);
    const limits = driver.getLimits('q');
    expect(limits.cpuPercent).toBeNull();
    expect(limits.pidsMax).toBeNull();
    await sleep(300);
    expect(await measureCpuPercent(driver.parent, 'q', 2000)).toBeGreaterThan(80);
    expect(driver.procs('q').length).toBeGreaterThan(0);
  });

  it('kill() empties a frozen tenant (it thaws first, or SIGKILL would wait)', async () => {
    const driver = g.driver;
    const before = driver.procs('q').length;
    await g.start('q', 'sleep 600 & sleep 600 & wait');
    expect(await waitFor(() => driver.procs('q').length === before + 3, 5000)).toBe(true);
    driver.freeze('q');
    const pids = driver.procs('q');
    driver.kill('q');
    expect(await waitFor(() => driver.procs('q').length === 0, 5000)).toBe(true);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });

  it('remove() refuses a tenant that still has processes; remove({ kill: true }) kills them and removes it', async () => {
    const driver = g.driver;
    driver.create('r');
    const p = await g.start('r', 'exec sleep 600');
    driver.freeze('r');
    expect(() => driver.remove('r')).toThrow(/still has 1 process/);
    expect(driver.exists('r')).toBe(true);
    expect(isAlive(p.pid)).toBe(true);
    driver.remove('r', { kill: true });
    expect(driver.exists('r')).toBe(false);
    expect(isAlive(p.pid)).toBe(false);
  });
});
