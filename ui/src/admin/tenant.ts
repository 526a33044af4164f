// The admin's tenant page (usage charts for a range, incidents timeline, notices, manual actions) and the
// incident page (the explanation in full and every step of the ladder).
import { get, qs } from '../api.js';
import { badge, dl, h, link, sortableTable } from '../dom.js';
import { explanation, stepText } from '../explain.js';
import { ago, bytes, num, time } from '../format.js';
import { chartSpecs, drawCharts, PRESET_NAMES, rangeOf, usageResources } from '../usage.js';
import type { ActionStatus, IncidentDetail, IncidentSummary, Notice, Plan, SeriesResponse, TenantInfo } from '../wire.js';
import type { Ctx } from './ctx.js';

export async function tenantPage(main: HTMLElement, ctx: Ctx): Promise<void> {
  const name = ctx.rest[0] ?? '';
  const enc = encodeURIComponent(name);
  const range = rangeOf(ctx.params);
  main.appendChild(h('h1', {}, 'Tenant ', h('span', { class: 'name' }, name)));
  const [t, plans] = await Promise.all([get<TenantInfo>(`/v1/tenants/${enc}`), get<{ plans: Array<{ name: string; plan: Plan }> }>('/v1/plans')]);
  const plan = plans.plans.find((p) => p.name === t.plan)?.plan ?? null;
  main.appendChild(
    dl([
      ['Host', t.host ?? '–'],
      ['Plan', t.plan ? `${t.plan}${plan ? ` (${planText(plan)})` : ''}` : '–'],
      ['Managed', t.managed ? 'yes (through the API)' : 'no (seen in reports)'],
      ['Email', t.spec?.email ?? t.reported?.email ?? '–'],
      ['Fairness debt', `${num(t.debt, 3)} share-hours`],
      ['Open incidents', String(t.open_incidents)],
      ['Last seen', ago(t.last_seen)],
    ]),
  );

  // Range: presets, or a custom from/to (UTC).
  const base = `#/tenant/${enc}`;
  const fromIn = h('input', { id: 'from', type: 'datetime-local', value: range.from.slice(0, 16), 'aria-label': 'from (UTC)' });
  const toIn = h('input', { id: 'to', type: 'datetime-local', value: range.to.slice(0, 16), 'aria-label': 'to (UTC)' });
  main.appendChild(
    h(
      'form',
      {
        class: 'toolbar range',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const f = Date.parse(`${fromIn.value}Z`);
          const to = Date.parse(`${toIn.value}Z`);
          if (Number.isFinite(f) && Number.isFinite(to) && f < to) location.hash = `${base}${qs({ from: new Date(f).toISOString(), to: new Date(to).toISOString() })}`;
        },
      },
      PRESET_NAMES.map((p) => h('a', { href: `${base}?range=${p}`, class: range.label === p ? 'current' : null }, p)),
      h('span', {}, ' custom (UTC): '),
      fromIn,
      '–',
      toIn,
      h('button', { type: 'submit' }, 'Show'),
      h('a', { href: `#/actions?tenant=${enc}`, class: 'button' }, 'Manual action…'),
    ),
  );

  const specs = chartSpecs(plan);
  const [usage, incidents, notices, actions] = await Promise.all([
    get<SeriesResponse>(`/v1/tenants/${enc}/usage${qs({ from: range.from, to: range.to, step: range.step, resources: usageResources(specs) })}`),
    get<{ incidents: IncidentSummary[] }>(`/v1/incidents${qs({ tenant: name, from: range.from, to: range.to, limit: 200 })}`),
    get<{ notices: Notice[] }>(`/v1/notices${qs({ tenant: name, limit: 50 })}`),
    get<{ actions: ActionStatus[] }>(`/v1/tenants/${enc}/actions`),
  ]);
  main.appendChild(h('h2', {}, `Usage, ${range.label === 'custom' ? `${time(range.from)} – ${time(range.to)}` : `last ${range.label}`}`));
  main.appendChild(h('p', { class: 'hint' }, `Line: average; band: maximum per point (${num(usage.step_seconds)} s, ${usage.source}); dashed: plan cap; shaded: throttled or frozen.`));
  drawCharts(main, usage, specs, range.label);

  main.appendChild(h('h2', {}, 'Incidents'));
  main.appendChild(timeline(incidents.incidents));

  main.appendChild(h('h2', {}, 'Notices sent'));
  main.appendChild(
    sortableTable(
      notices.notices,
      [
        { title: 'When', cell: (n) => time(n.sent_at ?? n.created_at), key: (n) => Date.parse(n.created_at) },
        { title: 'Kind', cell: (n) => n.category, key: (n) => n.category },
        { title: 'State', cell: (n) => badge(n.state), key: (n) => n.state },
        { title: 'To', cell: (n) => n.recipient ?? '–' },
        { title: 'Subject', cell: (n) => n.subject },
        { title: 'Incident', cell: (n) => (n.incident_id ? link(`#/incident/${n.incident_id}`, `#${n.incident_id}`) : '') },
      ],
      { rowKey: (n) => String(n.id), sort: 0, desc: true, empty: 'No notice.' },
    ),
  );

  main.appendChild(h('h2', {}, 'Manual actions'));
  main.appendChild(actionsTable(actions.actions));
}

export function actionsTable(actions: ActionStatus[]): HTMLElement {
  return sortableTable(
    actions,
    [
      { title: 'When', cell: (a) => time(a.created_at), key: (a) => Date.parse(a.created_at) },
      { title: 'Tenant', cell: (a) => link(`#/tenant/${encodeURIComponent(a.tenant)}`, a.tenant), key: (a) => a.tenant },
      { title: 'Action', cell: (a) => (a.action === 'throttle' ? `throttle level ${a.level ?? 1}` : a.action), key: (a) => a.action },
      { title: 'State', cell: (a) => badge(a.state), key: (a) => a.state },
      { title: 'Until', cell: (a) => time(a.expires_at) },
      { title: 'By', cell: (a) => a.by ?? '–', key: (a) => a.by ?? null },
      { title: 'Reason', cell: (a) => a.reason },
      { title: 'Message', cell: (a) => a.message ?? '' },
    ],
    { rowKey: (a) => a.id, sort: 0, desc: true, empty: 'No manual action.' },
  );
}

function planText(p: Plan): string {
  const parts: string[] = [];
  if (p.cpu !== undefined) parts.push(`cpu ${num(p.cpu)} %`);
  if (p.memory !== undefined) parts.push(`memory ${bytes(p.memory)}`);
  if (p.io_read !== undefined) parts.push(`read ${bytes(p.io_read)}/s`);
  if (p.io_write !== undefined) parts.push(`write ${bytes(p.io_write)}/s`);
  if (p.processes !== undefined) parts.push(`${p.processes} processes`);
  if (p.weight !== undefined) parts.push(`weight ${num(p.weight, 2)}`);
  return parts.join(', ') || 'no caps';
}

/** Incidents in time order, each a row of the timeline with its span. */
function timeline(incidents: IncidentSummary[]): HTMLElement {
  if (incidents.length === 0) return h('p', { class: 'empty' }, 'No incident in this range.');
  const sorted = [...incidents].sort((a, b) => Date.parse(a.opened_at) - Date.parse(b.opened_at));
  return h(
    'ol',
    { class: 'timeline' },
    sorted.map((i) =>
      h(
        'li',
        { class: `incident ${i.state}`, 'data-incident': i.id },
        h('time', { datetime: i.opened_at }, time(i.opened_at)),
        ' ',
        badge(i.state),
        ' ',
        badge(stepText(i.step, i.level), i.step),
        ' ',
        h('strong', {}, i.resource),
        i.manual ? ' (manual)' : '',
        ' — ',
        link(`#/incident/${i.id}`, i.summary),
        i.released_at ? h('span', { class: 'hint' }, ` released ${time(i.released_at)}`) : i.until ? h('span', { class: 'hint' }, ` until ${time(i.until)}`) : null,
      ),
    ),
  );
}

export async function incidentPage(main: HTMLElement, ctx: Ctx): Promise<void> {
  const id = Number(ctx.rest[0]);
  if (!Number.isSafeInteger(id) || id < 1) throw new Error('no such incident: the address needs an incident number, e.g. #/incident/12');
  const i = await get<IncidentDetail>(`/v1/incidents/${id}`);
  main.appendChild(h('h1', {}, `Incident #${i.id}: `, i.resource, ' ', badge(i.state)));
  main.appendChild(
    dl([
      ['Tenant', link(`#/tenant/${encodeURIComponent(i.tenant ?? '')}`, i.tenant ?? '')],
      ['Host', i.host ?? '–'],
      ['Step now', stepText(i.step, i.level)],
      ['Opened', time(i.opened_at)],
      ['Until', time(i.until)],
      ['Released', time(i.released_at)],
      ['Manual', i.manual ? 'yes' : 'no'],
    ]),
  );
  main.appendChild(h('h2', {}, 'Explanation'));
  main.appendChild(explanation(i.explanation, { admin: true }));
  main.appendChild(h('h2', {}, 'Each step of the ladder'));
  main.appendChild(
    h(
      'ol',
      { class: 'ladder' },
      i.history.map((e) =>
        h(
          'li',
          { 'data-event': e.type },
          h('time', { datetime: e.at }, time(e.at)),
          ' ',
          badge(e.type),
          ' ',
          stepText(e.step, e.level),
          e.until ? ` until ${time(e.until)}` : '',
          e.manual ? h('span', { class: 'manual' }, ` — by ${e.manual.by ?? 'an admin'}: “${e.manual.reason}”`) : '',
          h('div', {}, e.explanation.action),
          h('div', { class: 'hint' }, e.explanation.summary),
        ),
      ),
    ),
  );
}
