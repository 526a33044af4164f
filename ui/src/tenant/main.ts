// The tenant's own page at /t/{token}: read-only usage charts (last 24 hours at minute points, last 30 days at
// hour points), open and recent incidents in plain words with what to change, whom to contact, and the
// remediation requests to acknowledge. Every call goes to this link's own API (location.pathname + /api/…),
// which answers for this tenant only; the link itself is the credential (no cookie).
import '../style.css';
import { ApiError, get, post, qs } from '../api.js';
import { badge, dl, h, replace, type Child } from '../dom.js';
import { stepText } from '../explain.js';
import { bytes, inUnit, num, pct, time } from '../format.js';
import { chartSpecs, drawCharts, usageResources } from '../usage.js';
import type { SeriesResponse, TenantCase, TenantIncident, TenantSummary } from '../wire.js';

const root = document.getElementById('app')!;
const base = `${location.pathname.replace(/\/+$/, '')}/api`;

const RANGES = [
  { label: '24h', title: 'Last 24 hours', span: 86_400_000, step: '1m' },
  { label: '30d', title: 'Last 30 days', span: 30 * 86_400_000, step: '1h' },
];

async function main(): Promise<void> {
  const page = h('main', { id: 'page', 'data-page': 'tenant' });
  replace(root, h('header', { class: 'top' }, h('span', { class: 'brand' }, 'hostwarden'), h('span', { class: 'who' }, 'your usage')), page);
  // Every call at once (the charts' series do not depend on the plan; its caps are drawn when it arrives
  // with the rest): one round trip before the page can draw.
  const specsFor = chartSpecs(null);
  const now = Date.now();
  let summary: TenantSummary;
  let cases: { cases: TenantCase[] };
  let incidents: { incidents: TenantIncident[] };
  let usages: SeriesResponse[];
  try {
    [summary, cases, incidents, ...usages] = await Promise.all([
      get<TenantSummary>(`${base}/summary`),
      get<{ cases: TenantCase[] }>(`${base}/remediation`).catch(() => ({ cases: [] as TenantCase[] })),
      get<{ incidents: TenantIncident[] }>(`${base}/incidents`),
      ...RANGES.map((r) => get<SeriesResponse>(`${base}/usage${qs({ from: new Date(now - r.span).toISOString(), to: new Date(now).toISOString(), step: r.step, resources: usageResources(specsFor) })}`)),
    ]);
  } catch (e) {
    page.appendChild(h('p', { class: 'error', role: 'alert' }, e instanceof ApiError && (e.status === 403 || e.status === 410) ? 'This link is expired or not valid. Ask your hosting provider for a new one.' : `The page could not load: ${e instanceof Error ? e.message : String(e)}`));
    page.dataset.loaded = '1';
    return;
  }
  document.title = `${summary.tenant} · usage`;
  page.appendChild(h('h1', {}, 'Usage of ', h('span', { class: 'name' }, summary.tenant)));
  const plan = summary.plan;
  page.appendChild(
    dl([
      ['Plan', plan ? `${plan.name ?? ''} ${capsText(plan)}`.trim() : '–'],
      ['Servers', summary.hosts.length ? summary.hosts.join(', ') : '–'],
    ]),
  );
  const specs = chartSpecs(plan);

  const open = cases.cases.filter((c) => c.state !== 'resolved');
  if (open.length) {
    page.appendChild(h('h2', {}, 'Requests from your hosting provider'));
    page.appendChild(h('div', { class: 'cases' }, open.map(caseBox)));
  }

  page.appendChild(h('h2', {}, 'Incidents'));
  page.appendChild(incidentList(incidents.incidents));

  RANGES.forEach((r, k) => {
    page.appendChild(h('h2', {}, r.title));
    page.appendChild(h('p', { class: 'hint' }, 'Line: average; band: the highest value in each point; dashed: your plan’s limit; shaded: when your account was slowed down.'));
    drawCharts(page, usages[k]!, specs, r.label);
  });

  page.appendChild(h('h2', {}, 'Whom to contact'));
  page.appendChild(contact(summary.contact));
  page.dataset.loaded = '1';
}

function capsText(p: NonNullable<TenantSummary['plan']>): string {
  const parts: string[] = [];
  if (p.cpu !== undefined) parts.push(`CPU ${num(p.cpu / 100, 2)} core${p.cpu === 100 ? '' : 's'}`);
  if (p.memory !== undefined) parts.push(`memory ${bytes(p.memory)}`);
  if (p.io_read !== undefined) parts.push(`disk read ${bytes(p.io_read)}/s`);
  if (p.io_write !== undefined) parts.push(`disk write ${bytes(p.io_write)}/s`);
  if (p.processes !== undefined) parts.push(`${p.processes} processes`);
  return parts.length ? `(${parts.join(', ')})` : '';
}

function incidentList(list: TenantIncident[]): HTMLElement {
  if (list.length === 0) return h('p', { class: 'empty' }, 'Nothing to report: your account was not limited recently.');
  const sorted = [...list].sort((a, b) => (a.state === b.state ? Date.parse(b.opened_at) - Date.parse(a.opened_at) : a.state === 'open' ? -1 : 1));
  return h('div', { class: 'incidents' }, sorted.map(incidentBox));
}

function incidentBox(i: TenantIncident): HTMLElement {
  const pairs: Array<[string, Child | Child[]]> = [['What happened', i.summary]];
  const limit = i.threshold && i.threshold.kind !== 'manual' ? `, limit ${inUnit(Number(i.threshold.value), i.threshold.unit)}` : '';
  if (i.measured) pairs.push(['Measured', `${inUnit(Number(i.measured.value), i.measured.unit)}${limit}`]);
  if (i.share) pairs.push(['Your share of the server', `${pct(i.share.yours * 100)} (a fair share is ${pct(i.share.fair * 100)})`]);
  pairs.push(['Were other customers waiting', i.others_waiting ? 'yes: your use slowed them down' : 'no']);
  pairs.push(['What was done', i.action]);
  pairs.push(['What would have avoided it', i.avoid]);
  const box = h(
    'article',
    { class: `incident ${i.state}`, 'data-incident': i.id },
    h('h3', {}, badge(i.state === 'open' ? 'in effect' : 'ended', i.state), ' ', `${i.resource}: ${stepText(i.step, i.level)}`, i.manual ? ' (by your hosting provider)' : '', h('span', { class: 'hint' }, ` since ${time(i.opened_at)}${i.released_at ? `, ended ${time(i.released_at)}` : i.until ? `, until ${time(i.until)}` : ''}`)),
    dl(pairs),
  );
  if (i.top_processes.length) {
    box.appendChild(h('p', { class: 'hint' }, 'Your busiest programs then: ', i.top_processes.slice(0, 5).map((p) => `${p.command} (${pct(p.cpu_percent)} CPU, ${bytes(p.rss_bytes)})`).join('; ')));
  }
  if (i.what_to_change.length) box.appendChild(h('div', { class: 'change' }, h('strong', {}, 'What to change:'), h('ul', {}, i.what_to_change.map((w) => h('li', {}, w)))));
  return box;
}

function caseBox(c: TenantCase): HTMLElement {
  const status = h('p', { class: 'hint', role: 'status' }, c.acknowledged_at ? `You acknowledged this on ${time(c.acknowledged_at)}.` : '');
  const button = h('button', {
    type: 'button',
    class: 'ack',
    'data-case': c.id,
    disabled: c.can_acknowledge === false || !!c.acknowledged_at,
    onclick: () =>
      void (async () => {
        button.disabled = true;
        try {
          const r = await post<TenantCase>(`${base}/remediation/${c.id}/ack`, {});
          replace(status, `Thank you: acknowledged on ${time(r?.acknowledged_at ?? new Date().toISOString())}. Please fix it before ${time(c.deadline)}.`);
        } catch (e) {
          button.disabled = false;
          replace(status, `Could not acknowledge: ${e instanceof Error ? e.message : String(e)}`);
        }
      })(),
  }, c.acknowledged_at ? 'Acknowledged' : 'I have read this and will fix it');
  return h(
    'article',
    { class: `case ${c.state}`, 'data-case': c.id },
    h('p', {}, h('strong', {}, 'Please fix: '), c.what),
    h('p', {}, `Deadline: ${time(c.deadline)}`, c.if_not_fixed ? ` — if it is not fixed by then: ${c.if_not_fixed}` : ''),
    button,
    status,
  );
}

function contact(c: TenantSummary['contact']): HTMLElement {
  const entries = Object.entries(c ?? {}).filter(([, v]) => typeof v === 'string' || typeof v === 'number');
  if (entries.length === 0) return h('p', {}, 'Your hosting provider’s support (the sender of the notice that brought you here).');
  return dl(
    entries.map(([k, v]) => {
      const s = String(v);
      const href = /^[^@\s]+@[^@\s]+$/.test(s) ? `mailto:${s}` : /^https?:\/\//.test(s) ? s : null;
      return [k, href ? h('a', { href, rel: 'noopener' }, s) : s];
    }),
  );
}

await main();
