// The agent's Prometheus endpoint: its config keys, the exposition (names, types, labels, values passed
// through from the kernel's counters; `promtool check metrics` on 1,000 tenants), and the listener on real
// loopback HTTP (only /metrics, the bearer token, gzip, and clients that stall or never read).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../../agent/config.js';
import { render, type Snapshot, TENANT_FAMILIES, TenantMetrics, type TenantView } from '../../../agent/metrics/exposition.js';
import { MAX_CONNECTIONS, MetricsServer } from '../../../agent/metrics/server.js';
import { ConfigError } from '../../../shared/errors.js';
import { describeWith, hasCommand, missing } from '../../helpers/env.js';
import { ROOT } from '../../helpers/system.js';
import { agentConfigError } from '../../helpers/config.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-agent-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: 'silent' });
const AGENT = { version: '1.2.3', host: 'web01' };

const configError = agentConfigError;

/** A tenant with every value set, numbers derived from i so lines differ. */
function fullTenant(i: number): TenantView {
  return {
    name: `t${i}`,
    planName: 'basic',
    plan: { cpu: 150, memory: 1 << 30, io_read: 10 << 20, io_write: 10 << 20, iops: 1000, processes: 100, api: 600, bandwidth: 5 << 20, inodes: 100_000, weight: 2 },
    stats: {
      cpuUsageUsec: 12_345_678 + i,
      throttledUsec: 250_000,
      memory: { current: 200 << 20, anon: 150 << 20, file: 50 << 20 },
      io: { rbytes: 4096 * i, wbytes: 8192, rios: i, wios: 2 },
      pids: 7,
      pressure: { cpu: { some: { avg10: 1, avg60: 1, avg300: 1, total: 1_500_000 } }, memory: { some: { avg10: 0, avg60: 0, avg300: 0, total: 10 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 5 } }, io: { some: { avg10: 0, avg60: 0, avg300: 0, total: 20 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 0 } } },
      frozen: false,
    },
    network: { tx: 1000 + i, rx: 500 },
    sample: { tenant: `t${i}`, inodes: { count: 1234 }, api: { per_minute: 42.5 }, bandwidth: { tx_bps: 3000, rx_bps: 10, web_tx_bps: 2000 } },
    level: i % 4,
  };
}

function families(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

function line(text: string, prefix: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`${prefix} `));
}

describe('metrics config', () => {
  it('is off by default, and an address without a host binds loopback', () => {
    expect(readAgentConfig({}).metrics).toBeUndefined();
    expect(readAgentConfig({ metrics_listen: '' }).metrics).toBeUndefined();
    expect(readAgentConfig({ metrics_listen: 9640 }).metrics).toEqual({ host: '127.0.0.1', port: 9640 });
    expect(readAgentConfig({ metrics_listen: ':9640' }).metrics).toEqual({ host: '127.0.0.1', port: 9640 });
    expect(readAgentConfig({ metrics_listen: '0.0.0.0:9640', metrics_token_file: '/etc/hostwarden/metrics.token' }).metrics).toEqual({ host: '0.0.0.0', port: 9640, tokenFile: '/etc/hostwarden/metrics.token' });
    expect(readAgentConfig({ metrics_listen: '[::1]:9640' }).metrics).toEqual({ host: '::1', port: 9640 });
  });

  it('names the key of a bad value', () => {
    for (const bad of ['127.0.0.1', '127.0.0.1:99999', 'a b:1', '[zz]:1', 'http://x:1']) expect(configError({ metrics_listen: bad }).key, bad).toBe('metrics_listen');
    expect(configError({ metrics_listen: { a: 1 } }).key).toBe('metrics_listen');
    expect(configError({ metrics_token_file: '/x' }).key).toBe('metrics_token_file');
    expect(configError({ metrics_listen: 9640, metrics_token_file: 'relative.token' }).key).toBe('metrics_token_file');
  });
});

describe('exposition', () => {
  it("passes the kernel's counters through in base units, with one tenant label, and the plan's caps", () => {
    const text = render({ at: 1_700_000_000_500, tenants: [fullTenant(1)] }, new Map([['t1', 3]]), AGENT);
    expect(line(text, 'hostwarden_agent_info{version="1.2.3",host="web01"}')).toBeDefined();
    expect(line(text, 'hostwarden_agent_last_tick_timestamp_seconds')).toBe('hostwarden_agent_last_tick_timestamp_seconds 1700000000.5');
    expect(line(text, 'hostwarden_tenant_info{tenant="t1",plan="basic"}')).toMatch(/ 1$/);
    const t = (name: string) => line(text, `${name}{tenant="t1"}`)?.split(' ')[1];
    expect(t('hostwarden_tenant_cpu_usage_seconds_total')).toBe('12.345679');
    expect(t('hostwarden_tenant_cpu_throttled_seconds_total')).toBe('0.25');
    expect(t('hostwarden_tenant_memory_usage_bytes')).toBe(String(200 << 20));
    expect(t('hostwarden_tenant_fs_reads_bytes_total')).toBe('4096');
    expect(t('hostwarden_tenant_fs_writes_total')).toBe('2');
    expect(t('hostwarden_tenant_network_transmit_bytes_total')).toBe('1001');
    expect(t('hostwarden_tenant_network_receive_bytes_total')).toBe('500');
    expect(t('hostwarden_tenant_processes')).toBe('7');
    expect(t('hostwarden_tenant_inodes')).toBe('1234');
    expect(t('hostwarden_tenant_pressure_cpu_waiting_seconds_total')).toBe('1.5');
    expect(t('hostwarden_tenant_throttle_level')).toBe('1');
    expect(t('hostwarden_tenant_frozen')).toBe('0');
    expect(t('hostwarden_tenant_strays_total')).toBe('3');
    expect(t('hostwarden_tenant_plan_cpu_cores')).toBe('1.5');
    expect(t('hostwarden_tenant_plan_memory_bytes')).toBe(String(1 << 30));
    expect(t('hostwarden_tenant_plan_weight')).toBe('2');
    expect(t('hostwarden_tenant_api_calls_per_minute')).toBe('42.5');
    expect(t('hostwarden_tenant_web_transmit_bytes_per_second')).toBe('2000');
    expect(t('hostwarden_tenant_plan_bandwidth_bytes_per_second')).toBe(String(5 << 20));
    expect(t('hostwarden_tenant_plan_inodes')).toBe('100000');
    // cAdvisor's rule: counters end in _total, gauges never do.
    for (const [name, type] of families(text)) expect(name.endsWith('_total'), name).toBe(type === 'counter');
    expect([...families(text).keys()]).toEqual(expect.arrayContaining(TENANT_FAMILIES.map((f) => f.name)));
  });

  it('leaves out what the kernel lacks, shows quarantine as level 2 and frozen, and escapes label values', () => {
    const bare: TenantView = { name: 'we"ird\\na\nme', level: 3 };
    const text = render({ at: 0, tenants: [bare] }, new Map(), AGENT);
    expect(text).not.toContain('hostwarden_tenant_cpu_usage_seconds_total');
    expect(text).not.toContain('hostwarden_tenant_plan_cpu_cores');
    expect(text).toContain('hostwarden_tenant_throttle_level{tenant="we\\"ird\\\\na\\nme"} 2');
    expect(text).toContain('hostwarden_tenant_frozen{tenant="we\\"ird\\\\na\\nme"} 1');
    expect(text).toContain('hostwarden_tenant_plan_weight{tenant="we\\"ird\\\\na\\nme"} 1');
    // Before the first tick: the agent's info only.
    expect(render(undefined, new Map(), AGENT)).toBe('# HELP hostwarden_agent_info The agent: its version and host name (value 1).\n# TYPE hostwarden_agent_info gauge\nhostwarden_agent_info{version="1.2.3",host="web01"} 1\n');
  });

  it('counts strays since start, forgets tenants that went away, and renders once per tick', () => {
    const m = new TenantMetrics(AGENT);
    const snap = (names: string[]): Snapshot => ({ at: 1, tenants: names.map((n) => ({ name: n, level: 0 })) });
    m.update(snap(['a', 'b']), new Map([['a', 2], ['b', 1], ['gone', 5]]));
    m.update(snap(['a', 'b']), new Map([['a', 1]]));
    const first = m.text();
    expect(m.text()).toBe(first); // the same buffer: no second render
    expect(first.toString()).toContain('hostwarden_tenant_strays_total{tenant="a"} 3');
    expect(first.toString()).not.toContain('gone');
    m.update(snap(['a']), new Map());
    m.update(snap(['a', 'b']), new Map());
    expect(m.text().toString()).toContain('hostwarden_tenant_strays_total{tenant="b"} 0');
  });

  describeWith(missing([[hasCommand('promtool'), 'needs promtool (package prometheus; scripts/install-prereqs.sh)']]), 'promtool', () => {
    it('finds no problem in 1,000 tenants with every value', () => {
      const tenants = Array.from({ length: 1000 }, (_, i) => fullTenant(i));
      const start = performance.now();
      const text = render({ at: Date.now(), tenants }, new Map(), AGENT);
      const ms = performance.now() - start;
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(r.stdout + r.stderr, `render took ${ms.toFixed(1)} ms, ${text.length} bytes`).toBe('');
      expect(r.status).toBe(0);
      expect(text.split('\n').filter((l) => l.startsWith('hostwarden_tenant_cpu_usage_seconds_total{')).length).toBe(1000);
    });
  });
});

describe('the packaged Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'packaging/grafana/hostwarden-tenants.json'), 'utf8')) as {
    __inputs: Array<{ name: string; pluginId: string }>;
    uid: string;
    panels: Array<{ id: number; title: string; datasource: { uid: string }; gridPos: object; targets: Array<{ expr: string; datasource: { uid: string } }> }>;
    templating: { list: Array<{ name: string; query: { query: string } }> };
  };

  it('is importable: one Prometheus input that every panel and target uses, unique panel ids, a stable uid', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' })]);
    expect(dashboard.uid).toBe('hostwarden-tenants');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const p of dashboard.panels) {
      expect(p.datasource.uid, p.title).toBe('${DS_PROMETHEUS}');
      expect(p.gridPos, p.title).toBeDefined();
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.datasource.uid, p.title).toBe('${DS_PROMETHEUS}');
    }
  });

  it('queries only metrics the agent serves (a renamed metric fails here, without a Prometheus)', () => {
    const text = render({ at: 1, tenants: [fullTenant(1)] }, new Map(), AGENT);
    const served = new Set(families(text).keys());
    const used = new Set<string>();
    const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...dashboard.templating.list.map((v) => v.query.query)];
    for (const e of exprs) for (const m of e.matchAll(/\bhostwarden_[a-z_]+/g)) used.add(m[0]);
    expect([...used].filter((n) => !served.has(n))).toEqual([]);
    // The main families all have a panel.
    for (const n of ['hostwarden_tenant_cpu_usage_seconds_total', 'hostwarden_tenant_memory_usage_bytes', 'hostwarden_tenant_fs_reads_bytes_total', 'hostwarden_tenant_network_transmit_bytes_total', 'hostwarden_tenant_processes', 'hostwarden_tenant_throttle_level', 'hostwarden_tenant_frozen', 'hostwarden_tenant_strays_total', 'hostwarden_tenant_plan_cpu_cores']) expect(used, n).toContain(n);
  });
});

describe('metrics listener', () => {
  const servers: MetricsServer[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) await s.close();
  });

  async function start(opts: { token?: string; tenants?: number; idleMs?: number } = {}): Promise<string> {
    const m = new TenantMetrics(AGENT);
    m.update({ at: Date.now(), tenants: Array.from({ length: opts.tenants ?? 2 }, (_, i) => fullTenant(i)) }, new Map());
    let tokenFile: string | undefined;
    if (opts.token !== undefined) {
      tokenFile = join(dir, `token-${servers.length}-${Math.random()}`);
      writeFileSync(tokenFile, `${opts.token}\n`, { mode: 0o600 });
    }
    const s = new MetricsServer({ host: '127.0.0.1', port: 0, ...(tokenFile ? { tokenFile } : {}) }, m, log, opts.idleMs ? { idleMs: opts.idleMs } : {});
    servers.push(s);
    return s.listen();
  }

  it('serves /metrics and refuses other paths (404) and methods (405)', async () => {
    const url = await start();
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await ok.text()).toContain('hostwarden_tenant_cpu_usage_seconds_total{tenant="t1"}');
    const base = url.replace(/\/metrics$/, '');
    for (const p of ['/', '/metrics/', '/v1/hosts', '/metricsx', '/METRICS']) expect((await fetch(`${base}${p}`)).status, p).toBe(404);
    expect((await fetch(`${url}?x=1`)).status).toBe(200);
    const post = await fetch(url, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(100);
  });

  it('wants the bearer token when one is configured (401 without it or with another)', async () => {
    const url = await start({ token: 's3cret-token' });
    expect((await fetch(url)).status).toBe(401);
    const wrong = await fetch(url, { headers: { authorization: 'Bearer s3cret-tokeX' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect((await fetch(url, { headers: { authorization: 'Basic s3cret-token' } })).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${'x'.repeat(5000)}` } })).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(200);
    expect((await fetch(url.replace(/\/metrics$/, '/nope'), { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(404);
  });

  it('names metrics_token_file when the token cannot be read', async () => {
    const m = new TenantMetrics(AGENT);
    expect(() => new MetricsServer({ host: '127.0.0.1', port: 0, tokenFile: join(dir, 'missing.token') }, m, log)).toThrow(/metrics_token_file.*cannot read/);
    const empty = join(dir, 'empty.token');
    writeFileSync(empty, '\n');
    expect(() => new MetricsServer({ host: '127.0.0.1', port: 0, tokenFile: empty }, m, log)).toThrow(/metrics_token_file.*empty/);
  });

  it('names metrics_listen when the address cannot be bound', async () => {
    const url = await start();
    const port = Number(new URL(url).port);
    const second = new MetricsServer({ host: '127.0.0.1', port }, new TenantMetrics(AGENT), log);
    await expect(second.listen()).rejects.toThrow(/metrics_listen.*cannot listen/);
  });

  it('gzips when asked, once per tick', async () => {
    const url = await start({ tenants: 50 });
    const plain = Buffer.from(await (await fetch(url)).arrayBuffer());
    // fetch() decodes gzip itself; a raw request shows what went over the wire.
    const raw = await rawRequest(url, 'GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n');
    const [head, ...rest] = splitHead(raw);
    expect(head).toMatch(/content-encoding: gzip/i);
    const body = Buffer.concat(rest);
    expect(body.length).toBeLessThan(plain.length / 3);
    expect(gunzipSync(body).equals(plain)).toBe(true);
  });

  it('answers while other clients stall (half-sent headers, a response nobody reads) and closes the stalled ones', async () => {
    const url = await start({ tenants: 1000, idleMs: 1000 });
    const { port } = new URL(url);
    // Half a request, never finished; and whole requests for 1,000 tenants whose answers are never read.
    const half = await open(Number(port));
    half.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    const readers: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await open(Number(port));
      s.pause();
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      readers.push(s);
    }
    const r = await fetch(url);
    expect(r.status).toBe(200);
    expect((await r.text()).length).toBeGreaterThan(1_000_000);
    // The server closes the stalled connections (no byte for idleMs); a paused reader sees it once resumed.
    const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
    // Read what the server says to the half request (a 408, or nothing when the idle limit came first): a
    // socket's 'end' and 'close' come only once what it received was consumed.
    half.resume();
    await closed(half);
    for (const s of readers) {
      s.resume();
      await closed(s);
    }
    expect((await fetch(url)).status).toBe(200);
  }, 60_000);

  it(`holds at most ${MAX_CONNECTIONS} connections at once`, async () => {
    const url = await start({ idleMs: 60_000 });
    const port = Number(new URL(url).port);
    for (let i = 0; i < MAX_CONNECTIONS; i++) await open(port);
    const extra = await open(port);
    extra.resume();
    await new Promise<void>((resolve) => (extra.destroyed ? resolve() : extra.once('close', () => resolve())));
    for (const s of sockets.splice(0)) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(url)).status).toBe(200);
  });

  function open(port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
      sockets.push(s);
    });
  }

  async function rawRequest(url: string, request: string): Promise<Buffer> {
    const s = await open(Number(new URL(url).port));
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.write(request);
    await new Promise((r) => s.once('close', r));
    return Buffer.concat(chunks);
  }
});

/** The header text of a raw HTTP/1.1 response, then its body (not chunked: the listener sends Content-Length). */
function splitHead(raw: Buffer): [string, Buffer] {
  const i = raw.indexOf('\r\n\r\n');
  return [raw.subarray(0, i).toString(), raw.subarray(i + 4)];
}
