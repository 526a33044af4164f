// web TENANT [--since 1h] [--until now]: a tenant's exact web counts over a range (requests, API calls from its
// access logs and pushed by platforms, response bytes, 5xx), with the busiest minutes.
import type { WebUsage } from '../../shared/wire/web.js';
import { viewCommand, type View } from '../command.js';
import { formatCount, formatSize, formatTime } from '../format.js';
import { renderTable, type Column } from '../table.js';
import { tenantValue } from '../values.js';
import { sinceOption, timeQuery, untilOption } from './options.js';

const MAX_ROWS = 20;

export function renderWeb(w: WebUsage, view: View): string {
  let text = `${w.tenant}, ${formatTime(w.from)} to ${formatTime(w.to)}: ${w.requests} requests, ${w.api_calls} API calls (+${w.pushed_api_calls} pushed), ${formatSize(w.bytes)} sent (${w.bytes} bytes), ${w.errors_5xx} 5xx\n`;
  if (w.minutes.length === 0) return `${text}no requests in this range\n`;
  const rows = w.minutes.length > MAX_ROWS ? w.minutes.slice(-MAX_ROWS) : w.minutes;
  const cols: Array<Column<WebUsage['minutes'][number]>> = [
    { header: 'MINUTE', value: (m) => formatTime(m.minute) },
    { header: 'REQUESTS', value: (m) => formatCount(m.requests), align: 'right' },
    { header: 'API', value: (m) => formatCount(m.api_calls), align: 'right' },
    { header: 'PUSHED', value: (m) => formatCount(m.pushed_api_calls), align: 'right' },
    { header: 'SENT', value: (m) => formatSize(m.bytes), align: 'right' },
    { header: '5XX', value: (m) => formatCount(m.errors_5xx), align: 'right' },
  ];
  text += renderTable(cols, rows, view.width);
  if (rows.length < w.minutes.length) text += `(the last ${rows.length} of ${w.minutes.length} minutes with requests; the totals cover them all)\n`;
  return text;
}

export const webCommand = viewCommand(
  {
    name: 'web',
    summary: "a tenant's web counts: requests, API calls, bytes sent, 5xx (exact totals over a range)",
    args: [{ name: 'TENANT', help: 'tenant name' }],
    options: [sinceOption('from TIME: a duration back from now (1h, 7d) or ISO-8601 (default 1h)'), untilOption()],
    details: "Counted by the agents from the web servers' access logs, per minute of the lines' own times; PUSHED: API calls platforms posted (POST /v1/usage/api).",
    examples: ['hostwardenctl web alice', 'hostwardenctl web alice --since 24h --json'],
  },
  (args, o, now) => ({ path: `/v1/tenants/${encodeURIComponent(tenantValue('TENANT', args[0]!))}/web`, query: { from: timeQuery(o, 'since', now), to: timeQuery(o, 'until', now) } }),
  'WebUsageSchema',
  renderWeb,
);
