// agent.yaml `web_server`: where the agent holds tenants' API calls (off unless set).
//   web_server:
//     kind: nginx                                        # the only kind so far
//     include: /etc/nginx/conf.d/hostwarden-limits.conf  # the file the agent owns (required)
//     check: [nginx, -t]                                 # validates the server's whole config
//     reload: [nginx, -s, reload]
//     per_client: 0.5                                    # a client's share of its tenant's API limit
//     timeout: 30s                                       # for each of check and reload
//     listen_queues: [80, 443]                           # sockets whose accept queue is the API contention
//                                                        #   signal: a port, "ADDR:PORT" or a unix socket path
//     queue_threshold: 8                                 # connections waiting from which it is saturated
import { basename, dirname } from 'node:path';
import type { Section } from '../../shared/config.js';

export interface WebServerConfig {
  kind: 'nginx';
  include: string;
  check: string[];
  reload: string[];
  perClient: number;
  timeoutMs: number;
  /** Listening sockets whose accept queue tells the web server's saturation (port, "ADDR:PORT" or unix path). */
  listenQueues: Array<string | number>;
  queueThreshold: number;
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

/** A port (1..65535), `ADDR:PORT` (`[::1]:443` for IPv6) or an absolute unix socket path. */
function listenSocket(s: Section, key: string, v: unknown): string | number {
  if (typeof v === 'number' || /^\d+$/.test(String(v))) {
    const port = Number(v);
    if (!Number.isInteger(port) || port < 1 || port > 65535) s.fail(key, `must be a port 1..65535, "ADDR:PORT" or a unix socket path, got ${String(v).slice(0, 100)}`);
    return port;
  }
  const text = String(v);
  if (text.startsWith('/') && text.length <= 108 && !text.includes('\0') && !/\s/.test(text)) return text;
  if (/^(?:\d{1,3}(?:\.\d{1,3}){3}|\*|\[[0-9a-fA-F:.]+\]):\d{1,5}$/.test(text) && Number(text.slice(text.lastIndexOf(':') + 1)) <= 65535) return text;
  return s.fail(key, `must be a port 1..65535, "ADDR:PORT" (IPv6 as [::1]:443) or an absolute unix socket path without spaces (at most 108 characters), got ${JSON.stringify(text.slice(0, 100))}`);
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
  const listenQueues = s.has('listen_queues') ? s.scalars('listen_queues').map((v, i) => listenSocket(s, `listen_queues[${i}]`, v)) : [80, 443];
  if (listenQueues.length > MAX_ARGS) s.fail('listen_queues', `must list at most ${MAX_ARGS} sockets`);
  const queueThreshold = s.number('queue_threshold', 8, { min: 1, max: 1_000_000, integer: true });
  s.done();
  return { kind, include, check, reload, perClient, timeoutMs, listenQueues, queueThreshold };
}
