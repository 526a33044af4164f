// desiredLimits(): what the kernel should hold for a tenant, from its plan, its ladders and a manual action.
// Named table cases for the memory and io paths (memory.high and memory.max; per-device read and write bytes/s
// and iops, with the min_io floor), after the cpu and quarantine cases.
import { describe, expect, it } from 'vitest';
import { Section } from '../../../../shared/config.js';
import type { Plan } from '../../../../shared/wire/agent.js';
import { type Desired, desiredLimits, MEMORY_HIGH_FRACTION } from '../../../../agent/policy/desired.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import type { Governed, LadderState, ManualState } from '../../../../agent/policy/types.js';

const config = readPolicyConfig(
  Section.root({ window: '30s', stale: '30s', escalate_after: '10s', cooldown: '60s', factor: 1.5, min_share: 0.1, max_tighten_per_tick: 2, contention: { cpu: 20 } }),
);
const MiB = 1 << 20;
const GiB = 1 << 30;

describe('desiredLimits(): plan caps, cpu and quarantine', () => {
  const plan = { cpu: 100, memory: 1 << 30, io_read: 10 << 20, io_write: 10 << 20, iops: 1000, processes: 100, weight: 2 };
  const devices = [{ major: 254, minor: 0 }];

  it('holds the plan caps when nothing is wrong', () => {
    expect(desiredLimits({ plan, ladders: undefined, manual: undefined, config, devices, cpuCapacity: 200 })).toEqual({
      limits: {
        cpuPercent: 100,
        cpuWeight: 200,
        memoryHigh: Math.round((1 << 30) * 0.9),
        memoryMax: 1 << 30,
        io: [{ major: 254, minor: 0, rbps: 10 << 20, wbps: 10 << 20, riops: 1000, wiops: 1000 }],
        pidsMax: 100,
      },
      frozen: false,
    });
    expect(desiredLimits({ plan: undefined, ladders: undefined, manual: undefined, config, devices, cpuCapacity: 200 }).limits).toEqual({ cpuPercent: null, cpuWeight: 100, memoryHigh: null, memoryMax: null, io: [], pidsMax: null });
  });

  it('tightens cpu and lowers the weight per throttle level; quarantine freezes', () => {
    const ladder = { incident: 'x', resource: 'cpu' as const, rule: 'r', level: 2, openedAt: 0, changedAt: 0, violatingSince: null, calmSince: null, base: { value: 80 }, events: 2 };
    const d = desiredLimits({ plan, ladders: { cpu: ladder }, manual: undefined, config, devices, cpuCapacity: 200 });
    expect(d.limits.cpuPercent).toBe(20);
    expect(d.limits.cpuWeight).toBe(50);
    expect(d.frozen).toBe(false);
    expect(desiredLimits({ plan, ladders: { cpu: { ...ladder, level: 3 } }, manual: undefined, config, devices, cpuCapacity: 200 }).frozen).toBe(true);
    const manual = { actionId: 'm1', action: 'throttle' as const, level: 1, reason: 'r', since: 0, incident: 'i', events: 1 };
    expect(desiredLimits({ plan: undefined, ladders: undefined, manual, config, devices, cpuCapacity: 200 }).limits.cpuPercent).toBe(100);
  });
});

/** A ladder at `level` whose throttle levels are fractions of `base` (level 1: 50%, level 2: 25%). */
function ladder(resource: Governed, level: number, base?: LadderState['base']): LadderState {
  return { incident: `t-${resource}-0`, resource, rule: 'contention_disproportion', level, openedAt: 0, changedAt: 0, violatingSince: null, calmSince: null, events: 1, ...(base ? { base } : {}) };
}

function manualThrottle(level: number): ManualState {
  return { actionId: 'm1', action: 'throttle', level, reason: 'r', since: 0, incident: 'i', events: 1 };
}

interface Case {
  name: string;
  plan?: Plan;
  ladders?: Partial<Record<Governed, LadderState>>;
  manual?: ManualState;
  devices?: Array<{ major: number; minor: number }>;
  expected: Partial<Desired['limits']> & { frozen?: boolean };
}

const PLAN: Plan = { cpu: 100, memory: GiB, io_read: 10 * MiB, io_write: 10 * MiB, iops: 1000, processes: 100, weight: 1 };
const DISK = { major: 254, minor: 0 };
const SECOND_DISK = { major: 8, minor: 16 };

const CASES: Case[] = [
  // memory
  { name: 'memory: the plan caps memory.max, and memory.high sits below it', plan: PLAN, expected: { memoryMax: GiB, memoryHigh: Math.round(GiB * MEMORY_HIGH_FRACTION) } },
  { name: 'memory: without a plan cap neither is limited', plan: { weight: 1 }, expected: { memoryMax: null, memoryHigh: null } },
  { name: 'memory: a notice changes no limit', plan: PLAN, ladders: { memory: ladder('memory', 0) }, expected: { memoryMax: GiB, memoryHigh: Math.round(GiB * MEMORY_HIGH_FRACTION) } },
  {
    name: 'memory: throttle level 1 lowers memory.high to half the base; memory.max stays the plan',
    plan: PLAN,
    ladders: { memory: ladder('memory', 1, { value: 800 * MiB }) },
    expected: { memoryMax: GiB, memoryHigh: 400 * MiB },
  },
  { name: 'memory: throttle level 2 is a quarter of the base', plan: PLAN, ladders: { memory: ladder('memory', 2, { value: 800 * MiB }) }, expected: { memoryHigh: 200 * MiB } },
  {
    name: 'memory: a throttle never raises memory.high above the plan\'s',
    plan: PLAN,
    ladders: { memory: ladder('memory', 1, { value: 4 * GiB }) },
    expected: { memoryHigh: Math.round(GiB * MEMORY_HIGH_FRACTION) },
  },
  { name: 'memory: a throttle never goes below 16 MiB', plan: PLAN, ladders: { memory: ladder('memory', 2, { value: 40 * MiB }) }, expected: { memoryHigh: 16 * MiB } },
  { name: 'memory: a throttle without a plan cap sets memory.high alone', plan: { weight: 1 }, ladders: { memory: ladder('memory', 1, { value: 2 * GiB }) }, expected: { memoryHigh: GiB, memoryMax: null } },
  { name: 'memory: a memory ladder leaves cpu and io as the plan has them', plan: PLAN, ladders: { memory: ladder('memory', 2, { value: GiB }) }, expected: { cpuPercent: 100, cpuWeight: 100 } },
  // io
  {
    name: 'io: the plan caps every device of the tenant\'s homes: read and write bytes/s, and iops both ways',
    plan: PLAN,
    devices: [DISK, SECOND_DISK],
    expected: {
      io: [
        { ...DISK, rbps: 10 * MiB, wbps: 10 * MiB, riops: 1000, wiops: 1000 },
        { ...SECOND_DISK, rbps: 10 * MiB, wbps: 10 * MiB, riops: 1000, wiops: 1000 },
      ],
    },
  },
  { name: 'io: without plan io caps nothing is limited', plan: { weight: 1 }, expected: { io: [] } },
  { name: 'io: with no block device under the homes there is nothing to limit', plan: PLAN, devices: [], expected: { io: [] } },
  { name: 'io: only the caps the plan has are set', plan: { weight: 1, io_write: 5 * MiB }, expected: { io: [{ ...DISK, wbps: 5 * MiB }] } },
  { name: 'io: a notice changes no limit', plan: PLAN, ladders: { io: ladder('io', 0) }, expected: { io: [{ ...DISK, rbps: 10 * MiB, wbps: 10 * MiB, riops: 1000, wiops: 1000 }] } },
  {
    name: 'io: throttle level 1 holds read and write to half their base; iops stay the plan\'s',
    plan: PLAN,
    ladders: { io: ladder('io', 1, { value: 12 * MiB, read: 8 * MiB, write: 4 * MiB }) },
    expected: { io: [{ ...DISK, rbps: 4 * MiB, wbps: 2 * MiB, riops: 1000, wiops: 1000 }], cpuPercent: 100 },
  },
  {
    name: 'io: a throttle never raises a limit above the plan\'s',
    plan: PLAN,
    ladders: { io: ladder('io', 1, { value: 60 * MiB, read: 40 * MiB, write: 20 * MiB }) },
    expected: { io: [{ ...DISK, rbps: 10 * MiB, wbps: 10 * MiB, riops: 1000, wiops: 1000 }] },
  },
  {
    name: 'io: a throttle never goes below min_io (1 MiB/s)',
    plan: PLAN,
    ladders: { io: ladder('io', 2, { value: 3 * MiB, read: 2 * MiB, write: MiB }) },
    expected: { io: [{ ...DISK, rbps: MiB, wbps: MiB, riops: 1000, wiops: 1000 }] },
  },
  {
    name: 'io: a throttle without plan io caps limits read and write alone',
    plan: { weight: 1 },
    ladders: { io: ladder('io', 1, { value: 12 * MiB, read: 8 * MiB, write: 4 * MiB }) },
    expected: { io: [{ ...DISK, rbps: 4 * MiB, wbps: 2 * MiB }] },
  },
  {
    name: 'io: quarantine freezes and leaves the io caps at the plan',
    plan: PLAN,
    ladders: { io: ladder('io', 3, { value: 12 * MiB, read: 8 * MiB, write: 4 * MiB }) },
    expected: { frozen: true, io: [{ ...DISK, rbps: 10 * MiB, wbps: 10 * MiB, riops: 1000, wiops: 1000 }] },
  },
  // manual throttles on io and memory
  {
    name: 'manual throttle: io is a fraction of the plan caps (level 2: 25%); memory stays the plan\'s',
    plan: PLAN,
    manual: manualThrottle(2),
    expected: { io: [{ ...DISK, rbps: 2.5 * MiB, wbps: 2.5 * MiB, riops: 1000, wiops: 1000 }], memoryHigh: Math.round(GiB * MEMORY_HIGH_FRACTION), memoryMax: GiB },
  },
  { name: 'manual throttle: without plan io caps io stays unlimited', plan: { weight: 1 }, manual: manualThrottle(2), expected: { io: [] } },
  {
    name: 'manual throttle: io never goes below min_io',
    plan: { weight: 1, io_read: 2 * MiB, io_write: 2 * MiB },
    manual: manualThrottle(2),
    expected: { io: [{ ...DISK, rbps: MiB, wbps: MiB }] },
  },
  {
    name: 'manual throttle and an io ladder together: the lower limit wins',
    plan: PLAN,
    ladders: { io: ladder('io', 1, { value: 12 * MiB, read: 8 * MiB, write: 16 * MiB }) },
    manual: manualThrottle(1),
    expected: { io: [{ ...DISK, rbps: 4 * MiB, wbps: 5 * MiB, riops: 1000, wiops: 1000 }] },
  },
];

describe('desiredLimits(): memory and io', () => {
  it.each(CASES)('$name', ({ plan, ladders, manual, devices, expected }) => {
    const d = desiredLimits({ plan, ladders, manual, config, devices: devices ?? [DISK], cpuCapacity: 200 });
    const { frozen, io, ...limits } = expected;
    expect(d.limits).toMatchObject(limits);
    // Exactly these device limits: a field left out is "max", so an extra one would be a limit nobody asked for.
    if (io !== undefined) expect(d.limits.io).toEqual(io);
    expect(d.frozen).toBe(frozen ?? false);
  });
});
