// Contention judged for one tenant T at a time: the pressure felt by everyone except T (DESIGN 3 "contention").
//
//   others(T, r)     = sum over the other active tenants U of weight(U, r) x stall(U, r)  /  sum of their weights
//   stall(U, r)      = U's cgroup PSI `some avg10` for r; for cpu less the time U sat throttled by its own quota
//                      (its own ceiling, which T does not cause)
//   weight(U, r)     = how busy U was with r: cpu and memory its cpu use in cores, io its bytes/s against
//                      min_io (at most 1); plus stall(U, r) / 100 (a starved tenant uses little but waits)
//   services(r)      = PSI `some avg10` of the system services' cgroup where the kernel has one (systemd:
//                      system.slice); never "root minus tenants": PSI does not subtract
//   contended(T, r)  = others(T, r) >= threshold(r) OR services(r) >= threshold(r)
//                      cpu with no tenant PSI at all: host CPU use / capacity >= cpu_saturation AND the CPU
//                      used by everything but T is material (min_share of the host): a saturated CPU that T
//                      alone fills is no one else's loss, and T's throttled time is idle, never busy
//                      bandwidth (no PSI for networks): the egress link's saturation (bytes sent / its speed)
//                      >= link_saturation, or its queues dropping >= link_drops packets/s, AND the bytes sent
//                      by everything but T are material (min_share of the link, or of what it carried when
//                      its speed is not known): a link T alone fills is no one else's loss
// T's own stalls, and the stalls its own throttle causes, are never part of its contention: a throttled tenant
// alone on the host is calm. The sums are kept per resource once per tick, so each tenant costs O(1).
import type { Explanation, NetworkStats, Pressure, TenantSample } from '../../shared/wire/agent.js';
import type { PolicyConfig } from './policy-config.js';
import { GOVERNED, type Governed, type Observation } from './types.js';

type Signal = Explanation['contention']['signals'][number];

/** One tenant's stall and weight for a resource in the latest observation. */
interface Entry {
  tenant: string;
  stall: number;
  weight: number;
}

interface ResourceSums {
  weight: number;
  weighted: number;
  /** Tenants with a weight (active in r). */
  count: number;
  /** The three entries with the highest stall, highest first (the busiest other is among them). */
  top: Entry[];
  /** Whether any tenant had PSI for r. */
  psi: boolean;
}

export interface ContentionView {
  sums: Record<Governed, ResourceSums>;
  services: Record<Governed, number | undefined>;
  /** Host CPU use in percent of one core and capacity (cores x 100), for the saturation fallback. */
  hostCpu: number | undefined;
  capacity: number;
  /** The busiest egress link (the agent's link collector), for bandwidth. */
  network: NetworkStats | undefined;
  /** The observation summed: a judged tenant's own part is taken from it again (entryOf), not kept for all. */
  latest: Observation;
  config: PolicyConfig;
}

export interface Contention {
  contended: boolean;
  signals: Signal[];
  /** For administrators: whose pressure was seen, with names. */
  detail: string;
  /** For anyone, the tenant included: what was seen, without names ("other customers"). */
  plain: string;
}

function stallOf(s: TenantSample, r: Governed, throttled: number | undefined): number | undefined {
  if (r === 'bandwidth') return undefined;
  const v = s.pressure?.[r]?.some.avg10;
  if (v === undefined) return undefined;
  return r === 'cpu' && throttled !== undefined ? Math.max(0, v - throttled) : v;
}

function busyOf(s: TenantSample, r: Governed, config: PolicyConfig): number {
  if (r === 'io') return s.io && config.minIoBps > 0 ? Math.min(1, (s.io.read_bps + s.io.write_bps) / config.minIoBps) : 0;
  return (s.cpu?.percent ?? 0) / 100;
}

/** How much a tenant with this stall counts in the others' average: how busy it was, plus its stall / 100. */
function weightOf(s: TenantSample, r: Governed, stall: number, config: PolicyConfig): number {
  return busyOf(s, r, config) + stall / 100;
}

/** A tenant's stall and weight for r in the observation; undefined when it has no PSI for r or weighs nothing. */
function entryOf(latest: Observation, config: PolicyConfig, tenant: string, s: TenantSample, r: Governed): { stall: number; weight: number } | undefined {
  const stall = stallOf(s, r, latest.throttled?.get(tenant));
  if (stall === undefined) return undefined;
  const weight = weightOf(s, r, stall, config);
  return weight > 0 ? { stall, weight } : undefined;
}

export function contentionView(latest: Observation, config: PolicyConfig): ContentionView {
  const sums = {} as Record<Governed, ResourceSums>;
  for (const r of GOVERNED) sums[r] = { weight: 0, weighted: 0, count: 0, top: [], psi: false };
  for (const [tenant, s] of latest.samples) {
    if (!s.pressure) continue;
    for (const r of GOVERNED) {
      // entryOf without its object (1,000 tenants, every tick): any PSI at all marks r as measured.
      const stall = stallOf(s, r, latest.throttled?.get(tenant));
      if (stall === undefined) continue;
      const sum = sums[r];
      sum.psi = true;
      const weight = weightOf(s, r, stall, config);
      if (weight <= 0) continue;
      sum.weight += weight;
      sum.weighted += weight * stall;
      sum.count++;
      if (sum.top.length < 3 || stall > sum.top[sum.top.length - 1]!.stall) {
        sum.top.push({ tenant, stall, weight });
        sum.top.sort((a, b) => b.stall - a.stall || a.tenant.localeCompare(b.tenant));
        if (sum.top.length > 3) sum.top.pop();
      }
    }
  }
  return {
    sums,
    services: servicesOf(latest.services),
    hostCpu: latest.host.cpu_percent,
    capacity: latest.host.cores * 100,
    network: latest.host.network,
    latest,
    config,
  };
}

function servicesOf(p: Pressure | undefined): Record<Governed, number | undefined> {
  return { cpu: p?.cpu?.some.avg10, io: p?.io?.some.avg10, memory: p?.memory?.some.avg10, bandwidth: undefined };
}

/** The contention threshold of r: PSI percent (cpu, io, memory), the link's saturation as a fraction (bandwidth). */
export function thresholdOf(r: Governed, config: PolicyConfig): number {
  if (r === 'bandwidth') return config.contention.linkSaturation;
  return r === 'cpu' ? config.contention.cpuPsi : r === 'io' ? config.contention.ioPsi : config.contention.memoryPsi;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** The numbers of one tenant's contention for r (cheap: called for every tenant and resource each tick). */
export interface Judged {
  contended: boolean;
  /** Others' weighted stall (percent) and how many others were active; absent: no tenant PSI for r. */
  others?: { value: number; count: number; busiest?: Entry };
  services?: number;
  /** The saturation fallback (cpu without tenant PSI). */
  saturation?: { value: number; othersUse: number };
  /** bandwidth: the egress link's saturation (absent when its speed is unknown), drops, and what the others sent. */
  link?: { saturation?: number; drops: number; othersUse: number; interface: string };
}

/**
 * Contention of resource r for `tenant`, whose own use now is `ownUse` (cpu: percent of one core; bandwidth:
 * bytes sent per second).
 */
export function judge(view: ContentionView, tenant: string, r: Governed, ownUse: number | undefined, config: PolicyConfig): Judged {
  if (r === 'bandwidth') return judgeLink(view.network, ownUse, config);
  const ownCpu = ownUse;
  const threshold = thresholdOf(r, config);
  const sum = view.sums[r];
  const out: Judged = { contended: false };
  if (sum.psi) {
    const sample = view.latest.samples.get(tenant);
    const own = sample?.pressure ? entryOf(view.latest, view.config, tenant, sample, r) : undefined;
    const weight = sum.weight - (own?.weight ?? 0);
    const count = sum.count - (own ? 1 : 0);
    const mean = count > 0 && weight > 1e-9 ? Math.max(0, (sum.weighted - (own ? own.weight * own.stall : 0)) / weight) : 0;
    const value = round(mean, 2);
    out.others = { value, count };
    if (count > 0) out.others.busiest = sum.top.find((e) => e.tenant !== tenant);
    if (value >= threshold) out.contended = true;
  }
  const services = view.services[r];
  if (services !== undefined) {
    out.services = services;
    if (services >= threshold) out.contended = true;
  }
  if (!sum.psi && r === 'cpu' && view.hostCpu !== undefined && view.capacity > 0) {
    const value = round(view.hostCpu / view.capacity, 3);
    const othersUse = Math.max(0, view.hostCpu - (ownCpu ?? 0));
    out.saturation = { value, othersUse };
    if (value >= config.contention.cpuSaturation && othersUse >= config.minShare * view.capacity) out.contended = true;
  }
  return out;
}

function judgeLink(net: NetworkStats | undefined, ownTx: number | undefined, config: PolicyConfig): Judged {
  if (!net) return { contended: false };
  const othersUse = Math.max(0, net.tx_bps - (ownTx ?? 0));
  const full = net.saturation !== undefined && net.saturation >= config.contention.linkSaturation;
  const dropping = config.contention.linkDrops > 0 && net.drops_per_s >= config.contention.linkDrops;
  const material = othersUse >= config.minShare * (net.link_bps ?? net.tx_bps);
  const link: NonNullable<Judged['link']> = { drops: net.drops_per_s, othersUse, interface: net.interface };
  if (net.saturation !== undefined) link.saturation = net.saturation;
  return { contended: (full || dropping) && material, link };
}

/** The evidence of a judgement: signals for the wire, the text for administrators (names) and for anyone (none). */
export function describe(j: Judged, r: Governed, config: PolicyConfig): Contention {
  const threshold = thresholdOf(r, config);
  const signals: Signal[] = [];
  const details: string[] = [];
  const plains: string[] = [];
  if (j.others) {
    const { value, count, busiest } = j.others;
    signals.push({ resource: r, metric: 'others_psi_some_avg10', value, threshold });
    if (count === 0 || !busiest) {
      details.push(`no other tenant was active in ${r}`);
      plains.push(`no other customer was using ${r}`);
    } else {
      const others = `${count} other tenant${count === 1 ? '' : 's'}`;
      details.push(`${others} stalled ${value}% of the time on ${r} (weighted by their activity; threshold ${threshold}%); the busiest: ${busiest.tenant} ${round(busiest.stall, 1)}%`);
      plains.push(`other customers waited for ${r} ${value}% of the time (threshold ${threshold}%)`);
    }
  }
  if (j.services !== undefined) {
    signals.push({ resource: r, metric: 'services_psi_some_avg10', value: j.services, threshold });
    details.push(`system services stalled ${j.services}% of the time on ${r}`);
    plains.push(`the server's own services waited for ${r} ${j.services}% of the time`);
  }
  if (j.saturation) {
    const { value, othersUse } = j.saturation;
    signals.push({ resource: 'cpu', metric: 'saturation', value, threshold: config.contention.cpuSaturation });
    const text = `the CPU was ${round(value * 100, 1)}% busy (threshold ${round(config.contention.cpuSaturation * 100, 1)}%), ${round(othersUse, 1)}% of one core of it used by others`;
    details.push(`${text} (no pressure data on this kernel)`);
    plains.push(text);
  }
  if (j.link) {
    const { saturation, drops, othersUse, interface: dev } = j.link;
    if (saturation !== undefined) signals.push({ resource: 'bandwidth', metric: 'link_saturation', value: saturation, threshold: config.contention.linkSaturation });
    signals.push({ resource: 'bandwidth', metric: 'link_drops_per_s', value: drops, threshold: config.contention.linkDrops });
    const full = saturation === undefined ? 'the network link (its speed unknown)' : `the network link was ${round(saturation * 100, 1)}% full (threshold ${round(config.contention.linkSaturation * 100, 1)}%)`;
    const text = `${full}, ${drops} packets/s dropped (threshold ${config.contention.linkDrops}), ${round(othersUse / 1e6, 2)} MB/s of it sent by others`;
    details.push(`${text} (interface ${dev})`);
    plains.push(text);
  }
  if (signals.length === 0) {
    details.push(`no pressure data for ${r}`);
    plains.push(`no pressure data for ${r}`);
  }
  return { contended: j.contended, signals, detail: details.join('; '), plain: plains.join('; ') };
}
