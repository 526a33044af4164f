// The fairness ledger's arithmetic (DESIGN section 3), pure functions over one host and one interval.
//
// Definitions, for tenant i on a host during one report interval:
//   share(i, r)   = usage(i, r) / capacity(r) for the resources with a known capacity:
//                   cpu:    cpu.percent / (cores * 100)
//                   memory: memory.current / host memory_bytes
//                   io:     max(read_bps / read cap, write_bps / write cap, (read_iops + write_iops) / iops cap)
//                           over the capacities the agent configured (host_stats.io_capacity); without them io
//                           is left out (it has no capacity to be a share of).
//                   bandwidth: max(bandwidth.tx_bps, bandwidth.rx_bps) / host_stats.network.link_bps: a link
//                           carries its speed each way (full duplex), so the busier direction is the share;
//                           tx_bps holds the web server's bytes for the tenant's sites (web_tx_bps) too. Without
//                           a link speed (none configured, no driver speed) it is left out.
//                   inodes: inodes.count / host_stats.inodes_capacity (the inodes of the filesystems holding
//                           the tenants' homes, statfs f_files summed once per filesystem); left out without it.
//                   api:    api.per_minute / host_stats.api_capacity (the API calls per minute the host's web
//                           tier is declared to serve, agent.yaml `api_capacity`); left out without it.
//   max share     m(i) = max_r share(i, r)            (unweighted)
//   active        a(i) = max share over every resource but inodes >= threshold (default 0.001): idle tenants
//                 neither dilute the fair share nor earn credit. Inodes are held, not used: almost every tenant
//                 owns files whether it runs anything or not, so they count in the dominant share of a tenant
//                 active by another resource and never make one active alone.
//   dominant      d(i) = m(i) / w(i)                   (w = plan weight, 1 when the plan is unknown)
//   fair share    f = 1 / sum of w(i) over active tenants (equal weights: 1/N). A tenant with weight w is
//                 entitled to w*f of the host; its dominant share is compared against f.
//   Jain's index  J = (sum x)^2 / (n * sum x^2) over x = d(i) of the active tenants: 1 when all weighted
//                 dominant shares are equal, 1/n when one tenant has everything.
//   debt          debt(t) = debt(t_prev) * 2^(-(t - t_prev)/h) + (d(i) - f) * dt / 3600, in share-hours,
//                 where dt is the interval in seconds and h the half-life. Inactive tenants add (0 - 0): their
//                 debt only decays. Debt goes negative (credit) for an active tenant using less than its fair
//                 share: a tenant that was modest for a while may burst without ranking as disproportionate.
// Bounds: shares and dominant shares are clamped to 0..MAX_SHARE, weights to MIN_WEIGHT..MAX_WEIGHT, debt to
// -MAX_DEBT..MAX_DEBT (shared/wire/bounds.ts), so every column this writes is one the history codec stores
// exactly whatever a host reports (a 1-byte memory_bytes, a tiny weight). No real host comes near them.

import { MAX_DEBT, MAX_SHARE, MAX_WEIGHT, MIN_WEIGHT } from '../shared/wire/bounds.js';
import { dequantize, HOST_INDEX, HOST_SCALE, quantize, TENANT_INDEX, TENANT_SCALE, TENANT_WIDTH } from './history/catalog.js';

export interface IoCapacity {
  read_bps: number;
  write_bps: number;
  iops: number;
}

export interface HostCapacity {
  cores: number;
  memoryBytes: number;
  io?: IoCapacity | undefined;
  /** The egress link's speed, bytes/s (host_stats.network.link_bps). */
  linkBps?: number | undefined;
  /** Inodes of the filesystems holding the homes (host_stats.inodes_capacity). */
  inodes?: number | undefined;
  /** API calls per minute the web tier serves (host_stats.api_capacity). */
  apiPerMinute?: number | undefined;
}

/** The ledger's capacity of a host from what its agent reported. */
export function capacityOf(stats: { cores: number; memory_bytes: number; io_capacity?: IoCapacity | undefined; network?: { link_bps?: number | undefined } | undefined; inodes_capacity?: number | undefined; api_capacity?: number | undefined }): HostCapacity {
  return { cores: stats.cores, memoryBytes: stats.memory_bytes, io: stats.io_capacity, linkBps: stats.network?.link_bps, inodes: stats.inodes_capacity, apiPerMinute: stats.api_capacity };
}

/** One tenant's usage in base units; absent = not measured. */
export interface TenantUsage {
  cpuPercent?: number | undefined;
  memoryBytes?: number | undefined;
  ioReadBps?: number | undefined;
  ioWriteBps?: number | undefined;
  ioReadIops?: number | undefined;
  ioWriteIops?: number | undefined;
  bandwidthTxBps?: number | undefined;
  bandwidthRxBps?: number | undefined;
  inodes?: number | undefined;
  apiPerMinute?: number | undefined;
  weight: number;
}

export interface TenantShares {
  cpu: number | undefined;
  memory: number | undefined;
  io: number | undefined;
  bandwidth: number | undefined;
  inodes: number | undefined;
  api: number | undefined;
  /** Largest unweighted share (0 when nothing is measured). */
  max: number;
  /** Largest share divided by the weight. */
  dominant: number;
  active: boolean;
  weight: number;
}

export interface HostFairness {
  tenants: TenantShares[];
  /** 1 / sum of active weights; undefined when no tenant is active. */
  fair: number | undefined;
  /** Jain's index over the active tenants' dominant shares; undefined when no tenant is active. */
  jain: number | undefined;
  active: number;
}

export const DEFAULT_ACTIVE_THRESHOLD = 0.001;

function ratio(used: number | undefined, capacity: number | undefined): number | undefined {
  if (used === undefined || capacity === undefined || !(capacity > 0)) return undefined;
  return clampShare(used / capacity);
}

/** A share within 0..MAX_SHARE (NaN as 0). */
function clampShare(x: number): number {
  return x > MAX_SHARE ? MAX_SHARE : x >= 0 ? x : 0;
}

/** A plan weight the ledger uses: MIN_WEIGHT..MAX_WEIGHT, 1 for one that is not a number. */
export function ledgerWeight(w: number): number {
  if (!Number.isFinite(w) || !(w > 0)) return 1;
  return w < MIN_WEIGHT ? MIN_WEIGHT : w > MAX_WEIGHT ? MAX_WEIGHT : w;
}

function maxDefined(values: Array<number | undefined>): number | undefined {
  let out: number | undefined;
  for (const v of values) if (v !== undefined && (out === undefined || v > out)) out = v;
  return out;
}

export function tenantShares(host: HostCapacity, u: TenantUsage, threshold = DEFAULT_ACTIVE_THRESHOLD): TenantShares {
  const cpu = ratio(u.cpuPercent, host.cores * 100);
  const memory = ratio(u.memoryBytes, host.memoryBytes);
  let io: number | undefined;
  if (host.io) {
    const ops = u.ioReadIops === undefined && u.ioWriteIops === undefined ? undefined : (u.ioReadIops ?? 0) + (u.ioWriteIops ?? 0);
    io = maxDefined([ratio(u.ioReadBps, host.io.read_bps), ratio(u.ioWriteBps, host.io.write_bps), ratio(ops, host.io.iops)]);
  }
  const bandwidth = maxDefined([ratio(u.bandwidthTxBps, host.linkBps), ratio(u.bandwidthRxBps, host.linkBps)]);
  const inodes = ratio(u.inodes, host.inodes);
  const api = ratio(u.apiPerMinute, host.apiPerMinute);
  const activity = maxDefined([cpu, memory, io, bandwidth, api]) ?? 0;
  const max = maxDefined([activity, inodes]) ?? 0;
  const weight = ledgerWeight(u.weight);
  return { cpu, memory, io, bandwidth, inodes, api, max, dominant: clampShare(max / weight), active: activity >= threshold, weight };
}

export function jainIndex(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  let sum = 0;
  let sq = 0;
  for (const x of xs) {
    sum += x;
    sq += x * x;
  }
  if (sq === 0) return 1;
  return (sum * sum) / (xs.length * sq);
}

export function hostFairness(host: HostCapacity, usages: readonly TenantUsage[], threshold = DEFAULT_ACTIVE_THRESHOLD): HostFairness {
  const tenants = usages.map((u) => tenantShares(host, u, threshold));
  let activeWeight = 0;
  const dominant: number[] = [];
  for (const t of tenants) {
    if (!t.active) continue;
    activeWeight += t.weight;
    dominant.push(t.dominant);
  }
  return {
    tenants,
    fair: activeWeight > 0 ? 1 / activeWeight : undefined,
    jain: jainIndex(dominant),
    active: dominant.length,
  };
}

/** A debt balance and when it was last brought up to date (ms since the epoch). */
export interface DebtState {
  debt: number;
  at: number;
}

/** The balance decayed to `at` (never grows it back when `at` is in the past). */
export function decayedDebt(state: DebtState, at: number, halfLifeMs: number): number {
  if (at <= state.at) return state.debt;
  return state.debt * 2 ** (-(at - state.at) / halfLifeMs);
}

/**
 * Bring a balance up to the end of an interval of `intervalSec` seconds ending at `at`, adding
 * (dominant - fair) * interval for an active tenant. An interval older than the balance (a late report) is
 * added decayed by its age, so the order reports arrive in does not change the result.
 */
export function accrueDebt(prev: DebtState | undefined, at: number, intervalSec: number, dominant: number, fair: number | undefined, active: boolean, halfLifeMs: number): DebtState {
  const term = active && fair !== undefined ? ((dominant - fair) * intervalSec) / 3600 : 0;
  if (!prev) return { debt: clampDebt(term), at };
  if (at >= prev.at) return { debt: clampDebt(decayedDebt(prev, at, halfLifeMs) + term), at };
  return { debt: clampDebt(prev.debt + term * 2 ** (-(prev.at - at) / halfLifeMs)), at: prev.at };
}

/** A balance within -MAX_DEBT..MAX_DEBT (NaN as 0). */
function clampDebt(debt: number): number {
  return debt > MAX_DEBT ? MAX_DEBT : debt < -MAX_DEBT ? -MAX_DEBT : Number.isNaN(debt) ? 0 : debt;
}

// --- the ledger of one report ------------------------------------------------------------------------------
// The arithmetic above applied to a report as the store holds it: quantized vectors in the catalog's units
// (history/catalog.ts), the fairness columns filled in place with the catalog's scales.

export interface LedgerOptions {
  halfLifeMs: number;
  /** A tenant is active when its largest unweighted share is at least this. */
  activeThreshold: number;
}

/** The resources with a share in the ledger (accrueReport tallies them in this order). */
export const LEDGER_RESOURCES = ['cpu', 'memory', 'io', 'bandwidth', 'inodes', 'api'] as const;
export type LedgerResource = (typeof LEDGER_RESOURCES)[number];

/** Per resource of one report: the sum and the largest of the tenants' shares; absent where no tenant had one. */
export type LedgerShares = Partial<Record<LedgerResource, { sum: number; max: number }>>;

/** One report's view of its host: the fair share, Jain's index and the active tenants (also stored per report). */
export interface HostLedger {
  fair: number | null;
  jain: number | null;
  active: number;
  /** The tenants' shares by resource (computed at ingest; not stored: absent for a report read back at start). */
  shares?: LedgerShares | undefined;
}

export interface ReportLedgerInput {
  /** `n` tenant vectors of TENANT_WIDTH, quantized; NaN = not measured. Fairness columns are written here. */
  values: Float64Array;
  n: number;
  /** The host vector of HOST_WIDTH; its fairness columns are written here. */
  hostValues: Float64Array;
  capacity: HostCapacity;
  /** Each tenant's plan weight. */
  weights: ArrayLike<number>;
  /** Each tenant's balance before this report (undefined: none yet). */
  balances: ArrayLike<DebtState | undefined>;
  /** End of the report's interval, ms since the epoch, and its length. */
  at: number;
  intervalMs: number;
}

const TI = TENANT_INDEX;
const TS = TENANT_SCALE;
const HI = HOST_INDEX;
const HS = HOST_SCALE;

/**
 * Shares, dominant shares, the fair share, Jain's index and each tenant's debt after one report's interval:
 * written into the report's tenant and host vectors (quantized), the new balances returned.
 *
 * The arithmetic of tenantShares and hostFairness, in the same order of operations (so the same doubles),
 * computed in place: no object per tenant on the ingest path. NaN stands for "undefined" (not measured or no
 * capacity) here, which quantize writes as NaN just the same. fairness.test.ts holds both to the same results.
 */
export function accrueReport(input: ReportLedgerInput, opts: LedgerOptions): { balances: DebtState[]; host: HostLedger } {
  const { values, n, hostValues, capacity } = input;
  const W = TENANT_WIDTH;
  const threshold = opts.activeThreshold;
  const cpuCap = capacity.cores * 100;
  const memCap = capacity.memoryBytes;
  const io = capacity.io;
  const linkCap = capacity.linkBps;
  const inodesCap = capacity.inodes;
  const apiCap = capacity.apiPerMinute;
  const dominant = new Float64Array(n);
  const active = new Uint8Array(n);
  let activeWeight = 0;
  let activeCount = 0;
  let sum = 0;
  let sq = 0;
  const sums = new Float64Array(LEDGER_RESOURCES.length);
  const maxes = new Float64Array(LEDGER_RESOURCES.length).fill(Number.NaN);
  const tally = (r: number, x: number): void => {
    if (Number.isNaN(x)) return;
    sums[r]! += x;
    if (!(x <= maxes[r]!)) maxes[r] = x;
  };
  for (let k = 0; k < n; k++) {
    const o = k * W;
    const cpu = share(values[o + TI.cpu_percent]! / TS.cpu_percent, cpuCap);
    const memory = share(values[o + TI.memory_current]! / TS.memory_current, memCap);
    let ioShare = Number.NaN;
    if (io) {
      const readIops = values[o + TI.io_read_iops]! / TS.io_read_iops;
      const writeIops = values[o + TI.io_write_iops]! / TS.io_write_iops;
      const ops = Number.isNaN(readIops) && Number.isNaN(writeIops) ? Number.NaN : (Number.isNaN(readIops) ? 0 : readIops) + (Number.isNaN(writeIops) ? 0 : writeIops);
      ioShare = maxOf(maxOf(share(values[o + TI.io_read_bps]! / TS.io_read_bps, io.read_bps), share(values[o + TI.io_write_bps]! / TS.io_write_bps, io.write_bps)), share(ops, io.iops));
    }
    const bandwidth = maxOf(share(values[o + TI.bandwidth_tx_bps]! / TS.bandwidth_tx_bps, linkCap), share(values[o + TI.bandwidth_rx_bps]! / TS.bandwidth_rx_bps, linkCap));
    const inodes = share(values[o + TI.inodes]! / TS.inodes, inodesCap);
    const api = share(values[o + TI.api_per_minute]! / TS.api_per_minute, apiCap);
    const a = maxOf(maxOf(maxOf(maxOf(cpu, memory), ioShare), bandwidth), api);
    const activity = Number.isNaN(a) ? 0 : a;
    const m = maxOf(a, inodes);
    const max = Number.isNaN(m) ? 0 : m;
    tally(0, cpu);
    tally(1, memory);
    tally(2, ioShare);
    tally(3, bandwidth);
    tally(4, inodes);
    tally(5, api);
    const weight = ledgerWeight(input.weights[k]!);
    const d = clampShare(max / weight);
    dominant[k] = d;
    values[o + TI.share_cpu] = quantize(cpu, TS.share_cpu);
    values[o + TI.share_memory] = quantize(memory, TS.share_memory);
    values[o + TI.share_io] = quantize(ioShare, TS.share_io);
    values[o + TI.share_bandwidth] = quantize(bandwidth, TS.share_bandwidth);
    values[o + TI.share_inodes] = quantize(inodes, TS.share_inodes);
    values[o + TI.share_api] = quantize(api, TS.share_api);
    values[o + TI.dominant_share] = quantize(d, TS.dominant_share);
    if (activity >= threshold) {
      active[k] = 1;
      activeWeight += weight;
      activeCount++;
      sum += d;
      sq += d * d;
    }
  }
  const fair = activeWeight > 0 ? 1 / activeWeight : undefined;
  const jain = activeCount === 0 ? undefined : sq === 0 ? 1 : (sum * sum) / (activeCount * sq);
  const fairQ = quantize(fair, TS.fair_share);
  const intervalSec = input.intervalMs / 1000;
  const balances = new Array<DebtState>(n);
  let strays = 0;
  for (let k = 0; k < n; k++) {
    const o = k * W;
    const isActive = active[k] === 1;
    values[o + TI.fair_share] = fairQ;
    values[o + TI.active] = isActive ? 1 : 0;
    const balance = accrueDebt(input.balances[k], input.at, intervalSec, dominant[k]!, fair, isActive, opts.halfLifeMs);
    balances[k] = balance;
    values[o + TI.debt] = quantize(balance.debt, TS.debt);
    const st = values[o + TI.strays]!;
    if (!Number.isNaN(st)) strays += st;
  }
  hostValues[HI.tenants] = n;
  hostValues[HI.active_tenants] = activeCount;
  hostValues[HI.fair_share] = quantize(fair, HS.fair_share);
  hostValues[HI.jain] = quantize(jain, HS.jain);
  hostValues[HI.strays] = strays;
  const shares: LedgerShares = {};
  LEDGER_RESOURCES.forEach((r, i) => {
    if (!Number.isNaN(maxes[i]!)) shares[r] = { sum: sums[i]!, max: maxes[i]! };
  });
  return { balances, host: { fair: fair ?? null, jain: jain ?? null, active: activeCount, shares } };
}

/** ratio() with NaN for undefined: used / capacity within 0..MAX_SHARE, NaN when either is unknown. */
function share(used: number, capacity: number | undefined): number {
  if (Number.isNaN(used) || capacity === undefined || !(capacity > 0)) return Number.NaN;
  return clampShare(used / capacity);
}

/** maxDefined() of two with NaN for undefined: the first defined one unless the second is larger. */
function maxOf(a: number, b: number): number {
  if (Number.isNaN(b)) return a;
  return Number.isNaN(a) || b > a ? b : a;
}

/** The host's ledger as stored in a report's host vector. */
export function hostLedgerOf(hostValues: Float64Array): HostLedger {
  return {
    jain: dequantize(hostValues[HI.jain]!, HS.jain) ?? null,
    fair: dequantize(hostValues[HI.fair_share]!, HS.fair_share) ?? null,
    active: dequantize(hostValues[HI.active_tenants]!, HS.active_tenants) ?? 0,
  };
}

/** The balance stored in a tenant vector (share-hours), undefined when the vector has none. */
export function storedDebt(row: Float64Array): number | undefined {
  return dequantize(row[TI.debt]!, TS.debt);
}
