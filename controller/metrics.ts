// Prometheus text exposition (format 0.0.4) without a client library: counters, gauges and histograms with
// labels, plus gauges read at scrape time.
type Labels = Record<string, string>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(out: string[]): void;
}

/** Values by label set. */
abstract class Labelled implements Metric {
  abstract readonly type: 'counter' | 'gauge';
  protected readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** Set the value (for a counter: a running total kept elsewhere, like process CPU time). */
  set(v: number, labels?: Labels): void {
    this.values.set(labelKey(labels), v);
  }

  render(out: string[]): void {
    for (const [k, v] of this.values) out.push(`${this.name}${k} ${fmt(v)}`);
  }
}

export class Counter extends Labelled {
  readonly type = 'counter';

  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }

  override render(out: string[]): void {
    if (this.values.size === 0) out.push(`${this.name} 0`);
    super.render(out);
  }
}

export class Gauge extends Labelled {
  readonly type = 'gauge';
}

export class Histogram implements Metric {
  readonly type = 'histogram';
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }

  /** The smallest bucket bound holding at least `q` of the observations (an upper bound of the quantile). */
  quantileBound(q: number): number {
    const want = q * this.count;
    for (let i = 0; i < this.buckets.length; i++) if (this.counts[i]! >= want) return this.buckets[i]!;
    return Number.POSITIVE_INFINITY;
  }

  render(out: string[]): void {
    this.buckets.forEach((b, i) => out.push(`${this.name}_bucket{le="${fmt(b)}"} ${this.counts[i]}`));
    out.push(`${this.name}_bucket{le="+Inf"} ${this.count}`);
    out.push(`${this.name}_sum ${fmt(this.sum)}`);
    out.push(`${this.name}_count ${this.count}`);
  }
}

/** Samples per second over a sliding window of whole seconds. */
export class RateMeter {
  private readonly slots: Float64Array;
  private readonly stamps: Float64Array;
  constructor(
    private readonly seconds = 60,
    private readonly now: () => number = Date.now,
  ) {
    this.slots = new Float64Array(seconds);
    this.stamps = new Float64Array(seconds).fill(-1);
  }

  add(n: number): void {
    const sec = Math.floor(this.now() / 1000);
    const i = sec % this.seconds;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.slots[i] = 0;
    }
    this.slots[i]! += n;
  }

  /** Average per second over the last full `seconds` (the current second excluded). */
  rate(): number {
    const sec = Math.floor(this.now() / 1000);
    let total = 0;
    for (let i = 0; i < this.seconds; i++) {
      const s = this.stamps[i]!;
      if (s < sec && s >= sec - this.seconds) total += this.slots[i]!;
    }
    return total / this.seconds;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  private readonly collectors: Array<() => void | Promise<void>> = [];

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  /** Run before each scrape (to set gauges from current state). */
  onCollect(fn: () => void | Promise<void>): void {
    this.collectors.push(fn);
  }

  private add<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.push(m);
    return m;
  }

  async render(): Promise<string> {
    for (const c of this.collectors) await c();
    const out: string[] = [];
    for (const m of this.metrics) {
      out.push(`# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      out.push(`# TYPE ${m.name} ${m.type}`);
      m.render(out);
    }
    return `${out.join('\n')}\n`;
  }
}

export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/** The controller's metrics. */
export function controllerMetrics(now: () => number = Date.now) {
  const registry = new Registry();
  return {
    registry,
    reports: registry.counter('hostwarden_reports_total', 'reports received, by result (accepted, duplicate, rejected, conflict, forbidden)'),
    samples: registry.counter('hostwarden_samples_total', 'tenant samples stored'),
    reportBytes: registry.counter('hostwarden_report_bytes_total', 'bytes of report bodies received'),
    parsed: registry.counter('hostwarden_reports_parsed_total', 'valid reports by parser: fast (the scanner) or reference (JSON.parse, when the scanner gave up)'),
    incidentEvents: registry.counter('hostwarden_incident_events_total', 'incident events stored (repeats not counted)'),
    reportLatency: registry.histogram('hostwarden_report_duration_seconds', 'time from a report request to its answer', LATENCY_BUCKETS),
    requests: registry.counter('hostwarden_http_requests_total', 'HTTP requests answered, by route and status'),
    ingestRate: registry.gauge('hostwarden_ingest_samples_per_second', 'tenant samples stored per second, over the last minute'),
    storeBytes: registry.gauge('hostwarden_store_bytes', 'database plus write-ahead log on disk'),
    hosts: registry.gauge('hostwarden_hosts', 'hosts known'),
    tenants: registry.gauge('hostwarden_tenants', 'tenants known'),
    openIncidents: registry.gauge('hostwarden_incidents_open', 'incidents not yet released'),
    buffered: registry.gauge('hostwarden_rollup_buffered_minutes', 'host-minutes of rollups held in memory, awaiting a flush'),
    flushes: registry.counter('hostwarden_rollup_flushes_total', 'host rollup flushes written'),
    retentionRuns: registry.counter('hostwarden_retention_runs_total', 'retention runs, by result'),
    retentionDeleted: registry.counter('hostwarden_retention_deleted_rows_total', 'rows dropped by retention, by tier (raw, minute, hour, records)'),
    rss: registry.gauge('process_resident_memory_bytes', 'resident memory of the controller process'),
    cpu: registry.counter('process_cpu_seconds_total', 'CPU time of the controller process'),
    rate: new RateMeter(60, now),
  };
}
export type ControllerMetrics = ReturnType<typeof controllerMetrics>;
