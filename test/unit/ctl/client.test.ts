// The client against a real HTTP server on loopback that answers what a controller (or something else at
// the URL) may answer: every failure becomes one sentence, and 2xx bodies are checked against the schema.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, describeFetchFailure, queryString } from '../../../ctl/client.js';
import { BadAnswerError, ControllerError, exitCodeOf, UnreachableError } from '../../../ctl/errors.js';
import { checked } from '../../../ctl/shape.js';

const seen: Array<{ method: string; url: string; auth: string | undefined; type: string | undefined; body: string }> = [];
const ROUTES: Record<string, [number, string, string?]> = {
  '/v1/hosts': [200, '{"hosts":[]}'],
  '/extra': [200, '{"hosts":[],"added_later":{"x":1}}'],
  '/bad-shape': [200, '{"hosts":"none"}'],
  '/html': [200, '<html>hello</html>', 'text/html'],
  '/401': [401, '{"error":"unauthorized","message":"invalid bearer token"}'],
  '/403': [403, '{"error":"forbidden","message":"an agent token (host web01) cannot use admin routes"}'],
  '/404': [404, '{"error":"not_found","message":"tenant carol is not known"}'],
  '/noroute': [404, '{"error":"not_found","message":"no route GET /noroute"}'],
  '/400': [400, '{"error":"bad_request","message":"ttl: only a throttle or a quarantine lasts for a time"}'],
  '/409': [409, '{"error":"no_host","message":"tenant alice has no host yet: PUT it with a host first"}'],
  '/500': [500, '{"error":"internal","message":"internal error (details are in the controller log)"}'],
  '/502': [502, 'Bad Gateway\n', 'text/plain'],
};

let server: Server;
let url = '';
const client = (timeoutMs = 5000, base = url) => new Client({ url: base, token: 'tok123', tokenOrigin: '/etc/hostwarden/admin.token', timeoutMs, userAgent: 'hostwardenctl/test' });

async function read(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('no failure');
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const body = await read(req);
    seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, type: req.headers['content-type'], body });
    const path = req.url!.split('?')[0]!;
    if (path === '/slow') return; // never answers
    if (path === '/moved') {
      res.writeHead(301, { location: 'https://elsewhere.example/v1/hosts' });
      return res.end();
    }
    if (path === '/v1/tenants/alice/actions') {
      res.writeHead(201, { 'content-type': 'application/json' });
      return res.end(
        JSON.stringify({ id: 'a1', tenant: 'alice', action: 'throttle', level: 1, reason: 'r', created_at: '2025-01-31T12:00:00.000Z', host: 'web01', state: 'pending', state_at: '2025-01-31T12:00:00.000Z', message: null }),
      );
    }
    const [status, text, type] = ROUTES[path] ?? [404, '{"error":"not_found","message":"no route"}'];
    res.writeHead(status, { 'content-type': type ?? 'application/json' });
    res.end(text);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('client', () => {
  it('sends the bearer token and the query, and hands back the body both parsed and exactly as sent', async () => {
    const a = await client().get('/v1/hosts', { host: 'web 01', managed: true, limit: undefined });
    expect(a).toEqual({ status: 200, text: '{"hosts":[]}', json: { hosts: [] }, request: 'GET /v1/hosts' });
    expect(await checked(a, 'HostListSchema')).toEqual({ hosts: [] });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/v1/hosts?host=web+01&managed=true', auth: 'Bearer tok123' });
  });

  it('posts JSON', async () => {
    const a = await client().post('/v1/tenants/alice/actions', { action: 'throttle', reason: 'r' });
    expect(a.status).toBe(201);
    expect((await checked(a, 'ActionStatusSchema')).state).toBe('pending');
    expect(seen.at(-1)).toMatchObject({ method: 'POST', type: 'application/json', body: '{"action":"throttle","reason":"r"}' });
  });

  it('accepts fields a newer controller added, refuses a body of another shape or not JSON', async () => {
    expect((await checked(await client().get('/extra'), 'HostListSchema')).hosts).toEqual([]);
    const shape = await failure(checked(await client().get('/bad-shape'), 'HostListSchema'));
    expect(shape).toBeInstanceOf(BadAnswerError);
    expect(shape.message).toBe("the controller's answer to GET /bad-shape is not what this hostwardenctl expects: at /hosts: must be array");
    const html = await failure(client().get('/html'));
    expect(html.message).toBe(`the server at ${url} answered GET /html with something that is not JSON (is ${url} the hostwarden controller?)`);
    expect(exitCodeOf(html)).toBe(1);
  });

  it.each([
    ['/401', 401, 'the controller refused the token from /etc/hostwarden/admin.token (401): invalid bearer token'],
    ['/403', 403, 'the controller refused the token from /etc/hostwarden/admin.token (403): an agent token (host web01) cannot use admin routes'],
    ['/404', 404, 'tenant carol is not known'],
    ['/400', 400, 'the controller refused the request (400 bad_request): ttl: only a throttle or a quarantine lasts for a time'],
    ['/409', 409, 'the controller refused the request (409 no_host): tenant alice has no host yet: PUT it with a host first'],
    ['/500', 500, 'the controller failed (500 internal): internal error (details are in the controller log)'],
    ['/502', 502, 'the controller failed (502 http_502): Bad Gateway'],
  ])('%s: shows the status and the controller\'s message', async (path, status, message) => {
    const err = await failure(client().get(path));
    expect(err).toBeInstanceOf(ControllerError);
    expect([(err as ControllerError).status, err.message, exitCodeOf(err)]).toEqual([status, message, 1]);
  });

  it('says when the URL has no such route (not the controller, or an older one)', async () => {
    const err = await failure(client().get('/noroute'));
    expect(err.message).toBe(`the server at ${url} has no GET /noroute (is it the hostwarden controller, and as new as this hostwardenctl?)`);
  });

  it('follows no redirect (the token stays with the URL it was given) and says where it was sent', async () => {
    const err = await failure(client().get('/moved'));
    expect(err).toBeInstanceOf(ControllerError);
    expect(err.message).toBe(`the server at ${url} answered GET /moved with a redirect to https://elsewhere.example/v1/hosts (301); hostwardenctl follows none: give --url the controller's own address`);
    expect(exitCodeOf(err)).toBe(1);
  });

  it('gives up after the timeout', async () => {
    const err = await failure(client(300).get('/slow'));
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err.message).toBe(`the controller at ${url} did not answer within 300ms (is it overloaded? --timeout waits longer)`);
  });

  it('says the controller is not running when the port refuses connections', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await failure(client(5000, `http://127.0.0.1:${port}`).get('/v1/hosts'));
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err.message).toBe(`cannot reach the controller at http://127.0.0.1:${port}: connection refused (is hostwarden-controller running?)`);
    expect(exitCodeOf(err)).toBe(1);
  });

  it('words the other network failures as undici reports them', () => {
    const failed = (cause: object) => Object.assign(new TypeError('fetch failed'), { cause });
    expect(describeFetchFailure(failed({ code: 'ENOTFOUND' }), 'http://ctl.example:8640', 1000)).toBe('cannot reach the controller at http://ctl.example:8640: host ctl.example not found');
    expect(describeFetchFailure(failed({ code: 'EHOSTUNREACH' }), 'http://10.0.0.9:8640', 1000)).toBe('cannot reach the controller at http://10.0.0.9:8640: no route to host 10.0.0.9');
    // several addresses tried (localhost: ::1 and 127.0.0.1): an AggregateError whose parts carry the code
    expect(describeFetchFailure(failed({ errors: [{ code: 'ECONNREFUSED' }, { code: 'ECONNREFUSED' }] }), 'http://localhost:8640', 1000)).toContain('connection refused');
    expect(describeFetchFailure(failed({ code: 'UND_ERR_SOCKET' }), 'https://h:1', 1000)).toContain('the connection was closed before an answer');
  });

  it('builds query strings without the unset parameters', () => {
    expect(queryString({ a: 'x y', b: undefined, c: 2, d: false })).toBe('?a=x+y&c=2&d=false');
    expect(queryString({ b: undefined })).toBe('');
  });
});
