// The web tier end to end with real parts: Debian's nginx on loopback serving three tenants' virtual hosts,
// bounded HTTP load from this test (which counts every request, API call, 5xx and received byte itself), the
// built controller and agent as daemons, Debian's logrotate with the test's own config and state file.
//   - rotation by rename in the middle of the load and an agent SIGKILL (restarted while the load goes on):
//     the API's totals per tenant equal the test's counts exactly, and stay so (nothing repeated);
//   - copytruncate: the tenant's total is short at most by the requests made while logrotate ran, and the
//     truncation is reported; garbage lines and requests for hosts of no tenant are counted exactly.
import { execFileSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_API_PATHS } from '../../agent/weblogs/attribute.js';
import type { HostWebStats } from '../../shared/wire/web.js';
import { describeWith, hasCommand, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { type Nginx, request, startNginx } from '../helpers/nginx.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { Cleanup, createUser, tempDir, type TestUser, waitFor } from '../helpers/system.js';

interface Totals {
  requests: number;
  api_calls: number;
  bytes: number;
  errors_5xx: number;
}
const zero = (): Totals => ({ requests: 0, api_calls: 0, bytes: 0, errors_5xx: 0 });
const PATHS = ['/', '/index.html', '/api/v1/items', '/wp-json/wp/v2/posts', '/xmlrpc.php', '/graphql', '/page?next=/api/', '/big', '/fail'];
const isApi = (path: string) => DEFAULT_API_PATHS.some((p) => path.startsWith(p));

describeWith(missing([needRoot, needV1Cgroups, [hasCommand('nginx'), 'needs nginx (scripts/install-prereqs.sh)'], [hasCommand('logrotate'), 'needs logrotate']]), 'web tier: nginx access logs', () => {
  const cleanup = new Cleanup();
  let stack: Stack;
  let nginx: Nginx;
  let prefix = '';
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  const sent = new Map<string, Totals>();
  let unattributed = 0;
  const from = new Date(Date.now() - 120_000).toISOString();

  /** `n` requests, `parallel` at a time, over the given virtual hosts; counted per tenant by the test. */
  async function load(n: number, hosts: Array<[host: string, tenant: string | undefined]>, parallel = 6, onProgress?: (done: number) => Promise<void> | void): Promise<void> {
    let next = 0;
    let done = 0;
    const marks = new Set<number>();
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const [host, tenant] = hosts[i % hosts.length]!;
        const path = PATHS[Math.floor(i / hosts.length) % PATHS.length]!;
        const r = await request(nginx.port, host, path);
        if (tenant === undefined) unattributed++;
        else {
          const t = sent.get(tenant) ?? zero();
          t.requests++;
          t.bytes += r.bytes;
          if (isApi(path)) t.api_calls++;
          if (r.status >= 500) t.errors_5xx++;
          sent.set(tenant, t);
        }
        done++;
        if (onProgress && !marks.has(done)) {
          marks.add(done);
          await onProgress(done);
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }

  async function totals(tenant: string): Promise<Totals> {
    const r = await stack.api('GET', `/v1/tenants/${tenant}/web?from=${from}&to=${new Date(Date.now() + 120_000).toISOString()}`);
    if (r.status === 404) return zero();
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const { requests, api_calls, bytes, errors_5xx } = r.body as unknown as Totals;
    return { requests, api_calls, bytes, errors_5xx };
  }

  async function hostStats(): Promise<HostWebStats> {
    const r = await stack.api('GET', '/v1/hosts/weblogs/web');
    expect(r.status).toBe(200);
    return r.body as unknown as HostWebStats;
  }

  function logrotate(name: string, body: string): void {
    const conf = join(prefix, `${name}.conf`);
    writeFileSync(conf, body);
    const r = runLogrotate(conf, join(prefix, 'logrotate.state'));
    if (r.code !== 0) throw new Error(`logrotate failed (${r.code}): ${r.stderr}`);
  }

  beforeAll(async () => {
    alice = createUser(cleanup);
    bob = createUser(cleanup);
    carol = createUser(cleanup);
    prefix = tempDir(cleanup, 'hw-nginx-');
    nginx = await startNginx(
      cleanup,
      prefix,
      [
        `log_format vhost '$host:$server_port $remote_addr - $remote_user [$time_local] "$request" $status $bytes_sent "$http_referer" "$http_user_agent"';`,
        `log_format tjson escape=json '{"host":"$host","uri":"$request_uri","status":"$status","bytes":"$bytes_sent","time":"$time_iso8601"}';`,
        `log_format plain '$remote_addr - $remote_user [$time_local] "$request" $status $bytes_sent "$http_referer" "$http_user_agent"';`,
        'access_log PREFIX/logs/access.log vhost;',
        'server { listen 127.0.0.1:PORT default_server; server_name _; return 404; }',
        `server { listen 127.0.0.1:PORT; server_name alice.test *.alice.test; location / { return 200 "alice $request_uri\\n"; } location /big { return 200 "${'a'.repeat(2000)}"; } location /fail { return 503; } }`,
        `server { listen 127.0.0.1:PORT; server_name bob.test; location / { return 200 "bob\\n"; } location /big { return 200 "${'b'.repeat(3000)}"; } location /fail { return 502; } }`,
        `server { listen 127.0.0.1:PORT; server_name data.bob.test; access_log PREFIX/logs/data.json tjson; location / { return 201 "data $uri\\n"; } location /fail { return 500; } }`,
        `server { listen 127.0.0.1:PORT; server_name carol.test; access_log PREFIX/logs/carol.log plain; location / { return 200 "carol\\n"; } location /fail { return 504; } }`,
      ].join('\n'),
    );
    stack = await startStack(cleanup, {
      host: 'weblogs',
      interval: '1s',
      agent: [
        'tenants:',
        `  - { name: ${alice.name}, users: [${alice.name}], domains: [alice.test, "*.alice.test"] }`,
        `  - { name: ${bob.name}, users: [${bob.name}], domains: [bob.test, data.bob.test] }`,
        `  - { name: ${carol.name}, users: [${carol.name}] }`,
        'access_logs:',
        `  - { path: ${prefix}/logs/access.log, format: vhost_combined }`,
        `  - { path: ${prefix}/logs/data.json, format: json }`,
        `  - { path: ${prefix}/logs/carol.log, format: combined, tenant: ${carol.name} }`,
      ],
    });
    // The agent has reported once: it has seen the logs (and spooled their cursors) before any request.
    await waitFor('the agent reporting', async () => (await stack.api('GET', '/v1/hosts/weblogs')).status === 200, 60_000);
  });

  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it('counts every request exactly through a rename rotation and an agent SIGKILL', async () => {
    const hosts: Array<[string, string | undefined]> = [
      ['alice.test', alice.name],
      ['www.alice.test', alice.name],
      ['bob.test', bob.name],
      ['data.bob.test', bob.name],
      ['nobody.test', undefined],
    ];
    const n = 1500;
    let killedAt = 0;
    let rotatedAt = 0;
    await load(n, hosts, 6, async (done) => {
      if (done === 500) {
        killedAt = done;
        stack.agent.child.kill('SIGKILL');
        await stack.agent.exited;
        setTimeout(() => stack.startAgent(), 1500); // back while the load goes on
        await new Promise((r) => setTimeout(r, 3000));
      }
      if (done === 1000) {
        rotatedAt = done;
        logrotate(
          'rename',
          `${prefix}/logs/access.log ${prefix}/logs/data.json {\n  rotate 5\n  missingok\n  create 0640 root root\n  sharedscripts\n  postrotate\n    kill -USR1 $(cat ${nginx.pidFile})\n  endscript\n}\n`,
        );
      }
    });
    expect([killedAt, rotatedAt]).toEqual([500, 1000]);
    const want = { alice: sent.get(alice.name)!, bob: sent.get(bob.name)! };
    expect(want.alice.api_calls).toBeGreaterThan(0);
    expect(want.bob.errors_5xx).toBeGreaterThan(0);
    const got = async () => ({ alice: await totals(alice.name), bob: await totals(bob.name) });
    await waitFor('the API totals to reach the test\'s counts', async () => JSON.stringify(await got()) === JSON.stringify(want), 60_000, 500).catch(async (err: Error) => {
      throw new Error(`${err.message}\nwant ${JSON.stringify(want)}\n got ${JSON.stringify(await got())}\nagent output:\n${stack.agent.output()}`);
    });
    // And they stay there: three more reports repeat nothing.
    await new Promise((r) => setTimeout(r, 3500));
    expect(await got()).toEqual(want);
    const stats = await hostStats();
    expect(stats.rotations).toBeGreaterThanOrEqual(1);
    expect(stats.unattributed).toBe(unattributed);
    expect(stats.unparsed).toBe(0);
    expect(stats.lost_files).toBe(0);
  });

  it('copytruncate loses at most what was written while logrotate ran, and says so', async () => {
    const hosts: Array<[string, string | undefined]> = [['carol.test', carol.name]];
    let before = 0;
    let after = 0;
    await load(600, hosts, 4, (done) => {
      if (done === 300) {
        before = done;
        logrotate('copytruncate', `${prefix}/logs/carol.log {\n  rotate 5\n  copytruncate\n}\n`);
        after = sent.get(carol.name)!.requests; // the requests that completed while logrotate ran
      }
    });
    const want = sent.get(carol.name)!;
    const window = after - before + 4; // plus those in flight when it started
    await waitFor('carol counted', async () => (await hostStats()).truncations >= 1 && (await totals(carol.name)).requests >= want.requests - window, 60_000, 500).catch(async (err: Error) => {
      throw new Error(`${err.message}\nwant ${JSON.stringify(want)} (window ${window})\n got ${JSON.stringify(await totals(carol.name))}\n${JSON.stringify(await hostStats())}\nagent output:\n${stack.agent.output()}`);
    });
    await new Promise((r) => setTimeout(r, 3000));
    const got = await totals(carol.name);
    expect(got.requests).toBeLessThanOrEqual(want.requests);
    expect(got.requests).toBeGreaterThanOrEqual(want.requests - window);
    expect(got.bytes).toBeLessThanOrEqual(want.bytes);
    expect((await hostStats()).truncations).toBe(1);
  });

  it('counts garbage lines and skips them', async () => {
    const was = await hostStats();
    appendFileSync(join(prefix, 'logs/access.log'), 'garbage\n\u0000\u0001 not a log line\nalice.test:80 1.2.3.4 - - [bad time] "GET / HTTP/1.1" 200 1\n');
    await load(10, [['alice.test', alice.name]], 2);
    const want = sent.get(alice.name)!;
    await waitFor('garbage counted', async () => (await hostStats()).unparsed - was.unparsed === 3 && (await totals(alice.name)).requests === want.requests, 30_000, 500).catch(async (err: Error) => {
      const files = execFileSync('sh', ['-c', `ls -li ${prefix}/logs; wc -l ${prefix}/logs/*; tail -n 3 ${prefix}/logs/access.log*; cat ${prefix}/logs/error.log; cat ${prefix}/*.conf`]).toString();
      throw new Error(`${err.message}\nwant ${JSON.stringify(want)}\n got ${JSON.stringify(await totals(alice.name))}\n${JSON.stringify(await hostStats())}\n${files}\nagent output:\n${stack.agent.output()}`);
    });
    expect(await totals(alice.name)).toEqual(want);
  });
});

/** Debian's logrotate, forced, with the test's own config and state file. */
function runLogrotate(conf: string, state: string): { code: number; stderr: string } {
  try {
    execFileSync('logrotate', ['-f', '-s', state, conf], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stderr?: Buffer };
    return { code: e.status ?? -1, stderr: e.stderr?.toString() ?? String(err) };
  }
}
