// Ingest on PostgreSQL: one report in one transaction, under a transaction-level advisory lock on its host
// (pg-store.ts: several controllers). Every piece of write-path state is read from and written to the
// database inside that transaction: the host row, the tenants of the report, their fairness debt, the plans
// (weights). The report row is inserted with ON CONFLICT (host_id, seq) DO NOTHING, and queued for its rollups
// (rollup_queue, rollups.ts) by the same statement, only when it was inserted.
import pg from 'pg';
import type { ActionAck, IncidentEvent, Plan, TenantInfoWire } from '../../../shared/wire/agent.js';
import { stateAfterAck, type ActionRow } from '../action-rows.js';
import { accrueReport, capacityOf, type DebtState } from '../../fairness.js';
import { HOST_WIDTH, TENANT_WIDTH } from '../../history/catalog.js';
import { CodecError, encodeSamples, encodeVector } from '../../history/codec.js';
import { MAX_CLOCK_AHEAD_MS } from '../../history/rollup-buffer.js';
import type { PreparedReport } from '../../ingest/prepare.js';
import { MAX_LISTED_REJECTIONS, noRejections, type RejectionKind, type Rejections, type TenantLimits } from '../../trust.js';
import { ConflictStateError, InvalidError } from '../errors.js';
import type { IncidentEventsHook, IngestResult, NewIncidentEvent } from '../store.js';
import type { PgFiles } from './files.js';
import type { PgIncidents } from './incidents.js';
import { runIncidentHooks } from './ingest-hooks.js';
import type { PgNotices } from './notices.js';
import type { PgWeb } from './web.js';
import type { PgDatabase, PipelinedTx } from './db.js';
import { HOST_LOCK, ledgerEntries, mergedLedger, stillOnHost, type LedgerRow } from './ledger.js';
import { binaryArray } from './binary-array.js';
import { TENANT_COLUMNS, TENANT_FROM, TENANT_ROW_COLUMNS, tenantOf, weightOf, type PgTenant, type Plans, type TenantRow } from './rows.js';

export interface HostRow {
  id: number;
  name: string;
  first_seen: number;
  last_seen: number | null;
  retired_seq: number | null;
  retired_at: number | null;
}

/**
 * A tenant's row's last_seen is rewritten when it is this far behind a report that carries the tenant (readers
 * take the greater of it and the tenant's ledger entry's time, rows.ts; a move takes the entry's time along).
 */
const LAST_SEEN_LAG_MS = 5 * 60_000;
const { escapeLiteral } = pg;
const iso = (t: number): string => new Date(t).toISOString();
const duplicate = (seq: number): IngestResult => ({ accepted: true, duplicate: true, seq, samples: 0, events: 0, acks: 0 });

/** The host row of `name`, made when missing (inside the caller's transaction). */
export async function ensureHost(c: pg.PoolClient, name: string, now: number): Promise<HostRow> {
  const r = await c.query<HostRow>(
    `WITH ins AS (INSERT INTO hosts (name, first_seen) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id, name, first_seen, last_seen, retired_seq, retired_at)
     SELECT * FROM ins UNION ALL SELECT id, name, first_seen, last_seen, retired_seq, retired_at FROM hosts WHERE name = $1`,
    [name, now],
  );
  return r.rows[0]!;
}

/**
 * Insert a tenant; undefined when the name exists meanwhile. Its id comes from the sequence `tenant_ids`
 * (migration 2): above every id in use and every expired tenant's (history keyed by an id is never another
 * tenant's), without a lock that would hold every new tenant of every host up until the report's commit.
 */
export async function insertTenant(c: pg.PoolClient, name: string, hostId: number, at: number | null, spec: string | null, updatedAt: number | null): Promise<number | undefined> {
  const r = await c.query<{ id: number }>(
    `INSERT INTO tenants (id, name, host_id, first_seen, last_seen, spec, updated_at) VALUES (nextval('tenant_ids'), $1, $2, $3, $3, $4, $5) ON CONFLICT (name) DO NOTHING RETURNING id`,
    [name, hostId, at, spec, updatedAt],
  );
  return r.rows[0]?.id;
}

interface Refusal {
  kind: RejectionKind;
  message: string;
}
const isRefusal = (v: PgTenant | Refusal): v is Refusal => 'kind' in v;

interface CachedTenants {
  hostId: number;
  version: number;
  tenants: ReadonlyMap<string, PgTenant>;
}

type ReadRow = HostRow & LedgerRow & { prior_at: number | null; plans: Array<[string, string, number]> | null; tenants_version: number; tenants: TenantRow[] | null };

/**
 * Everything a report needs, in one statement: the host (made when new), a prior report of this seq, the
 * host's ledger, the plans and the host's tenants (one index range, where looking up each name of the report
 * was hundreds of index descents), these only when their version (migration 4) is not the one this controller
 * keeps ($4 host id, $5 version).
 */
const READ_SQL = `WITH ins AS (INSERT INTO hosts (name, first_seen) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id, name, first_seen, last_seen, retired_seq, retired_at, tenants_version),
    h AS (SELECT * FROM ins UNION ALL SELECT id, name, first_seen, last_seen, retired_seq, retired_at, tenants_version FROM hosts WHERE name = $1)
  SELECT h.*, (SELECT r.at FROM reports r WHERE r.host_id = h.id AND r.seq = $3) AS prior_at,
    to_json(l.tenant_ids) AS tenant_ids, to_json(l.debts) AS debts, to_json(l.debt_ats) AS debt_ats,
    (SELECT json_agg(json_build_array(name, spec, updated_at) ORDER BY name) FROM plans) AS plans,
    CASE WHEN h.id = $4 AND h.tenants_version = $5 THEN NULL
         ELSE coalesce((SELECT json_agg(t) FROM (SELECT ${TENANT_ROW_COLUMNS} FROM tenants WHERE host_id = h.id) t), '[]') END AS tenants
  FROM h LEFT JOIN host_ledgers l ON l.host = h.id`;

/** Hosts whose tenants a controller keeps (ingest.ts PgIngest.tenantCache): about 300 tenants each. */
const TENANT_CACHE_HOSTS = 2000;

export class PgIngest {
  /**
   * Per host name, its tenants as read by its last report and the host's tenants_version then (migration 4).
   * Used only when the version read under the host's lock is the same: any change to a tenant of the host, by
   * any controller or admin, changes it in the same transaction (triggers), so a stale copy is never used.
   */
  private readonly tenantCache = new Map<string, CachedTenants>();

  constructor(
    private readonly db: PgDatabase,
    private readonly opts: { now: () => number; fairness: { halfLifeMs: number; activeThreshold: number }; limits: TenantLimits },
    private readonly parts: { incidents: PgIncidents; files: PgFiles; web: PgWeb; notices: PgNotices; incidentHooks: ReadonlySet<IncidentEventsHook> },
  ) {}

  async ingest(p: PreparedReport): Promise<IngestResult> {
    const now = this.opts.now();
    if (p.at > now + MAX_CLOCK_AHEAD_MS) {
      throw new InvalidError(`at /at: ${iso(p.at)} is more than ${MAX_CLOCK_AHEAD_MS / 60_000} minutes ahead of the controller's clock (${iso(now)}); check the agent host's clock`);
    }
    const afterCommit: Array<() => void> = [];
    // BEGIN and the host's lock in one round trip (a simple query: the name as an escaped literal). Generic
    // plans for the report's statements: PostgreSQL judged the write's generic plan dearer than a custom one
    // and planned it again at every report (0.17 ms of 1.2: pg_stat_statements.track_planning); its plan
    // does not depend on the values (a report row, its host's rows by key).
    const lock = `SET LOCAL plan_cache_mode = force_generic_plan; SELECT pg_advisory_xact_lock(${HOST_LOCK & 0x7fffffff}, hashtext(${escapeLiteral(p.host)}))`;
    const result = await this.db.tx((c, tx) => this.report(c, tx, p, now, afterCommit), lock, { pipelined: true });
    for (const fn of afterCommit) fn();
    return result;
  }

  private async report(c: pg.PoolClient, tx: PipelinedTx, p: PreparedReport, now: number, afterCommit: Array<() => void>): Promise<IngestResult> {
    // After the lock (taken by a statement of its own, with BEGIN: the next one's snapshot then has what the
    // host's previous report committed), everything the report needs in one statement (READ_SQL); the names
    // the report has beyond the host's tenants (new tenants, another host's) are read by name after it.
    const cached = this.tenantCache.get(p.host);
    // Sent behind BEGIN and the lock, in their round trip (tx pipelined).
    const [, read] = await Promise.all([tx.begun, c.query<ReadRow>({ name: 'hw-ingest-read', text: READ_SQL, values: [p.host, now, p.seq, cached?.hostId ?? -1, cached?.version ?? -1] })]);
    const row = read.rows[0]!;
    const names = [...new Set([...p.tenants, ...(p.directory ?? []).map((d) => d.name), ...p.events.map((e) => e.tenant)])];
    const host: HostRow = { id: row.id, name: row.name, first_seen: row.first_seen, last_seen: row.last_seen, retired_seq: row.retired_seq, retired_at: row.retired_at };
    const conflict = (at: string) =>
      new ConflictStateError('seq_conflict', `seq ${p.seq} of host ${p.host} was already used by a report at ${at}, this one is at ${iso(p.at)}: the agent's sequence went back (was its spool lost?)`);
    if (row.prior_at !== null) {
      if (row.prior_at === p.at) return duplicate(p.seq);
      throw conflict(iso(row.prior_at));
    }
    if (host.retired_seq !== null && p.seq <= host.retired_seq) {
      if (p.at <= (host.retired_at ?? Number.NEGATIVE_INFINITY)) return duplicate(p.seq);
      throw conflict(`or before ${iso(host.retired_at!)} (dropped by retention since)`);
    }
    const plans: Plans = new Map((row.plans ?? []).map(([name, spec, updatedAt]) => [name, { plan: JSON.parse(spec) as Plan, updatedAt }]));
    // A tenant's debt before this report: its entry in the host's ledger, else its row's (ledger.ts).
    const ledgerBefore = ledgerEntries(row);
    const known = new Map<string, PgTenant>();
    let mine: ReadonlyMap<string, PgTenant>;
    if (row.tenants === null && cached) {
      mine = cached.tenants;
      // Most recently used last: the cache forgets the host that reported least recently first.
      this.tenantCache.delete(p.host);
      this.tenantCache.set(p.host, cached);
    } else {
      mine = new Map((row.tenants ?? []).map((r) => [r.name, tenantOf(r)]));
      this.tenantCache.delete(p.host);
      this.tenantCache.set(p.host, { hostId: host.id, version: row.tenants_version, tenants: mine });
      if (this.tenantCache.size > TENANT_CACHE_HOSTS) this.tenantCache.delete(this.tenantCache.keys().next().value!);
    }
    const others = names.filter((n) => !mine.has(n));
    const more = others.length ? (await c.query<TenantRow>(`SELECT ${TENANT_ROW_COLUMNS} FROM tenants WHERE name = ANY($1::text[])`, [others])).rows : [];
    // Copies: this report's changes (its debt, a claimed host) stay in this report.
    for (const t of [...mine.values(), ...more.map(tenantOf)]) known.set(t.name, { ...t, debt: t.hostId === host.id && ledgerBefore.has(t.id) ? ledgerBefore.get(t.id) : t.debt });
    const screened = await this.screen(c, p, host, known);
    const n = screened.samples.length;
    const states = screened.samples;
    const ids = states.map((t) => t.id);
    const values = screened.values;
    const weights = states.map((t) => weightOf(plans, t));
    const balances: Array<DebtState | undefined> = states.map((t) => t.debt);
    const ledger = accrueReport(
      { values, n, hostValues: p.hostValues, capacity: capacityOf(p.hostStats), weights, balances, at: p.at, intervalMs: p.intervalMs },
      this.opts.fairness,
    );
    // The directory after the ledger: weights as they were before this report's directory (as in SQLite).
    const dirIds: number[] = [];
    const dirJson: string[] = [];
    for (const { info, tenant } of screened.directory) {
      dirIds.push(tenant.id);
      dirJson.push(JSON.stringify(info));
    }
    if (dirIds.length) {
      await c.query(
        `UPDATE tenants t SET reported = u.j, directory_seen_at = greatest(coalesce(t.directory_seen_at, $3), $3)
         FROM unnest($1::bigint[], $2::text[]) AS u(id, j) WHERE t.id = u.id`,
        [dirIds, dirJson, p.at],
      );
    }

    let blob: Buffer;
    let hostBlob: Buffer;
    try {
      blob = encodeSamples(ids, values, n, TENANT_WIDTH);
      hostBlob = encodeVector(p.hostValues, HOST_WIDTH);
    } catch (err) {
      if (err instanceof CodecError) throw new InvalidError(`report cannot be stored: ${err.message}`);
      throw err;
    }
    const meta = { host_stats: p.hostStats, collectors: p.collectors, agent_version: p.agentVersion, ...(ledger.host.shares ? { ledger_shares: ledger.host.shares } : {}) };
    // The host's ledger after this report; its tenants' rows only when their last_seen is 5 minutes behind
    // (rows.ts reads a tenant's last_seen as the greater of its row's and its ledger entry's).
    const ledgerAfter = n ? mergedLedger(ids, ledger.balances, ledgerBefore, await stillOnHost(c, host.id, ids, ledgerBefore)) : undefined;
    const behind = states.filter((t) => t.firstSeen === null || t.lastSeen === null || t.lastSeen <= p.at - LAST_SEEN_LAG_MS).map((t) => t.id);
    // One statement: the report row once per (host, seq), queued for its rollups, the host's ledger, last_seen
    // of the host and of the tenants behind, all only when the report was inserted.
    // When nothing follows the write (no inventory, web statistics, events, acks or files: most reports),
    // COMMIT goes out behind it in its round trip; a write that fails makes that COMMIT a rollback. A statement
    // added after the write below needs its condition here, or it would run after COMMIT, outside the report's
    // transaction.
    const last = !p.inventory && !p.web && !p.webLogs && screened.events.length === 0 && screened.acks.length === 0 && p.files.length === 0 && p.fileAcks.length === 0;
    const write = c.query<{ id: number }>({
      name: 'hw-ingest-write',
      text: `WITH r AS (
         INSERT INTO reports (host_id, seq, at, received, interval_ms, n, meta, host_values, samples)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (host_id, seq) DO NOTHING RETURNING id),
       q AS (INSERT INTO rollup_queue (report_id, host_id, at) SELECT id, $1, $3 FROM r RETURNING report_id),
       l AS (INSERT INTO host_ledgers (host, tenant_ids, debts, debt_ats) SELECT $1, $10::bigint[], $11::float8[], $12::bigint[] FROM r WHERE $13
             ON CONFLICT (host) DO UPDATE SET tenant_ids = excluded.tenant_ids, debts = excluded.debts, debt_ats = excluded.debt_ats),
       t AS (UPDATE tenants t SET first_seen = coalesce(t.first_seen, $3), last_seen = greatest(coalesce(t.last_seen, $3), $3)
             WHERE t.id = ANY($14::bigint[]) AND EXISTS (SELECT 1 FROM r)),
       h AS (UPDATE hosts SET last_seen = greatest(coalesce(last_seen, $4), $4) WHERE id = $1 AND EXISTS (SELECT 1 FROM r))
       SELECT report_id AS id FROM q`,
      values: [host.id, p.seq, p.at, now, p.intervalMs, n, JSON.stringify(meta), hostBlob, blob, binaryArray('int8', ledgerAfter?.ids ?? []), binaryArray('float8', ledgerAfter?.debts ?? []), binaryArray('int8', ledgerAfter?.ats ?? []), ledgerAfter !== undefined, binaryArray('int8', behind)],
    });
    const [inserted] = await Promise.all([write, last ? tx.commit() : undefined]);
    if (!inserted.rows[0]) return duplicate(p.seq); // not reached under the host lock; kept as the store's promise
    const { parts } = this;
    if (p.inventory) {
      await c.query(
        `INSERT INTO host_inventory (host_id, reported_at, received, inventory) VALUES ($1, $2, $3, $4)
         ON CONFLICT (host_id) DO UPDATE SET reported_at = excluded.reported_at, received = excluded.received, inventory = excluded.inventory
         WHERE excluded.reported_at >= host_inventory.reported_at`,
        [host.id, p.at, now, JSON.stringify(p.inventory)],
      );
    }
    const web = p.web || p.webLogs ? await parts.web.addReport(c, host.id, p.at, new Map(states.map((t) => [t.name, t.id])), p.web, p.webLogs) : undefined;
    let newEvents: NewIncidentEvent[] = [];
    if (screened.events.length) {
      // The events' explanations carry their tenants' debt before this report (as SQLite's do).
      const evNames = [...new Set(screened.events.map((e) => e.tenant))];
      const debts = new Map(states.map((t) => [t.name, t.debt]));
      const r = await c.query<{ name: string; debt: number; debt_at: number | null }>(`SELECT name, debt, debt_at FROM (SELECT ${TENANT_COLUMNS} FROM ${TENANT_FROM}) t WHERE name = ANY($1::text[])`, [evNames.filter((x) => !debts.has(x))]);
      for (const row of r.rows) debts.set(row.name, row.debt_at === null ? undefined : { debt: row.debt, at: row.debt_at });
      newEvents = await parts.incidents.store(c, host, screened.events, now, debts);
    }
    await applyAcks(c, host.id, screened.acks, now);
    if (p.files.length || p.fileAcks.length) await parts.files.ingest(c, host.id, p.files, p.fileAcks, now);
    await runIncidentHooks(c, parts.incidentHooks, parts.notices, host.name, newEvents, now, afterCommit);
    return {
      accepted: true,
      duplicate: false,
      seq: p.seq,
      samples: n,
      events: newEvents.length,
      acks: screened.acks.length,
      ...(screened.rejected ? { rejected: screened.rejected } : {}),
      ...(web ? { web } : {}),
    };
  }

  /** The report item by item, as sqlite/trust.ts screens it, with the tenants read from the database. */
  private async screen(c: pg.PoolClient, p: PreparedReport, host: HostRow, known: Map<string, PgTenant>) {
    const limit = this.opts.limits.maxUnmanagedPerHost;
    let rejected: Rejections | undefined;
    const reject = (why: Refusal, path: string) => {
      rejected ??= noRejections();
      rejected.counts[why.kind]++;
      if (rejected.items.length < MAX_LISTED_REJECTIONS) rejected.items.push({ kind: why.kind, path, message: why.message });
    };
    const refused = new Map<string, Refusal>();
    let unmanaged: number | undefined;
    const hostName = async (id: number) => (await c.query<{ name: string }>('SELECT name FROM hosts WHERE id = $1', [id])).rows[0]?.name ?? '?';
    const unmanagedNow = async () => Number((await c.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants WHERE host_id = $1 AND spec IS NULL', [host.id])).rows[0]!.n);
    // The names no tenant has yet, made in one statement (a new host's first report brings hundreds), in the
    // order the items below meet them (samples, then the directory) and up to the host's cap of unmanaged
    // tenants, as one by one: those past the cap are refused below.
    const sampled = new Set(p.tenants);
    const fresh = [...new Set([...p.tenants, ...(p.directory ?? []).map((d) => d.name)])].filter((n) => !known.has(n));
    if (fresh.length) {
      unmanaged = await unmanagedNow();
      const batch = fresh.slice(0, Math.max(0, limit - unmanaged));
      if (batch.length) {
        const ats = batch.map((n) => (sampled.has(n) ? p.at : null));
        const made = await c.query<{ id: number; name: string }>(
          `INSERT INTO tenants (id, name, host_id, first_seen, last_seen)
           SELECT nextval('tenant_ids'), u.name, $1, u.at, u.at FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS u(name, at, k) ORDER BY u.k
           ON CONFLICT (name) DO NOTHING RETURNING id, name`,
          [host.id, batch, ats],
        );
        const byName = new Map(made.rows.map((r) => [r.name, r.id]));
        for (const [k, name] of batch.entries()) {
          const id = byName.get(name);
          if (id === undefined) continue;
          known.set(name, { id, name, hostId: host.id, spec: null, reported: null, reportedJson: null, firstSeen: ats[k]!, lastSeen: ats[k]!, debt: undefined, directorySeenAt: null });
        }
        unmanaged += made.rows.length;
        // Made meanwhile by another host's report (another controller): read, then judged as known ones.
        const lost = batch.filter((n) => !byName.has(n));
        if (lost.length) {
          const r = await c.query<TenantRow>(`SELECT ${TENANT_COLUMNS} FROM ${TENANT_FROM} WHERE t.name = ANY($1::text[])`, [lost]);
          for (const row of r.rows) known.set(row.name, tenantOf(row));
        }
      }
    }
    const resolve = async (name: string, at: number | null, create = true): Promise<PgTenant | Refusal | undefined> => {
      const no = refused.get(name);
      if (no) return no;
      let t = known.get(name);
      if (!t) {
        if (!create) return undefined;
        unmanaged ??= await unmanagedNow();
        if (unmanaged >= limit) {
          const why: Refusal = { kind: 'unmanaged_cap', message: `host ${host.name} already has ${limit} unmanaged tenants (tenants.max_per_host): ${name} was not added` };
          refused.set(name, why);
          return why;
        }
        const id = await insertTenant(c, name, host.id, at, null, null);
        if (id !== undefined) {
          unmanaged++;
          t = { id, name, hostId: host.id, spec: null, reported: null, reportedJson: null, firstSeen: at, lastSeen: at, debt: undefined, directorySeenAt: null };
        } else {
          // Made meanwhile by another host's report (another controller): read it, then judge as a known one.
          const r = await c.query<TenantRow>(`SELECT ${TENANT_COLUMNS} FROM ${TENANT_FROM} WHERE t.name = $1`, [name]);
          t = tenantOf(r.rows[0]!);
        }
        known.set(name, t);
      }
      if (t.hostId === host.id) return t;
      if (t.hostId === null && t.spec === null) {
        await c.query('UPDATE tenants SET host_id = $1 WHERE id = $2 AND host_id IS NULL', [host.id, t.id]);
        t.hostId = host.id;
        return t;
      }
      const owner = t.hostId === null ? 'no host' : `host ${await hostName(t.hostId)}`;
      const why: Refusal = {
        kind: 'cross_host',
        message: `tenant ${name} belongs to ${owner}, not to ${host.name}: an agent reports only its own host's tenants (an admin moves a tenant with PUT /v1/tenants/${name} and "host")`,
      };
      refused.set(name, why);
      return why;
    };
    const samples: PgTenant[] = [];
    let kept: number[] | undefined;
    for (let k = 0; k < p.tenants.length; k++) {
      // A known tenant of this host (every one, once the host's tenants are known) without a promise.
      const name = p.tenants[k]!;
      const own = known.get(name);
      const v = own && own.hostId === host.id && !refused.has(name) ? own : (await resolve(name, p.at))!;
      if (isRefusal(v)) {
        kept ??= Array.from({ length: k }, (_, i) => i);
        reject(v, `/samples/${k}`);
        continue;
      }
      samples.push(v);
      kept?.push(k);
    }
    const values = kept ? compact(p.values, kept) : p.values;
    const directory: Array<{ info: TenantInfoWire; tenant: PgTenant }> = [];
    for (const [k, info] of (p.directory ?? []).entries()) {
      const v = (await resolve(info.name, null))!;
      if (isRefusal(v)) reject(v, `/tenants/${k}`);
      else directory.push({ info, tenant: v });
    }
    const action = async (id: string) => (await c.query<{ tenant: string; host_id: number; reason: string; by: string | null }>('SELECT tenant, host_id, reason, by FROM actions WHERE id = $1', [id])).rows[0];
    const events: IncidentEvent[] = [];
    for (let [k, ev] of p.events.entries()) {
      const v = await resolve(ev.tenant, null, false);
      if (v && isRefusal(v)) {
        reject(v, `/events/${k}`);
        continue;
      }
      if (ev.manual) {
        const a = await action(ev.manual.action_id);
        if (!a || a.host_id !== host.id || a.tenant !== ev.tenant) {
          reject(
            { kind: 'forged_manual', message: `event ${ev.id} names action ${ev.manual.action_id}, which is not a manual action queued for tenant ${ev.tenant} on host ${host.name}: only the controller's queued actions are an administrator's` },
            `/events/${k}/manual`,
          );
          continue;
        }
        if (a.reason !== ev.manual.reason || (a.by ?? undefined) !== ev.manual.by) {
          ev = { ...ev, manual: { action_id: ev.manual.action_id, reason: a.reason, ...(a.by !== null ? { by: a.by } : {}) } };
        }
      }
      events.push(ev);
    }
    const acks: ActionAck[] = [];
    for (const [k, ack] of p.acks.entries()) {
      const a = await action(ack.action_id);
      if (a && a.host_id !== host.id) {
        reject({ kind: 'cross_host', message: `action ${ack.action_id} was queued for host ${await hostName(a.host_id)}, not for ${host.name}` }, `/acks/${k}`);
        continue;
      }
      acks.push(ack);
    }
    return { samples, values, directory, events, acks, rejected };
  }
}

/** The agent's acknowledgements of actions queued for its host (sqlite/actions.ts applyAcks). */
async function applyAcks(c: pg.PoolClient, hostId: number, acks: readonly ActionAck[], now: number): Promise<void> {
  const set = (state: string, at: number, message: string | null, id: string) => c.query('UPDATE actions SET state = $1, state_at = $2, message = $3 WHERE id = $4', [state, at, message, id]);
  for (const ack of acks) {
    const row = (await c.query<ActionRow>('SELECT * FROM actions WHERE id = $1', [ack.action_id])).rows[0];
    if (!row || row.host_id !== hostId) continue;
    const at = Math.min(Date.parse(ack.at), now);
    const next = stateAfterAck(row, ack);
    if (!next) continue;
    await set(next, at, ack.message ?? null, row.id);
    if (row.action === 'release' && next === 'done') {
      const others = await c.query<{ id: string }>("SELECT id FROM actions WHERE tenant = $1 AND state = 'applied' AND action IN ('throttle', 'quarantine')", [row.tenant]);
      for (const other of others.rows) await set('released', at, `released by action ${row.id}`, other.id);
    }
  }
}

/** The rows `kept` of a tenants x TENANT_WIDTH matrix. */
function compact(values: Float64Array, kept: readonly number[]): Float64Array {
  const out = new Float64Array(kept.length * TENANT_WIDTH);
  kept.forEach((k, i) => out.set(values.subarray(k * TENANT_WIDTH, (k + 1) * TENANT_WIDTH), i * TENANT_WIDTH));
  return out;
}
