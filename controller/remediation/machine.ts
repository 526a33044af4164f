// The remediation case's state machine, pure: (case, command, now, config) -> the next case, the history entry
// and the notice it sends, or nothing to do; a command the state does not allow is a CaseRefusal (409).
//
//   open ──acknowledge──▶ acknowledged ──resolve──▶ resolved
//     │                      │                         ▲
//     └── now >= deadline ───┴──▶ overdue ──resolve────┘
//
// - tick (the overdue job, and after each change): an open or acknowledged case whose deadline has passed is
//   overdue (notice "overdue"; its step, unless none, becomes due); one whose reminder time has passed
//   (deadline - remediation.reminder_before, once, never before it was opened) is reminded (notice "reminder").
//   Acknowledging does not move the deadline: the tenant said it will fix it, not that it did.
// - acknowledge: open -> acknowledged (notice "acknowledged"); on an overdue case it is recorded (the step
//   stays until an administrator resolves the case); on an acknowledged case nothing happens; resolved: refused.
// - resolve: any state but resolved -> resolved (notice "resolved"); a step in force becomes lift_due.
// - the step's bookkeeping (due -> applied when its manual action is queued; lift_due -> lifted when the
//   release is queued, or left when another action replaced the case's, so an admin's later action is kept).
import type { CaseEvent, CaseEventType, CaseStep, RemediationCase } from '../../shared/wire/remediation.js';
import { MAX_CASE_HISTORY } from '../../shared/wire/remediation.js';

export interface MachineConfig {
  /** How long before the deadline the reminder goes out; 0 = none. */
  reminderBeforeMs: number;
}

export type CaseCommand =
  | { type: 'tick' }
  | { type: 'acknowledge'; by: string; note?: string | undefined }
  | { type: 'resolve'; by: string; note: string }
  | { type: 'step_applied'; actionId: string }
  | { type: 'step_lifted'; actionId: string }
  | { type: 'step_left'; note: string };

/** The lifecycle notices a change sends (controller/remediation/notices.ts words them). */
export type CaseNoticeKind = 'opened' | 'reminder' | 'acknowledged' | 'overdue' | 'resolved';

export interface CaseTransition {
  next: RemediationCase;
  event: CaseEvent;
  notice: CaseNoticeKind | undefined;
}

/** A command the case's state does not allow: `code` for the API's 409. */
export class CaseRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CaseRefusal';
  }
}

const iso = (t: number): string => new Date(t).toISOString();

/** True when the step does something (a throttle or a freeze). */
export function stepActs(step: CaseStep): boolean {
  return step.action !== 'none';
}

/** When the reminder of a case is due, or undefined when it gets none. */
export function reminderAt(c: RemediationCase, cfg: MachineConfig): number | undefined {
  if (cfg.reminderBeforeMs <= 0) return undefined;
  const at = Date.parse(c.deadline) - cfg.reminderBeforeMs;
  return at > Date.parse(c.opened_at) ? at : undefined;
}

function move(c: RemediationCase, type: CaseEventType, by: string, note: string | null, now: number, patch: Partial<RemediationCase>, notice?: CaseNoticeKind): CaseTransition {
  const event: CaseEvent = { at: iso(now), type, by, note };
  const history = [...c.history, event].slice(-MAX_CASE_HISTORY);
  return { next: { ...c, ...patch, history }, event, notice };
}

/** The next case after `cmd` at `now`; undefined when there is nothing to do. Throws CaseRefusal. */
export function transition(c: RemediationCase, cmd: CaseCommand, now: number, cfg: MachineConfig): CaseTransition | undefined {
  switch (cmd.type) {
    case 'tick': {
      if (c.state !== 'open' && c.state !== 'acknowledged') return undefined;
      if (now >= Date.parse(c.deadline)) {
        return move(c, 'overdue', 'controller', `the deadline ${c.deadline} passed`, now, { state: 'overdue', overdue_at: iso(now), step_state: stepActs(c.step) ? 'due' : 'none' }, 'overdue');
      }
      const remind = reminderAt(c, cfg);
      if (c.reminded_at === null && remind !== undefined && now >= remind) {
        return move(c, 'reminded', 'controller', null, now, { reminded_at: iso(now) }, 'reminder');
      }
      return undefined;
    }
    case 'acknowledge': {
      const note = cmd.note ?? null;
      if (c.state === 'resolved') throw new CaseRefusal('case_resolved', `case ${c.id} is already resolved`);
      if (c.state === 'acknowledged') return undefined;
      if (c.state === 'overdue') {
        if (c.acknowledged_at !== null) return undefined;
        return move(c, 'acknowledged', cmd.by, note, now, { acknowledged_at: iso(now) }, 'acknowledged');
      }
      return move(c, 'acknowledged', cmd.by, note, now, { state: 'acknowledged', acknowledged_at: iso(now) }, 'acknowledged');
    }
    case 'resolve': {
      if (c.state === 'resolved') throw new CaseRefusal('case_resolved', `case ${c.id} is already resolved`);
      // A step whose manual action was queued is lifted; one still due was never queued: nothing to lift.
      const stepState = c.step_state === 'applied' ? 'lift_due' : c.step_state === 'due' ? 'none' : c.step_state;
      return move(c, 'resolved', cmd.by, cmd.note, now, { state: 'resolved', resolved_at: iso(now), resolution: cmd.note, step_state: stepState }, 'resolved');
    }
    case 'step_applied': {
      if (c.step_state !== 'due') return undefined;
      const what = c.step.action === 'throttle' ? `throttle level ${c.step.level ?? 1}` : 'quarantine (freeze)';
      return move(c, 'step_applied', 'controller', `${what}: action ${cmd.actionId}`, now, { step_state: 'applied', step_action_id: cmd.actionId });
    }
    case 'step_lifted': {
      if (c.step_state !== 'lift_due') return undefined;
      return move(c, 'step_lifted', 'controller', `release: action ${cmd.actionId}`, now, { step_state: 'lifted', lift_action_id: cmd.actionId });
    }
    case 'step_left': {
      if (c.step_state !== 'lift_due') return undefined;
      return move(c, 'step_left', 'controller', cmd.note, now, { step_state: 'left' });
    }
  }
}

/** The case as it is opened (state open, history of one entry); the store gives it its id. */
export function openedCase(input: Omit<RemediationCase, 'state' | 'acknowledged_at' | 'reminded_at' | 'overdue_at' | 'resolved_at' | 'resolution' | 'step_state' | 'step_action_id' | 'lift_action_id' | 'history'>): RemediationCase {
  return {
    ...input,
    state: 'open',
    acknowledged_at: null,
    reminded_at: null,
    overdue_at: null,
    resolved_at: null,
    resolution: null,
    step_state: 'none',
    step_action_id: null,
    lift_action_id: null,
    history: [{ at: input.opened_at, type: 'opened', by: input.opened_by, note: null }],
  };
}
