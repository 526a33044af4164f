// Manual actions: queued by an admin for a tenant's host, served in that host's policy (policy.ts), moved
// through their states by the agent's acknowledgements in its reports (the rules: ../action-rows.ts).
import type Database from 'better-sqlite3';
import type { ActionAck } from '../../../shared/wire/agent.js';
import type { ActionStatus } from '../../../shared/wire/api.js';
import { actionStatus, newActionRow, stateAfterAck, type ActionRow } from '../action-rows.js';
import { ConflictStateError, MissingError } from '../errors.js';
import type { ActionFilter, ActionInput } from '../store.js';
import { assertOpen, Where, type StoreContext } from './context.js';
import type { HostState } from './writer-state.js';

function statements(db: Database.Database) {
  return {
    getAction: db.prepare<[string], ActionRow>('SELECT * FROM actions WHERE id = ?'),
    insertAction: db.prepare<[ActionRow]>(
      `INSERT INTO actions (id, tenant, host_id, action, level, reason, by, created_at, expires_at, state, state_at, message)
       VALUES (@id, @tenant, @host_id, @action, @level, @reason, @by, @created_at, @expires_at, @state, @state_at, @message)`,
    ),
    setActionState: db.prepare<[string, number, string | null, string]>('UPDATE actions SET state = ?, state_at = ?, message = ? WHERE id = ?'),
    appliedActionsOfTenant: db.prepare<[string], ActionRow>("SELECT * FROM actions WHERE tenant = ? AND state = 'applied' AND action IN ('throttle', 'quarantine')"),
  };
}

export class Actions {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  queue(tenantName: string, req: ActionInput, by: string): ActionStatus {
    const { ctx } = this;
    assertOpen(ctx);
    const t = ctx.state.tenants.get(tenantName);
    if (!t) throw new MissingError(`tenant ${tenantName} is not known`);
    const host = ctx.state.hostOf(t);
    if (!host) throw new ConflictStateError('no_host', `tenant ${tenantName} has no host yet`);
    const now = ctx.now();
    const row = newActionRow(tenantName, host.id, req, by, now);
    const status = actionStatus(row, host.name, now);
    ctx.db.transaction(() => {
      this.sql.insertAction.run(row);
      for (const hook of ctx.hooks.action) hook(status, ctx.hooks.tx(now));
    })();
    ctx.state.policyChanged();
    return status;
  }

  list(filter: ActionFilter): ActionStatus[] {
    const { state } = this.ctx;
    const host = filter.host === undefined ? undefined : state.hosts.get(filter.host);
    if (filter.host !== undefined && !host) return [];
    const where = new Where().add('tenant = ?', filter.tenant).add('host_id = ?', host?.id);
    const now = this.ctx.now();
    return this.ctx.db
      .prepare<Array<string | number>, ActionRow>(`SELECT * FROM actions ${where} ORDER BY created_at DESC, id LIMIT 1000`)
      .all(...where.params)
      .map((r) => actionStatus(r, state.hostName(r.host_id), now));
  }

  get(id: string): ActionStatus | undefined {
    const r = this.sql.getAction.get(id);
    return r ? actionStatus(r, this.ctx.state.hostName(r.host_id), this.ctx.now()) : undefined;
  }

  /** Apply the agent's acknowledgements to actions queued for its host (inside the report's transaction); true when any state changed. */
  applyAcks(host: HostState, acks: ActionAck[], now: number): boolean {
    let changed = false;
    for (const ack of acks) {
      const row = this.sql.getAction.get(ack.action_id);
      if (!row || row.host_id !== host.id) {
        this.ctx.log?.warn({ host: host.name, action_id: ack.action_id }, 'acknowledgement for an action not queued for this host; ignored');
        continue;
      }
      const at = Math.min(Date.parse(ack.at), now);
      const next = stateAfterAck(row, ack);
      if (!next) continue;
      this.sql.setActionState.run(next, at, ack.message ?? null, row.id);
      changed = true;
      if (row.action === 'release' && next === 'done') {
        for (const other of this.sql.appliedActionsOfTenant.all(row.tenant)) this.sql.setActionState.run('released', at, `released by action ${row.id}`, other.id);
      }
    }
    return changed;
  }
}
