// The HTTP client of hostwardenctl: one request per call, the admin token as a bearer token, a timeout, and
// every failure turned into a sentence an admin can act on (a down controller, a refused token, a certificate
// that is not trusted, the controller's own `{ error, message }`). node:http and node:https rather than fetch:
// Node's fetch cannot be given a CA without the undici package.
import type { IncomingMessage } from 'node:http';
import { formatDuration } from '../shared/units.js';
import { BadAnswerError, ControllerError, UnreachableError } from './errors.js';

// node:http, node:https and node:tls are taken when a request is made, not imported: an ESM import of
// node:http builds a facade of all its exports, whose lazy getters load undici, http2 and tls (~130 ms at
// every start, `--version` and `--help` included); process.getBuiltinModule hands over the module as it is.
const http = () => process.getBuiltinModule('node:http');
const httpsModule = () => process.getBuiltinModule('node:https');
const tls = () => process.getBuiltinModule('node:tls');

export type Query = Record<string, string | number | boolean | undefined>;

export interface ClientOptions {
  /** Base URL without a trailing slash. */
  url: string;
  token: string;
  /** Where the token came from, for 401/403 messages: a file name or "HOSTWARDEN_TOKEN". */
  tokenOrigin: string;
  timeoutMs: number;
  userAgent?: string;
  /**
   * The CA certificates (PEM) an https controller's certificate must be signed by, and the file they came from
   * (for messages). Absent: the system's CA store and Node's own.
   */
  ca?: { pem: string; file: string; source: string } | undefined;
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

interface Sent {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string | undefined;
}

export class Client {
  constructor(private readonly opts: ClientOptions) {}

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
    const target = new URL(`${this.opts.url}${path}${queryString(opts.query ?? {})}`);
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}`, accept: 'application/json' };
    if (this.opts.userAgent) headers['user-agent'] = this.opts.userAgent;
    const body = opts.body !== undefined ? JSON.stringify(opts.body) : undefined;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let text: string;
    let location: string | undefined;
    try {
      ({ status, text, location } = await this.send({ method, url: target, headers, body }));
    } catch (err) {
      throw new UnreachableError(describeFetchFailure(err, this.opts.url, this.opts.timeoutMs, this.opts.ca), { cause: err });
    }
    if (status >= 300 && status < 400) {
      throw new ControllerError(status, `http_${status}`, `the server at ${this.opts.url} answered ${method} ${path} with a redirect${location ? ` to ${location}` : ''} (${status}); hostwardenctl follows none: give --url the controller's own address`);
    }
    const parsed = parseJson(text);
    if (status < 200 || status >= 300) throw httpError(status, parsed, text, { url: this.opts.url, method, path, tokenOrigin: this.opts.tokenOrigin });
    if (parsed === undefined) throw new BadAnswerError(`the server at ${this.opts.url} answered ${method} ${path} with something that is not JSON (is ${this.opts.url} the hostwarden controller?)`);
    return { status, text, json: parsed, request: `${method} ${path}` };
  }

  /** One request on a connection of its own; the whole exchange, body included, within the timeout. */
  private send(req: Sent): Promise<{ status: number; text: string; location: string | undefined }> {
    const https = req.url.protocol === 'https:';
    const options = {
      method: req.method,
      headers: { ...req.headers, ...(req.body !== undefined ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}) },
      agent: false as const,
      ...(https ? { ca: this.opts.ca?.pem ?? systemCertificates() } : {}),
    };
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const fail = (err: unknown) => settle(() => reject(err));
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`no answer within ${this.opts.timeoutMs}ms`), { name: 'TimeoutError' });
        fail(err);
        request.destroy(err);
      }, this.opts.timeoutMs);
      const request = (https ? httpsModule().request : http().request)(req.url, options, (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('error', fail);
        res.on('end', () => settle(() => resolve({ status: res.statusCode ?? 0, text, location: res.headers.location })));
        res.on('close', () => {
          if (!res.complete) fail(Object.assign(new Error('the connection was closed during the answer'), { code: 'ECONNRESET' }));
        });
      });
      request.on('error', fail);
      request.end(req.body);
    });
  }
}

let systemStore: string[] | undefined;

/** The system's CA store and Node's own (bundled, NODE_EXTRA_CA_CERTS): what https trusts without --ca-file. */
function systemCertificates(): string[] {
  if (systemStore === undefined) {
    let system: string[] = [];
    try {
      system = tls().getCACertificates('system');
    } catch {
      // no readable system store: Node's own roots alone, as before
    }
    systemStore = [...new Set([...tls().getCACertificates('default'), ...system])];
  }
  return systemStore;
}

export function queryString(query: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** TLS verification failures that mean "signed by a CA this client does not trust". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
]);

/** One sentence for a request that got no HTTP answer (node:http's errors, or fetch's with the code in `cause`). */
export function describeFetchFailure(err: unknown, url: string, timeoutMs: number, ca?: { file: string; source: string }): string {
  type Coded = { code?: string; message?: string; errors?: Array<{ code?: string }> };
  const e = err as Coded & { name?: string; cause?: Coded };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `the controller at ${url} did not answer within ${formatDuration(timeoutMs)} (is it overloaded? --timeout waits longer)`;
  const code = e.code ?? e.errors?.find((x) => x.code)?.code ?? e.cause?.code ?? e.cause?.errors?.find((x) => x.code)?.code;
  const reach = `cannot reach the controller at ${url}`;
  const detail = e.cause?.message ?? e.message ?? String(err);
  if (code !== undefined && UNTRUSTED.has(code)) {
    const against = ca ? `the CA in ${ca.file} (from ${ca.source})` : "any CA of the system's store";
    return (
      `the certificate of the controller at ${url} is not trusted: it is not signed by ${against} (${code}). ` +
      `Give the CA certificate that signed it with --ca-file FILE (or ca_file in /etc/hostwarden/ctl.yaml, or HOSTWARDEN_CA_FILE)`
    );
  }
  switch (code) {
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the certificate of the controller at ${url} is not valid for ${hostOf(url)} (${detail}): use a --url with a name the certificate holds`;
    case 'CERT_HAS_EXPIRED':
      return `the certificate of the controller at ${url} has expired (renew it on the controller; is this machine's clock right?)`;
    case 'CERT_NOT_YET_VALID':
      return `the certificate of the controller at ${url} is not valid yet (is this machine's clock right?)`;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return `${reach}: no TLS there (${detail}); is the controller served over http rather than https?`;
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
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_VERSION':
      return `${reach}: the connection was closed before an answer (is ${url} the hostwarden controller, and http or https right?)`;
    default:
      return `${reach}: ${detail}`;
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
