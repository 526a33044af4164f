// The tenant's pages, reached by the signed link of its notices (controller/ui/tenant-link.ts): the page
// (/t/{token} -> tenant.html, its assets under /t/assets/) and the JSON it reads (/t/{token}/api/...). The link
// is the credential, so these routes are public; every one checks it first (signature, expiry, revocation)
// and answers only about the link's tenant.
//
// Tenant-safe: nothing names another tenant. The incidents' own texts are written for tenants by the agent
// (agent/policy/explain.ts: "other customers"); contention.detail (whose pressure, by name) is never read
// here; and as a second lock the names of the other tenants of the tenant's hosts are replaced by "another
// customer" in every text shown.
import type { Resource } from '../../../shared/resources.js';
import { SeriesResponseSchema, UsageQuerySchema, type IncidentDetail } from '../../../shared/wire/api.js';
import type { RemediationCase } from '../../../shared/wire/remediation.js';
import {
  TenantCaseListSchema,
  TenantCaseParamsSchema,
  TenantCaseSchema,
  TenantIncidentListSchema,
  TenantSummarySchema,
  TenantTokenParamsSchema,
  AssetParamsSchema,
  type TenantCase,
  type TenantIncident,
} from '../../../shared/wire/ui.js';
import { INFECTED_HINTS, MANUAL_HINTS, REMEDIATION_HINTS } from '../../notices/hints.js';
import { CaseRefusal } from '../../remediation/machine.js';
import { stepWords } from '../../remediation/notices.js';
import { TENANT_BY } from '../../remediation/service.js';
import type { TenantLinkClaims } from '../../ui/tenant-link.js';
import { emptyBody, ERROR_RESPONSES, type App, type RouteDeps } from '../common.js';
import { ApiError, NotFoundError } from '../errors.js';
import { refuse, sendAsset, sendHtml } from '../ui-files.js';
import { historyQuery } from './history.js';
import { remediationOf } from './remediation.js';
import { Type } from 'typebox';
import { EmptyBodySchema } from '../../../shared/wire/files.js';

const PUBLIC = { auth: 'public' } as const;
const tags = ['tenant pages'];
/** An altered or malformed link is forbidden; an expired or revoked one is gone. */
const STATUS = { malformed: 403, bad_signature: 403, expired: 410, revoked: 410 } as const;
const RECENT_INCIDENTS = 50;

/** Replace whole-word occurrences of `names` in `text` with "another customer". */
export function scrubNames(text: string, names: readonly string[]): string {
  let out = text;
  for (const name of names) {
    if (name.length === 0) continue;
    const escaped = name.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
    out = out.replace(new RegExp(`(?<![A-Za-z0-9._-])${escaped}(?![A-Za-z0-9_-]|\\.[A-Za-z0-9])`, 'g'), 'another customer');
  }
  return out;
}

function hintsFor(d: IncidentDetail): string[] {
  if (d.manual) return [...MANUAL_HINTS];
  if (d.rule === 'infected') return [...INFECTED_HINTS];
  return [...(REMEDIATION_HINTS[d.resource as Resource] ?? [])];
}

export function tenantIncident(d: IncidentDetail, others: readonly string[]): TenantIncident {
  const x = d.explanation;
  const say = (s: string) => scrubNames(s, others);
  return {
    id: d.id,
    host: d.host,
    resource: d.resource,
    state: d.state,
    step: d.step,
    level: d.level,
    manual: d.manual,
    opened_at: d.opened_at,
    released_at: d.released_at,
    until: d.until,
    summary: say(x.summary),
    action: say(x.action),
    avoid: say(x.avoid),
    measured: x.measured ? { value: String(x.measured.value), unit: x.measured.unit } : null,
    threshold: x.threshold ? { value: String(x.threshold.value), unit: x.threshold.unit, kind: x.threshold.kind } : null,
    share: x.share ? { yours: x.share.tenant, fair: x.share.fair } : null,
    others_waiting: x.contention.contended,
    top_processes: x.top_processes.slice(0, 10).map((p) => ({ pid: p.pid, command: say(p.command).slice(0, 512), cpu_percent: p.cpu_percent, rss_bytes: p.rss_bytes })),
    what_to_change: hintsFor(d),
  };
}

function tenantCase(c: RemediationCase, others: readonly string[]): TenantCase {
  const canAck = c.state === 'open' || (c.state === 'overdue' && c.acknowledged_at === null);
  return {
    id: c.id,
    host: c.host,
    state: c.state,
    what: scrubNames(c.what, others),
    opened_at: c.opened_at,
    deadline: c.deadline,
    acknowledged_at: c.acknowledged_at,
    resolved_at: c.resolved_at,
    if_not_fixed: stepWords(c),
    can_acknowledge: canAck,
  };
}

export async function registerTenantPageRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { ui, store, now } = deps;

  /** The link's claims, or the refusal thrown (JSON) / sent (HTML). */
  const claimsOf = async (token: string): Promise<TenantLinkClaims> => {
    const check = await ui.links.check(token);
    if (!check.ok) throw new ApiError(STATUS[check.reason], `link_${check.reason}`, check.message);
    return check.claims;
  };
  /** The other tenants of the tenant's hosts: the names no text shown may carry. */
  const othersOf = async (tenant: string, hosts: readonly string[]): Promise<string[]> => {
    const names = new Set<string>();
    for (const host of hosts) for (const t of (await store.listTenants({ host, limit: 10_000 })).tenants) names.add(t.name);
    names.delete(tenant);
    // Longest first, so that a name containing another is replaced whole.
    return [...names].sort((a, b) => b.length - a.length);
  };
  const hostsOf = async (tenant: string): Promise<string[]> => {
    const t = await store.getTenant(tenant);
    const hosts = new Set<string>();
    if (t?.host) hosts.add(t.host);
    for (const i of await store.listIncidents({ tenant, limit: RECENT_INCIDENTS })) hosts.add(i.host);
    return [...hosts].sort();
  };
  const html = { 200: Type.String({ description: 'an HTML page' }), ...ERROR_RESPONSES };

  app.get(
    '/t/:token',
    { config: PUBLIC, schema: { operationId: 'getTenantPage', summary: "The tenant's usage page (dist/ui/tenant.html) when the link verifies", tags, security: [], params: TenantTokenParamsSchema, response: html } },
    async (request, reply) => {
      const check = await ui.links.check(request.params.token);
      if (!check.ok) {
        const title = check.reason === 'expired' ? 'This link has expired' : check.reason === 'revoked' ? 'This link was withdrawn' : 'This link is not valid';
        return refuse(request, reply, STATUS[check.reason], `link_${check.reason}`, title, check.message);
      }
      return sendHtml(request, reply, ui.dir, 'tenant.html');
    },
  );

  app.get(
    '/t/assets/:file',
    { config: PUBLIC, schema: { operationId: 'getTenantPageAsset', summary: "The tenant page's assets (dist/ui/assets/)", tags, security: [], params: AssetParamsSchema, response: html } },
    async (request, reply) => sendAsset(request, reply, ui.dir, request.params.file),
  );

  app.get(
    '/t/:token/api/summary',
    { config: PUBLIC, schema: { operationId: 'getTenantPageSummary', summary: 'The tenant of the link: its plan, whom to contact, its hosts', tags, security: [], params: TenantTokenParamsSchema, response: { 200: TenantSummarySchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const claims = await claimsOf(request.params.token);
      const t = await store.getTenant(claims.tenant);
      if (!t) throw new NotFoundError('no usage is recorded for this account yet');
      const planName = t.spec?.plan ?? t.plan;
      const plan = planName ? (await store.listPlans()).find((p) => p.name === planName) : undefined;
      return {
        tenant: t.name,
        plan: plan ? { name: plan.name, ...plan.plan } : null,
        contact: { email: ui.support.email ?? null, url: ui.support.url ?? null },
        hosts: await hostsOf(t.name),
        open_incidents: t.open_incidents,
        link_expires_at: new Date(claims.expiresAt).toISOString(),
      };
    },
  );

  app.get(
    '/t/:token/api/usage',
    {
      config: PUBLIC,
      schema: { operationId: 'getTenantPageUsage', summary: "The link's tenant's usage series (as GET /v1/tenants/{tenant}/usage)", tags, security: [], params: TenantTokenParamsSchema, querystring: UsageQuerySchema, response: { 200: SeriesResponseSchema, ...ERROR_RESPONSES } },
    },
    async (request) => {
      const claims = await claimsOf(request.params.token);
      const r = await store.tenantHistory(claims.tenant, historyQuery(request.query, now()));
      if (!r) throw new NotFoundError('no usage is recorded for this account yet');
      return r;
    },
  );

  app.get(
    '/t/:token/api/incidents',
    { config: PUBLIC, schema: { operationId: 'getTenantPageIncidents', summary: "The link's tenant's open and recent incidents, explained for the tenant", tags, security: [], params: TenantTokenParamsSchema, response: { 200: TenantIncidentListSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const claims = await claimsOf(request.params.token);
      const list = await store.listIncidents({ tenant: claims.tenant, limit: RECENT_INCIDENTS });
      const others = await othersOf(claims.tenant, [...new Set(list.map((i) => i.host))]);
      const incidents: TenantIncident[] = [];
      for (const i of list) {
        const d = await store.getIncident(i.id);
        if (d && d.tenant === claims.tenant) incidents.push(tenantIncident(d, others));
      }
      // Open ones first, then the newest.
      incidents.sort((a, b) => (a.state === b.state ? b.opened_at.localeCompare(a.opened_at) : a.state === 'open' ? -1 : 1));
      return { incidents };
    },
  );

  app.get(
    '/t/:token/api/remediation',
    { config: PUBLIC, schema: { operationId: 'getTenantPageRemediation', summary: "The link's tenant's remediation requests", tags, security: [], params: TenantTokenParamsSchema, response: { 200: TenantCaseListSchema, ...ERROR_RESPONSES } } },
    async (request) => {
      const claims = await claimsOf(request.params.token);
      const cases = await remediationOf(deps).list({ tenant: claims.tenant, limit: 50 });
      const others = await othersOf(claims.tenant, [...new Set(cases.map((c) => c.host))]);
      return { cases: cases.filter((c) => c.tenant === claims.tenant).map((c) => tenantCase(c, others)) };
    },
  );

  app.post(
    '/t/:token/api/remediation/:id/ack',
    {
      config: PUBLIC,
      schema: { operationId: 'postTenantPageRemediationAck', summary: 'The tenant acknowledges one of its remediation requests', tags, security: [], params: TenantCaseParamsSchema, body: EmptyBodySchema, response: { 200: TenantCaseSchema, ...ERROR_RESPONSES } },
      validatorCompiler: emptyBody,
    },
    async (request) => {
      const claims = await claimsOf(request.params.token);
      const service = remediationOf(deps);
      const c = await service.get(request.params.id);
      // Another tenant's case is as unknown as a missing one.
      if (!c || c.tenant !== claims.tenant) throw new NotFoundError(`no remediation request ${request.params.id} for this account`);
      try {
        const done = await service.acknowledge(c.id, TENANT_BY);
        request.log.info({ case: done.id, tenant: done.tenant }, 'remediation case acknowledged on the tenant page');
        return tenantCase(done, await othersOf(claims.tenant, [done.host]));
      } catch (err) {
        if (err instanceof CaseRefusal) throw new ApiError(409, err.code, `${err.message}: nothing to acknowledge`);
        throw err;
      }
    },
  );
}
