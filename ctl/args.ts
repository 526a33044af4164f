// Command-line parsing of hostwardenctl: global options anywhere on the line, one command, its positional
// arguments and its own options. Pure: argv in, a parsed line or a UsageError (exit 2) out. `--opt value`
// and `--opt=value` both work; `--` ends the options.
import { UsageError } from '../shared/errors.js';

export interface OptionSpec {
  /** Long name without the dashes. */
  name: string;
  type: 'string' | 'boolean';
  /** Placeholder of the value in help texts (string options). */
  value?: string;
  /** One-letter alias (-h). */
  short?: string;
  help: string;
}

export interface ArgSpec {
  name: string;
  help: string;
  optional?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  args: readonly ArgSpec[];
  options: readonly OptionSpec[];
  /** More words for `hostwardenctl COMMAND --help`. */
  details?: string;
  examples?: readonly string[];
}

export type OptionValues = Readonly<Record<string, string | boolean>>;

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: 'url', type: 'string', value: 'URL', help: 'controller base URL (default http://127.0.0.1:8640)' },
  { name: 'token-file', type: 'string', value: 'FILE', help: 'file holding the admin token (default /etc/hostwarden/admin.token)' },
  { name: 'config', type: 'string', value: 'FILE', help: 'settings file (default /etc/hostwarden/ctl.yaml, when it exists)' },
  { name: 'timeout', type: 'string', value: 'DURATION', help: 'how long to wait for the controller (default 10s)' },
  { name: 'ca-file', type: 'string', value: 'FILE', help: "CA certificate(s), PEM, that the controller's HTTPS certificate must be signed by (default: the system's CA store)" },
  { name: 'json', type: 'boolean', help: "print the API's JSON answer unchanged (for scripts)" },
  { name: 'help', type: 'boolean', short: 'h', help: 'this text, or the help of a command' },
  { name: 'version', type: 'boolean', help: 'print the version of hostwardenctl' },
];

export interface ParsedLine {
  /** undefined: no command given. */
  command: CommandSpec | undefined;
  args: string[];
  options: OptionValues;
  global: OptionValues;
  /** --help, -h or `help [COMMAND]`. */
  help: boolean;
}

/** Parse `argv` (without the node and script paths) against the known commands. */
export function parseLine(argv: readonly string[], commands: readonly CommandSpec[]): ParsedLine {
  const global: Record<string, string | boolean> = {};
  const options: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  let command: CommandSpec | undefined;
  let help = false;
  let helpCommand = false;
  let onlyPositionals = false;

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (onlyPositionals || token === '-' || !token.startsWith('-')) {
      if (command === undefined && !helpCommand && token === 'help' && !onlyPositionals) {
        helpCommand = true;
        help = true;
      } else if (command === undefined) {
        command = findCommand(token, commands);
      } else {
        positionals.push(token);
      }
      continue;
    }
    if (token === '--') {
      onlyPositionals = true;
      continue;
    }
    const eq = token.indexOf('=');
    const name = token.startsWith('--') ? token.slice(2, eq === -1 ? undefined : eq) : shortName(token);
    const inline = token.startsWith('--') && eq !== -1 ? token.slice(eq + 1) : undefined;
    const own = command?.options.find((o) => o.name === name);
    const spec = own ?? GLOBAL_OPTIONS.find((o) => o.name === name || o.short === name);
    if (!spec) throw new UsageError(unknownOption(token.split('=')[0]!, command, commands));
    const into = own ? options : global;
    if (spec.type === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${spec.name} takes no value (got "${token}")`);
      into[spec.name] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`--${spec.name} needs a value (${spec.value ?? 'VALUE'})`);
      value = next;
      i++;
    }
    if (value === '') throw new UsageError(`--${spec.name} needs a value (${spec.value ?? 'VALUE'}), got an empty one`);
    into[spec.name] = value;
  }
  if (global.help) help = true;

  if (command && !help) {
    const max = command.args.length;
    if (positionals.length > max) {
      throw new UsageError(`${command.name}: unexpected argument "${positionals[max]}"${max === 0 ? ' (it takes none)' : ''}`);
    }
    const missing = command.args.find((a, i) => !a.optional && positionals[i] === undefined);
    if (missing) throw new UsageError(`${command.name}: ${missing.name} is missing (${missing.help})`);
  }
  if (helpCommand && positionals.length > 0) throw new UsageError(`help: unexpected argument "${positionals[0]}"`);
  return { command, args: positionals, options, global, help };
}

function shortName(token: string): string {
  if (token.length !== 2) throw new UsageError(`unknown option "${token}" (long options start with two dashes)`);
  return token.slice(1);
}

function findCommand(name: string, commands: readonly CommandSpec[]): CommandSpec {
  const c = commands.find((x) => x.name === name);
  if (c) return c;
  const near = closest(name, commands.map((x) => x.name));
  throw new UsageError(`unknown command "${name}"${near ? ` (did you mean "${near}"?)` : ''}`);
}

function unknownOption(option: string, command: CommandSpec | undefined, commands: readonly CommandSpec[]): string {
  const where = command ? `${command.name}: ` : '';
  const owners = commands.filter((c) => c.options.some((o) => `--${o.name}` === option)).map((c) => c.name);
  if (owners.length > 0) {
    return command ? `${command.name} takes no ${option} (${owners.join(', ')} ${owners.length === 1 ? 'does' : 'do'})` : `${option} belongs to ${owners.join(', ')}: put it after the command's name`;
  }
  const known = [...(command?.options ?? []), ...GLOBAL_OPTIONS].map((o) => `--${o.name}`);
  const near = closest(option, known);
  const hint = near ? ` (did you mean ${near}?)` : command ? ` ("hostwardenctl ${command.name} --help" lists its options)` : ' (options of a command go after its name)';
  return `${where}unknown option "${option}"${hint}`;
}

/** The candidate within edit distance 2 of `word`, if exactly one is nearest. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

// --- option values -------------------------------------------------------------------------------------------

export function stringOption(options: OptionValues, name: string): string | undefined {
  const v = options[name];
  return typeof v === 'string' ? v : undefined;
}

export function flagOption(options: OptionValues, name: string): boolean {
  return options[name] === true;
}
