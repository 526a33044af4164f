// Types of the policy engine: what evaluate() sees, remembers and decides.
import type { Explanation, HostStats, IncidentEvent, Plan, Pressure, TenantSample } from '../../shared/wire/agent.js';

/**
 * The resources the ladder governs (contention-aware). Others are held by plan caps only. bandwidth: bytes the
 * tenant's own sockets send (tx_bps); its contention is the egress link's saturation (no PSI for networks).
 */
export const GOVERNED = ['cpu', 'io', 'memory', 'bandwidth'] as const;
export type Governed = (typeof GOVERNED)[number];
/**
 * Resources on the ladder under a rule of their own rather than contention x disproportion: `api` (calls per
 * minute over the plan's cap, agent/policy/api-cap.ts). Ladders, releases and decisions may name them too.
 */
export const CAPPED = ['api'] as const;
export type Laddered = Governed | (typeof CAPPED)[number];

/**
 * Ladder levels (LadderState.level, ManualState.level): a notice changes no limit, the throttle levels tighten
 * the limits to policy.throttle.level1/level2 of their base, quarantine freezes every process.
 */
export const NOTICE_LEVEL = 0;
export const FIRST_THROTTLE_LEVEL = 1;
export const LAST_THROTTLE_LEVEL = 2;
export const QUARANTINE_LEVEL = 3;

/** The level a tenant is held at: the highest of its open ladders and its manual action (0 when none). */
export function tenantLevel(state: PolicyState, tenant: string): number {
  const ladders = Object.values(state.ladders[tenant] ?? {}).map((l) => l?.level ?? NOTICE_LEVEL);
  return Math.max(NOTICE_LEVEL, ...ladders, state.manual[tenant]?.level ?? NOTICE_LEVEL);
}

/** One tick's measurements. */
export interface Observation {
  /** Wall-clock milliseconds. */
  at: number;
  host: HostStats;
  samples: ReadonlyMap<string, TenantSample>;
  /**
   * Percent of the interval each tenant's cgroup sat throttled by its CPU quota (cpu.stat throttled_usec, v1
   * throttled_time), per CPU it ran on. A tenant's own throttle shows in its cpu pressure: this part of another
   * tenant's pressure is not caused by the tenant judged. Absent: not known.
   */
  throttled?: ReadonlyMap<string, number>;
  /**
   * Pressure of the host's system services, where the kernel gives it for their cgroup as a whole (systemd:
   * system.slice). Never the root minus the tenants: PSI does not subtract. Absent: not known.
   */
  services?: Pressure;
  /** The web server's saturation (agent/webserver/saturation.ts): contention for API calls. Absent: not watched. */
  web?: WebSaturation;
}

/** Connections waiting in the watched listening sockets of the web server and PHP-FPM (`ss -ltx` Recv-Q). */
export interface WebSaturation {
  /** False when nothing could be read (no `ss`, no watched socket listening): then there is no signal. */
  readable: boolean;
  /** The longest accept queue among the watched sockets, and which socket it is. */
  queued: number;
  socket: string;
  /** Queued connections from which the web server counts as saturated. */
  threshold: number;
  /** Why it is not readable. */
  why?: string;
}

export interface TenantPolicy {
  plan?: Plan;
  planName?: string;
}

/** Ladder position of one tenant for one resource: an open incident. */
export interface LadderState {
  incident: string;
  resource: Laddered;
  rule: string;
  /** 0 notice, 1-2 throttle levels, 3 quarantine. */
  level: number;
  openedAt: number;
  /** When the level last changed. */
  changedAt: number;
  /** Violation continuously true since (null: not violating now). */
  violatingSince: number | null;
  /** Calm (below threshold, or no contention) continuously since (null: not calm now). */
  calmSince: number | null;
  /**
   * What throttle levels are fractions of, fixed at the first throttle: the lower of the plan cap and the
   * measured use (cpu %, bytes; io as read and write bytes/s). Level n targets fraction(n) x base.
   */
  base?: { value: number; read?: number; write?: number };
  /** Quarantine ends (thaws back to level 2) at this time unless extended. */
  quarantineUntil?: number;
  /**
   * A repeat offence: the incident opened within policy.repeat_within of the release of the one before. `count`:
   * repeat offences in a row, this one included (absent in state saved before it was kept: 1).
   */
  repeat?: { releasedAt: number; level: number; count?: number };
  /** Events emitted so far for this incident (event ids are `${incident}:${n}`). */
  events: number;
}

/** A manual action in force for a tenant (overrides the automatic ladder for every resource). */
export interface ManualState {
  actionId: string;
  action: 'notice' | 'throttle' | 'quarantine';
  level: number;
  reason: string;
  by?: string;
  since: number;
  until?: number;
  incident: string;
  events: number;
}

/** The last release of a tenant's incident on a resource, kept for policy.repeat_within. */
export interface ReleasedState {
  at: number;
  /** The level the incident was at when released (0 notice .. 3 quarantine). */
  level: number;
  base?: LadderState['base'];
  /** Repeat offences in a row that led to this release (0 or absent: a first offence). */
  repeats?: number;
}

/** The cool-down doubles with each repeat offence in a row, this many times at most (8 x cooldown). */
export const MAX_COOLDOWN_DOUBLINGS = 3;

/**
 * The calm a ladder needs before its release: `cooldown`, doubled for each repeat offence in a row, at most
 * 8 times as long. A tenant whose throttle is all that keeps the others from waiting is calm under it (the
 * others no longer wait), is released, and takes the resource again: without the back-off it would be
 * throttled and released every cool-down, with a notice each time.
 */
export function cooldownOf(ladder: Pick<LadderState, 'repeat'>, cooldownMs: number): number {
  return cooldownMs * 2 ** Math.min(repeatCount(ladder), MAX_COOLDOWN_DOUBLINGS);
}

/** Repeat offences in a row up to this incident, itself included (0: a first offence). */
export function repeatCount(ladder: Pick<LadderState, 'repeat'>): number {
  return ladder.repeat ? (ladder.repeat.count ?? 1) : 0;
}

/** What an incident opened within repeat_within of the release `before` records of it. */
export function repeatAfter(before: ReleasedState): NonNullable<LadderState['repeat']> {
  return { releasedAt: before.at, level: before.level, count: (before.repeats ?? 0) + 1 };
}

export interface PolicyState {
  ladders: Record<string, Partial<Record<Laddered, LadderState>>>;
  manual: Record<string, ManualState>;
  /** Recent releases per tenant and resource (absent in state saved before repeat offences were kept). */
  released?: Record<string, Partial<Record<Laddered, ReleasedState>>>;
}

export function emptyState(): PolicyState {
  return { ladders: {}, manual: {} };
}

export interface Decision {
  tenant: string;
  resource: Laddered;
  /** What changed. */
  kind: 'open' | 'escalate' | 'release' | 'thaw';
  level: number;
  event: IncidentEvent;
}

/** The explanation without the top processes, which the agent adds from /proc when it enforces. */
export type PartialExplanation = Omit<Explanation, 'top_processes'> & { top_processes: Explanation['top_processes'] };
