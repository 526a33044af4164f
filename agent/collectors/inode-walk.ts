// The inode walk of a tenant's home, by descriptor. The agent runs as root and the tree belongs to the
// tenant, who may swap a directory for a symlink at any moment: a walk that looks a path up twice (lstat,
// then opendir) can be sent anywhere between the two. So every directory is opened once, with
// O_DIRECTORY|O_NOFOLLOW, relative to its parent's descriptor (`/proc/self/fd/<parent>/<name>`, the
// openat() of a path-based API: only the last component is looked up, and a symlink there fails with
// ELOOP); it is then checked (fstat), listed and its children stat'ed through that same descriptor. Nothing
// is resolved again from an absolute path below the home, so a swap only changes what is counted at the
// spot swapped, never where root walks.
//
// The home path itself is resolved by the kernel except its last component (O_NOFOLLOW): the directories
// above a home are the administrator's. Like the walk it replaces, this one crosses mount points.
//
// Bounded: at most INODE_WALK_MAX_DEPTH levels below the home and INODE_WALK_MAX_ENTRIES entries per
// budget (one tenant's refresh); past either the count is partial and says so. Two descriptors are open per
// level being walked (the directory, and its listing read a batch at a time, so a directory of millions of
// entries is never held in memory whole), closed as soon as the level is done. The walk yields to the event loop every few
// milliseconds.
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, opendirSync, type Dir } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { boundMessage } from '../bounds.js';

/** Levels below a home the walk descends; deeper directories are counted but not entered. */
export const INODE_WALK_MAX_DEPTH = 128;
/** Entries one tenant's walk looks at per refresh, over all its homes; past it the count is partial. */
export const INODE_WALK_MAX_ENTRIES = 2_000_000;
/** The walk gives the event loop a turn after this much work. */
const YIELD_EVERY_MS = 5;
/** Where a descriptor's directory is reachable by path (the kernel's magic links). */
const FD_ROOT = '/proc/self/fd';
const OPEN_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

export type WalkStop = 'depth' | 'entries' | 'no-proc' | 'error';

export interface WalkBudget {
  /** Entries still allowed; the walk decreases it. */
  entries: number;
}

export interface WalkOptions {
  maxDepth?: number;
  /** Shared by the walks of one tenant's homes; default a fresh INODE_WALK_MAX_ENTRIES. */
  budget?: WalkBudget;
  /**
   * Tests only: called after a directory is listed and before its child directory `name` is opened, with
   * the path that reaches the parent through its descriptor.
   */
  beforeOpen?: (parentPath: string, name: string) => void;
}

export interface WalkResult {
  /** Entries owned by one of the UIDs, the home itself included. */
  count: number;
  /** Entries looked at. */
  entries: number;
  /** Why the count is partial; absent when the whole tree was counted. */
  stopped?: WalkStop;
  /** With stopped 'error': what went wrong. */
  error?: string;
}

function isMissingOrRefused(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EACCES' || code === 'EPERM' || code === 'ESTALE';
}

/** A directory being walked: its descriptor, and its listing read a batch at a time (never whole). */
interface Frame {
  fd: number;
  listing: Dir | undefined;
  depth: number;
}

/** Open a directory without following a symlink in the last component; undefined if it is not one (now). */
function openDirectory(path: string): { fd: number; uid: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, OPEN_DIR);
  } catch (err) {
    if (isMissingOrRefused(err)) return undefined;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return { fd, uid: st.uid };
  } catch {
    /* fall through: treated as not a directory */
  }
  closeSync(fd);
  return undefined;
}

/** Owner of the entry itself (a symlink is not followed); undefined when it is gone. */
function ownerOf(path: string): number | undefined {
  try {
    return lstatSync(path).uid;
  } catch {
    return undefined;
  }
}

/** Read a directory through its descriptor; undefined when it cannot be listed (as if empty). */
function list(fd: number): Dir | undefined {
  try {
    return opendirSync(`${FD_ROOT}/${fd}`);
  } catch (err) {
    if (isMissingOrRefused(err)) return undefined;
    throw err;
  }
}

function close(frame: Frame): void {
  try {
    frame.listing?.closeSync();
  } finally {
    closeSync(frame.fd);
  }
}

/**
 * Count the entries under `home` (itself included) owned by one of `uids`, walking by descriptor. A home
 * that is not a directory (a file, a symlink) counts as itself. Never throws: what a tenant can do to its
 * tree (entries vanishing, swapped, unreadable) is skipped; anything else stops the walk with a partial count.
 */
export async function walkOwnedEntries(home: string, uids: ReadonlySet<number>, opts: WalkOptions = {}): Promise<WalkResult> {
  const maxDepth = opts.maxDepth ?? INODE_WALK_MAX_DEPTH;
  const budget = opts.budget ?? { entries: INODE_WALK_MAX_ENTRIES };
  const result: WalkResult = { count: 0, entries: 0 };
  const owned = (uid: number | undefined) => {
    if (uid !== undefined && uids.has(uid)) result.count++;
  };
  const take = (): boolean => {
    if (budget.entries <= 0) {
      result.stopped = 'entries';
      return false;
    }
    budget.entries--;
    result.entries++;
    return true;
  };

  if (!take()) return result;
  let root: { fd: number; uid: number } | undefined;
  try {
    root = openDirectory(home);
  } catch (err) {
    result.stopped = 'error'; // unreadable for the system's reasons (EMFILE, EIO)
    result.error = (err as Error).message;
    return result;
  }
  if (!root) {
    owned(ownerOf(home));
    return result;
  }
  owned(root.uid);
  if (!existsSync(`${FD_ROOT}/${root.fd}`)) {
    closeSync(root.fd); // no /proc: no way to walk by descriptor, and no other way is safe
    result.stopped = 'no-proc';
    return result;
  }
  const stack: Frame[] = [{ fd: root.fd, listing: undefined, depth: 0 }];
  try {
    stack[0]!.listing = list(root.fd);
    let lastYield = performance.now();
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const entry = frame.listing?.readSync();
      if (!entry) {
        stack.pop();
        close(frame);
        continue;
      }
      if (!take()) break;
      if (performance.now() - lastYield >= YIELD_EVERY_MS) {
        await yieldToLoop();
        lastYield = performance.now();
      }
      const parentPath = `${FD_ROOT}/${frame.fd}`;
      const path = `${parentPath}/${entry.name}`;
      if (!entry.isDirectory()) {
        owned(ownerOf(path));
        continue;
      }
      if (frame.depth + 1 > maxDepth) {
        owned(ownerOf(path));
        result.stopped ??= 'depth';
        continue;
      }
      opts.beforeOpen?.(parentPath, entry.name);
      const child = openDirectory(path);
      if (!child) {
        owned(ownerOf(path)); // no longer a directory (swapped for a symlink or a file), or gone
        continue;
      }
      owned(child.uid);
      const pushed: Frame = { fd: child.fd, listing: undefined, depth: frame.depth + 1 };
      stack.push(pushed); // before listing, so the descriptor is closed whatever happens next
      pushed.listing = list(child.fd);
    }
  } catch (err) {
    result.stopped = 'error'; // the system's trouble (EMFILE, EIO), not the tenant's: a partial count
    result.error = (err as Error).message;
  } finally {
    for (const frame of stack) close(frame);
  }
  return result;
}

/** One tenant's walks in one refresh: one entry budget over all its homes, and whether any stopped early. */
export class TenantWalk {
  readonly budget: WalkBudget;
  readonly uids: ReadonlySet<number>;
  entries = 0;
  stopped: WalkStop | undefined;
  error: string | undefined;

  constructor(uids: readonly number[], private readonly opts: Omit<WalkOptions, 'budget'> & { maxEntries?: number } = {}) {
    this.uids = new Set(uids);
    this.budget = { entries: opts.maxEntries ?? INODE_WALK_MAX_ENTRIES };
  }

  /** The count of one home (partial once the budget is spent). */
  async count(home: string): Promise<number> {
    const r = await walkOwnedEntries(home, this.uids, { ...this.opts, budget: this.budget });
    this.entries += r.entries;
    if (r.stopped) this.stopped ??= r.stopped;
    if (r.error) this.error ??= boundMessage(r.error); // it may name a tenant's file
    return r.count;
  }
}
