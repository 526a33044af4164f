// The dashboard's own JSON (controller/http/routes/ui.ts, tenant-links.ts, tenant-pages.ts): the admin's
// session, tenant links, and what a tenant's page reads. The tenant's shapes say nothing of other tenants:
// no names, no contention detail, only the tenant's own processes.
import { Type, type Static, type TSchema } from 'typebox';
import { HostNameSchema, PlanSchema, ResourceSchema, StepSchema, TenantNameSchema, TimestampSchema } from './agent.js';
import { IntegerIn, MAX_BYTES, MAX_CPU_PERCENT, MAX_SAFE, MAX_SHARE, MAX_TASKS, NumberIn } from './bounds.js';

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);

export const LoginSchema = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 512, description: 'an admin token (as in "Authorization: Bearer <token>")' }) },
  { additionalProperties: false },
);
export type Login = Static<typeof LoginSchema>;

export const UiSessionSchema = Type.Object(
  {
    admin: Type.String({ description: 'the admin the token belongs to: the audit log names this admin' }),
    role: Type.Union([Type.Literal('admin'), Type.Literal('viewer')], { description: 'viewer: read-only' }),
    csrf: Type.String({ description: 'send as X-CSRF-Token with every method other than GET/HEAD made with the cookie' }),
    expires_at: TimestampSchema,
  },
  { additionalProperties: false },
);
export type UiSession = Static<typeof UiSessionSchema>;

export const LINK_ID_SCHEMA_PATTERN = '^[0-9a-f]{16}$';
export const TenantLinkSchema = Type.Object(
  {
    id: Type.String({ pattern: LINK_ID_SCHEMA_PATTERN, description: 'DELETE /v1/tenant-links/{id} revokes it' }),
    url: Type.String({ description: '<public_url>/t/<token>' }),
    expires_at: TimestampSchema,
  },
  { additionalProperties: false },
);
export const TenantLinkParamsSchema = Type.Object({ id: Type.String({ pattern: LINK_ID_SCHEMA_PATTERN }) }, { additionalProperties: false });
/** A file of the built UI's assets/ directory (vite writes them flat: name-hash.js). */
export const AssetParamsSchema = Type.Object({ file: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
export const TenantTokenParamsSchema = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false });
export const TenantCaseParamsSchema = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }), id: IntegerIn(1, MAX_SAFE) }, { additionalProperties: false });

export const TenantSummarySchema = Type.Object(
  {
    tenant: TenantNameSchema,
    plan: Nullable(Type.Object({ name: Type.String(), ...PlanSchema.properties }, { additionalProperties: false, description: 'the plan and its caps' })),
    contact: Type.Object({ email: Nullable(Type.String()), url: Nullable(Type.String()) }, { additionalProperties: false, description: 'whom to contact (notices.support)' }),
    hosts: Type.Array(HostNameSchema),
    open_incidents: IntegerIn(0, MAX_SAFE),
    link_expires_at: TimestampSchema,
  },
  { additionalProperties: false },
);
export type TenantSummary = Static<typeof TenantSummarySchema>;

const Quantity = Type.Object({ value: Type.String(), unit: Type.String() }, { additionalProperties: false });
export const TenantIncidentSchema = Type.Object(
  {
    id: IntegerIn(1, MAX_SAFE),
    host: HostNameSchema,
    resource: ResourceSchema,
    state: Type.Union([Type.Literal('open'), Type.Literal('released')]),
    step: StepSchema,
    level: IntegerIn(0, 3, '0 notice, 1-2 throttle levels, 3 quarantine'),
    manual: Type.Boolean({ description: 'an administrator acted by hand' }),
    opened_at: TimestampSchema,
    released_at: Nullable(TimestampSchema),
    until: Nullable(TimestampSchema),
    summary: Type.String({ description: 'in plain words; other tenants are "other customers"' }),
    action: Type.String(),
    avoid: Type.String({ description: 'what would have avoided it' }),
    measured: Nullable(Quantity),
    threshold: Nullable(Type.Object({ value: Type.String(), unit: Type.String(), kind: Type.String() }, { additionalProperties: false })),
    share: Nullable(Type.Object({ yours: NumberIn(0, MAX_SHARE, 'fraction of the server'), fair: NumberIn(0, MAX_SHARE, 'fraction of the server') }, { additionalProperties: false, description: 'fractions of the server' })),
    others_waiting: Type.Boolean({ description: 'other customers were waiting for the resource' }),
    top_processes: Type.Array(
      Type.Object(
        { pid: IntegerIn(1, MAX_TASKS, 'process id'), command: Type.String(), cpu_percent: NumberIn(0, MAX_CPU_PERCENT, 'percent of one core'), rss_bytes: IntegerIn(0, MAX_BYTES, 'resident memory, bytes') },
        { additionalProperties: false },
      ),
    ),
    what_to_change: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
export type TenantIncident = Static<typeof TenantIncidentSchema>;
export const TenantIncidentListSchema = Type.Object({ incidents: Type.Array(TenantIncidentSchema) }, { additionalProperties: false });

export const TenantCaseSchema = Type.Object(
  {
    id: IntegerIn(1, MAX_SAFE),
    host: HostNameSchema,
    state: Type.String(),
    what: Type.String({ description: 'what to fix' }),
    opened_at: TimestampSchema,
    deadline: TimestampSchema,
    acknowledged_at: Nullable(TimestampSchema),
    resolved_at: Nullable(TimestampSchema),
    if_not_fixed: Type.String({ description: 'what happens when the deadline passes' }),
    can_acknowledge: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type TenantCase = Static<typeof TenantCaseSchema>;
export const TenantCaseListSchema = Type.Object({ cases: Type.Array(TenantCaseSchema) }, { additionalProperties: false });
