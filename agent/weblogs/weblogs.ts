// The web tier's collector: access logs read in bounded chunks each tick, every line attributed to a tenant
// by its virtual host (or by the log, for a tenant's own `combined` log) and counted per tenant and minute.
//
// Exactly once with respect to the spool: what the reads since the last report counted (the batch) and the
// cursors that reading left go into the spool in one transaction (tick.ts spool step: the report carries the
// batch, the spool's meta `weblogs` the cursors). After a crash or SIGKILL the agent starts from the cursors of
// the last spooled report, so every line is in exactly one spooled report. When the spool write fails, the
// batch is dropped and the cursors go back to the committed ones (the lines are read again next tick).
import type { Logger } from 'pino';
import type { TenantSample, WebLogStats, WebMinute } from '../../shared/wire/agent.js';
import { type CollectContext, type Collector, sampleOf } from '../collectors/collector.js';
import { ApiPaths, DEFAULT_API_PATHS, DomainMap } from './attribute.js';
import { type LineParser, newParsedLine, parserOf, TimeCache } from './parse.js';
import { LogTail, type SourceState, type TailCounters } from './tail.js';
import type { WebConfig } from './config.js';

export const WEBLOGS_META_KEY = 'weblogs';
/** Minute rows a batch may hold before reading stops for the tick (the wire allows 20,000). */
const MAX_ROWS = 10_000;
const MINUTE_MS = 60_000;

interface Counts {
  requests: number;
  api: number;
  bytes: number;
  e5xx: number;
}

interface Source {
  tail: LogTail;
  parse: LineParser;
  times: TimeCache;
  /** The tenant of a tenant's own log. */
  tenant: string | undefined;
}

export interface WebBatch {
  web: WebMinute[];
  stats: WebLogStats;
  /** The cursors after the batch, for the spool's meta. */
  meta: Record<string, string>;
}

const zeroCounters = (): TailCounters => ({ rotations: 0, truncations: 0, lostFiles: 0, lostBytes: 0, longLines: 0 });

export class WebLogs implements Collector {
  readonly name = 'web_logs';
  private readonly sources: Source[];
  private readonly buf: Buffer;
  private counters = zeroCounters();
  private lines = 0;
  private unparsed = 0;
  private unattributed = 0;
  private rows = 0;
  private batch = new Map<string, Map<number, Counts>>();
  private committed: Record<string, SourceState>;
  private domains: { key: string; map: DomainMap } | undefined;
  private apiPaths = new Map<string, ApiPaths>();
  private readonly defaultApi: ApiPaths;
  private lastMono: number | undefined;

  constructor(
    private readonly config: WebConfig,
    committedJson: string | undefined,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.committed = parseCommitted(committedJson, log);
    this.buf = Buffer.allocUnsafe(config.chunkBytes);
    this.defaultApi = new ApiPaths(config.apiPaths ?? DEFAULT_API_PATHS);
    for (const [tenant, paths] of Object.entries(config.tenantApiPaths)) this.apiPaths.set(tenant, new ApiPaths(paths));
    this.sources = config.sources.map((s) => ({
      tail: new LogTail(s.path, this.committed[s.path], s.startAtEnd, this.buf, this.counters),
      parse: parserOf(s.format),
      times: new TimeCache(),
      tenant: s.tenant,
    }));
  }

  collect(ctx: CollectContext): void {
    this.refreshDomains(ctx.tenants);
    const before = new Map<string, { api: number; bytes: number }>();
    for (const [tenant, minutes] of this.batch) before.set(tenant, totals(minutes));
    const budget = { bytes: this.config.tickBytes, deadline: performance.now() + this.config.tickMs };
    for (const s of this.sources) {
      if (this.rows >= MAX_ROWS) break;
      try {
        s.tail.poll(budget, (text) => this.count(s, text, budget));
      } catch (err) {
        this.log.warn({ path: s.tail.path, err: (err as Error).message }, 'access log cannot be read');
      }
    }
    // Rates for the tick's samples: what this collect counted, over the time since the last one.
    const mono = ctx.mono;
    const seconds = this.lastMono === undefined ? undefined : (mono - this.lastMono) / 1000;
    this.lastMono = mono;
    if (seconds === undefined || !(seconds > 0)) return;
    for (const t of ctx.tenants) {
      const now = this.batch.get(t.name);
      const was = before.get(t.name) ?? { api: 0, bytes: 0 };
      const got = now ? totals(now) : { api: 0, bytes: 0 };
      const sample: TenantSample = sampleOf(ctx, t.name);
      sample.api = { per_minute: ((got.api - was.api) / seconds) * 60 };
      // Web bytes join the tenant's sent bytes, and are said apart (the ladder judges only the socket bytes
      // the egress shaper can hold; the web server holds the others).
      if (sample.bandwidth) {
        // A new object: the bandwidth collector's is shared between ticks (and frozen).
        const web = (got.bytes - was.bytes) / seconds;
        sample.bandwidth = { ...sample.bandwidth, tx_bps: sample.bandwidth.tx_bps + web, web_tx_bps: web };
      }
    }
  }

  /** What was read since the last commit, and the cursors it left; undefined when nothing is configured. */
  pending(): WebBatch | undefined {
    if (this.sources.length === 0) return undefined;
    const web: WebMinute[] = [];
    for (const [tenant, minutes] of this.batch) {
      for (const [minute, c] of minutes) web.push({ tenant, minute: new Date(minute).toISOString(), requests: c.requests, api_calls: c.api, bytes: c.bytes, errors_5xx: c.e5xx });
    }
    let backlog = 0;
    const state: Record<string, SourceState> = {};
    for (const s of this.sources) {
      state[s.tail.path] = s.tail.state();
      try {
        backlog += s.tail.backlog();
      } catch {
        // a file gone between two reads: no backlog to tell
      }
    }
    const c = this.counters;
    return {
      web,
      stats: { lines: this.lines, unparsed: this.unparsed + c.longLines, unattributed: this.unattributed, rotations: c.rotations, truncations: c.truncations, lost_files: c.lostFiles, lost_bytes: c.lostBytes, backlog_bytes: backlog },
      meta: { [WEBLOGS_META_KEY]: JSON.stringify(state) },
    };
  }

  /** The batch is in the spool: start the next one from here. */
  commit(batch: WebBatch): void {
    this.committed = JSON.parse(batch.meta[WEBLOGS_META_KEY]!) as Record<string, SourceState>;
    this.reset();
  }

  /** The spool refused the batch: drop it and read again from the committed cursors. */
  rollback(): void {
    for (const s of this.sources) s.tail.load(this.committed[s.tail.path]);
    this.reset();
  }

  close(): void {
    for (const s of this.sources) s.tail.close();
  }

  private reset(): void {
    this.batch = new Map();
    this.rows = 0;
    this.lines = 0;
    this.unparsed = 0;
    this.unattributed = 0;
    Object.assign(this.counters, zeroCounters());
  }

  private refreshDomains(tenants: CollectContext['tenants']): void {
    const key = tenants.map((t) => `${t.name}=${t.domains.join(',')}`).join(';');
    if (this.domains?.key !== key) this.domains = { key, map: new DomainMap(tenants) };
  }

  /** Count the lines of one chunk. */
  private count(s: Source, text: string, budget: { bytes: number }): void {
    const line = newParsedLine();
    const domains = this.domains!.map;
    const readMinute = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS;
    let lastTenant = '';
    let lastMinute = Number.NaN;
    let bucket: Counts | undefined;
    let start = 0;
    const len = text.length;
    while (start < len) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = len;
      let stop = end;
      if (stop > start && text.charCodeAt(stop - 1) === 0x0d) stop--;
      if (stop > start) {
        this.lines++;
        if (!s.parse(text, start, stop, line, s.times)) this.unparsed++;
        else {
          const tenant = s.tenant ?? domains.tenantOf(line.host);
          if (tenant === undefined) this.unattributed++;
          else {
            const minute = Number.isNaN(line.minute) ? readMinute : line.minute;
            if (tenant !== lastTenant || minute !== lastMinute || !bucket) {
              bucket = this.bucket(tenant, minute);
              lastTenant = tenant;
              lastMinute = minute;
            }
            bucket.requests++;
            bucket.bytes += line.bytes;
            if (line.status >= 500 && line.status <= 599) bucket.e5xx++;
            if ((this.apiPaths.get(tenant) ?? this.defaultApi).matches(line)) bucket.api++;
          }
        }
      }
      start = end + 1;
    }
    if (this.rows >= MAX_ROWS) budget.bytes = 0;
  }

  private bucket(tenant: string, minute: number): Counts {
    let minutes = this.batch.get(tenant);
    if (!minutes) {
      minutes = new Map();
      this.batch.set(tenant, minutes);
    }
    let c = minutes.get(minute);
    if (!c) {
      c = { requests: 0, api: 0, bytes: 0, e5xx: 0 };
      minutes.set(minute, c);
      this.rows++;
    }
    return c;
  }
}

function totals(minutes: Map<number, Counts>): { api: number; bytes: number } {
  let api = 0;
  let bytes = 0;
  for (const c of minutes.values()) {
    api += c.api;
    bytes += c.bytes;
  }
  return { api, bytes };
}

function parseCommitted(json: string | undefined, log: Logger): Record<string, SourceState> {
  if (json === undefined) return {};
  try {
    const v = JSON.parse(json) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, SourceState>;
  } catch {
    // fall through
  }
  log.warn('the access logs\' stored positions cannot be read: following them from their ends');
  return {};
}
