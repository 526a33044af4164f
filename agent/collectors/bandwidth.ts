// bandwidth: bytes per second sent and received per tenant, from nftables counters the agent keeps in its own
// table (`inet hostwarden`). Sent bytes are matched by socket owner UID (`meta skuid`) on the output hook
// through a UID -> named counter map: one lookup per packet however many tenants there are. Received bytes
// need the socket of an incoming packet, which only `socket cgroupv2` finds on the input hook: counted on
// pure cgroup v2 hosts (the tenant's cgroup path -> counter map); elsewhere rx is reported as 0 and the
// collector says so once. Limitation of UID matching: bytes still queued after the sending process closed its
// socket have no owner any more (the socket's file is gone) and are not counted; cgroup matching (v2) has no
// such gap.
import { spawnSync } from 'node:child_process';
import { HostwardenError } from '../../shared/errors.js';
import { type NftQuery, NftSession } from '../kernel/nft-session.js';
import type { Tenant } from '../tenants.js';
import { type CollectContext, type Collector, NoData, RateTracker, sampleOf } from './collector.js';

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

/**
 * The whole table as one nft script, replaced atomically (create, delete, create again in one transaction).
 * `rxCgroupParent`: on pure cgroup v2 hosts the parent's path below the cgroup2 root (e.g. "hostwarden").
 */
export function buildRuleset(table: string, tenants: readonly Tenant[], rxCgroupParent?: string): string {
  const withUids = tenants.filter((t) => t.uids.length > 0);
  const lines = [`table inet ${table} {}`, `delete table inet ${table}`, `table inet ${table} {`];
  // rx counters only where rx is counted (cgroup v2): every counter makes each `nft list counters` dearer.
  const rx = rxCgroupParent !== undefined;
  for (const t of withUids) lines.push(`  counter ${counterName('tx', t.name)} { }`, ...(rx ? [`  counter ${counterName('rx', t.name)} { }`] : []));
  const txElems = withUids.flatMap((t) => t.uids.map((uid) => `${uid} : "${counterName('tx', t.name)}"`));
  lines.push(`  map tx_by_uid { type uid : counter;${txElems.length ? ` elements = { ${txElems.join(', ')} }` : ''} }`);
  lines.push('  chain tx {', '    type filter hook output priority -150; policy accept;', '    counter name meta skuid map @tx_by_uid', '  }');
  if (rxCgroupParent !== undefined && withUids.length > 0) {
    const rxElems = withUids.map((t) => `"${rxCgroupParent}/${t.name}" : "${counterName('rx', t.name)}"`);
    lines.push('  chain rx {', '    type filter hook input priority -150; policy accept;');
    lines.push(`    counter name socket cgroupv2 level 2 map { ${rxElems.join(', ')} }`);
    lines.push('  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
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

  constructor(
    private readonly exec: NftExec = nftExec,
    private readonly table = 'hostwarden',
    /** Set on pure cgroup v2 hosts to count received bytes too. */
    private readonly rxCgroupParent?: string,
    /**
     * Where the counters are listed each tick: one long-lived `nft -j -i` (kernel/nft-session.ts) by default
     * when `exec` is the real nft; a run of `exec` whenever it gives no answer.
     */
    private readonly session: NftQuery | undefined = exec === nftExec ? new NftSession() : undefined,
  ) {}

  collect(ctx: CollectContext): void | NoData {
    if (this.unavailable) return new NoData(this.unavailable);
    // The same tenant list as installed needs no key (1,000 tenants' names and UIDs serialised every tick).
    const key = ctx.tenants === this.installedFor ? this.installed : JSON.stringify(ctx.tenants.map((t) => [t.name, t.uids]));
    if (key !== this.installed) {
      const r = this.exec(['-f', '-'], buildRuleset(this.table, ctx.tenants, this.rxCgroupParent));
      if (r.status === null) {
        this.unavailable = `nft is not available: ${r.stderr}`;
        return new NoData(this.unavailable);
      }
      if (r.status !== 0) throw new NftablesError(`cannot install the nftables table inet ${this.table}: ${r.stderr.trim().split('\n')[0]}`);
      this.installed = key;
      this.installedFor = ctx.tenants;
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
    for (const [tenant, bytes] of parseCounters(json)) {
      if (!ctx.samples.has(tenant)) continue;
      const tx = this.rates.rate(`${tenant}\0tx`, bytes.tx, ctx.mono, 1e11);
      const rx = this.rates.rate(`${tenant}\0rx`, bytes.rx, ctx.mono, 1e11);
      if (tx === undefined || rx === undefined) continue;
      sampleOf(ctx, tenant).bandwidth = { tx_bps: Math.round(tx), rx_bps: Math.round(rx) };
    }
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
