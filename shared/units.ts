// Units used in config, on the wire, in the API and in email: one parser and one formatter for each.
// Sizes and rates are binary (K = 1024), as LVE and the kernel's own tools use them.

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Thrown by the parsers; callers that know the config key wrap it with the key's path. */
export class UnitError extends Error {
  readonly code = 'HW_UNIT';
}

/** Results beyond this are refused: every duration and size is a safe integer (2^53-1 ms is 285,000 years). */
const MAX_RESULT = Number.MAX_SAFE_INTEGER;

function bounded(result: number, what: string, input: string | number): number {
  if (!(result <= MAX_RESULT)) throw new UnitError(`invalid ${what} ${JSON.stringify(input)}: too large (at most ${MAX_RESULT} ${what === 'duration' ? 'ms' : 'bytes'})`);
  return result;
}

/** "500ms", "5s", "2m", "1h", "1d", "1h30m" or a bare number of seconds -> milliseconds (at most 2^53-1). */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new UnitError(`invalid duration ${input}: must be a non-negative number of seconds`);
    return bounded(Math.round(input * 1000), 'duration', input);
  }
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return bounded(Math.round(Number(text) * 1000), 'duration', input);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (end === 0 || end !== text.length) {
    throw new UnitError(`invalid duration "${input}": use a number with ms, s, m, h or d (e.g. 500ms, 5s, 2m, 1h)`);
  }
  return bounded(Math.round(total), 'duration', input);
}

/** "512M", "1G", "10M", "4096", "1.5G" -> bytes. Accepts an optional "B"/"iB" suffix (512MiB, 1GB). */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new UnitError(`invalid size ${input}: must be a non-negative number of bytes`);
    return bounded(Math.round(input), 'size', input);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(input);
  if (!m) throw new UnitError(`invalid size "${input}": use a number with K, M, G or T (e.g. 512M, 1G)`);
  return bounded(Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!), 'size', input);
}

/** Rates are sizes per second: "10M" -> 10485760 bytes/s. A trailing "/s" is accepted. */
export function parseRate(input: string | number): number {
  return parseSize(typeof input === 'string' ? input.replace(/\/s$/i, '') : input);
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const abs = Math.abs(bytes);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = abs;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${bytes < 0 ? '-' : ''}${v.toFixed(digits)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}
