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
  m('share_bandwidth', 'fairness', 1e6, 'fraction', 'max(bytes sent, bytes received) per second / egress link speed'),
  m('share_inodes', 'fairness', 1e6, 'fraction', 'inodes owned / inodes of the filesystems holding the homes'),
  m('share_api', 'fairness', 1e6, 'fraction', 'API calls per minute / configured API capacity of the host'),
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

function scaleOf<N extends string>(defs: ReadonlyArray<{ name: N; scale: number }>): Readonly<Record<N, number>> {
  return Object.fromEntries(defs.map((d) => [d.name, d.scale])) as Record<N, number>;
}

/** Position of each tenant metric in a sample vector, by name (TENANT_INDEX.cpu_percent === 0). */
export const TENANT_INDEX = indexOf<TenantMetric>(TENANT_METRICS);
/** Position of each host metric in a host vector, by name. */
export const HOST_INDEX = indexOf<HostMetric>(HOST_METRICS);
/** The scale of each tenant metric, by name: stored value = round(value * TENANT_SCALE[name]). */
export const TENANT_SCALE = scaleOf<TenantMetric>(TENANT_METRICS);
/** The scale of each host metric, by name. */
export const HOST_SCALE = scaleOf<HostMetric>(HOST_METRICS);

export const TENANT_WIDTH = TENANT_METRICS.length;
export const HOST_WIDTH = HOST_METRICS.length;
const TENANT_SCALES = TENANT_METRICS.map((d) => d.scale);
const HOST_SCALES = HOST_METRICS.map((d) => d.scale);

/** A stored (quantized) value in real units; undefined for NaN, the mark of a value not measured. */
export function dequantize(stored: number, scale: number): number | undefined {
  return Number.isNaN(stored) ? undefined : stored / scale;
}

/** A value in real units, quantized for storage; NaN for undefined (not measured). */
export function quantize(value: number | undefined, scale: number): number {
  return value === undefined ? Number.NaN : Math.round(value * scale);
}

/** The scale of metric `i` in a catalog of `width` metrics. */
export function scalesFor(width: number): readonly number[] {
  return width === TENANT_WIDTH ? TENANT_SCALES : HOST_SCALES;
}

function put(out: Float64Array, at: number, value: number | undefined, scale: number): void {
  out[at] = quantize(value, scale);
}

/** The six avg10 values (cpu, memory, io; some, full) from `at` on; every pressure metric has the same scale. */
function putPressure(out: Float64Array, at: number, p: Pressure | undefined): void {
  const scale = TENANT_SCALE.pressure_cpu_some;
  put(out, at, p?.cpu?.some.avg10, scale);
  put(out, at + 1, p?.cpu?.full?.avg10, scale);
  put(out, at + 2, p?.memory?.some.avg10, scale);
  put(out, at + 3, p?.memory?.full?.avg10, scale);
  put(out, at + 4, p?.io?.some.avg10, scale);
  put(out, at + 5, p?.io?.full?.avg10, scale);
}

const TI = TENANT_INDEX;
const TS = TENANT_SCALE;

/**
 * Write the quantized measurements of one tenant sample into `out[offset .. offset+TENANT_WIDTH)`; NaN marks a
 * value the agent did not send. The fairness columns are left NaN (they are computed from the host's view).
 */
export function quantizeTenantSample(s: TenantSample, out: Float64Array, offset: number): void {
  put(out, offset + TI.cpu_percent, s.cpu?.percent, TS.cpu_percent);
  const mem = s.memory;
  put(out, offset + TI.memory_current, mem?.current, TS.memory_current);
  put(out, offset + TI.memory_anon, mem?.anon, TS.memory_anon);
  put(out, offset + TI.memory_file, mem?.file, TS.memory_file);
  const io = s.io;
  put(out, offset + TI.io_read_bps, io?.read_bps, TS.io_read_bps);
  put(out, offset + TI.io_write_bps, io?.write_bps, TS.io_write_bps);
  put(out, offset + TI.io_read_iops, io?.read_iops, TS.io_read_iops);
  put(out, offset + TI.io_write_iops, io?.write_iops, TS.io_write_iops);
  put(out, offset + TI.processes, s.processes?.count, TS.processes);
  put(out, offset + TI.bandwidth_tx_bps, s.bandwidth?.tx_bps, TS.bandwidth_tx_bps);
  put(out, offset + TI.bandwidth_rx_bps, s.bandwidth?.rx_bps, TS.bandwidth_rx_bps);
  put(out, offset + TI.inodes, s.inodes?.count, TS.inodes);
  put(out, offset + TI.api_per_minute, s.api?.per_minute, TS.api_per_minute);
  putPressure(out, offset + TI.pressure_cpu_some, s.pressure);
  put(out, offset + TI.strays, s.strays, TS.strays);
  put(out, offset + TI.frozen, s.frozen === undefined ? undefined : s.frozen ? 1 : 0, TS.frozen);
  put(out, offset + TI.throttle_level, s.throttle_level, TS.throttle_level);
  for (let i = TI.share_cpu; i < TENANT_WIDTH; i++) out[offset + i] = Number.NaN;
}

/** Quantized host values of a report; the fairness columns are filled in at ingest. */
export function quantizeHostStats(h: HostStats, out: Float64Array): void {
  put(out, HOST_INDEX.cores, h.cores, HOST_SCALE.cores);
  put(out, HOST_INDEX.memory_bytes, h.memory_bytes, HOST_SCALE.memory_bytes);
  put(out, HOST_INDEX.cpu_percent, h.cpu_percent, HOST_SCALE.cpu_percent);
  put(out, HOST_INDEX.memory_used, h.memory_used, HOST_SCALE.memory_used);
  putPressure(out, HOST_INDEX.pressure_cpu_some, h.pressure);
  for (let i = HOST_INDEX.tenants; i < HOST_WIDTH; i++) out[i] = Number.NaN;
}

// Sanity check at load: the quantizers above write the measured metrics in one run from cpu_percent (and the
// six pressure values side by side, all of one scale), the computed ones after them.
const PRESSURE = ['cpu_some', 'cpu_full', 'memory_some', 'memory_full', 'io_some', 'io_full'] as const;
for (const [index, scale] of [
  [TENANT_INDEX, TENANT_SCALE],
  [HOST_INDEX, HOST_SCALE],
] as const) {
  PRESSURE.forEach((p, k) => {
    const name = `pressure_${p}` as const;
    if (index[name] !== index.pressure_cpu_some + k || scale[name] !== TENANT_SCALE.pressure_cpu_some) throw new Error(`catalog order changed: ${name}`);
  });
}
if (TENANT_INDEX.throttle_level + 1 !== TENANT_INDEX.share_cpu || HOST_INDEX.pressure_io_full + 1 !== HOST_INDEX.tenants) throw new Error('catalog order changed');
