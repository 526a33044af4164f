// The controller's own metrics (GET /metrics, Prometheus text format 0.0.4) through prom-client: one registry
// per controller (tests build several apps in one process), every name and label set declared here, plus
// prom-client's process collectors (CPU seconds, resident memory, open file descriptors, start time) and its
// event-loop-lag collector. Naming follows Prometheus' guide: base units (`_seconds`, `_bytes`), `_total`
// only on counters, counters only ever incremented; `promtool check metrics` finds no problem in a scrape
// (test/unit/controller/metrics.test.ts runs it).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';
import type { HostInfo } from '../shared/wire/api.js';
import { REJECTION_KINDS } from './trust.js';

export type Labels = Record<string, string>;

/** Buckets of the latency histograms, in seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/**
 * prom-client defaults that promtool rejects ("non-counter metrics should not have _total suffix"): the
 * gauges `nodejs_active_{handles,requests,resources}_total`. Their per-type twins without `_total` stay.
 */
const REJECTED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** A gauge set at scrape time, value first (the notices set one per state in an onCollect hook). */
export interface ScrapeGauge {
  set(value: number, labels?: Labels): void;
}

/**
 * The controller's registry: prom-client's, plus hooks run once before each scrape (one store.stats() call
 * feeds five gauges) and the small interface components outside this module register their metrics with.
 */
export class Registry {
  readonly prom = new PromRegistry();
  private readonly hooks: Array<() => void | Promise<void>> = [];

  /** A counter (name ends in `_total`); increment it with `inc(labels?, by?)`. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return new Counter({ name, help, labelNames, registers: [this.prom] });
  }

  /** A gauge set from current state, normally in an onCollect hook. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): ScrapeGauge {
    const g = new Gauge({ name, help, labelNames, registers: [this.prom] });
    return { set: (value, labels) => (labels ? g.set(labels, value) : g.set(value)) };
  }

  /** Run before each scrape (to set gauges from current state). */
  onCollect(fn: () => void | Promise<void>): void {
    this.hooks.push(fn);
  }

  /** The Content-Type of render()'s text. */
  get contentType(): string {
    return this.prom.contentType;
  }

  /** Every metric in the text format, after the scrape hooks ran. */
  async render(): Promise<string> {
    for (const hook of this.hooks) await hook();
    return this.prom.metrics();
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

/** Start every listed label value at 0, so a rate over it exists before the first event. */
function zeroed<C extends Counter>(counter: C, label: string, values: readonly string[]): C {
  for (const v of values) counter.inc({ [label]: v }, 0);
  return counter;
}

/** The controller's metrics. */
export function controllerMetrics(now: () => number = Date.now) {
  const registry = new Registry();
  const reg = [registry.prom];
  const rate = new RateMeter(60, now);
  collectDefaultMetrics({ register: registry.prom });
  for (const name of REJECTED_DEFAULTS) registry.prom.removeSingleMetric(name);
  const counter = (name: string, help: string, labelNames: readonly string[] = []) => new Counter({ name, help, labelNames, registers: reg });
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers: reg });
  return {
    registry,
    rate,
    reports: zeroed(counter('hostwarden_reports_total', 'reports received, by result (accepted, duplicate, rejected, conflict, forbidden)', ['result']), 'result', ['accepted', 'duplicate', 'rejected', 'conflict', 'forbidden']),
    samples: counter('hostwarden_samples_total', 'tenant samples stored'),
    reportBytes: counter('hostwarden_report_bytes_total', 'bytes of report bodies received'),
    parsed: zeroed(counter('hostwarden_reports_parsed_total', 'valid reports by parser: fast (the scanner) or reference (JSON.parse, when the scanner gave up)', ['parser']), 'parser', ['fast', 'reference']),
    incidentEvents: counter('hostwarden_incident_events_total', 'incident events stored (repeats not counted)'),
    // The web tier (fleet totals; per-tenant counts are in GET /v1/tenants/{tenant}/web, not labels).
    web: {
      requests: counter('hostwarden_web_requests_total', "requests in agents' access logs attributed to tenants"),
      api_calls: counter('hostwarden_web_api_calls_total', "API calls in agents' access logs"),
      bytes: counter('hostwarden_web_response_bytes_total', "response bytes in agents' access logs"),
      errors_5xx: counter('hostwarden_web_errors_5xx_total', "5xx responses in agents' access logs"),
      unparsed: counter('hostwarden_web_log_unparsed_lines_total', "access-log lines agents could not parse (skipped)"),
      truncations: counter('hostwarden_web_log_truncations_total', 'copytruncate rotations agents saw (what was written between copy and truncation is lost)'),
      lost_files: counter('hostwarden_web_log_lost_files_total', 'rotated access logs gone before agents read them to the end'),
    },
    // The fairness ledger of each host's latest report, per resource (controller/fairness.ts): the part of the
    // host's capacity its tenants used together, and the largest one tenant used. Per host, not per tenant: a
    // tenant's shares are in GET /v1/tenants/{tenant}/fairness, and its usage in each agent's own /metrics.
    // Reset at each scrape, so a host gone or a resource without a capacity leaves no stale series.
    ledger: {
      shareSum: new Gauge({ name: 'hostwarden_host_tenants_share', help: "sum of the tenants' shares of the host's capacity in its latest report, by resource (cpu, memory, io, bandwidth, inodes, api; a resource without a capacity is absent)", labelNames: ['host', 'resource'], registers: reg }),
      shareMax: new Gauge({ name: 'hostwarden_host_largest_tenant_share', help: "the largest tenant's share of the host's capacity in its latest report, by resource", labelNames: ['host', 'resource'], registers: reg }),
      jain: new Gauge({ name: 'hostwarden_host_jain_index', help: "Jain's index over the weighted dominant shares of the host's active tenants, latest report", labelNames: ['host'], registers: reg }),
      active: new Gauge({ name: 'hostwarden_host_active_tenants', help: 'tenants counted as active for the fair share in the host\'s latest report', labelNames: ['host'], registers: reg }),
    },
    apiPushes: zeroed(counter('hostwarden_api_usage_pushes_total', 'POST /v1/usage/api pushes, by result (accepted, duplicate)', ['result']), 'result', ['accepted', 'duplicate']),
    apiPushedCalls: counter('hostwarden_api_usage_pushed_calls_total', 'API calls platforms pushed (POST /v1/usage/api)'),
    itemsRejected: zeroed(
      counter(
        'hostwarden_report_items_rejected_total',
        "items of accepted reports refused alone, by kind: samples, events, tenants (directory entries) out of range or malformed; cross_host (another host's tenant), unmanaged_cap (tenants.max_per_host), forged_manual (no such queued action)",
        ['kind'],
      ),
      'kind',
      ['samples', 'events', 'tenants', ...REJECTION_KINDS],
    ),
    tenantsExpired: counter('hostwarden_tenants_expired_total', 'unmanaged tenants deleted after tenants.unmanaged_ttl unseen'),
    reportLatency: new Histogram({ name: 'hostwarden_report_duration_seconds', help: 'time from a report request to its answer', buckets: [...LATENCY_BUCKETS], registers: reg }),
    requests: counter('hostwarden_http_requests_total', 'HTTP requests answered, by route and status', ['route', 'status']),
    requestDuration: new Histogram({
      name: 'hostwarden_http_request_duration_seconds',
      help: 'time from a request to its answer, by route ("GET /v1/tenants/:tenant"; "unknown" for no route)',
      labelNames: ['route'],
      buckets: [...LATENCY_BUCKETS],
      registers: reg,
    }),
    ingestRate: new Gauge({
      name: 'hostwarden_ingest_samples_per_second',
      help: 'tenant samples stored per second, over the last minute',
      registers: reg,
      collect() {
        this.set(rate.rate());
      },
    }),
    storeBytes: gauge('hostwarden_store_bytes', 'database plus write-ahead log on disk'),
    damagedRows: gauge('hostwarden_store_damaged_rows', 'database rows skipped since the start because they cannot be read (each is logged)'),
    hosts: gauge('hostwarden_hosts', 'hosts known'),
    tenants: gauge('hostwarden_tenants', 'tenants known'),
    openIncidents: gauge('hostwarden_incidents_open', 'incidents not yet released'),
    // Was hostwarden_rollup_buffered_minutes, which promtool rejects (minutes are not a base unit). What it
    // holds is a count of things, not a duration: one bucket per host and minute not yet on disk (three hosts
    // behind by ten minutes are 30), so it is named for what it counts rather than turned into seconds.
    buffered: gauge('hostwarden_rollup_buffered_buckets', 'host-minute rollup buckets held in memory, awaiting a flush (one per host and minute)'),
    flushes: counter('hostwarden_rollup_flushes_total', 'host rollup flushes written'),
    retentionRuns: zeroed(counter('hostwarden_retention_runs_total', 'retention runs, by result', ['result']), 'result', ['ok', 'failed']),
    retentionDeleted: zeroed(counter('hostwarden_retention_deleted_rows_total', 'rows dropped by retention, by tier (raw, minute, hour, records)', ['tier']), 'tier', ['raw', 'minute', 'hour', 'records']),
  };
}
export type ControllerMetrics = ReturnType<typeof controllerMetrics>;

/** The hosts' ledger gauges from the hosts as the store lists them (their latest report's `fairness`). */
export function setLedgerGauges(metrics: ControllerMetrics, hosts: readonly HostInfo[]): void {
  const { shareSum, shareMax, jain, active } = metrics.ledger;
  shareSum.reset();
  shareMax.reset();
  jain.reset();
  active.reset();
  for (const h of hosts) {
    const f = h.fairness;
    if (!f) continue;
    active.set({ host: h.host }, f.active_tenants);
    if (f.jain !== null) jain.set({ host: h.host }, f.jain);
    for (const [resource, v] of Object.entries(f.shares ?? {})) {
      if (!v) continue;
      shareSum.set({ host: h.host, resource }, v.sum);
      shareMax.set({ host: h.host, resource }, v.max);
    }
  }
}
