// Time and duration query parameters: ISO-8601 times, "now", or durations back from now ("24h" = now - 24 h).
import { parseTimePoint } from '../../shared/time.js';
import { parseDuration, UnitError } from '../../shared/units.js';
import { BadRequestError } from '../errors.js';

/** Milliseconds since the epoch for a `from`/`to` parameter; a 400 naming the parameter otherwise. */
export function parseTimeParam(name: string, text: string, now: number): number {
  const t = parseTimePoint(text, now);
  if (t !== undefined) return t;
  throw new BadRequestError(`${name}: "${text}" is neither an ISO-8601 time (2025-01-31T12:00:00Z), "now", nor a duration back from now (24h, 7d)`);
}

export function parseDurationParam(name: string, text: string, opts: { min?: number; max?: number } = {}): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    if (err instanceof UnitError) throw new BadRequestError(`${name}: ${err.message}`);
    throw err;
  }
  if (opts.min !== undefined && ms < opts.min) throw new BadRequestError(`${name}: must be at least ${opts.min / 1000}s, got "${text}"`);
  if (opts.max !== undefined && ms > opts.max) throw new BadRequestError(`${name}: must be at most ${opts.max / 86_400_000}d, got "${text}"`);
  return ms;
}

/** The [from, to) range of a history query, defaulting to the last `defaultRangeMs`. */
export function parseRange(query: { from?: string | undefined; to?: string | undefined }, now: number, defaultRangeMs: number): { from: number; to: number } {
  const to = query.to === undefined ? now : parseTimeParam('to', query.to, now);
  const from = query.from === undefined ? to - defaultRangeMs : parseTimeParam('from', query.from, now);
  if (!(to > from)) throw new BadRequestError(`to: must be after from (from ${new Date(from).toISOString()}, to ${new Date(to).toISOString()})`);
  return { from, to };
}
