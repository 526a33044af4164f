// The SQLite store: one file in WAL mode, numbered migrations, statements prepared once.
//
// Write path (issue 4 item 2), per report, in one transaction:
//   - one `reports` row: the samples packed into a blob (history/codec.ts), keyed by arrival order, plus two
//     small index entries (host, seq) and (host, at): appends, never random page writes per tenant;
//   - the fairness ledger computed from the report (fairness.ts) and stored in the same blob;
//   - incident events and action acknowledgements, which are rare.
// Rollups are incremental: each report is added to per-host minute buckets in memory; a host's closed minutes
// are written together every `flushIntervalMs` (one transaction per host: each tenant's rows land side by
// side in its (series, bucket) range, filling pages), and merged into the hour rows at the same time.
// `hosts.watermark` says which minutes are on disk; after a crash the raw rows from the watermark on are
// replayed into memory, so nothing is lost and nothing is counted twice. A report older than its host's
// watermark (a spool backlog after an outage) is merged into the rollup rows directly.
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { ActionAck, CollectorStatus, HostStats, IncidentEvent, Plan, Policy, TenantInfoWire, TenantSpec, ManualAction } from '../../../shared/wire/agent.js';
import { parseDuration, UnitError } from '../../../shared/units.js';
import { BadRequestError, ConflictError, NotFoundError } from '../../errors.js';
import { accrueDebt, decayedDebt, hostFairness, type DebtState, type TenantUsage } from '../../fairness.js';
import { H, HOST_METRICS, HOST_WIDTH, T, TENANT_METRICS, TENANT_WIDTH, type MetricDef } from '../../history/catalog.js';
import { accAdd, accMerge, decodeAcc, decodeVector, encodeAcc, encodeSamples, encodeVector, findSample, forEachSample, newAcc, Writer, type Acc } from '../../history/codec.js';
import { MinuteBucket } from '../../history/bucket.js';
import { accAvg, accMax, Bucketer, chooseTier, floorTo, HOUR_MS, MINUTE_DEFAULT_RANGE_MS, MINUTE_MS, selectMetrics, seriesBody, type Tier } from '../../history/rollup.js';
import type { PreparedReport } from '../../ingest/prepare.js';
import type {
  ActionRequest,
  ActionStateName,
  ActionStatus,
  AuditEntry,
  FairnessRanking,
  HostInfo,
  IncidentDetail,
  IncidentSummary,
  PlanEntry,
  PlanPut,
  SeriesResponse,
  StoredEvent,
  TenantDetail,
  TenantInfo,
  TenantPut,
} from '../../../shared/wire/api.js';
import { Checkpointer } from './checkpointer.js';
import { MIGRATIONS } from './migrations/index.js';
import {
  DEFAULT_FAIRNESS,
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_RETENTION,
  type ActionFilter,
  type ActionQueuedHook,
  type AuditFilter,
  type FairnessOptions,
  type FairnessQuery,
  type FlushResult,
  type HistoryQuery,
  type IncidentEventsHook,
  type IncidentFilter,
  type IngestResult,
  type NewIncidentEvent,
  type RetentionResult,
  type RetentionSpans,
  type Store,
  type StoreOptions,
  type StoreStats,
  type TenantFilter,
  type TxContext,
} from '../store.js';

/** Reports dated further ahead of the controller's clock than this are refused (a broken agent clock). */
export const MAX_CLOCK_AHEAD_MS = 10 * 60_000;
/** A host silent this long has its open minutes flushed by the periodic flush. */
export const IDLE_FLUSH_MS = 2 * 60_000;
const RETENTION_CHUNK = 500;
/**
 * An unmanaged tenant follows the host it reports from, but only once its old host has not sent it for this
 * long: the same name reported by two hosts at once (a misconfiguration: names are unique in the fleet) must
 * not flip it back and forth on every report.
 */
export const TENANT_MOVE_AFTER_MS = 10 * 60_000;

export interface SqliteStoreOptions extends StoreOptions {
  /** Database file; ':memory:' works for throwaway use. */
  file: string;
  log?: Logger | undefined;
  /** SQLite page cache, MiB (default 64). */
  cacheMiB?: number;
}

interface ReportMeta {
  host_stats: HostStats;
  collectors?: CollectorStatus[] | undefined;
  agent_version?: string | undefined;
}

interface LastFair {
  jain: number | null;
  fair: number | null;
  active: number;
}

interface HostState {
  id: number;
  name: string;
  firstSeen: number;
  lastSeen: number | null;
  lastAt: number | null;
  lastSeq: number | null;
  lastReportId: number | null;
  lastIntervalMs: number;
  meta: ReportMeta | null;
  lastFair: LastFair | null;
  /** Minute buckets before this are on disk; null until the first report. */
  watermark: number | null;
  /** Newest report time. */
  maxAt: number;
  /** Highest seq and newest time among the reports retention dropped: seqs up to it were seen. */
  retiredSeq: number | null;
  retiredAt: number | null;
  buckets: Map<number, MinuteBucket>;
  dirtyTenants: Set<TenantState>;
  dirty: boolean;
}

interface TenantState {
  id: number;
  name: string;
  hostId: number | null;
  spec: TenantSpec | null;
  /** What its agent reported in the report's tenant directory (JSON kept as sent, to spot changes). */
  reported: TenantInfoWire | null;
  reportedJson: string | null;
  weight: number;
  firstSeen: number | null;
  lastSeen: number | null;
  /** Newest sample from the host it is on (an unmanaged tenant moves only when that host stopped sending it). */
  hostSeenAt: number | null;
  debt: DebtState | undefined;
}

interface ActionRow {
  id: string;
  tenant: string;
  host_id: number;
  action: ManualAction['action'];
  level: number | null;
  reason: string;
  by: string | null;
  created_at: number;
  expires_at: number | null;
  state: ActionStateName;
  state_at: number;
  message: string | null;
}

interface IncidentRow {
  id: number;
  host_id: number;
  key: string;
  tenant: string;
  resource: string;
  rule: string;
  state: 'open' | 'released';
  step: string;
  level: number;
  manual: number;
  opened_at: number;
  updated_at: number;
  released_at: number | null;
  until: number | null;
  events: number;
  explanation: string;
}

const iso = (t: number): string => new Date(t).toISOString();
const isoOrNull = (t: number | null | undefined): string | null => (t === null || t === undefined ? null : iso(t));
const isTenantSeries = (series: number): boolean => series > 0;
const widthOf = (series: number): number => (isTenantSeries(series) ? TENANT_WIDTH : HOST_WIDTH);
const hostSeries = (hostId: number): number => -hostId;

function toAcc(v: Acc | Buffer, width: number): Acc {
  return Buffer.isBuffer(v) ? decodeAcc(v, width) : v;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly db: Database.Database;
  readonly file: string;
  private readonly now: () => number;
  private readonly retention: RetentionSpans;
  private readonly fairness: FairnessOptions;
  private readonly flushIntervalMs: number;
  private readonly log: Logger | undefined;
  private readonly hosts = new Map<string, HostState>();
  private readonly hostsById = new Map<number, HostState>();
  private readonly tenants = new Map<string, TenantState>();
  private readonly plans = new Map<string, { plan: Plan; updatedAt: number }>();
  private readonly due = new Set<HostState>();
  private readonly incidentHooks = new Set<IncidentEventsHook>();
  private readonly actionHooks = new Set<ActionQueuedHook>();
  private policyGeneration = 0;
  private readonly policyCache = new Map<string, { generation: number; validUntil: number; policy: Policy; etag: string }>();
  private readonly writer = new Writer(256 * 1024);
  private readonly smallWriter = new Writer(1024);
  private closed = false;
  private readonly lock: Database.Database | undefined;
  private checkpointer: Checkpointer | undefined;
  private readonly s: ReturnType<SqliteStore['prepare']>;
  /** ingestTx wrapped in a transaction once (better-sqlite3 builds a wrapper per transaction() call). */
  private readonly ingestTransaction: (p: PreparedReport, now: number, after: Array<() => void>) => IngestResult;

  constructor(opts: SqliteStoreOptions) {
    this.file = opts.file;
    this.now = opts.now ?? Date.now;
    this.retention = { ...DEFAULT_RETENTION, ...opts.retention };
    this.fairness = { ...DEFAULT_FAIRNESS, ...opts.fairness };
    this.flushIntervalMs = Math.max(MINUTE_MS, opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    this.log = opts.log;
    if (opts.file !== ':memory:') mkdirSync(dirname(opts.file), { recursive: true });
    // One controller per database (the in-memory rollups must not be shared): an exclusive lock on a lock
    // file, held while the store is open and released by the kernel if the process dies.
    if (opts.file !== ':memory:') {
      this.lock = new Database(`${opts.file}.lock`, { timeout: 0 });
      try {
        this.lock.pragma('locking_mode = EXCLUSIVE');
        this.lock.exec('BEGIN EXCLUSIVE');
      } catch (err) {
        this.lock.close();
        if ((err as { code?: string }).code === 'SQLITE_BUSY') {
          throw new Error(`database ${opts.file} is in use by another controller (lock ${opts.file}.lock is held)`, { cause: err });
        }
        throw err;
      }
    }
    this.db = new Database(opts.file);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // Checkpoints run on the checkpointer's thread; this is only a backstop should it stop.
      this.db.pragma('wal_autocheckpoint = 50000');
      this.db.pragma('journal_size_limit = 67108864');
      this.db.pragma(`cache_size = ${-1024 * (opts.cacheMiB ?? 64)}`);
      this.db.pragma('temp_store = MEMORY');
      this.db.pragma('foreign_keys = ON');
      this.migrate();
      this.s = this.prepare();
      this.ingestTransaction = this.db.transaction((p: PreparedReport, now: number, after: Array<() => void>) => this.ingestTx(p, now, after));
      this.load();
      if (opts.file !== ':memory:') {
        this.checkpointer = new Checkpointer(opts.file, { onError: (message) => this.log?.error({ message }, 'WAL checkpoint failed') });
      }
    } catch (err) {
      this.db.close();
      this.lock?.close();
      throw err;
    }
  }

  // --- setup ----------------------------------------------------------------------------------------------
  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (current > latest) throw new Error(`database ${this.file} has schema version ${current}, newer than this controller knows (${latest}); upgrade the controller`);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      })();
      this.log?.info({ version: m.version, name: m.name }, 'applied database migration');
    }
  }

  private prepare() {
    const db = this.db;
    return {
      insertHost: db.prepare<[string, number]>('INSERT INTO hosts (name, first_seen) VALUES (?, ?)'),
      setWatermark: db.prepare<[number, number]>('UPDATE hosts SET watermark = ? WHERE id = ?'),
      saveHost: db.prepare<[number | null, number | null, number]>('UPDATE hosts SET last_seen = ?, watermark = ? WHERE id = ?'),
      insertTenant: db.prepare<[string, number | null, number | null, number | null]>('INSERT INTO tenants (name, host_id, first_seen, last_seen) VALUES (?, ?, ?, ?)'),
      setTenantHost: db.prepare<[number, number]>('UPDATE tenants SET host_id = ? WHERE id = ?'),
      setTenantFirstSeen: db.prepare<[number, number]>('UPDATE tenants SET first_seen = ? WHERE id = ?'),
      setTenantReported: db.prepare<[string, number]>('UPDATE tenants SET reported = ? WHERE id = ?'),
      saveLedger: db.prepare<[number, number | null, number | null, number]>('UPDATE tenants SET debt = ?, debt_at = ?, last_seen = ? WHERE id = ?'),
      findReport: db.prepare<[number, number], { at: number }>('SELECT at FROM reports WHERE host_id = ? AND seq = ?'),
      insertReport: db.prepare<[number, number, number, number, number, number, string, Buffer, Buffer]>(
        'INSERT INTO reports (host_id, seq, at, received, interval_ms, n, meta, host_values, samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      reportsSince: db.prepare<[number, number], { id: number; at: number; interval_ms: number; host_values: Buffer; samples: Buffer }>(
        'SELECT id, at, interval_ms, host_values, samples FROM reports WHERE host_id = ? AND at >= ? ORDER BY at, id',
      ),
      lastReport: db.prepare<[number], { id: number; seq: number; at: number; received: number; interval_ms: number; meta: string; host_values: Buffer }>(
        'SELECT id, seq, at, received, interval_ms, meta, host_values FROM reports WHERE host_id = ? ORDER BY id DESC LIMIT 1',
      ),
      reportSamples: db.prepare<[number], { at: number; samples: Buffer }>('SELECT at, samples FROM reports WHERE id = ?'),
      rawRange: db.prepare<[number, number, number], { at: number; interval_ms: number; samples: Buffer }>(
        'SELECT at, interval_ms, samples FROM reports WHERE host_id = ? AND at >= ? AND at < ? ORDER BY at',
      ),
      rawHostRange: db.prepare<[number, number, number], { at: number; interval_ms: number; host_values: Buffer }>(
        'SELECT at, interval_ms, host_values FROM reports WHERE host_id = ? AND at >= ? AND at < ? ORDER BY at',
      ),
      deleteRaw: db.prepare<[number, number]>('DELETE FROM reports WHERE host_id = ? AND at < ?'),
      newestBefore: db.prepare<[number, number], { seq: number | null; at: number | null }>('SELECT max(seq) AS seq, max(at) AS at FROM reports WHERE host_id = ? AND at < ?'),
      setRetired: db.prepare<[number, number, number]>('UPDATE hosts SET retired_seq = ?, retired_at = ? WHERE id = ?'),
      insertMinute: db.prepare<[number, number, Buffer]>('INSERT INTO minute (series, bucket, data) VALUES (?, ?, ?)'),
      getMinute: db.prepare<[number, number], { data: Buffer }>('SELECT data FROM minute WHERE series = ? AND bucket = ?'),
      putMinute: db.prepare<[number, number, Buffer]>('INSERT OR REPLACE INTO minute (series, bucket, data) VALUES (?, ?, ?)'),
      minuteRange: db.prepare<[number, number, number], { bucket: number; data: Buffer }>(
        'SELECT bucket, data FROM minute WHERE series = ? AND bucket >= ? AND bucket < ? ORDER BY bucket',
      ),
      deleteMinute: db.prepare<[number, number]>('DELETE FROM minute WHERE series = ? AND bucket < ?'),
      getHour: db.prepare<[number, number], { data: Buffer }>('SELECT data FROM hour WHERE series = ? AND bucket = ?'),
      putHour: db.prepare<[number, number, Buffer]>('INSERT OR REPLACE INTO hour (series, bucket, data) VALUES (?, ?, ?)'),
      hourRange: db.prepare<[number, number, number], { bucket: number; data: Buffer }>(
        'SELECT bucket, data FROM hour WHERE series = ? AND bucket >= ? AND bucket < ? ORDER BY bucket',
      ),
      deleteHour: db.prepare<[number, number]>('DELETE FROM hour WHERE series = ? AND bucket < ?'),
      findEvent: db.prepare<[number, string], { id: number }>('SELECT id FROM incident_events WHERE host_id = ? AND event_id = ?'),
      insertEvent: db.prepare<[number, string, number, number, number, string]>(
        'INSERT INTO incident_events (host_id, event_id, incident_id, at, received, body) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      findIncident: db.prepare<[number, string], IncidentRow>('SELECT * FROM incidents WHERE host_id = ? AND key = ?'),
      getIncident: db.prepare<[number], IncidentRow>('SELECT * FROM incidents WHERE id = ?'),
      insertIncident: db.prepare(
        `INSERT INTO incidents (host_id, key, tenant, resource, rule, state, step, level, manual, opened_at, updated_at, released_at, until, events, explanation)
         VALUES (@host_id, @key, @tenant, @resource, @rule, @state, @step, @level, @manual, @opened_at, @updated_at, @released_at, @until, @events, @explanation)`,
      ),
      updateIncident: db.prepare(
        `UPDATE incidents SET state = @state, step = @step, level = @level, manual = @manual, updated_at = @updated_at, released_at = @released_at,
         until = @until, events = @events, explanation = @explanation, opened_at = @opened_at WHERE id = @id`,
      ),
      incidentEvents: db.prepare<[number], { host_id: number; received: number; body: string }>(
        'SELECT host_id, received, body FROM incident_events WHERE incident_id = ? ORDER BY at, id',
      ),
      openIncidents: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM incidents WHERE state = 'open'"),
      openIncidentsByHost: db.prepare<[], { host_id: number; n: number }>("SELECT host_id, count(*) AS n FROM incidents WHERE state = 'open' GROUP BY host_id"),
      openIncidentsByTenant: db.prepare<[], { tenant: string; n: number }>("SELECT tenant, count(*) AS n FROM incidents WHERE state = 'open' GROUP BY tenant"),
      openIncidentsOfTenant: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM incidents WHERE state = 'open' AND tenant = ?"),
      getAction: db.prepare<[string], ActionRow>('SELECT * FROM actions WHERE id = ?'),
      insertAction: db.prepare(
        `INSERT INTO actions (id, tenant, host_id, action, level, reason, by, created_at, expires_at, state, state_at, message)
         VALUES (@id, @tenant, @host_id, @action, @level, @reason, @by, @created_at, @expires_at, @state, @state_at, @message)`,
      ),
      setActionState: db.prepare<[string, number, string | null, string]>('UPDATE actions SET state = ?, state_at = ?, message = ? WHERE id = ?'),
      activeActionsOfHost: db.prepare<[number], ActionRow>("SELECT * FROM actions WHERE host_id = ? AND state IN ('pending', 'applied') ORDER BY created_at, id"),
      appliedActionsOfTenant: db.prepare<[string], ActionRow>("SELECT * FROM actions WHERE tenant = ? AND state = 'applied' AND action IN ('throttle', 'quarantine')"),
      expireActions: db.prepare<[number]>(
        "UPDATE actions SET state = 'expired', state_at = expires_at WHERE state IN ('pending', 'applied') AND expires_at IS NOT NULL AND expires_at <= ?",
      ),
      managedTenantsOfHost: db.prepare<[number], { spec: string }>('SELECT spec FROM tenants WHERE host_id = ? AND spec IS NOT NULL ORDER BY name'),
      putTenantSpec: db.prepare<[string, number, number, number]>('UPDATE tenants SET spec = ?, host_id = ?, updated_at = ? WHERE id = ?'),
      insertManagedTenant: db.prepare<[string, number, string, number]>('INSERT INTO tenants (name, host_id, spec, updated_at) VALUES (?, ?, ?, ?)'),
      clearTenantSpec: db.prepare<[number, number]>('UPDATE tenants SET spec = NULL, updated_at = ? WHERE id = ?'),
      deleteTenant: db.prepare<[number]>('DELETE FROM tenants WHERE id = ?'),
      putPlan: db.prepare<[string, string, number]>('INSERT OR REPLACE INTO plans (name, spec, updated_at) VALUES (?, ?, ?)'),
      insertAudit: db.prepare<[number, string, string, string, number, string | null, string | null]>(
        'INSERT INTO audit (at, who, method, path, status, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      countReports: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM reports'),
      deleteOldEvents: db.prepare<[number]>("DELETE FROM incident_events WHERE incident_id IN (SELECT id FROM incidents WHERE state = 'released' AND released_at < ?)"),
      deleteOldIncidents: db.prepare<[number]>("DELETE FROM incidents WHERE state = 'released' AND released_at < ?"),
      deleteOldActions: db.prepare<[number]>("DELETE FROM actions WHERE state NOT IN ('pending', 'applied') AND state_at < ?"),
      deleteOldAudit: db.prepare<[number]>('DELETE FROM audit WHERE at < ?'),
    };
  }

  /** Load hosts, tenants and plans into memory and replay the raw rows not yet in the rollup tables. */
  private load(): void {
    for (const p of this.db.prepare<[], { name: string; spec: string; updated_at: number }>('SELECT name, spec, updated_at FROM plans').all()) {
      this.plans.set(p.name, { plan: JSON.parse(p.spec) as Plan, updatedAt: p.updated_at });
    }
    type HostRow = { id: number; name: string; first_seen: number; last_seen: number | null; watermark: number | null; retired_seq: number | null; retired_at: number | null };
    for (const h of this.db.prepare<[], HostRow>('SELECT * FROM hosts').all()) {
      const state = this.newHostState(h.id, h.name, h.first_seen, h.last_seen, h.watermark);
      state.retiredSeq = h.retired_seq;
      state.retiredAt = h.retired_at;
      this.registerHost(state);
    }
    type TenantRow = { id: number; name: string; host_id: number | null; spec: string | null; reported: string | null; first_seen: number | null; last_seen: number | null; debt: number; debt_at: number | null };
    for (const t of this.db.prepare<[], TenantRow>('SELECT id, name, host_id, spec, reported, first_seen, last_seen, debt, debt_at FROM tenants').all()) {
      const spec = t.spec ? (JSON.parse(t.spec) as TenantSpec) : null;
      const reported = t.reported ? (JSON.parse(t.reported) as TenantInfoWire) : null;
      this.tenants.set(t.name, {
        id: t.id,
        name: t.name,
        hostId: t.host_id,
        spec,
        reported,
        reportedJson: t.reported,
        weight: this.weightOf(spec, reported),
        firstSeen: t.first_seen,
        lastSeen: t.last_seen,
        hostSeenAt: t.last_seen,
        debt: t.debt_at === null ? undefined : { debt: t.debt, at: t.debt_at },
      });
    }
    const tenantsById = new Map<number, TenantState>();
    for (const t of this.tenants.values()) tenantsById.set(t.id, t);
    let replayed = 0;
    for (const host of this.hosts.values()) {
      const last = this.s.lastReport.get(host.id);
      if (last) {
        host.lastReportId = last.id;
        host.lastSeq = last.seq;
        host.lastAt = last.at;
        host.lastSeen = Math.max(host.lastSeen ?? 0, last.received);
        host.lastIntervalMs = last.interval_ms;
        host.meta = JSON.parse(last.meta) as ReportMeta;
        host.lastFair = lastFairOf(decodeVector(last.host_values, HOST_WIDTH));
      }
      if (host.watermark === null) continue;
      for (const r of this.s.reportsSince.iterate(host.id, host.watermark)) {
        replayed++;
        const bucket = this.bucketFor(host, floorTo(r.at, MINUTE_MS));
        const ids: number[] = [];
        forEachSample(r.samples, TENANT_WIDTH, (id, row) => {
          ids.push(id);
          bucket.add(id, row, 0, TENANT_WIDTH);
          const t = tenantsById.get(id);
          const debt = row[T.debt]!;
          if (t && debt === debt && (!t.debt || r.at >= t.debt.at)) t.debt = { debt: debt / 1e9, at: r.at };
          if (t && (t.lastSeen === null || r.at > t.lastSeen)) t.lastSeen = r.at;
        });
        bucket.add(hostSeries(host.id), decodeVector(r.host_values, HOST_WIDTH), 0, HOST_WIDTH);
        host.maxAt = Math.max(host.maxAt, r.at);
      }
      this.closeBuckets(host);
      this.checkDue(host, this.now());
    }
    if (replayed) this.log?.info({ reports: replayed }, 'replayed raw reports not yet rolled up');
  }

  private newHostState(id: number, name: string, firstSeen: number, lastSeen: number | null, watermark: number | null): HostState {
    return {
      id,
      name,
      firstSeen,
      lastSeen,
      lastAt: null,
      lastSeq: null,
      lastReportId: null,
      lastIntervalMs: 0,
      meta: null,
      lastFair: null,
      watermark,
      maxAt: Number.NEGATIVE_INFINITY,
      retiredSeq: null,
      retiredAt: null,
      buckets: new Map(),
      dirtyTenants: new Set(),
      dirty: false,
    };
  }

  private registerHost(h: HostState): void {
    this.hosts.set(h.name, h);
    this.hostsById.set(h.id, h);
  }

  /** The host's state, creating its row (inside the caller's transaction) when new. */
  private ensureHost(name: string, now: number, after: Array<() => void>): HostState {
    const existing = this.hosts.get(name);
    if (existing) return existing;
    const id = Number(this.s.insertHost.run(name, now).lastInsertRowid);
    const h = this.newHostState(id, name, now, null, null);
    after.push(() => this.registerHost(h));
    return h;
  }

  /** The weight of the managed spec's plan, else of the plan its agent reported, when defined here; else 1. */
  private weightOf(spec: TenantSpec | null, reported: TenantInfoWire | null): number {
    const plan = spec?.plan ?? reported?.plan;
    return (plan === undefined ? undefined : this.plans.get(plan)?.plan.weight) ?? 1;
  }

  /**
   * The tenant of a name; a new one gets its row inside the caller's transaction and goes into `created`
   * (the cache takes it after the commit).
   */
  private tenantFor(name: string, host: HostState, at: number | null, created: Map<string, TenantState>): TenantState {
    const t = this.tenants.get(name) ?? created.get(name);
    if (t) return t;
    const id = Number(this.s.insertTenant.run(name, host.id, at, at).lastInsertRowid);
    const nt: TenantState = { id, name, hostId: host.id, spec: null, reported: null, reportedJson: null, weight: 1, firstSeen: at, lastSeen: at, hostSeenAt: at, debt: undefined };
    created.set(name, nt);
    return nt;
  }

  // --- hooks ----------------------------------------------------------------------------------------------
  onIncidentEvents(hook: IncidentEventsHook): () => void {
    this.incidentHooks.add(hook);
    return () => this.incidentHooks.delete(hook);
  }

  onActionQueued(hook: ActionQueuedHook): () => void {
    this.actionHooks.add(hook);
    return () => this.actionHooks.delete(hook);
  }

  private tx(now: number): TxContext {
    return { sqlite: this.db, now };
  }

  // --- ingest ---------------------------------------------------------------------------------------------
  async ingest(p: PreparedReport): Promise<IngestResult> {
    return this.ingestSync(p);
  }

  ingestSync(p: PreparedReport): IngestResult {
    this.assertOpen();
    const now = this.now();
    if (p.at > now + MAX_CLOCK_AHEAD_MS) {
      throw new BadRequestError(`at /at: ${iso(p.at)} is more than ${MAX_CLOCK_AHEAD_MS / 60_000} minutes ahead of the controller's clock (${iso(now)}); check the agent host's clock`);
    }
    const after: Array<() => void> = [];
    const result = this.ingestTransaction(p, now, after);
    for (const fn of after) fn();
    return result;
  }

  private ingestTx(p: PreparedReport, now: number, after: Array<() => void>): IngestResult {
    const host = this.ensureHost(p.host, now, after);
    const prior = host.lastReportId === null && host.watermark === null ? undefined : this.s.findReport.get(host.id, p.seq);
    const conflict = (at: string) =>
      new ConflictError('seq_conflict', `seq ${p.seq} of host ${p.host} was already used by a report at ${at}, this one is at ${iso(p.at)}: the agent's sequence went back (was its spool lost?)`);
    if (prior) {
      if (prior.at === p.at) return { accepted: true, duplicate: true, seq: p.seq, samples: 0, events: 0, acks: 0 };
      throw conflict(iso(prior.at));
    }
    if (host.retiredSeq !== null && p.seq <= host.retiredSeq) {
      // Its raw row may be gone (retention), but a seq this low was seen: a resend, unless it is newer data.
      if (p.at <= (host.retiredAt ?? Number.NEGATIVE_INFINITY)) return { accepted: true, duplicate: true, seq: p.seq, samples: 0, events: 0, acks: 0 };
      throw conflict(`or before ${iso(host.retiredAt!)} (dropped by retention since)`);
    }
    const n = p.tenants.length;
    const values = p.values;
    const W = TENANT_WIDTH;
    // Tenants: ids, creating rows for new names; unmanaged tenants follow the host they report from.
    const created = new Map<string, TenantState>();
    after.push(() => {
      for (const [name, t] of created) this.tenants.set(name, t);
    });
    const states = new Array<TenantState>(n);
    const ids = new Array<number>(n);
    for (let k = 0; k < n; k++) {
      const name = p.tenants[k]!;
      const known = this.tenants.get(name);
      const t = known ?? this.tenantFor(name, host, p.at, created);
      if (known) {
        if (known.hostId !== host.id && !known.spec && (known.hostSeenAt === null || p.at - known.hostSeenAt > TENANT_MOVE_AFTER_MS)) {
          this.s.setTenantHost.run(host.id, known.id);
          after.push(() => (known.hostId = host.id));
        }
        if (known.firstSeen === null) {
          this.s.setTenantFirstSeen.run(p.at, known.id);
          after.push(() => (known.firstSeen = p.at));
        }
      }
      states[k] = t;
      ids[k] = t.id;
    }
    // The agent's directory of its tenants: kept as reported, it names plans (weights) and emails.
    for (const info of p.directory ?? []) {
      const t = this.tenantFor(info.name, host, null, created);
      const json = JSON.stringify(info);
      if (json === t.reportedJson) continue;
      this.s.setTenantReported.run(json, t.id);
      after.push(() => {
        t.reported = info;
        t.reportedJson = json;
        t.weight = this.weightOf(t.spec, info);
      });
    }
    // Fairness ledger for this interval.
    const stats = p.hostStats;
    const usages = new Array<TenantUsage>(n);
    for (let k = 0; k < n; k++) {
      const o = k * W;
      usages[k] = {
        cpuPercent: num(values[o + T.cpu_percent]!, 1000),
        memoryBytes: num(values[o + T.memory_current]!, 1),
        ioReadBps: num(values[o + T.io_read_bps]!, 1),
        ioWriteBps: num(values[o + T.io_write_bps]!, 1),
        ioReadIops: num(values[o + T.io_read_iops]!, 100),
        ioWriteIops: num(values[o + T.io_write_iops]!, 100),
        weight: states[k]!.weight,
      };
    }
    const fair = hostFairness({ cores: stats.cores, memoryBytes: stats.memory_bytes, io: stats.io_capacity }, usages, this.fairness.activeThreshold);
    const debts = new Array<DebtState>(n);
    let strays = 0;
    for (let k = 0; k < n; k++) {
      const o = k * W;
      const sh = fair.tenants[k]!;
      values[o + T.share_cpu] = q(sh.cpu, 1e6);
      values[o + T.share_memory] = q(sh.memory, 1e6);
      values[o + T.share_io] = q(sh.io, 1e6);
      values[o + T.dominant_share] = Math.round(sh.dominant * 1e6);
      values[o + T.fair_share] = q(fair.fair, 1e6);
      values[o + T.active] = sh.active ? 1 : 0;
      const d = accrueDebt(states[k]!.debt, p.at, p.intervalMs / 1000, sh.dominant, fair.fair, sh.active, this.fairness.halfLifeMs);
      debts[k] = d;
      values[o + T.debt] = Math.round(d.debt * 1e9);
      const st = values[o + T.strays]!;
      if (st === st) strays += st;
    }
    const hv = p.hostValues;
    hv[H.tenants] = n;
    hv[H.active_tenants] = fair.active;
    hv[H.fair_share] = q(fair.fair, 1e6);
    hv[H.jain] = q(fair.jain, 1e6);
    hv[H.strays] = strays;

    const meta: ReportMeta = { host_stats: stats, collectors: p.collectors, agent_version: p.agentVersion };
    const blob = encodeSamples(ids, values, n, W, this.writer);
    const hostBlob = encodeVector(hv, HOST_WIDTH, this.smallWriter);
    const reportId = Number(this.s.insertReport.run(host.id, p.seq, p.at, now, p.intervalMs, n, JSON.stringify(meta), hostBlob, blob).lastInsertRowid);

    // Rollups: in memory from the host's watermark on; a report older than that goes straight to the tables.
    const minute = floorTo(p.at, MINUTE_MS);
    if (host.watermark === null) this.s.setWatermark.run(minute, host.id);
    const late = host.watermark !== null && minute < host.watermark;
    if (late) {
      const perSeries = new Map<number, Acc>();
      for (let k = 0; k < n; k++) {
        const acc = newAcc(W);
        accAdd(acc, values, k * W, W);
        perSeries.set(ids[k]!, acc);
      }
      const hacc = newAcc(HOST_WIDTH);
      accAdd(hacc, hv, 0, HOST_WIDTH);
      perSeries.set(hostSeries(host.id), hacc);
      this.mergeIntoTables(minute, perSeries);
    }

    const newEvents = this.storeEvents(host, p.events, now);
    const ackChanges = this.applyAcks(host, p.acks, now);
    if (newEvents.length) for (const hook of this.incidentHooks) hook(newEvents, this.tx(now));

    after.push(() => {
      if (host.watermark === null) host.watermark = minute;
      host.lastSeen = now;
      if (host.lastAt === null || p.at >= host.lastAt) {
        host.lastAt = p.at;
        host.lastSeq = p.seq;
        host.lastReportId = reportId;
        host.lastIntervalMs = p.intervalMs;
        host.meta = meta;
        host.lastFair = { jain: fair.jain ?? null, fair: fair.fair ?? null, active: fair.active };
      }
      host.dirty = true;
      for (let k = 0; k < n; k++) {
        const t = states[k]!;
        t.debt = debts[k];
        if (t.lastSeen === null || p.at > t.lastSeen) t.lastSeen = p.at;
        if (t.hostId === host.id && (t.hostSeenAt === null || p.at > t.hostSeenAt)) t.hostSeenAt = p.at;
        host.dirtyTenants.add(t);
      }
      if (!late) {
        const bucket = this.bucketFor(host, minute);
        for (let k = 0; k < n; k++) bucket.add(ids[k]!, values, k * W, W);
        bucket.add(hostSeries(host.id), hv, 0, HOST_WIDTH);
      }
      host.maxAt = Math.max(host.maxAt, p.at);
      this.closeBuckets(host);
      this.checkDue(host, now);
      if (ackChanges) this.policyGeneration++;
    });
    return { accepted: true, duplicate: false, seq: p.seq, samples: n, events: newEvents.length, acks: p.acks.length };
  }

  private bucketFor(host: HostState, minute: number): MinuteBucket {
    let b = host.buckets.get(minute);
    if (!b) {
      b = new MinuteBucket(widthOf);
      host.buckets.set(minute, b);
    }
    return b;
  }

  /** Encode the minutes before the newest report's minute: they are complete. */
  private closeBuckets(host: HostState): void {
    const current = floorTo(host.maxAt, MINUTE_MS);
    for (const [minute, b] of host.buckets) if (!b.closed && minute < current) b.close(this.writer);
  }

  /** The minute before which a host's buckets are written now. */
  private cutFor(host: HostState, now: number): number {
    if (host.maxAt === Number.NEGATIVE_INFINITY) return host.watermark ?? 0;
    const current = floorTo(Math.min(host.maxAt, now + MAX_CLOCK_AHEAD_MS), MINUTE_MS);
    const idle = host.lastSeen !== null && now - host.lastSeen >= IDLE_FLUSH_MS;
    return idle ? current + MINUTE_MS : current;
  }

  private checkDue(host: HostState, now: number): void {
    if (host.watermark === null || host.buckets.size === 0) return;
    const cut = this.cutFor(host, now);
    const idle = host.lastSeen !== null && now - host.lastSeen >= IDLE_FLUSH_MS;
    if (cut - host.watermark >= this.flushIntervalMs || (idle && cut > host.watermark)) this.due.add(host);
  }

  flushDue(): boolean {
    return this.due.size > 0;
  }

  async flush(opts: { all?: boolean; maxHosts?: number } = {}): Promise<FlushResult> {
    return this.flushSync(opts);
  }

  flushSync(opts: { all?: boolean; maxHosts?: number } = {}): FlushResult {
    this.assertOpen();
    const now = this.now();
    if (!opts.all) for (const h of this.hosts.values()) this.checkDue(h, now);
    const hosts = opts.all ? [...this.hosts.values()] : [...this.due];
    const limit = opts.maxHosts ?? Number.POSITIVE_INFINITY;
    const result: FlushResult = { hosts: 0, minuteRows: 0, hourRows: 0, remaining: 0 };
    for (const host of hosts) {
      // Nothing to write: no minutes in memory, no ledger changes (a host only named by a managed tenant).
      if (opts.all && host.buckets.size === 0 && !host.dirty) continue;
      if (result.hosts >= limit) {
        result.remaining++;
        continue;
      }
      this.due.delete(host);
      const cut = opts.all ? (host.buckets.size ? Math.max(...host.buckets.keys()) + MINUTE_MS : (host.watermark ?? 0)) : this.cutFor(host, now);
      const r = this.flushHost(host, Math.max(cut, host.watermark ?? cut));
      result.hosts++;
      result.minuteRows += r.minuteRows;
      result.hourRows += r.hourRows;
    }
    return result;
  }

  /** Write a host's minutes before `cut`, merge them into the hour rows, save its ledger; one transaction. */
  private flushHost(host: HostState, cut: number): { minuteRows: number; hourRows: number } {
    const minutes = [...host.buckets.keys()].filter((m) => m < cut).sort((a, b) => a - b);
    let minuteRows = 0;
    let hourRows = 0;
    this.db.transaction(() => {
      const hours = new Map<number, Map<number, Acc>>();
      for (const minute of minutes) {
        const bucket = host.buckets.get(minute)!;
        const hourStart = floorTo(minute, HOUR_MS);
        let perSeries = hours.get(hourStart);
        if (!perSeries) hours.set(hourStart, (perSeries = new Map()));
        for (const [series, v] of bucket.rows()) {
          const width = widthOf(series);
          const blob = Buffer.isBuffer(v) ? v : encodeAcc(v, width, this.smallWriter);
          try {
            this.s.insertMinute.run(series, minute, blob);
          } catch (err) {
            if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') throw err;
            this.mergeRow('minute', series, minute, toAcc(v, width));
          }
          minuteRows++;
          const h = perSeries.get(series);
          if (h) decodeAcc(blob, width, h);
          else perSeries.set(series, decodeAcc(blob, width));
        }
      }
      for (const [hourStart, perSeries] of hours) {
        for (const [series, acc] of perSeries) {
          this.mergeRow('hour', series, hourStart, acc);
          hourRows++;
        }
      }
      for (const t of host.dirtyTenants) this.s.saveLedger.run(t.debt?.debt ?? 0, t.debt?.at ?? null, t.lastSeen, t.id);
      this.s.saveHost.run(host.lastSeen, cut, host.id);
    })();
    for (const m of minutes) host.buckets.delete(m);
    host.watermark = cut;
    host.dirtyTenants.clear();
    host.dirty = false;
    return { minuteRows, hourRows };
  }

  /** Add `acc` into the stored row of a series and bucket (created when missing). */
  private mergeRow(table: 'minute' | 'hour', series: number, bucket: number, acc: Acc): void {
    const width = widthOf(series);
    const existing = (table === 'minute' ? this.s.getMinute : this.s.getHour).get(series, bucket);
    let merged = acc;
    if (existing) {
      merged = decodeAcc(existing.data, width);
      accMerge(merged, acc, width);
    }
    (table === 'minute' ? this.s.putMinute : this.s.putHour).run(series, bucket, encodeAcc(merged, width, this.smallWriter));
  }

  private mergeIntoTables(minute: number, perSeries: Map<number, Acc>): void {
    const hourStart = floorTo(minute, HOUR_MS);
    for (const [series, acc] of perSeries) {
      this.mergeRow('minute', series, minute, acc);
      this.mergeRow('hour', series, hourStart, acc);
    }
  }

  // --- incidents and acknowledgements ---------------------------------------------------------------------
  private storeEvents(host: HostState, events: IncidentEvent[], now: number): NewIncidentEvent[] {
    const out: NewIncidentEvent[] = [];
    for (const ev of events) {
      if (this.s.findEvent.get(host.id, ev.id)) continue;
      const at = Date.parse(ev.at);
      const until = ev.until ? Date.parse(ev.until) : null;
      const released = ev.type === 'released' || ev.step === 'release';
      let row = this.s.findIncident.get(host.id, ev.incident);
      if (!row) {
        const fresh = {
          host_id: host.id,
          key: ev.incident,
          tenant: ev.tenant,
          resource: ev.resource,
          rule: ev.rule,
          state: released ? ('released' as const) : ('open' as const),
          step: ev.step,
          level: ev.level,
          manual: ev.manual ? 1 : 0,
          opened_at: at,
          updated_at: at,
          released_at: released ? at : null,
          until,
          events: 1,
          explanation: JSON.stringify(ev.explanation),
        };
        const id = Number(this.s.insertIncident.run(fresh).lastInsertRowid);
        row = { id, ...fresh };
      } else {
        row.events++;
        row.opened_at = Math.min(row.opened_at, at);
        if (at >= row.updated_at) {
          row.updated_at = at;
          row.step = ev.step;
          row.level = ev.level;
          row.until = until;
          row.explanation = JSON.stringify(ev.explanation);
          if (ev.manual) row.manual = 1;
          row.state = released ? 'released' : 'open';
          row.released_at = released ? at : null;
        }
        this.s.updateIncident.run(row);
      }
      this.s.insertEvent.run(host.id, ev.id, row.id, at, now, JSON.stringify(ev));
      out.push({ event: { ...ev, host: host.name, received_at: iso(now) }, incident: this.incidentSummary(row, host.name) });
    }
    return out;
  }

  /** Apply the agent's acknowledgements to actions queued for its host; true when any state changed. */
  private applyAcks(host: HostState, acks: ActionAck[], now: number): boolean {
    let changed = false;
    for (const ack of acks) {
      const row = this.s.getAction.get(ack.action_id);
      if (!row || row.host_id !== host.id) {
        this.log?.warn({ host: host.name, action_id: ack.action_id }, 'acknowledgement for an action not queued for this host; ignored');
        continue;
      }
      const at = Math.min(Date.parse(ack.at), now);
      let next: ActionStateName | undefined;
      if (row.state === 'pending') {
        if (ack.state === 'applied') next = row.action === 'notice' || row.action === 'release' ? 'done' : 'applied';
        else next = ack.state;
      } else if (row.state === 'applied' && (ack.state === 'expired' || ack.state === 'released' || ack.state === 'failed')) next = ack.state;
      if (!next || next === row.state) continue;
      this.s.setActionState.run(next, at, ack.message ?? null, row.id);
      changed = true;
      if (row.action === 'release' && next === 'done') {
        for (const other of this.s.appliedActionsOfTenant.all(row.tenant)) this.s.setActionState.run('released', at, `released by action ${row.id}`, other.id);
      }
    }
    return changed;
  }

  // --- retention ------------------------------------------------------------------------------------------
  async applyRetention(now = this.now()): Promise<RetentionResult> {
    this.assertOpen();
    const result: RetentionResult = { raw: 0, minute: 0, hour: 0, expiredActions: 0, records: 0 };
    const rawCut = now - this.retention.rawMs;
    for (const host of [...this.hosts.values()]) {
      // Raw rows not yet rolled up stay, whatever their age: they are the only copy.
      const cut = Math.min(rawCut, host.watermark ?? Number.NEGATIVE_INFINITY);
      if (cut === Number.NEGATIVE_INFINITY) continue;
      this.db.transaction(() => {
        const newest = this.s.newestBefore.get(host.id, cut);
        if (newest?.seq == null || newest.at == null) return;
        const seq = Math.max(host.retiredSeq ?? 0, newest.seq);
        const at = Math.max(host.retiredAt ?? Number.NEGATIVE_INFINITY, newest.at);
        this.s.setRetired.run(seq, at, host.id);
        result.raw += this.s.deleteRaw.run(host.id, cut).changes;
        host.retiredSeq = seq;
        host.retiredAt = at;
      })();
      await yieldToLoop();
      if (this.closed) return result; // stopped meanwhile: the next run picks up the rest
    }
    const series = [...[...this.tenants.values()].map((t) => t.id), ...[...this.hosts.values()].map((h) => hostSeries(h.id))];
    for (let i = 0; i < series.length; i += RETENTION_CHUNK) {
      const chunk = series.slice(i, i + RETENTION_CHUNK);
      this.db.transaction(() => {
        for (const sid of chunk) {
          result.minute += this.s.deleteMinute.run(sid, now - this.retention.minuteMs).changes;
          result.hour += this.s.deleteHour.run(sid, now - this.retention.hourMs).changes;
        }
      })();
      await yieldToLoop();
      if (this.closed) return result;
    }
    result.expiredActions = this.s.expireActions.run(now).changes;
    if (result.expiredActions) this.policyGeneration++;
    const recordsCut = now - this.retention.hourMs;
    this.db.transaction(() => {
      result.records += this.s.deleteOldEvents.run(recordsCut).changes;
      result.records += this.s.deleteOldIncidents.run(recordsCut).changes;
      result.records += this.s.deleteOldActions.run(recordsCut).changes;
      result.records += this.s.deleteOldAudit.run(recordsCut).changes;
    })();
    return result;
  }

  // --- hosts ----------------------------------------------------------------------------------------------
  async listHosts(): Promise<HostInfo[]> {
    const open = new Map(this.s.openIncidentsByHost.all().map((r) => [r.host_id, r.n]));
    const counts = new Map<number, number>();
    for (const t of this.tenants.values()) if (t.hostId !== null) counts.set(t.hostId, (counts.get(t.hostId) ?? 0) + 1);
    return [...this.hosts.values()].sort((a, b) => a.name.localeCompare(b.name)).map((h) => this.hostInfo(h, counts.get(h.id) ?? 0, open.get(h.id) ?? 0));
  }

  async getHost(name: string): Promise<HostInfo | undefined> {
    const h = this.hosts.get(name);
    if (!h) return undefined;
    let tenants = 0;
    for (const t of this.tenants.values()) if (t.hostId === h.id) tenants++;
    const open = this.s.openIncidentsByHost.all().find((r) => r.host_id === h.id)?.n ?? 0;
    return this.hostInfo(h, tenants, open);
  }

  private hostInfo(h: HostState, tenants: number, openIncidents: number): HostInfo {
    return {
      host: h.name,
      first_seen: iso(h.firstSeen),
      last_seen: isoOrNull(h.lastSeen),
      last_report_at: isoOrNull(h.lastAt),
      last_seq: h.lastSeq,
      agent_version: h.meta?.agent_version ?? null,
      tenants,
      open_incidents: openIncidents,
      host_stats: h.meta?.host_stats ?? null,
      collectors: h.meta?.collectors ?? null,
      fairness: h.lastFair ? { jain: h.lastFair.jain, fair_share: h.lastFair.fair, active_tenants: h.lastFair.active } : null,
    };
  }

  // --- tenants and plans ----------------------------------------------------------------------------------
  private tenantInfo(t: TenantState, openIncidents: number, now: number): TenantInfo {
    return {
      name: t.name,
      host: t.hostId === null ? null : (this.hostsById.get(t.hostId)?.name ?? null),
      managed: t.spec !== null,
      plan: t.spec?.plan ?? t.reported?.plan ?? null,
      weight: t.weight,
      spec: t.spec,
      reported: t.reported,
      first_seen: isoOrNull(t.firstSeen),
      last_seen: isoOrNull(t.lastSeen),
      debt: t.debt ? decayedDebt(t.debt, now, this.fairness.halfLifeMs) : 0,
      open_incidents: openIncidents,
    };
  }

  async listTenants(filter: TenantFilter = {}): Promise<{ tenants: TenantInfo[]; total: number }> {
    const now = this.now();
    let hostId: number | undefined;
    if (filter.host !== undefined) {
      const h = this.hosts.get(filter.host);
      if (!h) return { tenants: [], total: 0 };
      hostId = h.id;
    }
    const all = [...this.tenants.values()]
      .filter((t) => (hostId === undefined || t.hostId === hostId) && (filter.managed === undefined || (t.spec !== null) === filter.managed))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const open = new Map(this.s.openIncidentsByTenant.all().map((r) => [r.tenant, r.n]));
    const offset = filter.offset ?? 0;
    const page = all.slice(offset, filter.limit === undefined ? undefined : offset + filter.limit);
    return { tenants: page.map((t) => this.tenantInfo(t, open.get(t.name) ?? 0, now)), total: all.length };
  }

  async getTenant(name: string): Promise<TenantDetail | undefined> {
    const t = this.tenants.get(name);
    if (!t) return undefined;
    const now = this.now();
    const info = this.tenantInfo(t, this.s.openIncidentsOfTenant.get(name)?.n ?? 0, now);
    let latest: TenantDetail['latest'] = null;
    const host = t.hostId === null ? undefined : this.hostsById.get(t.hostId);
    if (host?.lastReportId != null) {
      const r = this.s.reportSamples.get(host.lastReportId);
      const row = r ? findSample(r.samples, t.id, TENANT_WIDTH) : undefined;
      if (r && row) {
        const values: Record<string, number> = {};
        TENANT_METRICS.forEach((d, i) => {
          if (row[i] === row[i]) values[d.name] = row[i]! / d.scale;
        });
        latest = { at: iso(r.at), values };
      }
    }
    return { ...info, latest };
  }

  async putTenant(name: string, body: TenantPut): Promise<{ tenant: TenantInfo; created: boolean }> {
    this.assertOpen();
    if (body.name !== undefined && body.name !== name) throw new BadRequestError(`name: "${body.name}" differs from the tenant in the path ("${name}")`);
    if (!this.plans.has(body.plan)) throw new BadRequestError(`plan: "${body.plan}" is not defined; create it first with PUT /v1/plans/${body.plan}`);
    const existing = this.tenants.get(name);
    const hostName = body.host ?? (existing?.hostId != null ? this.hostsById.get(existing.hostId)?.name : undefined);
    if (!hostName) throw new BadRequestError(`host: required for a tenant that has not reported yet (${name})`);
    const now = this.now();
    const spec: TenantSpec = { ...body, name, host: hostName };
    const after: Array<() => void> = [];
    let created = false;
    this.db.transaction(() => {
      const host = this.ensureHost(hostName, now, after);
      if (existing) {
        this.s.putTenantSpec.run(JSON.stringify(spec), host.id, now, existing.id);
        after.push(() => {
          existing.spec = spec;
          existing.hostId = host.id;
          existing.weight = this.weightOf(spec, existing.reported);
        });
      } else {
        created = true;
        const id = Number(this.s.insertManagedTenant.run(name, host.id, JSON.stringify(spec), now).lastInsertRowid);
        after.push(() =>
          this.tenants.set(name, { id, name, hostId: host.id, spec, reported: null, reportedJson: null, weight: this.weightOf(spec, null), firstSeen: null, lastSeen: null, hostSeenAt: null, debt: undefined }),
        );
      }
    })();
    for (const fn of after) fn();
    this.policyGeneration++;
    const t = this.tenants.get(name)!;
    return { tenant: this.tenantInfo(t, this.s.openIncidentsOfTenant.get(name)?.n ?? 0, now), created };
  }

  async deleteTenant(name: string): Promise<boolean> {
    this.assertOpen();
    const t = this.tenants.get(name);
    if (!t) return false;
    if (t.firstSeen === null && t.reported === null) {
      this.s.deleteTenant.run(t.id);
      this.tenants.delete(name);
    } else {
      this.s.clearTenantSpec.run(this.now(), t.id);
      t.spec = null;
      t.weight = this.weightOf(null, t.reported);
    }
    this.policyGeneration++;
    return true;
  }

  async listPlans(): Promise<PlanEntry[]> {
    const counts = new Map<string, number>();
    for (const t of this.tenants.values()) if (t.spec) counts.set(t.spec.plan, (counts.get(t.spec.plan) ?? 0) + 1);
    return [...this.plans.entries()]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([name, p]) => ({ name, plan: p.plan, updated_at: iso(p.updatedAt), tenants: counts.get(name) ?? 0 }));
  }

  async putPlan(name: string, body: PlanPut): Promise<{ plan: PlanEntry; created: boolean }> {
    this.assertOpen();
    const now = this.now();
    const plan: Plan = { ...body, weight: body.weight ?? 1 };
    const created = !this.plans.has(name);
    this.s.putPlan.run(name, JSON.stringify(plan), now);
    this.plans.set(name, { plan, updatedAt: now });
    let tenants = 0;
    for (const t of this.tenants.values()) {
      if (t.spec?.plan === name) tenants++;
      if ((t.spec?.plan ?? t.reported?.plan) === name) t.weight = plan.weight;
    }
    this.policyGeneration++;
    return { plan: { name, plan, updated_at: iso(now), tenants }, created };
  }

  // --- policy and manual actions --------------------------------------------------------------------------
  async getPolicy(hostName: string): Promise<{ policy: Policy; etag: string }> {
    this.assertOpen();
    const now = this.now();
    const cached = this.policyCache.get(hostName);
    if (cached && cached.generation === this.policyGeneration && now < cached.validUntil) return cached;
    const host = this.hosts.get(hostName);
    const plans: Record<string, Plan> = {};
    for (const [name, p] of [...this.plans.entries()].sort((a, b) => a[0].localeCompare(b[0]))) plans[name] = p.plan;
    const tenants: TenantSpec[] = host ? this.s.managedTenantsOfHost.all(host.id).map((r) => JSON.parse(r.spec) as TenantSpec) : [];
    const actions: ManualAction[] = [];
    let validUntil = Number.POSITIVE_INFINITY;
    if (host) {
      for (const row of this.s.activeActionsOfHost.all(host.id)) {
        const state = effectiveState(row, now);
        const served = state === 'pending' || (state === 'applied' && (row.action === 'throttle' || row.action === 'quarantine'));
        if (!served) continue;
        if (row.expires_at !== null) validUntil = Math.min(validUntil, row.expires_at);
        actions.push(manualAction(row));
      }
    }
    const policy: Policy = { host: hostName, tenants, plans, actions };
    const etag = `"${createHash('sha256').update(JSON.stringify(policy)).digest('base64url').slice(0, 32)}"`;
    const entry = { generation: this.policyGeneration, validUntil, policy, etag };
    this.policyCache.set(hostName, entry);
    return entry;
  }

  async queueAction(tenantName: string, req: ActionRequest, by: string): Promise<ActionStatus> {
    this.assertOpen();
    const t = this.tenants.get(tenantName);
    if (!t) throw new NotFoundError(`tenant ${tenantName} is not known`);
    const host = t.hostId === null ? undefined : this.hostsById.get(t.hostId);
    if (!host) throw new ConflictError('no_host', `tenant ${tenantName} has no host yet: PUT it with a host first`);
    if (req.level !== undefined && req.action !== 'throttle') throw new BadRequestError('level: only a throttle has a level');
    let ttlMs: number | undefined;
    if (req.ttl !== undefined) {
      if (req.action !== 'throttle' && req.action !== 'quarantine') throw new BadRequestError('ttl: only a throttle or a quarantine lasts for a time');
      try {
        ttlMs = parseDuration(req.ttl);
      } catch (err) {
        if (err instanceof UnitError) throw new BadRequestError(`ttl: ${err.message}`);
        throw err;
      }
      if (ttlMs <= 0) throw new BadRequestError('ttl: must be more than zero');
    }
    const now = this.now();
    const row: ActionRow = {
      id: randomUUID(),
      tenant: tenantName,
      host_id: host.id,
      action: req.action,
      level: req.action === 'throttle' ? (req.level ?? 1) : null,
      reason: req.reason,
      by,
      created_at: now,
      expires_at: ttlMs === undefined ? null : now + ttlMs,
      state: 'pending',
      state_at: now,
      message: null,
    };
    const status = actionStatus(row, host.name, now);
    this.db.transaction(() => {
      this.s.insertAction.run(row);
      for (const hook of this.actionHooks) hook(status, this.tx(now));
    })();
    this.policyGeneration++;
    return status;
  }

  async listActions(filter: ActionFilter = {}): Promise<ActionStatus[]> {
    const host = filter.host === undefined ? undefined : this.hosts.get(filter.host);
    if (filter.host !== undefined && !host) return [];
    const where = new Where().add('tenant = ?', filter.tenant).add('host_id = ?', host?.id);
    const now = this.now();
    return this.db
      .prepare<Array<string | number>, ActionRow>(`SELECT * FROM actions ${where} ORDER BY created_at DESC, id LIMIT 1000`)
      .all(...where.params)
      .map((r) => actionStatus(r, this.hostsById.get(r.host_id)?.name ?? '?', now));
  }

  async getAction(id: string): Promise<ActionStatus | undefined> {
    const r = this.s.getAction.get(id);
    return r ? actionStatus(r, this.hostsById.get(r.host_id)?.name ?? '?', this.now()) : undefined;
  }

  // --- history --------------------------------------------------------------------------------------------
  async tenantHistory(name: string, query: HistoryQuery): Promise<SeriesResponse | undefined> {
    const t = this.tenants.get(name);
    if (!t) return undefined;
    const host = t.hostId === null ? undefined : this.hostsById.get(t.hostId);
    const body = this.history(t.id, host, TENANT_METRICS, query);
    return { tenant: name, host: host?.name ?? null, ...body };
  }

  async hostHistory(name: string, query: HistoryQuery): Promise<SeriesResponse | undefined> {
    const host = this.hosts.get(name);
    if (!host) return undefined;
    return { host: name, ...this.history(hostSeries(host.id), host, HOST_METRICS, query) };
  }

  private history(series: number, host: HostState | undefined, catalog: readonly MetricDef[], query: HistoryQuery): Omit<SeriesResponse, 'tenant' | 'host'> {
    if (!(query.to > query.from)) throw new BadRequestError(`to: must be after from (${iso(query.from)})`);
    const indices = selectMetrics(catalog, query.metrics);
    const now = this.now();
    const choice = chooseTier(query.from, query.to, query.stepMs, now, this.retention);
    const width = catalog.length;
    const bucketer = new Bucketer(choice.stepMs, width);
    const from = choice.stepMs === undefined ? query.from : floorTo(query.from, choice.stepMs);
    if (host) this.collect(series, host, choice.tier, from, query.to, bucketer);
    const points = bucketer.sorted();
    const stepMs = choice.stepMs ?? (host?.lastIntervalMs || 0);
    return { from: iso(from), to: iso(query.to), step_seconds: stepMs / 1000, source: choice.tier, ...seriesBody(points, catalog, indices) };
  }

  /** Feed one series' rows of a tier in [from, to) into a bucketer: stored rows plus the host's memory. */
  private collect(series: number, host: HostState, tier: Tier, from: number, to: number, out: Bucketer): void {
    const width = widthOf(series);
    if (tier === 'raw') {
      if (isTenantSeries(series)) {
        const row = new Float64Array(width);
        for (const r of this.s.rawRange.iterate(host.id, from, to)) if (findSample(r.samples, series, width, row)) out.addRow(r.at, row);
      } else {
        for (const r of this.s.rawHostRange.iterate(host.id, from, to)) out.addRow(r.at, decodeVector(r.host_values, width));
      }
      return;
    }
    const rows = tier === 'minute' ? this.s.minuteRange : this.s.hourRange;
    const res = tier === 'minute' ? MINUTE_MS : HOUR_MS;
    for (const r of rows.all(series, floorTo(from, res), to)) out.add(r.bucket, decodeAcc(r.data, width), true);
    for (const [minute, bucket] of host.buckets) {
      if (minute < from || minute >= to) continue;
      const acc = bucket.get(series);
      if (acc) out.add(minute, acc, true);
    }
  }

  /** One accumulator over [from, to) from the coarsest tier that fits the window. */
  private windowTotal(series: number, host: HostState, from: number, to: number, now: number): Acc {
    let tier: Tier = to - from > MINUTE_DEFAULT_RANGE_MS ? 'hour' : 'minute';
    if (tier === 'minute' && from < now - this.retention.minuteMs) tier = 'hour';
    const b = new Bucketer(undefined, widthOf(series));
    this.collect(series, host, tier, from, to, b);
    return b.total();
  }

  async fairnessRanking(query: FairnessQuery): Promise<FairnessRanking> {
    const now = this.now();
    const from = now - query.windowMs;
    let candidates = [...this.tenants.values()];
    let hosts: HostState[] = [];
    if (query.host !== undefined) {
      const h = this.hosts.get(query.host);
      if (!h) throw new NotFoundError(`host ${query.host} is not known`);
      candidates = candidates.filter((t) => t.hostId === h.id);
      hosts = [h];
    }
    const ranked = candidates
      .filter((t) => t.debt !== undefined)
      .map((t) => ({ t, debt: decayedDebt(t.debt!, now, this.fairness.halfLifeMs) }))
      .sort((a, b) => b.debt - a.debt || a.t.name.localeCompare(b.t.name))
      .slice(0, query.limit);
    const tenants: FairnessRanking['tenants'] = ranked.map(({ t, debt }, i) => {
      const host = t.hostId === null ? undefined : this.hostsById.get(t.hostId);
      const acc = host ? this.windowTotal(t.id, host, from, now + 1, now) : newAcc(TENANT_WIDTH);
      const sc = (k: number) => TENANT_METRICS[k]!.scale;
      return {
        rank: i + 1,
        tenant: t.name,
        host: host?.name ?? null,
        plan: t.spec?.plan ?? t.reported?.plan ?? null,
        weight: t.weight,
        debt,
        dominant_share: { avg: accAvg(acc, T.dominant_share, sc(T.dominant_share)), max: accMax(acc, T.dominant_share, sc(T.dominant_share)) },
        fair_share: accAvg(acc, T.fair_share, sc(T.fair_share)),
        shares: { cpu: accAvg(acc, T.share_cpu, 1e6), memory: accAvg(acc, T.share_memory, 1e6), io: accAvg(acc, T.share_io, 1e6) },
      };
    });
    if (query.host === undefined) {
      const ids = new Set(ranked.map(({ t }) => t.hostId).filter((id): id is number => id !== null));
      hosts = [...ids].map((id) => this.hostsById.get(id)!).filter(Boolean);
    }
    const hostRows: FairnessRanking['hosts'] = hosts.map((h) => {
      const acc = this.windowTotal(hostSeries(h.id), h, from, now + 1, now);
      return {
        host: h.name,
        jain: { avg: accAvg(acc, H.jain, 1e6), max: accMax(acc, H.jain, 1e6), last: h.lastFair?.jain ?? null },
        fair_share: { avg: accAvg(acc, H.fair_share, 1e6), last: h.lastFair?.fair ?? null },
        active_tenants: { avg: accAvg(acc, H.active_tenants, 1), last: h.lastFair?.active ?? null },
      };
    });
    return { from: iso(from), to: iso(now), window_seconds: query.windowMs / 1000, half_life_seconds: this.fairness.halfLifeMs / 1000, hosts: hostRows, tenants };
  }

  // --- incidents ------------------------------------------------------------------------------------------
  private incidentSummary(r: IncidentRow, hostName?: string): IncidentSummary {
    let summary = '';
    try {
      summary = (JSON.parse(r.explanation) as { summary?: string }).summary ?? '';
    } catch {
      /* stored by us; cannot fail */
    }
    return {
      id: r.id,
      host: hostName ?? this.hostsById.get(r.host_id)?.name ?? '?',
      agent_incident: r.key,
      tenant: r.tenant,
      resource: r.resource as IncidentSummary['resource'],
      rule: r.rule,
      state: r.state,
      step: r.step as IncidentSummary['step'],
      level: r.level,
      manual: r.manual === 1,
      opened_at: iso(r.opened_at),
      updated_at: iso(r.updated_at),
      released_at: isoOrNull(r.released_at),
      until: isoOrNull(r.until),
      events: r.events,
      summary,
    };
  }

  async listIncidents(filter: IncidentFilter = {}): Promise<IncidentSummary[]> {
    const host = filter.host === undefined ? undefined : this.hosts.get(filter.host);
    if (filter.host !== undefined && !host) return [];
    // Incidents that overlap [from, to): opened before `to`, not released before `from`.
    const where = new Where()
      .add('tenant = ?', filter.tenant)
      .add('host_id = ?', host?.id)
      .add('state = ?', filter.state)
      .add('resource = ?', filter.resource)
      .add('opened_at < ?', filter.to)
      .add('(released_at IS NULL OR released_at >= ?)', filter.from);
    return this.db
      .prepare<Array<string | number>, IncidentRow>(`SELECT * FROM incidents ${where} ORDER BY opened_at DESC, id DESC LIMIT ?`)
      .all(...where.params, filter.limit ?? 100)
      .map((r) => this.incidentSummary(r));
  }

  async getIncident(id: number): Promise<IncidentDetail | undefined> {
    const r = this.s.getIncident.get(id);
    if (!r) return undefined;
    const history: StoredEvent[] = this.s.incidentEvents.all(id).map((e) => ({
      ...(JSON.parse(e.body) as IncidentEvent),
      host: this.hostsById.get(e.host_id)?.name ?? '?',
      received_at: iso(e.received),
    }));
    return { ...this.incidentSummary(r), explanation: JSON.parse(r.explanation) as IncidentDetail['explanation'], history };
  }

  // --- audit ----------------------------------------------------------------------------------------------
  async addAudit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    if (this.closed) return;
    this.s.insertAudit.run(Date.parse(e.at), e.who, e.method, e.path, e.status, e.ip, e.detail);
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where = new Where().add('at >= ?', filter.from).add('at < ?', filter.to).add('who = ?', filter.who);
    type Row = { id: number; at: number; who: string; method: string; path: string; status: number; ip: string | null; detail: string | null };
    return this.db
      .prepare<Array<string | number>, Row>(`SELECT * FROM audit ${where} ORDER BY at DESC, id DESC LIMIT ?`)
      .all(...where.params, filter.limit ?? 100)
      .map((r) => ({ ...r, at: iso(r.at) }));
  }

  // --- housekeeping ---------------------------------------------------------------------------------------
  async stats(): Promise<StoreStats> {
    let bytes = 0;
    if (this.file !== ':memory:') {
      for (const f of [this.file, `${this.file}-wal`]) {
        try {
          bytes += statSync(f).size;
        } catch {
          /* no WAL yet */
        }
      }
    }
    let buffered = 0;
    for (const h of this.hosts.values()) buffered += h.buckets.size;
    return {
      bytes,
      hosts: this.hosts.size,
      tenants: this.tenants.size,
      reports: this.s.countReports.get()?.n ?? 0,
      openIncidents: this.s.openIncidents.get()?.n ?? 0,
      bufferedBuckets: buffered,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('store is closed');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.flushSync({ all: true });
    } finally {
      this.closed = true;
      await this.checkpointer?.stop();
      this.db.close();
      this.lock?.close();
    }
  }
}

/** A WHERE clause from optional conditions: each `add` with an undefined value is left out. */
class Where {
  private readonly parts: string[] = [];
  readonly params: Array<string | number> = [];

  add(sql: string, value: string | number | undefined): this {
    if (value !== undefined) {
      this.parts.push(sql);
      this.params.push(value);
    }
    return this;
  }

  toString(): string {
    return this.parts.length ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
}

function num(v: number, scale: number): number | undefined {
  return v === v ? v / scale : undefined;
}

function q(v: number | undefined, scale: number): number {
  return v === undefined ? Number.NaN : Math.round(v * scale);
}

function lastFairOf(hv: Float64Array): LastFair {
  const jain = hv[H.jain]!;
  const fair = hv[H.fair_share]!;
  const active = hv[H.active_tenants]!;
  return { jain: jain === jain ? jain / 1e6 : null, fair: fair === fair ? fair / 1e6 : null, active: active === active ? active : 0 };
}

function effectiveState(row: ActionRow, now: number): ActionStateName {
  if ((row.state === 'pending' || row.state === 'applied') && row.expires_at !== null && row.expires_at <= now) return 'expired';
  return row.state;
}

function manualAction(row: ActionRow): ManualAction {
  return {
    id: row.id,
    tenant: row.tenant,
    action: row.action,
    ...(row.level !== null ? { level: row.level } : {}),
    reason: row.reason,
    ...(row.by !== null ? { by: row.by } : {}),
    created_at: iso(row.created_at),
    ...(row.expires_at !== null ? { expires_at: iso(row.expires_at) } : {}),
  };
}

function actionStatus(row: ActionRow, host: string, now: number): ActionStatus {
  const state = effectiveState(row, now);
  return {
    ...manualAction(row),
    host,
    state,
    state_at: iso(state !== row.state && row.expires_at !== null ? row.expires_at : row.state_at),
    message: row.message,
  };
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
