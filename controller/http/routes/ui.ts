// The admin dashboard: its login and session (JSON under /ui/api/) and its static files (/ui/, /ui/assets/*).
// The login takes an admin token once and answers a session cookie (controller/ui/sessions.ts); from then on
// the page calls /v1 with the cookie. Logins, failed ones too, and logouts go to the audit log.
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import { EmptyBodySchema } from '../../../shared/wire/files.js';
import { AssetParamsSchema, LoginSchema, UiSessionSchema, type UiSession } from '../../../shared/wire/ui.js';
import type { AdminSession } from '../../store/ui-store.js';
import { CSRF_HEADER, sameSecret, SESSION_COOKIE } from '../../ui/sessions.js';
import { emptyBody, ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { ApiError } from '../errors.js';
import { sendAsset, sendHtml } from '../ui-files.js';

const PUBLIC = { auth: 'public' } as const;
const tags = ['dashboard'];
const HTML = { 200: Type.String({ description: 'an HTML page' }), ...ERROR_RESPONSES };

function view(s: AdminSession): UiSession {
  return { admin: s.admin, role: s.role, csrf: s.csrf, expires_at: new Date(s.expiresAt).toISOString() };
}

export async function registerUiRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { ui, store, now } = deps;
  const audit = async (request: FastifyRequest, who: string, status: number, detail: string | null = null) => {
    try {
      await store.addAudit({ at: new Date(now()).toISOString(), who, method: request.method, path: request.url, status, ip: request.ip ?? null, detail });
    } catch (err) {
      request.log.error({ err }, 'cannot write audit entry');
    }
  };
  const cookieOptions = (maxAge: number) => ({ httpOnly: true, sameSite: 'strict' as const, secure: ui.secureCookie, path: '/', maxAge });
  const sessionOf = async (request: FastifyRequest): Promise<AdminSession> => {
    const s = await ui.sessions.get(request.cookies[SESSION_COOKIE]);
    if (!s) throw new ApiError(401, 'unauthorized', 'no session, or it has expired: log in with an admin token');
    return s;
  };

  app.post(
    '/ui/api/login',
    {
      config: PUBLIC,
      schema: {
        operationId: 'postUiLogin',
        summary: 'Log in to the dashboard with an admin token: sets the session cookie hw_session',
        tags,
        security: [],
        body: LoginSchema,
        response: { 200: UiSessionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const result = ui.tokens.check(request.body.token);
      if (!result.ok || result.principal.kind !== 'admin') {
        await audit(request, result.ok ? result.principal.name : 'invalid-token', 401, 'dashboard login refused');
        throw new ApiError(401, 'unauthorized', 'not an admin token');
      }
      const p = result.principal;
      const { cookie, session } = await ui.sessions.create(p.name, p.role ?? 'admin');
      await audit(request, p.name, 200, `dashboard login (${session.role})`);
      reply.setCookie(SESSION_COOKIE, cookie, cookieOptions(Math.floor(ui.sessions.ttlMs / 1000)));
      return view(session);
    },
  );

  app.get(
    '/ui/api/session',
    { config: PUBLIC, schema: { operationId: 'getUiSession', summary: 'The session of the cookie (with its CSRF token), or 401', tags, security: [], response: { 200: UiSessionSchema, ...ERROR_RESPONSES } } },
    async (request) => view(await sessionOf(request)),
  );

  app.post(
    '/ui/api/logout',
    {
      config: PUBLIC,
      schema: { operationId: 'postUiLogout', summary: 'End the session (needs X-CSRF-Token); clears the cookie', tags, security: [], body: EmptyBodySchema, response: { 204: Type.Null(), ...ERROR_RESPONSES } },
      validatorCompiler: emptyBody,
    },
    async (request, reply) => {
      const s = await sessionOf(request);
      const given = request.headers[CSRF_HEADER];
      if (!sameSecret(typeof given === 'string' ? given : undefined, s.csrf)) throw new ApiError(403, 'csrf', 'logging out needs the session\'s CSRF token in the X-CSRF-Token header');
      await ui.sessions.end(request.cookies[SESSION_COOKIE]);
      await audit(request, s.admin, 204, 'dashboard logout');
      reply.clearCookie(SESSION_COOKIE, cookieOptions(0));
      return reply.code(204).send(null);
    },
  );

  // /ui redirects to /ui/ so that the page's relative asset URLs (vite base './') resolve under /ui/.
  app.get(
    '/ui/',
    { config: PUBLIC, schema: { operationId: 'getUiIndex', summary: 'The admin dashboard (dist/ui/index.html)', tags, security: [], response: HTML } },
    async (request, reply) => {
      if (!request.url.startsWith('/ui/')) return reply.redirect('/ui/', 308);
      return sendHtml(request, reply, ui.dir, 'index.html');
    },
  );

  app.get(
    '/ui/assets/:file',
    { config: PUBLIC, schema: { operationId: 'getUiAsset', summary: "The dashboard's assets (dist/ui/assets/)", tags, security: [], params: AssetParamsSchema, response: HTML } },
    async (request, reply) => sendAsset(request, reply, ui.dir, request.params.file),
  );
}
