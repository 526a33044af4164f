// The tick: one runner that times and isolates every step, so a step that throws no longer costs the tick its
// spool and report; and the policy pull off the tick's path, so a hung controller no longer stretches it.
// The agent runs for real on a temp copy of the cgroup v2 fixture tree (a temp tree is not a kernel: limits
// land as plain file contents), with a temp /proc, its spool in a temp directory and a real HTTP server on
// loopback as the controller.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Policy, Report } from '../../../shared/wire/agent.js';
import { Agent, type AgentOptions } from '../../../agent/agent.js';
import { readAgentConfig } from '../../../agent/config.js';
import { createDriver } from '../../../agent/kernel/cgroup/detect.js';
import { runSteps, TICK_STEPS } from '../../../agent/tick.js';
import { FIXTURES, tempTree, type TempTree } from '../../helpers/cgroup-tree.js';

const log = pino({ level: 'silent' });
const HOST = 'tick-test';
/** The controller timeout of the agents under test: far longer than a tick on a fixture tree takes. */
const TIMEOUT_MS = 4000;

describe('runSteps()', () => {
  it('runs every step in order, timed; a step that throws is reported under its name and the next ones run', async () => {
    const ran: string[] = [];
    const statuses = await runSteps(
      [
        { name: 'place', run: () => void ran.push('place') },
        { name: 'collect', run: async () => void ran.push('collect') },
        {
          name: 'evaluate',
          run: () => {
            throw new Error('Cannot parse memory.stat: line 3 has 1 field');
          },
        },
        { name: 'spool', run: () => void ran.push('spool') },
        { name: 'report', run: () => new Promise<void>((resolve) => setTimeout(() => resolve(void ran.push('report')), 20)) },
      ],
      log,
    );
    expect(ran).toEqual(['place', 'collect', 'spool', 'report']);
    expect(statuses.map((s) => [s.name, s.ok, s.error])).toEqual([
      ['place', true, undefined],
      ['collect', true, undefined],
      ['evaluate', false, 'Cannot parse memory.stat: line 3 has 1 field'],
      ['spool', true, undefined],
      ['report', true, undefined],
    ]);
    expect(statuses.at(-1)!.duration_ms).toBeGreaterThanOrEqual(15);
  });
});

describe('the agent tick', () => {
  let dir: string;
  let tree: TempTree;
  let server: Server;
  let url = '';
  /** The controller's answer to the policy request (default: a policy without actions). */
  let onPolicy: (res: ServerResponse) => void;
  const reports: Report[] = [];
  const held: ServerResponse[] = [];
  const agents: Agent[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method === 'GET' && req.url === `/v1/hosts/${HOST}/policy`) return onPolicy(res);
        if (req.method === 'POST' && req.url === '/v1/reports') {
          const report = JSON.parse(body) as Report;
          reports.push(report);
          res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: true, duplicate: false, seq: report.seq }));
          return;
        }
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-tick-'));
    tree = tempTree('cgroup-v2/cgroup');
    // /proc: the fixture's mount table and PSI, and the two files the host collector reads.
    cpSync(join(FIXTURES, 'cgroup-v2/proc'), join(dir, 'proc'), { recursive: true });
    writeFileSync(join(dir, 'proc/meminfo'), 'MemTotal:        8000000 kB\nMemFree:         4000000 kB\nMemAvailable:    6000000 kB\n');
    writeFileSync(join(dir, 'proc/stat'), 'cpu  100 0 50 1000 10 0 0 0 0 0\n');
    writeFileSync(join(dir, 'token'), 'agent-token\n');
    onPolicy = (res) => policyAnswer(res, policy([]));
    reports.length = 0;
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
    for (const res of held.splice(0)) res.destroy();
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  function policy(actions: Policy['actions']): Policy {
    return { host: HOST, tenants: [], plans: {}, actions };
  }

  function policyAnswer(res: ServerResponse, p: Policy): void {
    res.writeHead(200, { 'content-type': 'application/json', etag: `"${p.actions.length}"` }).end(JSON.stringify(p));
  }

  function agent(opts: Partial<AgentOptions> = {}): Agent {
    const config = readAgentConfig({
      host: HOST,
      state_dir: join(dir, 'state'),
      proc_root: join(dir, 'proc'),
      passwd_file: join(dir, 'passwd'),
      cgroup: { root: tree.root, parent: 'hostwarden', enable_root_controllers: false },
      controller: { url, token_file: join(dir, 'token'), timeout: `${TIMEOUT_MS}ms` },
      bandwidth: { enabled: false },
      inodes: { enabled: false },
      // The fixture tree's two tenants, with UIDs no process here has.
      tenants: [
        { name: 'alice', users: [2_000_001] },
        { name: 'bob', users: [2_000_002] },
      ],
    });
    const driver = createDriver({ cgroupRoot: tree.root, procRoot: config.procRoot, parent: 'hostwarden', freezeTimeoutMs: 300 });
    const a = new Agent({ config, driver, log, ...opts });
    agents.push(a);
    return a;
  }

  it('an evaluate that throws costs the tick its decisions, not its enforcement, spool or report', async () => {
    const a = agent({
      evaluate: () => {
        throw new Error('evaluate exploded');
      },
    });
    a.init();
    const r = await a.tick();
    expect(r.steps.map((s) => s.name)).toEqual([...TICK_STEPS]);
    expect(r.steps.filter((s) => !s.ok).map(({ cpu_ms: _cpu, ...s }) => s)).toEqual([{ name: 'evaluate', ok: false, error: 'evaluate exploded', duration_ms: expect.any(Number) }]);
    expect(r.decisions).toEqual([]);
    expect(r.seq).toBeGreaterThan(0);
    expect([r.sent, r.pending, r.reportError]).toEqual([1, 0, undefined]);
    const sent = reports.at(-1)!;
    expect(sent.seq).toBe(r.seq);
    expect(sent.samples.map((s) => s.tenant)).toEqual(['alice', 'bob']);
    expect(sent.samples[0]!.memory).toEqual({ current: 268435456, anon: 201326592, file: 50331648 });
    // The cgroup stats are read by a collector of their own, with its status like the others.
    expect(sent.collectors!.find((c) => c.name === 'cgroup_stats')).toMatchObject({ ok: true });
  });

  it('the cgroup stats collector reports the tenants it cannot read in one failed status and one warning, and the rest are measured', async () => {
    const lines: Array<{ level: number; msg: string; collector?: string }> = [];
    const a = agent({ log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) }) });
    a.init();
    writeFileSync(join(tree.root, 'hostwarden/bob/memory.stat'), 'anon lots\nfile 0\n'); // not what the kernel writes
    // bob ran meanwhile (a quiet tenant would be answered from its last full read, see collectors/cgroup-stats.ts).
    const cpuStat = join(tree.root, 'hostwarden/bob/cpu.stat');
    writeFileSync(cpuStat, readFileSync(cpuStat, 'utf8').replace(/^usage_usec (\d+)/m, (_m, n: string) => `usage_usec ${Number(n) + 1000}`));
    lines.length = 0;
    const r = await a.tick();
    expect(lines.filter((l) => l.collector === 'cgroup_stats').map((l) => l.msg)).toEqual(['collector incomplete']);
    expect(r.steps.every((s) => s.ok)).toBe(true);
    const status = reports.at(-1)!.collectors!.find((c) => c.name === 'cgroup_stats');
    expect(status).toMatchObject({ ok: false });
    expect(status!.error).toBe('cannot read the cgroup stats of 1 of 2 tenants: bob: Cannot parse ' + join(tree.root, 'hostwarden/bob/memory.stat') + ': value of anon is not an unsigned integer: "lots"');
    expect(r.samples.find((s) => s.tenant === 'alice')?.memory).toBeDefined();
    expect(r.samples.find((s) => s.tenant === 'bob')?.memory).toBeUndefined();
  });

  it('a hung policy pull does not hold up the tick: place, collect and the rest run at once with the last policy', async () => {
    onPolicy = (res) => void held.push(res); // the controller never answers the policy request
    const a = agent();
    a.init(); // starts the pull
    const t0 = performance.now();
    const r = await a.tick();
    const took = performance.now() - t0;
    expect(took).toBeLessThan(TIMEOUT_MS / 2);
    expect(r.steps.find((s) => s.name === 'policy')!.duration_ms).toBeLessThan(TIMEOUT_MS / 4);
    expect(r.steps.every((s) => s.ok)).toBe(true);
    expect(r.samples.map((s) => s.tenant)).toEqual(['alice', 'bob']);
    expect(r.sent).toBe(1);
    expect(a.pull!.pending).toBe(true); // still waiting for the controller
    const s0 = performance.now();
    await a.stop(); // cancels the pull in flight instead of waiting out its timeout
    agents.splice(agents.indexOf(a), 1);
    expect(performance.now() - s0).toBeLessThan(TIMEOUT_MS / 2);
  });

  it('a pulled policy is used by the first tick after its answer arrived', async () => {
    const notice = { id: 'n1', tenant: 'alice', action: 'notice' as const, reason: 'abuse report #7', created_at: new Date(0).toISOString() };
    onPolicy = (res) => setTimeout(() => policyAnswer(res, policy([notice])), 200);
    const a = agent();
    a.init(); // starts the pull
    const first = await a.tick(); // ran before the answer: no manual action yet
    expect(first.acks).toEqual([]);
    await a.pull!.settled();
    const second = await a.tick();
    expect(second.acks).toEqual([expect.objectContaining({ action_id: 'n1', state: 'applied' })]);
    expect(second.events).toEqual([expect.objectContaining({ tenant: 'alice', type: 'opened', step: 'notice' })]);
  });

  it('a tick asked to include a pull (--once) waits for its answer and applies it in the same tick', async () => {
    const notice = { id: 'n2', tenant: 'bob', action: 'notice' as const, reason: 'abuse report #8', created_at: new Date(0).toISOString() };
    onPolicy = (res) => setTimeout(() => policyAnswer(res, policy([notice])), 200);
    const a = agent();
    a.init();
    const r = await a.tick({ awaitPolicy: true });
    expect(r.acks).toEqual([expect.objectContaining({ action_id: 'n2', state: 'applied' })]);
    expect(reports.at(-1)!.acks).toEqual([expect.objectContaining({ action_id: 'n2' })]);
  });
});
