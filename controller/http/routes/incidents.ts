// Admin routes over incidents.
import { ADMIN, ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { NotFoundError } from '../errors.js';
import { IncidentDetailSchema, IncidentListSchema, IncidentParamsSchema, IncidentQuerySchema } from '../../../shared/wire/api.js';
import { parseTimeParam } from '../params.js';

export async function registerIncidentRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { store, now } = deps;

  app.get(
    '/v1/incidents',
    {
      config: ADMIN,
      schema: {
        operationId: 'getIncidents',
        summary: 'Incidents, newest first; from/to select those open at some time in [from, to)',
        tags: ['incidents'],
        querystring: IncidentQuerySchema,
        response: { 200: IncidentListSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const q = request.query;
      const t = now();
      return {
        incidents: await store.listIncidents({
          tenant: q.tenant,
          host: q.host,
          state: q.state,
          resource: q.resource,
          from: q.from === undefined ? undefined : parseTimeParam('from', q.from, t),
          to: q.to === undefined ? undefined : parseTimeParam('to', q.to, t),
          limit: q.limit ?? 100,
        }),
      };
    },
  );

  app.get(
    '/v1/incidents/:id',
    { config: ADMIN, schema: { operationId: 'getIncident', summary: 'One incident with its latest explanation and every event', tags: ['incidents'], params: IncidentParamsSchema, response: { 200: IncidentDetailSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const i = await store.getIncident(request.params.id);
      if (!i) throw new NotFoundError(`incident ${request.params.id} is not known`);
      return i;
    },
  );
}
