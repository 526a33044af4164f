// The policy pull, off the tick's path. A pull (up to the controller timeout, 5 s by default) runs in the
// background while the agent places, collects, evaluates, enforces and spools with the last policy it has; the
// first tick after the answer arrived takes it. At most one pull is in flight, so a hung controller costs one
// outstanding request, never a longer tick. stop() cancels the pull in flight and waits until it has settled.
import type { PolicyPullResult } from './reporter.js';

export type PullFn = (cancel: AbortSignal) => Promise<PolicyPullResult>;

export class PolicyPull {
  private inFlight: Promise<void> | undefined;
  private arrived: PolicyPullResult | undefined;
  private readonly cancel = new AbortController();

  constructor(private readonly pull: PullFn) {}

  /** Start a pull unless one is in flight (or the pull was stopped). */
  start(): void {
    if (this.inFlight || this.cancel.signal.aborted) return;
    this.inFlight = this.pull(this.cancel.signal)
      .then(
        (r) => {
          this.arrived = r;
        },
        (err: unknown) => {
          this.arrived = { policy: undefined, changed: false, error: `policy: ${err instanceof Error ? err.message : String(err)}` };
        },
      )
      .finally(() => {
        this.inFlight = undefined;
      });
  }

  /** Whether a pull is on its way. */
  get pending(): boolean {
    return this.inFlight !== undefined;
  }

  /** The answer that arrived since the last take, if any (each answer is taken once). */
  take(): PolicyPullResult | undefined {
    const r = this.arrived;
    this.arrived = undefined;
    return r;
  }

  /** Wait for the pull in flight, if any (the --once tick, which must include a pull). */
  async settled(): Promise<void> {
    await this.inFlight;
  }

  /** Cancel the pull in flight and start no more; resolves when it has settled. */
  async stop(): Promise<void> {
    this.cancel.abort();
    await this.inFlight;
  }
}
