// The bandwidth collector on real nftables, inside a network namespace the test makes: a tenant's process
// sends over the namespace's loopback; the collector's rate x time matches the bytes sent.
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BandwidthCollector, type NftExec } from '../../agent/collectors/bandwidth.js';
import type { CollectContext } from '../../agent/collectors/collector.js';
import type { Tenant } from '../../agent/tenants.js';
import { describeWith, hasCommand, missing, needRoot } from '../helpers/env.js';
import { Cleanup, createUser, type TestUser, uniq } from '../helpers/system.js';

// The sender waits for the server's acknowledgement before closing: bytes still queued after a process
// closed its socket have no owner UID any more (sk_socket is gone), so `meta skuid` cannot count them.
const SENDER = `
import os, socket, sys, threading
n = int(sys.argv[1]); uid = int(sys.argv[2])
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); port = s.getsockname()[1]
def serve():
    c, _ = s.accept(); got = 0
    while got < n:
        d = c.recv(65536)
        if not d: break
        got += len(d)
    c.sendall(b'k'); c.close()
t = threading.Thread(target=serve); t.start()
pid = os.fork()
if pid == 0:
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
    c = socket.create_connection(('127.0.0.1', port)); c.sendall(b'x' * n); c.recv(1); c.close(); os._exit(0)
os.waitpid(pid, 0); t.join()
`;

describeWith(missing([needRoot, [hasCommand('nft') && hasCommand('ip'), 'needs nft and ip (nftables, iproute2)']]), 'bandwidth collector on real nftables', () => {
  const cleanup = new Cleanup();
  const ns = uniq('hwt');
  let user: TestUser;
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    cleanup.add(`ip netns del ${ns}`, () => execFileSync('ip', ['netns', 'del', ns]));
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    user = createUser(cleanup);
  });
  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it("counts a tenant's sent bytes through the UID map", async () => {
    const exec: NftExec = (args, input) => {
      const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args], { input, encoding: 'utf8' });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const collector = new BandwidthCollector(exec, 'hwtest');
    const tenant: Tenant = { name: 'bw', uids: [user.uid], homes: [], domains: [], source: 'config' };
    const ctx = (mono: number): CollectContext => ({ mono, tenants: [tenant], stats: new Map(), samples: new Map([['bw', { tenant: 'bw' }]]), host: { cores: 2, memory_bytes: 1 } });
    const first = ctx(performance.now());
    collector.collect(first);
    expect(first.samples.get('bw')?.bandwidth).toBeUndefined(); // baseline
    const bytes = 3_000_000;
    execFileSync('ip', ['netns', 'exec', ns, '/usr/bin/python3', '-c', SENDER, String(bytes), String(user.uid)], { timeout: 30_000 });
    const t0 = first.mono;
    const second = ctx(performance.now());
    collector.collect(second);
    const bw = second.samples.get("bw")!.bandwidth!;
    const sent = (bw.tx_bps * (second.mono - t0)) / 1000;
    expect(Math.abs(sent / bytes - 1)).toBeLessThan(0.1); // payload plus TCP/IP headers on a 64 KiB MTU
    expect(bw.rx_bps).toBe(0); // no rx map on this (hybrid) host
    collector.remove();
    expect(exec(['list', 'table', 'inet', 'hwtest']).status).not.toBe(0);
  });
});
