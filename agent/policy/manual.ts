// Manual actions (an admin's notice, throttle, quarantine or release, with a reason and an expiry), applied
// through the same state and limits as the automatic ladder. Pure, like evaluate(): (state, action, now) -> ...
import type { ActionAck, Explanation, IncidentEvent, ManualAction } from '../../shared/wire/agent.js';
import { formatDuration } from '../../shared/units.js';
import type { PolicyConfig } from './policy-config.js';
import { FIRST_THROTTLE_LEVEL, type Laddered, type ManualState, NOTICE_LEVEL, type PolicyState, QUARANTINE_LEVEL } from './types.js';

/** Default expiry of a manual action without a ttl. Quarantine uses policy.quarantine.max. */
export const MANUAL_DEFAULT_TTL_MS = { notice: 24 * 3_600_000, throttle: 3_600_000 } as const;

export interface ManualOutput {
  state: PolicyState;
  events: IncidentEvent[];
  ack: ActionAck;
}

function manualExplanation(tenant: string, what: string, reason: string, resource: Laddered = 'cpu'): Explanation {
  return {
    summary: `An administrator applied "${what}" to ${tenant}: ${reason}`,
    rule: 'manual',
    resource,
    measured: { value: 0, unit: 'manual' },
    threshold: { value: 0, unit: 'manual', kind: 'manual' },
    window_seconds: 0,
    contention: { contended: false, signals: [] },
    top_processes: [],
    action: what,
    avoid: 'Contact support to discuss this action; the reason above says what prompted it.',
  };
}

/** `by`: the action that caused this event when it is not the manual action itself (a release). */
function event(m: ManualState, tenant: string, type: IncidentEvent['type'], now: number, explanation: Explanation, release = false, by?: ManualAction): IncidentEvent {
  m.events += 1;
  const e: IncidentEvent = {
    id: `${m.incident}:${m.events}`,
    incident: m.incident,
    tenant,
    resource: explanation.resource,
    rule: 'manual',
    type,
    step: release ? 'release' : m.action,
    level: release ? 0 : m.level,
    at: new Date(now).toISOString(),
    manual: by ? { action_id: by.id, reason: by.reason, ...(by.by ? { by: by.by } : {}) } : { action_id: m.actionId, reason: m.reason, ...(m.by ? { by: m.by } : {}) },
    explanation,
  };
  if (!release && m.until !== undefined) e.until = new Date(m.until).toISOString();
  return e;
}

/**
 * Apply one manual action. `release` ends the manual action and every automatic incident of the tenant;
 * the others replace any manual action in force. Expired actions (expires_at in the past) are acknowledged
 * as expired and change nothing.
 */
export function applyManual(input: { state: PolicyState; action: ManualAction; now: number; config: PolicyConfig }): ManualOutput {
  const { action, now, config } = input;
  const at = new Date(now).toISOString();
  const expires = action.expires_at ? Date.parse(action.expires_at) : undefined;
  if (expires !== undefined && expires <= now) {
    return { state: input.state, events: [], ack: { action_id: action.id, state: 'expired', at, message: 'expired before it reached the agent' } };
  }
  const state: PolicyState = { ladders: { ...input.state.ladders }, manual: { ...input.state.manual } };
  const events: IncidentEvent[] = [];
  const tenant = action.tenant;

  if (action.action === 'release') {
    const current = state.manual[tenant];
    if (current) {
      const what = `release of the manual ${current.action}`;
      events.push(event({ ...current }, tenant, 'released', now, manualExplanation(tenant, what, action.reason), true, action));
      delete state.manual[tenant];
    }
    for (const [r, ladder] of Object.entries(state.ladders[tenant] ?? {})) {
      if (!ladder) continue;
      const l = { ...ladder, events: ladder.events + 1 };
      events.push({
        id: `${l.incident}:${l.events}`,
        incident: l.incident,
        tenant,
        resource: r as Laddered,
        rule: l.rule,
        type: 'released',
        step: 'release',
        level: 0,
        at,
        manual: { action_id: action.id, reason: action.reason, ...(action.by ? { by: action.by } : {}) },
        explanation: manualExplanation(tenant, `release of the automatic ${r} incident`, action.reason, r as Laddered),
      });
    }
    delete state.ladders[tenant];
    return { state, events, ack: { action_id: action.id, state: 'applied', at, message: events.length ? `released ${events.length} action(s)` : 'nothing was in force' } };
  }

  const previous = state.manual[tenant];
  if (previous) {
    events.push(event({ ...previous }, tenant, 'released', now, manualExplanation(tenant, `replaced by a manual ${action.action}`, action.reason), true, action));
  }
  const ttl = action.action === 'quarantine' ? config.quarantine.maxMs : MANUAL_DEFAULT_TTL_MS[action.action];
  const level = action.action === 'notice' ? NOTICE_LEVEL : action.action === 'quarantine' ? QUARANTINE_LEVEL : (action.level ?? FIRST_THROTTLE_LEVEL);
  const m: ManualState = {
    actionId: action.id,
    action: action.action,
    level,
    reason: action.reason,
    since: now,
    until: expires ?? now + ttl,
    incident: `${tenant}-manual-${action.id}`,
    events: 0,
  };
  if (action.by) m.by = action.by;
  const what =
    action.action === 'notice'
      ? 'a notice (no limit changed)'
      : action.action === 'quarantine'
        ? `quarantine (all processes frozen) until ${new Date(m.until!).toISOString()}`
        : `throttle level ${level} until ${new Date(m.until!).toISOString()}`;
  events.push(event(m, tenant, 'opened', now, manualExplanation(tenant, what, action.reason)));
  state.manual[tenant] = m;
  return { state, events, ack: { action_id: action.id, state: 'applied', at, message: `${what}; expires in ${formatDuration(m.until! - now)}` } };
}

/** Manual actions whose time is up end with a release event. */
export function expireManual(state: PolicyState, now: number): { state: PolicyState; events: IncidentEvent[] } {
  const expired = Object.entries(state.manual).filter(([, m]) => m.until !== undefined && m.until <= now);
  if (expired.length === 0) return { state, events: [] };
  const next: PolicyState = { ladders: state.ladders, manual: { ...state.manual } };
  const events = expired.map(([tenant, m]) => {
    delete next.manual[tenant];
    return event({ ...m }, tenant, 'released', now, manualExplanation(tenant, `the manual ${m.action} expired`, m.reason), true);
  });
  return { state: next, events };
}
