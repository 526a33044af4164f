// The agent's metrics endpoint scraped by a real Prometheus (Debian's), with real tenants: a user running a
// CPU burner and sending a few UDP packets, an idle one. The agent and the Prometheus run in a network
// namespace of the test's own (the agent's nftables counters stay there, and every port is free in it); the
// agent listens on the namespace's veth address with a bearer token, the Prometheus scrapes it every second
// and answers the test's PromQL over the veth pair. Checks: only /metrics with the token, `promtool check
// metrics` on the agent's output, the burner's CPU seconds counter rising in Prometheus, and every query of
// the packaged Grafana dashboard (packaging/grafana/hostwarden-tenants.json) returning data. Everything made
// (namespace, Prometheus and its storage, users, cgroups) is removed even when the test fails.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import { describeWith, hasCommand, missing, needRoot } from '../helpers/env.js';
import { createTestNetns, type TestNetns } from '../helpers/netns.js';
import { burner, Cleanup, createUser, type Daemon, killTree, NODE, ROOT, runProgram, spawnDaemon, tempDir, type TestUser, uniq, waitFor, writeToken } from '../helpers/system.js';

const METRICS_PORT = 9640;
const PROMETHEUS_PORT = 9090;
/** What the test puts for Grafana's $__rate_interval: 4 scrape intervals and some (Grafana's own rule). */
const RATE_INTERVAL = '15s';

const prereqs = missing([
  needRoot,
  [hasCommand('prometheus') && hasCommand('promtool'), 'needs prometheus and promtool (package prometheus; scripts/install-prereqs.sh)'],
  [hasCommand('ip') && hasCommand('nft') && hasCommand('setpriv') && hasCommand('nsenter'), 'needs ip, nft, setpriv and nsenter (iproute2, nftables, util-linux)'],
]);

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

describeWith(prereqs, 'the agent scraped by a real Prometheus; the Grafana dashboard', () => {
  const cleanup = new Cleanup();
  let ns: TestNetns;
  let busy: TestUser;
  let idle: TestUser;
  let agent: Daemon;
  let prometheus: Daemon;
  let token = '';
  let dir = '';
  let metricsUrl = '';

  beforeAll(async () => {
    dir = tempDir(cleanup, 'hw-prom-');
    chmodSync(dir, 0o755); // the tenants' homes are below it
    busy = createUser(cleanup, 'hwp', { home: join(dir, 'home-busy') });
    idle = createUser(cleanup, 'hwp');
    ns = createTestNetns(cleanup, 'hwprom');
    const parent = uniq('hostwarden-t');
    cleanup.add(`remove cgroups under ${parent}`, () => {
      const d = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
      for (const t of d.list()) d.remove(t, { kill: true });
      d.teardown();
    });
    burner(cleanup, busy);
    sendUdp(cleanup, ns, busy);
    token = writeToken(join(dir, 'metrics.token'));
    metricsUrl = `http://${ns.nsAddress}:${METRICS_PORT}/metrics`;
    writeFileSync(
      join(dir, 'agent.yaml'),
      [
        'host: prom01',
        'interval: 1s',
        `state_dir: ${join(dir, 'agent')}`,
        'controller: { enabled: false }',
        `cgroup: { parent: ${parent} }`,
        `bandwidth: { enabled: true, table: ${uniq('hwt')} }`, // in the test's namespace
        'inventory: { enabled: false }',
        'inodes: { refresh: 1s }',
        'log_level: info',
        `metrics_listen: ${ns.nsAddress}:${METRICS_PORT}`,
        `metrics_token_file: ${join(dir, 'metrics.token')}`,
        'plans:',
        '  basic: { cpu: 50, memory: 1G, io_read: 100M, io_write: 100M, iops: 10000, processes: 500, api: 600, weight: 2 }',
        'tenants:',
        `  - { name: ${busy.name}, users: [${busy.name}], plan: basic, homes: [${busy.home}] }`,
        `  - { name: ${idle.name}, users: [${idle.uid}] }`,
        '',
      ].join('\n'),
    );
    // nsenter, not `ip netns exec`: that one mounts a sysfs of the namespace's own, without /sys/fs/cgroup.
    agent = spawnDaemon(cleanup, 'nsenter', [`--net=/run/netns/${ns.name}`, NODE, join(ROOT, 'dist/agent/bin/hostwarden-agent.js'), '--config', join(dir, 'agent.yaml')], process.env);
    await waitFor('the agent\'s "metrics listening"', () => {
      if (agent.child.exitCode !== null) return true; // said below, with its output
      return agent.output().includes('"msg":"metrics listening"');
    });
    expect(agent.child.exitCode, `the agent exited:\n${agent.output()}`).toBe(null);

    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: hostwarden-agent',
        `    authorization: { type: Bearer, credentials_file: ${join(dir, 'metrics.token')} }`,
        `    static_configs: [ { targets: ["${ns.nsAddress}:${METRICS_PORT}"] } ]`,
        '',
      ].join('\n'),
    );
    // The test's own Prometheus (never the package's service): its storage in the temp dir, its web port on
    // the namespace's address, stopped at cleanup (and killed with whatever else runs in the namespace).
    prometheus = spawnDaemon(
      cleanup,
      'ip',
      ['netns', 'exec', ns.name, 'prometheus', `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'prometheus-data')}`, `--web.listen-address=${ns.nsAddress}:${PROMETHEUS_PORT}`, '--log.level=warn'],
      process.env,
    );
  }, 120_000);

  afterAll(async () => {
    const errors = await cleanup.run();
    expect(errors).toEqual([]);
  });

  async function query(expr: string): Promise<PromResult[]> {
    const r = await fetch(`http://${ns.nsAddress}:${PROMETHEUS_PORT}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: PromResult[] | [number, string] } };
    if (body.status !== 'success') throw new Error(`PromQL ${expr}: ${body.error}`);
    const res = body.data!.result;
    // A scalar answer ("vector(0)"-like expressions are vectors; a bare number is a scalar) counts as data.
    return body.data!.resultType === 'scalar' ? [{ metric: {}, value: res as [number, string] }] : (res as PromResult[]);
  }

  it('serves /metrics only, with the token, in a format promtool accepts', async () => {
    const auth = { authorization: `Bearer ${token}` };
    expect((await fetch(metricsUrl)).status).toBe(401);
    expect((await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    expect((await fetch(metricsUrl.replace(/metrics$/, ''), { headers: auth })).status).toBe(404);
    expect((await fetch(metricsUrl.replace(/metrics$/, 'v1/tenants'), { headers: auth })).status).toBe(404);
    const text = await waitFor('both tenants measured', async () => {
      const t = await (await fetch(metricsUrl, { headers: auth })).text();
      return t.includes(`hostwarden_tenant_cpu_usage_seconds_total{tenant="${busy.name}"}`) && t.includes(`hostwarden_tenant_processes{tenant="${idle.name}"}`) && t;
    });
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(text).toContain(`hostwarden_tenant_info{tenant="${busy.name}",plan="basic"} 1`);
    expect(text).toContain(`hostwarden_tenant_plan_cpu_cores{tenant="${busy.name}"} 0.5`);
    expect(text).toMatch(new RegExp(`^hostwarden_tenant_network_transmit_bytes_total\\{tenant="${busy.name}"\\} \\d+$`, 'm'));
  });

  it("gives the burner's CPU to a PromQL query: the rate of its CPU seconds counter is above 0, the idle tenant's below it", async () => {
    const rate = (tenant: string) => `rate(hostwarden_tenant_cpu_usage_seconds_total{job="hostwarden-agent",tenant="${tenant}"}[${RATE_INTERVAL}])`;
    const busyCpu = await waitFor(
      "the burner's CPU in Prometheus",
      async () => {
        if (prometheus.child.exitCode !== null) throw new Error(`prometheus exited:\n${prometheus.output()}`);
        const r = await query(`${rate(busy.name)} > 0`);
        return r.length === 1 && Number(r[0]!.value[1]);
      },
      90_000,
      1000,
    );
    expect(busyCpu).toBeGreaterThan(0);
    const idleCpu = await query(rate(idle.name));
    expect(idleCpu.length).toBe(1);
    expect(Number(idleCpu[0]!.value[1])).toBeLessThan(busyCpu);
  });

  it('answers every query of the packaged Grafana dashboard with data', async () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'packaging/grafana/hostwarden-tenants.json'), 'utf8')) as Dashboard;
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThanOrEqual(20);
    // Each query as Grafana sends it with every agent and the busy tenant chosen, then with "All".
    const empty: string[] = [];
    // Rates need a few scrapes, the inode count its first walk: each query may wait, all of them 60 s at most.
    const deadline = Date.now() + 60_000;
    for (const tenant of [busy.name, '.*']) {
      for (const q of queries) {
        const expr = substitute(q.expr, { instance: '.*', tenant, __rate_interval: RATE_INTERVAL });
        const got = await waitFor(`data for ${q.where}`, async () => ((await query(expr)).length > 0 ? true : undefined), Math.max(1000, deadline - Date.now()), 1000).catch(() => false);
        if (!got) empty.push(`${q.where}: ${expr}`);
      }
    }
    expect(empty).toEqual([]);
  });

  it('exits 2 naming the key when the metrics token cannot be read or the address is bad', () => {
    // Nothing governed and nothing reported: the run stops at the metrics endpoint, before any tick.
    const base = `host: prom02\nstate_dir: ${join(dir, 'bad-agent')}\ncontroller: { enabled: false }\ncgroup: { parent: ${uniq('hostwarden-t')} }\nbandwidth: { enabled: false }\ninventory: { enabled: false }\n`;
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `${base}metrics_listen: 127.0.0.1:0\nmetrics_token_file: ${join(dir, 'no-such.token')}\n`);
    const noToken = runProgram('agent/bin/hostwarden-agent.js', ['--config', bad]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('metrics_token_file');
    writeFileSync(bad, `${base}metrics_listen: "localhost:http"\n`);
    const badListen = runProgram('agent/bin/hostwarden-agent.js', ['--config', bad]);
    expect(badListen.code).toBe(2);
    expect(badListen.stderr).toContain('metrics_listen');
  });
});

/** The tenant sends a few bytes now and then to a port nobody listens on in the namespace (its tx counter). */
function sendUdp(cleanup: Cleanup, ns: TestNetns, user: TestUser): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns.name, 'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', 'bash', '-c', 'while :; do echo hostwarden >/dev/udp/127.0.0.1/9; sleep 0.2; done'], {
    stdio: 'ignore',
    detached: true,
    cwd: '/',
  });
  cleanup.add(`kill the UDP sender ${child.pid}`, () => killTree(child));
  return child;
}

interface Dashboard {
  panels: Array<{ title: string; targets?: Array<{ expr: string; refId: string }> }>;
  templating: { list: Array<{ name: string; query: { query: string } | string }> };
}

/** Every PromQL query of the dashboard: the panels' targets, and the variables' label_values() as a query. */
function dashboardQueries(d: Dashboard): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const p of d.panels) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
  for (const v of d.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q);
    if (!m) throw new Error(`variable ${v.name}: not a label_values() query: ${q}`);
    out.push({ where: `variable $${v.name}`, expr: `group by (${m[2]}) (${m[1]})` });
  }
  return out;
}

/** Grafana's variables put in; a variable the test does not know fails (a new one needs a value here). */
function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$(\w+)|\$\{(\w+)\}/g, (_, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    const v = values[name];
    if (v === undefined) throw new Error(`unknown variable $${name} in ${expr}`);
    return v;
  });
}
