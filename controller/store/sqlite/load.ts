// Starting the store: hosts, tenants and plans read into the writer's memory, and the raw rows not yet in the
// rollup tables (from each host's watermark on) replayed into its minute buckets and its tenants' ledgers, so
// a crash loses nothing and counts nothing twice (writer-state.ts).
//
// A damaged row never stops the start (damage.ts): a plan whose JSON does not parse or is out of range is
// left out (its tenants weigh 1); a tenant's spec or directory entry that does not parse is read as absent
// (the tenant stays, so its name keeps its row); a debt out of range starts from zero; a raw report whose
// blob does not decode is not replayed; each is logged, counted and shown in GET /healthz.
import type Database from 'better-sqlite3';
import { Type } from 'typebox';
import { PlanSchema, TenantInfoWireSchema, TenantSpecSchema, type HostStats } from '../../../shared/wire/agent.js';
import { MAX_DEBT } from '../../../shared/wire/bounds.js';
import { hostLedgerOf, storedDebt } from '../../fairness.js';
import { HOST_WIDTH, TENANT_WIDTH } from '../../history/catalog.js';
import { decodeVector, forEachSample } from '../../history/codec.js';
import { hostSeries } from '../../history/series.js';
import type { StoreContext } from './context.js';
import { columnCheck } from './damage.js';
import type { Rollups } from './rollups.js';
import type { ReportMeta, TenantState } from './writer-state.js';

/** What GET /v1/hosts needs of a report's meta column (host_stats an object; the rest as stored). */
const MetaSchema = Type.Object({ host_stats: Type.Object({}, { additionalProperties: true }) }, { additionalProperties: true });

/** A time or sequence column: a safe integer, else null (with the row noted by the caller). */
const intOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) ? v : null);

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
  const { state, damaged } = ctx;
  const sql = statements(ctx.db);
  for (const p of sql.plans.all()) {
    const plan = damaged.json('plans', p.name, 'spec', p.spec, columnCheck(PlanSchema));
    if (plan) state.plans.set(p.name, { plan, updatedAt: intOrNull(p.updated_at) ?? 0 });
  }
  for (const h of sql.hosts.all()) {
    const firstSeen = intOrNull(h.first_seen);
    const watermark = intOrNull(h.watermark);
    if (firstSeen === null || (h.watermark !== null && watermark === null)) damaged.note('hosts', h.name, 'first_seen or watermark is not a time');
    // A watermark that is not a time is dropped: the host's next report sets a new one.
    const host = state.newHost(h.id, h.name, firstSeen ?? ctx.now(), intOrNull(h.last_seen), watermark);
    host.retiredSeq = intOrNull(h.retired_seq);
    host.retiredAt = intOrNull(h.retired_at);
    state.registerHost(host);
  }
  const tenantsById = new Map<number, TenantState>();
  for (const t of sql.tenants.all()) {
    const spec = t.spec === null ? null : (damaged.json('tenants', t.name, 'spec', t.spec, columnCheck(TenantSpecSchema)) ?? null);
    const reported = t.reported === null ? null : (damaged.json('tenants', t.name, 'reported', t.reported, columnCheck(TenantInfoWireSchema)) ?? null);
    const debtAt = intOrNull(t.debt_at);
    const debtOk = typeof t.debt === 'number' && Math.abs(t.debt) <= MAX_DEBT;
    if (t.debt_at !== null && (debtAt === null || !debtOk)) damaged.note('tenants', t.name, `debt ${String(t.debt)} at ${String(t.debt_at)} is out of range; it starts again from 0`);
    const tenant: TenantState = {
      id: t.id,
      name: t.name,
      hostId: t.host_id,
      spec,
      reported,
      reportedJson: reported ? t.reported : null,
      weight: state.weightOf(spec, reported),
      firstSeen: intOrNull(t.first_seen),
      lastSeen: intOrNull(t.last_seen),
      debt: debtAt === null || !debtOk ? undefined : { debt: t.debt, at: debtAt },
    };
    state.tenants.set(t.name, tenant);
    tenantsById.set(t.id, tenant);
  }
  let replayed = 0;
  for (const host of state.hosts.values()) {
    const last = sql.lastReport.get(host.id);
    if (last) {
      host.lastReportId = last.id;
      host.lastSeq = intOrNull(last.seq);
      host.lastAt = intOrNull(last.at);
      host.lastSeen = Math.max(host.lastSeen ?? 0, intOrNull(last.received) ?? 0);
      host.lastIntervalMs = intOrNull(last.interval_ms) ?? 0;
      const meta = damaged.json('reports', last.id, 'meta', last.meta, columnCheck(MetaSchema));
      host.meta = meta ? ({ ...meta, host_stats: meta.host_stats as HostStats } as ReportMeta) : null;
      host.lastFair = damaged.decode('reports', last.id, () => hostLedgerOf(decodeVector(last.host_values, HOST_WIDTH))) ?? null;
    }
    const watermark = host.rollups.watermark;
    if (watermark === null) continue;
    for (const r of sql.reportsSince.iterate(host.id, watermark)) {
      // Read through once before anything is added, so a blob damaged half-way adds nothing (only the rows
      // since the watermark are replayed: at most a flush interval's worth, and what a crash left).
      const readable = damaged.decode('reports', r.id, () => {
        forEachSample(r.samples, TENANT_WIDTH, () => {});
        decodeVector(r.host_values, HOST_WIDTH);
        return true;
      });
      if (!readable) continue;
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
  if (damaged.count) ctx.log?.warn({ damaged_rows: damaged.count }, 'started with damaged rows skipped (GET /healthz shows the count; restore a backup to get them back)');
}
