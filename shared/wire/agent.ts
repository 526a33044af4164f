// Wire schemas shared by agent and controller. A schema and its type come as a pair (`Report`, `ReportSchema`).
// JSON field names are snake_case, like the YAML config keys; timestamps are ISO-8601 UTC strings.
// Bump WIRE_VERSION only for incompatible changes; optional fields may be added freely.
import { Type, type Static } from 'typebox';
import { EMAIL_MAX_LENGTH, EMAIL_PATTERN } from '../email.js';
import { HOST_PATTERN, NAME_PATTERN } from '../names.js';

export { HOST_PATTERN, HOST_RE, NAME_PATTERN, NAME_RE } from '../names.js';

export const WIRE_VERSION = 1;

export const TenantNameSchema = Type.String({ pattern: NAME_PATTERN, description: 'tenant name (stable id, e.g. the account user name)' });
export const HostNameSchema = Type.String({ pattern: HOST_PATTERN, description: 'host name of a governed server' });
/** The one email rule (shared/email.ts), on input and in answers alike: what is accepted can be listed. */
export const EmailSchema = Type.String({ pattern: EMAIL_PATTERN, maxLength: EMAIL_MAX_LENGTH, description: 'email address (user@example.com)' });
export const TimestampSchema = Type.String({ format: 'date-time', description: 'ISO-8601 UTC timestamp' });

const NonNeg = (description?: string) => Type.Number({ minimum: 0, ...(description ? { description } : {}) });
const Count = (description?: string) => Type.Integer({ minimum: 0, ...(description ? { description } : {}) });

// --- pressure stall information -------------------------------------------------------------------------
/** A PSI line. Tenant samples carry avg10 only (all the controller keeps); host stats carry the whole line. */
export const PsiLineSchema = Type.Object(
  {
    avg10: Type.Number({ minimum: 0, maximum: 100 }),
    avg60: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    avg300: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    total: Type.Optional(Count('cumulative stall time in microseconds')),
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
  { percent: NonNeg('percent of one core over the interval (100 = one core)') },
  { additionalProperties: false },
);
export const MemorySampleSchema = Type.Object(
  {
    current: Count('bytes charged to the tenant'),
    anon: Count('anonymous memory, bytes'),
    file: Count('page cache, bytes'),
  },
  { additionalProperties: false },
);
export const IoSampleSchema = Type.Object(
  {
    read_bps: NonNeg('bytes read per second'),
    write_bps: NonNeg('bytes written per second'),
    read_iops: NonNeg('read operations per second'),
    write_iops: NonNeg('write operations per second'),
  },
  { additionalProperties: false },
);
export const ProcessesSampleSchema = Type.Object({ count: Count('tasks in the tenant cgroup') }, { additionalProperties: false });
export const BandwidthSampleSchema = Type.Object(
  { tx_bps: NonNeg('bytes sent per second'), rx_bps: NonNeg('bytes received per second') },
  { additionalProperties: false },
);
export const InodesSampleSchema = Type.Object({ count: Count('inodes owned') }, { additionalProperties: false });
export const ApiSampleSchema = Type.Object({ per_minute: NonNeg('API calls per minute') }, { additionalProperties: false });

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
    strays: Type.Optional(Count('processes found outside the tenant cgroup and moved in since the previous report')),
    frozen: Type.Optional(Type.Boolean()),
    throttle_level: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 })),
  },
  { additionalProperties: false },
);
export type TenantSample = Static<typeof TenantSampleSchema>;

export const HostStatsSchema = Type.Object(
  {
    cores: Type.Number({ exclusiveMinimum: 0, description: 'online CPUs' }),
    memory_bytes: Count('total memory'),
    cpu_percent: Type.Optional(NonNeg('host cpu use, percent of one core (up to cores*100)')),
    memory_used: Type.Optional(Count('bytes in use (total - available)')),
    pressure: Type.Optional(PressureSchema),
    io_capacity: Type.Optional(
      Type.Object({ read_bps: NonNeg(), write_bps: NonNeg(), iops: NonNeg() }, { additionalProperties: false, description: 'configured disk capacity for fairness shares' }),
    ),
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
    duration_ms: NonNeg(),
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
]);

export const TopProcessSchema = Type.Object(
  {
    pid: Type.Integer({ minimum: 1 }),
    command: Type.String({ maxLength: 4096 }),
    cpu_percent: NonNeg(),
    rss_bytes: Count(),
    user: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type TopProcess = Static<typeof TopProcessSchema>;

export const ContentionSignalSchema = Type.Object(
  {
    resource: Type.String({ maxLength: 32 }),
    metric: Type.String({ maxLength: 64, description: 'e.g. psi_some_avg10, saturation' }),
    value: Type.Number(),
    threshold: Type.Number(),
  },
  { additionalProperties: false },
);

export const ExplanationSchema = Type.Object(
  {
    summary: Type.String({ maxLength: 2000, description: 'one sentence an admin or tenant can read' }),
    rule: Type.String({ maxLength: 128 }),
    resource: ResourceSchema,
    measured: Type.Object({ value: Type.Number(), unit: Type.String({ maxLength: 32 }) }, { additionalProperties: false }),
    threshold: Type.Object(
      {
        value: Type.Number(),
        unit: Type.String({ maxLength: 32 }),
        kind: Type.Union([Type.Literal('plan_cap'), Type.Literal('fair_share'), Type.Literal('manual'), Type.Literal('limit')]),
      },
      { additionalProperties: false },
    ),
    share: Type.Optional(
      Type.Object(
        { tenant: Type.Number(), fair: Type.Number(), dominant: Type.Number(), weight: Type.Number(), factor: Type.Optional(Type.Number()) },
        { additionalProperties: false, description: 'fractions of host capacity' },
      ),
    ),
    window_seconds: NonNeg(),
    contention: Type.Object(
      { contended: Type.Boolean(), signals: Type.Array(ContentionSignalSchema, { maxItems: 16 }) },
      { additionalProperties: false },
    ),
    top_processes: Type.Array(TopProcessSchema, { maxItems: 20 }),
    action: Type.String({ maxLength: 2000, description: 'what was done, in words' }),
    limits: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]))),
    avoid: Type.String({ maxLength: 2000, description: 'what would have avoided the action' }),
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
    level: Type.Integer({ minimum: 0, maximum: 3, description: '0 notice, 1-2 throttle levels, 3 quarantine' }),
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
    uids: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 256 })),
    source: Type.Optional(Type.Union([Type.Literal('config'), Type.Literal('controller'), Type.Literal('discovered')])),
  },
  { additionalProperties: false },
);
export type TenantInfoWire = Static<typeof TenantInfoWireSchema>;

// --- host inventory --------------------------------------------------------------------------------------
/**
 * The bounds of the host inventory, one catalog: the schemas below and the agent that cuts what it gathers to
 * fit them (agent/collectors/inventory.ts) both read it, so an inventory is never refused for a long model name.
 */
export const INVENTORY_BOUNDS = {
  /** A name or a model (distro, kernel release, cpu or disk model), characters. */
  text: 128,
  /** A mount point, characters. */
  path: 1024,
  /** Disks, filesystems, network interfaces: at most this many of each. */
  items: 64,
  /** Cores or threads (far above any server). */
  cpus: 65_536,
  /** Link speed in Mbit/s (10 Tbit/s). */
  speedMbps: 10_000_000,
} as const;

const InventoryText = (description: string, maxLength: number = INVENTORY_BOUNDS.text) => Type.String({ minLength: 1, maxLength, description });
const InventoryBytes = (description: string) => Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description });
const InventoryCpus = (description: string) => Type.Integer({ minimum: 1, maximum: INVENTORY_BOUNDS.cpus, description });

export const InventoryOsSchema = Type.Object(
  {
    distro: Type.Optional(InventoryText('distribution, e.g. Debian GNU/Linux')),
    release: Type.Optional(InventoryText('release, e.g. 12')),
    codename: Type.Optional(InventoryText('release codename, e.g. bookworm')),
    kernel: Type.Optional(InventoryText('kernel release (uname -r)')),
    arch: Type.Optional(InventoryText('architecture, e.g. x64, arm64')),
  },
  { additionalProperties: false },
);
export const InventoryCpuSchema = Type.Object(
  {
    model: Type.Optional(InventoryText('manufacturer and model')),
    cores: Type.Optional(InventoryCpus('physical cores')),
    threads: Type.Optional(InventoryCpus('logical CPUs (hardware threads)')),
  },
  { additionalProperties: false },
);
export const InventoryDiskSchema = Type.Object(
  {
    device: InventoryText('block device, e.g. /dev/nvme0n1'),
    size_bytes: InventoryBytes('capacity'),
    type: Type.Optional(InventoryText('HD, SSD or NVMe')),
    model: Type.Optional(InventoryText('model')),
  },
  { additionalProperties: false },
);
export const InventoryFilesystemSchema = Type.Object(
  {
    mount: InventoryText('mount point', INVENTORY_BOUNDS.path),
    fs_type: InventoryText('filesystem type, e.g. ext4, xfs'),
    size_bytes: InventoryBytes('capacity'),
  },
  { additionalProperties: false, description: 'a filesystem that holds tenants\' homes' },
);
export const InventoryNicSchema = Type.Object(
  {
    name: InventoryText('interface name'),
    speed_mbps: Type.Optional(Type.Number({ minimum: 0, maximum: INVENTORY_BOUNDS.speedMbps, description: 'link speed, Mbit/s; absent when unknown' })),
    virtual: Type.Optional(Type.Boolean({ description: 'a virtual interface (bridge, veth, tunnel, ...)' })),
  },
  { additionalProperties: false, description: 'a network interface (loopback left out; no addresses)' },
);

/** What the host is: hardware and system, gathered by the agent at start and daily (no addresses, no serials). */
export const HostInventorySchema = Type.Object(
  {
    gathered_at: TimestampSchema,
    os: Type.Optional(InventoryOsSchema),
    cpu: Type.Optional(InventoryCpuSchema),
    memory_bytes: Type.Optional(InventoryBytes('total memory')),
    disks: Type.Optional(Type.Array(InventoryDiskSchema, { maxItems: INVENTORY_BOUNDS.items })),
    filesystems: Type.Optional(Type.Array(InventoryFilesystemSchema, { maxItems: INVENTORY_BOUNDS.items, description: "the filesystems of the tenants' homes" })),
    nics: Type.Optional(Type.Array(InventoryNicSchema, { maxItems: INVENTORY_BOUNDS.items })),
  },
  { additionalProperties: false, description: 'absent sections: not known (their gathering failed)' },
);
export type HostInventory = Static<typeof HostInventorySchema>;

// --- the report ------------------------------------------------------------------------------------------
export const ReportSchema = Type.Object(
  {
    version: Type.Literal(WIRE_VERSION),
    host: HostNameSchema,
    seq: Type.Integer({ minimum: 1, description: 'per-host sequence number; a repeated (host, seq) is stored once' }),
    at: TimestampSchema,
    sent_at: TimestampSchema,
    interval: Type.Number({ exclusiveMinimum: 0, maximum: 86400, description: 'seconds the samples cover' }),
    host_stats: HostStatsSchema,
    samples: Type.Array(TenantSampleSchema, { maxItems: 20000 }),
    events: Type.Optional(Type.Array(IncidentEventSchema, { maxItems: 10000 })),
    acks: Type.Optional(Type.Array(ActionAckSchema, { maxItems: 1000 })),
    collectors: Type.Optional(Type.Array(CollectorStatusSchema, { maxItems: 64 })),
    tenants: Type.Optional(Type.Array(TenantInfoWireSchema, { maxItems: 20000, description: 'the tenants this agent governs; present when the set changed, and hourly' })),
    agent_version: Type.Optional(Type.String({ maxLength: 64 })),
    inventory: Type.Optional(HostInventorySchema),
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

export const ReportAcceptedSchema = Type.Object(
  {
    accepted: Type.Boolean(),
    duplicate: Type.Boolean(),
    seq: Type.Integer(),
    // Present when items were refused one by one (DESIGN 8); the rest of the report is stored.
    rejected_cross_host: Type.Optional(Type.Integer({ minimum: 0, description: "samples, directory entries, events and acknowledgements refused: they touch another host's tenants" })),
    rejected_unmanaged_cap: Type.Optional(Type.Integer({ minimum: 0, description: 'new tenant names refused: the host has tenants.max_per_host unmanaged tenants' })),
    rejected_forged_manual: Type.Optional(Type.Integer({ minimum: 0, description: "events refused: their manual field names no action the controller queued for that tenant on this host" })),
    rejected_items: Type.Optional(Type.Array(ReportItemRejectionSchema, { maxItems: 100, description: 'the first refused items, named' })),
  },
  { additionalProperties: false },
);
export type ReportAccepted = Static<typeof ReportAcceptedSchema>;

// --- plans, tenants and the policy agents pull ------------------------------------------------------------
/** A plan on the wire: limits in base units (percent of one core, bytes, bytes/s, ops/s, count). */
export const PlanSchema = Type.Object(
  {
    cpu: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'percent of one core (100 = one core)' })),
    memory: Type.Optional(Type.Integer({ minimum: 1, description: 'bytes' })),
    io_read: Type.Optional(Type.Integer({ minimum: 1, description: 'bytes/s' })),
    io_write: Type.Optional(Type.Integer({ minimum: 1, description: 'bytes/s' })),
    iops: Type.Optional(Type.Integer({ minimum: 1, description: 'operations/s' })),
    processes: Type.Optional(Type.Integer({ minimum: 1, description: 'tasks (threads count)' })),
    weight: Type.Number({ exclusiveMinimum: 0, default: 1, description: 'fair-share weight' }),
  },
  { additionalProperties: false },
);
export type Plan = Static<typeof PlanSchema>;

export const TenantSpecSchema = Type.Object(
  {
    name: TenantNameSchema,
    users: Type.Array(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Integer({ minimum: 0 })]), { minItems: 1, maxItems: 256 }),
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
    level: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 })),
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
  },
  { additionalProperties: false },
);
export type Policy = Static<typeof PolicySchema>;
