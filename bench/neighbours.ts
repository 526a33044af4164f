// Neighbour isolation on a real shared server (issue 12, item 4): the distro tier's Debian 12 guest (systemd,
// pure cgroup v2, nginx, php8.2-fpm; scripts/distro/run.sh, its image cached under /var/cache/hostwarden-tests)
// with the packages built from the tree installed, five tenants on one plan with a cpu cap of 1.5 cores (of the
// guest's 2), so that isolation has to come from the contention-aware judgement and not from a low cap. One
// tenant's CPU-heavy PHP page is hammered by concurrent clients while another tenant's light page is requested at
// a steady rate (open loop); the victim's p50/p95 latency and error rate with hostwarden governing vs with the
// agent stopped and every limit lifted (the processes still in the tenants' cgroups, whose equal weights the
// kernel still shares the CPU by) vs without hostwarden at all (php-fpm restarted with the agent stopped: every
// pool's workers in php8.2-fpm.service, as on a server without it), in the same boot, beside the victim's
// latency on the idle server.
// Goal: the victim's p95 under abuse within 1.5x of its idle p95 with hostwarden. The guest's part is
// bench/distro/neighbours.sh; the load generator bench/distro/load.mjs runs on the packaged Node.js runtime.
// Needs root, qemu and the tools of `npm run test:distro`; `npm run bench -- neighbours` builds dist/ first.
// Environment: HW_BENCH_RATE (victim requests/s, 5), HW_BENCH_CLIENTS (noisy's clients, 8), HW_BENCH_SECONDS
// (each measured phase, 45), HW_BENCH_WARMUP (s of abuse before the governed phase is measured, 75).
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(import.meta.dirname, '../..');
const GOAL = 1.5;

export interface Latency {
  requests: number;
  errors: number;
  error_rate: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}
interface Hammer {
  clients: number;
  requests: number;
  errors: number;
  per_second: number;
}
export interface NeighboursResult {
  rate: number;
  clients: number;
  seconds: number;
  warmup: number;
  single: Latency;
  idle: Latency;
  governed: Latency;
  /** The agent stopped, every tenant's limits lifted, the processes left in the tenants' cgroups. */
  lifted: Latency;
  /** No hostwarden: the agent stopped and php-fpm restarted, so every pool's workers share php8.2-fpm.service. */
  ungoverned: Latency;
  noisy_governed: Hammer;
  noisy_lifted: Hammer;
  noisy_ungoverned: Hammer;
  /** noisy's cpu.max when the governed phase's measuring began and when it ended. */
  noisy_cpu_max: [string, string];
  incidents: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stderr.write(d);
    });
    child.once('error', rej);
    child.once('exit', (code) => (code === 0 ? res(out) : rej(new Error(`${cmd} exited ${code}`))));
  });
}

export async function benchNeighbours(): Promise<NeighboursResult> {
  const work = mkdtempSync(join(tmpdir(), 'hw-bench-neighbours-'));
  try {
    const share = join(work, 'share');
    mkdirSync(join(share, 'debs'), { recursive: true });
    console.error('neighbours: building the packages from the tree (gzip)');
    await run(join(ROOT, 'packaging/build-deb.sh'), ['--no-build', '--out', join(share, 'debs')], { ...process.env, HOSTWARDEN_DEB_COMPRESS: 'gzip' });
    rmSync(join(share, 'debs/staging'), { recursive: true, force: true });
    copyFileSync(join(ROOT, 'test/distro/lib.sh'), join(share, 'lib.sh'));
    copyFileSync(join(ROOT, 'bench/distro/load.mjs'), join(share, 'load.mjs'));
    const out = await run(join(ROOT, 'scripts/distro/run.sh'), ['--timeout', '1800', '--share', share, '--', join(ROOT, 'bench/distro/neighbours.sh')]);
    // The guest's console prefixes its lines (kernel time, unit name).
    const mark = 'hw-bench-neighbours: ';
    const line = out.split('\n').find((l) => l.includes(mark));
    if (!line) throw new Error('the guest gave no result line');
    return JSON.parse(line.slice(line.indexOf(mark) + mark.length)) as NeighboursResult;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} ms`);
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);

export function printNeighbours(r: NeighboursResult): void {
  console.log(
    `victim at ${r.rate} req/s for ${r.seconds} s per phase; noisy's heavy page by ${r.clients} clients (one request alone: ${ms(r.single.p50)}); ` +
      `governed measured after ${r.warmup} s of abuse`,
  );
  const row = (name: string, l: Latency) =>
    console.log(`  ${name.padEnd(38)} p50 ${ms(l.p50).padStart(10)}  p95 ${ms(l.p95).padStart(10)}  p99 ${ms(l.p99).padStart(10)}  errors ${l.errors}/${l.requests} (${(l.error_rate * 100).toFixed(1)} %)`);
  row('idle server (baseline)', r.idle);
  row('abuse, hostwarden governing', r.governed);
  row('abuse, agent stopped, limits lifted', r.lifted);
  row('abuse, no hostwarden (one fpm cgroup)', r.ungoverned);
  console.log(
    `  noisy served: ${r.noisy_governed.per_second}/s governed, ${r.noisy_lifted.per_second}/s lifted, ${r.noisy_ungoverned.per_second}/s without hostwarden ` +
      `(errors ${r.noisy_governed.errors} / ${r.noisy_lifted.errors} / ${r.noisy_ungoverned.errors})`,
  );
  console.log(`  noisy's cpu.max while governed: ${r.noisy_cpu_max[0]} -> ${r.noisy_cpu_max[1]} (plan: 150000 100000); incidents: ${r.incidents || 'none'}`);
  const gov = r.governed.p95 !== null && r.idle.p95 !== null ? r.governed.p95 / r.idle.p95 : null;
  console.log(
    `  victim p95 vs idle: governed ${ratio(r.governed.p95, r.idle.p95)}, lifted ${ratio(r.lifted.p95, r.idle.p95)}, without hostwarden ${ratio(r.ungoverned.p95, r.idle.p95)}; ` +
      `without / with hostwarden ${ratio(r.ungoverned.p95, r.governed.p95)}, with / without ${ratio(r.governed.p95, r.ungoverned.p95)}`,
  );
  console.log(`  goal: governed p95 within ${GOAL}x of idle p95: ${gov === null ? 'not measured' : gov <= GOAL ? 'met' : 'NOT met'}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printNeighbours(await benchNeighbours());
