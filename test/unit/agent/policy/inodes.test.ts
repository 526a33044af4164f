// Inode caps as named table cases: a tenant's count over successive refreshes (one a minute), the cap of its
// plan, whether the quota holds it, and the events the policy emits (warn 90 %, release below 85 %).
import { describe, expect, it } from 'vitest';
import { evaluateInodeCaps, INODE_RULE, type InodeCapState, type InodeTenant, NOT_HELD_TEXT } from '../../../../agent/policy/inodes.js';
import type { IncidentEvent } from '../../../../shared/wire/agent.js';

const config = { warn: 0.9, release: 0.85, refreshMs: 60_000 };
const MINUTE = 60_000;

type Step = Partial<InodeTenant> & { count: number | undefined };
type Row = [minute: number, type: IncidentEvent['type'], step: IncidentEvent['step'], level: number];

/** Run the counts of one tenant (cap 1000 unless a step says otherwise) and list its events as rows. */
function run(steps: Step[], opts: { cap?: number; held?: boolean } = {}): { rows: Row[]; events: IncidentEvent[]; state: Record<string, InodeCapState> } {
  let state: Record<string, InodeCapState> = {};
  const rows: Row[] = [];
  const events: IncidentEvent[] = [];
  steps.forEach((s, minute) => {
    const t: InodeTenant = { cap: 'cap' in s ? s.cap : (opts.cap ?? 1000), count: s.count, partial: s.partial ?? false, held: s.held ?? opts.held ?? true };
    const out = evaluateInodeCaps({ config, tenants: new Map([['alice', t]]), state, now: minute * MINUTE });
    state = out.state;
    for (const e of out.events) {
      rows.push([minute, e.type, e.step, e.level]);
      events.push(e);
    }
  });
  return { rows, events, state };
}

describe('inode caps', () => {
  it('below the warning line: nothing', () => {
    expect(run([{ count: 10 }, { count: 899 }, { count: 0 }]).rows).toEqual([]);
  });

  it('warns at 90 %, holds at the cap, relaxes below it, releases below 85 % (held by the quota)', () => {
    const { rows, events } = run([{ count: 100 }, { count: 900 }, { count: 950 }, { count: 1000 }, { count: 1000 }, { count: 990 }, { count: 860 }, { count: 849 }]);
    expect(rows).toEqual([
      [1, 'opened', 'notice', 0],
      [3, 'escalated', 'throttle', 1],
      [5, 'relaxed', 'notice', 0],
      [7, 'released', 'release', 0],
    ]);
    // One incident from warning to release, its events numbered in order.
    expect(new Set(events.map((e) => e.incident)).size).toBe(1);
    expect(events.map((e) => e.id.split(':')[1])).toEqual(['1', '2', '3', '4']);
    expect(events.every((e) => e.rule === INODE_RULE && e.resource === 'inodes')).toBe(true);
    const opened = events[0]!.explanation;
    expect(opened.measured).toEqual({ value: 900, unit: 'inodes' });
    expect(opened.threshold).toEqual({ value: 1000, unit: 'inodes', kind: 'plan_cap' });
    expect(opened.limits).toEqual({ inodes_hard: 1000 });
    expect(opened.window_seconds).toBe(60);
    expect(events[1]!.explanation.action).toMatch(/Held at the limit.*Disk quota exceeded/);
    expect(events[3]!.explanation.limits).toBeUndefined();
  });

  it('without a quota to hold it: notices only, at level 0, and the notice says so plainly', () => {
    const { rows, events } = run([{ count: 950 }, { count: 1200 }, { count: 500 }], { held: false });
    expect(rows).toEqual([
      [0, 'opened', 'notice', 0],
      [1, 'escalated', 'notice', 0],
      [2, 'released', 'release', 0],
    ]);
    expect(events[0]!.explanation.action).toContain(NOT_HELD_TEXT);
    expect(events[1]!.explanation.action).toContain(NOT_HELD_TEXT);
    expect(events[1]!.explanation.limits).toBeUndefined();
  });

  it('a count that jumps past the cap opens at the cap', () => {
    expect(run([{ count: 10 }, { count: 5000 }]).rows).toEqual([[1, 'opened', 'throttle', 1]]);
  });

  it('hysteresis: a count hovering at the warning line opens once', () => {
    expect(run([{ count: 900 }, { count: 899 }, { count: 901 }, { count: 870 }, { count: 905 }]).rows).toEqual([[0, 'opened', 'notice', 0]]);
  });

  it('a partial count (a lower bound) may open, never release', () => {
    expect(run([{ count: 950 }, { count: 10, partial: true }, { count: 10, partial: true }, { count: 10 }]).rows).toEqual([
      [0, 'opened', 'notice', 0],
      [3, 'released', 'release', 0],
    ]);
  });

  it('no count yet keeps the incident as it is', () => {
    expect(run([{ count: 950 }, { count: undefined }, { count: undefined }]).rows).toEqual([[0, 'opened', 'notice', 0]]);
  });

  it('a plan that stops capping releases the incident, saying why', () => {
    const { rows, events } = run([{ count: 950 }, { count: 950, cap: undefined }, { count: 950, cap: undefined }]);
    expect(rows).toEqual([
      [0, 'opened', 'notice', 0],
      [1, 'released', 'release', 0],
    ]);
    expect(events[1]!.explanation.action).toMatch(/no longer limits inodes/);
  });

  it('a raised cap releases by the new cap; a lowered one escalates by it', () => {
    expect(run([{ count: 950 }, { count: 950, cap: 2000 }]).rows).toEqual([
      [0, 'opened', 'notice', 0],
      [1, 'released', 'release', 0],
    ]);
    expect(run([{ count: 950 }, { count: 950, cap: 900 }]).rows).toEqual([
      [0, 'opened', 'notice', 0],
      [1, 'escalated', 'throttle', 1],
    ]);
  });

  it('a tenant that is gone is forgotten without an event', () => {
    const first = run([{ count: 950 }]);
    const out = evaluateInodeCaps({ config, tenants: new Map(), state: first.state, now: MINUTE });
    expect(out).toEqual({ events: [], state: {} });
  });

  it('tenants are judged apart', () => {
    const out = evaluateInodeCaps({
      config,
      tenants: new Map<string, InodeTenant>([
        ['alice', { count: 950, cap: 1000, partial: false, held: true }],
        ['bob', { count: 950, cap: 10_000, partial: false, held: true }],
        ['carol', { count: 10_000_000, cap: undefined, partial: false, held: false }],
      ]),
      state: undefined,
      now: 0,
    });
    expect(out.events.map((e) => e.tenant)).toEqual(['alice']);
    expect(Object.keys(out.state)).toEqual(['alice']);
  });
});
