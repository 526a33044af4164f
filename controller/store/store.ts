// The controller's store, behind one interface so a PostgreSQL store can follow the SQLite one (DESIGN 7).
// Every method is async for that reason; the SQLite store does its work synchronously inside them.
//
// Reads return API shapes (schemas.ts). Times in arguments are milliseconds since the epoch; the store takes
// an injected clock (`StoreOptions.now`) so tests can ingest "yesterday" and run retention "next month".
import type { Policy } from '../../shared/wire/agent.js';
import type { PreparedReport } from '../ingest/prepare.js';
import type {
  ActionRequest,
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
} from '../../shared/wire/api.js';

export interface RetentionSpans {
  /** Raw samples, ms (default 48 h). */
  rawMs: number;
  /** 1-minute rollups, ms (default 90 d). */
  minuteMs: number;
  /** 1-hour rollups, ms (default 730 d); also how long released incidents, finished actions and the audit log are kept. */
  hourMs: number;
}

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
}

export const DEFAULT_RETENTION: RetentionSpans = { rawMs: 48 * 3_600_000, minuteMs: 90 * 86_400_000, hourMs: 730 * 86_400_000 };
export const DEFAULT_FAIRNESS: FairnessOptions = { halfLifeMs: 24 * 3_600_000, activeThreshold: 0.001 };
export const DEFAULT_FLUSH_INTERVAL_MS = 15 * 60_000;

export interface IngestResult {
  accepted: boolean;
  duplicate: boolean;
  seq: number;
  samples: number;
  events: number;
  acks: number;
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
 * What a hook receives inside the ingest (or action) transaction. `sqlite` is the connection of the SQLite
 * store: statements run on it inside the hook are part of the same transaction (an outbox row written there
 * commits or rolls back with the report). Another store would offer its own transaction handle here.
 */
export interface TxContext {
  sqlite?: import('better-sqlite3').Database;
  now: number;
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

  /** Store a report once per (host, seq). A repeated seq with another `at` is a ConflictError (409). */
  ingest(report: PreparedReport): Promise<IngestResult>;
  /** True when some host has closed minute rollups due to be written. */
  flushDue(): boolean;
  /** Write due rollups; `all` writes everything in memory (shutdown); `maxHosts` bounds one call. */
  flush(opts?: { all?: boolean; maxHosts?: number }): Promise<FlushResult>;
  /** Drop what is past its retention span, relative to `now` (default: the store's clock). */
  applyRetention(now?: number): Promise<RetentionResult>;

  listHosts(): Promise<HostInfo[]>;
  getHost(name: string): Promise<HostInfo | undefined>;

  listTenants(filter?: TenantFilter): Promise<{ tenants: TenantInfo[]; total: number }>;
  getTenant(name: string): Promise<TenantDetail | undefined>;
  /** Create or replace a managed tenant; the spec's host is required unless the tenant has reported. */
  putTenant(name: string, spec: TenantPut): Promise<{ tenant: TenantInfo; created: boolean }>;
  /** Stop managing a tenant (its history stays until retention drops it). False when unknown. */
  deleteTenant(name: string): Promise<boolean>;

  listPlans(): Promise<PlanEntry[]>;
  putPlan(name: string, plan: PlanPut): Promise<{ plan: PlanEntry; created: boolean }>;

  /** What the host's agent pulls: its managed tenants, all plans, its active manual actions; with an ETag. */
  getPolicy(host: string): Promise<{ policy: Policy; etag: string }>;

  queueAction(tenant: string, request: ActionRequest, by: string): Promise<ActionStatus>;
  listActions(filter?: ActionFilter): Promise<ActionStatus[]>;
  getAction(id: string): Promise<ActionStatus | undefined>;

  /** A tenant's usage series; undefined when the tenant is unknown. */
  tenantHistory(tenant: string, query: HistoryQuery): Promise<SeriesResponse | undefined>;
  /** A host's series (host metrics, Jain's index); undefined when the host is unknown. */
  hostHistory(host: string, query: HistoryQuery): Promise<SeriesResponse | undefined>;
  fairnessRanking(query: FairnessQuery): Promise<FairnessRanking>;

  listIncidents(filter?: IncidentFilter): Promise<IncidentSummary[]>;
  getIncident(id: number): Promise<IncidentDetail | undefined>;

  addAudit(entry: Omit<AuditEntry, 'id'>): Promise<void>;
  listAudit(filter?: AuditFilter): Promise<AuditEntry[]>;

  stats(): Promise<StoreStats>;
  onIncidentEvents(hook: IncidentEventsHook): () => void;
  onActionQueued(hook: ActionQueuedHook): () => void;

  /** Flush everything and close. */
  close(): Promise<void>;
}
