// What the agent holds outside the cgroups, at the edge where the load arrives: the web server's generated include
// (API calls and web bytes, webserver/) and the egress shaper (tenant-owned bytes sent, shaping/). Both take the
// tenants' plans, ladders and manual actions through the pure policy's desired rates (policy/desired.ts).
import { spawnSync } from 'node:child_process';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.js';
import { type Desired, type DesiredInput, desiredApiRate, desiredBandwidthRate, desiredLimits, desiredWebRate } from './policy/desired.js';
import type { ShapeTarget, NetExec, Shaper } from './shaping/shaper.js';
import type { AgentState } from './state.js';
import type { Tenant } from './tenants.js';
import type { WebServerLimits } from './webserver/apply.js';
import type { WebLimit } from './webserver/nginx.js';

/** Runs tc and ip for the shaper: its status and output, never a throw. */
export const netExec: NetExec = (program, args) => {
  const r = spawnSync(program, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { status: null, stdout: '', stderr: r.error.message };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** The API-call and web-byte limits of every tenant that has one, written into the web server's include. */
export function reconcileWebServer(webServer: WebServerLimits, tenants: readonly Tenant[], state: AgentState, config: AgentConfig): void {
  const web: WebLimit[] = [];
  for (const t of tenants) {
    const manual = state.policy.manual[t.name];
    const perMinute = desiredApiRate(t.plan, manual, config.policy, state.policy.ladders[t.name]?.api);
    const bytesPerSecond = desiredWebRate(t.plan, manual, config.policy);
    if (perMinute !== undefined || bytesPerSecond !== undefined) web.push({ tenant: t.name, perMinute, bytesPerSecond, domains: t.domains, apiPaths: config.web.tenantApiPaths[t.name] ?? config.web.apiPaths });
  }
  webServer.reconcile(web);
}

/** Every capped tenant's egress class (a dry run only says what it would shape); a failure waits for the next tick. */
export function reconcileShaper(shaper: Shaper, tenants: readonly Tenant[], state: AgentState, config: AgentConfig, dryRun: boolean, log: Logger): void {
  const targets = new Map<string, ShapeTarget>();
  for (const t of tenants) {
    const rate = desiredBandwidthRate(t.plan, state.policy.ladders[t.name]?.bandwidth, state.policy.manual[t.name], config.policy);
    if (rate !== undefined) targets.set(t.name, { uids: t.uids, rate });
  }
  if (dryRun) {
    if (targets.size > 0) log.debug({ tenants: [...targets.keys()] }, 'dry-run: would shape egress');
    return;
  }
  try {
    shaper.apply(targets);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'cannot apply bandwidth shaping; will retry next tick');
  }
}

/** Every class, rule and qdisc of the shaper removed (--release-all); a failure is logged, not thrown. */
export function releaseShaper(shaper: Shaper, log: Logger): void {
  try {
    shaper.releaseAll();
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not remove the bandwidth shaping');
  }
}

/**
 * Each tenant's desired cgroup limits, remembered with their inputs: the same inputs (the same objects) give the
 * same Desired object as last tick, which the enforcer sees unchanged at a glance.
 */
export class DesiredLimits {
  private memo = new Map<string, { input: DesiredInput; desired: Desired }>();

  compute(inputs: ReadonlyMap<string, DesiredInput>): Map<string, Desired> {
    const next = new Map<string, { input: DesiredInput; desired: Desired }>();
    const out = new Map<string, Desired>();
    for (const [tenant, input] of inputs) {
      const memo = this.memo.get(tenant);
      const desired = memo && sameInputs(memo.input, input) ? memo.desired : desiredLimits(input);
      next.set(tenant, { input, desired });
      out.set(tenant, desired);
    }
    this.memo = next;
    return out;
  }
}

function sameInputs(a: DesiredInput, b: DesiredInput): boolean {
  return a.plan === b.plan && a.ladders === b.ladders && a.manual === b.manual && a.config === b.config && a.devices === b.devices && a.cpuCapacity === b.cpuCapacity;
}
