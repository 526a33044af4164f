// Placement on the real kernel: strays are moved into their tenant's cgroup and counted; a tenant cgroup
// removed under the agent is made again, and its stats are read again afterwards. Between full passes placement
// only looks at what was born (or changed owner while young): a new process, and a root process that setuids to
// the tenant after placement first saw it (su, sshd), are each placed by the next single round.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import type { CgroupDriver } from '../../agent/kernel/cgroup/driver.js';
import { readAgentConfig } from '../../agent/config.js';
import { describeWith, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { Cleanup, cgroupOf, createUser, spawnAs, tempDir, type TestUser, uniq, waitFor } from '../helpers/system.js';

describeWith(missing([needRoot, needV1Cgroups]), 'placement', () => {
  const cleanup = new Cleanup();
  const parent = uniq('hostwarden-t');
  let driver: CgroupDriver;
  let agent: Agent;
  let user: TestUser;

  beforeAll(() => {
    const dir = tempDir(cleanup, 'hw-place-');
    driver = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
    cleanup.add(`remove cgroups under ${parent}`, () => {
      for (const t of driver.list()) driver.remove(t, { kill: true });
      driver.teardown();
    });
    user = createUser(cleanup);
    const config = readAgentConfig({
      host: 'place',
      interval: '1s',
      state_dir: join(dir, 'agent'),
      controller: { enabled: false },
      cgroup: { parent },
      bandwidth: { enabled: false },
      tenants: [{ name: user.name, users: [user.name] }],
    });
    agent = new Agent({ config, driver, log: pino({ level: 'silent' }) });
    cleanup.add('stop the agent', () => agent.stop());
    agent.init();
  });
  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it('moves strays in every hierarchy and counts them in the next report; root processes are never touched', async () => {
    const a = spawnAs(cleanup, user, 'sleep', ['600']);
    const b = spawnAs(cleanup, user, 'sleep', ['600']);
    const rootProc = spawnAs(cleanup, undefined, 'sleep', ['600']);
    const t = await agent.tick();
    // Every hierarchy the agent governs and counts through; not the v1 freezer where the unified mount freezes
    // (V1Driver.placementDirs).
    for (const pid of [a.pid!, b.pid!]) for (const ctrl of ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', '']) expect(cgroupOf(pid, ctrl), ctrl).toBe(`/${parent}/${user.name}`);
    expect(t.samples.find((s) => s.tenant === user.name)?.strays).toBe(2);
    expect(cgroupOf(rootProc.pid!, 'cpu')).not.toContain(parent);
    const again = await agent.tick();
    expect(again.samples.find((s) => s.tenant === user.name)?.strays).toBeUndefined(); // nothing new to place
  });

  it('places a process born after the last round in one cheap round (no full pass)', () => {
    agent.place(); // the full pass of init is behind us; this round and the next are incremental
    const p = spawnAs(cleanup, user, 'sleep', ['600']);
    agent.place();
    expect(cgroupOf(p.pid!, 'cpu')).toBe(`/${parent}/${user.name}`);
    expect(cgroupOf(p.pid!, 'memory')).toBe(`/${parent}/${user.name}`);
  });

  it('places a process first seen as root that then setuids to the tenant, in the round after the change', async () => {
    // A root shell that, 1.5 s after its start, becomes the tenant (setpriv: setuid + exec, like su's child or sshd's
    // session process) under the same PID.
    const p = spawnAs(cleanup, undefined, 'sh', ['-c', `sleep 1.5; exec setpriv --reuid=${user.uid} --regid=${user.gid} --clear-groups sleep 600`]);
    agent.place();
    expect(statSync(`/proc/${p.pid}`).uid).toBe(0); // seen as root by that round
    expect(cgroupOf(p.pid!, 'cpu')).not.toContain(parent);
    await waitFor('the process to change its owner', () => statSync(`/proc/${p.pid}`).uid === user.uid, 10_000, 50);
    agent.place();
    expect(cgroupOf(p.pid!, 'cpu')).toBe(`/${parent}/${user.name}`);
  });

  it('makes a tenant cgroup removed under it again, and reads its stats again', async () => {
    driver.remove(user.name, { kill: true });
    const gone = await agent.tick(); // a tick without the cgroup goes on (the killed processes may still be reaped)
    expect(gone.samples.find((s) => s.tenant === user.name)).toBeDefined();
    const c = spawnAs(cleanup, user, 'sleep', ['600']);
    await waitFor('the stray placed into the re-made cgroup', () => (agent.place(), cgroupOf(c.pid!, 'cpu') === `/${parent}/${user.name}`), 10_000);
    const back = await agent.tick();
    expect(back.samples.find((s) => s.tenant === user.name)?.processes).toEqual({ count: 1 });
  });
});
