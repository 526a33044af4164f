// hostwarden-controller --migrate-from-sqlite FILE: every table of an SQLite controller database copied into
// the PostgreSQL database of database.url (issue 15). The two schemas are the same table for table and column
// for column (PostgreSQL's migration 1 is SQLite's 1-10), so rows move unchanged: ids kept (the identities
// moved past them afterwards), history blobs byte for byte (the codec of controller/history reads both).
//
// One read transaction on the SQLite file (a consistent snapshot, also of a file a controller still writes;
// stop it first all the same, or its later reports are not in the copy) and one PostgreSQL transaction: the
// copy is all there or not at all. Rows go in multi-row INSERTs of up to ~30,000 values.
import Database from 'better-sqlite3';
import type pg from 'pg';
import { ConflictStateError, InvalidError } from '../errors.js';
import { MIGRATIONS } from '../sqlite/migrations/index.js';
import { storedDebt } from '../../fairness.js';
import { TENANT_WIDTH } from '../../history/catalog.js';
import { forEachSample } from '../../history/codec.js';
import type { PgDatabase } from './db.js';
import { mergeRollups, TierAccs } from './rollups.js';

/** The SQLite schema version PostgreSQL's migrations match (a file at another version is refused). */
export const SQLITE_VERSION_MATCHED = 10;

/**
 * The tables in copy order (a row's references before it). Every table of the SQLite file must be here: one
 * this version does not know is refused rather than left behind.
 */
export const COPIED_TABLES = [
  'meta',
  'hosts',
  'plans',
  'tenants',
  'retired_tenants',
  'reports',
  'minute',
  'hour',
  'incidents',
  'incident_events',
  'actions',
  'audit',
  'notices',
  'notice_limits',
  'host_inventory',
  'quarantined_files',
  'file_requests',
  'remediation_cases',
  'web_minutes',
  'api_pushes',
  'web_log_stats',
  'ui_sessions',
  'tenant_links',
] as const;

/** Tables whose id is an identity in PostgreSQL: the sequence is moved past the copied ids. */
const IDENTITY_TABLES = ['hosts', 'reports', 'incidents', 'incident_events', 'audit', 'notices', 'remediation_cases'];

/** Values per INSERT (PostgreSQL takes at most 65,535 parameters per statement). */
const MAX_PARAMS = 30_000;

export interface CopyResult {
  /** Rows copied per table, in copy order. */
  tables: Array<{ table: string; rows: number }>;
  ms: number;
}

export async function copyFromSqlite(file: string, db: PgDatabase, onTable?: (table: string, rows: number) => void): Promise<CopyResult> {
  const started = performance.now();
  let lite: Database.Database;
  try {
    lite = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new InvalidError(`${file}: cannot open as SQLite (${(err as Error).message})`);
  }
  try {
    let version: number;
    try {
      version = lite.pragma('user_version', { simple: true }) as number;
    } catch (err) {
      throw new InvalidError(`${file}: not an SQLite database (${(err as Error).message})`);
    }
    const latest = MIGRATIONS.at(-1)!.version;
    if (version !== SQLITE_VERSION_MATCHED) {
      const how = version < SQLITE_VERSION_MATCHED ? 'start this version of the controller on it once (it migrates the file), stop it, then copy' : 'copy it with the controller version that wrote it';
      throw new InvalidError(`${file}: its schema is at version ${version}; this version copies version ${SQLITE_VERSION_MATCHED} (its SQLite store is at ${latest}): ${how}`);
    }
    const tables = lite.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all().map((t) => t.name);
    const unknown = tables.filter((t) => !(COPIED_TABLES as readonly string[]).includes(t));
    if (unknown.length) throw new InvalidError(`${file}: tables this version does not know: ${unknown.join(', ')}`);
    lite.exec('BEGIN'); // one snapshot for every table
    try {
      return await db.tx(async (c) => {
        for (const t of COPIED_TABLES) {
          const [r] = (await c.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${t}) AS any`)).rows;
          if (r?.any) throw new ConflictStateError('not_empty', `the PostgreSQL database already has rows in ${t}: copy into a new, empty database`);
        }
        const out: CopyResult['tables'] = [];
        for (const t of COPIED_TABLES) {
          const rows = tables.includes(t) ? await copyTable(lite, c, t) : 0;
          out.push({ table: t, rows });
          onTable?.(t, rows);
        }
        await replayUnrolled(lite, c);
        for (const t of IDENTITY_TABLES) {
          await c.query(`SELECT setval(pg_get_serial_sequence('${t}', 'id'), coalesce((SELECT max(id) FROM ${t}), 0) + 1, false)`);
        }
        // New tenants' ids above every copied one, the expired tenants' too (migration 2's tenant_ids).
        await c.query("SELECT setval('tenant_ids', greatest(coalesce((SELECT max(id) FROM tenants), 0), coalesce((SELECT max(id) FROM retired_tenants), 0)) + 1, false)");
        return { tables: out, ms: performance.now() - started };
      });
    } finally {
      lite.exec('COMMIT');
    }
  } finally {
    lite.close();
  }
}

async function copyTable(lite: Database.Database, c: pg.PoolClient, table: string): Promise<number> {
  const columns = lite.prepare<[], { name: string }>(`PRAGMA table_info("${table}")`).all().map((col) => col.name);
  const quoted = columns.map((col) => `"${col}"`).join(', ');
  const perInsert = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
  const select = lite.prepare(`SELECT ${quoted} FROM "${table}"`).raw(true);
  let batch: unknown[][] = [];
  let total = 0;
  const flush = async () => {
    if (!batch.length) return;
    const params: unknown[] = [];
    const tuples = batch.map((row) => `(${row.map((v) => `$${params.push(v)}`).join(', ')})`);
    await c.query(`INSERT INTO ${table} (${quoted}) VALUES ${tuples.join(', ')}`, params);
    total += batch.length;
    batch = [];
  };
  for (const row of select.iterate() as IterableIterator<unknown[]>) {
    batch.push(row);
    if (batch.length >= perInsert) await flush();
  }
  await flush();
  return total;
}

/**
 * The SQLite store holds a host's minutes from its watermark on in memory, written at its flushes: those raw
 * rows are not in the copied `minute` and `hour` tables yet. They are added to PostgreSQL's rollups here (as
 * SQLite replays them at its start, sqlite/load.ts), with the tenants' newest debt they carry.
 */
async function replayUnrolled(lite: Database.Database, c: pg.PoolClient): Promise<void> {
  const hosts = lite.prepare<[], { id: number; watermark: number | null }>('SELECT id, watermark FROM hosts').all();
  const reports = lite.prepare<[number, number], { at: number; samples: Buffer; host_values: Buffer }>('SELECT at, samples, host_values FROM reports WHERE host_id = ? AND at >= ? ORDER BY at, id');
  const accs = new TierAccs();
  const debts = new Map<number, { debt: number; at: number }>();
  for (const h of hosts) {
    for (const r of reports.iterate(h.id, h.watermark ?? Number.MIN_SAFE_INTEGER)) {
      accs.addReport(h.id, r.at, r.samples, r.host_values);
      forEachSample(r.samples, TENANT_WIDTH, (id, row) => {
        const debt = storedDebt(row);
        if (debt !== undefined && !(r.at < (debts.get(id)?.at ?? Number.NEGATIVE_INFINITY))) debts.set(id, { debt, at: r.at });
      });
    }
  }
  // Alone on the new database (the copy's transaction): merged into the copied rows like a drain's.
  await mergeRollups(c, accs);
  if (debts.size) {
    const ids = [...debts.keys()];
    await c.query(
      `UPDATE tenants t SET debt = u.debt, debt_at = u.at FROM unnest($1::bigint[], $2::float8[], $3::bigint[]) AS u(id, debt, at)
       WHERE t.id = u.id AND (t.debt_at IS NULL OR t.debt_at <= u.at)`,
      [ids, ids.map((id) => debts.get(id)!.debt), ids.map((id) => debts.get(id)!.at)],
    );
  }
}
