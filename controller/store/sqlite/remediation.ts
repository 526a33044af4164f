// Remediation cases on SQLite (the RemediationStore of ../remediation-store.ts): each case a row, its whole
// body as JSON beside the columns the queries need; every change read, decided and written in one transaction
// with the notices the decision writes. The link key is a meta row made once (INSERT OR IGNORE, so two
// controllers on one file agree on it).
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { RemediationCaseSchema, type RemediationCase } from '../../../shared/wire/remediation.js';
import { type CaseDecision, type CaseFilter, caseBody, type CaseRow, caseRow, type CaseTx, type IncidentTally, type RemediationStore } from '../remediation-store.js';
import { assertOpen, Where, type StoreContext } from './context.js';
import { columnCheck } from './damage.js';


const LINK_KEY = 'remediation_link_key';
/** Incidents of the automatic opening never count these rules: an administrator's own actions. */
const NOT_COUNTED = 'manual';

function statements(db: Database.Database) {
  return {
    insertKey: db.prepare<[string, string]>('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
    getKey: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    insert: db.prepare<[Omit<CaseRow, 'id'>]>(
      `INSERT INTO remediation_cases (tenant, host, rule, state, step_state, opened_at, deadline, updated_at, body)
       VALUES (@tenant, @host, @rule, @state, @step_state, @opened_at, @deadline, @updated_at, @body)`,
    ),
    update: db.prepare<[CaseRow]>(
      `UPDATE remediation_cases SET state = @state, step_state = @step_state, deadline = @deadline, updated_at = @updated_at, body = @body WHERE id = @id`,
    ),
    get: db.prepare<[number], CaseRow>('SELECT * FROM remediation_cases WHERE id = ?'),
    pending: db.prepare<[], CaseRow>("SELECT * FROM remediation_cases WHERE state != 'resolved' OR step_state = 'lift_due' ORDER BY id LIMIT 100000"),
    lastFor: db.prepare<[string, string], CaseRow>('SELECT * FROM remediation_cases WHERE tenant = ? AND rule = ? ORDER BY opened_at DESC, id DESC LIMIT 1'),
  };
}

export class SqliteRemediation implements RemediationStore {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  async linkKey(): Promise<Buffer> {
    assertOpen(this.ctx);
    this.sql.insertKey.run(LINK_KEY, randomBytes(32).toString('hex'));
    return Buffer.from(this.sql.getKey.get(LINK_KEY)!.value, 'hex');
  }

  async open(c: RemediationCase, opened: (stored: RemediationCase, tx: CaseTx) => void): Promise<RemediationCase> {
    const { ctx } = this;
    assertOpen(ctx);
    const now = ctx.now();
    return ctx.db.transaction(() => {
      const row = caseRow(c, now);
      const id = Number(this.sql.insert.run(row).lastInsertRowid);
      const stored = { ...c, id };
      this.sql.update.run({ ...caseRow(stored, now), id });
      opened(stored, ctx.hooks.tx(now));
      return stored;
    })();
  }

  async get(id: number): Promise<RemediationCase | undefined> {
    const r = this.sql.get.get(id);
    return r ? this.read(r) : undefined;
  }

  async list(filter: CaseFilter = {}): Promise<RemediationCase[]> {
    const where = new Where().add('tenant = ?', filter.tenant).add('state = ?', filter.state);
    const limit = Math.min(Math.max(1, filter.limit ?? 100), 10_000);
    return this.ctx.db
      .prepare<Array<string | number>, CaseRow>(`SELECT * FROM remediation_cases ${where} ORDER BY opened_at DESC, id DESC LIMIT ${limit}`)
      .all(...where.params)
      .flatMap((r) => this.read(r) ?? []);
  }

  async change(id: number, decide: CaseDecision): Promise<{ case: RemediationCase; changed: boolean } | undefined> {
    const { ctx } = this;
    assertOpen(ctx);
    const now = ctx.now();
    return ctx.db.transaction(() => {
      const r = this.sql.get.get(id);
      const current = r ? this.read(r) : undefined;
      if (!current) return undefined;
      const next = decide(current, ctx.hooks.tx(now));
      if (!next) return { case: current, changed: false };
      this.sql.update.run({ ...caseRow(next, now), id });
      return { case: { ...next, id }, changed: true };
    })();
  }

  async pending(): Promise<RemediationCase[]> {
    return this.sql.pending.all().flatMap((r) => this.read(r) ?? []);
  }

  async incidentTally(since: number, min: number, tenant?: string): Promise<IncidentTally[]> {
    const where = new Where().add('opened_at >= ?', since).add('rule != ?', NOT_COUNTED).add('tenant = ?', tenant);
    return this.ctx.db
      .prepare<Array<string | number>, { tenant: string; rule: string; count: number; ids: string }>(
        `SELECT tenant, rule, COUNT(*) AS count, json_group_array(id) AS ids FROM
           (SELECT id, tenant, rule FROM incidents ${where} AND manual = 0 ORDER BY opened_at DESC, id DESC)
         GROUP BY tenant, rule HAVING COUNT(*) >= ? ORDER BY tenant, rule LIMIT 10000`,
      )
      .all(...where.params, Math.max(1, min))
      .map((t) => ({ tenant: t.tenant, rule: t.rule, count: t.count, ids: (JSON.parse(t.ids) as number[]).slice(0, 20) }));
  }

  async lastCaseFor(tenant: string, rule: string): Promise<RemediationCase | undefined> {
    const r = this.sql.lastFor.get(tenant, rule);
    return r ? this.read(r) : undefined;
  }

  /** The case of a row; undefined (noted as damaged) when its body does not parse or match the schema. */
  private read(r: CaseRow): RemediationCase | undefined {
    const body = caseBody(r);
    if (body === undefined) {
      this.ctx.damaged.note('remediation_cases', r.id, 'body is not JSON');
      return undefined;
    }
    return this.ctx.damaged.json('remediation_cases', r.id, 'body', JSON.stringify(body), columnCheck(RemediationCaseSchema));
  }
}
