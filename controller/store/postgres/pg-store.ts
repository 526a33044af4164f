// The PostgreSQL store (DESIGN 7, issue 15): the Store interface over one database that several controllers
// may share at once. This class only composes the parts:
//   db.ts         the pool (TLS, password file), migrations under an advisory lock
//   ingest.ts     reports: dedupe by (host, seq), samples, the fairness ledger, the tenant directory, rollups
//   ledger.ts     the fairness ledger, one row per host (host_ledgers); rows.ts reads a tenant with its entry
//   catalog.ts    hosts, tenants, plans, manual actions and the policy (with its ETag)
//   history.ts    series queries over the tiers, the fairness ranking
//   incidents.ts  incidents and their events; ingest-hooks.ts runs the hooks (the notices) in the transaction
//   files.ts      infected data: quarantined files, restores, deletes and scans
//   web.ts        the web tier's access-log minutes, pushed API calls, reader counts
//   notices.ts, remediation.ts, ui.ts, audit.ts   the outbox, cases, dashboard rows and audit log
//
// SEVERAL CONTROLLERS. Nothing of the write path lives in this process's memory; the database holds it all:
//   - a report is one transaction, under a transaction-level advisory lock on its host (HOST_LOCK,
//     hashtext(host)): two controllers given reports of one host (or one report and its retry) take turns, and
//     the second sees what the first committed. The report row is inserted ON CONFLICT (host_id, seq) DO
//     NOTHING RETURNING id, and the same statement queues it for its rollups (rollup_queue) only when it
//     inserted it: a report is stored and counted once, whichever controller gets it, in two round trips
//     (pipelined: BEGIN with the lock, and host, prior seq, ledger, plans and tenants in one statement; then
//     the report, its queue row, the ledger and last_seen in one, and COMMIT); a controller killed mid-ingest
//     loses only its uncommitted transaction (the agent resends it);
//   - rollups are written by draining the queue in batches (rollups.ts) under an advisory lock (ROLLUP_LOCK):
//     whichever controller takes it; the queue rows leave in the transaction that merges their samples, so
//     nothing is counted twice or lost when a drainer dies. flushDue() says this controller stored reports
//     since its last drain (at most one drain in 5 s from reports: a batch, not a report, per drain; of the
//     minutes that are over, of hosts whose oldest queued minute is rollup.flush_interval old, whole hosts at a
//     time, so a minute's row is written about once and an hour's once per flush interval);
//     history reads the queued reports beside the rollups in one statement;
//   - the tenants' fairness debt is read and written in the report's transaction, one row per host
//     (host_ledgers, migration 3; rows.ts TENANT_FROM reads a tenant's entry);
//   - hosts, tenants and plans are read from the tables on every call, so a change made through another
//     controller is seen at once, and a policy's ETag (a hash of its content) is the same from either;
//   - new tenant ids come from a sequence (tenant_ids: never reused, no lock held), names are unique (ON CONFLICT);
//   - retention and tenant expiry are plain idempotent statements in one transaction under an advisory lock
//     (RETENTION_LOCK): run by two controllers, the second finds nothing left to do;
//   - the notices' outbox claims with FOR UPDATE SKIP LOCKED (notices.ts).
// The SQLite store buffers minutes in memory instead (sqlite/writer-state.ts), which one writer can afford.
import type { Logger } from 'pino';
import type { Policy } from '../../../shared/wire/agent.js';
import type { ActionStatus, AuditEntry, FairnessRanking, HostDetail, HostInfo, IncidentDetail, IncidentSummary, PlanEntry, PlanPut, SeriesResponse, TenantDetail, TenantInfo, TenantPut } from '../../../shared/wire/api.js';
import type { FileRequestStatus, QuarantinedFile } from '../../../shared/wire/files.js';
import type { ApiUsagePush, ApiUsagePushAnswer, HostWebStats, WebUsage } from '../../../shared/wire/web.js';
import { DEFAULT_RETENTION, floorTo, MINUTE_MS } from '../../history/rollup.js';
import { IDLE_FLUSH_MS } from '../../history/rollup-buffer.js';
import type { PreparedReport } from '../../ingest/prepare.js';
import { DEFAULT_TENANT_LIMITS, type TenantLimits } from '../../trust.js';
import { StoreUnavailableError } from '../errors.js';
import {
  DEFAULT_FAIRNESS,
  DEFAULT_FLUSH_INTERVAL_MS,
  type ActionFilter,
  type ActionInput,
  type ActionQueuedHook,
  type AuditFilter,
  type FairnessOptions,
  type FairnessQuery,
  type FlushResult,
  type HistoryQuery,
  type IncidentEventsHook,
  type IncidentFilter,
  type IngestResult,
  type QuarantinedFileFilter,
  type RetentionResult,
  type RetentionSpans,
  type Store,
  type StoreOptions,
  type StoreHealth,
  type StoreStats,
  type TenantFilter,
} from '../store.js';
import { PgAudit } from './audit.js';
import { PgCatalog } from './catalog.js';
import type { PostgresConfig } from './config.js';
import { PgDatabase } from './db.js';
import { PgHistory } from './history.js';
import { PgFiles } from './files.js';
import { PgIncidents } from './incidents.js';
import { PgIngest } from './ingest.js';
import { PgWeb } from './web.js';
import { PgNotices } from './notices.js';
import { PgRemediation } from './remediation.js';
import { DRAIN_BATCH, drainAll, drainOnce } from './rollups.js';
import { TENANT_FROM } from './rows.js';
import { PgUi } from './ui.js';

/** Reports trigger a drain at most this often (ms); the periodic flush and reads cover the rest. */
const DRAIN_EVERY_MS = 5000;
/** A drain leaves the reports of the current minute, and of the minute before for this long into a minute. */
const DRAIN_GRACE_MS = 10_000;

/** The advisory lock of retention and tenant expiry ('hwret'). */
export const RETENTION_LOCK = 0x6877726574;

export interface PgStoreOptions extends StoreOptions {
  log?: Logger | undefined;
}

export class PgStore implements Store {
  readonly kind = 'postgres';
  readonly notices: PgNotices;
  readonly remediation: PgRemediation;
  readonly ui: PgUi;
  private readonly now: () => number;
  private readonly retention: RetentionSpans;
  /** A host's finished minutes stay queued this long before a drain writes them (rollup.flush_interval). */
  private readonly flushIntervalMs: number;
  private readonly fairness: FairnessOptions;
  private readonly limits: TenantLimits;
  private readonly incidentHooks = new Set<IncidentEventsHook>();
  private readonly actionHooks = new Set<ActionQueuedHook>();
  private readonly ingester: PgIngest;
  private readonly catalog: PgCatalog;
  private readonly history: PgHistory;
  private readonly audit: PgAudit;
  private readonly incidents: PgIncidents;
  private readonly files: PgFiles;
  private readonly web: PgWeb;
  private closed = false;
  /** Reports stored since this controller's last drain; when it drained (performance.now()). */
  private queued = false;
  private lastDrain = Number.NEGATIVE_INFINITY;
  /** Tenants no report has mentioned since this store opened count as seen at its opening (as in SQLite). */
  private readonly openedAt: number;

  constructor(
    readonly db: PgDatabase,
    opts: PgStoreOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.retention = { ...DEFAULT_RETENTION, ...opts.retention };
    this.flushIntervalMs = Math.max(MINUTE_MS, opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    this.fairness = { ...DEFAULT_FAIRNESS, ...opts.fairness };
    this.limits = { ...DEFAULT_TENANT_LIMITS, ...opts.tenants };
    this.openedAt = this.now();
    this.notices = new PgNotices(db);
    this.remediation = new PgRemediation(db, { now: this.now });
    this.ui = new PgUi(db);
    this.audit = new PgAudit(db);
    this.incidents = new PgIncidents(db, this.fairness.halfLifeMs);
    this.files = new PgFiles(db, this.now);
    this.web = new PgWeb(db, this.now);
    this.ingester = new PgIngest(
      db,
      { now: this.now, fairness: this.fairness, limits: this.limits },
      { incidents: this.incidents, files: this.files, web: this.web, notices: this.notices, incidentHooks: this.incidentHooks },
    );
    this.catalog = new PgCatalog(db, { now: this.now, halfLifeMs: this.fairness.halfLifeMs, actionHooks: this.actionHooks, files: this.files });
    this.history = new PgHistory(db, { now: this.now, retention: this.retention, halfLifeMs: this.fairness.halfLifeMs });
  }

  /** Connect and migrate (db.ts), then the store over it. */
  static async open(config: PostgresConfig, opts: PgStoreOptions = {}): Promise<PgStore> {
    return new PgStore(await PgDatabase.open(config, opts.log), opts);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('HW_STORE_CLOSED', 'store is closed');
  }

  onIncidentEvents(hook: IncidentEventsHook): () => void {
    this.incidentHooks.add(hook);
    return () => this.incidentHooks.delete(hook);
  }

  onActionQueued(hook: ActionQueuedHook): () => void {
    this.actionHooks.add(hook);
    return () => this.actionHooks.delete(hook);
  }

  async ingest(p: PreparedReport): Promise<IngestResult> {
    this.assertOpen();
    const r = await this.ingester.ingest(p);
    if (!r.duplicate) this.queued = true;
    return r;
  }

  /** This controller stored reports since its last drain, and that drain was at least a second ago. */
  flushDue(): boolean {
    return this.queued && performance.now() - this.lastDrain >= DRAIN_EVERY_MS;
  }

  /** Drain the rollup queue (rollups.ts): one batch, or with `all` until it is empty. */
  async flush(opts: { all?: boolean } = {}): Promise<FlushResult> {
    this.assertOpen();
    this.lastDrain = performance.now();
    const now = this.now();
    const before = floorTo(now - DRAIN_GRACE_MS, MINUTE_MS);
    const window = { before, dueBefore: before - this.flushIntervalMs + MINUTE_MS, idleBefore: now - IDLE_FLUSH_MS };
    const r = opts.all ? await drainAll(this.db) : await drainOnce(this.db, DRAIN_BATCH, window);
    const more = !r.busy && r.reports >= DRAIN_BATCH;
    if (!more) this.queued = false;
    return { hosts: r.hosts, minuteRows: r.minuteRows, hourRows: r.hourRows, remaining: more ? 1 : 0 };
  }

  /**
   * Drop what is past its span: raw rows at their span once drained into the rollups; a host's newest dropped
   * seq and time are kept first (idempotency outlives the rows).
   */
  async applyRetention(now = this.now()): Promise<RetentionResult> {
    this.assertOpen();
    const { rawMs, minuteMs, hourMs } = this.retention;
    return this.db.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [RETENTION_LOCK]);
      const count = async (sql: string, params: unknown[]) => (await c.query(sql, params)).rowCount ?? 0;
      const rawCut = now - rawMs;
      await c.query(
        `UPDATE hosts h SET retired_seq = greatest(coalesce(h.retired_seq, 0), d.seq), retired_at = greatest(coalesce(h.retired_at, d.at), d.at)
         FROM (SELECT host_id, max(seq) AS seq, max(at) AS at FROM reports WHERE at < $1 GROUP BY host_id) d WHERE h.id = d.host_id`,
        [rawCut],
      );
      // A report still queued for its rollups stays until it is drained.
      const raw = await count('DELETE FROM reports r WHERE r.at < $1 AND NOT EXISTS (SELECT 1 FROM rollup_queue q WHERE q.report_id = r.id)', [rawCut]);
      const minuteCut = now - minuteMs;
      const hourCut = now - hourMs;
      const minute = (await count('DELETE FROM minute WHERE bucket < $1', [minuteCut])) + (await count('DELETE FROM web_minutes WHERE minute < $1', [minuteCut]));
      const hour = await count('DELETE FROM hour WHERE bucket < $1', [hourCut]);
      const expiredActions = await count(
        "UPDATE actions SET state = 'expired', state_at = expires_at WHERE state IN ('pending', 'applied') AND expires_at IS NOT NULL AND expires_at <= $1",
        [now],
      );
      let records = 0;
      records += await count("DELETE FROM incident_events WHERE incident_id IN (SELECT id FROM incidents WHERE state = 'released' AND released_at < $1)", [hourCut]);
      records += await count("DELETE FROM incidents WHERE state = 'released' AND released_at < $1", [hourCut]);
      records += await count("DELETE FROM actions WHERE state NOT IN ('pending', 'applied') AND state_at < $1", [hourCut]);
      records += await count('DELETE FROM audit WHERE at < $1', [hourCut]);
      records += await count("DELETE FROM quarantined_files WHERE state IN ('restored', 'deleted') AND reported_at < $1", [hourCut]);
      records += await count(
        `DELETE FROM file_requests WHERE state <> 'pending' AND state_at < $1
           AND (file_id IS NULL OR NOT EXISTS (SELECT 1 FROM quarantined_files q WHERE q.id = file_requests.file_id AND q.state = 'quarantined'))`,
        [hourCut],
      );
      records += await count('DELETE FROM api_pushes WHERE at < $1', [minuteCut]);
      await c.query('DELETE FROM retired_tenants WHERE retired_at < $1', [now - Math.max(rawMs, minuteMs, hourMs)]);
      return { raw, minute, hour, expiredActions, records };
    });
  }

  /** The unmanaged tenants not mentioned (sample, directory) for tenants.unmanaged_ttl: retired, then deleted. */
  async expireTenants(now = this.now()): Promise<{ expired: number; names: string[] }> {
    this.assertOpen();
    const ttl = this.limits.unmanagedTtlMs;
    if (!(ttl > 0)) return { expired: 0, names: [] };
    const cut = now - ttl;
    const openedAt = this.openedAt;
    return this.db.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [RETENTION_LOCK]);
      const r = await c.query<{ name: string }>(
        `WITH stale AS (
           SELECT t.id, t.name, t.host_id FROM ${TENANT_FROM} WHERE t.spec IS NULL
             AND coalesce(greatest(t.last_seen, l.debt_ats[p.k], t.first_seen, t.directory_seen_at), $3) < $2
           FOR UPDATE OF t),
         retired AS (INSERT INTO retired_tenants (id, name, host_id, retired_at) SELECT id, name, host_id, $1 FROM stale
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, host_id = excluded.host_id, retired_at = excluded.retired_at)
         DELETE FROM tenants t USING stale WHERE t.id = stale.id RETURNING t.name`,
        [now, cut, openedAt],
      );
      const names = r.rows.map((x) => x.name).sort();
      return { expired: names.length, names: names.slice(0, 20) };
    });
  }

  damagedRows(): number {
    return 0;
  }

  listHosts(): Promise<HostInfo[]> {
    return this.catalog.listHosts();
  }
  getHost(name: string): Promise<HostDetail | undefined> {
    return this.catalog.getHost(name);
  }
  listTenants(filter: TenantFilter = {}): Promise<{ tenants: TenantInfo[]; total: number }> {
    return this.catalog.listTenants(filter);
  }
  getTenant(name: string): Promise<TenantDetail | undefined> {
    return this.catalog.getTenant(name);
  }
  async putTenant(name: string, spec: TenantPut): Promise<{ tenant: TenantInfo; created: boolean }> {
    this.assertOpen();
    return this.catalog.putTenant(name, spec);
  }
  async deleteTenant(name: string): Promise<boolean> {
    this.assertOpen();
    return this.catalog.deleteTenant(name);
  }
  listPlans(): Promise<PlanEntry[]> {
    return this.catalog.listPlans();
  }
  async putPlan(name: string, plan: PlanPut): Promise<{ plan: PlanEntry; created: boolean }> {
    this.assertOpen();
    return this.catalog.putPlan(name, plan);
  }
  async getPolicy(host: string): Promise<{ policy: Policy; etag: string }> {
    this.assertOpen();
    return this.catalog.getPolicy(host);
  }
  async queueAction(tenant: string, request: ActionInput, by: string): Promise<ActionStatus> {
    this.assertOpen();
    return this.catalog.queueAction(tenant, request, by);
  }
  listActions(filter: ActionFilter = {}): Promise<ActionStatus[]> {
    return this.catalog.listActions(filter);
  }
  getAction(id: string): Promise<ActionStatus | undefined> {
    return this.catalog.getAction(id);
  }

  async listQuarantinedFiles(filter: QuarantinedFileFilter = {}): Promise<QuarantinedFile[]> {
    return this.files.list(filter);
  }
  async getQuarantinedFile(id: string): Promise<QuarantinedFile | undefined> {
    return this.files.get(id);
  }
  async requestFileAction(id: string, action: 'restore' | 'delete', by: string): Promise<FileRequestStatus> {
    this.assertOpen();
    return this.files.requestFile(id, action, by);
  }
  async requestScan(tenant: string, by: string): Promise<FileRequestStatus> {
    this.assertOpen();
    return this.files.requestScan(tenant, by);
  }
  async getFileRequest(id: string): Promise<FileRequestStatus | undefined> {
    return this.files.getRequest(id);
  }

  tenantHistory(tenant: string, query: HistoryQuery): Promise<SeriesResponse | undefined> {
    return this.history.tenant(tenant, query);
  }
  hostHistory(host: string, query: HistoryQuery): Promise<SeriesResponse | undefined> {
    return this.history.host(host, query);
  }
  fairnessRanking(query: FairnessQuery): Promise<FairnessRanking> {
    return this.history.rank(query);
  }

  async webUsage(tenant: string, from: number, to: number): Promise<WebUsage | undefined> {
    this.assertOpen();
    return this.web.usage(tenant, from, to);
  }
  async hostWebStats(host: string): Promise<HostWebStats | undefined> {
    this.assertOpen();
    return this.web.hostStats(host);
  }
  async pushApiCalls(push: ApiUsagePush, by: string): Promise<ApiUsagePushAnswer> {
    this.assertOpen();
    return this.web.push(push, by);
  }
  listIncidents(filter: IncidentFilter = {}): Promise<IncidentSummary[]> {
    return this.incidents.list(filter);
  }
  getIncident(id: number): Promise<IncidentDetail | undefined> {
    return this.incidents.get(id);
  }

  async addAudit(entry: Omit<AuditEntry, 'id'>): Promise<void> {
    await this.audit.add(entry);
  }
  listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.audit.list(filter);
  }

  /** One round trip (`SELECT 1`); unreachable when the pool cannot connect or the server does not answer. */
  async health(): Promise<StoreHealth> {
    try {
      await this.db.query('SELECT 1');
      return { database: 'ok' };
    } catch (err) {
      return { database: 'unreachable', message: (err as Error).message };
    }
  }

  async stats(): Promise<StoreStats> {
    const [r] = await this.db.query<{ bytes: number; hosts: number; tenants: number; reports: number; open: number }>(
      `SELECT pg_database_size(current_database())::bigint AS bytes, (SELECT count(*)::int FROM hosts) AS hosts, (SELECT count(*)::int FROM tenants) AS tenants,
              (SELECT count(*)::int FROM reports) AS reports, (SELECT count(*)::int FROM incidents WHERE state = 'open') AS open`,
    );
    return { bytes: r!.bytes, hosts: r!.hosts, tenants: r!.tenants, reports: r!.reports, openIncidents: r!.open, bufferedBuckets: 0 };
  }

  /** Nothing is held in memory: closing is closing the pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }
}

