// incidents [--open] [...filters], explain ID.
import type { IncidentSummary } from '../../schemas.js';
import { UsageError } from '../../../shared/errors.js';
import { RESOURCES } from '../../../shared/resources.js';
import { flagOption, stringOption } from '../args.js';
import { checked } from '../shape.js';
import { printJson, type Command, type View } from '../command.js';
import { renderExplain, stepWords } from '../explain.js';
import { formatAge, NONE } from '../format.js';
import { renderTable, type Column } from '../table.js';
import { hostValue, intValue, oneOfValue, tenantValue, timeValue } from '../values.js';

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

export const incidentsCommand: Command = {
  name: 'incidents',
  summary: 'incidents, newest first (explain ID tells one in full)',
  args: [],
  options: [
    { name: 'open', type: 'boolean', help: 'only open incidents' },
    { name: 'released', type: 'boolean', help: 'only released incidents' },
    { name: 'tenant', type: 'string', value: 'TENANT', help: "only this tenant's" },
    { name: 'host', type: 'string', value: 'HOST', help: "only this host's" },
    { name: 'resource', type: 'string', value: 'RESOURCE', help: `only this resource (${RESOURCES.join(', ')})` },
    { name: 'since', type: 'string', value: 'TIME', help: 'open at some time since TIME (24h, 7d, ISO-8601)' },
    { name: 'until', type: 'string', value: 'TIME', help: 'open at some time before TIME' },
    { name: 'limit', type: 'string', value: 'N', help: 'at most N incidents (default 100)' },
  ],
  details: 'Incidents are open from the first violation to the release; --since/--until select those open at some time in between.',
  async run(ctx, _args, o) {
    const open = flagOption(o, 'open');
    const released = flagOption(o, 'released');
    if (open && released) throw new UsageError('incidents: --open and --released exclude each other');
    const tenant = stringOption(o, 'tenant');
    const host = stringOption(o, 'host');
    const resource = stringOption(o, 'resource');
    const since = stringOption(o, 'since');
    const until = stringOption(o, 'until');
    const limit = stringOption(o, 'limit');
    if (since !== undefined) timeValue('--since', since, ctx.view.now);
    if (until !== undefined) timeValue('--until', until, ctx.view.now);
    const a = await ctx.client.get('/v1/incidents', {
      state: open ? 'open' : released ? 'released' : undefined,
      tenant: tenant === undefined ? undefined : tenantValue('--tenant', tenant),
      host: host === undefined ? undefined : hostValue('--host', host),
      resource: resource === undefined ? undefined : oneOfValue('--resource', resource, RESOURCES),
      from: since,
      to: until,
      limit: limit === undefined ? undefined : intValue('--limit', limit, 1, 10_000),
    });
    if (ctx.json) return printJson(ctx, a.text);
    ctx.out(renderIncidents((await checked(a, 'IncidentListSchema')).incidents, ctx.view));
  },
};

export const explainCommand: Command = {
  name: 'explain',
  summary: 'one incident in words: measured vs threshold, share, contention, top processes, what was done, history',
  args: [{ name: 'ID', help: 'incident id (the ID column of "incidents")' }],
  options: [],
  async run(ctx, args) {
    const id = intValue('ID', args[0]!, 1, Number.MAX_SAFE_INTEGER);
    const a = await ctx.client.get(`/v1/incidents/${id}`);
    if (ctx.json) return printJson(ctx, a.text);
    ctx.out(renderExplain(await checked(a, 'IncidentDetailSchema'), ctx.view));
  },
};
