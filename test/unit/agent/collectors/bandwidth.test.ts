import { describe, expect, it } from 'vitest';
import { BANDWIDTH_LIST_EVERY_MS, BandwidthCollector, buildRuleset, ctMarkMaskProblem, linkNearContention, markCapacity, markOf, NftablesError, parseCounters } from '../../../../agent/collectors/bandwidth.js';
import type { CollectContext } from '../../../../agent/collectors/collector.js';
import { NoData } from '../../../../agent/collectors/collector.js';
import type { Tenant } from '../../../../agent/tenants.js';

const tenant = (name: string, uids: number[]): Tenant => ({ name, uids, homes: [], domains: [], source: 'config' });

describe('bandwidth collector (pure parts)', () => {
  it('builds one atomic table with a UID -> counter map (and an rx map on cgroup v2); loopback is not counted', () => {
    const rules = buildRuleset('hostwarden', [tenant('alice', [1001, 1002]), tenant('ghost', [])]);
    expect(rules).toBe(
      [
        'table inet hostwarden {}',
        'delete table inet hostwarden',
        'table inet hostwarden {',
        '  counter tx_alice { }',
        '  map tx_by_uid { type uid : counter; elements = { 1001 : "tx_alice", 1002 : "tx_alice" } }',
        '  chain tx {',
        '    type filter hook output priority -150; policy accept;',
        '    meta oiftype loopback return',
        '    counter name meta skuid map @tx_by_uid',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const v2 = buildRuleset('hostwarden', [tenant('alice', [1001])], { kind: 'cgroup', parent: 'hostwarden' });
    expect(v2).toContain('counter name socket cgroupv2 level 2 map { "hostwarden/alice" : "rx_alice" }');
    expect(v2).toContain('    meta iiftype loopback return');
    expect(v2).toContain('  counter rx_alice { }'); // rx counters only where rx is counted
    expect(buildRuleset('hostwarden', [])).toContain('map tx_by_uid { type uid : counter; }');
  });

  it('on v1/hybrid marks connections by socket owner in the masked conntrack bits and counts input by mark', () => {
    const marks = new Map([['alice', 1], ['bob', 2]]);
    const rules = buildRuleset('hw', [tenant('alice', [1001]), tenant('bob', [1002, 1003]), tenant('carol', [1004])], { kind: 'ct_mark', mask: 0x0fff0000, marks });
    // the bits outside the mask are kept (and 0 means "no tenant")
    expect(rules).toContain('  chain mark_alice {\n    ct mark and 0x0fff0000 != 0x00010000 ct mark set ct mark and 0xf000ffff or 0x00010000\n  }');
    expect(rules).toContain('  chain mark_bob {\n    ct mark and 0x0fff0000 != 0x00020000 ct mark set ct mark and 0xf000ffff or 0x00020000\n  }');
    expect(rules).toContain('map mark_by_uid { type uid : verdict; elements = { 1001 : jump mark_alice, 1002 : jump mark_bob, 1003 : jump mark_bob } }');
    expect(rules).toContain('map rx_by_mark { type mark : counter; elements = { 0x00010000 : "rx_alice", 0x00020000 : "rx_bob" } }');
    expect(rules).toContain('    meta skuid vmap @mark_by_uid');
    expect(rules).toContain('    counter name ct mark and 0x0fff0000 map @rx_by_mark');
    expect(rules).not.toContain('rx_carol'); // no number (the mask was full): sent bytes only
    expect(rules).toContain('  counter tx_carol { }');
  });

  it('checks and numbers conntrack mark masks', () => {
    expect(ctMarkMaskProblem(0x0fff0000)).toBeUndefined();
    expect(ctMarkMaskProblem(0xff)).toBeUndefined();
    expect(ctMarkMaskProblem(0x80000000)).toBeUndefined();
    expect(ctMarkMaskProblem(0)).toMatch(/at least one bit/);
    expect(ctMarkMaskProblem(0x0f0f0000)).toMatch(/contiguous/);
    expect(ctMarkMaskProblem(2 ** 32)).toMatch(/32-bit/);
    expect(markCapacity(0x0fff0000)).toBe(4095);
    expect(markOf(0x0fff0000, 3)).toBe(0x00030000);
    expect(markOf(0xff000000, 255)).toBe(0xff000000);
  });

  it('gives each tenant a number in the mark that stays while it exists, and frees it when it goes', () => {
    const scripts: string[] = [];
    const exec = (args: string[], input?: string) => {
      if (input) scripts.push(input);
      return { status: 0, stdout: '{"nftables": []}', stderr: '' };
    };
    const warnings: string[] = [];
    const collector = new BandwidthCollector(exec, 'hw', undefined, undefined, 0x00030000, (m) => warnings.push(m));
    const run = (tenants: Tenant[]) => collector.collect({ mono: 0, tenants, stats: new Map(), samples: new Map(), host: { cores: 1, memory_bytes: 1 } });
    run([tenant('a', [1001]), tenant('b', [1002])]);
    expect(scripts.at(-1)).toContain('0x00010000 : "rx_a", 0x00020000 : "rx_b"');
    run([tenant('b', [1002]), tenant('c', [1003]), tenant('d', [1004])]);
    // b kept 2, c took the freed 1, d the next free one (a 2-bit mask numbers three tenants)
    expect(scripts.at(-1)).toContain('0x00020000 : "rx_b", 0x00010000 : "rx_c", 0x00030000 : "rx_d"');
    expect(warnings).toEqual([]);
    run([tenant('b', [1002]), tenant('c', [1003]), tenant('d', [1004]), tenant('e', [1005])]);
    expect(scripts.at(-1)).toContain('  counter tx_e { }');
    expect(scripts.at(-1)).not.toContain('rx_e');
    expect(warnings).toEqual([expect.stringContaining('numbers at most 3 tenants')]);
  });

  it('parses nft -j counters (captured from nftables 1.0.6)', () => {
    const json =
      '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"counter": {"family": "inet", "name": "tx_alice", "table": "hwt", "handle": 3, "packets": 19, "bytes": 1000996}}, {"counter": {"family": "inet", "name": "rx_alice", "table": "hwt", "handle": 4, "packets": 2, "bytes": 120}}, {"counter": {"family": "inet", "name": "other", "table": "hwt", "handle": 5, "packets": 0, "bytes": 0}}]}';
    expect(parseCounters(json)).toEqual(new Map([['alice', { tx: 1000996, rx: 120 }]]));
  });
});

describe('bandwidth collector failures', () => {
  const ctx = (): CollectContext => ({ mono: 0, tenants: [tenant('alice', [1001])], stats: new Map(), samples: new Map(), host: { cores: 1, memory_bytes: 1 } });

  it('no nft binary is no data; nft refusing the table is an NftablesError with a stable code', () => {
    expect(new BandwidthCollector(() => ({ status: null, stdout: '', stderr: 'spawnSync nft ENOENT' })).collect(ctx())).toBeInstanceOf(NoData);
    const refused = new BandwidthCollector(() => ({ status: 1, stdout: '', stderr: 'Error: Could not process rule: Operation not permitted\nmore' }));
    expect(() => refused.collect(ctx())).toThrow(NftablesError);
    expect(() => refused.collect(ctx())).toThrow(expect.objectContaining({ code: 'HW_NFTABLES', message: 'cannot install the nftables table inet hostwarden: Error: Could not process rule: Operation not permitted' }));
  });
});

describe('bandwidth collector: when the counters are listed', () => {
  const contention = { linkSaturation: 0.9, linkDrops: 100 };
  /** A fake nft whose counters grow by `perTick` bytes between listings; counts the listings. */
  function fakeNft() {
    const state = { listings: 0, bytes: 0 };
    const exec = (args: string[], input?: string) => {
      if (input !== undefined) return { status: 0, stdout: '', stderr: '' };
      state.listings++;
      return { status: 0, stdout: JSON.stringify({ nftables: [{ counter: { name: 'tx_alice', bytes: state.bytes } }, { counter: { name: 'rx_alice', bytes: 0 } }] }), stderr: '' };
    };
    return { state, exec };
  }
  const ctxAt = (mono: number, tenants: Tenant[], network?: CollectContext['host']['network']): CollectContext => ({
    mono,
    tenants,
    stats: new Map(),
    samples: new Map(tenants.map((t) => [t.name, { tenant: t.name }])),
    host: { cores: 1, memory_bytes: 1, ...(network ? { network } : {}) },
  });

  it('while the link is calm: every 30 s, each tenant keeping its last rate between listings; every tick near contention', () => {
    const { state, exec } = fakeNft();
    const tenants = [tenant('alice', [1001])];
    const c = new BandwidthCollector(exec, 'hw', undefined, undefined, 0, undefined, { everyMs: BANDWIDTH_LIST_EVERY_MS, busy: (ctx) => linkNearContention(ctx.host.network, contention) });
    c.collect(ctxAt(0, tenants)); // installs the table and lists its new counters at once
    expect(state.listings).toBe(1);
    state.bytes = 30_000_000; // 1 MB/s over the next 30 s
    const rates: Array<number | undefined> = [];
    for (let t = 5_000; t <= 30_000; t += 5_000) {
      const ctx = ctxAt(t, tenants);
      c.collect(ctx);
      rates.push(ctx.samples.get('alice')!.bandwidth?.tx_bps);
    }
    // Ticks at 5..25 s list nothing (no rate yet: one listing so far); the one at 30 s lists and sees 1 MB/s.
    expect(state.listings).toBe(2);
    expect(rates).toEqual([undefined, undefined, undefined, undefined, undefined, 1_000_000]);
    // Between listings the last rate stands, a copy per tick (the web logs add to it).
    const held = ctxAt(35_000, tenants);
    c.collect(held);
    expect(state.listings).toBe(2);
    expect(held.samples.get('alice')!.bandwidth).toEqual({ tx_bps: 1_000_000, rx_bps: 0 });
    expect(held.network?.get('alice')).toEqual({ tx: 30_000_000 });
    // The link at half the saturation threshold (or half the drop threshold): listed on every tick.
    state.bytes = 40_000_000;
    const busy = ctxAt(40_000, tenants, { interface: 'eth0', tx_bps: 1, drops_per_s: 0, saturation: 0.45, link_bps: 1 });
    c.collect(busy);
    expect(state.listings).toBe(3);
    expect(busy.samples.get('alice')!.bandwidth?.tx_bps).toBe(1_000_000);
    c.collect(ctxAt(45_000, tenants, { interface: 'eth0', tx_bps: 1, drops_per_s: 50 }));
    expect(state.listings).toBe(4);
    c.collect(ctxAt(50_000, tenants, { interface: 'eth0', tx_bps: 1, drops_per_s: 49, saturation: 0.44, link_bps: 1 }));
    expect(state.listings).toBe(4);
    // A changed tenant set reinstalls the table (new counters): listed at once.
    c.collect(ctxAt(55_000, [...tenants, tenant('bob', [1002])]));
    expect(state.listings).toBe(5);
  });

  it('near contention: half a threshold; drops count only when the policy judges them', () => {
    expect(linkNearContention(undefined, contention)).toBe(false);
    expect(linkNearContention({ interface: 'e', tx_bps: 1, drops_per_s: 0 }, contention)).toBe(false);
    expect(linkNearContention({ interface: 'e', tx_bps: 1, drops_per_s: 0, saturation: 0.45 }, contention)).toBe(true);
    expect(linkNearContention({ interface: 'e', tx_bps: 1, drops_per_s: 50 }, contention)).toBe(true);
    expect(linkNearContention({ interface: 'e', tx_bps: 1, drops_per_s: 5000 }, { linkSaturation: 0.9, linkDrops: 0 })).toBe(false);
  });
});
