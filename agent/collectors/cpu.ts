// cpu: percent of one core over the interval (100 = one core, like LVE SPEED), from cumulative usage_usec.
import type { TenantSample } from '../../shared/wire/agent.js';
import { type CollectContext, type Collector, NoData, RateTracker, sampleOf } from './collector.js';

type CpuSample = NonNullable<TenantSample['cpu']>;

/** The sample of a tenant that used no CPU (most of them, most ticks): one object shared, frozen (samples are never changed). */
const IDLE: CpuSample = Object.freeze({ percent: 0 });

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
      if (usecPerSec !== undefined) {
        const percent = round2(usecPerSec / 10_000);
        sampleOf(ctx, tenant).cpu = percent === 0 ? IDLE : { percent };
      }
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
