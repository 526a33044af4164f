// Manual actions: notice|throttle|quarantine|release TENANT --reason R [--ttl 1h] [--level 2] queue one;
// actions [--tenant T] [--host H] lists them; action ID shows one.
import type { ActionRequest, ActionStatus } from '../../shared/wire/api.js';
import { UsageError } from '../../shared/errors.js';
import { formatDuration } from '../../shared/units.js';
import { stringOption, type OptionSpec } from '../args.js';
import { ControllerError } from '../errors.js';
import { checked } from '../shape.js';
import { printJson, viewCommand, type Command, type CommandContext, type View } from '../command.js';
import { formatAge, formatWhen, NONE } from '../format.js';
import { renderFields, renderTable, type Column } from '../table.js';
import { durationValue, intValue, tenantValue } from '../values.js';
import { hostFilter, hostQuery, tenantFilter, tenantQuery } from './options.js';

const SHORT_ID = 8;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** "throttle level 2", "quarantine"; `short`: "throttle 2" for tables. */
export function actionWords(a: Pick<ActionStatus, 'action' | 'level'>, short = false): string {
  return a.action === 'throttle' ? `throttle ${short ? '' : 'level '}${a.level ?? 1}` : a.action;
}

const STATE_WORDS: Record<ActionStatus['state'], string> = {
  pending: 'the agent applies it when it next pulls its policy',
  applied: 'the agent applied it',
  failed: 'the agent could not apply it',
  expired: 'its time is over',
  released: 'a release ended it',
  done: 'the agent carried it out',
};

export function renderQueued(a: ActionStatus, ttlGiven: boolean, view: View): string {
  const until = a.expires_at ? `until ${formatWhen(a.expires_at, view.now)}` : ttlGiven || (a.action !== 'throttle' && a.action !== 'quarantine') ? '' : "for the agent's default time (no --ttl)";
  const head = `queued ${actionWords(a)} ${a.action === 'notice' ? 'to' : 'of'} ${a.tenant} on ${a.host}${until ? ` ${until}` : ''}: "${a.reason}"`;
  return `${head}\naction ${a.id} is ${a.state}: ${STATE_WORDS[a.state]} ("hostwardenctl actions --tenant ${a.tenant}" shows its state)\n`;
}

export function renderAction(a: ActionStatus, view: View): string {
  return renderFields([
    ['action', a.id],
    ['tenant', `${a.tenant} on ${a.host}`],
    ['what', actionWords(a)],
    ['reason', a.reason],
    ['by', a.by ?? NONE],
    ['created', formatWhen(a.created_at, view.now)],
    ['expires', a.expires_at ? formatWhen(a.expires_at, view.now) : undefined],
    ['state', `${a.state} since ${formatWhen(a.state_at, view.now)}: ${STATE_WORDS[a.state]}`],
    ['message', a.message ?? undefined],
  ]);
}

export function renderActions(actions: readonly ActionStatus[], view: View): string {
  if (actions.length === 0) return 'no manual actions\n';
  const cols: Array<Column<ActionStatus>> = [
    { header: 'ID', value: (a) => a.id.slice(0, SHORT_ID) },
    { header: 'TENANT', value: (a) => a.tenant },
    { header: 'HOST', value: (a) => a.host },
    { header: 'ACTION', value: (a) => actionWords(a, true) },
    { header: 'STATE', value: (a) => a.state },
    { header: 'SINCE', value: (a) => formatAge(a.state_at, view.now) },
    { header: 'EXPIRES', value: (a) => (a.expires_at ? formatAge(a.expires_at, view.now) : NONE) },
    { header: 'BY', value: (a) => a.by ?? NONE },
    { header: 'REASON', value: (a) => (a.message ? `${a.reason} [${a.message}]` : a.reason), flex: true },
  ];
  return renderTable(cols, actions, view.width);
}

const REASON: OptionSpec = { name: 'reason', type: 'string', value: 'TEXT', help: 'why (required; kept with the action, shown in the notice and the audit log)' };
const TTL: OptionSpec = { name: 'ttl', type: 'string', value: 'DURATION', help: 'how long it lasts (e.g. 30m, 1h, 2d); default: the agent\'s (throttle 1h, quarantine policy.quarantine.max)' };
const LEVEL: OptionSpec = { name: 'level', type: 'string', value: '1|2', help: "throttle level (default 1): the agent's policy.throttle.level1 / level2 of the plan's caps, by default a half / a quarter" };

function queueCommand(action: ActionRequest['action'], summary: string, options: OptionSpec[], details: string): Command {
  return {
    name: action,
    summary,
    args: [{ name: 'TENANT', help: 'tenant name' }],
    options: [REASON, ...options],
    details,
    examples: [`hostwardenctl ${action} alice --reason "abuse ticket 4711"${action === 'throttle' ? ' --ttl 2h --level 2' : ''}`],
    async run(ctx: CommandContext, args, o) {
      const tenant = tenantValue('TENANT', args[0]!);
      const reason = stringOption(o, 'reason');
      if (reason === undefined || reason.trim() === '') throw new UsageError(`${action}: --reason is required (say why; it is kept with the action)`);
      if (reason.length > 2000) throw new UsageError(`${action}: --reason is longer than 2000 characters`);
      const body: ActionRequest = { action, reason };
      const ttl = stringOption(o, 'ttl');
      if (ttl !== undefined) {
        durationValue('--ttl', ttl, { min: 1000 });
        body.ttl = ttl;
      }
      const level = stringOption(o, 'level');
      if (level !== undefined) body.level = intValue('--level', level, 1, 2);
      const a = await ctx.client.post(`/v1/tenants/${encodeURIComponent(tenant)}/actions`, body);
      if (ctx.json) return printJson(ctx, a.text);
      ctx.out(renderQueued(await checked(a, 'ActionStatusSchema'), ttl !== undefined, ctx.view));
    },
  };
}

export const throttleCommand = queueCommand(
  'throttle',
  "throttle a tenant's cpu (and disk io where its plan caps it) by hand",
  [TTL, LEVEL],
  "The agent applies it at its next policy pull: cpu held to the level's fraction of the plan's cpu cap (or of the host, without one), with a lower scheduling weight, and the plan's io caps cut the same way; until it expires or is released. It overrides the automatic ladder for the tenant meanwhile.",
);
export const quarantineCommand = queueCommand(
  'quarantine',
  "freeze all of a tenant's processes (cgroup freeze)",
  [TTL],
  `Frozen processes keep their memory and files but get no CPU until the quarantine ends (--ttl, default the agent's policy.quarantine.max, ${formatDuration(15 * 60_000)} unless configured) or a release.`,
);
export const releaseCommand = queueCommand(
  'release',
  "lift a tenant's manual action and end its automatic incidents",
  [],
  'Limits go back to the plan; frozen processes are thawed.',
);
export const noticeCommand = queueCommand('notice', 'send a tenant a notice (no limit changes)', [], 'Opens a notice step for the tenant; the controller mails the notice to the tenant when notices are set up.');

export const actionsCommand = viewCommand(
  { name: 'actions', summary: 'manual actions and their state (pending, applied, failed, expired, released, done), newest first', args: [], options: [tenantFilter(), hostFilter()] },
  (_args, o) => ({ path: '/v1/actions', query: { tenant: tenantQuery(o), host: hostQuery(o) } }),
  'ActionListSchema',
  (b, view) => renderActions(b.actions, view),
);

export const actionCommand: Command = {
  name: 'action',
  summary: 'one manual action in full',
  args: [{ name: 'ID', help: `action id, or its first ${SHORT_ID}+ characters as "actions" shows them` }],
  options: [],
  async run(ctx, args) {
    let id = args[0]!.toLowerCase();
    if (!UUID.test(id)) {
      if (!/^[0-9a-f-]{4,35}$/.test(id)) throw new UsageError(`ID: "${args[0]}" is not an action id`);
      const all = (await checked(await ctx.client.get('/v1/actions'), 'ActionListSchema')).actions.filter((a) => a.id.startsWith(id));
      if (all.length === 0) throw new ControllerError(404, 'not_found', `action ${args[0]} is not known (no id among the newest 1000 starts with it)`);
      if (all.length > 1) throw new UsageError(`ID: "${args[0]}" is the start of ${all.length} action ids; give more of it`);
      id = all[0]!.id;
    }
    const a = await ctx.client.get(`/v1/actions/${encodeURIComponent(id)}`);
    if (ctx.json) return printJson(ctx, a.text);
    ctx.out(renderAction(await checked(a, 'ActionStatusSchema'), ctx.view));
  },
};
