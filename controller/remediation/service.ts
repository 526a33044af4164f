// Remediation cases in the running controller: opening (by an admin, or by the controller after repeated
// incidents), the tenant's acknowledgement through its signed link, resolving, and the overdue job (server.ts
// runs tick() on remediation.schedule): reminders, overdue cases, their step applied as a manual action (the
// way an admin's throttle or quarantine reaches the agent: queued in the store, pulled by the agent with its
// policy) and lifted with a release once the case is resolved. Every move is a pure transition (machine.ts)
// made inside the store's transaction with its notice (notices.ts).
//
// The step's manual action is queued after the transaction that made the case overdue (or resolved), and
// recorded on the case by a second one; a controller that stops between them finds the step still `due` (or
// `lift_due`) at its next tick and queues it then. Two controllers on one store could both queue it in that
// window (the later one replaces the first at the agent: the same action twice, no harm).
import type { Logger } from 'pino';
import type { TopProcess } from '../../shared/wire/agent.js';
import type { CaseEvidence, CaseStep, RemediationCase } from '../../shared/wire/remediation.js';
import { MAX_CASE_INCIDENTS, MAX_CASE_PROCESSES, MAX_CASE_TEXT } from '../../shared/wire/remediation.js';
import { formatDuration } from '../../shared/units.js';
import type { CapHold } from '../notices/caps.js';
import type { NoticesConfig } from '../notices/config.js';
import { ConflictStateError, InvalidError, MissingError } from '../store/errors.js';
import type { CaseFilter } from '../store/remediation-store.js';
import type { Store } from '../store/store.js';
import type { RemediationConfig } from './config.js';
import { linkUrl, signLink, verifyLink, type LinkCheck } from './link.js';
import { CaseRefusal, openedCase, transition, type CaseCommand } from './machine.js';
import { enqueueCaseNotice, type CaseNoticeContext } from './notices.js';

export interface RemediationOptions {
  store: Store;
  config: RemediationConfig;
  notices: NoticesConfig;
  publicUrl: string | undefined;
  /** The tenant's signed usage page link (controller/ui/tenant-link.ts), carried by every case notice; undefined: none. */
  tenantLink?: ((tenant: string) => string) | undefined;
  /** Domain of the notices' Message-IDs. */
  domain: string;
  log?: Logger | undefined;
  now?: (() => number) | undefined;
  /** Notices were queued (the sender should run) / held by a cap (for its metric), after their transaction. */
  onQueued?: (() => void) | undefined;
  onHeld?: ((holds: CapHold[], at: number) => void) | undefined;
}

export interface OpenRequest {
  tenant: string;
  what: string;
  deadline: number;
  incidents?: number[] | undefined;
  step?: CaseStep | undefined;
  /** Automatic cases: the rule whose incidents opened it. */
  rule?: string | null | undefined;
}

export interface TickResult {
  reminded: number;
  overdue: number;
  stepsApplied: number;
  stepsLifted: number;
  opened: number;
}

/** Who the link's acknowledgement is recorded as. */
export const TENANT_BY = 'tenant (signed link)';
export const CONTROLLER_BY = 'controller';

export class RemediationService {
  private readonly store: Store;
  private readonly now: () => number;
  private key: Buffer | undefined;
  /** Tenants and rules the automatic opening could not open a case for: warned once each. */
  private readonly warned = new Set<string>();

  constructor(private readonly opts: RemediationOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
  }

  get config(): RemediationConfig {
    return this.opts.config;
  }

  private async linkKey(): Promise<Buffer> {
    return (this.key ??= await this.store.remediation.linkKey());
  }

  private async noticeContext(c: { id: number; tenant: string }): Promise<CaseNoticeContext> {
    const ctx: CaseNoticeContext = { config: this.opts.notices, domain: this.opts.domain, usageUrl: this.opts.tenantLink?.(c.tenant) };
    if (this.opts.publicUrl !== undefined) {
      const expiresAt = this.now() + this.opts.config.linkTtlMs;
      ctx.link = { url: linkUrl(this.opts.publicUrl, signLink(await this.linkKey(), { caseId: c.id, tenant: c.tenant, expiresAt })), expiresAt };
    }
    return ctx;
  }

  private after(holds: CapHold[], queued: boolean): void {
    if (queued) setImmediate(() => this.opts.onQueued?.());
    if (holds.length) this.opts.onHeld?.(holds, this.now());
  }

  /** Open a case: MissingError for an unknown tenant, ConflictStateError no_host, InvalidError for evidence of another tenant. */
  async open(req: OpenRequest, by: string): Promise<RemediationCase> {
    const tenant = await this.store.getTenant(req.tenant);
    if (!tenant) throw new MissingError(`tenant ${req.tenant} is not known`);
    if (!tenant.host) throw new ConflictStateError('no_host', `tenant ${req.tenant} has no host yet`);
    const now = this.now();
    if (!(req.deadline > now)) throw new InvalidError(`deadline: must be in the future, got ${new Date(req.deadline).toISOString()}`);
    const evidence = await this.evidence(req.tenant, req.incidents ?? []);
    const draft = openedCase({
      id: 1,
      tenant: req.tenant,
      host: tenant.host,
      what: req.what.slice(0, MAX_CASE_TEXT),
      rule: req.rule ?? null,
      opened_by: by,
      opened_at: new Date(now).toISOString(),
      deadline: new Date(req.deadline).toISOString(),
      step: req.step ?? this.opts.config.overdueStep,
      evidence,
    });
    const holds: CapHold[] = [];
    let queued = false;
    // The notice needs the case's id (its link): the key is read before the transaction, the link made inside.
    const key = this.opts.publicUrl !== undefined ? await this.linkKey() : undefined;
    const stored = await this.store.remediation.open(draft, (c, tx) => {
      const ctx: CaseNoticeContext = { config: this.opts.notices, domain: this.opts.domain, usageUrl: this.opts.tenantLink?.(c.tenant) };
      if (key && this.opts.publicUrl !== undefined) {
        const expiresAt = tx.now + this.opts.config.linkTtlMs;
        ctx.link = { url: linkUrl(this.opts.publicUrl, signLink(key, { caseId: c.id, tenant: c.tenant, expiresAt })), expiresAt };
      }
      const r = enqueueCaseNotice(c, 'opened', tx, ctx);
      if (r.hold) holds.push(r.hold);
      else if (r.id !== undefined) queued = true;
    });
    this.after(holds, queued);
    this.opts.log?.info({ case: stored.id, tenant: stored.tenant, by, deadline: stored.deadline, step: stored.step }, 'remediation case opened');
    return stored;
  }

  /** Evidence: the incidents (of this tenant only) and the top processes their explanations named. */
  private async evidence(tenant: string, ids: readonly number[]): Promise<CaseEvidence> {
    const incidents: CaseEvidence['incidents'] = [];
    const processes: Array<TopProcess & { incident_id: number }> = [];
    for (const id of [...new Set(ids)].slice(0, MAX_CASE_INCIDENTS)) {
      const i = await this.store.getIncident(id);
      if (!i || i.tenant !== tenant) throw new InvalidError(`incidents: incident ${id} is not one of tenant ${tenant}'s`);
      incidents.push({ id: i.id, host: i.host, rule: i.rule, resource: i.resource, opened_at: i.opened_at, summary: i.explanation.summary || i.summary });
      for (const p of i.explanation.top_processes) processes.push({ ...p, incident_id: i.id });
    }
    // The heaviest first, one line per command (the same script in several incidents is named once).
    const seen = new Set<string>();
    const top = processes
      .sort((a, b) => b.cpu_percent - a.cpu_percent || b.rss_bytes - a.rss_bytes)
      .filter((p) => !seen.has(p.command) && seen.add(p.command))
      .slice(0, MAX_CASE_PROCESSES)
      .map((p) => ({ incident_id: p.incident_id, pid: p.pid, command: p.command.slice(0, 1024), cpu_percent: p.cpu_percent, rss_bytes: p.rss_bytes }));
    return { incidents, top_processes: top };
  }

  /** Apply a command to a case; MissingError when unknown, CaseRefusal when its state does not allow it. */
  async apply(id: number, cmd: CaseCommand): Promise<{ case: RemediationCase; changed: boolean }> {
    const holds: CapHold[] = [];
    let queued = false;
    const known = await this.store.remediation.get(id);
    if (!known) throw new MissingError(`remediation case ${id} is not known`);
    const ctx = await this.noticeContext(known);
    const r = await this.store.remediation.change(id, (current, tx) => {
      const t = transition(current, cmd, tx.now, { reminderBeforeMs: this.opts.config.reminderBeforeMs });
      if (!t) return undefined;
      if (t.notice) {
        const n = enqueueCaseNotice(t.next, t.notice, tx, ctx);
        if (n.hold) holds.push(n.hold);
        else if (n.id !== undefined) queued = true;
      }
      return t.next;
    });
    if (!r) throw new MissingError(`remediation case ${id} is not known`);
    this.after(holds, queued);
    if (r.changed) this.opts.log?.info({ case: id, tenant: r.case.tenant, state: r.case.state, step_state: r.case.step_state, command: cmd.type }, 'remediation case changed');
    return r;
  }

  async acknowledge(id: number, by: string, note?: string): Promise<RemediationCase> {
    return (await this.apply(id, { type: 'acknowledge', by, note })).case;
  }

  /** Resolve, then lift the step at once when one is in force. */
  async resolve(id: number, by: string, note: string): Promise<RemediationCase> {
    const r = await this.apply(id, { type: 'resolve', by, note });
    if (r.case.step_state === 'lift_due') return this.liftStep(r.case);
    return r.case;
  }

  get(id: number): Promise<RemediationCase | undefined> {
    return this.store.remediation.get(id);
  }

  list(filter: CaseFilter): Promise<RemediationCase[]> {
    return this.store.remediation.list(filter);
  }

  /** A link's token checked: the case it names, or why not. */
  async checkLink(token: string): Promise<{ ok: true; case: RemediationCase } | Extract<LinkCheck, { ok: false }> | { ok: false; reason: 'unknown'; message: string }> {
    const check = verifyLink(await this.linkKey(), token, this.now());
    if (!check.ok) return check;
    const c = await this.store.remediation.get(check.claims.caseId);
    if (!c || c.tenant !== check.claims.tenant) return { ok: false, reason: 'unknown', message: 'this case no longer exists: contact support' };
    return { ok: true, case: c };
  }

  /** The overdue job: automatic opening, reminders, overdue cases, steps to apply or lift. */
  async tick(): Promise<TickResult> {
    const result: TickResult = { reminded: 0, overdue: 0, stepsApplied: 0, stepsLifted: 0, opened: 0 };
    if (this.opts.config.auto.enabled) result.opened = await this.autoOpen();
    for (const c of await this.store.remediation.pending()) {
      try {
        let current = c;
        if (current.state === 'open' || current.state === 'acknowledged') {
          const r = await this.apply(c.id, { type: 'tick' });
          current = r.case;
          if (r.changed && current.state === 'overdue') result.overdue++;
          else if (r.changed) result.reminded++;
        }
        if (current.step_state === 'due') {
          current = await this.applyStep(current);
          if (current.step_state === 'applied') result.stepsApplied++;
        }
        if (current.step_state === 'lift_due') {
          current = await this.liftStep(current);
          if (current.step_state === 'lifted') result.stepsLifted++;
        }
      } catch (err) {
        this.opts.log?.error({ err, case: c.id }, 'remediation case could not be moved; tried again at the next run');
      }
    }
    return result;
  }

  private reasonOf(c: RemediationCase, what: string): string {
    return `remediation case ${c.id} ${what}: ${c.what.replace(/\s+/g, ' ')}`.slice(0, 2000);
  }

  /** Queue the overdue step as a manual action (by `remediation:<id>`), and record it on the case. */
  private async applyStep(c: RemediationCase): Promise<RemediationCase> {
    if (c.step.action === 'none') return c;
    const action = await this.store.queueAction(
      c.tenant,
      { action: c.step.action, ...(c.step.action === 'throttle' ? { level: c.step.level ?? 1 } : {}), reason: this.reasonOf(c, `is overdue (deadline ${c.deadline})`), ttlMs: this.opts.config.stepTtlMs },
      `remediation:${c.id}`,
    );
    this.opts.log?.info({ case: c.id, tenant: c.tenant, action: action.id, step: c.step }, 'remediation case overdue: its step is queued for the agent');
    return (await this.apply(c.id, { type: 'step_applied', actionId: action.id })).case;
  }

  /**
   * Lift the step of a resolved case with a release, unless the step's action already ended or a later
   * manual action of the tenant replaced it (an admin's own action is never released by a case).
   */
  private async liftStep(c: RemediationCase): Promise<RemediationCase> {
    const step = c.step_action_id ? await this.store.getAction(c.step_action_id) : undefined;
    if (!step || (step.state !== 'pending' && step.state !== 'applied')) {
      return (await this.apply(c.id, { type: 'step_left', note: `its action ${c.step_action_id ?? '?'} had already ended (${step?.state ?? 'unknown'}): nothing to release` })).case;
    }
    const later = (await this.store.listActions({ tenant: c.tenant })).find((a) => a.id !== step.id && a.action !== 'notice' && a.created_at > step.created_at);
    if (later) {
      return (await this.apply(c.id, { type: 'step_left', note: `action ${later.id} (${later.action} by ${later.by ?? '?'}) replaced it: not released` })).case;
    }
    const release = await this.store.queueAction(c.tenant, { action: 'release', reason: this.reasonOf(c, 'is resolved; lifting what its overdue step applied') }, `remediation:${c.id}`);
    this.opts.log?.info({ case: c.id, tenant: c.tenant, action: release.id }, 'remediation case resolved: its step is lifted');
    return (await this.apply(c.id, { type: 'step_lifted', actionId: release.id })).case;
  }

  /**
   * Open a case for each tenant and rule with remediation.auto.incidents incidents within auto.window, counting
   * only incidents opened after the newest case of that tenant and rule (none while that case is unresolved).
   */
  async autoOpen(): Promise<number> {
    const { auto, deadlineMs } = this.opts.config;
    const now = this.now();
    let opened = 0;
    for (const t of await this.store.remediation.incidentTally(now - auto.windowMs, auto.incidents)) {
      try {
        const last = await this.store.remediation.lastCaseFor(t.tenant, t.rule);
        let tally = t;
        if (last) {
          if (last.state !== 'resolved') continue;
          const since = Math.max(now - auto.windowMs, Date.parse(last.opened_at) + 1);
          const recount = (await this.store.remediation.incidentTally(since, auto.incidents, t.tenant)).find((x) => x.rule === t.rule);
          if (!recount) continue;
          tally = recount;
        }
        const what = auto.what.replaceAll('{count}', String(tally.count)).replaceAll('{rule}', tally.rule).replaceAll('{window}', formatDuration(auto.windowMs));
        await this.open({ tenant: t.tenant, what, deadline: now + deadlineMs, incidents: tally.ids, rule: t.rule }, CONTROLLER_BY);
        opened++;
      } catch (err) {
        if (err instanceof CaseRefusal || err instanceof MissingError || err instanceof ConflictStateError) {
          const k = `${t.tenant}\u001f${t.rule}`;
          if (!this.warned.has(k) && this.warned.size < 10_000) {
            this.warned.add(k);
            this.opts.log?.warn({ tenant: t.tenant, rule: t.rule, error: (err as Error).message }, 'no automatic remediation case opened (logged once per tenant and rule)');
          }
        } else throw err;
      }
    }
    return opened;
  }
}
