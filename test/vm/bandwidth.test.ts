// Bandwidth on the guest's pure cgroup v2 host (a v2 kernel proves what the build machine cannot):
// - counting: received bytes through `socket cgroupv2` on the input hook (the tenant's cgroup -> its counter);
//   two tenants' iperf3 transfers (their processes in their own cgroups) to a network namespace the test makes,
//   counted apart in both directions within 5 %;
// - shaping: a throttled tenant held within 10 % of its rate by its HTB class (chosen by packet priority) while
//   the other runs unshaped; after release no class, qdisc or rule of ours remains.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BandwidthCollector, nftExec } from '../../agent/collectors/bandwidth.js';
import type { CollectContext } from '../../agent/collectors/collector.js';
import { type NetExec, Shaper } from '../../agent/shaping/shaper.js';
import { parseHtbClasses, parseRootQdiscs } from '../../agent/shaping/tc.js';
import type { Tenant } from '../../agent/tenants.js';
import { createTestNetns, type TestNetns } from '../helpers/netns.js';
import { Cleanup, createUser, type TestUser } from '../helpers/system.js';
import { requireGuest, run, tenantScope } from './guest.js';

requireGuest();

const TABLE = `hwt_${randomBytes(3).toString('hex')}`;

describe('bandwidth on a pure cgroup v2 host', () => {
  const cleanup = new Cleanup();
  let alice: TestUser;
  let bob: TestUser;
  let tenants: Tenant[];
  let net: TestNetns;
  // Tenant cgroups are named after the tenants (the rx map keys are "<parent>/<tenant>"): made in beforeAll.
  const g = tenantScope([]);
  let collector: BandwidthCollector;
  const netExec: NetExec = (program, args) => {
    try {
      return { status: 0, stdout: run(program, args), stderr: '' };
    } catch (err) {
      return { status: 1, stdout: '', stderr: (err as Error).message };
    }
  };

  const ctx = (): CollectContext => ({
    mono: performance.now(),
    tenants,
    stats: new Map(),
    samples: new Map(tenants.map((t) => [t.name, { tenant: t.name }])),
    host: { cores: 2, memory_bytes: 1 },
  });

  /** iperf3 as the tenant, in its cgroup, against the server on `port` in the namespace (-R: the server sends). */
  async function iperf(who: TestUser, port: number, seconds: number, reverse: boolean, omit = 0): Promise<{ sent: number; received: number; seconds: number }> {
    // -w 128K: what sits in socket buffers when iperf3 stops counting (arrived, so counted by nftables, but never
    // read) stays small next to a slow guest's few tens of MB (with the default buffers it was 15 %).
    const p = await g.start(who.name, `exec iperf3 -c ${net.nsAddress} -p ${port} -t ${seconds} -O ${omit} -w 128K -J --connect-timeout 10000 ${reverse ? '-R' : ''} 2>/dev/null`, { uid: who.uid });
    const done = await p.exited;
    expect(done.code, p.output()).toBe(0);
    const doc = JSON.parse(p.output()) as { end: { sum_sent: { bytes: number }; sum_received: { bytes: number; seconds: number } } };
    return { sent: doc.end.sum_sent.bytes, received: doc.end.sum_received.bytes, seconds: doc.end.sum_received.seconds };
  }

  beforeAll(async () => {
    alice = createUser(cleanup, 'hwa');
    bob = createUser(cleanup, 'hwb');
    tenants = [alice, bob].map((u) => ({ name: u.name, uids: [u.uid], homes: [], domains: [], source: 'config' }));
    for (const t of tenants) g.driver.create(t.name);
    net = createTestNetns(cleanup, 'hwvb');
    collector = new BandwidthCollector(nftExec, TABLE, g.driver.parent);
    cleanup.add(`nft delete table inet ${TABLE}`, () => collector.remove());
    for (const port of [5201, 5202]) {
      const server = spawn('ip', ['netns', 'exec', net.name, 'iperf3', '-s', '--forceflush', '-p', String(port)], { stdio: ['ignore', 'pipe', 'ignore'] });
      cleanup.add(`iperf3 server ${port}`, () => {
        server.kill('SIGKILL');
      });
      await new Promise<void>((resolve, reject) => {
        server.stdout.on('data', (d: Buffer) => d.toString().includes('Server listening') && resolve());
        server.on('exit', (code) => reject(new Error(`iperf3 server exited ${code}`)));
      });
    }
  }, 120_000);
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('installs its table with the rx chain keyed by the tenant cgroups', () => {
    collector.collect(ctx());
    const table = run('nft', ['list', 'table', 'inet', TABLE]);
    expect(table).toContain('hook input');
    expect(table).toMatch(/socket cgroupv2 level 2/);
  });

  it("counts two tenants' sent and received bytes apart", async () => {
    const first = ctx();
    collector.collect(first);
    const [a, b] = await Promise.all([iperf(alice, 5201, 3, false), iperf(bob, 5202, 3, true)]);
    const second = ctx();
    collector.collect(second);
    const secs = (second.mono - first.mono) / 1000;
    const bwA = second.samples.get(alice.name)!.bandwidth!;
    const bwB = second.samples.get(bob.name)!.bandwidth!;
    console.log(`bandwidth: alice sent ${a.sent}, counted ${Math.round(bwA.tx_bps * secs)}; bob received ${b.received}, counted ${Math.round(bwB.rx_bps * secs)}`);
    expect(Math.abs((bwA.tx_bps * secs) / a.sent - 1)).toBeLessThan(0.05);
    expect(Math.abs((bwB.rx_bps * secs) / b.received - 1)).toBeLessThan(0.05);
    // The other directions carry ACKs only.
    expect((bwA.rx_bps * secs) / a.sent).toBeLessThan(0.05);
    expect((bwB.tx_bps * secs) / b.received).toBeLessThan(0.05);
  }, 120_000);

  it('holds a throttled tenant to its rate and leaves nothing behind', async () => {
    const shapeTable = `${TABLE}_shape`;
    const shaper = new Shaper(netExec, nftExec, { table: shapeTable, interfaces: [net.rootLink] });
    cleanup.add('shaper release', () => shaper.releaseAll());
    const rate = 1_000_000;
    expect(shaper.apply(new Map([[alice.name, { uids: [alice.uid], rate }]])).shaped).toEqual([net.rootLink]);
    const [a, b] = await Promise.all([iperf(alice, 5201, 15, false, 2), iperf(bob, 5202, 15, false, 2)]);
    const aliceRate = a.received / a.seconds;
    const bobRate = b.received / b.seconds;
    console.log(`shaping: alice ${Math.round(aliceRate)} bytes/s for ${rate}; bob unshaped ${Math.round(bobRate)} bytes/s`);
    expect(Math.abs(aliceRate / rate - 1)).toBeLessThan(0.1);
    expect(bobRate).toBeGreaterThan(2 * rate);
    shaper.apply(new Map());
    expect(parseRootQdiscs(run('tc', ['-j', 'qdisc', 'show'])).get(net.rootLink)).toMatchObject({ handle: '0:' });
    expect(parseHtbClasses(run('tc', ['class', 'show', 'dev', net.rootLink])).size).toBe(0);
    expect(run('nft', ['-j', 'list', 'ruleset'])).not.toContain(shapeTable);
  }, 180_000);
});
