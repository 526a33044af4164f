// A PostgreSQL cluster of a test's or a benchmark's own (issue 15): Debian's server binaries
// (/usr/lib/postgresql/N/bin, the newest N), `initdb` run as the `postgres` user into a fresh /tmp/hw-pg-*
// directory, the server listening on a Unix socket in that directory only (no TCP port unless asked for),
// stopped and removed afterwards (also when the process exits). The package's own `main` cluster is never
// started. Tests use it through test/helpers/postgres.ts (which skips or fails without it); benchmarks directly.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createServer } from 'node:net';

const BASE = '/usr/lib/postgresql';

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** A free TCP port on 127.0.0.1 (the tests' helpers use it too). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The bin directory of the newest installed PostgreSQL server, or undefined. */
export function postgresBin(): string | undefined {
  if (!existsSync(BASE)) return undefined;
  const versions = readdirSync(BASE)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(BASE, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(BASE, versions[0], 'bin');
}

function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

/** Why a cluster cannot be started here (for describeWith), or undefined. */
export function postgresMissing(): string | undefined {
  if (postgresBin() === undefined) return `needs the PostgreSQL server (${BASE}/N/bin/initdb; scripts/install-prereqs.sh installs postgresql)`;
  if (!isRoot()) return 'needs root (the cluster runs as the postgres user)';
  if (postgresUser() === undefined) return 'needs the postgres user (Debian\'s postgresql package makes it)';
  return undefined;
}

export interface PgCluster {
  /** The directory of the cluster's data and its socket. */
  dir: string;
  /** The data directory (postmaster.pid names the server's process). */
  data: string;
  /** The Unix socket directory (the `host` of a connection). */
  socketDir: string;
  port: number;
  /** With opts.tls: a URL over TCP to 127.0.0.1 (TLS as the client's options say). */
  tcpUrl(database: string, user: string, password?: string): string;
  /** A connection URL for `database` as the superuser (or as `user` with `password`), on the socket. */
  url(database: string, user?: string, password?: string): string;
  /** A new empty database with a unique name (owner: `owner`, default the superuser). */
  createDatabase(owner?: string): Promise<string>;
  /** Run SQL as the superuser on `database` (default postgres). */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  stop(): Promise<void>;
}

let counter = 0;

/** Clusters started and not stopped yet: stopped at the process's exit too (a test file that died midway). */
const running = new Set<() => void>();
process.on('exit', () => {
  for (const stop of running) stop();
});

/**
 * Start a cluster: superuser `postgres` trusted on the socket (the directory is the postgres user's, mode
 * 0700: only root and postgres get to it); other roles log in with a password (scram-sha-256), so the
 * password file of the store's config is tested for real.
 */
export interface PostgresOptions {
  /**
   * Also listen on 127.0.0.1 (a free port) with TLS on this certificate and key (PEM text): `hostssl` only,
   * password logins (scram-sha-256).
   */
  tls?: { cert: string; key: string };
  /**
   * Server settings (`-c name=value`) replacing the tests' defaults, which trade durability for speed (fsync,
   * synchronous_commit and full_page_writes off): a benchmark passes {} for PostgreSQL's own defaults.
   */
  settings?: Record<string, string>;
}

const TEST_SETTINGS: Record<string, string> = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '50', shared_buffers: '32MB' };

export async function startPostgres(opts: PostgresOptions = {}): Promise<PgCluster> {
  const bin = postgresBin();
  const user = postgresUser();
  if (!bin || !user) throw new Error(postgresMissing() ?? 'PostgreSQL is missing');
  const dir = mkdtempSync('/tmp/hw-pg-');
  chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const as = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', cwd: dir });
  // Without TLS the port names the socket only: no TCP listener (listen_addresses '').
  const port = opts.tls ? await freePort() : 5432;
  const own = (file: string, text: string, mode = 0o600) => {
    writeFileSync(file, text, { mode });
    chownSync(file, user.uid, user.gid);
  };
  try {
    as('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
    own(join(data, 'pg_hba.conf'), `local all postgres trust\nlocal all all scram-sha-256\n${opts.tls ? 'hostssl all all 127.0.0.1/32 scram-sha-256\n' : ''}`);
    let tls = '-c listen_addresses=';
    if (opts.tls) {
      own(join(dir, 'server.crt'), opts.tls.cert, 0o644);
      own(join(dir, 'server.key'), opts.tls.key);
      tls = `-c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=${join(dir, 'server.crt')} -c ssl_key_file=${join(dir, 'server.key')}`;
    }
    const settings = Object.entries(opts.settings ?? TEST_SETTINGS).map(([k, v]) => `-c ${k}=${v}`).join(' ');
    const serverOpts = `-k ${dir} ${tls} -p ${port} ${settings}`;
    as('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', serverOpts, '-w', '-t', '60', 'start']);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot start a PostgreSQL cluster: ${e.stderr || e.message}`);
  }
  const url = (database: string, u = 'postgres', password?: string) =>
    `postgresql://${encodeURIComponent(u)}${password !== undefined ? `:${encodeURIComponent(password)}` : ''}@/${encodeURIComponent(database)}?host=${encodeURIComponent(dir)}&port=${port}`;
  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = [], database = 'postgres') => {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  let stopped = false;
  const stopNow = () => {
    if (stopped) return;
    stopped = true;
    running.delete(stopNow);
    try {
      as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  running.add(stopNow);
  return {
    dir,
    data,
    socketDir: dir,
    port,
    url,
    tcpUrl: (database, u, password) => `postgresql://${encodeURIComponent(u)}${password !== undefined ? `:${encodeURIComponent(password)}` : ''}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    query,
    createDatabase: async (owner = 'postgres') => {
      const name = `hw_${process.pid}_${++counter}_${userInfo().uid}`;
      await query(`CREATE DATABASE ${name} OWNER ${owner}`);
      return name;
    },
    stop: async () => stopNow(),
  };
}


/** The cluster's processes now: the postmaster and its children (backends, checkpointer, WAL writer, ...). */
export function clusterProcesses(cluster: PgCluster): number[] {
  let postmaster: number;
  try {
    postmaster = Number(readFileSync(join(cluster.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return [];
  }
  const out = [postmaster];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}
