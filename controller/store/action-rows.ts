// A manual action's row and its rules, shared by the SQLite and PostgreSQL stores (sqlite/actions.ts,
// postgres/catalog.ts and postgres/ingest.ts only read and write the rows):
//   pending -> applied | failed; applied -> expired | released; a notice or a release ends as done.
import { randomUUID } from 'node:crypto';
import type { ActionAck, ManualAction } from '../../shared/wire/agent.js';
import type { ActionStateName, ActionStatus } from '../../shared/wire/api.js';
import { InvalidError } from './errors.js';
import type { ActionInput } from './store.js';

export interface ActionRow {
  id: string;
  tenant: string;
  host_id: number;
  action: ManualAction['action'];
  level: number | null;
  reason: string;
  by: string | null;
  created_at: number;
  expires_at: number | null;
  state: ActionStateName;
  state_at: number;
  message: string | null;
}

const iso = (t: number): string => new Date(t).toISOString();

/** A new pending action of `tenant` on host `hostId`; an InvalidError names what the request may not have. */
export function newActionRow(tenant: string, hostId: number, req: ActionInput, by: string, now: number): ActionRow {
  if (req.level !== undefined && req.action !== 'throttle') throw new InvalidError('level: only a throttle has a level');
  if (req.ttlMs !== undefined) {
    if (req.action !== 'throttle' && req.action !== 'quarantine') throw new InvalidError('ttl: only a throttle or a quarantine lasts for a time');
    if (!(req.ttlMs > 0)) throw new InvalidError('ttl: must be more than zero');
  }
  return {
    id: randomUUID(),
    tenant,
    host_id: hostId,
    action: req.action,
    level: req.action === 'throttle' ? (req.level ?? 1) : null,
    reason: req.reason,
    by,
    created_at: now,
    expires_at: req.ttlMs === undefined ? null : now + req.ttlMs,
    state: 'pending',
    state_at: now,
    message: null,
  };
}

/** The state an agent's acknowledgement moves the action to, or undefined when it changes nothing. */
export function stateAfterAck(row: ActionRow, ack: ActionAck): ActionStateName | undefined {
  let next: ActionStateName | undefined;
  if (row.state === 'pending') {
    if (ack.state === 'applied') next = row.action === 'notice' || row.action === 'release' ? 'done' : 'applied';
    else next = ack.state;
  } else if (row.state === 'applied' && (ack.state === 'expired' || ack.state === 'released' || ack.state === 'failed')) next = ack.state;
  return next === row.state ? undefined : next;
}

/** The state as of `now`: a pending or applied action past its expiry is expired, whatever its row says yet. */
export function effectiveState(row: ActionRow, now: number): ActionStateName {
  if ((row.state === 'pending' || row.state === 'applied') && row.expires_at !== null && row.expires_at <= now) return 'expired';
  return row.state;
}

/** The action as the agent's policy carries it. */
export function manualAction(row: ActionRow): ManualAction {
  return {
    id: row.id,
    tenant: row.tenant,
    action: row.action,
    ...(row.level !== null ? { level: row.level } : {}),
    reason: row.reason,
    ...(row.by !== null ? { by: row.by } : {}),
    created_at: iso(row.created_at),
    ...(row.expires_at !== null ? { expires_at: iso(row.expires_at) } : {}),
  };
}

/** The action as the API answers it. */
export function actionStatus(row: ActionRow, host: string, now: number): ActionStatus {
  const state = effectiveState(row, now);
  return {
    ...manualAction(row),
    host,
    state,
    state_at: iso(state !== row.state && row.expires_at !== null ? row.expires_at : row.state_at),
    message: row.message,
  };
}
