// The controller's HTTP application, built apart from the listener (server.ts) so tests drive it with
// app.inject() or a port of their own. Every route declares request and response schemas; one error handler
// (common.ts) turns every failure into `{ "error": code, "message": text }` and hides the details of 5xx; what
// Node and Fastify refuse before a route runs gets the same shape (framework-errors.ts).
//
// Access (route config `auth`):
//   public  GET /healthz, GET /openapi.json (the API's shape, no data), GET|POST /remediation/{token} (the
//           tenant's signed link: the link is the credential)
//   agent   POST /v1/reports (the token's own host only), GET /v1/hosts/{host}/policy (own host; admins too)
//   admin   everything else, /metrics included; every admin call, refused ones too, goes to the audit log.
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type RouteOptions } from 'fastify';
import type { Logger } from 'pino';
import { Type } from 'typebox';
import { ErrorSchema } from '../../shared/wire/api.js';
import type { TokenRegistry } from '../auth.js';
import { DEFAULT_REPORT_BODY_LIMIT } from '../config.js';
import { ApiError } from './errors.js';
import { Flusher } from '../ingest/flusher.js';
import { InlineParser, type ReportParser } from '../ingest/parser.js';
import { controllerMetrics, type ControllerMetrics } from '../metrics.js';
import type { Store } from '../store/store.js';
import { CONTROLLER_VERSION, errorHandler, validatorCompiler, type App, type NoticeReader, type RouteDeps } from './common.js';
import { clientErrorHandler, connectHandler, frameworkErrors, jsonBodyParser, MAX_PARAM_LENGTH, notFoundHandler, RouteMethods, SERVER_OPTIONS, urlHook } from './framework-errors.js';
import { registerAgentRoutes } from './routes/agent.js';
import { registerFleetRoutes } from './routes/fleet.js';
import { registerHistoryRoutes } from './routes/history.js';
import { registerIncidentRoutes } from './routes/incidents.js';
import { registerNoticeRoutes } from './routes/notices.js';
import { registerRemediationRoutes } from './routes/remediation.js';
import { registerRemediationLinkRoutes } from './routes/remediation-link.js';
import type { RemediationService } from '../remediation/service.js';
import { registerQuarantinedFileRoutes } from './routes/quarantined-files.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerWebRoutes } from './routes/web.js';
import { registerTransportHooks, TransportTracker } from './transport.js';

export { CONTROLLER_VERSION, type App, type RouteDeps } from './common.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface AppOptions {
  store: Store;
  tokens: TokenRegistry;
  /** pino logger; absent = no logging. */
  log?: Logger | undefined;
  parser?: ReportParser | undefined;
  metrics?: ControllerMetrics | undefined;
  /**
   * The controller's one flusher (server.ts makes it and runs its periodic pass). Absent: the app makes its
   * own, flushing between requests unless `autoFlush` is false (tests that drive flushes themselves).
   */
  flusher?: Flusher | undefined;
  autoFlush?: boolean;
  /** The notices outbox, read by GET /v1/notices (controller/notices/service.ts); absent: those answer 503. */
  outbox?: NoticeReader | undefined;
  /** Remediation cases (controller/remediation/service.ts); absent: those routes answer 503. */
  remediation?: RemediationService | undefined;
  now?: () => number;
  reportBodyLimit?: number;
  /** Fairness half-life, reported by GET /v1/fairness (the store applies it). */
  halfLifeMs?: number;
  /** Called for every route as it is added (tests enumerate routes with it). */
  onRoute?: (route: RouteOptions) => void;
  /** Serve HTTPS with this certificate and key (controller/tls.ts); absent: plain HTTP. */
  https?: { cert: Buffer; key: Buffer } | undefined;
}

const NO_QUERY = Type.Object({}, { additionalProperties: false });

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
    // Limits and what Fastify and Node refuse, in our error shape: framework-errors.ts.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    // An https.Server has the http.Server API the App type names, plus setSecureContext (controller/tls.ts).
    ...((opts.https ? { https: { ...opts.https, ...SERVER_OPTIONS } } : { http: SERVER_OPTIONS }) as object),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.on('connect', connectHandler);

  app.setValidatorCompiler(validatorCompiler);
  app.setSchemaErrorFormatter((errors) => new Error(errors.map((e) => e.message).join('; ')));
  app.addSchema({ ...ErrorSchema, $id: 'ApiError' });
  app.decorateRequest('principal', null);
  app.addHook('onRequest', urlHook);
  // JSON bodies only (text/plain is a 415), parsed with messages that say where they stop being JSON.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, jsonBodyParser(app.getDefaultJsonParser('error', 'error')));
  const routeMethods = new RouteMethods();

  // A route that takes no query parameters says so: `?anything` is a 400 there too, not silently ignored.
  app.addHook('onRoute', (route) => {
    if (route.schema && route.schema.querystring === undefined) route.schema.querystring = NO_QUERY;
    routeMethods.add(route);
  });
  if (opts.onRoute) app.addHook('onRoute', opts.onRoute);
  registerTransportHooks(app, new TransportTracker(log?.child({ component: 'transport' }), now));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
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
    // A usage_api token may push API calls and nothing else; that route takes admins too.
    if (result.principal.kind === 'usage') {
      if (access !== 'usage_api') throw new ApiError(403, 'forbidden', `the token "${result.principal.name}" may only POST /v1/usage/api`);
      return;
    }
    if (access === 'usage_api' && result.principal.kind !== 'admin') throw new ApiError(403, 'forbidden', 'an agent token cannot push API usage');
    if (access === 'admin' && result.principal.kind !== 'admin') {
      throw new ApiError(403, 'forbidden', `an agent token (host ${result.principal.kind === 'agent' ? result.principal.host : '?'}) cannot use admin routes`);
    }
  });

  // --- audit and request metrics -------------------------------------------------------------------------
  app.addHook('onResponse', async (request, reply) => {
    const route = `${request.method} ${request.routeOptions.url ?? 'unknown'}`;
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ route }, reply.elapsedTime / 1000);
    if (request.routeOptions.config.auth !== 'admin') return;
    const p = request.principal;
    const who = p ? (p.kind === 'agent' ? `agent:${p.host}` : p.name) : request.headers.authorization ? 'invalid-token' : 'anonymous';
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
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler(routeMethods));

  const flusher =
    opts.flusher ?? new Flusher(opts.store, { log: log?.child({ component: 'rollup' }), onFlushed: (n) => metrics.flushes.inc(n), auto: opts.autoFlush ?? true });
  const deps: RouteDeps = {
    store: opts.store,
    metrics,
    parser,
    flusher,
    outbox: opts.outbox,
    remediation: opts.remediation,
    now,
    reportBodyLimit: opts.reportBodyLimit ?? DEFAULT_REPORT_BODY_LIMIT,
    halfLifeMs: opts.halfLifeMs,
    startedAt: now(),
  };
  metrics.registry.onCollect(async () => {
    const s = await opts.store.stats();
    metrics.storeBytes.set(s.bytes);
    metrics.hosts.set(s.hosts);
    metrics.tenants.set(s.tenants);
    metrics.openIncidents.set(s.openIncidents);
    metrics.buffered.set(s.bufferedBuckets);
    metrics.damagedRows.set(opts.store.damagedRows());
  });

  await app.register(async (scope) => registerAgentRoutes(scope, deps));
  await app.register(async (scope) => registerSystemRoutes(scope, deps, app));
  await app.register(async (scope) => registerFleetRoutes(scope, deps));
  await app.register(async (scope) => registerHistoryRoutes(scope, deps));
  await app.register(async (scope) => registerIncidentRoutes(scope, deps));
  await app.register(async (scope) => registerQuarantinedFileRoutes(scope, deps));
  await app.register(async (scope) => registerNoticeRoutes(scope, deps.outbox));
  await app.register(async (scope) => registerRemediationRoutes(scope, deps));
  await app.register(async (scope) => registerRemediationLinkRoutes(scope, deps));
  await app.register(async (scope) => registerWebRoutes(scope, deps));
  return app;
}
