// The built agent as a daemon on the guest's pure cgroup v2 host, with real users: it detects v2, places the
// tenants' processes, applies their plan to the kernel (the burner is held to the plan's cpu), and
// `--release-all` lets everything run on ungoverned. The kernel-facing half of test/system/e2e.test.ts (which
// runs on the hybrid build host with the controller too); no controller here: reports are not kernel-facing,
// and the agent governs while its controller is down, which this shows as well.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { burner, Cleanup, cgroupOf, cpuTicks, createUser, REFUSED_URL, runProgram, spawnAs, startDaemon, tempDir, type Daemon, type TestUser, waitFor, writeToken } from '../helpers/system.js';
import { cgDir, destroyParent, measureCpuPercent, requireGuest, run, sleep, uniqueParent } from './guest.js';

requireGuest();

const AGENT = 'agent/bin/hostwarden-agent.js';
const MiB = 1024 * 1024;

describe('the agent daemon on a pure cgroup v2 host', () => {
  const cleanup = new Cleanup();
  const parent = uniqueParent();
  const table = parent.replace('-', '_');
  let config = '';
  let busy: TestUser;
  let idle: TestUser;
  let burnerPid = 0;
  let sleeperPid = 0;
  let agent: Daemon;

  beforeAll(async () => {
    if (!existsSync(join('dist', AGENT))) throw new Error(`dist/${AGENT} is missing: build with \`npx tsc -b\` (test-vm.sh does) before the VM tier`);
    const dir = tempDir(cleanup, 'hw-vm-agent-');
    // Last resort whatever happened: the agent's cgroups and nftables table go away.
    cleanup.add(`remove cgroups under ${parent}`, () => destroyParent(parent));
    cleanup.add(`nft delete table inet ${table}`, () => run('sh', ['-c', `nft delete table inet ${table} 2>/dev/null || true`]));
    busy = createUser(cleanup, 'hwa');
    idle = createUser(cleanup, 'hwi');
    burnerPid = burner(cleanup, busy).pid!;
    sleeperPid = spawnAs(cleanup, idle, 'sleep', ['600']).pid!;

    // Nothing listens there: every report is refused, and the agent must govern all the same.
    writeToken(join(dir, 'agent.token'));
    config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      [
        'host: vm',
        'interval: 2s',
        `state_dir: ${join(dir, 'agent')}`,
        `controller: { url: "${REFUSED_URL}", token_file: ${join(dir, 'agent.token')} }`,
        `cgroup: { parent: ${parent} }`,
        `bandwidth: { table: ${table} }`,
        'log_level: warn',
        'plans:',
        '  small: { cpu: 50, memory: 256M, processes: 64, weight: 1 }',
        'tenants:',
        `  - { name: ${busy.name}, users: [${busy.name}], email: busy@example.com, plan: small }`,
        `  - { name: ${idle.name}, users: [${idle.uid}], email: idle@example.com, plan: small }`,
        '',
      ].join('\n'),
    );
    agent = startDaemon(cleanup, AGENT, ['--config', config]);
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it("places each tenant's processes in its cgroup under the agent's parent", async () => {
    for (const [pid, tenant] of [
      [burnerPid, busy.name],
      [sleeperPid, idle.name],
    ] as const) {
      await waitFor(`pid ${pid} in /${parent}/${tenant}`, () => cgroupOf(pid, '') === `/${parent}/${tenant}`, 60_000).catch((err) => {
        throw new Error(`${(err as Error).message}\nagent output:\n${agent.output()}`);
      });
    }
    // The agent enabled the controllers for its tenants itself.
    expect(readFileSync(join(cgDir(parent), 'cgroup.subtree_control'), 'utf8').trim().split(' ').sort()).toEqual(['cpu', 'io', 'memory', 'pids']);
  });

  it('applies the plan to the kernel and holds the burner to it', async () => {
    const file = (name: string): string => readFileSync(join(cgDir(parent, busy.name), name), 'utf8').trim();
    // One setLimits writes them in turn; under emulation the test may look between two writes: wait for all.
    await waitFor('the plan in cpu.max, memory.max and pids.max', () => file('cpu.max') === '50000 100000' && file('pids.max') === '64', 30_000);
    expect(file('memory.max')).toBe(String(256 * MiB));
    await sleep(1000);
    const pct = await measureCpuPercent(parent, busy.name, 5000);
    console.log(`agent-applied plan cpu 50: measured ${pct.toFixed(1)}%`);
    expect(Math.abs(pct - 50)).toBeLessThanOrEqual(5);
  });

  it('--release-all lets the processes run on, ungoverned, and removes what the agent made', async () => {
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const r = runProgram(AGENT, ['--config', config, '--release-all']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(cgDir(parent))).toBe(false);
    expect(cgroupOf(burnerPid, '')).toBe('/');
    expect(cgroupOf(sleeperPid, '')).toBe('/');
    expect(run('sh', ['-c', `nft list table inet ${table} >/dev/null 2>&1 && echo present || echo gone`]).trim()).toBe('gone');
    // No cap any more: the burner has a whole core again (clock ticks of the process: 100 per second).
    const k0 = cpuTicks(burnerPid);
    await sleep(3000);
    expect(cpuTicks(burnerPid) - k0).toBeGreaterThan(255);
  });
});
