// The built controller on PostgreSQL (database.url, issue 15), against clusters of the test's own: two
// controllers on one database take an agent's reports alternately, each retried to the other, and answer the
// same history (every sample stored once, rollups as hand-computed); one of them SIGKILLed while reports are in
// flight loses nothing once the agent resends what was not answered; with the database server stopped,
// /healthz says so (503, database unreachable) and a report is answered 503 (the agent keeps it spooled).
// Two agents posting alternately to either of two controllers (each report retried to the other), with the
// events of a whole incident ladder per host: the minute and hour rollups both answer equal those of one
// controller on a database of its own fed the same reports, and each incident step gives exactly one notice
// between the two controllers' outboxes, each with its own Message-ID.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IncidentEvent, Report, TenantInfoWire, TenantSample } from '../../../shared/wire/agent.js';
import { ladderEvents, ladderSubjects } from '../../unit/controller/notices/events.js';
import { describeWith, missing } from '../../helpers/env.js';
import { postgresMissing, startPostgres, usePostgres, type PgCluster } from '../../helpers/postgres.js';
import { Cleanup, listeningUrl, ROOT, startDaemon, tempDir, waitFor, writeToken, type Daemon } from '../../helpers/system.js';

const BIN = 'controller/bin/hostwarden-controller.js';
const built = existsSync(join(ROOT, 'dist', BIN));
const GiB = 1024 ** 3;
const MIN = 60_000;

describeWith(missing([[built, 'needs a build (npx tsc -b)'], [postgresMissing() === undefined, postgresMissing() ?? '']]), 'controller binary on PostgreSQL', () => {
  const cluster = usePostgres();
  const cleanup = new Cleanup();
  let dir: string;
  let agent: string;
  let agent2: string;
  const base = Math.floor((Date.now() - 3 * 3_600_000) / 3_600_000) * 3_600_000;
  const sample = (tenant: string, percent: number): TenantSample => ({ tenant, cpu: { percent }, memory: { current: GiB, anon: GiB, file: 0 } });
  const report = (seq: number, at: number, samples: TenantSample[], host = 'web01'): Report => ({
    version: 1,
    host,
    seq,
    at: new Date(at).toISOString(),
    sent_at: new Date().toISOString(),
    interval: 5,
    host_stats: { cores: 4, memory_bytes: 16 * GiB },
    samples,
  });
  const post = (url: string, body: Report) =>
    fetch(`${url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${body.host === 'web02' ? agent2 : agent}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  function writeConfig(name: string, databaseUrl: string): string {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `listen: 127.0.0.1:0
state_dir: ${join(dir, `state-${name}`)}
admin_token_file: ${join(dir, 'admin.token')}
agents:
  - { host: web01, token_file: ${join(dir, 'agent-web01.token')} }
  - { host: web02, token_file: ${join(dir, 'agent-web02.token')} }
database: { url: "${databaseUrl}" }
ingest: { parser_threads: 0 }
log_level: info
`,
    );
    return file;
  }

  async function start(config: string): Promise<{ daemon: Daemon; url: string }> {
    const daemon = startDaemon(cleanup, BIN, ['--config', config]);
    const url = await listeningUrl(daemon);
    await waitFor('controller /healthz', async () => (await fetch(`${url}/healthz`)).ok, 20_000, 100);
    return { daemon, url };
  }

  beforeAll(() => {
    dir = tempDir(cleanup, 'hw-controller-pg-');
    agent = writeToken(join(dir, 'agent-web01.token'));
    agent2 = writeToken(join(dir, 'agent-web02.token'));
    writeToken(join(dir, 'admin.token'));
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('stores every report once from two controllers, retries included, and both answer the same history; a SIGKILLed one loses nothing', async () => {
    const database = await cluster().createDatabase();
    const a = await start(writeConfig('a', cluster().url(database)));
    const b = await start(writeConfig('b', cluster().url(database)));
    const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const health = await (await fetch(`${a.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', database: 'ok' });

    // Minute 0: alice 10, 20, ..., 120 (12 reports 5 s apart), bob 50 each; posted alternately, each then retried to the other.
    const urls = [a.url, b.url];
    for (let i = 0; i < 12; i++) {
      const r = report(i + 1, base + i * 5000, [sample('alice', 10 * (i + 1)), sample('bob', 50)]);
      const first = await post(urls[i % 2]!, r);
      expect(first.status).toBe(202);
      expect(await first.json()).toMatchObject({ duplicate: false, seq: i + 1 });
      const retry = await post(urls[(i + 1) % 2]!, r);
      expect(await retry.json()).toMatchObject({ duplicate: true });
    }
    const q = `from=${new Date(base).toISOString()}&to=${new Date(base + 5 * MIN).toISOString()}&step=1m&resources=cpu`;
    const history = async (url: string, tenant: string) => (await (await fetch(`${url}/v1/tenants/${tenant}/usage?${q}`, { headers: { authorization: `Bearer ${admin}` } })).json()) as Record<string, any>;
    const fromA = await history(a.url, 'alice');
    expect(fromA.samples).toEqual([12]);
    expect(fromA.series.cpu_percent).toEqual({ unit: '% of one core', avg: [65], max: [120] });
    expect(await history(b.url, 'alice')).toEqual(fromA);
    expect((await history(b.url, 'bob')).series.cpu_percent.avg).toEqual([50]);

    // Minute 1: 12 more reports to b at once, b killed while they are in flight; the agent resends to a every
    // report b did not answer 202 (and a resend of one b stored is a duplicate): each stored once.
    const batch = Array.from({ length: 12 }, (_, i) => report(13 + i, base + MIN + i * 5000, [sample('alice', 30), sample('bob', 10)]));
    const answers = batch.map((r) => post(b.url, r).then((res) => res.status, () => 0));
    setTimeout(() => b.daemon.child.kill('SIGKILL'), 5);
    const statuses = await Promise.all(answers);
    await b.daemon.exited;
    for (const [i, r] of batch.entries()) {
      const res = await post(a.url, r);
      expect(res.status, `report ${r.seq} (b answered ${statuses[i]})`).toBe(202);
      const body = (await res.json()) as { duplicate: boolean };
      if (statuses[i] === 202) expect(body.duplicate).toBe(true);
    }
    const after = await history(a.url, 'alice');
    expect(after.samples).toEqual([12, 12]);
    expect(after.series.cpu_percent.avg).toEqual([65, 30]);
    expect((await cluster().query<{ n: number }>('SELECT count(*)::int AS n FROM reports', [], database))[0]!.n).toBe(24);
  }, 120_000);

  it('two agents, two controllers: rollups equal one controller\'s run of the same reports; one notice per incident step', async () => {
    const database = await cluster().createDatabase();
    const single = await cluster().createDatabase();
    const a = await start(writeConfig('pa', cluster().url(database)));
    const b = await start(writeConfig('pb', cluster().url(database)));
    const s = await start(writeConfig('ps', cluster().url(single)));
    const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    // Each host's tenants: cpu and memory that change every report, over three minutes (36 reports per host);
    // the events of one incident ladder per host (opened, throttled 1 and 2, quarantined, thawed, released),
    // one event in each of the first reports, with the tenants' e-mail addresses in the first.
    const tenantsOf: Record<string, [string, string]> = { web01: ['alice', 'bob'], web02: ['carol', 'dave'] };
    const ladders: Record<string, IncidentEvent[]> = { web01: ladderEvents('alice', base - 15 * MIN), web02: ladderEvents('carol', base - 15 * MIN) };
    const reports: Report[] = [];
    for (let i = 0; i < 36; i++) {
      for (const [h, host] of ['web01', 'web02'].entries()) {
        const [t1, t2] = tenantsOf[host]!;
        const r = report(i + 1, base + i * 5000 + h * 1000, [
          { ...sample(t1, 5 + ((i * 37 + h * 11) % 190)), memory: { current: (1 + (i % 7)) * GiB, anon: (1 + (i % 5)) * GiB, file: (i % 3) * GiB } },
          { ...sample(t2, 1 + ((i * 13) % 40)), memory: { current: 2 * GiB, anon: GiB, file: GiB } },
        ], host);
        const event = ladders[host]![i];
        if (event) r.events = [event];
        if (i === 0) r.tenants = [t1, t2].map((name): TenantInfoWire => ({ name, email: `${name}@example.com` }));
        reports.push(r);
      }
    }
    expect(ladders.web01!.length).toBe(6);
    // The pair: report k to a or b alternately, then retried to the other (a duplicate there); the single one: once.
    for (const [k, r] of reports.entries()) {
      const [first, second] = k % 2 === 0 ? [a.url, b.url] : [b.url, a.url];
      const res = await post(first, r);
      expect(res.status, `report ${r.host}/${r.seq}`).toBe(202);
      expect(await res.json()).toMatchObject({ duplicate: false });
      expect(await (await post(second, r)).json()).toMatchObject({ duplicate: true });
      expect((await post(s.url, r)).status).toBe(202);
    }
    const usage = async (url: string, tenant: string, step: string) => {
      const q = `from=${new Date(base - 60 * MIN).toISOString()}&to=${new Date(base + 60 * MIN).toISOString()}&step=${step}&resources=cpu,memory`;
      const res = await fetch(`${url}/v1/tenants/${tenant}/usage?${q}`, { headers: { authorization: `Bearer ${admin}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, any>;
    };
    for (const tenant of ['alice', 'bob', 'carol', 'dave']) {
      for (const step of ['1m', '1h']) {
        const alone = await usage(s.url, tenant, step);
        expect(alone.samples.reduce((x: number, y: number | null) => x + (y ?? 0), 0), `${tenant} ${step}: every sample once`).toBe(36);
        expect(await usage(a.url, tenant, step), `${tenant} ${step} from a`).toEqual(alone);
        expect(await usage(b.url, tenant, step), `${tenant} ${step} from b`).toEqual(alone);
      }
    }
    expect((await cluster().query<{ n: number }>('SELECT count(*)::int AS n FROM reports', [], database))[0]!.n).toBe(72);
    // Notices: both controllers send; each step of each ladder is sent once, by one of them.
    const sent = async () => (await cluster().query<{ n: number; done: number }>("SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'sent')::int AS done FROM notices", [], database))[0]!;
    await waitFor('the twelve notices sent', async () => {
      const n = await sent();
      return n.n === 12 && n.done === 12;
    }, 60_000, 200);
    const eml = (name: string) => {
      const outbox = join(dir, `state-${name}`, 'outbox');
      return existsSync(outbox) ? readdirSync(outbox).filter((f) => f.endsWith('.eml')).map((f) => join(outbox, f)) : [];
    };
    const files = [...eml('pa'), ...eml('pb')];
    const mails = await Promise.all(files.map(async (f) => simpleParser(readFileSync(f))));
    expect(mails.map((m) => m.subject).sort()).toEqual([...ladderSubjects('alice', 'web01'), ...ladderSubjects('carol', 'web02')].sort());
    expect(new Set(mails.map((m) => m.messageId)).size).toBe(12);
    // The single controller's own outbox: the same twelve.
    await waitFor('the single controller\'s twelve notices', () => eml('ps').length === 12, 60_000, 200);
  }, 240_000);

  it('says on /healthz when the database cannot be reached, and answers reports 503 then', async () => {
    let own: PgCluster | undefined = await startPostgres();
    cleanup.add('stop the cluster of the unreachable test', () => own?.stop());
    const database = await own.createDatabase();
    const c = await start(writeConfig('c', own.url(database)));
    expect((await post(c.url, report(1, base, [sample('alice', 10)]))).status).toBe(202);
    await own.stop();
    own = undefined;
    const res = await fetch(`${c.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unavailable', database: 'unreachable', message: expect.any(String) });
    const refused = await post(c.url, report(2, base + 5000, [sample('alice', 10)]));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(await refused.json()).toMatchObject({ error: 'unavailable', message: expect.stringMatching(/^the database cannot be reached/) });
  }, 120_000);
});
