// Help texts: the overview (hostwardenctl --help) and one per command (hostwardenctl COMMAND --help).
import { GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from './args.js';
import { wrap } from './table.js';

const WIDTH = 100;

function synopsis(c: CommandSpec): string {
  const args = c.args.map((a) => (a.optional ? `[${a.name}]` : a.name));
  const opts = c.options.map((o) => (o.type === 'boolean' ? `[--${o.name}]` : o.name === 'reason' ? `--${o.name} ${o.value}` : `[--${o.name} ${o.value}]`));
  return ['hostwardenctl', c.name, ...args, ...opts].join(' ');
}

function optionLines(options: readonly OptionSpec[]): string {
  const left = options.map((o) => `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`);
  const w = Math.max(...left.map((l) => l.length));
  return options.map((o, i) => `  ${left[i]!.padEnd(w)}  ${wrap(o.help, WIDTH - w - 4, ' '.repeat(w + 4))}`).join('\n');
}

export function overview(commands: readonly CommandSpec[]): string {
  const names = commands.map((c) => [c.name, ...c.args.map((a) => a.name)].join(' '));
  const w = Math.max(...names.map((n) => n.length));
  const list = commands.map((c, i) => `  ${names[i]!.padEnd(w)}  ${c.summary}`).join('\n');
  return `usage: hostwardenctl [--url URL] [--token-file FILE] [--json] COMMAND [ARGUMENTS] [OPTIONS]

The admin command line of hostwarden, over the controller's REST API.

commands:
${list}

global options (anywhere on the line):
${optionLines(GLOBAL_OPTIONS)}

Settings, each from the first place that has it: the flags; the environment (HOSTWARDEN_URL,
HOSTWARDEN_TOKEN = the token itself, HOSTWARDEN_TOKEN_FILE, HOSTWARDEN_TIMEOUT, HOSTWARDEN_CA_FILE,
HOSTWARDEN_CTL_CONFIG); /etc/hostwarden/ctl.yaml (keys url, token_file, timeout, ca_file); the defaults.
Over https, the controller's certificate is verified against --ca-file when given, else the system's CA store.
Times are shown in UTC (a trailing Z). CPU is in % of one core (100% = one core); sizes are binary (MiB, GiB).
Colour only on a terminal, never with NO_COLOR set. Tables fit the terminal width (COLUMNS when not a terminal, else 80).

Exit codes: 0 ok, 1 runtime failure (controller down, refused token, HTTP error), 2 usage or configuration error.
"hostwardenctl COMMAND --help" tells more about a command.
`;
}

export function commandHelp(c: CommandSpec): string {
  let text = `usage: ${synopsis(c)}\n\n${wrap(`${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`, WIDTH)}\n`;
  if (c.details) text += `\n${wrap(c.details, WIDTH)}\n`;
  if (c.args.length) {
    const w = Math.max(...c.args.map((a) => a.name.length));
    text += `\narguments:\n${c.args.map((a) => `  ${a.name.padEnd(w)}  ${a.help}`).join('\n')}\n`;
  }
  if (c.options.length) text += `\noptions:\n${optionLines(c.options)}\n`;
  text += `\nglobal options: ${GLOBAL_OPTIONS.map((o) => `--${o.name}`).join(', ')} ("hostwardenctl --help")\n`;
  if (c.examples?.length) text += `\nexamples:\n${c.examples.map((e) => `  ${e}`).join('\n')}\n`;
  return text;
}
