// A point in time as the API and the CLI take it: "now", an ISO-8601 time (UTC when it names no zone, like
// every time in the API), or a duration back from now ("24h" = now - 24 h). One rule for both sides.
import { parseDuration, UnitError } from './units.js';

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Milliseconds since the epoch that `text` stands for at `now`, or undefined when it is none of the three. */
export function parseTimePoint(text: string, now: number): number | undefined {
  const s = text.trim();
  if (s === 'now') return now;
  if (ISO.test(s)) {
    const t = Date.parse(/T.*(Z|[+-]\d{2}:?\d{2})$/.test(s) || !s.includes('T') ? s : `${s}Z`);
    return Number.isFinite(t) ? t : undefined;
  }
  if (!/^\d/.test(s)) return undefined;
  try {
    return now - parseDuration(s);
  } catch (err) {
    if (err instanceof UnitError) return undefined;
    throw err;
  }
}
