// One collector per resource behind one small interface; the runner times each one and isolates failures
// (node_exporter's collector.execute): a failing collector is logged and reported, the tick goes on.
// A feature the kernel lacks is "no data", not an error (STYLE 2).
import type { Logger } from 'pino';
import type { CollectorStatus, HostStats, Pressure, TenantSample } from '../../shared/wire/agent.js';
import type { CgroupStats } from '../kernel/cgroup/driver.js';
import type { WebSaturation } from '../policy/types.js';
import type { Tenant } from '../tenants.js';

/** The wire's bound on a collector's error text (CollectorStatusSchema). */
const ERROR_MAX = 2000;

/** Returned by a collector whose source does not exist on this kernel. */
export class NoData {
  constructor(readonly reason: string) {}
}

/**
 * Returned by a collector that measured part of what it covers (some tenants could not be read): what it did
 * measure is used, its status is reported as failed with the reason, and the runner logs one warning per tick.
 */
export class Incomplete {
  constructor(readonly reason: string) {}
}

export interface CollectContext {
  /** Monotonic milliseconds (performance.now() based) for rates. */
  mono: number;
  tenants: readonly Tenant[];
  /**
   * This tick's cgroup stats per tenant (absent: no cgroup or the read failed), filled by the cgroup_stats
   * collector, which runs first; the per-resource collectors read it.
   */
  stats: Map<string, CgroupStats>;
  /** Samples being built for this tick, one per tenant; collectors fill in their resource. */
  samples: Map<string, TenantSample>;
  host: HostStats;
  /** Percent of the interval each tenant sat throttled by its CPU quota (the policy's, not the wire's). */
  throttled?: Map<string, number>;
  /** The host's PSI as cgroup_stats read it this tick (the pressure collector reports it without reading again). */
  hostPressure?: Pressure;
  /** PSI of the system services' cgroup, where the host has one (the policy's, not the wire's). */
  services?: Pressure;
  /** The web server's saturation (agent/webserver/saturation.ts; the policy's, not the wire's). */
  web?: WebSaturation;
  /** Cumulative nftables byte counters per tenant (rx only where counted), for the metrics endpoint. */
  network?: Map<string, { tx: number; rx?: number }>;
}

export interface Collector {
  readonly name: string;
  collect(ctx: CollectContext): void | NoData | Incomplete;
}

export function runCollectors(collectors: readonly Collector[], ctx: CollectContext, log: Logger): CollectorStatus[] {
  const out: CollectorStatus[] = [];
  for (const c of collectors) {
    const start = performance.now();
    try {
      const r = c.collect(ctx);
      const status: CollectorStatus = { name: c.name, ok: true, duration_ms: round3(performance.now() - start) };
      if (r instanceof NoData) {
        status.no_data = true;
        log.debug({ collector: c.name, reason: r.reason }, 'collector has no data');
      } else if (r instanceof Incomplete) {
        status.ok = false;
        status.error = r.reason.slice(0, ERROR_MAX);
        log.warn({ collector: c.name, err: r.reason }, 'collector incomplete');
      }
      out.push(status);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.error({ collector: c.name, err: message }, 'collector failed');
      out.push({ name: c.name, ok: false, error: message.slice(0, ERROR_MAX), duration_ms: round3(performance.now() - start) });
    }
  }
  return out;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * Rates from cumulative counters, per key. A counter that went backwards (a recreated cgroup, a restart)
 * or a first reading gives no rate this time, never a negative or huge one; `max` drops impossible values.
 */
export class RateTracker {
  private prev = new Map<string, { value: number; at: number }>();

  rate(key: string, value: number, at: number, max = Infinity): number | undefined {
    const p = this.prev.get(key);
    if (!p) {
      this.prev.set(key, { value, at });
      return undefined;
    }
    const r = rateOf(value - p.value, (at - p.at) / 1000, max);
    // Updated in place: a thousand tenants' counters allocate nothing per tick.
    p.value = value;
    p.at = at;
    return r;
  }

  /** Drop keys not seen in `keep` (tenants that went away). */
  retain(keep: (key: string) => boolean): void {
    for (const k of this.prev.keys()) if (!keep(k)) this.prev.delete(k);
  }

  forget(prefix: string): void {
    for (const k of this.prev.keys()) if (k === prefix || k.startsWith(`${prefix}\0`)) this.prev.delete(k);
  }
}

/** A counter's rate from its change `dv` over `dt` seconds: none when it went backwards (a reset), no time passed, or above `max`. */
export function rateOf(dv: number, dt: number, max = Infinity): number | undefined {
  if (dt <= 0 || dv < 0) return undefined;
  const r = dv / dt;
  return r > max ? undefined : r;
}

/** Get (or create) the sample of a tenant in this tick. */
export function sampleOf(ctx: CollectContext, tenant: string): TenantSample {
  let s = ctx.samples.get(tenant);
  if (!s) {
    s = { tenant };
    ctx.samples.set(tenant, s);
  }
  return s;
}
