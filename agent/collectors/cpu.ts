// cpu: percent of one core over the interval (100 = one core, like LVE SPEED), from cumulative usage_usec.
import { type CollectContext, type Collector, NoData, RateTracker, sampleOf } from './collector.js';

export class CpuCollector implements Collector {
  readonly name = 'cpu';
  private readonly rates = new RateTracker();
  private readonly throttles = new RateTracker();

  collect(ctx: CollectContext): void | NoData {
    // A tenant cannot use more than every core; anything above (a reset mid-interval) is dropped.
    const max = ctx.host.cores * 1_000_000 * 1.05;
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (st.cpuUsageUsec === undefined) continue;
      any = true;
      const usecPerSec = this.rates.rate(tenant, st.cpuUsageUsec, ctx.mono, max);
      if (usecPerSec !== undefined) sampleOf(ctx, tenant).cpu = { percent: round2(usecPerSec / 10_000) };
      if (st.throttledUsec !== undefined) {
        // Summed over the CPUs whose runqueues were throttled: per CPU the tenant ran on (its use rounded up),
        // the share of the interval it waited on its own quota; what its own cpu pressure owes to its ceiling.
        const throttled = this.throttles.rate(tenant, st.throttledUsec, ctx.mono, max);
        if (throttled !== undefined && usecPerSec !== undefined) {
          const cpus = Math.max(1, Math.ceil(usecPerSec / 1_000_000 - 0.05));
          (ctx.throttled ??= new Map()).set(tenant, Math.min(100, round2(throttled / cpus / 10_000)));
        }
      }
    }
    this.rates.retain((k) => ctx.stats.has(k));
    this.throttles.retain((k) => ctx.stats.has(k));
    if (!any && ctx.stats.size > 0) return new NoData('no cpu usage counter in the tenant cgroups');
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
