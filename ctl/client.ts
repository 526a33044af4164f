// The HTTP client of hostwardenctl: one request per call, the admin token as a bearer token, a timeout, and
// every failure turned into a sentence an admin can act on (a down controller, a refused token, the
// controller's own `{ error, message }`).
import { formatDuration } from '../shared/units.js';
import { BadAnswerError, ControllerError, UnreachableError } from './errors.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface ClientOptions {
  /** Base URL without a trailing slash. */
  url: string;
  token: string;
  /** Where the token came from, for 401/403 messages: a file name or "HOSTWARDEN_TOKEN". */
  tokenOrigin: string;
  timeoutMs: number;
  fetch?: typeof fetch;
  userAgent?: string;
}

export interface Answer {
  status: number;
  /** The body exactly as received (what --json prints). */
  text: string;
  /** The body parsed (JSON); shape.ts checks it against the API's schema before it is rendered. */
  json: unknown;
  /** "GET /v1/hosts", for messages. */
  request: string;
}

export class Client {
  private readonly fetch: typeof fetch;
  constructor(private readonly opts: ClientOptions) {
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  get url(): string {
    return this.opts.url;
  }

  get(path: string, query: Query = {}): Promise<Answer> {
    return this.request('GET', path, { query });
  }

  post(path: string, body: unknown): Promise<Answer> {
    return this.request('POST', path, { body });
  }

  async request(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<Answer> {
    const target = `${this.opts.url}${path}${queryString(opts.query ?? {})}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}`, accept: 'application/json' };
    if (this.opts.userAgent) headers['user-agent'] = this.opts.userAgent;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let text: string;
    try {
      const res = await this.fetch(target, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        redirect: 'error',
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      throw new UnreachableError(describeFetchFailure(err, this.opts.url, this.opts.timeoutMs), { cause: err });
    }
    const parsed = parseJson(text);
    if (status < 200 || status >= 300) throw httpError(status, parsed, text, { url: this.opts.url, method, path, tokenOrigin: this.opts.tokenOrigin });
    if (parsed === undefined) throw new BadAnswerError(`the server at ${this.opts.url} answered ${method} ${path} with something that is not JSON (is ${this.opts.url} the hostwarden controller?)`);
    return { status, text, json: parsed, request: `${method} ${path}` };
  }
}

export function queryString(query: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** One sentence for a request that got no HTTP answer. */
export function describeFetchFailure(err: unknown, url: string, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `the controller at ${url} did not answer within ${formatDuration(timeoutMs)} (is it overloaded? --timeout waits longer)`;
  const code = e.cause?.code ?? e.cause?.errors?.find((x) => x.code)?.code;
  const reach = `cannot reach the controller at ${url}`;
  switch (code) {
    case 'ECONNREFUSED':
      return `${reach}: connection refused (is hostwarden-controller running?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${reach}: host ${hostOf(url)} not found`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `${reach}: connection timed out (is a firewall in the way?)`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${reach}: no route to host ${hostOf(url)}`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `${reach}: the connection was closed before an answer (is ${url} the hostwarden controller, and http or https right?)`;
    default:
      return `${reach}: ${e.cause?.message ?? e.message ?? String(err)}`;
  }
}

interface RequestInfo {
  url: string;
  method: string;
  path: string;
  tokenOrigin: string;
}

/** The error for a non-2xx answer, with the controller's `{ error, message }` when it sent one. */
export function httpError(status: number, parsed: unknown, text: string, req: RequestInfo): ControllerError {
  const body = parsed as { error?: unknown; message?: unknown } | undefined;
  const apiCode = typeof body?.error === 'string' ? body.error : `http_${status}`;
  const message = typeof body?.message === 'string' ? body.message : text.trim().slice(0, 200) || '(no message)';
  if (status === 401 || status === 403) {
    return new ControllerError(status, apiCode, `the controller refused the token from ${req.tokenOrigin} (${status}): ${message}`);
  }
  if (status === 404 && (message.startsWith('no route') || typeof body?.error !== 'string')) {
    return new ControllerError(status, apiCode, `the server at ${req.url} has no ${req.method} ${req.path.split('?')[0]} (is it the hostwarden controller, and as new as this hostwardenctl?)`);
  }
  if (status === 404) return new ControllerError(status, apiCode, message);
  const who = status >= 500 ? 'the controller failed' : 'the controller refused the request';
  return new ControllerError(status, apiCode, `${who} (${status} ${apiCode}): ${message}`);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}
