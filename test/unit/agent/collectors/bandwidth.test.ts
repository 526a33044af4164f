import { describe, expect, it } from 'vitest';
import { BandwidthCollector, buildRuleset, NftablesError, parseCounters } from '../../../../agent/collectors/bandwidth.js';
import type { CollectContext } from '../../../../agent/collectors/collector.js';
import { NoData } from '../../../../agent/collectors/collector.js';
import type { Tenant } from '../../../../agent/tenants.js';

const tenant = (name: string, uids: number[]): Tenant => ({ name, uids, homes: [], domains: [], source: 'config' });

describe('bandwidth collector (pure parts)', () => {
  it('builds one atomic table with a UID -> counter map (and an rx map on cgroup v2)', () => {
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
        '    counter name meta skuid map @tx_by_uid',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    expect(buildRuleset('hostwarden', [tenant('alice', [1001])], 'hostwarden')).toContain('counter name socket cgroupv2 level 2 map { "hostwarden/alice" : "rx_alice" }');
    expect(buildRuleset('hostwarden', [tenant('alice', [1001])], 'hostwarden')).toContain('  counter rx_alice { }'); // rx counters only where rx is counted
    expect(buildRuleset('hostwarden', [])).toContain('map tx_by_uid { type uid : counter; }');
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
