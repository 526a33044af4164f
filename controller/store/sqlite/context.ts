// What the parts of the SQLite store share: the connection, the writer's memory, options, the clock, the
// hooks. Each part (ingest.ts, rollups.ts, tenants.ts, ...) is a class over this context that prepares its own
// statements once; sqlite-store.ts composes them into the Store.
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { RetentionSpans } from '../../history/rollup.js';
import { StoreUnavailableError } from '../errors.js';
import type { NoticeTx } from '../notice-store.js';
import type { ActionQueuedHook, FairnessOptions, IncidentEventsHook, TxContext } from '../store.js';
import type { DamagedRows } from './damage.js';
import type { WriterState } from './writer-state.js';

export interface StoreContext {
  readonly db: Database.Database;
  readonly file: string;
  readonly state: WriterState;
  readonly now: () => number;
  readonly log: Logger | undefined;
  readonly retention: RetentionSpans;
  readonly fairness: FairnessOptions;
  readonly flushIntervalMs: number;
  readonly hooks: Hooks;
  /** True once close() began: long jobs stop between steps. */
  readonly closed: () => boolean;
  /** Rows skipped because they cannot be read (damage.ts). */
  readonly damaged: DamagedRows;
}

/** The hooks of a store, and the transaction handle they are given. */
export class Hooks {
  readonly incident = new Set<IncidentEventsHook>();
  readonly action = new Set<ActionQueuedHook>();

  /** @param notices the outbox on the store's connection (valid inside the store's transactions) */
  constructor(private readonly notices: NoticeTx) {}

  onIncidentEvents(hook: IncidentEventsHook): () => void {
    this.incident.add(hook);
    return () => this.incident.delete(hook);
  }

  onActionQueued(hook: ActionQueuedHook): () => void {
    this.action.add(hook);
    return () => this.action.delete(hook);
  }

  /** The handle hooks get inside a transaction begun at `now`. */
  tx(now: number): TxContext {
    // The transaction commits synchronously once the hooks return: the next turn of the event loop is after it.
    return { now, notices: this.notices, afterCommit: (fn) => void setImmediate(fn) };
  }
}

export function assertOpen(ctx: StoreContext): void {
  if (ctx.closed()) throw new StoreUnavailableError('HW_STORE_CLOSED', 'store is closed');
}

/** A WHERE clause from optional conditions: each `add` with an undefined value is left out. */
export class Where {
  private readonly parts: string[] = [];
  readonly params: Array<string | number> = [];

  add(sql: string, value: string | number | undefined): this {
    if (value !== undefined) {
      this.parts.push(sql);
      this.params.push(value);
    }
    return this;
  }

  toString(): string {
    return this.parts.length ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
}

export const iso = (t: number): string => new Date(t).toISOString();
export const isoOrNull = (t: number | null | undefined): string | null => (t === null || t === undefined ? null : iso(t));

/** Code of a SQLite error (better-sqlite3 sets it), e.g. SQLITE_CONSTRAINT_PRIMARYKEY. */
export function sqliteCode(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}
