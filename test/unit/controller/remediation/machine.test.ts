// The remediation case's state machine as named table cases with a fixed clock: which commands move which
// states, what each move records and which notice it sends, and the refusals.
import { describe, expect, it } from 'vitest';
import { CaseRefusal, openedCase, reminderAt, transition, type CaseCommand } from '../../../../controller/remediation/machine.js';
import type { RemediationCase } from '../../../../shared/wire/remediation.js';

const H = 3_600_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');
const cfg = { reminderBeforeMs: 24 * H };
const iso = (t: number) => new Date(t).toISOString();

function base(patch: Partial<RemediationCase> = {}): RemediationCase {
  return {
    ...openedCase({
      id: 7,
      tenant: 'alice',
      host: 'web01',
      what: 'fix the cron job',
      rule: null,
      opened_by: 'admin',
      opened_at: iso(T0),
      deadline: iso(T0 + 72 * H),
      step: { action: 'throttle', level: 2 },
      evidence: { incidents: [], top_processes: [] },
    }),
    ...patch,
  };
}

const tick: CaseCommand = { type: 'tick' };
const ack: CaseCommand = { type: 'acknowledge', by: 'tenant (signed link)' };
const resolve: CaseCommand = { type: 'resolve', by: 'admin', note: 'cron job fixed' };

interface Row {
  name: string;
  from: Partial<RemediationCase>;
  cmd: CaseCommand;
  at: number;
  /** undefined: nothing to do */
  expect?: { state: RemediationCase['state']; step_state: RemediationCase['step_state']; event: string; notice: string | undefined; by?: string };
  refused?: string;
}

const ROWS: Row[] = [
  { name: 'open, before the reminder: nothing', from: {}, cmd: tick, at: T0 + 47 * H },
  { name: 'open, at the reminder time: reminded', from: {}, cmd: tick, at: T0 + 48 * H, expect: { state: 'open', step_state: 'none', event: 'reminded', notice: 'reminder' } },
  { name: 'reminded already: nothing', from: { reminded_at: iso(T0 + 48 * H) }, cmd: tick, at: T0 + 50 * H },
  { name: 'open, at the deadline: overdue, step due', from: {}, cmd: tick, at: T0 + 72 * H, expect: { state: 'overdue', step_state: 'due', event: 'overdue', notice: 'overdue', by: 'controller' } },
  { name: 'acknowledged, past the deadline: overdue all the same', from: { state: 'acknowledged', acknowledged_at: iso(T0 + H) }, cmd: tick, at: T0 + 80 * H, expect: { state: 'overdue', step_state: 'due', event: 'overdue', notice: 'overdue' } },
  { name: 'overdue with step none: overdue, nothing due', from: { step: { action: 'none' } }, cmd: tick, at: T0 + 72 * H, expect: { state: 'overdue', step_state: 'none', event: 'overdue', notice: 'overdue' } },
  { name: 'overdue: the tick leaves it', from: { state: 'overdue', step_state: 'applied' }, cmd: tick, at: T0 + 100 * H },
  { name: 'resolved: the tick leaves it', from: { state: 'resolved' }, cmd: tick, at: T0 + 100 * H },
  { name: 'open -> acknowledged', from: {}, cmd: ack, at: T0 + H, expect: { state: 'acknowledged', step_state: 'none', event: 'acknowledged', notice: 'acknowledged', by: 'tenant (signed link)' } },
  { name: 'acknowledged twice: nothing', from: { state: 'acknowledged', acknowledged_at: iso(T0 + H) }, cmd: ack, at: T0 + 2 * H },
  { name: 'overdue, acknowledged late: recorded, stays overdue', from: { state: 'overdue', step_state: 'applied' }, cmd: ack, at: T0 + 80 * H, expect: { state: 'overdue', step_state: 'applied', event: 'acknowledged', notice: 'acknowledged' } },
  { name: 'resolved: acknowledge refused', from: { state: 'resolved' }, cmd: ack, at: T0 + H, refused: 'case_resolved' },
  { name: 'open -> resolved, nothing to lift', from: {}, cmd: resolve, at: T0 + H, expect: { state: 'resolved', step_state: 'none', event: 'resolved', notice: 'resolved', by: 'admin' } },
  { name: 'overdue with the step applied -> resolved, lift due', from: { state: 'overdue', step_state: 'applied', step_action_id: 'a1' }, cmd: resolve, at: T0 + 90 * H, expect: { state: 'resolved', step_state: 'lift_due', event: 'resolved', notice: 'resolved' } },
  { name: 'overdue with the step not yet queued -> resolved, nothing to lift', from: { state: 'overdue', step_state: 'due' }, cmd: resolve, at: T0 + 90 * H, expect: { state: 'resolved', step_state: 'none', event: 'resolved', notice: 'resolved' } },
  { name: 'resolved twice: refused', from: { state: 'resolved' }, cmd: resolve, at: T0 + H, refused: 'case_resolved' },
  { name: 'step due -> applied, no notice', from: { state: 'overdue', step_state: 'due' }, cmd: { type: 'step_applied', actionId: 'a1' }, at: T0 + 73 * H, expect: { state: 'overdue', step_state: 'applied', event: 'step_applied', notice: undefined } },
  { name: 'step applied twice: nothing', from: { state: 'overdue', step_state: 'applied' }, cmd: { type: 'step_applied', actionId: 'a2' }, at: T0 + 73 * H },
  { name: 'lift due -> lifted', from: { state: 'resolved', step_state: 'lift_due' }, cmd: { type: 'step_lifted', actionId: 'r1' }, at: T0 + 91 * H, expect: { state: 'resolved', step_state: 'lifted', event: 'step_lifted', notice: undefined } },
  { name: 'lift due -> left (replaced)', from: { state: 'resolved', step_state: 'lift_due' }, cmd: { type: 'step_left', note: 'replaced' }, at: T0 + 91 * H, expect: { state: 'resolved', step_state: 'left', event: 'step_left', notice: undefined } },
  { name: 'lifted without a lift due: nothing', from: { state: 'resolved', step_state: 'none' }, cmd: { type: 'step_lifted', actionId: 'r1' }, at: T0 + 91 * H },
];

describe('remediation case state machine', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const c = base(row.from);
      if (row.refused) {
        expect(() => transition(c, row.cmd, row.at, cfg)).toThrow(CaseRefusal);
        try {
          transition(c, row.cmd, row.at, cfg);
        } catch (err) {
          expect((err as CaseRefusal).code).toBe(row.refused);
        }
        return;
      }
      const t = transition(c, row.cmd, row.at, cfg);
      if (!row.expect) {
        expect(t).toBeUndefined();
        return;
      }
      expect(t).toBeDefined();
      expect({ state: t!.next.state, step_state: t!.next.step_state, event: t!.event.type, notice: t!.notice }).toEqual({
        state: row.expect.state,
        step_state: row.expect.step_state,
        event: row.expect.event,
        notice: row.expect.notice,
      });
      if (row.expect.by) expect(t!.event.by).toBe(row.expect.by);
      expect(t!.event.at).toBe(iso(row.at));
      expect(t!.next.history.at(-1)).toEqual(t!.event);
      expect(t!.next.history.length).toBe(c.history.length + 1);
      // The case it came from is not changed in place.
      expect(c.history.length).toBe(1);
    });
  }

  it('records the times of each move, the step action and the resolution', () => {
    let c = base();
    c = transition(c, ack, T0 + H, cfg)!.next;
    expect(c.acknowledged_at).toBe(iso(T0 + H));
    c = transition(c, tick, T0 + 72 * H, cfg)!.next;
    expect(c.overdue_at).toBe(iso(T0 + 72 * H));
    c = transition(c, { type: 'step_applied', actionId: 'act-1' }, T0 + 72 * H, cfg)!.next;
    expect(c.step_action_id).toBe('act-1');
    c = transition(c, resolve, T0 + 90 * H, cfg)!.next;
    expect([c.resolved_at, c.resolution, c.step_state]).toEqual([iso(T0 + 90 * H), 'cron job fixed', 'lift_due']);
    c = transition(c, { type: 'step_lifted', actionId: 'rel-1' }, T0 + 90 * H, cfg)!.next;
    expect([c.lift_action_id, c.step_state]).toEqual(['rel-1', 'lifted']);
    expect(c.history.map((e) => e.type)).toEqual(['opened', 'acknowledged', 'overdue', 'step_applied', 'resolved', 'step_lifted']);
  });

  it('no reminder when reminder_before is 0 or would fall before the opening', () => {
    expect(reminderAt(base(), { reminderBeforeMs: 0 })).toBeUndefined();
    expect(reminderAt(base(), { reminderBeforeMs: 100 * H })).toBeUndefined();
    expect(reminderAt(base(), cfg)).toBe(T0 + 48 * H);
    // A deadline shorter than reminder_before: straight to overdue, never a reminder.
    const short = base({ deadline: iso(T0 + 2 * H) });
    expect(transition(short, tick, T0 + H, cfg)).toBeUndefined();
    expect(transition(short, tick, T0 + 2 * H, cfg)!.next.state).toBe('overdue');
  });
});
