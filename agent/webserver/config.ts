// agent.yaml `web_server`: where the agent holds tenants' API calls (off unless set).
//   web_server:
//     kind: nginx                                        # the only kind so far
//     include: /etc/nginx/conf.d/hostwarden-limits.conf  # the file the agent owns (required)
//     check: [nginx, -t]                                 # validates the server's whole config
//     reload: [nginx, -s, reload]
//     per_client: 0.5                                    # a client's share of its tenant's API limit
//     timeout: 30s                                       # for each of check and reload
import { basename, dirname } from 'node:path';
import type { Section } from '../../shared/config.js';

export interface WebServerConfig {
  kind: 'nginx';
  include: string;
  check: string[];
  reload: string[];
  perClient: number;
  timeoutMs: number;
}

const MAX_ARGS = 64;

function argv(s: Section, key: string, def: string[]): string[] {
  if (!s.has(key)) return def;
  const list = s.scalars(key).map(String);
  if (list.length === 0 || list.length > MAX_ARGS) s.fail(key, `must be a command and its arguments (1..${MAX_ARGS} items)`);
  list.forEach((a, i) => {
    if (a.length === 0 || a.length > 4096 || a.includes('\0')) s.fail(`${key}[${i}]`, 'must be a non-empty argument of at most 4096 characters');
  });
  return list;
}

export function readWebServerConfig(root: Section): WebServerConfig | undefined {
  if (!root.has('web_server')) return undefined;
  const s = root.section('web_server');
  const kind = s.oneOf('kind', ['nginx'] as const, 'nginx');
  const include = s.string('include') ?? s.fail('include', 'is required: the file the agent writes (nginx reads it inside http {})');
  if (!include.startsWith('/') || include.split('/').includes('..') || include.endsWith('/')) s.fail('include', `must be an absolute file path without "..", got "${include}"`);
  if (basename(include).startsWith('.')) s.fail('include', 'must not be a hidden file (the agent writes its temp file as .NAME.tmp beside it)');
  if (dirname(include) === '/') s.fail('include', 'must be in a directory, not /');
  const check = argv(s, 'check', ['nginx', '-t']);
  const reload = argv(s, 'reload', ['nginx', '-s', 'reload']);
  const perClient = s.number('per_client', 0.5);
  if (!(perClient > 0 && perClient <= 1)) s.fail('per_client', `must be a fraction in (0, 1], got ${perClient}`);
  const timeoutMs = s.duration('timeout', '30s', { min: 100 });
  s.done();
  return { kind, include, check, reload, perClient, timeoutMs };
}
