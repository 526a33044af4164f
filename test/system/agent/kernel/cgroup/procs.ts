// Real processes for the cgroup system tests: spawn, place, measure, and always kill (thawing first).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CgroupDriver } from '../../../../../agent/kernel/cgroup/driver.js';
import { hostIdleSeconds, reachedUnlessBusy } from '../../../../helpers/system.js';

/** A parent cgroup name no one else uses. */
export function uniqueParent(): string {
  return `hostwarden-t${randomBytes(4).toString('hex')}`;
}

export const BUSY_LOOP = ['sh', ['-c', 'while :; do :; done']] as const;
export const SLEEPER = ['sleep', ['600']] as const;
/**
 * A node process that, once told "go" on stdin, holds `mb` MiB of touched anonymous memory and prints "ready".
 * It waits because v1 memory charges stay where they were made: allocate only after the move.
 */
export function memoryHog(mb: number): readonly [string, string[]] {
  return [
    process.execPath,
    ['-e', `process.stdin.once('data', () => { const b = Buffer.alloc(${mb} * 1048576, 1); console.log('ready'); setInterval(() => b[0]++, 1000); });`],
  ];
}

/** Tell a waiting process (memoryHog, a `read go` script) to go. */
export function go(child: ChildProcess): void {
  child.stdin!.write('go\n');
}

export class Procs {
  private readonly children: ChildProcess[] = [];

  start([cmd, args]: readonly [string, readonly string[]]): ChildProcess {
    const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'ignore'] });
    if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
    this.children.push(child);
    return child;
  }

  /** Start a process and move it into the tenant's cgroup. */
  startIn(driver: CgroupDriver, tenant: string, what: readonly [string, readonly string[]]): ChildProcess {
    const child = this.start(what);
    driver.move(tenant, child.pid!);
    return child;
  }

  /** SIGKILL every process started here and wait until each has exited (callers thaw first). */
  async killAll(): Promise<void> {
    await Promise.all(this.children.splice(0).map((c) => killAndWait(c)));
  }
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await exited(child);
}

/** Resolves when the child prints `line` on stdout. */
export function printed(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(line)) resolve();
    });
    child.once('exit', () => reject(new Error(`process exited before printing ${line}`)));
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A tenant's CPU use over `ms` and, over the same window, the CPU the host left idle (both % of one core):
 * with `expectReached` a floor is checked only where the host had idle CPU to give (a loaded 2-core machine
 * may starve the burner; then the test claims nothing about the floor).
 */
export async function cpuAndIdle(driver: CgroupDriver, tenant: string, ms: number): Promise<{ pct: number; idle: number }> {
  const r = driver.openStats(tenant);
  try {
    const a = r.read().cpuUsageUsec!;
    const idle0 = hostIdleSeconds();
    const t0 = process.hrtime.bigint();
    await sleep(ms);
    const b = r.read().cpuUsageUsec!;
    const idle1 = hostIdleSeconds();
    const wallUsec = Number(process.hrtime.bigint() - t0) / 1000;
    return { pct: ((b - a) / wallUsec) * 100, idle: ((idle1 - idle0) * 1e6 / wallUsec) * 100 };
  } finally {
    r.close();
  }
}

/** `measured` reached `floor`, or the host had no idle CPU that could have made up the shortfall. */
export function expectReached(m: { pct: number; idle: number }, floor: number): void {
  const verdict = reachedUnlessBusy(m.pct, m.idle, floor);
  expect(verdict.ok, verdict.why).toBe(true);
}

/** The path of a process's cgroup per hierarchy, keyed by controller list ("" for v2) from /proc/PID/cgroup. */
export function cgroupsOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, ctrl, path] = /^\d+:([^:]*):(.*)$/.exec(line)!;
    out[ctrl!] = path!;
  }
  return out;
}

/**
 * afterAll of a driver suite: thaw every tenant, kill the processes started, remove every tenant (killing what
 * is left), tear the parent down, then force-remove whatever is still there. Returns the problems met.
 */
export async function cleanupSuite(driver: CgroupDriver | undefined, procs: Procs, roots: string[], parent: string): Promise<string[]> {
  const problems: string[] = [];
  for (const t of driver?.list() ?? []) {
    try {
      driver!.thaw(t);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  await procs.killAll();
  for (const t of driver?.list() ?? []) {
    try {
      driver!.remove(t, { kill: true });
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  try {
    driver?.teardown();
  } catch (err) {
    problems.push((err as Error).message);
  }
  problems.push(...forceRemoveParent(roots, parent));
  return problems;
}

/**
 * Last-resort cleanup after a failed test: thaw, kill and remove whatever is left of `parent` (only that
 * name, which the test made unique) in every hierarchy root given. Errors are collected, not thrown.
 */
export function forceRemoveParent(roots: string[], parent: string): string[] {
  const problems: string[] = [];
  for (const root of roots) {
    const dir = join(root, parent);
    if (!existsSync(dir)) continue;
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      if (!ent.isDirectory()) continue;
      const child = join(dir, ent.name);
      for (const [file, value] of [['freezer.state', 'THAWED'], ['cgroup.freeze', '0'], ['cgroup.kill', '1']] as const) {
        if (existsSync(join(child, file))) {
          try {
            writeFile(join(child, file), value);
          } catch (err) {
            problems.push(`${join(child, file)}: ${(err as Error).message}`);
          }
        }
      }
      for (const pid of readPidsQuiet(join(child, 'cgroup.procs'))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }
  // give killed tasks a moment to exit, then remove bottom-up
  const deadline = Date.now() + 3000;
  for (const root of roots) {
    const dir = join(root, parent);
    if (!existsSync(dir)) continue;
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      if (!ent.isDirectory()) continue;
      for (;;) {
        try {
          rmdirSync(join(dir, ent.name));
          break;
        } catch (err) {
          if (Date.now() > deadline) {
            problems.push(`${join(dir, ent.name)}: ${(err as Error).message}`);
            break;
          }
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
      }
    }
    try {
      rmdirSync(dir);
    } catch (err) {
      problems.push(`${dir}: ${(err as Error).message}`);
    }
  }
  return problems;
}

function writeFile(path: string, value: string): void {
  // O_WRONLY|O_TRUNC without O_CREAT, as on cgroupfs
  const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

function readPidsQuiet(file: string): number[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
