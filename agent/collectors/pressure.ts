// pressure: PSI per tenant (cgroup *.pressure) and for the host (/proc/pressure/*).
import type { Pressure } from '../../shared/wire/agent.js';
import { type CollectContext, type Collector, NoData, sampleOf } from './collector.js';

/** A tenant's PSI as reported: avg10 of some and full (what the controller keeps), about a third of the bytes. */
export function avg10Only(p: Pressure): Pressure {
  const out: Pressure = {};
  for (const r of ['cpu', 'memory', 'io'] as const) {
    const psi = p[r];
    if (!psi) continue;
    out[r] = { some: { avg10: psi.some.avg10 }, ...(psi.full ? { full: { avg10: psi.full.avg10 } } : {}) };
  }
  return out;
}

export class PressureCollector implements Collector {
  readonly name = 'pressure';

  constructor(
    private readonly hostPressure: () => Pressure,
    /** The system services' cgroup PSI (empty where the host has none). */
    private readonly servicesPressure: () => Pressure = () => ({}),
  ) {}

  /**
   * What a tenant's PSI reports as, kept with the PSI read: a quiet tenant's stats repeat its last read (the same
   * object), and 1,000 tenants' pressure is then not shortened again on every tick. Reports only serialise it.
   */
  private readonly shortened = new WeakMap<Pressure, Pressure>();

  private reported(p: Pressure): Pressure {
    let out = this.shortened.get(p);
    if (!out) {
      out = avg10Only(p);
      this.shortened.set(p, out);
    }
    return out;
  }

  collect(ctx: CollectContext): void | NoData {
    const host = ctx.hostPressure ?? this.hostPressure();
    if (Object.keys(host).length > 0) ctx.host.pressure = host;
    const services = this.servicesPressure();
    if (Object.keys(services).length > 0) ctx.services = services;
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (!st.pressure || Object.keys(st.pressure).length === 0) continue;
      any = true;
      sampleOf(ctx, tenant).pressure = this.reported(st.pressure);
    }
    if (!any && !ctx.host.pressure) return new NoData('the kernel exposes no pressure stall information');
  }
}
