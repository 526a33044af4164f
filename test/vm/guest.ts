// Helpers of the VM tier (test/vm/**). These tests run only inside the guest that scripts/vm/run.sh boots
// (`npm run test:vm`): a real cgroup v2 hierarchy at /sys/fs/cgroup with cpu io memory pids enabled in the
// root, a scratch ext4 disk with quotas, and a private network stack. Limits always go through the project's
// driver; the raw reads here only verify what the kernel did, independently of the driver's own parsers.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll } from 'vitest';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import type { CgroupDriver } from '../../agent/kernel/cgroup/driver.js';

export { sleep };

export const CGROUP_ROOT = '/sys/fs/cgroup';
export const PROC_ROOT = '/proc';
/** The guest's scratch disk (run.sh makes it: ext4, quota feature, mounted with usrquota,grpquota). */
export const SCRATCH = process.env.HOSTWARDEN_VM_SCRATCH ?? '/mnt/scratch';
export const SCRATCH_DEV = process.env.HOSTWARDEN_VM_SCRATCH_DEV ?? '/dev/vda';
const NEEDED_CONTROLLERS = ['cpu', 'io', 'memory', 'pids'];

/**
 * Throws, with what is wrong and how to run these tests, unless this is the VM tier's guest. Every test file
 * calls it at the top: outside the guest the files fail loudly instead of touching the host's cgroups.
 */
export function requireGuest(): void {
  const how = 'test/vm/** runs only inside the VM tier guest: use `npm run test:vm` (scripts/vm/test-vm.sh)';
  if (process.env.HOSTWARDEN_VM !== '1') throw new Error(`${how}; HOSTWARDEN_VM=1 is not set here`);
  let controllers: string[];
  let enabled: string[];
  try {
    controllers = readFileSync(join(CGROUP_ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/).filter(Boolean);
    enabled = readFileSync(join(CGROUP_ROOT, 'cgroup.subtree_control'), 'utf8').split(/\s+/).filter(Boolean);
  } catch (err) {
    throw new Error(`${how}; ${CGROUP_ROOT} is not a cgroup2 root: ${(err as Error).message}`);
  }
  const missing = NEEDED_CONTROLLERS.filter((c) => !controllers.includes(c) || !enabled.includes(c));
  if (missing.length > 0) {
    throw new Error(`${how}; ${CGROUP_ROOT} lacks controllers ${missing.join(', ')} (cgroup.controllers: "${controllers.join(' ')}", subtree_control: "${enabled.join(' ')}")`);
  }
  if (process.getuid?.() !== 0) throw new Error(`${how}; must run as root`);
}

/** A parent cgroup name no one else uses: hostwarden-t<random>. */
export function uniqueParent(): string {
  return `hostwarden-t${randomBytes(4).toString('hex')}`;
}

// --- raw reads, for verification --------------------------------------------------------------------------
export function cgDir(parent: string, tenant?: string): string {
  return tenant === undefined ? join(CGROUP_ROOT, parent) : join(CGROUP_ROOT, parent, tenant);
}

/** A flat-keyed file ("key value" lines: cpu.stat, memory.events, memory.stat, pids.events) as numbers. */
export function readKeyed(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** One number from a single-value file (memory.current, pids.current). */
export function readNumber(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

/** The fields of a PSI line ("some avg10=0.12 avg60=0.05 avg300=0.01 total=12345"), all of them. */
export interface RawPsiLine {
  avg10: number;
  avg60: number;
  avg300: number;
  total: number;
}

/** A PSI file (cpu.pressure, /proc/pressure/io) read raw: its lines by kind ('some', 'full'). */
export function readPsiFile(file: string): Record<string, RawPsiLine> {
  const out: Record<string, RawPsiLine> = {};
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    const [kind, ...fields] = line.trim().split(/\s+/);
    const f = Object.fromEntries(fields.map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
    out[kind!] = { avg10: f.avg10, avg60: f.avg60, avg300: f.avg300, total: f.total };
  }
  return out;
}

export function usageUsec(parent: string, tenant: string): number {
  const v = readKeyed(join(cgDir(parent, tenant), 'cpu.stat')).usage_usec;
  if (v === undefined) throw new Error(`no usage_usec in ${cgDir(parent, tenant)}/cpu.stat`);
  return v;
}

/** CPU use of a cgroup in percent of one core over `ms` of wall time, from usage_usec. */
export async function measureCpuPercent(parent: string, tenant: string, ms: number): Promise<number> {
  const u0 = usageUsec(parent, tenant);
  const t0 = performance.now();
  await sleep(ms);
  const u1 = usageUsec(parent, tenant);
  const t1 = performance.now();
  return ((u1 - u0) / ((t1 - t0) * 1000)) * 100;
}

/** A tenant's io.stat counters for one device (rbytes wbytes rios wios dbytes dios), raw; {} before any IO. */
export function readIoStat(parent: string, tenant: string, dev: { major: number; minor: number }): Record<string, number> {
  const line = readFileSync(join(cgDir(parent, tenant), 'io.stat'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${dev.major}:${dev.minor} `));
  const out: Record<string, number> = {};
  for (const kv of (line ?? '').split(' ').slice(1)) {
    const [k, v] = kv.split('=');
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** major:minor of a block device node. */
export function deviceNumbers(dev: string): { major: number; minor: number } {
  const name = dev.replace(/^\/dev\//, '');
  const text = readFileSync(`/sys/class/block/${name}/dev`, 'utf8').trim();
  const [major, minor] = text.split(':').map(Number);
  if (major === undefined || minor === undefined || Number.isNaN(major) || Number.isNaN(minor)) throw new Error(`cannot read the device number of ${dev}: "${text}"`);
  return { major, minor };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead for our purposes.
  try {
    return !/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Poll until `cond` holds or `ms` passes; returns whether it held. */
export async function waitFor(cond: () => boolean, ms: number, every = 50): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (cond()) return true;
    await sleep(every);
  }
  return cond();
}

// --- processes in tenant cgroups --------------------------------------------------------------------------
export interface Started {
  pid: number;
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Start `script` with /bin/sh inside the tenant's cgroup: the shell is held on a gate (it reads a line from
 * stdin) until the driver has moved it, so not one instruction of the script runs outside the cgroup.
 * `uid` runs it as that user (setpriv), e.g. for placement and quota tests.
 */
export async function startIn(driver: CgroupDriver | undefined, tenant: string, script: string, opts: { uid?: number; cwd?: string } = {}): Promise<Started> {
  const inner = opts.uid === undefined ? ['/bin/sh', '-c', script] : ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', '/bin/sh', '-c', script];
  const child = spawn('/bin/sh', ['-c', 'read -r _ && exec "$@"', 'hw-gate', ...inner], { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid!;
  if (driver) driver.move(tenant, pid);
  child.stdin!.end('go\n');
  return { pid, child, output: () => out, exited };
}

/** Wait until the process runs `comm` (its exec through the gate and the shell is done); false on timeout. */
export function execDone(p: Started, comm: string, ms = 10_000): Promise<boolean> {
  return waitFor(() => {
    try {
      return readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === comm;
    } catch {
      return false;
    }
  }, ms);
}

/** A shell loop that burns one CPU until killed. */
export const BURNER = 'while :; do :; done';

// --- cleanup ---------------------------------------------------------------------------------------------
/** Kill the test's own children by PID (never by name). */
export function killAll(started: Started[]): void {
  for (const s of started) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

/**
 * Remove the test's parent cgroup and everything below it even when the driver or a test failed: thaw, kill
 * (cgroup.kill), wait until empty, rmdir deepest first. Only ever touches a `hostwarden-t<hex>` parent.
 */
export async function destroyParent(parent: string): Promise<void> {
  if (!/^hostwarden-t[0-9a-f]+$/.test(parent)) throw new Error(`refusing to destroy ${parent}: not a test parent`);
  const root = cgDir(parent);
  if (!existsSync(root)) return;
  const dirs: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    dirs.push(dir);
  };
  walk(root);
  for (const dir of dirs) {
    tryWrite(join(dir, 'cgroup.freeze'), '0');
    tryWrite(join(dir, 'cgroup.kill'), '1');
  }
  for (const dir of dirs) {
    await waitFor(() => !/populated 1/.test(safeRead(join(dir, 'cgroup.events'))), 5000);
    try {
      rmdirSync(dir);
    } catch (err) {
      throw new Error(`cannot remove test cgroup ${dir}: ${(err as Error).message}`);
    }
  }
}

function tryWrite(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch {
    // the file may not exist in the parent (cgroup.freeze does not exist in the root only)
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

// --- the driver under test -------------------------------------------------------------------------------
/** The project's cgroup driver on the guest's real v2 hierarchy, under a fresh test parent (set up). */
export function openDriver(parent = uniqueParent()): CgroupDriver {
  const driver = createDriver({ cgroupRoot: CGROUP_ROOT, procRoot: PROC_ROOT, parent, driver: 'v2' });
  driver.setup();
  return driver;
}

/** Run a command, return its stdout; throws with its stderr on failure. */
export function run(cmd: string, args: string[], opts: { input?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function isBlockDevice(path: string): boolean {
  try {
    return statSync(path).isBlockDevice();
  } catch {
    return false;
  }
}

/** What a test file's tenants need: the driver (set up before the tests), and processes started in tenants. */
export interface TenantScope {
  readonly driver: CgroupDriver;
  /** startIn() with this scope's driver; the process is killed after the file's tests. */
  start(tenant: string, script: string, opts?: { uid?: number; cwd?: string }): Promise<Started>;
  /** Processes started so far (for tests that start them another way and want them killed too). */
  readonly started: Started[];
}

/**
 * The usual frame of a VM test file: before the tests a v2 driver under a fresh parent with `tenants` created;
 * after them (even on failure) every started process killed and the whole parent removed.
 */
export function tenantScope(tenants: string[]): TenantScope {
  let driver: CgroupDriver | undefined;
  const started: Started[] = [];
  beforeAll(() => {
    driver = openDriver();
    for (const t of tenants) driver.create(t);
  });
  afterAll(async () => {
    killAll(started);
    if (driver) await destroyParent(driver.parent);
  });
  return {
    get driver(): CgroupDriver {
      if (!driver) throw new Error('tenantScope: the driver exists only inside tests (beforeAll has not run)');
      return driver;
    },
    async start(tenant, script, opts) {
      const p = await startIn(this.driver, tenant, script, opts);
      started.push(p);
      return p;
    },
    started,
  };
}
