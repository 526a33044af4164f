// The web tier's routes: a tenant's exact web counts over a range (access logs and pushed API calls), a host's
// access-log reader counts, and POST /v1/usage/api for platforms that meter API calls themselves (an admin
// token, or a token scoped to this route alone: controller.yaml `usage_api_tokens`).
import { Type } from 'typebox';
import { HostParamsSchema, TenantParamsSchema } from '../../../shared/wire/api.js';
import { ApiUsagePushAnswerSchema, ApiUsagePushSchema, HostWebStatsSchema, WebUsageSchema } from '../../../shared/wire/web.js';
import { ADMIN, ERROR_RESPONSES, principalOf, type App, type RouteDeps } from '../common.js';
import { NotFoundError } from '../errors.js';
import { parseRange } from '../params.js';

const DEFAULT_RANGE_MS = 3_600_000;
const TimeParam = Type.String({ maxLength: 64, description: 'ISO-8601 time or a duration back from now (1h, 30m)' });
const WebQuerySchema = Type.Object({ from: Type.Optional(TimeParam), to: Type.Optional(TimeParam) }, { additionalProperties: false });

export async function registerWebRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { store, now } = deps;

  app.get(
    '/v1/tenants/:tenant/web',
    {
      config: ADMIN,
      schema: {
        operationId: 'getTenantWeb',
        summary: "A tenant's web counts",
        description:
          'Exact totals over [from, to) of the requests, API calls, response bytes and 5xx responses its access logs showed (per minute of the ' +
          "lines' own times), and of the API calls platforms pushed; from/to are floored to the minute (default: the last hour).",
        tags: ['web'],
        params: TenantParamsSchema,
        querystring: WebQuerySchema,
        response: { 200: WebUsageSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { from, to } = parseRange(request.query, now(), DEFAULT_RANGE_MS);
      const r = await store.webUsage(request.params.tenant, Math.floor(from / 60_000) * 60_000, Math.ceil(to / 60_000) * 60_000);
      if (!r) throw new NotFoundError(`tenant ${request.params.tenant} is not known`);
      return r;
    },
  );

  app.get(
    '/v1/hosts/:host/web',
    {
      config: ADMIN,
      schema: {
        operationId: 'getHostWeb',
        summary: "A host's access-log reader counts",
        description: 'Lines read, lines that did not parse, lines of no tenant, rotations followed, truncations (copytruncate) seen, files and bytes lost, backlog.',
        tags: ['web'],
        params: HostParamsSchema,
        response: { 200: HostWebStatsSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const r = await store.hostWebStats(request.params.host);
      if (!r) throw new NotFoundError(`host ${request.params.host} is not known`);
      return r;
    },
  );

  app.post(
    '/v1/usage/api',
    {
      config: { auth: 'usage_api' },
      bodyLimit: 2 * 1024 * 1024,
      schema: {
        operationId: 'postUsageApi',
        summary: 'Push API calls a platform counted',
        description: 'Counts of API calls per tenant and minute, added to the tenant\'s pushed_api_calls; an `id` makes a retried push count once. Admin token or a usage_api token.',
        tags: ['web'],
        body: ApiUsagePushSchema,
        response: { 200: ApiUsagePushAnswerSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const r = await store.pushApiCalls(request.body, principalOf(request).name);
      deps.metrics.apiPushes.inc({ result: r.duplicate ? 'duplicate' : 'accepted' });
      if (!r.duplicate) deps.metrics.apiPushedCalls.inc(request.body.counts.reduce((n, c) => n + c.calls, 0));
      return r;
    },
  );
}
