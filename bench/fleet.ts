// A fleet against two controllers on one PostgreSQL database (issue 15): `hosts` simulated agents (default
// 1,000) of `tenants` tenants each (default 300) report every 5 s in real time (60,000 samples/s) for
// `seconds` (default 300), each report to one of two controllers in turn (its seq picks which), as agents behind
// a load balancer would. The controllers are worker threads of this process (each its own event loop, HTTP
// server, parser and PostgreSQL pool: bench/ingest.ts's server), the database a temporary cluster of the bench's
// own with PostgreSQL's default settings, on this machine.
//
// An agent posts its tick's report when the previous one was answered; a tick whose previous report is still
// in flight is late (a real agent keeps it in its spool and sends it with the next). Measured: the ticks sent
// on time and late, the reports answered and their latency (p50, p99), errors, and CPU (the controllers'
// threads plus the cluster's processes) per 1,000 samples stored. It keeps up when every tick is sent on time
// and the answers come at the offered rate.
//
// Baseline in the same run: the offered rate itself (hosts x tenants / 5 s).
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { bodyParts, cpuSnapshot, PG_BENCH_SETTINGS, pgSnapshot, post, quantile, TICK, TOKEN_PREFIX } from './ingest.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

export interface FleetBenchOptions {
  hosts?: number;
  tenants?: number;
  seconds?: number;
  controllers?: number;
  /** rollup.flush_interval of the controllers (default 1 min: the hour rows rewritten every minute, the most). */
  flushMinutes?: number;
}

export interface FleetBenchResult {
  hosts: number;
  tenants: number;
  controllers: number;
  flushMinutes: number;
  seconds: number;
  offeredSamplesPerSecond: number;
  storedSamplesPerSecond: number;
  ticks: number;
  late: number;
  /** Late ticks in each minute of the run (where they are: the first reports, a drain, a checkpoint). */
  latePerMinute: number[];
  answered: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** Latency of the reports sent after the first minute (once every host and tenant is registered). */
  p50AfterFirstMinuteMs: number;
  p99AfterFirstMinuteMs: number;
  /** CPU-ms of the controllers and PostgreSQL per 1,000 samples stored. */
  cpuMsPer1k: number;
  cpusUsed: number;
  cores: number;
  keepsUp: boolean;
  /** Answers other than 202, by status. */
  statuses?: Record<number, number>;
  skipped?: string;
}

const INTERVAL_MS = 5000;

export async function benchFleet(opts: FleetBenchOptions = {}): Promise<FleetBenchResult> {
  const hosts = opts.hosts ?? 1000;
  const tenants = opts.tenants ?? 300;
  const seconds = opts.seconds ?? 300;
  const controllers = opts.controllers ?? 2;
  const flushMinutes = opts.flushMinutes ?? 1;
  const base = { hosts, tenants, controllers, seconds, flushMinutes, offeredSamplesPerSecond: (hosts * tenants * 1000) / INTERVAL_MS, cores: availableParallelism() };
  const missing = postgresMissing();
  if (missing) return { ...base, storedSamplesPerSecond: 0, ticks: 0, late: 0, answered: 0, errors: 0, p50Ms: NaN, p99Ms: NaN, p50AfterFirstMinuteMs: NaN, p99AfterFirstMinuteMs: NaN, cpuMsPer1k: NaN, cpusUsed: 0, keepsUp: false, latePerMinute: [], skipped: missing };
  const cluster = await startPostgres({ settings: { ...PG_BENCH_SETTINGS, max_connections: String(20 * controllers + 10) } });
  const workers: Worker[] = [];
  try {
    const url = cluster.url(await cluster.createDatabase());
    const workerFile = fileURLToPath(new URL('../controller/ingest/parse-worker.js', import.meta.url));
    const ports: number[] = [];
    for (let c = 0; c < controllers; c++) {
      const w = new Worker(fileURLToPath(new URL('./ingest.js', import.meta.url)), {
        workerData: { role: 'ingest-bench-server', variant: 'postgres', dir: cluster.dir, parserThreads: 1, agents: hosts, workerFile, pgUrl: url, flushIntervalMs: flushMinutes * 60_000 },
      });
      workers.push(w);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          w.once('error', reject);
          w.on('message', (m: { type: string; port?: number }) => {
            if (m.type === 'ready') resolve(m.port!);
          });
        }),
      );
    }
    const agent = new Agent({ keepAlive: true, maxSockets: 256 });
    const bodies = Array.from({ length: hosts }, (_, h) => bodyParts(`bench${h}`, tenants, 1, false)[0]!);
    const start = Date.now();
    const end = start + seconds * 1000;
    const latencies: number[] = [];
    const latenciesAfterFirstMinute: number[] = [];
    let ticks = 0;
    let late = 0;
    const latePerMinute = Array.from({ length: Math.ceil(seconds / 60) }, () => 0);
    let answered = 0;
    let errors = 0;
    const statuses = new Map<number, number>();
    const cpu0 = cpuSnapshot();
    const pg0 = pgSnapshot(cluster);
    const loops = Array.from({ length: hosts }, async (_, h) => {
      // Each host ticks at its own phase in the 5 s.
      let next = start + Math.floor((h * INTERVAL_MS) / hosts);
      let seq = 0;
      let inFlight: Promise<void> | undefined;
      while (next < end) {
        const wait = next - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        next += INTERVAL_MS;
        ticks++;
        if (inFlight) {
          late++;
          latePerMinute[Math.min(latePerMinute.length - 1, Math.floor((Date.now() - start) / 60_000))]!++;
          continue;
        }
        seq++;
        const at = new Date(start + seq * INTERVAL_MS).toISOString();
        const head = Buffer.from(`{"version":1,"host":"bench${h}","seq":${seq},"at":"${at}","sent_at":"${at}"`);
        const t0 = performance.now();
        const afterFirstMinute = Date.now() - start >= 60_000;
        inFlight = post(agent, ports[seq % controllers]!, `${TOKEN_PREFIX}${h}`, [head, bodies[h]!]).then(
          (status) => {
            const ms = performance.now() - t0;
            latencies.push(ms);
            if (afterFirstMinute) latenciesAfterFirstMinute.push(ms);
            answered++;
            if (status !== 202) {
              errors++;
              statuses.set(status, (statuses.get(status) ?? 0) + 1);
            }
            inFlight = undefined;
          },
          () => {
            errors++;
            inFlight = undefined;
          },
        );
      }
      await inFlight;
    });
    await Promise.all(loops);
    const wall = (Date.now() - start) / 1000;
    const cpu1 = cpuSnapshot();
    const pgTicks = pgSnapshot(cluster).ticks - pg0.ticks;
    agent.destroy();
    const cpuSeconds = (cpu1.process - cpu0.process - (cpu1.main - cpu0.main) + pgTicks) / TICK;
    const stored = (answered - errors) * tenants;
    latencies.sort((a, b) => a - b);
    latenciesAfterFirstMinute.sort((a, b) => a - b);
    return {
      ...base,
      seconds: wall,
      storedSamplesPerSecond: stored / wall,
      ticks,
      late,
      latePerMinute,
      answered,
      errors,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      p50AfterFirstMinuteMs: quantile(latenciesAfterFirstMinute, 0.5),
      p99AfterFirstMinuteMs: quantile(latenciesAfterFirstMinute, 0.99),
      cpuMsPer1k: stored > 0 ? (cpuSeconds * 1000 * 1000) / stored : NaN,
      cpusUsed: cpuSeconds / wall,
      keepsUp: late === 0 && errors === 0,
      statuses: Object.fromEntries(statuses),
    };
  } finally {
    for (const w of workers) {
      w.postMessage({ type: 'stop' });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 30_000);
        w.on('message', (m: { type: string }) => {
          if (m.type === 'done') {
            clearTimeout(t);
            resolve();
          }
        });
      });
      await w.terminate();
    }
    await cluster.stop();
  }
}

export function printFleet(r: FleetBenchResult): void {
  if (r.skipped) {
    console.log(`fleet: not measured (${r.skipped})`);
    return;
  }
  console.log(
    `fleet: ${r.hosts} hosts x ${r.tenants} tenants every 5 s against ${r.controllers} controllers on one PostgreSQL (this ${r.cores}-core machine), flush interval ${r.flushMinutes} min, ${r.seconds.toFixed(0)} s: ` +
      `offered ${Math.round(r.offeredSamplesPerSecond).toLocaleString('en')} samples/s (the baseline), stored ${Math.round(r.storedSamplesPerSecond).toLocaleString('en')} samples/s ` +
      `(${((100 * r.storedSamplesPerSecond) / r.offeredSamplesPerSecond).toFixed(1)}% of it)`,
  );
  console.log(
    `  ${r.ticks} ticks, ${r.late} late (previous report unanswered: the agent spools it; per minute ${r.latePerMinute.join(', ')}); ${r.answered} answered, ${r.errors} errors${r.errors ? ` (${Object.entries(r.statuses ?? {}).map(([k, v]) => `${v} x ${k}`).join(', ')})` : ''}; ingest latency p50 ${r.p50Ms.toFixed(0)} ms, p99 ${r.p99Ms.toFixed(0)} ms (after the first minute p50 ${r.p50AfterFirstMinuteMs.toFixed(0)} ms, p99 ${r.p99AfterFirstMinuteMs.toFixed(0)} ms); ` +
      `${r.cpuMsPer1k.toFixed(1)} CPU-ms per 1,000 samples (controllers + PostgreSQL, ${r.cpusUsed.toFixed(2)} CPUs); keeps up: ${r.keepsUp ? 'yes' : 'NO'}` +
      (r.keepsUp || r.latePerMinute.length < 2 ? '' : `; after the first minute (every host and tenant registering at once): ${r.latePerMinute.slice(1).some((n) => n > 0) || r.errors ? 'NO' : 'yes'}`),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  printFleet(await benchFleet({ hosts: arg('hosts'), tenants: arg('tenants'), seconds: arg('seconds'), controllers: arg('controllers'), flushMinutes: arg('flush-minutes') }));
}
