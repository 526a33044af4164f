// Admin routes over tenant links (controller/ui/links.ts): make one for a tenant, revoke one by its id (also
// a notice's link: its id is in the token). Links are built from public_url, or from the request's own origin
// when there is none.
import { Type } from 'typebox';
import { TenantParamsSchema } from '../../../shared/wire/api.js';
import { EmptyBodySchema } from '../../../shared/wire/files.js';
import { TenantLinkParamsSchema, TenantLinkSchema } from '../../../shared/wire/ui.js';
import { ADMIN, adminName, emptyBody, ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { NotFoundError } from '../errors.js';

export async function registerTenantLinkRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { ui, store } = deps;
  const tags = ['dashboard'];

  app.post(
    '/v1/tenants/:tenant/links',
    {
      config: ADMIN,
      schema: {
        operationId: 'postTenantLinks',
        summary: "A new signed link to the tenant's usage page (/t/{token}), valid ui.tenant_link_ttl",
        tags,
        params: TenantParamsSchema,
        body: EmptyBodySchema,
        response: { 201: TenantLinkSchema, ...ERROR_RESPONSES },
      },
      validatorCompiler: emptyBody,
    },
    async (request, reply) => {
      const tenant = request.params.tenant;
      if (!(await store.getTenant(tenant))) throw new NotFoundError(`tenant ${tenant} is not known`);
      const base = ui.publicUrl ?? `${request.protocol}://${request.host}`;
      const link = await ui.links.make(tenant, base, adminName(request));
      return reply.code(201).send({ id: link.id, url: link.url, expires_at: new Date(link.expiresAt).toISOString() });
    },
  );

  app.delete(
    '/v1/tenant-links/:id',
    {
      config: ADMIN,
      schema: {
        operationId: 'deleteTenantLink',
        summary: "Revoke a tenant link by its id (an admin's or a notice's); 204 if revoked already",
        tags,
        params: TenantLinkParamsSchema,
        response: { 204: Type.Null(), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await ui.links.revoke(request.params.id, adminName(request));
      return reply.code(204).send(null);
    },
  );
}
