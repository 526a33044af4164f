// Placement: every process of a tenant's UIDs that is not in the tenant's cgroup is moved there, on its own
// short tick. Each move is a "stray" (placement integrity), counted per tenant until the next report.
// Only processes whose owner UID belongs to a tenant are ever touched: root, system accounts and kernel
// threads (all UID 0) never map to a tenant because tenants never hold UIDs below uid_min.
//
// Cost grows with process births and owner changes, not with the process count. Placement remembers every
// PID it verified (owner, tenant, and for a process not a tenant's its start time). A round:
//   1. reads the last PID the kernel handed out (/proc/loadavg): the PIDs handed out since the last round (processes
//      and threads) are the only ones that can be new. Up to PROBE_MAX of them are looked at one by one; more (a
//      burst of forks or threads), and /proc is listed instead. Each new PID is verified (owner, and for a
//      tenant's process its cgroup from /proc/PID/cgroup, moved if it is elsewhere). A known PID in that range
//      was reused: its start time (field 22 of /proc/PID/stat) says whether it is still the process we verified;
//      a tenant's process, whose start time is not read (the dearest read of a birth, and needed only to watch
//      young processes, which a tenant's never is), is verified again. Without /proc/loadavg every round lists
//      /proc, verifies the PIDs it has not seen and re-checks every known one (any of them may have been reused).
//   2. re-reads the owner of every process that was young (started less than `youngMs` ago) and not a tenant's
//      when last seen: su, sshd, cron and login start as root and change their UID in their first moments.
//   3. every `fullEveryMs` (and whenever the tenant set changed) verifies everything, as a full scan: a process
//      whose owner changed later in its life (a long-running root daemon that calls setuid) is placed then.
// Bound: a new process, and one that changes its owner within `youngMs` of its start, is placed within one
// round; one that changes its owner later, within `fullEveryMs`.
import type { Logger } from 'pino';
import type { CgroupDriver } from './kernel/cgroup/driver.js';
import { NoSuchProcessError } from './kernel/cgroup/errors.js';
import { lastPid, listPids, pidMax, startTimeOf, uidOf, uptimeTicks, USER_HZ } from './kernel/procfs.js';
import type { Tenant } from './tenants.js';

export interface PlacementResult {
  scanned: number;
  moved: number;
  /** Moves that failed because the process exited in between (normal) are not errors. */
  errors: number;
  /** Whether this round verified every process (the slow full pass) rather than only the new ones. */
  full?: boolean;
  /** Processes whose owner or identity this round looked at (the round's cost). */
  checked?: number;
}

/** What placement reads of /proc; tests give a fake one. */
export interface ProcSource {
  /** The PID most recently handed out, or null when unknown (every round then lists /proc). */
  lastPid(): number | null;
  pidMax(): number;
  listPids(): number[];
  uidOf(pid: number): number | null;
  /** Start time in clock ticks after boot, or null when the process is gone. */
  startTimeOf(pid: number): number | null;
  /** Clock ticks since boot now, or null when unknown (no process counts as young then). */
  uptimeTicks(): number | null;
}

export function procSource(procRoot: string): ProcSource {
  const max = pidMax(procRoot);
  return {
    lastPid: () => lastPid(procRoot),
    pidMax: () => max,
    listPids: () => listPids(procRoot),
    uidOf: (pid) => uidOf(procRoot, pid),
    startTimeOf: (pid) => startTimeOf(procRoot, pid),
    uptimeTicks: () => uptimeTicks(procRoot),
  };
}

export interface PlacementOptions {
  /** How often every process is verified again (ms of the clock, default 60 s). */
  fullEveryMs?: number;
  /** How long after its start a non-tenant process has its owner re-read every round (ms, default 10 s). */
  youngMs?: number;
  /** Monotonic milliseconds (tests step a fake clock). */
  now?: () => number;
  /**
   * A tenant's process for which this says true stays where it is (systemd hosts: a login's processes stay in
   * their session scope, agent/systemd.ts). Asked only for a process outside its tenant's cgroup.
   */
  keep?: (pid: number) => boolean;
}

/** What placement remembers of a verified process. */
interface Known {
  uid: number;
  /** Start time (clock ticks after boot); -1 when it could not be read. */
  start: number;
  /** Whether its owner was a tenant's when last verified. */
  tenant: boolean;
  /** Verified (not merely seen) by the listing in `seen`. */
  fresh: boolean;
  /** The listing that last saw it (to forget exited processes). */
  seen: number;
}

/** A process verified by this round's listing needs no second look at its owner in the same round. */
const justVerified = (k: Known, listing: number): boolean => k.seen === listing && k.fresh;

export class Placement {
  private strays = new Map<string, number>();
  private readonly created = new Set<string>();
  private readonly known = new Map<number, Known>();
  /** Non-tenant processes started less than youngMs ago: their owner is re-read every round. */
  private readonly young = new Set<number>();
  private readonly proc: ProcSource;
  private readonly fullEveryMs: number;
  private readonly youngTicks: number;
  private readonly now: () => number;
  private lastFull = -Infinity;
  private prevLastPid: number | null = null;
  private listing = 0;
  private readonly keep: ((pid: number) => boolean) | undefined;

  constructor(
    private readonly driver: CgroupDriver,
    procRoot: string | ProcSource,
    private readonly log: Logger,
    opts: PlacementOptions = {},
  ) {
    this.proc = typeof procRoot === 'string' ? procSource(procRoot) : procRoot;
    this.fullEveryMs = opts.fullEveryMs ?? 60_000;
    this.youngTicks = Math.ceil(((opts.youngMs ?? 10_000) / 1000) * USER_HZ);
    this.now = opts.now ?? (() => performance.now());
    this.keep = opts.keep;
  }

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
    this.invalidate();
  }

  /** The tenant set or its UIDs changed: the next round verifies every process. */
  invalidate(): void {
    this.lastFull = -Infinity;
  }

  /**
   * One round. `periodicFull: false`: this round does not start the periodic full pass even when it is due (the
   * tick's own round: the placement timer's next round does it, so the tick's CPU stays flat); a full pass asked
   * for by invalidate() (or the first round) still runs.
   */
  run(byUid: (uid: number) => Tenant | undefined, opts: { periodicFull?: boolean } = {}): PlacementResult {
    const now = this.now();
    if (now - this.lastFull >= this.fullEveryMs && (opts.periodicFull !== false || this.lastFull === -Infinity)) {
      this.lastFull = now;
      return this.fullPass(byUid);
    }
    return this.incremental(byUid);
  }

  /** Verify every process: owner, and for a tenant's, membership from the tenant's cgroup.procs. */
  private fullPass(byUid: (uid: number) => Tenant | undefined): PlacementResult {
    const r: PlacementResult = { scanned: 0, moved: 0, errors: 0, full: true, checked: 0 };
    const members = new Map<string, Set<number>>();
    const uptime = this.proc.uptimeTicks();
    this.prevLastPid = this.proc.lastPid();
    const listing = ++this.listing;
    for (const pid of this.proc.listPids()) {
      r.checked!++;
      const uid = this.proc.uidOf(pid);
      if (uid === null) continue;
      const tenant = uid === 0 ? undefined : byUid(uid);
      let k = this.known.get(pid);
      if (!k) {
        // A tenant's process is never watched as young: its start time is not needed (verify()).
        k = { uid, start: tenant ? -1 : (this.proc.startTimeOf(pid) ?? -1), tenant: false, seen: listing, fresh: true };
        this.known.set(pid, k);
      }
      k.uid = uid;
      k.seen = listing;
      k.fresh = true;
      k.tenant = tenant !== undefined;
      this.watchIfYoung(pid, k, uptime);
      if (!tenant) continue;
      r.scanned++;
      let set = members.get(tenant.name);
      if (!set) {
        set = new Set(this.driver.procs(tenant.name));
        members.set(tenant.name, set);
      }
      if (set.has(pid)) continue;
      if (this.place(tenant, pid, uid, r)) set.add(pid);
    }
    this.forgetUnseen(listing);
    return r;
  }

  /** Verify only what may have changed: new PIDs, reused PIDs, young non-tenant processes. */
  private incremental(byUid: (uid: number) => Tenant | undefined): PlacementResult {
    const r: PlacementResult = { scanned: 0, moved: 0, errors: 0, full: false, checked: 0 };
    const last = this.proc.lastPid();
    const prev = this.prevLastPid;
    this.prevLastPid = last;
    const listed = last === null || last !== prev;
    const uptime = this.young.size > 0 || listed ? this.proc.uptimeTicks() : null;
    const range = listed ? pidRange(prev, last, this.proc.pidMax()) : undefined;
    if (range && range.length <= PROBE_MAX) {
      // Few PIDs handed out: look at each of them (a process, a thread, or one that already exited) instead of listing /proc.
      const round = ++this.listing;
      for (const pid of range) {
        const k = this.known.get(pid);
        if (k) {
          k.seen = round;
          k.fresh = false;
          if (k.start >= 0) {
            // Still the process verified only if it started when that one did (a tenant's has no start time: verified again).
            r.checked!++;
            const start = this.proc.startTimeOf(pid);
            if (start === null) {
              this.known.delete(pid);
              this.young.delete(pid);
              continue;
            }
            if (start === k.start) continue;
          }
        }
        r.checked!++;
        this.verify(pid, round, byUid, uptime, r);
      }
    } else if (listed) {
      const listing = ++this.listing;
      // PIDs handed out since the last round: (prev, last], cyclically below pid_max. Unknown: any known PID may be reused.
      const inRange = rangeTest(prev, last, this.proc.pidMax());
      for (const pid of this.proc.listPids()) {
        const k = this.known.get(pid);
        if (k) {
          k.seen = listing;
          k.fresh = false;
          if (!inRange(pid)) continue;
          // The number was handed out again since the last round: still the same process only if it started when it did.
          if (k.start >= 0) {
            r.checked!++;
            const start = this.proc.startTimeOf(pid);
            if (start === null || start === k.start) continue;
          }
        }
        r.checked!++;
        this.verify(pid, listing, byUid, uptime, r);
      }
      this.forgetUnseen(listing);
    }
    for (const pid of this.young) {
      const k = this.known.get(pid);
      if (!k || uptime === null || uptime - k.start > this.youngTicks) {
        this.young.delete(pid);
        continue;
      }
      if (listed && justVerified(k, this.listing)) continue;
      r.checked!++;
      const uid = this.proc.uidOf(pid);
      if (uid === null) {
        this.young.delete(pid);
        continue;
      }
      if (uid === k.uid) continue;
      k.uid = uid;
      const tenant = uid === 0 ? undefined : byUid(uid);
      k.tenant = tenant !== undefined;
      if (!tenant) continue;
      this.young.delete(pid); // a tenant's now: it cannot change its owner again without a setuid program
      r.scanned++;
      if (this.driver.tenantOf(pid) !== tenant.name) this.place(tenant, pid, uid, r);
    }
    return r;
  }

  /**
   * A PID not verified before (or reused): owner, and its cgroup if it is a tenant's, else its start time. A
   * tenant's process is never watched as young, so its start time is not read (the dearest of the reads:
   * /proc/PID/stat); should the PID counter pass over it again, it is verified again instead of compared.
   */
  private verify(pid: number, listing: number, byUid: (uid: number) => Tenant | undefined, uptime: number | null, r: PlacementResult): void {
    const uid = this.proc.uidOf(pid);
    const tenant = uid === null || uid === 0 ? undefined : byUid(uid);
    const start = uid === null || tenant ? -1 : this.proc.startTimeOf(pid);
    if (uid === null || start === null) {
      this.known.delete(pid);
      this.young.delete(pid);
      return;
    }
    const k: Known = { uid, start, tenant: tenant !== undefined, seen: listing, fresh: true };
    this.known.set(pid, k);
    this.young.delete(pid);
    this.watchIfYoung(pid, k, uptime);
    if (!tenant) return;
    r.scanned++;
    if (this.driver.tenantOf(pid) !== tenant.name) this.place(tenant, pid, uid, r);
  }

  private watchIfYoung(pid: number, k: Known, uptime: number | null): void {
    if (!k.tenant && uptime !== null && k.start >= 0 && uptime - k.start <= this.youngTicks) this.young.add(pid);
  }

  private forgetUnseen(listing: number): void {
    for (const [pid, k] of this.known) {
      if (k.seen === listing) continue;
      this.known.delete(pid);
      this.young.delete(pid);
    }
  }

  /** Move one process into its tenant's cgroup; true when it is there now. */
  private place(tenant: Tenant, pid: number, uid: number, r: PlacementResult): boolean {
    if (this.keep?.(pid)) return false;
    try {
      try {
        this.driver.move(tenant.name, pid); // checks that the cgroup exists before it writes
      } catch (err) {
        if ((err as { code?: string }).code !== 'HW_CGROUP_NO_TENANT' || this.driver.exists(tenant.name)) throw err;
        // Removed under us (by hand, or another tool): make it again before placing into it.
        this.log.warn({ tenant: tenant.name }, 'tenant cgroup was missing; created again');
        this.driver.create(tenant.name);
        this.driver.move(tenant.name, pid);
      }
      r.moved++;
      this.strays.set(tenant.name, (this.strays.get(tenant.name) ?? 0) + 1);
      this.log.debug({ tenant: tenant.name, pid, uid }, 'placed stray process');
      return true;
    } catch (err) {
      // The process exited between the scan and the move.
      if (err instanceof NoSuchProcessError || this.proc.uidOf(pid) === null) return false;
      r.errors++;
      this.log.warn({ tenant: tenant.name, pid, err: (err as Error).message }, 'cannot place process');
      return false;
    }
  }

  /** The tenants strays were moved into since the last takeStrays() (not reset; the tick takes them after collecting). */
  placedInto(): ReadonlyMap<string, number> {
    return this.strays;
  }

  /** Strays moved per tenant since the last call; resets the counts. */
  takeStrays(): Map<string, number> {
    const out = this.strays;
    this.strays = new Map();
    return out;
  }
}

/** Up to this many PIDs handed out since the last round are looked at one by one; more, and /proc is listed. */
const PROBE_MAX = 1024;
/** After pid_max the kernel hands out PIDs from here again (RESERVED_PIDS). */
const FIRST_REUSED_PID = 300;

/** The PIDs in (prev, last], wrapping at pid_max; undefined when unknown or more than PROBE_MAX. */
export function pidRange(prev: number | null, last: number | null, max: number): number[] | undefined {
  if (prev === null || last === null) return undefined;
  const size = last >= prev ? last - prev : max - 1 - prev + Math.max(0, last - FIRST_REUSED_PID + 1);
  if (size > PROBE_MAX) return undefined;
  const out: number[] = [];
  if (last >= prev) for (let p = prev + 1; p <= last; p++) out.push(p);
  else {
    for (let p = prev + 1; p < max; p++) out.push(p);
    for (let p = FIRST_REUSED_PID; p <= last; p++) out.push(p);
  }
  return out;
}

/**
 * Whether a PID lies in (prev, last], the PIDs handed out between two readings of the last PID; allocation
 * wraps at pid_max back to low numbers. Without both readings every PID counts as possibly reused.
 */
export function rangeTest(prev: number | null, last: number | null, max: number): (pid: number) => boolean {
  if (prev === null || last === null) return () => true;
  if (last === prev) return () => false;
  if (last > prev) return (pid) => pid > prev && pid <= last;
  return (pid) => (pid > prev && pid < max) || pid <= last;
}
