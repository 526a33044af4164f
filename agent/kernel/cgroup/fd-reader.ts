// Stats files kept open and re-read with a positional read at offset 0 into one reused buffer. A kernfs/procfs
// seq_file regenerates its text when read from offset 0, so every read() is fresh, and it costs one pread(2)
// instead of open+fstat+read+close (readFileSync). A file that does not exist, or that the kernel declines to
// show (EOPNOTSUPP: PSI disabled for the cgroup), is "no data": read() returns undefined, never throws.
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { CgroupError } from './driver.js';

/** One buffer for every reader: reads are synchronous and the text is decoded before the next read. */
let shared = Buffer.allocUnsafe(16 * 1024);

/** Errors that mean "this file has nothing for us", not a failure. */
const NO_DATA_ERRNOS = new Set(['ENOENT', 'EOPNOTSUPP', 'ENOTSUP']);
const NO_DATA = -1;
const REOPEN = -2;

export class KeptFile {
  private fd = -1;

  constructor(readonly path: string) {
    this.open();
  }

  /** Whether the file existed when opened (or last reopened). */
  get present(): boolean {
    return this.fd >= 0;
  }

  private open(): void {
    try {
      this.fd = openSync(this.path, constants.O_RDONLY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        this.fd = -1;
        return;
      }
      if (code === 'EMFILE' || code === 'ENFILE') {
        throw new CgroupError(
          `cannot keep ${this.path} open: too many open files (${code}); every tenant keeps about 11 stats files open, and ` +
            "placement the cgroup.procs of the last 1,024 tenants placed into, so raise the descriptor limit (systemd LimitNOFILE, ulimit -n) to at least 11 x tenants + 8200",
          { cause: err, code: 'HW_CGROUP_FDS' },
        );
      }
      throw new CgroupError(`cannot open ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The file's current text (latin1: the kernel writes ASCII), or undefined when there is none. */
  read(): string | undefined {
    if (this.fd < 0) return undefined;
    let n = this.readAtZero();
    if (n === REOPEN) {
      // The cgroup was removed under us (and maybe created again): reopen by path, once.
      this.close();
      this.open();
      if (this.fd < 0) return undefined;
      n = this.readAtZero();
    }
    return n < 0 ? undefined : shared.toString('latin1', 0, n);
  }

  /** Bytes read into `shared`, NO_DATA, or REOPEN (ENODEV). */
  private readAtZero(): number {
    try {
      let n = readSync(this.fd, shared, 0, shared.length, 0);
      while (n === shared.length) {
        // Larger than the buffer: grow and read the whole text again from 0, so it is one consistent snapshot.
        shared = Buffer.allocUnsafe(shared.length * 2);
        n = readSync(this.fd, shared, 0, shared.length, 0);
      }
      return n;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (NO_DATA_ERRNOS.has(code)) return NO_DATA;
      if (code === 'ENODEV') return REOPEN;
      throw new CgroupError(`cannot read ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  close(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } finally {
        this.fd = -1;
      }
    }
  }
}
