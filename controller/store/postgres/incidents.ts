// Incidents and their events on PostgreSQL (sqlite/incidents.ts says what they mean): each event stored once
// per (host, event id) inside its report's transaction (the report's host lock orders them), the incident
// kept current, and the queries of GET /v1/incidents.
import type pg from 'pg';
import type { IncidentEvent } from '../../../shared/wire/agent.js';
import type { IncidentDetail, IncidentSummary, StoredEvent } from '../../../shared/wire/api.js';
import type { DebtState } from '../../fairness.js';
import { applyIncidentEvent, type IncidentRow, incidentSummary, newIncidentRow, unreadableExplanation, withFairness } from '../incident-rows.js';
import type { IncidentFilter, NewIncidentEvent } from '../store.js';
import type { PgDatabase } from './db.js';
import { PgWhere } from './notices.js';

const iso = (t: number): string => new Date(t).toISOString();

export class PgIncidents {
  constructor(
    private readonly db: PgDatabase,
    private readonly halfLifeMs: number,
  ) {}

  /** Store a report's events (inside its transaction); `debts` are its tenants' ledgers before this report. */
  async store(c: pg.PoolClient, host: { id: number; name: string }, events: readonly IncidentEvent[], now: number, debts: ReadonlyMap<string, DebtState | undefined>): Promise<NewIncidentEvent[]> {
    const out: NewIncidentEvent[] = [];
    for (const given of events) {
      if ((await c.query('SELECT 1 FROM incident_events WHERE host_id = $1 AND event_id = $2', [host.id, given.id])).rows.length) continue;
      const at = Date.parse(given.at);
      const ev = withFairness(given, at, debts.get(given.tenant), this.halfLifeMs);
      let row = (await c.query<IncidentRow>('SELECT * FROM incidents WHERE host_id = $1 AND key = $2', [host.id, ev.incident])).rows[0];
      if (!row) {
        const fresh = newIncidentRow(host.id, ev, at);
        const r = await c.query<{ id: number }>(
          `INSERT INTO incidents (host_id, key, tenant, resource, rule, state, step, level, manual, opened_at, updated_at, released_at, until, events, explanation)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
          [fresh.host_id, fresh.key, fresh.tenant, fresh.resource, fresh.rule, fresh.state, fresh.step, fresh.level, fresh.manual, fresh.opened_at, fresh.updated_at, fresh.released_at, fresh.until, fresh.events, fresh.explanation],
        );
        row = { id: r.rows[0]!.id, ...fresh };
      } else {
        applyIncidentEvent(row, ev, at);
        await c.query(
          'UPDATE incidents SET state = $1, step = $2, level = $3, manual = $4, updated_at = $5, released_at = $6, until = $7, events = $8, explanation = $9, opened_at = $10 WHERE id = $11',
          [row.state, row.step, row.level, row.manual, row.updated_at, row.released_at, row.until, row.events, row.explanation, row.opened_at, row.id],
        );
      }
      await c.query('INSERT INTO incident_events (host_id, event_id, incident_id, at, received, body) VALUES ($1, $2, $3, $4, $5, $6)', [host.id, ev.id, row.id, at, now, JSON.stringify(ev)]);
      out.push({ event: { ...ev, host: host.name, received_at: iso(now) }, incident: incidentSummary(row, host.name) });
    }
    return out;
  }

  private async hostNames(): Promise<Map<number, string>> {
    return new Map((await this.db.query<{ id: number; name: string }>('SELECT id, name FROM hosts')).map((r) => [r.id, r.name]));
  }

  async list(filter: IncidentFilter): Promise<IncidentSummary[]> {
    const hosts = await this.hostNames();
    let hostId: number | undefined;
    if (filter.host !== undefined) {
      hostId = [...hosts].find(([, n]) => n === filter.host)?.[0];
      if (hostId === undefined) return [];
    }
    const where = new PgWhere()
      .add((p) => `tenant = ${p}`, filter.tenant)
      .add((p) => `host_id = ${p}`, hostId)
      .add((p) => `state = ${p}`, filter.state)
      .add((p) => `resource = ${p}`, filter.resource)
      .add((p) => `opened_at < ${p}`, filter.to)
      .add((p) => `(released_at IS NULL OR released_at >= ${p})`, filter.from);
    const rows = await this.db.query<IncidentRow>(`SELECT * FROM incidents ${where} ORDER BY opened_at DESC, id DESC LIMIT $${where.params.length + 1}`, [...where.params, filter.limit ?? 100]);
    return rows.map((r) => incidentSummary(r, hosts.get(r.host_id) ?? '?'));
  }

  async get(id: number): Promise<IncidentDetail | undefined> {
    const [r] = await this.db.query<IncidentRow>('SELECT * FROM incidents WHERE id = $1', [id]);
    if (!r) return undefined;
    const hosts = await this.hostNames();
    const events = await this.db.query<{ host_id: number; received: number; body: string }>('SELECT host_id, received, body FROM incident_events WHERE incident_id = $1 ORDER BY at, id', [id]);
    const history: StoredEvent[] = events.flatMap((e) => {
      const body = parsed<IncidentEvent>(e.body);
      return body ? [{ ...body, host: hosts.get(e.host_id) ?? '?', received_at: iso(e.received) }] : [];
    });
    const explanation = parsed<IncidentDetail['explanation']>(r.explanation) ?? history.at(-1)?.explanation ?? unreadableExplanation(r.resource);
    return { ...incidentSummary(r, hosts.get(r.host_id) ?? '?'), explanation, history };
  }
}

function parsed<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
