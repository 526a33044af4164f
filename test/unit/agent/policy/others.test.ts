// Contention judged by what the others feel, for cpu, io and memory alike: named table cases with a fake clock
// (5 s ticks, window 30 s, escalate_after 10 s, cooldown 60 s, repeat_within 10 m). Each tick gives every
// tenant its own use and its own cgroup's pressure (PSI some avg10): a tenant's stalls, and the stalls its own
// throttle causes, are never its contention; the others', weighted by how busy they were, are.
import { describe, expect, it } from 'vitest';
import { Section } from '../../../../shared/config.js';
import type { TenantSample } from '../../../../shared/wire/agent.js';
import { evaluate } from '../../../../agent/policy/evaluate.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { type Decision, emptyState, type Governed, type Observation, type PolicyState } from '../../../../agent/policy/types.js';

const MiB = 1 << 20;
const GiB = 1 << 30;
const TICK = 5000;
const config = readPolicyConfig(
  Section.root({ window: '30s', stale: '30s', escalate_after: '10s', cooldown: '60s', repeat_within: '10m', factor: 1.5, min_share: 0.1, contention: { cpu: 20, io: 20, memory: 10 } }),
);

/** One tenant in one tick: how much it uses of the resource under test (in "units"), and its own stall. */
interface T {
  use: number;
  psi: number;
  /** memory only: page cache on top of `use`, in units. */
  cache?: number;
  /** cpu only: percent of the interval its cgroup sat throttled by its own quota. */
  throttled?: number;
}
type Tick = Record<string, T>;

/** A unit of use per resource: 50% of one core, 10 MiB/s, 1 GiB (a hog at 2 units is > 1.5 x 1/3 of 2 + 1 + 0.x). */
const UNIT: Record<Governed, number> = { cpu: 50, io: 10 * MiB, memory: GiB, bandwidth: 10 * MiB };

function observation(r: Governed, at: number, tick: Tick): Observation {
  const samples = new Map<string, TenantSample>();
  const throttled = new Map<string, number>();
  for (const [tenant, t] of Object.entries(tick)) {
    const s: TenantSample = { tenant, pressure: { [r]: { some: { avg10: t.psi } } } };
    // Every tenant that does something runs a little: cpu activity weighs io and memory stalls too.
    if (r === 'cpu') s.cpu = { percent: t.use * UNIT.cpu };
    else s.cpu = { percent: t.use > 0 || t.psi > 0 ? 20 : 0 };
    if (r === 'io') s.io = { read_bps: t.use * UNIT.io, write_bps: 0, read_iops: 0, write_iops: 0 };
    if (r === 'memory') s.memory = { current: (t.use + (t.cache ?? 0)) * UNIT.memory, anon: t.use * UNIT.memory, file: (t.cache ?? 0) * UNIT.memory };
    if (t.throttled !== undefined) throttled.set(tenant, t.throttled);
    samples.set(tenant, s);
  }
  return { at, host: { cores: 2, memory_bytes: 8 * GiB }, samples, throttled };
}

type Row = [second: number, tenant: string, kind: Decision['kind'], level: number];

function run(r: Governed, ticks: (t: number) => Tick, seconds: number, opts: { state?: PolicyState; from?: number } = {}) {
  let state = opts.state ?? emptyState();
  const window: Observation[] = [];
  const rows: Row[] = [];
  const decisions: Decision[] = [];
  const from = opts.from ?? 0;
  for (let now = from; now <= from + seconds * 1000; now += TICK) {
    window.push(observation(r, now, ticks(now / 1000)));
    while (window.length > 0 && window[0]!.at < now - config.windowMs - TICK) window.shift();
    const out = evaluate({ config, tenants: new Map(), window, state, now });
    state = out.state;
    for (const d of out.decisions) {
      expect(d.resource).toBe(r);
      rows.push([now / 1000, d.tenant, d.kind, d.level]);
      decisions.push(d);
    }
  }
  return { rows, decisions, state };
}

// a hogs (2 units, stalled 30% by its own many threads) while b and c work (1 unit, 0.2 unit).
const hog = (others: number, own = 30): Tick => ({ a: { use: 2, psi: own }, b: { use: 1, psi: others }, c: { use: 0.2, psi: others } });
// From 50 s a stays at its level-1 ceiling (half of 2 units, pressing it) and stalls 80% under its own
// throttle, while b and c go idle: nobody else uses the resource or waits for it.
const aloneAtCeiling = (t: number): Tick => (t < 50 ? hog(40) : { a: { use: 0.95, psi: 80 }, b: { use: 0, psi: 0 }, c: { use: 0, psi: 0 } });
// The same, but b and c keep working and keep waiting.
const othersStillWait = (t: number): Tick => (t < 50 ? hog(40) : { a: { use: 0.95, psi: 80 }, b: { use: 1, psi: 40 }, c: { use: 0.2, psi: 40 } });

interface Case {
  name: string;
  ticks: (t: number) => Tick;
  seconds: number;
  expected: Row[];
}

const CASES: Case[] = [
  { name: 'idle burst: a alone, stalled 90% by its own work, draws nothing', ticks: () => ({ a: { use: 3, psi: 90 }, b: { use: 0, psi: 0 } }), seconds: 200, expected: [] },
  {
    name: 'contention by others: b and c wait 40% while a hogs: notice, level 1, level 2',
    ticks: () => hog(40),
    seconds: 200,
    expected: [
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
      [75, 'a', 'escalate', 2],
    ],
  },
  { name: "self-inflicted stalls only: a stalls 95%, the others 5%: nothing (the host's PSI would say 95)", ticks: () => hog(5, 95), seconds: 200, expected: [] },
  {
    name: 'release: a throttled, pressing its ceiling under its own throttle, alone: released one cool-down after the others stop waiting',
    ticks: aloneAtCeiling,
    seconds: 200,
    // others' pressure is 0 from 50 s: calm from 50 s, released at 110 s
    expected: [
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
      [110, 'a', 'release', 0],
    ],
  },
  {
    name: 'hold: a throttled at its ceiling while the others still wait keeps its throttle (no flapping)',
    ticks: othersStillWait,
    seconds: 400,
    expected: [
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
    ],
  },
  {
    name: 'hold: a throttled tenant below its ceiling but stalled by it (its weight lowered) keeps its throttle while the others wait',
    // from 50 s a works at 0.85 units, under 90% of its 1-unit ceiling, and its own tasks wait 70%
    ticks: (t) => (t < 50 ? hog(40) : { a: { use: 0.85, psi: 70 }, b: { use: 1, psi: 40 }, c: { use: 1, psi: 40 } }),
    seconds: 400,
    expected: [
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
    ],
  },
  {
    name: 'release: a throttled tenant gone quiet is released one cool-down later, though the others still wait',
    ticks: (t) => (t < 50 ? hog(40) : { a: { use: 0.1, psi: 0 }, b: { use: 1, psi: 40 }, c: { use: 1, psi: 40 } }),
    seconds: 200,
    // its window average falls under 90% of its ceiling (1 unit) at 65 s: calm from then, released at 125 s
    expected: [
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
      [125, 'a', 'release', 0],
    ],
  },
];

describe.each(['cpu', 'io', 'memory'] as const)('evaluate(): %s judged by what the others feel', (r) => {
  it.each(CASES)('$name', ({ ticks, seconds, expected }) => {
    expect(run(r, ticks, seconds).rows).toEqual(expected);
  });

  it('repeat offence: within repeat_within the next incident opens at the level the last one left; after it, at notice', () => {
    const first = run(r, aloneAtCeiling, 110);
    expect(first.state.released?.a?.[r]).toMatchObject({ at: 110_000, level: 1 });
    // 5 minutes later a hogs again while the others wait: opened straight at throttle level 1, with the old base.
    const again = run(r, () => hog(40), 30, { state: first.state, from: 410_000 });
    expect(again.rows).toEqual([[435, 'a', 'open', 1]]);
    const ev = again.decisions[0]!.event;
    expect(ev).toMatchObject({ type: 'opened', step: 'throttle', level: 1 });
    expect(ev.explanation.action).toMatch(/^Repeat offence: the previous .* incident was released 5m25s ago at level 1, within 10m, so this one starts at the level it left\. Throttled \(level 1\)/);
    expect(again.state.ladders.a?.[r]?.base).toEqual(first.state.released?.a?.[r]?.base);
    expect(again.state.ladders.a?.[r]?.base?.value).toBeGreaterThan(0);
    // 11 minutes after the release it is a first offence again.
    const later = run(r, () => hog(40), 30, { state: first.state, from: 770_000 });
    expect(later.rows).toEqual([[795, 'a', 'open', 0]]);
    expect(later.state.released?.a).toBeUndefined();
  });

  it('repeat offences in a row: each needs twice the calm of the one before to be released, at most 8 x cooldown', () => {
    // a hogs while the others wait for 30 s, then sits alone at its throttle's ceiling: calm, since nobody waits.
    const cycle =
      (from: number) =>
      (t: number): Tick =>
        t < from + 30 ? hog(40) : { a: { use: 0.95, psi: 80 }, b: { use: 0, psi: 0 }, c: { use: 0, psi: 0 } };
    let state = run(r, aloneAtCeiling, 110).state; // a first offence, released after cooldown (60 s) of calm
    expect(state.released?.a?.[r]).toEqual(expect.objectContaining({ at: 110_000, level: 1 }));
    expect(state.released?.a?.[r]?.repeats).toBeUndefined();
    const calmNeeded: number[] = [];
    let at = 110;
    for (const repeat of [1, 2, 3, 4]) {
      const from = at + 120; // well within repeat_within (10 m)
      const out = run(r, cycle(from), 600, { state, from: from * 1000 });
      const open = out.rows.find((row) => row[2] === 'open')!;
      const release = out.rows.find((row) => row[2] === 'release')!;
      expect(open, `repeat ${repeat} opens`).toBeDefined();
      expect(release, `repeat ${repeat} is released`).toBeDefined();
      const opened = out.decisions.find((d) => d.kind === 'open')!.event.explanation.action;
      const wanted = 60 * 2 ** Math.min(repeat, 3);
      expect(opened).toMatch(new RegExp(`^Repeat offence: .* It is released after ${wanted >= 60 ? `${wanted / 60}m` : `${wanted}s`} without the problem \\(the cool-down doubles with each repeat offence in a row, up to 8 times\\)\\.$`));
      expect(out.decisions.find((d) => d.kind === 'release')!.event.explanation.summary).toContain(`for ${wanted / 60}m: released`);
      // Calm from the first tick after the hogging (from + 30 s) until the release.
      calmNeeded.push(release[0] - (from + 30));
      expect(out.state.released?.a?.[r]?.repeats).toBe(repeat);
      state = out.state;
      at = release[0];
    }
    expect(calmNeeded).toEqual([120, 240, 480, 480]);
  });

  it("explanations name the others' pressure for admins, and only 'other customers' where a tenant reads", () => {
    const d = run(r, () => ({ a: { use: 2, psi: 10 }, bob: { use: 1, psi: 58 }, carol: { use: 0.5, psi: 20 }, dave: { use: 0.5, psi: 20 } }), 25).decisions[0]!;
    const e = d.event.explanation;
    expect(e.contention.contended).toBe(true);
    expect(e.contention.detail).toMatch(new RegExp(`^3 other tenants stalled [\\d.]+% of the time on ${r} \\(weighted by their activity; threshold \\d+%\\); the busiest: bob 58%$`));
    for (const text of [e.summary, e.action, e.avoid, JSON.stringify(e.contention.signals)]) {
      for (const name of ['bob', 'carol', 'dave']) expect(text).not.toContain(name);
    }
    expect(e.summary).toMatch(/while other customers were kept waiting: other customers waited for/);
  });
});

describe('evaluate(): contention details', () => {
  it("cpu: the part of another tenant's pressure its own quota causes is not contention", () => {
    // b stalls 55% but sat throttled by its own plan cap 50% of the time: 5% of it is a's doing.
    const capped = (): Tick => ({ a: { use: 2, psi: 30 }, b: { use: 1, psi: 55, throttled: 50 }, c: { use: 0.2, psi: 5 } });
    expect(run('cpu', capped, 120).rows).toEqual([]);
    const notCapped = (): Tick => ({ a: { use: 2, psi: 30 }, b: { use: 1, psi: 55, throttled: 0 }, c: { use: 0.2, psi: 5 } });
    expect(run('cpu', notCapped, 30).rows).toEqual([[25, 'a', 'open', 0]]);
  });

  it('others are weighted by activity: one idle tenant stalled 100% for a moment does not make the host contended', () => {
    // d ran one short job that waited (psi 100, no use to speak of); b works hard and waits little.
    const tick = (): Tick => ({ a: { use: 2, psi: 0 }, b: { use: 3, psi: 5 }, d: { use: 0, psi: 30 } });
    // weights: b 1.5 + 0.05, d 0 + 0.3: (1.55 x 5 + 0.3 x 30) / 1.85 = 9.1% < 20%
    expect(run('cpu', tick, 120).rows).toEqual([]);
  });

  it('memory: page cache is not pressure: a tenant with 6 GiB of which 5.5 GiB is cache is not disproportionate', () => {
    const cache = (): Tick => ({ a: { use: 0.5, cache: 5.5, psi: 0 }, b: { use: 1, psi: 40 }, c: { use: 0.5, psi: 40 } });
    expect(run('memory', cache, 120).rows).toEqual([]);
  });

  it('system services count as others where the kernel gives their pressure', () => {
    const window: Observation[] = [];
    let state = emptyState();
    const rows: Row[] = [];
    for (let now = 0; now <= 30_000; now += TICK) {
      const o = observation('cpu', now, { a: { use: 2, psi: 0 }, b: { use: 1, psi: 0 }, c: { use: 0.2, psi: 0 } });
      window.push({ ...o, services: { cpu: { some: { avg10: 35 } } } });
      const out = evaluate({ config, tenants: new Map(), window, state, now });
      state = out.state;
      for (const d of out.decisions) {
        rows.push([now / 1000, d.tenant, d.kind, d.level]);
        expect(d.event.explanation.contention.signals).toContainEqual({ resource: 'cpu', metric: 'services_psi_some_avg10', value: 35, threshold: 20 });
        expect(d.event.explanation.contention.detail).toContain('system services stalled 35% of the time on cpu');
      }
    }
    expect(rows).toEqual([[25, 'a', 'open', 0]]);
  });

  it('cpu without PSI: saturation counts only with CPU used by others; a throttled tenant alone is released', () => {
    const obs = (at: number, a: number, others: number): Observation => ({
      at,
      host: { cores: 2, memory_bytes: 8 * GiB, cpu_percent: Math.min(200, a + others) },
      samples: new Map([
        ['a', { tenant: 'a', cpu: { percent: a } }],
        ['b', { tenant: 'b', cpu: { percent: others } }],
      ]),
    });
    const steps = (f: (t: number) => [number, number], seconds: number) => {
      const window: Observation[] = [];
      let state = emptyState();
      const rows: Row[] = [];
      for (let now = 0; now <= seconds * 1000; now += TICK) {
        const [a, b] = f(now / 1000);
        window.push(obs(now, a, b));
        while (window[0]!.at < now - config.windowMs - TICK) window.shift();
        const out = evaluate({ config, tenants: new Map(), window, state, now });
        state = out.state;
        for (const d of out.decisions) rows.push([now / 1000, d.tenant, d.kind, d.level]);
      }
      return rows;
    };
    // a alone fills both cores: saturated, but by a alone.
    expect(steps(() => [199, 0], 120)).toEqual([]);
    // a takes 160, b 40: saturated with others in it -> incident; from 50 s b stops and a sits at its ceiling
    // (level 1 = 80): its throttled time is idle CPU, not busy, so the host is not saturated any more.
    expect(steps((t) => (t < 50 ? [160, 40] : [78, 0]), 200)).toEqual([
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
      [110, 'a', 'release', 0],
    ]);
  });
});
