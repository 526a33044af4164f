// Keeps the web server's generated include equal to what the policy wants, and nothing else.
//
// The swap: the new text goes to `.NAME.tmp` beside the include (a hidden name no `*.conf` glob picks up),
// is renamed over the include (atomic on one filesystem), and the configured check (`nginx -t`, which reads
// the server's whole configuration and so the new include in its place) runs; only when it passes does the
// reload run. When it fails, the previous text is put back the same way (temp file, rename) before anything
// reloads, and the check's output is logged; the same text is not tried again until it changes or a minute
// has passed. nginx reads the include only on a reload or a restart, so the unchecked text is never served by
// a reload of ours; a restart by someone else inside that window (the check's run time) would read it.
//
// At start the agent checks and reloads once, even when the file already holds the right text (see the
// constructor). The agent writes only a file it created: at start, a file at the include path that does not begin with the
// generated header is left alone and nothing is written (an error says so). With no tenant held the include
// still exists, holding only comments, so an `include` line pointing at it stays valid.
// --dry-run logs what it would write and writes nothing. The commands run synchronously with a timeout; they
// run only when the text changes (a limit set, changed or released), never on a quiet tick.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { WebServerConfig } from './config.js';
import { INCLUDE_HEADER, renderNginxInclude, type WebLimit } from './nginx.js';

const RETRY_MS = 60_000;

export interface WebServerStatus {
  /** The text in force (checked and reloaded), or undefined before the first success. */
  applied: string | undefined;
  /** Why the last attempt failed, or undefined. */
  error: string | undefined;
  /** Tenants held by the text in force. */
  tenants: string[];
}

export class WebServerLimits {
  private applied: string | undefined;
  private failed: { text: string; at: number } | undefined;
  private error: string | undefined;
  private tenants: string[] = [];
  private lastProblems = '';
  private readonly tmp: string;
  /** False when the include path holds a file the agent did not write: then it writes nothing, ever. */
  private readonly owned: boolean;

  constructor(
    private readonly config: WebServerConfig,
    private readonly log: Logger,
    private readonly dryRun: boolean,
    private readonly now: () => number = Date.now,
  ) {
    this.tmp = join(dirname(config.include), `.${basename(config.include)}.tmp`);
    const current = readText(config.include);
    this.owned = current === undefined || current.startsWith(INCLUDE_HEADER);
    if (!this.owned) {
      this.error = `${config.include} exists and was not written by hostwarden-agent (no "${INCLUDE_HEADER}" first line): left alone, no tenant is held at the web server`;
      this.log.error({ include: config.include }, this.error);
    }
    // `applied` starts undefined even when the file already holds the right text: an agent stopped between
    // the swap and the reload left a file nginx may not have loaded, so the first reconcile checks and reloads
    // once (without rewriting an unchanged file).
  }

  status(): WebServerStatus {
    return { applied: this.applied, error: this.error, tenants: [...this.tenants] };
  }

  /** Make the include hold exactly `limits` (tenants not listed are released). */
  reconcile(limits: readonly WebLimit[]): void {
    if (!this.owned) return;
    const rendered = renderNginxInclude(limits, { perClient: this.config.perClient });
    const problems = rendered.problems.join('; ');
    if (problems !== this.lastProblems && problems !== '') this.log.warn({ problems: rendered.problems }, 'some API limits cannot be held at the web server');
    this.lastProblems = problems;
    const text = rendered.text;
    if (text === this.applied) return;
    if (this.failed?.text === text && this.now() - this.failed.at < RETRY_MS) return;
    if (this.dryRun) {
      this.log.info({ include: this.config.include, tenants: rendered.tenants }, 'dry-run: would write the web server include and reload');
      this.applied = text;
      return;
    }
    const previous = readText(this.config.include);
    const unchanged = previous === text;
    try {
      if (!unchanged) this.swapIn(text);
      const check = this.run(this.config.check);
      if (check && unchanged) throw new Error(`the check (${this.config.check.join(' ')}) refuses the server's configuration with the include as it is: ${check}`);
      if (check) {
        if (previous === undefined) rmSync(this.config.include, { force: true });
        else this.swapIn(previous);
        throw new Error(`the check (${this.config.check.join(' ')}) refused the new include, the previous one is back in place: ${check}`);
      }
      const reload = this.run(this.config.reload);
      if (reload) throw new Error(`the new include passed the check but the reload (${this.config.reload.join(' ')}) failed: ${reload}`);
      this.applied = text;
      this.tenants = rendered.tenants;
      this.failed = undefined;
      this.error = undefined;
      this.log.info({ include: this.config.include, tenants: rendered.tenants }, 'web server API limits applied');
    } catch (err) {
      rmSync(this.tmp, { force: true });
      const msg = (err as Error).message;
      this.failed = { text, at: this.now() };
      if (msg !== this.error) this.log.error({ include: this.config.include, err: msg }, 'cannot apply the web server API limits; will retry when they change or in a minute');
      this.error = msg;
    }
  }

  private swapIn(text: string): void {
    writeFileSync(this.tmp, text, { mode: 0o644 });
    renameSync(this.tmp, this.config.include);
  }

  /** Run a command; undefined when it exited 0, else what went wrong (its output's last lines). */
  private run(cmd: readonly string[]): string | undefined {
    const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: this.config.timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) return `cannot run ${cmd[0]}: ${r.error.message}`;
    if (r.status === 0) return undefined;
    const out = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(-5).join(' | ').slice(0, 2000);
    return `exit ${r.status ?? r.signal}: ${out}`;
  }
}

function readText(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
