// What the store refuses, in the store's own words: a kind callers can map (the HTTP layer maps kinds to
// statuses in one place) and a message about the data, never about a route or a status code.
import { HostwardenError } from '../../shared/errors.js';

export type StoreErrorKind = 'invalid' | 'not_found' | 'conflict';

export class StoreError extends HostwardenError {
  constructor(
    readonly kind: StoreErrorKind,
    code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** A value the store cannot accept (the field is named first: `plan: "gold" is not defined`). */
export class InvalidError extends StoreError {
  constructor(message: string, code = 'bad_request') {
    super('invalid', code, message);
  }
}

/** The named record does not exist. */
export class MissingError extends StoreError {
  constructor(message: string, code = 'not_found') {
    super('not_found', code, message);
  }
}

/** The request contradicts what is stored (a sequence number reused, a tenant with no host yet). */
export class ConflictStateError extends StoreError {
  constructor(code: string, message: string) {
    super('conflict', code, message);
  }
}

/** A managed tenant names a plan that is not defined (the HTTP layer tells how to define it). */
export class UnknownPlanError extends InvalidError {
  constructor(readonly plan: string) {
    super(`plan: "${plan}" is not defined`);
  }
}

/**
 * The store cannot serve at all (not a refusal of one request): its database is held by another controller,
 * has a schema newer than this controller knows, is damaged (sqlite/maintenance.ts), the store was closed, or
 * its database server cannot be reached (HW_STORE_UNREACHABLE, PostgreSQL: the API answers 503, agents keep
 * their reports spooled and send them again).
 */
export class StoreUnavailableError extends HostwardenError {
  constructor(code: 'HW_STORE_LOCKED' | 'HW_STORE_TOO_NEW' | 'HW_STORE_CLOSED' | 'HW_STORE_DAMAGED' | 'HW_BACKUP_DAMAGED' | 'HW_STORE_UNREACHABLE', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
