// Pure parsers of cgroup interface files, in the exact formats of the kernel (cgroup-v2.rst "Interface Files",
// cgroup-v1 docs). No I/O here: every function takes the text and the file's name (for messages like
// `Cannot parse memory.stat: line 3 has 1 field`) and is tested on text captured from real kernels. The /proc
// parsers (/proc/PID/cgroup, mountinfo) are in ../procfs.ts.
//
// The functions the agent calls every tick for every tenant (flatKeyedValue, parseU64, parsePsi, sumIoStat,
// sumBlkioThrottle, parseFreezerState, parseCgroupEvents) scan with indexOf/charCodeAt and allocate nothing but
// their result. The general ones (parseFlatKeyed, parseNestedKeyed, parseBlkioThrottle) build complete records
// for tests, diagnostics and setup paths.
//
// Kernel counters are u64; JavaScript numbers are exact up to 2^53 (about 104 days of CPU time in ns, 8 PiB in
// bytes), and beyond that lose only relative precision of 1e-16, which rates and shares never notice.
import type { KernelPsi as Psi, KernelPsiLine as PsiLine } from '../../../shared/wire/agent.js';
import type { IoDeviceLimit } from '../../limits.js';
import { decimalAt, digitsAt, lineEnd, NL, numberedLines, plural, SPACE, trimEnd } from '../text-scan.js';
import { CgroupParseError } from './errors.js';

/** A single unsigned integer file (cpuacct.usage, memory.current, pids.current). */
export function parseU64(text: string, file: string): number {
  const end = trimEnd(text, 0, text.length);
  const n = digitsAt(text, 0, end);
  if (n < 0) throw new CgroupParseError(file, `expected an unsigned integer, got ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}

/** A single value that may be "max" (memory.max, memory.high, pids.max, cpu.weight): "max" -> null. */
export function parseMaxOrU64(text: string, file: string): number | null {
  const end = trimEnd(text, 0, text.length);
  if (end === 3 && text.startsWith('max')) return null;
  const n = digitsAt(text, 0, end);
  if (n < 0) throw new CgroupParseError(file, `expected an unsigned integer or "max", got ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}

/** v1 files that say "no limit" with a number: -1 (cpu.cfs_quota_us) or the page-rounded LONG_MAX of memcg. */
export function parseV1Limit(text: string, file: string): number | null {
  const end = trimEnd(text, 0, text.length);
  if (end === 2 && text.startsWith('-1')) return null;
  if (end === 3 && text.startsWith('max')) return null;
  const n = digitsAt(text, 0, end);
  if (n < 0) throw new CgroupParseError(file, `expected an integer, got ${JSON.stringify(text.slice(0, 40))}`);
  // memory.limit_in_bytes reads 9223372036854771712 (LONG_MAX rounded to a page) when unlimited.
  return n >= V1_UNLIMITED_THRESHOLD ? null : n;
}

/** Anything at or above 2^62 bytes is the kernel's "unlimited" (PAGE_COUNTER_MAX scaled to bytes). */
export const V1_UNLIMITED_THRESHOLD = 2 ** 62;

// --- flat keyed: "key value" per line (cpu.stat, memory.stat, cgroup.events) -------------------------------

/** Every line of a flat-keyed file; throws on a line that is not exactly "key value". */
export function parseFlatKeyed(text: string, file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [lineNo, line] of numberedLines(text)) {
    const fields = line.split(/\s+/);
    if (fields.length !== 2) throw new CgroupParseError(file, `line ${lineNo} has ${plural(fields.length, 'field')}`);
    const n = digitsAt(fields[1]!, 0, fields[1]!.length);
    if (n < 0) throw new CgroupParseError(file, `line ${lineNo}: value of ${fields[0]} is not an unsigned integer: ${JSON.stringify(fields[1])}`);
    out[fields[0]!] = n;
  }
  return out;
}

/**
 * The value of `key` in flat-keyed text, or undefined when the key is absent. `keySpace` is the key followed
 * by one space ("usage_usec "), prepared once by the caller. Hot path: no allocation.
 */
export function flatKeyedValue(text: string, keySpace: string, file: string): number | undefined {
  let from = 0;
  for (;;) {
    const i = text.indexOf(keySpace, from);
    if (i < 0) return undefined;
    if (i === 0 || text.charCodeAt(i - 1) === NL) {
      const vStart = i + keySpace.length;
      const vEnd = trimEnd(text, vStart, lineEnd(text, vStart));
      const n = digitsAt(text, vStart, vEnd);
      if (n < 0) throw new CgroupParseError(file, `value of ${keySpace.trimEnd()} is not an unsigned integer: ${JSON.stringify(text.slice(vStart, vEnd))}`);
      return n;
    }
    from = i + 1;
  }
}

export interface CpuStat {
  usageUsec: number;
  userUsec: number;
  systemUsec: number;
  /** Present when the cpu controller is enabled (v2): bandwidth periods, throttled periods and time. */
  nrPeriods?: number;
  nrThrottled?: number;
  throttledUsec?: number;
}

/** v2 cpu.stat (also present on a hybrid host's unified mount, without the bandwidth keys). */
export function parseCpuStat(text: string, file = 'cpu.stat'): CpuStat {
  const kv = parseFlatKeyed(text, file);
  const need = (k: string): number => {
    const v = kv[k];
    if (v === undefined) throw new CgroupParseError(file, `missing key ${k}`);
    return v;
  };
  const out: CpuStat = { usageUsec: need('usage_usec'), userUsec: need('user_usec'), systemUsec: need('system_usec') };
  if (kv.nr_periods !== undefined) out.nrPeriods = kv.nr_periods;
  if (kv.nr_throttled !== undefined) out.nrThrottled = kv.nr_throttled;
  if (kv.throttled_usec !== undefined) out.throttledUsec = kv.throttled_usec;
  return out;
}

export interface CgroupEvents {
  populated: boolean;
  frozen: boolean;
}

/** v2 cgroup.events: "populated 1\nfrozen 0\n". `frozen` is absent before kernel 5.2 (reads as false). */
export function parseCgroupEvents(text: string, file = 'cgroup.events'): CgroupEvents {
  const populated = flatKeyedValue(text, 'populated ', file);
  if (populated === undefined) throw new CgroupParseError(file, 'missing key populated');
  return { populated: populated === 1, frozen: flatKeyedValue(text, 'frozen ', file) === 1 };
}

// --- pressure stall information ----------------------------------------------------------------------------

function psiLine(text: string, start: number, end: number, lineNo: number, file: string): PsiLine {
  // "some avg10=0.29 avg60=0.39 avg300=0.89 total=8486912"
  const field = (key: string, integer: boolean): number => {
    const k = text.indexOf(key, start);
    if (k < 0 || k >= end) throw new CgroupParseError(file, `line ${lineNo} has no ${key.slice(1, -1)}`);
    const vStart = k + key.length;
    let vEnd = text.indexOf(' ', vStart);
    if (vEnd < 0 || vEnd > end) vEnd = end;
    vEnd = trimEnd(text, vStart, vEnd);
    const v = integer ? digitsAt(text, vStart, vEnd) : decimalAt(text, vStart, vEnd);
    if (v < 0) throw new CgroupParseError(file, `line ${lineNo}: ${key.slice(1, -1)} is not a number: ${JSON.stringify(text.slice(vStart, vEnd))}`);
    return v;
  };
  return { avg10: field(' avg10=', false), avg60: field(' avg60=', false), avg300: field(' avg300=', false), total: field(' total=', true) };
}

/** A PSI file (/proc/pressure/*, <cgroup>/*.pressure): a "some" line and, except for host cpu before 5.13, "full". */
export function parsePsi(text: string, file: string): Psi {
  let some: PsiLine | undefined;
  let full: PsiLine | undefined;
  let lineNo = 0;
  for (let start = 0; start < text.length; ) {
    const end = trimEnd(text, start, lineEnd(text, start));
    lineNo++;
    if (end > start) {
      if (text.startsWith('some ', start)) some = psiLine(text, start, end, lineNo, file);
      else if (text.startsWith('full ', start)) full = psiLine(text, start, end, lineNo, file);
      else throw new CgroupParseError(file, `line ${lineNo} starts with neither "some" nor "full"`);
    }
    start = lineEnd(text, start) + 1;
  }
  if (!some) throw new CgroupParseError(file, 'no "some" line');
  return full ? { some, full } : { some };
}

// --- nested keyed: "MAJ:MIN key=value key=value" (io.stat, io.max) -----------------------------------------

export interface NestedKeyedLine {
  key: string;
  values: Record<string, string>;
}

/** Every line of a nested-keyed file, values left as strings (they may be "max"). */
export function parseNestedKeyed(text: string, file: string): NestedKeyedLine[] {
  const out: NestedKeyedLine[] = [];
  for (const [lineNo, line] of numberedLines(text)) {
    const [key, ...pairs] = line.split(/\s+/);
    const values: Record<string, string> = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0 || eq === pair.length - 1) throw new CgroupParseError(file, `line ${lineNo}: ${JSON.stringify(pair)} is not key=value`);
      values[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    out.push({ key: key!, values });
  }
  return out;
}

/** "8:16" -> [8, 16], or undefined. */
export function parseDeviceNumber(text: string): [number, number] | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const major = digitsAt(text, 0, colon);
  const minor = digitsAt(text, colon + 1, text.length);
  return major < 0 || minor < 0 ? undefined : [major, minor];
}

export interface IoTotals {
  rbytes: number;
  wbytes: number;
  rios: number;
  wios: number;
}

/**
 * v2 io.stat summed over its devices: "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0".
 * Keys other than the four (dbytes, dios, cost.*, ...) are ignored. Hot path. Note that stacked devices
 * (dm, md) count the same IO at each level; a host that has them sees it summed twice.
 */
export function sumIoStat(text: string, file = 'io.stat'): IoTotals {
  const t: IoTotals = { rbytes: 0, wbytes: 0, rios: 0, wios: 0 };
  let lineNo = 0;
  for (let start = 0; start < text.length; ) {
    const end = lineEnd(text, start);
    lineNo++;
    let i = text.indexOf(' ', start);
    if (i < 0 || i > end) {
      if (trimEnd(text, start, end) > start) throw new CgroupParseError(file, `line ${lineNo} has 1 field`);
      start = end + 1;
      continue;
    }
    while (i < end) {
      while (i < end && text.charCodeAt(i) === SPACE) i++;
      if (i >= end) break;
      let sp = text.indexOf(' ', i);
      if (sp < 0 || sp > end) sp = end;
      const eq = text.indexOf('=', i);
      if (eq < 0 || eq > sp) throw new CgroupParseError(file, `line ${lineNo}: ${JSON.stringify(text.slice(i, sp))} is not key=value`);
      const c0 = text.charCodeAt(i);
      const klen = eq - i;
      // rbytes / wbytes / rios / wios, matched without slicing the key
      if ((c0 === 114 || c0 === 119) && (klen === 6 || klen === 4)) {
        const v = digitsAt(text, eq + 1, trimEnd(text, eq + 1, sp));
        if (v >= 0) {
          if (klen === 6 && text.startsWith('bytes', i + 1)) {
            if (c0 === 114) t.rbytes += v;
            else t.wbytes += v;
          } else if (klen === 4 && text.startsWith('ios', i + 1)) {
            if (c0 === 114) t.rios += v;
            else t.wios += v;
          }
        }
      }
      i = sp + 1;
    }
    start = end + 1;
  }
  return t;
}

/** v2 io.max: "8:16 rbps=2097152 wbps=max riops=max wiops=120" per limited device; "max" fields are omitted. */
export function parseIoMax(text: string, file = 'io.max'): IoDeviceLimit[] {
  return parseNestedKeyed(text, file).map(({ key, values }) => {
    const dev = parseDeviceNumber(key);
    if (!dev) throw new CgroupParseError(file, `${JSON.stringify(key)} is not a MAJ:MIN device number`);
    const limit: IoDeviceLimit = { major: dev[0], minor: dev[1] };
    for (const name of ['rbps', 'wbps', 'riops', 'wiops'] as const) {
      const v = values[name];
      if (v === undefined || v === 'max') continue;
      const n = digitsAt(v, 0, v.length);
      if (n < 0) throw new CgroupParseError(file, `${key} ${name}=${v} is not an unsigned integer or max`);
      limit[name] = n;
    }
    return limit;
  });
}

/** v2 cpu.max: "max 100000" or "50000 100000" (quota and period in microseconds). */
export function parseCpuMax(text: string, file = 'cpu.max'): { quotaUsec: number | null; periodUsec: number } {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 2) throw new CgroupParseError(file, `expected "QUOTA PERIOD", got ${plural(fields.length, 'field')}`);
  const [q, p] = fields as [string, string];
  const period = digitsAt(p, 0, p.length);
  const quota = q === 'max' ? null : digitsAt(q, 0, q.length);
  if (period <= 0 || quota === -1) throw new CgroupParseError(file, `expected "QUOTA PERIOD" with QUOTA a number or max, got ${JSON.stringify(text.trim())}`);
  return { quotaUsec: quota, periodUsec: period };
}

// --- v1 blkio ----------------------------------------------------------------------------------------------

export interface BlkioThrottle {
  /** Per "MAJ:MIN": Read, Write, Sync, Async, Discard, Total. */
  devices: Record<string, Record<string, number>>;
  /** The last line "Total N" (the sum over devices), when present. */
  total?: number;
}

/** blkio.throttle.io_service_bytes(_recursive) and io_serviced(_recursive): "8:0 Read 123" lines and "Total N". */
export function parseBlkioThrottle(text: string, file: string): BlkioThrottle {
  const out: BlkioThrottle = { devices: {} };
  for (const [lineNo, line] of numberedLines(text)) {
    const fields = line.split(/\s+/);
    if (fields.length === 2 && fields[0] === 'Total') {
      out.total = digitsAt(fields[1]!, 0, fields[1]!.length);
      if (out.total < 0) throw new CgroupParseError(file, `line ${lineNo}: Total is not an unsigned integer`);
      continue;
    }
    if (fields.length !== 3) throw new CgroupParseError(file, `line ${lineNo} has ${plural(fields.length, 'field')}`);
    const [dev, op, value] = fields as [string, string, string];
    const n = digitsAt(value, 0, value.length);
    if (!parseDeviceNumber(dev) || n < 0) throw new CgroupParseError(file, `line ${lineNo} is not "MAJ:MIN Op N": ${JSON.stringify(line)}`);
    (out.devices[dev] ??= {})[op] = n;
  }
  return out;
}

/** Read and Write summed over the devices of a blkio throttle stats file. Hot path. */
export function sumBlkioThrottle(text: string, file: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  let lineNo = 0;
  for (let start = 0; start < text.length; ) {
    const end = trimEnd(text, start, lineEnd(text, start));
    lineNo++;
    const next = lineEnd(text, start) + 1;
    if (end === start || text.startsWith('Total ', start)) {
      start = next;
      continue;
    }
    const s1 = text.indexOf(' ', start);
    const s2 = s1 < 0 ? -1 : text.indexOf(' ', s1 + 1);
    if (s1 < 0 || s1 >= end || s2 < 0 || s2 >= end) {
      throw new CgroupParseError(file, `line ${lineNo} has ${plural(s1 < 0 || s1 >= end ? 1 : 2, 'field')}`);
    }
    const n = digitsAt(text, s2 + 1, end);
    if (n < 0) throw new CgroupParseError(file, `line ${lineNo}: ${JSON.stringify(text.slice(s2 + 1, end))} is not an unsigned integer`);
    const opLen = s2 - s1 - 1;
    if (opLen === 4 && text.startsWith('Read', s1 + 1)) read += n;
    else if (opLen === 5 && text.startsWith('Write', s1 + 1)) write += n;
    start = next;
  }
  return { read, write };
}

/** blkio.throttle.{read,write}_{bps,iops}_device: "8:0 1048576" per limited device. */
export function parseV1DeviceValues(text: string, file: string): Array<{ major: number; minor: number; value: number }> {
  const out: Array<{ major: number; minor: number; value: number }> = [];
  for (const [lineNo, line] of numberedLines(text)) {
    const fields = line.split(/\s+/);
    if (fields.length !== 2) throw new CgroupParseError(file, `line ${lineNo} has ${plural(fields.length, 'field')}`);
    const dev = parseDeviceNumber(fields[0]!);
    const value = digitsAt(fields[1]!, 0, fields[1]!.length);
    if (!dev || value < 0) throw new CgroupParseError(file, `line ${lineNo} is not "MAJ:MIN N": ${JSON.stringify(line)}`);
    out.push({ major: dev[0], minor: dev[1], value });
  }
  return out;
}

// --- other control files -----------------------------------------------------------------------------------

export type FreezerState = 'THAWED' | 'FREEZING' | 'FROZEN';

/** v1 freezer.state. */
export function parseFreezerState(text: string, file = 'freezer.state'): FreezerState {
  const end = trimEnd(text, 0, text.length);
  if (end === 6 && text.startsWith('FROZEN')) return 'FROZEN';
  if (end === 6 && text.startsWith('THAWED')) return 'THAWED';
  if (end === 8 && text.startsWith('FREEZING')) return 'FREEZING';
  throw new CgroupParseError(file, `unknown state ${JSON.stringify(text.slice(0, end))}`);
}

/** cgroup.controllers / cgroup.subtree_control: space-separated names, possibly empty. */
export function parseControllerList(text: string): string[] {
  const t = text.trim();
  return t === '' ? [] : t.split(/\s+/);
}

/** cgroup.procs / tasks: one PID per line. */
export function parsePidList(text: string, file = 'cgroup.procs'): number[] {
  const out: number[] = [];
  let lineNo = 0;
  for (let start = 0; start < text.length; ) {
    const end = trimEnd(text, start, lineEnd(text, start));
    lineNo++;
    if (end > start) {
      const pid = digitsAt(text, start, end);
      if (pid <= 0) throw new CgroupParseError(file, `line ${lineNo} is not a PID: ${JSON.stringify(text.slice(start, end))}`);
      out.push(pid);
    }
    start = lineEnd(text, start) + 1;
  }
  return out;
}
