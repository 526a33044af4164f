// Remediation cases: remediation list [--tenant T] [--state S] | show ID | open TENANT --what TEXT [--deadline
// 7d] [--incidents 1,2] [--step throttle:2] | ack ID [--note TEXT] | resolve ID --note TEXT.
import { UsageError } from '../../shared/errors.js';
import type { RemediationCase, RemediationOpen } from '../../shared/wire/api.js';
import { stringOption, type OptionSpec, type OptionValues } from '../args.js';
import { printJson, type Command, type CommandContext, type View } from '../command.js';
import { formatAge, formatWhen } from '../format.js';
import { checked } from '../shape.js';
import { renderFields, renderTable, type Column } from '../table.js';
import { intValue, oneOfValue, tenantValue } from '../values.js';
import { limitOption, limitQuery, tenantFilter, tenantQuery } from './options.js';

const ACTIONS = ['list', 'show', 'open', 'ack', 'resolve'] as const;
const STATES = ['open', 'acknowledged', 'overdue', 'resolved'] as const;
const STEPS = ['throttle:1', 'throttle:2', 'quarantine', 'none'] as const;

export function stepText(c: Pick<RemediationCase, 'step'>): string {
  return c.step.action === 'throttle' ? `throttle ${c.step.level ?? 1}` : c.step.action;
}

export function renderCases(cases: readonly RemediationCase[], view: View): string {
  if (cases.length === 0) return 'no remediation cases\n';
  const cols: Array<Column<RemediationCase>> = [
    { header: 'ID', value: (c) => String(c.id) },
    { header: 'TENANT', value: (c) => c.tenant },
    { header: 'HOST', value: (c) => c.host },
    { header: 'STATE', value: (c) => c.state },
    { header: 'DEADLINE', value: (c) => formatAge(c.deadline, view.now) },
    { header: 'STEP', value: (c) => `${stepText(c)} (${c.step_state})` },
    { header: 'BY', value: (c) => c.opened_by },
    { header: 'WHAT', value: (c) => c.what.replace(/\s+/g, ' '), flex: true },
  ];
  return renderTable(cols, cases, view.width);
}

export function renderCase(c: RemediationCase, view: View): string {
  const fields = renderFields([
    ['case', String(c.id)],
    ['tenant', `${c.tenant} on ${c.host}`],
    ['state', c.state],
    ['what', c.what.replace(/\s+/g, ' ')],
    ['rule', c.rule ?? undefined],
    ['opened', `${formatWhen(c.opened_at, view.now)} by ${c.opened_by}`],
    ['deadline', formatWhen(c.deadline, view.now)],
    ['acknowledged', c.acknowledged_at ? formatWhen(c.acknowledged_at, view.now) : undefined],
    ['overdue', c.overdue_at ? formatWhen(c.overdue_at, view.now) : undefined],
    ['resolved', c.resolved_at ? `${formatWhen(c.resolved_at, view.now)}: ${c.resolution ?? ''}` : undefined],
    ['overdue step', `${stepText(c)}: ${c.step_state}${c.step_action_id ? ` (action ${c.step_action_id})` : ''}${c.lift_action_id ? `, lifted by ${c.lift_action_id}` : ''}`],
  ]);
  const incidents = c.evidence.incidents.map((i) => `  #${i.id} ${formatWhen(i.opened_at, view.now)} ${i.host} ${i.rule}/${i.resource}: ${i.summary}`);
  const processes = c.evidence.top_processes.map((p) => `  pid ${p.pid} ${Math.round(p.cpu_percent)}% cpu (incident #${p.incident_id}): ${p.command}`);
  const history = c.history.map((e) => `  ${formatWhen(e.at, view.now)} ${e.type} by ${e.by}${e.note ? `: ${e.note.replace(/\s+/g, ' ')}` : ''}`);
  const section = (title: string, lines: string[]) => (lines.length ? `\n${title}\n${lines.join('\n')}\n` : '');
  return `${fields}${section('evidence: incidents', incidents)}${section('evidence: top processes', processes)}${section('history', history)}`;
}

function idValue(args: readonly string[]): number {
  if (args[1] === undefined) throw new UsageError('ID: give the case id ("hostwardenctl remediation list" shows them)');
  return intValue('ID', args[1], 1, Number.MAX_SAFE_INTEGER);
}

function noteOf(o: OptionValues, required: boolean, what: string): string | undefined {
  const note = stringOption(o, 'note');
  if (note === undefined || note.trim() === '') {
    if (required) throw new UsageError(`remediation ${what}: --note is required (say how it was fixed; it is kept with the case and told to the tenant)`);
    return undefined;
  }
  if (note.length > 2000) throw new UsageError(`remediation ${what}: --note is longer than 2000 characters`);
  return note;
}

function openBody(tenant: string, o: OptionValues): RemediationOpen {
  const what = stringOption(o, 'what');
  if (what === undefined || what.trim() === '') throw new UsageError('remediation open: --what is required (what the tenant must fix; it is sent to the tenant)');
  if (what.length > 4000) throw new UsageError('remediation open: --what is longer than 4000 characters');
  const body: RemediationOpen = { tenant, what, deadline: stringOption(o, 'deadline') ?? '7d' };
  const incidents = stringOption(o, 'incidents');
  if (incidents !== undefined) body.incidents = incidents.split(',').map((x) => intValue('--incidents', x.trim(), 1, Number.MAX_SAFE_INTEGER));
  const step = stringOption(o, 'step');
  if (step !== undefined) {
    const s = oneOfValue('--step', step, STEPS);
    body.step = s.startsWith('throttle') ? { action: 'throttle', level: Number(s.split(':')[1]) } : { action: s as 'quarantine' | 'none' };
  }
  return body;
}

const OPTIONS: OptionSpec[] = [
  tenantFilter('list: only this tenant\'s'),
  { name: 'state', type: 'string', value: STATES.join('|'), help: 'list: only cases in this state' },
  limitOption('list: at most N cases (default 100)'),
  { name: 'what', type: 'string', value: 'TEXT', help: 'open: what the tenant must fix (required; sent to the tenant)' },
  { name: 'deadline', type: 'string', value: 'TIME', help: 'open: a duration from now (7d, 72h) or an ISO-8601 time (default 7d)' },
  { name: 'incidents', type: 'string', value: 'ID,ID', help: "open: incidents of the tenant quoted as evidence (with their top processes)" },
  { name: 'step', type: 'string', value: STEPS.join('|'), help: 'open: what applies when overdue (default remediation.overdue_step)' },
  { name: 'note', type: 'string', value: 'TEXT', help: 'resolve: how it was fixed (required); ack: optional' },
];

export const remediationCommand: Command = {
  name: 'remediation',
  summary: 'remediation cases: list, show ID, open TENANT, ack ID, resolve ID',
  args: [
    { name: 'ACTION', help: ACTIONS.join(', ') },
    { name: 'ID|TENANT', help: 'the case (show, ack, resolve) or the tenant (open)', optional: true },
  ],
  options: OPTIONS,
  details:
    'A case asks a tenant to fix something by a deadline; the tenant is mailed at once (with a link to acknowledge it), reminded before the deadline, and told when it is overdue: then the step (a throttle or a freeze) applies as a manual action until the case is resolved, when it is lifted with a release.',
  examples: [
    'hostwardenctl remediation open alice --what "the backup cron job runs every minute: run it hourly" --deadline 3d --incidents 12,15',
    'hostwardenctl remediation list --state overdue',
    'hostwardenctl remediation resolve 4 --note "cron job fixed"',
  ],
  async run(ctx: CommandContext, args, o) {
    const action = oneOfValue('ACTION', args[0]!, ACTIONS);
    const show = async (answer: Awaited<ReturnType<typeof ctx.client.get>>) => {
      if (ctx.json) return printJson(ctx, answer.text);
      ctx.out(renderCase(await checked(answer, 'RemediationCaseSchema'), ctx.view));
    };
    switch (action) {
      case 'list': {
        const state = stringOption(o, 'state');
        const a = await ctx.client.get('/v1/remediation-cases', { tenant: tenantQuery(o), state: state === undefined ? undefined : oneOfValue('--state', state, STATES), limit: limitQuery(o, 10_000) });
        if (ctx.json) return printJson(ctx, a.text);
        return ctx.out(renderCases((await checked(a, 'RemediationCaseListSchema')).cases, ctx.view));
      }
      case 'show':
        return show(await ctx.client.get(`/v1/remediation-cases/${idValue(args)}`));
      case 'open': {
        if (args[1] === undefined) throw new UsageError('TENANT: give the tenant the case is for');
        return show(await ctx.client.post('/v1/remediation-cases', openBody(tenantValue('TENANT', args[1]), o)));
      }
      case 'ack': {
        const note = noteOf(o, false, 'ack');
        return show(await ctx.client.post(`/v1/remediation-cases/${idValue(args)}/acknowledge`, note === undefined ? {} : { note }));
      }
      case 'resolve':
        return show(await ctx.client.post(`/v1/remediation-cases/${idValue(args)}/resolve`, { note: noteOf(o, true, 'resolve')! }));
    }
  },
};

