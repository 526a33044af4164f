// Admin routes of remediation cases (controller/remediation): list, open, show, acknowledge on the tenant's
// behalf, resolve. Schemas in shared/wire/remediation.ts; errors are the one ErrorSchema; every call is in the
// audit log (app.ts). The tenant's own page (the signed link) is remediation-link.ts.
import { parseTimePoint } from '../../../shared/time.js';
import { parseDuration, UnitError } from '../../../shared/units.js';
import { MAX_SECONDS } from '../../../shared/wire/bounds.js';
import {
  RemediationAckSchema,
  RemediationCaseListSchema,
  RemediationCaseSchema,
  RemediationNoteSchema,
  RemediationOpenSchema,
  RemediationParamsSchema,
  RemediationQuerySchema,
} from '../../../shared/wire/remediation.js';
import { CaseRefusal } from '../../remediation/machine.js';
import type { RemediationService } from '../../remediation/service.js';
import { ConflictStateError } from '../../store/errors.js';
import { ADMIN, adminName, ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { ApiError, BadRequestError, ConflictError, NotFoundError } from '../errors.js';

/** The service, or a 503 in an app built without one (only tests build such apps). */
export function remediationOf(deps: Pick<RouteDeps, 'remediation'>): RemediationService {
  if (!deps.remediation) throw new ApiError(503, 'unavailable', 'this controller has no remediation service');
  return deps.remediation;
}

/** A deadline: an ISO-8601 time, or a duration from now (7d); in the future, at most ten years ahead. */
export function parseDeadline(text: string, now: number): number {
  const s = text.trim();
  let at: number | undefined;
  if (/^\d+(\.\d+)?[a-z]+$/.test(s)) {
    try {
      at = now + parseDuration(s);
    } catch (err) {
      if (err instanceof UnitError) throw new BadRequestError(`deadline: ${err.message}`);
      throw err;
    }
  } else if (s !== 'now') at = parseTimePoint(s, now);
  if (at === undefined || !Number.isFinite(at)) throw new BadRequestError(`deadline: "${text}" is neither an ISO-8601 time (2025-01-31T12:00:00Z) nor a duration from now (7d, 72h)`);
  if (at <= now) throw new BadRequestError(`deadline: must be in the future, got ${new Date(at).toISOString()}`);
  if (at - now > MAX_SECONDS * 1000) throw new BadRequestError(`deadline: must be at most ${MAX_SECONDS / 86_400}d ahead`);
  return at;
}

/** A refusal of the case's state machine or the store as the API says it. */
function mapped(err: unknown): never {
  if (err instanceof CaseRefusal) throw new ConflictError(err.code, err.message);
  if (err instanceof ConflictStateError && err.code === 'no_host') throw new ConflictError(err.code, `${err.message}: PUT it with a host first`);
  throw err;
}

export async function registerRemediationRoutes(app: App, deps: RouteDeps): Promise<void> {
  const tags = ['remediation'];
  app.get(
    '/v1/remediation-cases',
    { config: ADMIN, schema: { operationId: 'getRemediationCases', summary: 'Remediation cases, newest first', tags, querystring: RemediationQuerySchema, response: { 200: RemediationCaseListSchema, ...ERROR_RESPONSES } } },
    async (request) => ({ cases: await remediationOf(deps).list({ tenant: request.query.tenant, state: request.query.state, limit: request.query.limit ?? 100 }) }),
  );

  app.post(
    '/v1/remediation-cases',
    {
      config: ADMIN,
      schema: {
        operationId: 'postRemediationCases',
        summary: 'Open a remediation case: what to fix, evidence, a deadline',
        description: 'The tenant is told at once, with a signed link to acknowledge it (public_url); past the deadline the step (remediation.overdue_step unless given) applies as a manual action until the case is resolved.',
        tags,
        body: RemediationOpenSchema,
        response: { 201: RemediationCaseSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const deadline = parseDeadline(b.deadline, deps.now());
      try {
        const c = await remediationOf(deps).open({ tenant: b.tenant, what: b.what, deadline, incidents: b.incidents, step: b.step }, adminName(request));
        return reply.code(201).send(c);
      } catch (err) {
        return mapped(err);
      }
    },
  );

  app.get(
    '/v1/remediation-cases/:id',
    { config: ADMIN, schema: { operationId: 'getRemediationCase', summary: 'One remediation case with its evidence and history', tags, params: RemediationParamsSchema, response: { 200: RemediationCaseSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const c = await remediationOf(deps).get(request.params.id);
      if (!c) throw new NotFoundError(`remediation case ${request.params.id} is not known`);
      return c;
    },
  );

  app.post(
    '/v1/remediation-cases/:id/acknowledge',
    {
      config: ADMIN,
      schema: { operationId: 'postRemediationCaseAcknowledge', summary: "Acknowledge a case on the tenant's behalf (it said so by mail or phone)", tags, params: RemediationParamsSchema, body: RemediationAckSchema, response: { 200: RemediationCaseSchema, ...ERROR_RESPONSES } },
    },
    async (request) => {
      try {
        return await remediationOf(deps).acknowledge(request.params.id, adminName(request), request.body.note);
      } catch (err) {
        return mapped(err);
      }
    },
  );

  app.post(
    '/v1/remediation-cases/:id/resolve',
    {
      config: ADMIN,
      schema: { operationId: 'postRemediationCaseResolve', summary: 'Resolve a case (its overdue step is lifted with a release)', tags, params: RemediationParamsSchema, body: RemediationNoteSchema, response: { 200: RemediationCaseSchema, ...ERROR_RESPONSES } },
    },
    async (request) => {
      try {
        return await remediationOf(deps).resolve(request.params.id, adminName(request), request.body.note);
      } catch (err) {
        return mapped(err);
      }
    },
  );
}
