// API calls and web bytes on the ladder, end to end with real parts: Debian's nginx on loopback serving two
// tenants' virtual hosts with an access log the agent reads, the built controller and agent, and a listening
// unix socket whose accept queue the test fills (what a PHP-FPM pool with every worker busy shows), watched by
// the agent as the web server's saturation.
//   - alice's plan caps her web bytes (`bandwidth`): each response of her sites is held by nginx's limit_rate,
//     bob's are not;
//   - alice's sites asked for 5x her plan's `api` cap while the web server is saturated: an api_cap incident
//     opens (notice), escalates to throttle level 1, and the include holds her API calls at half her cap; the
//     explanation says what was measured, the cap, and the saturation seen; once the load stops, the incident
//     is released after the cooldown and the include holds her at her plan's cap again; bob is never held.
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { INCLUDE_HEADER } from '../../agent/webserver/nginx.js';
import { describeWith, hasCommand, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { type Nginx, reloaded, request, startNginx, workers } from '../helpers/nginx.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { Cleanup, createUser, spawnDaemon, tempDir, type TestUser, waitFor } from '../helpers/system.js';

const API_CAP = 120;
const BANDWIDTH = 64 * 1024;
const BIG = 512 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A whole download, timed by this process's clock: bytes received and milliseconds from request to close. */
async function download(port: number, host: string, path: string): Promise<{ status: number; bytes: number; ms: number }> {
  const t0 = performance.now();
  const r = await request(port, host, path);
  return { ...r, ms: performance.now() - t0 };
}

interface Incident {
  id: number;
  resource: string;
  rule: string;
  state: string;
  level: number;
}

describeWith(
  missing([needRoot, needV1Cgroups, [hasCommand('nginx'), 'needs nginx (scripts/install-prereqs.sh)'], [hasCommand('ss'), 'needs ss (iproute2)'], [hasCommand('python3'), 'needs python3 (a listener that never accepts)']]),
  'web tier: API calls and web bytes on the ladder',
  () => {
    const cleanup = new Cleanup();
    let stack: Stack;
    let nginx: Nginx;
    let prefix = '';
    let include = '';
    let fpm = '';
    let alice: TestUser;
    let bob: TestUser;
    const waiting: Socket[] = [];

    beforeAll(async () => {
      alice = createUser(cleanup);
      bob = createUser(cleanup);
      prefix = tempDir(cleanup, 'hw-webladder-');
      include = join(prefix, 'hostwarden-limits.conf');
      writeFileSync(include, `${INCLUDE_HEADER}\n# No tenant is held at the web server now.\n`);
      for (const site of ['alice', 'bob']) {
        mkdirSync(join(prefix, site, 'api'), { recursive: true });
        writeFileSync(join(prefix, site, 'api', 'items'), `${site} api\n`);
        writeFileSync(join(prefix, site, 'big'), Buffer.alloc(BIG, 0x61));
      }
      nginx = await startNginx(
        cleanup,
        prefix,
        [
          `log_format vhost '$host:$server_port $remote_addr - $remote_user [$time_local] "$request" $status $bytes_sent "$http_referer" "$http_user_agent"';`,
          'access_log PREFIX/logs/access.log vhost;',
          `include ${include};`,
          'server { listen 127.0.0.1:PORT default_server; server_name _; return 404; }',
          'server { listen 127.0.0.1:PORT; server_name alice.test; root PREFIX/alice; }',
          'server { listen 127.0.0.1:PORT; server_name bob.test; root PREFIX/bob; }',
        ].join('\n'),
      );
      // The stand-in for a saturated PHP-FPM pool: a unix socket listening, never accepting, with 12 connections
      // queued (the agent's threshold is 8).
      fpm = join(prefix, 'fpm.sock');
      const listener = spawnDaemon(cleanup, 'python3', ['-c', `import socket,time\ns=socket.socket(socket.AF_UNIX)\ns.bind(${JSON.stringify(fpm)})\ns.listen(64)\nprint("listening", flush=True)\ntime.sleep(900)`], process.env);
      await waitFor('the stand-in FPM socket listening', () => listener.output().includes('listening'), 15_000);
      for (let i = 0; i < 12; i++) {
        const s = connect(fpm);
        s.on('error', () => undefined);
        await once(s, 'connect');
        waiting.push(s);
      }
      cleanup.add('close the queued connections', () => waiting.forEach((s) => s.destroy()));

      const initial = workers(nginx);
      const conf = ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs/error.log')];
      stack = await startStack(cleanup, {
        host: 'webladder',
        interval: '1s',
        agent: [
          `plans: { web: { api: ${API_CAP}, bandwidth: ${BANDWIDTH} } }`,
          'policy: { window: 8s, stale: 30s, escalate_after: 3s, cooldown: 8s }',
          'tenants:',
          `  - { name: ${alice.name}, users: [${alice.name}], email: alice@example.com, plan: web, domains: [alice.test] }`,
          `  - { name: ${bob.name}, users: [${bob.name}], email: bob@example.com, domains: [bob.test] }`,
          `access_logs: [ { path: ${join(prefix, 'logs/access.log')}, format: vhost_combined } ]`,
          `web_server: { kind: nginx, include: ${include}, check: ${JSON.stringify(['nginx', '-t', ...conf])}, reload: ${JSON.stringify(['nginx', '-s', 'reload', ...conf])}, per_client: 1, listen_queues: [${JSON.stringify(fpm)}], queue_threshold: 8 }`,
        ],
      });
      await waitFor('the include holding alice', () => readFileSync(include, 'utf8').includes(`"${alice.name}"`), 60_000);
      await reloaded(nginx, initial);
    });

    afterAll(async () => expect(await cleanup.run()).toEqual([]));

    it("holds each response of alice's sites at her plan's bandwidth, and not bob's", async () => {
      const text = readFileSync(include, 'utf8');
      expect(text).toContain(`"${alice.name}" ${BANDWIDTH};`);
      expect(text).toContain('limit_rate $hostwarden_limit_rate;');
      expect(text).not.toContain(bob.name);
      const a = await download(nginx.port, 'alice.test', '/big');
      const b = await download(nginx.port, 'bob.test', '/big');
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.bytes).toBeGreaterThan(BIG);
      // nginx's limit_rate lets a response have rate x (seconds since it started + 1) bytes, counted in whole
      // seconds: so at most rate x (elapsed + 2). A loaded machine only slows a download down, never speeds it up.
      const allowed = BANDWIDTH * (a.ms / 1000 + 2);
      expect(a.bytes, `alice got ${a.bytes} bytes in ${Math.round(a.ms)} ms`).toBeLessThanOrEqual(allowed);
      // bob's download is not held: loopback moves it far faster than alice's cap even on a busy machine.
      const bobRate = b.bytes / (b.ms / 1000);
      expect(bobRate, `bob ${Math.round(bobRate)} B/s`).toBeGreaterThan(4 * BANDWIDTH);
    }, 60_000);

    it("opens an api_cap incident for calls over the plan's cap, throttles at the web server while it is saturated, and releases after the cooldown", async () => {
      const zone = `zone=hostwarden_${Buffer.from(alice.name).toString('hex')}:32k`;
      expect(readFileSync(include, 'utf8')).toContain(`${zone} rate=${API_CAP}r/m;`);
      // About 10 calls a second (5x the cap of 2/s) from two workers, until the throttle is in the include.
      let stop = false;
      const statuses = new Map<number, number>();
      let bobCalls = 0;
      const worker = async (host: string, everyMs: number) => {
        while (!stop) {
          const t0 = Date.now();
          const r = await request(nginx.port, host, '/api/items');
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (host === 'bob.test') {
            bobCalls++;
            expect(r.status).toBe(200);
          }
          await sleep(Math.max(0, everyMs - (Date.now() - t0)));
        }
      };
      const load = Promise.all([worker('alice.test', 200), worker('alice.test', 200), worker('bob.test', 500)]);
      try {
        await waitFor('the include holding alice at throttle level 1', () => readFileSync(include, 'utf8').includes(`${zone} rate=${API_CAP / 2}r/m;`), 90_000, 250);
      } finally {
        stop = true;
        await load;
      }
      expect(statuses.get(429), JSON.stringify([...statuses])).toBeGreaterThan(0);
      expect(bobCalls).toBeGreaterThan(10);

      const list = async () => ((await stack.api('GET', `/v1/incidents?tenant=${alice.name}&resource=api`)).body.incidents ?? []) as Incident[];
      const incident = await waitFor('the api incident at the controller', async () => (await list()).find((i) => i.rule === 'api_cap' && i.level >= 1), 30_000);
      const detail = (await stack.api('GET', `/v1/incidents/${incident.id}`)).body as { history: Array<{ type: string; level: number; explanation: { summary: string; action: string; measured: { value: number; unit: string }; threshold: { value: number; kind: string }; contention: { contended: boolean; signals: Array<{ metric: string; value: number; threshold: number }> } } }> };
      const [opened, escalated] = detail.history;
      expect(opened).toMatchObject({ type: 'opened', level: 0 });
      expect(escalated).toMatchObject({ type: 'escalated', level: 1 });
      const e = opened!.explanation;
      expect(e.summary).toMatch(new RegExp(`^${alice.name}'s sites received [\\d.]+ API calls per minute over the last 8s .*above the plan's cap of ${API_CAP} per minute; the web server was saturated: 12 connection\\(s\\) waited`));
      expect(e.measured.unit).toBe('calls/min');
      expect(e.measured.value).toBeGreaterThan(API_CAP);
      expect(e.threshold).toMatchObject({ value: API_CAP, kind: 'plan_cap' });
      expect(e.contention).toMatchObject({ contended: true, signals: [{ metric: 'listen_queue', value: 12, threshold: 8 }] });
      expect(escalated!.explanation.action).toMatch(new RegExp(`Throttled \\(level 1\\): the web server accepts at most ${API_CAP / 2} API calls per minute`));
      // bob has no api cap: never judged, never in the include.
      expect(((await stack.api('GET', `/v1/incidents?tenant=${bob.name}`)).body.incidents ?? []) as Incident[]).toEqual([]);
      expect(readFileSync(include, 'utf8')).not.toContain(bob.name);

      // The load has stopped: calm for the cooldown, released, and the include holds alice at her plan's cap again.
      await waitFor('the include back at the plan cap', () => readFileSync(include, 'utf8').includes(`${zone} rate=${API_CAP}r/m;`), 90_000, 250);
      await waitFor('the incident released at the controller', async () => (await list()).find((i) => i.id === incident.id)?.state === 'released', 30_000);
      // The notices tell alice in plain words: one per step (opened, throttled, released).
      const texts = await waitFor('the notices of the api incident', async () => {
        const n = ((await stack.api('GET', `/v1/notices?tenant=${alice.name}&incident=${incident.id}`)).body.notices ?? []) as Array<{ id: number }>;
        if (n.length < 3) return undefined;
        return Promise.all(n.map(async (x) => ((await stack.api('GET', `/v1/notices/${x.id}`)).body as { text: string | null }).text ?? ''));
      }, 60_000);
      const all = texts.join('\n----\n');
      expect(all).toMatch(new RegExp(`The web sites of your account ${alice.name} on \\S+ received more API calls than its plan allows \\(${API_CAP} per minute\\)`));
      expect(all).toMatch(/hostwarden has throttled API calls to the web sites of your account .* \(level 1 of 2\).* while the web server was busy/);
      expect(all).toMatch(/The throttle on API calls to the web sites of your account .* has been lifted/);
      expect(all).toMatch(/connections waiting to be accepted by the web server: 12 \(saturated from 8\)/);
      expect(all).not.toMatch(/fair share/);
      expect(stack.agent.output()).not.toMatch(/cannot apply the web server API limits/);
    }, 240_000);
  },
);
