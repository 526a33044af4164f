// evaluate(): a pure function (policy, observations window, previous state, now) -> (decisions, next state).
// No clock, no I/O: tests step a fake clock through named table cases (STYLE 6).
//
// The rule of AUP section 7, as data:
//   violation(tenant, r) = contended(tenant, r) AND disproportionate(tenant, r)
//   contended(tenant, r) = the pressure felt by everyone but the tenant is at or above the threshold
//                          (contention.ts: the other tenants' PSI weighted by their activity, the system
//                          services' PSI; cpu without PSI: saturation the others share in). Never the tenant's
//                          own stalls or the stalls its own throttle causes.
//   disproportionate     = share of the tenants' total use over the window > factor x weighted fair share
//                          AND the usage is material (>= min_share of capacity; io: >= min_io bytes/s)
//                          memory counts without page cache (reclaimable `file`): a cache is not a hog
//                          bandwidth is the bytes the tenant's own sockets send (tx_bps), material from
//                          min_bandwidth bytes/s and min_share of the link where its speed is known
//   fair share           = plan weight / sum of the weights of the active tenants
// Ladder per tenant and resource, with hysteresis (STYLE 7):
//   open at level 0 (notice) -> after `escalate_after` of continued violation level 1 (throttle) -> level 2 ->
//   level 3 (quarantine, only when quarantine.auto) ; release after `cooldown` of continuous calm. After a
//   throttle, escalation waits for a whole window measured under the new limit, then `escalate_after` more.
//   Calm = not violating, and not held back by the throttle (pressing its ceiling, or a material use with its
//   own PSI at the threshold) while others are contended: a throttled tenant that would take more while the others still wait keeps its
//   throttle; alone, or gone quiet, it is calm.
//   A repeat offence (opened within `repeat_within` of the release of the tenant's previous incident on the
//   same resource) opens at the level the previous one left (at most throttle level 2), with its base, and
//   needs twice the calm of the one before to be released (cooldownOf: at most 8 x cooldown).
//   At most max_tighten_per_tick tenants open or escalate per tick, worst excess first. Stale or too-short
//   windows draw no decision.
// API calls have a ladder of their own (rule api_cap: over the plan's cap, contention = the web server's
// saturation), stepped after the others in api-cap.ts.
import type { Explanation, IncidentEvent, TenantSample } from '../../shared/wire/agent.js';
import { type ContentionView, contentionView, describe, judge, type Judged, thresholdOf } from './contention.js';
import { evaluateApiCaps } from './api-cap.js';
import { explain, round } from './explain.js';
import type { PolicyConfig } from './policy-config.js';
import { cooldownOf, type Decision, repeatAfter, repeatCount, FIRST_THROTTLE_LEVEL, GOVERNED, type Governed, type LadderState, type Laddered, LAST_THROTTLE_LEVEL, NOTICE_LEVEL, type Observation, type PolicyState, QUARANTINE_LEVEL, type ReleasedState, type TenantPolicy } from './types.js';

export const LEVEL_NAMES = ['notice', 'throttle level 1', 'throttle level 2', 'quarantine'] as const;
const RULE = 'contention_disproportion';

export interface EvaluateInput {
  config: PolicyConfig;
  tenants: ReadonlyMap<string, TenantPolicy>;
  /** Observations, oldest first (the agent keeps a little more than the window). */
  window: readonly Observation[];
  state: PolicyState;
  now: number;
}

export interface EvaluateOutput {
  decisions: Decision[];
  state: PolicyState;
  /** Why nothing was decided, when the input did not allow a decision. */
  skipped?: 'no_observations' | 'stale' | 'window_not_met';
}

/** Measurements of one tenant over the window, per governed resource (averages in the resource's unit). */
interface TenantMeasure {
  avg: Record<Governed, number | undefined>;
  /** io split, for throttle targets. */
  ioRead: number;
  ioWrite: number;
}

interface HostView {
  /** Contention per tenant is judged from this (the latest observation). */
  contention: ContentionView;
  /** Host usage per resource over the window (denominator of shares). */
  usage: Record<Governed, number>;
  /** bandwidth: the egress link's speed in bytes/s, where known. */
  capacity: { cpu: number; memory: number; link: number | undefined };
}

export function evaluate(input: EvaluateInput): EvaluateOutput {
  const { config, now } = input;
  const latest = input.window[input.window.length - 1];
  if (!latest) return { decisions: [], state: input.state, skipped: 'no_observations' };
  if (now - latest.at > config.staleMs) return { decisions: [], state: input.state, skipped: 'stale' };
  const used = input.window.filter((o) => o.at > now - config.windowMs && o.at <= now);
  if (!windowMet(used, config.windowMs)) return { decisions: [], state: input.state, skipped: 'window_not_met' };

  const host = hostView(used, latest, config);
  const measures = measureTenants(used);
  const weights = activeWeights(measures, input.tenants, host, config);

  const state: PolicyState = { ladders: { ...input.state.ladders }, manual: input.state.manual, released: pruneReleased(input.state.released, now, config) };
  const decisions: Decision[] = [];
  const candidates: Array<{ tenant: string; resource: Governed; excess: number; judged: Judged; ladder?: LadderState }> = [];
  const ownUse = (tenant: string, r: Governed) => (r === 'bandwidth' ? latest.samples.get(tenant)?.bandwidth?.tx_bps : latest.samples.get(tenant)?.cpu?.percent);
  const ctx = (tenant: string, r: Governed, m: TenantMeasure | undefined, fair: number, share: number, judged: Judged) => ({ tenant, r, m, host, fair, share, judged, config, policy: input.tenants.get(tenant) });

  const names = new Set([...measures.keys(), ...Object.keys(state.ladders)]);
  for (const tenant of names) {
    if (state.manual[tenant]) continue; // an admin's action rules this tenant until it expires
    const m = measures.get(tenant);
    const weight = input.tenants.get(tenant)?.plan?.weight ?? 1;
    const fair = weights.active.has(tenant) ? weight / weights.total : weight / (weights.total + weight);
    const ladders = { ...(state.ladders[tenant] ?? {}) };
    let changed = false;
    for (const r of GOVERNED) {
      const ladder = ladders[r];
      // Contention is judged only where it can matter: a tenant with a use to judge, or an open incident.
      if (!ladder && (m?.avg[r] === undefined || !material(r, m.avg[r]!, host, config))) continue;
      const judged = judge(host.contention, tenant, r, ownUse(tenant, r), config);
      const v = m ? violation(r, m, host, fair, judged.contended, config) : { violating: false, share: 0, excess: 0 };
      if (!ladder) {
        if (v.violating) candidates.push({ tenant, resource: r, excess: v.excess, judged });
        continue;
      }
      const next = { ...ladder };
      const avg = m?.avg[r];
      const target = throttleTarget(next, config);
      // Still held back by its throttle: at its ceiling, or still at work (a material use) with its own tasks
      // waiting (its cpu weight was lowered too, so under contention it may sit below the ceiling, stalled).
      // Released now, it would take that back from others who still wait: it holds while they do.
      const pressing = target !== undefined && avg !== undefined && avg >= 0.9 * target;
      const ownStall = r === 'bandwidth' ? 0 : (latest.samples.get(tenant)?.pressure?.[r]?.some.avg10 ?? 0);
      const wanting = pressing || (avg !== undefined && material(r, avg, host, config) && ownStall >= thresholdOf(r, config));
      const calm = !v.violating && !(judged.contended && wanting);
      if (v.violating) {
        next.violatingSince ??= now;
        next.calmSince = null;
      } else if (calm) {
        next.calmSince ??= now;
        next.violatingSince = null;
      } else {
        next.violatingSince = null;
        next.calmSince = null;
      }
      if (calm && now - next.calmSince! >= cooldownOf(next, config.cooldownMs)) {
        decisions.push(decide(tenant, r, 'release', next, now, explainFor(ctx(tenant, r, m, fair, v.share, judged), next, 'release')));
        if (config.repeatWithinMs > 0) {
          const released: ReleasedState = { at: now, level: next.level };
          if (next.repeat) released.repeats = repeatCount(next);
          if (next.base) released.base = next.base;
          state.released = { ...state.released, [tenant]: { ...state.released?.[tenant], [r]: released } };
        }
        delete ladders[r];
        changed = true;
        continue;
      }
      if (next.level === QUARANTINE_LEVEL && next.quarantineUntil !== undefined && now >= next.quarantineUntil) {
        next.level = LAST_THROTTLE_LEVEL;
        next.changedAt = now;
        delete next.quarantineUntil;
        decisions.push(decide(tenant, r, 'thaw', next, now, explainFor(ctx(tenant, r, m, fair, v.share, judged), next, 'thaw')));
      } else if (v.violating && next.level < maxLevel(r, config) && now - Math.max(next.violatingSince!, judgedFrom(next, config)) >= config.escalateAfterMs) {
        candidates.push({ tenant, resource: r, excess: v.excess, judged, ladder: next });
      }
      ladders[r] = next;
      changed = true;
    }
    if (changed) {
      if (Object.keys(ladders).length === 0) delete state.ladders[tenant];
      else state.ladders[tenant] = ladders;
    }
  }

  // Tighten the worst first, at most max_tighten_per_tick distinct tenants per tick.
  candidates.sort((a, b) => b.excess - a.excess || a.tenant.localeCompare(b.tenant));
  const tightened = new Set<string>();
  for (const c of candidates) {
    if (!tightened.has(c.tenant) && tightened.size >= config.maxTightenPerTick) continue;
    tightened.add(c.tenant);
    const m = measures.get(c.tenant)!;
    const policy = input.tenants.get(c.tenant);
    const weight = policy?.plan?.weight ?? 1;
    const fair = weights.active.has(c.tenant) ? weight / weights.total : weight / (weights.total + weight);
    const share = shareOf(c.resource, m, host);
    const ladders = { ...(state.ladders[c.tenant] ?? {}) };
    let next: LadderState;
    if (!c.ladder) {
      next = { incident: `${c.tenant}-${c.resource}-${now}`, resource: c.resource, rule: RULE, level: NOTICE_LEVEL, openedAt: now, changedAt: now, violatingSince: now, calmSince: null, events: 0 };
      const before = state.released?.[c.tenant]?.[c.resource];
      if (before && before.level > NOTICE_LEVEL) {
        // A repeat offence starts where the last incident left (never straight into quarantine).
        next.level = Math.min(before.level, LAST_THROTTLE_LEVEL);
        next.base = before.base ?? throttleBase(c.resource, m, policy);
        next.repeat = repeatAfter(before);
      }
    } else {
      next = { ...c.ladder, level: c.ladder.level + 1, changedAt: now };
      if (next.level === QUARANTINE_LEVEL) next.quarantineUntil = now + config.quarantine.maxMs;
      next.base ??= throttleBase(c.resource, m, policy);
    }
    decisions.push(decide(c.tenant, c.resource, c.ladder ? 'escalate' : 'open', next, now, explainFor(ctx(c.tenant, c.resource, m, fair, share, c.judged), next, c.ladder ? 'escalate' : 'open')));
    ladders[c.resource] = next;
    state.ladders[c.tenant] = ladders;
  }
  evaluateApiCaps({ config, tenants: input.tenants, used, now }, state, decisions, decide);
  return { decisions, state };
}

/** Releases older than repeat_within are forgotten (the same object when nothing changes). */
function pruneReleased(released: PolicyState['released'], now: number, config: PolicyConfig): PolicyState['released'] {
  if (!released) return undefined;
  let out: NonNullable<PolicyState['released']> | undefined;
  for (const [tenant, per] of Object.entries(released)) {
    for (const [r, rel] of Object.entries(per) as Array<[Laddered, ReleasedState | undefined]>) {
      if (rel && now - rel.at <= config.repeatWithinMs) continue;
      out ??= { ...released };
      const kept = { ...out[tenant] };
      delete kept[r];
      if (Object.keys(kept).length === 0) delete out[tenant];
      else out[tenant] = kept;
    }
  }
  return out ?? released;
}

/**
 * Since when the window shows the tenant under its current level. A notice changes no limit, so the window
 * already tells; after a throttle the window must first refill with observations taken under the new limit,
 * or the usage from before the throttle would escalate it again at once.
 */
function judgedFrom(ladder: LadderState, config: PolicyConfig): number {
  return ladder.level === NOTICE_LEVEL ? ladder.changedAt : ladder.changedAt + config.windowMs;
}

function maxLevel(r: Governed, config: PolicyConfig): number {
  // Freezing does not give memory back: memory stops at throttle level 2.
  return config.quarantine.auto && r !== 'memory' ? QUARANTINE_LEVEL : LAST_THROTTLE_LEVEL;
}

/** The window is met when its observations cover it: n observations stand for n intervals. */
function windowMet(used: readonly Observation[], windowMs: number): boolean {
  if (used.length < 2) return false;
  const span = used[used.length - 1]!.at - used[0]!.at;
  const spacing = span / (used.length - 1);
  return span + spacing >= windowMs * 0.999;
}

function hostView(used: readonly Observation[], latest: Observation, config: PolicyConfig): HostView {
  const capacity = { cpu: latest.host.cores * 100, memory: latest.host.memory_bytes, link: latest.host.network?.link_bps };
  const usage = { cpu: 0, io: 0, memory: 0, bandwidth: 0 };
  for (const o of used) {
    const u = usageOf(o);
    for (const k of GOVERNED) usage[k] += u[k];
  }
  for (const k of GOVERNED) usage[k] /= used.length;
  return { contention: contentionView(latest, config), usage, capacity };
}

/**
 * What the tenants used together in one observation. Shares are of what the tenants use together: the fair
 * share is split among tenants too, so the host's own daemons (outside every tenant cgroup) must not dilute a
 * tenant's share. An observation does not change once made, and a window holds it for many ticks: its sums are
 * kept with it (the same numbers, not summed again over 1,000 tenants on every tick it stays in the window).
 */
const usageSums = new WeakMap<Observation, Record<Governed, number>>();
function usageOf(o: Observation): Record<Governed, number> {
  const kept = usageSums.get(o);
  if (kept) return kept;
  const u = { cpu: 0, io: 0, memory: 0, bandwidth: 0 };
  for (const s of o.samples.values()) {
    u.cpu += s.cpu?.percent ?? 0;
    u.io += s.io ? s.io.read_bps + s.io.write_bps : 0;
    u.memory += s.memory ? heldMemory(s) : 0;
    u.bandwidth += socketTx(s) ?? 0;
  }
  usageSums.set(o, u);
  return u;
}

/**
 * Bytes a tenant's own sockets sent: what the egress shaper can hold. The web server's bytes for its sites
 * (web_tx_bps) are held at the web server, so the ladder does not judge them: a throttle could not lower them.
 */
function socketTx(s: TenantSample): number | undefined {
  return s.bandwidth ? Math.max(0, s.bandwidth.tx_bps - (s.bandwidth.web_tx_bps ?? 0)) : undefined;
}

/** Memory a tenant holds: charged memory less its page cache, which the kernel reclaims when others need it. */
function heldMemory(s: TenantSample): number {
  return Math.max(0, s.memory!.current - s.memory!.file);
}

/** A tenant's sums over the window: per resource the total and how many observations had it (flat: one object a tenant). */
interface Acc {
  cpu: number;
  nCpu: number;
  io: number;
  nIo: number;
  memory: number;
  nMemory: number;
  bandwidth: number;
  nBandwidth: number;
  r: number;
  w: number;
}

function measureTenants(used: readonly Observation[]): Map<string, TenantMeasure> {
  const acc = new Map<string, Acc>();
  for (const o of used) {
    for (const [name, s] of o.samples) {
      let a = acc.get(name);
      if (!a) {
        a = { cpu: 0, nCpu: 0, io: 0, nIo: 0, memory: 0, nMemory: 0, bandwidth: 0, nBandwidth: 0, r: 0, w: 0 };
        acc.set(name, a);
      }
      if (s.cpu) {
        a.cpu += s.cpu.percent;
        a.nCpu++;
      }
      if (s.memory) {
        a.memory += heldMemory(s);
        a.nMemory++;
      }
      if (s.bandwidth) {
        a.bandwidth += socketTx(s)!;
        a.nBandwidth++;
      }
      if (s.io) {
        a.io += s.io.read_bps + s.io.write_bps;
        a.nIo++;
        a.r += s.io.read_bps;
        a.w += s.io.write_bps;
      }
    }
  }
  const out = new Map<string, TenantMeasure>();
  for (const [name, a] of acc) {
    out.set(name, {
      avg: { cpu: mean(a.cpu, a.nCpu), io: mean(a.io, a.nIo), memory: mean(a.memory, a.nMemory), bandwidth: mean(a.bandwidth, a.nBandwidth) },
      ioRead: a.nIo ? a.r / a.nIo : 0,
      ioWrite: a.nIo ? a.w / a.nIo : 0,
    });
  }
  return out;
}

function mean(sum: number, n: number): number | undefined {
  return n ? sum / n : undefined;
}

function activeWeights(measures: Map<string, TenantMeasure>, tenants: ReadonlyMap<string, TenantPolicy>, host: HostView, config: PolicyConfig) {
  const active = new Set<string>();
  let total = 0;
  for (const [name, m] of measures) {
    const cpu = (m.avg.cpu ?? 0) / (host.capacity.cpu || 1);
    const mem = (m.avg.memory ?? 0) / (host.capacity.memory || 1);
    const io = host.usage.io > 0 ? (m.avg.io ?? 0) / host.usage.io : 0;
    const isActive = cpu >= config.activeShare || mem >= config.activeShare || ((m.avg.io ?? 0) >= config.minIoBps / 16 && io >= config.activeShare);
    if (!isActive) continue;
    active.add(name);
    total += tenants.get(name)?.plan?.weight ?? 1;
  }
  return { active, total: total || 1 };
}

function shareOf(r: Governed, m: TenantMeasure, host: HostView): number {
  const avg = m.avg[r] ?? 0;
  return host.usage[r] > 0 ? avg / host.usage[r] : 0;
}

function material(r: Governed, avg: number, host: HostView, config: PolicyConfig): boolean {
  if (r === 'bandwidth') return avg >= config.minBandwidthBps && (host.capacity.link === undefined || avg / host.capacity.link >= config.minShare);
  return r === 'io' ? avg >= config.minIoBps : avg / (r === 'cpu' ? host.capacity.cpu : host.capacity.memory) >= config.minShare;
}

function violation(r: Governed, m: TenantMeasure, host: HostView, fair: number, contended: boolean, config: PolicyConfig) {
  const avg = m.avg[r];
  const share = shareOf(r, m, host);
  if (avg === undefined) return { violating: false, share, excess: 0 };
  const allowed = config.factor * fair;
  const excess = share / allowed;
  return { violating: contended && material(r, avg, host, config) && share > allowed, share, excess };
}

/** The base throttle levels are fractions of: the lower of the plan cap and what the tenant uses now. */
function throttleBase(r: Governed, m: TenantMeasure, policy: TenantPolicy | undefined): NonNullable<LadderState['base']> {
  const plan = policy?.plan;
  const cap = (limit: number | undefined, used: number) => Math.min(limit ?? Infinity, used);
  if (r === 'cpu') return { value: round(cap(plan?.cpu, m.avg.cpu ?? 0), 2) };
  if (r === 'memory') return { value: Math.round(cap(plan?.memory, m.avg.memory ?? 0)) };
  if (r === 'bandwidth') return { value: Math.round(cap(plan?.bandwidth, m.avg.bandwidth ?? 0)) };
  const read = Math.round(cap(plan?.io_read, m.ioRead));
  const write = Math.round(cap(plan?.io_write, m.ioWrite));
  return { value: read + write, read, write };
}

/** The fraction of the base a level allows; undefined below level 1 and in quarantine. */
export function levelFraction(level: number, config: PolicyConfig): number | undefined {
  if (level === FIRST_THROTTLE_LEVEL) return config.throttle.level1;
  if (level === LAST_THROTTLE_LEVEL) return config.throttle.level2;
  return undefined;
}

/** The limit a ladder holds its resource to, in the resource's unit (io: read + write). */
export function throttleTarget(ladder: LadderState, config: PolicyConfig): number | undefined {
  const f = levelFraction(ladder.level, config);
  return f === undefined || !ladder.base ? undefined : ladder.base.value * f;
}

function decide(tenant: string, resource: Laddered, kind: Decision['kind'], ladder: LadderState, now: number, explanation: Explanation): Decision {
  ladder.events += 1;
  const type: IncidentEvent['type'] = kind === 'open' ? 'opened' : kind === 'escalate' ? 'escalated' : kind === 'release' ? 'released' : 'relaxed';
  const event: IncidentEvent = {
    id: `${ladder.incident}:${ladder.events}`,
    incident: ladder.incident,
    tenant,
    resource,
    rule: ladder.rule,
    type,
    step: kind === 'release' ? 'release' : ladder.level === NOTICE_LEVEL ? 'notice' : ladder.level === QUARANTINE_LEVEL ? 'quarantine' : 'throttle',
    level: kind === 'release' ? NOTICE_LEVEL : ladder.level,
    at: new Date(now).toISOString(),
    explanation,
  };
  if (ladder.level === QUARANTINE_LEVEL && ladder.quarantineUntil !== undefined && kind !== 'release') event.until = new Date(ladder.quarantineUntil).toISOString();
  return { tenant, resource, kind, level: event.level, event };
}

interface ExplainContext {
  tenant: string;
  r: Governed;
  m: TenantMeasure | undefined;
  host: HostView;
  fair: number;
  share: number;
  judged: Judged;
  config: PolicyConfig;
  policy: TenantPolicy | undefined;
}

function explainFor(x: ExplainContext, ladder: LadderState, kind: Decision['kind']): Explanation {
  return explain({
    tenant: x.tenant,
    r: x.r,
    avg: x.m?.avg[x.r] ?? 0,
    hostUse: x.host.usage[x.r],
    fair: x.fair,
    share: x.share,
    contention: describe(x.judged, x.r, x.config),
    config: x.config,
    ladder,
    kind,
    policy: x.policy,
    target: throttleTarget(ladder, x.config),
  });
}

export type { TenantSample };
