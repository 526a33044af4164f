// pressure: PSI per tenant (cgroup *.pressure) and for the host (/proc/pressure/*).
import type { Pressure } from '../../shared/wire.js';
import { type CollectContext, type Collector, NoData, sampleOf } from './collector.js';

export class PressureCollector implements Collector {
  readonly name = 'pressure';

  constructor(private readonly hostPressure: () => Pressure) {}

  collect(ctx: CollectContext): void | NoData {
    const host = this.hostPressure();
    if (Object.keys(host).length > 0) ctx.host.pressure = host;
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (!st.pressure || Object.keys(st.pressure).length === 0) continue;
      any = true;
      sampleOf(ctx, tenant).pressure = st.pressure;
    }
    if (!any && !ctx.host.pressure) return new NoData('the kernel exposes no pressure stall information');
  }
}
