// Damaged data on a real SQLite file (issue item 1, Build "startup survives a damaged row"): rows damaged by
// hand (a history blob that does not decode, bad JSON columns, a plan and a debt out of range) are skipped,
// counted and logged; the store starts, answers and ingests; GET /healthz shows the count. PRAGMA
// quick_check runs after an unclean shutdown only, and a damaged file is refused with a message that says
// what to do; --check and --backup on the same file.
import { existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenRegistry } from '../../../../controller/auth.js';
import { buildApp } from '../../../../controller/http/app.js';
import { StoreUnavailableError } from '../../../../controller/store/errors.js';
import { backupFile, checkFile } from '../../../../controller/store/sqlite/maintenance.js';
import { SqliteStore } from '../../../../controller/store/sqlite/sqlite-store.js';
import { Clock, event, GiB, HOUR, MIN, prepared, report, tempStore } from '../fixtures.js';

const T0 = Date.UTC(2025, 5, 1, 10, 0, 0);
const sample = (tenant: string, percent: number) => ({ tenant, cpu: { percent }, memory: { current: GiB, anon: GiB, file: 0 } });

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

function logged(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }) as Logger, lines };
}

/** Change the file behind a closed store with a connection of its own. */
function tamper(file: string, fn: (db: Database.Database) => void): void {
  const db = new Database(file);
  try {
    fn(db);
  } finally {
    db.close();
  }
}

/** Overwrite the root page of `table` with garbage (the file must be checkpointed: the store was closed). */
function corruptTable(file: string, table: string): void {
  let page = 0;
  let size = 0;
  tamper(file, (db) => {
    page = (db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(table) as { rootpage: number }).rootpage;
    size = db.pragma('page_size', { simple: true }) as number;
  });
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(size, 0xa5), 0, size, (page - 1) * size);
}

describe('item 1: startup survives damaged rows', () => {
  it('item 1: a history blob that does not decode, bad JSON columns, a plan and a debt out of range: skipped, counted, logged; the store starts and answers', async () => {
    const clock = new Clock(T0 + 2 * HOUR);
    const t = tempStore({ now: clock.now });
    cleanup.push(t.dispose);
    const store = t.store;
    await store.putPlan('basic', { cpu: 100, weight: 1 });
    await store.putPlan('gold', { cpu: 400, weight: 4 });
    await store.putTenant('carol', { users: ['carol'], plan: 'basic', host: 'web01' });
    await store.putTenant('dave', { users: ['dave'], plan: 'basic', host: 'web01' });
    // An hour of reports, flushed into minute and hour rows; then five more minutes only in raw rows.
    for (let k = 0; k < 12 * 60; k++) await store.ingest(prepared(report('web01', k + 1, T0 + k * 5000, [sample('alice', 50), sample('bob', 10)], k === 0 ? { tenants: [{ name: 'bob', email: 'bob@example.com', plan: 'gold' }], events: [event('e1', 'i1', 'opened', T0)] } : {})));
    await store.flush({ all: true });
    for (let k = 720; k < 780; k++) await store.ingest(prepared(report('web01', k + 1, T0 + k * 5000, [sample('alice', 50)])));
    const incident = (await store.listIncidents())[0]!;
    await store.close(); // a clean close writes the last five minutes too: the watermark goes back below

    const garbage = Buffer.from('ffffffffffffffffffff', 'hex'); // a varint longer than the codec allows
    tamper(t.file, (db) => {
      db.prepare('UPDATE hosts SET watermark = ?').run(T0 + HOUR); // the last 60 reports are replayed at start
      db.prepare('UPDATE reports SET samples = ? WHERE seq = 750').run(garbage); // replayed at start
      db.prepare('UPDATE reports SET samples = ? WHERE seq = 100').run(garbage); // read by a raw query
      db.prepare('UPDATE minute SET data = ? WHERE bucket = ? AND series = (SELECT id FROM tenants WHERE name = ?)').run(garbage, T0 + 10 * MIN, 'alice');
      db.prepare("UPDATE plans SET spec = '{\"weight\":' WHERE name = 'gold'").run();
      db.prepare("UPDATE tenants SET spec = 'not json' WHERE name = 'dave'").run();
      db.prepare("UPDATE tenants SET reported = '[1,' WHERE name = 'bob'").run();
      db.prepare("UPDATE tenants SET debt = 1e300, debt_at = 1 WHERE name = 'carol'").run();
      db.prepare("UPDATE incidents SET explanation = '{' WHERE id = ?").run(incident.id);
      db.prepare("UPDATE incident_events SET body = 'x' WHERE incident_id = ?").run(incident.id);
    });

    const { log, lines } = logged();
    const reopened = await t.reopen({ log });
    const atStart = reopened.damagedRows();
    // the replayed report, the plan, dave's spec, bob's directory entry, carol's debt
    expect(atStart).toBe(5);
    const skipped = lines.filter((l) => l.msg?.toString().startsWith('damaged row skipped'));
    expect(skipped.map((l) => [l.table, l.row])).toEqual(
      expect.arrayContaining([
        ['plans', 'gold'],
        ['tenants', 'dave'],
        ['tenants', 'bob'],
        ['tenants', 'carol'],
        ['reports', expect.any(Number)],
      ]),
    );
    expect(lines.some((l) => l.msg === 'started with damaged rows skipped (GET /healthz shows the count; restore a backup to get them back)' && l.damaged_rows === 5)).toBe(true);

    // It answers: every tenant, their history (raw and minute rows), the policy, the incident.
    expect((await reopened.getTenant('alice'))?.latest?.values.cpu_percent).toBe(50);
    expect((await reopened.getTenant('bob'))?.reported).toBeNull();
    expect((await reopened.getTenant('bob'))?.weight).toBe(1); // gold is gone with its damaged row
    expect((await reopened.getTenant('carol'))?.debt).toBe(0);
    expect((await reopened.getTenant('dave'))?.managed).toBe(false);
    const raw = await reopened.tenantHistory('alice', { from: T0, to: T0 + 20 * MIN });
    expect(raw?.samples.length).toBe(12 * 20 - 1);
    const minutes = await reopened.tenantHistory('alice', { from: T0, to: T0 + HOUR, stepMs: MIN, metrics: ['cpu'] });
    expect(minutes?.samples.length).toBe(59);
    expect(minutes?.series.cpu_percent?.avg.every((v) => v === 50)).toBe(true);
    expect((await reopened.getPolicy('web01')).policy.tenants.map((s) => s.name)).toEqual(['carol']);
    const detail = await reopened.getIncident(incident.id);
    expect([detail?.history, detail?.explanation.summary]).toEqual([[], '(the stored explanation of this incident cannot be read)']);
    // seen by the queries: the raw report, the minute row, the event, the explanation (dave's spec was counted at start)
    expect(reopened.damagedRows()).toBe(atStart + 4);

    // and it goes on: a new report, and /healthz tells
    expect((await reopened.ingest(prepared(report('web01', 781, T0 + 781 * 5000, [sample('alice', 60)])))).accepted).toBe(true);
    const app = await buildApp({ store: reopened, tokens: new TokenRegistry(), now: clock.now });
    const health = (await app.inject({ url: '/healthz' })).json();
    expect(health).toMatchObject({ status: 'ok', damaged_rows: reopened.damagedRows() });
    await app.close();
  });
});

describe('PRAGMA quick_check after an unclean shutdown', () => {
  function storeWithData(): ReturnType<typeof tempStore> {
    const clock = new Clock(T0 + HOUR);
    const t = tempStore({ now: clock.now });
    cleanup.push(t.dispose);
    return t;
  }

  it('runs only when the last controller did not close the file', async () => {
    const t = storeWithData();
    await t.store.ingest(prepared(report('web01', 1, T0, [sample('alice', 50)])));
    let { log, lines } = logged();
    await t.reopen({ log });
    expect(lines.some((l) => String(l.msg).includes('quick_check'))).toBe(false);
    await t.store.close();
    tamper(t.file, (db) => db.prepare("UPDATE meta SET value = '0' WHERE key = 'clean_shutdown'").run()); // as after kill -9
    ({ log, lines } = logged());
    await t.reopen({ log });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['the database was not closed cleanly (crash, kill -9 or power loss): running PRAGMA quick_check', 'PRAGMA quick_check: ok']));
    expect((await t.store.getTenant('alice'))?.latest?.values.cpu_percent).toBe(50);
  });

  it('refuses a damaged file at start with a message naming it and what to do; --check says so too', async () => {
    const t = storeWithData();
    for (let k = 0; k < 50; k++) await t.store.ingest(prepared(report('web01', k + 1, T0 + k * 5000, [sample('alice', 50)])));
    await t.store.close();
    tamper(t.file, (db) => db.prepare("UPDATE meta SET value = '0' WHERE key = 'clean_shutdown'").run());
    corruptTable(t.file, 'reports');
    expect(checkFile(t.file)).toMatchObject({ ok: false, file: t.file });
    const open = () => new SqliteStore({ file: t.file });
    expect(open).toThrow(StoreUnavailableError);
    expect(open).toThrow(new RegExp(`^database ${t.file} is damaged \\(PRAGMA quick_check: .+\\)\\. The controller does not start on a damaged file: stop here and restore the latest backup to ${t.file}`));
    try {
      open();
    } catch (err) {
      expect((err as StoreUnavailableError).code).toBe('HW_STORE_DAMAGED');
    }
    // the lock is released: a restored file opens at once
    rmSync(t.file);
    rmSync(`${t.file}-wal`, { force: true });
    rmSync(`${t.file}-shm`, { force: true });
    await t.reopen();
    expect(checkFile(t.file).ok).toBe(true);
  });

  it('a damaged page met while loading a cleanly closed file is refused with the same message, not a raw SQLite error', async () => {
    const t = storeWithData();
    for (let k = 0; k < 5; k++) await t.store.ingest(prepared(report('web01', k + 1, T0 + k * 5000, [sample(`t${k}`, 50)])));
    await t.store.close();
    corruptTable(t.file, 'tenants'); // read at every start; the clean mark means no quick_check ran first
    expect(() => new SqliteStore({ file: t.file })).toThrow(/^database .* is damaged \(PRAGMA quick_check: .+\)\. The controller does not start on a damaged file/);
    rmSync(t.file);
    await t.reopen();
  });

  it('--backup writes a whole copy beside a running store, which opens and passes quick_check', async () => {
    const t = storeWithData();
    for (let k = 0; k < 100; k++) await t.store.ingest(prepared(report('web01', k + 1, T0 + k * 5000, [sample('alice', 50)])));
    const to = join(t.dir, 'backup.db');
    const r = await backupFile(t.file, to);
    expect(r.pages).toBeGreaterThan(1);
    expect(existsSync(`${to}.partial-${process.pid}`)).toBe(false);
    expect(checkFile(to).ok).toBe(true);
    const copy = new Database(to, { readonly: true });
    expect((copy.prepare('SELECT count(*) AS n FROM reports').get() as { n: number }).n).toBe(100);
    copy.close();
    expect((await t.store.ingest(prepared(report('web01', 101, T0 + 101 * 5000, [sample('alice', 50)])))).accepted).toBe(true);
  });
});
