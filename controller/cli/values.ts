// Values of arguments and options, checked before anything is sent: a bad one is a UsageError (exit 2) that
// names the option, never a request the controller has to refuse.
import { UsageError } from '../../shared/errors.js';
import { HOST_RE, NAME_RE } from '../../shared/names.js';
import { parseDuration, UnitError } from '../../shared/units.js';

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
// The patterns of TenantNameSchema and HostNameSchema (shared/wire.ts), here so that checking a name does not
// load TypeBox; a unit test keeps them equal.
export const TENANT_NAME = NAME_RE;
export const HOST_NAME = HOST_RE;

/** Milliseconds of a duration option ("30m", "1h30m", "7d"). */
export function durationValue(option: string, text: string, opts: { min?: number } = {}): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    if (err instanceof UnitError) throw new UsageError(`${option}: ${err.message}`);
    throw err;
  }
  if (opts.min !== undefined && ms < opts.min) throw new UsageError(`${option}: must be at least ${opts.min / 1000}s, got "${text}"`);
  return ms;
}

/**
 * A point in time as the API takes it: "now", an ISO-8601 time (UTC when it has no zone, as in the API), or a
 * duration back from now ("24h"). Returns the milliseconds it stands for at `now`.
 */
export function timeValue(option: string, text: string, now: number): number {
  const s = text.trim();
  if (s === 'now') return now;
  if (ISO.test(s)) {
    const t = Date.parse(/T.*(Z|[+-]\d{2}:?\d{2})$/.test(s) || !s.includes('T') ? s : `${s}Z`);
    if (Number.isFinite(t)) return t;
  } else if (/^\d/.test(s)) {
    try {
      return now - parseDuration(s);
    } catch (err) {
      if (!(err instanceof UnitError)) throw err;
    }
  }
  throw new UsageError(`${option}: "${text}" is neither a duration back from now (24h, 7d, 90m), an ISO-8601 time (2025-01-31T12:00:00Z) nor "now"`);
}

export function intValue(option: string, text: string, min: number, max: number): number {
  const n = /^-?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${option}: must be a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}

export function tenantValue(what: string, text: string): string {
  if (!TENANT_NAME.test(text)) throw new UsageError(`${what}: "${text}" is not a tenant name (letters, digits, ".", "_", "-"; at most 64)`);
  return text;
}

export function hostValue(what: string, text: string): string {
  if (!HOST_NAME.test(text)) throw new UsageError(`${what}: "${text}" is not a host name (letters, digits, ".", "_", "-")`);
  return text;
}

export function oneOfValue<T extends string>(option: string, text: string, allowed: readonly T[]): T {
  if (!allowed.includes(text as T)) throw new UsageError(`${option}: must be one of ${allowed.join(', ')}, got "${text}"`);
  return text as T;
}
