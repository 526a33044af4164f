// The controller's metrics: the registry other components register with, the names and label sets the
// controller exposes (the stable ones of before, one renamed for promtool), and `promtool check metrics` on a
// real scrape of a running controller.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../controller/config.js';
import { controllerMetrics, RateMeter, Registry } from '../../../controller/metrics.js';
import { startController } from '../../../controller/server.js';
import { event, report } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Names of the metric families in a scrape, from its TYPE lines. */
function families(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

describe('Registry', () => {
  it('renders what components register, after its scrape hooks ran, in text format 0.0.4', async () => {
    const r = new Registry();
    const c = r.counter('hw_things_total', 'things', ['result']);
    const g = r.gauge('hw_level', 'a "level"\nwith a newline', ['state']);
    c.inc({ result: 'ok' });
    c.inc({ result: 'ok' }, 2);
    c.inc({ result: 'say "hi"\\' });
    r.onCollect(() => g.set(7, { state: 'sent' }));
    expect(r.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await r.render()).toBe(
      [
        '# HELP hw_things_total things',
        '# TYPE hw_things_total counter',
        'hw_things_total{result="ok"} 3',
        'hw_things_total{result="say \\"hi\\"\\\\"} 1',
        '',
        '# HELP hw_level a "level"\\nwith a newline',
        '# TYPE hw_level gauge',
        'hw_level{state="sent"} 7',
        '',
      ].join('\n'),
    );
  });

  it('makes counters and gauges with the label names they are given, and refuses others', async () => {
    const r = new Registry();
    r.counter('hostwarden_notice_sends_total', 'sends', ['result']).inc({ result: 'retry' });
    r.gauge('hostwarden_notices', 'by state', ['state']).set(4, { state: 'held' });
    const text = await r.render();
    expect(text).toContain('hostwarden_notice_sends_total{result="retry"} 1');
    expect(text).toContain('hostwarden_notices{state="held"} 4');
    expect(() => r.counter('hw_plain_total', 'no labels').inc({ result: 'x' })).toThrow(/not included in initial labelset/);
  });

  it('measures a rate over whole seconds', () => {
    let t = 10_000;
    const m = new RateMeter(10, () => t);
    for (let s = 0; s < 10; s++) {
      m.add(50);
      t += 1000;
    }
    expect(m.rate()).toBe(50);
    t += 20_000;
    expect(m.rate()).toBe(0);
  });
});

describe('controllerMetrics', () => {
  it('exposes the names of before (one renamed), a labelled request histogram, process and event-loop metrics', async () => {
    const m = controllerMetrics();
    m.requestDuration.observe({ route: 'GET /v1/hosts' }, 0.003);
    m.buffered.set(30);
    const text = await m.registry.render();
    const types = families(text);
    for (const [name, type] of [
      ['hostwarden_reports_total', 'counter'],
      ['hostwarden_samples_total', 'counter'],
      ['hostwarden_report_bytes_total', 'counter'],
      ['hostwarden_reports_parsed_total', 'counter'],
      ['hostwarden_incident_events_total', 'counter'],
      ['hostwarden_report_duration_seconds', 'histogram'],
      ['hostwarden_http_requests_total', 'counter'],
      ['hostwarden_http_request_duration_seconds', 'histogram'],
      ['hostwarden_ingest_samples_per_second', 'gauge'],
      ['hostwarden_store_bytes', 'gauge'],
      ['hostwarden_hosts', 'gauge'],
      ['hostwarden_tenants', 'gauge'],
      ['hostwarden_incidents_open', 'gauge'],
      ['hostwarden_rollup_buffered_buckets', 'gauge'],
      ['hostwarden_rollup_flushes_total', 'counter'],
      ['hostwarden_retention_runs_total', 'counter'],
      ['hostwarden_retention_deleted_rows_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['process_cpu_seconds_total', 'counter'],
      ['process_open_fds', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
    ] as const) {
      expect([name, types.get(name)]).toEqual([name, type]);
    }
    expect([...types.keys()].filter((n) => /^nodejs_active_.*_total$/.test(n) || n === 'hostwarden_rollup_buffered_minutes')).toEqual([]);
    expect(text).toMatch(/^hostwarden_http_request_duration_seconds_bucket\{le="0\.005",route="GET \/v1\/hosts"\} 1$/m);
    expect(text).toMatch(/^hostwarden_rollup_buffered_buckets 30$/m);
    expect(text).toMatch(/^hostwarden_reports_total\{result="conflict"\} 0$/m);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
  });
});

/** promtool (Debian's prometheus package), or why there is none. */
function promtool(): { ok: true } | { ok: false; why: string } {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (r.error) return { ok: false, why: `promtool is not installed (${(r.error as NodeJS.ErrnoException).code}): apt-get install prometheus, or scripts/install-prereqs.sh` };
  return { ok: true };
}

describe('a scrape of a running controller', () => {
  it('passes promtool check metrics', async (ctx) => {
    const tool = promtool();
    if (!tool.ok) {
      // Honest tests: CI must have it (scripts/install-prereqs.sh installs it); a developer's machine may not.
      if (process.env.CI === 'true') throw new Error(tool.why);
      return ctx.skip(tool.why);
    }
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, 'state'),
      admin_token_file: join(dir, 'admin.token'),
      agents: [{ host: 'web01', token_sha256: createHash('sha256').update('token-of-web01-agent-0001').digest('hex') }],
      ingest: { parser_threads: 0 },
    });
    writeFileSync(join(dir, 'admin.token'), 'admin-token-for-the-metrics-test\n', { mode: 0o600 });
    const running = await startController(config, { log: pino({ level: 'silent' }) });
    try {
      const at = Date.now() - 60_000;
      const body = report('web01', 1, at, [{ tenant: 'alice', cpu: { percent: 50 } }], { events: [event('e1', 'i1', 'opened', at)], tenants: [{ name: 'alice', email: 'alice@example.com' }] });
      const posted = await fetch(`${running.url}/v1/reports`, { method: 'POST', headers: { authorization: 'Bearer token-of-web01-agent-0001', 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(posted.status).toBe(202);
      const admin = { authorization: 'Bearer admin-token-for-the-metrics-test' };
      expect((await fetch(`${running.url}/v1/tenants/alice`, { headers: admin })).status).toBe(200);
      const res = await fetch(`${running.url}/metrics`, { headers: admin });
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      // every family took part: the store's gauges, the notices', requests by route
      expect(text).toMatch(/^hostwarden_samples_total 1$/m);
      expect(text).toMatch(/^hostwarden_notices\{state="[a-z_]+"\} 1$/m);
      expect(text).toMatch(/^hostwarden_http_request_duration_seconds_count\{route="GET \/v1\/tenants\/:tenant"\} 1$/m);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect({ status: check.status, problems: `${check.stdout}${check.stderr}`.trim() }).toEqual({ status: 0, problems: '' });
    } finally {
      await running.close();
    }
  });
});

describe('the fairness ledger in /metrics and the API', () => {
  it("shows each host's shares by resource, bandwidth, inodes and API calls against the capacities its agent reports", async () => {
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, 'ledger-state'),
      admin_token_file: join(dir, 'ledger-admin.token'),
      agents: [{ host: 'web02', token_sha256: createHash('sha256').update('token-of-web02-agent-0001').digest('hex') }],
      ingest: { parser_threads: 0 },
    });
    writeFileSync(join(dir, 'ledger-admin.token'), 'admin-token-for-the-ledger-test\n', { mode: 0o600 });
    const running = await startController(config, { log: pino({ level: 'silent' }) });
    try {
      const at = Date.now() - 60_000;
      // 4 cores, a 125 MB/s link, 1,000,000 inodes on the homes' filesystem, 6,000 API calls/min.
      //   alice: cpu 40/400 = 0.1, bandwidth max(50, 10)/125 = 0.4, inodes 0.3, api 3000/6000 = 0.5
      //   bob:   cpu 4/400 = 0.01, bandwidth 12.5/125 = 0.1, inodes 0.1, api 600/6000 = 0.1
      const host_stats = { cores: 4, memory_bytes: 16 * 2 ** 30, network: { interface: 'eth0', tx_bps: 62.5e6, link_bps: 125e6, drops_per_s: 0 }, inodes_capacity: 1_000_000, api_capacity: 6000 };
      const body = report(
        'web02',
        1,
        at,
        [
          { tenant: 'alice', cpu: { percent: 40 }, bandwidth: { tx_bps: 50e6, rx_bps: 10e6, web_tx_bps: 40e6 }, inodes: { count: 300_000 }, api: { per_minute: 3000 } },
          { tenant: 'bob', cpu: { percent: 4 }, bandwidth: { tx_bps: 12.5e6, rx_bps: 0 }, inodes: { count: 100_000 }, api: { per_minute: 600 } },
        ],
        { host_stats },
      );
      const posted = await fetch(`${running.url}/v1/reports`, { method: 'POST', headers: { authorization: 'Bearer token-of-web02-agent-0001', 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(posted.status).toBe(202);
      const admin = { authorization: 'Bearer admin-token-for-the-ledger-test' };
      const text = await (await fetch(`${running.url}/metrics`, { headers: admin })).text();
      const value = (name: string, resource?: string) => {
        const labels = resource === undefined ? '\\{host="web02"\\}' : `\\{host="web02",resource="${resource}"\\}`;
        const m = new RegExp(`^${name}${labels} (\\S+)$`, 'm').exec(text);
        return m ? Number(m[1]) : undefined;
      };
      const expected = { cpu: [0.11, 0.1], bandwidth: [0.5, 0.4], inodes: [0.4, 0.3], api: [0.6, 0.5] } as const;
      for (const [resource, [sum, max]] of Object.entries(expected)) {
        expect([resource, value('hostwarden_host_tenants_share', resource)]).toEqual([resource, expect.closeTo(sum, 9)]);
        expect([resource, value('hostwarden_host_largest_tenant_share', resource)]).toEqual([resource, expect.closeTo(max, 9)]);
      }
      // no io capacity, no memory measured: no series for them
      expect(value('hostwarden_host_tenants_share', 'io')).toBeUndefined();
      expect(value('hostwarden_host_tenants_share', 'memory')).toBeUndefined();
      expect(value('hostwarden_host_active_tenants')).toBe(2);
      // alice's dominant share is her API share (0.5), bob's 0.1: Jain = 0.36 / (2 * 0.26)
      expect(value('hostwarden_host_jain_index')).toBeCloseTo(0.36 / 0.52, 6);
      const ranking = (await (await fetch(`${running.url}/v1/fairness?host=web02&window=1h`, { headers: admin })).json()) as { tenants: Array<{ tenant: string; shares: Record<string, number | null> }> };
      expect(ranking.tenants.find((t) => t.tenant === 'alice')?.shares).toEqual({ cpu: 0.1, memory: null, io: null, bandwidth: 0.4, inodes: 0.3, api: 0.5 });
      const series = (await (await fetch(`${running.url}/v1/tenants/bob/fairness?from=${new Date(at - 60_000).toISOString()}`, { headers: admin })).json()) as { series: Record<string, unknown> };
      expect(Object.keys(series.series)).toEqual(expect.arrayContaining(['share_bandwidth', 'share_inodes', 'share_api', 'dominant_share']));
    } finally {
      await running.close();
    }
  });
});
