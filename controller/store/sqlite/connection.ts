// The SQLite connection of the store: the lock that makes this process the database's only writer, the
// pragmas (WAL, checkpoints on a thread of their own), the numbered migrations (migrations/), and the
// clean-shutdown mark that has PRAGMA quick_check run after a crash (maintenance.ts).
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { StoreUnavailableError } from '../errors.js';
import { Checkpointer } from './checkpointer.js';
import { sqliteCode } from './context.js';
import { CLEAN_SHUTDOWN_KEY, damagedFileError, isDamageCode, quickCheck } from './maintenance.js';
import { MIGRATIONS } from './migrations/index.js';

export interface ConnectionOptions {
  /** Database file; ':memory:' works for throwaway use. */
  file: string;
  log?: Logger | undefined;
  /** SQLite page cache, MiB (default 64). */
  cacheMiB?: number | undefined;
}

export class Connection {
  readonly db: Database.Database;
  readonly file: string;
  private readonly lock: Database.Database | undefined;
  private checkpointer: Checkpointer | undefined;
  private readonly log: Logger | undefined;

  /** Open (creating the directory and the schema as needed); throws when another controller holds the file. */
  constructor(opts: ConnectionOptions) {
    this.file = opts.file;
    this.log = opts.log;
    const inMemory = opts.file === ':memory:';
    if (!inMemory) mkdirSync(dirname(opts.file), { recursive: true });
    // One controller per database (the writer's memory, writer-state.ts, must not be shared): an exclusive
    // lock on a lock file, held while the store is open and released by the kernel if the process dies.
    if (!inMemory) this.lock = lockFile(opts.file);
    this.db = new Database(opts.file);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // Checkpoints run on the checkpointer's thread; this is only a backstop should it stop.
      this.db.pragma('wal_autocheckpoint = 50000');
      this.db.pragma('journal_size_limit = 67108864');
      this.db.pragma(`cache_size = ${-1024 * (opts.cacheMiB ?? 64)}`);
      this.db.pragma('temp_store = MEMORY');
      this.db.pragma('foreign_keys = ON');
      const unclean = !inMemory && this.shutdownMark() === '0';
      if (unclean) this.checkAfterCrash();
      this.migrate();
      if (!inMemory) this.setShutdownMark('0');
    } catch (err) {
      this.closeNow();
      if (isDamageCode(err)) throw damagedFileError(opts.file, [(err as Error).message], err);
      throw err;
    }
  }

  /** The clean-shutdown mark: '1' after a clean close, '0' while open (or after a crash), undefined before the first. */
  private shutdownMark(): string | undefined {
    const hasMeta = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    if (!hasMeta) return undefined;
    return this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(CLEAN_SHUTDOWN_KEY)?.value;
  }

  private setShutdownMark(value: '0' | '1'): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(CLEAN_SHUTDOWN_KEY, value);
  }

  /** The last controller did not close the file: read every page before trusting it. */
  private checkAfterCrash(): void {
    const started = performance.now();
    this.log?.warn({ file: this.file }, 'the database was not closed cleanly (crash, kill -9 or power loss): running PRAGMA quick_check');
    const findings = quickCheck(this.db);
    const ms = Math.round(performance.now() - started);
    if (findings.length) {
      this.log?.error({ file: this.file, findings, ms }, 'PRAGMA quick_check found damage; refusing to start');
      throw damagedFileError(this.file, findings);
    }
    this.log?.info({ file: this.file, ms }, 'PRAGMA quick_check: ok');
  }

  /** Start WAL checkpoints on their own thread (once the store is loaded). */
  startCheckpoints(): void {
    if (this.file === ':memory:' || this.checkpointer) return;
    this.checkpointer = new Checkpointer(this.file, { onError: (message) => this.log?.error({ message }, 'WAL checkpoint failed') });
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (current > latest) throw new StoreUnavailableError('HW_STORE_TOO_NEW', `database ${this.file} has schema version ${current}, newer than this controller knows (${latest}); upgrade the controller`);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      })();
      this.log?.info({ version: m.version, name: m.name }, 'applied database migration');
    }
  }

  /** Database plus write-ahead log, bytes (0 in memory). */
  bytes(): number {
    if (this.file === ':memory:') return 0;
    let bytes = 0;
    for (const f of [this.file, `${this.file}-wal`]) {
      try {
        bytes += statSync(f).size;
      } catch {
        /* no WAL yet */
      }
    }
    return bytes;
  }

  /** Close after the last checkpoint, marked clean (no quick_check at the next open). */
  async close(): Promise<void> {
    try {
      if (this.file !== ':memory:' && this.db.open) this.setShutdownMark('1');
    } catch (err) {
      this.log?.error({ err }, 'cannot mark the database closed cleanly; the next start runs PRAGMA quick_check');
    }
    await this.checkpointer?.stop();
    this.closeNow();
  }

  /** Close at once (a store that failed to open: no checkpointer runs yet). */
  closeNow(): void {
    if (this.db.open) this.db.close();
    this.lock?.close();
  }
}

function lockFile(file: string): Database.Database {
  const lock = new Database(`${file}.lock`, { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    lock.close();
    if (sqliteCode(err) === 'SQLITE_BUSY') throw new StoreUnavailableError('HW_STORE_LOCKED', `database ${file} is in use by another controller (lock ${file}.lock is held)`, { cause: err });
    throw err;
  }
  return lock;
}
