// The signed acknowledgement link: valid until its expiry, and refused when any byte of it is changed, when it
// is cut short, signed with another key, or past its time.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { linkUrl, signLink, verifyLink } from '../../../../controller/remediation/link.js';

const key = randomBytes(32);
const T0 = Date.parse('2026-12-01T00:00:00Z');
const claims = { caseId: 12, tenant: 'alice', expiresAt: T0 + 86_400_000 };

describe('remediation links', () => {
  it('a link verifies with its key before its expiry and names its case and tenant', () => {
    const token = signLink(key, claims);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(verifyLink(key, token, T0)).toEqual({ ok: true, claims });
    expect(linkUrl('https://ctl.example.com:8640/', token)).toBe(`https://ctl.example.com:8640/remediation/${token}`);
  });

  it('expired at its expiry', () => {
    const token = signLink(key, claims);
    expect(verifyLink(key, token, claims.expiresAt - 1).ok).toBe(true);
    expect(verifyLink(key, token, claims.expiresAt)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('every changed character of the token is refused', () => {
    const token = signLink(key, claims);
    for (let i = 0; i < token.length; i++) {
      if (token[i] === '.') continue;
      const swapped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      const r = verifyLink(key, swapped, T0);
      // Also the last character, where 'A' and 'B' may differ only in padding bits the decoder drops.
      expect(r.ok, `character ${i}`).toBe(false);
      if (!r.ok) expect(['bad_signature', 'malformed']).toContain(r.reason);
    }
  });

  it('a payload re-signed for another case, tenant or expiry without the key is refused', () => {
    const token = signLink(key, claims);
    const [, sig] = token.split('.');
    for (const payload of [
      { v: 1, c: 13, t: 'alice', e: claims.expiresAt / 1000 },
      { v: 1, c: 12, t: 'bob', e: claims.expiresAt / 1000 },
      { v: 1, c: 12, t: 'alice', e: claims.expiresAt / 1000 + 86_400 * 365 },
    ]) {
      const forged = `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`;
      expect(verifyLink(key, forged, T0)).toMatchObject({ ok: false, reason: 'bad_signature' });
    }
    expect(verifyLink(randomBytes(32), token, T0)).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('cut short, empty or not a token: refused with a message', () => {
    const token = signLink(key, claims);
    for (const bad of ['', '.', token.slice(0, 20), token.slice(0, -5), `${token}.x`, 'abc', `${token.split('.')[0]}.`]) {
      const r = verifyLink(key, bad, T0);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message.length).toBeGreaterThan(10);
    }
  });
});
