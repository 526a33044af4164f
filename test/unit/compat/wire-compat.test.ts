// Wire compatibility (DESIGN section 5), both halves at once: a real agent (on a temp copy of the cgroup v2
// fixture tree) and a real controller (its HTTP app on a loopback port, a SQLite file), with a proxy between
// them that plays the newer side in each direction: it adds fields the controller does not know to every
// level of the agent's reports, and fields the agent does not know to every level of the policy the real
// controller route serves. Both keep working and store or apply what they know.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../agent/agent.js';
import { readAgentConfig } from '../../../agent/config.js';
import { createDriver } from '../../../agent/kernel/cgroup/detect.js';
import { TokenRegistry } from '../../../controller/auth.js';
import { buildApp, type App } from '../../../controller/http/app.js';
import { FIXTURES, tempTree, type TempTree } from '../../helpers/cgroup-tree.js';
import { tempStore } from '../controller/fixtures.js';

const HOST = 'compat-host';
const ADMIN = 'admin-token-compat-000001';
const AGENT_TOKEN = 'agent-token-compat-000001';
const log = pino({ level: 'silent' });

/**
 * A field a newer version would add, in every object of a JSON value (arrays' objects included) at every
 * depth: not in the maps keyed by name (the policy's plans, an explanation's limits), where a new key is a
 * new entry rather than a new field.
 */
const MAPS = [/^\/plans$/, /^\/events\/\d+\/explanation\/limits$/];
function withUnknownFields(value: unknown, path = ''): unknown {
  if (Array.isArray(value)) return value.map((v, i) => withUnknownFields(v, `${path}/${i}`));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = withUnknownFields(v, `${path}/${k}`);
  if (!MAPS.some((m) => m.test(path))) out[`zz_future_${path.split('/').length}`] = { nested: [1, 'two', { three: 3 }], note: 'a field from a newer version' };
  return out;
}

describe('wire compatibility: a real agent and a real controller, each seeing fields the other does not know', () => {
  let dir: string;
  let tree: TempTree;
  let store: ReturnType<typeof tempStore>;
  let app: App;
  let proxy: Server;
  let proxyUrl = '';
  const seen = { reports: 0, policies: 0, reportAnswers: [] as unknown[] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-compat-'));
    tree = tempTree('cgroup-v2/cgroup');
    cpSync(join(FIXTURES, 'cgroup-v2/proc'), join(dir, 'proc'), { recursive: true });
    writeFileSync(join(dir, 'proc/meminfo'), 'MemTotal:        8000000 kB\nMemFree:         4000000 kB\nMemAvailable:    6000000 kB\n');
    writeFileSync(join(dir, 'proc/stat'), 'cpu  100 0 50 1000 10 0 0 0 0 0\n');
    writeFileSync(join(dir, 'token'), `${AGENT_TOKEN}\n`);
    store = tempStore();
    const tokens = new TokenRegistry();
    tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    tokens.addToken(AGENT_TOKEN, { kind: 'agent', name: `agent:${HOST}`, host: HOST });
    app = await buildApp({ store: store.store, tokens });
    const controllerUrl = await app.listen({ host: '127.0.0.1', port: 0 });

    // The newer side of each direction, between the two.
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          let body: string | undefined = chunks.length ? Buffer.concat(chunks).toString() : undefined;
          if (req.method === 'POST' && req.url === '/v1/reports' && body) {
            body = JSON.stringify(withUnknownFields(JSON.parse(body)));
            seen.reports++;
          }
          const headers: Record<string, string> = {};
          for (const h of ['authorization', 'content-type', 'if-none-match']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
          const upstream = await fetch(`${controllerUrl}${req.url}`, { method: req.method, headers, ...(body === undefined ? {} : { body }) });
          let text = await upstream.text();
          if (req.method === 'GET' && req.url === `/v1/hosts/${HOST}/policy` && upstream.status === 200) {
            text = JSON.stringify(withUnknownFields(JSON.parse(text)));
            seen.policies++;
          }
          if (req.method === 'POST' && req.url === '/v1/reports') seen.reportAnswers.push(JSON.parse(text));
          const out: Record<string, string> = { 'content-type': upstream.headers.get('content-type') ?? 'application/json' };
          const etag = upstream.headers.get('etag');
          if (etag) out.etag = etag;
          res.writeHead(upstream.status, out).end(upstream.status === 304 ? undefined : text);
        })().catch((err: unknown) => res.writeHead(502).end(String(err)));
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;

    // What the admin set: a plan, a managed tenant on the host, a manual notice.
    const admin = (method: 'PUT' | 'POST', url: string, payload: unknown) => app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN}` }, payload: payload as object });
    expect((await admin('PUT', '/v1/plans/basic', { cpu: 50, weight: 2 })).statusCode).toBe(201);
    expect((await admin('PUT', '/v1/tenants/alice', { users: [2_000_001], plan: 'basic', host: HOST, email: 'alice@example.com' })).statusCode).toBe(201);
    expect((await admin('POST', '/v1/tenants/alice/actions', { action: 'notice', reason: 'abuse report #9' })).statusCode).toBe(201);
  });

  afterAll(async () => {
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
    await app.close();
    await store.dispose();
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the agent applies the known parts of a policy with unknown fields; the controller stores the known parts of reports with unknown fields', async () => {
    const config = readAgentConfig({
      host: HOST,
      state_dir: join(dir, 'state'),
      proc_root: join(dir, 'proc'),
      passwd_file: join(dir, 'passwd'),
      cgroup: { root: tree.root, parent: 'hostwarden', enable_root_controllers: false },
      controller: { url: proxyUrl, token_file: join(dir, 'token'), timeout: '4s' },
      bandwidth: { enabled: false },
      inodes: { enabled: false },
      tenants: [{ name: 'bob', users: [2_000_002] }],
    });
    const driver = createDriver({ cgroupRoot: tree.root, procRoot: config.procRoot, parent: 'hostwarden', freezeTimeoutMs: 300 });
    const agent = new Agent({ config, driver, log });
    try {
      agent.init();
      const first = await agent.tick({ awaitPolicy: true });
      const second = await agent.tick();
      expect(seen.policies).toBeGreaterThanOrEqual(1);
      expect(seen.reports).toBeGreaterThanOrEqual(2);

      // The agent: the managed tenant and its plan's cap from the policy, the manual notice applied and acknowledged.
      expect(first.samples.map((s) => s.tenant).sort()).toEqual(['alice', 'bob']);
      expect(readFileSync(join(tree.root, 'hostwarden/alice/cpu.max'), 'utf8').trim()).toBe('50000 100000');
      expect(first.acks).toEqual([expect.objectContaining({ state: 'applied' })]);
      expect([first.sent, first.reportError, second.sent, second.reportError]).toEqual([1, undefined, 1, undefined]);

      // The controller: every report accepted whole, its known parts stored.
      for (const answer of seen.reportAnswers) expect(answer).toMatchObject({ accepted: true, rejected: { samples: 0, events: 0, tenants: 0 }, problems: [] });
      const get = async (url: string) => (await app.inject({ url, headers: { authorization: `Bearer ${ADMIN}` } })).json();
      const alice = await get('/v1/tenants/alice');
      expect(alice.latest.values.memory_current).toBe(268435456);
      expect(alice.latest.values.zz_future_2).toBeUndefined();
      const host = await get(`/v1/hosts/${HOST}`);
      expect(host.last_seq).toBe(second.seq);
      expect(Object.keys(host.host_stats).filter((k) => k.startsWith('zz_'))).toEqual([]);
      const actions = await get('/v1/tenants/alice/actions');
      expect(actions.actions.map((a: { state: string }) => a.state)).toEqual(['done']);
    } finally {
      await agent.stop();
    }
  });
});
