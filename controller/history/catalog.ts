// The metrics the controller keeps history of. Every sample becomes a vector of numbers, each quantized to an
// integer in a fixed unit (the `scale` column): integers make the raw rows compact (varints) and make rollup
// sums exact, so an average computed from minute rows equals the one computed from raw samples, bit for bit.
//
// Two catalogs: one for tenant samples (what the agent measured, plus the fairness ledger computed at ingest)
// and one for host-wide values of a report. Names are the API's series names (snake_case).
import type { HostStats, Pressure, TenantSample } from '../../shared/wire/agent.js';

export interface MetricDef {
  /** Series name in the API, e.g. `cpu_percent`. */
  readonly name: string;
  /** The resource of DESIGN section 3 it belongs to (`fairness` for the ledger, `host`, `state`). */
  readonly group: string;
  /** Stored value = round(value * scale). */
  readonly scale: number;
  readonly unit: string;
  readonly description: string;
}

function m<N extends string>(name: N, group: string, scale: number, unit: string, description: string): MetricDef & { readonly name: N } {
  return { name, group, scale, unit, description };
}

/** Tenant metrics, in storage order (the order is part of the on-disk format: append only, never reorder). */
export const TENANT_METRICS = [
  m('cpu_percent', 'cpu', 1000, '% of one core', 'CPU use over the interval (100 = one core)'),
  m('memory_current', 'memory', 1, 'bytes', 'memory charged to the tenant'),
  m('memory_anon', 'memory', 1, 'bytes', 'anonymous memory'),
  m('memory_file', 'memory', 1, 'bytes', 'page cache'),
  m('io_read_bps', 'io', 1, 'bytes/s', 'bytes read per second'),
  m('io_write_bps', 'io', 1, 'bytes/s', 'bytes written per second'),
  m('io_read_iops', 'io', 100, 'ops/s', 'read operations per second'),
  m('io_write_iops', 'io', 100, 'ops/s', 'write operations per second'),
  m('processes', 'processes', 1, 'tasks', 'tasks in the tenant cgroup'),
  m('bandwidth_tx_bps', 'bandwidth', 1, 'bytes/s', 'bytes sent per second'),
  m('bandwidth_rx_bps', 'bandwidth', 1, 'bytes/s', 'bytes received per second'),
  m('inodes', 'inodes', 1, 'inodes', 'inodes owned'),
  m('api_per_minute', 'api', 100, 'calls/min', 'API calls per minute'),
  m('pressure_cpu_some', 'pressure', 100, '%', 'cgroup PSI cpu some avg10'),
  m('pressure_cpu_full', 'pressure', 100, '%', 'cgroup PSI cpu full avg10'),
  m('pressure_memory_some', 'pressure', 100, '%', 'cgroup PSI memory some avg10'),
  m('pressure_memory_full', 'pressure', 100, '%', 'cgroup PSI memory full avg10'),
  m('pressure_io_some', 'pressure', 100, '%', 'cgroup PSI io some avg10'),
  m('pressure_io_full', 'pressure', 100, '%', 'cgroup PSI io full avg10'),
  m('strays', 'state', 1, 'processes', 'processes found outside the tenant cgroup and moved in'),
  m('frozen', 'state', 1, '0/1', '1 while quarantined (frozen)'),
  m('throttle_level', 'state', 1, 'level', 'throttle level applied by the agent (0-2)'),
  m('share_cpu', 'fairness', 1e6, 'fraction', 'cpu use / host cpu capacity (cores*100)'),
  m('share_memory', 'fairness', 1e6, 'fraction', 'memory.current / host memory'),
  m('share_io', 'fairness', 1e6, 'fraction', 'io use / configured host io capacity'),
  m('dominant_share', 'fairness', 1e6, 'fraction', 'largest share divided by the plan weight'),
  m('fair_share', 'fairness', 1e6, 'fraction', '1 / sum of the weights of the active tenants of the host'),
  m('debt', 'fairness', 1e9, 'share-hours', 'fairness debt after this interval (negative = credit)'),
  m('active', 'fairness', 1, '0/1', '1 when the tenant counted as active for the fair share'),
] as const;
export type TenantMetric = (typeof TENANT_METRICS)[number]['name'];

/** Host metrics (one vector per report), in storage order. */
export const HOST_METRICS = [
  m('cores', 'host', 100, 'CPUs', 'online CPUs'),
  m('memory_bytes', 'host', 1, 'bytes', 'total memory'),
  m('cpu_percent', 'host', 1000, '% of one core', 'host CPU use (up to cores*100)'),
  m('memory_used', 'host', 1, 'bytes', 'memory in use (total - available)'),
  m('pressure_cpu_some', 'pressure', 100, '%', 'host PSI cpu some avg10'),
  m('pressure_cpu_full', 'pressure', 100, '%', 'host PSI cpu full avg10'),
  m('pressure_memory_some', 'pressure', 100, '%', 'host PSI memory some avg10'),
  m('pressure_memory_full', 'pressure', 100, '%', 'host PSI memory full avg10'),
  m('pressure_io_some', 'pressure', 100, '%', 'host PSI io some avg10'),
  m('pressure_io_full', 'pressure', 100, '%', 'host PSI io full avg10'),
  m('tenants', 'fairness', 1, 'tenants', 'tenant samples in the report'),
  m('active_tenants', 'fairness', 1, 'tenants', 'tenants counted as active for the fair share'),
  m('fair_share', 'fairness', 1e6, 'fraction', '1 / sum of the weights of the active tenants'),
  m('jain', 'fairness', 1e6, 'index', "Jain's index over the weighted dominant shares of the active tenants"),
  m('strays', 'state', 1, 'processes', 'strays moved in, all tenants'),
] as const;
export type HostMetric = (typeof HOST_METRICS)[number]['name'];

function indexOf<N extends string>(defs: ReadonlyArray<{ name: N }>): Readonly<Record<N, number>> {
  return Object.fromEntries(defs.map((d, i) => [d.name, i])) as Record<N, number>;
}

/** Index of each tenant metric by name (T.cpu_percent === 0). */
export const T = indexOf<TenantMetric>(TENANT_METRICS);
/** Index of each host metric by name. */
export const H = indexOf<HostMetric>(HOST_METRICS);

export const TENANT_WIDTH = TENANT_METRICS.length;
export const HOST_WIDTH = HOST_METRICS.length;
const TENANT_SCALES = TENANT_METRICS.map((d) => d.scale);
const HOST_SCALES = HOST_METRICS.map((d) => d.scale);

/** The scale of metric `i` in a catalog of `width` metrics. */
export function scalesFor(width: number): readonly number[] {
  return width === TENANT_WIDTH ? TENANT_SCALES : HOST_SCALES;
}

function put(out: Float64Array, at: number, value: number | undefined, scale: number): void {
  out[at] = value === undefined ? Number.NaN : Math.round(value * scale);
}

/** The six avg10 values (cpu, memory, io; some, full) from `at` on. */
function putPressure(out: Float64Array, at: number, p: Pressure | undefined): void {
  put(out, at, p?.cpu?.some.avg10, 100);
  put(out, at + 1, p?.cpu?.full?.avg10, 100);
  put(out, at + 2, p?.memory?.some.avg10, 100);
  put(out, at + 3, p?.memory?.full?.avg10, 100);
  put(out, at + 4, p?.io?.some.avg10, 100);
  put(out, at + 5, p?.io?.full?.avg10, 100);
}

/**
 * Write the quantized measurements of one tenant sample into `out[offset .. offset+TENANT_WIDTH)`; NaN marks a
 * value the agent did not send. The fairness columns are left NaN (they are computed from the host's view).
 */
export function quantizeTenantSample(s: TenantSample, out: Float64Array, offset: number): void {
  put(out, offset + 0, s.cpu?.percent, 1000);
  const mem = s.memory;
  put(out, offset + 1, mem?.current, 1);
  put(out, offset + 2, mem?.anon, 1);
  put(out, offset + 3, mem?.file, 1);
  const io = s.io;
  put(out, offset + 4, io?.read_bps, 1);
  put(out, offset + 5, io?.write_bps, 1);
  put(out, offset + 6, io?.read_iops, 100);
  put(out, offset + 7, io?.write_iops, 100);
  put(out, offset + 8, s.processes?.count, 1);
  put(out, offset + 9, s.bandwidth?.tx_bps, 1);
  put(out, offset + 10, s.bandwidth?.rx_bps, 1);
  put(out, offset + 11, s.inodes?.count, 1);
  put(out, offset + 12, s.api?.per_minute, 100);
  putPressure(out, offset + 13, s.pressure);
  put(out, offset + 19, s.strays, 1);
  put(out, offset + 20, s.frozen === undefined ? undefined : s.frozen ? 1 : 0, 1);
  put(out, offset + 21, s.throttle_level, 1);
  for (let i = 22; i < TENANT_WIDTH; i++) out[offset + i] = Number.NaN;
}

/** Quantized host values of a report; the fairness columns are filled in at ingest. */
export function quantizeHostStats(h: HostStats, out: Float64Array): void {
  put(out, 0, h.cores, 100);
  put(out, 1, h.memory_bytes, 1);
  put(out, 2, h.cpu_percent, 1000);
  put(out, 3, h.memory_used, 1);
  putPressure(out, 4, h.pressure);
  for (let i = 10; i < HOST_WIDTH; i++) out[i] = Number.NaN;
}

// Sanity check at load: the hand-written quantizers above follow the catalogs' order and scales.
for (const [name, i, scale] of [['throttle_level', 21, 1], ['share_cpu', 22, 1e6], ['pressure_io_full', 18, 100]] as const) {
  if (T[name] !== i || TENANT_SCALES[i] !== scale) throw new Error(`catalog order changed: ${name}`);
}
if (H.pressure_io_full !== 9 || H.tenants !== 10) throw new Error('host catalog order changed');
