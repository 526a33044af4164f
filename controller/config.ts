// controller.yaml. Every key has a default (CONTROLLER_CONFIG_REFERENCE documents them); unknown keys and
// bad values are ConfigErrors naming the key (the binary exits 2).
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import cron from 'node-cron';
import { loadYamlFile, Section } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { HOST_RE } from '../shared/wire/agent.js';
import { NOTICES_CONFIG_REFERENCE, parseNoticesConfig, parseSmtpConfig, type NoticesConfig, type SmtpConfig } from './notices/config.js';
import { parsePublicUrl, parseRemediationConfig, REMEDIATION_CONFIG_REFERENCE, type RemediationConfig } from './remediation/config.js';
import { DATABASE_CONFIG_REFERENCE, parseDatabaseConfig, type PostgresConfig } from './store/postgres/config.js';
import { parseTlsConfig, TLS_CONFIG_REFERENCE, type TlsConfig } from './tls.js';
import { parseTenantsConfig, TENANTS_CONFIG_REFERENCE, type TenantLimits } from './trust.js';
import type { AdminRole } from './store/ui-store.js';
import { parseUiConfig, UI_CONFIG_REFERENCE, type UiConfig } from './ui/config.js';

export const DEFAULT_CONFIG_FILE = '/etc/hostwarden/controller.yaml';
/** ingest.max_report_size: reports of 3000 tenants with pressure and a burst of incident events fit well within. */
export const DEFAULT_REPORT_BODY_LIMIT = 32 * 1024 * 1024;

/** The reference of every key and its default, as a controller.yaml. */
export const CONTROLLER_CONFIG_REFERENCE = `# hostwarden controller configuration (every key is optional; shown with its default)
listen: 127.0.0.1:8640                       # address:port of the REST API ([::1]:8640 for IPv6)
${TLS_CONFIG_REFERENCE}state_dir: /var/lib/hostwarden               # the database is <state_dir>/controller.db
${DATABASE_CONFIG_REFERENCE}admin_token_file: /etc/hostwarden/admin.token  # created with a random token (mode 0600) when missing
admins: []                                   # more admins: [{ name: alice, token_file: FILE }] or token_sha256: HEX;
                                             #   role: viewer makes a read-only admin (GET only; default role: admin)
agents: []                                   # [{ host: web01, token_file: /etc/hostwarden/agent-web01.token }]
                                             #   or token_sha256: <sha256 hex of the agent's token>
agents_dir:                                  # a directory of HOST.token files, one agent each (none by default;
                                             #   the package sets /etc/hostwarden/agents.d); not writable by others
usage_api_tokens: []                         # tokens that may only POST /v1/usage/api: [{ name: shop, token_file: FILE }]
${NOTICES_CONFIG_REFERENCE}retention:
  raw: 48h                                   # raw samples
  minute: 90d                                # 1-minute rollups (average and maximum)
  hour: 730d                                 # 1-hour rollups (2 years; durations have no "y" unit); also released
                                             # incidents, finished manual actions and the audit log
  schedule: "*/15 * * * *"                   # cron expression of the retention run
fairness:
  half_life: 24h                             # decay of the fairness debt
  active_threshold: 0.001                    # share below which a tenant is idle (not counted in the fair share)
rollup:
  flush_interval: 15m                        # closed minutes kept per host before they are written (SQLite: in memory; PostgreSQL: queued)
ingest:
  parser_threads: ${defaultParserThreads()}                          # threads parsing reports beside the main one (0 = none); default: 1 on 2-3 cores, cores - 2 from 4 (at most 4)
  max_report_size: 32M                       # largest report body accepted
${TENANTS_CONFIG_REFERENCE}${REMEDIATION_CONFIG_REFERENCE}${UI_CONFIG_REFERENCE}log_level: info                              # fatal, error, warn, info, debug, trace
`;

export interface TokenSource {
  /** Config key, for errors. */
  key: string;
  tokenFile?: string | undefined;
  tokenSha256?: string | undefined;
}

export interface ControllerConfig {
  listen: { host: string; port: number };
  /** Absent: plain HTTP (controller/tls.ts). */
  tls: TlsConfig | undefined;
  stateDir: string;
  /** The SQLite store's file (<state_dir>/controller.db). */
  database: string;
  /** database.url: the PostgreSQL store (store/postgres/config.ts); undefined: SQLite. */
  postgres: PostgresConfig | undefined;
  adminTokenFile: string;
  admins: Array<TokenSource & { name: string; role: AdminRole }>;
  agents: Array<TokenSource & { host: string }>;
  /** agents_dir: HOST.token files, each one more agent (controller/agents-dir.ts); undefined: none. */
  agentsDir: string | undefined;
  /** Tokens that may only POST /v1/usage/api (platforms pushing the API calls they metered). */
  usageApiTokens: Array<TokenSource & { name: string }>;
  /** Absent: notices go to the outbox directory (notices.outbox_dir). */
  smtp: SmtpConfig | undefined;
  notices: NoticesConfig;
  retention: { rawMs: number; minuteMs: number; hourMs: number; schedule: string };
  fairness: { halfLifeMs: number; activeThreshold: number };
  rollup: { flushIntervalMs: number };
  ingest: { parserThreads: number; maxReportSize: number };
  /** Unmanaged tenants: expiry and the per-host cap (controller/trust.ts). */
  tenants: TenantLimits;
  /** Base URL of links in tenants' notices (public_url); undefined: no link. */
  publicUrl: string | undefined;
  /** Remediation cases (controller/remediation). */
  remediation: RemediationConfig;
  /** The dashboard and the tenant pages (controller/ui). */
  ui: UiConfig;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

/**
 * Parsing is ~60% of a report's CPU; with a parser thread the main thread (HTTP, SQLite) takes about 250k
 * samples per CPU-second (bench/ingest.ts). One thread from 2 cores (measured on 2: 170k samples/s against
 * 130-150k inline), cores - 2 from 4 on, at most 4; none on a single core.
 */
export function defaultParserThreads(cores = availableParallelism()): number {
  if (cores < 2) return 0;
  return cores < 4 ? 1 : Math.min(4, cores - 2);
}


export function parseListen(text: string, key = 'listen'): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new ConfigError(key, `must be address:port (127.0.0.1:8640, [::1]:8640), got "${text}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function tokenSource(s: Section, key: string): { tokenFile?: string; tokenSha256?: string } {
  const tokenFile = s.string('token_file');
  const tokenSha256 = s.string('token_sha256');
  if ((tokenFile === undefined) === (tokenSha256 === undefined)) throw new ConfigError(key, 'give exactly one of token_file and token_sha256');
  if (tokenSha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(tokenSha256)) throw new ConfigError(`${key}.token_sha256`, 'must be 64 hex digits (sha256sum of the token)');
  return { ...(tokenFile !== undefined ? { tokenFile } : {}), ...(tokenSha256 !== undefined ? { tokenSha256: tokenSha256.toLowerCase() } : {}) };
}

export function parseControllerConfig(raw: unknown): ControllerConfig {
  const root = Section.root(raw, 'controller.yaml');
  const listen = parseListen(root.string('listen', '127.0.0.1:8640'));
  let tls: ControllerConfig['tls'];
  if (root.has('tls')) tls = parseTlsConfig(root.section('tls'));
  else root.section('tls');
  const stateDir = root.string('state_dir', '/var/lib/hostwarden');
  const adminTokenFile = root.string('admin_token_file', '/etc/hostwarden/admin.token');
  const postgres = parseDatabaseConfig(root.section('database'));

  const admins = root.list('admins').map((s, i) => {
    const key = `admins[${i}]`;
    const name = s.string('name');
    if (!name || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) throw new ConfigError(`${key}.name`, 'required: letters, digits, . _ @ - (up to 64)');
    const src = tokenSource(s, key);
    const role = s.oneOf('role', ['admin', 'viewer'] as const, 'admin');
    s.done();
    return { key, name, role, ...src };
  });
  const seenAdmins = new Set(['admin']);
  for (const a of admins) {
    if (seenAdmins.has(a.name)) throw new ConfigError(`${a.key}.name`, `"${a.name}" is used twice (the admin_token_file admin is "admin")`);
    seenAdmins.add(a.name);
  }

  const agents = root.list('agents').map((s, i) => {
    const key = `agents[${i}]`;
    const host = s.string('host');
    if (!host || !HOST_RE.test(host)) throw new ConfigError(`${key}.host`, `required: a host name, got ${host === undefined ? 'nothing' : `"${host}"`}`);
    const src = tokenSource(s, key);
    s.done();
    return { key, host, ...src };
  });
  const usageApiTokens = root.list('usage_api_tokens').map((s, i) => {
    const key = `usage_api_tokens[${i}]`;
    const name = s.string('name');
    if (!name || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) throw new ConfigError(`${key}.name`, 'required: letters, digits, . _ @ - (up to 64)');
    if (seenAdmins.has(name)) throw new ConfigError(`${key}.name`, `"${name}" is already an admin's name`);
    seenAdmins.add(name);
    const src = tokenSource(s, key);
    s.done();
    return { key, name, ...src };
  });
  const seenHosts = new Set<string>();
  for (const a of agents) {
    if (seenHosts.has(a.host)) throw new ConfigError(`${a.key}.host`, `host ${a.host} is listed twice`);
    seenHosts.add(a.host);
  }

  const agentsDir = root.string('agents_dir') || undefined;
  if (agentsDir !== undefined && !agentsDir.startsWith('/')) throw new ConfigError('agents_dir', `must be an absolute path, got "${agentsDir}"`);

  let smtp: ControllerConfig['smtp'];
  if (root.has('smtp')) smtp = parseSmtpConfig(root.section('smtp'));
  else root.section('smtp');
  const notices = parseNoticesConfig(root.section('notices'));

  const r: Section = root.section('retention');
  const retention = {
    rawMs: r.duration('raw', '48h', { min: 3_600_000 }),
    minuteMs: r.duration('minute', '90d', { min: 3_600_000 }),
    hourMs: r.duration('hour', '730d', { min: 86_400_000 }),
    schedule: r.string('schedule', '*/15 * * * *'),
  };
  if (!cron.validate(retention.schedule)) r.fail('schedule', `not a valid cron expression: "${retention.schedule}" (e.g. "*/15 * * * *")`);
  r.done();

  const f = root.section('fairness');
  const fairness = { halfLifeMs: f.duration('half_life', '24h', { min: 60_000 }), activeThreshold: f.number('active_threshold', 0.001, { min: 0, max: 1 }) };
  f.done();

  const ro: Section = root.section('rollup');
  const rollup = { flushIntervalMs: ro.duration('flush_interval', '15m', { min: 60_000 }) };
  if (rollup.flushIntervalMs > retention.rawMs / 2) ro.fail('flush_interval', 'must be at most half of retention.raw (unflushed minutes are rebuilt from raw rows after a restart)');
  ro.done();

  const ing: Section = root.section('ingest');
  const ingest = {
    parserThreads: ing.number('parser_threads', defaultParserThreads(), { min: 0, max: 64, integer: true }),
    maxReportSize: ing.size('max_report_size', DEFAULT_REPORT_BODY_LIMIT)!,
  };
  if (ingest.maxReportSize < 64 * 1024) ing.fail('max_report_size', 'must be at least 64K');
  ing.done();

  const tenants = parseTenantsConfig(root.section('tenants'));
  const publicUrl = parsePublicUrl(root);
  const remediation = parseRemediationConfig(root.section('remediation'));
  const ui = parseUiConfig(root.section('ui'), parseListen);

  const logLevel = root.oneOf('log_level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const, 'info');
  root.done();
  return {
    listen,
    tls,
    stateDir,
    database: join(stateDir, 'controller.db'),
    postgres,
    adminTokenFile,
    admins,
    agents,
    agentsDir,
    usageApiTokens,
    smtp,
    notices,
    retention,
    fairness,
    rollup,
    ingest,
    tenants,
    publicUrl,
    remediation,
    ui,
    logLevel,
  };
}

/**
 * Read the config. An explicitly given file must exist; the default file may be missing (embedded defaults,
 * `source` says so).
 */
export function loadControllerConfig(file: string | undefined, defaultFile = DEFAULT_CONFIG_FILE): { config: ControllerConfig; source: string } {
  if (file === undefined) {
    try {
      return { config: parseControllerConfig(loadYamlFile(defaultFile)), source: defaultFile };
    } catch (err) {
      if (err instanceof ConfigError && err.key === 'config' && /ENOENT|no such file/.test(err.message)) {
        return { config: parseControllerConfig({}), source: 'embedded defaults' };
      }
      throw err;
    }
  }
  return { config: parseControllerConfig(loadYamlFile(file)), source: file };
}
