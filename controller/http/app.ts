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
//           With the dashboard's session cookie instead of a bearer token (controller/ui/sessions.ts): as that
//           admin, and methods other than GET/HEAD need the session's CSRF token in X-CSRF-Token. A viewer
//           (role viewer) may only GET/HEAD, by cookie or bearer.
//   public  too: the dashboard's login (/ui/api/*), its static files (/ui/), the tenant pages (/t/{token}...,
//           the signed link is the credential: routes/tenant-pages.ts).
//
// `surface: 'tenant'` builds the app of ui.tenant_listen: the tenant pages alone.
import cookie from '@fastify/cookie';
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
import { controllerMetrics, type ControllerMetrics, setLedgerGauges } from '../metrics.js';
import type { Store } from '../store/store.js';
import { CONTROLLER_VERSION, errorHandler, validatorCompiler, type App, type NoticeReader, type RouteDeps } from './common.js';
import { clientErrorHandler, connectHandler, frameworkErrors, jsonBodyParser, lingerOnClose, MAX_PARAM_LENGTH, notFoundHandler, RouteMethods, SERVER_OPTIONS, urlHook } from './framework-errors.js';
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
import { registerTenantLinkRoutes } from './routes/tenant-links.js';
import { registerTenantPageRoutes } from './routes/tenant-pages.js';
import { registerUiRoutes } from './routes/ui.js';
import { DEFAULT_UI_DIR } from '../ui/config.js';
import { TenantLinkService } from '../ui/links.js';
import { CSRF_HEADER, sameSecret, SESSION_COOKIE, UiSessions } from '../ui/sessions.js';

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
  /** The dashboard and tenant pages (controller/ui); every field has a default. */
  ui?: UiAppOptions | undefined;
  /** 'tenant': only the tenant pages (the ui.tenant_listen listener); default 'all'. */
  surface?: 'all' | 'tenant';
}

export interface UiAppOptions {
  /** Default 12 h. */
  sessionTtlMs?: number | undefined;
  /** Default 30 days. */
  tenantLinkTtlMs?: number | undefined;
  /** The built UI; default <package>/dist/ui. */
  dir?: string | undefined;
  /** Base of the links an admin makes (public_url); absent: the request's own origin. */
  publicUrl?: string | undefined;
  /** Whom tenants contact (notices.support), shown on their page. */
  support?: { email?: string | undefined; url?: string | undefined } | undefined;
}

const DEFAULT_SESSION_TTL_MS = 12 * 3_600_000;
const DEFAULT_TENANT_LINK_TTL_MS = 30 * 86_400_000;
const SAFE_METHODS = new Set(['GET', 'HEAD']);

const NO_QUERY = Type.Object({}, { additionalProperties: false });

/** A header given once (a repeated one is an array: refused as absent). */
function headerValue(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

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
  // An answer before the body was read closes its connection with a lingering close (framework-errors.ts).
  app.addHook('onSend', (request, _reply, payload, done) => {
    if (!request.raw.complete) lingerOnClose(request.raw.socket);
    done(null, payload);
  });
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

  // The cookie is parsed, never signed: its value is a random id looked up in the store (controller/ui/sessions.ts).
  await app.register(cookie, { parseOptions: {} });
  const uiOpts = opts.ui ?? {};
  const sessions = new UiSessions(opts.store.ui, uiOpts.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS, now);
  const links = new TenantLinkService(opts.store.ui, uiOpts.tenantLinkTtlMs ?? DEFAULT_TENANT_LINK_TTL_MS, now);

  // --- authentication ------------------------------------------------------------------------------------
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.auth;
    if (access === undefined || access === 'public') return; // unknown routes answer 404
    // The dashboard's cookie stands for a bearer token on admin routes when no Authorization header is given.
    const sessionCookie = request.cookies[SESSION_COOKIE];
    if (access === 'admin' && request.headers.authorization === undefined && sessionCookie !== undefined) {
      const session = await sessions.get(sessionCookie);
      if (!session) throw new ApiError(401, 'unauthorized', 'the session has expired or was ended: log in again');
      request.principal = { kind: 'admin', name: session.admin, role: session.role, session: true };
      if (!SAFE_METHODS.has(request.method) && !sameSecret(headerValue(request.headers[CSRF_HEADER]), session.csrf)) {
        throw new ApiError(403, 'csrf', `a ${request.method} made with the session cookie needs the session's CSRF token in the X-CSRF-Token header`);
      }
      if (session.role === 'viewer' && !SAFE_METHODS.has(request.method)) throw new ApiError(403, 'forbidden', `${session.admin} is a viewer: read-only access`);
      return;
    }
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
    if (result.principal.kind === 'admin' && result.principal.role === 'viewer' && !SAFE_METHODS.has(request.method)) {
      throw new ApiError(403, 'forbidden', `${result.principal.name} is a viewer: read-only access`);
    }
  });

  // --- audit and request metrics -------------------------------------------------------------------------
  app.addHook('onResponse', async (request, reply) => {
    const route = `${request.method} ${request.routeOptions.url ?? 'unknown'}`;
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ route }, reply.elapsedTime / 1000);
  });
  // The audit entry is written before the answer goes out (onSend, not onResponse), so a caller that reads the
  // audit log next finds its call there, whichever store (PostgreSQL's write is a round trip, not instant).
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.routeOptions.config?.auth !== 'admin') return payload;
    const p = request.principal;
    const who = p
      ? p.kind === 'agent'
        ? `agent:${p.host}`
        : p.name
      : request.headers.authorization
        ? 'invalid-token'
        : request.cookies?.[SESSION_COOKIE] !== undefined
          ? 'invalid-session'
          : 'anonymous';
    let detail: string | null = null;
    if (request.method !== 'GET' && request.body !== undefined && request.body !== null) {
      // Never let the audit change the answer: a body JSON.parse took may be too deep for JSON.stringify
      // (found by the fuzz test: 10,000 nested arrays, a RangeError in onSend, Fastify's fallback answer).
      try {
        detail = JSON.stringify(request.body).slice(0, 2000);
      } catch (err) {
        detail = `(body not recorded: ${(err as Error).message})`;
      }
    }
    try {
      await opts.store.addAudit({ at: new Date(now()).toISOString(), who, method: request.method, path: request.url, status: reply.statusCode, ip: request.ip ?? null, detail });
    } catch (err) {
      request.log.error({ err }, 'cannot write audit entry');
    }
    log?.info({ component: 'audit', who, method: request.method, path: request.url, status: reply.statusCode }, 'admin call');
    return payload;
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
    ui: {
      sessions,
      links,
      tokens: opts.tokens,
      dir: uiOpts.dir ?? DEFAULT_UI_DIR,
      secureCookie: opts.https !== undefined,
      publicUrl: uiOpts.publicUrl,
      support: { email: uiOpts.support?.email, url: uiOpts.support?.url },
    },
  };
  metrics.registry.onCollect(async () => {
    const s = await opts.store.stats();
    metrics.storeBytes.set(s.bytes);
    metrics.hosts.set(s.hosts);
    metrics.tenants.set(s.tenants);
    metrics.openIncidents.set(s.openIncidents);
    metrics.buffered.set(s.bufferedBuckets);
    metrics.damagedRows.set(opts.store.damagedRows());
    setLedgerGauges(metrics, await opts.store.listHosts());
  });

  if (opts.surface === 'tenant') {
    await app.register(async (scope) => registerTenantPageRoutes(scope, deps));
    return app;
  }
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
  await app.register(async (scope) => registerUiRoutes(scope, deps));
  await app.register(async (scope) => registerTenantLinkRoutes(scope, deps));
  await app.register(async (scope) => registerTenantPageRoutes(scope, deps));
  return app;
}
