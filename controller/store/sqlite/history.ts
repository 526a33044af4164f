// History queries: a tenant's or a host's series from the tier that fits the range (raw rows, minute or hour
// rollups), the stored rows plus the minutes still in memory, re-bucketed into the requested step. And the
// fairness ranking (GET /v1/fairness) over them: tenants ranked by their fairness debt (decayed to now), with
// their shares over the window, and their hosts' Jain's index and fair share. The ledger itself is written at
// ingest (ingest.ts, fairness.ts accrueReport); this only reads it.
import type Database from 'better-sqlite3';
import type { FairnessRanking, SeriesResponse } from '../../../shared/wire/api.js';
import { decayedDebt } from '../../fairness.js';
import { HOST_METRICS, TENANT_METRICS, TENANT_WIDTH, type MetricDef } from '../../history/catalog.js';
import { decodeAcc, decodeVector, findSample, newAcc, type Acc } from '../../history/codec.js';
import { Bucketer, chooseTier, floorTo, HOUR_MS, MINUTE_DEFAULT_RANGE_MS, MINUTE_MS, selectMetrics, seriesBody, type Tier } from '../../history/rollup.js';
import { hostSeries, isTenantSeries, widthOf } from '../../history/series.js';
import { InvalidError, MissingError } from '../errors.js';
import type { FairnessQuery, HistoryQuery } from '../store.js';
import { rankedHostRow, rankedTenantRow } from '../ranking-rows.js';
import { iso, type StoreContext } from './context.js';
import type { HostState } from './writer-state.js';

function statements(db: Database.Database) {
  return {
    rawRange: db.prepare<[number, number, number], { id: number; at: number; interval_ms: number; samples: Buffer }>(
      'SELECT id, at, interval_ms, samples FROM reports WHERE host_id = ? AND at >= ? AND at < ? ORDER BY at',
    ),
    rawHostRange: db.prepare<[number, number, number], { id: number; at: number; interval_ms: number; host_values: Buffer }>(
      'SELECT id, at, interval_ms, host_values FROM reports WHERE host_id = ? AND at >= ? AND at < ? ORDER BY at',
    ),
    minuteRange: db.prepare<[number, number, number], { bucket: number; data: Buffer }>('SELECT bucket, data FROM minute WHERE series = ? AND bucket >= ? AND bucket < ? ORDER BY bucket'),
    hourRange: db.prepare<[number, number, number], { bucket: number; data: Buffer }>('SELECT bucket, data FROM hour WHERE series = ? AND bucket >= ? AND bucket < ? ORDER BY bucket'),
  };
}

export class History {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  tenant(name: string, query: HistoryQuery): SeriesResponse | undefined {
    const t = this.ctx.state.tenants.get(name);
    if (!t) return undefined;
    const host = this.ctx.state.hostOf(t);
    const body = this.series(t.id, host, TENANT_METRICS, query);
    return { tenant: name, host: host?.name ?? null, ...body };
  }

  host(name: string, query: HistoryQuery): SeriesResponse | undefined {
    const host = this.ctx.state.hosts.get(name);
    if (!host) return undefined;
    return { host: name, ...this.series(hostSeries(host.id), host, HOST_METRICS, query) };
  }

  private series(series: number, host: HostState | undefined, catalog: readonly MetricDef[], query: HistoryQuery): Omit<SeriesResponse, 'tenant' | 'host'> {
    if (!(query.to > query.from)) throw new InvalidError(`to: must be after from (${iso(query.from)})`);
    const indices = selectMetrics(catalog, query.metrics);
    const now = this.ctx.now();
    const choice = chooseTier(query.from, query.to, query.stepMs, now, this.ctx.retention);
    const bucketer = new Bucketer(choice.stepMs, catalog.length);
    const from = choice.stepMs === undefined ? query.from : floorTo(query.from, choice.stepMs);
    if (host) this.collect(series, host, choice.tier, from, query.to, bucketer);
    const points = bucketer.sorted();
    const stepMs = choice.stepMs ?? (host?.lastIntervalMs || 0);
    return { from: iso(from), to: iso(query.to), step_seconds: stepMs / 1000, source: choice.tier, ...seriesBody(points, catalog, indices) };
  }

  /** Feed one series' rows of a tier in [from, to) into a bucketer: stored rows plus the host's memory. A row
   *  that does not decode is skipped and noted (damage.ts): the answer is the rest. */
  private collect(series: number, host: HostState, tier: Tier, from: number, to: number, out: Bucketer): void {
    const width = widthOf(series);
    const { damaged } = this.ctx;
    if (tier === 'raw') {
      if (isTenantSeries(series)) {
        const row = new Float64Array(width);
        for (const r of this.sql.rawRange.iterate(host.id, from, to)) if (damaged.decode('reports', r.id, () => findSample(r.samples, series, width, row))) out.addRow(r.at, row);
      } else {
        for (const r of this.sql.rawHostRange.iterate(host.id, from, to)) {
          const row = damaged.decode('reports', r.id, () => decodeVector(r.host_values, width));
          if (row) out.addRow(r.at, row);
        }
      }
      return;
    }
    const rows = tier === 'minute' ? this.sql.minuteRange : this.sql.hourRange;
    const res = tier === 'minute' ? MINUTE_MS : HOUR_MS;
    for (const r of rows.all(series, floorTo(from, res), to)) {
      const acc = damaged.decode(tier, `${series}@${r.bucket}`, () => decodeAcc(r.data, width));
      if (acc) out.add(r.bucket, acc, true);
    }
    host.rollups.collect(series, from, to, out);
  }

  /** One accumulator over [from, to) from the coarsest tier that fits the window. */
  windowTotal(series: number, host: HostState, from: number, to: number, now: number): Acc {
    let tier: Tier = to - from > MINUTE_DEFAULT_RANGE_MS ? 'hour' : 'minute';
    if (tier === 'minute' && from < now - this.ctx.retention.minuteMs) tier = 'hour';
    const b = new Bucketer(undefined, widthOf(series));
    this.collect(series, host, tier, from, to, b);
    return b.total();
  }
}

// --- fairness ranking --------------------------------------------------------------------------------------

export class FairnessRankings {
  constructor(
    private readonly ctx: StoreContext,
    private readonly history: History,
  ) {}

  rank(query: FairnessQuery): FairnessRanking {
    const { state } = this.ctx;
    const halfLifeMs = this.ctx.fairness.halfLifeMs;
    const now = this.ctx.now();
    const from = now - query.windowMs;
    let candidates = [...state.tenants.values()];
    let hosts: HostState[] = [];
    if (query.host !== undefined) {
      const h = state.hosts.get(query.host);
      if (!h) throw new MissingError(`host ${query.host} is not known`);
      candidates = candidates.filter((t) => t.hostId === h.id);
      hosts = [h];
    }
    const ranked = candidates
      .filter((t) => t.debt !== undefined)
      .map((t) => ({ t, debt: decayedDebt(t.debt!, now, halfLifeMs) }))
      .sort((a, b) => b.debt - a.debt || a.t.name.localeCompare(b.t.name))
      .slice(0, query.limit);
    const tenants: FairnessRanking['tenants'] = ranked.map(({ t, debt }, i) => {
      const host = state.hostOf(t);
      const acc = host ? this.history.windowTotal(t.id, host, from, now + 1, now) : newAcc(TENANT_WIDTH);
      return rankedTenantRow({ rank: i + 1, tenant: t.name, host: host?.name ?? null, plan: t.spec?.plan ?? t.reported?.plan ?? null, weight: t.weight, debt }, acc);
    });
    if (query.host === undefined) {
      const ids = new Set(ranked.map(({ t }) => t.hostId).filter((id): id is number => id !== null));
      hosts = [...ids].map((id) => state.hostsById.get(id)!).filter(Boolean);
    }
    const hostRows: FairnessRanking['hosts'] = hosts.map((h) => {
      const acc = this.history.windowTotal(hostSeries(h.id), h, from, now + 1, now);
      return rankedHostRow(h.name, acc, h.lastFair);
    });
    return { from: iso(from), to: iso(now), window_seconds: query.windowMs / 1000, half_life_seconds: halfLifeMs / 1000, hosts: hostRows, tenants };
  }
}
