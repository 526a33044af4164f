// Rows of the PostgreSQL store read into what its parts work with: tenants (with their weight from the plans)
// and the acc arrays of the rollup tables (migration 2). Nothing here is cached between calls: another
// controller may have changed any row (pg-store.ts).
import type { Plan, TenantInfoWire, TenantSpec } from '../../../shared/wire/agent.js';
import type { DebtState } from '../../fairness.js';
import type { Queryable } from './db.js';

export interface PgTenant {
  id: number;
  name: string;
  hostId: number | null;
  spec: TenantSpec | null;
  reported: TenantInfoWire | null;
  reportedJson: string | null;
  firstSeen: number | null;
  lastSeen: number | null;
  debt: DebtState | undefined;
  directorySeenAt: number | null;
}

/** A tenant row as stored (its debt and last_seen without its host's ledger: ingest.ts reads the ledger itself). */
export const TENANT_ROW_COLUMNS = 'id, name, host_id, spec, reported, first_seen, last_seen, debt, debt_at, directory_seen_at';

/**
 * The tenants joined with their host's ledger (migration 3): `SELECT ${TENANT_COLUMNS} FROM ${TENANT_FROM}`.
 * The debt is the ledger's entry when the host's ledger has one, else the row's; last_seen the greater of the
 * row's (rewritten only when 5 minutes behind) and the entry's time (the newest report that carried the tenant).
 */
export const TENANT_FROM = 'tenants t LEFT JOIN host_ledgers l ON l.host = t.host_id LEFT JOIN LATERAL (SELECT array_position(l.tenant_ids, t.id) AS k) p ON true';
export const TENANT_COLUMNS = `t.id, t.name, t.host_id, t.spec, t.reported, t.first_seen,
  CASE WHEN p.k IS NULL THEN t.last_seen ELSE greatest(t.last_seen, l.debt_ats[p.k]) END AS last_seen,
  CASE WHEN p.k IS NULL THEN t.debt ELSE l.debts[p.k] END AS debt,
  CASE WHEN p.k IS NULL THEN t.debt_at ELSE l.debt_ats[p.k] END AS debt_at, t.directory_seen_at`;

export interface TenantRow {
  id: number;
  name: string;
  host_id: number | null;
  spec: string | null;
  reported: string | null;
  first_seen: number | null;
  last_seen: number | null;
  debt: number;
  debt_at: number | null;
  directory_seen_at: number | null;
}

export function tenantOf(r: TenantRow): PgTenant {
  return {
    id: r.id,
    name: r.name,
    hostId: r.host_id,
    spec: r.spec === null ? null : (JSON.parse(r.spec) as TenantSpec),
    reported: r.reported === null ? null : (JSON.parse(r.reported) as TenantInfoWire),
    reportedJson: r.reported,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    debt: r.debt_at === null ? undefined : { debt: r.debt, at: r.debt_at },
    directorySeenAt: r.directory_seen_at,
  };
}

export type Plans = Map<string, { plan: Plan; updatedAt: number }>;

export async function loadPlans(q: Queryable): Promise<Plans> {
  const r = await q.query<{ name: string; spec: string; updated_at: number }>('SELECT name, spec, updated_at FROM plans ORDER BY name');
  return new Map(r.rows.map((p) => [p.name, { plan: JSON.parse(p.spec) as Plan, updatedAt: p.updated_at }]));
}

/** The weight of the managed spec's plan, else of the plan its agent reported, when defined; else 1. */
export function weightOf(plans: Plans, t: Pick<PgTenant, 'spec' | 'reported'>): number {
  const plan = t.spec?.plan ?? t.reported?.plan;
  return (plan === undefined ? undefined : plans.get(plan)?.plan.weight) ?? 1;
}
