// Series of history: one per tenant and one per host, in one id space. A tenant's series is its id (> 0), a
// host's is minus its id, so the rollup tables key both by (series, bucket) and one tenant's rows sit together.
import { HOST_WIDTH, TENANT_WIDTH } from './catalog.js';
import { decodeAcc, type Acc } from './codec.js';

export function isTenantSeries(series: number): boolean {
  return series > 0;
}

/** The series of a host's own values (its fairness, pressure, capacity). */
export function hostSeries(hostId: number): number {
  return -hostId;
}

/** How many metrics a series' vectors hold: the tenant catalog or the host catalog. */
export function widthOf(series: number): number {
  return isTenantSeries(series) ? TENANT_WIDTH : HOST_WIDTH;
}

/** An accumulator from a rollup row as kept in memory: encoded (a closed minute) or not. */
export function toAcc(row: Acc | Buffer, width: number): Acc {
  return Buffer.isBuffer(row) ? decodeAcc(row, width) : row;
}
