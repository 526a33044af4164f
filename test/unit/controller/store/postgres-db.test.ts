// The PostgreSQL store's connection on a real cluster of the test's own: the numbered migrations (applied once,
// also by controllers starting together; a schema newer than the controller is refused), the schema equal to
// SQLite's table for table and column for column (the committed fixture's), the password file (a wrong password
// and an unreadable file refused, the latter as a config error naming the key) and TLS with ca_file (the
// server's certificate verified: another CA's refused).
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PostgresConfig } from '../../../../controller/store/postgres/config.js';
import { PgDatabase, poolOptions } from '../../../../controller/store/postgres/db.js';
import { PG_MIGRATIONS } from '../../../../controller/store/postgres/migrations/index.js';
import { ConfigError } from '../../../../shared/errors.js';
import { SQLITE_FIXTURE } from '../../../fixtures/make-sqlite-fixture.js';
import { describeWith, missing } from '../../../helpers/env.js';
import { postgresMissing, startPostgres, usePostgres, type PgCluster } from '../../../helpers/postgres.js';
import { postgresConfig } from '../../../helpers/store-backends.js';
import { HAS_OPENSSL, makeCa, makeServerCert, type TestCert } from '../../../helpers/tls.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hw-pgdb-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWith(postgresMissing(), 'PostgreSQL store: connection and migrations', () => {
  const cluster = usePostgres();

  it('applies the migrations once, records them, and refuses a schema newer than it knows', async () => {
    const config = postgresConfig(cluster(), await cluster().createDatabase());
    const db = await PgDatabase.open(config);
    try {
      expect(await db.version()).toBe(PG_MIGRATIONS.at(-1)!.version);
      expect(await db.migrate()).toEqual([]);
      const rows = await db.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
      // BIGINT columns read back as numbers.
      await db.query("INSERT INTO hosts (name, first_seen) VALUES ('web01', $1)", [Date.UTC(2026, 0, 1)]);
      expect((await db.query('SELECT id, first_seen FROM hosts'))[0]).toEqual({ id: 1, first_seen: Date.UTC(2026, 0, 1) });
      await db.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)");
    } finally {
      await db.close();
    }
    await expect(PgDatabase.open(config)).rejects.toThrow(/schema is at version 999, newer than this controller knows/);
  });

  it('migrates once when controllers start together (the migration lock)', async () => {
    const config = postgresConfig(cluster(), await cluster().createDatabase());
    const dbs = [1, 2, 3].map(() => new PgDatabase(poolOptions(config)));
    try {
      const applied = await Promise.all(dbs.map((db) => db.migrate()));
      expect(applied.flat().sort()).toEqual(PG_MIGRATIONS.map((m) => m.version));
      expect(applied.filter((a) => a.length === 0)).toHaveLength(2);
    } finally {
      for (const db of dbs) await db.close();
    }
  });

  it('has the tables and columns of the SQLite store (the committed fixture\'s), for a copy from one to the other', async () => {
    const copy = join(dir, 'fixture.db');
    copyFileSync(SQLITE_FIXTURE, copy);
    const lite = new Database(copy, { readonly: true });
    const tables = lite.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all();
    const sqlite = Object.fromEntries(tables.map(({ name }) => [name, lite.prepare<[], { name: string }>(`PRAGMA table_info("${name}")`).all().map((c) => c.name).sort()]));
    lite.close();
    const db = await PgDatabase.open(postgresConfig(cluster(), await cluster().createDatabase()));
    try {
      const cols = await db.query<{ table_name: string; column_name: string }>("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations'");
      const pg: Record<string, string[]> = {};
      for (const c of cols) (pg[c.table_name] ??= []).push(c.column_name);
      for (const k of Object.keys(pg)) pg[k]!.sort();
      // Beyond SQLite's: migration 2's rollup queue (the reports not drained into the rollups yet; with their
      // host and time since migration 4), the
      // tenants' directory time (SQLite keeps it in memory; several controllers need it in the table).
      expect(pg.rollup_queue).toEqual(['at', 'host_id', 'report_id']);
      delete pg.rollup_queue;
      // Migration 3's fairness ledger per host (one row a report rewrites, not one row per tenant).
      expect(pg.host_ledgers).toEqual(['debt_ats', 'debts', 'host', 'tenant_ids']);
      delete pg.host_ledgers;
      // Migration 4's version of a host's tenants (a controller keeps them read until it changes).
      expect(pg.hosts).toContain('tenants_version');
      pg.hosts = pg.hosts!.filter((c) => c !== 'tenants_version');
      expect(pg.tenants).toContain('directory_seen_at');
      pg.tenants = pg.tenants!.filter((c) => c !== 'directory_seen_at');
      // And which controller a notice's attempt is (several controllers: only a dead one's is put back).
      expect(pg.notices).toContain('claimed_by');
      pg.notices = pg.notices!.filter((c) => c !== 'claimed_by');
      // And the arrival order of file requests (SQLite has its rowid).
      pg.file_requests = pg.file_requests!.filter((c) => c !== 'seq');
      expect(pg).toEqual(sqlite);
    } finally {
      await db.close();
    }
  });

  it('a pipelined transaction keeps what it sent when it commits, and nothing when BEGIN or a statement fails', async () => {
    const db = await PgDatabase.open(postgresConfig(cluster(), await cluster().createDatabase()));
    try {
      await db.query('CREATE TABLE t (k int PRIMARY KEY, v int NOT NULL CHECK (v >= 0))');
      const count = async () => Number((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM t'))[0]!.n);
      // BEGIN and its statement with the first query; the last statement with COMMIT.
      const out = await db.tx(async (c, tx) => {
        const [, first] = await Promise.all([tx.begun, c.query<{ x: number }>('SELECT $1::int AS x', [7])]);
        await c.query('INSERT INTO t VALUES (1, 1)');
        await Promise.all([c.query('INSERT INTO t VALUES (2, $1)', [first.rows[0]!.x]), tx.commit()]);
        return first.rows[0]!.x;
      }, "SET LOCAL lock_timeout = '5s'", { pipelined: true });
      expect(out).toBe(7);
      expect(await count()).toBe(2);
      // The last statement fails: the COMMIT behind it ends the transaction as a rollback, the error is the statement's.
      await expect(db.tx(async (c, tx) => {
        await Promise.all([tx.begun, c.query('INSERT INTO t VALUES (3, 3)')]);
        await Promise.all([c.query('INSERT INTO t VALUES (4, -1)'), tx.commit()]);
      }, undefined, { pipelined: true })).rejects.toThrow(/check constraint/);
      // What BEGIN carries fails: the query sent behind it fails too, the first error is BEGIN's.
      await expect(db.tx(async (c, tx) => {
        await Promise.all([tx.begun, c.query('INSERT INTO t VALUES (5, 5)')]);
      }, 'SELECT 1 / 0', { pipelined: true })).rejects.toThrow(/division by zero/);
      // fn throws before awaiting anything: rolled back, no unhandled rejection, the connection usable after.
      await expect(db.tx(async (c) => {
        void c.query('INSERT INTO t VALUES (6, 6)');
        throw new Error('changed its mind');
      }, undefined, { pipelined: true })).rejects.toThrow(/changed its mind/);
      expect(await count()).toBe(2);
      expect((await db.query<{ k: number }>('SELECT k FROM t ORDER BY k')).map((r) => r.k)).toEqual([1, 2]);
      // Every connection of the pool is still usable (none was left inside a transaction).
      await Promise.all(Array.from({ length: 12 }, (_, i) => db.tx(async (c) => c.query('INSERT INTO t VALUES ($1, 0)', [100 + i]))));
      expect(await count()).toBe(14);
    } finally {
      await db.close();
    }
  });

  it('a transaction whose connection the server ends while it holds it fails, and the process goes on', async () => {
    const config = postgresConfig(cluster(), await cluster().createDatabase());
    const db = await PgDatabase.open(config);
    try {
      const held = db.tx(async (c) => {
        const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        // From another connection, while this one holds the transaction with nothing asked of it (a server shut
        // down or restarted, an admin's pg_terminate_backend): the server ends it. The connection emits 'error',
        // which with no listener would end the controller's process.
        await db.query('SELECT pg_terminate_backend($1)', [pid]);
        await new Promise((done) => setTimeout(done, 300));
        await c.query('SELECT 1');
      });
      await expect(held).rejects.toThrow();
      expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]); // the pool goes on with a new connection
    } finally {
      await db.close();
    }
  });

  it('logs in with the password file; a wrong password is refused, an unreadable file is a config error naming the key', async () => {
    const c = cluster();
    await c.query("CREATE ROLE hw_pw LOGIN PASSWORD 'correct horse'");
    const database = await c.createDatabase('hw_pw');
    const file = join(dir, 'db.password');
    writeFileSync(file, 'correct horse\n', { mode: 0o600 });
    const config: PostgresConfig = { url: c.url(database, 'hw_pw'), passwordFile: file, caFile: undefined, poolSize: 2 };
    const db = await PgDatabase.open(config);
    expect((await db.query('SELECT current_user AS u'))[0]).toEqual({ u: 'hw_pw' });
    await db.close();
    writeFileSync(file, 'battery staple\n');
    await expect(PgDatabase.open(config)).rejects.toThrow(/password authentication failed for user "hw_pw"/);
    const absent = { ...config, passwordFile: join(dir, 'absent') };
    expect(() => poolOptions(absent)).toThrow(ConfigError);
    expect(() => poolOptions(absent)).toThrow(/database.password_file.*cannot read/);
    writeFileSync(file, 'two\nlines\n');
    expect(() => poolOptions(config)).toThrow(/password alone, on one line/);
  });
});

describeWith(missing([[postgresMissing() === undefined, postgresMissing() ?? ''], [HAS_OPENSSL, 'needs openssl (test certificates)']]), 'PostgreSQL store: TLS with ca_file', () => {
  let cluster: PgCluster;
  let caFile: string;
  let otherCaFile: string;
  beforeAll(async () => {
    const ca = makeCa(dir, 'pg');
    const cert: TestCert = makeServerCert(dir, ca, 'pg-server', { san: 'IP:127.0.0.1' });
    caFile = ca.certFile;
    otherCaFile = makeCa(dir, 'other').certFile;
    cluster = await startPostgres({ tls: { cert: cert.cert, key: cert.key } });
    await cluster.query("CREATE ROLE hw_tls LOGIN PASSWORD 'tls pw'");
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('verifies the server against ca_file: connects with the right CA, refuses with another', async () => {
    const database = await cluster.createDatabase('hw_tls');
    const file = join(dir, 'tls.password');
    writeFileSync(file, 'tls pw\n', { mode: 0o600 });
    const config: PostgresConfig = { url: cluster.tcpUrl(database, 'hw_tls'), passwordFile: file, caFile, poolSize: 2 };
    const db = await PgDatabase.open(config);
    try {
      expect((await db.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'))[0]).toEqual({ ssl: true });
    } finally {
      await db.close();
    }
    await expect(PgDatabase.open({ ...config, caFile: otherCaFile })).rejects.toThrow(/self[- ]signed certificate|unable to verify|certificate/i);
  });
});
