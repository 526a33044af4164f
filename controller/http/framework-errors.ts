// What Node's HTTP parser, Fastify's router and its body parsers refuse, answered as every other error of the
// API: `{ "error": code, "message": text }` with a 4xx that says what was wrong, never Fastify's own shape.
//
// Limits, set deliberately (app.ts hands them to Fastify and to the server):
//   MAX_HEADER_BYTES  16384  request line and headers together (Node's HTTP parser): beyond it the parser
//                            stops the request; clientErrorHandler answers 414 when the request line alone is
//                            too long (a URL), 431 otherwise
//   MAX_URL_LENGTH     8192  characters of the request target, path and query: 414 (urlHook)
//   MAX_PARAM_LENGTH   1024  characters of one path parameter (Fastify's maxParamLength): longer than any
//                            valid one (host names 253, tenants 64, action ids 128), so a too-long one that is
//                            still short enough to route gets its schema's message; beyond it 400 (frameworkErrors)
// A request for a path that exists with other methods answers 405 with Allow (notFoundHandler), and so does
// CONNECT (connectHandler: Node hands it to no route).
import type { FastifyError, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { describeJsonError } from '../../shared/json-error.js';
import type { ErrorBody } from '../../shared/wire/api.js';
import { ApiError, BadRequestError } from './errors.js';

export const MAX_HEADER_BYTES = 16_384;
export const MAX_URL_LENGTH = 8192;
export const MAX_PARAM_LENGTH = 1024;
/** How much of a request's path an error message repeats. */
const SHOWN_PATH = 120;

/** Options of the Node server (Fastify's `http`/`https`): its header limit, and the Host check left to urlHook. */
export const SERVER_OPTIONS = { maxHeaderSize: MAX_HEADER_BYTES, requireHostHeader: false } as const;

/** A path as error messages repeat it: bounded. */
export function shownPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.length > SHOWN_PATH ? `${path.slice(0, SHOWN_PATH)}… (${path.length} characters)` : path;
}

/** The first percent-escape of `text` that is malformed or does not decode to UTF-8, as it was sent. */
export function badEscape(text: string): string | undefined {
  const malformed = /%(?![0-9A-Fa-f]{2})[^%]{0,2}/.exec(text);
  for (const run of text.matchAll(/(?:%[0-9A-Fa-f]{2})+/g)) {
    if (malformed && malformed.index < run.index) break;
    try {
      decodeURIComponent(run[0]);
    } catch {
      return run[0].slice(0, 24);
    }
  }
  return malformed?.[0];
}

function uriTooLong(length: number): ApiError {
  return new ApiError(414, 'uri_too_long', `the URL is ${length} characters long; the limit is ${MAX_URL_LENGTH}`);
}

/**
 * The first onRequest hook: a URL over MAX_URL_LENGTH is a 414, a query string with a malformed escape a 400
 * naming it (the query parser would keep it as text and the schema would blame the value instead).
 */
export async function urlHook(request: FastifyRequest): Promise<void> {
  const url = request.url;
  if (url.length > MAX_URL_LENGTH) throw uriTooLong(url.length);
  // Node's own check answers an empty 400; the server leaves it to this hook (SERVER_OPTIONS).
  if (request.headers.host === undefined && request.raw.httpVersion === '1.1') throw new BadRequestError('an HTTP/1.1 request needs a Host header');
  const q = url.indexOf('?');
  if (q === -1) return;
  const bad = badEscape(url.slice(q + 1));
  if (bad !== undefined) throw new BadRequestError(`query string: "${bad}" is not a valid percent-escape (escapes encode UTF-8 bytes, e.g. %C3%A9)`);
}

/** Fastify's `frameworkErrors`: what its router refuses before any route or hook runs. */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const url = request.raw.url ?? '';
  let answer: ApiError;
  if (url.length > MAX_URL_LENGTH) answer = uriTooLong(url.length);
  else if (err.code === 'FST_ERR_BAD_URL') {
    const bad = badEscape(url.split('?')[0] ?? '');
    answer = new BadRequestError(
      bad === undefined
        ? `path ${shownPath(url)} cannot be decoded`
        : `path ${shownPath(url)}: "${bad}" is not a valid percent-escape (escapes encode UTF-8 bytes, e.g. %C3%A9)`,
    );
  } else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    answer = new BadRequestError(`path ${shownPath(url)}: a path parameter is longer than ${MAX_PARAM_LENGTH} characters`);
  } else {
    answer = new BadRequestError(`cannot route ${request.method} ${shownPath(url)}`);
  }
  reply.code(answer.status).send({ error: answer.code, message: answer.message } satisfies ErrorBody);
}

/** Stable answers to what Node's HTTP parser refuses (the socket's `clientError`). */
/** What Node hands `clientError`: an Error with the parser's code and, for parse errors, the chunk it failed in. */
export type ClientError = Error & { code?: string; rawPacket?: unknown };

function clientErrorAnswer(err: ClientError): { status: number; body: ErrorBody } {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, body: { error: 'request_timeout', message: 'the request was not received in time' } };
    case 'HPE_HEADER_OVERFLOW': {
      // Node counts the request line with the headers. When the chunk that overflowed starts a request whose
      // first line is longer than a URL may be, the URL is what is too long. (The chunk is the last one read:
      // a long URL sent in small pieces is told apart less surely and gets the 431, whose message names both.)
      const packet = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : undefined;
      const lineEnd = packet?.indexOf('\n') ?? -1;
      const requestLine = packet !== undefined && /^[A-Z]{3,10} /.test(packet.subarray(0, 12).toString('latin1')) && (lineEnd === -1 || lineEnd > MAX_URL_LENGTH);
      if (requestLine) return { status: 414, body: { error: 'uri_too_long', message: `the request line is longer than ${MAX_HEADER_BYTES} bytes; a URL may have at most ${MAX_URL_LENGTH} characters` } };
      return { status: 431, body: { error: 'headers_too_large', message: `the request line and headers are larger than ${MAX_HEADER_BYTES} bytes` } };
    }
    case 'HPE_INVALID_URL':
      return { status: 400, body: { error: 'bad_request', message: 'the URL has a character not allowed in a request line (non-ASCII bytes, spaces and control characters must be percent-encoded as UTF-8)' } };
    case 'HPE_INVALID_METHOD':
      return { status: 400, body: { error: 'bad_request', message: 'not an HTTP request, or an unknown method' } };
    default:
      return { status: 400, body: { error: 'bad_request', message: `malformed HTTP request${err.message ? `: ${err.message}` : ''}` } };
  }
}

/**
 * Fastify's `clientErrorHandler` (the server's `clientError`): the request never reached the router, so the
 * answer is written to the socket as Node's own would be, then the connection is closed.
 */
export function clientErrorHandler(err: ClientError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // As Node does: no answer in the middle of one already on its way (a pipelined request's), which it would corrupt.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (!inFlight?.headersSent) writeAnswer(socket, clientErrorAnswer(err));
  closeAfterAnswer(socket);
}

/** How long a refused client may go on sending what it had started before the connection is cut. */
export const LINGER_MS = 2000;

/**
 * A lingering close, as nginx's: the answer goes out with a FIN and what the client still sends is read and
 * dropped for a while. Destroying at once would leave its unread bytes in the kernel's buffer, which then
 * answers with a reset that can reach the client before it has read the answer (seen as EPIPE or ECONNRESET
 * with no answer, under load).
 */
function closeAfterAnswer(socket: Socket): void {
  if (socket.destroyed) return;
  socket.removeAllListeners('data'); // the HTTP parser's: what follows is not parsed again
  socket.on('data', () => undefined);
  socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

const LINGERS = Symbol('hostwarden.lingers');

/**
 * An answer that goes out before its request's body was read (a 413 on Content-Length, a 401 before the body
 * of a large request) on a connection that closes after it: Node ends the socket and destroys it as soon as the
 * answer is flushed, with the rest of the body unread, and the kernel then resets the connection, which a client
 * still writing its body sees as EPIPE before it has read the answer (the fuzz test: no answer to a 1 MiB body
 * over the limit, once in 10,000 requests under load). The socket's close is made a lingering one instead: the
 * answer and a FIN, then what the client still sends is read (Node's parser drops the unread request) until it
 * closes or LINGER_MS pass. Connections kept alive are not affected (Node reads the rest of the body there).
 */
export function lingerOnClose(socket: Socket | null | undefined): void {
  if (!socket || (socket as Socket & { [LINGERS]?: boolean })[LINGERS]) return;
  (socket as Socket & { [LINGERS]?: boolean })[LINGERS] = true;
  socket.destroySoon = function (this: Socket): void {
    if (this.destroyed) return;
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
  };
}

/** An answer written straight to a socket the HTTP server no longer reads (it is closed after). */
function writeAnswer(socket: Socket, { status, body, allow }: { status: number; body: ErrorBody; allow?: string }): void {
  if (!socket.writable) return;
  const text = JSON.stringify(body);
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
      `${allow ? `Allow: ${allow}\r\n` : ''}Connection: close\r\n\r\n${text}`,
  );
}

/** The server's `connect` (a CONNECT request, which never reaches Fastify): this is not a proxy. */
export function connectHandler(_request: unknown, socket: Socket): void {
  writeAnswer(socket, { status: 405, body: { error: 'method_not_allowed', message: 'CONNECT is not allowed: this server is not a proxy' }, allow: 'GET, HEAD, POST, PUT, DELETE' });
  closeAfterAnswer(socket);
}

/**
 * The methods each route path takes, for the 405 of a known path asked with another method. Paths are
 * matched as the router does: `:param` is one segment, a trailing slash is ignored.
 */
export class RouteMethods {
  private readonly routes: Array<{ pattern: RegExp; methods: Set<string> }> = [];

  add(route: Pick<RouteOptions, 'method' | 'url'>): void {
    const url = route.url.replace(/\/$/, '');
    const source = `^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:\w+/g, '[^/]+')}/?$`;
    let entry = this.routes.find((r) => r.pattern.source === source);
    if (!entry) {
      entry = { pattern: new RegExp(source), methods: new Set() };
      this.routes.push(entry);
    }
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) entry.methods.add(String(m).toUpperCase());
  }

  /** The methods `path` (no query) takes, sorted; empty for a path no route has. */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const r of this.routes) if (r.pattern.test(path)) for (const m of r.methods) methods.add(m);
    return [...methods].sort();
  }
}

/** The not-found handler: 405 with Allow for a known path, 404 naming the request otherwise. */
export function notFoundHandler(routes: RouteMethods) {
  return (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = routes.allowed(path);
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send({ error: 'method_not_allowed', message: `${request.method} is not allowed on ${shownPath(path)}; allowed: ${allowed.join(', ')}` } satisfies ErrorBody);
    }
    return reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${shownPath(path)}` } satisfies ErrorBody);
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The path of the first string (value or key) in `value` that is not well-formed UTF-16, if any. */
function loneSurrogateAt(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : path;
  if (value === null || typeof value !== 'object' || depth > 64) return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (!k.isWellFormed()) return `${path}/(a key)`;
    const at = loneSurrogateAt(v, `${path}/${k}`, depth + 1);
    if (at) return at;
  }
  return undefined;
}

/**
 * The JSON body parser of the admin routes: Fastify's own (it refuses `__proto__` and `constructor.prototype`
 * keys), with messages that say what is wrong and where: bytes that are not UTF-8, the JSON error with its
 * line, column and position, a forbidden key.
 */
export function jsonBodyParser(fastifyParser: (req: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void) => void) {
  return (request: FastifyRequest, raw: Buffer, done: (err: Error | null, body?: unknown) => void): void => {
    let text: string;
    try {
      text = utf8.decode(raw);
    } catch {
      done(new BadRequestError('body is not valid UTF-8'));
      return;
    }
    if (text.length === 0) {
      done(new BadRequestError('body is empty'));
      return;
    }
    fastifyParser(request, text, (err, body) => {
      if (!err) {
        // A \uD800 escape parses to a lone surrogate, which no store keeps (SQLite writes UTF-8: it would read
        // back as U+FFFD): refused here, named, rather than stored as something else.
        const bad = loneSurrogateAt(body, 'body');
        return bad ? done(new BadRequestError(`${bad}: a string holds a lone UTF-16 surrogate (\\ud800-\\udfff escape without its pair), which is not text`)) : done(null, body);
      }
      try {
        JSON.parse(text);
      } catch (syntax) {
        return done(new BadRequestError(`body is not valid JSON: ${describeJsonError(text, syntax)}`));
      }
      done(new BadRequestError('body: a "__proto__" key, or "prototype" in a "constructor" object, is not allowed'));
    });
  };
}
