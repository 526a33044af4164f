// The walking skeleton end to end, with real parts only: two Linux users, a CPU burner and an idle process,
// the built controller and agent as daemons on loopback, real cgroups. Checks placement, the measured cpu
// against the kernel's own counter, and the usage API. Other work may load the machine meanwhile: the
// agent's figures are compared with the kernel's counter over the very intervals they cover.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { burner, Cleanup, cgroupOf, createUser, hostIdleSeconds, reachedUnlessBusy, spawnAs, waitFor } from '../helpers/system.js';

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
    // The kernel's counter of the burner's cgroup (the one the agent reads), every 100 ms for 10 s and the
    // few seconds the last samples take to be reported; the host's idle CPU over the same span.
    const counter = `/sys/fs/cgroup/cpuacct/${stack.parent}/${busy.name}/cpuacct.usage`;
    const polled: Array<[ms: number, ns: number]> = [];
    const pollOnce = () => polled.push([Date.now(), Number(readFileSync(counter, 'utf8'))]);
    const idle0 = hostIdleSeconds();
    pollOnce();
    const poller = setInterval(pollOnce, 100);
    await new Promise((r) => setTimeout(r, 13_000));
    clearInterval(poller);
    pollOnce();
    const idleCores = ((hostIdleSeconds() - idle0) / ((polled.at(-1)![0] - polled[0]![0]) / 1000)) * 100;
    const [t0, t1] = [polled[0]![0], polled.at(-1)![0]];

    const range = `from=${new Date(t0).toISOString()}&to=${new Date(t1).toISOString()}`;
    const busyUsage = await get(`/v1/tenants/${busy.name}/usage?${range}`);
    const idleUsage = await get(`/v1/tenants/${idle.name}/usage?${range}`);
    // A raw point at time `at` is the agent's measurement over the interval before it: [at - step, at].
    const step = (busyUsage.step_seconds as number) * 1000;
    const times = (busyUsage.times as string[]).map((t) => Date.parse(t));
    const avg = (busyUsage.series as Record<string, { avg: Array<number | null> }>).cpu_percent?.avg ?? [];
    const pairs = times.flatMap((at, k) => (at - step >= t0 && at <= t1 && typeof avg[k] === 'number' ? [[avg[k], kernelPercent(polled, at - step, at)] as const] : []));
    const idleCpu = cpuPoints(idleUsage);
    expect(busyUsage.source).toBe('raw');
    expect(pairs.length).toBeGreaterThanOrEqual(3);
    expect(idleCpu.length).toBeGreaterThanOrEqual(3);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const agent = mean(pairs.map(([a]) => a));
    const kernel = mean(pairs.map(([, k]) => k));
    // The burner really ran: half a core at least, unless other work took the CPU (the host left none idle).
    expect(kernel).toBeGreaterThan(1);
    const ran = reachedUnlessBusy(kernel, idleCores, 50);
    expect(ran.ok, ran.why).toBe(true);
    expect(Math.abs(agent - kernel), `agent ${agent.toFixed(1)}% against the kernel's ${kernel.toFixed(1)}% over the same ${pairs.length} intervals`).toBeLessThanOrEqual(10);
    for (const v of idleCpu) expect(v).toBeLessThan(2);

    const tenants = await get('/v1/tenants');
    expect(JSON.stringify(tenants)).toContain(busy.name);
    expect(JSON.stringify(tenants)).toContain(idle.name);
    const hosts = await get('/v1/hosts');
    expect(JSON.stringify(hosts)).toContain('"e2e"');
  });
});

/** The cgroup's cpu use over [from, to] in percent of one core, interpolated from (ms, ns) readings around it. */
function kernelPercent(polled: ReadonlyArray<readonly [number, number]>, from: number, to: number): number {
  const at = (t: number): number => {
    const i = polled.findIndex(([ms]) => ms >= t);
    if (i <= 0) return polled[Math.max(i, 0)]![1];
    const [m0, n0] = polled[i - 1]!;
    const [m1, n1] = polled[i]!;
    return m1 === m0 ? n1 : n0 + ((n1 - n0) * (t - m0)) / (m1 - m0);
  };
  return ((at(to) - at(from)) / 1e6 / (to - from)) * 100;
}

/** The cpu values of a usage response (`series.cpu_percent.avg`, one per point; null where no sample). */
function cpuPoints(usage: Record<string, unknown>): number[] {
  const series = usage.series as Record<string, { avg: Array<number | null> }> | undefined;
  return (series?.cpu_percent?.avg ?? []).filter((v): v is number => typeof v === 'number');
}
