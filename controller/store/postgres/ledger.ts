// The fairness ledger of a host on PostgreSQL (migration 3, host_ledgers): its tenants' debt and the time of
// it, in one row that a report rewrites once, under its host's advisory lock (HOST_LOCK below), so the
// read in the report's transaction and the write at its end are never interleaved with another report of the
// host, whichever controller has it. A tenant's debt is the entry of its host's ledger (rows.ts TENANT_FROM),
// else tenants.debt/debt_at: a tenant an admin moves to another host takes its entry along (moveOutOfLedger),
// as in SQLite, whose ledger is per tenant.
import type pg from 'pg';
import type { DebtState } from '../../fairness.js';
import type { Queryable } from './db.js';

/** The advisory lock class of a host's ingest ('hw' + host: the second key is hashtext(host name)). */
export const HOST_LOCK = 0x68776873;

/** A host_ledgers row as read (bigint[] arrives as strings: the pool parses only scalar BIGINTs). */
export interface LedgerRow {
  tenant_ids: Array<string | number> | null;
  debts: number[] | null;
  debt_ats: Array<string | number> | null;
}

/** The entries of a ledger row by tenant id (empty for a host without a ledger yet). */
export function ledgerEntries(row: LedgerRow | undefined): Map<number, DebtState> {
  const out = new Map<number, DebtState>();
  const ids = row?.tenant_ids;
  if (!ids) return out;
  for (let k = 0; k < ids.length; k++) out.set(Number(ids[k]), { debt: row.debts![k]!, at: Number(row.debt_ats![k]) });
  return out;
}

/**
 * The host's ledger after a report: the report's tenants' balances, and the entries of the other tenants of
 * the host that the report did not carry (`keep`: those still on the host; an expired or deleted tenant's
 * entry goes with the next report).
 */
export function mergedLedger(ids: readonly number[], balances: readonly DebtState[], before: ReadonlyMap<number, DebtState>, keep: ReadonlySet<number>): { ids: number[]; debts: number[]; ats: number[] } {
  const out = { ids: [...ids], debts: balances.map((b) => b.debt), ats: balances.map((b) => b.at) };
  if (keep.size === 0) return out;
  const inReport = new Set(ids);
  for (const [id, d] of before) {
    if (inReport.has(id) || !keep.has(id)) continue;
    out.ids.push(id);
    out.debts.push(d.debt);
    out.ats.push(d.at);
  }
  return out;
}

/** Of the ledger's tenants the report did not carry, those still on the host (one query, only when any). */
export async function stillOnHost(c: Queryable, hostId: number, reported: readonly number[], before: ReadonlyMap<number, DebtState>): Promise<Set<number>> {
  const inReport = new Set(reported);
  const others = [...before.keys()].filter((id) => !inReport.has(id));
  if (others.length === 0) return new Set();
  const r = await c.query<{ id: number }>('SELECT id FROM tenants WHERE host_id = $1 AND id = ANY($2::bigint[])', [hostId, others]);
  return new Set(r.rows.map((x) => x.id));
}

/**
 * Before a tenant leaves host `fromHost` (an admin moves it): its ledger entry, if any, into tenants.debt and
 * debt_at (and its time into last_seen when later) and out of the host's ledger, under the host's lock (taken first, as a report takes it, so a report
 * of that host in flight finishes before and none rewrites the ledger from a read made before this).
 */
export async function moveOutOfLedger(c: pg.PoolClient, tenantId: number, fromHost: number): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock($1, hashtext(name)) FROM hosts WHERE id = $2', [HOST_LOCK & 0x7fffffff, fromHost]);
  const r = await c.query<LedgerRow>('SELECT tenant_ids, debts, debt_ats FROM host_ledgers WHERE host = $1', [fromHost]);
  const before = ledgerEntries(r.rows[0]);
  const entry = before.get(tenantId);
  if (!entry) return;
  await c.query('UPDATE tenants SET debt = $1, debt_at = $2, last_seen = greatest(last_seen, $2) WHERE id = $3', [entry.debt, entry.at, tenantId]);
  before.delete(tenantId);
  const ids = [...before.keys()];
  await c.query('UPDATE host_ledgers SET tenant_ids = $1::bigint[], debts = $2::float8[], debt_ats = $3::bigint[] WHERE host = $4', [
    ids,
    ids.map((id) => before.get(id)!.debt),
    ids.map((id) => before.get(id)!.at),
    fromHost,
  ]);
}
