// What a command is: its spec (name, arguments, options, help) and how it runs. A command fetches what it
// needs through the client, then either prints the API's JSON unchanged (--json) or renders it for people
// with the view (terminal width, colour, the current time).
import type { CommandSpec, OptionValues } from './args.js';
import type { Client, Query } from './client.js';
import { jsonForTerminal } from './format.js';
import { checked, type SchemaName, type Shape } from './shape.js';

export interface View {
  /** Terminal columns. */
  width: number;
  color: boolean;
  /** Milliseconds since the epoch, for ages ("5m ago"). */
  now: number;
}

export interface CommandContext {
  client: Client;
  json: boolean;
  view: View;
  out: (text: string) => void;
}

export interface Command extends CommandSpec {
  run(ctx: CommandContext, args: readonly string[], options: OptionValues): Promise<void>;
}

/** Print the body as the API sent it (scripts parse it), with C1 controls written as JSON escapes. */
export function printJson(ctx: CommandContext, text: string): void {
  const json = jsonForTerminal(text);
  ctx.out(json.endsWith('\n') ? json : `${json}\n`);
}

export interface Request {
  path: string;
  query?: Query;
}

/**
 * A command that GETs one route and shows the answer: --json prints it unchanged, else `render` draws it once
 * it is checked against the API's schema `shape`. `request` checks the arguments (a UsageError) before
 * anything is sent.
 */
export function viewCommand<K extends SchemaName>(
  spec: CommandSpec,
  request: (args: readonly string[], options: OptionValues, now: number) => Request,
  shape: K,
  render: (body: Shape<K>, view: View) => string,
): Command {
  return {
    ...spec,
    async run(ctx, args, options) {
      const r = request(args, options, ctx.view.now);
      const a = await ctx.client.get(r.path, r.query);
      if (ctx.json) return printJson(ctx, a.text);
      ctx.out(render(await checked(a, shape), ctx.view));
    },
  };
}
