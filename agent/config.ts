// agent.yaml: every key has a documented default (README "Agent configuration"); a bad value exits 2 naming
// its key. The reader turns YAML into a typed, fully defaulted AgentConfig; nothing else reads raw config.
import { type MalwareConfig, readMalwareConfig } from './malware/config.js';
import { type MetricsConfig, readMetricsConfig } from './metrics/config.js';
import { hostname } from 'node:os';
import { ConfigError } from '../shared/errors.js';
import { Section, loadYamlFile } from '../shared/config.js';
import { EMAIL_RULE, isEmail } from '../shared/email.js';
import { HOST_RE, NAME_RE, type Plan } from '../shared/wire/agent.js';
import { DEFAULT_UID_MIN, MAX_BYTES, MAX_OPS, MAX_UID, planValueProblem, uidProblem, type PlanKey } from '../shared/wire/bounds.js';
import { readConfigHomes } from './homes.js';
import { type PolicyConfig, readPolicyConfig } from './policy/policy-config.js';
import { type BandwidthConfig, readBandwidthConfig } from './shaping/config.js';
import { readApiPaths, readWebConfig, type WebConfig } from './weblogs/config.js';
import { readWebServerConfig, type WebServerConfig } from './webserver/config.js';

export const DEFAULT_AGENT_CONFIG_FILE = '/etc/hostwarden/agent.yaml';

export interface TenantConfig {
  name: string;
  /** User names or numeric UIDs. */
  users: Array<string | number>;
  email?: string;
  plan?: string;
  homes?: string[];
  domains?: string[];
  /** Path prefixes that make a request an API call (replacing the global `api_paths` for this tenant). */
  apiPaths?: string[];
}

export interface AgentConfig {
  host: string;
  intervalMs: number;
  placementIntervalMs: number;
  stateDir: string;
  uidMin: number;
  logLevel: string;
  /** false: place and measure only, never write limits (monitor mode). */
  enforce: boolean;
  /** caFile: the CA(s) of an https:// controller (absent: the system store); insecure: no plain-HTTP warning (agent/http-client.ts). */
  controller: { url: string; tokenFile: string; timeoutMs: number; caFile?: string; insecure?: boolean } | null;
  /** release_to: where --release-all moves tenants' processes (a cgroup path from each hierarchy's root). */
  cgroup: { root: string; parent: string; driver: 'auto' | 'v1' | 'v2'; releaseTo: string; enableRootControllers: boolean; systemd: 'auto' | 'yes' | 'no' };
  procRoot: string;
  passwdFile: string;
  discovery: { enabled: boolean; plan?: string; shells: string[] };
  /** Per-tenant nftables byte counters in table `inet <table>`, and the egress shaper (shaping/config.ts). */
  bandwidth: BandwidthConfig;
  /**
   * Inode counts per tenant (quota, else a walk of the homes), refreshed in the background; plan caps
   * (`plans.*.inodes`) warn from `warn` x cap, release below `release` x cap, and are held by the filesystem's
   * user quota where it is enforced and `quota` is on (agent/inode-quota.ts).
   */
  inodes: { enabled: boolean; refreshMs: number; warn: number; release: number; quota: boolean };
  /** The host inventory (collectors/inventory.ts): gathered in the background at start and every `intervalMs`. */
  inventory: { enabled: boolean; intervalMs: number };
  /** Infected-file scanning of tenants' homes (malware/config.ts); off by default. */
  malware: MalwareConfig;
  tenants: TenantConfig[];
  plans: Record<string, Plan>;
  policy: PolicyConfig;
  /** Access logs: API calls and bytes served per tenant (weblogs/). */
  web: WebConfig;
  /** The web server holding tenants' API calls (webserver/); undefined = none (the default). */
  webServer: WebServerConfig | undefined;
  /** The Prometheus endpoint of the tenants' usage (metrics/); undefined = off (the default). */
  metrics: MetricsConfig | undefined;
  /**
   * The disks' capacity for the fairness ledger's io share (`io_capacity`), reported as host_stats.io_capacity;
   * a part not given is 0 (left out of the share). Undefined: no io share.
   */
  ioCapacity?: IoCapacityConfig;
}

export interface IoCapacityConfig {
  read_bps: number;
  write_bps: number;
  iops: number;
}

/** `io_capacity: { read, write, iops }`: what the homes' disks sustain (bytes/s, bytes/s, operations/s). */
function readIoCapacity(root: Section): IoCapacityConfig | undefined {
  const s = root.section('io_capacity');
  const read = s.rate('read');
  const write = s.rate('write');
  const iops = s.number('iops', undefined, { min: 1, max: MAX_OPS });
  for (const [key, v] of [['read', read], ['write', write]] as const) {
    if (v !== undefined && v > MAX_BYTES) s.fail(key, `must be at most ${MAX_BYTES} bytes/s, got ${v}`);
  }
  s.done();
  if (read === undefined && write === undefined && iops === undefined) return undefined;
  return { read_bps: read ?? 0, write_bps: write ?? 0, iops: iops ?? 0 };
}

/** Login shells that do not count for discovery (accounts that cannot log in are not tenants). */
const NO_LOGIN_SHELLS = ['/usr/sbin/nologin', '/sbin/nologin', '/bin/false', '/usr/bin/false', '/bin/sync', ''];

export function readAgentConfig(raw: unknown): AgentConfig {
  const root = Section.root(raw);
  const host = root.string('host', hostname());
  if (!HOST_RE.test(host)) root.fail('host', `"${host}" is not a valid host name`);
  const intervalMs = root.duration('interval', '5s', { min: 100 });
  const placementIntervalMs = root.duration('placement_interval', '1s', { min: 50 });
  const stateDir = root.string('state_dir', '/var/lib/hostwarden');
  const uidMin = root.number('uid_min', DEFAULT_UID_MIN, { min: 1, max: MAX_UID, integer: true });
  const logLevel = root.oneOf('log_level', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info');
  const enforce = root.boolean('enforce', true);

  let controller: AgentConfig['controller'] = null;
  const c = root.section('controller');
  const enabled = c.boolean('enabled', true);
  const url = c.string('url', 'http://127.0.0.1:8640');
  const tokenFile = c.string('token_file', '/etc/hostwarden/agent.token');
  const timeoutMs = c.duration('timeout', '5s', { min: 100 });
  const caFile = c.string('ca_file');
  const insecure = c.boolean('insecure', false);
  c.done();
  if (enabled) {
    const protocol = URL.canParse(url) ? new URL(url).protocol : undefined;
    if (protocol !== 'http:' && protocol !== 'https:') c.fail('url', `"${url}" is not an http(s) URL`);
    controller = { url: url.replace(/\/+$/, ''), tokenFile, timeoutMs, ...(caFile !== undefined ? { caFile } : {}), ...(insecure ? { insecure } : {}) };
  }

  const cg = root.section('cgroup');
  const cgroup = {
    root: cg.string('root', '/sys/fs/cgroup'),
    parent: cg.string('parent', 'hostwarden'),
    driver: cg.oneOf('driver', ['auto', 'v1', 'v2'] as const, 'auto'),
    releaseTo: cg.string('release_to', '/'),
    enableRootControllers: cg.boolean('enable_root_controllers', true),
    // systemd hosts: tenants' cgroups in the subtree hostwarden-tenants.service delegates, logins left in their
    // session scopes with limits on their user slices (agent/systemd.ts). auto: when systemd is PID 1.
    systemd: cg.oneOf('systemd', ['auto', 'yes', 'no'] as const, 'auto'),
  };
  if (!cgroup.releaseTo.startsWith('/') || cgroup.releaseTo.split('/').includes('..')) cg.fail('release_to', `must be an absolute cgroup path without "..", got "${cgroup.releaseTo}"`);
  if (!NAME_RE.test(cgroup.parent)) cg.fail('parent', `"${cgroup.parent}" is not a valid cgroup name`);
  cg.done();
  const procRoot = root.string('proc_root', '/proc');
  const passwdFile = root.string('passwd_file', '/etc/passwd');

  const plans: Record<string, Plan> = {};
  for (const [name, p] of root.entries('plans')) {
    if (!NAME_RE.test(name)) throw new ConfigError(p.path, `plan name "${name}" may only contain letters, digits, ".", "_" and "-"`);
    plans[name] = readPlan(p);
  }

  const d = root.section('discovery');
  const discovery = {
    enabled: d.boolean('enabled', false),
    plan: d.string('plan'),
    shells: d.has('shells') ? d.scalars('shells').map(String) : [],
  };
  if (discovery.plan !== undefined && !plans[discovery.plan]) d.fail('plan', `unknown plan "${discovery.plan}" (plans: ${Object.keys(plans).join(', ') || 'none'})`);
  d.done();

  const seen = new Set<string>();
  const tenants = root.list('tenants').map((t) => {
    const name = t.string('name') ?? t.fail('name', 'is required');
    if (!NAME_RE.test(name)) t.fail('name', `"${name}" may only contain letters, digits, ".", "_" and "-" (at most 64)`);
    if (seen.has(name)) t.fail('name', `tenant "${name}" is listed twice`);
    seen.add(name);
    const users = t.scalars('users');
    if (users.length === 0) t.fail('users', 'needs at least one user name or UID');
    users.forEach((u, i) => {
      const problem = typeof u === 'number' ? uidProblem(u, uidMin) : undefined;
      if (problem) throw new ConfigError(`${t.key('users')}[${i}]`, problem);
    });
    const plan = t.string('plan');
    if (plan !== undefined && !plans[plan]) t.fail('plan', `unknown plan "${plan}" (plans: ${Object.keys(plans).join(', ') || 'none'})`);
    const email = t.string('email');
    if (email !== undefined && !isEmail(email)) t.fail('email', `"${email}" is not an email address (${EMAIL_RULE})`);
    const homes = t.has('homes') ? readConfigHomes(t) : undefined;
    const domains = t.has('domains') ? t.scalars('domains').map(String) : undefined;
    const apiPaths = readApiPaths(t, 'api_paths');
    t.done();
    const out: TenantConfig = { name, users };
    if (email !== undefined) out.email = email;
    if (plan !== undefined) out.plan = plan;
    if (homes) out.homes = homes;
    if (domains) out.domains = domains;
    if (apiPaths) out.apiPaths = apiPaths;
    return out;
  });

  const bandwidth = readBandwidthConfig(root.section('bandwidth'));
  const ino = root.section('inodes');
  const inodes = {
    enabled: ino.boolean('enabled', true),
    refreshMs: ino.duration('refresh', '10m', { min: 1000 }),
    warn: ino.number('warn', 0.9, { min: 0.01, max: 1 }),
    release: ino.number('release', 0.85, { min: 0, max: 1 }),
    quota: ino.boolean('quota', true),
  };
  if (inodes.release >= inodes.warn) ino.fail('release', `must be below warn (${inodes.warn}), got ${inodes.release}`);
  ino.done();
  const inv = root.section('inventory');
  const inventory = { enabled: inv.boolean('enabled', true), intervalMs: inv.duration('interval', '24h', { min: 60_000 }) };
  inv.done();
  const malware = readMalwareConfig(root.section('malware'));
  const policy = readPolicyConfig(root.section('policy'));
  const web = readWebConfig(root, tenants);
  const webServer = readWebServerConfig(root);
  const metrics = readMetricsConfig(root);
  const ioCapacity = readIoCapacity(root);
  root.done();
  return { host, intervalMs, placementIntervalMs, stateDir, uidMin, logLevel, enforce, controller, cgroup, procRoot, passwdFile, discovery, bandwidth, inodes, inventory, malware, tenants, plans, policy, web, webServer, metrics, ...(ioCapacity ? { ioCapacity } : {}) };
}

/**
 * Plans in config use units: `{ cpu: 100, memory: 1G, io_read: 10M, io_write: 10M, iops: 1000, processes: 100, api: 600, bandwidth: 10M, weight: 1 }`.
 * Each value is checked against the one plan rule (shared/wire/bounds.ts PLAN_LIMITS), the rule PUT /v1/plans
 * applies too, so a plan the controller serves is one this agent could have been configured with.
 */
export function readPlan(p: Section): Plan {
  const checked = (key: PlanKey, value: number | undefined): number | undefined => {
    const problem = value === undefined ? undefined : planValueProblem(key, value);
    if (problem) p.fail(key, problem);
    return value;
  };
  const plan: Plan = { weight: checked('weight', p.number('weight', 1))! };
  const cpu = checked('cpu', p.number('cpu', undefined));
  if (cpu !== undefined) plan.cpu = cpu;
  const memory = checked('memory', p.size('memory'));
  if (memory !== undefined) plan.memory = memory;
  const ioRead = checked('io_read', p.rate('io_read'));
  if (ioRead !== undefined) plan.io_read = ioRead;
  const ioWrite = checked('io_write', p.rate('io_write'));
  if (ioWrite !== undefined) plan.io_write = ioWrite;
  const iops = checked('iops', p.number('iops', undefined));
  if (iops !== undefined) plan.iops = iops;
  const processes = checked('processes', p.number('processes', undefined));
  if (processes !== undefined) plan.processes = processes;
  const api = checked('api', p.number('api', undefined));
  if (api !== undefined) plan.api = api;
  const bandwidth = checked('bandwidth', p.rate('bandwidth'));
  if (bandwidth !== undefined) plan.bandwidth = bandwidth;
  const inodes = checked('inodes', p.number('inodes', undefined));
  if (inodes !== undefined) plan.inodes = inodes;
  p.done();
  return plan;
}

/**
 * Load the agent config. With no `--config` and no file at the default path, the embedded defaults apply.
 * An explicitly given file that cannot be read is a config error (exit 2).
 */
export function loadAgentConfig(file: string | undefined, overrides: Record<string, unknown> = {}): AgentConfig {
  let raw: unknown = {};
  if (file !== undefined) raw = loadYamlFile(file, '--config');
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('(top level)', 'agent config must be a mapping of keys to values');
  return readAgentConfig({ ...(raw as Record<string, unknown>), ...overrides });
}

export { NO_LOGIN_SHELLS };
