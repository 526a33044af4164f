// Admin routes over history: usage series of tenants and hosts, the fairness series and ranking.
import { ADMIN, ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { NotFoundError } from '../errors.js';
import { FairnessQuerySchema, FairnessRankingSchema, HostParamsSchema, SeriesResponseSchema, TenantParamsSchema, UsageQuerySchema } from '../../../shared/wire/api.js';
import type { HistoryQuery } from '../../store/store.js';
import { parseDurationParam, parseRange } from '../params.js';

const DEFAULT_RANGE_MS = 3_600_000;
const FAIRNESS_METRICS = ['fairness'];

/** The query of a usage route (also the tenant page's: routes/tenant-pages.ts). */
export function historyQuery(q: { from?: string | undefined; to?: string | undefined; step?: string | undefined; resources?: string | undefined }, now: number, metrics?: string[]): HistoryQuery {
  const { from, to } = parseRange(q, now, DEFAULT_RANGE_MS);
  return {
    from,
    to,
    stepMs: q.step === undefined ? undefined : parseDurationParam('step', q.step, { min: 1000 }),
    metrics:
      metrics ??
      q.resources
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  };
}

export async function registerHistoryRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { store, now, halfLifeMs } = deps;
  const usageSummary =
    'series per metric (average and maximum per point); from/to are ISO times or durations back from now (default the last hour); ' +
    'step picks raw samples (< 1m), minute rollups (< 1h) or hour rollups; without it: raw up to 2h of range, minutes up to 3d, hours beyond';

  app.get(
    '/v1/tenants/:tenant/usage',
    { config: ADMIN, schema: { operationId: 'getTenantUsage', summary: "A tenant's usage series", description: usageSummary, tags: ['history'], params: TenantParamsSchema, querystring: UsageQuerySchema, response: { 200: SeriesResponseSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const r = await store.tenantHistory(request.params.tenant, historyQuery(request.query, now()));
      if (!r) throw new NotFoundError(`tenant ${request.params.tenant} is not known`);
      return r;
    },
  );

  app.get(
    '/v1/tenants/:tenant/fairness',
    {
      config: ADMIN,
      schema: {
        operationId: 'getTenantFairness',
        summary: "A tenant's fairness series",
        description: 'Shares, dominant share (weighted), fair share, debt (share-hours).',
        tags: ['fairness'],
        params: TenantParamsSchema,
        querystring: UsageQuerySchema,
        response: { 200: SeriesResponseSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const r = await store.tenantHistory(request.params.tenant, historyQuery(request.query, now(), FAIRNESS_METRICS));
      if (!r) throw new NotFoundError(`tenant ${request.params.tenant} is not known`);
      return r;
    },
  );

  app.get(
    '/v1/hosts/:host/usage',
    {
      config: ADMIN,
      schema: {
        operationId: 'getHostUsage',
        summary: "A host's series",
        description: `cpu, memory, pressure, Jain's index, fair share: ${usageSummary}`,
        tags: ['history'],
        params: HostParamsSchema,
        querystring: UsageQuerySchema,
        response: { 200: SeriesResponseSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const r = await store.hostHistory(request.params.host, historyQuery(request.query, now()));
      if (!r) throw new NotFoundError(`host ${request.params.host} is not known`);
      return r;
    },
  );

  app.get(
    '/v1/fairness',
    {
      config: ADMIN,
      schema: {
        operationId: 'getFairness',
        summary: 'Tenants ranked by fairness debt',
        description: "Who takes more than their share, over time, with Jain's index of their hosts; window (default 1h) sets the averages.",
        tags: ['fairness'],
        querystring: FairnessQuerySchema,
        response: { 200: FairnessRankingSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const q = request.query;
      const windowMs = q.window === undefined ? 3_600_000 : parseDurationParam('window', q.window, { min: 60_000, max: 730 * 86_400_000 });
      const r = await store.fairnessRanking({ host: q.host, windowMs, limit: q.limit ?? 100 });
      return halfLifeMs === undefined ? r : { ...r, half_life_seconds: halfLifeMs / 1000 };
    },
  );
}
