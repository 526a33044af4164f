// Contention judged by what the others feel, on the guest's pure cgroup v2 kernel (the production target):
// the same acceptance as test/system/contention.test.ts (v1/hybrid), with Debian's stress-ng as real tenant
// load: a lone burster is never throttled; against three others it is throttled, their share rises and the
// throttle holds while they run; after they stop it is released within cooldown + one window, unthrottled.
// cpu, and io with direct writes on the scratch disk. Judged by shares between tenants (TCG emulation makes
// every absolute speed meaningless). The agent runs in-process on the v2 driver, ticked by the test.
import { type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { readAgentConfig } from '../../agent/config.js';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import type { CgroupDriver } from '../../agent/kernel/cgroup/driver.js';
import { COOLDOWN_S, placedAll, POLICY, runScenario, WINDOW_S } from '../helpers/contention.js';
import { Cleanup, createUser, spawnAs, tempDir, type TestUser } from '../helpers/system.js';
import { CGROUP_ROOT, destroyParent, PROC_ROOT, requireGuest, SCRATCH, uniqueParent } from './guest.js';

requireGuest();

const log = pino({ level: process.env.HW_TEST_LOG ?? 'silent' });
const check = (what: string, ok: boolean, detail: string) => expect(ok, `${what}: ${detail}`).toBe(true);

describe('contention judged by the others on cgroup v2, stress-ng', () => {
  const cleanup = new Cleanup();
  const parent = uniqueParent();
  let driver: CgroupDriver;
  let users: TestUser[];
  let dir: string;

  beforeAll(() => {
    dir = tempDir(cleanup, 'hw-vm-contention-');
    driver = createDriver({ cgroupRoot: CGROUP_ROOT, procRoot: PROC_ROOT, parent, driver: 'v2' });
    cleanup.add(`remove cgroups under ${parent}`, () => destroyParent(parent));
    users = Array.from({ length: 4 }, () => createUser(cleanup, 'hwc'));
  });
  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  function agentFor(tenants: Array<Record<string, unknown>>, policy: Record<string, unknown> = {}): Agent {
    const config = readAgentConfig({
      host: 'vm-contention',
      interval: '1s',
      state_dir: join(dir, `agent-${tenants.length}-${Object.keys(policy).length}`),
      controller: { enabled: false },
      cgroup: { parent, driver: 'v2' },
      bandwidth: { enabled: false },
      inodes: { enabled: false },
      inventory: { enabled: false },
      tenants,
      policy: { ...POLICY, ...policy },
    });
    return new Agent({ config, driver, log });
  }

  async function scenario(resource: 'cpu' | 'io', windowS: number, agent: Agent, start: (u: TestUser, i: number, offender: boolean) => ChildProcess) {
    const [off, ...others] = users.map((u) => u.name) as [string, ...string[]];
    const procs: Array<[string, ChildProcess]> = [];
    const otherProcs: ChildProcess[] = [];
    try {
      agent.init();
      return await runScenario(
        {
          agent,
          driver,
          resource,
          offender: off,
          others,
          windowS,
          cooldownS: COOLDOWN_S,
          startOffender: () => void procs.push([off, start(users[0]!, 0, true)]),
          startOthers: () => {
            users.slice(1).forEach((u, i) => {
              const p = start(u, i + 1, false);
              otherProcs.push(p);
              procs.push([u.name, p]);
            });
          },
          stopOthers: () => {
            for (const p of otherProcs) process.kill(-p.pid!, 'SIGKILL');
          },
          placed: () => placedAll(agent, driver, procs),
        },
        check,
      );
    } finally {
      await agent.stop();
      for (const u of users) for (const pid of driver.procs(u.name)) process.kill(pid, 'SIGKILL');
    }
  }

  it('cpu: stress-ng --cpu alone bursts freely; throttled against three others while they run; released after', { timeout: 300_000 }, async () => {
    const agent = agentFor(users.map((u) => ({ name: u.name, users: [u.name] })));
    const res = await scenario('cpu', WINDOW_S, agent, (u, _i, offender) => spawnAs(cleanup, u, 'stress-ng', ['--cpu', offender ? '2' : '1', '--temp-path', '/tmp', '--timeout', '600', '--quiet']));
    expect(driver.getLimits(users[0]!.name).cpuPercent).toBeNull();
    console.log(`vm cpu contention: lone ${res.lone.toFixed(1)}%, others' share ${res.before.toFixed(3)} -> ${res.after.toFixed(3)}, target ${res.target}%, released ${res.releasedAfterS.toFixed(1)} s after, again ${res.again.toFixed(1)}%`);
    expect(res.again, 'runs faster than its throttle allowed again').toBeGreaterThan(1.5 * res.target);
  });

  it('io: stress-ng --hdd (direct IO) on the scratch disk; throttled against three others while they run; released after', { timeout: 300_000 }, async () => {
    const base = mkdtempSync(join(SCRATCH, 'contention-'));
    chmodSync(base, 0o755);
    cleanup.add(`rm ${base}`, () => rmSync(base, { recursive: true, force: true }));
    const homes = users.map((u) => {
      const h = join(base, u.name);
      mkdirSync(h);
      chownSync(h, u.uid, u.gid);
      return h;
    });
    const agent = agentFor(
      users.map((u, i) => ({ name: u.name, users: [u.name], homes: [homes[i]] })),
      { window: '30s', contention: { cpu: 100, io: 5 } },
    );
    const res = await scenario('io', 30, agent, (u, i, offender) =>
      spawnAs(cleanup, u, 'stress-ng', ['--hdd', offender ? '2' : '1', '--hdd-opts', 'direct,wr-seq', '--hdd-bytes', '32M', '--hdd-write-size', '1M', '--temp-path', homes[i]!, '--timeout', '600', '--quiet']),
    );
    expect(driver.getLimits(users[0]!.name).io ?? []).toEqual([]);
    console.log(`vm io contention: lone ${(res.lone / 2 ** 20).toFixed(1)} MiB/s, others' share ${res.before.toFixed(3)} -> ${res.after.toFixed(3)}, target ${(res.target / 2 ** 20).toFixed(1)} MiB/s, released ${res.releasedAfterS.toFixed(1)} s after, again ${(res.again / 2 ** 20).toFixed(1)} MiB/s`);
    expect(res.again, 'writes faster than its throttle allowed again').toBeGreaterThan(1.5 * res.target);
  });
});
