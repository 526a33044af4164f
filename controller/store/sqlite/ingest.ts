// Ingest: one report, once per (host, seq), in one transaction:
//   - one `reports` row: the samples packed into a blob (history/codec.ts), keyed by arrival order, plus two
//     small index entries (host, seq) and (host, at): appends, never random page writes per tenant;
//   - the fairness ledger computed from the report (fairness.ts accrueReport) and stored in the same blob;
//   - the agent's tenant directory, its host inventory, incident events (with the hooks: the notices) and action
//     acknowledgements.
// Before any of it, the report is screened item by item (trust.ts): what touches another host's tenants, new
// unmanaged tenants past the host's cap and forged administrator's events are left out and counted.
// Memory (writer-state.ts) follows only after the commit (`after`), so a report that rolls back leaves no
// trace there. Its rollups go to the host's minute buckets, or, for a report older than the host's watermark
// (a spool backlog after an outage), straight into the rollup rows (rollups.ts).
import type Database from 'better-sqlite3';
import { accrueReport, capacityOf, type DebtState } from '../../fairness.js';
import { HOST_WIDTH, TENANT_WIDTH } from '../../history/catalog.js';
import { CodecError, encodeSamples, encodeVector } from '../../history/codec.js';
import { MAX_CLOCK_AHEAD_MS, reportAccumulators } from '../../history/rollup-buffer.js';
import { floorTo, MINUTE_MS } from '../../history/rollup.js';
import { hostSeries } from '../../history/series.js';
import type { PreparedReport } from '../../ingest/prepare.js';
import { ConflictStateError, InvalidError } from '../errors.js';
import type { IngestResult } from '../store.js';
import type { Actions } from './actions.js';
import { assertOpen, iso, type StoreContext } from './context.js';
import type { Hosts } from './hosts.js';
import type { Incidents } from './incidents.js';
import type { QuarantinedFiles } from './quarantined-files.js';
import type { Rollups } from './rollups.js';
import type { Tenants } from './tenants.js';
import type { Trust } from './trust.js';
import type { Web } from './web.js';
import type { HostState, ReportMeta, TenantState } from './writer-state.js';

function statements(db: Database.Database) {
  return {
    setWatermark: db.prepare<[number, number]>('UPDATE hosts SET watermark = ? WHERE id = ?'),
    setTenantFirstSeen: db.prepare<[number, number]>('UPDATE tenants SET first_seen = ? WHERE id = ?'),
    setTenantReported: db.prepare<[string, number]>('UPDATE tenants SET reported = ? WHERE id = ?'),
    findReport: db.prepare<[number, number], { at: number }>('SELECT at FROM reports WHERE host_id = ? AND seq = ?'),
    insertReport: db.prepare<[number, number, number, number, number, number, string, Buffer, Buffer]>(
      'INSERT INTO reports (host_id, seq, at, received, interval_ms, n, meta, host_values, samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
  };
}

export interface IngestParts {
  hosts: Hosts;
  tenants: Tenants;
  incidents: Incidents;
  actions: Actions;
  rollups: Rollups;
  trust: Trust;
  files: QuarantinedFiles;
  web: Web;
}

/**
 * The report's rows, encoded before anything is written: a value the codec cannot store exactly (which the
 * wire schemas' ranges keep out) refuses the report here, inside its transaction, never half-written.
 */
function encodeReport(ids: number[], values: Float64Array, n: number, hv: Float64Array, state: StoreContext['state']): { blob: Buffer; hostBlob: Buffer } {
  try {
    return { blob: encodeSamples(ids, values, n, TENANT_WIDTH, state.writer), hostBlob: encodeVector(hv, HOST_WIDTH, state.smallWriter) };
  } catch (err) {
    if (err instanceof CodecError) throw new InvalidError(`report cannot be stored: ${err.message}`);
    throw err;
  }
}

const duplicate = (seq: number): IngestResult => ({ accepted: true, duplicate: true, seq, samples: 0, events: 0, acks: 0 });

export class Ingest {
  private readonly sql: ReturnType<typeof statements>;
  /** `report` wrapped in a transaction once (better-sqlite3 builds a wrapper per transaction() call). */
  private readonly transaction: (p: PreparedReport, now: number, after: Array<() => void>) => IngestResult;

  constructor(
    private readonly ctx: StoreContext,
    private readonly parts: IngestParts,
  ) {
    this.sql = statements(ctx.db);
    this.transaction = ctx.db.transaction((p: PreparedReport, now: number, after: Array<() => void>) => this.report(p, now, after));
  }

  ingest(p: PreparedReport): IngestResult {
    assertOpen(this.ctx);
    const now = this.ctx.now();
    if (p.at > now + MAX_CLOCK_AHEAD_MS) {
      throw new InvalidError(`at /at: ${iso(p.at)} is more than ${MAX_CLOCK_AHEAD_MS / 60_000} minutes ahead of the controller's clock (${iso(now)}); check the agent host's clock`);
    }
    const after: Array<() => void> = [];
    const result = this.transaction(p, now, after);
    for (const fn of after) fn();
    return result;
  }

  private report(p: PreparedReport, now: number, after: Array<() => void>): IngestResult {
    const { ctx, parts } = this;
    const { state } = ctx;
    const host = parts.hosts.ensure(p.host, now, after);
    const rollups = host.rollups;
    const prior = host.lastReportId === null && rollups.watermark === null ? undefined : this.sql.findReport.get(host.id, p.seq);
    const conflict = (at: string) =>
      new ConflictStateError('seq_conflict', `seq ${p.seq} of host ${p.host} was already used by a report at ${at}, this one is at ${iso(p.at)}: the agent's sequence went back (was its spool lost?)`);
    if (prior) {
      if (prior.at === p.at) return duplicate(p.seq);
      throw conflict(iso(prior.at));
    }
    if (host.retiredSeq !== null && p.seq <= host.retiredSeq) {
      // Its raw row may be gone (retention), but a seq this low was seen: a resend, unless it is newer data.
      if (p.at <= (host.retiredAt ?? Number.NEGATIVE_INFINITY)) return duplicate(p.seq);
      throw conflict(`or before ${iso(host.retiredAt!)} (dropped by retention since)`);
    }
    // Tenants: ids, creating rows for new names; only this host's tenants pass the screen.
    const created = new Map<string, TenantState>();
    after.push(() => {
      for (const [name, t] of created) state.tenants.set(name, t);
    });
    const screened = parts.trust.screen(p, host, created, after);
    const n = screened.samples.length;
    const values = screened.values;
    const states = new Array<TenantState>(n);
    const ids = new Array<number>(n);
    const weights = new Array<number>(n);
    const balances = new Array<DebtState | undefined>(n);
    for (let k = 0; k < n; k++) {
      const t = screened.samples[k]!;
      if (t.firstSeen === null) {
        this.sql.setTenantFirstSeen.run(p.at, t.id);
        after.push(() => (t.firstSeen = p.at));
      }
      states[k] = t;
      ids[k] = t.id;
    }
    // The agent's directory of its tenants: kept as reported, it names plans (weights) and emails.
    for (const { info, tenant: t } of screened.directory) {
      const json = JSON.stringify(info);
      if (json === t.reportedJson) continue;
      this.sql.setTenantReported.run(json, t.id);
      after.push(() => {
        t.reported = info;
        t.reportedJson = json;
        t.weight = state.weightOf(t.spec, info);
      });
    }
    // Fairness ledger for this interval: weights as they were before this report's directory.
    for (let k = 0; k < n; k++) {
      weights[k] = states[k]!.weight;
      balances[k] = states[k]!.debt;
    }
    const stats = p.hostStats;
    const hv = p.hostValues;
    const ledger = accrueReport(
      { values, n, hostValues: hv, capacity: capacityOf(stats), weights, balances, at: p.at, intervalMs: p.intervalMs },
      ctx.fairness,
    );

    const meta: ReportMeta = { host_stats: stats, collectors: p.collectors, agent_version: p.agentVersion };
    const { blob, hostBlob } = encodeReport(ids, values, n, hv, state);
    const reportId = Number(this.sql.insertReport.run(host.id, p.seq, p.at, now, p.intervalMs, n, JSON.stringify(meta), hostBlob, blob).lastInsertRowid);

    // Rollups: in memory from the host's watermark on; a report older than that goes straight to the tables.
    const minute = floorTo(p.at, MINUTE_MS);
    const firstReport = rollups.watermark === null;
    if (firstReport) this.sql.setWatermark.run(minute, host.id);
    const late = rollups.isLate(p.at);
    if (late) parts.rollups.mergeIntoTables(minute, reportAccumulators(ids, values, n, hostSeries(host.id), hv));

    if (p.inventory) parts.hosts.putInventory(host.id, p.at, now, p.inventory);
    // Access-log counts, added once with the report that carries them (its (host, seq) is stored just above).
    const web = p.web || p.webLogs ? parts.web.addReport(host.id, p.at, new Map(states.map((t) => [t.name, t.id])), p.web, p.webLogs) : undefined;
    const newEvents = parts.incidents.store(host, screened.events, now);
    const ackChanges = parts.actions.applyAcks(host, screened.acks, now);
    const fileChanges = p.files.length || p.fileAcks.length ? parts.files.ingest(host, p.files, p.fileAcks, now, created).changed : false;
    if (newEvents.length) for (const hook of ctx.hooks.incident) hook(newEvents, ctx.hooks.tx(now));

    after.push(() => {
      if (firstReport) rollups.watermark = minute;
      this.remember(host, p, now, reportId, meta, ledger.host);
      for (let k = 0; k < n; k++) {
        const t = states[k]!;
        t.debt = ledger.balances[k];
        if (t.lastSeen === null || p.at > t.lastSeen) t.lastSeen = p.at;
        host.dirtyTenants.add(t);
      }
      if (!late) rollups.add(p.at, ids, values, n, hostSeries(host.id), hv);
      rollups.seen(p.at);
      parts.rollups.checkDue(host, now);
      if (ackChanges || fileChanges) state.policyChanged();
    });
    return { accepted: true, duplicate: false, seq: p.seq, samples: n, events: newEvents.length, acks: screened.acks.length, ...(screened.rejected ? { rejected: screened.rejected } : {}), ...(web ? { web } : {}) };
  }

  /** After the commit: the host's newest report (when this one is the newest) and its last contact. */
  private remember(host: HostState, p: PreparedReport, now: number, reportId: number, meta: ReportMeta, fair: HostState['lastFair']): void {
    host.lastSeen = now;
    if (host.lastAt === null || p.at >= host.lastAt) {
      host.lastAt = p.at;
      host.lastSeq = p.seq;
      host.lastReportId = reportId;
      host.lastIntervalMs = p.intervalMs;
      host.meta = meta;
      host.lastFair = fair;
    }
    host.dirty = true;
  }
}
