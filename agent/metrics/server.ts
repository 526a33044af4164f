// The agent's Prometheus endpoint: GET (or HEAD) /metrics on metrics_listen, nothing else (404), with an
// optional bearer token (401 without the right one). What it serves was rendered from the latest tick
// (exposition.ts); a scrape reads no cgroup. Bounded: a few connections at a time, headers within a time and
// a size, an idle or stalled connection (a client that sends or reads nothing) closed after SOCKET_IDLE_MS;
// a response is a shared buffer written asynchronously, so a slow reader holds no more than its socket's
// buffer and never the tick.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Logger } from 'pino';
import { ConfigError } from '../../shared/errors.js';
import type { MetricsConfig } from './config.js';
import { CONTENT_TYPE, type TenantMetrics } from './exposition.js';

/** Connections served at once (Prometheus uses one per scrape target; a few for curl and a second server). */
export const MAX_CONNECTIONS = 16;
/** A connection with no byte in or out for this long is closed (a stalled reader or writer). */
export const SOCKET_IDLE_MS = 15_000;
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_HEADER_BYTES = 8_192;
/** The longest token accepted in the file (a token is a line of text; more is a mistake). */
const MAX_TOKEN_BYTES = 4_096;

const gzipAsync = promisify(gzip) as (b: Buffer) => Promise<Buffer>;

/** The token a scrape must present, read once at start (restart the agent after changing it). */
export function readMetricsToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('metrics_token_file', `cannot read ${file}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (!token) throw new ConfigError('metrics_token_file', `${file} is empty`);
  if (token.length > MAX_TOKEN_BYTES || /\s/.test(token)) throw new ConfigError('metrics_token_file', `${file} must hold one token (no spaces, at most ${MAX_TOKEN_BYTES} characters)`);
  return token;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class MetricsServer {
  private readonly server: Server;
  private readonly tokenDigest: Buffer | undefined;

  constructor(
    private readonly config: MetricsConfig,
    private readonly metrics: TenantMetrics,
    private readonly log: Logger,
    /** Tests shorten the idle limit. */
    opts: { idleMs?: number } = {},
  ) {
    this.tokenDigest = config.tokenFile !== undefined ? digest(readMetricsToken(config.tokenFile)) : undefined;
    const idleMs = opts.idleMs ?? SOCKET_IDLE_MS;
    // connectionsCheckingInterval: how often the header and request time limits are looked at (default 30 s).
    this.server = createServer(
      { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: Math.max(idleMs, REQUEST_TIMEOUT_MS), headersTimeout: Math.min(idleMs, HEADERS_TIMEOUT_MS), keepAliveTimeout: Math.min(idleMs, 5_000), connectionsCheckingInterval: 1_000 },
      (req, res) => this.handle(req, res),
    );
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.setTimeout(idleMs, (socket) => socket.destroy());
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Bind metrics_listen; an address that cannot be bound is a config error naming the key (exit 2). */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new ConfigError('metrics_listen', `cannot listen on ${this.config.host}:${this.config.port}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(this.config.port, this.config.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.server.on('error', (err) => this.log.error({ err: err.message }, 'metrics listener error'));
    const a = this.server.address() as AddressInfo;
    const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`;
    this.log.info({ url, token: this.tokenDigest !== undefined }, 'metrics listening');
    return url;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return plain(res, 404, 'not found: the only path is /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return plain(res, 405, 'method not allowed: GET or HEAD\n');
    }
    if (this.tokenDigest && !this.authorized(req.headers.authorization)) {
      res.setHeader('www-authenticate', 'Bearer realm="hostwarden-agent metrics"');
      return plain(res, 401, 'unauthorized: send Authorization: Bearer <the token in metrics_token_file>\n');
    }
    const wantsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const send = (body: Buffer, encoding?: string) => {
      res.statusCode = 200;
      res.setHeader('content-type', CONTENT_TYPE);
      res.setHeader('content-length', body.length);
      res.setHeader('vary', 'accept-encoding');
      if (encoding) res.setHeader('content-encoding', encoding);
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (!wantsGzip) return send(this.metrics.text());
    this.metrics.gzip(gzipAsync).then(
      (body) => {
        if (!res.destroyed) send(body, 'gzip');
      },
      (err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'metrics: gzip failed; sending plain text');
        if (!res.destroyed) send(this.metrics.text());
      },
    );
  }

  private authorized(header: string | undefined): boolean {
    const m = /^Bearer (\S{1,4096})$/i.exec(header ?? '');
    return m !== null && timingSafeEqual(digest(m[1]!), this.tokenDigest!);
  }

  /** Stop listening and drop open connections (the agent stopping). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
