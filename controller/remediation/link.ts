// The signed link a tenant acknowledges a remediation case with (until the dashboard's tenant pages exist):
//
//   <public_url>/remediation/<token>      token = base64url(payload) "." base64url(HMAC-SHA256(key, payload))
//   payload = JSON { v: 1, c: case id, t: tenant, e: expiry (seconds since the epoch) }
//
// The key is 32 random bytes kept in the store (so every controller of a shared store signs alike, and a
// restart keeps links valid); tampering with any byte of the payload breaks the MAC (compared in constant
// time); a link past its expiry, or naming another tenant than its case, is refused. Pure: the key and the clock
// are arguments.
import { openToken, signToken } from '../signed-token.js';

export const LINK_VERSION = 1;
/** The path prefix of the links (routes/remediation-link.ts serves it). */
export const LINK_PATH = '/remediation/';

export interface LinkClaims {
  caseId: number;
  tenant: string;
  /** ms since the epoch (kept to the second). */
  expiresAt: number;
}

export type LinkCheck = { ok: true; claims: LinkClaims } | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired'; message: string };

export function signLink(key: Buffer, claims: LinkClaims): string {
  return signToken(key, { v: LINK_VERSION, c: claims.caseId, t: claims.tenant, e: Math.floor(claims.expiresAt / 1000) });
}

/** The full URL of a token: `public_url` without its trailing slashes, then LINK_PATH. */
export function linkUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${LINK_PATH}${token}`;
}

export function verifyLink(key: Buffer, token: string, now: number): LinkCheck {
  const opened = openToken(key, token, 'this link is not a remediation link (it may have been cut short: copy the whole line from the email)');
  if (!opened.ok) return opened;
  const malformed = { ok: false as const, reason: 'malformed' as const, message: 'this link is not a remediation link (it may have been cut short: copy the whole line from the email)' };
  const parsed = opened.payload;
  const p = (parsed ?? {}) as { v?: unknown; c?: unknown; t?: unknown; e?: unknown };
  if (p.v !== LINK_VERSION || !Number.isSafeInteger(p.c) || (p.c as number) < 1 || typeof p.t !== 'string' || !Number.isSafeInteger(p.e)) return malformed;
  const expiresAt = (p.e as number) * 1000;
  if (now >= expiresAt) return { ok: false, reason: 'expired', message: `this link expired at ${new Date(expiresAt).toISOString()}: reply to the email or contact support` };
  return { ok: true, claims: { caseId: p.c as number, tenant: p.t, expiresAt } };
}
