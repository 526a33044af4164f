// The fairness ledger's arithmetic (DESIGN section 3), pure functions over one host and one interval.
//
// Definitions, for tenant i on a host during one report interval:
//   share(i, r)   = usage(i, r) / capacity(r) for the resources with a known capacity:
//                   cpu:    cpu.percent / (cores * 100)
//                   memory: memory.current / host memory_bytes
//                   io:     max(read_bps / read cap, write_bps / write cap, (read_iops + write_iops) / iops cap)
//                           over the capacities the agent configured (host_stats.io_capacity); without them io
//                           is left out (it has no capacity to be a share of).
//   max share     m(i) = max_r share(i, r)            (unweighted)
//   active        m(i) >= threshold (default 0.001): idle tenants neither dilute the fair share nor earn credit
//   dominant      d(i) = m(i) / w(i)                   (w = plan weight, 1 when the plan is unknown)
//   fair share    f = 1 / sum of w(i) over active tenants (equal weights: 1/N). A tenant with weight w is
//                 entitled to w*f of the host; its dominant share is compared against f.
//   Jain's index  J = (sum x)^2 / (n * sum x^2) over x = d(i) of the active tenants: 1 when all weighted
//                 dominant shares are equal, 1/n when one tenant has everything.
//   debt          debt(t) = debt(t_prev) * 2^(-(t - t_prev)/h) + (d(i) - f) * dt / 3600, in share-hours,
//                 where dt is the interval in seconds and h the half-life. Inactive tenants add (0 - 0): their
//                 debt only decays. Debt goes negative (credit) for an active tenant using less than its fair
//                 share: a tenant that was modest for a while may burst without ranking as disproportionate.

export interface IoCapacity {
  read_bps: number;
  write_bps: number;
  iops: number;
}

export interface HostCapacity {
  cores: number;
  memoryBytes: number;
  io?: IoCapacity | undefined;
}

/** One tenant's usage in base units; absent = not measured. */
export interface TenantUsage {
  cpuPercent?: number | undefined;
  memoryBytes?: number | undefined;
  ioReadBps?: number | undefined;
  ioWriteBps?: number | undefined;
  ioReadIops?: number | undefined;
  ioWriteIops?: number | undefined;
  weight: number;
}

export interface TenantShares {
  cpu: number | undefined;
  memory: number | undefined;
  io: number | undefined;
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
  return used / capacity;
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
  const max = maxDefined([cpu, memory, io]) ?? 0;
  const weight = u.weight > 0 && Number.isFinite(u.weight) ? u.weight : 1;
  return { cpu, memory, io, max, dominant: max / weight, active: max >= threshold, weight };
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
  if (!prev) return { debt: term, at };
  if (at >= prev.at) return { debt: decayedDebt(prev, at, halfLifeMs) + term, at };
  return { debt: prev.debt + term * 2 ** (-(prev.at - at) / halfLifeMs), at: prev.at };
}
