// The dashboard's rows on SQLite (the UiStore of ../ui-store.ts): sessions, signing keys (meta rows made once
// with INSERT OR IGNORE, so two controllers on one file agree on them), tenant links and their revocations.
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { sessionOf, type AdminSession, type SessionRow, type TenantLinkRecord, type UiStore } from '../ui-store.js';
import { assertOpen, type StoreContext } from './context.js';

function statements(db: Database.Database) {
  return {
    insertSession: db.prepare<[string, string, string, string, number, number]>(
      'INSERT INTO ui_sessions (id_hash, admin, role, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    getSession: db.prepare<[string], SessionRow>('SELECT * FROM ui_sessions WHERE id_hash = ?'),
    deleteSession: db.prepare<[string]>('DELETE FROM ui_sessions WHERE id_hash = ?'),
    purgeSessions: db.prepare<[number]>('DELETE FROM ui_sessions WHERE expires_at <= ?'),
    insertKey: db.prepare<[string, string]>('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
    getKey: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    insertLink: db.prepare<[string, string, number, number, string]>(
      'INSERT INTO tenant_links (id, tenant, created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?)',
    ),
    revoke: db.prepare<[string, number, number, string, number, string]>(
      `INSERT INTO tenant_links (id, tenant, created_at, expires_at, created_by, revoked_at, revoked_by) VALUES (?, '', ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by WHERE tenant_links.revoked_at IS NULL`,
    ),
    revoked: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM tenant_links WHERE id = ? AND revoked_at IS NOT NULL'),
    purgeLinks: db.prepare<[number]>('DELETE FROM tenant_links WHERE expires_at <= ?'),
  };
}

export class SqliteUi implements UiStore {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  async createSession(s: AdminSession): Promise<void> {
    assertOpen(this.ctx);
    this.sql.insertSession.run(s.idHash, s.admin, s.role, s.csrf, s.createdAt, s.expiresAt);
  }

  async getSession(idHash: string, now: number): Promise<AdminSession | undefined> {
    assertOpen(this.ctx);
    const r = this.sql.getSession.get(idHash);
    if (!r) return undefined;
    if (r.expires_at <= now) {
      this.sql.deleteSession.run(idHash);
      return undefined;
    }
    return sessionOf(r);
  }

  async deleteSession(idHash: string): Promise<boolean> {
    assertOpen(this.ctx);
    return this.sql.deleteSession.run(idHash).changes > 0;
  }

  async signingKey(name: string): Promise<Buffer> {
    assertOpen(this.ctx);
    const key = `ui_key:${name}`;
    this.sql.insertKey.run(key, randomBytes(32).toString('hex'));
    return Buffer.from(this.sql.getKey.get(key)!.value, 'hex');
  }

  async recordTenantLink(l: TenantLinkRecord): Promise<void> {
    assertOpen(this.ctx);
    this.sql.insertLink.run(l.id, l.tenant, l.createdAt, l.expiresAt, l.createdBy);
  }

  async revokeTenantLink(id: string, at: number, by: string, expiresAt: number): Promise<boolean> {
    assertOpen(this.ctx);
    return this.sql.revoke.run(id, at, expiresAt, '', at, by).changes > 0;
  }

  async isTenantLinkRevoked(id: string): Promise<boolean> {
    assertOpen(this.ctx);
    return this.sql.revoked.get(id) !== undefined;
  }

  async purge(now: number): Promise<{ sessions: number; links: number }> {
    assertOpen(this.ctx);
    return { sessions: this.sql.purgeSessions.run(now).changes, links: this.sql.purgeLinks.run(now).changes };
  }
}
