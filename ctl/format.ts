// Values in words for people: cpu as percent of one core, bytes as KiB/MiB/GiB (shared/units.ts), shares as
// percent of the host, times in UTC (like the API; a trailing Z says so) and ages relative to now.
// Missing values (null, undefined, NaN) print as "-".
//
// Text from the controller is data, never terminal control (DESIGN section 8): process names, command lines,
// reasons, messages and every other string an agent, a tenant or an admin put there. The rule is here, in
// `printable`; it is applied where answers enter the renderers (shape.ts `checked`, every string and key of
// an answer), to error messages (main.ts) and to --json (`jsonForTerminal`); `terminalSafe` is the last guard
// on everything hostwardenctl writes, which lets through only layout (newline, tab) and its own colours.
import { formatBytes } from '../shared/units.js';

export const NONE = '-';

type Maybe = number | null | undefined;

function missing(v: Maybe): v is null | undefined {
  return v === null || v === undefined || !Number.isFinite(v);
}

/** "2025-01-31 12:00Z", with seconds ("12:00:05Z") when asked. */
export function formatTime(t: string | number | null | undefined, opts: { seconds?: boolean } = {}): string {
  if (t === null || t === undefined) return NONE;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return String(t);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, opts.seconds ? 19 : 16)}Z`;
}

/** "5s ago", "3m ago", "2h ago", "4d ago"; "in 20m" for times ahead of now. */
export function formatAge(t: string | number | null | undefined, now: number): string {
  if (t === null || t === undefined) return NONE;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return String(t);
  const d = now - ms;
  const s = Math.round(Math.abs(d) / 1000);
  const text = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86_400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86_400)}d`;
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

/** A time with its age: "2025-01-31 12:00Z (5m ago)". */
export function formatWhen(t: string | null | undefined, now: number): string {
  return t ? `${formatTime(t)} (${formatAge(t, now)})` : NONE;
}

/** Percent of one core (or any percentage): "42.5%", "380%". */
export function formatPercent(v: Maybe): string {
  if (missing(v)) return NONE;
  if (v === 0) return '0%';
  return `${v.toFixed(Math.abs(v) >= 100 ? 0 : 1)}%`;
}

/** A fraction (0..1) as a percentage: 0.125 -> "12.5%", 0.0004 -> "0.04%". */
export function formatShare(v: Maybe): string {
  if (missing(v)) return NONE;
  const p = v * 100;
  return `${p.toFixed(p !== 0 && Math.abs(p) < 1 ? 2 : 1)}%`;
}

export function formatSize(v: Maybe): string {
  return missing(v) ? NONE : formatBytes(v);
}

export function formatRate(v: Maybe): string {
  return missing(v) ? NONE : `${formatBytes(v)}/s`;
}

/** Counts and ops/s: whole numbers, one decimal below 10 when not whole. */
export function formatCount(v: Maybe): string {
  if (missing(v)) return NONE;
  if (Number.isInteger(v) || Math.abs(v) >= 10) return String(Math.round(v));
  return v.toFixed(1);
}

/** A number with up to `digits` decimals, trailing zeros dropped: 0.8 -> "0.8", 1 -> "1". */
export function formatNumber(v: Maybe, digits = 2): string {
  if (missing(v)) return NONE;
  return String(Math.round(v * 10 ** digits) / 10 ** digits);
}

/** Fairness debt in share-hours, signed: "+0.125", "-0.050" (credit). */
export function formatDebt(v: Maybe): string {
  if (missing(v)) return NONE;
  const s = v.toFixed(3);
  return v > 0 && s !== '0.000' ? `+${s}` : s === '-0.000' ? '0.000' : s;
}

/** A measured value in the unit an explanation gives (RESOURCE_UNITS of shared/resources.ts, or a short one). */
export function formatUnitValue(value: number, unit: string): string {
  switch (unit) {
    case 'bytes':
      return formatBytes(value);
    case 'bytes/s':
      return `${formatBytes(value)}/s`;
    case '%':
      return formatPercent(value);
    case '% of one core':
      return `${formatPercent(value)} of one core`;
    case 'fraction':
      return formatShare(value);
    default:
      return `${formatNumber(value)} ${unit}`;
  }
}

/** Cut to `width` characters, ending in "…" when cut. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 1) return chars.slice(0, width).join('');
  return `${chars.slice(0, width - 1).join('')}…`;
}

/** Characters as a terminal shows them (one column each; escape sequences take none). */
export function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return [...text.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

/** "1 tenant", "3 tenants". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

// --- text from the controller ----------------------------------------------------------------------------------

/** C0 controls, DEL and the C1 controls (U+0080-U+009F, the 8-bit CSI U+009B and OSC U+009D among them). */
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
/** Line breaks and tabs inside a value: one space, so a value cannot start a line of its own or overwrite one. */
// eslint-disable-next-line no-control-regex
const BREAKS = /[\t\n\v\f\r\u0085]+/g;

/**
 * `text` safe to print on a terminal: line breaks and tabs become a space, every other control character is
 * dropped. With its ESC (or C1) introducer gone, no escape sequence (colours, clear screen, window titles, OSC 8
 * links, cursor moves) can act; what followed the introducer shows as plain text, so an attempt stays visible.
 */
export function printable(text: string): string {
  CONTROLS.lastIndex = 0;
  return CONTROLS.test(text) ? text.replace(BREAKS, ' ').replace(CONTROLS, '') : text;
}

/** Deeper than any answer of the API: nested further, a value is dropped (null) rather than walked. */
const MAX_DEPTH = 64;

/** A parsed answer with every string and every key `printable`. */
export function printableDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return printable(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return null as T;
  if (Array.isArray(value)) return value.map((v: unknown) => printableDeep(v, depth + 1)) as T;
  // Object.fromEntries defines keys as own data properties: a "__proto__" key stays a key.
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [printable(k), printableDeep(v, depth + 1)])) as T;
}

/**
 * The API's JSON unchanged in meaning for --json: JSON needs no escaping of DEL and the C1 controls inside
 * strings, so a terminal would act on them; they are written as \u escapes, which parse to the same string.
 */
export function jsonForTerminal(text: string): string {
  return text.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Control characters other than newline and tab, unless they open an SGR colour (the only escapes hostwardenctl writes). */
// eslint-disable-next-line no-control-regex
const UNSAFE_OUTPUT = /\x1b\[[0-9;]*m|[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** The last guard on what is written: newlines, tabs and SGR colours pass; every other control character goes. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE_OUTPUT, (m) => (m.length > 1 ? m : ''));
}
