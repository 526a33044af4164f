// Request and response schemas of the admin API, the notices included, and the one error body of every route
// (the wire schemas agents use live in ./agent.ts). A schema and its type come as a pair; field names are
// snake_case; timestamps ISO-8601 UTC.
import { Type, type Static, type TSchema } from 'typebox';
import {
  CollectorStatusSchema,
  ExplanationSchema,
  HostInventorySchema,
  HostNameSchema,
  HostStatsSchema,
  NAME_PATTERN,
  IncidentEventSchema,
  ManualActionSchema,
  PlanSchema,
  ResourceSchema,
  StepSchema,
  TenantNameSchema,
  TenantInfoWireSchema,
  TenantSpecSchema,
  TimestampSchema,
} from './agent.js';
import { HostTransportProperties } from './transport.js';
import { DEFAULT_UID_MIN, IntegerIn, MAX_DEBT, MAX_SAFE, MAX_SECONDS, MAX_UID, MAX_VALUE, MAX_WEIGHT, NumberIn, planValueSchema, rangeText } from './bounds.js';

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);
/** number or null, in the form fast-json-stringify serializes quickly: any finite value the store holds. */
/** The tenants' shares of one resource in a host's latest report (HostLedger.shares, controller/fairness.ts). */
const OptShare = Type.Optional(Type.Object({ sum: NumberIn(0, MAX_VALUE, 'sum of the tenants\' shares'), max: NumberIn(0, MAX_VALUE, 'the largest share') }, { additionalProperties: false }));
const NumOrNull = Type.Unsafe<number | null>({ type: ['number', 'null'], minimum: -MAX_VALUE, maximum: MAX_VALUE, description: `${rangeText(-MAX_VALUE, MAX_VALUE)}, or null` });
/** A row id (incidents, notices, audit entries). */
const Id = (description?: string) => IntegerIn(1, MAX_SAFE, description);
/** A count of things. */
const Count = (description?: string) => IntegerIn(0, MAX_SAFE, description);
const Weight = (description: string) => NumberIn(0, MAX_WEIGHT, description);
const Debt = (description: string) => NumberIn(-MAX_DEBT, MAX_DEBT, description);
const Seconds = (description: string) => NumberIn(0, MAX_SECONDS, description);

/** Relative ("24h": now minus 24 hours) or absolute (ISO-8601) time, or "now". */
export const TimeParamSchema = Type.String({ minLength: 1, maxLength: 40, description: 'ISO-8601 time, "now", or a duration back from now such as 24h, 7d, 90m' });
export const DurationParamSchema = Type.String({ minLength: 1, maxLength: 20, pattern: '^[0-9][0-9a-z.]*$', description: 'duration such as 30s, 5m, 1h, 7d' });

/** Every error response of the API: `{ "error": code, "message": text }` (the app adds it as `ApiError`). */
export const ErrorSchema = Type.Object(
  { error: Type.String({ description: 'a stable code: bad_request, unauthorized, forbidden, not_found, ...' }), message: Type.String() },
  { additionalProperties: false, description: 'every error response' },
);
export type ErrorBody = Static<typeof ErrorSchema>;

export const HealthSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')], { description: 'unavailable (with 503) while the database cannot be reached' }),
    version: Type.String(),
    uptime_seconds: Seconds('since the controller started'),
    damaged_rows: Type.Optional(Count('database rows skipped since the start because they cannot be read (logged each; hostwarden-controller --check checks the file)')),
    database: Type.Optional(Type.Union([Type.Literal('ok'), Type.Literal('unreachable')], { description: 'whether the database answers (PostgreSQL; the embedded SQLite file always does)' })),
    message: Type.Optional(Type.String({ description: 'why the database cannot be reached' })),
  },
  { additionalProperties: false },
);

// --- hosts ------------------------------------------------------------------------------------------------
export const HostInfoSchema = Type.Object(
  {
    host: HostNameSchema,
    first_seen: TimestampSchema,
    last_seen: Nullable(TimestampSchema),
    last_report_at: Nullable(TimestampSchema),
    last_seq: Nullable(Id('seq of the newest report')),
    agent_version: Nullable(Type.String()),
    tenants: Count('tenants whose samples or spec place them on this host'),
    open_incidents: Count(),
    host_stats: Nullable(HostStatsSchema),
    collectors: Nullable(Type.Array(CollectorStatusSchema)),
    fairness: Nullable(
      Type.Object(
        {
          jain: NumOrNull,
          fair_share: NumOrNull,
          active_tenants: Count(),
          shares: Type.Optional(
            Type.Object(
              { cpu: OptShare, memory: OptShare, io: OptShare, bandwidth: OptShare, inodes: OptShare, api: OptShare },
              {
              additionalProperties: false,
                description: "per resource, the sum and the largest of the tenants' shares of the host (a resource without a capacity or a measurement is absent; none before the host's first report since the controller started)",
              },
            ),
          ),
        },
        { additionalProperties: false, description: 'of the latest report' },
      ),
    ),
    ...HostTransportProperties,
  },
  { additionalProperties: false },
);
export type HostInfo = Static<typeof HostInfoSchema>;
export const HostListSchema = Type.Object({ hosts: Type.Array(HostInfoSchema) }, { additionalProperties: false });

/** The latest inventory a host's agent reported, with the time of the report that carried it. */
export const HostInventoryInfoSchema = Type.Object(
  { ...HostInventorySchema.properties, reported_at: TimestampSchema },
  { additionalProperties: false, description: "what the host is (its agent gathers it at start and daily); absent sections: not known" },
);
export type HostInventoryInfo = Static<typeof HostInventoryInfoSchema>;
/**
 * GET /v1/hosts/{host}: the list's fields and the host's inventory (null until its agent has sent one; always
 * present in this controller's answers, optional so a client also reads a controller from before it).
 */
export const HostDetailSchema = Type.Object(
  { ...HostInfoSchema.properties, inventory: Type.Optional(Nullable(HostInventoryInfoSchema)) },
  { additionalProperties: false },
);
export type HostDetail = Static<typeof HostDetailSchema>;

// --- tenants ----------------------------------------------------------------------------------------------
export const TenantInfoSchema = Type.Object(
  {
    name: TenantNameSchema,
    host: Nullable(HostNameSchema),
    managed: Type.Boolean({ description: 'true when put through the API (served to its host in the policy); false when only seen in reports' }),
    plan: Nullable(Type.String({ description: 'the managed spec\'s plan, else the plan its agent reported' })),
    weight: Weight('fair-share weight of its plan (1 when the plan is not defined here)'),
    spec: Nullable(TenantSpecSchema),
    reported: Type.Union([TenantInfoWireSchema, Type.Null()], { description: "what the tenant's agent reported of it (its own configuration or discovery)" }),
    first_seen: Nullable(TimestampSchema),
    last_seen: Nullable(TimestampSchema),
    debt: Debt('fairness debt now, share-hours (negative = credit)'),
    open_incidents: Count(),
  },
  { additionalProperties: false },
);
export type TenantInfo = Static<typeof TenantInfoSchema>;
export const TenantListSchema = Type.Object({ tenants: Type.Array(TenantInfoSchema), total: Count() }, { additionalProperties: false });

export const TenantLatestSchema = Type.Object(
  { at: TimestampSchema, values: Type.Record(Type.String(), NumberIn(-MAX_VALUE, MAX_VALUE, 'in the unit of the series')) },
  { additionalProperties: false, description: 'the newest raw sample' },
);
export const TenantDetailSchema = Type.Object(
  {
    ...TenantInfoSchema.properties,
    latest: Nullable(TenantLatestSchema),
  },
  { additionalProperties: false },
);
export type TenantDetail = Static<typeof TenantDetailSchema>;

/** PUT body: a TenantSpec whose name may be left out (it is in the path); UIDs the agent governs only. */
export const TenantPutSchema = Type.Object(
  {
    ...TenantSpecSchema.properties,
    name: Type.Optional(TenantNameSchema),
    users: Type.Array(
      Type.Union([Type.String({ minLength: 1, maxLength: 64 }), IntegerIn(DEFAULT_UID_MIN, MAX_UID, "UID; below the agents' default uid_min are system accounts, never governed")]),
      { minItems: 1, maxItems: 256 },
    ),
  },
  { additionalProperties: false },
);
export type TenantPut = Static<typeof TenantPutSchema>;

export const TenantParamsSchema = Type.Object({ tenant: TenantNameSchema }, { additionalProperties: false });
export const HostParamsSchema = Type.Object({ host: HostNameSchema }, { additionalProperties: false });
export const PlanParamsSchema = Type.Object({ plan: Type.String({ pattern: NAME_PATTERN }) }, { additionalProperties: false });

// --- plans ------------------------------------------------------------------------------------------------
export const PlanPutSchema = Type.Object(
  {
    // The one plan rule (shared/wire/bounds.ts PLAN_LIMITS), the agent's own for agent.yaml.
    cpu: Type.Optional(planValueSchema('cpu')),
    memory: Type.Optional(planValueSchema('memory')),
    io_read: Type.Optional(planValueSchema('io_read')),
    io_write: Type.Optional(planValueSchema('io_write')),
    iops: Type.Optional(planValueSchema('iops')),
    processes: Type.Optional(planValueSchema('processes')),
    api: Type.Optional(planValueSchema('api')),
    bandwidth: Type.Optional(planValueSchema('bandwidth')),
    inodes: Type.Optional(planValueSchema('inodes')),
    weight: Type.Optional(planValueSchema('weight')),
  },
  { additionalProperties: false },
);
export type PlanPut = Static<typeof PlanPutSchema>;
export const PlanEntrySchema = Type.Object(
  { name: Type.String(), plan: PlanSchema, updated_at: TimestampSchema, tenants: Count('managed tenants on this plan') },
  { additionalProperties: false },
);
export type PlanEntry = Static<typeof PlanEntrySchema>;
export const PlanListSchema = Type.Object({ plans: Type.Array(PlanEntrySchema) }, { additionalProperties: false });

// --- manual actions ---------------------------------------------------------------------------------------
export type ActionStateName = 'pending' | 'applied' | 'failed' | 'expired' | 'released' | 'done';
export const ActionRequestSchema = Type.Object(
  {
    action: Type.Union([Type.Literal('notice'), Type.Literal('throttle'), Type.Literal('quarantine'), Type.Literal('release')]),
    level: Type.Optional(IntegerIn(1, 2, 'throttle level (throttle only; default 1)')),
    reason: Type.String({ minLength: 1, maxLength: 2000 }),
    ttl: Type.Optional(Type.Union([DurationParamSchema, NumberIn(0, MAX_SECONDS, 'seconds, more than 0', { exclusiveMinimum: 0 })], { description: 'how long the action lasts (throttle, quarantine)' })),
  },
  { additionalProperties: false },
);
export type ActionRequest = Static<typeof ActionRequestSchema>;
export const ActionStatusSchema = Type.Object(
  {
    ...ManualActionSchema.properties,
    host: HostNameSchema,
    state: Type.Union(
      [Type.Literal('pending'), Type.Literal('applied'), Type.Literal('failed'), Type.Literal('expired'), Type.Literal('released'), Type.Literal('done')],
      { description: 'pending (queued, served in the policy) -> applied | failed; applied -> expired | released; notice and release end as done' },
    ),
    state_at: TimestampSchema,
    message: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type ActionStatus = Static<typeof ActionStatusSchema>;
export const ActionListSchema = Type.Object({ actions: Type.Array(ActionStatusSchema) }, { additionalProperties: false });
export const ActionParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

// --- incidents --------------------------------------------------------------------------------------------
const IncidentCore = {
  id: Id(),
  host: HostNameSchema,
  agent_incident: Type.String({ description: "the agent's id of the incident" }),
  tenant: TenantNameSchema,
  resource: ResourceSchema,
  rule: Type.String(),
  state: Type.Union([Type.Literal('open'), Type.Literal('released')]),
  step: StepSchema,
  level: IntegerIn(0, 3, '0 notice, 1-2 throttle levels, 3 quarantine'),
  manual: Type.Boolean(),
  opened_at: TimestampSchema,
  updated_at: TimestampSchema,
  released_at: Nullable(TimestampSchema),
  until: Nullable(TimestampSchema),
  events: Count(),
  summary: Type.String({ description: 'the latest explanation in one sentence' }),
};
export const IncidentSummarySchema = Type.Object(IncidentCore, { additionalProperties: false });
export type IncidentSummary = Static<typeof IncidentSummarySchema>;
export const IncidentListSchema = Type.Object({ incidents: Type.Array(IncidentSummarySchema) }, { additionalProperties: false });
export const StoredEventSchema = Type.Object(
  { ...IncidentEventSchema.properties, host: HostNameSchema, received_at: TimestampSchema },
  { additionalProperties: false },
);
export type StoredEvent = Static<typeof StoredEventSchema>;
export const IncidentDetailSchema = Type.Object(
  { ...IncidentCore, explanation: ExplanationSchema, history: Type.Array(StoredEventSchema) },
  { additionalProperties: false },
);
export type IncidentDetail = Static<typeof IncidentDetailSchema>;
export const IncidentQuerySchema = Type.Object(
  {
    tenant: Type.Optional(TenantNameSchema),
    host: Type.Optional(HostNameSchema),
    state: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('released')])),
    resource: Type.Optional(ResourceSchema),
    from: Type.Optional(TimeParamSchema),
    to: Type.Optional(TimeParamSchema),
    limit: Type.Optional(IntegerIn(1, 10000, 'most entries to answer', { default: 100 })),
  },
  { additionalProperties: false },
);
export const IncidentParamsSchema = Type.Object({ id: Id() }, { additionalProperties: false });

// --- history ----------------------------------------------------------------------------------------------
export const SeriesSchema = Type.Object(
  { unit: Type.String(), avg: Type.Array(NumOrNull), max: Type.Array(NumOrNull) },
  { additionalProperties: false },
);
export const SeriesResponseSchema = Type.Object(
  {
    tenant: Type.Optional(TenantNameSchema),
    host: Nullable(HostNameSchema),
    from: TimestampSchema,
    to: TimestampSchema,
    step_seconds: Seconds('width of each point; for raw data the report interval'),
    source: Type.Union([Type.Literal('raw'), Type.Literal('minute'), Type.Literal('hour')], { description: 'the history tier the points were read from' }),
    times: Type.Array(TimestampSchema, { description: 'start of each point' }),
    samples: Type.Array(Count(), { description: 'raw samples behind each point' }),
    series: Type.Record(Type.String(), SeriesSchema),
  },
  { additionalProperties: false },
);
export type SeriesResponse = Static<typeof SeriesResponseSchema>;
export const UsageQuerySchema = Type.Object(
  {
    from: Type.Optional(TimeParamSchema),
    to: Type.Optional(TimeParamSchema),
    step: Type.Optional(DurationParamSchema),
    resources: Type.Optional(Type.String({ maxLength: 200, description: 'comma-separated resources or series names; default all' })),
  },
  { additionalProperties: false },
);

export const FairnessQuerySchema = Type.Object(
  {
    host: Type.Optional(HostNameSchema),
    window: Type.Optional(DurationParamSchema),
    limit: Type.Optional(IntegerIn(1, 10000, 'most entries to answer', { default: 100 })),
  },
  { additionalProperties: false },
);
export const FairnessHostSchema = Type.Object(
  {
    host: HostNameSchema,
    jain: Type.Object({ avg: NumOrNull, max: NumOrNull, last: NumOrNull }, { additionalProperties: false }),
    fair_share: Type.Object({ avg: NumOrNull, last: NumOrNull }, { additionalProperties: false }),
    active_tenants: Type.Object({ avg: NumOrNull, last: NumOrNull }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export const FairnessTenantSchema = Type.Object(
  {
    rank: Id('1 = the largest debt'),
    tenant: TenantNameSchema,
    host: Nullable(HostNameSchema),
    plan: Nullable(Type.String()),
    weight: Weight('fair-share weight of its plan'),
    debt: Debt('share-hours now; positive = took more than the fair share'),
    dominant_share: Type.Object({ avg: NumOrNull, max: NumOrNull }, { additionalProperties: false }),
    fair_share: NumOrNull,
    shares: Type.Object(
      { cpu: NumOrNull, memory: NumOrNull, io: NumOrNull, bandwidth: NumOrNull, inodes: NumOrNull, api: NumOrNull },
      { additionalProperties: false, description: 'average unweighted shares over the window (null: not measured, or the host reported no capacity for it)' },
    ),
  },
  { additionalProperties: false },
);
export const FairnessRankingSchema = Type.Object(
  {
    from: TimestampSchema,
    to: TimestampSchema,
    window_seconds: Seconds('the window of the averages'),
    half_life_seconds: Seconds('half-life of the debt'),
    hosts: Type.Array(FairnessHostSchema),
    tenants: Type.Array(FairnessTenantSchema),
  },
  { additionalProperties: false },
);
export type FairnessRanking = Static<typeof FairnessRankingSchema>;

// --- audit ------------------------------------------------------------------------------------------------
export const AuditEntrySchema = Type.Object(
  {
    id: Id(),
    at: TimestampSchema,
    who: Type.String(),
    method: Type.String(),
    path: Type.String(),
    status: IntegerIn(100, 599, 'HTTP status'),
    ip: Nullable(Type.String()),
    detail: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type AuditEntry = Static<typeof AuditEntrySchema>;
export const AuditListSchema = Type.Object({ entries: Type.Array(AuditEntrySchema) }, { additionalProperties: false });
export const AuditQuerySchema = Type.Object(
  {
    from: Type.Optional(TimeParamSchema),
    to: Type.Optional(TimeParamSchema),
    who: Type.Optional(Type.String({ maxLength: 200 })),
    limit: Type.Optional(IntegerIn(1, 10000, 'most entries to answer', { default: 100 })),
  },
  { additionalProperties: false },
);

// --- notices ----------------------------------------------------------------------------------------------
/** The outbox's states (controller/notices/outbox.ts NOTICE_STATES; a test holds the two lists equal). */
export const NoticeStateSchema = Type.Union(
  [
    Type.Literal('queued'),
    Type.Literal('sending'),
    Type.Literal('sent'),
    Type.Literal('failed'),
    Type.Literal('held'),
    Type.Literal('digested'),
    Type.Literal('no_recipient'),
    Type.Literal('opted_out'),
  ],
  {
    description:
      'queued (waiting; after a failed attempt with its error), sending, sent, failed (refused for good or given up), held (rate-limited, or over a notices.caps cap with the cap named in error: with digest_due it waits for the digest of its tenant, without it for a slot of the hourly cap of its host and then goes out as it is), digested (told in digest_id), no_recipient (the tenant has no address; the admin copy went out if configured), opted_out (informational, the tenant opted out)',
  },
);
export type NoticeStateName = Static<typeof NoticeStateSchema>;

const NullTime = Nullable(TimestampSchema);
export const NoticeSchema = Type.Object(
  {
    id: Id(),
    kind: Type.Union([Type.Literal('event'), Type.Literal('digest')]),
    tenant: TenantNameSchema,
    host: Nullable(HostNameSchema),
    resource: Nullable(Type.String()),
    incident_id: Nullable(Id('GET /v1/incidents/{id}')),
    incident: Nullable(Type.String({ description: "the agent's incident id" })),
    event_type: Nullable(Type.String()),
    step: Nullable(Type.String()),
    level: Nullable(IntegerIn(0, 3, 'ladder level')),
    manual: Type.Boolean(),
    category: Type.String({ description: 'warning, throttle, quarantine, release or digest' }),
    state: NoticeStateSchema,
    created_at: TimestampSchema,
    event_at: NullTime,
    recipient: Nullable(Type.String()),
    bcc: Type.Array(Type.String()),
    subject: Type.String(),
    summary: Type.String(),
    message_id: Type.String(),
    attempts: Count(),
    next_attempt_at: NullTime,
    last_attempt_at: NullTime,
    sent_at: NullTime,
    error: Nullable(Type.String({ description: 'the last error, or a note (refused recipients, no address, the notices.caps cap that held it back)' })),
    digest_id: Nullable(Id('held notices: the digest that told them')),
    digest_due: NullTime,
  },
  { additionalProperties: false },
);
export type Notice = Static<typeof NoticeSchema>;

export const NoticeDetailSchema = Type.Object(
  { ...NoticeSchema.properties, text: Nullable(Type.String()), html: Nullable(Type.String()) },
  { additionalProperties: false },
);
export type NoticeDetail = Static<typeof NoticeDetailSchema>;

export const NoticeListSchema = Type.Object(
  { notices: Type.Array(NoticeSchema), counts: Type.Record(Type.String(), Count(), { description: 'all notices by state' }) },
  { additionalProperties: false },
);
export type NoticeList = Static<typeof NoticeListSchema>;

export const NoticeQuerySchema = Type.Object(
  {
    tenant: Type.Optional(TenantNameSchema),
    state: Type.Optional(NoticeStateSchema),
    kind: Type.Optional(Type.Union([Type.Literal('event'), Type.Literal('digest')])),
    incident: Type.Optional(Id('incident id (GET /v1/incidents)')),
    limit: Type.Optional(IntegerIn(1, 10000, 'most entries to answer', { default: 100 })),
  },
  { additionalProperties: false },
);
export const NoticeParamsSchema = Type.Object({ id: Id() }, { additionalProperties: false });

// Remediation cases (their schemas live in ./remediation.ts; re-exported so every admin answer is here).
export * from './remediation.js';
// Infected data (file quarantine): the answers of /v1/quarantined-files and /v1/file-requests (shared/wire/files.ts).
export { FileRequestStatusSchema, QuarantinedFileListSchema, QuarantinedFileSchema } from './files.js';
// The web tier's answers (shared/wire/web.ts), here too so hostwardenctl checks them like every other answer.
export { HostWebStatsSchema, WebUsageSchema } from './web.js';
