// The walking skeleton end to end, with real parts only: two Linux users, a CPU burner and an idle process,
// the built controller and agent as daemons on loopback, real cgroups. Checks placement, the measured cpu
// against the kernel's own counter, and the usage API.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDriver } from '../../agent/cgroup/detect.js';
import { describeWith, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { burner, Cleanup, cgroupOf, cpuTicks, createUser, freePort, spawnAs, startDaemon, tempDir, uniq, waitFor, writeToken } from '../helpers/system.js';

describeWith(missing([needRoot, needV1Cgroups]), 'end to end: users, placement, measurement, report, usage API', () => {
  const cleanup = new Cleanup();
  const parent = uniq('hostwarden-t');
  let url = '';
  let admin = '';
  let busy: ReturnType<typeof createUser>;
  let idle: ReturnType<typeof createUser>;
  let burnerPid = 0;
  let sleeperPid = 0;

  beforeAll(async () => {
    const dir = tempDir(cleanup, 'hw-e2e-');
    // Whatever happens, the cgroups the agent made go away (killing what is left in them).
    cleanup.add(`remove cgroups under ${parent}`, () => {
      const d = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
      for (const t of d.list()) d.remove(t, { kill: true });
      d.teardown();
    });
    busy = createUser(cleanup);
    idle = createUser(cleanup);
    burnerPid = burner(cleanup, busy).pid!;
    sleeperPid = spawnAs(cleanup, idle, 'sleep', ['600']).pid!;

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    admin = writeToken(join(dir, 'admin.token'));
    writeToken(join(dir, 'agent.token'));
    writeFileSync(
      join(dir, 'controller.yaml'),
      `listen: 127.0.0.1:${port}\nstate_dir: ${join(dir, 'controller')}\nadmin_token_file: ${join(dir, 'admin.token')}\nagents: [ { host: e2e, token_file: ${join(dir, 'agent.token')} } ]\nlog_level: warn\n`,
    );
    writeFileSync(
      join(dir, 'agent.yaml'),
      [
        'host: e2e',
        'interval: 2s',
        `state_dir: ${join(dir, 'agent')}`,
        `controller: { url: "${url}", token_file: ${join(dir, 'agent.token')} }`,
        `cgroup: { parent: ${parent} }`,
        'bandwidth: { enabled: false }',
        'log_level: warn',
        'tenants:',
        `  - { name: ${busy.name}, users: [${busy.name}], email: busy@example.com }`,
        `  - { name: ${idle.name}, users: [${idle.uid}], email: idle@example.com }`,
        '',
      ].join('\n'),
    );
    const controller = startDaemon(cleanup, 'controller/bin/hostwarden-controller.js', ['--config', join(dir, 'controller.yaml')]);
    await waitFor('controller /healthz', async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok, 20_000).catch((err) => {
      throw new Error(`${(err as Error).message}\ncontroller output:\n${controller.output()}`);
    });
    startDaemon(cleanup, 'agent/bin/hostwarden-agent.js', ['--config', join(dir, 'agent.yaml')]);
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
        await waitFor(`pid ${pid} in ${parent}/${tenant} (${ctrl || 'unified'})`, () => cgroupOf(pid, ctrl) === `/${parent}/${tenant}`, 15_000);
      }
    }
  });

  it("reports the burner's cpu within 10 points of the kernel's counter, the idle one near 0, and serves them", async () => {
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${admin}` } });
      expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
      return res.json() as Promise<Record<string, unknown>>;
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
