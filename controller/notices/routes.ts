// GET /v1/notices (admin): queued, sent, held and failed notices with their errors; GET /v1/notices/{id} with
// the message as it was (or will be) sent.
import { Type, type Static } from 'typebox';
import { HostNameSchema, TenantNameSchema, TimestampSchema } from '../../shared/wire/agent.js';
import { ERROR_RESPONSES, type App } from '../app.js';
import { NotFoundError } from '../errors.js';
import type { NoticeOutbox, NoticeRow, NoticeState } from './outbox.js';

const Nullable = <T extends import('typebox').TSchema>(s: T) => Type.Union([s, Type.Null()]);
const NullTime = Nullable(TimestampSchema);

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
      'queued (waiting; after a failed attempt with its error), sending, sent, failed (refused for good or given up), held (rate-limited, waits for the digest), digested (told in digest_id), no_recipient (the tenant has no address; the admin copy went out if configured), opted_out (informational, the tenant opted out)',
  },
);

export const NoticeSchema = Type.Object(
  {
    id: Type.Integer(),
    kind: Type.Union([Type.Literal('event'), Type.Literal('digest')]),
    tenant: TenantNameSchema,
    host: Nullable(HostNameSchema),
    resource: Nullable(Type.String()),
    incident_id: Nullable(Type.Integer({ description: 'GET /v1/incidents/{id}' })),
    incident: Nullable(Type.String({ description: "the agent's incident id" })),
    event_type: Nullable(Type.String()),
    step: Nullable(Type.String()),
    level: Nullable(Type.Integer()),
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
    attempts: Type.Integer(),
    next_attempt_at: NullTime,
    last_attempt_at: NullTime,
    sent_at: NullTime,
    error: Nullable(Type.String({ description: 'the last error, or a note (refused recipients, no address)' })),
    digest_id: Nullable(Type.Integer({ description: 'held notices: the digest that told them' })),
    digest_due: NullTime,
  },
  { additionalProperties: false },
);
export type Notice = Static<typeof NoticeSchema>;

// The schema's states and the outbox's are the same list.
const _sameStates: [Static<typeof NoticeStateSchema>, NoticeState] extends [NoticeState, Static<typeof NoticeStateSchema>] ? true : never = true;
void _sameStates;

export const NoticeDetailSchema = Type.Object(
  { ...NoticeSchema.properties, text: Nullable(Type.String()), html: Nullable(Type.String()) },
  { additionalProperties: false },
);
export type NoticeDetail = Static<typeof NoticeDetailSchema>;

export const NoticeListSchema = Type.Object(
  { notices: Type.Array(NoticeSchema), counts: Type.Record(Type.String(), Type.Integer(), { description: 'all notices by state' }) },
  { additionalProperties: false },
);

export const NoticeQuerySchema = Type.Object(
  {
    tenant: Type.Optional(TenantNameSchema),
    state: Type.Optional(NoticeStateSchema),
    kind: Type.Optional(Type.Union([Type.Literal('event'), Type.Literal('digest')])),
    incident: Type.Optional(Type.Integer({ minimum: 1, description: 'incident id (GET /v1/incidents)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100 })),
  },
  { additionalProperties: false },
);
export const NoticeParamsSchema = Type.Object({ id: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

export function noticeOf(r: NoticeRow): Notice {
  return {
    id: r.id,
    kind: r.kind,
    tenant: r.tenant,
    host: r.host,
    resource: r.resource,
    incident_id: r.incident_id,
    incident: r.incident_key,
    event_type: r.event_type,
    step: r.step,
    level: r.level,
    manual: r.manual === 1,
    category: r.category,
    state: r.state,
    created_at: new Date(r.created_at).toISOString(),
    event_at: iso(r.event_at),
    recipient: r.recipient,
    bcc: JSON.parse(r.bcc) as string[],
    subject: r.subject,
    summary: r.summary,
    message_id: r.message_id,
    attempts: r.attempts,
    next_attempt_at: iso(r.next_attempt_at),
    last_attempt_at: iso(r.last_attempt_at),
    sent_at: iso(r.sent_at),
    error: r.error,
    digest_id: r.digest_id,
    digest_due: iso(r.digest_due),
  };
}

const admin = { auth: 'admin' } as const;

export async function registerNoticeRoutes(app: App, outbox: NoticeOutbox): Promise<void> {
  app.get(
    '/v1/notices',
    {
      config: admin,
      schema: {
        summary: 'Notices to tenants, newest first: queued, sent, held, failed (with their errors)',
        tags: ['notices'],
        querystring: NoticeQuerySchema,
        response: { 200: NoticeListSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const q = request.query;
      const rows = await outbox.list({ tenant: q.tenant, state: q.state, kind: q.kind, incident: q.incident, limit: q.limit ?? 100 });
      return { notices: rows.map(noticeOf), counts: (await outbox.counts()) as Record<string, number> };
    },
  );

  app.get(
    '/v1/notices/:id',
    {
      config: admin,
      schema: { summary: 'One notice with its plain-text and HTML body', tags: ['notices'], params: NoticeParamsSchema, response: { 200: NoticeDetailSchema, ...ERROR_RESPONSES } },
    },
    async (request) => {
      const r = await outbox.get(request.params.id);
      if (!r) throw new NotFoundError(`notice ${request.params.id} is not known`);
      return { ...noticeOf(r), text: r.body_text, html: r.body_html };
    },
  );
}
