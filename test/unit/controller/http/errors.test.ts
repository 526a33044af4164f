// Every refusal of the HTTP layer in the API's error shape, `{ "error": code, "message": text }` with a 4xx that
// says what was wrong, never Fastify's shape and never a 5xx: what the router, the body parsers and the schemas
// refuse through app.inject(), and what only a real socket can send (raw request lines written with
// net.connect: a 100 KB URL, bytes that are not UTF-8, a header too large) on a real listener.
import { connect } from 'node:net';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { badEscape, MAX_HEADER_BYTES, MAX_PARAM_LENGTH, MAX_URL_LENGTH, RouteMethods } from '../../../../controller/http/framework-errors.js';
import { TokenRegistry } from '../../../../controller/auth.js';
import { Clock, HOUR, report, tempStore } from '../fixtures.js';

const ADMIN = 'admin-token-for-error-tests-01';
const AGENT = 'agent-token-web01-errors-0001';
const T0 = Date.UTC(2025, 5, 1, 10);
const REPORT_LIMIT = 64 * 1024;
const auth = { authorization: `Bearer ${ADMIN}` };
const json = { ...auth, 'content-type': 'application/json' };

let app: App;
let t: ReturnType<typeof tempStore>;
let port: number;

beforeAll(async () => {
  const clock = new Clock(T0 + HOUR);
  t = tempStore({ now: clock.now });
  const tokens = new TokenRegistry();
  tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
  tokens.addToken(AGENT, { kind: 'agent', name: 'agent:web01', host: 'web01' });
  app = await buildApp({ store: t.store, tokens, now: clock.now, reportBodyLimit: REPORT_LIMIT });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await app.close();
  await t.dispose();
});

/** The body is our error shape, and only that: two non-empty strings. */
function expectOurShape(status: number, body: unknown): asserts body is { error: string; message: string } {
  expect(status).toBeGreaterThanOrEqual(400);
  expect(status).toBeLessThan(500);
  expect(body).toEqual({ error: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String) });
  expect((body as { message: string }).message.length).toBeGreaterThan(5);
}

interface Case {
  name: string;
  request: InjectOptions;
  status: number;
  error: string;
  message: string | RegExp;
  allow?: string;
}

const long = (n: number) => 'a'.repeat(n);

const CASES: Case[] = [
  { name: "item 8: /v1/tenants/%ff (bad percent-encoding) names the escape", request: { url: '/v1/tenants/%ff', headers: auth }, status: 400, error: 'bad_request', message: 'path /v1/tenants/%ff: "%ff" is not a valid percent-escape (escapes encode UTF-8 bytes, e.g. %C3%A9)' },
  { name: '/v1/tenants/%zz (not an escape at all)', request: { url: '/v1/tenants/%zz', headers: auth }, status: 400, error: 'bad_request', message: /: "%zz" is not a valid percent-escape/ },
  { name: 'an escape that is not UTF-8 inside a path', request: { url: '/v1/tenants/al%e9ice/usage', headers: auth }, status: 400, error: 'bad_request', message: /: "%e9" is not a valid percent-escape/ },
  { name: 'a bad escape in a query value', request: { url: '/v1/tenants?host=web%ff', headers: auth }, status: 400, error: 'bad_request', message: 'query string: "%ff" is not a valid percent-escape (escapes encode UTF-8 bytes, e.g. %C3%A9)' },
  { name: 'a bad escape in a query key', request: { url: '/v1/incidents?%zzx=1', headers: auth }, status: 400, error: 'bad_request', message: /^query string: "%zz/ },
  { name: 'an unknown query key, named', request: { url: '/v1/tenants?colour=red', headers: auth }, status: 400, error: 'bad_request', message: 'query parameters: unknown field(s) "colour"' },
  { name: 'item 8: a long action id (300 characters) gets its schema\'s message', request: { url: `/v1/actions/${long(300)}`, headers: auth }, status: 400, error: 'bad_request', message: 'path parameter id: must not have more than 128 characters' },
  { name: `a path parameter over maxParamLength (${MAX_PARAM_LENGTH})`, request: { url: `/v1/actions/${long(5000)}`, headers: auth }, status: 400, error: 'bad_request', message: new RegExp(`^path /v1/actions/a+… \\(5012 characters\\): a path parameter is longer than ${MAX_PARAM_LENGTH} characters$`) },
  { name: `a URL over ${MAX_URL_LENGTH} characters (query)`, request: { url: `/v1/tenants?host=${long(9000)}`, headers: auth }, status: 414, error: 'uri_too_long', message: `the URL is 9017 characters long; the limit is ${MAX_URL_LENGTH}` },
  { name: `a URL over ${MAX_URL_LENGTH} characters (a path parameter)`, request: { url: `/v1/actions/${long(9000)}`, headers: auth }, status: 414, error: 'uri_too_long', message: /^the URL is 9012 characters long/ },
  { name: 'a URL over the limit without a token (no 401 first: nothing is read)', request: { url: `/v1/hosts?x=${long(9000)}` }, status: 414, error: 'uri_too_long', message: /^the URL is \d+ characters long/ },
  { name: 'an unknown route', request: { url: '/v1/nothing', headers: auth }, status: 404, error: 'not_found', message: 'no route GET /v1/nothing' },
  { name: 'an unknown route with a long path (the message is bounded)', request: { url: `/v1/${long(7000)}`, headers: auth }, status: 404, error: 'not_found', message: /^no route GET \/v1\/a{116}… \(7004 characters\)$/ },
  { name: 'a method the path does not take: 405 with Allow', request: { method: 'DELETE', url: '/v1/plans/basic', headers: auth }, status: 405, error: 'method_not_allowed', message: 'DELETE is not allowed on /v1/plans/basic; allowed: PUT', allow: 'PUT' },
  { name: 'POST on a GET route: 405 with Allow', request: { method: 'POST', url: '/v1/tenants/', headers: json, payload: '{}' }, status: 405, error: 'method_not_allowed', message: 'POST is not allowed on /v1/tenants/; allowed: GET, HEAD', allow: 'GET, HEAD' },
  { name: 'text/plain: 415 naming the type', request: { method: 'PUT', url: '/v1/plans/basic', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'cpu=100' }, status: 415, error: 'unsupported_media_type', message: 'content-type "text/plain" is not accepted: send the body as application/json' },
  { name: 'a body without a content type', request: { method: 'PUT', url: '/v1/plans/basic', headers: auth, payload: 'cpu=100' }, status: 415, error: 'unsupported_media_type', message: 'send the body as application/json (no content-type given)' },
  { name: 'a report in another type', request: { method: 'POST', url: '/v1/reports', headers: { authorization: `Bearer ${AGENT}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' }, status: 415, error: 'unsupported_media_type', message: /"application\/x-www-form-urlencoded" is not accepted/ },
  { name: 'invalid JSON, with its position', request: { method: 'PUT', url: '/v1/plans/basic', headers: json, payload: '{"cpu": 1,,}' }, status: 400, error: 'bad_request', message: 'body is not valid JSON: expected double-quoted property name at line 1, column 11 (position 10)' },
  { name: 'invalid JSON over lines, with line and column', request: { method: 'PUT', url: '/v1/plans/basic', headers: json, payload: '{\n  "cpu": 100,\n  "weight": tru\n}' }, status: 400, error: 'bad_request', message: "body is not valid JSON: unexpected token '\\u000a' at line 3, column 16 (position 31)" },
  { name: 'a truncated JSON body', request: { method: 'POST', url: '/v1/tenants/alice/actions', headers: json, payload: '{"action":"notice"' }, status: 400, error: 'bad_request', message: 'body is not valid JSON: expected \',\' or \'}\' after property value in JSON at line 1, column 19 (position 18)'.replace(' in JSON', '') },
  { name: 'an invalid report, with its position', request: { method: 'POST', url: '/v1/reports', headers: { authorization: `Bearer ${AGENT}`, 'content-type': 'application/json' }, payload: '{"version":1,"host":"web01",]' }, status: 400, error: 'bad_request', message: /^body is not valid JSON: .* at line 1, column 29 \(position 28\)$/ },
  { name: 'a __proto__ key', request: { method: 'PUT', url: '/v1/plans/basic', headers: json, payload: '{"cpu":100,"__proto__":{"weight":1}}' }, status: 400, error: 'bad_request', message: 'body: a "__proto__" key, or "prototype" in a "constructor" object, is not allowed' },
  { name: 'a lone surrogate escape in a string (found by the fuzz test: it read back as U+FFFD)', request: { method: 'POST', url: '/v1/tenants/alice/actions', headers: json, payload: '{"action":"notice","reason":"\\ud800"}' }, status: 400, error: 'bad_request', message: 'body/reason: a string holds a lone UTF-16 surrogate (\\ud800-\\udfff escape without its pair), which is not text' },
  { name: 'a body that is not UTF-8', request: { method: 'PUT', url: '/v1/plans/basic', headers: json, payload: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) }, status: 400, error: 'bad_request', message: 'body is not valid UTF-8' },
  { name: 'an empty JSON body', request: { method: 'PUT', url: '/v1/plans/basic', headers: json, payload: '' }, status: 400, error: 'bad_request', message: 'body is empty' },
  { name: 'a body over the limit (admin routes, 1 MiB)', request: { method: 'PUT', url: '/v1/plans/basic', headers: json, payload: `{"x":"${long(1_100_000)}"}` }, status: 413, error: 'payload_too_large', message: 'body larger than the limit of 1048576 bytes' },
  { name: 'a report over the report limit', request: { method: 'POST', url: '/v1/reports', headers: { authorization: `Bearer ${AGENT}`, 'content-type': 'application/json' }, payload: `{"x":"${long(REPORT_LIMIT)}"}` }, status: 413, error: 'payload_too_large', message: `body larger than the limit of ${REPORT_LIMIT} bytes` },
  { name: 'a body shorter than its Content-Length', request: { method: 'PUT', url: '/v1/plans/basic', headers: { ...json, 'content-length': '5' }, payload: '{"cpu":100,"weight":1}' }, status: 400, error: 'bad_request', message: /Content-Length/ },
];

describe('Fastify\'s own refusals in our error shape (app.inject)', () => {
  it.each(CASES)('$name: $status $error', async ({ request, status, error, message, allow }) => {
    const res = await app.inject(request);
    const body = res.json();
    expectOurShape(res.statusCode, body);
    expect([res.statusCode, body.error]).toEqual([status, error]);
    if (typeof message === 'string') expect(body.message).toBe(message);
    else expect(body.message).toMatch(message);
    expect(body.message.length).toBeLessThan(400);
    if (allow !== undefined) expect(res.headers.allow).toBe(allow);
  });

  it('a host name of 253 characters (valid) is routed, not refused as too long', async () => {
    const host = `h${long(252)}`;
    const res = await app.inject({ url: `/v1/hosts/${host}`, headers: auth });
    expect([res.statusCode, res.json()]).toEqual([404, { error: 'not_found', message: `host ${host} is not known` }]);
  });
});

/** Writes `data` to the listener on a fresh connection; the raw answer, read until the server closes. */
function rawRequest(data: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer in 10 s; got ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
    }, 10_000);
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', done); // the server may reset a connection it stopped reading; its answer came first
    socket.on('close', done);
    socket.write(data);
  });
}

function parseAnswer(text: string): { status: number; headers: Record<string, string>; body: unknown } {
  const end = text.indexOf('\r\n\r\n');
  expect(end, `no complete HTTP answer: ${JSON.stringify(text.slice(0, 200))}`).toBeGreaterThan(0);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]), headers, body: JSON.parse(text.slice(end + 4)) };
}

const tail = `Host: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN}\r\nConnection: close\r\n\r\n`;

describe('what only a real socket can send', () => {
  it.each([
    { name: 'a 100 KB URL', data: `GET /v1/tenants?host=${long(100_000)} HTTP/1.1\r\n${tail}`, status: 414, error: 'uri_too_long', message: `the request line is longer than ${MAX_HEADER_BYTES} bytes; a URL may have at most ${MAX_URL_LENGTH} characters` },
    { name: 'a 20 KB URL', data: `GET /v1/tenants/${long(20_000)} HTTP/1.1\r\n${tail}`, status: 414, error: 'uri_too_long', message: /^the request line is longer than/ },
    { name: 'a 10 KB URL (within the header limit, over the URL limit)', data: `GET /v1/tenants?host=${long(10_000)} HTTP/1.1\r\n${tail}`, status: 414, error: 'uri_too_long', message: `the URL is 10017 characters long; the limit is ${MAX_URL_LENGTH}` },
    { name: 'bytes that are not UTF-8 (nor allowed) in the request line', data: Buffer.concat([Buffer.from('GET /v1/tenants/al'), Buffer.from([0xff, 0xfe]), Buffer.from(`ice HTTP/1.1\r\n${tail}`)]), status: 400, error: 'bad_request', message: /^the URL has a character not allowed in a request line/ },
    { name: 'a control character in the request line', data: `GET /v1/ten\x01ants HTTP/1.1\r\n${tail}`, status: 400, error: 'bad_request', message: /^the URL has a character not allowed/ },
    { name: 'a header too large', data: `GET /v1/tenants HTTP/1.1\r\nX-Padding: ${long(40_000)}\r\n${tail}`, status: 431, error: 'headers_too_large', message: `the request line and headers are larger than ${MAX_HEADER_BYTES} bytes` },
    { name: 'too many headers together', data: `GET /v1/tenants HTTP/1.1\r\n${'X-A: b\r\n'.repeat(3000)}${tail}`, status: 431, error: 'headers_too_large', message: /^the request line and headers are larger than/ },
    { name: 'not HTTP at all', data: 'HELLO\r\n\r\n', status: 400, error: 'bad_request', message: 'not an HTTP request, or an unknown method' },
    { name: 'a space inside the URL', data: `GET /v1/ten ants HTTP/1.1\r\n${tail}`, status: 400, error: 'bad_request', message: /^malformed HTTP request: / },
    { name: 'item 8: /v1/tenants/%ff over a socket', data: `GET /v1/tenants/%ff HTTP/1.1\r\n${tail}`, status: 400, error: 'bad_request', message: /"%ff" is not a valid percent-escape/ },
    { name: 'an unknown route over a socket', data: `GET /nothing/here HTTP/1.1\r\n${tail}`, status: 404, error: 'not_found', message: 'no route GET /nothing/here' },
    { name: 'CONNECT (never reaches a route)', data: `CONNECT example.com:443 HTTP/1.1\r\n${tail}`, status: 405, error: 'method_not_allowed', message: 'CONNECT is not allowed: this server is not a proxy' },
    { name: 'an HTTP/1.1 request without Host', data: `GET /v1/tenants HTTP/1.1\r\nAuthorization: Bearer ${ADMIN}\r\nConnection: close\r\n\r\n`, status: 400, error: 'bad_request', message: 'an HTTP/1.1 request needs a Host header' },
    { name: 'a chunked body with a bad chunk size', data: `PUT /v1/plans/basic HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n${tail}zz\r\n`, status: 400, error: 'bad_request', message: /^malformed HTTP request: .*chunk size/ },
  ])('$name: $status $error', async ({ data, status, error, message }) => {
    const answer = parseAnswer(await rawRequest(data));
    expectOurShape(answer.status, answer.body);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect([answer.status, answer.body.error]).toEqual([status, error]);
    if (typeof message === 'string') expect(answer.body.message).toBe(message);
    else expect(answer.body.message).toMatch(message);
  });

  it('a refused client that goes on sending its body is read, not reset: the answer arrives and the close is a FIN (lingering close)', async () => {
    // A bad chunk size refuses the request in its first bytes; the client then sends 4 MiB more, as a client
    // that writes its whole body before reading does. Destroying the socket at once left those bytes unread:
    // the kernel reset the connection and the writes failed with EPIPE or ECONNRESET (and could lose the answer).
    const outcome = await new Promise<{ text: string; error?: string; ended: boolean }>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      let ended = false;
      let error: string | undefined;
      const timer = setTimeout(() => socket.destroy(), 10_000);
      socket.on('data', (d) => chunks.push(d));
      socket.on('end', () => {
        ended = true;
      });
      socket.on('error', (e: NodeJS.ErrnoException) => {
        error = e.code ?? e.message;
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ text: Buffer.concat(chunks).toString('utf8'), error, ended });
      });
      socket.write(`PUT /v1/plans/basic HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n${tail}zz\r\n`);
      socket.once('data', () => {
        // The answer is in: write the rest, then close our side.
        const piece = Buffer.alloc(64 * 1024, 'x');
        let left = 64;
        const more = () => {
          while (left > 0) {
            left -= 1;
            if (!socket.write(piece)) return void socket.once('drain', more);
          }
          socket.end();
        };
        more();
      });
    });
    expect(outcome.error).toBeUndefined();
    expect(outcome.ended).toBe(true);
    expect(parseAnswer(outcome.text).status).toBe(400);
  });

  it('still serves after every refusal above', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/tenants`, { headers: auth });
    expect(res.status).toBe(200);
  });
});

// A report answered 400 for not being JSON is not lost for another reason: the agent drops reports answered 400.
it('a valid report still goes in after the refusals (202)', async () => {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/reports',
    headers: { authorization: `Bearer ${AGENT}`, 'content-type': 'application/json' },
    payload: JSON.stringify(report('web01', 1, T0, [{ tenant: 'alice', cpu: { percent: 5 } }])),
  });
  expect(res.statusCode).toBe(202);
});

describe('helpers of the mapping', () => {
  it.each([
    ['alice', undefined],
    ['caf%C3%A9', undefined],
    ['a%2Fb', undefined],
    ['%ff', '%ff'],
    ['x%e9y', '%e9'],
    ['%C3%A9%ff', '%C3%A9%ff'],
    ['a%zzb', '%zz'],
    ['a%', '%'],
    ['%4', '%4'],
    ['%zz%ff', '%zz'],
    ['%ff%zz', '%ff'],
  ])('badEscape(%j) = %j', (text, bad) => {
    expect(badEscape(text)).toBe(bad);
  });

  it('RouteMethods matches a parameter as one segment and ignores a trailing slash', () => {
    const routes = new RouteMethods();
    routes.add({ method: 'GET', url: '/v1/tenants/:tenant' });
    routes.add({ method: ['PUT', 'DELETE'], url: '/v1/tenants/:tenant' });
    routes.add({ method: 'GET', url: '/v1/tenants/:tenant/usage' });
    expect(routes.allowed('/v1/tenants/alice')).toEqual(['DELETE', 'GET', 'PUT']);
    expect(routes.allowed('/v1/tenants/alice/')).toEqual(['DELETE', 'GET', 'PUT']);
    expect(routes.allowed('/v1/tenants/alice/usage')).toEqual(['GET']);
    expect(routes.allowed('/v1/tenants/a/b')).toEqual([]);
    expect(routes.allowed('/v1/tenants')).toEqual([]);
  });
});
