// Hosts: the row made on a host's first report (or when a managed tenant names it), GET /v1/hosts, and
// GET /v1/hosts/{host} with the host's latest inventory (table host_inventory, migration 5: read from the table,
// not kept in memory, since only the detail route shows it); then the store's own numbers for /metrics: size
// on disk, hosts, tenants, reports, open incidents, minutes held.
import type Database from 'better-sqlite3';
import type { HostInventory } from '../../../shared/wire/agent.js';
import type { HostDetail, HostInfo, HostInventoryInfo } from '../../../shared/wire/api.js';
import type { StoreStats } from '../store.js';
import type { Connection } from './connection.js';
import { iso, isoOrNull, type StoreContext } from './context.js';
import type { HostState } from './writer-state.js';

function statements(db: Database.Database) {
  return {
    insertHost: db.prepare<[string, number]>('INSERT INTO hosts (name, first_seen) VALUES (?, ?)'),
    openIncidentsByHost: db.prepare<[], { host_id: number; n: number }>("SELECT host_id, count(*) AS n FROM incidents WHERE state = 'open' GROUP BY host_id"),
    // A report older than the stored inventory's (a spool backlog sent out of order) never replaces it.
    putInventory: db.prepare<[number, number, number, string]>(
      `INSERT INTO host_inventory (host_id, reported_at, received, inventory) VALUES (?, ?, ?, ?)
       ON CONFLICT (host_id) DO UPDATE SET reported_at = excluded.reported_at, received = excluded.received, inventory = excluded.inventory
       WHERE excluded.reported_at >= host_inventory.reported_at`,
    ),
    getInventory: db.prepare<[number], { reported_at: number; inventory: string }>('SELECT reported_at, inventory FROM host_inventory WHERE host_id = ?'),
  };
}

export class Hosts {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  /** The host's state, creating its row (inside the caller's transaction) when new; the cache takes it after the commit. */
  ensure(name: string, now: number, after: Array<() => void>): HostState {
    const state = this.ctx.state;
    const existing = state.hosts.get(name);
    if (existing) return existing;
    const id = Number(this.sql.insertHost.run(name, now).lastInsertRowid);
    const h = state.newHost(id, name, now, null, null);
    after.push(() => state.registerHost(h));
    return h;
  }

  list(): HostInfo[] {
    const state = this.ctx.state;
    const open = new Map(this.sql.openIncidentsByHost.all().map((r) => [r.host_id, r.n]));
    const counts = new Map<number, number>();
    for (const t of state.tenants.values()) if (t.hostId !== null) counts.set(t.hostId, (counts.get(t.hostId) ?? 0) + 1);
    return [...state.hosts.values()].sort((a, b) => a.name.localeCompare(b.name)).map((h) => hostInfo(h, counts.get(h.id) ?? 0, open.get(h.id) ?? 0));
  }

  get(name: string): HostDetail | undefined {
    const state = this.ctx.state;
    const h = state.hosts.get(name);
    if (!h) return undefined;
    let tenants = 0;
    for (const t of state.tenants.values()) if (t.hostId === h.id) tenants++;
    const open = this.sql.openIncidentsByHost.all().find((r) => r.host_id === h.id)?.n ?? 0;
    return { ...hostInfo(h, tenants, open), inventory: this.inventory(h.id) };
  }

  /** Keep a host's inventory (inside the ingest transaction), unless a newer report's is stored. */
  putInventory(hostId: number, reportedAt: number, now: number, inventory: HostInventory): void {
    this.sql.putInventory.run(hostId, reportedAt, now, JSON.stringify(inventory));
  }

  private inventory(hostId: number): HostInventoryInfo | null {
    const row = this.sql.getInventory.get(hostId);
    if (!row) return null;
    return { ...(JSON.parse(row.inventory) as HostInventory), reported_at: iso(row.reported_at) };
  }
}

function hostInfo(h: HostState, tenants: number, openIncidents: number): HostInfo {
  return {
    host: h.name,
    first_seen: iso(h.firstSeen),
    last_seen: isoOrNull(h.lastSeen),
    last_report_at: isoOrNull(h.lastAt),
    last_seq: h.lastSeq,
    agent_version: h.meta?.agent_version ?? null,
    tenants,
    open_incidents: openIncidents,
    host_stats: h.meta?.host_stats ?? null,
    collectors: h.meta?.collectors ?? null,
    fairness: h.lastFair ? { jain: h.lastFair.jain, fair_share: h.lastFair.fair, active_tenants: h.lastFair.active, ...(h.lastFair.shares ? { shares: h.lastFair.shares } : {}) } : null,
  };
}

// --- the store's numbers -----------------------------------------------------------------------------------
function statsStatements(db: Database.Database) {
  return {
    countReports: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM reports'),
    openIncidents: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM incidents WHERE state = 'open'"),
  };
}

export class Stats {
  private readonly sql: ReturnType<typeof statsStatements>;

  constructor(
    private readonly ctx: StoreContext,
    private readonly connection: Connection,
  ) {
    this.sql = statsStatements(ctx.db);
  }

  get(): StoreStats {
    const { state } = this.ctx;
    return {
      bytes: this.connection.bytes(),
      hosts: state.hosts.size,
      tenants: state.tenants.size,
      reports: this.sql.countReports.get()?.n ?? 0,
      openIncidents: this.sql.openIncidents.get()?.n ?? 0,
      bufferedBuckets: state.bufferedBuckets(),
    };
  }
}
