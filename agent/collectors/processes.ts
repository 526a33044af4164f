// processes: tasks in the tenant cgroup (pids.current counts threads, as pids.max limits them).
import { type CollectContext, type Collector, NoData, sampleOf } from './collector.js';

export class ProcessesCollector implements Collector {
  readonly name = 'processes';

  collect(ctx: CollectContext): void | NoData {
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (st.pids === undefined) continue;
      any = true;
      sampleOf(ctx, tenant).processes = { count: st.pids };
    }
    if (!any && ctx.stats.size > 0) return new NoData('no pids controller for the tenant cgroups');
  }
}
