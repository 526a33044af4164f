// The walking skeleton end to end, with real parts only: two Linux users, a CPU burner and an idle process,
// the built controller and agent as daemons on loopback, real cgroups. Checks placement, the measured cpu
// against the kernel's own counter, and the usage API.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { burner, Cleanup, cgroupOf, cpuTicks, createUser, spawnAs, waitFor } from '../helpers/system.js';

describeWith(missing([needRoot, needV1Cgroups]), 'end to end: users, placement, measurement, report, usage API', () => {
  const cleanup = new Cleanup();
  let stack: Stack;
  let busy: ReturnType<typeof createUser>;
  let idle: ReturnType<typeof createUser>;
  let burnerPid = 0;
  let sleeperPid = 0;

  beforeAll(async () => {
    busy = createUser(cleanup);
    idle = createUser(cleanup);
    burnerPid = burner(cleanup, busy).pid!;
    sleeperPid = spawnAs(cleanup, idle, 'sleep', ['600']).pid!;
    stack = await startStack(cleanup, {
      host: 'e2e',
      interval: '2s',
      agent: ['tenants:', `  - { name: ${busy.name}, users: [${busy.name}], email: busy@example.com }`, `  - { name: ${idle.name}, users: [${idle.uid}], email: idle@example.com }`],
    });
  });

  afterAll(async () => {
    const errors = await cleanup.run();
    expect(errors).toEqual([]);
  });

  it('places each process in its tenant cgroup in every hierarchy', async () => {
    for (const [pid, tenant] of [
      [burnerPid, busy.name],
      [sleeperPid, idle.name],
    ] as const) {
      for (const ctrl of ['cpu', 'memory', 'pids', '']) {
        await waitFor(`pid ${pid} in ${stack.parent}/${tenant} (${ctrl || 'unified'})`, () => cgroupOf(pid, ctrl) === `/${stack.parent}/${tenant}`, 15_000);
      }
    }
  });

  it("reports the burner's cpu within 10 points of the kernel's counter, the idle one near 0, and serves them", async () => {
    const get = async (path: string) => {
      const r = await stack.api('GET', path);
      expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(200);
      return r.body;
    };
    // Let the agent settle (placement + a baseline tick), then measure a span of several ticks.
    await waitFor('first samples of the burner', async () => cpuPoints(await get(`/v1/tenants/${busy.name}/usage?from=10m`)).length > 0, 30_000);
    const t0 = Date.now();
    const k0 = cpuTicks(burnerPid);
    await new Promise((r) => setTimeout(r, 10_000));
    const k1 = cpuTicks(burnerPid);
    const t1 = Date.now();
    const kernel = ((k1 - k0) / 100 / ((t1 - t0) / 1000)) * 100;

    const since = new Date(t0).toISOString();
    const busyUsage = await get(`/v1/tenants/${busy.name}/usage?from=${since}&to=${new Date(t1 + 2000).toISOString()}`);
    const idleUsage = await get(`/v1/tenants/${idle.name}/usage?from=${since}&to=${new Date(t1 + 2000).toISOString()}`);
    const busyCpu = cpuPoints(busyUsage);
    const idleCpu = cpuPoints(idleUsage);
    expect(busyCpu.length).toBeGreaterThanOrEqual(3);
    expect(idleCpu.length).toBeGreaterThanOrEqual(3);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(kernel).toBeGreaterThan(50); // the burner really ran
    expect(Math.abs(mean(busyCpu) - kernel)).toBeLessThanOrEqual(10);
    for (const v of idleCpu) expect(v).toBeLessThan(2);

    const tenants = await get('/v1/tenants');
    expect(JSON.stringify(tenants)).toContain(busy.name);
    expect(JSON.stringify(tenants)).toContain(idle.name);
    const hosts = await get('/v1/hosts');
    expect(JSON.stringify(hosts)).toContain('"e2e"');
  });
});

/** The cpu values of a usage response (`series.cpu_percent.avg`, one per point; null where no sample). */
function cpuPoints(usage: Record<string, unknown>): number[] {
  const series = usage.series as Record<string, { avg: Array<number | null> }> | undefined;
  return (series?.cpu_percent?.avg ?? []).filter((v): v is number => typeof v === 'number');
}
