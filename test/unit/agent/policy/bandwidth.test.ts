// The bandwidth ladder: contention is the egress link's saturation (bytes sent vs its speed, drops), never the
// tenant's own filling of it; disproportion is its share of what the tenants sent; a throttle holds a fraction
// of the lower of the plan cap and the use at the first throttle, through the egress shaper's rate.
import { describe, expect, it } from 'vitest';
import { Section } from '../../../../shared/config.js';
import type { NetworkStats, TenantSample } from '../../../../shared/wire/agent.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { desiredBandwidthRate } from '../../../../agent/policy/desired.js';
import { evaluate } from '../../../../agent/policy/evaluate.js';
import { emptyState, type Observation, type PolicyState } from '../../../../agent/policy/types.js';

const config = readPolicyConfig(Section.root({ window: '30s', escalate_after: '10s', cooldown: '60s', factor: 1.5, min_share: 0.1, contention: { link_saturation: 0.9, link_drops: 100 } }));
const LINK = 125_000_000; // 1 Gbit/s
const TICK = 5000;

/** Tenants' bytes sent per second; the link carries their sum plus `extra` (the host's own, the web server's). */
function observation(at: number, tx: Record<string, number>, opts: { extra?: number; drops?: number; link?: number | undefined } = {}): Observation {
  const samples = new Map<string, TenantSample>(Object.entries(tx).map(([tenant, tx_bps]) => [tenant, { tenant, bandwidth: { tx_bps, rx_bps: 0 } }]));
  const total = Object.values(tx).reduce((a, b) => a + b, 0) + (opts.extra ?? 0);
  const link = 'link' in opts ? opts.link : LINK;
  const network: NetworkStats = { interface: 'eth0', tx_bps: total, drops_per_s: opts.drops ?? 0 };
  if (link !== undefined) {
    network.link_bps = link;
    network.saturation = Math.min(10, total / link);
  }
  return { at, host: { cores: 2, memory_bytes: 8 << 30, network }, samples };
}

function run(tick: (s: number) => Observation | undefined, seconds: number) {
  let state: PolicyState = emptyState();
  const window: Observation[] = [];
  const decisions: Array<[number, string, string, string, number]> = [];
  let last;
  for (let now = 0; now <= seconds * 1000; now += TICK) {
    const o = tick(now);
    if (o) window.push(o);
    while (window.length > 0 && window[0]!.at < now - config.windowMs - TICK) window.shift();
    const out = evaluate({ config, tenants: new Map(), window, state, now });
    state = out.state;
    for (const d of out.decisions) {
      decisions.push([now / 1000, d.tenant, d.resource, d.kind, d.level]);
      last = d;
    }
  }
  return { decisions, state, last };
}

describe('the bandwidth ladder', () => {
  it('a full link that others share in: the hog is noticed, then throttled to a fraction of what it sent', () => {
    const r = run((now) => observation(now, { a: 90_000_000, b: 15_000_000, c: 10_000_000 }), 60);
    expect(r.decisions.slice(0, 2)).toEqual([
      [25, 'a', 'bandwidth', 'open', 0],
      [35, 'a', 'bandwidth', 'escalate', 1],
    ]);
    const ladder = r.state.ladders.a!.bandwidth!;
    expect(ladder.base).toEqual({ value: 90_000_000 });
    expect(desiredBandwidthRate(undefined, ladder, undefined, config)).toBe(45_000_000); // level1 0.5
    expect(desiredBandwidthRate({ weight: 1, bandwidth: 30_000_000 }, ladder, undefined, config)).toBe(30_000_000); // the plan cap is lower
    const ex = r.last!.event.explanation;
    expect(ex.contention.signals).toContainEqual({ resource: 'bandwidth', metric: 'link_saturation', value: expect.closeTo(0.92, 2), threshold: 0.9 });
    expect(ex.action).toContain('bandwidth limited to');
    expect(ex.limits).toEqual({ bandwidth_bytes_per_second: 45_000_000 });
    expect(ex.contention.detail).toContain('interface eth0');
  });

  it('a link the tenant fills alone is no one else’s loss; an idle link neither', () => {
    expect(run((now) => observation(now, { a: 120_000_000, b: 100_000 }), 120).decisions).toEqual([]);
    expect(run((now) => observation(now, { a: 40_000_000, b: 5_000_000 }), 120).decisions).toEqual([]);
  });

  it('without a known link speed, queue drops are the contention', () => {
    const busy = (now: number) => observation(now, { a: 90_000_000, b: 15_000_000, c: 10_000_000 }, { link: undefined, drops: 500 });
    expect(run(busy, 40).decisions[0]).toEqual([25, 'a', 'bandwidth', 'open', 0]);
    const calm = (now: number) => observation(now, { a: 90_000_000, b: 15_000_000, c: 10_000_000 }, { link: undefined, drops: 0 });
    expect(run(calm, 120).decisions).toEqual([]);
  });

  it('releases after the cool-down once the link is no longer full', () => {
    const r = run((now) => (now < 60_000 ? observation(now, { a: 90_000_000, b: 15_000_000, c: 10_000_000 }) : observation(now, { a: 1_000_000, b: 15_000_000, c: 10_000_000 })), 200);
    expect(r.decisions.at(-1)).toEqual([expect.any(Number), 'a', 'bandwidth', 'release', 0]);
    expect(r.state.ladders.a?.bandwidth).toBeUndefined();
  });
});

describe('web bytes and the bandwidth ladder', () => {
  it('judges only the bytes the shaper can hold: web bytes (held at the web server) are left out of the share', () => {
    // a's 90 MB/s are all web bytes served by the web server for its sites: no bandwidth incident for it.
    const r = run((now) => {
      const o = observation(now, { a: 90_000_000, b: 15_000_000, c: 10_000_000 });
      o.samples.get('a')!.bandwidth!.web_tx_bps = 90_000_000;
      return o;
    }, 120);
    expect(r.decisions.filter((d) => d[1] === 'a')).toEqual([]);
  });
});
