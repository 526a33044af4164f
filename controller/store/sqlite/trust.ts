// The trust boundaries of controller/trust.ts, applied by the store: a report screened item by item inside its
// transaction (ingest.ts stores only what passes), and unmanaged tenants expired once unseen for
// tenants.unmanaged_ttl.
//
// Which tenants belong to a host is the writer's memory (writer-state.ts, TenantState.hostId): a managed
// tenant's host is the admin's (PUT /v1/tenants/{t}), an unmanaged one's the first host that reported it.
// Nothing here moves a tenant: a host that goes quiet keeps its tenants, only an admin moves one.
import type Database from 'better-sqlite3';
import type { ActionAck, IncidentEvent, TenantInfoWire } from '../../../shared/wire/agent.js';
import { TENANT_WIDTH } from '../../history/catalog.js';
import type { PreparedReport } from '../../ingest/prepare.js';
import { DEFAULT_TENANT_LIMITS, MAX_LISTED_REJECTIONS, noRejections, type RejectionKind, type Rejections, type TenantLimits } from '../../trust.js';
import { assertOpen, type StoreContext } from './context.js';
import { RejectionLog, type RejectionNote } from './rejection-log.js';
import type { Tenants } from './tenants.js';
import type { HostState, TenantState } from './writer-state.js';

/** Expired tenants deleted per transaction (the event loop is let through between them). */
const EXPIRY_CHUNK = 500;

function statements(db: Database.Database) {
  return {
    action: db.prepare<[string], { tenant: string; host_id: number; reason: string; by: string | null }>('SELECT tenant, host_id, reason, by FROM actions WHERE id = ?'),
    claimTenant: db.prepare<[number, number]>('UPDATE tenants SET host_id = ? WHERE id = ? AND host_id IS NULL'),
    retire: db.prepare<[number, string, number | null, number]>('INSERT OR REPLACE INTO retired_tenants (id, name, host_id, retired_at) VALUES (?, ?, ?, ?)'),
    deleteTenant: db.prepare<[number]>('DELETE FROM tenants WHERE id = ?'),
  };
}

/** What of a report the store takes: everything, or what is left once the refused items are out. */
export interface ScreenedReport {
  /** The tenants of the accepted samples, in order. */
  samples: TenantState[];
  /** Their values, samples.length x TENANT_WIDTH (the report's own array when no sample was refused). */
  values: Float64Array;
  directory: Array<{ info: TenantInfoWire; tenant: TenantState }>;
  /** Accepted events; a `manual` field is the queued action's (its reason and by as the admin gave them). */
  events: IncidentEvent[];
  acks: ActionAck[];
  /** Undefined when nothing was refused. */
  rejected: Rejections | undefined;
}

interface Refusal {
  kind: RejectionKind;
  message: string;
}

const isRefusal = (v: TenantState | Refusal): v is Refusal => 'kind' in v;

export class Trust {
  private readonly sql: ReturnType<typeof statements>;
  private readonly log: RejectionLog;
  /** Tenants that no report has mentioned since this store opened count as seen at its opening. */
  private readonly openedAt: number;

  constructor(
    private readonly ctx: StoreContext,
    private readonly tenants: Tenants,
    readonly limits: TenantLimits = DEFAULT_TENANT_LIMITS,
  ) {
    this.sql = statements(ctx.db);
    this.log = new RejectionLog(ctx.log);
    this.openedAt = ctx.now();
  }

  /**
   * A report of `host`, item by item (inside its transaction): samples and directory entries of this host's
   * tenants (new names become its unmanaged tenants, up to the cap), events of its tenants (or of names no
   * host has) with a `manual` field only for an action queued for that tenant on this host, acknowledgements
   * of actions queued for this host. New tenants go into `created`; memory changes are pushed to `after`.
   */
  screen(p: PreparedReport, host: HostState, created: Map<string, TenantState>, after: Array<() => void>): ScreenedReport {
    const { state } = this.ctx;
    const limit = this.limits.maxUnmanagedPerHost;
    let rejected: Rejections | undefined;
    const notes: RejectionNote[] = [];
    const reject = (why: Refusal, tenant: string, path: string) => {
      rejected ??= noRejections();
      rejected.counts[why.kind]++;
      if (rejected.items.length < MAX_LISTED_REJECTIONS) rejected.items.push({ kind: why.kind, path, message: why.message });
      notes.push({ kind: why.kind, tenant, path, message: why.message });
    };
    const refused = new Map<string, Refusal>();
    let unmanaged: number | undefined; // this host's unmanaged tenants, counted when a new name first needs it
    /** `name` as a tenant of this host; `create` makes a new name this host's (samples and directory). */
    const resolve = (name: string, at: number | null, create: boolean): TenantState | Refusal | undefined => {
      const no = refused.size ? refused.get(name) : undefined;
      if (no) return no;
      const t = state.tenants.get(name) ?? created.get(name);
      if (t) {
        if (t.hostId === host.id) return t;
        if (t.hostId === null && t.spec === null) {
          // A row from before tenants had hosts: the first host to report it takes it.
          this.sql.claimTenant.run(host.id, t.id);
          after.push(() => (t.hostId = host.id));
          return t;
        }
        const owner = t.hostId === null ? 'no host' : `host ${state.hostName(t.hostId)}`;
        const why: Refusal = {
          kind: 'cross_host',
          message: `tenant ${name} belongs to ${owner}, not to ${host.name}: an agent reports only its own host's tenants (an admin moves a tenant with PUT /v1/tenants/${name} and "host")`,
        };
        refused.set(name, why);
        return why;
      }
      if (!create) return undefined;
      unmanaged ??= this.countUnmanaged(host.id);
      if (unmanaged >= limit) {
        const why: Refusal = { kind: 'unmanaged_cap', message: `host ${host.name} already has ${limit} unmanaged tenants (tenants.max_per_host): ${name} was not added` };
        refused.set(name, why);
        return why;
      }
      unmanaged++;
      return this.tenants.forReport(name, host, at, created);
    };

    // Samples: the values of the refused ones are left out.
    const n = p.tenants.length;
    const samples: TenantState[] = [];
    let kept: number[] | undefined; // indexes of the accepted samples, once one was refused
    for (let k = 0; k < n; k++) {
      const name = p.tenants[k]!;
      // The common case first (a known tenant of this host, nothing refused yet): what `resolve` would answer.
      const known = refused.size === 0 ? state.tenants.get(name) : undefined;
      if (known !== undefined && known.hostId === host.id) {
        samples.push(known);
        kept?.push(k);
        continue;
      }
      const v = resolve(name, p.at, true)!;
      if (isRefusal(v)) {
        kept ??= Array.from({ length: k }, (_, i) => i);
        reject(v, name, `/samples/${k}`);
        continue;
      }
      samples.push(v);
      kept?.push(k);
    }
    const values = kept ? compact(p.values, kept) : p.values;

    const directory: ScreenedReport['directory'] = [];
    (p.directory ?? []).forEach((info, k) => {
      const v = resolve(info.name, null, true)!;
      if (isRefusal(v)) return reject(v, info.name, `/tenants/${k}`);
      directory.push({ info, tenant: v });
    });
    if (directory.length) {
      after.push(() => {
        for (const { tenant } of directory) if (tenant.directorySeenAt === undefined || p.at > tenant.directorySeenAt) tenant.directorySeenAt = p.at;
      });
    }

    const events: IncidentEvent[] = [];
    p.events.forEach((ev, k) => {
      const v = resolve(ev.tenant, null, false);
      if (v && isRefusal(v)) return reject(v, ev.tenant, `/events/${k}`);
      if (ev.manual) {
        const a = this.sql.action.get(ev.manual.action_id);
        if (!a || a.host_id !== host.id || a.tenant !== ev.tenant) {
          return reject(
            { kind: 'forged_manual', message: `event ${ev.id} names action ${ev.manual.action_id}, which is not a manual action queued for tenant ${ev.tenant} on host ${host.name}: only the controller's queued actions are an administrator's` },
            ev.tenant,
            `/events/${k}/manual`,
          );
        }
        if (a.reason !== ev.manual.reason || (a.by ?? undefined) !== ev.manual.by) {
          ev = { ...ev, manual: { action_id: ev.manual.action_id, reason: a.reason, ...(a.by !== null ? { by: a.by } : {}) } };
        }
      }
      events.push(ev);
    });

    const acks: ActionAck[] = [];
    p.acks.forEach((ack, k) => {
      const a = this.sql.action.get(ack.action_id);
      if (a && a.host_id !== host.id) {
        const why: Refusal = { kind: 'cross_host', message: `action ${ack.action_id} was queued for host ${state.hostName(a.host_id)}, not for ${host.name}` };
        return reject(why, a.tenant, `/acks/${k}`);
      }
      acks.push(ack);
    });

    if (notes.length) after.push(() => this.log.write(host.name, notes, this.ctx.now()));
    return { samples, values, directory, events, acks, rejected };
  }

  /** Unmanaged tenants of a host (all tenants are looked at: done once per report that adds a name). */
  private countUnmanaged(hostId: number): number {
    let n = 0;
    for (const t of this.ctx.state.tenants.values()) if (t.hostId === hostId && t.spec === null) n++;
    return n;
  }

  /** The newest time a report mentioned the tenant (a sample, a directory entry), else when this store opened. */
  lastMention(t: TenantState): number {
    const seen = Math.max(t.lastSeen ?? Number.NEGATIVE_INFINITY, t.firstSeen ?? Number.NEGATIVE_INFINITY, t.directorySeenAt ?? Number.NEGATIVE_INFINITY);
    return seen === Number.NEGATIVE_INFINITY ? this.openedAt : seen;
  }

  /**
   * Delete the unmanaged tenants not mentioned for tenants.unmanaged_ttl, with their directory entries; their
   * ids go to retired_tenants so retention still drops their history. Managed tenants never expire.
   */
  async expire(now: number): Promise<{ expired: number; names: string[] }> {
    const { ctx } = this;
    const { state } = ctx;
    assertOpen(ctx);
    const ttl = this.limits.unmanagedTtlMs;
    const names: string[] = [];
    if (!(ttl > 0)) return { expired: 0, names };
    const cut = now - ttl;
    const stale = (t: TenantState) => t.spec === null && this.lastMention(t) < cut;
    const candidates = [...state.tenants.values()].filter(stale);
    let expired = 0;
    for (let i = 0; i < candidates.length; i += EXPIRY_CHUNK) {
      if (ctx.closed()) break;
      const gone: TenantState[] = [];
      ctx.db.transaction(() => {
        for (const t of candidates.slice(i, i + EXPIRY_CHUNK)) {
          // Looked at again: a report or an admin may have come in between two chunks.
          if (state.tenants.get(t.name) !== t || !stale(t)) continue;
          this.sql.retire.run(t.id, t.name, t.hostId, now);
          this.sql.deleteTenant.run(t.id);
          gone.push(t);
        }
      })();
      for (const t of gone) {
        state.tenants.delete(t.name);
        state.hostOf(t)?.dirtyTenants.delete(t);
        if (names.length < 20) names.push(t.name);
      }
      expired += gone.length;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { expired, names };
  }
}

/** The rows `kept` of a tenants x TENANT_WIDTH matrix. */
function compact(values: Float64Array, kept: readonly number[]): Float64Array {
  const out = new Float64Array(kept.length * TENANT_WIDTH);
  kept.forEach((k, i) => out.set(values.subarray(k * TENANT_WIDTH, (k + 1) * TENANT_WIDTH), i * TENANT_WIDTH));
  return out;
}
