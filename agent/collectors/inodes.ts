// inodes: how many inodes a tenant owns. From the filesystem's user quota where it is on (`repquota`, one run
// per filesystem), else from a walk of the tenant's home directories counting entries owned by its UIDs.
// Both are slow next to a tick, so they refresh in the background every `refreshMs` (default 10 min) and the
// collector reports the last completed count; a walk yields to the event loop between directories.
import { spawnSync } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import type { Logger } from 'pino';
import { HostwardenError } from '../../shared/errors.js';
import { type MountinfoEntry, parseMountinfo } from '../kernel/procfs.js';
import { parseRepquotaLines, type QuotaLine } from '../kernel/quota.js';
import type { Tenant } from '../tenants.js';
import { type CollectContext, type Collector, NoData, sampleOf } from './collector.js';
import { TenantWalk, walkOwnedEntries, type WalkStop } from './inode-walk.js';

/** Files used per UID from `repquota -u -n -p <mount>` output ("#1001 -- 1234 0 0 0 56 0 0 0"). */
export function parseRepquota(text: string): Map<number, number> {
  return new Map([...parseRepquotaLines(text)].map(([uid, line]) => [uid, line.inodes.used]));
}

/** The mount point holding a path: the longest mount point that prefixes it. */
export function mountPointOf(path: string, mountPoints: readonly string[]): string {
  let best = '/';
  for (const mp of mountPoints) {
    if ((path === mp || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`)) && mp.length > best.length) best = mp;
  }
  return best;
}

/**
 * The inodes of the filesystems behind `mountPoints` (statfs f_files), each filesystem once (bind mounts and
 * a filesystem mounted twice share a device); undefined when none reports a fixed number (btrfs and other
 * filesystems that allocate inodes as they go report 0). The fairness ledger's inode capacity.
 */
export function inodesCapacity(mountPoints: Iterable<string>, entries: readonly MountinfoEntry[], statfs: (path: string) => { files: number } = statfsSync): number | undefined {
  const byDevice = new Map<string, string>();
  for (const mp of mountPoints) {
    // The last entry of a mount point is the one on top (a later mount hides an earlier one there).
    const entry = entries.findLast((e) => e.mountPoint === mp);
    byDevice.set(entry?.device ?? `path:${mp}`, mp);
  }
  let total = 0;
  for (const mp of byDevice.values()) {
    try {
      const files = statfs(mp).files;
      if (Number.isSafeInteger(files) && files > 0) total += files;
    } catch {
      // Unreadable (gone since the mount table was read): its inodes are left out.
    }
  }
  return total > 0 ? total : undefined;
}

/** Count entries under `dir` (itself included) owned by one of `uids`; symlinks are not followed (inode-walk.ts). */
export async function walkCount(dir: string, uids: ReadonlySet<number>): Promise<number> {
  return (await walkOwnedEntries(dir, uids)).count;
}

/** The background count failed (e.g. an unreadable mount table); the collector reports it on its next run. */
export class InodesCountError extends HostwardenError {
  constructor(message: string) {
    super('HW_INODES', message);
  }
}

export type RepquotaExec = (mountPoint: string) => { status: number | null; stdout: string };

const repquotaExec: RepquotaExec = (mountPoint) => {
  const r = spawnSync('repquota', ['-u', '-n', '-p', mountPoint], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.error ? null : r.status, stdout: r.stdout ?? '' };
};

export class InodesCollector implements Collector {
  readonly name = 'inodes';
  private counts = new Map<string, number>();
  /** Inodes of the filesystems holding the homes at the last count (undefined: none reports a number). */
  private capacityNow: number | undefined;
  private lastRefresh = -Infinity;
  private running: Promise<void> | undefined;
  private failure: string | undefined;
  /** Tenants whose last count stopped early (a bound of the walk), and why. */
  private partialCounts = new Map<string, WalkStop>();
  /** The user quota of each filesystem holding a home at the last count (null: it keeps none). */
  private quotaReports = new Map<string, Map<number, QuotaLine> | null>();
  /** Completed counts so far: what reads the counts knows when they are new. */
  private refreshes = 0;

  constructor(
    private readonly procRoot: string,
    private readonly refreshMs = 600_000,
    private readonly repquota: RepquotaExec = repquotaExec,
    private readonly log?: Logger,
    private readonly walkOptions: ConstructorParameters<typeof TenantWalk>[1] = {},
  ) {}

  collect(ctx: CollectContext): void | NoData {
    if (!this.running && ctx.mono - this.lastRefresh >= this.refreshMs) {
      this.lastRefresh = ctx.mono;
      const tenants = ctx.tenants.filter((t) => t.homes.length > 0 && t.uids.length > 0);
      this.running = this.refresh(tenants)
        .catch((err: unknown) => {
          this.failure = err instanceof Error ? err.message : String(err);
        })
        .finally(() => {
          this.running = undefined;
        });
    }
    if (this.failure !== undefined) {
      // A background count that failed is this tick's failure (reported once); the last counts stay.
      const failure = this.failure;
      this.failure = undefined;
      throw new InodesCountError(`the background inode count failed: ${failure}`);
    }
    if (this.capacityNow !== undefined) ctx.host.inodes_capacity = this.capacityNow;
    if (this.counts.size === 0) return new NoData('no inode count yet (tenants without homes are not counted)');
    for (const [tenant, count] of this.counts) if (ctx.samples.has(tenant)) sampleOf(ctx, tenant).inodes = { count };
  }

  /** Recount every tenant now (tests await it; the tick does not). */
  async refresh(tenants: readonly Tenant[]): Promise<void> {
    const entries = parseMountinfo(readFileSync(`${this.procRoot}/self/mountinfo`, 'utf8'));
    const mounts = entries.map((m) => m.mountPoint);
    const holding = new Set<string>();
    const quota = new Map<string, Map<number, QuotaLine> | null>();
    const next = new Map<string, number>();
    const partial = new Map<string, WalkStop>();
    for (const t of tenants) {
      const byMount = new Map<string, string[]>();
      for (const home of t.homes) {
        const mp = mountPointOf(home, mounts);
        holding.add(mp);
        byMount.set(mp, [...(byMount.get(mp) ?? []), home]);
      }
      let total = 0;
      const walk = new TenantWalk(t.uids, this.walkOptions);
      for (const [mp, homes] of byMount) {
        if (!quota.has(mp)) {
          const r = this.repquota(mp);
          quota.set(mp, r.status === 0 ? parseRepquotaLines(r.stdout) : null);
        }
        const q = quota.get(mp);
        // Quota counts per UID over the whole filesystem: once per filesystem, not per home on it.
        if (q) total += t.uids.reduce((sum, uid) => sum + (q.get(uid)?.inodes.used ?? 0), 0);
        else for (const home of homes) total += await walk.count(home);
      }
      next.set(t.name, total);
      this.notePartial(t.name, walk, partial);
    }
    this.counts = next;
    this.capacityNow = inodesCapacity(holding, entries);
    this.partialCounts = partial;
    this.quotaReports = quota;
    this.refreshes++;
  }

  /** The last completed count of a tenant (undefined before the first). */
  countOf(tenant: string): number | undefined {
    return this.counts.get(tenant);
  }

  /** Inodes of the filesystems holding the homes, as the last count found them (the ledger's capacity). */
  capacity(): number | undefined {
    return this.capacityNow;
  }

  /** The user quota of each filesystem holding a home, as read by the last count (null: none kept there). */
  reports(): ReadonlyMap<string, Map<number, QuotaLine> | null> {
    return this.quotaReports;
  }

  /** How many counts have completed: it changes when the counts and reports are new. */
  get generation(): number {
    return this.refreshes;
  }

  private notePartial(tenant: string, walk: TenantWalk, into: Map<string, WalkStop>): void {
    if (!walk.stopped) return;
    into.set(tenant, walk.stopped);
    this.log?.warn({ tenant, stopped: walk.stopped, entries: walk.entries, ...(walk.error ? { err: walk.error } : {}) }, 'inode walk stopped early: the count is partial (a lower bound)');
  }

  /** Tenants whose last count is partial, and why (the walk's depth or entry bound, no /proc, an error). */
  partial(): ReadonlyMap<string, WalkStop> {
    return this.partialCounts;
  }

  /** The refresh in flight, if any. */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}
