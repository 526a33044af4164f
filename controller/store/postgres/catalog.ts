// Hosts, tenants, plans, manual actions and the policy they make, on PostgreSQL. Read from the tables on every
// call (no cache: another controller may have changed them), so a policy's ETag, a hash of its content, is the
// same whichever controller answers.
import { createHash } from 'node:crypto';
import type { HostInventory, ManualAction, Plan, Policy, TenantSpec } from '../../../shared/wire/agent.js';
import type { ActionStatus, HostDetail, HostInfo, PlanEntry, PlanPut, TenantDetail, TenantInfo, TenantPut } from '../../../shared/wire/api.js';
import { decayedDebt, hostLedgerOf, type HostLedger } from '../../fairness.js';
import { HOST_WIDTH, TENANT_METRICS, TENANT_WIDTH } from '../../history/catalog.js';
import { decodeVector, findSample } from '../../history/codec.js';
import { SnapshotNoticeTx } from '../notice-snapshot.js';
import { actionStatus, effectiveState, manualAction, newActionRow, type ActionRow } from '../action-rows.js';
import { ConflictStateError, InvalidError, MissingError, UnknownPlanError } from '../errors.js';
import type { ActionFilter, ActionInput, ActionQueuedHook, TenantFilter } from '../store.js';
import type { PgDatabase, Queryable } from './db.js';
import type { PgFiles } from './files.js';
import { ensureHost, insertTenant } from './ingest.js';
import { moveOutOfLedger } from './ledger.js';
import { PgWhere } from './notices.js';
import { loadPlans, TENANT_COLUMNS, TENANT_FROM, tenantOf, weightOf, type PgTenant, type Plans, type TenantRow } from './rows.js';

const iso = (t: number): string => new Date(t).toISOString();
const isoOrNull = (t: number | null | undefined): string | null => (t === null || t === undefined ? null : iso(t));

interface LastReport {
  id: number;
  seq: number;
  at: number;
  interval_ms: number;
  meta: string;
  host_values: Buffer;
}

/** The newest report of a host (by time, then arrival), as GET /v1/hosts and history need it. */
export async function lastReport(q: Queryable, hostId: number): Promise<LastReport | undefined> {
  const r = await q.query<LastReport>('SELECT id, seq, at, interval_ms, meta, host_values FROM reports WHERE host_id = $1 ORDER BY at DESC, id DESC LIMIT 1', [hostId]);
  return r.rows[0];
}

export class PgCatalog {
  constructor(
    private readonly db: PgDatabase,
    private readonly opts: { now: () => number; halfLifeMs: number; actionHooks: Set<ActionQueuedHook>; files: PgFiles },
  ) {}

  // --- hosts -----------------------------------------------------------------------------------------------
  async listHosts(): Promise<HostInfo[]> {
    const hosts = await this.db.query<{ id: number; name: string; first_seen: number; last_seen: number | null }>('SELECT id, name, first_seen, last_seen FROM hosts ORDER BY name');
    const counts = await this.countsByHost();
    const out: HostInfo[] = [];
    for (const h of hosts) out.push(await this.hostInfo(h, counts));
    return out.sort((a, b) => a.host.localeCompare(b.host));
  }

  async getHost(name: string): Promise<HostDetail | undefined> {
    const [h] = await this.db.query<{ id: number; name: string; first_seen: number; last_seen: number | null }>('SELECT id, name, first_seen, last_seen FROM hosts WHERE name = $1', [name]);
    if (!h) return undefined;
    const info = await this.hostInfo(h, await this.countsByHost());
    const [inv] = await this.db.query<{ reported_at: number; inventory: string }>('SELECT reported_at, inventory FROM host_inventory WHERE host_id = $1', [h.id]);
    return { ...info, inventory: inv ? { ...(JSON.parse(inv.inventory) as HostInventory), reported_at: iso(inv.reported_at) } : null };
  }

  private async countsByHost(): Promise<{ tenants: Map<number, number>; open: Map<number, number> }> {
    const t = await this.db.query<{ host_id: number; n: number }>('SELECT host_id, count(*)::int AS n FROM tenants WHERE host_id IS NOT NULL GROUP BY host_id');
    const o = await this.db.query<{ host_id: number; n: number }>("SELECT host_id, count(*)::int AS n FROM incidents WHERE state = 'open' GROUP BY host_id");
    return { tenants: new Map(t.map((r) => [r.host_id, r.n])), open: new Map(o.map((r) => [r.host_id, r.n])) };
  }

  private async hostInfo(h: { id: number; name: string; first_seen: number; last_seen: number | null }, counts: { tenants: Map<number, number>; open: Map<number, number> }): Promise<HostInfo> {
    const last = await lastReport(this.db.pool, h.id);
    const meta = last ? (JSON.parse(last.meta) as { host_stats: HostInfo['host_stats']; collectors?: HostInfo['collectors']; agent_version?: string; ledger_shares?: HostLedger['shares'] }) : null;
    const fair = last ? hostLedgerOf(decodeVector(last.host_values, HOST_WIDTH)) : null;
    return {
      host: h.name,
      first_seen: iso(h.first_seen),
      last_seen: isoOrNull(h.last_seen),
      last_report_at: isoOrNull(last?.at),
      last_seq: last?.seq ?? null,
      agent_version: meta?.agent_version ?? null,
      tenants: counts.tenants.get(h.id) ?? 0,
      open_incidents: counts.open.get(h.id) ?? 0,
      host_stats: meta?.host_stats ?? null,
      collectors: meta?.collectors ?? null,
      fairness: fair ? { jain: fair.jain, fair_share: fair.fair, active_tenants: fair.active, ...(meta?.ledger_shares ? { shares: meta.ledger_shares } : {}) } : null,
    };
  }

  // --- tenants ---------------------------------------------------------------------------------------------
  private async tenant(q: Queryable, name: string): Promise<PgTenant | undefined> {
    const r = await q.query<TenantRow>(`SELECT ${TENANT_COLUMNS} FROM ${TENANT_FROM} WHERE t.name = $1`, [name]);
    return r.rows[0] ? tenantOf(r.rows[0]) : undefined;
  }

  private async hostNames(): Promise<Map<number, string>> {
    return new Map((await this.db.query<{ id: number; name: string }>('SELECT id, name FROM hosts')).map((r) => [r.id, r.name]));
  }

  private info(t: PgTenant, plans: Plans, hosts: Map<number, string>, open: number, now: number): TenantInfo {
    return {
      name: t.name,
      host: t.hostId === null ? null : (hosts.get(t.hostId) ?? null),
      managed: t.spec !== null,
      plan: t.spec?.plan ?? t.reported?.plan ?? null,
      weight: weightOf(plans, t),
      spec: t.spec,
      reported: t.reported,
      first_seen: isoOrNull(t.firstSeen),
      last_seen: isoOrNull(t.lastSeen),
      debt: t.debt ? decayedDebt(t.debt, now, this.opts.halfLifeMs) : 0,
      open_incidents: open,
    };
  }

  async listTenants(filter: TenantFilter): Promise<{ tenants: TenantInfo[]; total: number }> {
    const where = new PgWhere();
    if (filter.host !== undefined) where.add((p) => `host_id = (SELECT id FROM hosts WHERE name = ${p})`, filter.host);
    if (filter.managed !== undefined) where.add((p) => (filter.managed ? `spec IS NOT NULL AND ${p}` : `spec IS NULL AND ${p}`), true);
    const rows = await this.db.query<TenantRow>(`SELECT * FROM (SELECT ${TENANT_COLUMNS} FROM ${TENANT_FROM}) t ${where} ORDER BY name COLLATE "C"`, where.params);
    const offset = filter.offset ?? 0;
    const page = rows.slice(offset, filter.limit === undefined ? undefined : offset + filter.limit);
    const plans = await loadPlans(this.db.pool);
    const hosts = await this.hostNames();
    const open = new Map((await this.db.query<{ tenant: string; n: number }>("SELECT tenant, count(*)::int AS n FROM incidents WHERE state = 'open' GROUP BY tenant")).map((r) => [r.tenant, r.n]));
    const now = this.opts.now();
    return { tenants: page.map((r) => this.info(tenantOf(r), plans, hosts, open.get(r.name) ?? 0, now)), total: rows.length };
  }

  private async openOf(name: string): Promise<number> {
    return (await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM incidents WHERE state = 'open' AND tenant = $1", [name]))[0]!.n;
  }

  async getTenant(name: string): Promise<TenantDetail | undefined> {
    const t = await this.tenant(this.db.pool, name);
    if (!t) return undefined;
    const info = this.info(t, await loadPlans(this.db.pool), await this.hostNames(), await this.openOf(name), this.opts.now());
    let latest: TenantDetail['latest'] = null;
    if (t.hostId !== null) {
      const last = await this.db.query<{ at: number; samples: Buffer }>('SELECT at, samples FROM reports WHERE host_id = $1 ORDER BY at DESC, id DESC LIMIT 1', [t.hostId]);
      const row = last[0] ? findSample(last[0].samples, t.id, TENANT_WIDTH) : undefined;
      if (last[0] && row) {
        const values: Record<string, number> = {};
        TENANT_METRICS.forEach((d, i) => {
          if (!Number.isNaN(row[i])) values[d.name] = row[i]! / d.scale;
        });
        latest = { at: iso(last[0].at), values };
      }
    }
    return { ...info, latest };
  }

  async putTenant(name: string, body: TenantPut): Promise<{ tenant: TenantInfo; created: boolean }> {
    if (body.name !== undefined && body.name !== name) throw new InvalidError(`name: "${body.name}" differs from the tenant's name ("${name}")`);
    const now = this.opts.now();
    const created = await this.db.tx(async (c) => {
      const plans = await loadPlans(c);
      if (!plans.has(body.plan)) throw new UnknownPlanError(body.plan);
      const existing = await this.tenant(c, name);
      const hostName = body.host ?? (existing?.hostId != null ? (await c.query<{ name: string }>('SELECT name FROM hosts WHERE id = $1', [existing.hostId])).rows[0]?.name : undefined);
      if (!hostName) throw new InvalidError(`host: required for a tenant that has not reported yet (${name})`);
      const spec: TenantSpec = { ...body, name, host: hostName };
      const host = await ensureHost(c, hostName, now);
      if (existing) {
        if (existing.hostId !== null && existing.hostId !== host.id) await moveOutOfLedger(c, existing.id, existing.hostId);
        await c.query('UPDATE tenants SET spec = $1, host_id = $2, updated_at = $3 WHERE id = $4', [JSON.stringify(spec), host.id, now, existing.id]);
        return false;
      }
      const id = await insertTenant(c, name, host.id, null, JSON.stringify(spec), now);
      if (id === undefined) throw new ConflictStateError('conflict', `tenant ${name} was created meanwhile; try again`);
      return true;
    });
    const t = (await this.tenant(this.db.pool, name))!;
    return { tenant: this.info(t, await loadPlans(this.db.pool), await this.hostNames(), await this.openOf(name), now), created };
  }

  async deleteTenant(name: string): Promise<boolean> {
    const now = this.opts.now();
    const r = await this.db.query<{ id: number }>(
      `WITH gone AS (DELETE FROM tenants WHERE name = $1 AND first_seen IS NULL AND reported IS NULL RETURNING id),
            cleared AS (UPDATE tenants SET spec = NULL, updated_at = $2 WHERE name = $1 AND NOT (first_seen IS NULL AND reported IS NULL) RETURNING id)
       SELECT id FROM gone UNION ALL SELECT id FROM cleared`,
      [name, now],
    );
    return r.length > 0;
  }

  async listPlans(): Promise<PlanEntry[]> {
    const plans = await loadPlans(this.db.pool);
    const counts = new Map((await this.db.query<{ plan: string; n: number }>("SELECT spec::json->>'plan' AS plan, count(*)::int AS n FROM tenants WHERE spec IS NOT NULL GROUP BY 1")).map((r) => [r.plan, r.n]));
    return [...plans.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([name, p]) => ({ name, plan: p.plan, updated_at: iso(p.updatedAt), tenants: counts.get(name) ?? 0 }));
  }

  async putPlan(name: string, body: PlanPut): Promise<{ plan: PlanEntry; created: boolean }> {
    const now = this.opts.now();
    const plan: Plan = { ...body, weight: body.weight ?? 1 };
    const [r] = await this.db.query<{ created: boolean }>(
      'INSERT INTO plans (name, spec, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at RETURNING (xmax = 0) AS created',
      [name, JSON.stringify(plan), now],
    );
    const [n] = await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM tenants WHERE spec IS NOT NULL AND spec::json->>'plan' = $1", [name]);
    return { plan: { name, plan, updated_at: iso(now), tenants: n!.n }, created: r!.created };
  }

  // --- policy ----------------------------------------------------------------------------------------------
  async getPolicy(hostName: string): Promise<{ policy: Policy; etag: string }> {
    const now = this.opts.now();
    const plans: Record<string, Plan> = {};
    for (const [name, p] of [...(await loadPlans(this.db.pool)).entries()].sort((a, b) => a[0].localeCompare(b[0]))) plans[name] = p.plan;
    const [host] = await this.db.query<{ id: number }>('SELECT id FROM hosts WHERE name = $1', [hostName]);
    const tenants: TenantSpec[] = [];
    const actions: ManualAction[] = [];
    if (host) {
      for (const r of await this.db.query<{ spec: string }>('SELECT spec FROM tenants WHERE host_id = $1 AND spec IS NOT NULL ORDER BY name COLLATE "C"', [host.id])) tenants.push(JSON.parse(r.spec) as TenantSpec);
      for (const row of await this.db.query<ActionRow>("SELECT * FROM actions WHERE host_id = $1 AND state IN ('pending', 'applied') ORDER BY created_at, id", [host.id])) {
        const state = effectiveState(row, now);
        if (state === 'pending' || (state === 'applied' && (row.action === 'throttle' || row.action === 'quarantine'))) actions.push(manualAction(row));
      }
    }
    const policy: Policy = { host: hostName, tenants, plans, actions };
    // Restores, deletes and scans asked for (issue 16): present only when there are any, as from SQLite.
    const requests = host ? await this.opts.files.forPolicy(host.id) : undefined;
    if (requests?.file_requests.length) policy.file_requests = requests.file_requests;
    if (requests?.scan_requests.length) policy.scan_requests = requests.scan_requests;
    const etag = `"${createHash('sha256').update(JSON.stringify(policy)).digest('base64url').slice(0, 32)}"`;
    return { policy, etag };
  }

  // --- manual actions --------------------------------------------------------------------------------------
  async queueAction(tenantName: string, req: ActionInput, by: string): Promise<ActionStatus> {
    const t = await this.tenant(this.db.pool, tenantName);
    if (!t) throw new MissingError(`tenant ${tenantName} is not known`);
    if (t.hostId === null) throw new ConflictStateError('no_host', `tenant ${tenantName} has no host yet`);
    const now = this.opts.now();
    const row = newActionRow(tenantName, t.hostId, req, by, now);
    const hostName = (await this.hostNames()).get(t.hostId) ?? '?';
    const status = actionStatus(row, hostName, now);
    const afterCommit: Array<() => void> = [];
    await this.db.tx(async (c) => {
      await c.query(
        'INSERT INTO actions (id, tenant, host_id, action, level, reason, by, created_at, expires_at, state, state_at, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
        [row.id, row.tenant, row.host_id, row.action, row.level, row.reason, row.by, row.created_at, row.expires_at, row.state, row.state_at, row.message],
      );
      // Hooks get an outbox with nothing loaded: none writes notices for actions today (a store bug otherwise, rolled back).
      for (const hook of this.opts.actionHooks) hook(status, { now, notices: new SnapshotNoticeTx({}), afterCommit: (fn) => void afterCommit.push(fn) });
    });
    for (const fn of afterCommit) fn();
    return status;
  }

  async listActions(filter: ActionFilter): Promise<ActionStatus[]> {
    const where = new PgWhere().add((p) => `tenant = ${p}`, filter.tenant).add((p) => `host_id = (SELECT id FROM hosts WHERE name = ${p})`, filter.host);
    const hosts = await this.hostNames();
    const now = this.opts.now();
    const rows = await this.db.query<ActionRow>(`SELECT * FROM actions ${where} ORDER BY created_at DESC, id LIMIT 1000`, where.params);
    return rows.map((r) => actionStatus(r, hosts.get(r.host_id) ?? '?', now));
  }

  async getAction(id: string): Promise<ActionStatus | undefined> {
    const [r] = await this.db.query<ActionRow>('SELECT * FROM actions WHERE id = $1', [id]);
    return r ? actionStatus(r, (await this.hostNames()).get(r.host_id) ?? '?', this.opts.now()) : undefined;
  }
}
