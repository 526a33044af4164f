// Health, metrics and the API description.
import { Type } from 'typebox';
import { CONTROLLER_VERSION, ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { HealthSchema } from '../../../shared/wire/api.js';

export async function registerSystemRoutes(scope: App, deps: RouteDeps, root: App): Promise<void> {
  scope.get(
    '/healthz',
    {
      config: { auth: 'public' },
      schema: {
        operationId: 'getHealth',
        summary: 'Liveness (no token needed); 503 while the database cannot be reached',
        tags: ['system'],
        security: [],
        response: { 200: HealthSchema, 503: HealthSchema, ...ERROR_RESPONSES },
      },
    },
    async (_request, reply) => {
      const h = await deps.store.health();
      const base = { version: CONTROLLER_VERSION, uptime_seconds: (deps.now() - deps.startedAt) / 1000, damaged_rows: deps.store.damagedRows(), database: h.database };
      if (h.database === 'ok') return { status: 'ok' as const, ...base };
      return reply.code(503).send({ status: 'unavailable' as const, ...base, ...(h.message !== undefined ? { message: h.message } : {}) });
    },
  );

  scope.get(
    '/metrics',
    {
      config: { auth: 'admin' },
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics (text format 0.0.4)',
        description: 'Ingest rate and latency, requests by route, store size, open incidents, process and event loop.',
        tags: ['system'],
        response: { 200: Type.String(), ...ERROR_RESPONSES },
      },
    },
    async (_request, reply) => {
      const text = await deps.metrics.registry.render();
      return reply.type(deps.metrics.registry.contentType).send(text);
    },
  );

  scope.get(
    '/openapi.json',
    {
      config: { auth: 'public' },
      schema: { operationId: 'getOpenApi', summary: 'This API in OpenAPI 3.1 (no token needed: it holds no data)', tags: ['system'], security: [], response: { 200: Type.Object({}, { additionalProperties: true }), ...ERROR_RESPONSES } },
    },
    async () => root.swagger(),
  );
}
