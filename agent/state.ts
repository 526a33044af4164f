// What the agent keeps across restarts, in the spool database (written in the same transaction as each tick's
// report, so a crash repeats neither), and the bookkeeping of manual actions on it: each action applied once,
// acknowledged, its events kept for the next report.
import type { Logger } from 'pino';
import type { ActionAck, IncidentEvent, ManualAction } from '../shared/wire/agent.js';
import type { InodeCapState } from './policy/inodes.js';
import { applyManual } from './policy/manual.js';
import type { PolicyConfig } from './policy/policy-config.js';
import { emptyState, type PolicyState } from './policy/types.js';
import type { Spool } from './transport/spool.js';

/** The spool's meta key holding the state. */
export const AGENT_STATE_KEY = 'agent_state';
/** Manual action ids are remembered this long, so an action served again is not applied twice. */
export const SEEN_ACTION_TTL_MS = 7 * 86_400_000;

export interface AgentState {
  policy: PolicyState;
  /** Manual action id -> when it was applied. */
  seenActions: Record<string, number>;
  /** Acknowledgements not yet delivered in a report. */
  acks: ActionAck[];
  /** Incident events decided between ticks (manual actions applied directly), for the next report. */
  events: IncidentEvent[];
  /** Open inode-cap incidents per tenant (policy/inodes.ts); absent in state saved before inode caps. */
  inodes?: Record<string, InodeCapState>;
}

export function emptyAgentState(seenActions: Record<string, number> = {}): AgentState {
  return { policy: emptyState(), seenActions, acks: [], events: [] };
}

/** The stored state, or an empty one (logged) when what is stored cannot be read. */
export function loadAgentState(spool: Spool, log: Logger): AgentState {
  const text = spool.getMeta(AGENT_STATE_KEY);
  if (text) {
    try {
      const stored = JSON.parse(text) as AgentState;
      if (stored.policy?.ladders && stored.policy.manual && stored.seenActions && Array.isArray(stored.acks)) return { ...stored, events: stored.events ?? [] };
    } catch {
      /* fall through */
    }
    log.error('stored enforcement state is unreadable; starting from an empty state');
  }
  return emptyAgentState();
}

/** The spool meta entries that persist `state` (for Spool.enqueue, or setMeta outside a tick). */
export function stateMeta(state: AgentState): Record<string, string> {
  return { [AGENT_STATE_KEY]: JSON.stringify(state) };
}

export function saveAgentState(spool: Spool, state: AgentState): void {
  spool.setMeta(AGENT_STATE_KEY, JSON.stringify(state));
}

export interface ManualContext {
  config: PolicyConfig;
  /** Whether this host governs the tenant (an action for any other tenant fails with an acknowledgement). */
  governs: (tenant: string) => boolean;
  log: Logger;
}

/**
 * Apply manual actions (from the controller's policy, or given directly), each once: updates `state` in place
 * (policy, seen ids, acknowledgements) and returns the incident events to report. Forgets ids past their TTL.
 */
export function applyManualActions(state: AgentState, actions: readonly ManualAction[], now: number, ctx: ManualContext): IncidentEvent[] {
  const events: IncidentEvent[] = [];
  for (const action of actions) {
    if (state.seenActions[action.id] !== undefined) continue;
    state.seenActions[action.id] = now;
    if (!ctx.governs(action.tenant)) {
      state.acks.push({ action_id: action.id, state: 'failed', at: new Date(now).toISOString(), message: `tenant "${action.tenant}" is not governed on this host` });
      continue;
    }
    const out = applyManual({ state: state.policy, action, now, config: ctx.config });
    state.policy = out.state;
    state.acks.push(out.ack);
    events.push(...out.events);
    ctx.log.info({ tenant: action.tenant, action: action.action, id: action.id, reason: action.reason, ack: out.ack.state }, 'manual action');
  }
  for (const [id, at] of Object.entries(state.seenActions)) if (now - at > SEEN_ACTION_TTL_MS) delete state.seenActions[id];
  return events;
}
