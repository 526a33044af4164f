// bandwidth: bytes per second sent and received per tenant, from nftables counters the agent keeps in its own
// table (`inet hostwarden`, IPv4 and IPv6 alike). Sent bytes are matched by socket owner UID (`meta skuid`) on
// the output hook through a UID -> named counter map: one lookup per packet however many tenants there are.
// Received bytes need the socket of an incoming packet:
// - pure cgroup v2 hosts: `socket cgroupv2` on the input hook (the tenant's cgroup path -> counter map);
// - v1 and hybrid hosts (no cgroup v2 socket match for tenants): the connection is marked by its socket owner
//   on output, in a masked bit range of the conntrack mark (`bandwidth.ct_mark_mask`, default 0x0fff0000:
//   the bits outside it, which firewalld, CSF, Docker or wg-quick may use, are kept as they are), and input is
//   counted by that mark (mark -> counter map). Every outgoing packet re-marks its connection (a TCP receiver
//   sends ACKs all along), so a mark left by an earlier agent run with other tenant numbers is corrected by the
//   connection's next packet out. The first packet of a connection opened from outside (a SYN to a tenant's
//   own daemon) arrives before any mark and is not counted.
// Loopback traffic is counted in neither direction: it never uses the link, and a tenant's PHP answering the
// local web server over loopback would otherwise count once here and once more in the web server's access log.
// Limitation of UID matching: bytes still queued after the sending process closed its socket have no owner any
// more (the socket's file is gone) and are not counted; cgroup matching (v2) has no such gap.
import { spawnSync } from 'node:child_process';
import { HostwardenError } from '../../shared/errors.js';
import type { NetworkStats } from '../../shared/wire/agent.js';
import { type NftQuery, NftSession } from '../kernel/nft-session.js';
import type { BandwidthConfig } from '../shaping/config.js';
import type { Tenant } from '../tenants.js';
import { type CollectContext, type Collector, NoData, RateTracker, sampleOf } from './collector.js';
import { DEFAULT_CT_MARK_MASK, markCapacity, markOf } from './ct-mark.js';
import { LinkCollector } from './link.js';

/** nft refused to install the agent's table or to list its counters (the collector reports it and retries). */
export class NftablesError extends HostwardenError {
  constructor(message: string) {
    super('HW_NFTABLES', message);
  }
}

export type NftExec = (args: string[], input?: string) => { status: number | null; stdout: string; stderr: string };

export const nftExec: NftExec = (args, input) => {
  const r = spawnSync('nft', args, { input, encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { status: null, stdout: '', stderr: r.error.message };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** Counter names are tenant names with a direction prefix; nft object names allow [A-Za-z0-9_.-]. */
function counterName(direction: 'tx' | 'rx', tenant: string): string {
  return `${direction}_${tenant}`;
}

/** How received bytes are attributed: by the socket's cgroup (pure v2), by the connection's mark, or not at all. */
export type RxMode = { kind: 'cgroup'; parent: string } | { kind: 'ct_mark'; mask: number; marks: ReadonlyMap<string, number> } | undefined;

export { ctMarkMaskProblem, DEFAULT_CT_MARK_MASK, markCapacity, markOf } from './ct-mark.js';

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * The whole table as one nft script, replaced atomically (create, delete, create again in one transaction).
 * `rx`: how received bytes are counted (see the header); undefined: not counted.
 */
export function buildRuleset(table: string, tenants: readonly Tenant[], rx?: RxMode): string {
  const withUids = tenants.filter((t) => t.uids.length > 0);
  const lines = [`table inet ${table} {}`, `delete table inet ${table}`, `table inet ${table} {`];
  // Tenants whose received bytes are counted: every one by cgroup, the numbered ones by mark.
  const rxTenants = rx === undefined ? [] : rx.kind === 'cgroup' ? withUids : withUids.filter((t) => rx.marks.has(t.name));
  const rxSet = new Set(rxTenants.map((t) => t.name));
  // rx counters only where rx is counted: every counter makes each `nft list counters` dearer.
  for (const t of withUids) lines.push(`  counter ${counterName('tx', t.name)} { }`, ...(rxSet.has(t.name) ? [`  counter ${counterName('rx', t.name)} { }`] : []));
  const txElems = withUids.flatMap((t) => t.uids.map((uid) => `${uid} : "${counterName('tx', t.name)}"`));
  lines.push(`  map tx_by_uid { type uid : counter;${txElems.length ? ` elements = { ${txElems.join(', ')} }` : ''} }`);
  const marking = rx?.kind === 'ct_mark' && rxTenants.length > 0 ? rx : undefined;
  if (marking) {
    // One chain per numbered tenant sets its number in the mask's bits, keeping the others (a verdict map
    // jumps to it: one lookup per packet). Written only when it differs, so a connection's entry is not
    // dirtied by every packet.
    const keep = hex(~marking.mask >>> 0);
    const mask = hex(marking.mask);
    const vmap: string[] = [];
    for (const t of rxTenants) {
      const mark = hex(markOf(marking.mask, marking.marks.get(t.name)!));
      lines.push(`  chain mark_${t.name} {`, `    ct mark and ${mask} != ${mark} ct mark set ct mark and ${keep} or ${mark}`, '  }');
      for (const uid of t.uids) vmap.push(`${uid} : jump mark_${t.name}`);
    }
    lines.push(`  map mark_by_uid { type uid : verdict; elements = { ${vmap.join(', ')} } }`);
    const rxElems = rxTenants.map((t) => `${hex(markOf(marking.mask, marking.marks.get(t.name)!))} : "${counterName('rx', t.name)}"`);
    lines.push(`  map rx_by_mark { type mark : counter; elements = { ${rxElems.join(', ')} } }`);
  }
  lines.push('  chain tx {', '    type filter hook output priority -150; policy accept;', '    meta oiftype loopback return', '    counter name meta skuid map @tx_by_uid');
  if (marking) lines.push('    meta skuid vmap @mark_by_uid');
  lines.push('  }');
  if (rx?.kind === 'cgroup' && rxTenants.length > 0) {
    const rxElems = rxTenants.map((t) => `"${rx.parent}/${t.name}" : "${counterName('rx', t.name)}"`);
    lines.push('  chain rx {', '    type filter hook input priority -150; policy accept;', '    meta iiftype loopback return');
    // The tenant's cgroup is one level below the parent, which may be a path (systemd hosts).
    lines.push(`    counter name socket cgroupv2 level ${rx.parent.split('/').length + 1} map { ${rxElems.join(', ')} }`);
    lines.push('  }');
  } else if (marking) {
    lines.push('  chain rx {', '    type filter hook input priority -150; policy accept;', '    meta iiftype loopback return');
    lines.push(`    counter name ct mark and ${hex(marking.mask)} map @rx_by_mark`);
    lines.push('  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/**
 * How often the tenants' counters are listed while the egress link is calm. Each listing makes nft dump and
 * print every counter (measured here: about 20 ms of nft CPU for 1,000 tenants' tx and rx counters, 0.4 % of a
 * core at a 5 s tick); a tenant's bytes matter to the policy only while the link is near contention, and then
 * they are listed every tick.
 */
export const BANDWIDTH_LIST_EVERY_MS = 30_000;

/**
 * Whether the egress link is near contention (half the policy's saturation or drop threshold): the policy
 * judges bandwidth then, on each tenant's bytes of this tick. No link seen (no default route): calm.
 */
export function linkNearContention(net: NetworkStats | undefined, c: { linkSaturation: number; linkDrops: number }): boolean {
  if (!net) return false;
  if (net.saturation !== undefined && net.saturation >= c.linkSaturation / 2) return true;
  return c.linkDrops > 0 && net.drops_per_s >= c.linkDrops / 2;
}

/**
 * The agent's link and bandwidth collectors, to run in that order: the egress link's saturation (bandwidth's
 * contention signal, the host's `network` in the report) decides whether the counters are listed this tick.
 * `rxCgroupParent`: pure v2 hosts' tenant parent (rx by socket cgroup); `contention()`: the policy's thresholds now.
 */
export function networkCollectors(bw: BandwidthConfig, rxCgroupParent: string | undefined, contention: () => { linkSaturation: number; linkDrops: number }, warn: (message: string) => void): [LinkCollector, BandwidthCollector] {
  const busy = (net: NetworkStats | undefined) => linkNearContention(net, contention());
  const link = new LinkCollector({ ...(bw.interfaces ? { interfaces: bw.interfaces } : {}), ...(bw.linkSpeed !== undefined ? { linkSpeed: bw.linkSpeed } : {}), qdiscEveryMs: BANDWIDTH_LIST_EVERY_MS, busy });
  const listing = { everyMs: BANDWIDTH_LIST_EVERY_MS, busy: (ctx: CollectContext) => busy(ctx.host.network) };
  return [link, new BandwidthCollector(nftExec, bw.table, rxCgroupParent, undefined, bw.ctMarkMask, warn, listing)];
}

/** Byte counters per tenant from `nft -j list counters table inet <table>`. */
export function parseCounters(json: string): Map<string, { tx: number; rx: number }> {
  const doc = JSON.parse(json) as { nftables?: Array<{ counter?: { name: string; bytes: number } }> };
  const out = new Map<string, { tx: number; rx: number }>();
  for (const item of doc.nftables ?? []) {
    const c = item.counter;
    if (!c) continue;
    const m = /^(tx|rx)_(.+)$/.exec(c.name);
    if (!m) continue;
    const entry = out.get(m[2]!) ?? { tx: 0, rx: 0 };
    entry[m[1] as 'tx' | 'rx'] = c.bytes;
    out.set(m[2]!, entry);
  }
  return out;
}

export class BandwidthCollector implements Collector {
  readonly name = 'bandwidth';
  private installed = '';
  private installedFor: readonly Tenant[] | undefined;
  private readonly rates = new RateTracker();
  private unavailable: string | undefined;
  /** Tenant -> its number in the conntrack mark bits (v1/hybrid rx), kept while the tenant exists. */
  private readonly marks = new Map<string, number>();
  private warnedFull = false;

  constructor(
    private readonly exec: NftExec = nftExec,
    private readonly table = 'hostwarden',
    /** Set on pure cgroup v2 hosts to count received bytes by the socket's cgroup. */
    private readonly rxCgroupParent?: string,
    /**
     * Where the counters are listed each tick: one long-lived `nft -j -i` (kernel/nft-session.ts) by default
     * when `exec` is the real nft; a run of `exec` whenever it gives no answer.
     */
    private readonly session: NftQuery | undefined = exec === nftExec ? new NftSession() : undefined,
    /** Without a cgroup parent: the conntrack mark bits received bytes are attributed by (0: rx not counted). */
    private readonly ctMarkMask = DEFAULT_CT_MARK_MASK,
    private readonly warn: (message: string) => void = () => {},
    /**
     * When the counters are listed: every `everyMs` (a listing of 2,000 counters costs nft about 20 ms of CPU
     * here), and on every tick `busy` says the egress link is near contention, where the policy judges each
     * tenant's own bytes. Between listings each tenant's last rate stands.
     */
    private readonly listing: { everyMs: number; busy: (ctx: CollectContext) => boolean } = { everyMs: 0, busy: () => true },
  ) {}

  /** When the counters were last listed (monotonic ms), and what they gave (held until the next listing). */
  private listedAt = -Infinity;
  private held = new Map<string, { tx_bps: number; rx_bps: number }>();
  private heldNetwork: Map<string, { tx: number; rx?: number }> | undefined;

  /** How received bytes are counted for these tenants (numbers in the mark given to new tenants, freed for gone ones). */
  private rxMode(tenants: readonly Tenant[]): RxMode {
    if (this.rxCgroupParent !== undefined) return { kind: 'cgroup', parent: this.rxCgroupParent };
    if (this.ctMarkMask === 0) return undefined;
    const names = new Set(tenants.filter((t) => t.uids.length > 0).map((t) => t.name));
    for (const name of [...this.marks.keys()]) if (!names.has(name)) this.marks.delete(name);
    const used = new Set(this.marks.values());
    const capacity = markCapacity(this.ctMarkMask);
    let next = 1;
    for (const name of names) {
      if (this.marks.has(name)) continue;
      while (used.has(next)) next++;
      if (next > capacity) {
        if (!this.warnedFull) this.warn(`bandwidth.ct_mark_mask ${hex(this.ctMarkMask)} numbers at most ${capacity} tenants: received bytes of the others are not counted`);
        this.warnedFull = true;
        break;
      }
      this.marks.set(name, next);
      used.add(next);
    }
    return { kind: 'ct_mark', mask: this.ctMarkMask, marks: this.marks };
  }

  collect(ctx: CollectContext): void | NoData {
    if (this.unavailable) return new NoData(this.unavailable);
    // The same tenant list as installed needs no key (1,000 tenants' names and UIDs serialised every tick).
    const key = ctx.tenants === this.installedFor ? this.installed : JSON.stringify(ctx.tenants.map((t) => [t.name, t.uids]));
    if (key !== this.installed) {
      const r = this.exec(['-f', '-'], buildRuleset(this.table, ctx.tenants, this.rxMode(ctx.tenants)));
      if (r.status === null) {
        this.unavailable = `nft is not available: ${r.stderr}`;
        return new NoData(this.unavailable);
      }
      if (r.status !== 0) throw new NftablesError(`cannot install the nftables table inet ${this.table}: ${r.stderr.trim().split('\n')[0]}`);
      this.installed = key;
      this.installedFor = ctx.tenants;
      this.listedAt = -Infinity; // new counters: their first listing is now
    }
    if (ctx.mono - this.listedAt < this.listing.everyMs && !this.listing.busy(ctx)) {
      this.hold(ctx);
      return;
    }
    let json = this.session?.query(`list counters table inet ${this.table}`);
    if (json === undefined) {
      const list = this.exec(['-j', 'list', 'counters', 'table', 'inet', this.table]);
      if (list.status !== 0) {
        this.installed = ''; // someone removed the table: reinstall next tick
        this.installedFor = undefined;
        throw new NftablesError(`cannot read nftables counters: ${list.stderr.trim().split('\n')[0]}`);
      }
      json = list.stdout;
    }
    const network = (ctx.network = new Map());
    const held = new Map<string, { tx_bps: number; rx_bps: number }>();
    for (const [tenant, bytes] of parseCounters(json)) {
      if (!ctx.samples.has(tenant)) continue;
      network.set(tenant, this.rxCgroupParent !== undefined ? bytes : { tx: bytes.tx });
      const tx = this.rates.rate(`${tenant}\0tx`, bytes.tx, ctx.mono, 1e11);
      const rx = this.rates.rate(`${tenant}\0rx`, bytes.rx, ctx.mono, 1e11);
      if (tx === undefined || rx === undefined) continue;
      // One frozen object, shared by the samples until the next listing (samples are never changed; the web
      // bytes make a new one, agent/weblogs/weblogs.ts).
      const rates = Object.freeze({ tx_bps: Math.round(tx), rx_bps: Math.round(rx) });
      held.set(tenant, rates);
      sampleOf(ctx, tenant).bandwidth = rates;
    }
    this.listedAt = ctx.mono;
    this.held = held;
    this.heldNetwork = network;
  }

  /** A tick between listings: each tenant's rate over the span of the last listing (the same frozen object). */
  private hold(ctx: CollectContext): void {
    if (this.heldNetwork) ctx.network = this.heldNetwork;
    for (const [tenant, rates] of this.held) if (ctx.samples.has(tenant)) sampleOf(ctx, tenant).bandwidth = rates;
  }

  /** Remove the table (uninstall path). */
  remove(): void {
    this.close();
    this.exec(['delete', 'table', 'inet', this.table]);
    this.installed = '';
    this.installedFor = undefined;
  }

  /** End the nft session (the agent stopping). */
  close(): void {
    this.session?.close();
  }
}
