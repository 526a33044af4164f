// fairness [--host H] [--window 1h]: Jain's index per host, tenants ranked by fairness debt.
import type { FairnessRanking } from '../../shared/wire/api.js';
import { formatDuration } from '../../shared/units.js';
import { viewCommand, type View } from '../command.js';
import { formatDebt, formatNumber, formatShare, formatTime, NONE } from '../format.js';
import { renderTable, type Column } from '../table.js';
import { durationValue } from '../values.js';
import { hostFilter, hostQuery, limitOption, limitQuery, optionValue } from './options.js';

type HostRow = FairnessRanking['hosts'][number];
type TenantRow = FairnessRanking['tenants'][number];

export function renderFairness(f: FairnessRanking, view: View): string {
  let text = `window ${formatDuration(f.window_seconds * 1000)} (${formatTime(f.from)} to ${formatTime(f.to)}), debt half-life ${formatDuration(f.half_life_seconds * 1000)}\n`;
  if (f.hosts.length > 0) {
    const hostCols: Array<Column<HostRow>> = [
      { header: 'HOST', value: (h) => h.host },
      { header: 'JAIN NOW', value: (h) => formatNumber(h.jain.last, 3), align: 'right' },
      { header: 'JAIN AVG', value: (h) => formatNumber(h.jain.avg, 3), align: 'right' },
      { header: 'JAIN MAX', value: (h) => formatNumber(h.jain.max, 3), align: 'right' },
      { header: 'FAIR SHARE', value: (h) => formatShare(h.fair_share.last), align: 'right' },
      { header: 'ACTIVE', value: (h) => formatNumber(h.active_tenants.last, 0), align: 'right' },
      { header: 'ACTIVE AVG', value: (h) => formatNumber(h.active_tenants.avg, 1), align: 'right' },
    ];
    text += `\n${renderTable(hostCols, f.hosts, view.width)}(Jain's index: 1 when every active tenant has the same weighted share, 1/N when one takes all)\n`;
  }
  if (f.tenants.length === 0) return `${text}\nno tenants with fairness data\n`;
  const cols: Array<Column<TenantRow>> = [
    { header: 'RANK', value: (t) => String(t.rank), align: 'right' },
    { header: 'TENANT', value: (t) => t.tenant },
    { header: 'HOST', value: (t) => t.host ?? NONE },
    { header: 'PLAN', value: (t) => t.plan ?? NONE },
    { header: 'WEIGHT', value: (t) => formatNumber(t.weight), align: 'right' },
    { header: 'DEBT', value: (t) => formatDebt(t.debt), align: 'right' },
    { header: 'DOMINANT AVG', value: (t) => formatShare(t.dominant_share.avg), align: 'right' },
    { header: 'DOMINANT MAX', value: (t) => formatShare(t.dominant_share.max), align: 'right' },
    { header: 'FAIR', value: (t) => formatShare(t.fair_share), align: 'right' },
    { header: 'CPU', value: (t) => formatShare(t.shares.cpu), align: 'right' },
    { header: 'MEMORY', value: (t) => formatShare(t.shares.memory), align: 'right' },
    { header: 'IO', value: (t) => formatShare(t.shares.io), align: 'right' },
    { header: 'NET', value: (t) => formatShare(t.shares.bandwidth), align: 'right' },
    { header: 'INODES', value: (t) => formatShare(t.shares.inodes), align: 'right' },
    { header: 'API', value: (t) => formatShare(t.shares.api), align: 'right' },
  ];
  text += `\n${renderTable(cols, f.tenants, view.width)}`;
  text += '(DEBT in share-hours, positive = took more than its fair share, negative = credit; shares are of the host, averaged over the window; NET, INODES, API: none where the host reports no capacity)\n';
  return text;
}

export const fairnessCommand = viewCommand(
  {
    name: 'fairness',
    summary: "tenants ranked by fairness debt, with each host's Jain's index",
    args: [],
    options: [hostFilter("only this host's tenants"), { name: 'window', type: 'string', value: 'DURATION', help: 'the window of the averages (default 1h, at least 1m)' }, limitOption('at most N tenants (default 100)')],
  },
  (_args, o) => ({
    path: '/v1/fairness',
    query: {
      host: hostQuery(o),
      window: optionValue(o, 'window', (n, v) => (durationValue(n, v, { min: 60_000 }), v)),
      limit: limitQuery(o, 10_000),
    },
  }),
  'FairnessRankingSchema',
  renderFairness,
);
