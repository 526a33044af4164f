// audit [--since 24h] [--who NAME]: the controller's log of admin calls.
import type { AuditEntry } from '../../shared/wire/api.js';
import { stringOption } from '../args.js';
import { viewCommand, type View } from '../command.js';
import { formatTime, NONE } from '../format.js';
import { renderTable, type Column } from '../table.js';
import { limitOption, limitQuery, sinceOption, timeQuery, untilOption } from './options.js';

export function renderAudit(entries: readonly AuditEntry[], view: View): string {
  if (entries.length === 0) return 'no audit entries match\n';
  const cols: Array<Column<AuditEntry>> = [
    { header: 'TIME', value: (e) => formatTime(e.at, { seconds: true }) },
    { header: 'WHO', value: (e) => e.who },
    { header: 'STATUS', value: (e) => String(e.status), align: 'right' },
    { header: 'METHOD', value: (e) => e.method },
    { header: 'PATH', value: (e) => e.path },
    { header: 'FROM', value: (e) => e.ip ?? NONE },
    { header: 'DETAIL', value: (e) => e.detail ?? '', flex: true },
  ];
  return renderTable(cols, entries, view.width);
}

export const auditCommand = viewCommand(
  {
    name: 'audit',
    summary: 'the audit log of admin calls (refused ones too), newest first',
    args: [],
    options: [sinceOption(), untilOption(), { name: 'who', type: 'string', value: 'NAME', help: 'only calls of this admin (or "invalid-token", "anonymous")' }, limitOption('at most N entries (default 100)')],
  },
  (_args, o, now) => ({
    path: '/v1/audit',
    query: { from: timeQuery(o, 'since', now), to: timeQuery(o, 'until', now), who: stringOption(o, 'who'), limit: limitQuery(o, 10_000) },
  }),
  'AuditListSchema',
  (b, view) => renderAudit(b.entries, view),
);
