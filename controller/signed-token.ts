// Signed tokens of the links sent to tenants (remediation/link.ts, ui/tenant-link.ts):
//
//   token = base64url(JSON payload) "." base64url(HMAC-SHA256(key, that base64url text))
//
// Tampering with any character breaks the MAC (compared in constant time). What the payload must hold, and when it
// expires, is the caller's: this module only signs and opens. Pure: the key is an argument.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Longest token accepted (a 64-character tenant name makes ~250). */
export const MAX_TOKEN_LENGTH = 512;

export type Opened = { ok: true; payload: unknown } | { ok: false; reason: 'malformed' | 'bad_signature'; message: string };

function mac(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(payload).digest();
}

export function signToken(key: Buffer, body: object): string {
  const payload = Buffer.from(JSON.stringify(body)).toString('base64url');
  return `${payload}.${mac(key, payload).toString('base64url')}`;
}

/** The payload of a token signed with `key`; `malformed` says what the link is not, in the tenant's words. */
export function openToken(key: Buffer, token: string, malformed: string): Opened {
  const bad = { ok: false as const, reason: 'malformed' as const, message: malformed };
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.') || token.length > MAX_TOKEN_LENGTH) return bad;
  const payload = token.slice(0, dot);
  // Compared as text, not as decoded bytes: the last base64url character of a MAC carries 2 bits the decoder
  // ignores, so 'A' and 'B' there decode to the same bytes; a changed character must never pass.
  const given = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(mac(key, payload).toString('base64url'));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad_signature', message: 'this link is not valid (it was changed, or cut short: copy the whole line from the email)' };
  }
  try {
    return { ok: true, payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) };
  } catch {
    return bad;
  }
}
