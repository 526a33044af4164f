// Ingest over HTTP (issue 4 item 2): samples/s sustained, bytes written to disk per sample, p99 report
// latency, at 10 concurrent agents posting reports of 300 tenants back to back. Goals: >= 250k samples/s,
// <= 0.5 KiB per sample, p99 < 100 ms.
//
// Baseline in the same run: the same HTTP path and parser with a naive store, one row per sample in a table
// indexed by (tenant, time), one transaction per report.
//
// PostgreSQL (issue 15), in the same run where the server binaries are installed: the same load against the
// PostgreSQL store on a temporary cluster of the bench's own (bench/pg-cluster.ts) with PostgreSQL's default
// settings (fsync and synchronous_commit on: a report answered 202 is on disk), the database on this machine.
// Its CPU is the controller's plus the cluster's processes' (postmaster and children, from /proc), its bytes
// those processes' write_bytes (a CHECKPOINT at the end, counted).
//
// The controller runs in a worker thread of this process (its own event loop and SQLite connection; the
// load generator stays on the main thread). Disk writes are read from /proc/thread-self/io of that thread:
// `wchar` = bytes the controller handed to write() (SQLite's WAL and checkpoints, plus the few bytes of HTTP
// answers), `write_bytes` = bytes it caused to be sent to the block layer (pages dirtied). The run ends with a
// flush of every rollup still in memory and a WAL checkpoint, both counted, so nothing written later is left
// out. Report times advance 5 s per report per host (simulated time), so rollup flushes happen at their real
// rate per sample.
import { Agent, request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { buildApp, type App } from '../controller/http/app.js';
import { TokenRegistry } from '../controller/auth.js';
import { defaultParserThreads } from '../controller/config.js';
import { TENANT_METRICS, TENANT_WIDTH } from '../controller/history/catalog.js';
import { createReportParser } from '../controller/ingest/parser.js';
import type { PreparedReport } from '../controller/ingest/prepare.js';
import pg from 'pg';
import { PgStore } from '../controller/store/postgres/pg-store.js';
import { SqliteStore } from '../controller/store/sqlite/sqlite-store.js';
import type { IngestResult, Store } from '../controller/store/store.js';
import type { TenantSample } from '../shared/wire/agent.js';
import { clusterProcesses, type PgCluster, postgresMissing, startPostgres } from './pg-cluster.js';

export interface IngestBenchOptions {
  agents?: number;
  tenants?: number;
  seconds?: number;
  warmupSeconds?: number;
  parserThreads?: number;
  /** Directory for the databases (default: the system temp directory; it must be on a disk, not tmpfs). */
  dir?: string;
  /** rollup.flush_interval of the store, ms (default 15 min). */
  flushIntervalMs?: number;
  /** Default: hostwarden, naive, and postgres where PostgreSQL's server is installed. */
  variants?: Variant[];
  /**
   * `full` (default): cpu, memory, io, processes and cgroup PSI for cpu, memory and io (what an agent sends on
   * a kernel with per-cgroup PSI, avg10 of some and full: ~360 bytes of JSON a tenant); `lean`: without PSI (~210 bytes).
   */
  samples?: 'full' | 'lean';
}

export interface IngestRun {
  variant: string;
  parserThreads: number;
  reports: number;
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  /** Bytes handed to write() per sample (WAL + checkpoints). */
  wcharPerSample: number;
  /** Bytes sent to the block layer per sample (dirtied pages). */
  writeBytesPerSample: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  dbBytes: number;
  /** CPU-seconds the controller (all its threads) used per second of the measured window. */
  serverCpuPerSecond: number;
  /** Samples stored per CPU-second of the controller: its speed regardless of what else runs. */
  samplesPerServerCpuSecond: number;
  /** Samples per CPU-second of the controller's main thread alone: the ceiling when parser threads have cores. */
  samplesPerMainCpuSecond: number;
  /** Share of the machine's CPU time other processes used during the window (0..1): contention. */
  othersShare: number;
  cores: number;
}

export type Variant = 'hostwarden' | 'naive' | 'postgres';

export interface IngestBenchResult {
  agents: number;
  tenants: number;
  bodyBytes: number;
  samples: 'full' | 'lean';
  runs: IngestRun[];
  /** Why PostgreSQL was not measured, when it was not. */
  postgresSkipped?: string;
}

export const TOKEN_PREFIX = 'bench-agent-token-';

interface ServerMessage {
  type: 'ready' | 'io' | 'done';
  port?: number;
  io?: { wchar: number; write_bytes: number };
  /** CPU ticks of the controller's main thread (HTTP, store) so far. */
  mainTicks?: number;
  dbBytes?: number;
}

export const TICK = 100; // USER_HZ, clock ticks per second in /proc

/** CPU ticks (user + system) from a /proc/.../stat line. */
export function statTicks(file: string): number {
  const text = readFileSync(file, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** Machine busy and total ticks from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, total };
}

export function cpuSnapshot(): { process: number; main: number; machine: { busy: number; total: number } } {
  return { process: statTicks('/proc/self/stat'), main: statTicks('/proc/thread-self/stat'), machine: machineTicks() };
}

function threadIo(): { wchar: number; write_bytes: number } {
  const text = readFileSync('/proc/thread-self/io', 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { wchar: get('wchar'), write_bytes: get('write_bytes') };
}

/** The naive baseline: one row per sample, indexed by (tenant, time). */
class NaiveStore extends SqliteStore {
  private readonly insertSample;
  private readonly findReport;
  private readonly insertReport;
  constructor(file: string) {
    super({ file });
    const cols = TENANT_METRICS.slice(0, 22).map((d) => `${d.name} REAL`);
    this.db.exec(`CREATE TABLE naive_samples (tenant TEXT NOT NULL, host TEXT NOT NULL, at INTEGER NOT NULL, ${cols.join(', ')});
      CREATE INDEX naive_tenant_at ON naive_samples(tenant, at);
      CREATE TABLE naive_reports (host TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (host, seq));`);
    this.insertSample = this.db.prepare(`INSERT INTO naive_samples VALUES (?, ?, ?, ${cols.map(() => '?').join(', ')})`);
    this.findReport = this.db.prepare<[string, number], { at: number }>('SELECT at FROM naive_reports WHERE host = ? AND seq = ?');
    this.insertReport = this.db.prepare('INSERT INTO naive_reports VALUES (?, ?, ?)');
  }

  override async ingest(p: PreparedReport): Promise<IngestResult> {
    return this.db.transaction(() => {
      if (this.findReport.get(p.host, p.seq)) return { accepted: true, duplicate: true, seq: p.seq, samples: 0, events: 0, acks: 0 };
      this.insertReport.run(p.host, p.seq, p.at);
      const row: Array<string | number | null> = new Array(25);
      for (let k = 0; k < p.tenants.length; k++) {
        row[0] = p.tenants[k]!;
        row[1] = p.host;
        row[2] = p.at;
        for (let i = 0; i < 22; i++) {
          const v = p.values[k * TENANT_WIDTH + i]!;
          row[3 + i] = v === v ? v / TENANT_METRICS[i]!.scale : null;
        }
        this.insertSample.run(row);
      }
      return { accepted: true, duplicate: false, seq: p.seq, samples: p.tenants.length, events: 0, acks: 0 };
    })();
  }
}

async function runServer(data: { variant: string; dir: string; parserThreads: number; agents: number; workerFile: string; flushIntervalMs?: number | undefined; pgUrl?: string }): Promise<void> {
  const port = parentPort!;
  const file = join(data.dir, `${data.variant}.db`);
  const store: Store =
    data.variant === 'postgres'
      ? await PgStore.open({ url: data.pgUrl!, passwordFile: undefined, caFile: undefined, poolSize: 10 }, { flushIntervalMs: data.flushIntervalMs })
      : data.variant === 'naive'
        ? new NaiveStore(file)
        : new SqliteStore({ file, flushIntervalMs: data.flushIntervalMs });
  const tokens = new TokenRegistry();
  for (let i = 0; i < data.agents; i++) tokens.addToken(`${TOKEN_PREFIX}${i}`, { kind: 'agent', name: `agent:bench${i}`, host: `bench${i}` });
  const parser = createReportParser(data.parserThreads, data.workerFile);
  const app: App = await buildApp({ store, tokens, parser });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  port.on('message', async (msg: { type: string }) => {
    if (msg.type === 'io') port.postMessage({ type: 'io', io: threadIo(), mainTicks: statTicks('/proc/thread-self/stat') } satisfies ServerMessage);
    if (msg.type === 'cpu') port.postMessage({ type: 'io', mainTicks: statTicks('/proc/thread-self/stat') } satisfies ServerMessage);
    if (msg.type === 'stop') {
      await app.close();
      // Everything still in memory is written and checkpointed, and counted.
      await store.flush({ all: true });
      if (store instanceof SqliteStore) store.db.pragma('wal_checkpoint(TRUNCATE)');
      if (store instanceof PgStore) await store.db.query('CHECKPOINT');
      const io = threadIo();
      const stats = await store.stats();
      await parser.close();
      await store.close();
      port.postMessage({ type: 'done', io, dbBytes: stats.bytes } satisfies ServerMessage);
    }
  });
  port.postMessage({ type: 'ready', port: addr.port } satisfies ServerMessage);
}

if (!isMainThread && (workerData as { role?: string } | undefined)?.role === 'ingest-bench-server') {
  void runServer(workerData as Parameters<typeof runServer>[0]);
}

// --- load generator ---------------------------------------------------------------------------------------
function sampleOf(host: string, t: number, variant: number, lean: boolean): TenantSample {
  const busy = (t + variant) % 10 === 0;
  // Per-tenant PSI as the agent sends it: avg10 only (agent/collectors/pressure.ts avg10Only).
  const psi = (v: number) => ({ avg10: v });
  const pressure = { cpu: { some: psi(busy ? 12.5 : 0.5), full: psi(0) }, memory: { some: psi(0), full: psi(0) }, io: { some: psi(busy ? 3.25 : 0), full: psi(0) } };
  return {
    tenant: `${host}-t${String(t).padStart(5, '0')}`,
    cpu: { percent: busy ? 85.125 + variant : 1.5 + (t % 7) * 0.25 },
    memory: { current: (64 + (t % 512)) * 1048576 + variant * 4096, anon: (40 + (t % 256)) * 1048576, file: 24 * 1048576 },
    io: { read_bps: busy ? 5242880 : 1024 * (t % 13), write_bps: busy ? 8388608 : 2048 * (t % 11), read_iops: busy ? 120.5 : t % 5, write_iops: busy ? 240.25 : t % 3 },
    processes: { count: 5 + (t % 40) },
    ...(lean ? {} : { pressure }),
  };
}

/** Report bodies as three parts: prefix, the variable head (seq and times), and the samples. */
export function bodyParts(host: string, tenants: number, variants: number, lean: boolean): Buffer[] {
  const out: Buffer[] = [];
  for (let v = 0; v < variants; v++) {
    const samples = Array.from({ length: tenants }, (_, t) => sampleOf(host, t, v, lean));
    out.push(Buffer.from(`,"interval":5,"host_stats":{"cores":64,"memory_bytes":274877906944,"cpu_percent":${3000 + v * 10},"pressure":{"cpu":{"some":{"avg10":20,"avg60":15,"avg300":10,"total":1}}}},"samples":${JSON.stringify(samples)},"agent_version":"bench"}`));
  }
  return out;
}

export function post(agent: Agent, port: number, token: string, parts: Buffer[]): Promise<number> {
  const length = parts.reduce((n, b) => n + b.length, 0);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/reports', method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    for (let i = 0; i < parts.length - 1; i++) req.write(parts[i]);
    req.end(parts[parts.length - 1]);
  });
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** CPU ticks and bytes written (write_bytes) of the cluster's processes now. */
export function pgSnapshot(cluster: PgCluster | undefined): { ticks: number; writeBytes: number } {
  let ticks = 0;
  let writeBytes = 0;
  for (const pid of cluster ? clusterProcesses(cluster) : []) {
    try {
      ticks += statTicks(`/proc/${pid}/stat`);
      writeBytes += Number(/^write_bytes: (\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* exited meanwhile */
    }
  }
  return { ticks, writeBytes };
}

async function runVariant(variant: Variant, o: Required<Omit<IngestBenchOptions, 'dir' | 'variants' | 'flushIntervalMs'>> & { dir: string; flushIntervalMs?: number | undefined; pg?: { cluster: PgCluster; url: string } }): Promise<IngestRun> {
  const workerFile = fileURLToPath(new URL('../controller/ingest/parse-worker.js', import.meta.url));
  const worker = new Worker(fileURLToPath(import.meta.url), {
    workerData: { role: 'ingest-bench-server', variant, dir: o.dir, parserThreads: o.parserThreads, agents: o.agents, workerFile, flushIntervalMs: o.flushIntervalMs, pgUrl: o.pg?.url },
  });
  const messages: ServerMessage[] = [];
  let wake: (() => void) | undefined;
  worker.on('message', (m: ServerMessage) => {
    messages.push(m);
    wake?.();
  });
  const next = async (type: ServerMessage['type']): Promise<ServerMessage> => {
    for (;;) {
      const i = messages.findIndex((m) => m.type === type);
      if (i >= 0) return messages.splice(i, 1)[0]!;
      await new Promise<void>((r) => (wake = r));
    }
  };
  const failed = new Promise<never>((_, rej) => worker.once('error', rej));
  const { port } = await Promise.race([next('ready'), failed]);

  const agent = new Agent({ keepAlive: true, maxSockets: o.agents });
  const start = Date.now() - 6 * 3_600_000; // simulated time starts 6 h ago, 5 s per report
  const parts = Array.from({ length: o.agents }, (_, a) => bodyParts(`bench${a}`, o.tenants, 8, o.samples === 'lean'));
  let measuring = false;
  let counting = false;
  let stored = 0;
  let stop = false;
  const latencies: number[] = [];
  let reports = 0;
  let errors = 0;
  const loops = Array.from({ length: o.agents }, async (_, a) => {
    const host = `bench${a}`;
    const token = `${TOKEN_PREFIX}${a}`;
    for (let seq = 1; !stop; seq++) {
      const at = new Date(start + seq * 5000).toISOString();
      const head = Buffer.from(`{"version":1,"host":"${host}","seq":${seq},"at":"${at}","sent_at":"${at}"`);
      const t0 = performance.now();
      const status = await post(agent, port!, token, [head, parts[a]![seq % 8]!]);
      const ms = performance.now() - t0;
      if (status !== 202) errors++;
      else if (counting) stored++;
      if (measuring) {
        latencies.push(ms);
        reports++;
      }
    }
  });
  await new Promise((r) => setTimeout(r, o.warmupSeconds * 1000));
  worker.postMessage({ type: 'io' });
  const snap0 = await next('io');
  const io0 = snap0.io!;
  const pg0 = pgSnapshot(o.pg?.cluster);
  counting = true;
  measuring = true;
  const cpu0 = cpuSnapshot();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuSnapshot();
  const pgCpu = pgSnapshot(o.pg?.cluster).ticks - pg0.ticks;
  worker.postMessage({ type: 'cpu' });
  const mainTicks = (await next('io')).mainTicks! - snap0.mainTicks!;
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  worker.postMessage({ type: 'stop' });
  const done = await next('done');
  const pgWritten = pgSnapshot(o.pg?.cluster).writeBytes - pg0.writeBytes;
  await worker.terminate();
  const samples = reports * o.tenants;
  // Writes since the snapshot are charged to every sample stored since (the measured ones and the drain).
  const storedSamples = stored * o.tenants;
  latencies.sort((x, y) => x - y);
  // The controller's CPU: every thread of this process but the main one (the load generator).
  // With PostgreSQL, its processes' CPU too: the store's work happens there.
  const serverTicks = cpu1.process - cpu0.process - (cpu1.main - cpu0.main) + pgCpu;
  const machineBusy = cpu1.machine.busy - cpu0.machine.busy;
  const machineTotal = cpu1.machine.total - cpu0.machine.total;
  const serverCpuSeconds = serverTicks / TICK;
  return {
    variant,
    parserThreads: o.parserThreads,
    reports,
    samples,
    seconds,
    samplesPerSecond: samples / seconds,
    wcharPerSample: (done.io!.wchar - io0.wchar) / storedSamples,
    writeBytesPerSample: (done.io!.write_bytes - io0.write_bytes + pgWritten) / storedSamples,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
    errors,
    dbBytes: done.dbBytes ?? 0,
    serverCpuPerSecond: serverCpuSeconds / seconds,
    samplesPerServerCpuSecond: samples / serverCpuSeconds,
    samplesPerMainCpuSecond: samples / (mainTicks / TICK),
    othersShare: machineTotal > 0 ? Math.max(0, machineBusy - (cpu1.process - cpu0.process) - pgCpu) / machineTotal : 0,
    cores: availableParallelism(),
  };

}

export async function benchIngest(opts: IngestBenchOptions = {}): Promise<IngestBenchResult> {
  const o = {
    agents: opts.agents ?? 10,
    tenants: opts.tenants ?? 300,
    seconds: opts.seconds ?? 15,
    warmupSeconds: opts.warmupSeconds ?? 3,
    parserThreads: opts.parserThreads ?? defaultParserThreads(),
    samples: opts.samples ?? 'full',
  };
  // On the disk, not tmpfs: bytes written must reach a block device to be counted.
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'hw-bench-ingest-'));
  const missing = postgresMissing();
  const variants = opts.variants ?? (['hostwarden', 'naive', ...(missing ? [] : ['postgres' as const])] as Variant[]);
  let cluster: PgCluster | undefined;
  try {
    const runs: IngestRun[] = [];
    for (const variant of variants) {
      let pg: { cluster: PgCluster; url: string } | undefined;
      if (variant === 'postgres') {
        // HW_BENCH_PG_STATEMENTS=N: the N statements that took PostgreSQL the most time, printed after the run.
        const statements = Number(process.env.HW_BENCH_PG_STATEMENTS ?? 0);
        cluster = await startPostgres({ settings: statements > 0 ? { ...PG_BENCH_SETTINGS, shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_planning': 'on' } : PG_BENCH_SETTINGS });
        pg = { cluster, url: cluster.url(await cluster.createDatabase()) };
      }
      runs.push(await runVariant(variant, { ...o, dir, flushIntervalMs: opts.flushIntervalMs, ...(pg ? { pg } : {}) }));
      if (pg && Number(process.env.HW_BENCH_PG_STATEMENTS ?? 0) > 0) await printStatements(pg.url, Number(process.env.HW_BENCH_PG_STATEMENTS));
    }
    const bodyBytes = bodyParts('bench0', o.tenants, 1, o.samples === 'lean')[0]!.length + 100;
    return { agents: o.agents, tenants: o.tenants, bodyBytes, samples: o.samples, runs, ...(variants.includes('postgres') ? {} : { postgresSkipped: missing ?? 'not asked for' }) };
  } finally {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The statements that took the cluster the most time (pg_stat_statements, loaded by the bench on request). */
async function printStatements(url: string, n: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    // Planning counted apart (pg_stat_statements.track_planning, set by the bench): a prepared statement that is
    // planned again at each call shows as many plans as calls.
    const r = await c.query<{ calls: string; total: number; mean: number; rows: string; plans: string; plan: number; query: string }>(
      `SELECT calls, total_exec_time AS total, mean_exec_time AS mean, rows, plans, total_plan_time AS plan, query FROM pg_stat_statements
       ORDER BY total_exec_time + total_plan_time DESC LIMIT $1`,
      [n],
    );
    console.log('  PostgreSQL statements by total time (execution + planning):');
    for (const x of r.rows) {
      console.log(
        `    ${x.total.toFixed(0).padStart(7)} ms ${String(x.calls).padStart(7)} calls ${x.mean.toFixed(3).padStart(8)} ms each ${String(x.rows).padStart(8)} rows; ` +
          `planned ${x.plans} times, ${x.plan.toFixed(0)} ms  ${x.query.replace(/\s+/g, ' ').slice(0, 120)}`,
      );
    }
  } finally {
    await c.end();
  }
}

/**
 * PostgreSQL's own defaults (durable commits), with room for the pool of each controller and the memory a
 * dedicated server would give it: what an admin following the README runs, not the tests' fsync=off.
 */
export const PG_BENCH_SETTINGS: Record<string, string> = { shared_buffers: '256MB', max_connections: '100' };

export function printIngest(r: IngestBenchResult): void {
  console.log(`ingest over HTTP: ${r.agents} agents, ${r.tenants} tenants per report, ${r.samples} samples (~${Math.round(r.bodyBytes / 1024)} KiB JSON, ${Math.round(r.bodyBytes / r.tenants)} B a tenant)`);
  const base = r.runs.find((x) => x.variant === 'naive');
  for (const x of r.runs) {
    const ratio = base && x !== base ? ` (${(x.samplesPerSecond / base.samplesPerSecond).toFixed(2)}x baseline samples/s, ${(x.wcharPerSample / base.wcharPerSample).toFixed(3)}x bytes)` : '';
    const goal = x.variant === 'postgres' ? 'goal >= 100,000 on PostgreSQL' : 'goal >= 250,000';
    console.log(
      `  ${x.variant.padEnd(10)} parser threads ${x.parserThreads}: ${Math.round(x.samplesPerSecond).toLocaleString('en')} samples/s (${goal}); ` +
        `written ${x.wcharPerSample.toFixed(0)} B/sample to write(), ${x.writeBytesPerSample.toFixed(0)} B/sample to the block layer (goal <= 512); ` +
        `latency p50 ${x.p50Ms.toFixed(1)} ms, p99 ${x.p99Ms.toFixed(1)} ms (goal < 100), max ${x.maxMs.toFixed(1)} ms; ${x.errors} errors; db ${(x.dbBytes / 1048576).toFixed(1)} MiB${ratio}`,
    );
    console.log(
      `  ${''.padEnd(10)} controller${x.variant === 'postgres' ? ' and PostgreSQL' : ''} used ${x.serverCpuPerSecond.toFixed(2)} of ${x.cores} CPUs: ${Math.round(x.samplesPerServerCpuSecond).toLocaleString('en')} samples per CPU-second ` +
        `(main thread alone: ${Math.round(x.samplesPerMainCpuSecond).toLocaleString('en')} per CPU-second); ` +
        `other processes used ${(x.othersShare * 100).toFixed(0)}% of the machine meanwhile`,
    );
  }
  const sqlite = r.runs.find((x) => x.variant === 'hostwarden');
  const pgRun = r.runs.find((x) => x.variant === 'postgres');
  if (sqlite && pgRun) console.log(`  postgres / sqlite: ${(pgRun.samplesPerSecond / sqlite.samplesPerSecond).toFixed(2)}x samples/s, ${(pgRun.samplesPerServerCpuSecond / sqlite.samplesPerServerCpuSecond).toFixed(2)}x samples per CPU-second`);
  if (r.postgresSkipped) console.log(`  postgres: not measured (${r.postgresSkipped})`);
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const flushMin = arg('flush-minutes');
  printIngest(
    await benchIngest({
      seconds: arg('seconds'),
      agents: arg('agents'),
      tenants: arg('tenants'),
      parserThreads: arg('threads'),
      flushIntervalMs: flushMin === undefined ? undefined : flushMin * 60_000,
      samples: process.argv.includes('--lean') ? 'lean' : 'full',
      ...(process.argv.includes('--postgres') ? { variants: ['hostwarden', 'postgres'] as Variant[] } : {}),
    }),
  );
}
