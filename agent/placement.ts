// Placement: every process of a tenant's UIDs that is not in the tenant's cgroup is moved there, on its own
// short tick. Each move is a "stray" (placement integrity), counted per tenant until the next report.
// Only processes whose owner UID belongs to a tenant are ever touched: root, system accounts and kernel
// threads (all UID 0) never map to a tenant because tenants never hold UIDs below uid_min.
import type { Logger } from 'pino';
import type { CgroupDriver } from './kernel/cgroup/driver.js';
import { NoSuchProcessError } from './kernel/cgroup/errors.js';
import { listPids, uidOf } from './kernel/procfs.js';
import type { Tenant } from './tenants.js';

export interface PlacementResult {
  scanned: number;
  moved: number;
  /** Moves that failed because the process exited in between (normal) are not errors. */
  errors: number;
}

export class Placement {
  private strays = new Map<string, number>();
  private readonly created = new Set<string>();

  constructor(
    private readonly driver: CgroupDriver,
    private readonly procRoot: string,
    private readonly log: Logger,
  ) {}

  /** Make sure the tenant cgroups exist (idempotent, cheap after the first call per tenant). */
  ensureCgroups(tenants: readonly Tenant[]): void {
    for (const t of tenants) {
      if (this.created.has(t.name)) continue;
      this.driver.create(t.name);
      this.created.add(t.name);
    }
  }

  /** Forget a tenant's cgroup bookkeeping (it was removed). */
  forget(tenant: string): void {
    this.created.delete(tenant);
    this.strays.delete(tenant);
  }

  run(byUid: (uid: number) => Tenant | undefined): PlacementResult {
    const members = new Map<string, Set<number>>();
    let scanned = 0;
    let moved = 0;
    let errors = 0;
    for (const pid of listPids(this.procRoot)) {
      const uid = uidOf(this.procRoot, pid);
      if (uid === null || uid === 0) continue;
      const tenant = byUid(uid);
      if (!tenant) continue;
      scanned++;
      let set = members.get(tenant.name);
      if (!set) {
        set = new Set(this.driver.procs(tenant.name));
        members.set(tenant.name, set);
      }
      if (set.has(pid)) continue;
      try {
        if (!this.driver.exists(tenant.name)) {
          // Removed under us (by hand, or another tool): make it again before placing into it.
          this.log.warn({ tenant: tenant.name }, 'tenant cgroup was missing; created again');
          this.driver.create(tenant.name);
        }
        this.driver.move(tenant.name, pid);
        set.add(pid);
        moved++;
        this.strays.set(tenant.name, (this.strays.get(tenant.name) ?? 0) + 1);
        this.log.debug({ tenant: tenant.name, pid, uid }, 'placed stray process');
      } catch (err) {
        // The process exited between the scan and the move.
        if (err instanceof NoSuchProcessError || uidOf(this.procRoot, pid) === null) continue;
        errors++;
        this.log.warn({ tenant: tenant.name, pid, err: (err as Error).message }, 'cannot place process');
      }
    }
    return { scanned, moved, errors };
  }

  /** Strays moved per tenant since the last call; resets the counts. */
  takeStrays(): Map<string, number> {
    const out = this.strays;
    this.strays = new Map();
    return out;
  }
}
