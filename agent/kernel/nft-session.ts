// One long-lived `nft -j -i` (interactive mode) that answers `list ...` commands, so reading the bandwidth
// counters every tick costs one netlink dump instead of starting `nft` (and forking the agent) each time:
// measured here for 1,000 counters, about 33 ms of CPU per `nft -j list counters` run against about 5 ms per
// command in one session. nft in interactive mode answers each command with one line of JSON on stdout,
// flushed at once, and refreshes its cache from the kernel for every command (a table replaced by another
// `nft` run is seen by the next command).
//
// The driver API is synchronous, so the answer is read synchronously: the child's stdout and stderr go to a
// FIFO the agent reads without blocking (polled with 1 ms sleeps, bounded by a timeout); its stdin is an
// ordinary pipe from the agent, so nft sees end-of-file and exits when the agent does, and writes to a FIFO
// nobody reads get SIGPIPE. Anything unexpected (an error line instead of JSON, end-of-file, a timeout)
// ends the session and query() returns undefined: the caller runs `nft` once as before, which reports the
// error properly; the next query starts a new session. After three sessions in a row failed to answer,
// none is started again.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleepSync } from './cgroup/control.js';

/** An answer to a query, or undefined when the session could not give one (the caller falls back). */
export interface NftQuery {
  query(command: string): string | undefined;
  close(): void;
}

const MAX_FAILURES = 3;

export class NftSession implements NftQuery {
  private child: ChildProcess | undefined;
  private out = -1;
  private failures = 0;
  private buf = Buffer.allocUnsafe(256 * 1024);

  /** `command`: how to run nft (e.g. ['ip', 'netns', 'exec', NS, 'nft'] in tests); `-j -i` is appended. */
  constructor(
    private readonly command: readonly string[] = ['nft'],
    private readonly timeoutMs = 10_000,
  ) {}

  /** The single line nft printed for `command` (JSON with -j), or undefined. */
  query(command: string): string | undefined {
    if (this.failures >= MAX_FAILURES) return undefined;
    if (!this.child && !this.start()) return this.fail();
    const stdin = this.child!.stdin!;
    stdin.write(`${command}\n`);
    // A small write to an empty pipe is handed to the kernel at once; if it was not, the answer cannot come.
    if (stdin.writableLength > 0 || stdin.destroyed) return this.fail();
    const line = this.readLine();
    if (line === undefined || !line.startsWith('{')) return this.fail();
    this.failures = 0;
    return line;
  }

  close(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
    if (this.out >= 0) closeSync(this.out);
    this.out = -1;
  }

  private fail(): undefined {
    this.failures++;
    this.close();
    return undefined;
  }

  private start(): boolean {
    const dir = mkdtempSync(join(tmpdir(), 'hostwarden-nft-'));
    let w = -1;
    try {
      const fifo = join(dir, 'out');
      if (spawnSync('mkfifo', ['-m', '600', fifo]).status !== 0) return false;
      // The reading end first (non-blocking: opening it does not wait for a writer), then the child's end.
      this.out = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      w = openSync(fifo, constants.O_WRONLY);
      const [cmd, ...args] = this.command;
      const child = spawn(cmd!, [...args, '-j', '-i'], { stdio: ['pipe', w, w] });
      child.on('error', () => {}); // a missing nft: the read sees end-of-file and the caller falls back
      child.stdin!.on('error', () => {}); // EPIPE after nft died: likewise
      child.unref();
      (child.stdin as unknown as { unref?: () => void }).unref?.();
      this.child = child;
      return true;
    } catch {
      return false;
    } finally {
      if (w >= 0) closeSync(w);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Bytes up to the first newline, or undefined on end-of-file, a read error or the timeout. */
  private readLine(): string | undefined {
    const deadline = performance.now() + this.timeoutMs;
    let len = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(this.out, this.buf, len, this.buf.length - len, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return undefined;
        if (performance.now() > deadline) return undefined;
        sleepSync(1);
        continue;
      }
      if (n === 0) return undefined; // every writer is gone: nft exited
      const at = this.buf.subarray(len, len + n).indexOf(10);
      len += n;
      if (at >= 0) {
        const nl = len - n + at;
        // One command, one line: anything after the newline would be out of step with the next command.
        if (nl !== len - 1) return undefined;
        return this.buf.toString('utf8', 0, nl);
      }
      if (len === this.buf.length) {
        const bigger = Buffer.allocUnsafe(this.buf.length * 2);
        this.buf.copy(bigger, 0, 0, len);
        this.buf = bigger;
      }
    }
  }
}
