// Writes due rollups between requests: one host per turn of the event loop, so a flush never holds up
// more than one host's worth of writes in front of a waiting report.
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';

export class Flusher {
  private scheduled = false;
  private failing = false;

  private readonly log: Logger | undefined;
  private readonly onFlushed: ((hosts: number) => void) | undefined;
  private readonly auto: boolean;

  /** `auto: false` leaves flushing to explicit calls (tests that step through rollups). */
  constructor(
    private readonly store: Store,
    opts: { log?: Logger | undefined; onFlushed?: (hosts: number) => void; auto?: boolean } = {},
  ) {
    this.log = opts.log;
    this.onFlushed = opts.onFlushed;
    this.auto = opts.auto ?? true;
  }

  /** Schedule a flush if some host is due (cheap to call after every report). */
  kick(): void {
    if (!this.auto || this.scheduled || this.failing || !this.store.flushDue()) return;
    this.scheduled = true;
    setImmediate(() => void this.run());
  }

  private async run(): Promise<void> {
    try {
      const r = await this.store.flush({ maxHosts: 1 });
      if (r.hosts) this.onFlushed?.(r.hosts);
    } catch (err) {
      // Leave it to the periodic flush (server.ts) instead of spinning on a failing disk.
      this.failing = true;
      this.log?.error({ err }, 'rollup flush failed; will retry on the periodic flush');
    } finally {
      this.scheduled = false;
    }
    this.kick();
  }

  /** The periodic pass: also flushes hosts that went silent; clears a failure. */
  async periodic(): Promise<void> {
    this.failing = false;
    let remaining = 1;
    while (remaining > 0) {
      const r = await this.store.flush({ maxHosts: 1 });
      if (r.hosts) this.onFlushed?.(r.hosts);
      remaining = r.hosts ? r.remaining : 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
