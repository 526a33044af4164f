// The tenants' usage in the Prometheus text format (0.0.4), written by hand from what the latest tick
// collected: no cgroup is read for a scrape. Names follow cAdvisor's (container_cpu_usage_seconds_total,
// container_fs_reads_bytes_total, container_memory_usage_bytes, ...) with `hostwarden_tenant_` for
// `container_` and a `tenant` label: counters where the kernel counts (the cgroup's own cumulative counters,
// passed through, so a rate() in Prometheus is exact whatever the scrape interval), gauges where it measures,
// the plan's caps as gauges, and the agent's own verdicts (throttle level, frozen, strays).
//
// Why not prom-client (the controller's registry, controller/metrics.ts): its Counter only goes up by inc(),
// while these counters are the kernel's, read whole each tick (setting one means reset() then inc(value), and a
// cgroup that was recreated would need remove()); and its labelled children live in a hash map per metric
// that every tick would rewrite for every tenant, 25 metrics x 1,000 tenants, whether anyone scrapes or not.
// Here a tick keeps a reference to what it collected (free), and a scrape renders once per tick (cached).
import type { Plan, TenantSample } from '../../shared/wire/agent.js';
import type { CgroupStats } from '../kernel/cgroup/driver.js';
import { FIRST_THROTTLE_LEVEL, LAST_THROTTLE_LEVEL, QUARANTINE_LEVEL } from '../policy/types.js';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** One tenant as the latest tick left it. */
export interface TenantView {
  name: string;
  planName?: string | undefined;
  plan?: Plan | undefined;
  /** The cgroup's cumulative counters and gauges, as the collect step read them (absent: not readable). */
  stats?: CgroupStats | undefined;
  /** Cumulative nftables byte counters (rx only where it is counted: cgroup v2). */
  network?: { tx: number; rx?: number } | undefined;
  /** The tick's sample (inodes, which come from a background count). */
  sample?: TenantSample | undefined;
  /** The policy's level for the tenant (0 none, 1-2 throttled, 3 quarantined). */
  level: number;
}

export interface Snapshot {
  /** Wall-clock milliseconds of the tick's collect. */
  at: number;
  tenants: TenantView[];
}

type Kind = 'counter' | 'gauge';
interface Family {
  name: string;
  kind: Kind;
  help: string;
  value: (t: TenantView, strays: number) => number | undefined;
}

const usec = (v: number | undefined): number | undefined => (v === undefined ? undefined : v / 1e6);

/** Every per-tenant family, in output order. The names are a stable interface (README "Prometheus metrics"). */
export const TENANT_FAMILIES: readonly Family[] = [
  { name: 'hostwarden_tenant_cpu_usage_seconds_total', kind: 'counter', help: 'Cumulative CPU time consumed by the tenant, seconds (cgroup cpu usage).', value: (t) => usec(t.stats?.cpuUsageUsec) },
  { name: 'hostwarden_tenant_cpu_throttled_seconds_total', kind: 'counter', help: "Cumulative time the tenant's runqueues sat throttled by its CPU quota, seconds summed over CPUs.", value: (t) => usec(t.stats?.throttledUsec) },
  { name: 'hostwarden_tenant_memory_usage_bytes', kind: 'gauge', help: 'Memory charged to the tenant (page cache included), bytes.', value: (t) => t.stats?.memory?.current },
  { name: 'hostwarden_tenant_memory_anon_bytes', kind: 'gauge', help: 'Anonymous memory of the tenant, bytes.', value: (t) => t.stats?.memory?.anon },
  { name: 'hostwarden_tenant_memory_cache_bytes', kind: 'gauge', help: 'Page cache charged to the tenant, bytes.', value: (t) => t.stats?.memory?.file },
  { name: 'hostwarden_tenant_fs_reads_bytes_total', kind: 'counter', help: 'Cumulative bytes read by the tenant from block devices.', value: (t) => t.stats?.io?.rbytes },
  { name: 'hostwarden_tenant_fs_writes_bytes_total', kind: 'counter', help: 'Cumulative bytes written by the tenant to block devices.', value: (t) => t.stats?.io?.wbytes },
  { name: 'hostwarden_tenant_fs_reads_total', kind: 'counter', help: 'Cumulative read operations of the tenant on block devices.', value: (t) => t.stats?.io?.rios },
  { name: 'hostwarden_tenant_fs_writes_total', kind: 'counter', help: 'Cumulative write operations of the tenant on block devices.', value: (t) => t.stats?.io?.wios },
  { name: 'hostwarden_tenant_network_transmit_bytes_total', kind: 'counter', help: "Cumulative bytes sent by the tenant's sockets (nftables; reset when the tenant set changes).", value: (t) => t.network?.tx },
  { name: 'hostwarden_tenant_network_receive_bytes_total', kind: 'counter', help: "Cumulative bytes received by the tenant's sockets (nftables, cgroup v2 hosts only).", value: (t) => t.network?.rx },
  { name: 'hostwarden_tenant_processes', kind: 'gauge', help: 'Tasks (processes and threads) in the tenant cgroup.', value: (t) => t.stats?.pids },
  { name: 'hostwarden_tenant_inodes', kind: 'gauge', help: 'Inodes owned by the tenant (quota or a walk of its homes, refreshed in the background).', value: (t) => t.sample?.inodes?.count },
  { name: 'hostwarden_tenant_api_calls_per_minute', kind: 'gauge', help: "API calls per minute in the tenant's sites' access logs, over the tick.", value: (t) => t.sample?.api?.per_minute },
  { name: 'hostwarden_tenant_web_transmit_bytes_per_second', kind: 'gauge', help: "Bytes per second the web server sent for the tenant's sites (access logs), over the tick.", value: (t) => t.sample?.bandwidth?.web_tx_bps },
  { name: 'hostwarden_tenant_pressure_cpu_waiting_seconds_total', kind: 'counter', help: 'Cumulative time some of the tenant\'s tasks waited for CPU, seconds (PSI "some").', value: (t) => usec(t.stats?.pressure?.cpu?.some.total) },
  { name: 'hostwarden_tenant_pressure_memory_waiting_seconds_total', kind: 'counter', help: 'Cumulative time some of the tenant\'s tasks waited for memory, seconds (PSI "some").', value: (t) => usec(t.stats?.pressure?.memory?.some.total) },
  { name: 'hostwarden_tenant_pressure_memory_stalled_seconds_total', kind: 'counter', help: 'Cumulative time all of the tenant\'s tasks stalled on memory, seconds (PSI "full").', value: (t) => usec(t.stats?.pressure?.memory?.full?.total) },
  { name: 'hostwarden_tenant_pressure_io_waiting_seconds_total', kind: 'counter', help: 'Cumulative time some of the tenant\'s tasks waited for IO, seconds (PSI "some").', value: (t) => usec(t.stats?.pressure?.io?.some.total) },
  { name: 'hostwarden_tenant_pressure_io_stalled_seconds_total', kind: 'counter', help: 'Cumulative time all of the tenant\'s tasks stalled on IO, seconds (PSI "full").', value: (t) => usec(t.stats?.pressure?.io?.full?.total) },
  { name: 'hostwarden_tenant_throttle_level', kind: 'gauge', help: 'Throttle level the policy holds the tenant at: 0 none, 1 or 2 (quarantine counts as 2).', value: (t) => (t.level >= FIRST_THROTTLE_LEVEL ? Math.min(LAST_THROTTLE_LEVEL, t.level) : 0) },
  { name: 'hostwarden_tenant_frozen', kind: 'gauge', help: "1 when the tenant's cgroup is frozen (quarantine), else 0.", value: (t) => (t.stats?.frozen ?? t.level === QUARANTINE_LEVEL) ? 1 : 0 },
  { name: 'hostwarden_tenant_strays_total', kind: 'counter', help: 'Processes of the tenant found outside its cgroup and moved in, since the agent started.', value: (_t, strays) => strays },
  { name: 'hostwarden_tenant_plan_cpu_cores', kind: 'gauge', help: "The plan's CPU cap, cores (absent: no cap).", value: (t) => (t.plan?.cpu === undefined ? undefined : t.plan.cpu / 100) },
  { name: 'hostwarden_tenant_plan_memory_bytes', kind: 'gauge', help: "The plan's memory cap, bytes.", value: (t) => t.plan?.memory },
  { name: 'hostwarden_tenant_plan_io_read_bytes_per_second', kind: 'gauge', help: "The plan's read cap per device, bytes per second.", value: (t) => t.plan?.io_read },
  { name: 'hostwarden_tenant_plan_io_write_bytes_per_second', kind: 'gauge', help: "The plan's write cap per device, bytes per second.", value: (t) => t.plan?.io_write },
  { name: 'hostwarden_tenant_plan_iops', kind: 'gauge', help: "The plan's cap on IO operations per second and device.", value: (t) => t.plan?.iops },
  { name: 'hostwarden_tenant_plan_processes', kind: 'gauge', help: "The plan's cap on tasks.", value: (t) => t.plan?.processes },
  { name: 'hostwarden_tenant_plan_api_calls_per_minute', kind: 'gauge', help: "The plan's cap on API calls per minute (held at the web server).", value: (t) => t.plan?.api },
  { name: 'hostwarden_tenant_plan_bandwidth_bytes_per_second', kind: 'gauge', help: "The plan's cap on bytes sent per second.", value: (t) => t.plan?.bandwidth },
  { name: 'hostwarden_tenant_plan_inodes', kind: 'gauge', help: "The plan's cap on inodes.", value: (t) => t.plan?.inodes },
  { name: 'hostwarden_tenant_plan_weight', kind: 'gauge', help: "The plan's fair-share weight (1 without a plan).", value: (t) => t.plan?.weight ?? 1 },
];

/** A label value escaped as the text format wants it (backslash, double quote, line feed). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** JavaScript's shortest round-trip form ("0.25", "1e+21", "1.5e-7"), which Prometheus' float parser reads. */
function num(v: number): string {
  return String(v);
}

/**
 * The whole exposition: the agent's own families, then each tenant family with one line per tenant that has
 * a value (a family no tenant has a value for is left out, as cAdvisor leaves out what a kernel lacks).
 */
export function render(snapshot: Snapshot | undefined, strays: ReadonlyMap<string, number>, agent: { version: string; host: string }): string {
  // One string built by appending (V8 joins the pieces lazily): no array of 30,000 lines for 1,000 tenants.
  let out = '# HELP hostwarden_agent_info The agent: its version and host name (value 1).\n# TYPE hostwarden_agent_info gauge\n';
  out += `hostwarden_agent_info{version="${escapeLabel(agent.version)}",host="${escapeLabel(agent.host)}"} 1\n`;
  if (!snapshot) return out;
  out += '# HELP hostwarden_agent_last_tick_timestamp_seconds When the tick whose measurements these are collected them, Unix seconds.\n# TYPE hostwarden_agent_last_tick_timestamp_seconds gauge\n';
  out += `hostwarden_agent_last_tick_timestamp_seconds ${num(snapshot.at / 1000)}\n`;
  out += `# HELP hostwarden_agent_tenants Tenants the agent governs.\n# TYPE hostwarden_agent_tenants gauge\nhostwarden_agent_tenants ${snapshot.tenants.length}\n`;
  const tenants = snapshot.tenants;
  const labels = tenants.map((t) => `{tenant="${escapeLabel(t.name)}"} `);
  const straysOf = tenants.map((t) => strays.get(t.name) ?? 0);
  out += '# HELP hostwarden_tenant_info The tenant and its plan (value 1; plan="" without a plan).\n# TYPE hostwarden_tenant_info gauge\n';
  for (const t of tenants) out += `hostwarden_tenant_info{tenant="${escapeLabel(t.name)}",plan="${escapeLabel(t.planName ?? '')}"} 1\n`;
  for (const f of TENANT_FAMILIES) {
    let lines = '';
    for (let i = 0; i < tenants.length; i++) {
      const v = f.value(tenants[i]!, straysOf[i]!);
      if (v !== undefined && Number.isFinite(v)) lines += `${f.name}${labels[i]}${num(v)}\n`;
    }
    if (lines) out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.kind}\n${lines}`;
  }
  return out;
}

/**
 * What the agent keeps for scrapes: the latest tick's view and the strays counted since start. A scrape
 * renders at most once per tick (the text, and its gzip when asked for, are cached until the next tick).
 */
export class TenantMetrics {
  private snapshot: Snapshot | undefined;
  private readonly strays = new Map<string, number>();
  private cached: { text: Buffer; gzip?: Promise<Buffer> } | undefined;

  constructor(private readonly agent: { version: string; host: string }) {}

  /** A tick's view (called once per tick that collected); `strays`: moved in since the previous tick. */
  update(snapshot: Snapshot, strays: ReadonlyMap<string, number>): void {
    const live = new Set(snapshot.tenants.map((t) => t.name));
    for (const name of this.strays.keys()) if (!live.has(name)) this.strays.delete(name);
    for (const [name, n] of strays) if (live.has(name) && n > 0) this.strays.set(name, (this.strays.get(name) ?? 0) + n);
    this.snapshot = snapshot;
    this.cached = undefined;
  }

  /** The exposition as bytes (rendered once per tick). */
  text(): Buffer {
    this.cached ??= { text: Buffer.from(render(this.snapshot, this.strays, this.agent)) };
    return this.cached.text;
  }

  /** The exposition gzipped (compressed once per tick, off the event loop's thread). */
  gzip(compress: (b: Buffer) => Promise<Buffer>): Promise<Buffer> {
    const text = this.text();
    const c = this.cached!;
    c.gzip ??= compress(text);
    return c.gzip;
  }
}
