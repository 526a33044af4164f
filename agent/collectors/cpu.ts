// cpu: percent of one core over the interval (100 = one core, like LVE SPEED), from cumulative usage_usec.
import { type CollectContext, type Collector, NoData, RateTracker, sampleOf } from './collector.js';

export class CpuCollector implements Collector {
  readonly name = 'cpu';
  private readonly rates = new RateTracker();

  collect(ctx: CollectContext): void | NoData {
    // A tenant cannot use more than every core; anything above (a reset mid-interval) is dropped.
    const max = ctx.host.cores * 1_000_000 * 1.05;
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (st.cpuUsageUsec === undefined) continue;
      any = true;
      const usecPerSec = this.rates.rate(tenant, st.cpuUsageUsec, ctx.mono, max);
      if (usecPerSec !== undefined) sampleOf(ctx, tenant).cpu = { percent: round2(usecPerSec / 10_000) };
    }
    this.rates.retain((k) => ctx.stats.has(k));
    if (!any && ctx.stats.size > 0) return new NoData('no cpu usage counter in the tenant cgroups');
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
