// What the shaper reads from and writes to the kernel's traffic control, as pure functions: parsing
// `tc -j qdisc show`, `tc class show` (iproute2 6.1 prints no JSON for HTB classes: `-j` gives the text form,
// so the text form is what is parsed) and `ip -j route show default`, and the nft script of the shaper's table.
//
// Selection without a tc filter: HTB looks at a packet's priority first (sch_htb.c htb_classify: when
// skb->priority names a leaf class of this qdisc, that class takes it). nftables sets the priority of a
// throttled tenant's packets on the output hook (`meta priority set`, by socket owner UID), so no `fw` or u32
// filter is needed (the `fw` classifier is not built on this kernel and a u32 match on the mark is silently
// ignored). Packets of everyone else carry priorities 0..6 (or a socket's SO_PRIORITY), name no class of ours,
// and go to HTB's direct queue: they are not shaped at all.

/** The HTB qdisc's major number: "HW" in ASCII, unlikely to be picked by hand. */
export const SHAPER_MAJOR = 0x4857;
/** The classid's 16-bit minor numbers a tenant's class may take (0 is the qdisc itself). */
export const MAX_MINOR = 0xffff;

export interface RootQdisc {
  dev: string;
  kind: string;
  /** "0:" for the qdisc the kernel attached by default (no one chose it), else "major:" in hex. */
  handle: string;
}

/** The root qdisc of every device in `tc -j qdisc show` (children of mq and the like are left out). */
export function parseRootQdiscs(json: string): Map<string, RootQdisc> {
  const out = new Map<string, RootQdisc>();
  const doc = JSON.parse(json) as unknown;
  if (!Array.isArray(doc)) return out;
  for (const q of doc as Array<{ kind?: unknown; handle?: unknown; dev?: unknown; root?: unknown }>) {
    if (q.root !== true || typeof q.dev !== 'string' || typeof q.kind !== 'string' || typeof q.handle !== 'string') continue;
    out.set(q.dev, { dev: q.dev, kind: q.kind, handle: q.handle });
  }
  return out;
}

/** Whether a root qdisc is one the kernel attached by default: handle 0 (any qdisc added by hand gets one). */
export function isKernelDefault(q: RootQdisc | undefined): boolean {
  return q === undefined || q.handle === '0:';
}

export function majorText(major: number): string {
  return `${major.toString(16)}:`;
}

/** Whether a root qdisc is the shaper's HTB. */
export function isOurs(q: RootQdisc | undefined, major = SHAPER_MAJOR): boolean {
  return q !== undefined && q.kind === 'htb' && q.handle === majorText(major);
}

export interface HtbClass {
  minor: number;
  /** bits per second */
  rate: number;
  ceil: number;
}

const TC_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12 };

/** A tc rate as printed ("20Mbit", "1600bit", "2.5Gbit"), in bits per second; NaN when it is none. */
export function parseTcRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?bit)$/i.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * TC_UNITS[m[2]!.toLowerCase()]!;
}

/** The HTB classes under qdisc `major` in `tc class show dev X` text. */
export function parseHtbClasses(text: string, major = SHAPER_MAJOR): Map<number, HtbClass> {
  const out = new Map<number, HtbClass>();
  const prefix = major.toString(16);
  for (const line of text.split('\n')) {
    const m = /^class htb ([0-9a-f]+):([0-9a-f]+) .*?\brate (\S+) ceil (\S+)/.exec(line);
    if (!m || m[1] !== prefix) continue;
    out.set(Number.parseInt(m[2]!, 16), { minor: Number.parseInt(m[2]!, 16), rate: parseTcRate(m[3]!), ceil: parseTcRate(m[4]!) });
  }
  return out;
}

/** The devices of the default routes in `ip -j route show default` (IPv4 or IPv6). */
export function parseDefaultRouteDevs(json: string): string[] {
  const doc = JSON.parse(json || '[]') as unknown;
  if (!Array.isArray(doc)) return [];
  const devs = new Set<string>();
  for (const r of doc as Array<{ dev?: unknown }>) if (typeof r.dev === 'string' && IFACE_RE.test(r.dev)) devs.add(r.dev);
  return [...devs];
}

/** Interface names as the kernel allows them (IFNAMSIZ 16 with the NUL; no slash, no space). */
export const IFACE_RE = /^[A-Za-z0-9_.:@-]{1,15}$/;

/** Whether a class holds `rate` (bytes/s) to within tc's rounding (it prints 3 significant digits). */
export function classHolds(c: HtbClass | undefined, rateBytes: number): boolean {
  if (!c) return false;
  const want = rateBytes * 8;
  return Math.abs(c.rate - want) <= want * 0.01 + 8 && Math.abs(c.ceil - want) <= want * 0.01 + 8;
}

/**
 * `tc class replace` arguments for a tenant's class: rate = ceil = the cap (no borrowing), a quantum kept
 * within HTB's sane range (it warns below the MTU and above 200,000 bytes), and a burst of the larger of one
 * whole GSO packet (64 KiB and headers) and 50 ms at the rate. HTB's default burst (about one MTU) loses the
 * tokens of any dequeue that comes late: on a busy guest the class then ran 37 % under its rate (measured in
 * the VM tier); a burst this size costs at most 50 ms worth of extra bytes once, after an idle spell.
 */
export function classArgs(dev: string, major: number, minor: number, rateBytes: number): string[] {
  const bits = Math.max(8, Math.round(rateBytes * 8));
  const quantum = Math.min(200_000, Math.max(1600, Math.round(rateBytes / 10)));
  const burst = Math.max(MIN_BURST, Math.round(rateBytes / 20));
  const id = `${major.toString(16)}:${minor.toString(16)}`;
  return ['class', 'replace', 'dev', dev, 'parent', majorText(major), 'classid', id, 'htb', 'rate', `${bits}bit`, 'ceil', `${bits}bit`, 'burst', `${burst}b`, 'cburst', `${burst}b`, 'quantum', String(quantum)];
}

/** One GSO packet of 64 KiB and its headers. */
const MIN_BURST = 65_536 + 1_600;

/** The shaper's nft table: throttled tenants' UIDs -> their class, set as the packet priority on output. */
export function buildShapeRuleset(table: string, major: number, entries: ReadonlyArray<{ uids: readonly number[]; minor: number }>): string {
  const elems = entries.flatMap((e) => e.uids.map((uid) => `${uid} : ${major.toString(16)}:${e.minor.toString(16)}`));
  return [
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    `  map class_by_uid { type uid : classid;${elems.length ? ` elements = { ${elems.join(', ')} }` : ''} }`,
    '  chain out {',
    '    type filter hook output priority -140; policy accept;',
    '    meta oiftype loopback return',
    '    meta priority set meta skuid map @class_by_uid',
    '  }',
    '}',
    '',
  ].join('\n');
}
