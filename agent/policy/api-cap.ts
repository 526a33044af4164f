// API calls on the ladder (rule `api_cap`): a tenant's sites asked for more API calls than its plan allows.
// Pure, like evaluate() which calls it once per tick with the same window, state and clock.
//
//   offered(T)   = T's API calls per minute averaged over the window, as the access logs count them: every
//                  request on one of its `api_paths`, the ones the web server refused (429) included, since
//                  the web server already holds T at its cap and only the offered load can be over it
//   over(T)      = offered(T) > plan `api` (no plan cap: never over, and an open incident is released)
//   contended    = the web server is saturated: the longest accept queue of its watched listening sockets
//                  (its own and PHP-FPM's: an FPM pool queues connections only when every worker is busy)
//                  at or above web_server.queue_threshold, in the latest observation. Where that cannot be
//                  read (no web_server watch, no `ss`, no socket listening) there is no contention signal:
//                  the plan's cap alone decides, and the explanation says so.
// Ladder, with the hysteresis of the others (evaluate.ts): opens at level 0 (notice) as soon as T is over its
// cap; escalates to throttle level 1, then 2, after `escalate_after` of continued excess (after a throttle, a
// whole window under the new limit first) while contended or with no signal; never to quarantine (freezing
// T's processes would not hold requests the shared web server answers). Throttle level n holds T at the web
// server (the generated include's limit_req) at policy.throttle.level<n> x its plan cap. Released after
// `cooldown` of offered calls at or below the cap (doubled for each repeat offence in a row, types.ts cooldownOf). A repeat offence within `repeat_within` opens at the level
// the previous incident left. Tenants under a manual action are left to it.
import { RESOURCE_UNITS } from '../../shared/resources.js';
import { formatDuration } from '../../shared/units.js';
import type { Explanation } from '../../shared/wire/agent.js';
import type { PolicyConfig } from './policy-config.js';
import { backoffText } from './explain.js';
import { cooldownOf, type Decision, repeatAfter, repeatCount, FIRST_THROTTLE_LEVEL, LAST_THROTTLE_LEVEL, type LadderState, NOTICE_LEVEL, type Observation, type PolicyState, type TenantPolicy, type WebSaturation } from './types.js';

export const API_RULE = 'api_cap';
const R = 'api' as const;

export type Decide = (tenant: string, resource: 'api', kind: Decision['kind'], ladder: LadderState, now: number, explanation: Explanation) => Decision;

export interface ApiCapInput {
  config: PolicyConfig;
  tenants: ReadonlyMap<string, TenantPolicy>;
  /** The observations of the window (evaluate's `used`), oldest first; the last is the latest. */
  used: readonly Observation[];
  now: number;
}

/** The API calls per minute a ladder holds a tenant to: its level's fraction of the plan cap (its base). */
export function apiTarget(ladder: LadderState, config: PolicyConfig): number | undefined {
  const f = ladder.level === FIRST_THROTTLE_LEVEL ? config.throttle.level1 : ladder.level === LAST_THROTTLE_LEVEL ? config.throttle.level2 : undefined;
  return f === undefined || !ladder.base ? undefined : Math.max(1, Math.round(ladder.base.value * f));
}

/** Offered API calls per minute over the window, per tenant with any API sample. */
function offered(used: readonly Observation[]): Map<string, number> {
  const acc = new Map<string, [number, number]>();
  for (const o of used) {
    for (const [tenant, s] of o.samples) {
      if (s.api === undefined) continue;
      const a = acc.get(tenant) ?? [0, 0];
      a[0] += s.api.per_minute;
      a[1]++;
      acc.set(tenant, a);
    }
  }
  return new Map([...acc].map(([t, [sum, n]]) => [t, sum / n]));
}

interface Judged {
  /** Saturated, or no signal (the cap alone decides). */
  escalates: boolean;
  contention: Explanation['contention'];
  /** What was seen, in words a tenant may read (names no one). */
  plain: string;
}

export function judgeWeb(web: WebSaturation | undefined): Judged {
  if (!web || !web.readable) {
    const why = web?.why ?? 'no web_server listen_queues are watched in agent.yaml';
    return { escalates: true, contention: { contended: false, signals: [], detail: `no contention signal for API calls: ${why}` }, plain: `the web server's saturation cannot be read on this server (${why}), so the plan's cap alone decides` };
  }
  const saturated = web.queued >= web.threshold;
  const signals = [{ resource: R, metric: 'listen_queue', value: web.queued, threshold: web.threshold }];
  const detail = `longest accept queue ${web.queued} connection(s) at ${web.socket} (threshold ${web.threshold})`;
  const plain = saturated
    ? `the web server was saturated: ${web.queued} connection(s) waited to be accepted (threshold ${web.threshold})`
    : `the web server was not saturated: at most ${web.queued} connection(s) waited to be accepted (threshold ${web.threshold})`;
  return { escalates: saturated, contention: { contended: saturated, signals, detail }, plain };
}

/**
 * Step the `api` ladders of every tenant: `state` (evaluate's working copy) is updated in place and the
 * decisions are appended to `decisions`.
 */
export function evaluateApiCaps(input: ApiCapInput, state: PolicyState, decisions: Decision[], decide: Decide): void {
  const { config, now } = input;
  const latest = input.used[input.used.length - 1];
  if (!latest) return;
  const calls = offered(input.used);
  const judged = judgeWeb(latest.web);
  const names = new Set([...calls.keys(), ...Object.keys(state.ladders).filter((t) => state.ladders[t]?.api)]);
  for (const tenant of [...names].sort()) {
    if (state.manual[tenant]) continue;
    const policy = input.tenants.get(tenant);
    const cap = policy?.plan?.api;
    const avg = calls.get(tenant);
    const over = cap !== undefined && avg !== undefined && avg > cap;
    const ladders = { ...(state.ladders[tenant] ?? {}) };
    const ladder = ladders.api;
    const x = { tenant, avg: avg ?? 0, cap, judged, config };
    if (!ladder) {
      if (!over) continue;
      const next: LadderState = { incident: `${tenant}-${R}-${now}`, resource: R, rule: API_RULE, level: NOTICE_LEVEL, openedAt: now, changedAt: now, violatingSince: now, calmSince: null, events: 0, base: { value: cap } };
      const before = state.released?.[tenant]?.api;
      if (before && before.level > NOTICE_LEVEL) {
        next.level = Math.min(before.level, LAST_THROTTLE_LEVEL);
        next.repeat = repeatAfter(before);
      }
      decisions.push(decide(tenant, R, 'open', next, now, explainApi(x, next, 'open')));
      ladders.api = next;
      state.ladders[tenant] = ladders;
      continue;
    }
    const next = { ...ladder };
    if (cap !== undefined) next.base = { value: cap };
    if (over) {
      next.violatingSince ??= now;
      next.calmSince = null;
    } else {
      next.calmSince ??= now;
      next.violatingSince = null;
    }
    if (!over && now - next.calmSince! >= cooldownOf(next, config.cooldownMs)) {
      decisions.push(decide(tenant, R, 'release', next, now, explainApi(x, next, 'release')));
      if (config.repeatWithinMs > 0) {
        const released = { at: now, level: next.level, ...(next.repeat ? { repeats: repeatCount(next) } : {}) };
        state.released = { ...state.released, [tenant]: { ...state.released?.[tenant], api: released } };
      }
      delete ladders.api;
      if (Object.keys(ladders).length === 0) delete state.ladders[tenant];
      else state.ladders[tenant] = ladders;
      continue;
    }
    const judgedFrom = next.level === NOTICE_LEVEL ? next.changedAt : next.changedAt + config.windowMs;
    if (over && judged.escalates && next.level < LAST_THROTTLE_LEVEL && now - Math.max(next.violatingSince!, judgedFrom) >= config.escalateAfterMs) {
      next.level += 1;
      next.changedAt = now;
      decisions.push(decide(tenant, R, 'escalate', next, now, explainApi(x, next, 'escalate')));
    }
    ladders.api = next;
    state.ladders[tenant] = ladders;
  }
}

interface ExplainApi {
  tenant: string;
  avg: number;
  cap: number | undefined;
  judged: Judged;
  config: PolicyConfig;
}

const n = (v: number) => String(Math.round(v * 10) / 10);

export function explainApi(x: ExplainApi, ladder: LadderState, kind: Decision['kind']): Explanation {
  const { tenant, config, judged } = x;
  const window = formatDuration(config.windowMs);
  const cap = x.cap ?? ladder.base?.value ?? 0;
  const target = apiTarget(ladder, config);
  const limits: Record<string, number> = {};
  let action: string;
  if (kind === 'release') action = `Released: API calls are held at the plan's cap of ${n(cap)} per minute again.`;
  else if (ladder.level === NOTICE_LEVEL)
    action = judged.escalates
      ? `Notice only: no limit changed yet; the web server already answers calls above ${n(cap)} per minute with 429 (Too Many Requests). If this continues for ${formatDuration(config.escalateAfterMs)}, API calls will be throttled below the plan's cap.`
      : `Notice only: no limit changed; the web server already answers calls above ${n(cap)} per minute with 429 (Too Many Requests). API calls are throttled below the cap only while the web server is saturated.`;
  else {
    action = `Throttled (level ${ladder.level}): the web server accepts at most ${n(target ?? cap)} API calls per minute for ${tenant}'s sites (and a share of that per visitor's address); calls above it are answered 429 (Too Many Requests) with a Retry-After header.`;
    if (target !== undefined) limits.api_calls_per_minute = target;
  }
  if (kind === 'open' && ladder.repeat) {
    const ago = formatDuration(Math.max(0, ladder.openedAt - ladder.repeat.releasedAt));
    action = `Repeat offence: the previous API incident was released ${ago} ago at level ${ladder.repeat.level}, within ${formatDuration(config.repeatWithinMs)}, so this one starts at the level it left. ${action} ${backoffText(ladder, config.cooldownMs)}`;
  }
  const summary =
    kind === 'release'
      ? `${tenant}'s sites have received no more API calls than the plan's cap of ${n(cap)} per minute for ${formatDuration(cooldownOf(ladder, config.cooldownMs))} (${n(x.avg)} per minute over the last ${window}): released; ${judged.plain}.`
      : `${tenant}'s sites received ${n(x.avg)} API calls per minute over the last ${window} (counted in the web server's access logs, refused calls included), above the plan's cap of ${n(cap)} per minute; ${judged.plain}.`;
  const out: Explanation = {
    summary,
    rule: API_RULE,
    resource: R,
    measured: { value: Math.round(x.avg * 100) / 100, unit: RESOURCE_UNITS.api },
    threshold: { value: cap, unit: RESOURCE_UNITS.api, kind: 'plan_cap' },
    window_seconds: config.windowMs / 1000,
    contention: judged.contention,
    top_processes: [],
    action,
    avoid:
      kind === 'release'
        ? `Keep API calls to your sites below ${n(cap)} per minute to avoid new limits.`
        : `Keeping API calls to your sites below ${n(cap)} per minute (your plan's cap) would have avoided this: cache API answers, slow down scripts or integrations that poll, and block bots that hammer /xmlrpc.php or /wp-json/, or ask for a plan with more API calls.`,
  };
  if (Object.keys(limits).length > 0) out.limits = limits;
  return out;
}

