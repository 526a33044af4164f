// incidents [--open] [...filters], explain ID.
import type { IncidentSummary } from '../../shared/wire/api.js';
import { UsageError } from '../../shared/errors.js';
import { RESOURCES } from '../../shared/resources.js';
import { flagOption } from '../args.js';
import { viewCommand, type View } from '../command.js';
import { renderExplain, stepWords } from '../explain.js';
import { formatAge, NONE } from '../format.js';
import { renderTable, type Column } from '../table.js';
import { intValue, oneOfValue } from '../values.js';
import { hostFilter, hostQuery, limitOption, limitQuery, optionValue, sinceOption, tenantFilter, tenantQuery, timeQuery, untilOption } from './options.js';

export function renderIncidents(incidents: readonly IncidentSummary[], view: View): string {
  if (incidents.length === 0) return 'no incidents match\n';
  const cols: Array<Column<IncidentSummary>> = [
    { header: 'ID', value: (i) => String(i.id), align: 'right' },
    { header: 'STATE', value: (i) => i.state },
    { header: 'TENANT', value: (i) => i.tenant },
    { header: 'HOST', value: (i) => i.host },
    { header: 'RESOURCE', value: (i) => i.resource },
    { header: 'RULE', value: (i) => i.rule },
    { header: 'STEP', value: (i) => (i.state === 'open' ? stepWords(i.step, i.level, true) : 'released') },
    { header: 'OPENED', value: (i) => formatAge(i.opened_at, view.now) },
    { header: 'UNTIL', value: (i) => (i.state === 'open' ? (i.until ? formatAge(i.until, view.now) : NONE) : NONE) },
    { header: 'SUMMARY', value: (i) => i.summary, flex: true },
  ];
  return renderTable(cols, incidents, view.width);
}

export const incidentsCommand = viewCommand(
  {
    name: 'incidents',
    summary: 'incidents, newest first (explain ID tells one in full)',
    args: [],
    options: [
      { name: 'open', type: 'boolean', help: 'only open incidents' },
      { name: 'released', type: 'boolean', help: 'only released incidents' },
      tenantFilter(),
      hostFilter(),
      { name: 'resource', type: 'string', value: 'RESOURCE', help: `only this resource (${RESOURCES.join(', ')})` },
      sinceOption('open at some time since TIME (24h, 7d, ISO-8601)'),
      untilOption('open at some time before TIME'),
      limitOption('at most N incidents (default 100)'),
    ],
    details: 'Incidents are open from the first violation to the release; --since/--until select those open at some time in between.',
  },
  (_args, o, now) => {
    const open = flagOption(o, 'open');
    const released = flagOption(o, 'released');
    if (open && released) throw new UsageError('incidents: --open and --released exclude each other');
    return {
      path: '/v1/incidents',
      query: {
        state: open ? 'open' : released ? 'released' : undefined,
        tenant: tenantQuery(o),
        host: hostQuery(o),
        resource: optionValue(o, 'resource', (n, v) => oneOfValue(n, v, RESOURCES)),
        from: timeQuery(o, 'since', now),
        to: timeQuery(o, 'until', now),
        limit: limitQuery(o, 10_000),
      },
    };
  },
  'IncidentListSchema',
  (b, view) => renderIncidents(b.incidents, view),
);

export const explainCommand = viewCommand(
  {
    name: 'explain',
    summary: 'one incident in words: measured vs threshold, share, contention, top processes, what was done, history',
    args: [{ name: 'ID', help: 'incident id (the ID column of "incidents")' }],
    options: [],
  },
  (args) => ({ path: `/v1/incidents/${intValue('ID', args[0]!, 1, Number.MAX_SAFE_INTEGER)}` }),
  'IncidentDetailSchema',
  renderExplain,
);
