// Bandwidth on real nftables, tc and iperf3, in two network namespaces the test makes (a "host" and the network
// it talks to, joined by a veth pair with IPv4 and IPv6): nothing of the machine's own network is touched.
// - counting: two tenants' transfers in both directions, IPv4 and IPv6, counted apart within 5 % of what
//   iperf3 itself moved; received bytes through the conntrack mark (the v1/hybrid way, used here on any host);
//   loopback traffic is not counted;
// - shaping: a throttled tenant held within 10 % of its rate by its HTB class while the other runs unshaped;
//   removing a throttle removes its class and map entries; after release nothing of ours remains and what we
//   did not create (a table, a root qdisc) is untouched.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BandwidthCollector, type NftExec, parseCounters } from '../../agent/collectors/bandwidth.js';
import type { CollectContext } from '../../agent/collectors/collector.js';
import { type NetExec, Shaper } from '../../agent/shaping/shaper.js';
import { parseHtbClasses, parseRootQdiscs, SHAPER_MAJOR } from '../../agent/shaping/tc.js';
import type { Tenant } from '../../agent/tenants.js';
import { describeWith, hasCommand, missing, needRoot } from '../helpers/env.js';
import { createTestNetnsPair, type TestNetnsPair } from '../helpers/netns.js';
import { Cleanup, createUser, type TestUser } from '../helpers/system.js';

const run = promisify(execFile);

interface Iperf {
  /** Payload bytes the client sent (or, with -R, the server sent). */
  sent: number;
  /** Payload bytes the receiving end got, and over how many seconds. */
  received: number;
  seconds: number;
}

describeWith(
  missing([needRoot, [hasCommand('nft') && hasCommand('ip') && hasCommand('tc'), 'needs nft, ip and tc (nftables, iproute2)'], [hasCommand('iperf3'), 'needs iperf3'], [hasCommand('setpriv'), 'needs setpriv (util-linux)']]),
  'bandwidth on real nftables, tc and iperf3',
  () => {
    const cleanup = new Cleanup();
    let net: TestNetnsPair;
    let alice: TestUser;
    let bob: TestUser;
    const table = 'hwbw';
    const inHost = (cmd: string, args: string[], input?: string) => {
      const r = spawnSync('ip', ['netns', 'exec', net.host, cmd, ...args], { input, encoding: 'utf8', timeout: 30_000 });
      return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    };
    const nft: NftExec = (args, input) => inHost('nft', args, input);
    const netExec: NetExec = (program, args) => inHost(program, args);
    const tenants = (): Tenant[] => [
      { name: 'alice', uids: [alice.uid], homes: [], domains: [], source: 'config' },
      { name: 'bob', uids: [bob.uid], homes: [], domains: [], source: 'config' },
    ];

    /**
     * One iperf3 client as `user` in the host namespace against the server on `port` (-R: the server sends).
     * -w 256K bounds what sits in socket buffers when iperf3 stops counting (arrived and counted by nftables,
     * never read): a few hundred KB next to hundreds of MB moved.
     */
    async function iperf(user: TestUser, address: string, port: number, seconds: number, reverse: boolean, omit = 0): Promise<Iperf> {
      const args = ['netns', 'exec', net.host, 'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', 'iperf3', '-c', address, '-p', String(port), '-t', String(seconds), '-O', String(omit), '-w', '256K', '-J', '--connect-timeout', '10000', ...(reverse ? ['-R'] : [])];
      const { stdout } = await run('ip', args, { timeout: (seconds + 60) * 1000, maxBuffer: 16 * 1024 * 1024 });
      const doc = JSON.parse(stdout) as { error?: string; end: { sum_sent: { bytes: number }; sum_received: { bytes: number; seconds: number } } };
      if (doc.error) throw new Error(`iperf3: ${doc.error}`);
      return { sent: doc.end.sum_sent.bytes, received: doc.end.sum_received.bytes, seconds: doc.end.sum_received.seconds };
    }

    beforeAll(async () => {
      net = createTestNetnsPair(cleanup, 'hwbw');
      alice = createUser(cleanup);
      bob = createUser(cleanup);
      // Two iperf3 servers in the peer namespace (one test at a time each); killed with the namespace.
      for (const port of [5201, 5202]) {
        const server = spawn('ip', ['netns', 'exec', net.peer, 'iperf3', '-s', '--forceflush', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
        cleanup.add(`iperf3 server ${port}`, () => {
          server.kill('SIGKILL');
        });
        await new Promise<void>((resolve, reject) => {
          let text = '';
          server.stdout.on('data', (d: Buffer) => {
            text += d.toString();
            if (text.includes('Server listening')) resolve();
          });
          server.on('exit', (code) => reject(new Error(`iperf3 server exited ${code}`)));
          setTimeout(() => reject(new Error('iperf3 server did not start')), 20_000).unref();
        });
      }
    });
    afterAll(async () => expect(await cleanup.run()).toEqual([]));

    it("counts two tenants' sent and received bytes apart, IPv4 and IPv6, through the conntrack mark; loopback not at all", async () => {
      const collector = new BandwidthCollector(nft, table); // no cgroup parent: received bytes by conntrack mark
      cleanup.add(`nft delete table ${table}`, () => {
        if (nft(['list', 'table', 'inet', table]).status === 0) nft(['delete', 'table', 'inet', table]);
      });
      const samples = () => new Map([['alice', { tenant: 'alice' }], ['bob', { tenant: 'bob' }]]);
      const ctx = (): CollectContext => ({ mono: performance.now(), tenants: tenants(), stats: new Map(), samples: samples(), host: { cores: 2, memory_bytes: 1 } });
      const counted = (before: CollectContext, after: CollectContext, who: string) => {
        const bw = after.samples.get(who)!.bandwidth!;
        const seconds = (after.mono - before.mono) / 1000;
        return { tx: bw.tx_bps * seconds, rx: bw.rx_bps * seconds };
      };
      let last = ctx();
      collector.collect(last); // baseline

      // Phase 1: alice sends over IPv4 while bob receives over IPv6; phase 2 the other way round.
      const phases: Array<{ alice: [string, boolean]; bob: [string, boolean] }> = [
        { alice: [net.peer4, false], bob: [net.peer6, true] },
        { alice: [net.peer6, true], bob: [net.peer4, false] },
      ];
      for (const phase of phases) {
        const [a, b] = await Promise.all([iperf(alice, phase.alice[0], 5201, 4, phase.alice[1]), iperf(bob, phase.bob[0], 5202, 4, phase.bob[1])]);
        const now = ctx();
        collector.collect(now);
        for (const [who, moved, reverse] of [['alice', a, phase.alice[1]], ['bob', b, phase.bob[1]]] as const) {
          const c = counted(last, now, who);
          // Payload plus the IP/TCP headers of each (GSO) packet, the control connection and the ACKs.
          const main = reverse ? c.rx : c.tx;
          const other = reverse ? c.tx : c.rx;
          const payload = reverse ? moved.received : moved.sent;
          expect(payload).toBeGreaterThan(10_000_000);
          console.info(`${who} ${reverse ? 'received' : 'sent'} ${payload} bytes (iperf3); counted ${Math.round(main)} (${((main / payload - 1) * 100).toFixed(2)} %), other direction ${Math.round(other)}`);
          expect(Math.abs(main / payload - 1), `${who} ${reverse ? 'received' : 'sent'} ${main} counted for ${payload} moved`).toBeLessThan(0.05);
          // The other direction only carries ACKs and the control connection: apart, not mixed in.
          expect(other / payload, `${who}'s other direction`).toBeLessThan(0.05);
        }
        last = now;
      }

      // Loopback: a tenant talking to a server on the same host is not network traffic (and would be counted
      // twice with the web server's log): neither direction counts.
      const lo = spawn('ip', ['netns', 'exec', net.host, 'iperf3', '-s', '--forceflush', '-1', '-p', '5301', '-B', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'ignore'] });
      cleanup.add('iperf3 loopback server', () => {
        lo.kill('SIGKILL');
      });
      await new Promise<void>((resolve) => lo.stdout.on('data', (d: Buffer) => d.toString().includes('Server listening') && resolve()));
      const before = JSON.parse(nft(['-j', 'list', 'counters', 'table', 'inet', table]).stdout) as unknown;
      const moved = await iperf(alice, '127.0.0.1', 5301, 2, false);
      expect(moved.sent).toBeGreaterThan(10_000_000);
      const after = parseCounters(nft(['-j', 'list', 'counters', 'table', 'inet', table]).stdout).get('alice')!;
      const was = parseCounters(JSON.stringify(before)).get('alice')!;
      expect(after.tx - was.tx).toBeLessThan(moved.sent * 0.001);
      expect(after.rx - was.rx).toBeLessThan(moved.sent * 0.001);

      collector.remove();
      expect(nft(['list', 'table', 'inet', table]).status).not.toBe(0);
    }, 180_000);

    it('holds a throttled tenant to its rate with an HTB class chosen by packet priority, and leaves nothing behind', async () => {
      const shapeTable = `${table}_shape`;
      // What is not ours and must stay as it is: a table, and a root qdisc someone chose (on the host's lo).
      expect(inHost('nft', ['-f', '-'], 'table inet theirs {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    counter\n  }\n}\n').status).toBe(0);
      expect(inHost('tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'pfifo']).status).toBe(0);
      const theirRules = () => inHost('nft', ['list', 'table', 'inet', 'theirs']).stdout.replace(/packets \d+ bytes \d+/g, '');
      const theirsBefore = theirRules();
      const roots = () => parseRootQdiscs(inHost('tc', ['-j', 'qdisc', 'show']).stdout);
      expect(roots().get(net.hostLink)).toMatchObject({ kind: 'noqueue', handle: '0:' }); // the kernel's default
      const messages: string[] = [];
      const shaper = new Shaper(netExec, nft, { table: shapeTable, interfaces: [net.hostLink, 'lo'], warn: (_f, m) => messages.push(m) });
      cleanup.add('shaper release', () => {
        shaper.releaseAll();
      });

      const rate = 4_000_000; // bytes/s (32 Mbit/s)
      const result = shaper.apply(new Map([['alice', { uids: [alice.uid], rate }]]));
      expect(result.shaped).toEqual([net.hostLink]);
      expect(result.skipped).toEqual([{ dev: 'lo', reason: 'its root qdisc pfifo 1: was set by someone else' }]);
      expect(messages).toEqual([expect.stringContaining('was not the kernel default')]);
      expect(roots().get(net.hostLink)).toMatchObject({ kind: 'htb', handle: `${SHAPER_MAJOR.toString(16)}:` });
      expect(roots().get('lo')).toMatchObject({ kind: 'pfifo', handle: '1:' });

      // alice (throttled, IPv4) and bob (not, IPv6) at once, long enough for the rate to settle; the first
      // second (TCP's slow start) left out of iperf3's totals.
      const seconds = 12;
      const [a, b] = await Promise.all([iperf(alice, net.peer4, 5201, seconds, false, 1), iperf(bob, net.peer6, 5202, seconds, false, 1)]);
      const aliceRate = a.received / a.seconds;
      const bobRate = b.received / b.seconds;
      console.info(`shaped: alice ${Math.round(aliceRate)} bytes/s for a rate of ${rate} (${((aliceRate / rate - 1) * 100).toFixed(2)} %); bob unshaped ${Math.round(bobRate)} bytes/s`);
      // The class counts whole frames (Ethernet, IP and TCP headers, about 4.5 % of a full frame): payload
      // sits a little under the rate, well within 10 %.
      expect(Math.abs(aliceRate / rate - 1), `alice held at ${aliceRate} bytes/s for ${rate}`).toBeLessThan(0.1);
      expect(bobRate, `bob unshaped at ${bobRate} bytes/s`).toBeGreaterThan(3 * rate);
      const classes = parseHtbClasses(inHost('tc', ['class', 'show', 'dev', net.hostLink]).stdout);
      expect([...classes.keys()]).toEqual([1]);

      // A second throttle, then the first removed: its class and its map entry go, the other's stay.
      shaper.apply(new Map([['alice', { uids: [alice.uid], rate }], ['bob', { uids: [bob.uid], rate: 2_000_000 }]]));
      expect([...parseHtbClasses(inHost('tc', ['class', 'show', 'dev', net.hostLink]).stdout).keys()].sort()).toEqual([1, 2]);
      shaper.apply(new Map([['bob', { uids: [bob.uid], rate: 2_000_000 }]]));
      expect([...parseHtbClasses(inHost('tc', ['class', 'show', 'dev', net.hostLink]).stdout).keys()]).toEqual([2]);
      const map = inHost('nft', ['list', 'map', 'inet', shapeTable, 'class_by_uid']).stdout;
      expect(map).toContain(`${bob.uid} : 4857:2`);
      expect(map).not.toContain(`${alice.uid} :`);

      // A restarted agent (a new shaper with nothing in memory) with no throttle clears what the earlier one left.
      new Shaper(netExec, nft, { table: shapeTable, interfaces: [net.hostLink, 'lo'] }).apply(new Map());
      expect(roots().get(net.hostLink)).toMatchObject({ kind: 'noqueue', handle: '0:' });
      expect(inHost('tc', ['class', 'show', 'dev', net.hostLink]).stdout.trim()).toBe('');
      // iproute2 6.1 prints HTB classes as text even with -j: nothing of ours in either form.
      expect(inHost('tc', ['-j', 'class', 'show', 'dev', net.hostLink]).stdout).not.toContain('4857');
      const ruleset = inHost('nft', ['-j', 'list', 'ruleset']).stdout;
      expect(ruleset).not.toContain(shapeTable);
      expect(ruleset).toContain('"theirs"');
      expect(theirRules()).toBe(theirsBefore);
      expect(roots().get('lo')).toMatchObject({ kind: 'pfifo', handle: '1:' });
      // And a release with nothing of ours left is harmless.
      shaper.releaseAll();
      expect(roots().get('lo')).toMatchObject({ kind: 'pfifo', handle: '1:' });
    }, 180_000);
  },
);
