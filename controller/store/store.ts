// The controller's store, behind one interface so a PostgreSQL store can follow the SQLite one (DESIGN 7).
// Every method is async for that reason; the SQLite store (sqlite/) does its work synchronously inside them.
// Nothing here names a driver: hooks get an abstract transaction handle, the notices' outbox is part of the
// interface (notice-store.ts), and refusals are the store's own errors (errors.ts), never HTTP statuses.
//
// Reads return API shapes (shared/wire/api.ts). Times in arguments are milliseconds since the epoch; the
// store takes an injected clock (`StoreOptions.now`) so tests can ingest "yesterday" and run retention
// "next month".
import type { ApiUsagePush, ApiUsagePushAnswer, HostWebStats, WebUsage } from '../../shared/wire/web.js';
import type { ManualAction, Policy } from '../../shared/wire/agent.js';
import type { RetentionSpans } from '../history/rollup.js';
import type { PreparedReport } from '../ingest/prepare.js';
import type { Rejections, TenantLimits } from '../trust.js';
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
  StoredEvent,
  TenantDetail,
  TenantInfo,
  TenantPut,
} from '../../shared/wire/api.js';
import type { NoticeStore, NoticeTx } from './notice-store.js';
import type { RemediationStore } from './remediation-store.js';
import type { UiStore } from './ui-store.js';
import type { FileRequestStatus, QuarantinedFile } from '../../shared/wire/files.js';

export interface QuarantinedFileFilter {
  tenant?: string | undefined;
  host?: string | undefined;
  state?: string | undefined;
  limit?: number | undefined;
}

export { DEFAULT_RETENTION, type RetentionSpans } from '../history/rollup.js';

export interface FairnessOptions {
  halfLifeMs: number;
  /** A tenant is active when its largest unweighted share is at least this (default 0.001). */
  activeThreshold: number;
}

export interface StoreOptions {
  now?: () => number;
  retention?: Partial<RetentionSpans>;
  fairness?: Partial<FairnessOptions>;
  /**
   * How much closed minute rollup a host accumulates in memory before it is written (default 15 min). Longer
   * means fewer pages written per sample, more memory and a longer replay of raw rows after a crash.
   */
  flushIntervalMs?: number;
  /** Unmanaged tenants: expiry and the per-host cap (controller/trust.ts; default DEFAULT_TENANT_LIMITS). */
  tenants?: Partial<TenantLimits>;
}

export const DEFAULT_FAIRNESS: FairnessOptions = { halfLifeMs: 24 * 3_600_000, activeThreshold: 0.001 };
export const DEFAULT_FLUSH_INTERVAL_MS = 15 * 60_000;

export interface IngestResult {
  accepted: boolean;
  duplicate: boolean;
  seq: number;
  samples: number;
  events: number;
  acks: number;
  /** Items of the report refused one by one (controller/trust.ts); absent when none was. */
  rejected?: Rejections;
  /** The access-log counts the report added (its `web` rows of this host's tenants) and its reader's counts. */
  web?: { requests: number; api_calls: number; bytes: number; errors_5xx: number; unparsed: number; truncations: number; lost_files: number };
}

export interface FlushResult {
  hosts: number;
  minuteRows: number;
  hourRows: number;
  /** Hosts still due (a bounded flush leaves the rest for the next call). */
  remaining: number;
}

export interface RetentionResult {
  raw: number;
  minute: number;
  hour: number;
  /** Action states brought up to date (pending/applied past their expiry -> expired). */
  expiredActions: number;
  /**
   * Records kept as long as the hour rollups: released incidents (with their events), finished manual actions
   * and audit entries older than the hour span are dropped.
   */
  records: number;
}

export interface StoreStats {
  /** Database plus write-ahead log, bytes. */
  bytes: number;
  hosts: number;
  tenants: number;
  reports: number;
  openIncidents: number;
  /** Closed and open minute buckets held in memory, awaiting a flush. */
  bufferedBuckets: number;
}

export interface StoreHealth {
  database: 'ok' | 'unreachable';
  /** Why not, when unreachable (no credentials in it). */
  message?: string | undefined;
}

export interface HistoryQuery {
  from: number;
  to: number;
  /** Width of a point; undefined = choose from the range (raw up to 2 h, minutes up to 3 d, else hours). */
  stepMs?: number | undefined;
  /** Resource groups (cpu, memory, io, ..., fairness) or series names; undefined = all. */
  metrics?: string[] | undefined;
}

export interface FairnessQuery {
  host?: string | undefined;
  windowMs: number;
  limit: number;
}

export interface TenantFilter {
  host?: string | undefined;
  managed?: boolean | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export interface IncidentFilter {
  tenant?: string | undefined;
  host?: string | undefined;
  state?: 'open' | 'released' | undefined;
  resource?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  limit?: number | undefined;
}

export interface ActionFilter {
  tenant?: string | undefined;
  host?: string | undefined;
}

export interface AuditFilter {
  from?: number | undefined;
  to?: number | undefined;
  who?: string | undefined;
  limit?: number | undefined;
}

/**
 * What a hook receives inside the ingest (or action) transaction: the store's clock at the start of the
 * transaction and the parts of the store it may write in that same transaction (a notice written through
 * `notices` commits or rolls back with the report that carries its event).
 */
export interface TxContext {
  now: number;
  notices: NoticeTx;
  /**
   * Run `fn` once the transaction committed (never when it rolls back): what must see the committed rows, e.g.
   * waking the notice sender. The SQLite store commits synchronously after the hooks; the PostgreSQL store
   * only after more round trips, so a setImmediate would come too early there.
   */
  afterCommit(fn: () => void): void;
}

/** A manual action as an admin asks for it; the route parses the API's ttl into `ttlMs`. */
export interface ActionInput {
  action: ManualAction['action'];
  /** Throttles only (default 1). */
  level?: number | undefined;
  reason: string;
  /** How long it lasts, ms (throttles and quarantines only); undefined = until released. */
  ttlMs?: number | undefined;
}

/** A newly stored incident event (never a repeat) with the incident it belongs to, after the update. */
export interface NewIncidentEvent {
  event: StoredEvent;
  incident: IncidentSummary;
}

/**
 * Hooks run synchronously inside the transaction that stores what they are told about. They must not block
 * or await; a hook that throws rolls the transaction back (the agent retries the report, the admin sees a
 * 500), so catch what you can handle.
 */
export type IncidentEventsHook = (events: NewIncidentEvent[], tx: TxContext) => void;
export type ActionQueuedHook = (action: ActionStatus, tx: TxContext) => void;

export interface Store {
  readonly kind: string;

  /**
   * Store a report once per (host, seq). A repeated seq with another `at` is a ConflictStateError
   * (seq_conflict); a report dated too far ahead of the store's clock is an InvalidError.
   */
  ingest(report: PreparedReport): Promise<IngestResult>;
  /** True when some host has closed minute rollups due to be written. */
  flushDue(): boolean;
  /** Write due rollups; `all` writes everything in memory (shutdown); `maxHosts` bounds one call. */
  flush(opts?: { all?: boolean; maxHosts?: number }): Promise<FlushResult>;
  /** Drop what is past its retention span, relative to `now` (default: the store's clock). */
  applyRetention(now?: number): Promise<RetentionResult>;
  /**
   * Delete the unmanaged tenants no report mentioned for tenants.unmanaged_ttl before `now` (default: the
   * store's clock), with their directory entries; their history stays until retention drops it.
   */
  expireTenants(now?: number): Promise<{ expired: number; names: string[] }>;
  /** Rows skipped since the store opened because they cannot be read (damaged; GET /healthz shows it). */
  damagedRows(): number;

  listHosts(): Promise<HostInfo[]>;
  /** One host with its latest inventory (null until its agent sent one). */
  getHost(name: string): Promise<HostDetail | undefined>;

  listTenants(filter?: TenantFilter): Promise<{ tenants: TenantInfo[]; total: number }>;
  getTenant(name: string): Promise<TenantDetail | undefined>;
  /**
   * Create or replace a managed tenant; the spec's host is required unless the tenant has reported, and its
   * plan must exist (UnknownPlanError).
   */
  putTenant(name: string, spec: TenantPut): Promise<{ tenant: TenantInfo; created: boolean }>;
  /** Stop managing a tenant (its history stays until retention drops it). False when unknown. */
  deleteTenant(name: string): Promise<boolean>;

  listPlans(): Promise<PlanEntry[]>;
  putPlan(name: string, plan: PlanPut): Promise<{ plan: PlanEntry; created: boolean }>;

  /** What the host's agent pulls: its managed tenants, all plans, its active manual actions; with an ETag. */
  getPolicy(host: string): Promise<{ policy: Policy; etag: string }>;

  /** Queue a manual action for the tenant's host: MissingError for an unknown tenant, ConflictStateError (no_host). */
  queueAction(tenant: string, request: ActionInput, by: string): Promise<ActionStatus>;
  listActions(filter?: ActionFilter): Promise<ActionStatus[]>;
  getAction(id: string): Promise<ActionStatus | undefined>;

  /** Infected data (issue 16): the file quarantine entries the agents reported, newest first. */
  listQuarantinedFiles(filter?: QuarantinedFileFilter): Promise<QuarantinedFile[]>;
  getQuarantinedFile(id: string): Promise<QuarantinedFile | undefined>;
  /** Ask the file's agent to restore or delete it: MissingError, ConflictStateError (not_quarantined, request_pending). */
  requestFileAction(id: string, action: 'restore' | 'delete', by: string): Promise<FileRequestStatus>;
  /** Ask the tenant's agent to scan its homes now: MissingError, ConflictStateError (no_host). */
  requestScan(tenant: string, by: string): Promise<FileRequestStatus>;
  getFileRequest(id: string): Promise<FileRequestStatus | undefined>;

  /** A tenant's usage series; undefined when the tenant is unknown. */
  tenantHistory(tenant: string, query: HistoryQuery): Promise<SeriesResponse | undefined>;
  /** A host's series (host metrics, Jain's index); undefined when the host is unknown. */
  hostHistory(host: string, query: HistoryQuery): Promise<SeriesResponse | undefined>;
  /** Tenants ranked by fairness debt; MissingError for an unknown host. */
  fairnessRanking(query: FairnessQuery): Promise<FairnessRanking>;
  /** A tenant's exact web counts over [from, to) (ms): access-log minutes and pushed API calls. */
  webUsage(tenant: string, from: number, to: number): Promise<WebUsage | undefined>;
  /** A host's access-log reader counts. */
  hostWebStats(host: string): Promise<HostWebStats | undefined>;
  /** API calls a platform counted (POST /v1/usage/api); `by` names the token. */
  pushApiCalls(push: ApiUsagePush, by: string): Promise<ApiUsagePushAnswer>;

  listIncidents(filter?: IncidentFilter): Promise<IncidentSummary[]>;
  getIncident(id: number): Promise<IncidentDetail | undefined>;

  addAudit(entry: Omit<AuditEntry, 'id'>): Promise<void>;
  listAudit(filter?: AuditFilter): Promise<AuditEntry[]>;

  /** The notices' outbox (controller/notices decides what goes in it). */
  readonly notices: NoticeStore;
  /** Remediation cases (controller/remediation decides how they move). */
  readonly remediation: RemediationStore;
  /** The dashboard: sessions, signing keys, tenant links (controller/ui decides what they mean). */
  readonly ui: UiStore;

  stats(): Promise<StoreStats>;
  /** Whether the database answers (GET /healthz); an embedded store always does. */
  health(): Promise<StoreHealth>;
  onIncidentEvents(hook: IncidentEventsHook): () => void;
  onActionQueued(hook: ActionQueuedHook): () => void;

  /** Flush everything and close. */
  close(): Promise<void>;
}
