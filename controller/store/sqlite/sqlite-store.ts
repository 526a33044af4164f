// The SQLite store: one file in WAL mode, numbered migrations, statements prepared once, one writer.
// This class only composes the parts, each over a shared StoreContext (context.ts):
//   connection.ts    lock file, pragmas, migrations (migrations/), the checkpointer (checkpointer.ts)
//   writer-state.ts  the write path's memory, in one owner (the single-writer assumption is stated there)
//   load.ts          start: that memory from the tables, raw rows not yet rolled up replayed
//   ingest.ts        reports: dedupe by (host, seq), samples, the ledger, directory, events, acks
//   rollups.ts       writing minute and hour rollups (what to write: history/rollup-buffer.ts)
//   history.ts       series queries over the tiers, the fairness ranking
//   incidents.ts     incidents and their events
//   actions.ts       manual actions and the agents' acknowledgements of them
//   tenants.ts       tenants, plans and the policy they make (with its ETag cache)
//   trust.ts         what a host's report may touch (screened item by item), unmanaged tenants' expiry
//   hosts.ts         hosts, and the store's numbers for /metrics
//   audit.ts         the admin audit log
//   quarantined-files.ts  infected data: agents' file quarantine entries, admins' restores, deletes and scans
//   retention.ts     dropping what is past its span
//   notices.ts       the notices' outbox (the NoticeStore, and the NoticeTx hooks write through)
//   remediation.ts   remediation cases (the RemediationStore) and the key of the tenants' links
//   ui.ts            the dashboard: admins' sessions, signing keys, tenant links and their revocations
//   damage.ts        rows that cannot be read: skipped, logged once, counted (GET /healthz damaged_rows)
//   maintenance.ts   PRAGMA quick_check after an unclean shutdown and for --check; online backups (--backup)
import type { Logger } from 'pino';
import type { Policy } from '../../../shared/wire/agent.js';
import type {
  ActionStatus,
  AuditEntry,
  FairnessRanking,
  HostDetail,
  HostInfo,
  IncidentDetail,
  IncidentSummary,
  PlanEntry,
  PlanPut,
  SeriesResponse,
  TenantDetail,
  TenantInfo,
  TenantPut,
} from '../../../shared/wire/api.js';
import { DEFAULT_RETENTION, MINUTE_MS } from '../../history/rollup.js';
import type { PreparedReport } from '../../ingest/prepare.js';
import { DEFAULT_TENANT_LIMITS } from '../../trust.js';
import {
  DEFAULT_FAIRNESS,
  DEFAULT_FLUSH_INTERVAL_MS,
  type ActionFilter,
  type ActionInput,
  type ActionQueuedHook,
  type AuditFilter,
  type FairnessQuery,
  type FlushResult,
  type HistoryQuery,
  type IncidentEventsHook,
  type IncidentFilter,
  type IngestResult,
  type QuarantinedFileFilter,
  type RetentionResult,
  type Store,
  type StoreOptions,
  type StoreHealth,
  type StoreStats,
  type TenantFilter,
} from '../store.js';
import { Actions } from './actions.js';
import { Audit } from './audit.js';
import { Connection } from './connection.js';
import { DamagedRows } from './damage.js';
import { damagedFileError, isDamageCode } from './maintenance.js';
import { Hooks, type StoreContext } from './context.js';
import { FairnessRankings, History } from './history.js';
import { Hosts, Stats } from './hosts.js';
import { Incidents } from './incidents.js';
import { Ingest } from './ingest.js';
import { loadState } from './load.js';
import { SqliteNotices } from './notices.js';
import { SqliteRemediation } from './remediation.js';
import { Retention } from './retention.js';
import { Rollups } from './rollups.js';
import { QuarantinedFiles } from './quarantined-files.js';
import type { FileRequestStatus, QuarantinedFile } from '../../../shared/wire/files.js';
import { Policies, Tenants } from './tenants.js';
import { Trust } from './trust.js';
import { SqliteUi } from './ui.js';
import { Web } from './web.js';
import { WriterState } from './writer-state.js';
import type { ApiUsagePush, ApiUsagePushAnswer, HostWebStats, WebUsage } from '../../../shared/wire/web.js';

export { IDLE_FLUSH_MS, MAX_CLOCK_AHEAD_MS } from '../../history/rollup-buffer.js';

export interface SqliteStoreOptions extends StoreOptions {
  /** Database file; ':memory:' works for throwaway use. */
  file: string;
  log?: Logger | undefined;
  /** SQLite page cache, MiB (default 64). */
  cacheMiB?: number;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly file: string;
  /** The connection, for tests and tools that look at the tables; the store's users go through the Store interface. */
  readonly db: StoreContext['db'];
  readonly notices: SqliteNotices;
  readonly remediation: SqliteRemediation;
  readonly ui: SqliteUi;
  private readonly connection: Connection;
  private readonly ctx: StoreContext;
  private closed = false;
  private readonly hosts: Hosts;
  private readonly tenants: Tenants;
  private readonly incidents: Incidents;
  private readonly actions: Actions;
  private readonly rollups: Rollups;
  private readonly ingester: Ingest;
  private readonly history: History;
  private readonly rankings: FairnessRankings;
  private readonly policies: Policies;
  private readonly audit: Audit;
  private readonly retention: Retention;
  private readonly statistics: Stats;
  private readonly trust: Trust;
  private readonly files: QuarantinedFiles;
  private readonly web: Web;

  constructor(opts: SqliteStoreOptions) {
    this.file = opts.file;
    this.connection = new Connection({ file: opts.file, log: opts.log, cacheMiB: opts.cacheMiB });
    this.db = this.connection.db;
    try {
      this.notices = new SqliteNotices(this.db);
      this.ctx = {
        db: this.db,
        file: opts.file,
        state: new WriterState(),
        now: opts.now ?? Date.now,
        log: opts.log,
        retention: { ...DEFAULT_RETENTION, ...opts.retention },
        fairness: { ...DEFAULT_FAIRNESS, ...opts.fairness },
        flushIntervalMs: Math.max(MINUTE_MS, opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS),
        hooks: new Hooks(this.notices),
        closed: () => this.closed,
        damaged: new DamagedRows(opts.log),
      };
      const ctx = this.ctx;
      this.hosts = new Hosts(ctx);
      this.tenants = new Tenants(ctx, this.hosts);
      this.incidents = new Incidents(ctx);
      this.actions = new Actions(ctx);
      this.rollups = new Rollups(ctx);
      this.files = new QuarantinedFiles(ctx);
      this.trust = new Trust(ctx, this.tenants, { ...DEFAULT_TENANT_LIMITS, ...opts.tenants });
      this.web = new Web(ctx);
      this.ingester = new Ingest(ctx, { hosts: this.hosts, tenants: this.tenants, incidents: this.incidents, actions: this.actions, rollups: this.rollups, trust: this.trust, files: this.files, web: this.web });
      this.history = new History(ctx);
      this.rankings = new FairnessRankings(ctx, this.history);
      this.policies = new Policies(ctx, this.files);
      this.audit = new Audit(ctx);
      this.retention = new Retention(ctx);
      this.statistics = new Stats(ctx, this.connection);
      this.remediation = new SqliteRemediation(ctx);
      this.ui = new SqliteUi(ctx);
      loadState(ctx, this.rollups);
      this.connection.startCheckpoints();
    } catch (err) {
      this.connection.closeNow();
      // A page SQLite cannot read while loading (a damaged file that was closed cleanly): say what to do.
      if (isDamageCode(err)) throw damagedFileError(opts.file, [(err as Error).message], err);
      throw err;
    }
  }

  // --- hooks ----------------------------------------------------------------------------------------------
  onIncidentEvents(hook: IncidentEventsHook): () => void {
    return this.ctx.hooks.onIncidentEvents(hook);
  }

  onActionQueued(hook: ActionQueuedHook): () => void {
    return this.ctx.hooks.onActionQueued(hook);
  }

  // --- ingest and rollups ---------------------------------------------------------------------------------
  async ingest(p: PreparedReport): Promise<IngestResult> {
    return this.ingester.ingest(p);
  }

  flushDue(): boolean {
    return this.rollups.flushDue();
  }

  async flush(opts: { all?: boolean; maxHosts?: number } = {}): Promise<FlushResult> {
    return this.rollups.flush(opts);
  }

  async applyRetention(now = this.ctx.now()): Promise<RetentionResult> {
    return this.retention.apply(now);
  }

  async expireTenants(now = this.ctx.now()): Promise<{ expired: number; names: string[] }> {
    return this.trust.expire(now);
  }

  // --- web tier --------------------------------------------------------------------------------------------
  async webUsage(tenant: string, from: number, to: number): Promise<WebUsage | undefined> {
    return this.web.usage(tenant, from, to);
  }

  async hostWebStats(host: string): Promise<HostWebStats | undefined> {
    return this.web.hostStats(host);
  }

  async pushApiCalls(push: ApiUsagePush, by: string): Promise<ApiUsagePushAnswer> {
    return this.web.push(push, by);
  }

  // --- hosts, tenants, plans, policy ----------------------------------------------------------------------
  async listHosts(): Promise<HostInfo[]> {
    return this.hosts.list();
  }

  async getHost(name: string): Promise<HostDetail | undefined> {
    return this.hosts.get(name);
  }

  async listTenants(filter: TenantFilter = {}): Promise<{ tenants: TenantInfo[]; total: number }> {
    return this.tenants.list(filter);
  }

  async getTenant(name: string): Promise<TenantDetail | undefined> {
    return this.tenants.get(name);
  }

  async putTenant(name: string, body: TenantPut): Promise<{ tenant: TenantInfo; created: boolean }> {
    return this.tenants.put(name, body);
  }

  async deleteTenant(name: string): Promise<boolean> {
    return this.tenants.delete(name);
  }

  async listPlans(): Promise<PlanEntry[]> {
    return this.tenants.listPlans();
  }

  async putPlan(name: string, body: PlanPut): Promise<{ plan: PlanEntry; created: boolean }> {
    return this.tenants.putPlan(name, body);
  }

  async getPolicy(hostName: string): Promise<{ policy: Policy; etag: string }> {
    return this.policies.get(hostName);
  }

  // --- manual actions -------------------------------------------------------------------------------------
  async queueAction(tenantName: string, req: ActionInput, by: string): Promise<ActionStatus> {
    return this.actions.queue(tenantName, req, by);
  }

  async listActions(filter: ActionFilter = {}): Promise<ActionStatus[]> {
    return this.actions.list(filter);
  }

  async getAction(id: string): Promise<ActionStatus | undefined> {
    return this.actions.get(id);
  }

  // --- infected data (file quarantine) ---------------------------------------------------------------------
  async listQuarantinedFiles(filter: QuarantinedFileFilter = {}): Promise<QuarantinedFile[]> {
    return this.files.list(filter);
  }

  async getQuarantinedFile(id: string): Promise<QuarantinedFile | undefined> {
    return this.files.get(id);
  }

  async requestFileAction(id: string, action: 'restore' | 'delete', by: string): Promise<FileRequestStatus> {
    return this.files.requestFile(id, action, by);
  }

  async requestScan(tenant: string, by: string): Promise<FileRequestStatus> {
    return this.files.requestScan(tenant, by);
  }

  async getFileRequest(id: string): Promise<FileRequestStatus | undefined> {
    return this.files.getRequest(id);
  }

  // --- history and fairness -------------------------------------------------------------------------------
  async tenantHistory(name: string, query: HistoryQuery): Promise<SeriesResponse | undefined> {
    return this.history.tenant(name, query);
  }

  async hostHistory(name: string, query: HistoryQuery): Promise<SeriesResponse | undefined> {
    return this.history.host(name, query);
  }

  async fairnessRanking(query: FairnessQuery): Promise<FairnessRanking> {
    return this.rankings.rank(query);
  }

  // --- incidents and audit --------------------------------------------------------------------------------
  async listIncidents(filter: IncidentFilter = {}): Promise<IncidentSummary[]> {
    return this.incidents.list(filter);
  }

  async getIncident(id: number): Promise<IncidentDetail | undefined> {
    return this.incidents.get(id);
  }

  async addAudit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    this.audit.add(e);
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.audit.list(filter);
  }

  // --- housekeeping ---------------------------------------------------------------------------------------
  damagedRows(): number {
    return this.ctx.damaged.count;
  }

  /** An embedded file: it answers whenever the store is open. */
  async health(): Promise<StoreHealth> {
    return { database: 'ok' };
  }

  async stats(): Promise<StoreStats> {
    return this.statistics.get();
  }

  /** Write everything held in memory, then close. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.rollups.flush({ all: true });
    } finally {
      this.closed = true;
      await this.connection.close();
    }
  }
}
