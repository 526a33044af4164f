// Enforcement: make the kernel hold what the policy wants, idempotently. A tenant's desired limits are
// written only when they changed since the last successful write, and re-verified in full every
// `verifyEvery` ticks: every value is read back, and a tenant whose kernel state drifted (someone wrote its
// files, or thawed it) is written again (the driver reads back what it wrote and throws if the kernel did not take it).
// The re-verification is spread: each tick verifies the next 1/verifyEvery of the tenants (a rotating slice),
// so every tenant is still verified every `verifyEvery` ticks but a thousand tenants' reads are not one tick's work.
// The agent verifies every tenant every VERIFY_EVERY_MS (3 minutes: 36 ticks at the default 5 s): only root can
// write a tenant's cgroup files, so drift is an administrator's or another tool's doing and rare, while each
// tenant's read-back is about 12 files opened and read (a third of the agent's enforcement cost at 1 minute).
// --dry-run logs what would be written and writes nothing.
import type { Logger } from 'pino';
import type { CgroupDriver } from './kernel/cgroup/driver.js';
import { verifyLimits } from './kernel/cgroup/limit-rules.js';
import type { Desired } from './policy/desired.js';

/** How often every tenant's kernel state is read back in full. */
export const VERIFY_EVERY_MS = 180_000;

/** The re-verification period in ticks of `intervalMs` (at least 1). */
export function verifyEveryTicks(intervalMs: number): number {
  return Math.max(1, Math.round(VERIFY_EVERY_MS / Math.max(1, intervalMs)));
}

export interface EnforceResult {
  applied: number;
  failed: number;
}

export class Enforcer {
  /** What was last applied per tenant: its serialisation, and the object (the agent hands the same one while nothing changed). */
  private applied = new Map<string, { key: string; desired: Desired }>();
  private lastError = new Map<string, string>();
  /** Where the next tick's slice of tenants to re-verify starts (an index in the desired map's order). */
  private cursor = 0;

  constructor(
    private readonly driver: CgroupDriver,
    private readonly log: Logger,
    private readonly dryRun: boolean,
    private readonly verifyEvery = 12,
  ) {}

  reconcile(desired: ReadonlyMap<string, Desired>): EnforceResult {
    const n = desired.size;
    const slice = Math.ceil(n / this.verifyEvery);
    const from = n === 0 ? 0 : this.cursor % n;
    this.cursor = n === 0 ? 0 : (from + slice) % n;
    let applied = 0;
    let failed = 0;
    let i = -1;
    for (const [tenant, d] of desired) {
      i++;
      // In this tick's slice: [from, from + slice) cyclically.
      const verify = (i - from + n) % n < slice;
      const prev = this.applied.get(tenant);
      // The very object applied last is unchanged without serialising it; another one is compared by its text.
      const key = prev?.desired === d ? prev.key : JSON.stringify(d);
      const same = prev?.key === key;
      if (!verify && same) {
        prev!.desired = d;
        continue;
      }
      // Re-verification reads before it writes: only a tenant whose kernel state drifted is written again.
      if (verify && same && !this.dryRun && this.holds(tenant, d)) {
        prev!.desired = d;
        continue;
      }
      if (this.dryRun) {
        if (!same) this.log.info({ tenant, limits: d.limits, frozen: d.frozen }, 'dry-run: would apply limits');
        this.applied.set(tenant, { key, desired: d });
        continue;
      }
      try {
        if (!d.frozen && this.driver.isFrozen(tenant)) this.driver.thaw(tenant);
        this.driver.setLimits(tenant, d.limits);
        if (d.frozen && !this.driver.isFrozen(tenant)) this.driver.freeze(tenant);
        if (!same) this.log.info({ tenant, limits: d.limits, frozen: d.frozen }, 'limits applied');
        this.applied.set(tenant, { key, desired: d });
        this.lastError.delete(tenant);
        applied++;
      } catch (err) {
        failed++;
        this.applied.delete(tenant);
        const msg = (err as Error).message;
        if (this.lastError.get(tenant) !== msg) this.log.error({ tenant, err: msg }, 'cannot apply limits; will retry every tick');
        this.lastError.set(tenant, msg);
      }
    }
    for (const t of [...this.applied.keys()]) if (!desired.has(t)) this.applied.delete(t);
    return { applied, failed };
  }

  /** Whether the kernel still holds what was applied (a read failure counts as no: the write path reports it). */
  private holds(tenant: string, d: Desired): boolean {
    try {
      const held = this.driver.heldState?.(tenant) ?? { frozen: this.driver.isFrozen(tenant), limits: this.driver.getLimits(tenant) };
      if (held.frozen !== d.frozen) return false;
      verifyLimits(tenant, d.limits, held.limits, (f) => f);
      return true;
    } catch {
      return false;
    }
  }

  forget(tenant: string): void {
    this.applied.delete(tenant);
    this.lastError.delete(tenant);
  }
}
