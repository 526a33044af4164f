// A stand-in for the controller's own /ui and /t routes, kept for the one thing the real controller cannot do in
// a test: a tenant link that expires (its shortest lifetime is 1 h). The browser tests drive the real controller
// unless HW_UI_REAL_CONTROLLER=0. It implements the contract's admin session
// (/ui/api/login|session|logout, an HttpOnly SameSite=Strict cookie, a CSRF token on every change), serves
// dist/ui with the contract's headers, signs tenant links (/t/{token}, HMAC-SHA256, expiring, revocable) and
// answers their /t/{token}/api/*, and proxies /v1/* to a REAL controller (cookie calls with the admin's bearer
// token; bearer calls as they are). Everything the pages show comes from that controller.
//
// THE SWITCH: `uiTarget()` below is the one function the tests get their server from: the controller's own
// address (the default), or this stand-in with HW_UI_REAL_CONTROLLER=0. The tests speak only the contract
// (the same URLs, including POST /v1/tenants/{t}/links and DELETE /v1/tenant-links/{id}), so nothing else changes.
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { sendAsset, sendJson, sendPage, sendText } from '../../bench/ui-static.js';
import type { Stack } from './stack.js';
import { type Cleanup, NODE, ROOT } from './system.js';

export const REAL_CONTROLLER = process.env.HW_UI_REAL_CONTROLLER !== '0';
export const UI_DIST = join(ROOT, 'dist/ui');

export interface UiTarget {
  /** Origin of the UI: the admin app is `${url}/ui/`. */
  url: string;
  /** True when this is the stand-in (tests of the stand-in's own behaviour may look at it). */
  standIn: boolean;
}

/** The controller.yaml lines the UI tests give the controller (none needed: its ui: keys have defaults). */
export const UI_CONTROLLER_LINES: string[] = [];

/** The UI the tests drive: the stand-in in front of the stack's controller, or the controller itself. */
export async function uiTarget(cleanup: Cleanup, stack: Stack, opts: { sessionTtlMs?: number } = {}): Promise<UiTarget> {
  ensureUiBuilt();
  if (REAL_CONTROLLER) return { url: stack.url, standIn: false };
  const s = await startUiServer(cleanup, { controller: stack.url, adminToken: stack.admin, ...opts });
  return { url: s.url, standIn: true };
}

/** Build dist/ui when it is missing (npm run build and scripts/test.sh build it before the tests). */
export function ensureUiBuilt(): void {
  if (existsSync(join(UI_DIST, 'index.html')) && existsSync(join(UI_DIST, 'tenant.html'))) return;
  execFileSync(NODE, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(ROOT, 'ui/vite.config.ts')], { cwd: ROOT, timeout: 300_000, stdio: ['ignore', 'inherit', 'inherit'] });
}

interface IncidentDetail {
  id: number;
  host: string;
  resource: string;
  state: string;
  step: string;
  level: number;
  manual: boolean;
  opened_at: string;
  released_at: string | null;
  until: string | null;
  explanation: {
    summary: string;
    action: string;
    avoid: string;
    measured: { value: number; unit: string };
    threshold: { value: number; unit: string; kind: string };
    share?: { tenant: number; fair: number };
    contention: { contended: boolean };
    top_processes: Array<{ pid: number; command: string; cpu_percent: number; rss_bytes: number }>;
  };
}

interface Session {
  admin: string;
  role: 'admin' | 'viewer';
  csrf: string;
  expires: number;
}

export interface UiServerOptions {
  controller: string;
  adminToken: string;
  adminName?: string;
  sessionTtlMs?: number;
  linkTtlMs?: number;
  contact?: Record<string, string>;
}

const MAX_BODY = 64 * 1024;

export async function startUiServer(cleanup: Cleanup, o: UiServerOptions): Promise<{ url: string }> {
  const sessions = new Map<string, Session>();
  const revoked = new Set<string>();
  const key = randomBytes(32);
  const sessionTtl = o.sessionTtlMs ?? 3_600_000;
  const b64 = (b: Buffer) => b.toString('base64url');
  const mac = (payload: string) => createHmac('sha256', key).update(payload).digest();

  const upstream = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${o.controller}${path}`, {
      method,
      headers: { authorization: `Bearer ${o.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as unknown };
  };

  const sessionOf = (req: IncomingMessage): Session | undefined => {
    const m = /(?:^|;\s*)hw_session=([A-Za-z0-9_-]{1,100})/.exec(req.headers.cookie ?? '');
    const s = m ? sessions.get(m[1]!) : undefined;
    if (s && s.expires <= Date.now()) sessions.delete(m![1]!);
    return s && s.expires > Date.now() ? s : undefined;
  };
  const sessionId = (req: IncomingMessage) => /(?:^|;\s*)hw_session=([A-Za-z0-9_-]{1,100})/.exec(req.headers.cookie ?? '')?.[1];
  const sessionBody = (s: Session) => ({ admin: s.admin, role: s.role, csrf: s.csrf, expires_at: new Date(s.expires).toISOString() });
  const csrfOk = (req: IncomingMessage, s: Session) => {
    const h = req.headers['x-csrf-token'];
    return typeof h === 'string' && h.length === s.csrf.length && timingSafeEqual(Buffer.from(h), Buffer.from(s.csrf));
  };

  const makeLink = (tenant: string, ttlMs: number) => {
    const id = randomBytes(8).toString('hex');
    const exp = Date.now() + ttlMs;
    const payload = b64(Buffer.from(JSON.stringify({ t: tenant, e: exp, i: id })));
    return { id, token: `${payload}.${b64(mac(payload))}`, expires_at: new Date(exp).toISOString() };
  };
  /** The tenant a token names, or why not: altered (403), expired or revoked (410). */
  const verify = (token: string): { tenant: string; expires: number } | { status: 403 | 410; why: string } => {
    const m = /^([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return { status: 403, why: 'This link is not valid: it was altered or cut.' };
    const want = mac(m[1]!);
    const got = Buffer.from(m[2]!, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return { status: 403, why: 'This link is not valid: it was altered.' };
    const p = JSON.parse(Buffer.from(m[1]!, 'base64url').toString()) as { t: string; e: number; i: string };
    if (revoked.has(p.i)) return { status: 410, why: 'This link was withdrawn. Ask your hosting provider for a new one.' };
    if (p.e <= Date.now()) return { status: 410, why: 'This link has expired. Ask your hosting provider for a new one.' };
    return { tenant: p.t, expires: p.e };
  };

  const tenantApi = async (tenant: string, expires: number, rest: string, req: IncomingMessage, res: ServerResponse, url: URL) => {
    const enc = encodeURIComponent(tenant);
    if (req.method === 'GET' && rest === 'summary') {
      const t = (await upstream('GET', `/v1/tenants/${enc}`)).body as { plan: string | null; host: string | null; open_incidents: number };
      const plans = (await upstream('GET', '/v1/plans')).body as { plans: Array<{ name: string; plan: Record<string, unknown> }> };
      const plan = plans.plans.find((p) => p.name === t.plan);
      return sendJson(res, 200, {
        tenant,
        plan: plan ? { name: plan.name, ...plan.plan } : null,
        contact: o.contact ?? { email: 'support@hosting.example', url: null },
        hosts: t.host ? [t.host] : [],
        open_incidents: t.open_incidents,
        link_expires_at: new Date(expires).toISOString(),
      });
    }
    if (req.method === 'GET' && rest === 'usage') {
      const q = new URLSearchParams();
      for (const k of ['from', 'to', 'step', 'resources']) {
        const v = url.searchParams.get(k);
        if (v !== null) q.set(k, v);
      }
      const r = await upstream('GET', `/v1/tenants/${enc}/usage?${q}`);
      return sendJson(res, r.status, r.body);
    }
    if (req.method === 'GET' && rest === 'incidents') {
      // The shape of shared/wire/ui.ts TenantIncident (branch ui-api): the tenant's words, no contention detail.
      const list = (await upstream('GET', `/v1/incidents?tenant=${enc}&limit=20`)).body as { incidents: Array<{ id: number }> };
      const incidents = [];
      for (const i of list.incidents) {
        const d = (await upstream('GET', `/v1/incidents/${i.id}`)).body as IncidentDetail;
        const x = d.explanation;
        incidents.push({
          id: d.id,
          host: d.host,
          resource: d.resource,
          state: d.state,
          step: d.step,
          level: d.level,
          manual: d.manual,
          opened_at: d.opened_at,
          released_at: d.released_at,
          until: d.until,
          summary: x.summary,
          action: x.action,
          avoid: x.avoid,
          measured: { value: String(x.measured.value), unit: x.measured.unit },
          threshold: { value: String(x.threshold.value), unit: x.threshold.unit, kind: x.threshold.kind },
          share: x.share ? { yours: x.share.tenant, fair: x.share.fair } : null,
          others_waiting: x.contention.contended,
          top_processes: x.top_processes.slice(0, 10).map((p) => ({ pid: p.pid, command: p.command, cpu_percent: p.cpu_percent, rss_bytes: p.rss_bytes })),
          what_to_change: d.manual ? ['Reply to your hosting provider about the reason given.'] : [x.avoid],
        });
      }
      return sendJson(res, 200, { incidents });
    }
    if (req.method === 'GET' && rest === 'remediation') {
      const r = (await upstream('GET', `/v1/remediation-cases?tenant=${enc}`)).body as { cases: Array<Record<string, unknown> & { state: string; acknowledged_at: string | null; step: { action: string } }> };
      return sendJson(res, 200, {
        cases: r.cases.map((c) => ({
          id: c.id,
          host: c.host,
          state: c.state,
          what: c.what,
          opened_at: c.opened_at,
          deadline: c.deadline,
          acknowledged_at: c.acknowledged_at,
          resolved_at: c.resolved_at,
          if_not_fixed: c.step.action === 'none' ? 'nothing happens automatically' : `your account is ${c.step.action === 'quarantine' ? 'paused' : 'slowed down'} until it is fixed`,
          can_acknowledge: c.state === 'open' || (c.state === 'overdue' && c.acknowledged_at === null),
        })),
      });
    }
    const ack = /^remediation\/([0-9]{1,15})\/ack$/.exec(rest);
    if (req.method === 'POST' && ack) {
      const c = await upstream('GET', `/v1/remediation-cases/${ack[1]}`);
      if (c.status !== 200 || (c.body as { tenant: string }).tenant !== tenant) return sendJson(res, 404, { error: 'not_found', message: `no remediation request ${ack[1]} for you` });
      const r = await upstream('POST', `/v1/remediation-cases/${ack[1]}/acknowledge`, { note: 'acknowledged on the usage page' });
      return sendJson(res, r.status, r.body);
    }
    return sendJson(res, 404, { error: 'not_found', message: `no route ${req.method} /t/…/api/${rest}` });
  };

  const proxy = async (req: IncomingMessage, res: ServerResponse, path: string, auth: string) => {
    const body = await readBody(req);
    const r = await fetch(`${o.controller}${path}`, {
      method: req.method!,
      headers: { authorization: auth, ...(req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {}) },
      ...(body.length && req.method !== 'GET' && req.method !== 'HEAD' ? { body } : {}),
    });
    const buf = Buffer.from(await r.arrayBuffer());
    res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' });
    res.end(buf);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    const method = req.method ?? 'GET';
    if (p === '/ui') return void res.writeHead(301, { location: '/ui/' }).end();
    if (p === '/ui/' && method === 'GET') return sendPage(res, UI_DIST, 'index.html');
    let m = /^\/(?:ui|t)\/assets\/([^/]+)$/.exec(p);
    if (m && method === 'GET') return sendAsset(res, UI_DIST, m[1]!);

    if (p === '/ui/api/login' && method === 'POST') {
      let token = '';
      try {
        token = String((JSON.parse((await readBody(req)).toString() || '{}') as { token?: unknown }).token ?? '');
      } catch {
        return sendJson(res, 400, { error: 'bad_request', message: 'body: not JSON' });
      }
      const a = Buffer.from(token);
      const b = Buffer.from(o.adminToken);
      if (a.length !== b.length || !timingSafeEqual(a, b)) return sendJson(res, 401, { error: 'unauthorized', message: 'not an admin token' });
      const id = b64(randomBytes(32));
      const s: Session = { admin: o.adminName ?? 'admin', role: 'admin', csrf: b64(randomBytes(24)), expires: Date.now() + sessionTtl };
      sessions.set(id, s);
      return sendJson(res, 200, sessionBody(s), { 'set-cookie': `hw_session=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(sessionTtl / 1000)}` });
    }
    if (p === '/ui/api/session' && method === 'GET') {
      const s = sessionOf(req);
      return s ? sendJson(res, 200, sessionBody(s)) : sendJson(res, 401, { error: 'unauthorized', message: 'no session' });
    }
    if (p === '/ui/api/logout' && method === 'POST') {
      const s = sessionOf(req);
      if (!s) return sendJson(res, 401, { error: 'unauthorized', message: 'no session' });
      if (!csrfOk(req, s)) return sendJson(res, 403, { error: 'csrf', message: 'X-CSRF-Token is missing or wrong' });
      sessions.delete(sessionId(req)!);
      res.writeHead(204, { 'set-cookie': 'hw_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0' });
      return void res.end();
    }

    if (p.startsWith('/v1/')) {
      const bearer = req.headers.authorization;
      let auth: string;
      if (bearer) {
        auth = bearer;
        if (bearer !== `Bearer ${o.adminToken}`) return sendJson(res, 401, { error: 'unauthorized', message: 'bad token' });
      } else {
        const s = sessionOf(req);
        if (!s) return sendJson(res, 401, { error: 'unauthorized', message: 'no session or token' });
        if (method !== 'GET' && method !== 'HEAD' && !csrfOk(req, s)) return sendJson(res, 403, { error: 'csrf', message: 'a change made with the session cookie needs X-CSRF-Token' });
        auth = `Bearer ${o.adminToken}`;
      }
      // The contract's admin routes for tenant links (the controller's own when ui-api is merged).
      m = /^\/v1\/tenants\/([^/]+)\/links$/.exec(p);
      if (m && method === 'POST') {
        const body = JSON.parse((await readBody(req)).toString() || '{}') as { ttl?: number };
        const ttl = typeof body.ttl === 'number' && body.ttl > 0 ? body.ttl * 1000 : (o.linkTtlMs ?? 30 * 86_400_000);
        const l = makeLink(decodeURIComponent(m[1]!), ttl);
        return sendJson(res, 201, { url: `http://${req.headers.host}/t/${l.token}`, expires_at: l.expires_at, id: l.id });
      }
      m = /^\/v1\/tenant-links\/([0-9a-f]{16})$/.exec(p);
      if (m && method === 'DELETE') {
        revoked.add(m[1]!);
        return void res.writeHead(204).end();
      }
      return proxy(req, res, `${p}${url.search}`, auth);
    }

    m = /^\/t\/([^/]+)(?:\/api\/(.+))?$/.exec(p);
    if (m) {
      const v = verify(m[1]!);
      if ('status' in v) {
        if (m[2] !== undefined) return sendJson(res, v.status, { error: v.status === 403 ? 'forbidden' : 'gone', message: v.why });
        return sendText(res, v.status, `<!doctype html><title>Link not valid</title><p>${v.why}</p>`, 'text/html; charset=utf-8');
      }
      if (m[2] === undefined) return method === 'GET' ? sendPage(res, UI_DIST, 'tenant.html') : sendJson(res, 405, { error: 'method', message: 'GET only' });
      return tenantApi(v.tenant, v.expires, m[2], req, res, url);
    }
    return sendJson(res, 404, { error: 'not_found', message: `no route ${method} ${p}` });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 502, { error: 'upstream', message: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.add('stop the UI stand-in server', () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${addr.port}` };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY) throw new Error('body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

