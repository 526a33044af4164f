// The shared source of the per-tenant collectors: one pass over every tenant's stats files, kept open
// between ticks (positional re-reads at offset 0). A tenant whose read fails gets no stats this tick; its
// reader is reopened on the next.
import type { Logger } from 'pino';
import type { CgroupDriver, CgroupStats, StatsReader } from '../kernel/cgroup/driver.js';
import type { Tenant } from '../tenants.js';

export class CgroupStatsSource {
  private readers = new Map<string, StatsReader>();

  constructor(
    private readonly driver: CgroupDriver,
    private readonly log: Logger,
  ) {}

  read(tenants: readonly Tenant[]): Map<string, CgroupStats> {
    const out = new Map<string, CgroupStats>();
    for (const t of tenants) {
      let r = this.readers.get(t.name);
      try {
        if (!r) {
          r = this.driver.openStats(t.name);
          this.readers.set(t.name, r);
        }
        const st = r.read();
        out.set(t.name, st);
        // Nothing at all: the cgroup is gone (its kept files read ENODEV, then ENOENT). Close the reader so the
        // next tick opens the cgroup afresh once it exists again under the same name.
        if (Object.keys(st).length === 0) this.close(t.name);
      } catch (err) {
        this.log.warn({ tenant: t.name, err: (err as Error).message }, 'cannot read tenant cgroup stats');
        this.close(t.name);
      }
    }
    if (this.readers.size > out.size) {
      const live = new Set(tenants.map((t) => t.name));
      for (const name of [...this.readers.keys()]) if (!live.has(name)) this.close(name);
    }
    return out;
  }

  close(tenant: string): void {
    const r = this.readers.get(tenant);
    if (!r) return;
    this.readers.delete(tenant);
    try {
      r.close();
    } catch {
      /* already gone */
    }
  }

  closeAll(): void {
    for (const name of [...this.readers.keys()]) this.close(name);
  }
}
