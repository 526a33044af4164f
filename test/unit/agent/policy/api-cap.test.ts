// API calls on the ladder (rule api_cap), named cases with a fake clock (5 s ticks, window 30 s, escalate_after
// 10 s, cooldown 60 s, repeat_within 10 m): over the plan's cap opens a notice; the web server's saturation (or
// no signal at all) lets it escalate to throttles that lower what the include holds; calm for the cooldown
// releases it. Plus the saturation signal read from `ss` output, and what the include is told to hold.
import { describe, expect, it } from 'vitest';
import { Section } from '../../../../shared/config.js';
import type { TenantSample } from '../../../../shared/wire/agent.js';
import { apiTarget, judgeWeb } from '../../../../agent/policy/api-cap.js';
import { desiredApiRate } from '../../../../agent/policy/desired.js';
import { evaluate } from '../../../../agent/policy/evaluate.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { type Decision, emptyState, type Observation, type PolicyState, type TenantPolicy, type WebSaturation } from '../../../../agent/policy/types.js';
import { parseSs, saturationOf } from '../../../../agent/webserver/saturation.js';

const TICK = 5000;
const config = readPolicyConfig(Section.root({ window: '30s', stale: '30s', escalate_after: '10s', cooldown: '60s', repeat_within: '10m' }));
const CAP = 600;
const tenants = new Map<string, TenantPolicy>([
  ['a', { plan: { weight: 1, api: CAP } }],
  ['b', { plan: { weight: 1, api: CAP } }],
  ['c', { plan: { weight: 1 } }],
]);
const saturated: WebSaturation = { readable: true, queued: 40, socket: '/run/php/php8.2-fpm.sock', threshold: 8 };
const idle: WebSaturation = { readable: true, queued: 0, socket: '0.0.0.0:80', threshold: 8 };

type Row = [second: number, tenant: string, kind: Decision['kind'], level: number];

/** Each tick: API calls per minute per tenant, and the web server's saturation (undefined: not watched). */
function run(calls: (t: number) => Record<string, number>, web: (t: number) => WebSaturation | undefined, seconds: number, state: PolicyState = emptyState(), from = 0) {
  const window: Observation[] = [];
  const rows: Row[] = [];
  const decisions: Decision[] = [];
  for (let now = from; now <= from + seconds * 1000; now += TICK) {
    const samples = new Map<string, TenantSample>();
    for (const [tenant, perMinute] of Object.entries(calls(now / 1000))) samples.set(tenant, { tenant, cpu: { percent: 1 }, api: { per_minute: perMinute } });
    const o: Observation = { at: now, host: { cores: 2, memory_bytes: 8 << 30 }, samples };
    const w = web(now / 1000);
    if (w) o.web = w;
    window.push(o);
    while (window.length > 0 && window[0]!.at < now - config.windowMs - TICK) window.shift();
    const out = evaluate({ config, tenants, window, state, now });
    state = out.state;
    for (const d of out.decisions) {
      rows.push([now / 1000, d.tenant, d.kind, d.level]);
      decisions.push(d);
    }
  }
  return { rows, decisions, state };
}

describe('API calls on the ladder (api_cap)', () => {
  it('a tenant over its cap on a saturated web server: notice, throttle 1, throttle 2; released after the cooldown once under its cap', () => {
    // a is asked 3x its cap for 100 s (its calls counted in the logs, refused ones included), then 100/min;
    // b stays below its cap; c has no cap and is never judged however many calls it gets.
    const calls = (t: number) => ({ a: t < 100 ? 3 * CAP : 100, b: CAP - 1, c: 100 * CAP });
    const { rows, decisions, state } = run(calls, () => saturated, 200);
    // The window (30 s) is met at 25 s; 10 s later the first throttle; a whole window under it plus 10 s later the second.
    expect(rows).toEqual([
      [25, 'a', 'open', 0],
      [35, 'a', 'escalate', 1],
      [75, 'a', 'escalate', 2],
      // Calm from the tick where the window's average fell to the cap (30 s of 100/min after 95 s of 1800),
      // released 60 s later.
      [rows[3]![0], 'a', 'release', 0],
    ]);
    expect(rows[3]![0]).toBeGreaterThanOrEqual(100 + 60);
    expect(rows[3]![0]).toBeLessThanOrEqual(130 + 60);
    expect(decisions.every((d) => d.resource === 'api' && d.event.rule === 'api_cap')).toBe(true);
    const [open, first] = decisions;
    expect(open!.event.explanation.summary).toMatch(/^a's sites received 1800 API calls per minute over the last 30s .*above the plan's cap of 600 per minute; the web server was saturated: 40 connection\(s\) waited/);
    expect(open!.event.explanation.threshold).toEqual({ value: CAP, unit: 'calls/min', kind: 'plan_cap' });
    expect(open!.event.explanation.contention).toMatchObject({ contended: true, signals: [{ resource: 'api', metric: 'listen_queue', value: 40, threshold: 8 }] });
    expect(open!.event.explanation.contention.detail).toContain('/run/php/php8.2-fpm.sock');
    expect(first!.event.explanation.action).toMatch(/Throttled \(level 1\): the web server accepts at most 300 API calls per minute .*429 .*Retry-After/);
    expect(first!.event.explanation.limits).toEqual({ api_calls_per_minute: 300 });
    expect(decisions[3]!.event.explanation.action).toMatch(/held at the plan's cap of 600 per minute again/);
    // The release is remembered for repeat offences.
    expect(state.ladders.a).toBeUndefined();
    expect(state.released?.a?.api).toMatchObject({ level: 2 });
  });

  it('on a web server that is not saturated, stays a notice while over the cap, and is released once under it', () => {
    const calls = (t: number) => ({ a: t < 60 ? 2 * CAP : 10 });
    const { rows, decisions } = run(calls, () => idle, 200);
    expect(rows.map((r) => [r[1], r[2], r[3]])).toEqual([
      ['a', 'open', 0],
      ['a', 'release', 0],
    ]);
    expect(decisions[0]!.event.explanation.summary).toMatch(/the web server was not saturated: at most 0 connection\(s\) waited/);
    expect(decisions[0]!.event.explanation.action).toMatch(/throttled below the cap only while the web server is saturated/);
    expect(decisions[0]!.event.explanation.contention.contended).toBe(false);
  });

  it('with no contention signal the plan cap alone decides, and the explanation says so', () => {
    const unreadable: WebSaturation = { readable: false, queued: 0, socket: '', threshold: 8, why: 'none of the watched sockets (80, 443) is listening' };
    for (const web of [undefined, unreadable]) {
      const { rows, decisions } = run(() => ({ a: 2 * CAP }), () => web, 40);
      expect(rows.map((r) => [r[0], r[2], r[3]])).toEqual([
        [25, 'open', 0],
        [35, 'escalate', 1],
      ]);
      expect(decisions[0]!.event.explanation.summary).toMatch(/the web server's saturation cannot be read on this server \(.+\), so the plan's cap alone decides/);
      expect(decisions[0]!.event.explanation.contention).toMatchObject({ contended: false, signals: [] });
    }
  });

  it('a repeat offence opens at the level the last one left; a manual action rules instead', () => {
    const first = run((t) => ({ a: t < 100 ? 3 * CAP : 0 }), () => saturated, 200);
    const again = run(() => ({ a: 3 * CAP }), () => saturated, 30, first.state, 300_000);
    expect(again.rows[0]).toEqual([325, 'a', 'open', 2]);
    expect(again.decisions[0]!.event.explanation.action).toMatch(/^Repeat offence/);
    const manual: PolicyState = { ...emptyState(), manual: { a: { actionId: 'x', action: 'throttle', level: 1, reason: 'r', since: 0, incident: 'm', events: 1 } } };
    expect(run(() => ({ a: 3 * CAP }), () => saturated, 60, manual).rows).toEqual([]);
  });

  it('holds the include at the ladder level (the lower of it and a manual throttle), the plan cap otherwise', () => {
    const plan = { weight: 1, api: CAP };
    const ladder = { incident: 'i', resource: 'api' as const, rule: 'api_cap', level: 0, openedAt: 0, changedAt: 0, violatingSince: 0, calmSince: null, events: 1, base: { value: CAP } };
    expect(desiredApiRate(plan, undefined, config, ladder)).toBe(CAP);
    expect(desiredApiRate(plan, undefined, config, { ...ladder, level: 1 })).toBe(300);
    expect(desiredApiRate(plan, undefined, config, { ...ladder, level: 2 })).toBe(150);
    expect(apiTarget({ ...ladder, level: 2, base: { value: 2 } }, config)).toBe(1);
    const manual = { actionId: 'x', action: 'throttle' as const, level: 2, reason: 'r', since: 0, incident: 'm', events: 1 };
    expect(desiredApiRate(plan, manual, config, { ...ladder, level: 1 })).toBe(150);
    // A plan without a cap: nothing to hold, whatever the ladder says.
    expect(desiredApiRate({ weight: 1 }, undefined, config, { ...ladder, level: 2 })).toBeUndefined();
  });
});

describe('the web server saturation signal', () => {
  // In the form `ss -Hltnx` (iproute2 6.1) prints: nginx on port 80 (IPv4, IPv6), a server bound to lo, a saturated PHP-FPM pool.
  const SS = [
    'tcp   LISTEN 0      511          0.0.0.0:80         0.0.0.0:*',
    'tcp   LISTEN 3      511             [::]:80            [::]:*',
    'tcp   LISTEN 0      4096   127.0.0.1%lo:8080       0.0.0.0:*',
    'u_str LISTEN 17     4096   /run/php/php8.2-fpm.sock 21344   * 0',
    'u_str LISTEN 0      4096   /run/systemd/private 14011   * 0',
    'garbage line',
    'tcp   ESTAB  0      0       10.0.0.1:22 10.0.0.2:5000',
  ].join('\n');

  it('parses listening sockets, and takes the longest queue among the watched', () => {
    const l = parseSs(SS);
    expect(l).toHaveLength(5);
    expect(l[3]).toEqual({ kind: 'unix', local: '/run/php/php8.2-fpm.sock', queued: 17, backlog: 4096 });
    expect(saturationOf(l, [80, 443], 8)).toEqual({ readable: true, queued: 3, socket: '[::]:80', threshold: 8 });
    expect(saturationOf(l, [80, '/run/php/php8.2-fpm.sock'], 8)).toMatchObject({ queued: 17, socket: '/run/php/php8.2-fpm.sock' });
    expect(saturationOf(l, ['127.0.0.1:8080'], 8)).toMatchObject({ readable: true, queued: 0 });
    expect(saturationOf(l, ['127.0.0.1:80', 8443], 8)).toMatchObject({ readable: false, why: expect.stringMatching(/none of the watched sockets/) });
    expect(judgeWeb(saturationOf(l, ['/run/php/php8.2-fpm.sock'], 8)).escalates).toBe(true);
    expect(judgeWeb(saturationOf(l, [80], 8)).escalates).toBe(false);
  });
});
