// Many tenants' events in one report, as a host (or an agent's stolen token) can send them: one warning,
// quarantine or release per tenant, cloned from the events the agent's own policy engine makes.
import type { IncidentEvent } from '../../../../shared/wire/agent.js';
import { ladderEvents } from './events.js';

const STEP = { warning: 0, quarantine: 3, release: 5 } as const;

/** One event of `kind` for each of `tenants`, dated `at` (each its own incident). */
export function floodEvents(kind: keyof typeof STEP, tenants: readonly string[], at: number): IncidentEvent[] {
  const template = ladderEvents('flood', at - 5 * 60_000, false)[STEP[kind]]!;
  const shift = at - Date.parse(template.at);
  const until = template.until === undefined ? {} : { until: new Date(Date.parse(template.until) + shift).toISOString() };
  return tenants.map((tenant) => ({ ...template, ...until, id: `${tenant}-${kind}-${at}`, incident: `${tenant}-cpu-${kind}-${at}`, tenant, at: new Date(at).toISOString() }));
}

/** tenant names `${prefix}0000`, `${prefix}0001`, ... */
export function names(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
}
