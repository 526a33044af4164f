// Rows the store cannot use: a history blob that does not decode, a JSON column that does not parse or no
// longer matches its schema, a number out of its range. Written by an older controller, by a disk error or
// by hand; whatever the cause, one damaged row must never stop the controller, at start or on a query.
// The readers (load.ts, history.ts, tenants.ts, incidents.ts, rollups.ts) skip such a row and note it here:
// it is logged once, counted once, and the count is shown in GET /healthz (`damaged_rows`) and in
// /metrics (hostwarden_store_damaged_rows). `hostwarden-controller --check` runs PRAGMA quick_check over
// the whole file (connection.ts); this is the row-level view of what the controller skipped.
import type { Logger } from 'pino';
import type { Static, TSchema } from 'typebox';
import { CodecError } from '../../history/codec.js';
import { validator, type Validator } from '../../../shared/validate.js';

/** Rows remembered individually (logged once, counted once); beyond it every later note counts. */
const MAX_REMEMBERED = 10_000;

export class DamagedRows {
  private n = 0;
  private readonly seen = new Set<string>();

  constructor(private readonly log: Logger | undefined) {}

  /** Rows skipped since the store opened. */
  get count(): number {
    return this.n;
  }

  /** Note a row that is skipped (or read as empty): `table` and `row` name it, `problem` says why. */
  note(table: string, row: string | number, problem: string, err?: unknown): void {
    const key = `${table}:${row}`;
    if (this.seen.has(key)) return;
    if (this.seen.size < MAX_REMEMBERED) this.seen.add(key);
    this.n++;
    this.log?.error({ table, row, problem, ...(err instanceof Error ? { error: err.message } : {}) }, 'damaged row skipped (restore a backup to get it back; hostwarden-controller --check checks the file)');
  }

  /** `fn()`, or undefined with the row noted when it throws a CodecError (a history blob that does not decode). */
  decode<T>(table: string, row: string | number, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      this.note(table, row, 'history blob does not decode', err);
      return undefined;
    }
  }

  /** A JSON column parsed and checked against its schema; undefined with the row noted when it is neither. */
  json<T extends TSchema>(table: string, row: string | number, column: string, text: string, check: Validator<T>): Static<T> | undefined {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.note(table, row, `${column} is not JSON`);
      return undefined;
    }
    if (check.check(value)) return value;
    this.note(table, row, `${column} does not match its schema: ${check.problems(value, 1).join('; ')}`);
    return undefined;
  }
}

/** Validators of the JSON columns, compiled once. */
const cache = new Map<TSchema, Validator<TSchema>>();
export function columnCheck<T extends TSchema>(schema: T): Validator<T> {
  let v = cache.get(schema);
  if (!v) cache.set(schema, (v = validator(schema)));
  return v as Validator<T>;
}
