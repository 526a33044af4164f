// The dashboard's rows on PostgreSQL (the UiStore of ../ui-store.ts), as the SQLite store keeps them
// (sqlite/ui.ts): sessions, signing keys (meta rows made once with ON CONFLICT DO NOTHING, so controllers
// sharing the database agree on them), tenant links and their revocations. Each method is one statement (one
// round trip) but getSession's delete of an expired session.
import { randomBytes } from 'node:crypto';
import { sessionOf, type AdminSession, type SessionRow, type TenantLinkRecord, type UiStore } from '../ui-store.js';
import type { PgDatabase } from './db.js';

export class PgUi implements UiStore {
  constructor(private readonly db: PgDatabase) {}

  async createSession(s: AdminSession): Promise<void> {
    await this.db.query('INSERT INTO ui_sessions (id_hash, admin, role, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      s.idHash,
      s.admin,
      s.role,
      s.csrf,
      s.createdAt,
      s.expiresAt,
    ]);
  }

  async getSession(idHash: string, now: number): Promise<AdminSession | undefined> {
    const [r] = await this.db.query<SessionRow>('SELECT * FROM ui_sessions WHERE id_hash = $1', [idHash]);
    if (!r) return undefined;
    if (r.expires_at <= now) {
      await this.db.query('DELETE FROM ui_sessions WHERE id_hash = $1', [idHash]);
      return undefined;
    }
    return sessionOf(r);
  }

  async deleteSession(idHash: string): Promise<boolean> {
    return (await this.db.pool.query('DELETE FROM ui_sessions WHERE id_hash = $1', [idHash])).rowCount! > 0;
  }

  async signingKey(name: string): Promise<Buffer> {
    const key = `ui_key:${name}`;
    // Insert or keep, and read, in one statement. DO UPDATE (to itself) rather than DO NOTHING: it returns the
    // row a concurrent controller committed first, which a separate SELECT of this statement's snapshot would miss.
    const [r] = await this.db.query<{ value: string }>(
      'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = meta.value RETURNING value',
      [key, randomBytes(32).toString('hex')],
    );
    return Buffer.from(r!.value, 'hex');
  }

  async recordTenantLink(l: TenantLinkRecord): Promise<void> {
    await this.db.query('INSERT INTO tenant_links (id, tenant, created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5)', [l.id, l.tenant, l.createdAt, l.expiresAt, l.createdBy]);
  }

  async revokeTenantLink(id: string, at: number, by: string, expiresAt: number): Promise<boolean> {
    const r = await this.db.pool.query(
      `INSERT INTO tenant_links (id, tenant, created_at, expires_at, created_by, revoked_at, revoked_by) VALUES ($1, '', $2, $3, '', $2, $4)
       ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by WHERE tenant_links.revoked_at IS NULL`,
      [id, at, expiresAt, by],
    );
    return r.rowCount! > 0;
  }

  async isTenantLinkRevoked(id: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM tenant_links WHERE id = $1 AND revoked_at IS NOT NULL', [id])).length > 0;
  }

  async purge(now: number): Promise<{ sessions: number; links: number }> {
    const sessions = (await this.db.pool.query('DELETE FROM ui_sessions WHERE expires_at <= $1', [now])).rowCount ?? 0;
    const links = (await this.db.pool.query('DELETE FROM tenant_links WHERE expires_at <= $1', [now])).rowCount ?? 0;
    return { sessions, links };
  }
}
