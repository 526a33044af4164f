// Keeping the database file whole: PRAGMA quick_check after an unclean shutdown (connection.ts) and on
// `hostwarden-controller --check`, and online backups (`hostwarden-controller --backup FILE`).
//
//   clean shutdown  the store writes `clean_shutdown = 0` into the meta table when it opens and `1` when it
//                   closes; finding 0 at open means the last controller did not close (a crash, kill -9, a
//                   power cut), and only then does it run quick_check, which reads every page (seconds per
//                   GiB, so not on every start). A damaged file is refused with a message saying what to do.
//   backup          SQLite's online backup API (better-sqlite3 `db.backup()`) on a read-only connection of
//                   its own: no lock taken, the running controller keeps writing (WAL). All pages are copied
//                   in one step, inside one read transaction, so the copy is one consistent state even while
//                   reports arrive (a step-by-step copy would restart at every write). The copy is checked
//                   with quick_check and then renamed into place, so FILE is never half-written.
import { renameSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../errors.js';
import { sqliteCode } from './context.js';

/** The meta table's key for the clean-shutdown mark. */
export const CLEAN_SHUTDOWN_KEY = 'clean_shutdown';
/** At most this many lines of quick_check's findings are quoted. */
const MAX_FINDINGS = 10;

/** PRAGMA quick_check: [] when the file is whole, else what it found (at most MAX_FINDINGS lines). */
export function quickCheck(db: Database.Database): string[] {
  const rows = db.pragma(`quick_check(${MAX_FINDINGS})`) as Array<{ quick_check: string }>;
  const lines = rows.map((r) => r.quick_check);
  return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
}

/** SQLite's codes for a file that is not (or no longer) a database. */
export function isDamageCode(err: unknown): boolean {
  const code = sqliteCode(err) ?? '';
  return code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB';
}

/** The refusal of a damaged database file, saying what to do. */
export function damagedFileError(file: string, findings: string[], cause?: unknown): StoreUnavailableError {
  return new StoreUnavailableError(
    'HW_STORE_DAMAGED',
    `database ${file} is damaged (PRAGMA quick_check: ${findings.slice(0, 3).join('; ') || 'not a database'}). The controller does not start on a damaged file: ` +
      `stop here and restore the latest backup to ${file} (hostwarden-controller --backup FILE makes one; remove ${file}-wal and ${file}-shm with it), ` +
      `or move the file aside to start with an empty history; hostwarden-controller --check tells when a file is whole again`,
    cause === undefined ? undefined : { cause },
  );
}

export interface CheckResult {
  file: string;
  ok: boolean;
  findings: string[];
  ms: number;
}

/** `--check`: quick_check of a database file on a read-only connection (the controller may be running). */
export function checkFile(file: string): CheckResult {
  const started = performance.now();
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const findings = quickCheck(db);
    return { file, ok: findings.length === 0, findings, ms: performance.now() - started };
  } catch (err) {
    if (!isDamageCode(err)) throw err;
    return { file, ok: false, findings: [(err as Error).message], ms: performance.now() - started };
  } finally {
    db?.close();
  }
}

export interface BackupResult {
  file: string;
  to: string;
  pages: number;
  bytes: number;
  ms: number;
}

/**
 * `--backup TO`: a consistent copy of the database `file` while a controller may be writing it, checked
 * with quick_check, then renamed to `to` (replacing a file there). Throws when the copy is not whole.
 */
export async function backupFile(file: string, to: string): Promise<BackupResult> {
  const started = performance.now();
  const partial = `${to}.partial-${process.pid}`;
  rmSync(partial, { force: true });
  const source = new Database(file, { readonly: true, fileMustExist: true });
  try {
    // The first step (0 pages) learns the page count; the progress callback then asks for every page at once.
    const progress = await source.backup(partial, { progress: () => 0x7fffffff });
    const copy = new Database(partial);
    let findings: string[];
    try {
      // A single file: the copy needs no -wal or -shm beside it.
      copy.pragma('journal_mode = DELETE');
      findings = quickCheck(copy);
    } finally {
      copy.close();
    }
    if (findings.length) throw new StoreUnavailableError('HW_BACKUP_DAMAGED', `the backup of ${file} did not pass PRAGMA quick_check (${findings.slice(0, 3).join('; ')}); check the source with hostwarden-controller --check`);
    renameSync(partial, to);
    return { file, to, pages: progress.totalPages, bytes: statSync(to).size, ms: performance.now() - started };
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    source.close();
  }
}
