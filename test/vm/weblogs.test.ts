// The web tier on the guest's pure cgroup v2 host: Debian's nginx (the build host's own binary and libraries,
// which the guest sees through its read-only 9p root) serving two tenants' virtual hosts on loopback, bounded
// HTTP load from this test, the built controller and agent. The API's per-tenant request, API-call and byte
// totals equal the test's own counts exactly, and the generated include holds the tenant with an api cap.
// The loopback half with rotation, SIGKILL and copytruncate is test/system/weblogs.test.ts.
//
// Why the waits below are long (bounded, and no timing is asserted): in the emulated guest the built
// controller takes about 3 minutes to listen (measured 176 s with another guest running on the same 2 cores):
// its module graph is about 1,450 files and 12,000 stat calls read over 9p under TCG (about 100 s before its
// first log line; typebox alone is 684 files), then about 60 s compiling the validators and serializers of its
// routes; under a heavier load (about 30 on the 2 cores) the first log line took over 240 s. startStack waited
// 30 s: that was the failure, nothing was wrong with the port or the state directory (a tmpfs /tmp). So the controller gets `parser_threads: 0` (a parser thread loads the same module
// graph again while the main thread does, on the guest's 2 vCPUs; this test sends a few reports) and up to
// 10 minutes to listen, and the load starts only once the agent, as slow to start, has reported: lines it had
// not seen would otherwise be skipped by `start_at: end` (here `beginning`: the log is this test's own).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_API_PATHS } from '../../agent/weblogs/attribute.js';
import { INCLUDE_HEADER } from '../../agent/webserver/nginx.js';
import { type Nginx, request, startNginx } from '../helpers/nginx.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { Cleanup, createUser, tempDir, type TestUser, waitFor } from '../helpers/system.js';
import { requireGuest } from './guest.js';

requireGuest();

interface Totals {
  requests: number;
  api_calls: number;
  bytes: number;
}
/** How long a daemon may take to start in the guest (it fails at once if it exits): see the header. */
const START_MS = 600_000;
const PATHS = ['/', '/api/v1/items', '/wp-json/wp/v2/posts', '/index.html', '/xmlrpc.php', '/big'];
const isApi = (path: string) => DEFAULT_API_PATHS.some((p) => path.startsWith(p));

describe('web tier: nginx access logs on a pure cgroup v2 host', () => {
  const cleanup = new Cleanup();
  let stack: Stack;
  let nginx: Nginx;
  let alice: TestUser;
  let bob: TestUser;
  let include = '';
  const from = new Date(Date.now() - 120_000).toISOString();

  beforeAll(async () => {
    alice = createUser(cleanup, 'hwwa');
    bob = createUser(cleanup, 'hwwb');
    const prefix = tempDir(cleanup, 'hw-vm-web-');
    include = join(prefix, 'hostwarden-limits.conf');
    writeFileSync(include, `${INCLUDE_HEADER}\n# No tenant is held at the web server now.\n`);
    mkdirSync(join(prefix, 'www'), { recursive: true });
    writeFileSync(join(prefix, 'www', 'big'), Buffer.alloc(40_000, 0x62));
    nginx = await startNginx(
      cleanup,
      prefix,
      [
        `log_format vhost '$host:$server_port $remote_addr - $remote_user [$time_local] "$request" $status $bytes_sent "$http_referer" "$http_user_agent"';`,
        'access_log PREFIX/logs/access.log vhost;',
        `include ${include};`,
        'server { listen 127.0.0.1:PORT default_server; server_name _; return 404; }',
        'server { listen 127.0.0.1:PORT; server_name alice.test www.alice.test; location / { return 200 "alice $uri\\n"; } location = /big { root PREFIX/www; } }',
        'server { listen 127.0.0.1:PORT; server_name bob.test; location / { return 200 "bob says hello for $uri\\n"; } location = /big { root PREFIX/www; } }',
      ].join('\n'),
    );
    const conf = ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs/error.log')];
    stack = await startStack(cleanup, {
      host: 'vmweb',
      interval: '2s',
      agent: [
        'plans: { web: { api: 100000 } }',
        'tenants:',
        `  - { name: ${alice.name}, users: [${alice.name}], plan: web, domains: [alice.test, "*.alice.test"] }`,
        `  - { name: ${bob.name}, users: [${bob.name}], domains: [bob.test] }`,
        `access_logs: [ { path: ${join(prefix, 'logs/access.log')}, format: vhost_combined, start_at: beginning } ]`,
        `web_server: { kind: nginx, include: ${include}, check: ${JSON.stringify(['nginx', '-t', ...conf])}, reload: ${JSON.stringify(['nginx', '-s', 'reload', ...conf])} }`,
      ],
      controller: ['ingest: { parser_threads: 0 }'],
      startTimeoutMs: START_MS,
    });
    await waitFor(
      'the agent reporting',
      async () => {
        if (stack.agent.child.exitCode !== null) throw new Error(`the agent exited (${stack.agent.child.exitCode}):\n${stack.agent.output()}`);
        const r = await stack.api('GET', '/v1/hosts/vmweb');
        return r.status === 200 && r.body.last_report_at !== null;
      },
      START_MS,
      1000,
    );
  }, 3 * START_MS);

  afterAll(async () => expect(await cleanup.run()).toEqual([]), 120_000);

  it("counts each tenant's requests, API calls and bytes exactly", async () => {
    const sent = new Map<string, Totals>();
    const hosts: Array<[string, string]> = [
      ['alice.test', alice.name],
      ['www.alice.test', alice.name],
      ['bob.test', bob.name],
    ];
    const N = 240;
    let next = 0;
    const worker = async () => {
      while (next < N) {
        const i = next++;
        const [host, tenant] = hosts[i % hosts.length]!;
        const path = PATHS[Math.floor(i / hosts.length) % PATHS.length]!;
        const r = await request(nginx.port, host, path);
        expect(r.status).toBe(200);
        const t = sent.get(tenant) ?? { requests: 0, api_calls: 0, bytes: 0 };
        t.requests++;
        t.bytes += r.bytes;
        if (isApi(path)) t.api_calls++;
        sent.set(tenant, t);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    expect(sent.get(alice.name)!.requests + sent.get(bob.name)!.requests).toBe(N);

    const totals = async (tenant: string): Promise<Totals | undefined> => {
      const r = await stack.api('GET', `/v1/tenants/${tenant}/web?from=${from}&to=${new Date(Date.now() + 120_000).toISOString()}`);
      if (r.status !== 200) return undefined;
      const { requests, api_calls, bytes } = r.body as unknown as Totals;
      return { requests, api_calls, bytes };
    };
    for (const tenant of [alice.name, bob.name]) {
      const want = sent.get(tenant)!;
      await waitFor(`${tenant}'s totals at the controller`, async () => (await totals(tenant))?.requests === want.requests, 300_000, 1000);
      expect(await totals(tenant)).toEqual(want);
    }
    // The include holds alice (her plan has an api cap), not bob, and nginx took it.
    expect(readFileSync(include, 'utf8')).toContain(`"${alice.name}"`);
    expect(readFileSync(include, 'utf8')).not.toContain(bob.name);
    expect(stack.agent.output()).not.toMatch(/cannot apply the web server API limits/);
  }, 900_000);
});
