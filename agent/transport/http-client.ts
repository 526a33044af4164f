// The agent's HTTP(S) connection to the controller: node:http / node:https with a keep-alive pool, so that
// an https:// controller.url is verified against controller.ca_file (Node's built-in fetch cannot take a CA
// of its own) or, without it, against the system's CA store and Node's bundled one.
//
// What an admin needs to see is said in words: a refused certificate names the URL and the reason ("signed by
// an unknown authority: set controller.ca_file"), logged as an error once until it changes or heals. Plain
// HTTP to an address that is not loopback is a warning at every start (controller.insecure: true silences it);
// it is never refused, so an agent that worked keeps working after an upgrade.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { getCACertificates } from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError, HostwardenError } from '../../shared/errors.js';

export interface ControllerEndpoint {
  /** http(s)://host:port of the controller, no trailing slash. */
  url: string;
  /** Whole request, answer included, ms. */
  timeoutMs: number;
  /** PEM file of the CA(s) that sign the controller's certificate (https only); absent: the system store. */
  caFile?: string | undefined;
  /** true: no warning about plain HTTP to an address that is not loopback. */
  insecure?: boolean | undefined;
}

/** The part of a fetch Response the reporter uses. */
export interface HttpResponse {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export interface RequestOptions {
  body?: string | Buffer | undefined;
  headers?: Record<string, string> | undefined;
  /**
   * Largest answer read, bytes (default 64 MiB): reading stops there and the connection is dropped. A longer
   * answer is an error of kind 'too_large', or with `truncate` the first `maxResponseBytes` bytes.
   */
  maxResponseBytes?: number | undefined;
  truncate?: boolean | undefined;
  /** Gives up (the agent stopping): the request is destroyed and rejects with kind 'cancelled'. */
  signal?: AbortSignal | undefined;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** A request that got no HTTP answer; the message says why, naming the URL. */
export class ControllerRequestError extends HostwardenError {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'certificate' | 'tls' | 'network' | 'too_large' | 'cancelled',
    options?: { cause?: unknown },
  ) {
    super('HW_CONTROLLER_REQUEST', message, options);
  }
}

/** localhost, 127.0.0.0/8, ::1 (as URL.hostname gives them). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

/** The start-up warning for a plain-HTTP controller.url across the network, or undefined when there is none. */
export function plainHttpWarning(endpoint: ControllerEndpoint): string | undefined {
  const u = new URL(endpoint.url);
  if (u.protocol !== 'http:' || endpoint.insecure || isLoopbackHost(u.hostname)) return undefined;
  return (
    `controller.url ${endpoint.url} is plain HTTP to ${u.hostname}, which is not loopback: this host's token and reports cross the network unencrypted. ` +
    'Give the controller tls (cert_file, key_file) and use an https:// controller.url with controller.ca_file; controller.insecure: true silences this warning'
  );
}

/** The certificates of controller.ca_file; a file that cannot be read or holds no certificate is a ConfigError. */
export function readCaFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('controller.ca_file', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError('controller.ca_file', `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  blocks.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new ConfigError('controller.ca_file', `certificate ${i + 1} in ${file} cannot be read: ${(err as Error).message}`, { cause: err });
    }
  });
  return blocks;
}

/** The system's CA store plus Node's bundled one (what the agent trusts without controller.ca_file). */
export function systemCas(): string[] {
  let system: string[] = [];
  try {
    system = getCACertificates('system');
  } catch {
    /* no system store readable: Node's bundled CAs remain */
  }
  return [...new Set([...getCACertificates('default'), ...system])];
}

const UNKNOWN_AUTHORITY = new Set([
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const CERT_VALIDITY = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_REJECTED', 'INVALID_PURPOSE', 'INVALID_CA']);
const RETRY_ON_REUSED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** A failed request in words, naming the URL and what to do. */
export function describeRequestError(err: unknown, endpoint: ControllerEndpoint): ControllerRequestError {
  if (err instanceof ControllerRequestError) return err;
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const url = endpoint.url;
  const code = e.code ?? '';
  if (UNKNOWN_AUTHORITY.has(code)) {
    const fix = endpoint.caFile
      ? `it is not signed by a CA in controller.ca_file (${endpoint.caFile})`
      : 'set controller.ca_file to the CA that signed it';
    return new ControllerRequestError(`certificate of the controller at ${url} refused: signed by an unknown authority (${code}): ${fix}`, 'certificate', { cause: err });
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new ControllerRequestError(`certificate of the controller at ${url} refused: it is not valid for ${new URL(url).hostname} (${e.reason ?? e.message}): use a name or address the certificate lists in controller.url`, 'certificate', { cause: err });
  }
  if (CERT_VALIDITY.has(code)) {
    return new ControllerRequestError(`certificate of the controller at ${url} refused: ${e.message} (${code})`, 'certificate', { cause: err });
  }
  if (/wrong version number|packet length too long|unknown protocol|http request/i.test(e.message ?? '') || code.startsWith('ERR_SSL_')) {
    // OpenSSL says "write EPROTO ...:SSL routines:<function>:wrong version number:<source file>:..."
    const reason = e.reason ?? /SSL routines:[^:]*:([^:]+):/.exec(e.message ?? '')?.[1] ?? (e.message ?? '').split('\n')[0];
    return new ControllerRequestError(`TLS handshake with the controller at ${url} failed (${reason}): does it serve https on that port? (plain HTTP wants an http:// controller.url)`, 'tls', { cause: err });
  }
  if (new URL(url).protocol === 'http:' && (code === 'ECONNRESET' || /socket hang up/.test(e.message ?? ''))) {
    return new ControllerRequestError(`cannot reach controller at ${url}: ${code || e.message} (if the controller serves TLS, use an https:// controller.url)`, 'network', { cause: err });
  }
  return new ControllerRequestError(`cannot reach controller at ${url}: ${code || e.message}`, 'network', { cause: err });
}

/** Requests to the controller over one keep-alive pool; see the header of this file. */
export class ControllerHttp {
  readonly endpoint: ControllerEndpoint;
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private lastCertError: string | undefined;

  /** Throws a ConfigError (exit 2) when controller.ca_file cannot be used. */
  constructor(
    endpoint: ControllerEndpoint,
    private readonly log: Logger,
  ) {
    this.endpoint = endpoint;
    this.base = new URL(endpoint.url);
    if (this.base.protocol === 'https:') {
      const ca = endpoint.caFile !== undefined ? readCaFile(endpoint.caFile) : systemCas();
      this.agent = new https.Agent({ keepAlive: true, maxSockets: 4, timeout: 30_000, ca });
      this.transport = https;
    } else {
      if (endpoint.caFile !== undefined) throw new ConfigError('controller.ca_file', `is only used with an https:// controller.url, and controller.url is ${endpoint.url}`);
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 4, timeout: 30_000 });
      this.transport = http;
    }
    const warning = plainHttpWarning(endpoint);
    if (warning) this.log.warn({ url: endpoint.url }, warning);
  }

  /** One request; an HTTP answer of any status resolves, no answer rejects with a ControllerRequestError. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    try {
      const res = await this.attempt(method, path, opts, true);
      this.lastCertError = undefined;
      return res;
    } catch (err) {
      const described = describeRequestError(err, this.endpoint);
      if (described.kind === 'certificate' || described.kind === 'tls') {
        if (described.message !== this.lastCertError) this.log.error({ url: this.endpoint.url, err: described.message }, described.message);
        this.lastCertError = described.message;
      }
      throw described;
    }
  }

  private attempt(method: string, path: string, opts: RequestOptions, mayRetry: boolean): Promise<HttpResponse> {
    const limit = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    return new Promise<HttpResponse>((resolve, reject) => {
      const headers: Record<string, string | number> = { ...opts.headers };
      if (opts.body !== undefined) headers['content-length'] = typeof opts.body === 'string' ? Buffer.byteLength(opts.body) : opts.body.length;
      const req = this.transport.request(new URL(`${this.endpoint.url}${path}`), { method, headers, agent: this.agent });
      const timer = setTimeout(() => req.destroy(new ControllerRequestError(`controller at ${this.endpoint.url} did not answer in time`, 'timeout')), this.endpoint.timeoutMs);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // A kept-alive connection the server closed meanwhile: the same request once more on a new one.
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (mayRetry && req.reusedSocket && (RETRY_ON_REUSED.has(code) || /socket hang up/.test(err.message))) {
          this.attempt(method, path, opts, false).then(resolve, reject);
          return;
        }
        reject(err);
      };
      req.on('error', fail);
      const onAbort = () => req.destroy(new ControllerRequestError(`request to ${this.endpoint.url} cancelled`, 'cancelled'));
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => opts.signal?.removeEventListener('abort', onAbort));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const finish = () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          // A cut inside a character decodes to U+FFFD, never to an exception.
          const text = Buffer.concat(chunks, size).toString('utf8');
          const status = res.statusCode ?? 0;
          resolve({
            status,
            ok: status >= 200 && status < 300,
            headers: {
              get: (name: string) => {
                const v = res.headers[name.toLowerCase()];
                return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
              },
            },
            text: async () => text,
          });
        };
        const declared = Number(res.headers['content-length'] ?? Number.NaN);
        if (!opts.truncate && Number.isFinite(declared) && declared > limit) {
          res.destroy();
          fail(new ControllerRequestError(`controller at ${this.endpoint.url} sent an answer larger than ${limit} bytes to ${method} ${path}`, 'too_large'));
          return;
        }
        res.on('data', (c: Buffer) => {
          if (settled) return;
          if (size + c.length > limit) {
            res.destroy();
            if (!opts.truncate) {
              fail(new ControllerRequestError(`controller at ${this.endpoint.url} sent an answer larger than ${limit} bytes to ${method} ${path}`, 'too_large'));
              return;
            }
            chunks.push(c.subarray(0, limit - size));
            size = limit;
            finish();
            return;
          }
          chunks.push(c);
          size += c.length;
        });
        res.on('error', fail);
        res.on('end', finish);
      });
      req.end(opts.body);
    });
  }

  /** Close the pool's idle connections. */
  close(): void {
    this.agent.destroy();
  }
}
