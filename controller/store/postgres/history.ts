// History queries on PostgreSQL: the tier that fits the range (raw report rows, or the codec's blobs in `minute`
// and `hour` with the reports still queued for them, rollups.ts), re-bucketed into
// the requested step by the same code as SQLite's (history/rollup.ts), so answers have one format. Nothing is
// held in memory. And the fairness ranking.
import type { FairnessRanking, SeriesResponse } from '../../../shared/wire/api.js';
import { decayedDebt, hostLedgerOf } from '../../fairness.js';
import { HOST_METRICS, HOST_WIDTH, TENANT_METRICS, TENANT_WIDTH, type MetricDef } from '../../history/catalog.js';
import { decodeAcc, decodeVector, findSample, newAcc, type Acc } from '../../history/codec.js';
import { Bucketer, chooseTier, floorTo, HOUR_MS, MINUTE_DEFAULT_RANGE_MS, MINUTE_MS, selectMetrics, seriesBody, type RetentionSpans, type Tier } from '../../history/rollup.js';
import { hostSeries, isTenantSeries, widthOf } from '../../history/series.js';
import { InvalidError, MissingError } from '../errors.js';
import type { FairnessQuery, HistoryQuery } from '../store.js';
import { rankedHostRow, rankedTenantRow } from '../ranking-rows.js';
import { lastReport } from './catalog.js';
import type { PgDatabase } from './db.js';
import { tierWithQueueSql } from './rollups.js';
import { loadPlans, TENANT_COLUMNS, TENANT_FROM, tenantOf, weightOf, type TenantRow } from './rows.js';

const iso = (t: number): string => new Date(t).toISOString();

export class PgHistory {
  constructor(
    private readonly db: PgDatabase,
    private readonly opts: { now: () => number; retention: RetentionSpans; halfLifeMs: number },
  ) {}

  async tenant(name: string, query: HistoryQuery): Promise<SeriesResponse | undefined> {
    const [t] = await this.db.query<{ id: number; host_id: number | null; host: string | null }>(
      'SELECT t.id, t.host_id, h.name AS host FROM tenants t LEFT JOIN hosts h ON h.id = t.host_id WHERE t.name = $1',
      [name],
    );
    if (!t) return undefined;
    const body = await this.series(t.id, t.host_id, TENANT_METRICS, query);
    return { tenant: name, host: t.host, ...body };
  }

  async host(name: string, query: HistoryQuery): Promise<SeriesResponse | undefined> {
    const [h] = await this.db.query<{ id: number }>('SELECT id FROM hosts WHERE name = $1', [name]);
    if (!h) return undefined;
    return { host: name, ...(await this.series(hostSeries(h.id), h.id, HOST_METRICS, query)) };
  }

  private async series(series: number, hostId: number | null, catalog: readonly MetricDef[], query: HistoryQuery): Promise<Omit<SeriesResponse, 'tenant' | 'host'>> {
    if (!(query.to > query.from)) throw new InvalidError(`to: must be after from (${iso(query.from)})`);
    const indices = selectMetrics(catalog, query.metrics);
    const now = this.opts.now();
    const choice = chooseTier(query.from, query.to, query.stepMs, now, this.opts.retention);
    const bucketer = new Bucketer(choice.stepMs, catalog.length);
    const from = choice.stepMs === undefined ? query.from : floorTo(query.from, choice.stepMs);
    let intervalMs = 0;
    if (hostId !== null) {
      await this.collect(series, hostId, choice.tier, from, query.to, bucketer);
      if (choice.stepMs === undefined) intervalMs = (await lastReport(this.db.pool, hostId))?.interval_ms ?? 0;
    }
    const stepMs = choice.stepMs ?? intervalMs;
    return { from: iso(from), to: iso(query.to), step_seconds: stepMs / 1000, source: choice.tier, ...seriesBody(bucketer.sorted(), catalog, indices) };
  }

  private async collect(series: number, hostId: number, tier: Tier, from: number, to: number, out: Bucketer): Promise<void> {
    const width = widthOf(series);
    if (tier === 'raw') {
      if (isTenantSeries(series)) {
        const rows = await this.db.query<{ at: number; samples: Buffer }>('SELECT at, samples FROM reports WHERE host_id = $1 AND at >= $2 AND at < $3 ORDER BY at', [hostId, from, to]);
        const row = new Float64Array(width);
        for (const r of rows) if (findSample(r.samples, series, width, row)) out.addRow(r.at, row);
      } else {
        const rows = await this.db.query<{ at: number; host_values: Buffer }>('SELECT at, host_values FROM reports WHERE host_id = $1 AND at >= $2 AND at < $3 ORDER BY at', [hostId, from, to]);
        for (const r of rows) out.addRow(r.at, decodeVector(r.host_values, width));
      }
      return;
    }
    const res = tier === 'minute' ? MINUTE_MS : HOUR_MS;
    const start = floorTo(from, res);
    // The tier's rows and the reports still queued for it, in one statement (rollups.ts).
    const tenant = isTenantSeries(series);
    const rows = await this.db.query<{ raw: boolean; at: number; data: Buffer }>(tierWithQueueSql(tier, tenant), [series, start, to, hostId]);
    const row = new Float64Array(width);
    for (const r of rows) {
      if (!r.raw) out.add(r.at, decodeAcc(r.data, width), true);
      else if (!tenant) out.addRow(r.at, decodeVector(r.data, width));
      else if (findSample(r.data, series, width, row)) out.addRow(r.at, row);
    }
  }

  /** One accumulator over [from, to) from the coarsest tier that fits the window. */
  private async windowTotal(series: number, hostId: number, from: number, to: number, now: number): Promise<Acc> {
    let tier: Tier = to - from > MINUTE_DEFAULT_RANGE_MS ? 'hour' : 'minute';
    if (tier === 'minute' && from < now - this.opts.retention.minuteMs) tier = 'hour';
    const b = new Bucketer(undefined, widthOf(series));
    await this.collect(series, hostId, tier, from, to, b);
    return b.total();
  }

  async rank(query: FairnessQuery): Promise<FairnessRanking> {
    const halfLifeMs = this.opts.halfLifeMs;
    const now = this.opts.now();
    const from = now - query.windowMs;
    const hostNames = new Map((await this.db.query<{ id: number; name: string }>('SELECT id, name FROM hosts')).map((r) => [r.id, r.name]));
    let hostId: number | undefined;
    if (query.host !== undefined) {
      hostId = [...hostNames].find(([, n]) => n === query.host)?.[0];
      if (hostId === undefined) throw new MissingError(`host ${query.host} is not known`);
    }
    const rows = await this.db.query<TenantRow>(
      `SELECT * FROM (SELECT ${TENANT_COLUMNS} FROM ${TENANT_FROM}) t WHERE debt_at IS NOT NULL ${hostId === undefined ? '' : 'AND host_id = $1'}`,
      hostId === undefined ? [] : [hostId],
    );
    const plans = await loadPlans(this.db.pool);
    const ranked = rows
      .map(tenantOf)
      .map((t) => ({ t, debt: decayedDebt(t.debt!, now, halfLifeMs) }))
      .sort((a, b) => b.debt - a.debt || a.t.name.localeCompare(b.t.name))
      .slice(0, query.limit);
    const tenants: FairnessRanking['tenants'] = [];
    for (const [i, { t, debt }] of ranked.entries()) {
      const acc = t.hostId !== null ? await this.windowTotal(t.id, t.hostId, from, now + 1, now) : newAcc(TENANT_WIDTH);
      tenants.push(rankedTenantRow({ rank: i + 1, tenant: t.name, host: t.hostId === null ? null : (hostNames.get(t.hostId) ?? null), plan: t.spec?.plan ?? t.reported?.plan ?? null, weight: weightOf(plans, t), debt }, acc));
    }
    const hostIds = hostId !== undefined ? [hostId] : [...new Set(ranked.map(({ t }) => t.hostId).filter((id): id is number => id !== null))];
    const hosts: FairnessRanking['hosts'] = [];
    for (const id of hostIds) {
      const acc = await this.windowTotal(hostSeries(id), id, from, now + 1, now);
      const last = await lastReport(this.db.pool, id);
      const fair = last ? hostLedgerOf(decodeVector(last.host_values, HOST_WIDTH)) : null;
      hosts.push(rankedHostRow(hostNames.get(id) ?? '?', acc, fair));
    }
    return { from: iso(from), to: iso(now), window_seconds: query.windowMs / 1000, half_life_seconds: halfLifeMs / 1000, hosts, tenants };
  }
}
