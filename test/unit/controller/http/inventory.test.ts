// The host inventory at the controller, through app.inject() on a real store (SQLite and PostgreSQL, describeBackends): a report's `inventory` is
// kept per host (the latest; a report without one keeps it, an older one never replaces it), returned by
// GET /v1/hosts/{host} with `reported_at` and not by the list, kept across a restart, and an inventory past the
// wire's bounds is a 400 naming the field. The fast report scanner hands it over like the reference path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenRegistry } from '../../../../controller/auth.js';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { prepareReport, prepareSlow } from '../../../../controller/ingest/prepare.js';
import type { HostInventory } from '../../../../shared/wire/agent.js';
import { INVENTORY_BOUNDS } from '../../../../shared/wire/agent.js';
import { describeBackends, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, HOUR, report } from '../fixtures.js';

const ADMIN = 'admin-token-for-tests-0001';
const AGENT = 'agent-token-web01-tests-01';
const T0 = Date.UTC(2025, 5, 1, 10);

describeBackends('http: inventory', (backend) => {
  const clock = new Clock(T0 + HOUR);
  const auth = (t: string) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' });

  const INVENTORY: HostInventory = {
    gathered_at: new Date(T0 - 2000).toISOString(),
    os: { distro: 'Debian GNU/Linux', release: '12', codename: 'bookworm', kernel: '6.1.0-18-amd64', arch: 'x64' },
    cpu: { model: 'AMD EPYC 7302', cores: 16, threads: 32 },
    memory_bytes: 64 * 1024 ** 3,
    disks: [{ device: '/dev/nvme0n1', size_bytes: 3_840_755_982_336, type: 'NVMe', model: 'SAMSUNG MZQL23T8HCLS' }],
    filesystems: [{ mount: '/home', fs_type: 'xfs', size_bytes: 3_500 * 1024 ** 3 }],
    nics: [{ name: 'eno1', speed_mbps: 10000, virtual: false }],
  };

  let app: App;
  let t: OpenedStore;

  async function build(): Promise<App> {
    const tokens = new TokenRegistry();
    tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    tokens.addToken(AGENT, { kind: 'agent', name: 'agent:web01', host: 'web01' });
    const a = await buildApp({ store: t.store, tokens, now: clock.now, reportBodyLimit: 256 * 1024 });
    await a.ready();
    return a;
  }

  beforeAll(async () => {
    t = await backend.openStore({ now: clock.now });
    app = await build();
  });
  afterAll(async () => {
    await app.close();
    await t.close();
  });

  const post = (body: unknown) => app.inject({ method: 'POST', url: '/v1/reports', headers: auth(AGENT), payload: JSON.stringify(body) });
  const host = async () => {
    const res = await app.inject({ url: '/v1/hosts/web01', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(200);
    return res.json();
  };

  describe('the host inventory at the controller', () => {
    it('inventory: stored from a report, returned by GET /v1/hosts/{host} with reported_at, not by GET /v1/hosts', async () => {
      expect((await post(report('web01', 1, T0 - 5000, [{ tenant: 'alice' }]))).statusCode).toBe(202);
      expect((await host()).inventory).toBeNull();
      expect((await post(report('web01', 2, T0, [{ tenant: 'alice' }], { inventory: INVENTORY }))).statusCode).toBe(202);
      const h = await host();
      expect(h.inventory).toEqual({ ...INVENTORY, reported_at: new Date(T0).toISOString() });
      expect(h.host_stats).toBeDefined(); // the list's fields are all still there
      const list = await app.inject({ url: '/v1/hosts', headers: auth(ADMIN) });
      expect(list.json().hosts[0]).not.toHaveProperty('inventory');
    });

    it('a report without one keeps it; a newer one replaces it; an older one (a spool backlog) does not', async () => {
      expect((await post(report('web01', 3, T0 + 5000, [{ tenant: 'alice' }]))).statusCode).toBe(202);
      expect((await host()).inventory.reported_at).toBe(new Date(T0).toISOString());
      const newer = { ...INVENTORY, gathered_at: new Date(T0 + 9000).toISOString(), os: { ...INVENTORY.os, kernel: '6.1.0-21-amd64' } };
      expect((await post(report('web01', 4, T0 + 10_000, [], { inventory: newer }))).statusCode).toBe(202);
      expect((await host()).inventory).toMatchObject({ reported_at: new Date(T0 + 10_000).toISOString(), os: { kernel: '6.1.0-21-amd64' } });
      const older = { ...INVENTORY, os: { kernel: '5.10.0-old' } };
      expect((await post(report('web01', 5, T0 + 1000, [], { inventory: older }))).statusCode).toBe(202);
      expect((await host()).inventory.os.kernel).toBe('6.1.0-21-amd64');
    });

    it('inventory bounds: a string, a list or a number past the bounds is a 400 naming the field, and nothing is stored', async () => {
      const cases: Array<[HostInventory, string]> = [
        [{ ...INVENTORY, cpu: { model: 'x'.repeat(INVENTORY_BOUNDS.text + 1) } }, 'at /inventory/cpu/model'],
        [{ ...INVENTORY, disks: Array.from({ length: INVENTORY_BOUNDS.items + 1 }, (_, i) => ({ device: `/dev/sd${i}`, size_bytes: 1 })) }, 'at /inventory/disks'],
        [{ ...INVENTORY, nics: [{ name: 'eth0', speed_mbps: -1 }] }, 'at /inventory/nics/0/speed_mbps'],
        [{ ...INVENTORY, memory_bytes: 2 ** 60 }, 'at /inventory/memory_bytes'],
      ];
      for (const [inventory, field] of cases) {
        const res = await post(report('web01', 50, T0 + 20_000, [], { inventory }));
        expect([res.statusCode, res.json().error]).toEqual([400, 'bad_request']);
        expect(res.json().message).toContain(field);
      }
      expect((await host()).inventory.os.kernel).toBe('6.1.0-21-amd64');
      // A field this controller does not know (a newer agent's, or one it must never keep: a MAC) is dropped,
      // the rest stored (DESIGN 5: unknown fields in reports are ignored).
      const withMac = { ...INVENTORY, os: { ...INVENTORY.os, kernel: '6.1.0-22-amd64' }, nics: [{ name: 'eth0', mac: '02:00:00:00:00:01' } as never] };
      expect((await post(report('web01', 51, T0 + 20_000, [], { inventory: withMac }))).statusCode).toBe(202);
      const stored = (await host()).inventory;
      expect([stored.os.kernel, stored.nics]).toEqual(['6.1.0-22-amd64', [{ name: 'eth0' }]]);
    });

    it('inventory: kept across a controller restart', async () => {
      await app.close();
      await t.reopen();
      app = await build();
      expect((await host()).inventory).toMatchObject({ reported_at: new Date(T0 + 20_000).toISOString(), cpu: { model: 'AMD EPYC 7302' } });
    });

    it('the fast report scanner hands the inventory over as the reference path does', () => {
      const body = Buffer.from(JSON.stringify(report('web01', 9, T0, [{ tenant: 'alice', cpu: { percent: 1 } }], { inventory: INVENTORY })));
      const fast = prepareReport(body);
      const slow = prepareSlow(body);
      if (!fast.ok || !slow.ok) throw new Error('not prepared');
      expect(fast.report.fast).toBe(true);
      expect(fast.report.inventory).toEqual(INVENTORY);
      expect(slow.report.inventory).toEqual(INVENTORY);
    });
  });
});
