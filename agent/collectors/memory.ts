// memory: bytes charged to the tenant, with anon and file (page cache) apart.
import { type CollectContext, type Collector, NoData, sampleOf } from './collector.js';

export class MemoryCollector implements Collector {
  readonly name = 'memory';

  collect(ctx: CollectContext): void | NoData {
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (!st.memory) continue;
      any = true;
      sampleOf(ctx, tenant).memory = { current: st.memory.current, anon: st.memory.anon, file: st.memory.file };
    }
    if (!any && ctx.stats.size > 0) return new NoData('no memory controller for the tenant cgroups');
  }
}
