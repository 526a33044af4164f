// The bandwidth collector (agent/collectors/bandwidth.ts) on the guest's pure cgroup v2 host, where it counts
// received bytes too: `socket cgroupv2` on the input hook maps an incoming packet's socket to the tenant's
// cgroup. Only a v2 kernel can prove that path. A tenant process (its user, its cgroup) sends and receives
// over loopback; the collector's rates x time match the bytes moved.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BandwidthCollector, nftExec } from '../../agent/collectors/bandwidth.js';
import type { CollectContext } from '../../agent/collectors/collector.js';
import type { Tenant } from '../../agent/tenants.js';
import { Cleanup, createUser, type TestUser } from '../helpers/system.js';
import { requireGuest, run, tenantScope, waitFor } from './guest.js';

requireGuest();

const TABLE = `hwt_${randomBytes(3).toString('hex')}`;
const SENT = 2_000_000;
const RECEIVED = 3_000_000;

describe('bandwidth collector on a pure cgroup v2 host', () => {
  const cleanup = new Cleanup();
  let user: TestUser;
  let tenant: Tenant;
  let other: Tenant;
  let server: Server;
  let port = 0;
  let got = 0;
  // Tenant cgroups are named after the tenants (the rx map keys are "<parent>/<tenant>"): made in beforeAll.
  const g = tenantScope([]);
  let collector: BandwidthCollector;

  const ctx = (mono: number): CollectContext => ({
    mono,
    tenants: [tenant, other],
    stats: new Map(),
    samples: new Map([
      [tenant.name, { tenant: tenant.name }],
      [other.name, { tenant: other.name }],
    ]),
    host: { cores: 2, memory_bytes: 1 },
  });

  beforeAll(async () => {
    user = createUser(cleanup, 'hwb');
    const otherUser = createUser(cleanup, 'hwo');
    tenant = { name: user.name, uids: [user.uid], homes: [], domains: [], source: 'config' };
    other = { name: otherUser.name, uids: [otherUser.uid], homes: [], domains: [], source: 'config' };
    g.driver.create(tenant.name);
    g.driver.create(other.name);
    collector = new BandwidthCollector(nftExec, TABLE, g.driver.parent);
    cleanup.add(`nft delete table inet ${TABLE}`, () => collector.remove());
    // The peer, in the root cgroup: takes SENT bytes, answers RECEIVED bytes, waits for the client to close.
    server = createServer((sock) => {
      let n = 0;
      sock.on('data', (d) => {
        n += d.length;
        got += d.length;
        if (n === SENT) sock.write(Buffer.alloc(RECEIVED, 1));
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    cleanup.add('close the peer', () => new Promise<void>((resolve) => server.close(() => resolve())));
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('installs its table with the rx chain keyed by the tenant cgroups', () => {
    collector.collect(ctx(performance.now()));
    const table = run('nft', ['list', 'table', 'inet', TABLE]);
    expect(table).toContain('hook input');
    expect(table).toMatch(/socket cgroupv2 level 2/);
  });

  it("counts a tenant's sent and received bytes, and nothing for a tenant that moved none", async () => {
    const first = ctx(performance.now());
    collector.collect(first);
    // The client reads the whole answer before it closes, so no sent byte is left without an owner.
    const p = await g.start(tenant.name, `exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}; head -c ${SENT} /dev/zero >&3; head -c ${RECEIVED} <&3 > /dev/null'`, { uid: user.uid });
    expect((await p.exited).code, p.output()).toBe(0);
    expect(await waitFor(() => got === SENT, 5000)).toBe(true);
    const second = ctx(performance.now());
    collector.collect(second);
    const secs = (second.mono - first.mono) / 1000;
    const bw = second.samples.get(tenant.name)!.bandwidth!;
    const tx = bw.tx_bps * secs;
    const rx = bw.rx_bps * secs;
    console.log(`bandwidth: tx ${Math.round(tx)} bytes for ${SENT} sent, rx ${Math.round(rx)} bytes for ${RECEIVED} received`);
    // Payload plus TCP/IP headers (64 KiB loopback MTU): a few percent at most.
    expect(Math.abs(tx / SENT - 1)).toBeLessThan(0.1);
    expect(Math.abs(rx / RECEIVED - 1)).toBeLessThan(0.1);
    expect(second.samples.get(other.name)!.bandwidth).toEqual({ tx_bps: 0, rx_bps: 0 });
  });
});
