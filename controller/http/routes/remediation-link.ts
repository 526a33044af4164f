// The tenant's acknowledgement page, reached by the signed link of its remediation notice (until the
// dashboard's tenant pages exist): GET /remediation/{token} shows the case and a confirm button and changes
// nothing; POST /remediation/{token} acknowledges it. No token other than the link's: the link is the
// credential (HMAC-signed, expiring: controller/remediation/link.ts), so these routes are public.
//
// Everything shown is escaped for HTML; the page loads nothing (Content-Security-Policy default-src 'none'),
// cannot be framed, is not cached and sends no Referer (the token is in the URL). A refused link answers a
// small HTML page to a browser (Accept: text/html) and `{ error, message }` to anything else, as every route.
import { Type } from 'typebox';
import { RemediationTokenParamsSchema, type RemediationCase } from '../../../shared/wire/remediation.js';
import { escapeHtml } from '../../notices/template-engine.js';
import { clean, humanTime } from '../../notices/view.js';
import { stepWords } from '../../remediation/notices.js';
import { TENANT_BY } from '../../remediation/service.js';
import { CaseRefusal } from '../../remediation/machine.js';
import { ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { ApiError } from '../errors.js';
import { remediationOf } from './remediation.js';
import type { FastifyReply, FastifyRequest } from 'fastify';

const HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Status of a refused link: a bad or unknown one is 404 (nothing to show), an expired one 410. */
const STATUS = { malformed: 404, bad_signature: 404, unknown: 404, expired: 410 } as const;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title></head>
<body style="font-family:sans-serif;font-size:15px;line-height:1.45;color:#222;max-width:42em;margin:2em auto;padding:0 1em">
${body}
</body></html>
`;
}

function casePage(c: RemediationCase, done: boolean): string {
  const e = (s: string) => escapeHtml(clean(s));
  const parts = [
    `<h1 style="font-size:1.3em">Case ${c.id}: an issue to fix on your account</h1>`,
    `<p>Account <strong>${e(c.tenant)}</strong> on <strong>${e(c.host)}</strong>. Deadline: <strong>${e(humanTime(c.deadline))}</strong>.</p>`,
    `<h2 style="font-size:1.1em">What to fix</h2>`,
    `<blockquote style="border-left:3px solid #999;margin:0 0 12px 0;padding:4px 12px;white-space:pre-wrap">${e(c.what)}</blockquote>`,
  ];
  if (c.evidence.incidents.length) {
    parts.push('<h2 style="font-size:1.1em">What we recorded</h2><ul>');
    for (const i of c.evidence.incidents) parts.push(`<li>${e(humanTime(i.opened_at))}: ${e(i.summary)}</li>`);
    parts.push('</ul>');
  }
  const button = '<form method="post"><button type="submit" style="font-size:1em;padding:.5em 1em">I have read this and I am working on it</button></form>';
  if (done) parts.push('<p style="color:#060"><strong>Thank you: your acknowledgement is recorded.</strong> The deadline stays as it was; an administrator resolves the case once the issue is fixed.</p>');
  else if (c.state === 'open') parts.push(`<p>Please confirm that you have read this and are working on it. If it is not fixed by the deadline, ${e(stepWords(c))}.</p>${button}`);
  else if (c.state === 'acknowledged') parts.push(`<p>You acknowledged this case on ${e(humanTime(c.acknowledged_at!))}. Thank you.</p>`);
  else if (c.state === 'overdue') parts.push(`<p>The deadline has passed: ${e(stepWords(c))} until an administrator resolves the case.</p>${c.acknowledged_at === null ? button : ''}`);
  else parts.push(`<p>This case was resolved on ${e(humanTime(c.resolved_at!))}.</p>`);
  parts.push('<p style="color:#777;font-size:.85em">Questions: reply to the email that brought you here.</p>');
  return page(`Case ${c.id}`, parts.join('\n'));
}

function wantsHtml(request: FastifyRequest): boolean {
  return /\btext\/html\b/.test(request.headers.accept ?? '');
}

function refuse(request: FastifyRequest, reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  if (!wantsHtml(request)) throw new ApiError(status, code, message);
  return reply.code(status).headers(HEADERS).type('text/html; charset=utf-8').send(page('Link not valid', `<h1 style="font-size:1.3em">This link cannot be used</h1>\n<p>${escapeHtml(message)}</p>`));
}

export async function registerRemediationLinkRoutes(app: App, deps: RouteDeps): Promise<void> {
  // The confirm button posts a form; its (empty) body is read and ignored, at most 1 KiB.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_request, _body, done) => done(null, {}));
  const tags = ['remediation'];
  const response = { 200: Type.String({ description: 'an HTML page' }), ...ERROR_RESPONSES };

  app.get(
    '/remediation/:token',
    {
      config: { auth: 'public' },
      schema: { operationId: 'getRemediationLink', summary: "The tenant's page of a case (signed link; shows, changes nothing)", tags, security: [], params: RemediationTokenParamsSchema, response },
    },
    async (request, reply) => {
      const check = await remediationOf(deps).checkLink(request.params.token);
      if (!check.ok) return refuse(request, reply, STATUS[check.reason], `link_${check.reason}`, check.message);
      return reply.headers(HEADERS).type('text/html; charset=utf-8').send(casePage(check.case, false));
    },
  );

  app.post(
    '/remediation/:token',
    {
      config: { auth: 'public' },
      schema: {
        operationId: 'postRemediationLink',
        summary: 'The tenant acknowledges its case (the signed link)',
        tags,
        security: [],
        params: RemediationTokenParamsSchema,
        // The page's form (no fields); a body of another type, or none, is ignored alike.
        body: { content: { 'application/x-www-form-urlencoded': { schema: Type.Object({}, { additionalProperties: true, description: 'the confirm form (ignored)' }) } } },
        response,
      },
    },
    async (request, reply) => {
      const service = remediationOf(deps);
      const check = await service.checkLink(request.params.token);
      if (!check.ok) return refuse(request, reply, STATUS[check.reason], `link_${check.reason}`, check.message);
      try {
        const c = await service.acknowledge(check.case.id, TENANT_BY);
        request.log.info({ case: c.id, tenant: c.tenant }, 'remediation case acknowledged by the tenant');
        return reply.headers(HEADERS).type('text/html; charset=utf-8').send(casePage(c, true));
      } catch (err) {
        if (err instanceof CaseRefusal) return refuse(request, reply, 409, err.code, `${err.message}: nothing to acknowledge`);
        throw err;
      }
    },
  );
}
