// Native TLS of the controller's listener (`tls: { cert_file, key_file }` in controller.yaml; absent = plain
// HTTP). The pair is read and checked at start: an unreadable file, a file without a PEM certificate or key,
// or a key that does not belong to the certificate is a ConfigError naming the key (exit 2).
//
// Rotation without a restart: the pair is read again on SIGHUP and when a file in the directories holding
// the two files changes (fs.watch on the directories, not the files, so that a rename over the file, a
// certbot `live/` symlink or a Kubernetes `..data` swap is seen too). A new pair that reads and checks
// goes to `server.setSecureContext()`: connections made from then on see it; connections already open keep
// theirs. A bad new pair is logged and the old one kept: the listener never stops serving because of a
// half-written or mismatched file.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { Section } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import type { Registry } from './metrics.js';

export interface TlsConfig {
  certFile: string;
  keyFile: string;
}

/** The reference lines of the section (CONTROLLER_CONFIG_REFERENCE). */
export const TLS_CONFIG_REFERENCE = `# tls:                                       # absent: plain HTTP (keep listen on loopback, or put a TLS proxy in front)
#   cert_file: /etc/hostwarden/tls/cert.pem  # PEM certificate, the chain after it; re-read on SIGHUP and when it changes
#   key_file: /etc/hostwarden/tls/key.pem    # its PEM private key (unencrypted), readable by the controller's user
`;

/** `tls:` of controller.yaml; both keys are required when the section is given. */
export function parseTlsConfig(s: Section): TlsConfig {
  const certFile = s.string('cert_file');
  const keyFile = s.string('key_file');
  s.done();
  if (!certFile) s.fail('cert_file', 'required when tls is given (a PEM certificate, e.g. /etc/hostwarden/tls/cert.pem)');
  if (!keyFile) s.fail('key_file', 'required when tls is given (the PEM private key of tls.cert_file)');
  return { certFile, keyFile };
}

/** A certificate and its key, read and checked. */
export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint of the leaf certificate, AA:BB:... as openssl prints it. */
  fingerprint256: string;
  subject: string;
  subjectAltName: string | undefined;
  /** Expiry of the leaf certificate, ms since the epoch. */
  notAfter: number;
}

function readFile(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(key, `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Read the pair and check that it is one: every failure is a ConfigError naming tls.cert_file or tls.key_file. */
export function readTlsPair(cfg: TlsConfig): TlsPair {
  const cert = readFile(cfg.certFile, 'tls.cert_file');
  const key = readFile(cfg.keyFile, 'tls.key_file');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError('tls.cert_file', `${cfg.certFile} holds no PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new ConfigError('tls.key_file', `${cfg.keyFile} holds no usable private key (PEM, not encrypted with a passphrase): ${(err as Error).message}`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new ConfigError('tls.key_file', `the key in ${cfg.keyFile} does not belong to the certificate in tls.cert_file (${cfg.certFile})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError('tls.cert_file', `${cfg.certFile} with ${cfg.keyFile} cannot be used for TLS: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key, fingerprint256: x509.fingerprint256, subject: x509.subject.replace(/\n/g, ', '), subjectAltName: x509.subjectAltName, notAfter: Date.parse(x509.validTo) };
}

/** What is logged of a pair. */
export function describePair(p: TlsPair): Record<string, unknown> {
  return { subject: p.subject, names: p.subjectAltName ?? null, fingerprint_sha256: p.fingerprint256, not_after: new Date(p.notAfter).toISOString() };
}

/** The part of a TLS server the reloader uses (node:https Server). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface TlsReloaderOptions {
  log: Logger;
  now?: () => number;
  /** Quiet time after the last change in the watched directories before the files are read (ms). */
  settleMs?: number;
}

export type ReloadResult = { ok: true; changed: boolean } | { ok: false; error: string };

/** Keeps the listener's certificate in step with the files; see the header of this file. */
export class TlsReloader {
  private pair: TlsPair;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly settleMs: number;
  readonly reloads = { ok: 0, failed: 0 };
  private readonly reloadListeners: Array<(result: 'ok' | 'failed') => void> = [];

  constructor(
    private readonly server: SecureContextTarget,
    private readonly cfg: TlsConfig,
    initial: TlsPair,
    opts: TlsReloaderOptions,
  ) {
    this.pair = initial;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.settleMs = opts.settleMs ?? 500;
    this.warnExpiry();
  }

  get current(): TlsPair {
    return this.pair;
  }

  /** Read the files again; a good new pair is served to new connections, a bad one is logged and not used. */
  reload(reason: string): ReloadResult {
    let next: TlsPair;
    try {
      next = readTlsPair(this.cfg);
    } catch (err) {
      const error = (err as Error).message;
      this.counted('failed');
      // The same bad state seen again through another file event is not worth a second error line.
      if (error !== this.lastError || reason === 'SIGHUP') {
        this.log.error({ reason, error, serving: describePair(this.pair) }, 'TLS certificate not reloaded: kept the one in use');
      }
      this.lastError = error;
      return { ok: false, error };
    }
    this.lastError = undefined;
    if (next.cert.equals(this.pair.cert) && next.key.equals(this.pair.key)) {
      this.log.debug({ reason }, 'TLS certificate files unchanged');
      return { ok: true, changed: false };
    }
    try {
      this.server.setSecureContext({ cert: next.cert, key: next.key });
    } catch (err) {
      const error = `the server refused the new certificate: ${(err as Error).message}`;
      this.counted('failed');
      this.log.error({ reason, error, serving: describePair(this.pair) }, 'TLS certificate not reloaded: kept the one in use');
      return { ok: false, error };
    }
    const previous = this.pair.fingerprint256;
    this.pair = next;
    this.counted('ok');
    this.log.info({ reason, ...describePair(next), previous_fingerprint_sha256: previous }, 'TLS certificate reloaded: new connections use it');
    this.warnExpiry();
    return { ok: true, changed: true };
  }

  /** Watch the directories of both files; a change is read after `settleMs` of quiet. */
  watch(): void {
    const dirs = new Set([dirname(resolve(this.cfg.certFile)), dirname(resolve(this.cfg.keyFile))]);
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        w.on('error', (err) => this.log.warn({ dir, err: err.message }, 'cannot watch the TLS certificate directory any more; reload with SIGHUP'));
        this.watchers.push(w);
      } catch (err) {
        this.log.warn({ dir, err: (err as Error).message }, 'cannot watch the TLS certificate directory; reload with SIGHUP');
      }
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload('file change'), this.settleMs);
    this.timer.unref();
  }

  private warnExpiry(): void {
    const left = this.pair.notAfter - this.now();
    if (left <= 0) this.log.error(describePair(this.pair), 'the TLS certificate has expired: agents refuse it; replace tls.cert_file and tls.key_file');
    else if (left < 14 * 86_400_000) this.log.warn({ ...describePair(this.pair), days_left: Math.floor(left / 86_400_000) }, 'the TLS certificate expires soon');
  }

  /** Called after each reload with its result (the metrics count them). */
  onReload(fn: (result: 'ok' | 'failed') => void): void {
    this.reloadListeners.push(fn);
  }

  private counted(result: 'ok' | 'failed'): void {
    this.reloads[result]++;
    for (const fn of this.reloadListeners) fn(result);
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers.splice(0)) w.close();
  }
}

/** A gauge of the certificate in use (read at scrape time) and a counter of reloads by result. */
export function registerTlsMetrics(registry: Registry, reloader: TlsReloader): void {
  const expiry = registry.gauge('hostwarden_tls_certificate_expiry_timestamp_seconds', 'expiry (notAfter) of the TLS certificate the controller serves, seconds since the epoch');
  const reloads = registry.counter('hostwarden_tls_reloads_total', 'TLS certificate reloads (SIGHUP or a file change) by result: ok (a new certificate in use) or failed (the old one kept)', ['result']);
  for (const result of ['ok', 'failed'] as const) reloads.inc({ result }, reloader.reloads[result]);
  reloader.onReload((result) => reloads.inc({ result }));
  registry.onCollect(() => {
    expiry.set(Math.floor(reloader.current.notAfter / 1000));
  });
}
