// The tenant link's token, pure: what it carries, and every way a changed, foreign, cut or old token is refused.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signLink } from '../../../../controller/remediation/link.js';
import { scrubNames } from '../../../../controller/http/routes/tenant-pages.js';
import { signTenantLink, TenantLinks, tenantLinkUrl, verifyTenantLink } from '../../../../controller/ui/tenant-link.js';

const KEY = randomBytes(32);
const T0 = Date.parse('2026-12-01T00:00:00Z');
const claims = { id: '0123456789abcdef', tenant: 'alice', issuedAt: T0, expiresAt: T0 + 86_400_000 };

describe('tenant link tokens', () => {
  it('carry the id, tenant, issue and expiry, to the second, until they expire', () => {
    const token = signTenantLink(KEY, claims);
    expect(verifyTenantLink(KEY, token, T0 + 1000)).toEqual({ ok: true, claims });
    expect(verifyTenantLink(KEY, token, T0 + 86_400_000)).toMatchObject({ ok: false, reason: 'expired' });
    expect(tenantLinkUrl('https://x.example/', token)).toBe(`https://x.example/t/${token}`);
  });

  it('refuse another key, a changed payload or MAC, a cut token, a remediation link, nonsense', () => {
    const token = signTenantLink(KEY, claims);
    const [payload, mac] = token.split('.') as [string, string];
    const bob = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('"alice"', '"bob"')).toString('base64url');
    const cases: Array<[string, string]> = [
      [signTenantLink(randomBytes(32), claims), 'bad_signature'],
      [`${bob}.${mac}`, 'bad_signature'],
      [`${payload}.${mac.slice(0, -1)}`, 'bad_signature'],
      [payload, 'malformed'],
      [`${token}.x`, 'malformed'],
      [signLink(KEY, { caseId: 1, tenant: 'alice', expiresAt: T0 + 1000 }), 'malformed'],
      ['x'.repeat(600), 'malformed'],
      ['', 'malformed'],
    ];
    for (const [t, reason] of cases) expect([t.slice(0, 40), verifyTenantLink(KEY, t, T0).ok ? 'ok' : (verifyTenantLink(KEY, t, T0) as { reason: string }).reason]).toEqual([t.slice(0, 40), reason]);
  });

  it('a link maker makes a new id each time, expiring after its TTL', () => {
    const links = new TenantLinks(KEY, 'https://x.example', 3_600_000, () => T0);
    const a = links.make('alice');
    const b = links.make('alice');
    expect(a.id).not.toBe(b.id);
    expect(a.expiresAt).toBe(T0 + 3_600_000);
    expect(verifyTenantLink(KEY, a.token, T0)).toMatchObject({ ok: true, claims: { tenant: 'alice', id: a.id } });
  });
});

describe('scrubNames', () => {
  it('replaces whole names only, longest first as given', () => {
    expect(scrubNames('bob and bobby saw bob.example.com, not bob2; (bob)', ['bobby', 'bob'])).toBe('another customer and another customer saw bob.example.com, not bob2; (another customer)');
    expect(scrubNames('a.b used it', ['a.b'])).toBe('another customer used it');
    expect(scrubNames('nothing here', [])).toBe('nothing here');
  });
});
