// Where hostwardenctl finds the controller and its token. Precedence: flags > environment > ctl.yaml >
// defaults, per setting; each resolved setting remembers where it came from, so an error can say so
// ("the controller refused the token from /root/admin.token (401)").
//
//   flag           environment                               ctl.yaml      default
//   --url          HOSTWARDEN_URL                            url           http://127.0.0.1:8640
//   --token-file   HOSTWARDEN_TOKEN (the token itself),      token_file    /etc/hostwarden/admin.token
//                  then HOSTWARDEN_TOKEN_FILE
//   --timeout      HOSTWARDEN_TIMEOUT                        timeout       10s
//   --ca-file      HOSTWARDEN_CA_FILE                        ca_file       none: the system's CA store
//   --config       HOSTWARDEN_CTL_CONFIG                     -             /etc/hostwarden/ctl.yaml (may be absent)
import { existsSync, readFileSync } from 'node:fs';
import { parseDuration, UnitError } from '../shared/units.js';
import type { FileSettings } from './ctl-config.js';
import { CtlConfigError } from './errors.js';
import { normalizeUrl } from './url.js';

export const DEFAULT_CTL_CONFIG = '/etc/hostwarden/ctl.yaml';
export const DEFAULT_URL = 'http://127.0.0.1:8640';
export const DEFAULT_TOKEN_FILE = '/etc/hostwarden/admin.token';
export const DEFAULT_TIMEOUT = '10s';

/** Every key ctl.yaml may hold, with its default (documented in README.md). */
export const CTL_CONFIG_REFERENCE = `# /etc/hostwarden/ctl.yaml: settings of hostwardenctl (flags and environment override them)
url: ${DEFAULT_URL}                # HOSTWARDEN_URL, --url
token_file: ${DEFAULT_TOKEN_FILE}  # HOSTWARDEN_TOKEN_FILE (or HOSTWARDEN_TOKEN), --token-file
timeout: ${DEFAULT_TIMEOUT}                                # HOSTWARDEN_TIMEOUT, --timeout
# ca_file: /etc/hostwarden/ca.pem          # HOSTWARDEN_CA_FILE, --ca-file (absent: the system's CA store)
`;

export interface CtlFlags {
  url?: string | undefined;
  tokenFile?: string | undefined;
  config?: string | undefined;
  timeout?: string | undefined;
  caFile?: string | undefined;
}

/** A file and where its name came from ("--ca-file", "HOSTWARDEN_CA_FILE", "/etc/hostwarden/ctl.yaml ca_file"). */
export interface FileSetting {
  file: string;
  source: string;
}

/** The token itself, or the file that holds it; `source` names where the choice came from. */
export type TokenSetting = { kind: 'file'; file: string; source: string } | { kind: 'value'; value: string; source: string };

export interface CtlSettings {
  url: string;
  urlSource: string;
  token: TokenSetting;
  timeoutMs: number;
  /** The CA certificates HTTPS answers are verified with; undefined: the system's store (and Node's own). */
  ca?: FileSetting | undefined;
  /** The ctl.yaml that was read, if any. */
  configFile: string | undefined;
}

/**
 * Resolve the settings. `defaultConfig` is the ctl.yaml read when neither --config nor HOSTWARDEN_CTL_CONFIG
 * names one (tests point it elsewhere); a missing default file is fine, a missing named one is an error.
 */
export async function resolveSettings(flags: CtlFlags, env: NodeJS.ProcessEnv, defaultConfig = DEFAULT_CTL_CONFIG): Promise<CtlSettings> {
  const named = flags.config ?? nonEmpty(env.HOSTWARDEN_CTL_CONFIG);
  const namedBy = flags.config !== undefined ? '--config' : 'HOSTWARDEN_CTL_CONFIG';
  let file: FileSettings = {};
  let configFile: string | undefined;
  if (named !== undefined) {
    if (!existsSync(named)) throw new CtlConfigError(`${namedBy}: ${named} does not exist`);
    configFile = named;
  } else if (existsSync(defaultConfig)) {
    configFile = defaultConfig;
  }
  // The YAML reader is loaded only when there is a file to read.
  if (configFile !== undefined) file = (await import('./ctl-config.js')).readCtlConfig(configFile);

  let url: string;
  let urlSource: string;
  if (flags.url !== undefined) [url, urlSource] = [normalizeUrl(flags.url, (m) => fail('--url', m)), '--url'];
  else if (nonEmpty(env.HOSTWARDEN_URL) !== undefined) [url, urlSource] = [normalizeUrl(env.HOSTWARDEN_URL!, (m) => fail('HOSTWARDEN_URL', m)), 'HOSTWARDEN_URL'];
  else if (file.url !== undefined) [url, urlSource] = [file.url, `${configFile} url`];
  else [url, urlSource] = [DEFAULT_URL, 'the default'];

  let token: TokenSetting;
  const envToken = nonEmpty(env.HOSTWARDEN_TOKEN);
  const envTokenFile = nonEmpty(env.HOSTWARDEN_TOKEN_FILE);
  if (flags.tokenFile !== undefined) token = { kind: 'file', file: flags.tokenFile, source: '--token-file' };
  else if (envToken !== undefined) token = { kind: 'value', value: envToken.trim(), source: 'HOSTWARDEN_TOKEN' };
  else if (envTokenFile !== undefined) token = { kind: 'file', file: envTokenFile, source: 'HOSTWARDEN_TOKEN_FILE' };
  else if (file.tokenFile !== undefined) token = { kind: 'file', file: file.tokenFile, source: `${configFile} token_file` };
  else token = { kind: 'file', file: DEFAULT_TOKEN_FILE, source: 'the default' };

  let timeoutMs: number;
  if (flags.timeout !== undefined) timeoutMs = timeout('--timeout', flags.timeout);
  else if (nonEmpty(env.HOSTWARDEN_TIMEOUT) !== undefined) timeoutMs = timeout('HOSTWARDEN_TIMEOUT', env.HOSTWARDEN_TIMEOUT!);
  else timeoutMs = file.timeoutMs ?? parseDuration(DEFAULT_TIMEOUT);

  let ca: FileSetting | undefined;
  if (flags.caFile !== undefined) ca = { file: flags.caFile, source: '--ca-file' };
  else if (nonEmpty(env.HOSTWARDEN_CA_FILE) !== undefined) ca = { file: env.HOSTWARDEN_CA_FILE!, source: 'HOSTWARDEN_CA_FILE' };
  else if (file.caFile !== undefined) ca = { file: file.caFile, source: `${configFile} ca_file` };

  return { url, urlSource, token, timeoutMs, ...(ca ? { ca } : {}), configFile };
}

/** The bearer token: read from its file (trimmed), or given. Unreadable or empty: exit 2, saying which file and why. */
export function readToken(token: TokenSetting): string {
  if (token.kind === 'value') return token.value;
  let text: string;
  try {
    text = readFileSync(token.file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'it does not exist'
        : code === 'EACCES'
          ? 'permission denied (the admin token is readable by root only: run with sudo, or pass --token-file)'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (err as Error).message;
    throw new CtlConfigError(`cannot read the token file ${token.file} (from ${token.source}): ${why}`, { cause: err });
  }
  const value = text.trim();
  if (value === '') throw new CtlConfigError(`the token file ${token.file} (from ${token.source}) is empty`);
  if (/\s/.test(value)) throw new CtlConfigError(`the token file ${token.file} (from ${token.source}) holds more than one word; it must hold only the token`);
  return value;
}

/**
 * The PEM certificates of a CA file (one or more, e.g. a root and an intermediate). Unreadable, or without a
 * certificate in it: exit 2, saying which file, where it came from and why.
 */
export function readCa(ca: FileSetting): string {
  let text: string;
  try {
    text = readFileSync(ca.file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new CtlConfigError(`cannot read the CA file ${ca.file} (from ${ca.source}): ${why}`, { cause: err });
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CtlConfigError(`the CA file ${ca.file} (from ${ca.source}) holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  return text;
}

/** Where the token came from, in words for error messages. */
export function tokenOrigin(token: TokenSetting): string {
  return token.kind === 'file' ? token.file : token.source;
}

function timeout(where: string, text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    if (err instanceof UnitError) fail(where, err.message);
    throw err;
  }
  if (ms <= 0) fail(where, `must be more than zero, got "${text}"`);
  return ms;
}

function fail(where: string, message: string): never {
  throw new CtlConfigError(`${where}: ${message}`);
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
