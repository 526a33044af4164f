// link: the egress link's saturation, the contention signal of bandwidth (others suffer when the link is full:
// what the host sends against the link's speed, and the packets its queues drop). Per egress interface
// (`bandwidth.interfaces`, else the devices of the default routes from /proc/net/route and /proc/net/ipv6_route):
// bytes sent from /sys/class/net/<dev>/statistics/tx_bytes, the speed from `bandwidth.link_speed` or the
// driver's /sys/class/net/<dev>/speed (Mbit/s; virtual devices have none), drops from the device's tx_dropped
// (every tick) plus its qdiscs' drops (`tc -s -j qdisc show dev <dev>`, one process per interface: in the agent
// every 30 s while the link is calm, every tick near contention; see LinkOptions.qdiscEveryMs). The busiest
// interface (highest saturation, else highest rate) is reported as the host's `network`.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { NetworkStats } from '../../shared/wire/agent.js';
import { IFACE_RE } from '../shaping/tc.js';
import { type CollectContext, type Collector, NoData, RateTracker } from './collector.js';

/** Devices of the IPv4 default routes in /proc/net/route (destination 0, mask 0). */
export function parseRouteDefaults(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[1] === '00000000' && f[7] === '00000000' && IFACE_RE.test(f[0]!)) out.add(f[0]!);
  }
  return [...out];
}

/** Devices of the IPv6 default routes in /proc/net/ipv6_route (::/0), loopback's unreachable route left out. */
export function parseIpv6RouteDefaults(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00' && f[9] !== 'lo' && IFACE_RE.test(f[9]!)) out.add(f[9]!);
  }
  return [...out];
}

/** Drops of every qdisc of a device in `tc -s -j qdisc show dev X` (root and children). */
export function parseQdiscDrops(json: string): number {
  const doc = JSON.parse(json || '[]') as unknown;
  if (!Array.isArray(doc)) return 0;
  let drops = 0;
  for (const q of doc as Array<{ drops?: unknown }>) if (typeof q.drops === 'number' && Number.isFinite(q.drops) && q.drops >= 0) drops += q.drops;
  return drops;
}

/** A driver's speed file: Mbit/s as bytes/s, undefined for "unknown" (-1, 0, absent, unreadable). */
export function parseSpeed(text: string | undefined): number | undefined {
  const n = Number((text ?? '').trim());
  return Number.isInteger(n) && n > 0 && n <= 10_000_000 ? (n * 1_000_000) / 8 : undefined;
}

export interface LinkSources {
  readFile(path: string): string | undefined;
  qdiscDrops(dev: string): number | undefined;
}

const realSources = (sysRoot: string, procRoot: string): LinkSources => ({
  readFile(path) {
    try {
      return readFileSync(path.replace(/^\/sys\//, `${sysRoot}/`).replace(/^\/proc\//, `${procRoot}/`), 'utf8');
    } catch {
      return undefined;
    }
  },
  qdiscDrops(dev) {
    const r = spawnSync('tc', ['-s', '-j', 'qdisc', 'show', 'dev', dev], { encoding: 'utf8', timeout: 5000 });
    if (r.error || r.status !== 0) return undefined;
    try {
      return parseQdiscDrops(r.stdout);
    } catch {
      return undefined;
    }
  },
});

export interface LinkOptions {
  interfaces?: readonly string[];
  linkSpeed?: number;
  /**
   * How often the qdiscs' drops are read (`tc`, a process the agent starts: about 7 ms of the agent's CPU
   * measured here for its fork, 0.13 % of a core at a 5 s tick) while the link is calm; between reads their last
   * rate stands (the counters are cumulative: drops are delayed, never lost). Default: every tick.
   */
  qdiscEveryMs?: number;
  /** Whether the link as last seen is near contention: the qdiscs are then read every tick (default: never, qdiscEveryMs alone decides). */
  busy?: (net: NetworkStats) => boolean;
}

export class LinkCollector implements Collector {
  readonly name = 'link';
  private readonly rates = new RateTracker();
  private devs: string[] | undefined;
  private devsAt = -Infinity;
  /** Per device: when its qdiscs were last read (monotonic ms) and their drops per second then. */
  private readonly qdisc = new Map<string, { at: number; rate: number }>();
  private busy = false;

  constructor(
    private readonly opts: LinkOptions,
    private readonly sources: LinkSources = realSources('/sys', '/proc'),
  ) {}

  /** The qdiscs' drops per second of `dev`: read when due (or the link is busy), else the last rate. */
  private qdiscDrops(dev: string, mono: number): number {
    const last = this.qdisc.get(dev);
    if (last && mono - last.at < (this.opts.qdiscEveryMs ?? 0) && !this.busy) return last.rate;
    const n = this.sources.qdiscDrops(dev);
    const rate = n === undefined ? undefined : this.rates.rate(`${dev}\0qdisc`, n, mono, 1e9);
    this.qdisc.set(dev, { at: mono, rate: rate ?? 0 });
    return rate ?? 0;
  }

  collect(ctx: CollectContext): void | NoData {
    const devs = this.interfaces(ctx.mono);
    if (devs.length === 0) return new NoData('no egress interface (no default route; set bandwidth.interfaces)');
    let best: NetworkStats | undefined;
    for (const dev of devs) {
      const tx = Number(this.sources.readFile(`/sys/class/net/${dev}/statistics/tx_bytes`)?.trim());
      if (!Number.isFinite(tx)) continue;
      const devDrops = Number(this.sources.readFile(`/sys/class/net/${dev}/statistics/tx_dropped`)?.trim());
      const bps = this.rates.rate(`${dev}\0tx`, tx, ctx.mono, 1e12);
      const dps = (this.rates.rate(`${dev}\0drops`, Number.isFinite(devDrops) ? devDrops : 0, ctx.mono, 1e9) ?? 0) + this.qdiscDrops(dev, ctx.mono);
      if (bps === undefined) continue;
      const speed = this.opts.linkSpeed ?? parseSpeed(this.sources.readFile(`/sys/class/net/${dev}/speed`));
      const s: NetworkStats = { interface: dev, tx_bps: Math.round(bps), drops_per_s: Math.round(dps * 100) / 100 };
      if (speed !== undefined) {
        s.link_bps = Math.round(speed);
        s.saturation = Math.min(10, Math.round((bps / speed) * 1000) / 1000);
      }
      if (!best || (s.saturation ?? -1) > (best.saturation ?? -1) || (s.saturation === best.saturation && s.tx_bps > best.tx_bps)) best = s;
    }
    if (best) ctx.host.network = best;
    this.busy = best !== undefined && (this.opts.busy?.(best) ?? false);
  }

  /** The configured interfaces, or the default routes' devices re-read every minute (routes change). */
  private interfaces(mono: number): string[] {
    if (this.opts.interfaces && this.opts.interfaces.length > 0) return [...this.opts.interfaces];
    if (this.devs && mono - this.devsAt < 60_000) return this.devs;
    const v4 = parseRouteDefaults(this.sources.readFile('/proc/net/route') ?? '');
    const v6 = parseIpv6RouteDefaults(this.sources.readFile('/proc/net/ipv6_route') ?? '');
    this.devs = [...new Set([...v4, ...v6])];
    this.devsAt = mono;
    return this.devs;
  }
}
