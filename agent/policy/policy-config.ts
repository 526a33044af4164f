// The `policy:` section of agent.yaml: thresholds are data (STYLE 5). Every key has a default; the README's
// configuration reference lists them.
import type { Section } from '../../shared/config.js';

export interface PolicyConfig {
  /** Observation window over which disproportion is judged. */
  windowMs: number;
  /** Observations older than this are stale: no decision is taken on them. */
  staleMs: number;
  /** Host contention thresholds: PSI `some avg10` in percent, and CPU saturation as a fraction of capacity. */
  contention: { cpuPsi: number; ioPsi: number; memoryPsi: number; cpuSaturation: number; linkSaturation: number; linkDrops: number };
  /** A tenant is disproportionate when its share > factor x its weighted fair share and >= minShare of the host. */
  factor: number;
  minShare: number;
  /** Absolute floor for io: below this many bytes/s a tenant is never disproportionate in io. */
  minIoBps: number;
  /** Absolute floor for bandwidth (bytes sent/s): below it a tenant is never disproportionate in bandwidth. */
  minBandwidthBps: number;
  /** A tenant counts as active (takes part in the fair share) from this share of host capacity on. */
  activeShare: number;
  /** Sustained violation needed before each escalation step. */
  escalateAfterMs: number;
  /** Time below threshold before stepping down / releasing. */
  cooldownMs: number;
  /** An incident that opens again within this time after a release starts at the level it left (0: never). */
  repeatWithinMs: number;
  /** At most this many tenants are tightened (escalated) per tick. */
  maxTightenPerTick: number;
  /** Throttle levels as a fraction of the plan cap (or of host capacity when the plan has no cap). */
  throttle: { level1: number; level2: number };
  /** Automatic quarantine is opt-in; manual quarantine always works. */
  quarantine: { auto: boolean; maxMs: number };
}

export function readPolicyConfig(s: Section): PolicyConfig {
  const c = s.section('contention');
  const contention = {
    cpuPsi: c.number('cpu', 20, { min: 0, max: 100 }),
    ioPsi: c.number('io', 20, { min: 0, max: 100 }),
    memoryPsi: c.number('memory', 10, { min: 0, max: 100 }),
    cpuSaturation: c.number('cpu_saturation', 0.9, { min: 0.05, max: 1 }),
    // The egress link: bytes sent / its speed, and packets its queues drop per second.
    linkSaturation: c.number('link_saturation', 0.9, { min: 0.05, max: 1 }),
    linkDrops: c.number('link_drops', 100, { min: 0 }),
  };
  c.done();
  const t = s.section('throttle');
  const throttle = { level1: t.number('level1', 0.5, { min: 0.01, max: 1 }), level2: t.number('level2', 0.25, { min: 0.01, max: 1 }) };
  if (throttle.level2 > throttle.level1) t.fail('level2', `must not be above level1 (${throttle.level1})`);
  t.done();
  const q = s.section('quarantine');
  const quarantine = { auto: q.boolean('auto', false), maxMs: q.duration('max', '15m', { min: 1000 }) };
  q.done();
  const out: PolicyConfig = {
    windowMs: s.duration('window', '30s', { min: 1000 }),
    staleMs: s.duration('stale', '30s', { min: 1000 }),
    contention,
    factor: s.number('factor', 2, { min: 1 }),
    minShare: s.number('min_share', 0.1, { min: 0, max: 1 }),
    minIoBps: s.rate('min_io', '1M')!,
    minBandwidthBps: s.rate('min_bandwidth', '1M')!,
    activeShare: s.number('active_share', 0.001, { min: 0, max: 1 }),
    escalateAfterMs: s.duration('escalate_after', '10s', { min: 0 }),
    cooldownMs: s.duration('cooldown', '2m', { min: 0 }),
    repeatWithinMs: s.duration('repeat_within', '1h', { min: 0 }),
    maxTightenPerTick: s.number('max_tighten_per_tick', 3, { min: 1, integer: true }),
    throttle,
    quarantine,
  };
  s.done();
  return out;
}
