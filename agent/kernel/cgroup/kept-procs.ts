// Placement's hot write: a stray moved into its tenant's cgroup is one write of its PID to cgroup.procs in every
// hierarchy it is placed in (6 on a hybrid host with cgroup.freeze, 7 without; V1Driver.placementDirs). open+write+close costs about twice the write alone, and strays come in
// bursts to the same tenants, so the cgroup.procs files of recently placed-into tenants are kept open for
// writing: a move is then one write(2) per hierarchy. Only on real cgroupfs (a fixture tree's regular files
// would keep the tail of a longer PID written before). A kept file of a cgroup removed meanwhile answers ENODEV:
// the caller closes it and takes the path-based way, which reports a missing cgroup as it always did.
// Descriptors are bounded (MAX_KEPT_TENANTS tenants, least recently used closed first) so that the stats
// readers' kept files (about 12 a tenant) keep the room they need; a write-only descriptor holds no read buffer.
import { closeSync, constants, openSync, statfsSync, writeSync } from 'node:fs';
import { NoSuchProcessError } from './errors.js';

/** Tenants whose cgroup.procs stay open (x hierarchies descriptors). */
export const MAX_KEPT_TENANTS = 1024;

const CGROUP_SUPER_MAGIC = 0x27e0eb;
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Whether every directory lies on a cgroup (v1) or cgroup2 filesystem. */
export function onCgroupFs(dirs: readonly string[]): boolean {
  try {
    return dirs.every((d) => {
      const t = Number(statfsSync(d).type);
      return t === CGROUP_SUPER_MAGIC || t === CGROUP2_SUPER_MAGIC;
    });
  } catch {
    return false;
  }
}

export class KeptProcsFiles {
  /** Insertion order is recency: a use moves the tenant to the end. */
  private readonly fds = new Map<string, number[]>();

  constructor(private readonly max = MAX_KEPT_TENANTS) {}

  /**
   * Move `pid` through the tenant's kept files: true when done, false when none are kept or one failed for
   * another reason than the process being gone (they are closed then: the caller moves by path and reports).
   */
  write(tenant: string, pid: number): boolean {
    const fds = this.fds.get(tenant);
    if (!fds) return false;
    this.fds.delete(tenant);
    this.fds.set(tenant, fds);
    const text = String(pid);
    for (const fd of fds) {
      try {
        writeSync(fd, text, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw new NoSuchProcessError(pid);
        this.close(tenant);
        return false;
      }
    }
    return true;
  }

  /** Keep the tenant's cgroup.procs files open (after a move by path succeeded); best effort. */
  keep(tenant: string, files: readonly string[]): void {
    if (this.fds.has(tenant) || this.max <= 0) return;
    const fds: number[] = [];
    try {
      for (const f of files) fds.push(openSync(f, constants.O_WRONLY));
    } catch {
      for (const fd of fds) closeQuietly(fd);
      return;
    }
    this.fds.set(tenant, fds);
    while (this.fds.size > this.max) this.close(this.fds.keys().next().value!);
  }

  close(tenant: string): void {
    const fds = this.fds.get(tenant);
    if (!fds) return;
    this.fds.delete(tenant);
    for (const fd of fds) closeQuietly(fd);
  }

  closeAll(): void {
    for (const t of [...this.fds.keys()]) this.close(t);
  }

  get size(): number {
    return this.fds.size;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}
