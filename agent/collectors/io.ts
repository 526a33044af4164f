// io: read/write bytes and operations per second, where the kernel accounts them to the cgroup
// (v2 io.stat; v1 blkio throttle counters, which see direct IO but not buffered writeback).
import { type CollectContext, type Collector, NoData, RateTracker, sampleOf } from './collector.js';

/** No real device sustains more than this; a larger rate is a counter reset. */
const MAX_BPS = 1e12;
const MAX_IOPS = 1e8;

export class IoCollector implements Collector {
  readonly name = 'io';
  private readonly rates = new RateTracker();

  collect(ctx: CollectContext): void | NoData {
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (!st.io) continue;
      any = true;
      const rb = this.rates.rate(`${tenant}\0rb`, st.io.rbytes, ctx.mono, MAX_BPS);
      const wb = this.rates.rate(`${tenant}\0wb`, st.io.wbytes, ctx.mono, MAX_BPS);
      const ri = this.rates.rate(`${tenant}\0ri`, st.io.rios, ctx.mono, MAX_IOPS);
      const wi = this.rates.rate(`${tenant}\0wi`, st.io.wios, ctx.mono, MAX_IOPS);
      if (rb === undefined || wb === undefined || ri === undefined || wi === undefined) continue;
      sampleOf(ctx, tenant).io = { read_bps: Math.round(rb), write_bps: Math.round(wb), read_iops: round1(ri), write_iops: round1(wi) };
    }
    this.rates.retain((k) => ctx.stats.has(k.slice(0, k.indexOf('\0'))));
    if (!any && ctx.stats.size > 0) return new NoData('no io accounting for the tenant cgroups');
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
