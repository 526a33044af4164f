// /proc: pure parsers and thin readers (STYLE 4). Every root is a parameter so tests use temp trees.
// Per process: the PIDs, a PID's owner, /proc/PID/stat, cmdline, cgroup and mountinfo; host-wide: meminfo and
// the cpu line of /proc/stat. The cgroup interface files have their parsers in cgroup/parse.ts.
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { HostwardenError } from '../../shared/errors.js';
import { digitsAt, numberedLines, plural } from './text-scan.js';

/** /proc text that does not have the documented shape (proc(5)): `Cannot parse /proc/meminfo: no MemTotal line`. */
export class ProcParseError extends HostwardenError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super('HW_PROC_PARSE', `Cannot parse ${file}: ${detail}`);
  }
}

/** Numeric entries of procRoot: the PIDs of all processes (thread group leaders). */
export function listPids(procRoot: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    if (Number.isInteger(pid)) out.push(pid);
  }
  return out;
}

/** Owner UID of a process from a stat of /proc/<pid> (cheaper than parsing status); null when it is gone. */
export function uidOf(procRoot: string, pid: number): number | null {
  const st = statSync(`${procRoot}/${pid}`, { throwIfNoEntry: false });
  return st ? st.uid : null;
}

/** One small read of a /proc file into a reused buffer (no fstat, no string concat): undefined when it is gone. */
const smallBuf = Buffer.allocUnsafe(4096);
function readSmall(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    return smallBuf.toString('latin1', 0, readSync(fd, smallBuf, 0, smallBuf.length, 0));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The PID most recently handed out in this PID namespace: field 5 of /proc/loadavg ("0.10 0.20 0.30 2/129 9082").
 * Every fork and thread creation moves it on, cyclically below pid_max, so two readings bound which PIDs were
 * allocated in between. null when the file is missing or has another shape (fixture trees).
 */
export function parseLastPid(text: string): number | null {
  const m = /^\S+ \S+ \S+ \d+\/\d+ (\d+)\s*$/.exec(text);
  return m ? Number(m[1]) : null;
}

export function lastPid(procRoot: string): number | null {
  const text = readSmall(`${procRoot}/loadavg`);
  return text === undefined ? null : parseLastPid(text);
}

/** /proc/sys/kernel/pid_max (PIDs are allocated below it, wrapping to 300); the kernel default when unreadable. */
export function pidMax(procRoot: string): number {
  const n = Number(readSmall(`${procRoot}/sys/kernel/pid_max`)?.trim());
  return Number.isSafeInteger(n) && n > 0 ? n : 4_194_304;
}

/** Clock ticks (USER_HZ, 100 on every Linux architecture in use) since boot, from /proc/uptime; null when unreadable. */
export function uptimeTicks(procRoot: string): number | null {
  const text = readSmall(`${procRoot}/uptime`);
  const s = text === undefined ? NaN : Number.parseFloat(text);
  return Number.isFinite(s) ? Math.floor(s * USER_HZ) : null;
}

export const USER_HZ = 100;

/** Field 22 (starttime, clock ticks after boot) of /proc/<pid>/stat without parsing the rest; null when gone. */
export function startTimeOf(procRoot: string, pid: number): number | null {
  const text = readSmall(`${procRoot}/${pid}/stat`);
  if (text === undefined) return null;
  return parseStartTime(text);
}

/** starttime from a /proc/<pid>/stat text: the 20th space-separated field after the comm's last ')'. */
export function parseStartTime(text: string): number | null {
  let i = text.lastIndexOf(')');
  if (i < 0) return null;
  // ") S ppid ..." : field 3 (state) follows ") "; field 22 is 19 spaces further on.
  i += 1;
  for (let field = 3; field < 22; field++) {
    i = text.indexOf(' ', i + 1);
    if (i < 0) return null;
  }
  const end = text.indexOf(' ', i + 1);
  const n = Number(text.slice(i + 1, end < 0 ? undefined : end));
  return Number.isSafeInteger(n) ? n : null;
}

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  flags: number;
  /** user + system time in clock ticks. */
  ticks: number;
  /** start time after boot, clock ticks. */
  starttime: number;
  /** resident pages. */
  rssPages: number;
}

/** Parse /proc/<pid>/stat. The comm field may hold spaces and parentheses: split at the LAST ')'. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new ProcParseError('/proc/PID/stat', `no "(comm)" in ${JSON.stringify(text.slice(0, 80))}`);
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  if (rest.length < 22) throw new ProcParseError('/proc/PID/stat', `${rest.length + 2} fields, expected at least 24`);
  const f = (n: number) => Number(rest[n - 3]);
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0]!,
    ppid: f(4),
    flags: f(9),
    ticks: f(14) + f(15),
    starttime: f(22),
    rssPages: f(24),
  };
}

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
}

export function parseMeminfo(text: string): MemInfo {
  const get = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new ProcParseError('/proc/meminfo', `no ${key} line`);
    return Number(m[1]) * 1024;
  };
  return { totalBytes: get('MemTotal'), availableBytes: get('MemAvailable') };
}

/** Aggregate "cpu" line of /proc/stat: busy and total jiffies (iowait counts as idle). */
export function parseProcStatCpu(text: string): { busy: number; total: number } {
  const line = text.slice(0, text.indexOf('\n'));
  if (!line.startsWith('cpu ')) throw new ProcParseError('/proc/stat', 'first line is not the "cpu" total');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

// --- /proc/PID/cgroup and mountinfo -------------------------------------------------------------------------

export interface ProcCgroupLine {
  /** Hierarchy ID; 0 is the v2 unified hierarchy. */
  id: number;
  /** v1 controllers ("cpu", "cpuacct", "name=systemd"); empty for the v2 line. */
  controllers: string[];
  path: string;
}

/** /proc/PID/cgroup: "4:memory:/a/b" (v1) and "0::/a/b" (v2). The path may itself contain ":". */
export function parseProcCgroup(text: string, file = 'cgroup'): ProcCgroupLine[] {
  const out: ProcCgroupLine[] = [];
  for (const [lineNo, line] of numberedLines(text)) {
    const c1 = line.indexOf(':');
    const c2 = c1 < 0 ? -1 : line.indexOf(':', c1 + 1);
    if (c2 < 0) throw new ProcParseError(file, `line ${lineNo} is not "ID:CONTROLLERS:PATH": ${JSON.stringify(line)}`);
    const id = digitsAt(line, 0, c1);
    if (id < 0) throw new ProcParseError(file, `line ${lineNo}: hierarchy ID ${JSON.stringify(line.slice(0, c1))} is not a number`);
    const ctrl = line.slice(c1 + 1, c2);
    out.push({ id, controllers: ctrl === '' ? [] : ctrl.split(','), path: line.slice(c2 + 1) });
  }
  return out;
}

export interface MountinfoEntry {
  mountId: number;
  parentId: number;
  /** MAJ:MIN of the mounted filesystem. */
  device: string;
  /** Root of the mount within its filesystem ("/" unless a bind mount or a cgroup namespace). */
  root: string;
  mountPoint: string;
  mountOptions: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \040 \011 \012 \134. */
function unescapeMountField(s: string): string {
  return s.includes('\\') ? s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))) : s;
}

/** /proc/PID/mountinfo (proc(5)): "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue". */
export function parseMountinfo(text: string, file = 'mountinfo'): MountinfoEntry[] {
  const out: MountinfoEntry[] = [];
  for (const [lineNo, line] of numberedLines(text)) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (fields.length < 10 || sep < 0 || fields.length < sep + 4) {
      throw new ProcParseError(file, `line ${lineNo} has ${plural(fields.length, 'field')}, expected at least 10 with a "-" separator`);
    }
    const mountId = digitsAt(fields[0]!, 0, fields[0]!.length);
    const parentId = digitsAt(fields[1]!, 0, fields[1]!.length);
    if (mountId < 0 || parentId < 0) throw new ProcParseError(file, `line ${lineNo}: mount IDs are not numbers`);
    out.push({
      mountId,
      parentId,
      device: fields[2]!,
      root: unescapeMountField(fields[3]!),
      mountPoint: unescapeMountField(fields[4]!),
      mountOptions: fields[5]!.split(','),
      fsType: fields[sep + 1]!,
      source: unescapeMountField(fields[sep + 2]!),
      superOptions: fields[sep + 3]!.split(','),
    });
  }
  return out;
}

/** The v1 controllers a hierarchy can carry (named hierarchies such as name=systemd carry none). */
