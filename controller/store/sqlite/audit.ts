// The audit log of admin calls (written by the HTTP layer after each one) and its listing.
import type Database from 'better-sqlite3';
import type { AuditEntry } from '../../../shared/wire/api.js';
import type { AuditFilter } from '../store.js';
import { iso, Where, type StoreContext } from './context.js';

type AuditRow = { id: number; at: number; who: string; method: string; path: string; status: number; ip: string | null; detail: string | null };

function statements(db: Database.Database) {
  return {
    insertAudit: db.prepare<[number, string, string, string, number, string | null, string | null]>(
      'INSERT INTO audit (at, who, method, path, status, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
  };
}

export class Audit {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  /** Record one call; a store closing meanwhile drops it (the call was answered, the log line was written). */
  add(e: Omit<AuditEntry, 'id'>): void {
    if (this.ctx.closed()) return;
    this.sql.insertAudit.run(Date.parse(e.at), e.who, e.method, e.path, e.status, e.ip, e.detail);
  }

  list(filter: AuditFilter): AuditEntry[] {
    const where = new Where().add('at >= ?', filter.from).add('at < ?', filter.to).add('who = ?', filter.who);
    return this.ctx.db
      .prepare<Array<string | number>, AuditRow>(`SELECT * FROM audit ${where} ORDER BY at DESC, id DESC LIMIT ?`)
      .all(...where.params, filter.limit ?? 100)
      .map((r) => ({ ...r, at: iso(r.at) }));
  }
}
