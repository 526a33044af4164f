// Tenants and plans: managed tenants (PUT by an admin, served in their host's policy), tenants only seen in
// reports, and the plans whose weights the fairness ledger uses. Then the policy they make, which an agent
// pulls: its host's managed tenants, every plan and its active manual actions, with an ETag. Policies are
// cached per host until anything they contain changes (WriterState.policyGeneration) or the first of their
// actions expires, so the agents' frequent pulls cost no query.
import type { QuarantinedFiles } from './quarantined-files.js';
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { TenantSpecSchema, type ManualAction, type Plan, type Policy, type TenantSpec } from '../../../shared/wire/agent.js';
import type { PlanEntry, PlanPut, TenantDetail, TenantInfo, TenantPut } from '../../../shared/wire/api.js';
import { decayedDebt } from '../../fairness.js';
import { TENANT_METRICS, TENANT_WIDTH } from '../../history/catalog.js';
import { findSample } from '../../history/codec.js';
import { InvalidError, UnknownPlanError } from '../errors.js';
import type { TenantFilter } from '../store.js';
import { effectiveState, manualAction, type ActionRow } from '../action-rows.js';
import { assertOpen, iso, isoOrNull, type StoreContext } from './context.js';
import { columnCheck } from './damage.js';
import type { Hosts } from './hosts.js';
import type { HostState, TenantState } from './writer-state.js';

/** A new tenant's id: above every id in use and every expired tenant's whose history is not gone yet (trust.ts). */
const NEW_TENANT_ID = '(SELECT max(coalesce((SELECT max(id) FROM tenants), 0), coalesce((SELECT max(id) FROM retired_tenants), 0)) + 1)';

function statements(db: Database.Database) {
  return {
    insertTenant: db.prepare<[string, number | null, number | null, number | null]>(`INSERT INTO tenants (id, name, host_id, first_seen, last_seen) VALUES (${NEW_TENANT_ID}, ?, ?, ?, ?)`),
    openIncidentsByTenant: db.prepare<[], { tenant: string; n: number }>("SELECT tenant, count(*) AS n FROM incidents WHERE state = 'open' GROUP BY tenant"),
    openIncidentsOfTenant: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM incidents WHERE state = 'open' AND tenant = ?"),
    reportSamples: db.prepare<[number], { id: number; at: number; samples: Buffer }>('SELECT id, at, samples FROM reports WHERE id = ?'),
    putTenantSpec: db.prepare<[string, number, number, number]>('UPDATE tenants SET spec = ?, host_id = ?, updated_at = ? WHERE id = ?'),
    insertManagedTenant: db.prepare<[string, number, string, number]>(`INSERT INTO tenants (id, name, host_id, spec, updated_at) VALUES (${NEW_TENANT_ID}, ?, ?, ?, ?)`),
    clearTenantSpec: db.prepare<[number, number]>('UPDATE tenants SET spec = NULL, updated_at = ? WHERE id = ?'),
    deleteTenant: db.prepare<[number]>('DELETE FROM tenants WHERE id = ?'),
    putPlan: db.prepare<[string, string, number]>('INSERT OR REPLACE INTO plans (name, spec, updated_at) VALUES (?, ?, ?)'),
  };
}

export class Tenants {
  private readonly sql: ReturnType<typeof statements>;

  constructor(
    private readonly ctx: StoreContext,
    private readonly hosts: Hosts,
  ) {
    this.sql = statements(ctx.db);
  }

  /**
   * The tenant of a name, as seen in a report of `host`; a new one gets its row inside the caller's
   * transaction and goes into `created` (the cache takes it after the commit).
   */
  forReport(name: string, host: HostState, at: number | null, created: Map<string, TenantState>): TenantState {
    const t = this.ctx.state.tenants.get(name) ?? created.get(name);
    if (t) return t;
    const id = Number(this.sql.insertTenant.run(name, host.id, at, at).lastInsertRowid);
    const nt: TenantState = { id, name, hostId: host.id, spec: null, reported: null, reportedJson: null, weight: 1, firstSeen: at, lastSeen: at, debt: undefined };
    created.set(name, nt);
    return nt;
  }

  private info(t: TenantState, openIncidents: number, now: number): TenantInfo {
    const { state } = this.ctx;
    return {
      name: t.name,
      host: state.hostOf(t)?.name ?? null,
      managed: t.spec !== null,
      plan: t.spec?.plan ?? t.reported?.plan ?? null,
      weight: t.weight,
      spec: t.spec,
      reported: t.reported,
      first_seen: isoOrNull(t.firstSeen),
      last_seen: isoOrNull(t.lastSeen),
      debt: t.debt ? decayedDebt(t.debt, now, this.ctx.fairness.halfLifeMs) : 0,
      open_incidents: openIncidents,
    };
  }

  list(filter: TenantFilter): { tenants: TenantInfo[]; total: number } {
    const { state } = this.ctx;
    const now = this.ctx.now();
    let hostId: number | undefined;
    if (filter.host !== undefined) {
      const h = state.hosts.get(filter.host);
      if (!h) return { tenants: [], total: 0 };
      hostId = h.id;
    }
    const all = [...state.tenants.values()]
      .filter((t) => (hostId === undefined || t.hostId === hostId) && (filter.managed === undefined || (t.spec !== null) === filter.managed))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const open = new Map(this.sql.openIncidentsByTenant.all().map((r) => [r.tenant, r.n]));
    const offset = filter.offset ?? 0;
    const page = all.slice(offset, filter.limit === undefined ? undefined : offset + filter.limit);
    return { tenants: page.map((t) => this.info(t, open.get(t.name) ?? 0, now)), total: all.length };
  }

  get(name: string): TenantDetail | undefined {
    const t = this.ctx.state.tenants.get(name);
    if (!t) return undefined;
    const now = this.ctx.now();
    const info = this.info(t, this.sql.openIncidentsOfTenant.get(name)?.n ?? 0, now);
    let latest: TenantDetail['latest'] = null;
    const host = this.ctx.state.hostOf(t);
    if (host?.lastReportId != null) {
      const r = this.sql.reportSamples.get(host.lastReportId);
      const row = r ? this.ctx.damaged.decode('reports', r.id, () => findSample(r.samples, t.id, TENANT_WIDTH)) : undefined;
      if (r && row) {
        const values: Record<string, number> = {};
        TENANT_METRICS.forEach((d, i) => {
          if (!Number.isNaN(row[i])) values[d.name] = row[i]! / d.scale;
        });
        latest = { at: iso(r.at), values };
      }
    }
    return { ...info, latest };
  }

  put(name: string, body: TenantPut): { tenant: TenantInfo; created: boolean } {
    const { ctx } = this;
    const { state } = ctx;
    assertOpen(ctx);
    if (body.name !== undefined && body.name !== name) throw new InvalidError(`name: "${body.name}" differs from the tenant's name ("${name}")`);
    if (!state.plans.has(body.plan)) throw new UnknownPlanError(body.plan);
    const existing = state.tenants.get(name);
    const hostName = body.host ?? (existing ? state.hostOf(existing)?.name : undefined);
    if (!hostName) throw new InvalidError(`host: required for a tenant that has not reported yet (${name})`);
    const now = ctx.now();
    const spec: TenantSpec = { ...body, name, host: hostName };
    const after: Array<() => void> = [];
    let created = false;
    ctx.db.transaction(() => {
      const host = this.hosts.ensure(hostName, now, after);
      if (existing) {
        this.sql.putTenantSpec.run(JSON.stringify(spec), host.id, now, existing.id);
        after.push(() => {
          existing.spec = spec;
          existing.hostId = host.id;
          existing.weight = state.weightOf(spec, existing.reported);
        });
      } else {
        created = true;
        const id = Number(this.sql.insertManagedTenant.run(name, host.id, JSON.stringify(spec), now).lastInsertRowid);
        after.push(() =>
          state.tenants.set(name, { id, name, hostId: host.id, spec, reported: null, reportedJson: null, weight: state.weightOf(spec, null), firstSeen: null, lastSeen: null, debt: undefined }),
        );
      }
    })();
    for (const fn of after) fn();
    state.policyChanged();
    const t = state.tenants.get(name)!;
    return { tenant: this.info(t, this.sql.openIncidentsOfTenant.get(name)?.n ?? 0, now), created };
  }

  delete(name: string): boolean {
    const { ctx } = this;
    assertOpen(ctx);
    const t = ctx.state.tenants.get(name);
    if (!t) return false;
    if (t.firstSeen === null && t.reported === null) {
      this.sql.deleteTenant.run(t.id);
      ctx.state.tenants.delete(name);
    } else {
      this.sql.clearTenantSpec.run(ctx.now(), t.id);
      t.spec = null;
      t.weight = ctx.state.weightOf(null, t.reported);
    }
    ctx.state.policyChanged();
    return true;
  }

  listPlans(): PlanEntry[] {
    const { state } = this.ctx;
    const counts = new Map<string, number>();
    for (const t of state.tenants.values()) if (t.spec) counts.set(t.spec.plan, (counts.get(t.spec.plan) ?? 0) + 1);
    return [...state.plans.entries()]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([name, p]) => ({ name, plan: p.plan, updated_at: iso(p.updatedAt), tenants: counts.get(name) ?? 0 }));
  }

  putPlan(name: string, body: PlanPut): { plan: PlanEntry; created: boolean } {
    const { ctx } = this;
    const { state } = ctx;
    assertOpen(ctx);
    const now = ctx.now();
    const plan: Plan = { ...body, weight: body.weight ?? 1 };
    const created = !state.plans.has(name);
    this.sql.putPlan.run(name, JSON.stringify(plan), now);
    state.plans.set(name, { plan, updatedAt: now });
    let tenants = 0;
    for (const t of state.tenants.values()) {
      if (t.spec?.plan === name) tenants++;
      if ((t.spec?.plan ?? t.reported?.plan) === name) t.weight = plan.weight;
    }
    state.policyChanged();
    return { plan: { name, plan, updated_at: iso(now), tenants }, created };
  }
}

// --- policy ------------------------------------------------------------------------------------------------
interface CachedPolicy {
  generation: number;
  validUntil: number;
  policy: Policy;
  etag: string;
}

function policyStatements(db: Database.Database) {
  return {
    managedTenantsOfHost: db.prepare<[number], { name: string; spec: string }>('SELECT name, spec FROM tenants WHERE host_id = ? AND spec IS NOT NULL ORDER BY name'),
    activeActionsOfHost: db.prepare<[number], ActionRow>("SELECT * FROM actions WHERE host_id = ? AND state IN ('pending', 'applied') ORDER BY created_at, id"),
  };
}

export class Policies {
  private readonly sql: ReturnType<typeof policyStatements>;
  private readonly cache = new Map<string, CachedPolicy>();

  constructor(
    private readonly ctx: StoreContext,
    private readonly files?: QuarantinedFiles,
  ) {
    this.sql = policyStatements(ctx.db);
  }

  get(hostName: string): { policy: Policy; etag: string } {
    const { ctx } = this;
    assertOpen(ctx);
    const now = ctx.now();
    const generation = ctx.state.policyGeneration;
    const cached = this.cache.get(hostName);
    if (cached && cached.generation === generation && now < cached.validUntil) return cached;
    const host = ctx.state.hosts.get(hostName);
    const plans: Record<string, Plan> = {};
    for (const [name, p] of [...ctx.state.plans.entries()].sort((a, b) => a[0].localeCompare(b[0]))) plans[name] = p.plan;
    // A spec that does not parse (damage.ts) is left out of the policy rather than failing every agent's pull.
    const specCheck = columnCheck(TenantSpecSchema);
    const tenants: TenantSpec[] = host ? this.sql.managedTenantsOfHost.all(host.id).flatMap((r) => ctx.damaged.json('tenants', r.name, 'spec', r.spec, specCheck) ?? []) : [];
    const actions: ManualAction[] = [];
    let validUntil = Number.POSITIVE_INFINITY;
    if (host) {
      for (const row of this.sql.activeActionsOfHost.all(host.id)) {
        const state = effectiveState(row, now);
        const served = state === 'pending' || (state === 'applied' && (row.action === 'throttle' || row.action === 'quarantine'));
        if (!served) continue;
        if (row.expires_at !== null) validUntil = Math.min(validUntil, row.expires_at);
        actions.push(manualAction(row));
      }
    }
    const policy: Policy = { host: hostName, tenants, plans, actions };
    // Restores, deletes and scans asked for (issue 16): present only when there are any, so the policy an older agent gets is unchanged.
    const requests = host && this.files ? this.files.forPolicy(host.id) : undefined;
    if (requests?.file_requests.length) policy.file_requests = requests.file_requests;
    if (requests?.scan_requests.length) policy.scan_requests = requests.scan_requests;
    const etag = `"${createHash('sha256').update(JSON.stringify(policy)).digest('base64url').slice(0, 32)}"`;
    const entry = { generation, validUntil, policy, etag };
    this.cache.set(hostName, entry);
    return entry;
  }
}
