// The cgroup driver: one interface, a v2 backend (v2.ts) and a v1/hybrid backend (v1.ts), chosen by
// detection in one place (detect.ts). The agent only ever touches cgroups under its parent (`hostwarden`
// by default) and never writes into a cgroup it did not create.
import { HostwardenError } from '../../../shared/errors.js';
import type { KernelPressure as Pressure } from '../../../shared/wire/agent.js';
import type { Limits } from '../../limits.js';

export type CgroupKind = 'v1' | 'v2';

/** Cumulative counters and gauges of one tenant cgroup, read in one pass. Absent = the kernel lacks it. */
export interface CgroupStats {
  /** Cumulative CPU time in microseconds (v2 cpu.stat usage_usec; v1 cpuacct.usage / 1000). */
  cpuUsageUsec?: number;
  /**
   * Cumulative time the cgroup's runqueues sat throttled by its CPU quota, microseconds, summed over CPUs
   * (v2 cpu.stat throttled_usec; v1 cpu.stat throttled_time / 1000). Absent without the cpu controller.
   */
  throttledUsec?: number;
  memory?: { current: number; anon: number; file: number };
  /**
   * The cgroup holds dirty or under-writeback page cache whose write the kernel charges to its io (v2's cgroup
   * writeback), so its io counters can move while none of its tasks runs. Absent where writeback is not
   * charged to the cgroup (v1: blkio sees direct IO only).
   */
  writebackPending?: boolean;
  /** Cumulative IO summed over devices. */
  io?: { rbytes: number; wbytes: number; rios: number; wios: number };
  /** Tasks (threads) in the cgroup: pids.current. */
  pids?: number;
  pressure?: Pressure;
  frozen?: boolean;
}

/** Stats files of one tenant, kept open and re-read with a positional read at offset 0. */
export interface StatsReader {
  /**
   * Every statistic. `opts.afterActivity`: readActivity() was called just before, so its CPU time and tasks are
   * used instead of being read again; `opts.frozen: false` leaves the freezer state out (one read less).
   */
  read(opts?: StatsReadOptions): CgroupStats;
  /** CPU time and tasks only (two reads; `pids: false`: CPU time alone): unchanged since the last read(), nothing ran in the cgroup. */
  readActivity?(opts?: { pids?: boolean }): Pick<CgroupStats, 'cpuUsageUsec' | 'pids'>;
  /**
   * Right after readActivity(): its CPU time, the task count (read unless readActivity read it) and the pressure
   * (`calm` as in read()), nothing else: what a tenant whose tasks ran only a little may have changed that the
   * tick judges at once (the collector's light read; memory and io wait for the next full read).
   */
  readLight?(opts?: Pick<StatsReadOptions, 'calm'>): Pick<CgroupStats, 'cpuUsageUsec' | 'pids' | 'pressure'>;
  close(): void;
}

export interface StatsReadOptions {
  afterActivity?: boolean;
  frozen?: boolean;
  /**
   * Resources in which nothing on the whole host stalled for the last five minutes (the host's PSI `some` avg10,
   * avg60 and avg300 all 0). A cgroup's stalls are a subset of the host's, so its averages are 0 too: its
   * pressure file is not read, and the averages are given as 0 with the cumulative totals of its last read
   * (read when there is none).
   */
  calm?: ReadonlySet<'cpu' | 'memory' | 'io'>;
}

export interface CgroupDriver {
  readonly kind: CgroupKind;
  /** Name of the parent cgroup under each hierarchy root (default "hostwarden"). */
  readonly parent: string;
  /** Absolute directories of the parent, per hierarchy; for logs and diagnostics. */
  parentPaths(): string[];

  /** Create the parent in every hierarchy and (v2) enable the cpu io memory pids controllers for children. */
  setup(): void;
  /** Create the tenant cgroup (idempotent). */
  create(tenant: string): void;
  /**
   * Remove the tenant cgroup (idempotent). Thaws it first. A cgroup that still holds tasks is NOT emptied by
   * moving them elsewhere (that would write into a cgroup we did not create): remove() throws CgroupBusyError
   * unless `kill: true`, which kills the tasks, waits (bounded) until they are gone, then removes the cgroup.
   * To let a tenant's processes run on ungoverned, use release() and leave the cgroup in place, or pass
   * `moveTo` (a cgroup path from each hierarchy's root, "/" on uninstall) to move them there first.
   */
  remove(tenant: string, opts?: { kill?: boolean; moveTo?: string }): void;
  /** Thaw the tenant and lift every limit (cgroup and processes stay): the uninstall / --release-all path. */
  release(tenant: string): void;
  exists(tenant: string): boolean;
  /** Tenant cgroups that currently exist under the parent. */
  list(): string[];
  /** Remove the parent when it has no children left (uninstall path); throws CgroupBusyError otherwise. */
  teardown(): void;

  /** PIDs (thread group leaders) in the tenant cgroup, read from the primary hierarchy. */
  procs(tenant: string): number[];
  /** Move a process (its whole thread group) into the tenant cgroup, in every hierarchy. */
  move(tenant: string, pid: number): void;
  /** The tenant whose cgroup holds `pid` in the primary hierarchy, or null if none of ours. */
  tenantOf(pid: number): string | null;

  openStats(tenant: string): StatsReader;
  /** Apply limits; read them back and return what the kernel now holds. Throws if a write did not take. */
  setLimits(tenant: string, limits: Limits): Limits;
  getLimits(tenant: string): Limits;
  /** getLimits() and isFrozen() in one call, the cgroup's existence checked once (enforcement's re-verification). */
  heldState?(tenant: string): { limits: Limits; frozen: boolean };

  freeze(tenant: string): void;
  thaw(tenant: string): void;
  isFrozen(tenant: string): boolean;
  /** Kill every process of the tenant (thaws first: a frozen task ignores SIGKILL until thawed). */
  kill(tenant: string): void;

  /** Close whatever descriptors the driver keeps open between calls (the agent stopping); used again, they reopen. */
  closeFiles?(): void;

  /** Host-wide PSI from <procRoot>/pressure/*; empty object when the kernel lacks PSI. */
  hostPressure(): Pressure;
  /**
   * PSI of the system services' cgroup as a whole (systemd: system.slice in the cgroup2 hierarchy); empty object
   * where there is none. Never derived from the root: PSI does not subtract.
   */
  servicesPressure(): Pressure;
}

export interface DriverOptions {
  /** Root of the cgroup mounts (default /sys/fs/cgroup). Tests point it at fixture trees. */
  cgroupRoot: string;
  /** Root of procfs (default /proc). */
  procRoot: string;
  /** Parent cgroup name (default hostwarden); tests use unique names. */
  parent: string;
  /** Force a backend instead of detecting it. */
  driver?: 'auto' | CgroupKind;
  /**
   * v2 only: also enable the cpu io memory pids controllers in the ROOT cgroup's cgroup.subtree_control during
   * setup(). This writes into a cgroup the agent did not create, which only the host's governor may do; it is
   * off unless asked for, and logged when done. Default false.
   */
  enableRootControllers?: boolean;
  /**
   * v1 only: during setup(), activate blk-throttle accounting on every disk of <procRoot>/partitions by writing a
   * no-op rule ("MAJ:MIN 0") into the PARENT's blkio.throttle.read_bps_device. Recent kernels count
   * blkio.throttle.io_service_bytes/io_serviced only on disks where blk-throttle was activated, so without it
   * the io stats of every tenant stay 0. Default true.
   */
  ioAccounting?: boolean;
  /** How long freeze()/thaw() wait for the kernel to report the new state (ms, default 2000). */
  freezeTimeoutMs?: number;
  /** How long remove({ kill: true }) waits for the killed tasks to be gone (ms, default 5000). */
  killTimeoutMs?: number;
  /** Where setup decisions and tolerated problems are logged (a pino logger fits). */
  logger?: CgroupLogger;
}

/** The part of a pino logger the driver uses. */
export interface CgroupLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Base of every cgroup error; subclasses in errors.ts carry more specific codes (HW_CGROUP_*). */
export class CgroupError extends HostwardenError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'HW_CGROUP', message, options);
  }
}
