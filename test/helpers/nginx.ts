// A real nginx (Debian's) for one test: its own prefix, config, pid file and port on 127.0.0.1, in the
// foreground under the test (stopped at cleanup), and bounded HTTP load that counts what the client received.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../bench/pg-cluster.js';
import { type Cleanup, type Daemon, spawnDaemon, waitFor } from './system.js';

export { freePort };

export interface Nginx {
  prefix: string;
  port: number;
  pidFile: string;
  daemon: Daemon;
  /** Make nginx reopen its logs (what logrotate's postrotate does). */
  reopen(): void;
}

/** A port free now on 127.0.0.1 (the kernel's pick; nginx binds it right after). */

/** Start nginx with `http` as the body of its http block (`PORT` and `PREFIX` replaced). */
export async function startNginx(cleanup: Cleanup, prefix: string, http: string): Promise<Nginx> {
  const port = await freePort();
  for (const d of ['logs', 'tmp']) mkdirSync(join(prefix, d), { recursive: true });
  const pidFile = join(prefix, 'nginx.pid');
  const conf = join(prefix, 'nginx.conf');
  const tmp = join(prefix, 'tmp');
  writeFileSync(
    conf,
    [
      'daemon off;',
      // Workers as root too: they reopen the logs themselves on SIGUSR1, in the test's 0700 temp dir.
      'user root;',
      'worker_processes 1;',
      `pid ${pidFile};`,
      `error_log ${join(prefix, 'logs/error.log')} warn;`,
      'events { worker_connections 512; }',
      'http {',
      `  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fastcgi; uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;`,
      '  default_type text/plain;',
      http.replaceAll('PORT', String(port)).replaceAll('PREFIX', prefix),
      '}',
      '',
    ].join('\n'),
  );
  const daemon = spawnDaemon(cleanup, 'nginx', ['-p', prefix, '-c', conf, '-e', join(prefix, 'logs/error.log')], process.env);
  await waitFor(
    'nginx listening',
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
    15_000,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nnginx output:\n${daemon.output()}`);
  });
  const reopen = () => process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGUSR1');
  return { prefix, port, pidFile, daemon, reopen };
}

/** The PIDs of nginx's worker processes now (the master's children, from /proc). */
export function workers(n: Nginx): number[] {
  const master = Number(readFileSync(n.pidFile, 'utf8').trim());
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // Fields after the command's closing parenthesis: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === master) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Wait until every worker of `before` has exited and new ones serve: a reload has taken effect. */
export async function reloaded(n: Nginx, before: readonly number[], timeoutMs = 60_000): Promise<void> {
  await waitFor('nginx reloaded (its old workers gone, new ones serving)', () => {
    const now = workers(n);
    return now.length > 0 && now.every((p) => !before.includes(p));
  }, timeoutMs, 100);
}

export interface Response {
  status: number;
  /** Every byte the client received (status line, headers, body): what nginx logs as $bytes_sent. */
  bytes: number;
}

/** One HTTP/1.1 request on its own connection (Connection: close), counting the bytes received. */
export function request(port: number, host: string, path: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let bytes = 0;
    let head = '';
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      if (head.length < 64) head += d.toString('latin1', 0, Math.min(d.length, 64));
    });
    s.once('error', reject);
    s.once('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3}) /.exec(head);
      if (!m) reject(new Error(`no HTTP status from nginx for ${host}${path}: ${JSON.stringify(head)}`));
      else resolve({ status: Number(m[1]), bytes });
    });
    s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: hostwarden-test\r\nConnection: close\r\n\r\n`);
  });
}
