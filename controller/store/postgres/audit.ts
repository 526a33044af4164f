// The audit log of admin calls on PostgreSQL (Store.addAudit / listAudit), as the SQLite store keeps it
// (sqlite/audit.ts): one row per call, newest first.
import type { AuditEntry } from '../../../shared/wire/api.js';
import type { AuditFilter } from '../store.js';
import type { PgDatabase } from './db.js';
import { PgWhere } from './notices.js';

type AuditRow = { id: number; at: number; who: string; method: string; path: string; status: number; ip: string | null; detail: string | null };

export class PgAudit {
  constructor(private readonly db: PgDatabase) {}

  async add(e: Omit<AuditEntry, 'id'>): Promise<void> {
    await this.db.query('INSERT INTO audit (at, who, method, path, status, ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)', [Date.parse(e.at), e.who, e.method, e.path, e.status, e.ip, e.detail]);
  }

  async list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where = new PgWhere()
      .add((p) => `at >= ${p}`, filter.from)
      .add((p) => `at < ${p}`, filter.to)
      .add((p) => `who = ${p}`, filter.who);
    const rows = await this.db.query<AuditRow>(`SELECT * FROM audit ${where} ORDER BY at DESC, id DESC LIMIT $${where.params.length + 1}`, [...where.params, filter.limit ?? 100]);
    return rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() }));
  }
}
