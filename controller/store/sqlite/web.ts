// The web tier's exact counts (migration 9): access-log minutes added in a report's ingest transaction (so a
// report repeated by (host, seq) adds nothing again), platforms' pushed API calls (once per push id), and the
// hosts' access-log reader counts. Totals over a range are sums of integers: exact.
import type Database from 'better-sqlite3';
import type { ApiUsagePush, ApiUsagePushAnswer, HostWebStats, WebUsage } from '../../../shared/wire/web.js';
import type { WebLogStats, WebMinute } from '../../../shared/wire/agent.js';
import { InvalidError } from '../errors.js';
import { webUsageOf, type WebMinuteRow } from '../web-rows.js';
import type { IngestResult } from '../store.js';
import { assertOpen, type StoreContext } from './context.js';

const MINUTE_MS = 60_000;
/** `source` of web_minutes rows. */
const FROM_LOGS = 0;
const PUSHED = 1;
/** host_id of pushed rows (no host). */
const NO_HOST = 0;

function statements(db: Database.Database) {
  return {
    add: db.prepare<[number, number, number, number, number, number, number, number]>(
      `INSERT INTO web_minutes (tenant_id, minute, host_id, source, requests, api_calls, bytes, errors_5xx) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, minute, host_id, source) DO UPDATE SET requests = requests + excluded.requests, api_calls = api_calls + excluded.api_calls,
         bytes = bytes + excluded.bytes, errors_5xx = errors_5xx + excluded.errors_5xx`,
    ),
    addStats: db.prepare<[number, number, number, number, number, number, number, number, number, number]>(
      `INSERT INTO web_log_stats (host_id, lines, unparsed, unattributed, rotations, truncations, lost_files, lost_bytes, backlog_bytes, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (host_id) DO UPDATE SET lines = lines + excluded.lines, unparsed = unparsed + excluded.unparsed, unattributed = unattributed + excluded.unattributed,
         rotations = rotations + excluded.rotations, truncations = truncations + excluded.truncations, lost_files = lost_files + excluded.lost_files,
         lost_bytes = lost_bytes + excluded.lost_bytes, backlog_bytes = CASE WHEN excluded.updated >= updated THEN excluded.backlog_bytes ELSE backlog_bytes END,
         updated = max(updated, excluded.updated)`,
    ),
    minutes: db.prepare<[number, number, number], WebMinuteRow>(
      `SELECT minute, sum(CASE WHEN source = 0 THEN requests ELSE 0 END) AS requests, sum(CASE WHEN source = 0 THEN api_calls ELSE 0 END) AS api_calls,
         sum(CASE WHEN source = 1 THEN api_calls ELSE 0 END) AS pushed_api_calls, sum(bytes) AS bytes, sum(errors_5xx) AS errors_5xx
       FROM web_minutes WHERE tenant_id = ? AND minute >= ? AND minute < ? GROUP BY minute ORDER BY minute`,
    ),
    stats: db.prepare<[number], Omit<HostWebStats, 'host'>>(
      'SELECT lines, unparsed, unattributed, rotations, truncations, lost_files, lost_bytes, backlog_bytes FROM web_log_stats WHERE host_id = ?',
    ),
    pushSeen: db.prepare<[string], { at: number }>('SELECT at FROM api_pushes WHERE id = ?'),
    pushAdd: db.prepare<[string, number, string]>('INSERT INTO api_pushes (id, at, by) VALUES (?, ?, ?)'),
  };
}

export class Web {
  private readonly sql: ReturnType<typeof statements>;
  private readonly pushTx: (push: ApiUsagePush, by: string, now: number) => ApiUsagePushAnswer;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
    this.pushTx = ctx.db.transaction((push: ApiUsagePush, by: string, now: number) => this.pushRows(push, by, now));
  }

  /**
   * Inside a report's ingest transaction: its minute rows for the tenants `ids` names (this host's tenants,
   * screened), and its reader counts. Rows for other tenants are left out. Returns what was added.
   */
  addReport(hostId: number, at: number, ids: ReadonlyMap<string, number>, web: readonly WebMinute[] | undefined, stats: WebLogStats | undefined): NonNullable<IngestResult['web']> {
    const added = { requests: 0, api_calls: 0, bytes: 0, errors_5xx: 0, unparsed: stats?.unparsed ?? 0, truncations: stats?.truncations ?? 0, lost_files: stats?.lost_files ?? 0 };
    for (const w of web ?? []) {
      const id = ids.get(w.tenant);
      const minute = Date.parse(w.minute);
      if (id === undefined || !Number.isFinite(minute)) continue;
      this.sql.add.run(id, Math.floor(minute / MINUTE_MS) * MINUTE_MS, hostId, FROM_LOGS, w.requests, w.api_calls, w.bytes, w.errors_5xx);
      added.requests += w.requests;
      added.api_calls += w.api_calls;
      added.bytes += w.bytes;
      added.errors_5xx += w.errors_5xx;
    }
    if (stats) {
      const s = stats;
      this.sql.addStats.run(hostId, s.lines, s.unparsed, s.unattributed, s.rotations, s.truncations, s.lost_files, s.lost_bytes, s.backlog_bytes, at);
    }
    return added;
  }

  push(push: ApiUsagePush, by: string): ApiUsagePushAnswer {
    assertOpen(this.ctx);
    return this.pushTx(push, by, this.ctx.now());
  }

  private pushRows(push: ApiUsagePush, by: string, now: number): ApiUsagePushAnswer {
    if (push.id !== undefined) {
      if (this.sql.pushSeen.get(push.id)) return { accepted: 0, duplicate: true };
      this.sql.pushAdd.run(push.id, now, by);
    }
    const { state } = this.ctx;
    push.counts.forEach((c, i) => {
      const t = state.tenants.get(c.tenant);
      if (!t) throw new InvalidError(`at /counts/${i}/tenant: tenant ${c.tenant} is not known`);
      const at = c.minute === undefined ? now : Date.parse(c.minute);
      if (!Number.isFinite(at)) throw new InvalidError(`at /counts/${i}/minute: not a valid time`);
      this.sql.add.run(t.id, Math.floor(at / MINUTE_MS) * MINUTE_MS, NO_HOST, PUSHED, 0, c.calls, 0, 0);
    });
    return { accepted: push.counts.length, duplicate: false };
  }

  usage(tenant: string, from: number, to: number): WebUsage | undefined {
    assertOpen(this.ctx);
    const t = this.ctx.state.tenants.get(tenant);
    if (!t) return undefined;
    const rows = this.sql.minutes.all(t.id, from, to);
    return webUsageOf(tenant, from, to, rows);
  }

  hostStats(host: string): HostWebStats | undefined {
    assertOpen(this.ctx);
    const h = this.ctx.state.hosts.get(host);
    if (!h) return undefined;
    const row = this.sql.stats.get(h.id);
    return { host, lines: 0, unparsed: 0, unattributed: 0, rotations: 0, truncations: 0, lost_files: 0, lost_bytes: 0, backlog_bytes: 0, ...row };
  }
}
