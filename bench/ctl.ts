// hostwardenctl's wall time per command against a real controller on loopback, beside two baselines measured
// in the same run: starting the Node.js runtime (`node -e ''`) and the least a Node.js client can do (one
// fetch of the same route, body read). `node dist/bench/ctl.js [--runs N] [--tenants N]`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../..');
const NODE = process.execPath;
const CTL = join(ROOT, 'dist/ctl/bin/hostwardenctl.js');
const GiB = 1024 ** 3;

export interface CtlCase {
  name: string;
  medianMs: number;
  minMs: number;
}

/**
 * The URL the controller serves on, from its 'controller listening' log line: it listens on port 0, so the
 * kernel picks a free port while binding it (nothing can take the port between a choice and the bind).
 */
function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((res, rej) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"controller listening"'));
      if (!line) return;
      child.stdout!.off('data', onData);
      child.stdout!.resume(); // keep draining what it logs later
      res((JSON.parse(line) as { url: string }).url);
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => rej(new Error(`the controller exited (${code}) before it listened: ${out}`)));
  });
}

function time(args: string[], env: NodeJS.ProcessEnv, runs: number): { medianMs: number; minMs: number } {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const r = spawnSync(NODE, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    t.push(performance.now() - start);
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  }
  t.sort((a, b) => a - b);
  return { medianMs: t[Math.floor(t.length / 2)]!, minMs: t[0]! };
}

export async function benchCtl(opts: { runs?: number; tenants?: number } = {}): Promise<CtlCase[]> {
  const runs = opts.runs ?? 15;
  const tenants = opts.tenants ?? 50;
  const dir = mkdtempSync(join(tmpdir(), 'hw-bench-ctl-'));
  const admin = randomBytes(24).toString('hex');
  const agent = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'admin.token'), `${admin}\n`);
  writeFileSync(join(dir, 'agent.token'), `${agent}\n`);
  writeFileSync(join(dir, 'controller.yaml'), `listen: 127.0.0.1:0\nstate_dir: ${dir}/state\nadmin_token_file: ${dir}/admin.token\nagents: [ { host: web01, token_file: ${dir}/agent.token } ]\nlog_level: info\n`);
  const controller = spawn(NODE, [join(ROOT, 'dist/controller/bin/hostwarden-controller.js'), '--config', join(dir, 'controller.yaml')], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const url = await listeningUrl(controller);
    for (let i = 0; ; i++) {
      if ((await fetch(`${url}/healthz`).catch(() => undefined))?.ok) break;
      if (i > 200) throw new Error('the controller did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    // An hour of minute reports of `tenants` tenants, one incident.
    const base = Date.now() - 3_600_000;
    const names = Array.from({ length: tenants }, (_, i) => `t${String(i).padStart(3, '0')}`);
    for (let k = 0; k < 60; k++) {
      const at = new Date(base + k * 60_000).toISOString();
      const explanation = { summary: 's', rule: 'cpu-fair-share', resource: 'cpu', measured: { value: 300, unit: '% of one core' }, threshold: { value: 100, unit: '% of one core', kind: 'fair_share' }, window_seconds: 30, contention: { contended: true, signals: [] }, top_processes: [], action: 'a', avoid: 'b' };
      const body = {
        version: 1,
        host: 'web01',
        seq: k + 1,
        at,
        sent_at: new Date().toISOString(),
        interval: 60,
        host_stats: { cores: 8, memory_bytes: 32 * GiB },
        samples: names.map((tenant, i) => ({ tenant, cpu: { percent: (i * 7 + k) % 200 }, memory: { current: (i + 1) * 10_000_000, anon: 0, file: 0 } })),
        events: k === 30 ? [{ id: 'e1', incident: 'i1', tenant: 't000', resource: 'cpu', rule: 'cpu-fair-share', type: 'opened', step: 'notice', level: 0, at, explanation }] : [],
      };
      const r = await fetch(`${url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (r.status !== 202) throw new Error(`report ${k}: ${r.status} ${await r.text()}`);
    }
    const env = { ...process.env, HOSTWARDEN_URL: url, HOSTWARDEN_TOKEN_FILE: join(dir, 'admin.token'), HOSTWARDEN_CTL_CONFIG: '', COLUMNS: '120' };
    const fetchScript = `const r = await fetch(${JSON.stringify(`${url}/v1/tenants`)}, { headers: { authorization: 'Bearer ${admin}' } }); await r.text();`;
    const cases: Array<[string, string[]]> = [
      ["node -e '' (runtime start)", ['-e', '']],
      ['node: one fetch of /v1/tenants', ['--input-type=module', '-e', fetchScript]],
      ['hostwardenctl --version', [CTL, '--version']],
      ['hostwardenctl tenants --json', [CTL, 'tenants', '--json']],
      [`hostwardenctl tenants (${tenants})`, [CTL, 'tenants']],
      ['hostwardenctl hosts', [CTL, 'hosts']],
      ['hostwardenctl usage --since 1h --step 2m', [CTL, 'usage', 't000', '--since', '1h', '--step', '2m']],
      ['hostwardenctl explain 1', [CTL, 'explain', '1']],
    ];
    return cases.map(([name, args]) => ({ name, ...time(args, env, runs) }));
  } finally {
    controller.kill('SIGTERM');
    await new Promise((r) => controller.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printCtl(cases: CtlCase[]): void {
  const node = cases[0]!.medianMs;
  const fetchOnly = cases[1]!.medianMs;
  const w = Math.max(...cases.map((c) => c.name.length));
  console.log(`${'case'.padEnd(w)}  median ms  min ms  x runtime  x fetch`);
  for (const c of cases) {
    console.log(`${c.name.padEnd(w)}  ${c.medianMs.toFixed(0).padStart(9)}  ${c.minMs.toFixed(0).padStart(6)}  ${(c.medianMs / node).toFixed(2).padStart(9)}  ${(c.medianMs / fetchOnly).toFixed(2).padStart(7)}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, tenants: { type: 'string' } } });
  printCtl(await benchCtl({ runs: values.runs ? Number(values.runs) : undefined, tenants: values.tenants ? Number(values.tenants) : undefined }));
}
