// audit [--since 24h] [--who NAME]: the controller's log of admin calls.
import type { AuditEntry } from '../../schemas.js';
import { stringOption } from '../args.js';
import { checked } from '../shape.js';
import { printJson, type Command, type View } from '../command.js';
import { formatTime, NONE } from '../format.js';
import { renderTable, type Column } from '../table.js';
import { intValue, timeValue } from '../values.js';

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

export const auditCommand: Command = {
  name: 'audit',
  summary: 'the audit log of admin calls (refused ones too), newest first',
  args: [],
  options: [
    { name: 'since', type: 'string', value: 'TIME', help: 'from TIME (24h, 7d, ISO-8601)' },
    { name: 'until', type: 'string', value: 'TIME', help: 'to TIME' },
    { name: 'who', type: 'string', value: 'NAME', help: 'only calls of this admin (or "invalid-token", "anonymous")' },
    { name: 'limit', type: 'string', value: 'N', help: 'at most N entries (default 100)' },
  ],
  async run(ctx, _args, o) {
    const since = stringOption(o, 'since');
    const until = stringOption(o, 'until');
    const limit = stringOption(o, 'limit');
    if (since !== undefined) timeValue('--since', since, ctx.view.now);
    if (until !== undefined) timeValue('--until', until, ctx.view.now);
    const a = await ctx.client.get('/v1/audit', {
      from: since,
      to: until,
      who: stringOption(o, 'who'),
      limit: limit === undefined ? undefined : intValue('--limit', limit, 1, 10_000),
    });
    if (ctx.json) return printJson(ctx, a.text);
    ctx.out(renderAudit((await checked(a, 'AuditListSchema')).entries, ctx.view));
  },
};
