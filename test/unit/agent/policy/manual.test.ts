import { describe, expect, it } from 'vitest';
import { Section } from '../../../../shared/config.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { applyManual, expireManual } from '../../../../agent/policy/manual.js';
import { emptyState, type PolicyState } from '../../../../agent/policy/types.js';

const config = readPolicyConfig(Section.root({ quarantine: { max: '10m' } }));
const base = { tenant: 'alice', reason: 'abuse report #42', created_at: new Date(0).toISOString(), by: 'admin' };

describe('manual actions', () => {
  it('a throttle with a ttl is applied, acknowledged, and expires with a release event', () => {
    const out = applyManual({ state: emptyState(), action: { ...base, id: 'a1', action: 'throttle', level: 2, expires_at: new Date(3_600_000).toISOString() }, now: 1000, config });
    expect(out.ack).toMatchObject({ action_id: 'a1', state: 'applied' });
    expect(out.state.manual.alice).toMatchObject({ action: 'throttle', level: 2, until: 3_600_000 });
    expect(out.events).toHaveLength(1);
    expect(out.events[0]).toMatchObject({ type: 'opened', step: 'throttle', level: 2, manual: { action_id: 'a1', reason: 'abuse report #42', by: 'admin' }, until: new Date(3_600_000).toISOString() });
    expect(expireManual(out.state, 3_599_999).events).toEqual([]);
    const exp = expireManual(out.state, 3_600_000);
    expect(exp.state.manual.alice).toBeUndefined();
    expect(exp.events[0]).toMatchObject({ type: 'released', step: 'release', incident: out.events[0]!.incident, id: `${out.events[0]!.incident}:2` });
  });

  it('quarantine defaults to the maximum quarantine time; release ends manual and automatic incidents', () => {
    let state: PolicyState = emptyState();
    state.ladders.alice = { io: { incident: 'alice-io-1', resource: 'io', rule: 'r', level: 1, openedAt: 0, changedAt: 0, violatingSince: null, calmSince: null, events: 2 } };
    const q = applyManual({ state, action: { ...base, id: 'q1', action: 'quarantine' }, now: 0, config });
    expect(q.state.manual.alice).toMatchObject({ action: 'quarantine', level: 3, until: 600_000 });
    state = q.state;
    const r = applyManual({ state, action: { ...base, id: 'r1', action: 'release' }, now: 5000, config });
    expect(r.state).toEqual({ ladders: {}, manual: {} });
    expect(r.events.map((e) => [e.incident, e.type, e.id])).toEqual([
      ['alice-manual-q1', 'released', 'alice-manual-q1:2'],
      ['alice-io-1', 'released', 'alice-io-1:3'],
    ]);
    expect(r.ack).toMatchObject({ action_id: 'r1', state: 'applied', message: 'released 2 action(s)' });
    // The release events carry the releasing action and its reason, not the quarantine's.
    expect(r.events.map((e) => e.manual)).toEqual([
      { action_id: 'r1', reason: 'abuse report #42', by: 'admin' },
      { action_id: 'r1', reason: 'abuse report #42', by: 'admin' },
    ]);
  });

  it('an action that expired before it arrived changes nothing', () => {
    const out = applyManual({ state: emptyState(), action: { ...base, id: 'x', action: 'throttle', expires_at: new Date(10).toISOString() }, now: 20, config });
    expect(out.ack.state).toBe('expired');
    expect(out.events).toEqual([]);
    expect(out.state).toEqual(emptyState());
  });
});
