// Bearer tokens. The controller keeps only SHA-256 hashes of tokens, never the tokens: agent tokens come from
// token files or are given as hashes in the config (so the controller's host need not hold agents' secrets
// at all); the admin token is generated on first start when its file does not exist. A presented token is
// hashed, looked up by its hash, and confirmed with a timing-safe comparison.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../shared/errors.js';
import type { AdminRole } from './store/ui-store.js';

/** An admin's `role` absent: a full admin (viewer: GET only). `session`: the call came with the dashboard's cookie. */
export type Principal = { kind: 'admin'; name: string; role?: AdminRole; session?: boolean } | { kind: 'agent'; name: string; host: string } | { kind: 'usage'; name: string };

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: 'missing' | 'malformed' | 'unknown' };

/** Tokens shorter than this are refused when loaded: a guessable admin token is worse than none. */
export const MIN_TOKEN_LENGTH = 16;

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class TokenRegistry {
  private readonly byHash = new Map<string, { hash: Buffer; principal: Principal }>();

  /** Register a token by its SHA-256 (hex). A hash registered twice for different principals is an error. */
  addHash(hex: string, principal: Principal): void {
    const key = hex.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(key)) throw new Error('a token hash must be 64 hex digits (sha256)');
    const prior = this.byHash.get(key);
    if (prior && prior.principal.name !== principal.name) throw new Error(`the same token is configured for ${prior.principal.name} and ${principal.name}`);
    this.byHash.set(key, { hash: Buffer.from(key, 'hex'), principal });
  }

  addToken(token: string, principal: Principal): void {
    this.addHash(hashToken(token).toString('hex'), principal);
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The hosts whose agents have a token. */
  agentHosts(): Set<string> {
    const out = new Set<string>();
    for (const { principal } of this.byHash.values()) if (principal.kind === 'agent') out.add(principal.host);
    return out;
  }

  /** Check an Authorization header value. */
  authenticate(header: string | undefined): AuthResult {
    if (header === undefined || header === '') return { ok: false, reason: 'missing' };
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!m) return { ok: false, reason: 'malformed' };
    return this.check(m[1]!);
  }

  /** Check a token given as such (the dashboard's login form). */
  check(token: string): AuthResult {
    if (token === '') return { ok: false, reason: 'missing' };
    const presented = hashToken(token);
    const entry = this.byHash.get(presented.toString('hex'));
    if (!entry || !timingSafeEqual(entry.hash, presented)) return { ok: false, reason: 'unknown' };
    return { ok: true, principal: entry.principal };
  }
}

/** Read a token file (trimmed); `key` names the config key for the error. */
export function readTokenFile(file: string, key: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(key, `cannot read token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (text.length < MIN_TOKEN_LENGTH) throw new ConfigError(key, `token in ${file} is shorter than ${MIN_TOKEN_LENGTH} characters`);
  if (/\s/.test(text)) throw new ConfigError(key, `token in ${file} contains white space`);
  return text;
}

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The admin token from `file`; when the file does not exist, a new random token is written there (mode
 * 0600, directory created 0700). Returns whether it was generated, so the caller can log where it is.
 */
export function ensureAdminToken(file: string, key = 'admin_token_file'): { token: string; generated: boolean } {
  if (!existsSync(file)) {
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, `${generateToken()}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ConfigError(key, `cannot create admin token file ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    return { token: readTokenFile(file, key), generated: true };
  }
  return { token: readTokenFile(file, key), generated: false };
}
