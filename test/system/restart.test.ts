// The agent as a daemon, killed with SIGKILL mid-incident and restarted: limits stay in force, the incident
// goes on, no event is repeated. Then --release-all: no hostwarden cgroup and no frozen process are left.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import type { Report } from '../../shared/wire/agent.js';
import { describeWith, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { burner, Cleanup, cpuTicks, createUser, HIERARCHIES, ownTopCgroup, runProgram, spawnAs, startDaemon, tempDir, type TestUser, uniq, waitFor } from '../helpers/system.js';

function reports(stateDir: string): Report[] {
  const db = new Database(join(stateDir, 'agent.db'), { readonly: true });
  try {
    return db.prepare<[], { body: Buffer }>('SELECT body FROM outbox ORDER BY seq').all().map((r) => JSON.parse(r.body.toString()) as Report);
  } finally {
    db.close();
  }
}

describeWith(missing([needRoot, needV1Cgroups]), 'agent restart and release-all', () => {
  const cleanup = new Cleanup();
  const parent = uniq('hostwarden-t');
  const outside = `${parent}-released`;
  let dir = '';
  let a: TestUser;
  let b: TestUser;
  let c: TestUser;
  const quota = () => Number(readFileSync(`/sys/fs/cgroup/cpu/${parent}/${a.name}/cpu.cfs_quota_us`, 'utf8'));

  beforeAll(() => {
    dir = tempDir(cleanup, 'hw-restart-');
    cleanup.add(`remove cgroups under ${parent}`, () => {
      const d = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
      for (const t of d.list()) d.remove(t, { kill: true });
      d.teardown();
    });
    // Where --release-all moves the tenants' processes in this test (a cgroup of the test's own).
    ownTopCgroup(cleanup, outside);
    a = createUser(cleanup);
    b = createUser(cleanup);
    c = createUser(cleanup);
    writeFileSync(
      join(dir, 'agent.yaml'),
      [
        'host: restart',
        'interval: 1s',
        `state_dir: ${join(dir, 'agent')}`,
        'controller: { enabled: false }',
        'bandwidth: { enabled: false }',
        `cgroup: { parent: ${parent}, release_to: /${outside} }`,
        'log_level: warn',
        'tenants:',
        `  - { name: ${a.name}, users: [${a.name}], plan: small }`,
        `  - { name: ${b.name}, users: [${b.name}], plan: big }`,
        `  - { name: ${c.name}, users: [${c.name}], plan: big }`,
        'plans: { small: { cpu: 100 }, big: { cpu: 200 } }',
        // min_share 0.01 (material from 2% of a core): A is judged on its share of the tenants' use, which other
        // work loading the machine scales alike for all three, not on what the load leaves it.
        'policy: { window: 3s, escalate_after: 1s, cooldown: 10m, factor: 1.25, min_share: 0.01, contention: { cpu: 10 } }',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it('keeps limits in force across SIGKILL and goes on with the same incident, repeating no event', async () => {
    burner(cleanup, a);
    burner(cleanup, b);
    burner(cleanup, b);
    spawnAs(cleanup, c, 'sh', ['-c', 'while :; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; sleep 0.1; done']);
    const first = startDaemon(cleanup, 'agent/bin/hostwarden-agent.js', ['--config', join(dir, 'agent.yaml')]);
    // Throttled: cfs quota below the plan's 100000 (one core); level 1 is half of what A used, at most half the plan.
    await waitFor('A throttled to level 1', () => existsSync(`/sys/fs/cgroup/cpu/${parent}/${a.name}`) && quota() > 0 && quota() <= 50_000, 60_000).catch((err) => {
      throw new Error(`${(err as Error).message}\nagent output:\n${first.output()}`);
    });
    first.child.kill('SIGKILL');
    await first.exited;
    const throttled = quota();
    await new Promise((res) => setTimeout(res, 1500));
    expect(quota()).toBe(throttled); // the kernel still holds the throttle with no agent running
    const before = reports(join(dir, 'agent'));
    const incident = before.flatMap((r) => r.events ?? []).find((e) => e.tenant === a.name)!.incident;

    const second = startDaemon(cleanup, 'agent/bin/hostwarden-agent.js', ['--config', join(dir, 'agent.yaml')]);
    await waitFor('three reports after the restart', () => reports(join(dir, 'agent')).length >= before.length + 3, 30_000);
    expect(quota()).toBeLessThanOrEqual(throttled); // still throttled (level 1 or 2), never reset to the plan
    second.child.kill('SIGTERM');
    await second.exited;

    const all = reports(join(dir, 'agent'));
    const events = all.flatMap((r) => r.events ?? []);
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length); // no duplicate event
    const ofA = events.filter((e) => e.tenant === a.name);
    expect(ofA.filter((e) => e.type === 'opened')).toHaveLength(1); // the same incident goes on
    expect(new Set(ofA.map((e) => e.incident))).toEqual(new Set([incident]));
    expect(new Set(all.map((r) => r.seq)).size).toBe(all.length);
  });

  it('releases a tenant removed from the config: cgroup gone, its processes run on elsewhere', async () => {
    const cPids = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent }).procs(c.name);
    expect(cPids.length).toBeGreaterThan(0);
    const without = join(dir, 'agent-without-c.yaml');
    writeFileSync(without, readFileSync(join(dir, 'agent.yaml'), 'utf8').split('\n').filter((l) => !l.includes(c.name)).join('\n'));
    const r = runProgram('agent/bin/hostwarden-agent.js', ['--config', without, '--once']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const h of HIERARCHIES) expect(existsSync(`/sys/fs/cgroup/${h}/${parent}/${c.name}`), `${h}/${parent}/${c.name}`).toBe(false);
    const alive = cPids.filter((pid) => existsSync(`/proc/${pid}`)); // C's worker forks short-lived sleeps
    expect(alive.length).toBeGreaterThan(0);
    for (const pid of alive) expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`/${outside}`);
    expect(existsSync(`/sys/fs/cgroup/cpu/${parent}/${a.name}`)).toBe(true); // the others stay governed
  });

  it('--release-all leaves no hostwarden cgroup and no frozen process', async () => {
    // B frozen, as a quarantine leaves it.
    const d = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
    d.freeze(b.name);
    const pids = [...d.procs(a.name), ...d.procs(b.name)];
    expect(pids.length).toBeGreaterThanOrEqual(3);
    const r = runProgram('agent/bin/hostwarden-agent.js', ['--config', join(dir, 'agent.yaml'), '--release-all']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const h of HIERARCHIES) expect(existsSync(`/sys/fs/cgroup/${h}/${parent}`), `${h}/${parent}`).toBe(false);
    for (const pid of pids) {
      process.kill(pid, 0); // alive
      expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`/${outside}`);
    }
    // Not frozen: every burner, B's (frozen before) included, runs again.
    const before = pids.map(cpuTicks);
    await new Promise((res) => setTimeout(res, 1000));
    pids.forEach((pid, i) => expect(cpuTicks(pid), `pid ${pid} runs`).toBeGreaterThan(before[i]!));
  });
});
