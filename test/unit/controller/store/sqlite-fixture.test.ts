// The committed SQLite fixture (test/fixtures/sqlite-v010.db, made by test/fixtures/make-sqlite-fixture.ts
// through the store's API): it is at migration 10, every table has rows, and today's store opens a copy and
// reads it back (hosts, tenants, history at minute and hour steps, incidents, notices, cases, the dashboard's
// links). With HW_REMAKE_SQLITE_FIXTURE=1 the file is made again first (only when the fixture must change).
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../../controller/store/sqlite/sqlite-store.js';
import { FIXTURE_T0, makeSqliteFixture, SQLITE_FIXTURE, SQLITE_FIXTURE_VERSION } from '../../../fixtures/make-sqlite-fixture.js';
import { HOUR, MIN } from '../fixtures.js';

let dir: string;
let copy: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hw-sqlite-fixture-'));
  if (process.env['HW_REMAKE_SQLITE_FIXTURE'] === '1') {
    const made = join(dir, 'made.db');
    await makeSqliteFixture(made);
    const db = new Database(made);
    // One self-contained file: no write-ahead log beside it, so opening it (or a copy) leaves nothing behind.
    db.pragma('journal_mode = DELETE');
    db.exec('VACUUM');
    db.close();
    copyFileSync(made, SQLITE_FIXTURE);
  }
  copy = join(dir, 'controller.db');
  copyFileSync(SQLITE_FIXTURE, copy);
  copyFileSync(SQLITE_FIXTURE, join(dir, 'readonly.db'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tableCounts(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all();
    return Object.fromEntries(tables.map(({ name }) => [name, (db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n]));
  } finally {
    db.close();
  }
}

describe('the committed SQLite fixture', () => {
  it('is one file at migration 10 with rows in every table', () => {
    expect(existsSync(`${SQLITE_FIXTURE}-wal`)).toBe(false);
    const file = join(dir, 'readonly.db');
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_FIXTURE_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    db.close();
    const counts = tableCounts(file);
    expect(Object.keys(counts).sort()).toEqual(
      [
        'actions', 'api_pushes', 'audit', 'file_requests', 'host_inventory', 'hosts', 'hour', 'incident_events', 'incidents', 'meta', 'minute',
        'notice_limits', 'notices', 'plans', 'quarantined_files', 'remediation_cases', 'reports', 'retired_tenants', 'tenant_links', 'tenants',
        'ui_sessions', 'web_log_stats', 'web_minutes',
      ].sort(),
    );
    for (const [table, n] of Object.entries(counts)) expect(n, table).toBeGreaterThan(0);
  });

  it("opens with today's store and reads back through its API", async () => {
    const store = new SqliteStore({ file: copy, now: () => FIXTURE_T0 + 4 * HOUR });
    try {
      expect((await store.listHosts()).map((h) => [h.host, h.last_seq])).toEqual([
        ['web01', 184],
        ['web02', 180],
      ]);
      expect((await store.listTenants()).tenants.map((t) => [t.name, t.managed, t.plan])).toEqual([
        ['alice', true, 'pro'],
        ['bob', true, 'basic'],
        ['carol', false, null],
        ['erin', false, null],
      ]);
      const minutes = await store.tenantHistory('alice', { from: FIXTURE_T0, to: FIXTURE_T0 + 3 * HOUR, stepMs: MIN });
      expect(minutes?.samples.filter((n) => n > 0)).toHaveLength(180);
      const hours = await store.tenantHistory('alice', { from: FIXTURE_T0, to: FIXTURE_T0 + 3 * HOUR, stepMs: HOUR });
      expect(hours?.samples).toEqual([60, 60, 60]);
      const incidents = await store.listIncidents({ tenant: 'alice' });
      expect(incidents.map((i) => i.state)).toEqual(['open', 'released']);
      expect((await store.notices.counts()).queued).toBeGreaterThan(0);
      expect((await store.remediation.list()).map((c) => [c.tenant, c.state])).toEqual([['alice', 'open']]);
      expect(await store.ui.isTenantLinkRevoked('link-2')).toBe(true);
      expect(await store.ui.isTenantLinkRevoked('link-1')).toBe(false);
      expect((await store.listActions()).map((a) => [a.tenant, a.action, a.state]).sort()).toEqual([
        ['alice', 'notice', 'pending'],
        ['bob', 'throttle', 'applied'],
      ]);
    } finally {
      await store.close();
    }
  });
});
