// The list pages: fleet (hosts), tenants, the fairness ranking, the audit log.
import { get, qs } from '../api.js';
import { badge, h, link, replace, sortableTable, type Column } from '../dom.js';
import { ago, bytes, num, pct, time } from '../format.js';
import type { AuditEntry, FairnessRanking, HostInfo, TenantInfo } from '../wire.js';
import type { Ctx } from './ctx.js';

const tenantHref = (name: string) => `#/tenant/${encodeURIComponent(name)}`;

export async function fleetPage(main: HTMLElement): Promise<void> {
  main.appendChild(h('h1', {}, 'Fleet'));
  const { hosts } = await get<{ hosts: HostInfo[] }>('/v1/hosts');
  const cpuShare = (x: HostInfo) => (x.host_stats?.cpu_percent !== undefined && x.host_stats.cores > 0 ? x.host_stats.cpu_percent / x.host_stats.cores : null);
  const memShare = (x: HostInfo) => (x.host_stats?.memory_used !== undefined && x.host_stats.memory_bytes > 0 ? (x.host_stats.memory_used / x.host_stats.memory_bytes) * 100 : null);
  const psi = (x: HostInfo, r: 'cpu' | 'memory' | 'io') => x.host_stats?.pressure?.[r]?.some?.avg10 ?? null;
  const cols: Array<Column<HostInfo>> = [
    { title: 'Host', cell: (x) => x.host, key: (x) => x.host },
    { title: 'Cores', cell: (x) => num(x.host_stats?.cores), key: (x) => x.host_stats?.cores ?? null, numeric: true },
    { title: 'CPU', cell: (x) => pct(cpuShare(x)), key: cpuShare, numeric: true },
    { title: 'Memory', cell: (x) => (x.host_stats ? `${bytes(x.host_stats.memory_used)} / ${bytes(x.host_stats.memory_bytes)}` : '–'), key: memShare, numeric: true },
    { title: 'PSI cpu', cell: (x) => pct(psi(x, 'cpu'), 2), key: (x) => psi(x, 'cpu'), numeric: true },
    { title: 'PSI mem', cell: (x) => pct(psi(x, 'memory'), 2), key: (x) => psi(x, 'memory'), numeric: true },
    { title: 'PSI io', cell: (x) => pct(psi(x, 'io'), 2), key: (x) => psi(x, 'io'), numeric: true },
    { title: "Jain's index", cell: (x) => num(x.fairness?.jain, 3), key: (x) => x.fairness?.jain ?? null, numeric: true },
    { title: 'Tenants', cell: (x) => x.tenants, key: (x) => x.tenants, numeric: true },
    { title: 'Last report', cell: (x) => h('time', { datetime: x.last_report_at ?? '', title: time(x.last_report_at) }, ago(x.last_report_at)), key: (x) => (x.last_report_at ? Date.parse(x.last_report_at) : null) },
    {
      title: 'Open incidents',
      cell: (x) => (x.open_incidents > 0 ? badge(String(x.open_incidents), 'open') : '0'),
      key: (x) => x.open_incidents,
      numeric: true,
    },
  ];
  main.appendChild(sortableTable(hosts, cols, { rowKey: (x) => x.host, sort: 0, empty: 'No host has reported yet.' }));
  main.appendChild(h('p', { class: 'hint' }, 'CPU: percent of the host (all cores); PSI: pressure stall, "some" average over 10 s; Jain\'s index: 1 = the active tenants share fairly.'));
}

interface TenantRow extends TenantInfo {
  shares: FairnessRanking['tenants'][number]['shares'] | null;
}

export async function tenantsPage(main: HTMLElement, ctx: Ctx): Promise<void> {
  main.appendChild(h('h1', {}, 'Tenants'));
  const [{ tenants }, ranking] = await Promise.all([
    get<{ tenants: TenantInfo[]; total: number }>('/v1/tenants?limit=10000'),
    get<FairnessRanking>('/v1/fairness?window=5m&limit=10000'),
  ]);
  const shares = new Map(ranking.tenants.map((t) => [t.tenant, t.shares]));
  const rows: TenantRow[] = tenants.map((t) => ({ ...t, shares: shares.get(t.name) ?? null }));
  const share = (v: number | null | undefined) => (v === null || v === undefined ? null : v * 100);
  const cols: Array<Column<TenantRow>> = [
    { title: 'Tenant', cell: (t) => link(tenantHref(t.name), t.name), key: (t) => t.name },
    { title: 'Host', cell: (t) => t.host ?? '–', key: (t) => t.host },
    { title: 'Plan', cell: (t) => t.plan ?? '–', key: (t) => t.plan },
    { title: 'CPU now', cell: (t) => pct(share(t.shares?.cpu)), key: (t) => share(t.shares?.cpu), numeric: true },
    { title: 'Memory now', cell: (t) => pct(share(t.shares?.memory)), key: (t) => share(t.shares?.memory), numeric: true },
    { title: 'IO now', cell: (t) => pct(share(t.shares?.io)), key: (t) => share(t.shares?.io), numeric: true },
    { title: 'Fairness debt', cell: (t) => num(t.debt, 3), key: (t) => t.debt, numeric: true },
    { title: 'Open incidents', cell: (t) => (t.open_incidents > 0 ? badge(String(t.open_incidents), 'open') : '0'), key: (t) => t.open_incidents, numeric: true },
    { title: 'Last seen', cell: (t) => ago(t.last_seen), key: (t) => (t.last_seen ? Date.parse(t.last_seen) : null) },
  ];
  const filter = h('input', { id: 'filter', type: 'search', placeholder: 'filter by name, host or plan', value: ctx.params.get('q') ?? '', maxlength: 200, 'aria-label': 'filter' });
  const onlyIncidents = h('input', { id: 'only-incidents', type: 'checkbox' });
  const holder = h('div', {});
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = rows.filter((t) => (!q || [t.name, t.host ?? '', t.plan ?? ''].some((s) => s.toLowerCase().includes(q))) && (!onlyIncidents.checked || t.open_incidents > 0));
    replace(holder, h('p', { class: 'hint' }, `${shown.length} of ${rows.length} tenants; usage now: shares of the host over the last 5 minutes`), sortableTable(shown, cols, { rowKey: (t) => t.name, sort: 6, desc: true, empty: 'No tenant matches.' }));
  };
  filter.addEventListener('input', draw);
  onlyIncidents.addEventListener('change', draw);
  main.appendChild(h('div', { class: 'toolbar' }, filter, h('label', {}, onlyIncidents, ' with open incidents only')));
  main.appendChild(holder);
  draw();
}

export async function fairnessPage(main: HTMLElement, ctx: Ctx): Promise<void> {
  const window = /^\d+[mhd]$/.test(ctx.params.get('window') ?? '') ? ctx.params.get('window')! : '1h';
  main.appendChild(h('h1', {}, 'Fairness'));
  main.appendChild(h('p', { class: 'toolbar' }, 'Window: ', ['1h', '24h', '7d', '30d'].map((w) => h('a', { href: `#/fairness?window=${w}`, class: w === window ? 'current' : null }, w))));
  const r = await get<FairnessRanking>(`/v1/fairness${qs({ window, limit: 1000 })}`);
  main.appendChild(h('h2', {}, 'Hosts'));
  main.appendChild(
    sortableTable(
      r.hosts,
      [
        { title: 'Host', cell: (x) => x.host, key: (x) => x.host },
        { title: "Jain's index (avg)", cell: (x) => num(x.jain.avg, 3), key: (x) => x.jain.avg, numeric: true },
        { title: 'now', cell: (x) => num(x.jain.last, 3), key: (x) => x.jain.last, numeric: true },
        { title: 'Fair share', cell: (x) => pct((x.fair_share.avg ?? NaN) * 100), key: (x) => x.fair_share.avg, numeric: true },
        { title: 'Active tenants', cell: (x) => num(x.active_tenants.avg), key: (x) => x.active_tenants.avg, numeric: true },
      ],
      { rowKey: (x) => x.host, sort: 1, empty: 'No host data in this window.' },
    ),
  );
  main.appendChild(h('h2', {}, 'Tenants by fairness debt'));
  main.appendChild(
    sortableTable(
      r.tenants,
      [
        { title: '#', cell: (t) => t.rank, key: (t) => t.rank, numeric: true },
        { title: 'Tenant', cell: (t) => link(tenantHref(t.tenant), t.tenant), key: (t) => t.tenant },
        { title: 'Host', cell: (t) => t.host ?? '–', key: (t) => t.host },
        { title: 'Plan (weight)', cell: (t) => `${t.plan ?? '–'} (${num(t.weight, 2)})`, key: (t) => t.weight, numeric: true },
        { title: 'Debt (share-h)', cell: (t) => num(t.debt, 3), key: (t) => t.debt, numeric: true },
        { title: 'Dominant share avg / max', cell: (t) => `${pct((t.dominant_share.avg ?? NaN) * 100)} / ${pct((t.dominant_share.max ?? NaN) * 100)}`, key: (t) => t.dominant_share.avg, numeric: true },
        { title: 'Fair share', cell: (t) => pct((t.fair_share ?? NaN) * 100), key: (t) => t.fair_share, numeric: true },
        { title: 'CPU / mem / io', cell: (t) => [t.shares.cpu, t.shares.memory, t.shares.io].map((v) => pct((v ?? NaN) * 100)).join(' / ') },
        { title: 'net / inodes / API', cell: (t) => [t.shares.bandwidth, t.shares.inodes, t.shares.api].map((v) => pct((v ?? NaN) * 100)).join(' / ') },
      ],
      { rowKey: (t) => t.tenant, sort: 0, empty: 'No tenant data in this window.' },
    ),
  );
  main.appendChild(h('p', { class: 'hint' }, `Averages over ${r.from.slice(0, 16)}–${r.to.slice(0, 16)} UTC; the debt decays with a half-life of ${num(r.half_life_seconds / 3600, 1)} h.`));
}

export async function auditPage(main: HTMLElement, ctx: Ctx): Promise<void> {
  const who = (ctx.params.get('who') ?? '').slice(0, 200);
  main.appendChild(h('h1', {}, 'Audit log'));
  const input = h('input', { name: 'who', type: 'search', value: who, placeholder: 'admin name', maxlength: 200, 'aria-label': 'who' });
  main.appendChild(
    h(
      'form',
      {
        class: 'toolbar',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          location.hash = `#/audit${qs({ who: input.value.trim() })}`;
        },
      },
      input,
      h('button', { type: 'submit' }, 'Filter'),
    ),
  );
  const { entries } = await get<{ entries: AuditEntry[] }>(`/v1/audit${qs({ limit: 500, who })}`);
  main.appendChild(
    sortableTable(
      entries,
      [
        { title: 'When', cell: (e) => time(e.at), key: (e) => Date.parse(e.at) },
        { title: 'Who', cell: (e) => e.who, key: (e) => e.who },
        { title: 'Call', cell: (e) => h('code', {}, `${e.method} ${e.path}`), key: (e) => e.path },
        { title: 'Status', cell: (e) => badge(String(e.status), e.status < 400 ? 'ok' : 'bad'), key: (e) => e.status, numeric: true },
        { title: 'From', cell: (e) => e.ip ?? '–' },
        { title: 'Detail', cell: (e) => e.detail ?? '' },
      ],
      { rowKey: (e) => String(e.id), sort: 0, desc: true, empty: 'No entry.' },
    ),
  );
}
