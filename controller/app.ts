// The controller's HTTP application, built apart from the listener (server.ts) so tests drive it with
// app.inject() or a port of their own. Every route declares request and response schemas; one error handler
// turns every failure into `{ "error": code, "message": text }` and hides the details of 5xx.
//
// Access (route config `auth`):
//   public  GET /healthz, GET /openapi.json (the API's shape, no data)
//   agent   POST /v1/reports (the token's own host only), GET /v1/hosts/{host}/policy (own host; admins too)
//   admin   everything else, /metrics included; every admin call, refused ones too, goes to the audit log.
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyInstance, type FastifyBaseLogger, type FastifyError, type FastifyRequest, type RouteOptions, type FastifySchemaCompiler } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Type, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { validator } from '../shared/validate.js';
import { VERSION } from '../shared/version.js';
import type { Principal, TokenRegistry } from './auth.js';
import { ApiError } from './errors.js';
import { StoreError, type StoreErrorKind } from './store/errors.js';
import { Flusher } from './ingest/flusher.js';
import { InlineParser, type ReportParser } from './ingest/parser.js';
import { controllerMetrics, type ControllerMetrics } from './metrics.js';
import { registerFleetRoutes } from './routes/fleet.js';
import { registerHistoryRoutes } from './routes/history.js';
import { registerIncidentRoutes } from './routes/incidents.js';
import { registerAgentRoutes } from './routes/agent.js';
import { registerSystemRoutes } from './routes/system.js';
import type { Store } from './store/store.js';

/** The package version (shared/version.ts). */
export const CONTROLLER_VERSION = VERSION;
/** Reports of 3000 tenants with pressure and a burst of incident events fit well within this. */
export const DEFAULT_REPORT_BODY_LIMIT = 32 * 1024 * 1024;
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export type Access = 'public' | 'agent' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export type App = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface AppOptions {
  store: Store;
  tokens: TokenRegistry;
  /** pino logger; absent = no logging. */
  log?: Logger | undefined;
  parser?: ReportParser | undefined;
  metrics?: ControllerMetrics | undefined;
  now?: () => number;
  /** Write due rollups between requests (default true). Tests that drive flushes themselves turn it off. */
  autoFlush?: boolean;
  reportBodyLimit?: number;
  /** Fairness half-life, reported by GET /v1/fairness (the store applies it). */
  halfLifeMs?: number;
  /** Called for every route as it is added (tests enumerate routes with it). */
  onRoute?: (route: RouteOptions) => void;
  /** More routes, registered after the built-in ones (the notices: controller/notices/service.ts). */
  routes?: ReadonlyArray<(scope: App, deps: RouteDeps) => Promise<void>>;
}

export interface RouteDeps {
  store: Store;
  metrics: ControllerMetrics;
  parser: ReportParser;
  flusher: Flusher;
  now: () => number;
  reportBodyLimit: number;
  startedAt: number;
}

const NO_QUERY = Type.Object({}, { additionalProperties: false });

/** The status of each kind of the store's refusals (store/errors.ts). */
const STORE_ERROR_STATUS: Record<StoreErrorKind, number> = { invalid: 400, not_found: 404, conflict: 409 };

/** Error responses of every route. */
export const ERROR_RESPONSES = {
  '4xx': { $ref: 'ApiError#' },
  '5xx': { $ref: 'ApiError#' },
} as const;

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

export async function buildApp(opts: AppOptions): Promise<App> {
  const now = opts.now ?? Date.now;
  const metrics = opts.metrics ?? controllerMetrics(now);
  const parser = opts.parser ?? new InlineParser();
  const log = opts.log;
  const app: App = Fastify({
    ...(log ? { loggerInstance: log.child({ component: 'http' }) as FastifyBaseLogger } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: DEFAULT_BODY_LIMIT,
    // Large report bodies are read in full before they are answered; keep connections of agents open.
    keepAliveTimeout: 75_000,
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSchemaErrorFormatter((errors) => new Error(errors.map((e) => e.message).join('; ')));
  app.addSchema({ $id: 'ApiError', type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } }, additionalProperties: false });
  app.decorateRequest('principal', null);

  // A route that takes no query parameters says so: `?anything` is a 400 there too, not silently ignored.
  app.addHook('onRoute', (route) => {
    if (route.schema && route.schema.querystring === undefined) route.schema.querystring = NO_QUERY;
  });
  if (opts.onRoute) app.addHook('onRoute', opts.onRoute);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'hostwarden controller', version: CONTROLLER_VERSION, description: 'Fleet history, fairness ledger, incidents and manual actions of hostwarden agents.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });

  // --- authentication ------------------------------------------------------------------------------------
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.auth;
    if (access === undefined || access === 'public') return; // unknown routes answer 404
    const result = opts.tokens.authenticate(request.headers.authorization);
    if (!result.ok) {
      throw new ApiError(401, 'unauthorized', result.reason === 'missing' ? 'this route needs "Authorization: Bearer <token>"' : 'invalid bearer token');
    }
    request.principal = result.principal;
    if (access === 'admin' && result.principal.kind !== 'admin') {
      throw new ApiError(403, 'forbidden', `an agent token (host ${result.principal.kind === 'agent' ? result.principal.host : '?'}) cannot use admin routes`);
    }
  });

  // --- audit and request metrics -------------------------------------------------------------------------
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ route: `${request.method} ${route}`, status: String(reply.statusCode) });
    if (request.routeOptions.config.auth !== 'admin') return;
    const p = request.principal;
    const who = p ? (p.kind === 'admin' ? p.name : `agent:${p.host}`) : request.headers.authorization ? 'invalid-token' : 'anonymous';
    let detail: string | null = null;
    if (request.method !== 'GET' && request.body !== undefined && request.body !== null) {
      detail = JSON.stringify(request.body).slice(0, 2000);
    }
    try {
      await opts.store.addAudit({ at: new Date(now()).toISOString(), who, method: request.method, path: request.url, status: reply.statusCode, ip: request.ip ?? null, detail });
    } catch (err) {
      request.log.error({ err }, 'cannot write audit entry');
    }
    log?.info({ component: 'audit', who, method: request.method, path: request.url, status: reply.statusCode }, 'admin call');
  });

  // --- errors --------------------------------------------------------------------------------------------
  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    if (err instanceof ApiError) return reply.code(err.status).send({ error: err.code, message: err.message });
    if (err instanceof StoreError) return reply.code(STORE_ERROR_STATUS[err.kind]).send({ error: err.code, message: err.message });
    const e = err as FastifyError;
    if (e.validation) return reply.code(400).send({ error: 'bad_request', message: e.message });
    const status = e.statusCode ?? 500;
    if (status === 413) return reply.code(413).send({ error: 'payload_too_large', message: `body larger than the limit (${e.message})` });
    if (status === 415) return reply.code(415).send({ error: 'unsupported_media_type', message: 'send the body as application/json' });
    if (status >= 400 && status < 500) {
      const message = e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'body is empty' : e.message;
      return reply.code(status).send({ error: status === 400 ? 'bad_request' : `http_${status}`, message });
    }
    request.log.error({ err, url: request.url, method: request.method }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error (details are in the controller log)' });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }));

  const flusher = new Flusher(opts.store, { log: log?.child({ component: 'rollup' }), onFlushed: (n) => metrics.flushes.inc(undefined, n), auto: opts.autoFlush ?? true });
  const deps: RouteDeps = {
    store: opts.store,
    metrics,
    parser,
    flusher,
    now,
    reportBodyLimit: opts.reportBodyLimit ?? DEFAULT_REPORT_BODY_LIMIT,
    startedAt: now(),
  };
  metrics.registry.onCollect(async () => {
    const s = await opts.store.stats();
    metrics.storeBytes.set(s.bytes);
    metrics.hosts.set(s.hosts);
    metrics.tenants.set(s.tenants);
    metrics.openIncidents.set(s.openIncidents);
    metrics.buffered.set(s.bufferedBuckets);
    metrics.ingestRate.set(metrics.rate.rate());
    metrics.rss.set(process.memoryUsage.rss());
    const cpu = process.cpuUsage();
    metrics.cpu.set((cpu.user + cpu.system) / 1e6);
  });

  await app.register(async (scope) => registerAgentRoutes(scope, deps));
  await app.register(async (scope) => registerSystemRoutes(scope, deps, app));
  await app.register(async (scope) => registerFleetRoutes(scope, deps));
  await app.register(async (scope) => registerHistoryRoutes(scope, deps, opts.halfLifeMs));
  await app.register(async (scope) => registerIncidentRoutes(scope, deps));
  for (const routes of opts.routes ?? []) await app.register(async (scope) => routes(scope, deps));
  return app;
}

/** The principal of an authenticated request (routes with auth admin or agent). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new ApiError(401, 'unauthorized', 'not authenticated');
  return request.principal;
}

export function adminName(request: FastifyRequest): string {
  const p = principalOf(request);
  return p.kind === 'admin' ? p.name : `agent:${p.host}`;
}
