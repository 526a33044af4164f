// The PostgreSQL connection pool (driver `pg`) of the PostgreSQL store: the config's password file and CA
// certificate, BIGINT read back as numbers (times in ms and ids stay below 2^53), transactions, and the
// numbered migrations (migrations/) applied under a transaction-level advisory lock, so controllers starting
// together against one database migrate it once: the second waits for the first, then finds nothing to do.
import { randomInt } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { readCaFile, readPasswordFile, safeDatabaseUrl, type PostgresConfig } from './config.js';
import { PG_MIGRATIONS, type PgMigration } from './migrations/index.js';
import { StoreUnavailableError } from '../errors.js';

const INT8_OID = 20;
/** The advisory lock key of migrations (any constant; 'hwmig' in ASCII). */
export const MIGRATION_LOCK = 0x68776d6967;

/** int8 as a number: every BIGINT of the schema is a time in ms, an id or a count, far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser,
};

/** The pool's options from the config: the files are read here (config errors name their key). */
export function poolOptions(c: PostgresConfig): pg.PoolConfig {
  let connectionString = c.url;
  // Into the URL: pg lets every field of the connection string win over the options, `password` included.
  if (c.passwordFile !== undefined) connectionString = withPassword(c.url, readPasswordFile(c.passwordFile));
  // pipeline: a query sent while the connection's previous one is still unanswered goes out at once (tx's
  // `pipelined`: a report's BEGIN with its first read, its write with COMMIT); code that awaits each query
  // before sending the next behaves as without it.
  const opts: pg.PoolConfig = { connectionString, max: c.poolSize, types, application_name: 'hostwarden-controller', connectionTimeoutMillis: 10_000, pipeline: true };
  if (c.caFile !== undefined) opts.ssl = { ca: readCaFile(c.caFile), rejectUnauthorized: true };
  return opts;
}

function withPassword(url: string, password: string): string {
  const at = url.indexOf('@');
  const scheme = url.indexOf('://') + 3;
  // The parser of the config checked the form (scheme://[user[:password]@]host...); no password is in it.
  if (at < scheme) return `${url.slice(0, scheme)}:${encodeURIComponent(password)}@${url.slice(scheme)}`;
  return `${url.slice(0, at)}:${encodeURIComponent(password)}${url.slice(at)}`;
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** What PgDatabase.tx gives its function besides the connection (used when it runs `pipelined`). */
export interface PipelinedTx {
  /** The answer to BEGIN (and the statements sent with it). */
  begun: Promise<unknown>;
  /** Send COMMIT now, behind what was sent; the transaction ends there. The same promise when called again. */
  commit(): Promise<unknown>;
}

/** Socket errors of a server that is down, unknown or unreachable. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOENT']);

/**
 * A failure that says the database cannot be reached (not that a statement is wrong), as the store's
 * StoreUnavailableError (HW_STORE_UNREACHABLE: the API answers 503); undefined for any other error.
 * PostgreSQL's class 08 (connection exception), 57P01-57P03 (shut down, starting up), the pool's timeout and
 * the driver's "Connection terminated" count.
 */
export function unreachable(err: unknown): StoreUnavailableError | undefined {
  if (err instanceof StoreUnavailableError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const hit =
    NETWORK_CODES.has(code) ||
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|Client has encountered a connection error/i.test(message);
  return hit ? new StoreUnavailableError('HW_STORE_UNREACHABLE', `the database cannot be reached: ${message}`, { cause: err }) : undefined;
}

/** The advisory lock class of the controllers' liveness ('hwc'; the second key is the controller's). */
export const OWNER_LOCK_CLASS = 0x687763;

export class PgDatabase {
  readonly pool: pg.Pool;
  private closed = false;
  private owner: Promise<{ key: number; client: pg.Client }> | undefined;
  private readonly clientOptions: pg.ClientConfig;

  constructor(
    opts: pg.PoolConfig,
    private readonly log?: Logger | undefined,
  ) {
    this.pool = new pg.Pool(opts);
    this.clientOptions = opts;
    // An idle connection the server dropped: the pool replaces it; without a listener the error would be thrown.
    this.pool.on('error', (err) => this.log?.warn({ err }, 'PostgreSQL connection lost (the pool opens another)'));
  }

  static async open(c: PostgresConfig, log?: Logger): Promise<PgDatabase> {
    const db = new PgDatabase(poolOptions(c), log);
    try {
      await db.migrate();
    } catch (err) {
      await db.close();
      throw new Error(`database ${safeDatabaseUrl(c.url)}: ${(err as Error).message}`, { cause: err });
    }
    return db;
  }

  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    try {
      return (await this.pool.query<T>(sql, params)).rows;
    } catch (err) {
      throw unreachable(err) ?? err;
    }
  }

  /**
   * Run `fn` in a transaction on one connection: committed when it resolves, rolled back when it throws.
   * `begin`: statements without parameters sent with BEGIN in the same round trip (e.g. taking a lock).
   * `pipelined`: BEGIN is sent but not awaited, so `fn`'s first query goes out behind it in the same round
   * trip (`fn` awaits `tx.begun` with that query's answer: a failed BEGIN or lock fails the transaction); and
   * `fn` may send COMMIT behind its last statement (`tx.commit()`, awaited with that statement's answer). A
   * statement that fails makes the COMMIT behind it end the transaction as a rollback: `fn` sees the
   * statement's error, and nothing it sent is kept.
   */
  async tx<T>(fn: (c: pg.PoolClient, tx: PipelinedTx) => Promise<T>, begin?: string, opts: { pipelined?: boolean } = {}): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unreachable(err) ?? err;
    }
    let broken = false;
    // While checked out, the pool's own listener is off the connection: one the server ends meanwhile (shut down,
    // restarted, pg_terminate_backend) emits 'error', which with no listener would end the process. Its next
    // statement fails with it, so the transaction fails and the connection is dropped, not reused.
    const lost = (err: Error): void => {
      broken = true;
      this.log?.warn({ err }, 'PostgreSQL connection lost during a transaction');
    };
    client.on('error', lost);
    let committed: Promise<unknown> | undefined;
    try {
      const begun = client.query(begin === undefined ? 'BEGIN' : `BEGIN; ${begin}`);
      // Observed here too, so a transaction whose fn throws before awaiting it leaves no unhandled rejection.
      begun.catch(() => {});
      if (!opts.pipelined) await begun;
      const tx: PipelinedTx = {
        begun,
        commit: () => {
          if (!committed) {
            committed = client.query('COMMIT');
            committed.catch(() => {});
          }
          return committed;
        },
      };
      const out = await fn(client, tx);
      await begun;
      await (committed ?? client.query('COMMIT'));
      return out;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw unreachable(err) ?? err;
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }

  /** The schema version (0: none yet). */
  async version(q: Queryable = this.pool): Promise<number> {
    const exists = await q.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
    if (!exists.rows[0]?.t) return 0;
    const r = await q.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    return r.rows[0]?.v ?? 0;
  }

  /** Apply what is missing of `migrations`, under the migration lock; the versions applied. */
  async migrate(migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<number[]> {
    return this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const current = await this.version(c);
      const latest = migrations.at(-1)?.version ?? 0;
      if (current > latest) throw new Error(`the schema is at version ${current}, newer than this controller knows (${latest}): run the newer controller`);
      const applied: number[] = [];
      for (const m of migrations) {
        if (m.version <= current) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
        this.log?.info({ version: m.version, name: m.name }, 'applied database migration');
        applied.push(m.version);
      }
      return applied;
    });
  }

  /**
   * This controller's key among the controllers on the database: a session-level advisory lock (class
   * OWNER_LOCK_CLASS) held on a connection of its own for as long as it lives. The server drops the lock when
   * the session ends, however the controller ended (a crash, SIGKILL, a lost machine: the connection goes), so
   * `ownerAlive(key)` in SQL tells a live controller's work from a dead one's.
   */
  async ownerKey(): Promise<number> {
    this.owner ??= (async () => {
      const client = new pg.Client(this.clientOptions);
      client.on('error', (err) => this.log?.warn({ err }, 'PostgreSQL: the connection holding this controller\'s liveness lock was lost'));
      try {
        await client.connect();
        for (;;) {
          const key = randomInt(1, 2 ** 31 - 1);
          const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [OWNER_LOCK_CLASS, key]);
          if (r.rows[0]?.ok) return { key, client };
        }
      } catch (err) {
        await client.end().catch(() => {});
        this.owner = undefined;
        throw unreachable(err) ?? err;
      }
    })();
    return (await this.owner).key;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const owner = await this.owner?.catch(() => undefined);
    await owner?.client.end().catch(() => {});
    await this.pool.end();
  }
}
