// Admin routes over infected data (issue 16): the file quarantine entries agents reported, restores and deletes
// of them, and on-demand scans. A restore, delete or scan is a request the tenant's host's agent takes from its
// policy (as manual actions travel) and answers in a report; the routes answer 202 with the pending request.
import { TenantParamsSchema } from '../../../shared/wire/api.js';
import { EmptyBodySchema, FileIdParamsSchema, FileRequestStatusSchema, QuarantinedFileListSchema, QuarantinedFileSchema, QuarantinedFilesQuerySchema } from '../../../shared/wire/files.js';
import { ConflictStateError } from '../../store/errors.js';
import { ADMIN, adminName, emptyBody, ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { ConflictError, NotFoundError } from '../errors.js';

/** The store's refusals as HTTP answers. */
function conflict(err: unknown): never {
  if (err instanceof ConflictStateError) throw new ConflictError(err.code, err.message);
  throw err;
}

export async function registerQuarantinedFileRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { store } = deps;

  app.get(
    '/v1/quarantined-files',
    {
      config: ADMIN,
      schema: {
        operationId: 'getQuarantinedFiles',
        summary: 'Files moved into the file quarantine (and restored or deleted since), newest first',
        tags: ['files'],
        querystring: QuarantinedFilesQuerySchema,
        response: { 200: QuarantinedFileListSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const q = request.query;
      return { files: await store.listQuarantinedFiles({ tenant: q.tenant, host: q.host, state: q.state, limit: q.limit ?? 1000 }) };
    },
  );

  app.get(
    '/v1/quarantined-files/:id',
    { config: ADMIN, schema: { operationId: 'getQuarantinedFile', summary: 'One quarantined file with its latest restore or delete request', tags: ['files'], params: FileIdParamsSchema, response: { 200: QuarantinedFileSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const f = await store.getQuarantinedFile(request.params.id);
      if (!f) throw new NotFoundError(`quarantined file ${request.params.id} is not known`);
      return f;
    },
  );

  app.post(
    '/v1/quarantined-files/:id/restore',
    {
      config: ADMIN,
      schema: {
        operationId: 'postQuarantinedFileRestore',
        summary: "Ask the file's agent to put it back exactly (owner, mode, times)",
        description: 'Answered 202 with the pending request; the agent refuses a path that is taken now or a directory replaced by a symlink (the request then fails with the reason).',
        tags: ['files'],
        params: FileIdParamsSchema,
        body: EmptyBodySchema,
        response: { 202: FileRequestStatusSchema, ...ERROR_RESPONSES },
      },
      validatorCompiler: emptyBody,
    },
    async (request, reply) => {
      const r = await store.requestFileAction(request.params.id, 'restore', adminName(request)).catch(conflict);
      return reply.code(202).send(r);
    },
  );

  app.delete(
    '/v1/quarantined-files/:id',
    {
      config: ADMIN,
      schema: {
        operationId: 'deleteQuarantinedFile',
        summary: "Ask the file's agent to delete it from its store for good",
        tags: ['files'],
        params: FileIdParamsSchema,
        response: { 202: FileRequestStatusSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const r = await store.requestFileAction(request.params.id, 'delete', adminName(request)).catch(conflict);
      return reply.code(202).send(r);
    },
  );

  app.post(
    '/v1/tenants/:tenant/scan',
    {
      config: ADMIN,
      schema: {
        operationId: 'postTenantScan',
        summary: "Ask the tenant's agent to scan its homes for infected files now",
        tags: ['files'],
        params: TenantParamsSchema,
        body: EmptyBodySchema,
        response: { 202: FileRequestStatusSchema, ...ERROR_RESPONSES },
      },
      validatorCompiler: emptyBody,
    },
    async (request, reply) => {
      const r = await store.requestScan(request.params.tenant, adminName(request)).catch(conflict);
      return reply.code(202).send(r);
    },
  );

  app.get(
    '/v1/file-requests/:id',
    { config: ADMIN, schema: { operationId: 'getFileRequest', summary: 'One restore, delete or scan request and its answer', tags: ['files'], params: FileIdParamsSchema, response: { 200: FileRequestStatusSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const r = await store.getFileRequest(request.params.id);
      if (!r) throw new NotFoundError(`request ${request.params.id} is not known`);
      return r;
    },
  );
}
