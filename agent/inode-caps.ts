// Plans' inode caps in the agent: the filesystems' quotas brought in line with the caps (inode-quota.ts) when
// the counts or the tenants' caps changed — a plan cap, always in force like the cgroup caps — then the cap
// incidents judged on the counts (policy/inodes.ts), so each event says whether the quota holds the tenant.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { IncidentEvent } from '../shared/wire/agent.js';
import { type InodesCollector, mountPointOf } from './collectors/inodes.js';
import type { AgentConfig } from './config.js';
import { type CappedTenant, INODE_QUOTAS_META_KEY, InodeQuotas } from './inode-quota.js';
import { parseMountinfo } from './kernel/procfs.js';
import type { QuotaTools } from './kernel/quota.js';
import { evaluateInodeCaps, type InodeCapState, type InodeTenant } from './policy/inodes.js';
import type { Tenant } from './tenants.js';
import type { Spool } from './transport/spool.js';

export class InodeCaps {
  /** Absent with `inodes.quota: false`: notices only. */
  readonly quotas: InodeQuotas | undefined;
  /** What the quotas were last reconciled for (count generation, tenants, caps), and whom they hold. */
  private quotaKey = '';
  private held = new Set<string>();

  constructor(
    private readonly counts: InodesCollector,
    private readonly config: AgentConfig,
    private readonly spool: Spool,
    tools: QuotaTools,
    private readonly dryRun: boolean,
    private readonly log: Logger,
  ) {
    this.quotas = config.inodes.quota ? new InodeQuotas(tools, log.child({ component: 'inode-quota' }), dryRun, spool.getMeta(INODE_QUOTAS_META_KEY)) : undefined;
  }

  /** This tick's inode-cap events and the incidents' next state. */
  evaluate(tenants: readonly Tenant[], state: Readonly<Record<string, InodeCapState>> | undefined, now: number): { events: IncidentEvent[]; state: Record<string, InodeCapState> } {
    if (this.quotas) {
      const key = JSON.stringify([this.counts.generation, tenants.map((t) => [t.name, t.plan?.inodes, t.uids, t.homes])]);
      if (key !== this.quotaKey) {
        const mounts = parseMountinfo(readFileSync(`${this.config.procRoot}/self/mountinfo`, 'utf8')).map((m) => m.mountPoint);
        const capped: CappedTenant[] = tenants.map((t) => ({ name: t.name, uids: t.uids, mounts: t.homes.map((h) => mountPointOf(h, mounts)), cap: t.plan?.inodes, count: this.counts.countOf(t.name) }));
        const r = this.quotas.reconcile(capped, this.counts.reports());
        if (r.changed) this.save();
        this.held = r.held;
        this.quotaKey = key;
      }
    }
    const partial = this.counts.partial();
    const input = new Map<string, InodeTenant>();
    for (const t of tenants) input.set(t.name, { count: this.counts.countOf(t.name), cap: t.plan?.inodes, partial: partial.has(t.name), held: this.held.has(t.name) });
    const { refreshMs, warn, release } = this.config.inodes;
    const out = evaluateInodeCaps({ config: { refreshMs, warn, release }, tenants: input, state, now });
    for (const e of out.events) this.log.info({ tenant: e.tenant, resource: e.resource, decision: e.type, level: e.level, explanation: e.explanation, dryRun: this.dryRun }, e.explanation.summary);
    return out;
  }

  /** Put back every inode limit the agent set (--release-all). */
  restoreAll(): void {
    if (this.quotas?.restoreAll()) this.save();
  }

  private save(): void {
    if (!this.dryRun) this.spool.setMeta(INODE_QUOTAS_META_KEY, this.quotas!.serialize());
  }
}
