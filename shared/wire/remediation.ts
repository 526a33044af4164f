// Remediation cases (AUP section 7: "we may require you to remediate code or configuration issues"): the admin
// API's request and answer schemas. A case asks one tenant to fix something by a deadline, with evidence
// (incidents and the top processes their explanations name); the tenant acknowledges it through a signed link,
// an administrator resolves it. Errors are the one ErrorSchema of ./api.ts. Every string is bounded.
import { Type, type Static, type TSchema } from 'typebox';
import { HostNameSchema, TenantNameSchema, TimestampSchema } from './agent.js';
import { IntegerIn, MAX_BYTES, MAX_CPU_PERCENT, MAX_SAFE, MAX_TASKS, NumberIn } from './bounds.js';

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);

/** Longest "what to fix" text. */
export const MAX_CASE_TEXT = 4000;
/** Longest note (resolution, acknowledgement). */
export const MAX_CASE_NOTE = 2000;
/** Most incidents a case quotes as evidence. */
export const MAX_CASE_INCIDENTS = 20;
/** Most top processes a case quotes (from its incidents' explanations). */
export const MAX_CASE_PROCESSES = 20;
/** Most history entries of one case (a case moves a handful of times; a cap against a loop). */
export const MAX_CASE_HISTORY = 100;

export const CASE_STATES = ['open', 'acknowledged', 'overdue', 'resolved'] as const;
export type CaseState = (typeof CASE_STATES)[number];
export const CaseStateSchema = Type.Union(
  [Type.Literal('open'), Type.Literal('acknowledged'), Type.Literal('overdue'), Type.Literal('resolved')],
  { description: 'open -> acknowledged (the tenant confirmed) -> resolved; open or acknowledged past the deadline -> overdue (the step applies) -> resolved (the step is lifted)' },
);

/** What applies when a case is overdue: a throttle level, a freeze (quarantine), or nothing. */
export const CaseStepSchema = Type.Object(
  {
    action: Type.Union([Type.Literal('throttle'), Type.Literal('quarantine'), Type.Literal('none')]),
    level: Type.Optional(IntegerIn(1, 2, 'throttle level (throttle only; default 1)')),
  },
  { additionalProperties: false, description: 'applied as a manual action when the case is overdue, lifted (a release) when it is resolved' },
);
export type CaseStep = Static<typeof CaseStepSchema>;

export const STEP_STATES = ['none', 'due', 'applied', 'lift_due', 'lifted', 'left'] as const;
export type StepState = (typeof STEP_STATES)[number];

export const CaseIncidentSchema = Type.Object(
  {
    id: IntegerIn(1, MAX_SAFE, 'GET /v1/incidents/{id}'),
    host: HostNameSchema,
    rule: Type.String({ maxLength: 128 }),
    resource: Type.String({ maxLength: 32 }),
    opened_at: TimestampSchema,
    summary: Type.String({ maxLength: 2000, description: "the incident's explanation in one sentence (an infected-file incident names its files here)" }),
  },
  { additionalProperties: false },
);
export type CaseIncident = Static<typeof CaseIncidentSchema>;

export const CaseProcessSchema = Type.Object(
  {
    incident_id: IntegerIn(1, MAX_SAFE, 'the incident whose explanation named it'),
    pid: IntegerIn(1, MAX_TASKS, 'process id'),
    command: Type.String({ maxLength: 1024 }),
    cpu_percent: NumberIn(0, MAX_CPU_PERCENT, 'percent of one core'),
    rss_bytes: IntegerIn(0, MAX_BYTES, 'resident memory, bytes'),
  },
  { additionalProperties: false },
);
export type CaseProcess = Static<typeof CaseProcessSchema>;

export const CaseEvidenceSchema = Type.Object(
  {
    incidents: Type.Array(CaseIncidentSchema, { maxItems: MAX_CASE_INCIDENTS }),
    top_processes: Type.Array(CaseProcessSchema, { maxItems: MAX_CASE_PROCESSES }),
  },
  { additionalProperties: false },
);
export type CaseEvidence = Static<typeof CaseEvidenceSchema>;

export const CASE_EVENT_TYPES = ['opened', 'reminded', 'acknowledged', 'overdue', 'step_applied', 'resolved', 'step_lifted', 'step_left'] as const;
export type CaseEventType = (typeof CASE_EVENT_TYPES)[number];
export const CaseEventSchema = Type.Object(
  {
    at: TimestampSchema,
    type: Type.Union([
      Type.Literal('opened'),
      Type.Literal('reminded'),
      Type.Literal('acknowledged'),
      Type.Literal('overdue'),
      Type.Literal('step_applied'),
      Type.Literal('resolved'),
      Type.Literal('step_lifted'),
      Type.Literal('step_left'),
    ]),
    by: Type.String({ maxLength: 200, description: 'an admin name, "tenant" (the signed link) or "controller"' }),
    note: Nullable(Type.String({ maxLength: MAX_CASE_TEXT })),
  },
  { additionalProperties: false },
);
export type CaseEvent = Static<typeof CaseEventSchema>;

export const RemediationCaseSchema = Type.Object(
  {
    id: IntegerIn(1, MAX_SAFE),
    tenant: TenantNameSchema,
    host: HostNameSchema,
    state: CaseStateSchema,
    what: Type.String({ maxLength: MAX_CASE_TEXT, description: 'what to fix, in the words of whoever opened the case' }),
    rule: Nullable(Type.String({ maxLength: 128, description: 'the rule whose incidents opened it (automatic cases)' })),
    opened_by: Type.String({ maxLength: 200 }),
    opened_at: TimestampSchema,
    deadline: TimestampSchema,
    acknowledged_at: Nullable(TimestampSchema),
    reminded_at: Nullable(TimestampSchema),
    overdue_at: Nullable(TimestampSchema),
    resolved_at: Nullable(TimestampSchema),
    resolution: Nullable(Type.String({ maxLength: MAX_CASE_NOTE })),
    step: CaseStepSchema,
    step_state: Type.Union([Type.Literal('none'), Type.Literal('due'), Type.Literal('applied'), Type.Literal('lift_due'), Type.Literal('lifted'), Type.Literal('left')], {
      description: 'none (not overdue, or no step), due (to be queued), applied (its manual action queued), lift_due, lifted (a release queued), left (another action replaced it: not released)',
    }),
    step_action_id: Nullable(Type.String({ maxLength: 128, description: 'GET /v1/actions/{id}: the manual action of the step' })),
    lift_action_id: Nullable(Type.String({ maxLength: 128, description: 'the release that lifted it' })),
    evidence: CaseEvidenceSchema,
    history: Type.Array(CaseEventSchema, { maxItems: MAX_CASE_HISTORY }),
  },
  { additionalProperties: false },
);
export type RemediationCase = Static<typeof RemediationCaseSchema>;

export const RemediationCaseListSchema = Type.Object({ cases: Type.Array(RemediationCaseSchema) }, { additionalProperties: false });

export const RemediationOpenSchema = Type.Object(
  {
    tenant: TenantNameSchema,
    what: Type.String({ minLength: 1, maxLength: MAX_CASE_TEXT, description: 'what to fix (shown to the tenant)' }),
    deadline: Type.String({ minLength: 1, maxLength: 40, description: 'ISO-8601 time, or a duration from now such as 7d, 72h (default remediation.deadline)' }),
    incidents: Type.Optional(Type.Array(IntegerIn(1, MAX_SAFE, 'incident id'), { maxItems: MAX_CASE_INCIDENTS, description: "incidents of this tenant quoted as evidence, with their explanations' top processes" })),
    step: Type.Optional(CaseStepSchema),
  },
  { additionalProperties: false },
);
export type RemediationOpen = Static<typeof RemediationOpenSchema>;

export const RemediationNoteSchema = Type.Object(
  { note: Type.String({ minLength: 1, maxLength: MAX_CASE_NOTE }) },
  { additionalProperties: false },
);
export const RemediationAckSchema = Type.Object(
  { note: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_CASE_NOTE })) },
  { additionalProperties: false },
);

export const RemediationQuerySchema = Type.Object(
  {
    tenant: Type.Optional(TenantNameSchema),
    state: Type.Optional(CaseStateSchema),
    limit: Type.Optional(IntegerIn(1, 10_000, 'most cases to answer', { default: 100 })),
  },
  { additionalProperties: false },
);
export const RemediationParamsSchema = Type.Object({ id: IntegerIn(1, MAX_SAFE) }, { additionalProperties: false });
/** The signed link's token (controller/remediation/link.ts): base64url payload "." base64url MAC. */
export const RemediationTokenParamsSchema = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512, pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$' }) }, { additionalProperties: false });
