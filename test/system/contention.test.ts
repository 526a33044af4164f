// Contention judged by what the others feel, with Debian's stress-ng as real tenant load on this machine
// (cgroup v1 with the cgroup2 mount, where the tenants' pressure comes from): a lone burster is never
// throttled; under contention the offender is throttled, the others' share rises and the throttle holds while
// they run; after they stop the offender is released within cooldown + one window and runs unthrottled again.
// cpu, and io with direct writes to a filesystem on a loop device (v1 counts only direct IO per cgroup).
// Load from outside the tenants (other work on this 2-core machine) scales every tenant alike: the test judges
// shares between tenants and what the kernel holds, never absolute speeds. The agent runs in-process on the
// real driver and is ticked by the test every second.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { readAgentConfig } from '../../agent/config.js';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import type { CgroupDriver } from '../../agent/kernel/cgroup/driver.js';
import { COOLDOWN_S, placedAll, POLICY, runScenario, useOver, WINDOW_S } from '../helpers/contention.js';
import { describeWith, hasCommand, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { Cleanup, createUser, reachedUnlessBusy, spawnAs, tempDir, type TestUser, uniq } from '../helpers/system.js';

const log = pino({ level: process.env.HW_TEST_LOG ?? 'silent' });
// io pressure climbs slowly: the others' avg10 may take 20 s and more to reach the threshold on a loaded machine.
// By then a 30 s window held little of the lone burst and the offender's share sat on the line (a CI run saw it
// opened at 0.40 against 1.5 x 0.25 = 0.375, never throttled); a 60 s window still holds most of the burst.
const IO_WINDOW_S = 60;
const needUnified: [boolean, string] = [existsSync('/sys/fs/cgroup/unified/cgroup.procs') && existsSync('/proc/pressure/cpu'), 'needs the cgroup2 mount at /sys/fs/cgroup/unified and PSI'];

interface Rig {
  cleanup: Cleanup;
  parent: string;
  dir: string;
  driver: CgroupDriver;
  users: TestUser[];
}

function rig(n: number): Rig {
  const cleanup = new Cleanup();
  const parent = uniq('hostwarden-t');
  const dir = tempDir(cleanup, 'hw-contention-');
  const driver = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
  cleanup.add(`remove cgroups under ${parent}`, () => {
    for (const t of driver.list()) driver.remove(t, { kill: true });
    driver.teardown();
  });
  const users = Array.from({ length: n }, () => createUser(cleanup));
  return { cleanup, parent, dir, driver, users };
}

function agentFor(r: Rig, tenants: Array<Record<string, unknown>>, policy: Record<string, unknown> = {}): Agent {
  const config = readAgentConfig({
    host: 'contention',
    interval: '1s',
    state_dir: join(r.dir, 'agent'),
    controller: { enabled: false },
    cgroup: { parent: r.parent },
    bandwidth: { enabled: false },
    inodes: { enabled: false },
    inventory: { enabled: false },
    tenants,
    policy: { ...POLICY, ...policy },
  });
  return new Agent({ config, driver: r.driver, log });
}

const check = (what: string, ok: boolean, detail: string) => expect(ok, `${what}: ${detail}`).toBe(true);

describeWith(missing([needRoot, needV1Cgroups, needUnified, [hasCommand('stress-ng'), 'needs stress-ng (scripts/install-prereqs.sh)']]), 'contention judged by the others, stress-ng on real cgroups', () => {
  let r: Rig;
  beforeAll(() => {
    r = rig(4);
  });
  afterAll(async () => expect(await r.cleanup.run()).toEqual([]));

  it('cpu: stress-ng --cpu 2 alone bursts freely; against three others it is throttled until they stop, then released', { timeout: 240_000 }, async () => {
    const [off, ...others] = r.users.map((u) => u.name) as [string, ...string[]];
    const agent = agentFor(
      r,
      r.users.map((u) => ({ name: u.name, users: [u.name] })),
    );
    const procs: Array<[string, ChildProcess]> = [];
    const otherProcs: ChildProcess[] = [];
    try {
      agent.init();
      const res = await runScenario(
        {
          agent,
          driver: r.driver,
          resource: 'cpu',
          offender: off,
          others,
          windowS: WINDOW_S,
          cooldownS: COOLDOWN_S,
          startOffender: () => void procs.push([off, spawnAs(r.cleanup, r.users[0], 'stress-ng', ['--cpu', '2', '--temp-path', '/tmp', '--timeout', '600', '--quiet'])]),
          startOthers: () => {
            r.users.slice(1).forEach((u) => {
              const p = spawnAs(r.cleanup, u, 'stress-ng', ['--cpu', '1', '--temp-path', '/tmp', '--timeout', '600', '--quiet']);
              otherProcs.push(p);
              procs.push([u.name, p]);
            });
          },
          stopOthers: () => {
            for (const p of otherProcs) process.kill(-p.pid!, 'SIGKILL');
          },
          placed: () => placedAll(agent, r.driver, procs),
        },
        check,
      );
      // Held by the kernel at the level-1 target while throttled was checked by shares; now unthrottled again:
      // the quota is lifted and it takes more than its throttle allowed (unless other work took the CPU).
      expect(r.driver.getLimits(off).cpuPercent).toBeNull();
      const verdict = reachedUnlessBusy(res.again, (await useOver(r.driver, [off], 2000)).idle, Math.min(1.5 * res.target, 100));
      expect(verdict.ok, `runs at full speed again: ${verdict.why} (lone burst ${res.lone.toFixed(1)}%)`).toBe(true);
      console.log(`cpu contention: lone ${res.lone.toFixed(1)}%, others' share ${res.before.toFixed(3)} -> ${res.after.toFixed(3)}, target ${res.target}%, released ${res.releasedAfterS.toFixed(1)} s after the others stopped, again ${res.again.toFixed(1)}%`);
    } finally {
      await agent.stop();
      for (const t of r.users) for (const pid of r.driver.procs(t.name)) process.kill(pid, 'SIGKILL');
    }
  });

  describeWith(missing([[hasCommand('losetup') && hasCommand('mkfs.ext4'), 'needs losetup and mkfs.ext4']]), 'io', () => {
    it('io: stress-ng --hdd (direct IO) on a loop device: burst alone freely; throttled against three others; released after', { timeout: 240_000 }, async () => {
      const img = join(r.dir, 'disk.img');
      execFileSync('truncate', ['-s', '1G', img]);
      execFileSync('mkfs.ext4', ['-q', '-F', img]);
      const dev = execFileSync('losetup', ['--find', '--show', img]).toString().trim();
      r.cleanup.add(`losetup -d ${dev}`, () => execFileSync('losetup', ['-d', dev]));
      const mnt = join(r.dir, 'mnt');
      chmodSync(r.dir, 0o755);
      mkdirSync(mnt);
      execFileSync('mount', [dev, mnt]);
      r.cleanup.add(`umount ${mnt}`, () => execFileSync('umount', [mnt]));
      const homes = r.users.map((u) => {
        const h = join(mnt, u.name);
        mkdirSync(h);
        chownSync(h, u.uid, u.gid);
        return h;
      });
      // io alone is judged here: cpu contention is set out of reach (stress-ng's io workers use CPU too, and
      // other work on this machine makes everyone wait for it), and the window is longer: io pressure climbs slower.
      const agent = agentFor(
        r,
        r.users.map((u, i) => ({ name: u.name, users: [u.name], homes: [homes[i]] })),
        { window: `${IO_WINDOW_S}s`, contention: { cpu: 100, io: 5 } },
      );
      const [off, ...others] = r.users.map((u) => u.name) as [string, ...string[]];
      const procs: Array<[string, ChildProcess]> = [];
      const otherProcs: ChildProcess[] = [];
      const hdd = (u: TestUser, home: string, workers: number) => spawnAs(r.cleanup, u, 'stress-ng', ['--hdd', String(workers), '--hdd-opts', 'direct,wr-seq', '--hdd-bytes', '32M', '--hdd-write-size', '1M', '--temp-path', home, '--timeout', '600', '--quiet']);
      try {
        agent.init();
        const res = await runScenario(
          {
            agent,
            driver: r.driver,
            resource: 'io',
            offender: off,
            others,
            windowS: IO_WINDOW_S,
            cooldownS: COOLDOWN_S,
            // Three workers against one each (the kernel does not share io per worker here: it takes about a
            // third, not half, once the others run).
            startOffender: () => void procs.push([off, hdd(r.users[0]!, homes[0]!, 3)]),
            startOthers: () => {
              r.users.slice(1).forEach((u, i) => {
                const p = hdd(u, homes[i + 1]!, 1);
                otherProcs.push(p);
                procs.push([u.name, p]);
              });
            },
            stopOthers: () => {
              for (const p of otherProcs) process.kill(-p.pid!, 'SIGKILL');
            },
            placed: () => placedAll(agent, r.driver, procs),
          },
          check,
        );
        expect(r.driver.getLimits(off).io ?? []).toEqual([]);
        expect(res.again, `writes faster than its throttle allowed again (${res.again} B/s against ${res.target} B/s)`).toBeGreaterThan(1.5 * res.target);
        console.log(`io contention: lone ${(res.lone / 2 ** 20).toFixed(1)} MiB/s, others' share ${res.before.toFixed(3)} -> ${res.after.toFixed(3)}, target ${(res.target / 2 ** 20).toFixed(1)} MiB/s, released ${res.releasedAfterS.toFixed(1)} s after the others stopped, again ${(res.again / 2 ** 20).toFixed(1)} MiB/s`);
      } finally {
        await agent.stop();
        for (const t of r.users) for (const pid of r.driver.procs(t.name)) process.kill(pid, 'SIGKILL');
      }
    });
  });
});
