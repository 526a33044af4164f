// Inode caps (plan key `inodes`): a count, not a rate, so its ladder is not the contention ladder of
// evaluate.ts. Nobody else waits while a tenant holds many files, and a throttle cannot make it hold fewer;
// what the plan says is a ceiling on a stock. Pure, like evaluate(): (config, counts, state, now) -> (events, state).
//
//   warn        count >= warn x cap                       opened, step notice, level 0 (a warning: nothing limited)
//   at the cap  count >= cap                              escalated (or opened, when the count jumped there):
//                 held (the filesystem's user quota holds the tenant, agent/inode-quota.ts)
//                                                         step throttle, level 1: new files are refused (EDQUOT)
//                 not held (no quota on its filesystems, or a tenant the quota cannot hold)
//                                                         step notice, level 0: notices only, said plainly
//   below the cap again (count < cap, still >= release x cap)      relaxed, step notice, level 0
//   release     count < release x cap (a complete count), the plan no longer caps inodes
//                                                         released
// release < warn is the hysteresis: a count hovering at the warning line does not open and close incidents.
// A partial count (the walk stopped at a bound) is a lower bound: it may open or escalate, never release.
// A tenant that is gone is forgotten without an event (its cgroup incidents are too, agent.ts retireGone).
import type { Explanation, IncidentEvent } from '../../shared/wire/agent.js';
import { formatDuration } from '../../shared/units.js';
import { FIRST_THROTTLE_LEVEL, NOTICE_LEVEL } from './types.js';

export const INODE_RULE = 'inode_cap';

export interface InodeCapConfig {
  /** Fraction of the cap from which a warning opens. */
  warn: number;
  /** Fraction of the cap below which the incident is released (below warn). */
  release: number;
  /** How often the count is refreshed (the window its value stands for). */
  refreshMs: number;
}

/** One open inode incident of a tenant. */
export interface InodeCapState {
  incident: string;
  /** Whether the count was at or above the cap at the last event. */
  atCap: boolean;
  /** The level of the last event: 1 only while the quota holds the tenant at the cap. */
  level: number;
  openedAt: number;
  events: number;
}

export interface InodeTenant {
  /** The last completed count; undefined while none is known. */
  count: number | undefined;
  /** The plan's `inodes`; undefined when the plan sets none. */
  cap: number | undefined;
  /** The count stopped early (a lower bound). */
  partial: boolean;
  /** The filesystem quota holds the tenant at the cap (every filesystem of its homes). */
  held: boolean;
}

export interface InodeCapsOutput {
  events: IncidentEvent[];
  state: Record<string, InodeCapState>;
}

export function evaluateInodeCaps(input: { config: InodeCapConfig; tenants: ReadonlyMap<string, InodeTenant>; state: Readonly<Record<string, InodeCapState>> | undefined; now: number }): InodeCapsOutput {
  const { config, now } = input;
  const state: Record<string, InodeCapState> = {};
  const events: IncidentEvent[] = [];
  for (const [tenant, t] of input.tenants) {
    const open = input.state?.[tenant];
    const next = open ? { ...open } : undefined;
    const emit = (s: InodeCapState, type: IncidentEvent['type'], level: number, what: Kind) => {
      s.events += 1;
      s.level = level;
      events.push(eventOf(tenant, s, type, level, now, explanation(tenant, t, what, config)));
    };
    if (t.cap === undefined) {
      if (next) emit(next, 'released', NOTICE_LEVEL, 'uncapped');
      continue;
    }
    if (t.count === undefined) {
      if (next) state[tenant] = next;
      continue;
    }
    const atCap = t.count >= t.cap;
    const capLevel = t.held ? FIRST_THROTTLE_LEVEL : NOTICE_LEVEL;
    if (!next) {
      if (t.count < config.warn * t.cap) continue;
      const s: InodeCapState = { incident: `${tenant}-inodes-${now}`, atCap, level: NOTICE_LEVEL, openedAt: now, events: 0 };
      emit(s, 'opened', atCap ? capLevel : NOTICE_LEVEL, atCap ? 'cap' : 'warn');
      state[tenant] = s;
      continue;
    }
    if (!t.partial && t.count < config.release * t.cap) {
      emit(next, 'released', NOTICE_LEVEL, 'release');
      continue;
    }
    if (atCap && !next.atCap) emit(next, 'escalated', capLevel, 'cap');
    else if (!atCap && next.atCap) emit(next, 'relaxed', NOTICE_LEVEL, 'below');
    next.atCap = atCap;
    state[tenant] = next;
  }
  return { events, state };
}

type Kind = 'warn' | 'cap' | 'below' | 'release' | 'uncapped';

function eventOf(tenant: string, s: InodeCapState, type: IncidentEvent['type'], level: number, now: number, explanation: Explanation): IncidentEvent {
  return {
    id: `${s.incident}:${s.events}`,
    incident: s.incident,
    tenant,
    resource: 'inodes',
    rule: INODE_RULE,
    type,
    step: type === 'released' ? 'release' : level >= FIRST_THROTTLE_LEVEL ? 'throttle' : 'notice',
    level,
    at: new Date(now).toISOString(),
    explanation,
  };
}

/** The sentence a tenant the quota cannot hold reads (README "Inode caps" quotes it). */
export const NOT_HELD_TEXT = 'This server cannot hold you at the limit; please remove files.';

function explanation(tenant: string, t: InodeTenant, kind: Kind, config: InodeCapConfig): Explanation {
  const count = t.count ?? 0;
  const cap = t.cap ?? 0;
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  const pct = cap > 0 ? Math.round((count / cap) * 1000) / 10 : 0;
  const warnAt = Math.ceil(config.warn * cap);
  const partial = t.partial ? ' (at least: the count stopped early, at a bound of the walk)' : '';
  const summary =
    kind === 'uncapped'
      ? `${tenant}'s plan no longer limits inodes: released.`
      : `${tenant} owns ${n(count)} inodes (files and directories)${partial}, ${pct}% of its plan's limit of ${n(cap)}.`;
  let action: string;
  switch (kind) {
    case 'warn':
      action = t.held
        ? `Notice only: nothing is limited yet. At ${n(cap)} inodes the filesystem refuses new files and directories ("Disk quota exceeded").`
        : `Notice only: nothing is limited. At ${n(cap)} inodes you are over your plan's limit. ${NOT_HELD_TEXT}`;
      break;
    case 'cap':
      action = t.held
        ? `Held at the limit: the filesystem's quota refuses new files and directories ("Disk quota exceeded") until some are removed.`
        : `Over the plan's limit of ${n(cap)} inodes. ${NOT_HELD_TEXT}`;
      break;
    case 'below':
      action = `Below the limit again: new files can be created, but the account is still near its limit of ${n(cap)} inodes.`;
      break;
    case 'release':
      action = `Released: the account is back below ${Math.round(config.release * 100)}% of its limit of ${n(cap)} inodes.`;
      break;
    case 'uncapped':
      action = 'Released: the plan no longer limits inodes.';
  }
  const out: Explanation = {
    summary,
    rule: INODE_RULE,
    resource: 'inodes',
    measured: { value: count, unit: 'inodes' },
    threshold: { value: cap, unit: 'inodes', kind: 'plan_cap' },
    window_seconds: config.refreshMs / 1000,
    contention: { contended: false, signals: [] },
    top_processes: [],
    action,
    avoid: `Keep the files and directories of the account below ${n(warnAt)} (${Math.round(config.warn * 100)}% of the limit): remove caches, sessions, old backups, logs and mail you no longer need. The count is refreshed every ${formatDuration(config.refreshMs)}.`,
  };
  if (t.held && cap > 0 && kind !== 'release' && kind !== 'uncapped') out.limits = { inodes_hard: cap };
  return out;
}
