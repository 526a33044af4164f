// memory: bytes charged to the tenant, with anon and file (page cache) apart.
import type { TenantSample } from '../../shared/wire/agent.js';
import { type CollectContext, type Collector, NoData, sampleOf } from './collector.js';

type MemorySample = NonNullable<TenantSample['memory']>;

export class MemoryCollector implements Collector {
  readonly name = 'memory';
  /**
   * The sample made from a read, kept with it: a quiet tenant's stats are its last read (the same objects), so
   * its sample shares the one already made (nothing new that the observation window then holds for 30 s).
   * Samples are never changed once made (stats neither).
   */
  private readonly reported = new WeakMap<object, MemorySample>();

  collect(ctx: CollectContext): void | NoData {
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (!st.memory) continue;
      any = true;
      let m = this.reported.get(st.memory);
      if (!m) {
        m = { current: st.memory.current, anon: st.memory.anon, file: st.memory.file };
        this.reported.set(st.memory, m);
      }
      sampleOf(ctx, tenant).memory = m;
    }
    if (!any && ctx.stats.size > 0) return new NoData('no memory controller for the tenant cgroups');
  }
}
