// io: read/write bytes and operations per second, where the kernel accounts them to the cgroup
// (v2 io.stat; v1 blkio throttle counters, which see direct IO but not buffered writeback).
import type { TenantSample } from '../../shared/wire/agent.js';
import type { CgroupStats } from '../kernel/cgroup/driver.js';
import { type CollectContext, type Collector, NoData, rateOf, sampleOf } from './collector.js';

type IoSample = NonNullable<TenantSample['io']>;

/** No real device sustains more than this; a larger rate is a counter reset. */
const MAX_BPS = 1e12;
const MAX_IOPS = 1e8;

/** One tenant's four io counters as last read (one record and one lookup per tenant, not a key string per counter). */
interface Counters {
  rbytes: number;
  wbytes: number;
  rios: number;
  wios: number;
  at: number;
  /** The stats' io object these were read from: a quiet or light tenant's tick repeats it (cgroup_stats) without reading. */
  src: NonNullable<CgroupStats['io']>;
}

/** The sample of a tenant that did no io (most of them, most ticks): one object shared, frozen (samples are never changed). */
const NO_IO: IoSample = Object.freeze({ read_bps: 0, write_bps: 0, read_iops: 0, write_iops: 0 });

export class IoCollector implements Collector {
  readonly name = 'io';
  private readonly last = new Map<string, Counters>();

  collect(ctx: CollectContext): void | NoData {
    let any = false;
    for (const [tenant, st] of ctx.stats) {
      if (!st.io) continue;
      any = true;
      const io = st.io;
      const p = this.last.get(tenant);
      if (!p) {
        this.last.set(tenant, { rbytes: io.rbytes, wbytes: io.wbytes, rios: io.rios, wios: io.wios, at: ctx.mono, src: io });
        continue;
      }
      if (io === p.src) {
        // Not read this tick (a quiet or light tenant: its tasks ran little or not at all, and no writeback of its
        // pages was pending): no io.
        // The reading keeps its time, so the next read's rate spans every tick since, instead of putting in one
        // tick whatever the kernel charged meanwhile.
        sampleOf(ctx, tenant).io = NO_IO;
        continue;
      }
      // RateTracker's rule for the four at once: no rate from a first reading, a counter that went backwards (a
      // recreated cgroup) or an impossible value; the reading is kept either way.
      const dt = (ctx.mono - p.at) / 1000;
      const rb = rateOf(io.rbytes - p.rbytes, dt, MAX_BPS);
      const wb = rateOf(io.wbytes - p.wbytes, dt, MAX_BPS);
      const ri = rateOf(io.rios - p.rios, dt, MAX_IOPS);
      const wi = rateOf(io.wios - p.wios, dt, MAX_IOPS);
      p.rbytes = io.rbytes;
      p.wbytes = io.wbytes;
      p.rios = io.rios;
      p.wios = io.wios;
      p.at = ctx.mono;
      p.src = io;
      if (rb === undefined || wb === undefined || ri === undefined || wi === undefined) continue;
      const sample = { read_bps: Math.round(rb), write_bps: Math.round(wb), read_iops: round1(ri), write_iops: round1(wi) };
      sampleOf(ctx, tenant).io = sample.read_bps === 0 && sample.write_bps === 0 && sample.read_iops === 0 && sample.write_iops === 0 ? NO_IO : sample;
    }
    for (const k of this.last.keys()) if (!ctx.stats.has(k)) this.last.delete(k);
    if (!any && ctx.stats.size > 0) return new NoData('no io accounting for the tenant cgroups');
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
