// The web tier's exact counts on PostgreSQL (sqlite/web.ts says what they mean): access-log minutes added in
// the report's ingest transaction (a report stored once adds them once), pushed API calls once per push id
// (INSERT ... ON CONFLICT DO NOTHING: two controllers given one push add it once), the hosts' reader counts.
import type pg from 'pg';
import type { WebLogStats, WebMinute } from '../../../shared/wire/agent.js';
import type { ApiUsagePush, ApiUsagePushAnswer, HostWebStats, WebUsage } from '../../../shared/wire/web.js';
import { InvalidError } from '../errors.js';
import type { IngestResult } from '../store.js';
import { webUsageOf, type WebMinuteRow } from '../web-rows.js';
import type { PgDatabase } from './db.js';

const MINUTE_MS = 60_000;
const FROM_LOGS = 0;
const PUSHED = 1;
const NO_HOST = 0;

const ADD = `INSERT INTO web_minutes (tenant_id, minute, host_id, source, requests, api_calls, bytes, errors_5xx)
  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
  ON CONFLICT (tenant_id, minute, host_id, source) DO UPDATE SET requests = web_minutes.requests + excluded.requests,
    api_calls = web_minutes.api_calls + excluded.api_calls, bytes = web_minutes.bytes + excluded.bytes, errors_5xx = web_minutes.errors_5xx + excluded.errors_5xx`;

type Row = [tenant: number, minute: number, host: number, source: number, requests: number, api: number, bytes: number, errors: number];

async function addRows(c: pg.PoolClient, rows: Row[]): Promise<void> {
  if (!rows.length) return;
  // One row per key per statement (ON CONFLICT DO UPDATE cannot touch a row twice): merged here first.
  const merged = new Map<string, Row>();
  for (const r of rows) {
    const k = `${r[0]}:${r[1]}:${r[2]}:${r[3]}`;
    const m = merged.get(k);
    if (m) for (let i = 4; i < 8; i++) m[i] = (m[i] as number) + (r[i] as number);
    else merged.set(k, [...r] as Row);
  }
  const cols = [...merged.values()];
  await c.query(ADD, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => cols.map((r) => r[i])));
}

export class PgWeb {
  constructor(
    private readonly db: PgDatabase,
    private readonly now: () => number,
  ) {}

  /** Inside a report's transaction: its minutes of the tenants `ids` names (this host's, screened), its reader counts. */
  async addReport(c: pg.PoolClient, hostId: number, at: number, ids: ReadonlyMap<string, number>, web: readonly WebMinute[] | undefined, stats: WebLogStats | undefined): Promise<NonNullable<IngestResult['web']>> {
    const added = { requests: 0, api_calls: 0, bytes: 0, errors_5xx: 0, unparsed: stats?.unparsed ?? 0, truncations: stats?.truncations ?? 0, lost_files: stats?.lost_files ?? 0 };
    const rows: Row[] = [];
    for (const w of web ?? []) {
      const id = ids.get(w.tenant);
      const minute = Date.parse(w.minute);
      if (id === undefined || !Number.isFinite(minute)) continue;
      rows.push([id, Math.floor(minute / MINUTE_MS) * MINUTE_MS, hostId, FROM_LOGS, w.requests, w.api_calls, w.bytes, w.errors_5xx]);
      added.requests += w.requests;
      added.api_calls += w.api_calls;
      added.bytes += w.bytes;
      added.errors_5xx += w.errors_5xx;
    }
    await addRows(c, rows);
    if (stats) {
      const s = stats;
      await c.query(
        `INSERT INTO web_log_stats (host_id, lines, unparsed, unattributed, rotations, truncations, lost_files, lost_bytes, backlog_bytes, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (host_id) DO UPDATE SET lines = web_log_stats.lines + excluded.lines, unparsed = web_log_stats.unparsed + excluded.unparsed,
           unattributed = web_log_stats.unattributed + excluded.unattributed, rotations = web_log_stats.rotations + excluded.rotations,
           truncations = web_log_stats.truncations + excluded.truncations, lost_files = web_log_stats.lost_files + excluded.lost_files,
           lost_bytes = web_log_stats.lost_bytes + excluded.lost_bytes,
           backlog_bytes = CASE WHEN excluded.updated >= web_log_stats.updated THEN excluded.backlog_bytes ELSE web_log_stats.backlog_bytes END,
           updated = greatest(web_log_stats.updated, excluded.updated)`,
        [hostId, s.lines, s.unparsed, s.unattributed, s.rotations, s.truncations, s.lost_files, s.lost_bytes, s.backlog_bytes, at],
      );
    }
    return added;
  }

  async push(push: ApiUsagePush, by: string): Promise<ApiUsagePushAnswer> {
    const now = this.now();
    return this.db.tx(async (c) => {
      if (push.id !== undefined) {
        const r = await c.query('INSERT INTO api_pushes (id, at, by) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [push.id, now, by]);
        if (r.rowCount === 0) return { accepted: 0, duplicate: true };
      }
      const names = [...new Set(push.counts.map((x) => x.tenant))];
      const ids = new Map((await c.query<{ id: number; name: string }>('SELECT id, name FROM tenants WHERE name = ANY($1::text[])', [names])).rows.map((r) => [r.name, r.id]));
      const rows: Row[] = push.counts.map((x, i) => {
        const id = ids.get(x.tenant);
        if (id === undefined) throw new InvalidError(`at /counts/${i}/tenant: tenant ${x.tenant} is not known`);
        const at = x.minute === undefined ? now : Date.parse(x.minute);
        if (!Number.isFinite(at)) throw new InvalidError(`at /counts/${i}/minute: not a valid time`);
        return [id, Math.floor(at / MINUTE_MS) * MINUTE_MS, NO_HOST, PUSHED, 0, x.calls, 0, 0];
      });
      await addRows(c, rows);
      return { accepted: push.counts.length, duplicate: false };
    });
  }

  async usage(tenant: string, from: number, to: number): Promise<WebUsage | undefined> {
    const [t] = await this.db.query<{ id: number }>('SELECT id FROM tenants WHERE name = $1', [tenant]);
    if (!t) return undefined;
    const rows = await this.db.query<WebMinuteRow>(
      `SELECT minute, sum(CASE WHEN source = 0 THEN requests ELSE 0 END)::bigint AS requests, sum(CASE WHEN source = 0 THEN api_calls ELSE 0 END)::bigint AS api_calls,
         sum(CASE WHEN source = 1 THEN api_calls ELSE 0 END)::bigint AS pushed_api_calls, sum(bytes)::bigint AS bytes, sum(errors_5xx)::bigint AS errors_5xx
       FROM web_minutes WHERE tenant_id = $1 AND minute >= $2 AND minute < $3 GROUP BY minute ORDER BY minute`,
      [t.id, from, to],
    );
    return webUsageOf(tenant, from, to, rows);
  }

  async hostStats(host: string): Promise<HostWebStats | undefined> {
    const [h] = await this.db.query<{ id: number }>('SELECT id FROM hosts WHERE name = $1', [host]);
    if (!h) return undefined;
    const [row] = await this.db.query<Omit<HostWebStats, 'host'>>(
      'SELECT lines, unparsed, unattributed, rotations, truncations, lost_files, lost_bytes, backlog_bytes FROM web_log_stats WHERE host_id = $1',
      [h.id],
    );
    return { host, lines: 0, unparsed: 0, unattributed: 0, rotations: 0, truncations: 0, lost_files: 0, lost_bytes: 0, backlog_bytes: 0, ...row };
  }
}
