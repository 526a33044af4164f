// Writing rollups: a host's closed minutes go to the `minute` table together every flush interval (one
// transaction per host: each tenant's rows land side by side in its (series, bucket) range, filling pages),
// merged into the `hour` rows at the same time, with the tenants' ledgers and the host's watermark. What to
// write is the history's (history/rollup-buffer.ts); this file only writes it.
import type Database from 'better-sqlite3';
import { accMerge, decodeAcc, encodeAcc, type Acc } from '../../history/codec.js';
import { floorTo, HOUR_MS } from '../../history/rollup.js';
import { toAcc, widthOf } from '../../history/series.js';
import type { FlushResult } from '../store.js';
import { assertOpen, sqliteCode, type StoreContext } from './context.js';
import type { HostState } from './writer-state.js';

function statements(db: Database.Database) {
  return {
    saveHost: db.prepare<[number | null, number | null, number]>('UPDATE hosts SET last_seen = ?, watermark = ? WHERE id = ?'),
    saveLedger: db.prepare<[number, number | null, number | null, number]>('UPDATE tenants SET debt = ?, debt_at = ?, last_seen = ? WHERE id = ?'),
    insertMinute: db.prepare<[number, number, Buffer]>('INSERT INTO minute (series, bucket, data) VALUES (?, ?, ?)'),
    getMinute: db.prepare<[number, number], { data: Buffer }>('SELECT data FROM minute WHERE series = ? AND bucket = ?'),
    putMinute: db.prepare<[number, number, Buffer]>('INSERT OR REPLACE INTO minute (series, bucket, data) VALUES (?, ?, ?)'),
    getHour: db.prepare<[number, number], { data: Buffer }>('SELECT data FROM hour WHERE series = ? AND bucket = ?'),
    putHour: db.prepare<[number, number, Buffer]>('INSERT OR REPLACE INTO hour (series, bucket, data) VALUES (?, ?, ?)'),
  };
}

export class Rollups {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  /** Note the host as due when its buffered minutes call for a write. */
  checkDue(host: HostState, now: number): void {
    if (host.rollups.isDue(now, host.lastSeen, this.ctx.flushIntervalMs)) this.ctx.state.due.add(host);
  }

  flushDue(): boolean {
    return this.ctx.state.due.size > 0;
  }

  flush(opts: { all?: boolean | undefined; maxHosts?: number | undefined }): FlushResult {
    const { ctx } = this;
    const { state } = ctx;
    assertOpen(ctx);
    const now = ctx.now();
    if (!opts.all) for (const h of state.hosts.values()) this.checkDue(h, now);
    const hosts = opts.all ? [...state.hosts.values()] : [...state.due];
    const limit = opts.maxHosts ?? Number.POSITIVE_INFINITY;
    const result: FlushResult = { hosts: 0, minuteRows: 0, hourRows: 0, remaining: 0 };
    for (const host of hosts) {
      const { rollups } = host;
      // Nothing to write: no minutes in memory, no ledger changes (a host only named by a managed tenant).
      if (opts.all && rollups.size === 0 && !host.dirty) continue;
      if (result.hosts >= limit) {
        result.remaining++;
        continue;
      }
      state.due.delete(host);
      const cut = opts.all ? rollups.cutAll() : rollups.cutFor(now, host.lastSeen);
      const r = this.flushHost(host, Math.max(cut, rollups.watermark ?? cut));
      result.hosts++;
      result.minuteRows += r.minuteRows;
      result.hourRows += r.hourRows;
    }
    return result;
  }

  /** Write a host's minutes before `cut`, merge them into the hour rows, save its ledger; one transaction. */
  private flushHost(host: HostState, cut: number): { minuteRows: number; hourRows: number } {
    const plan = host.rollups.take(cut);
    let hourRows = 0;
    this.ctx.db.transaction(() => {
      for (const { series, minute, row, blob } of plan.rows) {
        try {
          this.sql.insertMinute.run(series, minute, blob);
        } catch (err) {
          if (sqliteCode(err) !== 'SQLITE_CONSTRAINT_PRIMARYKEY') throw err;
          this.mergeRow('minute', series, minute, toAcc(row, widthOf(series)));
        }
      }
      for (const [hourStart, perSeries] of plan.hours) {
        for (const [series, acc] of perSeries) {
          this.mergeRow('hour', series, hourStart, acc);
          hourRows++;
        }
      }
      for (const t of host.dirtyTenants) this.sql.saveLedger.run(t.debt?.debt ?? 0, t.debt?.at ?? null, t.lastSeen, t.id);
      this.sql.saveHost.run(host.lastSeen, cut, host.id);
    })();
    host.rollups.written(plan);
    host.dirtyTenants.clear();
    host.dirty = false;
    return { minuteRows: plan.rows.length, hourRows };
  }

  /** Add `acc` into the stored row of a series and bucket (created when missing). */
  private mergeRow(table: 'minute' | 'hour', series: number, bucket: number, acc: Acc): void {
    const width = widthOf(series);
    const existing = (table === 'minute' ? this.sql.getMinute : this.sql.getHour).get(series, bucket);
    let merged = acc;
    // A stored row that does not decode (damage.ts) is noted and replaced by what is merged into it.
    const stored = existing ? this.ctx.damaged.decode(table, `${series}@${bucket}`, () => decodeAcc(existing.data, width)) : undefined;
    if (stored) {
      merged = stored;
      accMerge(merged, acc, width);
    }
    (table === 'minute' ? this.sql.putMinute : this.sql.putHour).run(series, bucket, encodeAcc(merged, width, this.ctx.state.smallWriter));
  }

  /** Merge a late report's accumulators (one per series) into its minute and hour rows (inside the report's transaction). */
  mergeIntoTables(minute: number, perSeries: Map<number, Acc>): void {
    const hourStart = floorTo(minute, HOUR_MS);
    for (const [series, acc] of perSeries) {
      this.mergeRow('minute', series, minute, acc);
      this.mergeRow('hour', series, hourStart, acc);
    }
  }
}

