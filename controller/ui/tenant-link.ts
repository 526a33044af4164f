// The tenant's usage page link, built as the remediation links are (controller/remediation/link.ts):
//
//   <public_url>/t/<token>      token = base64url(payload) "." base64url(HMAC-SHA256(key, payload))
//   payload = JSON { v: 1, k: "t", l: link id (16 hex), t: tenant, i: issued, e: expiry (seconds since the epoch) }
//
// The key (store.ui.signingKey(TENANT_LINK_KEY)) is not the remediation links' key and the payload carries its
// kind, so neither kind of link passes for the other. Tampering with any byte breaks the MAC (compared in
// constant time); a link past its expiry is refused; a revoked one is refused by the caller, which looks its
// id up in the store's revocation list. Pure: key and clock are arguments.
import { randomBytes } from 'node:crypto';
import { NAME_PATTERN } from '../../shared/names.js';
import { openToken, signToken } from '../signed-token.js';

export const TENANT_LINK_VERSION = 1;
/** The path prefix of tenant pages (routes/tenant-pages.ts serves it). */
export const TENANT_LINK_PATH = '/t/';
/** The store's name of the signing key. */
export const TENANT_LINK_KEY = 'tenant_link';
/** A link id: 16 hex digits. */
export const LINK_ID_PATTERN = '^[0-9a-f]{16}$';
const LINK_ID_RE = new RegExp(LINK_ID_PATTERN);
const TENANT_RE = new RegExp(NAME_PATTERN);

export interface TenantLinkClaims {
  id: string;
  tenant: string;
  /** ms since the epoch (kept to the second). */
  issuedAt: number;
  expiresAt: number;
}

export type TenantLinkCheck = { ok: true; claims: TenantLinkClaims } | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired'; message: string };

export function newLinkId(): string {
  return randomBytes(8).toString('hex');
}

export function signTenantLink(key: Buffer, claims: TenantLinkClaims): string {
  const body = { v: TENANT_LINK_VERSION, k: 't', l: claims.id, t: claims.tenant, i: Math.floor(claims.issuedAt / 1000), e: Math.floor(claims.expiresAt / 1000) };
  return signToken(key, body);
}

/** The full URL of a token: `public_url` without its trailing slashes, then TENANT_LINK_PATH. */
export function tenantLinkUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${TENANT_LINK_PATH}${token}`;
}

export function verifyTenantLink(key: Buffer, token: string, now: number): TenantLinkCheck {
  const words = 'this link is not a usage page link (it may have been cut short: copy the whole line from the email)';
  const opened = openToken(key, token, words);
  if (!opened.ok) return opened;
  const malformed = { ok: false as const, reason: 'malformed' as const, message: words };
  const parsed = opened.payload;
  const p = (parsed ?? {}) as { v?: unknown; k?: unknown; l?: unknown; t?: unknown; i?: unknown; e?: unknown };
  if (p.v !== TENANT_LINK_VERSION || p.k !== 't' || typeof p.l !== 'string' || !LINK_ID_RE.test(p.l) || typeof p.t !== 'string' || !TENANT_RE.test(p.t)) return malformed;
  if (!Number.isSafeInteger(p.i) || !Number.isSafeInteger(p.e)) return malformed;
  const expiresAt = (p.e as number) * 1000;
  if (now >= expiresAt) return { ok: false, reason: 'expired', message: `this link expired at ${new Date(expiresAt).toISOString()}: ask your provider for a new one` };
  return { ok: true, claims: { id: p.l, tenant: p.t, issuedAt: (p.i as number) * 1000, expiresAt } };
}

/**
 * Links for one signing key, TTL and public URL (what the notices and the admin route make). Synchronous once
 * made, so the notices' outbox can add a link inside the transaction that writes a notice.
 */
export class TenantLinks {
  constructor(
    private readonly key: Buffer,
    readonly publicUrl: string,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  make(tenant: string, ttlMs = this.ttlMs): { id: string; token: string; url: string; issuedAt: number; expiresAt: number } {
    const issuedAt = this.now();
    const expiresAt = issuedAt + ttlMs;
    const id = newLinkId();
    const token = signTenantLink(this.key, { id, tenant, issuedAt, expiresAt });
    return { id, token, url: tenantLinkUrl(this.publicUrl, token), issuedAt, expiresAt };
  }

  /** For the notices: the URL of a fresh link. */
  url(tenant: string): string {
    return this.make(tenant).url;
  }
}
