// /proc and /etc/passwd: pure parsers and thin readers. Every root is a parameter so tests use temp trees.
import { readFileSync, readdirSync, statSync } from 'node:fs';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** Parse /etc/passwd text. Malformed lines are skipped (the file is the system's, not ours to judge). */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]!, shell: f[6]! });
  }
  return out;
}

export function readPasswd(file: string): PasswdEntry[] {
  return parsePasswd(readFileSync(file, 'utf8'));
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
  if (open < 0 || close < open) throw new Error(`Cannot parse /proc/PID/stat: no "(comm)" in ${JSON.stringify(text.slice(0, 80))}`);
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  if (rest.length < 22) throw new Error(`Cannot parse /proc/PID/stat: ${rest.length + 2} fields, expected at least 24`);
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

/** Command line with NULs as spaces; falls back to [comm] for kernel threads and zombies. */
export function readCmdline(procRoot: string, pid: number, comm: string): string {
  try {
    const raw = readFileSync(`${procRoot}/${pid}/cmdline`);
    const text = raw.toString('utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    return text || `[${comm}]`;
  } catch {
    return `[${comm}]`;
  }
}

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
}

export function parseMeminfo(text: string): MemInfo {
  const get = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new Error(`Cannot parse /proc/meminfo: no ${key} line`);
    return Number(m[1]) * 1024;
  };
  return { totalBytes: get('MemTotal'), availableBytes: get('MemAvailable') };
}

/** Aggregate "cpu" line of /proc/stat: busy and total jiffies (iowait counts as idle). */
export function parseProcStatCpu(text: string): { busy: number; total: number } {
  const line = text.slice(0, text.indexOf('\n'));
  if (!line.startsWith('cpu ')) throw new Error('Cannot parse /proc/stat: first line is not the "cpu" total');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}
