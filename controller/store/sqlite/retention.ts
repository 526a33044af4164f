// Retention: each tier of history dropped past its span (raw rows only once they are rolled up: until then
// they are the only copy), expired actions brought up to date, and old records (released incidents with
// their events, finished actions, the audit log, quarantined files restored or deleted and answered file and
// scan requests) dropped with the hour rollups. Work is done in chunks with
// the event loop let through between them, so a long run never holds up reports.
import type Database from 'better-sqlite3';
import { hostSeries } from '../../history/series.js';
import type { RetentionResult } from '../store.js';
import { assertOpen, type StoreContext } from './context.js';

const RETENTION_CHUNK = 500;

function statements(db: Database.Database) {
  return {
    newestBefore: db.prepare<[number, number], { seq: number | null; at: number | null }>('SELECT max(seq) AS seq, max(at) AS at FROM reports WHERE host_id = ? AND at < ?'),
    setRetired: db.prepare<[number, number, number]>('UPDATE hosts SET retired_seq = ?, retired_at = ? WHERE id = ?'),
    deleteRaw: db.prepare<[number, number]>('DELETE FROM reports WHERE host_id = ? AND at < ?'),
    deleteMinute: db.prepare<[number, number]>('DELETE FROM minute WHERE series = ? AND bucket < ?'),
    deleteHour: db.prepare<[number, number]>('DELETE FROM hour WHERE series = ? AND bucket < ?'),
    // The web tier's exact minutes (migration 9) live as long as the minute rollups; so do push ids.
    deleteWebMinutes: db.prepare<[number, number]>('DELETE FROM web_minutes WHERE tenant_id = ? AND minute < ?'),
    deleteOldPushes: db.prepare<[number]>('DELETE FROM api_pushes WHERE at < ?'),
    expireActions: db.prepare<[number]>(
      "UPDATE actions SET state = 'expired', state_at = expires_at WHERE state IN ('pending', 'applied') AND expires_at IS NOT NULL AND expires_at <= ?",
    ),
    deleteOldEvents: db.prepare<[number]>("DELETE FROM incident_events WHERE incident_id IN (SELECT id FROM incidents WHERE state = 'released' AND released_at < ?)"),
    deleteOldIncidents: db.prepare<[number]>("DELETE FROM incidents WHERE state = 'released' AND released_at < ?"),
    deleteOldActions: db.prepare<[number]>("DELETE FROM actions WHERE state NOT IN ('pending', 'applied') AND state_at < ?"),
    deleteOldAudit: db.prepare<[number]>('DELETE FROM audit WHERE at < ?'),
    // Infected data (migration 7): entries of files restored or deleted (their state last reported before the
    // cut), then answered requests, except those of a file still held (its latest request is shown with it).
    deleteOldFiles: db.prepare<[number]>("DELETE FROM quarantined_files WHERE state IN ('restored', 'deleted') AND reported_at < ?"),
    deleteOldFileRequests: db.prepare<[number]>(
      `DELETE FROM file_requests WHERE state <> 'pending' AND state_at < ?
         AND (file_id IS NULL OR NOT EXISTS (SELECT 1 FROM quarantined_files q WHERE q.id = file_requests.file_id AND q.state = 'quarantined'))`,
    ),
    retiredTenants: db.prepare<[], { id: number }>('SELECT id FROM retired_tenants'),
    forgetRetired: db.prepare<[number]>('DELETE FROM retired_tenants WHERE retired_at < ?'),
  };
}

export class Retention {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  async apply(now: number): Promise<RetentionResult> {
    const { ctx } = this;
    const { state, retention } = ctx;
    assertOpen(ctx);
    const result: RetentionResult = { raw: 0, minute: 0, hour: 0, expiredActions: 0, records: 0 };
    const rawCut = now - retention.rawMs;
    for (const host of [...state.hosts.values()]) {
      // Raw rows not yet rolled up stay, whatever their age: they are the only copy.
      const cut = Math.min(rawCut, host.rollups.watermark ?? Number.NEGATIVE_INFINITY);
      if (cut === Number.NEGATIVE_INFINITY) continue;
      ctx.db.transaction(() => {
        const newest = this.sql.newestBefore.get(host.id, cut);
        if (newest?.seq == null || newest.at == null) return;
        // Idempotency by (host, seq) outlives the rows: remember the newest seq and time dropped.
        const seq = Math.max(host.retiredSeq ?? 0, newest.seq);
        const at = Math.max(host.retiredAt ?? Number.NEGATIVE_INFINITY, newest.at);
        this.sql.setRetired.run(seq, at, host.id);
        result.raw += this.sql.deleteRaw.run(host.id, cut).changes;
        host.retiredSeq = seq;
        host.retiredAt = at;
      })();
      await yieldToLoop();
      if (ctx.closed()) return result; // stopped meanwhile: the next run picks up the rest
    }
    // Expired tenants (trust.ts) too: their history goes with the spans like anyone's.
    const retired = this.sql.retiredTenants.all().map((r) => r.id);
    const series = [...[...state.tenants.values()].map((t) => t.id), ...retired, ...[...state.hosts.values()].map((h) => hostSeries(h.id))];
    for (let i = 0; i < series.length; i += RETENTION_CHUNK) {
      const chunk = series.slice(i, i + RETENTION_CHUNK);
      ctx.db.transaction(() => {
        for (const sid of chunk) {
          result.minute += this.sql.deleteMinute.run(sid, now - retention.minuteMs).changes;
          if (sid >= 0) result.minute += this.sql.deleteWebMinutes.run(sid, now - retention.minuteMs).changes;
          result.hour += this.sql.deleteHour.run(sid, now - retention.hourMs).changes;
        }
      })();
      await yieldToLoop();
      if (ctx.closed()) return result;
    }
    result.expiredActions = this.sql.expireActions.run(now).changes;
    if (result.expiredActions) state.policyChanged();
    const recordsCut = now - retention.hourMs;
    ctx.db.transaction(() => {
      result.records += this.sql.deleteOldEvents.run(recordsCut).changes;
      result.records += this.sql.deleteOldIncidents.run(recordsCut).changes;
      result.records += this.sql.deleteOldActions.run(recordsCut).changes;
      result.records += this.sql.deleteOldAudit.run(recordsCut).changes;
      result.records += this.sql.deleteOldFiles.run(recordsCut).changes;
      result.records += this.sql.deleteOldFileRequests.run(recordsCut).changes;
      result.records += this.sql.deleteOldPushes.run(now - retention.minuteMs).changes;
      // An expired tenant's id is free again once every span is past its retirement: no history left.
      this.sql.forgetRetired.run(now - Math.max(retention.rawMs, retention.minuteMs, retention.hourMs));
    })();
    return result;
  }
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
