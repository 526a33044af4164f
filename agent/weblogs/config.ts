// agent.yaml keys of the web tier: `access_logs` (the logs to follow), `api_paths` (global, and per tenant in
// `tenants[].api_paths`), `access_log_budget` (how much one tick reads at most), `api_capacity` (the API calls
// per minute the web tier serves: the fairness ledger's capacity for API calls, reported in host_stats).
import type { Section } from '../../shared/config.js';
import { NAME_RE } from '../../shared/wire/agent.js';
import { MAX_OPS } from '../../shared/wire/bounds.js';
import { DEFAULT_API_PATHS } from './attribute.js';
import { LOG_FORMATS, type LogFormat } from './parse.js';

export interface WebLogSource {
  path: string;
  format: LogFormat;
  /** A tenant's own log (format combined): every line is this tenant's. */
  tenant?: string;
  /** At the first sight of the path ever: skip what the file already holds (default) or read it all. */
  startAtEnd: boolean;
}

export interface WebConfig {
  sources: WebLogSource[];
  apiPaths: string[];
  /** Tenants' own api_paths (replacing the global list for them). */
  tenantApiPaths: Record<string, string[]>;
  /** Read buffer: also the longest line kept (longer ones are counted as unparsed and skipped). */
  chunkBytes: number;
  /** At most this many bytes and this much time per tick, over all logs (the rest waits for the next tick). */
  tickBytes: number;
  tickMs: number;
  /** API calls per minute the host's web tier serves (undefined: API calls have no share in the ledger). */
  apiCapacity?: number | undefined;
}

const MAX_SOURCES = 256;
const MAX_API_PATHS = 64;

/** An API path prefix: starts with `/`, printable, no spaces, at most 256 characters. */
export function apiPathProblem(p: string): string | undefined {
  if (!/^\/[\x21-\x7e]{0,255}$/.test(p)) return `"${p.slice(0, 300)}" must start with "/" and hold no spaces or control characters (at most 256 characters)`;
  return undefined;
}

export function readApiPaths(s: Section, key: string): string[] | undefined {
  if (!s.has(key)) return undefined;
  const list = s.scalars(key).map(String);
  if (list.length > MAX_API_PATHS) s.fail(key, `at most ${MAX_API_PATHS} paths`);
  list.forEach((p, i) => {
    const problem = apiPathProblem(p);
    if (problem) s.fail(`${key}[${i}]`, problem);
  });
  return list;
}

export function readWebConfig(root: Section, tenants: ReadonlyArray<{ name: string; apiPaths?: string[] }>): WebConfig {
  const names = new Set(tenants.map((t) => t.name));
  const seen = new Set<string>();
  const list = root.list('access_logs');
  if (list.length > MAX_SOURCES) root.fail('access_logs', `at most ${MAX_SOURCES} logs`);
  const sources = list.map((s) => {
    const path = s.string('path') ?? s.fail('path', 'is required');
    if (!path.startsWith('/') || path.split('/').includes('..')) s.fail('path', `must be an absolute path without "..", got "${path}"`);
    if (seen.has(path)) s.fail('path', `${path} is listed twice`);
    seen.add(path);
    const format = s.oneOf('format', LOG_FORMATS, 'vhost_combined');
    const tenant = s.string('tenant');
    if (tenant !== undefined && !NAME_RE.test(tenant)) s.fail('tenant', `"${tenant}" is not a tenant name`);
    if (tenant !== undefined && !names.has(tenant)) s.fail('tenant', `"${tenant}" is not one of the tenants configured here`);
    if (format === 'combined' && tenant === undefined) s.fail('tenant', 'a combined log has no virtual host: give the tenant whose log it is');
    const startAtEnd = s.oneOf('start_at', ['end', 'beginning'] as const, 'end') === 'end';
    s.done();
    return { path, format, ...(tenant !== undefined ? { tenant } : {}), startAtEnd };
  });
  const apiPaths = readApiPaths(root, 'api_paths') ?? [...DEFAULT_API_PATHS];
  const b = root.section('access_log_budget');
  const chunkBytes = b.size('chunk', '1M')!;
  const tickBytes = b.size('bytes', '16M')!;
  const tickMs = b.duration('time', '250ms', { min: 10 });
  if (chunkBytes < 4096 || chunkBytes > 64 * 1024 * 1024) b.fail('chunk', 'must be between 4K and 64M');
  if (tickBytes < chunkBytes) b.fail('bytes', 'must be at least the chunk size');
  b.done();
  const tenantApiPaths: Record<string, string[]> = {};
  for (const t of tenants) if (t.apiPaths) tenantApiPaths[t.name] = t.apiPaths;
  const apiCapacity = root.number('api_capacity', undefined, { min: 1, max: MAX_OPS });
  return { sources, apiPaths, tenantApiPaths, chunkBytes, tickBytes, tickMs, ...(apiCapacity !== undefined ? { apiCapacity } : {}) };
}
