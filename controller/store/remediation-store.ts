// Remediation cases as the store keeps them: rows read and written whole, each change made by a pure decision
// (controller/remediation/machine.ts) inside the store's transaction, with the notices it sends written in
// that same transaction (TxContext.notices), so a case moves exactly when its notice exists. The decisions are
// controller/remediation's; the store only keeps the rows and the key that signs the tenants' links, so any
// backend can carry them.
import type { CaseState, RemediationCase } from '../../shared/wire/remediation.js';
import type { NoticeTx } from './notice-store.js';

/** What a decision gets inside the case's transaction: its clock and the outbox (the same as the ingest hooks' TxContext). */
export interface CaseTx {
  now: number;
  notices: NoticeTx;
  /** Run `fn` once the transaction committed (TxContext.afterCommit). */
  afterCommit(fn: () => void): void;
}

export interface CaseFilter {
  tenant?: string | undefined;
  state?: CaseState | undefined;
  limit?: number | undefined;
}

/** Incidents of one tenant and rule opened since a time: what the automatic opening counts. */
export interface IncidentTally {
  tenant: string;
  rule: string;
  count: number;
  /** Their ids, newest first (at most 20). */
  ids: number[];
}

/** A decision inside a case's transaction: the next case (undefined: no change); notices go through tx. */
export type CaseDecision = (current: RemediationCase, tx: CaseTx) => RemediationCase | undefined;

export interface RemediationStore {
  /** The key that signs tenants' links (made once, 32 random bytes, kept in the store). */
  linkKey(): Promise<Buffer>;
  /**
   * Store a new case (its `id` is ignored: the store assigns one) and, in the same transaction, what
   * `opened` writes (its notice). The case as stored.
   */
  open(c: RemediationCase, opened: (stored: RemediationCase, tx: CaseTx) => void): Promise<RemediationCase>;
  get(id: number): Promise<RemediationCase | undefined>;
  /** Newest first. */
  list(filter?: CaseFilter): Promise<RemediationCase[]>;
  /**
   * Read the case, decide, write the next one, in one transaction. undefined when the case is unknown;
   * `changed` false when the decision made none. A decision that throws rolls back and the error propagates.
   */
  change(id: number, decide: CaseDecision): Promise<{ case: RemediationCase; changed: boolean } | undefined>;
  /** Cases the overdue job looks at: not resolved, or resolved with a step still to lift (step_state lift_due). */
  pending(): Promise<RemediationCase[]>;
  /** Incidents per tenant and rule opened at or after `since`, other than `manual` ones, with at least `min` (of `tenant` alone when given). */
  incidentTally(since: number, min: number, tenant?: string): Promise<IncidentTally[]>;
  /** The newest case opened for `tenant` with `rule` (automatic cases), or undefined. */
  lastCaseFor(tenant: string, rule: string): Promise<RemediationCase | undefined>;
}

/** A case as both stores keep it: the columns they query by, and the rest as a JSON body. */
export interface CaseRow {
  id: number;
  tenant: string;
  host: string;
  rule: string | null;
  state: string;
  step_state: string;
  opened_at: number;
  deadline: number;
  updated_at: number;
  body: string;
}

/** The row of a case (its id is the row's own). */
export function caseRow(c: RemediationCase, now: number): Omit<CaseRow, 'id'> {
  const { id: _id, ...body } = c;
  return {
    tenant: c.tenant,
    host: c.host,
    rule: c.rule,
    state: c.state,
    step_state: c.step_state,
    opened_at: Date.parse(c.opened_at),
    deadline: Date.parse(c.deadline),
    updated_at: now,
    body: JSON.stringify(body),
  };
}

/** A row's body with its id, not yet checked against the schema; undefined when the body is not JSON. */
export function caseBody(r: CaseRow): unknown {
  try {
    return { ...(JSON.parse(r.body) as object), id: r.id };
  } catch {
    return undefined;
  }
}
