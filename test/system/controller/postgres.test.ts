// The built controller on PostgreSQL (database.url, issue 15), against clusters of the test's own: two
// controllers on one database take an agent's reports alternately, each retried to the other, and answer the
// same history (every sample stored once, rollups as hand-computed); one of them SIGKILLed while reports are in
// flight loses nothing once the agent resends what was not answered; with the database server stopped,
// /healthz says so (503, database unreachable) and a report is answered 503 (the agent keeps it spooled).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Report, TenantSample } from '../../../shared/wire/agent.js';
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
  const base = Math.floor((Date.now() - 3 * 3_600_000) / 3_600_000) * 3_600_000;
  const sample = (tenant: string, percent: number): TenantSample => ({ tenant, cpu: { percent }, memory: { current: GiB, anon: GiB, file: 0 } });
  const report = (seq: number, at: number, samples: TenantSample[]): Report => ({
    version: 1,
    host: 'web01',
    seq,
    at: new Date(at).toISOString(),
    sent_at: new Date().toISOString(),
    interval: 5,
    host_stats: { cores: 4, memory_bytes: 16 * GiB },
    samples,
  });
  const post = (url: string, body: unknown) =>
    fetch(`${url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  function writeConfig(name: string, databaseUrl: string): string {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `listen: 127.0.0.1:0
state_dir: ${join(dir, `state-${name}`)}
admin_token_file: ${join(dir, 'admin.token')}
agents:
  - { host: web01, token_file: ${join(dir, 'agent-web01.token')} }
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
