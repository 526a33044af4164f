// Incidents and their events: each event stored once per (host, event id), the incident kept current (its
// newest step, level, explanation), and the queries of GET /v1/incidents.
import type Database from 'better-sqlite3';
import { formatDuration } from '../../../shared/units.js';
import type { IncidentEvent } from '../../../shared/wire/agent.js';
import { decayedDebt } from '../../fairness.js';
import type { IncidentDetail, IncidentSummary, StoredEvent } from '../../../shared/wire/api.js';
import type { IncidentFilter, NewIncidentEvent } from '../store.js';
import { iso, isoOrNull, Where, type StoreContext } from './context.js';
import type { HostState } from './writer-state.js';

interface IncidentRow {
  id: number;
  host_id: number;
  key: string;
  tenant: string;
  resource: string;
  rule: string;
  state: 'open' | 'released';
  step: string;
  level: number;
  manual: number;
  opened_at: number;
  updated_at: number;
  released_at: number | null;
  until: number | null;
  events: number;
  explanation: string;
}

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
      const ev = this.withFairness(given, at);
      const until = ev.until ? Date.parse(ev.until) : null;
      const released = ev.type === 'released' || ev.step === 'release';
      let row = this.sql.findIncident.get(host.id, ev.incident);
      if (!row) {
        const fresh = {
          host_id: host.id,
          key: ev.incident,
          tenant: ev.tenant,
          resource: ev.resource,
          rule: ev.rule,
          state: released ? ('released' as const) : ('open' as const),
          step: ev.step,
          level: ev.level,
          manual: ev.manual ? 1 : 0,
          opened_at: at,
          updated_at: at,
          released_at: released ? at : null,
          until,
          events: 1,
          explanation: JSON.stringify(ev.explanation),
        };
        const id = Number(this.sql.insertIncident.run(fresh).lastInsertRowid);
        row = { id, ...fresh };
      } else {
        row.events++;
        row.opened_at = Math.min(row.opened_at, at);
        if (at >= row.updated_at) {
          row.updated_at = at;
          row.step = ev.step;
          row.level = ev.level;
          row.until = until;
          row.explanation = JSON.stringify(ev.explanation);
          if (ev.manual) row.manual = 1;
          row.state = released ? 'released' : 'open';
          row.released_at = released ? at : null;
        }
        this.sql.updateIncident.run(row);
      }
      this.sql.insertEvent.run(host.id, ev.id, row.id, at, now, JSON.stringify(ev));
      out.push({ event: { ...ev, host: host.name, received_at: iso(now) }, incident: this.summary(row, host.name) });
    }
    return out;
  }

  /**
   * The event with the tenant's fairness debt at its time added to its explanation (the agent keeps no ledger):
   * what the controller knew when it stored the event, decayed to the event's time.
   */
  private withFairness(ev: IncidentEvent, at: number): IncidentEvent {
    const t = this.ctx.state.tenants.get(ev.tenant);
    const halfLifeMs = this.ctx.fairness.halfLifeMs;
    const debt = t?.debt ? decayedDebt(t.debt, Math.max(at, t.debt.at), halfLifeMs) : 0;
    const rounded = Math.round(debt * 1000) / 1000;
    const text =
      rounded > 0
        ? `fairness debt of ${ev.tenant}: ${rounded} share-hours (it has used more than its fair share lately; half-life ${formatDuration(halfLifeMs)})`
        : `fairness debt of ${ev.tenant}: ${rounded} share-hours (no excess over its fair share lately; half-life ${formatDuration(halfLifeMs)})`;
    return { ...ev, explanation: { ...ev.explanation, fairness: { debt: rounded, half_life_seconds: halfLifeMs / 1000, text } } };
  }

  private summary(r: IncidentRow, hostName?: string): IncidentSummary {
    let summary = '';
    try {
      summary = (JSON.parse(r.explanation) as { summary?: string }).summary ?? '';
    } catch {
      /* stored by us; cannot fail */
    }
    return {
      id: r.id,
      host: hostName ?? this.ctx.state.hostName(r.host_id),
      agent_incident: r.key,
      tenant: r.tenant,
      resource: r.resource as IncidentSummary['resource'],
      rule: r.rule,
      state: r.state,
      step: r.step as IncidentSummary['step'],
      level: r.level,
      manual: r.manual === 1,
      opened_at: iso(r.opened_at),
      updated_at: iso(r.updated_at),
      released_at: isoOrNull(r.released_at),
      until: isoOrNull(r.until),
      events: r.events,
      summary,
    };
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
    const explanation = this.parsed<IncidentDetail['explanation']>('incidents', id, 'explanation', r.explanation) ?? history.at(-1)?.explanation ?? unreadable(r.resource);
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

/** The explanation of an incident whose stored one cannot be read. */
function unreadable(resource: string): IncidentDetail['explanation'] {
  return {
    summary: '(the stored explanation of this incident cannot be read)',
    rule: '',
    resource: resource as IncidentDetail['explanation']['resource'],
    measured: { value: 0, unit: '' },
    threshold: { value: 0, unit: '', kind: 'limit' },
    window_seconds: 0,
    contention: { contended: false, signals: [] },
    top_processes: [],
    action: '',
    avoid: '',
  };
}
