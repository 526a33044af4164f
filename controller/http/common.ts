// What the app (app.ts) and every route module (routes/*.ts) share: the app's type, the dependencies routes
// are handed, access levels, request validation, the principal of a request, and the one mapping from an
// error to `{ "error": code, "message": text }` with its status. Routes import this module, never app.ts.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { validator } from '../../shared/validate.js';
import { VERSION } from '../../shared/version.js';
import type { ErrorBody } from '../../shared/wire/api.js';
import type { Principal } from '../auth.js';
import { ApiError, UnauthorizedError } from './errors.js';
import type { Flusher } from '../ingest/flusher.js';
import type { ReportParser } from '../ingest/parser.js';
import type { ControllerMetrics } from '../metrics.js';
import type { NoticeOutbox } from '../notices/outbox.js';
import type { RemediationService } from '../remediation/service.js';
import { StoreError, StoreUnavailableError, type StoreErrorKind } from '../store/errors.js';
import type { Store } from '../store/store.js';
import type { TokenRegistry } from '../auth.js';
import type { TenantLinkService } from '../ui/links.js';
import type { UiSessions } from '../ui/sessions.js';

/** The package version (shared/version.ts). */
export const CONTROLLER_VERSION = VERSION;

/** Who may call a route (route config `auth`). */
export type Access = 'public' | 'agent' | 'admin' | 'usage_api';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export type App = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** The notices the admin routes read (GET /v1/notices): the outbox's read side. */
export type NoticeReader = Pick<NoticeOutbox, 'list' | 'get' | 'counts'>;

/** What every route module is handed. */
export interface RouteDeps {
  store: Store;
  metrics: ControllerMetrics;
  parser: ReportParser;
  /** The controller's one flusher (server.ts runs its periodic pass); routes kick it after a report. */
  flusher: Flusher;
  /** Undefined in an app built without notices (tests): the notice routes then answer 503. */
  outbox: NoticeReader | undefined;
  /** Remediation cases; undefined in an app built without them (tests): those routes then answer 503. */
  remediation: RemediationService | undefined;
  now: () => number;
  reportBodyLimit: number;
  /** Fairness half-life, reported by GET /v1/fairness (the store applies it). */
  halfLifeMs: number | undefined;
  startedAt: number;
  /** The dashboard and the tenant pages. */
  ui: UiDeps;
}

export interface UiDeps {
  sessions: UiSessions;
  links: TenantLinkService;
  /** The login checks tokens as the bearer authentication does. */
  tokens: TokenRegistry;
  /** The built UI: index.html, tenant.html, assets/. */
  dir: string;
  /** The listener has TLS: the cookie is Secure. */
  secureCookie: boolean;
  /** Base of admin-made links; undefined: the request's origin. */
  publicUrl: string | undefined;
  support: { email: string | undefined; url: string | undefined };
}

/** Error responses of every route (the schema is ErrorSchema of shared/wire/api.ts, added as `ApiError`). */
export const ERROR_RESPONSES = {
  '4xx': { $ref: 'ApiError#' },
  '5xx': { $ref: 'ApiError#' },
} as const;

/** Route config of the admin routes. */
export const ADMIN = { auth: 'admin' } as const;

/**
 * Validation with the TypeBox compiler; messages name the field: "at /samples/0/cpu/percent: must be >= 0",
 * "query parameter limit: ...". Query strings and path parameters are converted (numbers, booleans) first.
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const v = validator(schema);
  return (value: unknown) => {
    const input = httpPart === 'body' ? value : Value.Convert(schema, value);
    if (v.check(input)) return { value: input };
    const problems = v.problems(input, 5).map((p) => {
      if (httpPart === 'body') return p;
      const what = httpPart === 'querystring' ? 'query parameter' : httpPart === 'params' ? 'path parameter' : 'header';
      return p.replace(/^at \/?([^:]*): /, (_m, field: string) => (field ? `${what} ${field.replace(/\//g, '.')}: ` : `${what}s: `));
    });
    return { error: problems.map((message) => ({ message, instancePath: '', schemaPath: '', keyword: 'hostwarden', params: {} })) };
  };
};

/** The principal of an authenticated request (routes with auth admin or agent). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new UnauthorizedError('not authenticated');
  return request.principal;
}

export function adminName(request: FastifyRequest): string {
  const p = principalOf(request);
  return p.kind === 'agent' ? `agent:${p.host}` : p.name;
}

/** The status of each kind of store refusal (controller/store/errors.ts). */
const STORE_STATUS: Readonly<Record<StoreErrorKind, number>> = { invalid: 400, not_found: 404, conflict: 409 };

/** The status of an error the API answers with its own code and message; undefined for anything else. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.status;
  if (err instanceof StoreError) return STORE_STATUS[err.kind];
  // The database server is down or unreachable (PostgreSQL): try again later; agents keep their reports spooled.
  if (err instanceof StoreUnavailableError && err.code === 'HW_STORE_UNREACHABLE') return 503;
  return undefined;
}

/**
 * The one mapping from a failure to its answer. ApiError and StoreError carry their code and a message meant
 * for the client; fastify's own 4xx (validation, body limit, content type) get stable codes; anything else
 * is a 500 whose details stay in the log.
 */
export function errorAnswer(err: unknown, request?: { headers: { 'content-type'?: string | undefined }; routeOptions?: { bodyLimit?: number } }): { status: number; body: ErrorBody; internal: boolean } {
  const known = statusOf(err);
  if (known !== undefined) {
    const e = err as ApiError | StoreError | StoreUnavailableError;
    return { status: known, body: { error: e instanceof StoreUnavailableError ? 'unavailable' : e.code, message: e.message }, internal: false };
  }
  const e = err as FastifyError;
  if (e.validation) return { status: 400, body: { error: 'bad_request', message: e.message }, internal: false };
  const status = e.statusCode ?? 500;
  if (status === 413) {
    const limit = request?.routeOptions?.bodyLimit;
    return { status, body: { error: 'payload_too_large', message: limit ? `body larger than the limit of ${limit} bytes` : `body larger than the limit (${e.message})` }, internal: false };
  }
  if (status === 415) {
    const type = request?.headers['content-type']?.split(';')[0]?.trim().slice(0, 100);
    return { status, body: { error: 'unsupported_media_type', message: type ? `content-type "${type}" is not accepted: send the body as application/json` : 'send the body as application/json (no content-type given)' }, internal: false };
  }
  if (status >= 400 && status < 500) {
    const message = e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'body is empty' : e.message;
    return { status, body: { error: status === 400 ? 'bad_request' : `http_${status}`, message }, internal: false };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error (details are in the controller log)' }, internal: true };
}

/** The app's error handler: errorAnswer, and a log line for the internal ones. */
export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = errorAnswer(err, request);
  if (answer.internal) request.log.error({ err, url: request.url, method: request.method }, 'request failed');
  if (err instanceof StoreUnavailableError) {
    request.log.warn({ err, url: request.url, method: request.method }, 'the database cannot be reached');
    void reply.header('retry-after', '30');
  }
  return reply.code(answer.status).send(answer.body);
}

/** For routes that take no body: none, or an empty object (EmptyBodySchema says so for the API description). */
export const emptyBody = (ctx: Parameters<typeof validatorCompiler>[0]) =>
  ctx.httpPart === 'body'
    ? (value: unknown) =>
        value === undefined || value === null || (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0)
          ? { value }
          : { error: [{ message: 'this route takes no body (or an empty object)', instancePath: '', schemaPath: '', keyword: 'hostwarden', params: {} }] }
    : validatorCompiler(ctx);
