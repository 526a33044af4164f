// Named table cases of evaluate() for io and memory, with a fake clock in 5 s ticks (as evaluate.test.ts does for
// cpu): the share of the tenants' io (read + write bytes/s) and memory (bytes) against the weighted fair share,
// the material floors (min_io, min_share of the host's memory), contention per resource from its own PSI, the
// ladder's limits (io stops nowhere short of quarantine, memory at throttle level 2) and the explanations.
import { describe, expect, it } from 'vitest';
import { Section } from '../../../../shared/config.js';
import type { Pressure, TenantSample } from '../../../../shared/wire/agent.js';
import { evaluate } from '../../../../agent/policy/evaluate.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { type Decision, emptyState, type Governed, type Observation, type PolicyState, type TenantPolicy } from '../../../../agent/policy/types.js';

const MiB = 1 << 20;
const GiB = 1 << 30;
const TICK = 5000;
/** io 20 and memory 10 are the defaults of policy.contention; cpu is set as in evaluate.test.ts. */
const config = readPolicyConfig(
  Section.root({ window: '30s', stale: '30s', escalate_after: '10s', cooldown: '60s', factor: 1.5, min_share: 0.1, max_tighten_per_tick: 2, contention: { cpu: 20 } }),
);
const autoQuarantine = { ...config, quarantine: { auto: true, maxMs: 60_000 } };

interface Use {
  read?: number;
  write?: number;
  memory?: number;
}

interface Tick {
  /** Host PSI some avg10 per resource this tick. */
  psi: Partial<Record<Governed, number>>;
  use: Record<string, Use>;
}

/** Every tenant's cgroup shows the tick's pressure: what the others feel is the same. */
function observation(at: number, tick: Tick): Observation {
  const pressure: Pressure = {};
  for (const [r, v] of Object.entries(tick.psi)) pressure[r as 'cpu' | 'io' | 'memory'] = { some: { avg10: v } };
  const samples = new Map<string, TenantSample>();
  for (const [tenant, u] of Object.entries(tick.use)) {
    const s: TenantSample = { tenant, pressure, cpu: { percent: 5 } };
    if (u.read !== undefined || u.write !== undefined) s.io = { read_bps: u.read ?? 0, write_bps: u.write ?? 0, read_iops: 0, write_iops: 0 };
    if (u.memory !== undefined) s.memory = { current: u.memory, anon: u.memory, file: 0 };
    samples.set(tenant, s);
  }
  return { at, host: { cores: 2, memory_bytes: 8 * GiB }, samples };
}

type Row = [second: number, tenant: string, resource: Decision['resource'], kind: Decision['kind'], level: number];

function run(ticks: (t: number) => Tick, seconds: number, opts: { cfg?: typeof config; tenants?: Map<string, TenantPolicy> } = {}) {
  const cfg = opts.cfg ?? config;
  let state: PolicyState = emptyState();
  const window: Observation[] = [];
  const rows: Row[] = [];
  const decisions: Decision[] = [];
  for (let now = 0; now <= seconds * 1000; now += TICK) {
    window.push(observation(now, ticks(now / 1000)));
    while (window.length > 0 && window[0]!.at < now - cfg.windowMs - TICK) window.shift();
    const out = evaluate({ config: cfg, tenants: opts.tenants ?? new Map(), window, state, now });
    state = out.state;
    for (const d of out.decisions) {
      rows.push([now / 1000, d.tenant, d.resource, d.kind, d.level]);
      decisions.push(d);
    }
  }
  return { rows, decisions, state };
}

// An io hog: a reads 30 MiB/s and writes 10 MiB/s while b moves 10 MiB/s and c 2 MiB/s. All three are active,
// so the fair share is 1/3 and x1.5 allows 50%; a's 40 of 52 MiB/s is 76.9%.
const ioHog = (psi: Tick['psi']): Tick => ({ psi, use: { a: { read: 30 * MiB, write: 10 * MiB }, b: { read: 8 * MiB, write: 2 * MiB }, c: { read: MiB, write: MiB } } });
// A memory hog on an 8 GiB host: a holds 4 GiB (half the host, above min_share 10%), b 1 GiB, c 512 MiB:
// a's share of the tenants' 5.5 GiB is 72.7%, above the 50% allowed.
const memoryHog = (psi: Tick['psi']): Tick => ({ psi, use: { a: { memory: 4 * GiB }, b: { memory: GiB }, c: { memory: 512 * MiB } } });
// The io hog until 45 s; from 50 s everyone moves less than min_io (so nobody else turns into the hog).
const ioHogStops = (t: number): Tick => (t < 50 ? ioHog({ io: 40 }) : { psi: { io: 40 }, use: { a: { read: 512 * 1024 }, b: { read: 768 * 1024 }, c: { write: 512 * 1024 } } });

interface Case {
  name: string;
  ticks: (t: number) => Tick;
  seconds: number;
  cfg?: typeof config;
  tenants?: Map<string, TenantPolicy>;
  expected: Row[];
}

const CASES: Case[] = [
  {
    name: 'io: an io hog under io pressure climbs the ladder and stops at level 2 without auto quarantine',
    ticks: () => ioHog({ io: 40 }),
    seconds: 200,
    expected: [
      [25, 'a', 'io', 'open', 0],
      [35, 'a', 'io', 'escalate', 1],
      [75, 'a', 'io', 'escalate', 2],
    ],
  },
  {
    name: 'io: with auto quarantine io goes on to quarantine, and thaws back to level 2 when its time is up',
    ticks: () => ioHog({ io: 40 }),
    seconds: 200,
    cfg: autoQuarantine,
    expected: [
      [25, 'a', 'io', 'open', 0],
      [35, 'a', 'io', 'escalate', 1],
      [75, 'a', 'io', 'escalate', 2],
      [115, 'a', 'io', 'escalate', 3],
      [175, 'a', 'io', 'thaw', 2],
    ],
  },
  {
    name: 'io: an io hog draws nothing without io pressure, however high the cpu and memory pressure',
    ticks: () => ioHog({ cpu: 90, memory: 90, io: 5 }),
    seconds: 120,
    expected: [],
  },
  {
    name: 'io: io pressure under its own threshold (20) draws nothing',
    ticks: () => ioHog({ io: 19.9 }),
    seconds: 120,
    expected: [],
  },
  {
    name: 'io: below min_io (1 MiB/s) a tenant is never disproportionate, whatever its share',
    // a 1,000,000 of 1,200,000 bytes/s = 83% (all three active: each above min_io / 16)
    ticks: () => ({ psi: { io: 80 }, use: { a: { read: 1_000_000 }, b: { write: 100_000 }, c: { read: 100_000 } } }),
    seconds: 120,
    expected: [],
  },
  {
    name: 'io: the same shares above min_io are disproportionate',
    ticks: () => ({ psi: { io: 80 }, use: { a: { read: 2_000_000 }, b: { write: 200_000 }, c: { read: 200_000 } } }),
    seconds: 30,
    expected: [[25, 'a', 'io', 'open', 0]],
  },
  {
    name: 'io: a larger plan weight makes a larger fair share (weight 3: 3/5 x1.5 allows 90%)',
    ticks: () => ioHog({ io: 40 }),
    seconds: 120,
    tenants: new Map([['a', { plan: { weight: 3 } }]]),
    expected: [],
  },
  {
    name: 'io: calm once the hog stops (its window average falls under min_io at 75 s); released after the 60 s cool-down',
    ticks: ioHogStops,
    seconds: 240,
    expected: [
      [25, 'a', 'io', 'open', 0],
      [35, 'a', 'io', 'escalate', 1],
      [135, 'a', 'io', 'release', 0],
    ],
  },
  {
    name: 'io: a throttled tenant still pressing its ceiling under io pressure keeps its throttle',
    // From 40 s a moves 19 MiB/s: within its fair share (19 of 44 MiB/s) but >= 90% of its level-1 ceiling (20 MiB/s).
    ticks: (t) => (t < 40 ? ioHog({ io: 40 }) : { psi: { io: 40 }, use: { a: { read: 15 * MiB, write: 4 * MiB }, b: { read: 15 * MiB }, c: { write: 10 * MiB } } }),
    seconds: 300,
    expected: [
      [25, 'a', 'io', 'open', 0],
      [35, 'a', 'io', 'escalate', 1],
    ],
  },
  {
    name: 'memory: a memory hog under memory pressure climbs to throttle level 2',
    ticks: () => memoryHog({ memory: 30 }),
    seconds: 200,
    expected: [
      [25, 'a', 'memory', 'open', 0],
      [35, 'a', 'memory', 'escalate', 1],
      [75, 'a', 'memory', 'escalate', 2],
    ],
  },
  {
    name: 'memory: even with auto quarantine memory stops at throttle level 2 (freezing gives no memory back)',
    ticks: () => memoryHog({ memory: 30 }),
    seconds: 240,
    cfg: autoQuarantine,
    expected: [
      [25, 'a', 'memory', 'open', 0],
      [35, 'a', 'memory', 'escalate', 1],
      [75, 'a', 'memory', 'escalate', 2],
    ],
  },
  {
    name: 'memory: a memory hog draws nothing without memory pressure, however high the cpu and io pressure',
    ticks: () => memoryHog({ cpu: 90, io: 90, memory: 2 }),
    seconds: 120,
    expected: [],
  },
  {
    name: 'memory: below min_share (10%) of the host a tenant is never disproportionate, whatever its share',
    // a 600 MiB of 700 MiB = 86%, but 7.3% of the 8 GiB host
    ticks: () => ({ psi: { memory: 50 }, use: { a: { memory: 600 * MiB }, b: { memory: 50 * MiB }, c: { memory: 50 * MiB } } }),
    seconds: 120,
    expected: [],
  },
  {
    name: 'thresholds are per resource: memory PSI 12 contends (threshold 10), io PSI 15 does not (threshold 20)',
    // m hogs memory, i hogs io; with b and c four tenants are active: fair 1/4, x1.5 allows 37.5%.
    ticks: () => ({
      psi: { memory: 12, io: 15 },
      use: { m: { memory: 4 * GiB }, i: { read: 40 * MiB }, b: { memory: GiB, read: 10 * MiB }, c: { memory: 512 * MiB, read: 2 * MiB } },
    }),
    seconds: 60,
    expected: [
      [25, 'm', 'memory', 'open', 0],
      [35, 'm', 'memory', 'escalate', 1],
    ],
  },
];

describe('evaluate(): io and memory', () => {
  it.each(CASES)('$name', ({ ticks, seconds, cfg, tenants, expected }) => {
    expect(run(ticks, seconds, { ...(cfg ? { cfg } : {}), ...(tenants ? { tenants } : {}) }).rows).toEqual(expected);
  });

  it('io: the throttle base is the read and write measured at the first throttle, capped by the plan', () => {
    expect(run(() => ioHog({ io: 40 }), 40).state.ladders.a?.io).toMatchObject({ level: 1, base: { value: 40 * MiB, read: 30 * MiB, write: 10 * MiB } });
    const capped = run(() => ioHog({ io: 40 }), 40, { tenants: new Map([['a', { plan: { weight: 1, io_read: 20 * MiB } }]]) });
    expect(capped.state.ladders.a?.io).toMatchObject({ level: 1, base: { value: 30 * MiB, read: 20 * MiB, write: 10 * MiB } });
  });

  it('memory: the throttle base is the memory measured at the first throttle, capped by the plan', () => {
    expect(run(() => memoryHog({ memory: 30 }), 40).state.ladders.a?.memory).toMatchObject({ level: 1, base: { value: 4 * GiB } });
    const capped = run(() => memoryHog({ memory: 30 }), 40, { tenants: new Map([['a', { plan: { weight: 1, memory: 3 * GiB } }]]) });
    expect(capped.state.ladders.a?.memory?.base).toEqual({ value: 3 * GiB });
  });

  it('io: the escalation is explained in bytes/s, with the io limit and the lowered weight', () => {
    const escalation = run(() => ioHog({ io: 40 }), 35).decisions.find((d) => d.kind === 'escalate')!;
    expect(escalation.event).toMatchObject({ type: 'escalated', step: 'throttle', level: 1, tenant: 'a', resource: 'io', incident: 'a-io-25000' });
    const e = escalation.event.explanation;
    expect(e.measured).toEqual({ value: 40 * MiB, unit: 'bytes/s' });
    expect(e.share).toMatchObject({ tenant: 0.7692, fair: 0.3333, factor: 1.5 });
    expect(e.threshold).toEqual({ value: 26 * MiB, unit: 'bytes/s', kind: 'fair_share' }); // 50% of 52 MiB/s
    expect(e.contention).toMatchObject({ contended: true, signals: [{ resource: 'io', metric: 'others_psi_some_avg10', value: 40, threshold: 20 }] });
    expect(e.action).toBe('Throttled (level 1): io limited to 20.0 MiB/s, and its scheduling weight lowered.');
    expect(e.limits).toEqual({ io_bytes_per_second: 20 * MiB });
    expect(e.summary).toMatch(/^a used 40\.0 MiB\/s over the last 30s, 76\.9% of the server's io use, against a fair share of 33\.3%/);
    expect(e.avoid).toMatch(/below about 26\.0 MiB\/s/);
  });

  it('memory: the escalation is explained in bytes, with memory.high and no weight change', () => {
    const escalation = run(() => memoryHog({ memory: 30 }), 35).decisions.find((d) => d.kind === 'escalate')!;
    const e = escalation.event.explanation;
    expect(e.measured).toEqual({ value: 4 * GiB, unit: 'bytes' });
    expect(e.share).toMatchObject({ tenant: 0.7273, fair: 0.3333 });
    expect(e.threshold).toEqual({ value: 2.75 * GiB, unit: 'bytes', kind: 'fair_share' }); // 50% of 5.5 GiB
    expect(e.contention).toMatchObject({ contended: true, signals: [{ resource: 'memory', metric: 'others_psi_some_avg10', value: 30, threshold: 10 }] });
    expect(e.action).toBe('Throttled (level 1): memory limited to 2.00 GiB (memory.high; above it the kernel reclaims).');
    expect(e.limits).toEqual({ memory_high_bytes: 2 * GiB });
    expect(e.summary).toMatch(/^a used 4\.00 GiB \(page cache not counted\) over the last 30s, 72\.7% of the server's memory use/);
  });

  it('io and memory releases say what to keep below, in their units', () => {
    const released = run(ioHogStops, 135).decisions.at(-1)!;
    expect(released.event).toMatchObject({ type: 'released', step: 'release', level: 0, resource: 'io' });
    expect(released.event.explanation.action).toBe('Released: limits are back to the plan.');
    expect(released.event.explanation.avoid).toMatch(/^Keep io use below [\d.]+ (KiB|MiB)\/s while the server is busy/);
  });
});
