// The local SQLite outbox: each tick's report is durable here before anything is sent, and leaves only when
// the controller answered 2xx. Sequence numbers start at the epoch milliseconds of the spool's creation, so
// a wiped state directory never reuses a (host, seq) the controller already holds.
// A report's body is its JSON as UTF-8 bytes (a BLOB; `SELECT CAST(body AS TEXT)` shows it): encoded once when
// spooled, then stored, read back and sent as bytes. As text it was converted three more times on its way
// (into SQLite, back into a string, into the socket): 1,000 tenants' report is about 400 KB a tick. Rows
// spooled as TEXT by an older agent read back as strings and are sent as they are.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../../shared/wire/agent.js';

/** A report as spooled: `sent_at` is stamped by the reporter at each send attempt. */
export type SpooledReport = Omit<Report, 'sent_at'>;

const MIGRATIONS = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE outbox (seq INTEGER PRIMARY KEY, created_at INTEGER NOT NULL, body TEXT NOT NULL);
   CREATE TABLE dead (seq INTEGER PRIMARY KEY, failed_at INTEGER NOT NULL, status INTEGER, error TEXT NOT NULL, body TEXT NOT NULL);`,
];

export interface SpoolOptions {
  /** At most this many unsent reports are kept; the oldest are dropped beyond it (default 24 h at 5 s). */
  maxReports?: number;
  now?: () => number;
}

export class Spool {
  readonly db: Database.Database;
  private readonly maxReports: number;
  private readonly now: () => number;
  private readonly stmts;

  constructor(stateDir: string, opts: SpoolOptions = {}) {
    mkdirSync(stateDir, { recursive: true, mode: 0o750 });
    this.db = new Database(join(stateDir, 'agent.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db, MIGRATIONS);
    this.maxReports = opts.maxReports ?? 17_280;
    this.now = opts.now ?? Date.now;
    this.stmts = {
      getMeta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      insert: this.db.prepare<[number, number, Buffer]>('INSERT INTO outbox (seq, created_at, body) VALUES (?, ?, ?)'),
      pending: this.db.prepare<[number], { seq: number; body: Buffer | string }>('SELECT seq, body FROM outbox ORDER BY seq LIMIT ?'),
      remove: this.db.prepare<[number]>('DELETE FROM outbox WHERE seq = ?'),
      count: this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM outbox'),
      trim: this.db.prepare<[number]>('DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)'),
      bury: this.db.prepare<[number, number, number | null, string, number]>(
        'INSERT OR REPLACE INTO dead (seq, failed_at, status, error, body) SELECT ?, ?, ?, ?, body FROM outbox WHERE seq = ?',
      ),
    };
  }

  /** Number the next reports from the current time on (after a sequence conflict with the controller). */
  skipAhead(): void {
    const last = Number(this.getMeta('last_seq') ?? '0');
    this.setMeta('last_seq', String(Math.max(last, this.now())));
  }

  getMeta(key: string): string | undefined {
    return this.stmts.getMeta.get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmts.setMeta.run(key, value);
  }

  /**
   * Assign the next sequence number to a report and store it, with `meta` (the state that produced the
   * report), in one transaction: a crash either keeps both or neither.
   */
  enqueue(build: (seq: number) => SpooledReport, meta: Record<string, string> = {}): { report: SpooledReport; dropped: number } {
    return this.db.transaction(() => {
      const last = Number(this.getMeta('last_seq') ?? String(this.now() - 1));
      const seq = last + 1;
      const report = build(seq);
      this.stmts.insert.run(seq, this.now(), Buffer.from(JSON.stringify(report)));
      this.setMeta('last_seq', String(seq));
      for (const [k, v] of Object.entries(meta)) this.setMeta(k, v);
      const n = this.stmts.count.get()!.n;
      let dropped = 0;
      if (n > this.maxReports) {
        dropped = n - this.maxReports;
        this.stmts.trim.run(dropped);
      }
      return { report, dropped };
    })();
  }

  /** Oldest unsent reports first, as stored: the report's JSON as UTF-8 bytes (as text if an older agent spooled it). */
  pending(limit: number): Array<{ seq: number; body: Buffer | string }> {
    return this.stmts.pending.all(limit);
  }

  size(): number {
    return this.stmts.count.get()!.n;
  }

  acknowledge(seq: number): void {
    this.stmts.remove.run(seq);
  }

  /** A report the controller refused as malformed: keep it aside for inspection, stop retrying it. */
  bury(seq: number, status: number | null, error: string): void {
    this.db.transaction(() => {
      this.stmts.bury.run(seq, this.now(), status, error, seq);
      this.stmts.remove.run(seq);
    })();
  }

  close(): void {
    this.db.close();
  }
}

/** Apply numbered migrations once, tracked by SQLite's user_version. */
export function migrate(db: Database.Database, migrations: readonly string[]): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let i = version; i < migrations.length; i++) {
    db.transaction(() => {
      db.exec(migrations[i]!);
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
}
