// The agent's controller client against a real HTTP server on loopback: what leaves the spool and when.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControllerClient } from '../../../../agent/transport/reporter.js';
import { Spool } from '../../../../agent/transport/spool.js';
import { REFUSED_URL } from '../../../helpers/system.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-rep-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 'secret-token\n');
let handler: (req: IncomingMessage, body: string, res: ServerResponse) => void = (_q, _b, res) => res.end();
const seen: Array<{ method: string; url: string; auth: string | undefined; body: string; inm: string | undefined }> = [];
let server: Server;
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body, inm: req.headers['if-none-match'] as string | undefined });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const spools: Spool[] = [];
afterEach(() => {
  for (const s of spools.splice(0)) s.close();
  seen.length = 0;
});

function setup(now = () => 1_000_000) {
  const spool = new Spool(mkdtempSync(join(dir, 's-')), { now });
  spools.push(spool);
  const client = new ControllerClient({ url, tokenFile, timeoutMs: 2000 }, 'web01', spool, pino({ level: 'silent' }));
  const enqueue = () => spool.enqueue((seq) => ({ version: 1, host: 'web01', seq, at: new Date(0).toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [] })).report.seq;
  return { spool, client, enqueue };
}

describe('controller client', () => {
  it('posts oldest first with the bearer token and a fresh sent_at; only 2xx leaves the spool', async () => {
    const { spool, client, enqueue } = setup();
    const [a, b] = [enqueue(), enqueue()];
    let n = 0;
    handler = (_q, _b, res) => {
      res.statusCode = n++ === 0 ? 202 : 503;
      res.end('{}');
    };
    const r = await client.sendPending();
    expect(r).toMatchObject({ sent: 1, buried: 0, pending: 1 });
    expect(r.error).toMatch(/controller answered 503/);
    expect(spool.pending(10).map((p) => p.seq)).toEqual([b]);
    expect(seen.map((s) => [s.method, s.url, s.auth])).toEqual([
      ['POST', '/v1/reports', 'Bearer secret-token'],
      ['POST', '/v1/reports', 'Bearer secret-token'],
    ]);
    const first = JSON.parse(seen[0]!.body) as { seq: number; sent_at: string };
    expect(first.seq).toBe(a);
    expect(Date.parse(first.sent_at)).toBeGreaterThan(Date.now() - 10_000);
  });

  it('spools the report as UTF-8 bytes and sends them intact; a row an older agent spooled as text goes as it is', async () => {
    const { spool, client } = setup();
    const tenant = 'zoë-café';
    const seq = spool.enqueue((s) => ({ version: 1, host: 'web01', seq: s, at: new Date(0).toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [{ tenant }] })).report.seq;
    const stored = spool.db.prepare<[number], { kind: string }>('SELECT typeof(body) AS kind FROM outbox WHERE seq = ?').get(seq)!;
    expect(stored.kind).toBe('blob');
    const oldText = JSON.stringify({ version: 1, host: 'web01', seq: seq + 1, at: new Date(0).toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [{ tenant: 'ß-old' }] });
    spool.db.prepare('INSERT INTO outbox (seq, created_at, body) VALUES (?, ?, ?)').run(seq + 1, 0, oldText);
    handler = (_q, _b, res) => {
      res.statusCode = 202;
      res.end('{}');
    };
    expect(await client.sendPending()).toMatchObject({ sent: 2, pending: 0 });
    const got = seen.map((s) => JSON.parse(s.body) as { seq: number; sent_at: string; samples: Array<{ tenant: string }> });
    expect(got.map((g) => [g.seq, g.samples[0]!.tenant])).toEqual([
      [seq, tenant],
      [seq + 1, 'ß-old'],
    ]);
    for (const g of got) expect(Date.parse(g.sent_at)).toBeGreaterThan(Date.now() - 10_000);
  });

  it('puts aside what the controller will never take (400, 409) and goes on; a 409 numbers later reports from now', async () => {
    let now = 1_000_000;
    const { spool, client, enqueue } = setup(() => now);
    const seqs = [enqueue(), enqueue(), enqueue()];
    const answers = [400, 409, 202];
    handler = (_q, _b, res) => {
      res.statusCode = answers.shift()!;
      res.end('{"error":"x","message":"y"}');
    };
    now = 5_000_000;
    const r = await client.sendPending();
    expect(r).toMatchObject({ sent: 1, buried: 2, pending: 0 });
    expect(spool.db.prepare('SELECT seq, status FROM dead ORDER BY seq').all()).toEqual([
      { seq: seqs[0], status: 400 },
      { seq: seqs[1], status: 409 },
    ]);
    expect(enqueue()).toBe(5_000_001);
  });

  it('a 202 naming items the controller refused alone leaves the spool and is logged as a warning with its problems', async () => {
    const spool = new Spool(mkdtempSync(join(dir, 's-')), {});
    spools.push(spool);
    const lines: Array<Record<string, unknown>> = [];
    const client = new ControllerClient({ url, tokenFile, timeoutMs: 2000 }, 'web01', spool, pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }));
    const seq = spool.enqueue((n) => ({ version: 1, host: 'web01', seq: n, at: new Date(0).toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [] })).report.seq;
    handler = (_q, _b, res) => {
      res.statusCode = 202;
      res.end(JSON.stringify({ accepted: true, duplicate: false, seq, rejected: { samples: 1, events: 0, tenants: 0 }, problems: ['samples/0/cpu/percent: must be <= 409600'] }));
    };
    expect(await client.sendPending()).toMatchObject({ sent: 1, buried: 0, pending: 0 });
    expect(lines).toEqual([
      expect.objectContaining({ seq, rejected: { samples: 1, events: 0, tenants: 0 }, problems: ['samples/0/cpu/percent: must be <= 409600'], msg: expect.stringMatching(/^the controller refused some items of a report/) }),
    ]);
    handler = (_q, _b, res) => {
      res.statusCode = 202;
      res.end(JSON.stringify({ accepted: true, duplicate: false, seq: seq + 1, rejected: { samples: 0, events: 0, tenants: 0 }, problems: [] }));
    };
    spool.enqueue((n) => ({ version: 1, host: 'web01', seq: n, at: new Date(0).toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [] }));
    await client.sendPending();
    expect(lines).toHaveLength(1);
  });

  it('says clearly when the controller cannot be reached, and keeps everything', async () => {
    const spool = new Spool(mkdtempSync(join(dir, 's-')), {});
    spools.push(spool);
    const closed = REFUSED_URL; // nothing can listen there
    const client = new ControllerClient({ url: closed, tokenFile, timeoutMs: 1000 }, 'web01', spool, pino({ level: 'silent' }));
    spool.enqueue((seq) => ({ version: 1, host: 'web01', seq, at: new Date(0).toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [] }));
    const r = await client.sendPending();
    expect(r.error).toBe(`cannot reach controller at ${closed}: ECONNREFUSED`);
    expect(r.pending).toBe(1);
  });

  it('pulls the policy with its ETag, keeps the last good copy, and works from it when the controller is down or wrong', async () => {
    const { client } = setup();
    const policy = { host: 'web01', tenants: [{ name: 'alice', users: ['alice'], plan: 'basic' }], plans: { basic: { weight: 1, cpu: 100 } }, actions: [] };
    handler = (req, _b, res) => {
      if (req.headers['if-none-match'] === '"v1"') {
        res.statusCode = 304;
        res.end();
        return;
      }
      res.setHeader('etag', '"v1"');
      res.end(JSON.stringify(policy));
    };
    expect(await client.pullPolicy()).toEqual({ policy, changed: true });
    expect(await client.pullPolicy()).toEqual({ policy, changed: false });
    expect(seen.map((s) => s.inm)).toEqual([undefined, '"v1"']);
    handler = (_q, _b, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"host":"web01","tenants":"oops"}');
    };
    const wrong = await client.pullPolicy();
    expect(wrong.policy).toEqual(policy);
    expect(wrong.error).toMatch(/^policy: unexpected shape: .*at \/tenants: must be array/);
  });
});
