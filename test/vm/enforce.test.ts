// Plan caps end to end on the guest's real kernel: a plan becomes desired limits (agent/policy/desired.ts),
// the enforcer (agent/enforce.ts) writes them through the v2 driver, and the kernel holds a real load to
// them; a manual throttle tightens, a quarantine freezes, lifting it thaws; --dry-run writes nothing.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devicesOf } from '../../agent/kernel/devices.js';
import { Enforcer } from '../../agent/enforce.js';
import { readPolicyConfig } from '../../agent/policy/policy-config.js';
import { desiredLimits, type Desired } from '../../agent/policy/desired.js';
import type { ManualState } from '../../agent/policy/types.js';
import { Section } from '../../shared/config.js';
import { createLogger } from '../../shared/log.js';
import type { Plan } from '../../shared/wire/agent.js';
import { BURNER, cgDir, deviceNumbers, measureCpuPercent, requireGuest, SCRATCH, SCRATCH_DEV, sleep, tenantScope } from './guest.js';

requireGuest();

const MiB = 1024 * 1024;
const log = createLogger('enforce-test', 'silent');
const PLAN: Plan = { cpu: 40, memory: 64 * MiB, io_read: 4 * MiB, io_write: 4 * MiB, iops: 500, processes: 30, weight: 2 };
const config = readPolicyConfig(Section.root({}));

function manual(action: ManualState['action'], level: number): ManualState {
  return { actionId: 'a1', action, level, reason: 'vm test', since: Date.now(), incident: 'i1', events: 0 };
}

describe('plan caps enforced on the guest v2 hierarchy', () => {
  const g = tenantScope(['acct']);
  let enforcer: Enforcer;
  let home: string;

  function desired(m?: ManualState): Desired {
    return desiredLimits({ plan: PLAN, ladders: undefined, manual: m, config, devices: devicesOf([home]), cpuCapacity: 200 });
  }
  const file = (name: string): string => readFileSync(join(cgDir(g.driver.parent, 'acct'), name), 'utf8').trim();
  const cpuPercent = (ms: number): Promise<number> => measureCpuPercent(g.driver.parent, 'acct', ms);

  beforeAll(() => {
    enforcer = new Enforcer(g.driver, log, false);
    home = mkdtempSync(join(SCRATCH, 'home-'));
  });
  afterAll(() => {
    rmSync(home, { recursive: true, force: true });
  });

  it("maps a home on the scratch disk to the disk's device", () => {
    expect(devicesOf([home])).toEqual([deviceNumbers(SCRATCH_DEV)]);
  });

  it('writes the plan to the kernel: cpu.max, cpu.weight, memory.max/high, io.max on the home disk, pids.max', () => {
    expect(enforcer.reconcile(new Map([['acct', desired()]]))).toEqual({ applied: 1, failed: 0 });
    const { major, minor } = deviceNumbers(SCRATCH_DEV);
    expect(file('cpu.max')).toBe('40000 100000');
    expect(file('cpu.weight')).toBe('200');
    expect(file('memory.max')).toBe(String(64 * MiB));
    expect(Number(file('memory.high'))).toBeCloseTo(0.9 * 64 * MiB, -5);
    expect(file('io.max')).toBe(`${major}:${minor} rbps=${4 * MiB} wbps=${4 * MiB} riops=500 wiops=500`);
    expect(file('pids.max')).toBe('30');
    // Unchanged desire: nothing to write on the next tick.
    expect(enforcer.reconcile(new Map([['acct', desired()]])).applied).toBe(0);
  });

  it('holds a burner to the plan cpu within 5 points', async () => {
    await g.start('acct', BURNER);
    await sleep(1000);
    const pct = await cpuPercent(4000);
    console.log(`plan cpu 40: measured ${pct.toFixed(1)}%`);
    expect(Math.abs(pct - 40)).toBeLessThanOrEqual(5);
  });

  it('a manual throttle at level 1 halves the cap, and the kernel holds the burner to it', async () => {
    expect(enforcer.reconcile(new Map([['acct', desired(manual('throttle', 1))]])).applied).toBe(1);
    expect(file('cpu.max')).toBe(`${Math.round(40 * config.throttle.level1 * 1000)} 100000`);
    await sleep(1000);
    const pct = await cpuPercent(4000);
    console.log(`throttle level 1 (cap ${40 * config.throttle.level1}): measured ${pct.toFixed(1)}%`);
    expect(Math.abs(pct - 40 * config.throttle.level1)).toBeLessThanOrEqual(5);
  });

  it('quarantine freezes the tenant; lifting it thaws back to the plan', async () => {
    enforcer.reconcile(new Map([['acct', desired(manual('quarantine', 3))]]));
    expect(g.driver.isFrozen('acct')).toBe(true);
    expect(await cpuPercent(1500)).toBeLessThan(1);
    enforcer.reconcile(new Map([['acct', desired()]]));
    expect(g.driver.isFrozen('acct')).toBe(false);
    expect(file('cpu.max')).toBe('40000 100000');
    // That a thawed tenant runs again at its cap is freeze.test.ts's and the first test's to show.
  });

  it('--dry-run decides but writes nothing', () => {
    const dry = new Enforcer(g.driver, log, true);
    const before = ['cpu.max', 'memory.max', 'io.max', 'pids.max', 'cgroup.freeze'].map(file);
    dry.reconcile(new Map([['acct', desired(manual('quarantine', 3))]]));
    expect(['cpu.max', 'memory.max', 'io.max', 'pids.max', 'cgroup.freeze'].map(file)).toEqual(before);
  });
});
