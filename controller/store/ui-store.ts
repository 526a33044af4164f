// What the dashboard keeps in the store (controller/ui decides what it means): admins' sessions, the keys that
// sign tenants' links, and the links an admin made or revoked. In the store, not in memory, so several
// controllers sharing one store (the PostgreSQL store) accept each other's sessions and links, and a restart
// logs no one out. Times are ms since the epoch.

/** The role of an admin token: a viewer may read everything an admin may, and change nothing. */
export type AdminRole = 'admin' | 'viewer';

const ROLES: readonly AdminRole[] = ['admin', 'viewer'];

/** A stored role: one this version does not know reads as the least one (every backend reads it so). */
export function parseAdminRole(role: string): AdminRole {
  return (ROLES as readonly string[]).includes(role) ? (role as AdminRole) : 'viewer';
}

export interface AdminSession {
  /** SHA-256 (hex) of the cookie's value: the store never holds a usable session id. */
  idHash: string;
  admin: string;
  role: AdminRole;
  /** The CSRF token state changes made with the cookie must echo in X-CSRF-Token. */
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

/** A tenant link an admin made (notices' links are not recorded; any link may still be revoked by its id). */
export interface TenantLinkRecord {
  id: string;
  tenant: string;
  createdAt: number;
  expiresAt: number;
  createdBy: string;
}

export interface UiStore {
  createSession(session: AdminSession): Promise<void>;
  /** The session with that id hash, unless it has expired at `now` (an expired one is deleted). */
  getSession(idHash: string, now: number): Promise<AdminSession | undefined>;
  /** True when there was such a session. */
  deleteSession(idHash: string): Promise<boolean>;
  /**
   * The signing key named `name` (32 random bytes made on first use and kept in the store, so every
   * controller of a shared store signs alike and a restart keeps links valid).
   */
  signingKey(name: string): Promise<Buffer>;
  recordTenantLink(link: TenantLinkRecord): Promise<void>;
  /**
   * Revoke the link `id`; `expiresAt` bounds how long the revocation must be kept (after it, the link is
   * refused as expired anyway). False when it was revoked already.
   */
  revokeTenantLink(id: string, at: number, by: string, expiresAt: number): Promise<boolean>;
  isTenantLinkRevoked(id: string): Promise<boolean>;
  /** Drop expired sessions and revocations of links past their expiry; the numbers dropped. */
  purge(now: number): Promise<{ sessions: number; links: number }>;
}

/** A dashboard session's row (both stores' `ui_sessions`). */
export interface SessionRow {
  id_hash: string;
  admin: string;
  role: string;
  csrf: string;
  created_at: number;
  expires_at: number;
}

export function sessionOf(r: SessionRow): AdminSession {
  return { idHash: r.id_hash, admin: r.admin, role: parseAdminRole(r.role), csrf: r.csrf, createdAt: r.created_at, expiresAt: r.expires_at };
}
