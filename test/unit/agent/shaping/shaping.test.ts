import { describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../../../agent/config.js';
import { desiredBandwidthRate } from '../../../../agent/policy/desired.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { type NetExec, Shaper } from '../../../../agent/shaping/shaper.js';
import { buildShapeRuleset, classArgs, classHolds, isKernelDefault, isOurs, parseDefaultRouteDevs, parseHtbClasses, parseRootQdiscs, parseTcRate } from '../../../../agent/shaping/tc.js';
import { Section } from '../../../../shared/config.js';
import { ConfigError } from '../../../../shared/errors.js';

// Captured on this build machine (iproute2 6.1, kernel 6.18): `tc -j qdisc show`, `ip -j route show default`,
// and `tc class show` (HTB classes print as text even with -j).
const QDISCS = '[{"kind":"noqueue","handle":"0:","dev":"lo","root":true,"refcnt":2,"options":{}},{"kind":"pfifo_fast","handle":"0:","dev":"eth0","root":true,"refcnt":2,"options":{"bands":3,"priomap":[1,2,2,2,1,2,0,0,1,1,1,1,1,1,1,1],"multiqueue":false}},{"kind":"htb","handle":"4857:","dev":"veth1","root":true,"refcnt":3,"options":{"r2q":10,"default":"0","direct_packets_stat":4,"direct_qlen":1000}},{"kind":"fq_codel","handle":"0:","dev":"eth1","parent":":1","options":{}},{"kind":"pfifo","handle":"1:","dev":"eth2","root":true,"options":{}}]';
const ROUTES4 = '[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}]';
const ROUTES6 = '[{"dst":"default","gateway":"fd00::1","dev":"eth0","metric":1024,"flags":[],"pref":"medium"}]';
const CLASSES = 'class htb 4857:10 root prio 0 rate 20Mbit ceil 20Mbit burst 1600b cburst 1600b \nclass htb 4857:2 root prio 0 rate 32Mbit ceil 32Mbit burst 1596b cburst 1596b \nclass htb 1:1 root prio 0 rate 1Gbit ceil 1Gbit burst 1375b cburst 1375b \n';

describe('tc parsing (pure)', () => {
  it('reads root qdiscs and tells the kernel default, ours and someone else’s apart', () => {
    const roots = parseRootQdiscs(QDISCS);
    expect([...roots.keys()]).toEqual(['lo', 'eth0', 'veth1', 'eth2']); // eth1's fq_codel is a child
    expect(isKernelDefault(roots.get('eth0'))).toBe(true);
    expect(isKernelDefault(roots.get('lo'))).toBe(true);
    expect(isKernelDefault(roots.get('eth2'))).toBe(false);
    expect(isOurs(roots.get('veth1'))).toBe(true);
    expect(isOurs(roots.get('eth2'))).toBe(false);
    expect(isKernelDefault(roots.get('veth1'))).toBe(false);
  });

  it('reads HTB classes of our qdisc only, and their rates', () => {
    const classes = parseHtbClasses(CLASSES);
    expect([...classes.keys()]).toEqual([0x10, 2]);
    expect(classes.get(2)).toEqual({ minor: 2, rate: 32e6, ceil: 32e6 });
    expect(parseTcRate('2.5Gbit')).toBe(2.5e9);
    expect(parseTcRate('1600bit')).toBe(1600);
    expect(parseTcRate('fast')).toBeNaN();
    expect(classHolds(classes.get(2), 4_000_000)).toBe(true);
    expect(classHolds(classes.get(2), 5_000_000)).toBe(false);
    expect(classHolds(undefined, 1)).toBe(false);
  });

  it('reads default route devices, IPv4 and IPv6', () => {
    expect(parseDefaultRouteDevs(ROUTES4)).toEqual(['eth0']);
    expect(parseDefaultRouteDevs(ROUTES6)).toEqual(['eth0']);
    expect(parseDefaultRouteDevs('')).toEqual([]);
    expect(parseDefaultRouteDevs('[{"dev":"bad name"}]')).toEqual([]);
  });

  it('writes a class with rate = ceil and a sane quantum, and the priority map', () => {
    expect(classArgs('eth0', 0x4857, 0x1f, 4_000_000)).toEqual(['class', 'replace', 'dev', 'eth0', 'parent', '4857:', 'classid', '4857:1f', 'htb', 'rate', '32000000bit', 'ceil', '32000000bit', 'burst', '200000b', 'cburst', '200000b', 'quantum', '200000']);
    expect(classArgs('eth0', 0x4857, 1, 1000).slice(-6)).toEqual(['burst', '67136b', 'cburst', '67136b', 'quantum', '1600']);
    const rules = buildShapeRuleset('hw_shape', 0x4857, [{ uids: [1001, 1002], minor: 1 }, { uids: [1003], minor: 0x10 }]);
    expect(rules).toContain('map class_by_uid { type uid : classid; elements = { 1001 : 4857:1, 1002 : 4857:1, 1003 : 4857:10 } }');
    expect(rules).toContain('    meta priority set meta skuid map @class_by_uid');
    expect(rules.startsWith('table inet hw_shape {}\ndelete table inet hw_shape\n')).toBe(true);
  });
});

describe('Shaper against a scripted kernel', () => {
  /** A tiny model of tc and nft: root qdiscs per device, classes of ours, the shaper's table. */
  function kernel(roots: Record<string, { kind: string; handle: string }>) {
    const classes = new Map<string, Map<number, number>>();
    let table: string | undefined;
    const calls: string[] = [];
    const tc: NetExec = (program, args) => {
      calls.push(`${program} ${args.join(' ')}`);
      if (program === 'ip') return { status: 0, stdout: args[0] === '-4' ? ROUTES4 : ROUTES6, stderr: '' };
      if (args[0] === '-j') return { status: 0, stdout: JSON.stringify(Object.entries(roots).map(([dev, q]) => ({ ...q, dev, root: true }))), stderr: '' };
      const dev = args[3]!;
      if (args[0] === 'qdisc' && args[1] === 'add') {
        roots[dev] = { kind: 'htb', handle: args[6]! };
        classes.set(dev, new Map());
      } else if (args[0] === 'qdisc' && args[1] === 'del') {
        roots[dev] = { kind: 'noqueue', handle: '0:' };
        classes.delete(dev);
      } else if (args[0] === 'class' && args[1] === 'show') {
        const text = [...(classes.get(dev) ?? new Map<number, number>())].map(([m, bits]) => `class htb 4857:${m.toString(16)} root prio 0 rate ${bits}bit ceil ${bits}bit burst 1600b cburst 1600b `).join('\n');
        return { status: 0, stdout: text, stderr: '' };
      } else if (args[0] === 'class' && args[1] === 'replace') classes.get(dev)!.set(Number.parseInt(args[7]!.split(':')[1]!, 16), Number.parseInt(args[10]!, 10));
      else if (args[0] === 'class' && args[1] === 'del') classes.get(dev)!.delete(Number.parseInt(args[5]!.split(':')[1]!, 16));
      return { status: 0, stdout: '', stderr: '' };
    };
    const nft = (args: string[], input?: string) => {
      calls.push(`nft ${args.join(' ')}`);
      if (args[0] === '-f') table = input;
      else if (args[0] === 'list') return { status: table ? 0 : 1, stdout: table ?? '', stderr: table ? '' : 'No such file or directory' };
      else if (args[0] === 'delete') table = undefined;
      return { status: 0, stdout: '', stderr: '' };
    };
    return { tc, nft, classes, roots, calls, table: () => table };
  }

  it('shapes the default-route interface only over its kernel default, and undoes everything at the end', () => {
    const k = kernel({ eth0: { kind: 'pfifo_fast', handle: '0:' }, eth2: { kind: 'pfifo', handle: '1:' } });
    const warnings: string[] = [];
    const shaper = new Shaper(k.tc, k.nft, { table: 'hw_shape', warn: (_f, m) => warnings.push(m) });
    expect(shaper.apply(new Map([['alice', { uids: [1001], rate: 1_000_000 }]]))).toEqual({ shaped: ['eth0'], skipped: [] });
    expect(k.roots.eth0).toEqual({ kind: 'htb', handle: '4857:' });
    expect([...k.classes.get('eth0')!]).toEqual([[1, 8_000_000]]);
    expect(k.table()).toContain('1001 : 4857:1');
    // Unchanged: no process at all until the re-verification.
    const n = k.calls.length;
    shaper.apply(new Map([['alice', { uids: [1001], rate: 1_000_000 }]]));
    expect(k.calls.length).toBe(n);
    // Configured interfaces: someone else's root qdisc is left alone and said so once.
    const other = new Shaper(k.tc, k.nft, { table: 'hw_shape', interfaces: ['eth2'], warn: (_f, m) => warnings.push(m) });
    expect(other.apply(new Map([['bob', { uids: [1002], rate: 5000 }]])).skipped).toEqual([{ dev: 'eth2', reason: 'its root qdisc pfifo 1: was set by someone else' }]);
    expect(k.roots.eth0).toEqual({ kind: 'noqueue', handle: '0:' }); // ours on eth0, no longer wanted by this shaper: removed
    expect(k.roots.eth2).toEqual({ kind: 'pfifo', handle: '1:' });
    expect(warnings).toEqual([expect.stringContaining('not the kernel default')]);
    other.apply(new Map());
    expect(k.table()).toBeUndefined();
  });
});

describe('bandwidth config and the plan key', () => {
  it('has defaults, and names the key that is wrong', () => {
    expect(readAgentConfig({}).bandwidth).toEqual({ enabled: true, table: 'hostwarden', ctMarkMask: 0x0fff0000, shaping: true, interfaces: undefined, linkSpeed: undefined });
    expect(readAgentConfig({ bandwidth: { ct_mark_mask: '0xff000000', interfaces: ['eth0', 'eth1'], link_speed: '125M', shaping: false } }).bandwidth).toEqual({ enabled: true, table: 'hostwarden', ctMarkMask: 0xff000000, shaping: false, interfaces: ['eth0', 'eth1'], linkSpeed: 125 * 1024 ** 2 });
    expect(readAgentConfig({ bandwidth: { ct_mark_mask: 0 } }).bandwidth.ctMarkMask).toBe(0);
    const keyOf = (bw: unknown) => {
      try {
        readAgentConfig({ bandwidth: bw });
      } catch (err) {
        if (err instanceof ConfigError) return err.key;
        throw err;
      }
      return undefined;
    };
    expect(keyOf({ ct_mark_mask: '0x0f0f0000' })).toBe('bandwidth.ct_mark_mask');
    expect(keyOf({ ct_mark_mask: 'lots' })).toBe('bandwidth.ct_mark_mask');
    expect(keyOf({ ct_mark_mask: '0x100000000' })).toBe('bandwidth.ct_mark_mask');
    expect(keyOf({ interfaces: ['eth0; reboot'] })).toBe('bandwidth.interfaces');
    expect(keyOf({ link_speed: 'fast' })).toBe('bandwidth.link_speed');
    expect(keyOf({ table: 'a'.repeat(60) })).toBe('bandwidth.table');
    expect(keyOf({ shapeing: true })).toBe('bandwidth.shapeing');
  });

  it('reads plan bandwidth as a rate in bytes/s, within the plan rule', () => {
    expect(readAgentConfig({ plans: { basic: { bandwidth: '10M' } } }).plans.basic).toEqual({ weight: 1, bandwidth: 10 * 1024 ** 2 });
    expect(() => readAgentConfig({ plans: { basic: { bandwidth: 10 } } })).toThrow(expect.objectContaining({ key: 'plans.basic.bandwidth' }));
  });

  it('desires the plan cap, lowered by a manual throttle level', () => {
    const config = readPolicyConfig(new Section({}, 'policy'));
    expect(desiredBandwidthRate(undefined, undefined, undefined, config)).toBeUndefined();
    expect(desiredBandwidthRate({ weight: 1 }, undefined, undefined, config)).toBeUndefined();
    expect(desiredBandwidthRate({ weight: 1, bandwidth: 1_000_000 }, undefined, undefined, config)).toBe(1_000_000);
    const manual = { actionId: 'x', action: 'throttle', level: 1 } as Parameters<typeof desiredBandwidthRate>[2];
    expect(desiredBandwidthRate({ weight: 1, bandwidth: 1_000_000 }, undefined, manual, config)).toBe(Math.round(1_000_000 * config.throttle.level1));
    expect(desiredBandwidthRate({ weight: 1, bandwidth: 1000 }, undefined, { ...manual!, level: 2 }, config)).toBe(1000);
    expect(desiredBandwidthRate({ weight: 1, bandwidth: 1_000_000 }, undefined, { ...manual!, action: 'quarantine', level: 3 }, config)).toBe(1_000_000);
  });
});

describe('Shaper without tc', () => {
  it('with nothing to shape says once that it cannot look, and fails only when a cap must be held', () => {
    const missing: NetExec = () => ({ status: null, stdout: '', stderr: 'spawnSync tc ENOENT' });
    const nft = () => ({ status: null, stdout: '', stderr: 'spawnSync nft ENOENT' });
    const warnings: string[] = [];
    const shaper = new Shaper(missing, nft, { table: 'hw_shape', warn: (_f, m) => warnings.push(m) });
    expect(shaper.apply(new Map())).toEqual({ shaped: [], skipped: [] });
    expect(shaper.apply(new Map())).toEqual({ shaped: [], skipped: [] });
    expect(warnings).toEqual([expect.stringContaining('cannot look for leftover bandwidth shaping: tc -j qdisc show failed: spawnSync tc ENOENT')]);
    expect(() => shaper.apply(new Map([['a', { uids: [1001], rate: 5000 }]]))).toThrow(/tc -j qdisc show failed/);
  });
});
