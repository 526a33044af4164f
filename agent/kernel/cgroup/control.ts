// Thin I/O on cgroup control files shared by both backends: read, write with the errno turned into a clear
// error, mkdir/rmdir, bounded waiting, killing. Nothing here decides policy.
import { closeSync, constants, mkdirSync, openSync, readdirSync, readSync, rmdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { NAME_RE, type KernelPressure as Pressure } from '../../../shared/wire/agent.js';
import { PSI_RESOURCES } from '../../../shared/resources.js';
import { CgroupError, type CgroupLogger } from './driver.js';
import { CgroupBusyError, CgroupTimeoutError, CgroupUnsupportedError, CgroupWriteError, InvalidTenantError, NoSuchProcessError } from './errors.js';
import { KeptFile } from './fd-reader.js';
import { parsePidList, parsePsi } from './parse.js';

export const DEFAULT_FREEZE_TIMEOUT_MS = 2000;
export const DEFAULT_KILL_TIMEOUT_MS = 5000;

const TENANT_NAME = NAME_RE;

/** Throws unless `tenant` is safe as one path component (checked before any path is built). */
export function assertTenantName(tenant: string): void {
  if (typeof tenant !== 'string' || !TENANT_NAME.test(tenant) || tenant === '.' || tenant === '..') throw new InvalidTenantError(String(tenant));
}

/** A parent name follows the same rule (it is one directory directly under each hierarchy root). */
/**
 * A parent is one cgroup name, or a path of names (systemd hosts: `hostwarden.slice/hostwarden-tenants.service/
 * hostwarden`, whose leading part the delegating unit holds; only the last name is ever created).
 */
export function assertParentName(parent: string): void {
  if (typeof parent !== 'string' || parent.length > 512 || !parent.split('/').every(isTenantName)) {
    throw new CgroupError(`invalid parent cgroup name ${JSON.stringify(parent)}: must be names matching ${TENANT_NAME.source}, separated by "/"`);
  }
}

export function isTenantName(name: string): boolean {
  return TENANT_NAME.test(name) && name !== '.' && name !== '..';
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'EIO';
}

/** One buffer for every readControl (reads are synchronous; the text is decoded before the next read). */
let readBuf = Buffer.allocUnsafe(16 * 1024);

/**
 * Text of a control file, or undefined when it does not exist. open, read(2) into a reused buffer until
 * end-of-file, close: cheaper than readFileSync, which also fstat()s and concatenates chunks for these files
 * (cgroupfs and procfs report a size of 0 or 4096 whatever they hold). Used by the limit re-verification,
 * placement's /proc/PID/cgroup and cgroup.procs reads.
 */
export function readControl(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENODEV') return undefined;
    throw new CgroupError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    let len = 0;
    for (;;) {
      if (len === readBuf.length) {
        const bigger = Buffer.allocUnsafe(readBuf.length * 2);
        readBuf.copy(bigger, 0, 0, len);
        readBuf = bigger;
      }
      const n = readSync(fd, readBuf, len, readBuf.length - len, null);
      if (n === 0) break;
      len += n;
    }
    return readBuf.toString('latin1', 0, len);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENODEV') return undefined;
    throw new CgroupError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

/**
 * Write one value to a control file in a single write(2). The file must exist (O_WRONLY|O_TRUNC, never
 * O_CREAT): on cgroupfs a missing file means the controller is absent, and creating it would hide that.
 * `what` says what was being done, for the message.
 */
export function writeControl(path: string, value: string, what: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new CgroupUnsupportedError(`cannot ${what}: ${path} does not exist (controller not available here?)`, { cause: err });
    throw new CgroupWriteError(path, `cannot ${what}: opening ${path} failed: ${(err as Error).message}`, errnoOf(err), { cause: err });
  }
  try {
    writeSync(fd, value);
  } catch (err) {
    const code = errnoOf(err);
    const msg = `cannot ${what}: the kernel refused ${JSON.stringify(value)} in ${path} (${code})`;
    if (code === 'EBUSY') throw new CgroupBusyError(msg, { cause: err });
    throw new CgroupWriteError(path, msg, code, { cause: err });
  } finally {
    closeSync(fd);
  }
}

/** mkdir that is fine when the directory is there already. */
export function mkdirCgroup(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return;
    if (errnoOf(err) === 'ENOENT') throw new CgroupUnsupportedError(`cannot create cgroup ${dir}: its parent does not exist (setup() not run? on a systemd host: is hostwarden-tenants.service running?)`, { cause: err });
    throw new CgroupError(`cannot create cgroup ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** rmdir that is fine when the directory is gone already; EBUSY (tasks or children left) is a CgroupBusyError. */
export function rmdirCgroup(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') return;
    if (code === 'EBUSY' || code === 'ENOTEMPTY') throw new CgroupBusyError(`cannot remove cgroup ${dir}: it still holds tasks or child cgroups (${code})`, { cause: err });
    throw new CgroupError(`cannot remove cgroup ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** Names of the tenant cgroups (subdirectories with tenant-shaped names) in `dir`; [] when `dir` is missing. */
export function listTenantDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && isTenantName(d.name))
      .map((d) => d.name)
      .sort();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw new CgroupError(`cannot list ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** PIDs listed in a cgroup.procs (or tasks) file; [] when it does not exist. */
export function readPids(file: string): number[] {
  const text = readControl(file);
  return text === undefined ? [] : parsePidList(text, file);
}

/** Write a PID into a cgroup.procs file; ESRCH becomes NoSuchProcessError. */
export function movePid(procsFile: string, pid: number): void {
  try {
    writeControl(procsFile, String(pid), `move process ${pid}`);
  } catch (err) {
    if (err instanceof CgroupWriteError && err.errno === 'ESRCH') throw new NoSuchProcessError(pid);
    throw err;
  }
}

export function assertPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new CgroupError(`invalid PID ${JSON.stringify(pid)}: must be a positive integer`);
}

/** SIGKILL each PID; one already gone is fine. Returns how many were signalled. */
export function killPids(pids: number[]): number {
  let n = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      n++;
    } catch (err) {
      if (errnoOf(err) !== 'ESRCH') throw new CgroupError(`cannot kill process ${pid}: ${(err as Error).message}`, { cause: err });
    }
  }
  return n;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Block this thread for `ms` (the driver's API is synchronous; waits are short and bounded). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Poll `done` until it returns true, sleeping 1 ms then backing off to 20 ms; after `timeoutMs` throw a
 * CgroupTimeoutError with `describe()` saying what was seen last.
 */
export function waitUntil(done: () => boolean, timeoutMs: number, describe: () => string): void {
  const deadline = Date.now() + timeoutMs;
  let pause = 1;
  while (!done()) {
    if (Date.now() >= deadline) throw new CgroupTimeoutError(`${describe()} after ${timeoutMs} ms`);
    sleepSync(pause);
    pause = Math.min(pause * 2, 20);
  }
}

/** Host-wide PSI from <procRoot>/pressure/{cpu,memory,io}, files kept open; a missing file is left out. */
export class HostPressureReader {
  private readonly files: Array<[(typeof PSI_RESOURCES)[number], KeptFile]>;

  /** `procRoot`/pressure/<r>, or with `cgroupDir` that cgroup's <r>.pressure files. */
  constructor(procRoot: string, cgroupDir?: string) {
    this.files = PSI_RESOURCES.map((r) => [r, new KeptFile(cgroupDir === undefined ? join(procRoot, 'pressure', r) : join(cgroupDir, `${r}.pressure`))]);
  }

  read(): Pressure {
    const out: Pressure = {};
    for (const [resource, file] of this.files) {
      const text = file.read();
      if (text !== undefined) out[resource] = parsePsi(text, file.path);
    }
    return out;
  }

  close(): void {
    for (const [, f] of this.files) f.close();
  }
}

/** A logger that drops everything, for when none is given. */
export const SILENT_LOGGER: CgroupLogger = { info() {}, warn() {}, debug() {} };
