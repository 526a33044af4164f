// The built controller binary on a real loopback port with a real SQLite file: exit codes and config errors,
// the generated admin token, reports in and usage out (rollups right), idempotency, 400/401/403, a manual
// action's lifecycle through policy and acknowledgement, retention run by its cron schedule, and a crash
// (SIGKILL) after which nothing is lost or counted twice.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, missing } from '../../helpers/env.js';
import { Cleanup, listeningUrl, ROOT, runProgram, startDaemon, tempDir, waitFor, writeToken, type Daemon } from '../../helpers/system.js';
import type { Report, TenantSample } from '../../../shared/wire/agent.js';

const BIN = 'controller/bin/hostwarden-controller.js';
const built = existsSync(join(ROOT, 'dist', BIN));
const GiB = 1024 ** 3;
const MIN = 60_000;

describeWith(missing([[built, 'needs a build (npx tsc -b)']]), 'controller binary', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let url: string;
  let admin: string;
  let agent1: string;
  let config: string;
  let daemon: Daemon;
  // Reports of the past hour-and-a-half, 5 s apart, simulated: the rollups do not wait for the clock.
  const base = Math.floor((Date.now() - 3 * 3_600_000) / 3_600_000) * 3_600_000;

  const h = (token: string) => ({ authorization: `Bearer ${token}` });
  const sample = (tenant: string, percent: number, memGiB = 1): TenantSample => ({ tenant, cpu: { percent }, memory: { current: memGiB * GiB, anon: memGiB * GiB, file: 0 } });
  const report = (seq: number, at: number, samples: TenantSample[], extra: Partial<Report> = {}): Report => ({
    version: 1,
    host: 'web01',
    seq,
    at: new Date(at).toISOString(),
    sent_at: new Date().toISOString(),
    interval: 5,
    host_stats: { cores: 4, memory_bytes: 16 * GiB },
    samples,
    ...extra,
  });
  const post = (token: string, body: unknown) => fetch(`${url}/v1/reports`, { method: 'POST', headers: { ...h(token), 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const get = async (path: string, token = admin) => {
    const res = await fetch(`${url}${path}`, { headers: h(token) });
    return { status: res.status, body: (await res.json()) as Record<string, any>, headers: res.headers };
  };

  async function start(): Promise<void> {
    daemon = startDaemon(cleanup, BIN, ['--config', config]);
    url = await listeningUrl(daemon); // a new port at every start (listen on 0)
    await waitFor('controller /healthz', async () => (await fetch(`${url}/healthz`)).ok, 20_000, 100);
  }

  beforeAll(async () => {
    dir = tempDir(cleanup, 'hw-controller-');
    agent1 = writeToken(join(dir, 'agent-web01.token'));
    const agent2 = 'agent-web02-token-given-as-hash';
    config = join(dir, 'controller.yaml');
    writeFileSync(
      config,
      `listen: 127.0.0.1:0
state_dir: ${join(dir, 'state')}
admin_token_file: ${join(dir, 'etc', 'admin.token')}
agents:
  - { host: web01, token_file: ${join(dir, 'agent-web01.token')} }
  - { host: web02, token_sha256: ${createHash('sha256').update(agent2).digest('hex')} }
retention: { raw: 1h, schedule: "* * * * * *" }
rollup: { flush_interval: 15m }
ingest: { parser_threads: 1 }
log_level: info
`,
    );
    await start();
    admin = readFileSync(join(dir, 'etc', 'admin.token'), 'utf8').trim();
  });
  afterAll(async () => {
    const errors = await cleanup.run();
    expect(errors).toEqual([]);
  });

  it('explains its usage and refuses bad configuration with exit 2, naming the key', () => {
    const help = runProgram(BIN, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: hostwarden-controller [--config FILE]');
    expect(runProgram(BIN, ['--frobnicate']).code).toBe(2);
    const missingFile = runProgram(BIN, ['--config', join(dir, 'absent.yaml')]);
    expect([missingFile.code, missingFile.stderr]).toEqual([2, expect.stringContaining('cannot read')]);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'retention: { raw: forever }\n');
    const r = runProgram(BIN, ['--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('config key "retention.raw": invalid duration "forever"');
    writeFileSync(bad, `agents: [ { host: web09, token_file: ${join(dir, 'nope.token')} } ]\nadmin_token_file: ${join(dir, 'etc', 'admin.token')}\nstate_dir: ${join(dir, 'other')}\nlisten: 127.0.0.1:0\n`);
    const noToken = runProgram(BIN, ['--config', bad]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('config key "agents[0].token_file": cannot read token file');
    expect(runProgram(BIN, ['--print-config']).stdout).toContain('flush_interval: 15m');
  });

  it('generated its admin token (mode 0600) and says where, never what', () => {
    const file = join(dir, 'etc', 'admin.token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(daemon.output()).toContain(file);
    expect(daemon.output()).not.toContain(admin);
  });

  it('refuses the wrong token (401), a malformed report (400) and another host (403)', async () => {
    expect((await post('wrong-token-wrong-token', report(1, base, []))).status).toBe(401);
    // A broken envelope is refused whole; a bad sample alone is refused with 202 (integrity.test.ts).
    const bad = await post(agent1, report(1, base, [{ tenant: 'alice', cpu: { percent: 1 } }], { host_stats: { cores: 4, memory_bytes: 1.5 } }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'bad_request', message: 'at /host_stats/memory_bytes: must be integer' });
    const other = await post(agent1, { ...report(1, base, []), host: 'web02' });
    expect(other.status).toBe(403);
    expect((await get('/v1/hosts', agent1)).status).toBe(403);
    expect((await fetch(`${url}/v1/hosts`)).status).toBe(401);
  });

  it('refuses no token, a wrong token and an agent token on every admin route it documents', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const agentRoutes = new Set(['POST /v1/reports', 'GET /v1/hosts/{host}/policy']);
    // Public: the probes, the tenant's pages whose signed link is the credential, the dashboard's login and files.
    const publicRoutes = new Set([
      'GET /healthz',
      'GET /openapi.json',
      'GET /remediation/{token}',
      'POST /remediation/{token}',
      'POST /ui/api/login',
      'GET /ui/api/session',
      'POST /ui/api/logout',
      'GET /ui/',
      'GET /ui/assets/{file}',
      'GET /t/{token}',
      'GET /t/assets/{file}',
      'GET /t/{token}/api/summary',
      'GET /t/{token}/api/usage',
      'GET /t/{token}/api/incidents',
      'GET /t/{token}/api/remediation',
      'POST /t/{token}/api/remediation/{id}/ack',
    ]);
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const m of Object.keys(ops)) {
        const method = m.toUpperCase();
        const route = `${method} ${path}`;
        if (agentRoutes.has(route) || publicRoutes.has(route)) continue;
        const target = `${url}${path.replace('{tenant}', 'alice').replace('{host}', 'web01').replace('{plan}', 'basic').replace('{id}', '1')}`;
        const body = method === 'GET' || method === 'DELETE' ? undefined : '{}';
        const headers = (token?: string): Record<string, string> => ({ ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? h(token) : {}) });
        const statuses = [];
        for (const token of [undefined, 'wrong-token-wrong-token', agent1]) statuses.push((await fetch(target, { method, headers: headers(token), body })).status);
        expect([route, ...statuses]).toEqual([route, 401, 401, 403]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(15);
  });

  it('takes reports once per (host, seq) and serves usage with right averages and maxima', async () => {
    // 90 minutes of reports: alice at 10 + (k % 12) * 10 % (a ramp within each minute), bob steady at 25%.
    let seq = 1;
    for (let k = 0; k < 90 * 12; k++) {
      const at = base + k * 5000;
      const res = await post(agent1, report(seq++, at, [sample('alice', 10 + (k % 12) * 10), sample('bob', 25, 2)]));
      expect(res.status).toBe(202);
    }
    const again = await post(agent1, report(1, base, [sample('alice', 10), sample('bob', 25, 2)]));
    expect([again.status, await again.json()]).toEqual([202, { accepted: true, duplicate: true, seq: 1, rejected: { samples: 0, events: 0, tenants: 0 }, problems: [] }]);

    // Each minute: 10, 20, ..., 120 -> average 65, maximum 120.
    const u = await get(`/v1/tenants/alice/usage?from=${new Date(base).toISOString()}&to=${new Date(base + 90 * MIN).toISOString()}&step=1m&resources=cpu`);
    expect(u.status).toBe(200);
    expect(u.body.source).toBe('minute');
    expect(u.body.samples).toEqual(Array(90).fill(12));
    expect(u.body.series.cpu_percent.avg).toEqual(Array(90).fill(65));
    expect(u.body.series.cpu_percent.max).toEqual(Array(90).fill(120));
    const hour = await get(`/v1/tenants/bob/usage?from=${new Date(base).toISOString()}&to=${new Date(base + 2 * 3_600_000).toISOString()}&step=1h&resources=memory_current`);
    expect(hour.body.source).toBe('hour');
    expect(hour.body.samples).toEqual([720, 360]);
    expect(hour.body.series.memory_current.avg).toEqual([2 * GiB, 2 * GiB]);
    const tenants = await get('/v1/tenants');
    expect(tenants.body.tenants.map((t: { name: string; host: string }) => [t.name, t.host])).toEqual([
      ['alice', 'web01'],
      ['bob', 'web01'],
    ]);
  });

  it('drops raw rows past retention.raw on its cron schedule and keeps the rollups', async () => {
    const deleted = await waitFor(
      'a retention run deleting raw rows',
      async () => {
        const m = await (await fetch(`${url}/metrics`, { headers: h(admin) })).text();
        const n = Number(/^hostwarden_retention_deleted_rows_total\{tier="raw"\} (\d+)$/m.exec(m)?.[1] ?? 0);
        // Everything before the rollup watermark (minute 75 of the 90, flushed every 15) and over an hour old.
        return n >= 12 * 75 ? n : undefined;
      },
      20_000,
      250,
    );
    // Reports older than an hour and already rolled up are gone; the minutes of their time are still there.
    expect(deleted).toBe(12 * 75);
    const u = await get(`/v1/tenants/alice/usage?from=${new Date(base).toISOString()}&to=${new Date(base + 30 * MIN).toISOString()}&step=1m&resources=cpu`);
    expect(u.body.series.cpu_percent.avg).toEqual(Array(30).fill(65));
  });

  it('carries a manual action from the API to the policy, through the ack, to "applied"', async () => {
    await fetch(`${url}/v1/plans/basic`, { method: 'PUT', headers: { ...h(admin), 'content-type': 'application/json' }, body: JSON.stringify({ cpu: 100, weight: 1 }) });
    const put = await fetch(`${url}/v1/tenants/alice`, { method: 'PUT', headers: { ...h(admin), 'content-type': 'application/json' }, body: JSON.stringify({ users: ['alice'], plan: 'basic' }) });
    expect(put.status).toBe(200);
    const before = await get('/v1/hosts/web01/policy', agent1);
    const etag = before.headers.get('etag')!;
    const queued = await fetch(`${url}/v1/tenants/alice/actions`, { method: 'POST', headers: { ...h(admin), 'content-type': 'application/json' }, body: JSON.stringify({ action: 'throttle', level: 2, reason: 'abuse ticket 42', ttl: '30m' }) });
    expect(queued.status).toBe(201);
    const action = (await queued.json()) as { id: string; state: string };
    expect(action.state).toBe('pending');
    const changed = await fetch(`${url}/v1/hosts/web01/policy`, { headers: { ...h(agent1), 'if-none-match': etag } });
    expect(changed.status).toBe(200);
    const policy = (await changed.json()) as { tenants: Array<{ name: string }>; actions: Array<{ id: string; level: number }> };
    expect(policy.tenants.map((t) => t.name)).toEqual(['alice']);
    expect(policy.actions).toEqual([expect.objectContaining({ id: action.id, action: 'throttle', level: 2, reason: 'abuse ticket 42', by: 'admin' })]);
    const same = await fetch(`${url}/v1/hosts/web01/policy`, { headers: { ...h(agent1), 'if-none-match': changed.headers.get('etag')! } });
    expect(same.status).toBe(304);

    const ack = await post(agent1, report(100_000, Date.now(), [sample('alice', 200)], { acks: [{ action_id: action.id, state: 'applied', at: new Date().toISOString() }] }));
    expect(ack.status).toBe(202);
    const shown = await get(`/v1/actions/${action.id}`);
    expect(shown.body).toMatchObject({ id: action.id, state: 'applied', host: 'web01' });
  });

  it('loses nothing and counts nothing twice across a crash (SIGKILL) and a clean restart', async () => {
    const path = `/v1/tenants/alice/usage?from=${new Date(base).toISOString()}&to=${new Date(base + 90 * MIN).toISOString()}&step=1h&resources=cpu`;
    const before = (await get(path)).body;
    expect(before.samples).toEqual([720, 360]);
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await start();
    expect((await get(path)).body).toEqual(before);
    // still a duplicate after the crash
    expect(await (await post(agent1, report(5, base + 4 * 5000, [sample('alice', 50), sample('bob', 25, 2)]))).json()).toMatchObject({ duplicate: true });

    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    // (the exit event can come before the last of stdout)
    await waitFor('the last log line', () => daemon.output().includes('controller stopped'), 5000, 50);
    await start();
    expect((await get(path)).body).toEqual(before);
  });
});
