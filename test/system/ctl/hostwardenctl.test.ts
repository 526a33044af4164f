// The built hostwardenctl (dist/ctl/bin/hostwardenctl.js on the pinned Node.js) against a real
// controller on a free loopback port, after two hours of reports posted over HTTP with the agent's token:
// every command's human and --json output, manual actions queued and listed, settings from ctl.yaml, the
// environment and flags, and the clear errors (refused token, unknown tenant, bad flags, stopped controller).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWith, hasCommand, missing } from '../../helpers/env.js';
import { Cleanup, listeningUrl, NODE, REFUSED_URL, ROOT, runProgram, spawnDaemon, startDaemon, tempDir, waitFor, writeToken, type Daemon } from '../../helpers/system.js';
import type { Explanation, IncidentEvent, Report, TenantSample } from '../../../shared/wire/agent.js';
import { EXPLANATION } from '../../unit/ctl/fixtures.js';
import { makeTestCertificates } from '../../unit/ctl/test-ca.js';

const CTL = 'ctl/bin/hostwardenctl.js';
const CONTROLLER = 'controller/bin/hostwarden-controller.js';
const built = existsSync(join(ROOT, 'dist', CTL)) && existsSync(join(ROOT, 'dist', CONTROLLER));
const GiB = 1024 ** 3;
const MIN = 60_000;
const TEN_MIN = 10 * MIN;
/** An HTTPS front for the controller (argv: cert, key, controller URL), as a TLS-terminating proxy would be. */
const TLS_FRONT = `
const [cert, key, backend] = process.argv.slice(1);
const fs = require('node:fs'), http = require('node:http'), https = require('node:https');
const to = new URL(backend);
const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  const out = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => res.destroy());
  req.pipe(out);
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

describeWith(missing([[built, 'needs a build (npx tsc -b)']]), 'hostwardenctl against a running controller', () => {
  const cleanup = new Cleanup();
  let dir = '';
  let url = '';
  let admin = '';
  let agent = '';
  let daemon: Daemon;
  let env: NodeJS.ProcessEnv = {};
  // Two hours of reports a minute apart, starting on a 10-minute boundary; alice's cpu is the same within each
  // 10-minute block (100%, 120%, ... 320%), so every point of a 10m step is known exactly.
  const base = Math.floor((Date.now() - 2 * 3_600_000 - 5 * MIN) / TEN_MIN) * TEN_MIN;
  const REPORTS = 120;
  const aliceCpu = (k: number) => 100 + 20 * Math.floor(k / 10);
  let incidentId = 0;

  const ctl = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runProgram(CTL, args, { env: { ...env, ...extraEnv }, timeoutMs: 30_000 });
  const api = async (path: string, token = admin) => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as any };
  };
  const put = (path: string, body: unknown) => fetch(`${url}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const explanation = (summary: string): Explanation => ({ ...EXPLANATION, summary });
  const event = (id: string, type: IncidentEvent['type'], at: number, extra: Partial<IncidentEvent>): IncidentEvent => ({
    id,
    incident: 'web01:cpu:alice:1',
    tenant: 'alice',
    resource: 'cpu',
    rule: 'cpu-fair-share',
    type,
    step: 'notice',
    level: 0,
    at: new Date(at).toISOString(),
    explanation: explanation(`alice ${type} at minute ${(at - base) / MIN}`),
    ...extra,
  });
  const report = (k: number): Report => {
    const at = base + k * MIN;
    const samples: TenantSample[] = [
      { tenant: 'alice', cpu: { percent: aliceCpu(k) }, memory: { current: GiB, anon: GiB, file: 0 }, processes: { count: 17 } },
      { tenant: 'bob', cpu: { percent: 25 }, memory: { current: 2 * GiB, anon: 2 * GiB, file: 0 } },
    ];
    const events: IncidentEvent[] = [];
    if (k === 60) events.push(event('e1', 'opened', at, {}));
    if (k === 61) events.push(event('e2', 'escalated', at, { step: 'throttle', level: 1, until: new Date(Date.now() + 3_600_000).toISOString() }));
    return {
      version: 1,
      host: 'web01',
      seq: k + 1,
      at: new Date(at).toISOString(),
      sent_at: new Date().toISOString(),
      interval: 60,
      host_stats: { cores: 4, memory_bytes: 16 * GiB, cpu_percent: aliceCpu(k) + 25, memory_used: 3 * GiB, pressure: { cpu: { some: { avg10: 35, avg60: 30, avg300: 20, total: 1000 } } } },
      samples,
      events,
      collectors: [
        { name: 'cpu', ok: true, duration_ms: 0.5 },
        { name: 'bandwidth', ok: false, error: 'nft: command not found', duration_ms: 2 },
      ],
      tenants: [
        { name: 'alice', email: 'alice@example.com', plan: 'basic', uids: [1001], source: 'config' },
        { name: 'bob', plan: 'basic', uids: [1002], source: 'config' },
      ],
      agent_version: '0.1.0',
    };
  };

  beforeAll(async () => {
    dir = tempDir(cleanup, 'hw-ctl-');
    admin = writeToken(join(dir, 'admin.token'));
    agent = writeToken(join(dir, 'agent.token'));
    writeFileSync(
      join(dir, 'controller.yaml'),
      `listen: 127.0.0.1:0\nstate_dir: ${join(dir, 'state')}\nadmin_token_file: ${join(dir, 'admin.token')}\nagents: [ { host: web01, token_file: ${join(dir, 'agent.token')} } ]\nlog_level: info\n`,
    );
    daemon = startDaemon(cleanup, CONTROLLER, ['--config', join(dir, 'controller.yaml')]);
    url = await listeningUrl(daemon);
    await waitFor('controller /healthz', async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok, 20_000, 100);
    for (let k = 0; k < REPORTS; k++) {
      const res = await fetch(`${url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' }, body: JSON.stringify(report(k)) });
      expect(res.status).toBe(202);
    }
    expect((await put('/v1/plans/basic', { cpu: 100, memory: GiB, weight: 1 })).status).toBe(201);
    expect((await put('/v1/tenants/alice', { users: ['alice'], plan: 'basic', email: 'alice@example.com' })).status).toBe(200);
    incidentId = (await api('/v1/incidents?state=open')).body.incidents[0].id;
    // Settings come from a ctl.yaml named in the environment (never the machine's /etc/hostwarden/ctl.yaml).
    writeFileSync(join(dir, 'ctl.yaml'), `url: ${url}\ntoken_file: ${join(dir, 'admin.token')}\n`);
    env = { HOSTWARDEN_CTL_CONFIG: join(dir, 'ctl.yaml'), COLUMNS: '120', HOSTWARDEN_URL: '', HOSTWARDEN_TOKEN: '', HOSTWARDEN_TOKEN_FILE: '', HOSTWARDEN_TIMEOUT: '', HOSTWARDEN_CA_FILE: '' };
  });

  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  /** Run a command in both forms: the human form (returned) and --json, which must be the API's answer. */
  async function both(args: string[], apiPath: string): Promise<string> {
    const human = ctl(args);
    expect([args, human.code, human.stderr]).toEqual([args, 0, '']);
    expect(human.stdout).not.toContain('\x1b['); // not a terminal: no colour
    const json = ctl([...args, '--json']);
    expect([args, json.code, json.stderr]).toEqual([args, 0, '']);
    // Fairness debt decays while time passes: compared apart, with a tolerance.
    const mine: number[] = [];
    const theirs: number[] = [];
    const strip = (text: string, debts: number[]) => JSON.parse(text, (k, v) => (k === 'debt' && typeof v === 'number' ? (debts.push(v), 'debt') : v));
    expect(strip(json.stdout, mine)).toEqual(strip(JSON.stringify((await api(apiPath)).body), theirs));
    mine.forEach((d, i) => expect(d).toBeCloseTo(theirs[i]!, 4));
    return human.stdout;
  }

  describe('commands', () => {
    it('hosts: the host with its tenants, incidents, load and the failing collector', async () => {
      const out = await both(['hosts'], '/v1/hosts');
      const [header, row] = out.split('\n');
      expect(header).toBe('HOST   LAST REPORT  TENANTS  INCIDENTS  CORES   CPU  MEMORY               PSI CPU/MEM/IO  JAIN  FAILING');
      expect(row).toMatch(/^web01  \d+m ago +2 +1 +4  345%  3\.00 GiB \/ 16\.0 GiB  35\/-\/- +\S+  bandwidth$/);
      const host = await both(['host', 'web01'], '/v1/hosts/web01');
      expect(host).toContain('cpu:             345% of one core, out of 400% (4 cores)');
      expect(host).toContain('bandwidth  FAILED');
    });

    it('tenants and tenant: plan, weight, managed, debt; the newest sample', async () => {
      const out = await both(['tenants'], '/v1/tenants');
      expect(out.split('\n')[0]).toBe('TENANT  HOST   PLAN   WEIGHT  MANAGED    DEBT  INCIDENTS  LAST SEEN');
      expect(out).toMatch(/\nalice   web01  basic       1  yes +[-+]?\d+\.\d{3} +1  \d+m ago\n/);
      expect(out).toMatch(/\nbob     web01  basic       1  no +[-+]?\d+\.\d{3} +0  \d+m ago\n/);
      const managed = ctl(['tenants', '--managed']);
      expect(managed.stdout).toContain('alice');
      expect(managed.stdout).not.toContain('bob');
      const alice = await both(['tenant', 'alice'], '/v1/tenants/alice');
      expect(alice).toContain('managed:         yes (through the API)');
      expect(alice).toContain('email:           alice@example.com');
      expect(alice).toContain(`  cpu:        ${aliceCpu(REPORTS - 1)}% of one core`);
      expect(alice).toContain('  memory:     1.00 GiB (anon 1.00 GiB, page cache 0 B)');
    });

    it('usage: a row per 10 minutes with the averages and maxima, and the cpu chart', async () => {
      const from = new Date(base).toISOString();
      const to = new Date(base + REPORTS * MIN).toISOString();
      const out = await both(['usage', 'alice', '--since', from, '--until', to, '--step', '10m'], `/v1/tenants/alice/usage?from=${from}&to=${to}&step=10m`);
      const lines = out.split('\n');
      expect(lines[0]).toBe(`alice on web01, ${from.slice(0, 10)} ${from.slice(11, 16)}Z to ${to.slice(0, 10)} ${to.slice(11, 16)}Z, per 10m (minute rollups)`);
      expect(lines[1]).toBe('TIME               CPU AVG  CPU MAX   MEM AVG   MEM MAX  PROCS  SAMPLES');
      for (let block = 0; block < REPORTS / 10; block++) {
        const t = new Date(base + block * TEN_MIN).toISOString();
        const cpu = `${aliceCpu(block * 10)}%`;
        expect(lines[2 + block]).toBe(`${t.slice(0, 10)} ${t.slice(11, 16)}Z  ${cpu.padStart(7)}  ${cpu.padStart(7)}  1.00 GiB  1.00 GiB     17       10`);
      }
      const chart = out.slice(out.indexOf('cpu, % of one core: bars are the average per 10m, dots the maximum\n'));
      expect(chart.split('\n')[1]).toBe('500% ┤');
      expect(chart).toContain('  0% ┤');
      expect(chart).toContain('█');
      for (const l of chart.split('\n')) expect(l.length).toBeLessThanOrEqual(120);
      // the default: the last 24 hours in hour steps
      expect(ctl(['usage', 'bob']).stdout).toContain(', per 1h (hour rollups)');
    });

    it("fairness: Jain's index of the host and the tenants ranked by debt", async () => {
      const human = ctl(['fairness', '--host', 'web01', '--window', '2h']);
      expect([human.code, human.stderr]).toEqual([0, '']);
      expect(human.stdout).toContain('window 2h (');
      expect(human.stdout).toMatch(/\nweb01 +\d\.\d+ +\d\.\d+ +\d\.\d+ +\d+\.\d%/);
      expect(human.stdout).toMatch(/\n {3}1  alice   web01  basic       1 /);
      expect(human.stdout).toMatch(/\n {3}2  bob     web01  basic       1 /);
      const json = JSON.parse(ctl(['fairness', '--host', 'web01', '--window', '2h', '--json']).stdout);
      const direct = (await api('/v1/fairness?host=web01&window=2h')).body;
      expect(json.tenants.map((t: any) => [t.rank, t.tenant, t.plan])).toEqual(direct.tenants.map((t: any) => [t.rank, t.tenant, t.plan]));
      expect(json.window_seconds).toBe(7200);
    });

    it('incidents --open and explain ID: the incident in a row, then in words', async () => {
      const list = await both(['incidents', '--open'], '/v1/incidents?state=open');
      expect(list).toMatch(new RegExp(`\\n +${incidentId}  open   alice   web01  cpu       cpu-fair-share  throttle 1  \\S+ ago  in \\d+m  alice escalated at minute 61\\n`));
      expect(ctl(['incidents', '--released']).stdout).toBe('no incidents match\n');
      const out = await both(['explain', String(incidentId)], `/v1/incidents/${incidentId}`);
      expect(out).toContain(`Incident ${incidentId}: alice on web01, cpu, rule cpu-fair-share\nstate:     open, throttle level 1\n`);
      expect(out).toContain('What happened\n  alice escalated at minute 61\n');
      expect(out).toContain('  measured:   375% of one core on average over 30s\n  threshold:  150% of one core, the fair-share threshold, 2.5 x the threshold\n');
      expect(out).toContain('alice took 62.0% of the tenants\' cpu use, against a fair share of 25.0%');
      expect(out).toContain('The host was contended: cpu pressure 42.5% (some avg10; threshold 20.0%).');
      expect(out).toContain('  4242  180%   100 MiB  alice  php-fpm: pool alice\n  4243  151%  50.0 MiB  -      /usr/bin/php /home/alice/public_html/wp-cron.php\n');
      expect(out).toContain('What was done\n  Throttled (level 1): cpu limited to 187.5% of one core');
      expect(out).toContain('What would have avoided it\n  Keeping cpu use below about 150% of one core');
      expect(out).toMatch(/History \(2 events\)\n {2}\S+ \S+Z {2}opened {5}notice\n {6}alice opened at minute 60\n {2}\S+ \S+Z {2}escalated {2}throttle level 1, until /);
    });

    it('plans: the plan put through the API, in units', async () => {
      const out = await both(['plans'], '/v1/plans');
      expect(out).toMatch(/^PLAN +CPU +MEMORY +IO READ +IO WRITE +IOPS +PROCESSES +WEIGHT +TENANTS +UPDATED\nbasic  100%  1\.00 GiB +- +- +- +- +1 +1  \d+[sm] ago\n/); // minutes when the machine is so loaded the run before took one
    });

    it('throttle, quarantine, notice and release are queued and listed by actions; the agent sees them in its policy', async () => {
      const t = ctl(['throttle', 'alice', '--reason', 'abuse ticket 42', '--ttl', '30m', '--level', '2']);
      expect([t.code, t.stderr]).toEqual([0, '']);
      expect(t.stdout).toMatch(/^queued throttle level 2 of alice on web01 until \S+ \S+Z \(in (29|30)m\): "abuse ticket 42"\naction [0-9a-f-]{36} is pending: /);
      const id = /action ([0-9a-f-]{36})/.exec(t.stdout)![1]!;
      const policy = (await api('/v1/hosts/web01/policy', agent)).body;
      expect(policy.actions).toEqual([expect.objectContaining({ id, tenant: 'alice', action: 'throttle', level: 2, reason: 'abuse ticket 42' })]);

      const q = ctl(['quarantine', 'bob', '--reason', 'malware in ~/tmp', '--json']);
      expect(q.code).toBe(0);
      expect(JSON.parse(q.stdout)).toMatchObject({ tenant: 'bob', action: 'quarantine', state: 'pending', host: 'web01' });
      expect(ctl(['notice', 'bob', '--reason', 'please update WordPress']).stdout).toMatch(/^queued notice to bob on web01: "please update WordPress"\n/);
      expect(ctl(['release', 'alice', '--reason', 'customer fixed the cron job']).stdout).toMatch(/^queued release of alice on web01: "customer fixed the cron job"\n/);

      const listed = await both(['actions'], '/v1/actions');
      const rows = listed.split('\n');
      // Columns as their widths came out: an age of 10 s or more widens SINCE (a loaded machine).
      const cols = (r: string) => r.split(/ {2,}/).join('  ');
      expect(cols(rows[0]!)).toBe('ID  TENANT  HOST  ACTION  STATE  SINCE  EXPIRES  BY  REASON');
      expect(rows[0]).toMatch(/^ID {8}TENANT  HOST   ACTION {6}STATE {4}SINCE {3,}EXPIRES  BY {5}REASON$/);
      expect(rows.slice(1, 5).map((r) => cols(r.replace(/^[0-9a-f]{8}/, 'ID').replace(/\d+[sm] ago/, 'Ns ago').replace(/in \d+m/, 'in Nm')))).toEqual(
        [
        'ID  alice   web01  release     pending  Ns ago  -        admin  customer fixed the cron job',
        'ID  bob     web01  notice      pending  Ns ago  -        admin  please update WordPress',
        'ID  bob     web01  quarantine  pending  Ns ago  -        admin  malware in ~/tmp',
        'ID  alice   web01  throttle 2  pending  Ns ago  in Nm   admin  abuse ticket 42',
        ].map(cols),
      );
      const mine = await both(['actions', '--tenant', 'alice'], '/v1/actions?tenant=alice');
      expect(mine).not.toContain('bob');
      const one = await both(['action', id.slice(0, 8)], `/v1/actions/${id}`);
      expect(one).toContain(`action:   ${id}\ntenant:   alice on web01\nwhat:     throttle level 2\nreason:   abuse ticket 42\nby:       admin\n`);
    });

    it('audit: the calls hostwardenctl made, refused ones too', async () => {
      ctl(['hosts'], { HOSTWARDEN_TOKEN: 'not-the-token' });
      const out = ctl(['audit', '--limit', '50']);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/ admin +201  POST    \/v1\/tenants\/alice\/actions /);
      expect(out.stdout).toMatch(/ invalid-token +401  GET     \/v1\/hosts /);
    });
  });

  describe('settings', () => {
    it('flags override the environment, which overrides ctl.yaml', async () => {
      const closed = REFUSED_URL;
      const viaEnv = ctl(['hosts'], { HOSTWARDEN_URL: closed });
      expect([viaEnv.code, viaEnv.stderr]).toEqual([1, `hostwardenctl: cannot reach the controller at ${closed}: connection refused (is hostwarden-controller running?)\n`]);
      const viaFlag = ctl(['hosts', '--url', url], { HOSTWARDEN_URL: closed });
      expect(viaFlag.code).toBe(0);
      const tokenFromEnv = ctl(['hosts', '--json'], { HOSTWARDEN_CTL_CONFIG: '', HOSTWARDEN_URL: url, HOSTWARDEN_TOKEN: admin });
      expect(JSON.parse(tokenFromEnv.stdout).hosts[0].host).toBe('web01');
      const fileFromEnv = ctl(['hosts'], { HOSTWARDEN_CTL_CONFIG: '', HOSTWARDEN_URL: url, HOSTWARDEN_TOKEN_FILE: join(dir, 'admin.token') });
      expect(fileFromEnv.code).toBe(0);
    });

    it('a ctl.yaml with an unknown key, or a named one that is missing, is exit 2', () => {
      writeFileSync(join(dir, 'bad-ctl.yaml'), `url: ${url}\ntoken: abc\n`);
      const bad = ctl(['hosts', '--config', join(dir, 'bad-ctl.yaml')]);
      expect([bad.code, bad.stderr]).toEqual([2, `hostwardenctl: ${join(dir, 'bad-ctl.yaml')}: config key "token": unknown key (check the spelling; see the configuration reference in README.md)\n`]);
      const absent = ctl(['hosts', '--config', join(dir, 'absent.yaml')]);
      expect([absent.code, absent.stderr]).toEqual([2, `hostwardenctl: --config: ${join(dir, 'absent.yaml')} does not exist\n`]);
    });
  });

  describeWith(missing([[hasCommand('openssl'), 'openssl']]), 'https (a TLS front on 127.0.0.1 with a test CA made by openssl)', () => {
    let httpsUrl = '';
    let certs: ReturnType<typeof makeTestCertificates>;
    beforeAll(async () => {
      certs = makeTestCertificates(tempDir(cleanup, 'hw-ctl-tls-'));
      // In a process of its own: the CLI runs synchronously (execFileSync) and would block a front in this one.
      const front = spawnDaemon(cleanup, NODE, ['-e', TLS_FRONT, certs.serverCert, certs.serverKey, url], { PATH: '/usr/bin:/bin' });
      const port = await waitFor('the TLS front', () => /listening (\d+)/.exec(front.output())?.[1], 20_000, 50);
      httpsUrl = `https://127.0.0.1:${port}`;
    });

    it('works with --ca-file (or ca_file in ctl.yaml); refuses the certificate without it or with another CA, exit 1', () => {
      const ok = ctl(['tenants', '--url', httpsUrl, '--ca-file', certs.ca]);
      expect([ok.code, ok.stderr, ok.stdout.split('\n')[0]]).toEqual([0, '', 'TENANT  HOST   PLAN   WEIGHT  MANAGED    DEBT  INCIDENTS  LAST SEEN']);
      writeFileSync(join(dir, 'tls-ctl.yaml'), `url: ${httpsUrl}\ntoken_file: ${join(dir, 'admin.token')}\nca_file: ${certs.ca}\n`);
      expect(ctl(['hosts', '--json'], { HOSTWARDEN_CTL_CONFIG: join(dir, 'tls-ctl.yaml') }).code).toBe(0);
      const fix = 'Give the CA certificate that signed it with --ca-file FILE (or ca_file in /etc/hostwarden/ctl.yaml, or HOSTWARDEN_CA_FILE)\n';
      expect(ctl(['tenants', '--url', httpsUrl])).toEqual({
        code: 1,
        stdout: '',
        stderr: `hostwardenctl: the certificate of the controller at ${httpsUrl} is not trusted: it is not signed by any CA of the system's store (UNABLE_TO_VERIFY_LEAF_SIGNATURE). ${fix}`,
      });
      expect(ctl(['tenants', '--url', httpsUrl, '--ca-file', certs.otherCa])).toEqual({
        code: 1,
        stdout: '',
        stderr: `hostwardenctl: the certificate of the controller at ${httpsUrl} is not trusted: it is not signed by the CA in ${certs.otherCa} (from --ca-file) (UNABLE_TO_VERIFY_LEAF_SIGNATURE). ${fix}`,
      });
    });
  });

  describe('errors', () => {
    it('a wrong token: the controller refused the token from FILE (401), exit 1', () => {
      const wrong = join(dir, 'wrong.token');
      writeToken(wrong);
      const r = ctl(['tenants', '--token-file', wrong]);
      expect(r).toEqual({ code: 1, stdout: '', stderr: `hostwardenctl: the controller refused the token from ${wrong} (401): invalid bearer token\n` });
      const env401 = ctl(['tenants'], { HOSTWARDEN_TOKEN: 'not-the-token' });
      expect([env401.code, env401.stderr]).toEqual([1, 'hostwardenctl: the controller refused the token from HOSTWARDEN_TOKEN (401): invalid bearer token\n']);
      const agentToken = ctl(['tenants', '--token-file', join(dir, 'agent.token')]);
      expect([agentToken.code, agentToken.stderr]).toEqual([1, `hostwardenctl: the controller refused the token from ${join(dir, 'agent.token')} (403): an agent token (host web01) cannot use admin routes\n`]);
    });

    it("unknown names: the controller's message, exit 1", () => {
      expect(ctl(['tenant', 'carol'])).toEqual({ code: 1, stdout: '', stderr: 'hostwardenctl: tenant carol is not known\n' });
      expect(ctl(['usage', 'carol'])).toEqual({ code: 1, stdout: '', stderr: 'hostwardenctl: tenant carol is not known\n' });
      expect(ctl(['throttle', 'carol', '--reason', 'x'])).toEqual({ code: 1, stdout: '', stderr: 'hostwardenctl: tenant carol is not known\n' });
      expect(ctl(['explain', '9999'])).toEqual({ code: 1, stdout: '', stderr: 'hostwardenctl: incident 9999 is not known\n' });
      expect(ctl(['host', 'web09'])).toEqual({ code: 1, stdout: '', stderr: 'hostwardenctl: host web09 is not known\n' });
    });

    it('bad flags: exit 2, nothing sent', async () => {
      const sent = async () => ((await api('/v1/audit?limit=1000')).body.entries as Array<{ path: string }>).filter((e) => !e.path.startsWith('/v1/audit')).length;
      const before = await sent();
      for (const args of [['tenants', '--frobnicate'], ['usage'], ['throttle', 'alice'], ['throttle', 'alice', '--reason', 'x', '--level', '5'], ['usage', 'alice', '--since', 'last week'], ['nonsense']]) {
        const r = ctl(args);
        expect([args, r.code, r.stdout]).toEqual([args, 2, '']);
        expect(r.stderr).toMatch(/^hostwardenctl: .+\n\(see "hostwardenctl .*--help"\)\n$/);
      }
      expect(await sent()).toBe(before);
    });

    it('--help, --version, and the launcher in bin/ on the pinned runtime', () => {
      const help = ctl(['--help']);
      expect([help.code, help.stdout.split('\n')[0]]).toEqual([0, 'usage: hostwardenctl [--url URL] [--token-file FILE] [--json] COMMAND [ARGUMENTS] [OPTIONS]']);
      const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
      expect(execFileSync(join(ROOT, 'bin/hostwardenctl'), ['--version'], { env: { PATH: '/usr/bin:/bin' } }).toString()).toBe(`hostwardenctl ${version}\n`);
    });

    it('a stopped controller: "cannot reach the controller at URL: connection refused", exit 1', async () => {
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toBe(0);
      const r = ctl(['hosts']);
      expect(r).toEqual({ code: 1, stdout: '', stderr: `hostwardenctl: cannot reach the controller at ${url}: connection refused (is hostwarden-controller running?)\n` });
    });
  });
});
