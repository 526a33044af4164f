// What a command is: its spec (name, arguments, options, help) and how it runs. A command fetches what it
// needs through the client, then either prints the API's JSON unchanged (--json) or renders it for people
// with the view (terminal width, colour, the current time).
import type { CommandSpec, OptionValues } from './args.js';
import type { Client } from './client.js';

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

/** Print the body as the API sent it (scripts parse it). */
export function printJson(ctx: CommandContext, text: string): void {
  ctx.out(text.endsWith('\n') ? text : `${text}\n`);
}
