// An incident's row and what an agent's event does to it, shared by the SQLite and PostgreSQL stores
// (sqlite/incidents.ts, postgres/incidents.ts): each store only reads and writes the rows.
//   - the first event of an incident makes its row; a later one counts, may move `opened_at` back (events
//     arrive out of order after a spool replay), and sets the incident's current state only when it is the
//     newest seen (`at >= updated_at`);
//   - the event's explanation gains the tenant's fairness debt at its time (the agent keeps no ledger);
//   - the summary and detail answers of GET /v1/incidents, with an explanation that cannot be read replaced by
//     one that says so (never a 500).
import { formatDuration } from '../../shared/units.js';
import type { IncidentEvent } from '../../shared/wire/agent.js';
import type { IncidentDetail, IncidentSummary } from '../../shared/wire/api.js';
import { decayedDebt, type DebtState } from '../fairness.js';

export interface IncidentRow {
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

const iso = (t: number): string => new Date(t).toISOString();
const isoOrNull = (t: number | null): string | null => (t === null ? null : iso(t));
const releases = (ev: IncidentEvent): boolean => ev.type === 'released' || ev.step === 'release';

/** The row an incident's first event makes (without its id: the store gives it). */
export function newIncidentRow(hostId: number, ev: IncidentEvent, at: number): Omit<IncidentRow, 'id'> {
  const released = releases(ev);
  return {
    host_id: hostId,
    key: ev.incident,
    tenant: ev.tenant,
    resource: ev.resource,
    rule: ev.rule,
    state: released ? 'released' : 'open',
    step: ev.step,
    level: ev.level,
    manual: ev.manual ? 1 : 0,
    opened_at: at,
    updated_at: at,
    released_at: released ? at : null,
    until: ev.until ? Date.parse(ev.until) : null,
    events: 1,
    explanation: JSON.stringify(ev.explanation),
  };
}

/** A later event of the incident, applied to its row in place. */
export function applyIncidentEvent(row: IncidentRow, ev: IncidentEvent, at: number): void {
  row.events++;
  row.opened_at = Math.min(row.opened_at, at);
  if (at < row.updated_at) return;
  const released = releases(ev);
  row.updated_at = at;
  row.step = ev.step;
  row.level = ev.level;
  row.until = ev.until ? Date.parse(ev.until) : null;
  row.explanation = JSON.stringify(ev.explanation);
  if (ev.manual) row.manual = 1;
  row.state = released ? 'released' : 'open';
  row.released_at = released ? at : null;
}

/** The event with the tenant's fairness debt (`d`, the ledger before this report) decayed to its time. */
export function withFairness(ev: IncidentEvent, at: number, d: DebtState | undefined, halfLifeMs: number): IncidentEvent {
  const debt = d ? decayedDebt(d, Math.max(at, d.at), halfLifeMs) : 0;
  const rounded = Math.round(debt * 1000) / 1000;
  const text =
    rounded > 0
      ? `fairness debt of ${ev.tenant}: ${rounded} share-hours (it has used more than its fair share lately; half-life ${formatDuration(halfLifeMs)})`
      : `fairness debt of ${ev.tenant}: ${rounded} share-hours (no excess over its fair share lately; half-life ${formatDuration(halfLifeMs)})`;
  return { ...ev, explanation: { ...ev.explanation, fairness: { debt: rounded, half_life_seconds: halfLifeMs / 1000, text } } };
}

export function incidentSummary(r: IncidentRow, hostName: string): IncidentSummary {
  let summary = '';
  try {
    summary = (JSON.parse(r.explanation) as { summary?: string }).summary ?? '';
  } catch {
    /* an unreadable explanation: the detail says so */
  }
  return {
    id: r.id,
    host: hostName,
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

/** The explanation of an incident whose stored one cannot be read. */
export function unreadableExplanation(resource: string): IncidentDetail['explanation'] {
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
