// Incidents and their events: each event stored once per (host, event id), the incident kept current (its
// newest step, level, explanation), and the queries of GET /v1/incidents.
import type Database from 'better-sqlite3';
import type { IncidentEvent } from '../../../shared/wire/agent.js';
import type { IncidentDetail, IncidentSummary, StoredEvent } from '../../../shared/wire/api.js';
import { applyIncidentEvent, type IncidentRow, incidentSummary, newIncidentRow, unreadableExplanation, withFairness } from '../incident-rows.js';
import type { IncidentFilter, NewIncidentEvent } from '../store.js';
import { iso, Where, type StoreContext } from './context.js';
import type { HostState } from './writer-state.js';

function statements(db: Database.Database) {
  return {
    findEvent: db.prepare<[number, string], { id: number }>('SELECT id FROM incident_events WHERE host_id = ? AND event_id = ?'),
    insertEvent: db.prepare<[number, string, number, number, number, string]>(
      'INSERT INTO incident_events (host_id, event_id, incident_id, at, received, body) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    findIncident: db.prepare<[number, string], IncidentRow>('SELECT * FROM incidents WHERE host_id = ? AND key = ?'),
    getIncident: db.prepare<[number], IncidentRow>('SELECT * FROM incidents WHERE id = ?'),
    insertIncident: db.prepare<[Omit<IncidentRow, 'id'>]>(
      `INSERT INTO incidents (host_id, key, tenant, resource, rule, state, step, level, manual, opened_at, updated_at, released_at, until, events, explanation)
       VALUES (@host_id, @key, @tenant, @resource, @rule, @state, @step, @level, @manual, @opened_at, @updated_at, @released_at, @until, @events, @explanation)`,
    ),
    updateIncident: db.prepare<[IncidentRow]>(
      `UPDATE incidents SET state = @state, step = @step, level = @level, manual = @manual, updated_at = @updated_at, released_at = @released_at,
       until = @until, events = @events, explanation = @explanation, opened_at = @opened_at WHERE id = @id`,
    ),
    incidentEvents: db.prepare<[number], { host_id: number; received: number; body: string }>(
      'SELECT host_id, received, body FROM incident_events WHERE incident_id = ? ORDER BY at, id',
    ),
  };
}

export class Incidents {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  /** Store a report's events (inside its transaction); the new ones (never a repeat) with their incident after the update. */
  store(host: HostState, events: IncidentEvent[], now: number): NewIncidentEvent[] {
    const out: NewIncidentEvent[] = [];
    for (const given of events) {
      if (this.sql.findEvent.get(host.id, given.id)) continue;
      const at = Date.parse(given.at);
      const ev = withFairness(given, at, this.ctx.state.tenants.get(given.tenant)?.debt, this.ctx.fairness.halfLifeMs);
      let row = this.sql.findIncident.get(host.id, ev.incident);
      if (!row) {
        const fresh = newIncidentRow(host.id, ev, at);
        const id = Number(this.sql.insertIncident.run(fresh).lastInsertRowid);
        row = { id, ...fresh };
      } else {
        applyIncidentEvent(row, ev, at);
        this.sql.updateIncident.run(row);
      }
      this.sql.insertEvent.run(host.id, ev.id, row.id, at, now, JSON.stringify(ev));
      out.push({ event: { ...ev, host: host.name, received_at: iso(now) }, incident: this.summary(row, host.name) });
    }
    return out;
  }

  private summary(r: IncidentRow, hostName?: string): IncidentSummary {
    return incidentSummary(r, hostName ?? this.ctx.state.hostName(r.host_id));
  }

  list(filter: IncidentFilter): IncidentSummary[] {
    const host = filter.host === undefined ? undefined : this.ctx.state.hosts.get(filter.host);
    if (filter.host !== undefined && !host) return [];
    // Incidents that overlap [from, to): opened before `to`, not released before `from`.
    const where = new Where()
      .add('tenant = ?', filter.tenant)
      .add('host_id = ?', host?.id)
      .add('state = ?', filter.state)
      .add('resource = ?', filter.resource)
      .add('opened_at < ?', filter.to)
      .add('(released_at IS NULL OR released_at >= ?)', filter.from);
    return this.ctx.db
      .prepare<Array<string | number>, IncidentRow>(`SELECT * FROM incidents ${where} ORDER BY opened_at DESC, id DESC LIMIT ?`)
      .all(...where.params, filter.limit ?? 100)
      .map((r) => this.summary(r));
  }

  get(id: number): IncidentDetail | undefined {
    const r = this.sql.getIncident.get(id);
    if (!r) return undefined;
    // An event or explanation column that does not parse is noted (damage.ts) and left out, not a 500.
    const history: StoredEvent[] = this.sql.incidentEvents.all(id).flatMap((e, k) => {
      const body = this.parsed<IncidentEvent>('incident_events', `${id}/${k}`, 'body', e.body);
      return body ? [{ ...body, host: this.ctx.state.hostName(e.host_id), received_at: iso(e.received) }] : [];
    });
    const explanation = this.parsed<IncidentDetail['explanation']>('incidents', id, 'explanation', r.explanation) ?? history.at(-1)?.explanation ?? unreadableExplanation(r.resource);
    return { ...this.summary(r), explanation, history };
  }

  private parsed<T>(table: string, row: string | number, column: string, text: string): T | undefined {
    try {
      return JSON.parse(text) as T;
    } catch {
      this.ctx.damaged.note(table, row, `${column} is not JSON`);
      return undefined;
    }
  }
}
