// Tenant links over the store: the signing key (made once, kept in the store), making links (recorded when an
// admin makes one), checking them (signature, expiry, then the revocation list) and revoking them.
import type { UiStore } from '../store/ui-store.js';
import { TENANT_LINK_KEY, TenantLinks, verifyTenantLink, type TenantLinkClaims } from './tenant-link.js';

export type LinkRefusal = { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' | 'revoked'; message: string };

export class TenantLinkService {
  private key: Buffer | undefined;

  constructor(
    private readonly store: UiStore,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async signingKey(): Promise<Buffer> {
    return (this.key ??= await this.store.signingKey(TENANT_LINK_KEY));
  }

  /** A link maker for `publicUrl` (synchronous: the notices' outbox uses it inside its transaction). */
  async links(publicUrl: string): Promise<TenantLinks> {
    return new TenantLinks(await this.signingKey(), publicUrl, this.ttlMs, this.now);
  }

  /** A new link of `tenant`, recorded as made by `by`. */
  async make(tenant: string, baseUrl: string, by: string): Promise<{ id: string; url: string; expiresAt: number }> {
    const l = (await this.links(baseUrl)).make(tenant);
    await this.store.recordTenantLink({ id: l.id, tenant, createdAt: l.issuedAt, expiresAt: l.expiresAt, createdBy: by });
    return { id: l.id, url: l.url, expiresAt: l.expiresAt };
  }

  async check(token: string): Promise<{ ok: true; claims: TenantLinkClaims } | LinkRefusal> {
    const v = verifyTenantLink(await this.signingKey(), token, this.now());
    if (!v.ok) return v;
    if (await this.store.isTenantLinkRevoked(v.claims.id)) return { ok: false, reason: 'revoked', message: 'this link was withdrawn by your provider: ask them for a new one' };
    return v;
  }

  /**
   * Revoke a link by its id (an admin's or a notice's: the id is in the token). The revocation is kept as long
   * as any link with that id can be valid: one made now expires after ttlMs.
   */
  async revoke(id: string, by: string): Promise<boolean> {
    const at = this.now();
    return this.store.revokeTenantLink(id, at, by, at + this.ttlMs);
  }
}
