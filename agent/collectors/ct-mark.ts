// The conntrack mark bits that number tenants for received bytes on v1/hybrid hosts (collectors/bandwidth.ts),
// apart so that the config reader (shaping/config.ts) checks a mask without importing the collector.

/** The conntrack mark bits the received-bytes marks use by default: clear of the low 16 bits and the top nibble. */
export const DEFAULT_CT_MARK_MASK = 0x0fff0000;

/** Why a conntrack mark mask cannot be used (it must be one run of set bits), or undefined. */
export function ctMarkMaskProblem(mask: number): string | undefined {
  if (!Number.isInteger(mask) || mask <= 0 || mask > 0xffffffff) return 'must be a 32-bit mask with at least one bit set';
  const shifted = mask / 2 ** lowBit(mask);
  if ((shifted & (shifted + 1)) !== 0) return 'must be one contiguous run of bits (e.g. 0x0fff0000)';
  return undefined;
}

function lowBit(mask: number): number {
  let n = 0;
  while (n < 32 && Math.floor(mask / 2 ** n) % 2 === 0) n++;
  return n;
}

/** The mark of the tenant numbered `n` (1..max) within `mask`. */
export function markOf(mask: number, n: number): number {
  return n * 2 ** lowBit(mask);
}

/** How many tenants a mask can number (0 is "no tenant"). */
export function markCapacity(mask: number): number {
  return mask / 2 ** lowBit(mask);
}

