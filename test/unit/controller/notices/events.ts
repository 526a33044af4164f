// Incident events as the agent makes them: its own evaluate() stepped through a contended host with a fake
// clock (notice -> throttle 1 -> 2 -> quarantine -> thawed -> released) and its applyManual() for an
// administrator's actions. The agent adds the top processes from /proc when it enforces; here they are given,
// one of them with markup in its command line.
import { Section } from '../../../../shared/config.js';
import type { IncidentEvent, TenantSample, TopProcess } from '../../../../shared/wire/agent.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { evaluate } from '../../../../agent/policy/evaluate.js';
import { applyManual } from '../../../../agent/policy/manual.js';
import { emptyState, type Observation, type PolicyState } from '../../../../agent/policy/types.js';
import type { StoredEvent } from '../../../../shared/wire/api.js';
import type { Store } from '../../../../controller/store/store.js';

export const SCRIPT_COMMAND = 'php-fpm: pool alice <script>alert("owned")</script>';

export const TOP: TopProcess[] = [
  { pid: 4242, command: SCRIPT_COMMAND, cpu_percent: 181.5, rss_bytes: 104_857_600, user: 'alice' },
  { pid: 4243, command: '/usr/bin/php /home/alice/cron/import.php --all', cpu_percent: 40, rss_bytes: 52_428_800, user: 'alice' },
];

const TICK = 5000;

/**
 * The events of one incident of `tenant`: it hogs the cpu of a contended 2-core host from `start` until it is
 * quarantined (automatic quarantine on, 20 s), stays calm afterwards and is released after the 60 s cool-down.
 * Event times are `start` plus the agent's ticks.
 */
export function ladderEvents(tenant = 'alice', start = Date.UTC(2026, 10, 29, 12, 0, 0), withTop = true): IncidentEvent[] {
  const config = readPolicyConfig(Section.root({ window: '30s', escalate_after: '10s', cooldown: '60s', quarantine: { auto: true, max: '20s' } }));
  let state: PolicyState = emptyState();
  const window: Observation[] = [];
  const events: IncidentEvent[] = [];
  let quarantined = false;
  for (let now = start; now <= start + 10 * 60_000; now += TICK) {
    const busy = !quarantined;
    const cpu: Record<string, number> = { [tenant]: busy ? 150 : 2, other1: 20, other2: 15, other3: 10 };
    // Every tenant's cgroup feels cpu pressure 42%: the other tenants wait while alice hogs.
    const samples = new Map<string, TenantSample>(Object.entries(cpu).map(([t, percent]) => [t, { tenant: t, cpu: { percent }, pressure: { cpu: { some: { avg10: 42 } } } }]));
    window.push({ at: now, host: { cores: 2, memory_bytes: 8 << 30, pressure: { cpu: { some: { avg10: 42, avg60: 30, avg300: 20, total: 0 } } } }, samples });
    while (window.length > 0 && window[0]!.at < now - config.windowMs - TICK) window.shift();
    const out = evaluate({ config, tenants: new Map(), window, state, now });
    state = out.state;
    for (const d of out.decisions) {
      if (d.tenant !== tenant) continue;
      if (d.level === 3) quarantined = true;
      if (withTop && d.kind !== 'release') d.event.explanation.top_processes = TOP;
      events.push(d.event);
    }
    if (events.some((e) => e.type === 'released')) break;
  }
  return events;
}

type ManualOpts = { tenant?: string; now?: number; reason?: string; level?: number };
const MANUAL_REASON = 'abuse report #42: spam sent from your account';
const RELEASE_REASON = 'the spam has stopped';

/**
 * An administrator's action on `tenant` as the agent reports it (opened, or released for 'release'), naming
 * `actionId` (default m-<action>). A controller takes such events only for an action it queued: see
 * queuedManualEvents.
 */
export function manualEvents(action: 'notice' | 'throttle' | 'quarantine' | 'release', opts: ManualOpts & { actionId?: string } = {}): IncidentEvent[] {
  const tenant = opts.tenant ?? 'alice';
  const now = opts.now ?? Date.UTC(2026, 10, 29, 13, 0, 0);
  const config = readPolicyConfig(Section.root({ quarantine: { max: '15m' } }));
  const base = { tenant, reason: opts.reason ?? MANUAL_REASON, created_at: new Date(now).toISOString(), by: 'admin' };
  if (action !== 'release') return applyManual({ state: emptyState(), action: { ...base, id: opts.actionId ?? `m-${action}`, action, ...(opts.level ? { level: opts.level } : {}) }, now, config }).events;
  const applied = applyManual({ state: emptyState(), action: { ...base, id: 'm-throttle', action: 'throttle', level: 2 }, now: now - 60_000, config });
  return applyManual({ state: applied.state, action: { ...base, id: opts.actionId ?? 'm-release', action: 'release', reason: RELEASE_REASON }, now, config }).events;
}

/** Asks a controller to queue an administrator's action (through its store or its API); gives the action's id. */
export type QueueAction = (tenant: string, request: { action: 'notice' | 'throttle' | 'quarantine' | 'release'; reason: string; level?: number }) => Promise<string>;

/**
 * manualEvents for an action the controller really queued first: it takes an event's `manual` field only when
 * it names an action queued for that tenant on the reporting host (DESIGN 8: no forged administrator).
 */
export async function queuedManualEvents(queue: QueueAction, action: 'notice' | 'throttle' | 'quarantine' | 'release', opts: ManualOpts = {}): Promise<IncidentEvent[]> {
  const reason = action === 'release' ? RELEASE_REASON : (opts.reason ?? MANUAL_REASON);
  const actionId = await queue(opts.tenant ?? 'alice', { action, reason, ...(action === 'throttle' && opts.level ? { level: opts.level } : {}) });
  return manualEvents(action, { ...opts, actionId });
}

/** Queue through a store, as admin; a tenant it does not know yet becomes a managed tenant of `host` (plan basic). */
export function storeQueue(store: Store, host = 'web01'): QueueAction {
  return async (tenant, request) => {
    if (!(await store.getTenant(tenant))) {
      if (!(await store.listPlans()).some((p) => p.name === 'basic')) await store.putPlan('basic', { weight: 1 });
      await store.putTenant(tenant, { users: [tenant], plan: 'basic', host });
    }
    return (await store.queueAction(tenant, request, 'admin')).id;
  };
}

/** Queue through the API with an admin token; a tenant it does not know yet becomes a managed tenant of `host`. */
export function apiQueue(url: string, adminToken: string, host = 'web01'): QueueAction {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json().catch(() => null)) as Record<string, unknown> | null };
  };
  return async (tenant, request) => {
    if ((await call('GET', `/v1/tenants/${tenant}`)).status === 404) {
      const plans = ((await call('GET', '/v1/plans')).json?.plans ?? []) as Array<{ name: string }>;
      if (!plans.some((p) => p.name === 'basic')) await call('PUT', '/v1/plans/basic', { weight: 1 });
      const put = await call('PUT', `/v1/tenants/${tenant}`, { users: [tenant], plan: 'basic', host });
      if (put.status >= 300) throw new Error(`PUT /v1/tenants/${tenant}: ${put.status} ${JSON.stringify(put.json)}`);
    }
    const queued = await call('POST', `/v1/tenants/${tenant}/actions`, request);
    if (queued.status !== 201) throw new Error(`POST /v1/tenants/${tenant}/actions: ${queued.status} ${JSON.stringify(queued.json)}`);
    return queued.json!.id as string;
  };
}

/** The subjects of the notices of ladderEvents(tenant), in order, with the built-in templates. */
export function ladderSubjects(tenant = 'alice', server = 'web01'): string[] {
  return [
    `cpu use above its fair share (warning, nothing limited yet)`,
    `cpu throttled (level 1)`,
    `cpu throttled (level 2)`,
    `quarantined, processes frozen (cpu)`,
    `quarantine over, cpu still throttled (level 2)`,
    `cpu limits lifted`,
  ].map((s) => `[${server}] ${tenant}: ${s}`);
}

export function stored(ev: IncidentEvent, host = 'web01'): StoredEvent {
  return { ...ev, host, received_at: ev.at };
}
