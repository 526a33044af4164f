// The controller under fuzz: the built binary on a loopback port with a real SQLite file in a temp state dir,
// two agent hosts (hosta, hostb) and an admin, each with a token of its own. It can be stopped, killed (a hung
// controller ignores SIGTERM), started again on the same state dir, or moved to a fresh one when the old state
// no longer starts: the harness goes on and reports what it saw instead of hanging.
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Cleanup, listeningUrl, startDaemon, writeToken, type Daemon } from '../../helpers/system.js';
import { sendRaw } from './raw-http.js';

export const CONTROLLER_BIN = 'controller/bin/hostwarden-controller.js';
export const HOST_A = 'hosta';
export const HOST_B = 'hostb';

export type Who = 'hostA' | 'hostB' | 'admin' | 'none' | 'wrong';

export interface StartResult {
  ok: boolean;
  /** Why not: the exit code and the last lines of its output, or a timeout. */
  why?: string;
  ms: number;
}

export class FuzzController {
  port = 0;
  stateDir = '';
  readonly tokens: Record<Exclude<Who, 'none'>, string> = { admin: '', hostA: '', hostB: '', wrong: 'wrong-token-0123456789abcdef0123456789abcdef' };
  private daemon: Daemon | undefined;
  /** Output of the controllers of this run that ended, oldest first. */
  private ended = '';
  private generation = 0;
  private config = '';

  constructor(
    private readonly cleanup: Cleanup,
    readonly dir: string,
  ) {}

  async init(): Promise<void> {
    mkdirSync(join(this.dir, 'etc'), { recursive: true });
    this.tokens.admin = writeToken(join(this.dir, 'etc', 'admin.token'));
    this.tokens.hostA = writeToken(join(this.dir, 'etc', 'agent-a.token'));
    this.tokens.hostB = writeToken(join(this.dir, 'etc', 'agent-b.token'));
    // A tiny built dashboard (ui.dir), so that /ui/ and /t/{token} serve pages whether or not dist/ui was built.
    mkdirSync(join(this.dir, 'ui', 'assets'), { recursive: true });
    writeFileSync(join(this.dir, 'ui', 'index.html'), '<!DOCTYPE html><title>admin</title>\n');
    writeFileSync(join(this.dir, 'ui', 'tenant.html'), '<!DOCTYPE html><title>tenant</title>\n');
    writeFileSync(join(this.dir, 'ui', 'assets', 'app.js'), 'export {};\n');
    this.fresh();
  }

  /** A new, empty state dir for the next start (the old one stays for the findings). */
  fresh(): void {
    this.generation++;
    this.stateDir = join(this.dir, `state-${this.generation}`);
    this.config = join(this.dir, `controller-${this.generation}.yaml`);
    writeFileSync(
      this.config,
      `listen: 127.0.0.1:0
state_dir: ${this.stateDir}
admin_token_file: ${join(this.dir, 'etc', 'admin.token')}
agents:
  - { host: ${HOST_A}, token_file: ${join(this.dir, 'etc', 'agent-a.token')} }
  - { host: ${HOST_B}, token_file: ${join(this.dir, 'etc', 'agent-b.token')} }
ui: { dir: ${join(this.dir, 'ui')} }
log_level: info
`,
    );
  }

  get running(): boolean {
    const c = this.daemon?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Output of the running (or last) controller. */
  output(): string {
    return this.daemon?.output() ?? '';
  }

  /** Output of every controller of this run, oldest first (only ever grows). */
  allOutput(): string {
    return this.ended + this.output();
  }

  /** Start on the current state dir; ok once /healthz answers 200 (within 30 s). */
  async start(): Promise<StartResult> {
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    this.ended += this.output();
    const daemon = startDaemon(this.cleanup, CONTROLLER_BIN, ['--config', this.config]);
    this.daemon = daemon;
    // Port 0: the kernel picks a free port while the controller binds it; its log line says which.
    try {
      this.port = Number(new URL(await listeningUrl(daemon, 30_000)).port);
    } catch (err) {
      this.kill();
      return { ok: false, why: (err as Error).message.split('\n')[0] ?? 'did not listen', ms: ms() };
    }
    let exited = false;
    void daemon.exited.then(() => (exited = true));
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      if (exited) return { ok: false, why: `exited with ${daemon.child.exitCode ?? daemon.child.signalCode}: ${lastWords(daemon.output())}`, ms: ms() };
      if (await this.healthy(1000)) return { ok: true, ms: ms() };
      await new Promise((r) => setTimeout(r, 100));
    }
    this.kill();
    return { ok: false, why: `no /healthz answer within 30 s: ${tail(daemon.output())}`, ms: ms() };
  }

  async healthy(timeoutMs = 10_000): Promise<boolean> {
    const r = await sendRaw(this.port, { method: 'GET', target: '/healthz', headers: [] }, timeoutMs);
    return r.kind === 'answer' && r.status === 200;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; says which ended it. */
  async stop(graceMs = 10_000): Promise<{ graceful: boolean; code: number | null }> {
    const d = this.daemon;
    if (!d || !this.running) return { graceful: true, code: d?.child.exitCode ?? null };
    d.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<'killed'>((r) => (timer = setTimeout(() => r('killed'), graceMs)));
    const how = await Promise.race([d.exited.then(() => 'exited' as const), killed]);
    clearTimeout(timer);
    if (how === 'killed') {
      d.child.kill('SIGKILL');
      await d.exited;
      return { graceful: false, code: null };
    }
    return { graceful: true, code: d.child.exitCode };
  }

  /** SIGKILL (a hung controller spins and ignores SIGTERM). */
  kill(): void {
    if (this.running) this.daemon!.child.kill('SIGKILL');
  }

  async killAndWait(): Promise<void> {
    const d = this.daemon;
    if (!d) return;
    this.kill();
    await d.exited;
  }
}

/** What a program said last on its own (a line that is not a JSON log line), else its last log line. */
export function lastWords(output: string): string {
  const lines = output.trim().split('\n');
  return (lines.filter((l) => !l.startsWith('{')).at(-1) ?? lines.at(-1) ?? '').slice(0, 500);
}

/** The last lines of a daemon's output, for a message. */
export function tail(output: string, lines = 6): string {
  return output.trim().split('\n').slice(-lines).join('\n').slice(-2000);
}
