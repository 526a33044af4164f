// Inode caps held by the filesystem: where a home's filesystem enforces user quotas, each of a capped
// tenant's UIDs gets a HARD inode limit (setquota), and no soft limit (a soft limit would turn hard only after
// a grace time, letting the tenant sit above its plan meanwhile). A user quota counts one UID, the plan caps
// the tenant, so a UID's limit is what the cap leaves it:
//
//   hard(uid, fs) = max(1, used(uid, fs) + cap - total(tenant))       (0 would mean "no limit" to the kernel)
//
// For the usual tenant (one UID, its homes on one filesystem) that is the cap itself, constant. A tenant with
// several UIDs (or filesystems) gets its headroom given to each of them, recomputed at every count: at the cap
// every UID is held where it is (over it, below: no new file); below the cap, UIDs creating files at the same
// moment can overshoot by their number times the headroom until the next count narrows it. The least limit
// is 1 (a UID with no files and no headroom may create one).
//
// What the agent sets it remembers (spool meta `inode_quotas`: filesystem, UID, the limit set and the inode
// limits that were there before), so a plan that stops capping, a UID that leaves the tenant and a tenant
// that goes get back exactly the limits they had, and nothing the agent did not set is ever changed. Block
// limits are always written back as they were read.
import type { Logger } from 'pino';
import type { QuotaLine, QuotaSet, QuotaTools } from './kernel/quota.js';

export const INODE_QUOTAS_META_KEY = 'inode_quotas';

export interface InodeQuotaRecord {
  mount: string;
  uid: number;
  tenant: string;
  /** The hard inode limit the agent set. */
  hard: number;
  /** The inode limits before the agent's first write. */
  prev: { soft: number; hard: number };
}

export interface CappedTenant {
  name: string;
  uids: readonly number[];
  /** Mount points of the filesystems holding its homes. */
  mounts: readonly string[];
  /** The plan's `inodes`; undefined: not capped. */
  cap: number | undefined;
  /** Its last count over all homes (quota and walks); undefined: the quota reports' sum is used. */
  count: number | undefined;
}

export interface QuotaReconcile {
  /** Tenants the quota holds at their cap: every filesystem of their homes enforces it and takes the limits. */
  held: Set<string>;
  /** Whether the records changed (to be saved). */
  changed: boolean;
}

const key = (mount: string, uid: number) => `${mount}\u0000${uid}`;

export class InodeQuotas {
  private records = new Map<string, InodeQuotaRecord>();

  constructor(
    private readonly tools: QuotaTools,
    private readonly log: Logger,
    private readonly dryRun: boolean,
    stored: string | undefined,
  ) {
    if (!stored) return;
    try {
      for (const r of JSON.parse(stored) as InodeQuotaRecord[]) if (typeof r.mount === 'string' && Number.isInteger(r.uid)) this.records.set(key(r.mount, r.uid), r);
    } catch {
      log.error('the stored inode quota records are unreadable: limits the agent set before are no longer known to it');
    }
  }

  /** The records to persist (spool meta INODE_QUOTAS_META_KEY). */
  serialize(): string {
    return JSON.stringify([...this.records.values()]);
  }

  /** Make the filesystems hold what the tenants' plans say; put back what no plan asks for any more. */
  reconcile(tenants: readonly CappedTenant[], reports: ReadonlyMap<string, Map<number, QuotaLine> | null>): QuotaReconcile {
    const held = new Set<string>();
    const wanted = new Map<string, { mount: string; uid: number; tenant: string; hard: number }>();
    const enforced = new Map<string, boolean>();
    const isEnforced = (mount: string) => {
      let on = enforced.get(mount);
      if (on === undefined) {
        on = reports.get(mount) ? this.tools.enforced(mount) : false;
        enforced.set(mount, on);
      }
      return on;
    };
    for (const t of tenants) {
      if (t.cap === undefined || t.uids.length === 0 || t.mounts.length === 0) continue;
      const mounts = [...new Set(t.mounts)];
      const all = mounts.every((m) => isEnforced(m));
      if (!all) continue; // part of its files out of any quota's reach: notices only, nothing set
      const used = (m: string, uid: number) => reports.get(m)?.get(uid)?.inodes.used ?? 0;
      const total = t.count ?? mounts.reduce((sum, m) => sum + t.uids.reduce((s, uid) => s + used(m, uid), 0), 0);
      for (const m of mounts) for (const uid of t.uids) wanted.set(key(m, uid), { mount: m, uid, tenant: t.name, hard: Math.max(1, used(m, uid) + t.cap - total) });
      held.add(t.name);
    }

    const sets = new Map<string, QuotaSet[]>();
    const add = (mount: string, s: QuotaSet) => sets.set(mount, [...(sets.get(mount) ?? []), s]);
    const blocksOf = (line: QuotaLine | undefined) => ({ soft: line?.blocks.soft ?? 0, hard: line?.blocks.hard ?? 0 });
    let changed = false;
    const nextRecords = new Map<string, InodeQuotaRecord>();
    for (const [k, w] of wanted) {
      const line = reports.get(w.mount)?.get(w.uid);
      const before = this.records.get(k);
      const record: InodeQuotaRecord = { mount: w.mount, uid: w.uid, tenant: w.tenant, hard: w.hard, prev: before?.prev ?? { soft: line?.inodes.soft ?? 0, hard: line?.inodes.hard ?? 0 } };
      nextRecords.set(k, record);
      // Written when the wanted limit changed, or the filesystem shows another (someone else wrote it).
      if (before?.hard !== w.hard || line?.inodes.hard !== w.hard || line.inodes.soft !== 0) add(w.mount, { uid: w.uid, blocks: blocksOf(line), inodes: { soft: 0, hard: w.hard } });
      if (before?.hard !== w.hard || before.tenant !== w.tenant) changed = true;
    }
    for (const [k, r] of this.records) {
      if (wanted.has(k)) continue;
      add(r.mount, { uid: r.uid, blocks: blocksOf(reports.get(r.mount)?.get(r.uid)), inodes: { soft: r.prev.soft, hard: r.prev.hard } });
      changed = true;
    }

    for (const [mount, list] of sets) {
      if (this.dryRun) {
        this.log.info({ mount, limits: list.map((s) => ({ uid: s.uid, inode_hard: s.inodes.hard })) }, 'dry-run: would set inode quotas');
        continue;
      }
      try {
        // Block limits of a UID whose report was not read this time are read now: never overwritten with zeros.
        const fresh = list.some((s) => !reports.get(mount)?.get(s.uid)) ? this.tools.report(mount) : undefined;
        this.tools.set(mount, fresh ? list.map((s) => ({ ...s, blocks: blocksOf(fresh.get(s.uid) ?? reports.get(mount)?.get(s.uid)) })) : list);
        this.log.info({ mount, limits: list.map((s) => ({ uid: s.uid, inode_hard: s.inodes.hard })) }, 'inode quotas set');
      } catch (err) {
        // Not held where the write failed; records of failed restores stay, to be tried again.
        for (const s of list) {
          const r = nextRecords.get(key(mount, s.uid));
          if (r) held.delete(r.tenant);
          const gone = this.records.get(key(mount, s.uid));
          if (gone && !wanted.has(key(mount, s.uid))) nextRecords.set(key(mount, s.uid), gone);
        }
        this.log.error({ mount, err: (err as Error).message }, 'cannot set inode quotas; will retry at the next count');
        changed = true;
      }
    }
    if (!this.dryRun) this.records = nextRecords;
    return { held, changed };
  }

  /** Put back every limit the agent set (the uninstall path, --release-all). */
  restoreAll(): boolean {
    return this.reconcile([], new Map()).changed;
  }

  /** What the agent set, for tests and the uninstall path. */
  list(): InodeQuotaRecord[] {
    return [...this.records.values()];
  }
}
