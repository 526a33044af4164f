// The store suite's two backends (issue 15: one suite, two backends): each test file runs its describe blocks
// once per backend. SQLite on a fresh file per store; PostgreSQL on a fresh database per store in a cluster of
// the file's own (postgres.ts), skipped with the reason locally when the server is missing, failing in CI.
//
// A suite opens either the whole store (`openStore`: the Store interface) or the parts it tests (`open`:
// `StoreParts`, the outbox, cases, dashboard rows and audit log, as their suites were written).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PostgresConfig } from '../../controller/store/postgres/config.js';
import { PgDatabase } from '../../controller/store/postgres/db.js';
import { insertNotices, PgNotices } from '../../controller/store/postgres/notices.js';
import { PgAudit } from '../../controller/store/postgres/audit.js';
import { PgRemediation } from '../../controller/store/postgres/remediation.js';
import type { Store, StoreOptions } from '../../controller/store/store.js';
import { PgStore } from '../../controller/store/postgres/pg-store.js';
import { PgUi } from '../../controller/store/postgres/ui.js';
import type { RemediationStore } from '../../controller/store/remediation-store.js';
import type { NewNotice, NoticeStore, TenantContact } from '../../controller/store/notice-store.js';
import { contactFromRow } from '../../controller/store/notice-keys.js';
import { SqliteStore } from '../../controller/store/sqlite/sqlite-store.js';
import type { UiStore } from '../../controller/store/ui-store.js';
import { afterEach, it } from 'vitest';
import { describeWith } from './env.js';
import { postgresMissing, usePostgres, type PgCluster } from './postgres.js';

/** The parts of a store a backend has so far. */
export interface StoreParts {
  ui: UiStore;
  notices: NoticeStore;
  remediation: RemediationStore;
  audit: { add: Store['addAudit']; list: Store['listAudit'] };
  /** Test set-up: write a notice as an ingest hook would (its id; undefined when its source exists). */
  seedNotice(n: NewNotice): Promise<number | undefined>;
  /** Test set-up: an incident row as an ingest writes it (host web01 made when missing); its id. */
  seedIncident(i: SeedIncident): Promise<number>;
}

export interface SeedIncident {
  key: string;
  tenant: string;
  rule: string;
  openedAt: number;
  manual?: boolean;
}

const INCIDENT_SQL = (p: (i: number) => string) =>
  `INSERT INTO incidents (host_id, key, tenant, resource, rule, state, step, level, manual, opened_at, updated_at, events, explanation)
   VALUES (${p(1)}, ${p(2)}, ${p(3)}, 'cpu', ${p(4)}, 'released', 'release', 0, ${p(5)}, ${p(6)}, ${p(7)}, 1, '{}') RETURNING id`;

export interface OpenedParts extends StoreParts {
  /** Close the store and open it again on the same database (a restart); this object's parts are the new ones. */
  reopen(): Promise<void>;
  /**
   * Another store open at once on the same database (a second controller), closed with this one; undefined
   * for SQLite (one controller per file: its lock refuses a second).
   */
  another: (() => Promise<StoreParts>) | undefined;
  close(): Promise<void>;
}

/** A whole store (the Store interface) on a fresh database, with what tests look at beside it. */
export interface OpenedStore {
  store: Store;
  /** A temporary directory of the test's (removed at close): state_dir, outbox directories. */
  dir: string;
  /** Rows of a table (the same table names on both backends). */
  count(table: string): Promise<number>;
  /** The column `n` of the first row of a query written with $1, $2 ... placeholders (SQLite gets ?s). */
  scalar(sql: string, ...params: unknown[]): Promise<number>;
  /** Where a tenant's notices go, as the outbox reads it inside a transaction (NoticeTx.contactOf). */
  contactOf(tenant: string): Promise<TenantContact>;
  /** Close the store and open it again on the same database (a restart); `store` is the new one. */
  reopen(opts?: StoreOptions): Promise<Store>;
  /** A second store open at once on the same database (a second controller); undefined for SQLite. */
  another: ((opts?: StoreOptions) => Promise<Store>) | undefined;
  close(): Promise<void>;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  open(): Promise<OpenedParts>;
  openStore(opts?: StoreOptions): Promise<OpenedStore>;
}

function sqliteBackend(): Backend {
  return {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hw-store-'));
      const file = join(dir, 'controller.db');
      let store = new SqliteStore({ file });
      const parts: OpenedParts = {
        ui: store.ui,
        notices: store.notices,
        remediation: store.remediation,
        audit: { add: (e) => store.addAudit(e), list: (f) => store.listAudit(f) },
        seedNotice: async (n) => store.notices.enqueue(n),
        seedIncident: async (i) => {
          store.db.prepare("INSERT OR IGNORE INTO hosts (id, name, first_seen) VALUES (1, 'web01', 0)").run();
          const row = store.db.prepare(INCIDENT_SQL(() => '?')).get(1, i.key, i.tenant, i.rule, i.manual ? 1 : 0, i.openedAt, i.openedAt) as { id: number };
          return row.id;
        },
        reopen: async () => {
          await store.close();
          store = new SqliteStore({ file });
          parts.ui = store.ui;
          parts.notices = store.notices;
          parts.remediation = store.remediation;
        },
        another: undefined,
        close: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
      return parts;
    },
    openStore: async (opts = {}) => {
      const dir = mkdtempSync(join(tmpdir(), 'hw-store-'));
      const file = join(dir, 'controller.db');
      let store = new SqliteStore({ file, ...opts });
      const opened: OpenedStore = {
        dir,
        get store() {
          return store;
        },
        count: async (table) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n,
        scalar: async (sql, ...params) => (store.db.prepare(sql.replace(/\$\d+/g, '?')).get(...params) as { n: number }).n,
        contactOf: async (tenant) => store.notices.contactOf(tenant),
        reopen: async (o = opts) => {
          await store.close();
          store = new SqliteStore({ file, ...o });
          return store;
        },
        another: undefined,
        close: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
      return opened;
    },
  };
}

export function postgresConfig(cluster: PgCluster, database: string): PostgresConfig {
  return { url: cluster.url(database), passwordFile: undefined, caFile: undefined, poolSize: 4 };
}

function postgresBackend(cluster: () => PgCluster): Backend {
  return {
    name: 'postgres',
    open: async () => {
      const c = cluster();
      const config = postgresConfig(c, await c.createDatabase());
      const partsOf = (db: PgDatabase): StoreParts => ({
        ui: new PgUi(db),
        notices: new PgNotices(db),
        remediation: new PgRemediation(db, { now: Date.now }),
        audit: new PgAudit(db),
        seedNotice: async (n) => (await insertNotices(db.pool, [n]))[0],
        seedIncident: async (i) => {
          await db.query("INSERT INTO hosts (id, name, first_seen) VALUES (1, 'web01', 0) ON CONFLICT DO NOTHING");
          const [row] = await db.query<{ id: number }>(INCIDENT_SQL((k) => `$${k}`), [1, i.key, i.tenant, i.rule, i.manual ? 1 : 0, i.openedAt, i.openedAt]);
          return row!.id;
        },
      });
      let main = await PgDatabase.open(config);
      const others: PgDatabase[] = [];
      const parts: OpenedParts = {
        ...partsOf(main),
        reopen: async () => {
          await main.close();
          main = await PgDatabase.open(config);
          Object.assign(parts, partsOf(main));
        },
        another: async () => {
          const db = await PgDatabase.open(config);
          others.push(db);
          return partsOf(db);
        },
        close: async () => {
          for (const db of [main, ...others]) await db.close();
        },
      };
      return parts;
    },
    openStore: async (opts = {}) => {
      const c = cluster();
      const config = postgresConfig(c, await c.createDatabase());
      let store = await PgStore.open(config, opts);
      const others: PgStore[] = [];
      const dir = mkdtempSync(join(tmpdir(), 'hw-store-'));
      const opened: OpenedStore = {
        dir,
        get store() {
          return store;
        },
        count: async (table) => Number((await store.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n),
        scalar: async (sql, ...params) => Number((await store.db.query<{ n: string }>(sql, params))[0]!.n),
        contactOf: async (tenant) => contactFromRow((await store.db.query<{ spec: string | null; reported: string | null }>('SELECT spec, reported FROM tenants WHERE name = $1', [tenant]))[0]),
        reopen: async (o = opts) => {
          await store.close();
          store = await PgStore.open(config, o);
          return store;
        },
        another: async (o = opts) => {
          const s = await PgStore.open(config, o);
          others.push(s);
          return s;
        },
        close: async () => {
          for (const s of [store, ...others]) await s.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
      return opened;
    },
  };
}

/**
 * A test of what only a shared database has (two controllers on one store): registered on PostgreSQL only, as
 * SQLite is one controller per file; nothing is declared (nor reported skipped) for SQLite.
 */
export function itShared(backend: Backend): (name: string, fn: () => Promise<void> | void, timeout?: number) => void {
  return backend.name === 'postgres' ? it : () => {};
}

/** Run `body` once per backend, inside a describe named after it (the PostgreSQL one with a cluster of its own). */
export function describeBackends(name: string, body: (backend: Backend) => void): void {
  describeWith(undefined, `${name} (sqlite)`, () => body(sqliteBackend()));
  describeWith(postgresMissing(), `${name} (postgres)`, () => body(postgresBackend(usePostgres())));
}

/**
 * `open(now, opts)` for the calling describe's tests: a whole store on a fresh database with the store's clock
 * `now`, closed (the last opened first) after each test.
 */
export function storeOpener(backend: Backend): (now: () => number, opts?: StoreOptions) => Promise<OpenedStore> {
  let opened: OpenedStore[] = [];
  afterEach(async () => {
    for (const t of opened.reverse()) await t.close();
    opened = [];
  });
  return async (now, opts = {}) => {
    const t = await backend.openStore({ now, ...opts });
    opened.push(t);
    return t;
  };
}
