// Cross-host acceptance (DESIGN 8): a controller on a real port with real tokens of two hosts and an admin,
// and a real SMTP server on loopback. Host A (web01) holds its own agent token and tries every way to read or
// change host B's (web02) tenants: dave (managed by the admin, with his address) and erin (unmanaged, reported
// by web02 with her address). Nothing of it lands; web01's own items in the same reports are stored; B's
// notices go to the addresses B and the admin set, and the refusals are counted in the 202 answers and in
// hostwarden_report_items_rejected_total.
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../controller/config.js';
import { startController, type RunningController } from '../../../controller/server.js';
import type { IncidentEvent, Report, ReportAccepted, TenantInfoWire, TenantSample } from '../../../shared/wire/agent.js';
import { Cleanup, tempDir, waitFor, writeToken } from '../../helpers/system.js';
import { event } from '../../unit/controller/fixtures.js';
import { TestSmtp } from './notices/smtp.js';

const EVIL = 'attacker@evil.example';

describe('cross-host: an agent token touches only its own host', () => {
  const cleanup = new Cleanup();
  let c: RunningController;
  let smtp: TestSmtp;
  let admin: string;
  let tokenA: string;
  let tokenB: string;
  const seq = { web01: 0, web02: 0 };

  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${c.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* /metrics is text */
    }
    return { status: res.status, json: json as Record<string, any>, text };
  };
  const report = (host: 'web01' | 'web02', samples: TenantSample[], extra: Partial<Report> = {}): Report => {
    const at = new Date(Date.now() - 1000).toISOString();
    return { version: 1, host, seq: ++seq[host], at, sent_at: at, interval: 5, host_stats: { cores: 4, memory_bytes: 16 << 30 }, samples, ...extra };
  };
  const post = async (token: string, r: Report) => {
    const res = await call(token, 'POST', '/v1/reports', r);
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    return res.json as ReportAccepted;
  };
  const cpu = (tenant: string, percent: number): TenantSample => ({ tenant, cpu: { percent } });
  const opened = (id: string, tenant: string, extra: Partial<IncidentEvent> = {}) => event(id, `inc-${id}`, 'opened', Date.now() - 2000, { tenant, ...extra });

  beforeAll(async () => {
    const dir = tempDir(cleanup, 'hw-cross-host-');
    smtp = new TestSmtp();
    await smtp.start();
    cleanup.add('stop the SMTP server', () => smtp.stop());
    tokenA = writeToken(join(dir, 'agent-web01.token'));
    tokenB = writeToken(join(dir, 'agent-web02.token'));
    admin = writeToken(join(dir, 'admin.token'));
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, 'state'),
      admin_token_file: join(dir, 'admin.token'),
      agents: [
        { host: 'web01', token_file: join(dir, 'agent-web01.token') },
        { host: 'web02', token_file: join(dir, 'agent-web02.token') },
      ],
      ingest: { parser_threads: 0 },
      smtp: { url: `smtp://127.0.0.1:${smtp.port}`, from: 'Hosting <noreply@example.com>', timeout: '5s' },
      notices: { retry: { min: '200ms', max: '1s' } },
    });
    c = await startController(config, { log: pino({ level: 'silent' }) });
    cleanup.add('stop the controller', () => c.close());

    // The admin manages dave on web02 with his address; web02 reports dave and its own unmanaged erin.
    expect((await call(admin, 'PUT', '/v1/plans/basic', { cpu: 100, weight: 1 })).status).toBe(201);
    expect((await call(admin, 'PUT', '/v1/tenants/dave', { users: ['dave'], plan: 'basic', host: 'web02', email: 'dave@admin.example' })).status).toBe(201);
    const b = await post(tokenB, report('web02', [cpu('dave', 20), cpu('erin', 10)], { tenants: [{ name: 'erin', email: 'erin@web02.example', plan: 'basic' }] }));
    expect(b).toMatchObject({ accepted: true, duplicate: false, seq: 1 });
    expect(Object.keys(b).filter((k) => k.startsWith('rejected_'))).toEqual([]); // nothing of its own refused
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it("cross-host: host A's directory entries, samples and events for host B's tenants are refused item by item, its own are stored", async () => {
    const directory: TenantInfoWire[] = [
      { name: 'dave', email: EVIL, plan: 'basic' },
      { name: 'erin', email: EVIL },
      { name: 'alice', email: 'alice@web01.example' },
    ];
    const r = await post(
      tokenA,
      report('web01', [cpu('alice', 10), cpu('dave', 400), cpu('erin', 400)], { tenants: directory, events: [opened('a1', 'dave'), opened('a2', 'erin'), opened('a3', 'alice')] }),
    );
    expect(r).toMatchObject({ accepted: true, rejected_cross_host: 6, rejected_unmanaged_cap: 0, rejected_forged_manual: 0 });
    expect(r.rejected_items!.map((i) => [i.kind, i.path])).toEqual([
      ['cross_host', '/samples/1'],
      ['cross_host', '/samples/2'],
      ['cross_host', '/tenants/0'],
      ['cross_host', '/tenants/1'],
      ['cross_host', '/events/0'],
      ['cross_host', '/events/1'],
    ]);
    expect(r.rejected_items![0]!.message).toMatch(/^tenant dave belongs to host web02, not to web01/);

    const dave = (await call(admin, 'GET', '/v1/tenants/dave')).json;
    expect(dave).toMatchObject({ host: 'web02', managed: true, spec: { email: 'dave@admin.example' }, reported: null, latest: { values: { cpu_percent: 20 } } });
    const erin = (await call(admin, 'GET', '/v1/tenants/erin')).json;
    expect(erin).toMatchObject({ host: 'web02', managed: false, reported: { name: 'erin', email: 'erin@web02.example' }, latest: { values: { cpu_percent: 10 } } });
    expect((await call(admin, 'GET', '/v1/tenants/alice')).json).toMatchObject({ host: 'web01', reported: { email: 'alice@web01.example' } });
    const incidents = (await call(admin, 'GET', '/v1/incidents')).json.incidents as Array<{ tenant: string; host: string }>;
    expect(incidents.map((i) => [i.tenant, i.host])).toEqual([['alice', 'web01']]);
  });

  it("cross-host: host A cannot acknowledge host B's actions nor forge an administrator's event", async () => {
    const action = (await call(admin, 'POST', '/v1/tenants/dave/actions', { action: 'throttle', level: 1, reason: 'abuse ticket 7' })).json;
    expect(action).toMatchObject({ host: 'web02', state: 'pending', by: 'admin' });
    const manual = (id: string, tenant: string, by: string) => opened(id, tenant, { rule: 'manual', step: 'quarantine', level: 3, manual: { action_id: action.id as string, reason: 'you were warned', by } });
    const r = await post(
      tokenA,
      report('web01', [cpu('alice', 10)], {
        acks: [{ action_id: action.id as string, state: 'applied', at: new Date(Date.now() - 1500).toISOString() }],
        events: [manual('f1', 'alice', 'the-ceo'), manual('f2', 'dave', 'admin'), { ...opened('f3', 'alice'), manual: { action_id: 'made-up', reason: 'x', by: 'admin' } }],
      }),
    );
    expect(r).toMatchObject({ rejected_cross_host: 2, rejected_forged_manual: 2 });
    expect(r.rejected_items!.map((i) => [i.kind, i.path])).toEqual([
      ['forged_manual', '/events/0/manual'],
      ['cross_host', '/events/1'],
      ['forged_manual', '/events/2/manual'],
      ['cross_host', '/acks/0'],
    ]);
    expect((await call(admin, 'GET', `/v1/actions/${action.id as string}`)).json).toMatchObject({ state: 'pending' });
    const manualIncidents = ((await call(admin, 'GET', '/v1/incidents')).json.incidents as Array<{ manual: boolean }>).filter((i) => i.manual);
    expect(manualIncidents).toEqual([]);
    // web02 applies it: its acknowledgement counts.
    await post(tokenB, report('web02', [cpu('dave', 20)], { acks: [{ action_id: action.id as string, state: 'applied', at: new Date(Date.now() - 1500).toISOString() }] }));
    expect((await call(admin, 'GET', `/v1/actions/${action.id as string}`)).json).toMatchObject({ state: 'applied' });
  });

  it("cross-host: host A's token reads nothing of host B and changes nothing through any route", async () => {
    const denied: Array<[string, string, unknown?]> = [
      ['GET', '/v1/hosts/web02/policy'],
      ['GET', '/v1/hosts/web02'],
      ['GET', '/v1/hosts'],
      ['GET', '/v1/tenants'],
      ['GET', '/v1/tenants/dave'],
      ['GET', '/v1/tenants/dave/usage'],
      ['GET', '/v1/tenants/dave/fairness'],
      ['GET', '/v1/tenants/dave/actions'],
      ['GET', '/v1/incidents?tenant=dave'],
      ['GET', '/v1/notices'],
      ['GET', '/v1/fairness?host=web02'],
      ['GET', '/v1/actions'],
      ['GET', '/metrics'],
      ['PUT', '/v1/tenants/dave', { users: ['dave'], plan: 'basic', host: 'web01', email: EVIL }],
      ['PUT', '/v1/tenants/erin', { users: ['erin'], plan: 'basic', host: 'web01', email: EVIL }],
      ['DELETE', '/v1/tenants/dave'],
      ['POST', '/v1/tenants/dave/actions', { action: 'release', reason: 'let me go' }],
      ['PUT', '/v1/plans/basic', { cpu: 100000, weight: 1000 }],
    ];
    for (const [method, path, body] of denied) {
      const res = await call(tokenA, method, path, body);
      expect([method, path, res.status]).toEqual([method, path, 403]);
      expect(res.json).toMatchObject({ error: expect.any(String), message: expect.any(String) });
    }
    // A report in host B's name with A's token.
    const forged = await call(tokenA, 'POST', '/v1/reports', report('web02', [cpu('dave', 900)], { tenants: [{ name: 'dave', email: EVIL }] }));
    expect(forged.status).toBe(403);
    seq.web02--;
    // Its own policy it may read; it holds none of B's tenants.
    const policy = await call(tokenA, 'GET', '/v1/hosts/web01/policy');
    expect(policy.status).toBe(200);
    expect(policy.json.tenants).toEqual([]);
    expect(JSON.stringify(policy.json)).not.toContain('dave');
    // Nothing changed.
    expect((await call(admin, 'GET', '/v1/tenants/dave')).json).toMatchObject({ host: 'web02', spec: { email: 'dave@admin.example' } });
    expect((await call(admin, 'GET', '/v1/plans')).json.plans).toEqual([expect.objectContaining({ name: 'basic', plan: { cpu: 100, weight: 1 } })]);
  });

  it("cross-host: host B's notices go to the address host B or the admin set, never to host A's", async () => {
    await post(tokenB, report('web02', [cpu('dave', 30), cpu('erin', 30)], { events: [opened('b1', 'dave'), opened('b2', 'erin')] }));
    const to = () => smtp.received.map((m) => m.to).flat();
    await waitFor("dave's and erin's messages", () => to().includes('dave@admin.example') && to().includes('erin@web02.example'), 20_000);
    const rows = (await call(admin, 'GET', '/v1/notices?limit=1000')).json.notices as Array<{ tenant: string; host: string; recipient: string | null }>;
    const byTenant = Object.fromEntries(rows.filter((n) => n.host === 'web02').map((n) => [n.tenant, n.recipient]));
    expect(byTenant).toEqual({ dave: 'dave@admin.example', erin: 'erin@web02.example' });
    expect(rows.some((n) => n.recipient === EVIL)).toBe(false);
    const envelopes = to();
    expect(envelopes).toContain('dave@admin.example');
    expect(envelopes).toContain('erin@web02.example');
    expect(envelopes).not.toContain(EVIL);

    const metrics = (await call(admin, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/^hostwarden_report_items_rejected_total\{kind="cross_host"\} 8$/m);
    expect(metrics).toMatch(/^hostwarden_report_items_rejected_total\{kind="forged_manual"\} 2$/m);
    expect(metrics).toMatch(/^hostwarden_report_items_rejected_total\{kind="unmanaged_cap"\} 0$/m);
  });
});

describe('unmanaged tenants over a real controller (tenants: in controller.yaml)', () => {
  const cleanup = new Cleanup();
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('item 6: tenants.max_per_host refuses names past the cap (counted, a warning logged); tenants.unmanaged_ttl deletes the unseen on the retention schedule', async () => {
    const dir = tempDir(cleanup, 'hw-unmanaged-');
    const token = writeToken(join(dir, 'agent-web01.token'));
    const admin = writeToken(join(dir, 'admin.token'));
    const lines: Array<{ msg: string; level: number; tenants?: string[] }> = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string; level: number }) });
    let now = Date.now();
    const c = await startController(
      parseControllerConfig({
        listen: '127.0.0.1:0',
        state_dir: join(dir, 'state'),
        admin_token_file: join(dir, 'admin.token'),
        agents: [{ host: 'web01', token_file: join(dir, 'agent-web01.token') }],
        ingest: { parser_threads: 0 },
        retention: { schedule: '* * * * * *' }, // every second: the expiry runs with retention
        tenants: { unmanaged_ttl: '1d', max_per_host: 3 },
      }),
      { log, now: () => now },
    );
    cleanup.add('stop the controller', () => c.close());
    const post = async (seq: number, names: string[]) => {
      const at = new Date(now - 1000).toISOString();
      const body: Report = { version: 1, host: 'web01', seq, at, sent_at: at, interval: 5, host_stats: { cores: 4, memory_bytes: 16 << 30 }, samples: names.map((tenant) => ({ tenant, cpu: { percent: 1 } })) };
      const res = await fetch(`${c.url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(202);
      return (await res.json()) as ReportAccepted;
    };
    const tenants = async () => {
      const res = await fetch(`${c.url}/v1/tenants`, { headers: { authorization: `Bearer ${admin}` } });
      return ((await res.json()) as { tenants: Array<{ name: string }> }).tenants.map((t) => t.name);
    };
    const r = await post(1, ['a', 'b', 'c', 'd', 'e']);
    expect(r).toMatchObject({ rejected_unmanaged_cap: 2, rejected_items: [{ kind: 'unmanaged_cap', path: '/samples/3' }, { kind: 'unmanaged_cap', path: '/samples/4' }] });
    expect(await tenants()).toEqual(['a', 'b', 'c']);
    expect(lines.filter((l) => l.level === 40 && /report item refused: host web01 already has 3 unmanaged tenants/.test(l.msg))).toHaveLength(2);

    // A day and an hour later only 'a' was seen again: b and c go at the next retention run.
    now += 25 * 3_600_000;
    await post(2, ['a']);
    await waitFor('the expiry', async () => (await tenants()).length === 1, 10_000);
    expect(await tenants()).toEqual(['a']);
    expect(lines.find((l) => /deleted 2 unmanaged tenants/.test(l.msg))?.tenants?.sort()).toEqual(['b', 'c']);
    const metrics = await (await fetch(`${c.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text();
    expect(metrics).toMatch(/^hostwarden_tenants_expired_total 2$/m);
    expect(metrics).toMatch(/^hostwarden_report_items_rejected_total\{kind="unmanaged_cap"\} 2$/m);
    // The freed places are taken by new names again.
    expect((await post(3, ['d', 'e', 'f'])).rejected_unmanaged_cap).toBe(1);
  });
});
