// hostwardenctl as a function: argv and the environment in, text on stdout/stderr and an exit status out.
// The binary (controller/bin/hostwardenctl.ts) is this with the process's streams; tests call it directly.
import { EXIT_OK, EXIT_USAGE, HostwardenError, UsageError } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import { flagOption, parseLine, stringOption } from './args.js';
import { Client } from './client.js';
import type { Command, View } from './command.js';
import { actionCommand, actionsCommand, noticeCommand, quarantineCommand, releaseCommand, throttleCommand } from './commands/actions.js';
import { auditCommand } from './commands/audit.js';
import { filesCommand, scanCommand } from './commands/files.js';
import { fairnessCommand } from './commands/fairness.js';
import { hostCommand, hostsCommand, plansCommand, tenantCommand, tenantsCommand } from './commands/fleet.js';
import { explainCommand, incidentsCommand } from './commands/incidents.js';
import { remediationCommand } from './commands/remediation.js';
import { usageCommand } from './commands/usage.js';
import { webCommand } from './commands/web.js';
import { exitCodeOf } from './errors.js';
import { printable, terminalSafe } from './format.js';
import { commandHelp, overview } from './help.js';
import { readCa, readToken, resolveSettings, tokenOrigin } from './settings.js';

/** The commands of issue 4 first, then the extras. */
export const COMMANDS: readonly Command[] = [
  hostsCommand,
  tenantsCommand,
  usageCommand,
  fairnessCommand,
  incidentsCommand,
  explainCommand,
  throttleCommand,
  quarantineCommand,
  releaseCommand,
  plansCommand,
  hostCommand,
  tenantCommand,
  noticeCommand,
  actionsCommand,
  actionCommand,
  auditCommand,
  remediationCommand,
  filesCommand,
  scanCommand,
  webCommand,
];

export const DEFAULT_WIDTH = 80;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Is stdout a terminal, and how wide (undefined when not a terminal). */
  isTTY?: boolean;
  columns?: number | undefined;
  now?: () => number;
  /** The ctl.yaml read when none is named (default /etc/hostwarden/ctl.yaml). */
  defaultConfig?: string;
}

/** Terminal width: the terminal's, else COLUMNS, else 80. */
export function viewWidth(io: Pick<CliIo, 'env' | 'isTTY' | 'columns'>): number {
  if (io.isTTY && io.columns && io.columns > 0) return io.columns;
  const c = Number(io.env.COLUMNS);
  return Number.isInteger(c) && c > 0 ? c : DEFAULT_WIDTH;
}

/** Colour on a terminal unless NO_COLOR is set (https://no-color.org) or TERM is dumb. */
export function useColor(io: Pick<CliIo, 'env' | 'isTTY'>): boolean {
  return Boolean(io.isTTY) && !io.env.NO_COLOR && io.env.TERM !== 'dumb';
}

export async function runCli(argv: readonly string[], cliIo: CliIo): Promise<number> {
  // Everything written passes the last guard of format.ts: no control character but layout and our colours.
  const io: CliIo = { ...cliIo, stdout: (text) => cliIo.stdout(terminalSafe(text)), stderr: (text) => cliIo.stderr(terminalSafe(text)) };
  let commandName: string | undefined;
  try {
    const line = parseLine(argv, COMMANDS);
    const command = line.command as Command | undefined;
    commandName = command?.name;
    if (flagOption(line.global, 'version')) {
      io.stdout(`hostwardenctl ${VERSION}\n`);
      return EXIT_OK;
    }
    if (line.help) {
      io.stdout(command ? commandHelp(command) : overview(COMMANDS));
      return EXIT_OK;
    }
    if (!command) {
      io.stderr(overview(COMMANDS));
      return EXIT_USAGE;
    }
    const settings = await resolveSettings(
      {
        url: stringOption(line.global, 'url'),
        tokenFile: stringOption(line.global, 'token-file'),
        config: stringOption(line.global, 'config'),
        timeout: stringOption(line.global, 'timeout'),
        caFile: stringOption(line.global, 'ca-file'),
      },
      io.env,
      io.defaultConfig,
    );
    const client = new Client({
      url: settings.url,
      token: readToken(settings.token),
      tokenOrigin: tokenOrigin(settings.token),
      timeoutMs: settings.timeoutMs,
      userAgent: `hostwardenctl/${VERSION}`,
      // The CA file matters to https only: an http --url works whatever ctl.yaml names.
      ca: settings.ca && settings.url.startsWith('https:') ? { pem: readCa(settings.ca), ...settings.ca } : undefined,
    });
    const view: View = { width: viewWidth(io), color: useColor(io), now: (io.now ?? Date.now)() };
    await command.run({ client, json: flagOption(line.global, 'json'), view, out: io.stdout }, line.args, line.options);
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof HostwardenError)) throw err;
    commandName ??= argv.find((a) => COMMANDS.some((c) => c.name === a));
    const hint = err instanceof UsageError ? `\n(see "hostwardenctl ${commandName ? `${commandName} ` : ''}--help")` : '';
    io.stderr(`hostwardenctl: ${printable(err.message)}${hint}\n`);
    return exitCodeOf(err);
  }
}
