// Access-log lines, parsed in place: pure functions over a latin1 string and the bounds of one line, writing
// into one reused result object, so parsing a line allocates at most the virtual host's name (bench/logs.ts).
//
//   combined        %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"   (nginx: $bytes_sent for %O)
//   vhost_combined  %v:%p %h %l %u %t "%r" %>s %O ...                         (Apache's; nginx with a log_format)
//   json            one object per line: host, uri, status, bytes (numbers or strings), time (optional:
//                   ISO-8601 as nginx's $time_iso8601, or epoch seconds as $msec)
// Only the fields up to the bytes are read; what follows (referer, user agent) is never looked at.

export const LOG_FORMATS = ['combined', 'vhost_combined', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** One parsed line. `uriStart`/`uriEnd` index the request target in the line's string (json: in `uri`). */
export interface ParsedLine {
  /** The virtual host, lower case, without port (vhost_combined and json only). */
  host: string;
  /** Minute of the request (ms since the epoch, floored to the minute); NaN when the line carries no time. */
  minute: number;
  status: number;
  bytes: number;
  /** The string the request target is in, and its bounds. */
  uriText: string;
  uriStart: number;
  uriEnd: number;
}

export function newParsedLine(): ParsedLine {
  return { host: '', minute: Number.NaN, status: 0, bytes: 0, uriText: '', uriStart: 0, uriEnd: 0 };
}

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
const SPACE = 0x20;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DIGIT0 = 0x30;

/** The minute of `[dd/Mon/yyyy:HH:MM:SS +zzzz]` with the last one remembered (lines of a log share minutes). */
export class TimeCache {
  private key = '';
  private tz = '';
  private minute = Number.NaN;

  /** `at` indexes the `[`. NaN when the text is not a time. */
  minuteAt(s: string, at: number): number {
    if (this.key !== '' && s.startsWith(this.key, at + 1) && s.startsWith(this.tz, at + 22) && s.charCodeAt(at + 27) === 0x5d) return this.minute;
    if (s.charCodeAt(at + 27) !== 0x5d || s.charCodeAt(at + 21) !== SPACE) return Number.NaN;
    const day = num(s, at + 1, 2);
    const month = MONTHS[s.slice(at + 4, at + 7)];
    const year = num(s, at + 8, 4);
    const hour = num(s, at + 13, 2);
    const min = num(s, at + 16, 2);
    const sign = s.charCodeAt(at + 22);
    const tzh = num(s, at + 23, 2);
    const tzm = num(s, at + 25, 2);
    if (month === undefined || day < 1 || day > 31 || year < 1970 || hour > 23 || min > 59 || tzh > 23 || tzm > 59 || (sign !== 0x2b && sign !== 0x2d) || s.charCodeAt(at + 3) !== 0x2f) {
      return Number.NaN;
    }
    const offset = (sign === 0x2b ? 1 : -1) * (tzh * 60 + tzm) * 60_000;
    const minute = Date.UTC(year, month, day, hour, min) - offset;
    if (!Number.isFinite(minute)) return Number.NaN;
    this.key = s.slice(at + 1, at + 18);
    this.tz = s.slice(at + 22, at + 27);
    this.minute = minute;
    return minute;
  }
}

/** A non-negative decimal of exactly `n` digits at `at`, or -1. */
function num(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = s.charCodeAt(at + i) - DIGIT0;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** The host of `host:port` (also `[v6]:port`, or a bare host), lower case; '' when empty. */
export function hostOf(hostPort: string): string {
  let end = hostPort.length;
  const colon = hostPort.lastIndexOf(':');
  if (colon > 0 && (hostPort.charCodeAt(0) !== 0x5b || hostPort.charCodeAt(colon - 1) === 0x5d)) {
    if (hostPort.indexOf(':') === colon || hostPort.charCodeAt(0) === 0x5b) end = colon;
  }
  let h = hostPort.slice(0, end);
  if (h.charCodeAt(h.length - 1) === 0x2e) h = h.slice(0, -1);
  return h.toLowerCase();
}

/**
 * The part of a combined line from `%t` on: time, request, status, bytes. `at` indexes where `%h` starts
 * (after the virtual host of vhost_combined). False when the line does not have that shape.
 */
function parseFromClient(s: string, at: number, end: number, out: ParsedLine, times: TimeCache): boolean {
  const open = s.indexOf(' [', at);
  if (open < 0 || open + 30 > end) return false;
  const t = open + 1;
  out.minute = times.minuteAt(s, t);
  if (Number.isNaN(out.minute)) return false;
  if (s.charCodeAt(t + 28) !== SPACE || s.charCodeAt(t + 29) !== QUOTE) return false;
  const reqStart = t + 30;
  // The request's closing quote: the first `"` not escaped (Apache writes `\"`, nginx `\x22`).
  let close = s.indexOf('"', reqStart);
  while (close > 0 && close < end && s.charCodeAt(close - 1) === BACKSLASH) close = s.indexOf('"', close + 1);
  if (close < 0 || close + 6 > end) return false;
  const sp = s.indexOf(' ', reqStart);
  if (sp > 0 && sp < close) {
    out.uriStart = sp + 1;
    const sp2 = s.indexOf(' ', sp + 1);
    out.uriEnd = sp2 > 0 && sp2 < close ? sp2 : close;
  } else {
    out.uriStart = close; // "-" or a request without a target: no path
    out.uriEnd = close;
  }
  out.uriText = s;
  if (s.charCodeAt(close + 1) !== SPACE) return false;
  const status = num(s, close + 2, 3);
  if (status < 100 || s.charCodeAt(close + 5) !== SPACE) return false;
  out.status = status;
  let i = close + 6;
  let bytes = 0;
  const first = s.charCodeAt(i);
  if (first === 0x2d) {
    i++;
  } else {
    const from = i;
    for (; i < end; i++) {
      const d = s.charCodeAt(i) - DIGIT0;
      if (d < 0 || d > 9) break;
      bytes = bytes * 10 + d;
    }
    if (i === from || i - from > 15) return false;
  }
  if (i < end && s.charCodeAt(i) !== SPACE) return false;
  out.bytes = bytes;
  return true;
}

/** `combined`: no virtual host (the log is one tenant's). */
export function parseCombined(s: string, start: number, end: number, out: ParsedLine, times: TimeCache): boolean {
  out.host = '';
  return parseFromClient(s, start, end, out, times);
}

/** `vhost_combined`: the first field is `host:port`. */
export function parseVhostCombined(s: string, start: number, end: number, out: ParsedLine, times: TimeCache): boolean {
  const sp = s.indexOf(' ', start);
  if (sp <= start || sp >= end) return false;
  out.host = hostOf(s.slice(start, sp));
  if (out.host === '') return false;
  return parseFromClient(s, sp + 1, end, out, times);
}

/** `json`: one object per line with host, uri, status, bytes and an optional time. */
export function parseJson(s: string, start: number, end: number, out: ParsedLine): boolean {
  let o: unknown;
  try {
    o = JSON.parse(s.slice(start, end));
  } catch {
    return false;
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return false;
  const r = o as Record<string, unknown>;
  const status = toInt(r.status);
  const bytes = r.bytes === '-' ? 0 : toInt(r.bytes);
  if (typeof r.uri !== 'string' || status === undefined || status < 100 || status > 999 || bytes === undefined) return false;
  out.host = typeof r.host === 'string' ? hostOf(r.host) : '';
  out.status = status;
  out.bytes = bytes;
  out.uriText = r.uri;
  out.uriStart = 0;
  out.uriEnd = r.uri.length;
  out.minute = jsonMinute(r.time ?? r.msec);
  return true;
}

function toInt(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function jsonMinute(v: unknown): number {
  let ms = Number.NaN;
  if (typeof v === 'number') ms = v * 1000;
  else if (typeof v === 'string') ms = /^\d{9,11}(\.\d+)?$/.test(v) ? Number(v) * 1000 : Date.parse(v);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 60_000) * 60_000 : Number.NaN;
}

/** The parser of a format, one signature (json ignores the time cache). */
export type LineParser = (s: string, start: number, end: number, out: ParsedLine, times: TimeCache) => boolean;

export function parserOf(format: LogFormat): LineParser {
  if (format === 'combined') return parseCombined;
  if (format === 'vhost_combined') return parseVhostCombined;
  return (s, start, end, out) => parseJson(s, start, end, out);
}
