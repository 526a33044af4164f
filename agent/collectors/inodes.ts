// inodes: how many inodes a tenant owns. From the filesystem's user quota where it is on (`repquota`, one run
// per filesystem), else from a walk of the tenant's home directories counting entries owned by its UIDs.
// Both are slow next to a tick, so they refresh in the background every `refreshMs` (default 10 min) and the
// collector reports the last completed count; a walk yields to the event loop between directories.
import { spawnSync } from 'node:child_process';
import { lstat, opendir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostwardenError } from '../../shared/errors.js';
import { parseMountinfo } from '../kernel/procfs.js';
import type { Tenant } from '../tenants.js';
import { type CollectContext, type Collector, NoData, sampleOf } from './collector.js';

/** Files used per UID from `repquota -u -n -p <mount>` output ("#1001 -- 1234 0 0 0 56 0 0 0"). */
export function parseRepquota(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = /^#(\d+)\s+[-+]{2}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line.trim());
    if (m) out.set(Number(m[1]), Number(m[6]));
  }
  return out;
}

/** The mount point holding a path: the longest mount point that prefixes it. */
export function mountPointOf(path: string, mountPoints: readonly string[]): string {
  let best = '/';
  for (const mp of mountPoints) {
    if ((path === mp || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`)) && mp.length > best.length) best = mp;
  }
  return best;
}

/** Count entries under `dir` (itself included) owned by one of `uids`; symlinks are not followed. */
export async function walkCount(dir: string, uids: ReadonlySet<number>): Promise<number> {
  let count = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    let handle;
    try {
      const st = await lstat(d);
      if (uids.has(st.uid)) count++;
      if (!st.isDirectory()) continue;
      handle = await opendir(d);
    } catch {
      continue; // vanished or unreadable: not counted
    }
    for await (const e of handle) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        stack.push(p);
        continue;
      }
      try {
        if (uids.has((await lstat(p)).uid)) count++;
      } catch {
        /* gone */
      }
    }
  }
  return count;
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
  private lastRefresh = -Infinity;
  private running: Promise<void> | undefined;
  private failure: string | undefined;

  constructor(
    private readonly procRoot: string,
    private readonly refreshMs = 600_000,
    private readonly repquota: RepquotaExec = repquotaExec,
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
    if (this.counts.size === 0) return new NoData('no inode count yet (tenants without homes are not counted)');
    for (const [tenant, count] of this.counts) if (ctx.samples.has(tenant)) sampleOf(ctx, tenant).inodes = { count };
  }

  /** Recount every tenant now (tests await it; the tick does not). */
  async refresh(tenants: readonly Tenant[]): Promise<void> {
    const mounts = parseMountinfo(readFileSync(`${this.procRoot}/self/mountinfo`, 'utf8')).map((m) => m.mountPoint);
    const quota = new Map<string, Map<number, number> | null>();
    const next = new Map<string, number>();
    for (const t of tenants) {
      const byMount = new Map<string, string[]>();
      for (const home of t.homes) {
        const mp = mountPointOf(home, mounts);
        byMount.set(mp, [...(byMount.get(mp) ?? []), home]);
      }
      let total = 0;
      for (const [mp, homes] of byMount) {
        if (!quota.has(mp)) {
          const r = this.repquota(mp);
          quota.set(mp, r.status === 0 ? parseRepquota(r.stdout) : null);
        }
        const q = quota.get(mp);
        // Quota counts per UID over the whole filesystem: once per filesystem, not per home on it.
        if (q) total += t.uids.reduce((sum, uid) => sum + (q.get(uid) ?? 0), 0);
        else for (const home of homes) total += await walkCount(home, new Set(t.uids));
      }
      next.set(t.name, total);
    }
    this.counts = next;
  }

  /** The refresh in flight, if any. */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}
