// Admin routes over the fleet's configuration: hosts, tenants, plans, manual actions, the audit log.
import { Type } from 'typebox';
import { ADMIN, adminName, ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import { ConflictStateError, UnknownPlanError } from '../../store/errors.js';
import { parseDuration, UnitError } from '../../../shared/units.js';
import { MAX_SECONDS } from '../../../shared/wire/bounds.js';
import {
  ActionListSchema,
  ActionParamsSchema,
  ActionRequestSchema,
  ActionStatusSchema,
  AuditListSchema,
  AuditQuerySchema,
  HostDetailSchema,
  HostListSchema,
  HostParamsSchema,
  PlanEntrySchema,
  PlanListSchema,
  PlanParamsSchema,
  PlanPutSchema,
  TenantDetailSchema,
  TenantInfoSchema,
  TenantListSchema,
  TenantParamsSchema,
  TenantPutSchema,
} from '../../../shared/wire/api.js';
import { parseTimeParam } from '../params.js';
import { HostNameSchema, TenantNameSchema } from '../../../shared/wire/agent.js';

export async function registerFleetRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { store, now } = deps;

  // --- hosts ---------------------------------------------------------------------------------------------
  app.get(
    '/v1/hosts',
    { config: ADMIN, schema: { operationId: 'getHosts', summary: 'Hosts that reported or have managed tenants', tags: ['hosts'], response: { 200: HostListSchema, ...ERROR_RESPONSES } } },
    async () => ({ hosts: await store.listHosts() }),
  );

  app.get(
    '/v1/hosts/:host',
    { config: ADMIN, schema: { operationId: 'getHost', summary: 'One host, with its latest inventory', tags: ['hosts'], params: HostParamsSchema, response: { 200: HostDetailSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const h = await store.getHost(request.params.host);
      if (!h) throw new NotFoundError(`host ${request.params.host} is not known`);
      return h;
    },
  );

  // --- tenants -------------------------------------------------------------------------------------------
  app.get(
    '/v1/tenants',
    {
      config: ADMIN,
      schema: {
        operationId: 'getTenants',
        summary: 'Tenants: managed ones (PUT here) and those only seen in reports',
        tags: ['tenants'],
        querystring: Type.Object(
          {
            host: Type.Optional(HostNameSchema),
            managed: Type.Optional(Type.Boolean()),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
            offset: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
          },
          { additionalProperties: false },
        ),
        response: { 200: TenantListSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => store.listTenants(request.query),
  );

  app.get(
    '/v1/tenants/:tenant',
    { config: ADMIN, schema: { operationId: 'getTenant', summary: 'One tenant, with its newest sample', tags: ['tenants'], params: TenantParamsSchema, response: { 200: TenantDetailSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const t = await store.getTenant(request.params.tenant);
      if (!t) throw new NotFoundError(`tenant ${request.params.tenant} is not known`);
      return t;
    },
  );

  app.put(
    '/v1/tenants/:tenant',
    {
      config: ADMIN,
      schema: {
        operationId: 'putTenant',
        summary: 'Create or replace a managed tenant',
        description: "The tenant is served in its host's policy; host is required unless the tenant has reported.",
        tags: ['tenants'],
        params: TenantParamsSchema,
        body: TenantPutSchema,
        response: { 200: TenantInfoSchema, 201: TenantInfoSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const name = request.params.tenant;
      const body = request.body;
      if (body.name !== undefined && body.name !== name) throw new BadRequestError(`name: "${body.name}" differs from the tenant in the path ("${name}")`);
      try {
        const { tenant, created } = await store.putTenant(name, body);
        return reply.code(created ? 201 : 200).send(tenant);
      } catch (err) {
        if (err instanceof UnknownPlanError) throw new BadRequestError(`${err.message}; create it first with PUT /v1/plans/${err.plan}`);
        throw err;
      }
    },
  );

  app.delete(
    '/v1/tenants/:tenant',
    {
      config: ADMIN,
      schema: {
        operationId: 'deleteTenant',
        summary: 'Stop managing a tenant',
        description: 'The tenant is no longer in the policy; its history stays until retention drops it.',
        tags: ['tenants'],
        params: TenantParamsSchema,
        response: { 204: Type.Null({ description: 'deleted' }), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      if (!(await store.deleteTenant(request.params.tenant))) throw new NotFoundError(`tenant ${request.params.tenant} is not known`);
      return reply.code(204).send(null);
    },
  );

  // --- manual actions ------------------------------------------------------------------------------------
  app.post(
    '/v1/tenants/:tenant/actions',
    {
      config: ADMIN,
      schema: {
        operationId: 'postTenantActions',
        summary: 'Queue a manual action for a tenant',
        description: "The action goes to the tenant's host in its policy; the agent applies it and acknowledges it in its next report.",
        tags: ['actions'],
        params: TenantParamsSchema,
        body: ActionRequestSchema,
        response: { 201: ActionStatusSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { ttl, ...action } = request.body;
      try {
        return reply.code(201).send(await store.queueAction(request.params.tenant, { ...action, ttlMs: ttlMsOf(ttl) }, adminName(request)));
      } catch (err) {
        if (err instanceof ConflictStateError && err.code === 'no_host') throw new ConflictError(err.code, `${err.message}: PUT it with a host first`);
        throw err;
      }
    },
  );

  app.get(
    '/v1/tenants/:tenant/actions',
    { config: ADMIN, schema: { operationId: 'getTenantActions', summary: "A tenant's manual actions and their state, newest first", tags: ['actions'], params: TenantParamsSchema, response: { 200: ActionListSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      if (!(await store.getTenant(request.params.tenant))) throw new NotFoundError(`tenant ${request.params.tenant} is not known`);
      return { actions: await store.listActions({ tenant: request.params.tenant }) };
    },
  );

  app.get(
    '/v1/actions',
    {
      config: ADMIN,
      schema: {
        operationId: 'getActions',
        summary: 'Manual actions, newest first (at most 1000)',
        tags: ['actions'],
        querystring: Type.Object({ host: Type.Optional(HostNameSchema), tenant: Type.Optional(TenantNameSchema) }, { additionalProperties: false }),
        response: { 200: ActionListSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => ({ actions: await store.listActions(request.query) }),
  );

  app.get(
    '/v1/actions/:id',
    { config: ADMIN, schema: { operationId: 'getAction', summary: 'One manual action and its state', tags: ['actions'], params: ActionParamsSchema, response: { 200: ActionStatusSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const a = await store.getAction(request.params.id);
      if (!a) throw new NotFoundError(`action ${request.params.id} is not known`);
      return a;
    },
  );

  // --- plans ---------------------------------------------------------------------------------------------
  app.get(
    '/v1/plans',
    { config: ADMIN, schema: { operationId: 'getPlans', summary: 'Plans (limits and fair-share weight)', tags: ['plans'], response: { 200: PlanListSchema, ...ERROR_RESPONSES } } },
    async () => ({ plans: await store.listPlans() }),
  );

  app.put(
    '/v1/plans/:plan',
    {
      config: ADMIN,
      schema: {
        operationId: 'putPlan',
        summary: 'Create or replace a plan',
        description: 'Limits in base units: percent of one core, bytes, bytes/s, ops/s, tasks.',
        tags: ['plans'],
        params: PlanParamsSchema,
        body: PlanPutSchema,
        response: { 200: PlanEntrySchema, 201: PlanEntrySchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { plan, created } = await store.putPlan(request.params.plan, request.body);
      return reply.code(created ? 201 : 200).send(plan);
    },
  );

  // --- audit ---------------------------------------------------------------------------------------------
  app.get(
    '/v1/audit',
    { config: ADMIN, schema: { operationId: 'getAudit', summary: 'The audit log of admin calls, newest first', tags: ['audit'], querystring: AuditQuerySchema, response: { 200: AuditListSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const q = request.query;
      const t = now();
      return {
        entries: await store.listAudit({
          from: q.from === undefined ? undefined : parseTimeParam('from', q.from, t),
          to: q.to === undefined ? undefined : parseTimeParam('to', q.to, t),
          who: q.who,
          limit: q.limit,
        }),
      };
    },
  );
}

/** The API's ttl (a duration, or seconds) in milliseconds, as the store takes it: at most ten years. */
function ttlMsOf(ttl: string | number | undefined): number | undefined {
  if (ttl === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(ttl);
  } catch (err) {
    if (err instanceof UnitError) throw new BadRequestError(`ttl: ${err.message}`);
    throw err;
  }
  if (ms > MAX_SECONDS * 1000) throw new BadRequestError(`ttl: must be at most ${MAX_SECONDS / 86_400}d, got ${JSON.stringify(ttl)}`);
  return ms;
}
