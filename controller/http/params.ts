// Time and duration query parameters: ISO-8601 times, "now", or durations back from now ("24h" = now - 24 h).
import { parseTimePoint } from '../../shared/time.js';
import { parseDuration, UnitError } from '../../shared/units.js';
import { BadRequestError } from './errors.js';

/** Times the API takes: years 0000 to 9999 (what an ISO-8601 answer with four digits can say). */
export const MIN_TIME_MS = Date.parse('0000-01-01T00:00:00.000Z');
export const MAX_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** Milliseconds since the epoch for a `from`/`to` parameter; a 400 naming the parameter otherwise. */
export function parseTimeParam(name: string, text: string, now: number): number {
  const t = parseTimePoint(text, now);
  if (t === undefined) {
    // A duration too large to be one ("99999999999999999999d") says so rather than "not a duration".
    if (/^\s*\d/.test(text)) {
      try {
        parseDuration(text);
      } catch (err) {
        if (err instanceof UnitError && /too large/.test(err.message)) throw new BadRequestError(`${name}: "${text}" reaches back before ${new Date(MIN_TIME_MS).toISOString()}: use a shorter duration or an ISO-8601 time`);
      }
    }
    throw new BadRequestError(`${name}: "${text}" is neither an ISO-8601 time (2025-01-31T12:00:00Z), "now", nor a duration back from now (24h, 7d)`);
  }
  if (t < MIN_TIME_MS) throw new BadRequestError(`${name}: "${text}" reaches back before ${new Date(MIN_TIME_MS).toISOString()}: use a shorter duration or an ISO-8601 time`);
  if (t > MAX_TIME_MS) throw new BadRequestError(`${name}: "${text}" is after ${new Date(MAX_TIME_MS).toISOString()}`);
  return t;
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
