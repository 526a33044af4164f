// API calls held at the web server, with real parts: Debian's nginx on loopback serving two tenants' virtual
// hosts and including the agent's generated file, the built controller and agent as daemons (the agent runs
// `nginx -t` and `nginx -s reload` itself), bounded HTTP load from this test.
//   - tenant A (plan `api: 600`, 10/s) driven at about 40 times its limit from four client addresses: the
//     accepted (non-429) responses over a 10 s window are within 10 % of 100; every 429 carries Retry-After;
//     tenant B's requests meanwhile are all 200;
//   - a manual throttle halves the include's rate (policy.throttle.level1), its release restores it, every
//     include passing nginx's check and reload;
//   - the plan changed on the controller (no `api`): the include no longer mentions A, and A's requests are all
//     accepted.
// Why it holds on a loaded 2-core machine: nginx's own leaky bucket decides what is accepted, by nginx's clock,
// not the test's; the test only needs to offer well above the limit (it offers about 40x) and count responses
// over a 10 s window, where a response's latency moves at most a few requests across the window's edges.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebServerLimits } from '../../agent/webserver/apply.js';
import { INCLUDE_HEADER } from '../../agent/webserver/nginx.js';
import { describeWith, hasCommand, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { type Nginx, startNginx } from '../helpers/nginx.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { Cleanup, createUser, tempDir, type TestUser, waitFor } from '../helpers/system.js';
import { pino } from 'pino';

interface Reply {
  status: number;
  retryAfter: string | undefined;
  /** When the response ended (ms, this process's clock). */
  at: number;
}

/** One request on its own connection from `from` (an address of 127/8), its status and Retry-After. */
function get(port: number, host: string, path: string, from = '127.0.0.1'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: from });
    let head = '';
    s.on('data', (d: Buffer) => {
      if (head.length < 4096) head += d.toString('latin1');
    });
    s.once('error', reject);
    s.once('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3}) /.exec(head);
      if (!m) return reject(new Error(`no HTTP status for ${host}${path}: ${JSON.stringify(head.slice(0, 200))}`));
      const headers = head.split('\r\n\r\n')[0]!;
      const ra = /\r\nRetry-After: *([^\r\n]*)/i.exec(headers);
      resolve({ status: Number(m[1]), retryAfter: ra?.[1], at: Date.now() });
    });
    s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: hostwarden-test\r\nConnection: close\r\n\r\n`);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LIMIT_PER_MINUTE = 600;

describeWith(missing([needRoot, needV1Cgroups, [hasCommand('nginx'), 'needs nginx (scripts/install-prereqs.sh)']]), 'web tier: API calls held at nginx', () => {
  const cleanup = new Cleanup();
  let stack: Stack;
  let nginx: Nginx;
  let prefix = '';
  let include = '';
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    alice = createUser(cleanup);
    bob = createUser(cleanup);
    prefix = tempDir(cleanup, 'hw-webthrottle-');
    include = join(prefix, 'hostwarden-limits.conf');
    // What an earlier run of the agent left (no tenant held): nginx needs the file to start.
    writeFileSync(include, `${INCLUDE_HEADER}\n# No tenant is held at the web server now.\n`);
    for (const site of ['alice', 'bob']) {
      mkdirSync(join(prefix, site, 'api'), { recursive: true });
      writeFileSync(join(prefix, site, 'api', 'items'), `${site} api\n`);
      writeFileSync(join(prefix, site, 'index.html'), `${site}\n`);
    }
    // Static files, not `return`: `return` answers in the rewrite phase, before limit_req (preaccess) runs.
    nginx = await startNginx(
      cleanup,
      prefix,
      [
        'access_log off;',
        `include ${include};`,
        'server { listen 127.0.0.1:PORT default_server; server_name _; return 404; }',
        'server { listen 127.0.0.1:PORT; server_name alice.test *.alice.test; root PREFIX/alice; }',
        'server { listen 127.0.0.1:PORT; server_name bob.test; root PREFIX/bob; }',
      ].join('\n'),
    );
    const conf = ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs/error.log')];
    stack = await startStack(cleanup, {
      host: 'webthrottle',
      interval: '1s',
      agent: [
        `plans: { web: { api: ${LIMIT_PER_MINUTE} } }`,
        'tenants:',
        `  - { name: ${alice.name}, users: [${alice.name}], plan: web, domains: [alice.test, "*.alice.test"] }`,
        `  - { name: ${bob.name}, users: [${bob.name}], domains: [bob.test] }`,
        `web_server: { kind: nginx, include: ${include}, check: ${JSON.stringify(['nginx', '-t', ...conf])}, reload: ${JSON.stringify(['nginx', '-s', 'reload', ...conf])}, per_client: 0.5 }`,
      ],
    });
  });

  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it('holds tenant A at its API limit within 10 % while B is unaffected, follows a manual throttle and its release, and forgets A once its plan has no api cap', async () => {
    await waitFor('the include holding alice', () => readFileSync(include, 'utf8').includes(`"${alice.name}"`), 60_000);
    expect(readFileSync(include, 'utf8')).not.toContain(bob.name);
    await sleep(2000); // the reload's new workers take over

    const port = nginx.port;
    const aliceReplies: Reply[] = [];
    const bobReplies: Reply[] = [];
    const start = Date.now();
    const end = start + 14_000;
    // Four client addresses, two workers each, at most one request per 20 ms per worker: about 400/s offered
    // against a limit of 10/s; each address alone may have half the limit (per_client 0.5), so the tenant's
    // limit is what binds.
    const clients = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
    const aliceWorker = async (from: string, i: number) => {
      while (Date.now() < end) {
        const t0 = Date.now();
        aliceReplies.push(await get(port, i % 2 ? 'www.alice.test' : 'alice.test', '/api/items', from));
        await sleep(Math.max(0, 20 - (Date.now() - t0)));
      }
    };
    const bobWorker = async () => {
      while (Date.now() < end) {
        bobReplies.push(await get(port, 'bob.test', '/api/items'));
        await sleep(50);
      }
    };
    await Promise.all([...clients.flatMap((c) => [aliceWorker(c, 0), aliceWorker(c, 1)]), bobWorker()]);

    // Accepted over [start + 3 s, start + 13 s): the burst allowance spent before, nginx's bucket in steady state.
    const from = start + 3000;
    const to = start + 13_000;
    const accepted = aliceReplies.filter((r) => r.status === 200 && r.at >= from && r.at < to).length;
    const expected = (LIMIT_PER_MINUTE / 60) * ((to - from) / 1000);
    const rejected = aliceReplies.filter((r) => r.status === 429);
    expect(aliceReplies.length, 'the load offered well above the limit').toBeGreaterThan(5 * expected);
    expect(aliceReplies.every((r) => r.status === 200 || r.status === 429), JSON.stringify([...new Set(aliceReplies.map((r) => r.status))])).toBe(true);
    expect(Math.abs(accepted - expected) / expected, `accepted ${accepted} in 10 s, limit ${expected}`).toBeLessThanOrEqual(0.1);
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected.every((r) => r.retryAfter !== undefined && /^[1-9]\d*$/.test(r.retryAfter))).toBe(true);
    // A page that is not an API path is never held.
    expect((await get(port, 'alice.test', '/index.html')).status).toBe(200);
    expect((await get(port, 'alice.test', '/index.html')).retryAfter).toBeUndefined();
    expect(bobReplies.length).toBeGreaterThan(50);
    expect(bobReplies.filter((r) => r.status !== 200)).toEqual([]);

    // One bot does not lock out the tenant's other visitors: a bot far above its per-client share (half the
    // tenant's 10/s) is refused, while a visitor from another address at 2/s (within what the bot leaves of the
    // tenant's rate: nginx counts a request the per-client zone refuses against no zone) is always served.
    await sleep(2000);
    const botEnd = Date.now() + 6000;
    const bot: Reply[] = [];
    const visitor: Reply[] = [];
    const botWorker = async () => {
      while (Date.now() < botEnd) bot.push(await get(port, 'alice.test', '/api/items', '127.0.0.6'));
    };
    const visitorWorker = async () => {
      while (Date.now() < botEnd) {
        visitor.push(await get(port, 'www.alice.test', '/api/items', '127.0.0.7'));
        await sleep(500);
      }
    };
    await Promise.all([botWorker(), botWorker(), visitorWorker()]);
    expect(bot.filter((r) => r.status === 429).length, `bot: ${bot.length} requests`).toBeGreaterThan(0);
    expect(visitor.length).toBeGreaterThan(5);
    expect(visitor.filter((r) => r.status !== 200)).toEqual([]);

    // A manual throttle lowers the cap to policy.throttle.level1 (0.5) of the plan's; its release puts it back.
    // The zones keep their names and keys, so nginx takes the changed rates on reload.
    const zone = `zone=hostwarden_${Buffer.from(alice.name).toString('hex')}:32k`;
    await waitFor('alice known to the controller', async () => (await stack.api('GET', `/v1/tenants/${alice.name}`)).status === 200, 30_000);
    expect((await stack.api('POST', `/v1/tenants/${alice.name}/actions`, { action: 'throttle', level: 1, reason: 'api abuse', ttl: '10m' })).status).toBe(201);
    await waitFor('the include at half the rate', () => readFileSync(include, 'utf8').includes(`${zone} rate=${LIMIT_PER_MINUTE / 2}r/m;`), 60_000);
    expect((await stack.api('POST', `/v1/tenants/${alice.name}/actions`, { action: 'release', reason: 'fixed' })).status).toBe(201);
    await waitFor('the include back at the plan rate', () => readFileSync(include, 'utf8').includes(`${zone} rate=${LIMIT_PER_MINUTE}r/m;`), 60_000);

    // The plan changed on the controller: no api cap, so alice is released and the include forgets her.
    expect((await stack.api('PUT', '/v1/plans/web', { weight: 1 })).status).toBeLessThan(300);
    await waitFor('the include without alice', () => !readFileSync(include, 'utf8').includes(alice.name), 60_000);
    expect(readFileSync(include, 'utf8').startsWith(INCLUDE_HEADER)).toBe(true);
    await sleep(2000);
    const after: Reply[] = [];
    for (let i = 0; i < 60; i++) after.push(await get(port, 'alice.test', '/api/items', '127.0.0.2'));
    expect(after.filter((r) => r.status !== 200)).toEqual([]);
    // Every include the agent wrote passed nginx's check and reloaded.
    expect(stack.agent.output()).not.toMatch(/cannot apply the web server API limits/);
  }, 180_000);

  it('leaves the old include in place when the check refuses the new one, and never writes a file it did not create', () => {
    const dir = tempDir(cleanup, 'hw-webinclude-');
    const file = join(dir, 'limits.conf');
    const log = pino({ level: 'silent' });
    const limits = [{ tenant: 'alpha', perMinute: 60, domains: ['alpha.test'], apiPaths: ['/api/'] }];
    const cfg = { kind: 'nginx' as const, include: file, reload: ['true'], perClient: 0.5, timeoutMs: 10_000, listenQueues: [80], queueThreshold: 8 };
    // A check that passes: the file is written, and rewritten only when its content changes.
    const ok = new WebServerLimits({ ...cfg, check: ['true'] }, log, false);
    ok.reconcile(limits);
    const first = readFileSync(file, 'utf8');
    expect(first).toContain('"alpha"');
    expect(ok.status()).toMatchObject({ error: undefined, tenants: ['alpha'] });
    // A restarted agent finding the right text checks and reloads once, without rewriting the file; the same
    // limits again are a no-op.
    const marker = join(dir, 'reloads');
    const { mtimeMs, ino } = statSync(file);
    const restarted = new WebServerLimits({ ...cfg, check: ['true'], reload: ['sh', '-c', `echo reload >> ${marker}`] }, log, false);
    restarted.reconcile(limits);
    restarted.reconcile(limits);
    expect(readFileSync(marker, 'utf8')).toBe('reload\n');
    expect(statSync(file)).toMatchObject({ mtimeMs, ino });
    // A check that refuses (the real nginx, on a config including a broken file of ours) puts the old text back.
    const broken = join(dir, 'broken.conf');
    writeFileSync(broken, `events {}\nhttp { include ${file}; unknown_directive_here on; }\n`);
    const refusing = new WebServerLimits({ ...cfg, check: ['nginx', '-t', '-p', dir, '-c', broken, '-e', join(dir, 'error.log')] }, log, false);
    refusing.reconcile([]);
    expect(readFileSync(file, 'utf8')).toBe(first);
    expect(existsSync(join(dir, '.limits.conf.tmp'))).toBe(false);
    expect(refusing.status().error).toMatch(/refused the new include.*unknown_directive_here/);
    // A file the agent did not write is left alone.
    const theirs = join(dir, 'theirs.conf');
    writeFileSync(theirs, 'limit_req_zone $binary_remote_addr zone=admins:1m rate=1r/s;\n');
    const stranger = new WebServerLimits({ ...cfg, include: theirs, check: ['true'] }, log, false);
    stranger.reconcile(limits);
    expect(readFileSync(theirs, 'utf8')).toBe('limit_req_zone $binary_remote_addr zone=admins:1m rate=1r/s;\n');
    expect(stranger.status().error).toMatch(/not written by hostwarden-agent/);
  });
});
