// GET /v1/notices (admin): queued, sent, held and failed notices with their errors; GET /v1/notices/{id} with
// the message as it was (or will be) sent. The schemas are in shared/wire/api.ts; the outbox is handed in
// through the route deps (RouteDeps.outbox).
import {
  NoticeDetailSchema,
  NoticeListSchema,
  NoticeParamsSchema,
  NoticeQuerySchema,
  type Notice,
  type NoticeDetail,
  type NoticeList,
} from '../../../shared/wire/api.js';
import { ApiError, NotFoundError } from '../errors.js';
import type { NoticeRow } from '../../notices/outbox.js';
import { ADMIN, ERROR_RESPONSES, type App, type NoticeReader } from '../common.js';

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

/** The outbox, or a 503 in an app built without one (only tests build such apps). */
function reader(outbox: NoticeReader | undefined): NoticeReader {
  if (!outbox) throw new ApiError(503, 'unavailable', 'this controller has no notice outbox');
  return outbox;
}

/** Takes the outbox (RouteDeps.outbox) rather than all deps: notices/service.ts calls it that way too. */
export async function registerNoticeRoutes(app: App, outbox: NoticeReader | undefined): Promise<void> {
  app.get(
    '/v1/notices',
    {
      config: ADMIN,
      schema: {
        operationId: 'getNotices',
        summary: 'Notices to tenants, newest first: queued, sent, held, failed (with their errors)',
        tags: ['notices'],
        querystring: NoticeQuerySchema,
        response: { 200: NoticeListSchema, ...ERROR_RESPONSES },
      },
    },
    async (request): Promise<NoticeList> => {
      const q = request.query;
      const o = reader(outbox);
      const rows = await o.list({ tenant: q.tenant, state: q.state, kind: q.kind, incident: q.incident, limit: q.limit ?? 100 });
      return { notices: rows.map(noticeOf), counts: (await o.counts()) as Record<string, number> };
    },
  );

  app.get(
    '/v1/notices/:id',
    {
      config: ADMIN,
      schema: { operationId: 'getNotice', summary: 'One notice with its plain-text and HTML body', tags: ['notices'], params: NoticeParamsSchema, response: { 200: NoticeDetailSchema, ...ERROR_RESPONSES } },
    },
    async (request): Promise<NoticeDetail> => {
      const r = await reader(outbox).get(request.params.id);
      if (!r) throw new NotFoundError(`notice ${request.params.id} is not known`);
      return { ...noticeOf(r), text: r.body_text, html: r.body_html };
    },
  );
}
