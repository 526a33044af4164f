// Wire compatibility, the agent's half (DESIGN section 5): a policy from a newer controller, with fields this
// agent does not know at every level, is accepted and applied; what the agent knows is checked as strictly
// as before; the shared PolicySchema (the controller's side) stays strict. And the policy body is bounded.
// Against a real HTTP server on loopback, as the controller would answer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_POLICY_BYTES } from '../../../../agent/bounds.js';
import { readAgentConfig } from '../../../../agent/config.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { applyManual } from '../../../../agent/policy/manual.js';
import { emptyState } from '../../../../agent/policy/types.js';
import { parsePolicy } from '../../../../agent/transport/policy-intake.js';
import { ControllerClient } from '../../../../agent/transport/reporter.js';
import { Spool } from '../../../../agent/transport/spool.js';
import { TenantRegistry } from '../../../../agent/tenants.js';
import { Section } from '../../../../shared/config.js';
import { validator } from '../../../../shared/validate.js';
import { PolicySchema, type Policy } from '../../../../shared/wire/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-intake-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 'secret-token\n');
const passwdFile = join(dir, 'passwd');
writeFileSync(passwdFile, 'alice:x:1001:1001::/home/alice:/bin/bash\n');

let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, res) => res.end();
let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});
const spools: Spool[] = [];
afterEach(() => {
  for (const s of spools.splice(0)) s.close();
});

function client(stateDir = mkdtempSync(join(dir, 's-')), log = pino({ level: 'silent' }), timeoutMs = 10_000) {
  const spool = new Spool(stateDir);
  spools.push(spool);
  return { client: new ControllerClient({ url, tokenFile, timeoutMs }, 'web01', spool, log), spool, stateDir };
}

const POLICY: Policy = {
  host: 'web01',
  tenants: [{ name: 'alice', users: ['alice'], plan: 'basic', email: 'alice@example.com', homes: ['/home/alice'] }],
  plans: { basic: { weight: 2, cpu: 50 } },
  actions: [{ id: 'a1', tenant: 'alice', action: 'throttle', level: 1, reason: 'abuse report', created_at: new Date(0).toISOString() }],
};

/** The same policy as a newer controller would send it: unknown fields at every level, of every kind. */
const NEWER = {
  ...POLICY,
  schema_revision: 7,
  fleet: { region: 'eu-1', tags: ['a'] },
  tenants: [{ ...POLICY.tenants[0], quota_class: 'gold', limits: { inodes: 100000 }, notify: [{ channel: 'sms' }] }],
  plans: { basic: { ...POLICY.plans.basic, mail_accounts: 100000, burst: { cpu: 200 } } },
  actions: [{ ...POLICY.actions[0], approval: { by: 'ops', at: new Date(0).toISOString() }, ticket: 'T-1' }],
};

function serve(body: string, etag = '"v1"'): void {
  handler = (_q, res) => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('etag', etag);
    res.end(body);
  };
}

describe('the policy from a newer controller', () => {
  it('is accepted and applied: unknown fields at every level are dropped, known ones kept as sent', async () => {
    expect(validator(PolicySchema).check(NEWER)).toBe(false); // the shared schema stays strict
    serve(JSON.stringify(NEWER));
    const { client: c, stateDir } = client();
    const pulled = await c.pullPolicy();
    expect(pulled).toEqual({ policy: POLICY, changed: true });

    // Applied: the tenant is governed with its plan and home, and the manual action takes effect.
    const registry = new TenantRegistry({ ...readAgentConfig({}), passwdFile });
    registry.setManaged(pulled.policy!.tenants, pulled.policy!.plans);
    registry.refresh();
    expect(registry.get('alice')).toMatchObject({ source: 'controller', uids: [1001], planName: 'basic', plan: { weight: 2, cpu: 50 }, homes: ['/home/alice'], email: 'alice@example.com' });
    const out = applyManual({ state: emptyState(), action: pulled.policy!.actions[0]!, now: 1000, config: readPolicyConfig(Section.root({})) });
    expect(out.ack).toMatchObject({ action_id: 'a1', state: 'applied' });

    // A restarted agent reads the same from its stored copy.
    spools.splice(0).forEach((s) => s.close());
    expect(client(stateDir).client.storedPolicy()).toEqual(POLICY);
  });

  it('is still refused when what the agent knows is wrong', () => {
    expect(parsePolicy(JSON.stringify({ ...NEWER, plans: { basic: { weight: 'heavy', extra: 1 } } }))).toMatchObject({ ok: false, error: expect.stringMatching(/^unexpected shape: at \/plans\/basic\/weight/) });
    expect(parsePolicy(JSON.stringify({ ...NEWER, actions: [{ ...NEWER.actions[0], action: 'reboot' }] }))).toMatchObject({ ok: false });
    expect(parsePolicy(JSON.stringify({ ...NEWER, host: undefined }))).toMatchObject({ ok: false, error: expect.stringMatching(/host/) });
    expect(parsePolicy('{"host":')).toEqual({ ok: false, error: 'controller sent invalid JSON' });
  });
});

describe('the policy body is bounded', () => {
  it('past MAX_POLICY_BYTES the pull fails with a clear logged error and the agent keeps its last policy', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[number]) });
    const { client: c } = client(undefined, log);
    serve(JSON.stringify(POLICY));
    expect((await c.pullPolicy()).changed).toBe(true);

    // A valid policy padded past the limit: refused although it would parse.
    const padded = JSON.stringify({ ...POLICY, padding: 'x'.repeat(MAX_POLICY_BYTES) });
    serve(padded, '"v2"');
    const big = await c.pullPolicy();
    expect(big).toMatchObject({ policy: POLICY, changed: false });
    expect(big.error).toBe(`policy: the controller's answer is larger than ${MAX_POLICY_BYTES} bytes (the agent's limit); reading stopped, the agent keeps the policy it had`);
    expect(lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([big.error]);

    // An endless body (no length announced) is cut at the limit too, long before the client's timeout.
    handler = (_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(65536, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.write('{"host":"web01","padding":"');
      pump();
    };
    const t0 = performance.now();
    const endless = await c.pullPolicy();
    expect(endless).toMatchObject({ policy: POLICY, changed: false, error: expect.stringMatching(/larger than 8388608 bytes/) });
    expect(performance.now() - t0).toBeLessThan(3000); // the client's timeout is 10 s
  });

  it('an endless answer to a report is read no further than its bound: the report is delivered', async () => {
    const { client: c, spool } = client();
    handler = (_q, res) => {
      res.writeHead(202, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(65536, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    };
    spool.enqueue((seq) => ({ version: 1, host: 'web01', seq, at: new Date(0).toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [] }));
    const t0 = performance.now();
    const r = await c.sendPending();
    expect(r).toMatchObject({ sent: 1, pending: 0 });
    expect(performance.now() - t0).toBeLessThan(3000); // not waiting for the 10 s timeout to end the read
  });
});
