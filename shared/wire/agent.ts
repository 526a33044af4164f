// Wire schemas shared by agent and controller. A schema and its type come as a pair (`Report`, `ReportSchema`).
// JSON field names are snake_case, like the YAML config keys; timestamps are ISO-8601 UTC strings.
// Bump WIRE_VERSION only for incompatible changes; optional fields may be added freely.
import { Type, type Static } from 'typebox';
import { EMAIL_MAX_LENGTH, EMAIL_PATTERN } from '../email.js';
import { HOST_PATTERN, NAME_PATTERN } from '../names.js';
import { FileAckSchema, FileRequestSchema, InfectedFileSchema, MAX_FILES_LISTED, QuarantinedFileWireSchema, ScanRequestSchema } from './files.js';
import { MAX_WEB_MINUTES, WebLogStatsSchema, WebMinuteSchema } from './web.js';
import { HostInventorySchema } from './inventory.js';
import { IntegerIn, MAX_BYTES, MAX_CORES, MAX_CPU_PERCENT, MAX_INODES, MAX_OPS, MAX_SAFE, MAX_SECONDS, MAX_SHARE, MAX_TASKS, MAX_UID, MAX_VALUE, MAX_WEIGHT, MIN_CORES, NumberIn } from './bounds.js';

export { HOST_PATTERN, HOST_RE, NAME_PATTERN, NAME_RE } from '../names.js';
export { MAX_WEB_MINUTES, WebLogStatsSchema, WebMinuteSchema, type WebLogStats, type WebMinute } from './web.js';
export * from './inventory.js';

export const WIRE_VERSION = 1;

export const TenantNameSchema = Type.String({ pattern: NAME_PATTERN, description: 'tenant name (stable id, e.g. the account user name)' });
export const HostNameSchema = Type.String({ pattern: HOST_PATTERN, description: 'host name of a governed server' });
/** The one email rule (shared/email.ts), on input and in answers alike: what is accepted can be listed. */
export const EmailSchema = Type.String({ pattern: EMAIL_PATTERN, maxLength: EMAIL_MAX_LENGTH, description: 'email address (user@example.com)' });
export const TimestampSchema = Type.String({ format: 'date-time', description: 'ISO-8601 UTC timestamp' });

// Every number has a range (bounds.ts), said in its description; a sample, event or directory entry with a
// value outside it is refused alone (controller/ingest/items.ts), the rest of its report is stored.
const NonNeg = (max: number, description?: string) => NumberIn(0, max, description);
const Count = (max: number, description?: string) => IntegerIn(0, max, description);
const Percent = (description?: string) => NumberIn(0, 100, description);
/** A value an explanation quotes (bytes, percent, a share): any finite number the store holds. */
const Quoted = (description?: string) => NumberIn(-MAX_VALUE, MAX_VALUE, description);

// --- pressure stall information -------------------------------------------------------------------------
/** A PSI line. Tenant samples carry avg10 only (all the controller keeps); host stats carry the whole line. */
export const PsiLineSchema = Type.Object(
  {
    avg10: Percent('percent of the last 10 s stalled'),
    avg60: Type.Optional(Percent('percent of the last 60 s stalled')),
    avg300: Type.Optional(Percent('percent of the last 300 s stalled')),
    total: Type.Optional(Count(MAX_SAFE, 'cumulative stall time in microseconds')),
  },
  { additionalProperties: false },
);
export type PsiLine = Static<typeof PsiLineSchema>;

export const PsiSchema = Type.Object(
  { some: PsiLineSchema, full: Type.Optional(PsiLineSchema) },
  { additionalProperties: false },
);
export type Psi = Static<typeof PsiSchema>;

export const PressureSchema = Type.Object(
  { cpu: Type.Optional(PsiSchema), memory: Type.Optional(PsiSchema), io: Type.Optional(PsiSchema) },
  { additionalProperties: false, description: 'PSI per resource; absent where the kernel lacks it' },
);
export type Pressure = Static<typeof PressureSchema>;

/** PSI as the kernel gives it, every field present (what the cgroup driver reads). */
export type KernelPsiLine = Required<PsiLine>;
export interface KernelPsi {
  some: KernelPsiLine;
  full?: KernelPsiLine;
}
export type KernelPressure = Partial<Record<'cpu' | 'memory' | 'io', KernelPsi>>;

// --- samples ---------------------------------------------------------------------------------------------
export const CpuSampleSchema = Type.Object(
  { percent: NonNeg(MAX_CPU_PERCENT, 'percent of one core over the interval (100 = one core)') },
  { additionalProperties: false },
);
export const MemorySampleSchema = Type.Object(
  {
    current: Count(MAX_BYTES, 'bytes charged to the tenant'),
    anon: Count(MAX_BYTES, 'anonymous memory, bytes'),
    file: Count(MAX_BYTES, 'page cache, bytes'),
  },
  { additionalProperties: false },
);
export const IoSampleSchema = Type.Object(
  {
    read_bps: NonNeg(MAX_BYTES, 'bytes read per second'),
    write_bps: NonNeg(MAX_BYTES, 'bytes written per second'),
    read_iops: NonNeg(MAX_OPS, 'read operations per second'),
    write_iops: NonNeg(MAX_OPS, 'write operations per second'),
  },
  { additionalProperties: false },
);
export const ProcessesSampleSchema = Type.Object({ count: Count(MAX_TASKS, 'tasks in the tenant cgroup') }, { additionalProperties: false });
export const BandwidthSampleSchema = Type.Object(
  {
    tx_bps: NonNeg(MAX_BYTES, "bytes sent per second (the tenant's own sockets, plus web_tx_bps)"),
    rx_bps: NonNeg(MAX_BYTES, 'bytes received per second'),
    web_tx_bps: Type.Optional(NonNeg(MAX_BYTES, "of tx_bps, the bytes the web server sent for the tenant's sites (access logs)")),
  },
  { additionalProperties: false },
);
export const InodesSampleSchema = Type.Object({ count: Count(MAX_INODES, 'inodes owned') }, { additionalProperties: false });
export const ApiSampleSchema = Type.Object({ per_minute: NonNeg(MAX_OPS, 'API calls per minute') }, { additionalProperties: false });

export const TenantSampleSchema = Type.Object(
  {
    tenant: TenantNameSchema,
    cpu: Type.Optional(CpuSampleSchema),
    memory: Type.Optional(MemorySampleSchema),
    io: Type.Optional(IoSampleSchema),
    processes: Type.Optional(ProcessesSampleSchema),
    bandwidth: Type.Optional(BandwidthSampleSchema),
    inodes: Type.Optional(InodesSampleSchema),
    api: Type.Optional(ApiSampleSchema),
    pressure: Type.Optional(PressureSchema),
    strays: Type.Optional(Count(MAX_TASKS, 'processes found outside the tenant cgroup and moved in since the previous report')),
    frozen: Type.Optional(Type.Boolean()),
    throttle_level: Type.Optional(IntegerIn(0, 2, 'throttle level applied')),
  },
  { additionalProperties: false },
);
export type TenantSample = Static<typeof TenantSampleSchema>;

/** The egress link's saturation: the contention signal of bandwidth (agent/collectors/link.ts). */
export const NetworkStatsSchema = Type.Object(
  {
    interface: Type.String({ pattern: '^[A-Za-z0-9_.:@-]{1,15}$', description: 'the busiest egress interface' }),
    tx_bps: NonNeg(MAX_BYTES, 'bytes sent per second on it'),
    link_bps: Type.Optional(NonNeg(MAX_BYTES, "its speed, bytes/s (configured, or the driver's)")),
    saturation: Type.Optional(NumberIn(0, 10, 'tx_bps / link_bps')),
    drops_per_s: NonNeg(MAX_OPS, 'packets dropped per second by the device and its qdiscs'),
  },
  { additionalProperties: false },
);
export type NetworkStats = Static<typeof NetworkStatsSchema>;

export const HostStatsSchema = Type.Object(
  {
    cores: NumberIn(MIN_CORES, MAX_CORES, 'online CPUs'),
    memory_bytes: Count(MAX_BYTES, 'total memory'),
    cpu_percent: Type.Optional(NonNeg(MAX_CPU_PERCENT, 'host cpu use, percent of one core (up to cores*100)')),
    memory_used: Type.Optional(Count(MAX_BYTES, 'bytes in use (total - available)')),
    pressure: Type.Optional(PressureSchema),
    io_capacity: Type.Optional(
      Type.Object({ read_bps: NonNeg(MAX_BYTES, 'bytes/s'), write_bps: NonNeg(MAX_BYTES, 'bytes/s'), iops: NonNeg(MAX_OPS, 'operations/s') }, { additionalProperties: false, description: 'configured disk capacity for fairness shares' }),
    ),
    network: Type.Optional(NetworkStatsSchema),
    inodes_capacity: Type.Optional(Count(MAX_INODES, "inodes of the filesystems holding the tenants' homes (statfs f_files, once per filesystem): the fairness ledger's inode capacity")),
    api_capacity: Type.Optional(NonNeg(MAX_OPS, "API calls per minute the host's web tier serves (agent.yaml api_capacity): the fairness ledger's API capacity")),
  },
  { additionalProperties: false },
);
export type HostStats = Static<typeof HostStatsSchema>;

export const CollectorStatusSchema = Type.Object(
  {
    name: Type.String({ maxLength: 64 }),
    ok: Type.Boolean(),
    no_data: Type.Optional(Type.Boolean()),
    error: Type.Optional(Type.String({ maxLength: 2000 })),
    duration_ms: NonNeg(MAX_SECONDS * 1000, 'milliseconds the collector took'),
  },
  { additionalProperties: false },
);
export type CollectorStatus = Static<typeof CollectorStatusSchema>;

// --- incidents and explanations --------------------------------------------------------------------------
export const StepSchema = Type.Union([Type.Literal('notice'), Type.Literal('throttle'), Type.Literal('quarantine'), Type.Literal('release')]);
export const ResourceSchema = Type.Union([
  Type.Literal('cpu'),
  Type.Literal('memory'),
  Type.Literal('io'),
  Type.Literal('processes'),
  Type.Literal('bandwidth'),
  Type.Literal('inodes'),
  Type.Literal('api'),
  Type.Literal('files'),
], { description: "a governed resource, or files: infected data (rule infected, no measured use)" });

export const TopProcessSchema = Type.Object(
  {
    pid: IntegerIn(1, MAX_TASKS, 'process id'),
    command: Type.String({ maxLength: 4096 }),
    cpu_percent: NonNeg(MAX_CPU_PERCENT, 'percent of one core'),
    rss_bytes: Count(MAX_BYTES, 'resident memory, bytes'),
    user: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type TopProcess = Static<typeof TopProcessSchema>;

export const ContentionSignalSchema = Type.Object(
  {
    resource: Type.String({ maxLength: 32 }),
    metric: Type.String({ maxLength: 64, description: 'e.g. psi_some_avg10, saturation' }),
    value: Quoted('the measured signal'),
    threshold: Quoted('its threshold'),
  },
  { additionalProperties: false },
);

export const ExplanationSchema = Type.Object(
  {
    summary: Type.String({ maxLength: 2000, description: 'one sentence an admin or tenant can read' }),
    rule: Type.String({ maxLength: 128 }),
    resource: ResourceSchema,
    measured: Type.Object({ value: Quoted('in the unit below'), unit: Type.String({ maxLength: 32 }) }, { additionalProperties: false }),
    threshold: Type.Object(
      {
        value: Quoted('in the unit below'),
        unit: Type.String({ maxLength: 32 }),
        kind: Type.Union([Type.Literal('plan_cap'), Type.Literal('fair_share'), Type.Literal('manual'), Type.Literal('limit')]),
      },
      { additionalProperties: false },
    ),
    share: Type.Optional(
      Type.Object(
        {
          tenant: NonNeg(MAX_SHARE, 'share of the host'),
          fair: NonNeg(MAX_SHARE, 'fair share'),
          dominant: NonNeg(MAX_SHARE, 'dominant share (weighted)'),
          weight: NonNeg(MAX_WEIGHT, 'plan weight'),
          factor: Type.Optional(NonNeg(MAX_SHARE, 'times the fair share that counts as disproportionate')),
        },
        { additionalProperties: false, description: 'fractions of host capacity' },
      ),
    ),
    window_seconds: NonNeg(MAX_SECONDS, 'seconds'),
    contention: Type.Object(
      {
        contended: Type.Boolean(),
        signals: Type.Array(ContentionSignalSchema, { maxItems: 16 }),
        detail: Type.Optional(
          Type.String({ maxLength: 2000, description: 'for administrators only: whose pressure was seen, naming the other tenants (never shown to a tenant)' }),
        ),
      },
      { additionalProperties: false },
    ),
    top_processes: Type.Array(TopProcessSchema, { maxItems: 20 }),
    action: Type.String({ maxLength: 2000, description: 'what was done, in words' }),
    limits: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Quoted()]))),
    avoid: Type.String({ maxLength: 2000, description: 'what would have avoided the action' }),
    files: Type.Optional(Type.Array(InfectedFileSchema, { maxItems: MAX_FILES_LISTED, description: 'rule infected: the files found' })),
    fairness: Type.Optional(
      Type.Object(
        {
          debt: Quoted("the tenant's fairness debt when the controller stored the event (dominant share minus fair share, integrated over seconds, decaying)"),
          half_life_seconds: NonNeg(MAX_SECONDS, 'the half-life of the debt'),
          text: Type.String({ maxLength: 500 }),
        },
        { additionalProperties: false, description: 'added by the controller from its fairness ledger (agents do not send it)' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Explanation = Static<typeof ExplanationSchema>;

export const IncidentEventSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128, description: 'unique per host; repeated ids are stored once' }),
    incident: Type.String({ minLength: 1, maxLength: 128, description: 'incident id, stable from opening to release' }),
    tenant: TenantNameSchema,
    resource: ResourceSchema,
    rule: Type.String({ maxLength: 128 }),
    type: Type.Union([Type.Literal('opened'), Type.Literal('escalated'), Type.Literal('relaxed'), Type.Literal('released')]),
    step: StepSchema,
    level: IntegerIn(0, 3, '0 notice, 1-2 throttle levels, 3 quarantine'),
    at: TimestampSchema,
    until: Type.Optional(TimestampSchema),
    manual: Type.Optional(
      Type.Object(
        { action_id: Type.String({ maxLength: 128 }), reason: Type.String({ maxLength: 2000 }), by: Type.Optional(Type.String({ maxLength: 128 })) },
        { additionalProperties: false },
      ),
    ),
    explanation: ExplanationSchema,
  },
  { additionalProperties: false },
);
export type IncidentEvent = Static<typeof IncidentEventSchema>;

export const ActionAckSchema = Type.Object(
  {
    action_id: Type.String({ minLength: 1, maxLength: 128 }),
    state: Type.Union([Type.Literal('applied'), Type.Literal('failed'), Type.Literal('expired'), Type.Literal('released')]),
    at: TimestampSchema,
    message: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);
export type ActionAck = Static<typeof ActionAckSchema>;

/** What an agent knows of a tenant it governs: sent when the set changes and hourly, so the controller can
 *  address notices to tenants configured on the host (not only to tenants managed through the API). */
export const TenantInfoWireSchema = Type.Object(
  {
    name: TenantNameSchema,
    email: Type.Optional(EmailSchema),
    plan: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    uids: Type.Optional(Type.Array(IntegerIn(0, MAX_UID, 'UID'), { maxItems: 256 })),
    source: Type.Optional(Type.Union([Type.Literal('config'), Type.Literal('controller'), Type.Literal('discovered')])),
  },
  { additionalProperties: false },
);
export type TenantInfoWire = Static<typeof TenantInfoWireSchema>;

// --- the report ------------------------------------------------------------------------------------------
export const ReportSchema = Type.Object(
  {
    version: Type.Literal(WIRE_VERSION),
    host: HostNameSchema,
    seq: IntegerIn(1, MAX_SAFE, 'per-host sequence number; a repeated (host, seq) is stored once'),
    at: TimestampSchema,
    sent_at: TimestampSchema,
    interval: NumberIn(0, 86400, 'seconds the samples cover, more than 0', { exclusiveMinimum: 0 }),
    host_stats: HostStatsSchema,
    samples: Type.Array(TenantSampleSchema, { maxItems: 20000 }),
    events: Type.Optional(Type.Array(IncidentEventSchema, { maxItems: 10000 })),
    acks: Type.Optional(Type.Array(ActionAckSchema, { maxItems: 1000 })),
    collectors: Type.Optional(Type.Array(CollectorStatusSchema, { maxItems: 64 })),
    tenants: Type.Optional(Type.Array(TenantInfoWireSchema, { maxItems: 20000, description: 'the tenants this agent governs; present when the set changed, and hourly' })),
    agent_version: Type.Optional(Type.String({ maxLength: 64 })),
    inventory: Type.Optional(HostInventorySchema),
    files: Type.Optional(Type.Array(QuarantinedFileWireSchema, { maxItems: 1000, description: 'file quarantine entries whose state changed' })),
    file_acks: Type.Optional(Type.Array(FileAckSchema, { maxItems: 1000, description: 'answers to file and scan requests' })),
    web: Type.Optional(Type.Array(WebMinuteSchema, { maxItems: MAX_WEB_MINUTES, description: 'access-log counts per tenant and minute read since the previous report' })),
    web_logs: Type.Optional(WebLogStatsSchema),
  },
  { additionalProperties: false },
);
export type Report = Static<typeof ReportSchema>;

/** Why one item of a report was refused, and which (a JSON pointer into the report: /samples/3, /events/0/manual). */
export const ReportItemRejectionSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal('cross_host'), Type.Literal('unmanaged_cap'), Type.Literal('forged_manual')]),
    path: Type.String({ maxLength: 64 }),
    message: Type.String({ maxLength: 2000 }),
  },
  { additionalProperties: false },
);
/** The most items of all kinds one report can carry (samples, events, directory entries, acknowledgements). */
const MAX_REPORT_ITEMS = 100_000;

/** Most lines of `problems` in a report's answer (the counts in `rejected` are complete). */
export const MAX_REPORT_PROBLEMS = 20;

export const RejectedItemsSchema = Type.Object(
  {
    samples: Count(20000, 'samples refused'),
    events: Count(10000, 'incident events refused'),
    tenants: Count(20000, 'tenant directory entries refused'),
  },
  { additionalProperties: false, description: 'items refused alone (out of range or malformed); every other item of the report was stored' },
);
export type RejectedItems = Static<typeof RejectedItemsSchema>;

export const ReportAcceptedSchema = Type.Object(
  {
    accepted: Type.Boolean(),
    duplicate: Type.Boolean(),
    seq: IntegerIn(1, MAX_SAFE, "the report's seq"),
    // Present when items were refused one by one; the rest of the report is stored. `rejected`/`problems`:
    // out of range or malformed (controller/ingest/items.ts); `rejected_*`: the trust rules (DESIGN 8).
    rejected_cross_host: Type.Optional(Count(MAX_REPORT_ITEMS, "samples, directory entries, events and acknowledgements refused: they touch another host's tenants")),
    rejected_unmanaged_cap: Type.Optional(Count(MAX_REPORT_ITEMS, 'new tenant names refused: the host has tenants.max_per_host unmanaged tenants')),
    rejected_forged_manual: Type.Optional(Count(MAX_REPORT_ITEMS, 'events refused: their manual field names no action the controller queued for that tenant on this host')),
    rejected_items: Type.Optional(Type.Array(ReportItemRejectionSchema, { maxItems: 100, description: 'the first refused items, named' })),
    rejected: Type.Optional(RejectedItemsSchema),
    problems: Type.Optional(
      Type.Array(Type.String({ maxLength: 1000 }), {
        maxItems: MAX_REPORT_PROBLEMS,
        description: `why items were refused, one line each ("samples/3/cpu/percent: must be <= 409600"), at most ${MAX_REPORT_PROBLEMS}`,
      }),
    ),
  },
  { additionalProperties: false },
);
export type ReportAccepted = Static<typeof ReportAcceptedSchema>;

// --- plans, tenants and the policy agents pull ------------------------------------------------------------
/** A plan on the wire: limits in base units (percent of one core, bytes, bytes/s, ops/s, count). */
export const PlanSchema = Type.Object(
  {
    cpu: Type.Optional(NumberIn(0, MAX_CPU_PERCENT, 'percent of one core (100 = one core), more than 0', { exclusiveMinimum: 0 })),
    memory: Type.Optional(IntegerIn(1, MAX_BYTES, 'bytes')),
    io_read: Type.Optional(IntegerIn(1, MAX_BYTES, 'bytes/s')),
    io_write: Type.Optional(IntegerIn(1, MAX_BYTES, 'bytes/s')),
    iops: Type.Optional(IntegerIn(1, MAX_OPS, 'operations/s')),
    processes: Type.Optional(IntegerIn(1, MAX_TASKS, 'tasks (threads count)')),
    api: Type.Optional(IntegerIn(1, MAX_OPS, 'API calls/minute (held at the web server)')),
    bandwidth: Type.Optional(IntegerIn(1000, MAX_BYTES, 'bytes/s sent (the tenant\'s own sockets by an HTB class on the egress interfaces; each web response at the web server)')),
    inodes: Type.Optional(IntegerIn(1, MAX_INODES, 'inodes (files and directories owned; a filesystem quota holds it where user quotas are on)')),
    weight: NumberIn(0, MAX_WEIGHT, 'fair-share weight, more than 0', { exclusiveMinimum: 0, default: 1 }),
  },
  { additionalProperties: false },
);
export type Plan = Static<typeof PlanSchema>;

export const TenantSpecSchema = Type.Object(
  {
    name: TenantNameSchema,
    users: Type.Array(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), IntegerIn(0, MAX_UID, 'UID')]), { minItems: 1, maxItems: 256 }),
    email: Type.Optional(EmailSchema),
    plan: Type.String({ minLength: 1, maxLength: 64 }),
    host: Type.Optional(HostNameSchema),
    homes: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64 })),
    domains: Type.Optional(Type.Array(Type.String({ maxLength: 253 }), { maxItems: 1024 })),
    notices: Type.Optional(Type.Boolean({ description: 'false opts out of informational notices (throttle notices still go out)' })),
  },
  { additionalProperties: false },
);
export type TenantSpec = Static<typeof TenantSpecSchema>;

export const ManualActionSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128 }),
    tenant: TenantNameSchema,
    action: Type.Union([Type.Literal('notice'), Type.Literal('throttle'), Type.Literal('quarantine'), Type.Literal('release')]),
    level: Type.Optional(IntegerIn(1, 2, 'throttle level')),
    reason: Type.String({ minLength: 1, maxLength: 2000 }),
    by: Type.Optional(Type.String({ maxLength: 128 })),
    created_at: TimestampSchema,
    expires_at: Type.Optional(TimestampSchema),
  },
  { additionalProperties: false },
);
export type ManualAction = Static<typeof ManualActionSchema>;

export const PolicySchema = Type.Object(
  {
    host: HostNameSchema,
    tenants: Type.Array(TenantSpecSchema),
    plans: Type.Record(Type.String(), PlanSchema),
    actions: Type.Array(ManualActionSchema),
    file_requests: Type.Optional(Type.Array(FileRequestSchema, { maxItems: 1000, description: 'restores and deletes of quarantined files asked for by admins' })),
    scan_requests: Type.Optional(Type.Array(ScanRequestSchema, { maxItems: 1000, description: "on-demand scans of tenants' homes" })),
  },
  { additionalProperties: false },
);
export type Policy = Static<typeof PolicySchema>;
