import { describe, expect, it } from 'vitest';
import type { CollectContext } from '../../../../agent/collectors/collector.js';
import { linkNearContention } from '../../../../agent/collectors/bandwidth.js';
import { LinkCollector, type LinkSources, parseIpv6RouteDefaults, parseQdiscDrops, parseRouteDefaults, parseSpeed } from '../../../../agent/collectors/link.js';
import { HostStatsSchema } from '../../../../shared/wire/agent.js';
import { Value } from 'typebox/value';

// Captured on this build machine.
const ROUTE = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n';
const ROUTE6 =
  'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth1\n00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n';
const QDISC = '[{"kind":"pfifo_fast","handle":"0:","root":true,"refcnt":2,"options":{"bands":3},"bytes":5171233,"packets":51668,"drops":7,"overlimits":0,"requeues":3,"backlog":0,"qlen":0},{"kind":"fq_codel","handle":"0:","parent":":1","drops":3}]';

describe('link collector', () => {
  it('parses default routes, qdisc drops and speeds', () => {
    expect(parseRouteDefaults(ROUTE)).toEqual(['eth0']);
    expect(parseIpv6RouteDefaults(ROUTE6)).toEqual(['eth1']);
    expect(parseQdiscDrops(QDISC)).toBe(10);
    expect(parseSpeed('1000\n')).toBe(125_000_000);
    expect(parseSpeed('-1')).toBeUndefined();
    expect(parseSpeed(undefined)).toBeUndefined();
  });

  it('reports the busiest egress interface: bytes sent against its speed, and drops', () => {
    const files: Record<string, string> = {
      '/proc/net/route': ROUTE,
      '/proc/net/ipv6_route': ROUTE6,
      '/sys/class/net/eth0/statistics/tx_bytes': '1000',
      '/sys/class/net/eth0/statistics/tx_dropped': '0',
      '/sys/class/net/eth0/speed': '1000',
      '/sys/class/net/eth1/statistics/tx_bytes': '0',
      '/sys/class/net/eth1/statistics/tx_dropped': '0',
      '/sys/class/net/eth1/speed': '-1',
    };
    let drops = 0;
    const sources: LinkSources = { readFile: (p) => files[p], qdiscDrops: () => drops };
    const collector = new LinkCollector({}, sources);
    const ctx = (mono: number): CollectContext => ({ mono, tenants: [], stats: new Map(), samples: new Map(), host: { cores: 2, memory_bytes: 1 } });
    const first = ctx(0);
    collector.collect(first);
    expect(first.host.network).toBeUndefined(); // a rate needs two readings
    files['/sys/class/net/eth0/statistics/tx_bytes'] = String(1000 + 62_500_000); // half of 1 Gbit/s over 1 s
    files['/sys/class/net/eth1/statistics/tx_bytes'] = String(200_000_000);
    drops = 5;
    const second = ctx(1000);
    collector.collect(second);
    // eth0 is half full; eth1 sends more but has no known speed: the saturated one is reported.
    expect(second.host.network).toEqual({ interface: 'eth0', tx_bps: 62_500_000, link_bps: 125_000_000, saturation: 0.5, drops_per_s: 5 });
    expect(Value.Check(HostStatsSchema, second.host)).toBe(true);
    // A configured speed wins over the driver's.
    const configured = new LinkCollector({ interfaces: ['eth1'], linkSpeed: 100_000_000 }, sources);
    configured.collect(ctx(0));
    files['/sys/class/net/eth1/statistics/tx_bytes'] = String(200_000_000 + 150_000_000);
    const third = ctx(1000);
    configured.collect(third);
    expect(third.host.network).toMatchObject({ interface: 'eth1', saturation: 1.5 });
  });

  it("reads the qdiscs' drops (a tc run) every 30 s while the link is calm, every tick near contention, each rate over its own span", () => {
    const files: Record<string, string> = {
      '/sys/class/net/eth0/statistics/tx_bytes': '0',
      '/sys/class/net/eth0/statistics/tx_dropped': '0',
      '/sys/class/net/eth0/speed': '1000', // 125 MB/s
    };
    let qdiscDrops = 0;
    let runs = 0;
    const sources: LinkSources = { readFile: (p) => files[p], qdiscDrops: () => (runs++, qdiscDrops) };
    const contention = { linkSaturation: 0.9, linkDrops: 100 };
    const c = new LinkCollector({ interfaces: ['eth0'], qdiscEveryMs: 30_000, busy: (n) => linkNearContention(n, contention) }, sources);
    const at = (mono: number, txBytes: number, devDrops = 0) => {
      files['/sys/class/net/eth0/statistics/tx_bytes'] = String(txBytes);
      files['/sys/class/net/eth0/statistics/tx_dropped'] = String(devDrops);
      const ctx: CollectContext = { mono, tenants: [], stats: new Map(), samples: new Map(), host: { cores: 2, memory_bytes: 1 } };
      c.collect(ctx);
      return ctx.host.network;
    };
    at(0, 0);
    expect(runs).toBe(1);
    qdiscDrops = 300; // 10/s over the next 30 s
    const calm: number[] = [];
    for (let t = 5_000; t <= 30_000; t += 5_000) calm.push(at(t, t * 1000, t / 1000)!.drops_per_s); // 1 MB/s, 1 device drop/s
    expect(runs).toBe(2); // at 0 and at 30 s only
    // The device's own drops are read every tick; the qdiscs' rate is 0 until read at 30 s: 10/s over those 30 s.
    expect(calm).toEqual([1, 1, 1, 1, 1, 11]);
    expect(at(35_000, 35_000_000, 35)!.drops_per_s).toBe(11); // held between reads
    expect(runs).toBe(2);
    // Half full (62.5 MB/s): near contention, the qdiscs are read on every tick after the one that saw it.
    expect(at(40_000, 35_000_000 + 312_500_000, 40)!.saturation).toBe(0.5);
    expect(runs).toBe(2);
    qdiscDrops = 800; // 500 over the 15 s since the read at 30 s
    expect(at(45_000, 35_000_000 + 625_000_000, 45)!.drops_per_s).toBe(34.33);
    expect(runs).toBe(3);
    expect(at(50_000, 35_000_000 + 937_500_000, 50)!.drops_per_s).toBe(1); // no new qdisc drops in the last 5 s
    expect(runs).toBe(4);
  });
});
