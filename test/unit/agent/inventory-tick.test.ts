// The host inventory in the agent's ticks: gathered off the tick's path (at start, then every 24 h by the
// agent's clock, injected here), carried by one report after each gathering and by no other, its gathering's
// status in the collectors; a gatherer that throws or never answers costs the tick nothing.
// The agent runs for real on a temp copy of the cgroup v2 fixture tree, with a temp /proc, its spool in a temp
// directory and a real HTTP server on loopback as the controller (as tick.test.ts does).
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent, type AgentOptions } from '../../../agent/agent.js';
import type { RawInventory } from '../../../agent/collectors/inventory.js';
import { readAgentConfig } from '../../../agent/config.js';
import { createDriver } from '../../../agent/kernel/cgroup/detect.js';
import { validator } from '../../../shared/validate.js';
import { type Report, ReportSchema } from '../../../shared/wire/agent.js';
import { FIXTURES, tempTree, type TempTree } from '../../helpers/cgroup-tree.js';

const log = pino({ level: 'silent' });
const HOST = 'inventory-test';
const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 5, 1, 8);
const checkReport = validator(ReportSchema);

const RAW: RawInventory = {
  os: { distro: 'Debian GNU/Linux', release: '12', codename: 'bookworm', kernel: '6.1.0-18-amd64', arch: 'x64' },
  cpu: { manufacturer: 'AMD', brand: 'EPYC 7302', physicalCores: 16, cores: 32 },
  memory: { total: 64 * 1024 ** 3 },
  disks: [{ device: '/dev/nvme0n1', type: 'NVMe', name: 'SAMSUNG MZQL23T8HCLS', size: 3_840_755_982_336 }],
  filesystems: [
    { mount: '/', type: 'ext4', size: 100 * 1024 ** 3 },
    { mount: '/home', type: 'xfs', size: 3_500 * 1024 ** 3 },
  ],
  nics: [
    { iface: 'lo', internal: true, virtual: false, speed: null },
    { iface: 'eno1', internal: false, virtual: false, speed: 10000 },
  ],
  errors: [],
};

describe('the host inventory in the agent ticks', () => {
  let dir: string;
  let tree: TempTree;
  let server: Server;
  let url = '';
  const reports: Report[] = [];
  const agents: Agent[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method === 'GET' && req.url === `/v1/hosts/${HOST}/policy`) {
          return void res.writeHead(200, { 'content-type': 'application/json', etag: '"0"' }).end(JSON.stringify({ host: HOST, tenants: [], plans: {}, actions: [] }));
        }
        if (req.method === 'POST' && req.url === '/v1/reports') {
          const report = JSON.parse(body) as Report;
          reports.push(report);
          return void res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: true, duplicate: false, seq: report.seq }));
        }
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-inventory-tick-'));
    tree = tempTree('cgroup-v2/cgroup');
    cpSync(join(FIXTURES, 'cgroup-v2/proc'), join(dir, 'proc'), { recursive: true });
    writeFileSync(join(dir, 'proc/meminfo'), 'MemTotal:        8000000 kB\nMemFree:         4000000 kB\nMemAvailable:    6000000 kB\n');
    writeFileSync(join(dir, 'proc/stat'), 'cpu  100 0 50 1000 10 0 0 0 0 0\n');
    writeFileSync(join(dir, 'token'), 'agent-token\n');
    reports.length = 0;
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  function agent(opts: Partial<AgentOptions> = {}, inventory: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Agent {
    const config = readAgentConfig({
      host: HOST,
      state_dir: join(dir, 'state'),
      proc_root: join(dir, 'proc'),
      passwd_file: join(dir, 'passwd'),
      cgroup: { root: tree.root, parent: 'hostwarden', enable_root_controllers: false },
      controller: { url, token_file: join(dir, 'token'), timeout: '4s' },
      bandwidth: { enabled: false },
      inodes: { enabled: false },
      inventory,
      tenants: [
        { name: 'alice', users: [2_000_001], homes: ['/home/alice'] },
        { name: 'bob', users: [2_000_002], homes: ['/home/bob'] },
      ],
      ...extra,
    });
    const driver = createDriver({ cgroupRoot: tree.root, procRoot: config.procRoot, parent: 'hostwarden', freezeTimeoutMs: 300 });
    const a = new Agent({ config, driver, log, ...opts });
    agents.push(a);
    return a;
  }

  it("host_stats carries io_capacity (the fairness ledger's io capacity) when agent.yaml gives one", async () => {
    const a = agent({}, { enabled: false }, { io_capacity: { read: '400M', iops: 8000 } });
    a.init();
    await a.tick();
    const r = reports.at(-1)!;
    expect(checkReport.problems(r)).toEqual([]);
    expect(r.host_stats.io_capacity).toEqual({ read_bps: 400 * 2 ** 20, write_bps: 0, iops: 8000 });
  });

  const statusOf = (r: Report) => r.collectors!.find((c) => c.name === 'inventory');

  it("host_stats carries api_capacity (the fairness ledger's API capacity) when agent.yaml gives one, nothing without", async () => {
    const a = agent({}, { enabled: false }, { api_capacity: 6000 });
    a.init();
    await a.tick();
    const r = reports.at(-1)!;
    expect(checkReport.problems(r)).toEqual([]);
    expect(r.host_stats.api_capacity).toBe(6000);
    const b = agent({}, { enabled: false });
    b.init();
    await b.tick();
    expect(reports.at(-1)!.host_stats).not.toHaveProperty('api_capacity');
  });

  it('inventory: sent once after the gathering at start, not every tick, and again after 24 h (injected clock)', async () => {
    const clock = { t: T0 };
    let calls = 0;
    let gate: Promise<void> = Promise.resolve();
    const a = agent({
      now: () => clock.t,
      inventory: async () => {
        calls++;
        await gate;
        return RAW;
      },
    });
    a.init(); // starts the first gathering
    await a.inventory!.settled();
    await a.tick();
    const first = reports.at(-1)!;
    expect(checkReport.problems(first)).toEqual([]);
    expect(first.inventory).toEqual({
      gathered_at: new Date(T0).toISOString(),
      os: { distro: 'Debian GNU/Linux', release: '12', codename: 'bookworm', kernel: '6.1.0-18-amd64', arch: 'x64' },
      cpu: { model: 'AMD EPYC 7302', cores: 16, threads: 32 },
      memory_bytes: 64 * 1024 ** 3,
      disks: [{ device: '/dev/nvme0n1', size_bytes: 3_840_755_982_336, type: 'NVMe', model: 'SAMSUNG MZQL23T8HCLS' }],
      filesystems: [{ mount: '/home', fs_type: 'xfs', size_bytes: 3_500 * 1024 ** 3 }],
      nics: [{ name: 'eno1', speed_mbps: 10000, virtual: false }],
    });
    expect(statusOf(first)).toMatchObject({ ok: true });

    clock.t += 23 * HOUR;
    await a.tick();
    await a.tick();
    expect(calls).toBe(1);
    expect(reports.slice(-2).map((r) => r.inventory)).toEqual([undefined, undefined]);
    // Its status stays in every report, so the host's view shows the latest gathering's outcome.
    expect(reports.slice(-2).map((r) => statusOf(r)?.ok)).toEqual([true, true]);

    clock.t += HOUR;
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const t0 = performance.now();
    await a.tick(); // a day after the first: starts a gathering, which this tick does not wait for
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(calls).toBe(2);
    expect(reports.at(-1)!.inventory).toBeUndefined();
    open();
    await a.inventory!.settled();
    await a.tick();
    expect(reports.at(-1)!.inventory?.gathered_at).toBe(new Date(T0 + 24 * HOUR).toISOString());
    await a.tick();
    expect(reports.at(-1)!.inventory).toBeUndefined();
    expect(calls).toBe(2);
  });

  it('inventory failure: a gatherer that throws is a failed collector status, and the tick goes on', async () => {
    const a = agent({
      inventory: () => {
        throw new Error('systeminformation exploded');
      },
    });
    a.init();
    await a.inventory!.settled();
    const r = await a.tick();
    expect(r.steps.every((s) => s.ok)).toBe(true);
    expect([r.seq > 0, r.sent, r.reportError]).toEqual([true, 1, undefined]);
    const sent = reports.at(-1)!;
    expect(statusOf(sent)).toEqual({ name: 'inventory', ok: false, error: 'systeminformation exploded', duration_ms: expect.any(Number) });
    expect(sent.inventory).toBeUndefined();
    expect(sent.samples.map((s) => s.tenant)).toEqual(['alice', 'bob']);
    expect(checkReport.problems(sent)).toEqual([]);
  });

  it('a gathering that never ends holds up neither the tick nor stop()', async () => {
    const a = agent({ inventory: () => new Promise<RawInventory>(() => {}) });
    a.init();
    const r = await a.tick();
    expect(r.steps.every((s) => s.ok)).toBe(true);
    expect(reports.at(-1)!.inventory).toBeUndefined();
    expect(statusOf(reports.at(-1)!)).toBeUndefined(); // no gathering has ended yet
    const s0 = performance.now();
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    expect(performance.now() - s0).toBeLessThan(2000);
  });

  it('inventory.enabled: false gathers nothing', async () => {
    let calls = 0;
    const a = agent({ inventory: async () => (calls++, RAW) }, { enabled: false });
    a.init();
    await a.tick();
    expect([a.inventory, calls, reports.at(-1)!.inventory, statusOf(reports.at(-1)!)]).toEqual([undefined, 0, undefined, undefined]);
  });
});
