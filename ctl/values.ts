// Values of arguments and options, checked before anything is sent: a bad one is a UsageError (exit 2) that
// names the option, never a request the controller has to refuse.
import { UsageError } from '../shared/errors.js';
import { HOST_RE, NAME_RE } from '../shared/names.js';
import { parseTimePoint } from '../shared/time.js';
import { parseDuration, UnitError } from '../shared/units.js';

// The patterns of TenantNameSchema and HostNameSchema, from shared/names.ts (which does not load TypeBox).
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
  const t = parseTimePoint(text, now);
  if (t !== undefined) return t;
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
