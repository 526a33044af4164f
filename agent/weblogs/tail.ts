// Following one access log across rotations, by position: a cursor is (device, inode, offset) plus the first
// bytes of the file (its head), and only whole lines are ever consumed, so a cursor always sits at a line start.
//
// - rotation by rename: the path names a new inode. The old file is read on to its end through the descriptor
//   held (the web server writes to it until it reopens its logs), and retired once it has stopped growing for
//   RETIRE_AFTER polls; the new file is read from offset 0. Nothing is lost or read twice.
// - copytruncate: the same inode shrank, or its head changed. The copy is looked for beside the log (a file
//   whose head is ours and that is at least as long as our offset) and read from our offset to its end; then
//   the log is read from 0. What was written between the copy and the truncation is in neither file: it is
//   lost, and the truncation is counted. Without a copy, the bytes known to be unread are counted as lost.
// - a restart (or a rollback after a failed spool write) starts from the committed cursors: each is found again
//   by its inode at the path or beside it (a rotated name); one that is gone is counted as a lost file.
import { closeSync, fstatSync, openSync, readdirSync, readSync, type Stats, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A cursor as persisted in the spool (JSON). */
export interface CursorState {
  dev: number;
  ino: number;
  off: number;
  /** The file's first bytes (up to HEAD_BYTES), base64. */
  head: string;
  /** Inside a line too long to keep: skip to the next newline. */
  skip?: boolean;
}

export interface SourceState {
  cur: CursorState | null;
  /** Rotated files still being read, oldest first. */
  old: CursorState[];
}

export interface TailCounters {
  rotations: number;
  truncations: number;
  /** Rotated files that were gone before they were read to the end (e.g. compressed while the agent was down). */
  lostFiles: number;
  /** Bytes known to be lost (truncated before they were read and no copy found). */
  lostBytes: number;
  /** Lines longer than the read buffer, skipped. */
  longLines: number;
}

export const HEAD_BYTES = 256;
/** An old file is retired after this many polls without growth once read to its end. */
const RETIRE_AFTER = 2;
/** Files beside the log looked at when searching a rotated file by inode or a copy by head. */
const MAX_SIBLINGS = 256;

class Cursor {
  fd: number | undefined;
  idle = 0;
  lastSize = -1;
  constructor(
    public dev: number,
    public ino: number,
    public off: number,
    public head: Buffer,
    public skip: boolean,
  ) {}

  state(): CursorState {
    return { dev: this.dev, ino: this.ino, off: this.off, head: this.head.toString('base64'), ...(this.skip ? { skip: true } : {}) };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface ReadBudget {
  bytes: number;
  /** performance.now() after which no more chunks are read. */
  deadline: number;
}

/** Receives whole lines, many at a time: `text` (latin1) holds lines separated by `\n`, without the last `\n`. */
export type LineSink = (text: string) => void;

export class LogTail {
  private cur: Cursor | null = null;
  private old: Cursor[] = [];
  /** False until the path has been looked at once (first sight may start at the end of the file). */
  private seen: boolean;
  /** Wall time of the previous poll in this process (undefined after a start or a rollback). */
  private lastPollMs: number | undefined;

  constructor(
    readonly path: string,
    committed: SourceState | undefined,
    private readonly startAtEnd: boolean,
    private readonly buf: Buffer,
    private readonly counters: TailCounters,
  ) {
    this.seen = committed !== undefined;
    this.load(committed);
  }

  /** Back to a committed state (at start, or after the spool refused the batch read since). */
  load(committed: SourceState | undefined): void {
    this.cur?.close();
    for (const c of this.old) c.close();
    const mk = (s: CursorState) => new Cursor(s.dev, s.ino, s.off, Buffer.from(s.head, 'base64'), s.skip === true);
    this.cur = committed?.cur ? mk(committed.cur) : null;
    this.old = (committed?.old ?? []).map(mk);
    this.lastPollMs = undefined;
  }

  state(): SourceState {
    return { cur: this.cur?.state() ?? null, old: this.old.map((c) => c.state()) };
  }

  close(): void {
    this.load(undefined);
  }

  /** Bytes written to the log and not read yet (the backlog), as far as the held files tell. */
  backlog(): number {
    let n = 0;
    for (const c of [...this.old, ...(this.cur ? [this.cur] : [])]) if (c.fd !== undefined) n += Math.max(0, fstatSync(c.fd).size - c.off);
    return n;
  }

  /** Follow rotations, then read whole lines into `sink` within the budget: old files first, then the log. */
  poll(budget: ReadBudget, sink: LineSink): void {
    const st = statOrUndefined(this.path);
    const firstSight = !this.seen;
    this.seen = true;
    for (const c of this.old) if (c.fd === undefined) this.reattach(c);
    this.old = this.old.filter((c) => c.fd !== undefined);
    if (this.cur && this.cur.fd === undefined) {
      if (!this.reattach(this.cur)) this.cur = null;
      else if (st && (st.ino !== this.cur.ino || st.dev !== this.cur.dev)) {
        this.counters.rotations++; // rotated while we were away
        this.rotate();
      }
    } else if (this.cur && st && (st.ino !== this.cur.ino || st.dev !== this.cur.dev)) {
      this.counters.rotations++;
      this.rotate();
    }
    if (!this.cur && st) this.cur = this.open(firstSight && this.startAtEnd);
    if (this.cur && st && st.ino === this.cur.ino) this.checkTruncation(this.cur);
    this.lastPollMs = Date.now();

    for (const c of this.old) this.read(c, budget, sink);
    const keep: Cursor[] = [];
    for (const c of this.old) {
      const size = fstatSync(c.fd!).size;
      if (size === c.lastSize) c.idle++;
      else c.idle = 0;
      c.lastSize = size;
      if (c.idle >= RETIRE_AFTER && !this.hasCompleteLine(c, size)) {
        if (size > c.off && !c.skip) this.counters.longLines++; // a last line without its newline
        c.close();
      } else keep.push(c);
    }
    this.old = keep;
    if (this.cur) {
      this.read(this.cur, budget, sink);
      this.cur.lastSize = fstatSync(this.cur.fd!).size;
      if (this.cur.head.length < HEAD_BYTES) this.cur.head = readHead(this.cur.fd!, this.buf);
    }
  }

  /** The log's current cursor becomes an old one; the path's new file is read from 0 (opened by poll). */
  private rotate(): void {
    if (this.cur) this.old.push(this.cur);
    this.cur = null;
  }

  private open(atEnd: boolean): Cursor | null {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return null;
    }
    const st = fstatSync(fd);
    let off = 0;
    let skip = false;
    if (atEnd && st.size > 0) {
      off = st.size;
      const n = readSync(fd, this.buf, 0, 1, st.size - 1);
      skip = n === 1 && this.buf[0] !== 0x0a;
    }
    const c = new Cursor(st.dev, st.ino, off, readHead(fd, this.buf), skip);
    c.fd = fd;
    c.lastSize = st.size;
    return c;
  }

  /** Find a persisted cursor's file again: at the path, or beside it under a rotated name. */
  private reattach(c: Cursor): boolean {
    for (const p of [this.path, ...this.siblings()]) {
      const st = statOrUndefined(p);
      if (!st || st.ino !== c.ino || st.dev !== c.dev) continue;
      try {
        c.fd = openSync(p, 'r');
        c.lastSize = fstatSync(c.fd).size;
        return true;
      } catch {
        break;
      }
    }
    this.counters.lostFiles++;
    return false;
  }

  private siblings(): string[] {
    const dir = dirname(this.path);
    const base = basename(this.path);
    try {
      return readdirSync(dir)
        .filter((n) => n !== base && n.startsWith(base) && !/\.(gz|bz2|xz|zst|lz4)$/.test(n))
        .slice(0, MAX_SIBLINGS)
        .map((n) => join(dir, n));
    } catch {
      return [];
    }
  }

  private checkTruncation(c: Cursor): void {
    const size = fstatSync(c.fd!).size;
    const head = readHead(c.fd!, this.buf);
    const headChanged = c.head.length > 0 && (head.length < c.head.length || !head.subarray(0, c.head.length).equals(c.head));
    // Nothing read yet and no head to know the file by: a copy made since the last poll is the only trace of
    // lines written and copied (then truncated) in between.
    const unseenCopy = c.off === 0 && c.head.length === 0 && this.lastPollMs !== undefined ? this.findFreshCopy(this.lastPollMs) : undefined;
    if (size >= c.off && !headChanged && !unseenCopy) return;
    this.counters.truncations++;
    const copy = unseenCopy ?? this.findCopy(c);
    if (copy) this.old.push(copy);
    else this.counters.lostBytes += Math.max(0, c.lastSize - c.off);
    c.off = 0;
    c.skip = false;
    c.head = head;
    c.lastSize = size;
  }

  /** The copy copytruncate made: a file beside the log with our head and at least our offset's length. */
  private findCopy(c: Cursor): Cursor | undefined {
    if (c.head.length === 0) return undefined;
    let best: { fd: number; mtime: number; st: Stats } | undefined;
    for (const p of this.siblings()) {
      let fd: number;
      try {
        fd = openSync(p, 'r');
      } catch {
        continue;
      }
      const st = fstatSync(fd);
      const head = st.ino === c.ino ? undefined : readHead(fd, this.buf);
      if (head && st.size >= c.off && head.length >= c.head.length && head.subarray(0, c.head.length).equals(c.head) && (!best || st.mtimeMs > best.mtime)) {
        if (best) closeSync(best.fd);
        best = { fd, mtime: st.mtimeMs, st };
      } else closeSync(fd);
    }
    if (!best) return undefined;
    const copy = new Cursor(best.st.dev, best.st.ino, c.off, c.head, c.skip);
    copy.fd = best.fd;
    copy.lastSize = best.st.size;
    return copy;
  }

  /** A file beside the log, none of ours, written since `sinceMs`: a copy of a log we had seen empty. */
  private findFreshCopy(sinceMs: number): Cursor | undefined {
    const ours = new Set([this.cur, ...this.old].filter((c) => c !== null).map((c) => `${c.dev}:${c.ino}`));
    for (const p of this.siblings()) {
      const st = statOrUndefined(p);
      if (!st || !st.isFile() || st.size === 0 || st.mtimeMs < sinceMs || ours.has(`${st.dev}:${st.ino}`)) continue;
      try {
        const fd = openSync(p, 'r');
        const copy = new Cursor(st.dev, st.ino, 0, readHead(fd, this.buf), false);
        copy.fd = fd;
        copy.lastSize = st.size;
        return copy;
      } catch {
        // gone again
      }
    }
    return undefined;
  }

  private hasCompleteLine(c: Cursor, size: number): boolean {
    if (size <= c.off) return false;
    const n = readSync(c.fd!, this.buf, 0, Math.min(this.buf.length, size - c.off), c.off);
    return this.buf.subarray(0, n).includes(0x0a);
  }

  /** Whole lines from the cursor on, in chunks of the buffer's size, within the budget. */
  private read(c: Cursor, budget: ReadBudget, sink: LineSink): void {
    const buf = this.buf;
    while (budget.bytes > 0 && performance.now() < budget.deadline) {
      const want = Math.min(buf.length, budget.bytes);
      const n = readSync(c.fd!, buf, 0, want, c.off);
      if (n === 0) return;
      const last = buf.lastIndexOf(0x0a, n - 1);
      if (last < 0) {
        if (n < buf.length) return; // the rest of a line still being written
        if (!c.skip) this.counters.longLines++;
        c.skip = true;
        c.off += n;
        budget.bytes -= n;
        continue;
      }
      let from = 0;
      if (c.skip) {
        from = buf.indexOf(0x0a) + 1;
        c.skip = false;
      }
      if (last > from) sink(buf.toString('latin1', from, last));
      c.off += last + 1;
      budget.bytes -= last + 1;
      if (n < want) return;
    }
  }
}

function readHead(fd: number, buf: Buffer): Buffer {
  const n = readSync(fd, buf, 0, HEAD_BYTES, 0);
  return Buffer.from(buf.subarray(0, n));
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
