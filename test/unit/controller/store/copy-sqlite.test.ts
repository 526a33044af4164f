// --migrate-from-sqlite's copy (store/postgres/copy-sqlite.ts) of the committed SQLite fixture, made by today's
// code, into a fresh PostgreSQL database of a cluster of the test's own: every table's rows, all of their values
// (history blobs byte for byte), ids kept with the identities moved past them; refused into a database that
// has rows, from a file at another schema version, or from a file that is no database.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { COPIED_TABLES, copyFromSqlite } from '../../../../controller/store/postgres/copy-sqlite.js';
import { PgAudit } from '../../../../controller/store/postgres/audit.js';
import { PgDatabase } from '../../../../controller/store/postgres/db.js';
import { PgNotices } from '../../../../controller/store/postgres/notices.js';
import { PgRemediation } from '../../../../controller/store/postgres/remediation.js';
import { PgStore } from '../../../../controller/store/postgres/pg-store.js';
import { PgUi } from '../../../../controller/store/postgres/ui.js';
import { SqliteStore } from '../../../../controller/store/sqlite/sqlite-store.js';
import { FIXTURE_T0, SQLITE_FIXTURE } from '../../../fixtures/make-sqlite-fixture.js';
import { describeWith } from '../../../helpers/env.js';
import { postgresMissing, usePostgres } from '../../../helpers/postgres.js';
import { postgresConfig } from '../../../helpers/store-backends.js';

let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hw-copy-sqlite-'));
  file = join(dir, 'controller.db');
  copyFileSync(SQLITE_FIXTURE, file);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A table's rows as sorted JSON lines (blobs as hex), for a comparison that ignores row order. */
function canonical(rows: Array<Record<string, unknown>>): string[] {
  return rows.map((r) => JSON.stringify(Object.keys(r).sort().map((k) => [k, Buffer.isBuffer(r[k]) ? `hex:${(r[k] as Buffer).toString('hex')}` : r[k]]))).sort();
}

describeWith(postgresMissing(), '--migrate-from-sqlite: the copy of the committed fixture', () => {
  const cluster = usePostgres();

  it('copies every row of every table, values and ids unchanged, and moves the identities past the ids', async () => {
    const db = await PgDatabase.open(postgresConfig(cluster(), await cluster().createDatabase()));
    const lite = new Database(file, { readonly: true });
    try {
      const seen: string[] = [];
      const r = await copyFromSqlite(file, db, (t) => seen.push(t));
      expect(seen).toEqual([...COPIED_TABLES]);
      for (const { table, rows } of r.tables) {
        const expected = lite.prepare(`SELECT * FROM "${table}"`).all() as Array<Record<string, unknown>>;
        expect(rows, table).toBe(expected.length);
        expect(rows, `${table} has rows in the fixture`).toBeGreaterThan(0);
        // SQLite's columns (PostgreSQL's tenants also have directory_seen_at, migration 2).
        const columns = Object.keys(expected[0]!).map((c) => `"${c}"`).join(', ');
        const got = await db.query(`SELECT ${columns} FROM ${table}`);
        expect(canonical(got), table).toEqual(canonical(expected));
      }
      // A sample read back by meaning: the hour rollups' blobs, a notice, the expired tenant.
      const hour = lite.prepare('SELECT series, bucket, data FROM hour ORDER BY series, bucket LIMIT 1').get() as { series: number; bucket: number; data: Buffer };
      const [pgHour] = await db.query<{ data: Buffer }>('SELECT data FROM hour WHERE series = $1 AND bucket = $2', [hour.series, hour.bucket]);
      expect(pgHour!.data.equals(hour.data)).toBe(true);
      expect((await db.query('SELECT name FROM retired_tenants'))).toEqual([{ name: 'dave' }]);
      expect((await db.query<{ n: number }>("SELECT count(*)::int AS n FROM notices WHERE tenant = 'alice' AND message_id LIKE '%@fixture.example.com>'"))[0]!.n).toBeGreaterThan(0);
      // New rows get ids above the copied ones.
      const maxNotice = (lite.prepare('SELECT max(id) AS m FROM notices').get() as { m: number }).m;
      const [fresh] = await db.query<{ id: number }>(
        "INSERT INTO notices (kind, source, tenant, category, created_at, state, subject, summary, message_id) VALUES ('event', 'new', 'alice', 'warning', 0, 'queued', 's', 's', '<m@x>') RETURNING id",
      );
      expect(fresh!.id).toBe(maxNotice + 1);
      const [host] = await db.query<{ id: number }>("INSERT INTO hosts (name, first_seen) VALUES ('web03', 0) RETURNING id");
      expect(host!.id).toBe(3);

      // Again into the same database: refused, nothing changed.
      await expect(copyFromSqlite(file, db)).rejects.toThrow(/already has rows in meta: copy into a new, empty database/);
      expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM hosts'))[0]!.n).toBe(3);
    } finally {
      lite.close();
      await db.close();
    }
  });

  it("reads back through the PostgreSQL store's parts what the SQLite store reads from the same rows", async () => {
    const db = await PgDatabase.open(postgresConfig(cluster(), await cluster().createDatabase()));
    const liteFile = join(dir, 'read.db');
    copyFileSync(SQLITE_FIXTURE, liteFile);
    const lite = new SqliteStore({ file: liteFile, now: () => FIXTURE_T0 + 5 * 3_600_000 });
    try {
      await copyFromSqlite(liteFile, db);
      const notices = new PgNotices(db);
      expect(await notices.counts()).toEqual(await lite.notices.counts());
      expect(await notices.list({ limit: 1000 })).toEqual(await lite.notices.list({ limit: 1000 }));
      const remediation = new PgRemediation(db, { now: Date.now });
      expect(await remediation.list()).toEqual(await lite.remediation.list());
      expect(await remediation.pending()).toEqual(await lite.remediation.pending());
      expect(await remediation.linkKey()).toEqual(await lite.remediation.linkKey());
      expect(await remediation.incidentTally(0, 1)).toEqual(await lite.remediation.incidentTally(0, 1));
      const ui = new PgUi(db);
      expect(await ui.signingKey('tenant-link')).toEqual(await lite.ui.signingKey('tenant-link'));
      expect([await ui.isTenantLinkRevoked('link-1'), await ui.isTenantLinkRevoked('link-2')]).toEqual([false, true]);
      const session = await lite.ui.getSession('f'.repeat(64), FIXTURE_T0);
      expect(session?.admin).toBe('admin');
      expect(await ui.getSession('f'.repeat(64), FIXTURE_T0)).toEqual(session);
      expect(await new PgAudit(db).list()).toEqual(await lite.listAudit());
      // The whole store: history (rows SQLite had not rolled up yet included), tenants, hosts, policies.
      const store = new PgStore(db, { now: () => FIXTURE_T0 + 5 * 3_600_000 });
      const tenants = await lite.listTenants();
      expect(tenants.total).toBeGreaterThan(0);
      expect(await store.listTenants()).toEqual(tenants);
      expect(await store.listHosts()).toEqual(await lite.listHosts());
      for (const t of tenants.tenants) {
        for (const stepMs of [60_000, 3_600_000]) {
          const q = { from: FIXTURE_T0 - 3_600_000, to: FIXTURE_T0 + 5 * 3_600_000, stepMs };
          expect(await store.tenantHistory(t.name, q), `${t.name} ${stepMs}`).toEqual(await lite.tenantHistory(t.name, q));
        }
      }
      for (const h of await lite.listHosts()) {
        const { policy, etag } = await lite.getPolicy(h.host);
        expect(await store.getPolicy(h.host)).toEqual({ policy, etag });
      }
      expect(await store.listIncidents({ limit: 1000 })).toEqual(await lite.listIncidents({ limit: 1000 }));
      for (const i of await lite.listIncidents({ limit: 1000 })) expect(await store.getIncident(i.id)).toEqual(await lite.getIncident(i.id));
      expect(await store.listQuarantinedFiles()).toEqual(await lite.listQuarantinedFiles());
      expect(await store.listActions()).toEqual(await lite.listActions());
      for (const t of tenants.tenants) {
        expect(await store.webUsage(t.name, 0, FIXTURE_T0 + 5 * 3_600_000)).toEqual(await lite.webUsage(t.name, 0, FIXTURE_T0 + 5 * 3_600_000));
        expect(await store.getTenant(t.name)).toEqual(await lite.getTenant(t.name));
      }
      for (const h of await lite.listHosts()) {
        expect(await store.hostWebStats(h.host)).toEqual(await lite.hostWebStats(h.host));
        expect(await store.getHost(h.host)).toEqual(await lite.getHost(h.host));
      }
    } finally {
      await lite.close();
      await db.close();
    }
  });

  it('refuses a file at another schema version, or no database at all, copying nothing', async () => {
    const db = await PgDatabase.open(postgresConfig(cluster(), await cluster().createDatabase()));
    try {
      const old = join(dir, 'old.db');
      copyFileSync(SQLITE_FIXTURE, old);
      const w = new Database(old);
      w.pragma('user_version = 9');
      w.close();
      await expect(copyFromSqlite(old, db)).rejects.toThrow(/schema is at version 9; this version copies version 10 .*start this version of the controller on it once/);
      const junk = join(dir, 'junk.db');
      writeFileSync(junk, 'not a database at all, just text long enough to be read as a header'.repeat(20));
      await expect(copyFromSqlite(junk, db)).rejects.toThrow(/junk.db: not an SQLite database/);
      await expect(copyFromSqlite(join(dir, 'absent.db'), db)).rejects.toThrow(/absent.db: cannot open as SQLite/);
      expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM meta'))[0]!.n).toBe(0);
    } finally {
      await db.close();
    }
  });
});
