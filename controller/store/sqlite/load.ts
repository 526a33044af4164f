// Starting the store: hosts, tenants and plans read into the writer's memory, and the raw rows not yet in the
// rollup tables (from each host's watermark on) replayed into its minute buckets and its tenants' ledgers, so
// a crash loses nothing and counts nothing twice (writer-state.ts).
import type Database from 'better-sqlite3';
import type { Plan, TenantInfoWire, TenantSpec } from '../../../shared/wire/agent.js';
import { hostLedgerOf, storedDebt } from '../../fairness.js';
import { HOST_WIDTH } from '../../history/catalog.js';
import { decodeVector } from '../../history/codec.js';
import { hostSeries } from '../../history/series.js';
import type { StoreContext } from './context.js';
import type { Rollups } from './rollups.js';
import type { ReportMeta, TenantState } from './writer-state.js';

type HostRow = { id: number; name: string; first_seen: number; last_seen: number | null; watermark: number | null; retired_seq: number | null; retired_at: number | null };
type TenantRow = { id: number; name: string; host_id: number | null; spec: string | null; reported: string | null; first_seen: number | null; last_seen: number | null; debt: number; debt_at: number | null };

function statements(db: Database.Database) {
  return {
    plans: db.prepare<[], { name: string; spec: string; updated_at: number }>('SELECT name, spec, updated_at FROM plans'),
    hosts: db.prepare<[], HostRow>('SELECT * FROM hosts'),
    tenants: db.prepare<[], TenantRow>('SELECT id, name, host_id, spec, reported, first_seen, last_seen, debt, debt_at FROM tenants'),
    lastReport: db.prepare<[number], { id: number; seq: number; at: number; received: number; interval_ms: number; meta: string; host_values: Buffer }>(
      'SELECT id, seq, at, received, interval_ms, meta, host_values FROM reports WHERE host_id = ? ORDER BY id DESC LIMIT 1',
    ),
    reportsSince: db.prepare<[number, number], { id: number; at: number; interval_ms: number; host_values: Buffer; samples: Buffer }>(
      'SELECT id, at, interval_ms, host_values, samples FROM reports WHERE host_id = ? AND at >= ? ORDER BY at, id',
    ),
  };
}

/** Fill the writer's memory from the database and replay what the rollup tables do not hold yet. */
export function loadState(ctx: StoreContext, rollups: Rollups): void {
  const { state } = ctx;
  const sql = statements(ctx.db);
  for (const p of sql.plans.all()) state.plans.set(p.name, { plan: JSON.parse(p.spec) as Plan, updatedAt: p.updated_at });
  for (const h of sql.hosts.all()) {
    const host = state.newHost(h.id, h.name, h.first_seen, h.last_seen, h.watermark);
    host.retiredSeq = h.retired_seq;
    host.retiredAt = h.retired_at;
    state.registerHost(host);
  }
  const tenantsById = new Map<number, TenantState>();
  for (const t of sql.tenants.all()) {
    const spec = t.spec ? (JSON.parse(t.spec) as TenantSpec) : null;
    const reported = t.reported ? (JSON.parse(t.reported) as TenantInfoWire) : null;
    const tenant: TenantState = {
      id: t.id,
      name: t.name,
      hostId: t.host_id,
      spec,
      reported,
      reportedJson: t.reported,
      weight: state.weightOf(spec, reported),
      firstSeen: t.first_seen,
      lastSeen: t.last_seen,
      hostSeenAt: t.last_seen,
      debt: t.debt_at === null ? undefined : { debt: t.debt, at: t.debt_at },
    };
    state.tenants.set(t.name, tenant);
    tenantsById.set(t.id, tenant);
  }
  let replayed = 0;
  for (const host of state.hosts.values()) {
    const last = sql.lastReport.get(host.id);
    if (last) {
      host.lastReportId = last.id;
      host.lastSeq = last.seq;
      host.lastAt = last.at;
      host.lastSeen = Math.max(host.lastSeen ?? 0, last.received);
      host.lastIntervalMs = last.interval_ms;
      host.meta = JSON.parse(last.meta) as ReportMeta;
      host.lastFair = hostLedgerOf(decodeVector(last.host_values, HOST_WIDTH));
    }
    const watermark = host.rollups.watermark;
    if (watermark === null) continue;
    for (const r of sql.reportsSince.iterate(host.id, watermark)) {
      replayed++;
      host.rollups.replay(r.at, r.samples, r.host_values, hostSeries(host.id), (id, row) => {
        const t = tenantsById.get(id);
        if (!t) return;
        const debt = storedDebt(row);
        if (debt !== undefined && (!t.debt || r.at >= t.debt.at)) t.debt = { debt, at: r.at };
        if (t.lastSeen === null || r.at > t.lastSeen) t.lastSeen = r.at;
      });
    }
    host.rollups.closeComplete();
    rollups.checkDue(host, ctx.now());
  }
  if (replayed) ctx.log?.info({ reports: replayed }, 'replayed raw reports not yet rolled up');
}
