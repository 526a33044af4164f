// processes: tasks in the tenant cgroup (pids.current counts threads, as pids.max limits them).
import type { TenantSample } from '../../shared/wire/agent.js';
import { type CollectContext, type Collector, NoData, sampleOf } from './collector.js';

type ProcessesSample = NonNullable<TenantSample['processes']>;

export class ProcessesCollector implements Collector {
  readonly name = 'processes';
  private readonly reported = new Map<string, ProcessesSample>();

  collect(ctx: CollectContext): void | NoData {
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (st.pids === undefined) continue;
      any = true;
      // Shared with the last tick's sample while the count is the same (see memory.ts: samples are never changed).
      let pr = this.reported.get(tenant);
      if (pr?.count !== st.pids) {
        pr = { count: st.pids };
        this.reported.set(tenant, pr);
      }
      sampleOf(ctx, tenant).processes = pr;
    }
    for (const k of this.reported.keys()) if (!ctx.stats.has(k)) this.reported.delete(k);
    if (!any && ctx.stats.size > 0) return new NoData('no pids controller for the tenant cgroups');
  }
}
