// Remediation cases on PostgreSQL (the RemediationStore of ../remediation-store.ts), rows as the SQLite store
// keeps them (sqlite/remediation.ts): the columns the queries need and the whole body as JSON. Every change is
// read (locked: FOR UPDATE, so two controllers deciding on one case take turns), decided and written in one
// transaction with the notices the decision writes: the decision's NoticeTx is a SnapshotNoticeTx loaded
// before it runs with the tenant's contact, the cap state, the case's existing notice sources
// (`remediation:<case>:`) and notice ids taken beforehand; what it wrote is written before the commit.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { RemediationCaseSchema, type RemediationCase } from '../../../shared/wire/remediation.js';
import { validator } from '../../../shared/validate.js';
import { contactFromRow } from '../notice-keys.js';
import { capWaitingKey, SnapshotNoticeTx } from '../notice-snapshot.js';
import { type CaseDecision, type CaseFilter, caseBody, type CaseRow, caseRow, type CaseTx, type IncidentTally, type RemediationStore } from '../remediation-store.js';
import type { PgDatabase } from './db.js';
import { PgWhere, takeNoticeIds, writeSnapshot } from './notices.js';


const LINK_KEY = 'remediation_link_key';
/** Incidents of the automatic opening never count these rules: an administrator's own actions. */
const NOT_COUNTED = 'manual';
/** Notice ids taken for one decision: a decision writes one notice (its change's), rarely two. */
const IDS_PER_DECISION = 4;

const checkCase = validator(RemediationCaseSchema);

export interface PgRemediationOptions {
  now: () => number;
  /** A row whose body cannot be read: skipped, and told here. */
  onDamaged?: ((table: string, id: number, why: string) => void) | undefined;
}

export class PgRemediation implements RemediationStore {
  constructor(
    private readonly db: PgDatabase,
    private readonly opts: PgRemediationOptions,
  ) {}

  async linkKey(): Promise<Buffer> {
    const [r] = await this.db.query<{ value: string }>('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = meta.value RETURNING value', [
      LINK_KEY,
      randomBytes(32).toString('hex'),
    ]);
    return Buffer.from(r!.value, 'hex');
  }

  /** The NoticeTx of a decision on case `id` of `tenant`, loaded inside the transaction. */
  private async caseTx(c: pg.PoolClient, id: number, tenant: string): Promise<SnapshotNoticeTx> {
    const prefix = `remediation:${id}:`;
    const [contact, slots, waiting, sources, ids] = [
      await c.query<{ spec: string | null; reported: string | null }>('SELECT spec, reported FROM tenants WHERE name = $1', [tenant]),
      await c.query<{ key: string; last_at: number }>("SELECT key, last_at FROM notice_limits WHERE key >= 'cap' || chr(31) AND key < 'cap' || chr(32)"),
      await c.query<{ host: string | null; category: string }>("SELECT DISTINCT host, category FROM notices WHERE state = 'held' AND digest_due IS NULL"),
      await c.query<{ source: string }>('SELECT source FROM notices WHERE left(source, $2) = $1', [prefix, prefix.length]),
      await takeNoticeIds(c, IDS_PER_DECISION),
    ];
    return new SnapshotNoticeTx({
      contacts: new Map([[tenant, contactFromRow(contact.rows[0])]]),
      capSlots: new Map(slots.rows.map((r) => [r.key, r.last_at])),
      capWaiting: new Set(waiting.rows.map((r) => capWaitingKey(r.host, r.category))),
      enqueue: { prefix, existing: new Set(sources.rows.map((r) => r.source)), ids },
    });
  }

  async open(c: RemediationCase, opened: (stored: RemediationCase, tx: CaseTx) => void): Promise<RemediationCase> {
    const now = this.opts.now();
    const after: Array<() => void> = [];
    const out = await this.db.tx(async (client) => {
      const row = caseRow(c, now);
      const [r] = (
        await client.query<{ id: number }>(
          `INSERT INTO remediation_cases (tenant, host, rule, state, step_state, opened_at, deadline, updated_at, body)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
          [row.tenant, row.host, row.rule, row.state, row.step_state, row.opened_at, row.deadline, row.updated_at, row.body],
        )
      ).rows;
      const stored = { ...c, id: r!.id };
      await client.query('UPDATE remediation_cases SET body = $2 WHERE id = $1', [stored.id, caseRow(stored, now).body]);
      const tx = await this.caseTx(client, stored.id, stored.tenant);
      opened(stored, { now, notices: tx, afterCommit: (fn) => void after.push(fn) });
      await writeSnapshot(client, tx);
      return stored;
    });
    for (const fn of after) fn();
    return out;
  }

  async get(id: number): Promise<RemediationCase | undefined> {
    const [r] = await this.db.query<CaseRow>('SELECT * FROM remediation_cases WHERE id = $1', [id]);
    return r ? this.read(r) : undefined;
  }

  async list(filter: CaseFilter = {}): Promise<RemediationCase[]> {
    const where = new PgWhere().add((p) => `tenant = ${p}`, filter.tenant).add((p) => `state = ${p}`, filter.state);
    const limit = Math.min(Math.max(1, filter.limit ?? 100), 10_000);
    const rows = await this.db.query<CaseRow>(`SELECT * FROM remediation_cases ${where} ORDER BY opened_at DESC, id DESC LIMIT ${limit}`, where.params);
    return rows.flatMap((r) => this.read(r) ?? []);
  }

  async change(id: number, decide: CaseDecision): Promise<{ case: RemediationCase; changed: boolean } | undefined> {
    const now = this.opts.now();
    const after: Array<() => void> = [];
    const out = await this.db.tx(async (client) => {
      const [r] = (await client.query<CaseRow>('SELECT * FROM remediation_cases WHERE id = $1 FOR UPDATE', [id])).rows;
      const current = r ? this.read(r) : undefined;
      if (!current) return undefined;
      const tx = await this.caseTx(client, id, current.tenant);
      const next = decide(current, { now, notices: tx, afterCommit: (fn) => void after.push(fn) });
      await writeSnapshot(client, tx);
      if (!next) return { case: current, changed: false };
      const row = caseRow(next, now);
      await client.query('UPDATE remediation_cases SET state = $2, step_state = $3, deadline = $4, updated_at = $5, body = $6 WHERE id = $1', [
        id,
        row.state,
        row.step_state,
        row.deadline,
        row.updated_at,
        row.body,
      ]);
      return { case: { ...next, id }, changed: true };
    });
    for (const fn of after) fn();
    return out;
  }

  async pending(): Promise<RemediationCase[]> {
    const rows = await this.db.query<CaseRow>("SELECT * FROM remediation_cases WHERE state <> 'resolved' OR step_state = 'lift_due' ORDER BY id LIMIT 100000");
    return rows.flatMap((r) => this.read(r) ?? []);
  }

  async incidentTally(since: number, min: number, tenant?: string): Promise<IncidentTally[]> {
    const where = new PgWhere()
      .add((p) => `opened_at >= ${p}`, since)
      .add((p) => `rule <> ${p}`, NOT_COUNTED)
      .add((p) => `tenant = ${p}`, tenant);
    const rows = await this.db.query<{ tenant: string; rule: string; count: number; ids: number[] }>(
      `SELECT tenant, rule, count(*)::int AS count, (array_agg(id ORDER BY opened_at DESC, id DESC))[1:20] AS ids
       FROM incidents ${where} AND manual = 0
       GROUP BY tenant, rule HAVING count(*) >= $${where.params.length + 1} ORDER BY tenant, rule LIMIT 10000`,
      [...where.params, Math.max(1, min)],
    );
    return rows.map((t) => ({ tenant: t.tenant, rule: t.rule, count: t.count, ids: t.ids.map(Number) }));
  }

  async lastCaseFor(tenant: string, rule: string): Promise<RemediationCase | undefined> {
    const [r] = await this.db.query<CaseRow>('SELECT * FROM remediation_cases WHERE tenant = $1 AND rule = $2 ORDER BY opened_at DESC, id DESC LIMIT 1', [tenant, rule]);
    return r ? this.read(r) : undefined;
  }

  /** The case of a row; undefined (told to onDamaged) when its body does not parse or match the schema. */
  private read(r: CaseRow): RemediationCase | undefined {
    const body = caseBody(r);
    if (body === undefined) {
      this.opts.onDamaged?.('remediation_cases', r.id, 'body is not JSON');
      return undefined;
    }
    if (!checkCase.check(body)) {
      this.opts.onDamaged?.('remediation_cases', r.id, 'body does not match the schema');
      return undefined;
    }
    return body;
  }
}
