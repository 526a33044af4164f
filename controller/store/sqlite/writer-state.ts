// The write path's memory: everything the SQLite store keeps only in this process, in one owner.
//
// SINGLE WRITER. This assumes one controller writes the database, which the lock file (connection.ts)
// enforces: a second controller on the same file refuses to start. What lives here and why that is safe:
//   - minute buckets per host (history/rollup-buffer.ts), not yet written: the raw rows are the durable copy,
//     and `hosts.watermark` says which minutes are on disk; after a crash the raw rows from the watermark on
//     are replayed (load.ts), so nothing is lost or counted twice;
//   - each tenant's accrued fairness debt: stored in every raw row and saved to `tenants.debt` at each flush,
//     replayed like the buckets;
//   - hosts, tenants and plans: caches of their tables, changed only through this store (after the
//     transaction that writes the rows commits), so they never disagree with the database;
//   - the policy generation (and the policies cached by tenants.ts against it): derived, rebuilt when anything
//     they contain changes.
// A second controller against the same data (the PostgreSQL store of DESIGN 7) cannot share this memory. It
// needs either a lease per host (one controller owns a host's buckets, ledger and report sequence at a time;
// a new owner replays from the watermark like a restart) or this state in the database: rollups merged by
// UPSERT per report, debt read and written in the ingest transaction, and caches checked against a version
// column (or dropped) so a change made by another controller is seen.
import type { CollectorStatus, HostStats, Plan, TenantInfoWire, TenantSpec } from '../../../shared/wire/agent.js';
import type { DebtState, HostLedger } from '../../fairness.js';
import { Writer } from '../../history/codec.js';
import { HostRollups } from '../../history/rollup-buffer.js';

/** What a report says about its agent, kept with the report row (JSON) for GET /v1/hosts. */
export interface ReportMeta {
  host_stats: HostStats;
  collectors?: CollectorStatus[] | undefined;
  agent_version?: string | undefined;
}

export interface HostState {
  id: number;
  name: string;
  firstSeen: number;
  lastSeen: number | null;
  lastAt: number | null;
  lastSeq: number | null;
  lastReportId: number | null;
  lastIntervalMs: number;
  meta: ReportMeta | null;
  lastFair: HostLedger | null;
  /** Highest seq and newest time among the reports retention dropped: seqs up to it were seen. */
  retiredSeq: number | null;
  retiredAt: number | null;
  /** Minutes not yet written, and the watermark (the first minute not on disk). */
  rollups: HostRollups;
  /** Tenants whose ledger changed since the last flush (saved with it). */
  dirtyTenants: Set<TenantState>;
  dirty: boolean;
}

export interface TenantState {
  id: number;
  name: string;
  hostId: number | null;
  spec: TenantSpec | null;
  /** What its agent reported in the report's tenant directory (JSON kept as sent, to spot changes). */
  reported: TenantInfoWire | null;
  reportedJson: string | null;
  weight: number;
  firstSeen: number | null;
  lastSeen: number | null;
  debt: DebtState | undefined;
  /** Newest report whose directory listed it (memory only: unmanaged tenants expire unseen, trust.ts). */
  directorySeenAt?: number | undefined;
}

export class WriterState {
  readonly hosts = new Map<string, HostState>();
  readonly hostsById = new Map<number, HostState>();
  readonly tenants = new Map<string, TenantState>();
  readonly plans = new Map<string, { plan: Plan; updatedAt: number }>();
  /** Hosts with rollups due to be written. */
  readonly due = new Set<HostState>();
  /** Bumped by every change to what a host's policy contains (tenants.ts rebuilds an older one). */
  policyGeneration = 0;
  /** Scratch space for encoding samples and closed minutes, and for small rows (the store is synchronous). */
  readonly writer = new Writer(256 * 1024);
  readonly smallWriter = new Writer(1024);

  newHost(id: number, name: string, firstSeen: number, lastSeen: number | null, watermark: number | null): HostState {
    return {
      id,
      name,
      firstSeen,
      lastSeen,
      lastAt: null,
      lastSeq: null,
      lastReportId: null,
      lastIntervalMs: 0,
      meta: null,
      lastFair: null,
      retiredSeq: null,
      retiredAt: null,
      rollups: new HostRollups(watermark, this.writer, this.smallWriter),
      dirtyTenants: new Set(),
      dirty: false,
    };
  }

  registerHost(h: HostState): void {
    this.hosts.set(h.name, h);
    this.hostsById.set(h.id, h);
  }

  /** The host a tenant is on, if any. */
  hostOf(t: TenantState): HostState | undefined {
    return t.hostId === null ? undefined : this.hostsById.get(t.hostId);
  }

  /** A host's name by id ('?' for one that is gone). */
  hostName(id: number): string {
    return this.hostsById.get(id)?.name ?? '?';
  }

  /** The weight of the managed spec's plan, else of the plan its agent reported, when defined here; else 1. */
  weightOf(spec: TenantSpec | null, reported: TenantInfoWire | null): number {
    const plan = spec?.plan ?? reported?.plan;
    return (plan === undefined ? undefined : this.plans.get(plan)?.plan.weight) ?? 1;
  }

  /** Something a policy contains changed (tenants, plans, actions). */
  policyChanged(): void {
    this.policyGeneration++;
  }

  /** Minute buckets held in memory, all hosts. */
  bufferedBuckets(): number {
    let n = 0;
    for (const h of this.hosts.values()) n += h.rollups.size;
    return n;
  }
}
