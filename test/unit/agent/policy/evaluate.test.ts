// Table-driven cases of evaluate() with a fake clock: each case steps time in 5 s ticks and lists the
// decisions it expects as [second, tenant, kind, level]. Each tick's `psi` is the cpu pressure every tenant
// feels (its cgroup's cpu.pressure some avg10), so a tenant's contention is what the others feel: the same.
import { describe, expect, it } from 'vitest';
import { Section } from '../../../../shared/config.js';
import type { TenantSample } from '../../../../shared/wire/agent.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { evaluate } from '../../../../agent/policy/evaluate.js';
import { emptyState, type Observation, type PolicyState, type TenantPolicy } from '../../../../agent/policy/types.js';

const config = readPolicyConfig(
  Section.root({ window: '30s', stale: '30s', escalate_after: '10s', cooldown: '60s', factor: 1.5, min_share: 0.1, max_tighten_per_tick: 2, contention: { cpu: 20 } }),
);
const TICK = 5000;

interface Tick {
  /** Host cpu PSI some avg10 this tick. */
  psi: number;
  /** cpu percent per tenant this tick. */
  cpu: Record<string, number>;
}

/** Every tenant's cgroup shows the tick's cpu pressure. */
function observation(at: number, tick: Tick): Observation {
  const psi = { some: { avg10: tick.psi } };
  const samples = new Map<string, TenantSample>(Object.entries(tick.cpu).map(([tenant, percent]) => [tenant, { tenant, cpu: { percent }, pressure: { cpu: psi } }]));
  return { at, host: { cores: 2, memory_bytes: 8 << 30 }, samples };
}

function run(ticks: (t: number) => Tick | undefined, seconds: number, opts: { tenants?: Map<string, TenantPolicy>; cfg?: typeof config; state?: PolicyState } = {}) {
  const cfg = opts.cfg ?? config;
  let state = opts.state ?? emptyState();
  const window: Observation[] = [];
  const decisions: Array<[number, string, string, number]> = [];
  const skipped: Array<[number, string]> = [];
  for (let now = 0; now <= seconds * 1000; now += TICK) {
    const tick = ticks(now / 1000);
    if (tick) {
      window.push(observation(now, tick));
    }
    while (window.length > 0 && window[0]!.at < now - cfg.windowMs - TICK) window.shift();
    const out = evaluate({ config: cfg, tenants: opts.tenants ?? new Map(), window, state, now });
    state = out.state;
    if (out.skipped) skipped.push([now / 1000, out.skipped]);
    for (const d of out.decisions) decisions.push([now / 1000, d.tenant, d.kind, d.level]);
  }
  return { decisions, state, skipped };
}

// A hogs (100% of one core) while B works and C is light: A's share 100/165 = 61% > 1.5 x 1/3 = 50%.
const hog = (psi: number): Tick => ({ psi, cpu: { a: 100, b: 60, c: 5 } });

describe('evaluate()', () => {
  it('a burst on an idle host draws no action', () => {
    const r = run(() => ({ psi: 3, cpu: { a: 190, b: 2 } }), 300);
    expect(r.decisions).toEqual([]);
  });

  it('disproportion without contention draws no action; contention without disproportion neither', () => {
    expect(run(() => hog(5), 300).decisions).toEqual([]);
    expect(run(() => ({ psi: 80, cpu: { a: 100, b: 95 } }), 300).decisions).toEqual([]);
  });

  it('contention plus sustained disproportion climbs the ladder step by step, and stops at level 2 without auto quarantine', () => {
    const r = run(() => hog(40), 200);
    expect(r.decisions).toEqual([
      [25, 'a', 'open', 0], // window met at 25 s: 6 ticks stand for 30 s
      [35, 'a', 'escalate', 1], // escalate_after (10 s) after the notice
      [75, 'a', 'escalate', 2], // a whole window under level 1 (35 + 30 s), still violating 10 s more
    ]);
    expect(r.state.ladders.a?.cpu).toMatchObject({ level: 2, base: { value: 100 } });
  });

  it('auto quarantine (opt-in) freezes after level 2 and thaws back to level 2 when its time is up', () => {
    const cfg = { ...config, quarantine: { auto: true, maxMs: 60_000 } };
    const r = run(() => hog(40), 240, { cfg });
    expect(r.decisions).toEqual([
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
      [75, 'a', 'escalate', 2],
      [115, 'a', 'escalate', 3],
      [175, 'a', 'thaw', 2], // quarantine.max 60 s
      [215, 'a', 'escalate', 3],
    ]);
  });

  it('flapping usage does not flap decisions', () => {
    // Contention comes and goes every other tick: the incident opens once, then neither escalates nor releases.
    const r = run((t) => hog(t % 10 === 0 ? 40 : 5), 600);
    expect(r.decisions).toEqual([[30, 'a', 'open', 0]]);
  });

  it('the cool-down releases, and not before', () => {
    // A hogs until 45 s, then is light. Its window average falls below its fair share and its level-1 ceiling
    // at 65 s, but stays material (>= min_share, 20% of one core) with its own tasks waiting (40%) until 75 s:
    // calm from there, released after the 60 s cool-down at 135 s and not a tick earlier.
    const r = run((t) => (t < 50 ? hog(40) : { psi: 40, cpu: { a: 5, b: 15, c: 5 } }), 240);
    expect(r.decisions).toEqual([
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
      [135, 'a', 'release', 0],
    ]);
    expect(r.state.ladders.a).toBeUndefined();
  });

  it('a throttled tenant still pressing its ceiling under contention keeps its throttle', () => {
    // From 40 s A sits at 45% (level 1 allows 50%: it presses its ceiling) and nobody else is over their
    // share, while the host stays contended: not calm, no release in 300 s, and no further escalation.
    const after = (psi: number): Tick => ({ psi, cpu: { a: 45, b: 40, c: 30 } });
    const r = run((t) => (t < 40 ? hog(40) : after(40)), 300);
    expect(r.decisions.map((d) => [d[0], d[1], d[2], d[3]])).toEqual([
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
    ]);
    expect(r.state.ladders.a?.cpu?.level).toBe(1);
    // Contention ends at 200 s: calm from then, released after the cool-down.
    const ends = run((t) => (t < 40 ? hog(40) : after(t < 200 ? 40 : 2)), 300);
    expect(ends.decisions.map((d) => [d[0], d[2]])).toEqual([[25, 'open'], [35, 'escalate'], [260, 'release']]);
  });

  it('the per-tick cap holds: worst excess first', () => {
    const cpu = { a: 100, b: 90, c: 80, d: 70, e: 1, f: 1, g: 1, h: 1, i: 1, j: 1, k: 1, l: 1 };
    const r = run(() => ({ psi: 50, cpu }), 25);
    expect(r.decisions).toEqual([
      [25, 'a', 'open', 0],
      [25, 'b', 'open', 0],
    ]);
    const r2 = run(() => ({ psi: 50, cpu }), 30);
    expect(r2.decisions.slice(2)).toEqual([
      [30, 'c', 'open', 0],
      [30, 'd', 'open', 0],
    ]);
  });

  it('stale observations draw nothing, and neither does a window not yet met', () => {
    // Measurements stop at 40 s: from 75 s on (older than 30 s) nothing is decided, not even a release.
    const r = run((t) => (t <= 40 ? hog(40) : undefined), 200);
    expect(r.decisions).toEqual([
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
    ]);
    expect(r.skipped.filter(([, why]) => why === 'stale')[0]).toEqual([75, 'stale']);
    // Before 25 s, and again once the measurements thin out, the window is not covered.
    expect(r.skipped.filter(([, why]) => why === 'window_not_met').map(([t]) => t)).toEqual([0, 5, 10, 15, 20, 45, 50, 55, 60, 65, 70]);
  });

  it('weights: a tenant with a larger plan weight has a larger fair share', () => {
    // Same use as the hog case, but A's plan weight 3: fair share 3/5 -> allowed 90%, A's 61% is within it.
    // B's fair share shrinks to 1/5 (allowed 30%) and its 36% is now the disproportionate one.
    const tenants = new Map<string, TenantPolicy>([['a', { plan: { weight: 3 } }]]);
    expect(run(() => hog(40), 120, { tenants }).decisions.map((d) => d[1] + d[2])).toEqual(['bopen', 'bescalate', 'bescalate']);
  });

  it('every decision is explained', () => {
    const r = run(() => hog(40), 40);
    const state = r.state;
    const out = evaluate({ config, tenants: new Map(), window: [], state, now: 0 });
    expect(out.skipped).toBe('no_observations');
    // Re-run to capture the escalation event itself.
    const window: Observation[] = [];
    let s = emptyState();
    let last;
    for (let now = 0; now <= 35_000; now += TICK) {
      window.push(observation(now, hog(40)));
      const o = evaluate({ config, tenants: new Map(), window, state: s, now });
      s = o.state;
      if (o.decisions.length) last = o.decisions[0];
    }
    expect(last!.event).toMatchObject({ type: 'escalated', step: 'throttle', level: 1, tenant: 'a', resource: 'cpu', id: 'a-cpu-25000:2', incident: 'a-cpu-25000' });
    const e = last!.event.explanation;
    expect(e.measured).toEqual({ value: 100, unit: '% of one core' });
    expect(e.share).toMatchObject({ tenant: 0.6061, fair: 0.3333, factor: 1.5 });
    expect(e.threshold).toEqual({ value: 82.5, unit: '% of one core', kind: 'fair_share' });
    expect(e.contention).toEqual({
      contended: true,
      signals: [{ resource: 'cpu', metric: 'others_psi_some_avg10', value: 40, threshold: 20 }],
      detail: '2 other tenants stalled 40% of the time on cpu (weighted by their activity; threshold 20%); the busiest: b 40%',
    });
    expect(e.window_seconds).toBe(30);
    expect(e.action).toMatch(/^Throttled \(level 1\): cpu limited to 50% of one core/);
    expect(e.avoid).toMatch(/below about 82.5% of one core/);
    expect(e.summary).toMatch(/a used 100% of one core over the last 30s, 60.6% of the server's cpu use/);
  });
});
