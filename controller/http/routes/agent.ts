// Agent routes: reports in, policy out.
import { Type } from 'typebox';
import { PolicySchema, ReportAcceptedSchema, ReportSchema, type ReportAccepted } from '../../../shared/wire/agent.js';
import { REJECTION_KINDS, type Rejections } from '../../trust.js';
import { ERROR_RESPONSES, principalOf, statusOf, validatorCompiler, type App, type RouteDeps } from '../common.js';
import { BadRequestError, ForbiddenError } from '../errors.js';
import { HostParamsSchema } from '../../../shared/wire/api.js';

export async function registerAgentRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { store, metrics, parser, flusher } = deps;

  // Report bodies are taken as raw bytes and parsed by the report parser (inline or in worker threads),
  // which validates them against ReportSchema; the schema below is declared for the API description.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: deps.reportBodyLimit }, (_req, body, done) => done(null, body));

  app.post(
    '/v1/reports',
    {
      config: { auth: 'agent' },
      bodyLimit: deps.reportBodyLimit,
      schema: {
        operationId: 'postReports',
        summary: 'Post a batch of samples and incident events (agent token of the report\'s host)',
        tags: ['agent'],
        body: ReportSchema,
        response: { 202: ReportAcceptedSchema, ...ERROR_RESPONSES },
      },
      validatorCompiler: (ctx) => (ctx.httpPart === 'body' ? () => true : validatorCompiler(ctx)),
    },
    async (request, reply) => {
      const started = performance.now();
      const principal = principalOf(request);
      if (principal.kind !== 'agent') {
        metrics.reports.inc({ result: 'forbidden' });
        throw new ForbiddenError('reports are posted with an agent token');
      }
      const body = request.body as unknown as Buffer;
      if (!Buffer.isBuffer(body) || body.length === 0) throw new BadRequestError('body is empty');
      metrics.reportBytes.inc(body.length);
      const prepared = await parser.parse(body);
      if (!prepared.ok) {
        metrics.reports.inc({ result: 'rejected' });
        throw new BadRequestError(prepared.message);
      }
      const report = prepared.report;
      metrics.parsed.inc({ parser: report.fast ? 'fast' : 'reference' });
      if (report.host !== principal.host) {
        metrics.reports.inc({ result: 'forbidden' });
        throw new ForbiddenError(`the token of host ${principal.host} cannot post reports for host ${report.host}`);
      }
      let result;
      try {
        result = await store.ingest(report);
      } catch (err) {
        const status = statusOf(err);
        if (status !== undefined) metrics.reports.inc({ result: status === 409 ? 'conflict' : 'rejected' });
        throw err;
      }
      metrics.reports.inc({ result: result.duplicate ? 'duplicate' : 'accepted' });
      if (!result.duplicate) {
        metrics.samples.inc(result.samples);
        metrics.rate.add(result.samples);
        if (result.events) metrics.incidentEvents.inc(result.events);
        if (result.web) for (const kind of ['requests', 'api_calls', 'bytes', 'errors_5xx', 'unparsed', 'truncations', 'lost_files'] as const) if (result.web[kind]) metrics.web[kind].inc(result.web[kind]);
        for (const kind of ['samples', 'events', 'tenants'] as const) if (report.rejected[kind]) metrics.itemsRejected.inc({ kind }, report.rejected[kind]);
      }
      flusher.kick();
      metrics.reportLatency.observe((performance.now() - started) / 1000);
      // Items refused alone (ingest/items.ts: out of range or malformed; the store: another host's tenants, the
      // unmanaged cap, forged administrator's events) are counted and named here: an agent drops a report
      // answered 400, so one bad item must not cost it the whole report.
      return reply.code(202).send({ accepted: result.accepted, duplicate: result.duplicate, seq: result.seq, rejected: report.rejected, problems: report.problems, ...rejectedFields(result.rejected, metrics) });
    },
  );

  app.get(
    '/v1/hosts/:host/policy',
    {
      config: { auth: 'agent' },
      schema: {
        operationId: 'getHostPolicy',
        summary: "A host's policy (agent token of that host, or admin)",
        description: "Its managed tenants, all plans and its active manual actions, with an ETag; If-None-Match gives 304.",
        tags: ['agent'],
        params: HostParamsSchema,
        headers: Type.Object({ 'if-none-match': Type.Optional(Type.String({ maxLength: 1000 })) }),
        response: { 200: PolicySchema, 304: Type.Null({ description: 'not modified' }), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { host } = request.params;
      if (principal.kind === 'agent' && principal.host !== host) throw new ForbiddenError(`the token of host ${principal.host} cannot read the policy of host ${host}`);
      const { policy, etag } = await store.getPolicy(host);
      reply.header('etag', etag).header('cache-control', 'no-cache');
      if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send(null);
      return reply.code(200).send(policy);
    },
  );
}

/** The answer's fields for items refused one by one (controller/trust.ts), counted in the metric as well. */
function rejectedFields(rejected: Rejections | undefined, metrics: RouteDeps['metrics']): Partial<ReportAccepted> {
  if (!rejected) return {};
  for (const kind of REJECTION_KINDS) if (rejected.counts[kind]) metrics.itemsRejected.inc({ kind }, rejected.counts[kind]);
  return {
    rejected_cross_host: rejected.counts.cross_host,
    rejected_unmanaged_cap: rejected.counts.unmanaged_cap,
    rejected_forged_manual: rejected.counts.forged_manual,
    rejected_items: rejected.items,
  };
}

/** If-None-Match: a list of (possibly weak) tags, or "*". */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
}
