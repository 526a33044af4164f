// Admins' dashboard sessions. Logging in with an admin token makes a session: a random 32-byte id in the
// HttpOnly, SameSite=Strict cookie `hw_session` (Secure under TLS), its SHA-256 and a random CSRF token in the
// store with the expiry (ui.session_ttl). With the cookie, admin routes work as with that admin's bearer token;
// methods other than GET/HEAD also need the CSRF token in X-CSRF-Token (a cross-site form cannot send a
// header, and SameSite=Strict already keeps the cookie off cross-site requests: two locks). A viewer's
// session is a viewer everywhere.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminRole, AdminSession, UiStore } from '../store/ui-store.js';

export const SESSION_COOKIE = 'hw_session';
export const CSRF_HEADER = 'x-csrf-token';
/** A cookie value is 43 base64url characters (32 bytes); anything else is not ours. */
const COOKIE_RE = /^[A-Za-z0-9_-]{43}$/;

export function sessionHash(cookie: string): string {
  return createHash('sha256').update(cookie, 'utf8').digest('hex');
}

export function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export class UiSessions {
  constructor(
    private readonly store: UiStore,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session for `admin`; the cookie's value is returned once and never stored. */
  async create(admin: string, role: AdminRole): Promise<{ cookie: string; session: AdminSession }> {
    const cookie = randomBytes(32).toString('base64url');
    const at = this.now();
    const session: AdminSession = { idHash: sessionHash(cookie), admin, role, csrf: randomBytes(32).toString('base64url'), createdAt: at, expiresAt: at + this.ttlMs };
    await this.store.createSession(session);
    return { cookie, session };
  }

  /** The live session of a cookie value, or undefined (unknown, malformed, expired). */
  async get(cookie: string | undefined): Promise<AdminSession | undefined> {
    if (cookie === undefined || !COOKIE_RE.test(cookie)) return undefined;
    return this.store.getSession(sessionHash(cookie), this.now());
  }

  async end(cookie: string | undefined): Promise<boolean> {
    if (cookie === undefined || !COOKIE_RE.test(cookie)) return false;
    return this.store.deleteSession(sessionHash(cookie));
  }
}
