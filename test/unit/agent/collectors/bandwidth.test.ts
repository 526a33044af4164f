import { describe, expect, it } from 'vitest';
import { BandwidthCollector, buildRuleset, ctMarkMaskProblem, markCapacity, markOf, NftablesError, parseCounters } from '../../../../agent/collectors/bandwidth.js';
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
