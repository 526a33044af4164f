// hosts, host NAME, tenants, tenant NAME, plans: the fleet as the controller knows it.
import type { HostDetail, HostInfo, PlanEntry, TenantDetail, TenantInfo } from '../../shared/wire/api.js';
import type { Psi } from '../../shared/wire/agent.js';
import { flagOption } from '../args.js';
import { viewCommand, type View } from '../command.js';
import { formatAge, formatCount, formatDebt, formatNumber, formatPercent, formatRate, formatShare, formatSize, formatWhen, NONE, plural } from '../format.js';
import { renderInventory } from '../inventory.js';
import { renderFields, renderTable, type Column } from '../table.js';
import { hostValue, tenantValue } from '../values.js';
import { hostFilter, hostQuery, limitOption, limitQuery } from './options.js';

// --- hosts ---------------------------------------------------------------------------------------------------

function psi(p: Psi | undefined): string {
  return p ? formatNumber(p.some.avg10, 1) : NONE;
}

/** The collectors that failed in the latest report ('' when none did). */
function failingCollectors(h: HostInfo): string {
  return (h.collectors ?? [])
    .filter((c) => !c.ok && !c.no_data)
    .map((c) => c.name)
    .join(', ');
}

export function renderHosts(hosts: readonly HostInfo[], view: View): string {
  if (hosts.length === 0) return 'no hosts yet: none has reported and no tenant is managed on one\n';
  const cols: Array<Column<HostInfo>> = [
    { header: 'HOST', value: (h) => h.host },
    { header: 'LAST REPORT', value: (h) => formatAge(h.last_report_at, view.now) },
    { header: 'TENANTS', value: (h) => String(h.tenants), align: 'right' },
    { header: 'INCIDENTS', value: (h) => String(h.open_incidents), align: 'right' },
    { header: 'CORES', value: (h) => formatNumber(h.host_stats?.cores), align: 'right' },
    { header: 'CPU', value: (h) => formatPercent(h.host_stats?.cpu_percent), align: 'right' },
    { header: 'MEMORY', value: (h) => (h.host_stats ? `${formatSize(h.host_stats.memory_used)} / ${formatSize(h.host_stats.memory_bytes)}` : NONE) },
    { header: 'PSI CPU/MEM/IO', value: (h) => (h.host_stats?.pressure ? ['cpu', 'memory', 'io'].map((r) => psi(h.host_stats!.pressure![r as 'cpu'])).join('/') : NONE) },
    { header: 'JAIN', value: (h) => formatNumber(h.fairness?.jain, 2), align: 'right' },
    { header: 'FAILING', value: failingCollectors, flex: true, minWidth: 10 },
  ];
  return renderTable(cols, hosts, view.width);
}

/** One host; with the detail route's answer (`inventory` present, null or not), its inventory after the collectors. */
export function renderHost(h: HostInfo & Partial<Pick<HostDetail, 'inventory'>>, view: View): string {
  const s = h.host_stats;
  const pressure = (r: 'cpu' | 'memory' | 'io') => {
    const p = s?.pressure?.[r];
    if (!p) return undefined;
    return `some ${formatPercent(p.some.avg10)}${p.full ? `, full ${formatPercent(p.full.avg10)}` : ''} (avg10)`;
  };
  let text = renderFields([
    ['host', h.host],
    ['first seen', formatWhen(h.first_seen, view.now)],
    ['last report', h.last_report_at ? `${formatWhen(h.last_report_at, view.now)}, seq ${h.last_seq ?? NONE}` : 'never'],
    ['agent', h.agent_version ?? undefined],
    ['tenants', String(h.tenants)],
    ['open incidents', String(h.open_incidents)],
    ['cpu', s ? `${formatPercent(s.cpu_percent)} of one core, out of ${formatPercent(s.cores * 100)} (${plural(s.cores, 'core')})` : undefined],
    ['memory', s ? `${formatSize(s.memory_used)} used of ${formatSize(s.memory_bytes)}` : undefined],
    ['cpu pressure', pressure('cpu')],
    ['memory pressure', pressure('memory')],
    ['io pressure', pressure('io')],
    ['io capacity', s?.io_capacity ? `read ${formatRate(s.io_capacity.read_bps)}, write ${formatRate(s.io_capacity.write_bps)}, ${formatCount(s.io_capacity.iops)} ops/s` : undefined],
    [
      'fairness',
      h.fairness ? `Jain's index ${formatNumber(h.fairness.jain, 3)}, fair share ${formatShare(h.fairness.fair_share)}, ${plural(h.fairness.active_tenants, 'active tenant')}` : undefined,
    ],
  ]);
  if (h.collectors?.length) {
    text += '\ncollectors of the latest report:\n';
    text += renderTable(
      [
        { header: 'NAME', value: (c) => c.name },
        { header: 'STATUS', value: (c) => (c.no_data ? 'no data' : c.ok ? 'ok' : 'FAILED') },
        { header: 'TIME', value: (c) => `${formatNumber(c.duration_ms, 1)}ms`, align: 'right' },
        { header: 'ERROR', value: (c) => c.error ?? '', flex: true },
      ],
      h.collectors,
      view.width,
    );
  }
  if (h.inventory !== undefined) text += renderInventory(h.inventory, view);
  return text;
}

export const hostsCommand = viewCommand(
  { name: 'hosts', summary: 'hosts, their last report, load, pressure and fairness', args: [], options: [] },
  () => ({ path: '/v1/hosts' }),
  'HostListSchema',
  (b, view) => renderHosts(b.hosts, view),
);

export const hostCommand = viewCommand(
  { name: 'host', summary: 'one host in detail, with its collectors and its inventory', args: [{ name: 'HOST', help: 'host name' }], options: [] },
  (args) => ({ path: `/v1/hosts/${encodeURIComponent(hostValue('HOST', args[0]!))}` }),
  'HostDetailSchema',
  renderHost,
);

// --- tenants -------------------------------------------------------------------------------------------------

export function renderTenants(body: { tenants: readonly TenantInfo[]; total: number }, view: View): string {
  if (body.tenants.length === 0) return body.total ? `no tenants on this page (${body.total} in all)\n` : 'no tenants\n';
  const cols: Array<Column<TenantInfo>> = [
    { header: 'TENANT', value: (t) => t.name },
    { header: 'HOST', value: (t) => t.host ?? NONE },
    { header: 'PLAN', value: (t) => t.plan ?? NONE },
    { header: 'WEIGHT', value: (t) => formatNumber(t.weight), align: 'right' },
    { header: 'MANAGED', value: (t) => (t.managed ? 'yes' : 'no') },
    { header: 'DEBT', value: (t) => formatDebt(t.debt), align: 'right' },
    { header: 'INCIDENTS', value: (t) => String(t.open_incidents), align: 'right' },
    { header: 'LAST SEEN', value: (t) => formatAge(t.last_seen, view.now) },
  ];
  let text = renderTable(cols, body.tenants, view.width);
  if (body.total > body.tenants.length) text += `(${body.tenants.length} of ${body.total} tenants; --limit shows more)\n`;
  return text;
}

/** The newest sample's values in words, one line per resource that has any. */
function latestFields(values: Readonly<Record<string, number>>): Array<[string, string | undefined]> {
  const v = (k: string) => values[k];
  const has = (...keys: string[]) => keys.some((k) => v(k) !== undefined);
  return [
    ['cpu', has('cpu_percent') ? `${formatPercent(v('cpu_percent'))} of one core` : undefined],
    ['memory', has('memory_current') ? `${formatSize(v('memory_current'))} (anon ${formatSize(v('memory_anon'))}, page cache ${formatSize(v('memory_file'))})` : undefined],
    [
      'io',
      has('io_read_bps', 'io_write_bps')
        ? `read ${formatRate(v('io_read_bps'))}, write ${formatRate(v('io_write_bps'))}, ${formatCount(v('io_read_iops'))}/${formatCount(v('io_write_iops'))} ops/s`
        : undefined,
    ],
    ['processes', has('processes') ? formatCount(v('processes')) : undefined],
    ['bandwidth', has('bandwidth_tx_bps', 'bandwidth_rx_bps') ? `sent ${formatRate(v('bandwidth_tx_bps'))}, received ${formatRate(v('bandwidth_rx_bps'))}` : undefined],
    ['inodes', has('inodes') ? formatCount(v('inodes')) : undefined],
    ['api calls', has('api_per_minute') ? `${formatCount(v('api_per_minute'))}/min` : undefined],
    [
      'pressure',
      has('pressure_cpu_some', 'pressure_memory_some', 'pressure_io_some')
        ? `cpu ${formatPercent(v('pressure_cpu_some'))}, memory ${formatPercent(v('pressure_memory_some'))}, io ${formatPercent(v('pressure_io_some'))} (some avg10)`
        : undefined,
    ],
    ['share', has('dominant_share') ? `dominant ${formatShare(v('dominant_share'))} against a fair share of ${formatShare(v('fair_share'))}` : undefined],
    ['throttle level', v('throttle_level') ? formatCount(v('throttle_level')) : undefined],
    ['frozen', v('frozen') ? 'yes (quarantined)' : undefined],
  ];
}

export function renderTenant(t: TenantDetail, view: View): string {
  const users = t.spec?.users.join(', ') ?? (t.reported?.uids ? `uids ${t.reported.uids.join(', ')}` : undefined);
  let text = renderFields([
    ['tenant', t.name],
    ['host', t.host ?? NONE],
    ['managed', t.managed ? 'yes (through the API)' : `no (reported by its agent${t.reported?.source ? `, ${t.reported.source}` : ''})`],
    ['plan', `${t.plan ?? NONE} (weight ${formatNumber(t.weight)})`],
    ['users', users],
    ['email', t.spec?.email ?? t.reported?.email],
    ['domains', t.spec?.domains?.length ? t.spec.domains.join(', ') : undefined],
    ['homes', t.spec?.homes?.length ? t.spec.homes.join(', ') : undefined],
    ['notices', t.spec?.notices === false ? 'informational notices off' : undefined],
    ['first seen', formatWhen(t.first_seen, view.now)],
    ['last seen', formatWhen(t.last_seen, view.now)],
    ['fairness debt', `${formatDebt(t.debt)} share-hours${t.debt < 0 ? ' (credit)' : ''}`],
    ['open incidents', String(t.open_incidents)],
  ]);
  if (t.latest) text += `\nlatest sample, ${formatWhen(t.latest.at, view.now)}:\n${renderFields(latestFields(t.latest.values), '  ')}`;
  return text;
}

export const tenantsCommand = viewCommand(
  {
    name: 'tenants',
    summary: 'tenants: host, plan, weight, fairness debt, open incidents',
    args: [],
    options: [hostFilter('only the tenants of this host'), { name: 'managed', type: 'boolean', help: 'only tenants managed through the API' }, limitOption('at most N tenants (default: all)')],
  },
  (_args, o) => ({ path: '/v1/tenants', query: { host: hostQuery(o), managed: flagOption(o, 'managed') ? true : undefined, limit: limitQuery(o, 100_000) } }),
  'TenantListSchema',
  renderTenants,
);

export const tenantCommand = viewCommand(
  { name: 'tenant', summary: 'one tenant in detail, with its newest sample', args: [{ name: 'TENANT', help: 'tenant name' }], options: [] },
  (args) => ({ path: `/v1/tenants/${encodeURIComponent(tenantValue('TENANT', args[0]!))}` }),
  'TenantDetailSchema',
  renderTenant,
);

// --- plans ---------------------------------------------------------------------------------------------------

export function renderPlans(plans: readonly PlanEntry[], view: View): string {
  if (plans.length === 0) return 'no plans (PUT /v1/plans/NAME defines one)\n';
  const cols: Array<Column<PlanEntry>> = [
    { header: 'PLAN', value: (p) => p.name },
    { header: 'CPU', value: (p) => formatPercent(p.plan.cpu), align: 'right' },
    { header: 'MEMORY', value: (p) => formatSize(p.plan.memory), align: 'right' },
    { header: 'IO READ', value: (p) => formatRate(p.plan.io_read), align: 'right' },
    { header: 'IO WRITE', value: (p) => formatRate(p.plan.io_write), align: 'right' },
    { header: 'IOPS', value: (p) => formatCount(p.plan.iops), align: 'right' },
    { header: 'PROCESSES', value: (p) => formatCount(p.plan.processes), align: 'right' },
    // API calls/minute: shown only when a plan has the cap (held at the web server).
    ...(plans.some((p) => p.plan.api !== undefined) ? [{ header: 'API/MIN', value: (p: PlanEntry) => formatCount(p.plan.api), align: 'right' as const }] : []),
    // Egress bytes/s: shown only when a plan has the cap (held by an HTB class).
    ...(plans.some((p) => p.plan.bandwidth !== undefined) ? [{ header: 'NET OUT', value: (p: PlanEntry) => formatRate(p.plan.bandwidth), align: 'right' as const }] : []),
    // Inodes (files and directories): shown only when a plan has the cap.
    ...(plans.some((p) => p.plan.inodes !== undefined) ? [{ header: 'INODES', value: (p: PlanEntry) => formatCount(p.plan.inodes), align: 'right' as const }] : []),
    { header: 'WEIGHT', value: (p) => formatNumber(p.plan.weight), align: 'right' },
    { header: 'TENANTS', value: (p) => String(p.tenants), align: 'right' },
    { header: 'UPDATED', value: (p) => formatAge(p.updated_at, view.now) },
  ];
  return renderTable(cols, plans, view.width) + '(cpu in % of one core; "-": no cap)\n';
}

export const plansCommand = viewCommand(
  { name: 'plans', summary: 'plans: caps per resource and fair-share weight', args: [], options: [] },
  () => ({ path: '/v1/plans' }),
  'PlanListSchema',
  (b, view) => renderPlans(b.plans, view),
);
