// Reading history (issue 4 acceptance): 30 days of one tenant at a 1 h step, with 1000 tenants of history in
// the database (goal: under 10 ms). Measured through the store and through HTTP (GET .../usage, JSON out).
//
// The history is written straight into the hour table (the codec's rows, as flushes write them: 720 samples an
// hour, cpu, memory, io, processes, pressure and the fairness ledger), 35 days for each of 1000 tenants of 4
// hosts; the tenants and hosts themselves come from real reports.
//
// Baseline in the same run: the naive design, one row per raw sample in a table indexed by (tenant, time),
// the 1 h series computed by GROUP BY at read time. Only the read tenant's 30 days of 5-second samples are in
// it (518,400 rows); with the other 999 tenants it would only be bigger, so the baseline is flattered.
//
// PostgreSQL (issue 15; goal under 20 ms), in the same run where its server is installed: the same tenants and
// hosts from the same reports into the PostgreSQL store on a temporary cluster of the bench's own (PostgreSQL's
// default settings), the same 35 days of hour rows (the codec's blobs in `hour`, as its drains write them;
// written server-side from 17 distinct hours), the same reads.
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { buildApp } from '../controller/http/app.js';
import { TokenRegistry } from '../controller/auth.js';
import { HOST_WIDTH, TENANT_INDEX, TENANT_WIDTH } from '../controller/history/catalog.js';
import { accAdd, encodeAcc, newAcc, Writer } from '../controller/history/codec.js';
import { prepareReport } from '../controller/ingest/prepare.js';
import { PgStore } from '../controller/store/postgres/pg-store.js';
import { SqliteStore } from '../controller/store/sqlite/sqlite-store.js';
import type { Store } from '../controller/store/store.js';
import { PG_BENCH_SETTINGS } from './ingest.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

export interface HistoryBenchOptions {
  tenants?: number;
  days?: number;
  reads?: number;
  dir?: string;
}

export interface HistoryBenchResult {
  tenants: number;
  hourRows: number;
  points: number;
  storeMedianMs: number;
  storeP99Ms: number;
  httpMedianMs: number;
  httpP99Ms: number;
  responseBytes: number;
  baselineRows: number;
  baselineMedianMs: number;
  baselineP99Ms: number;
  ratio: number;
  /** The same reads on the PostgreSQL store, or why they were not made. */
  postgres?: { hourRows: number; loadSeconds: number; storeMedianMs: number; storeP99Ms: number; dbBytes: number } | { skipped: string };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ADMIN = 'bench-history-admin-token';

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function get(port: number, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${ADMIN}` } }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One hour of a tenant as a flush writes it, encoded (SQLite's hour rows). */
function hourRow(k: number, h: number, w: Writer): Buffer {
  return encodeAcc(hourAcc(k, h), TENANT_WIDTH, w);
}

/** One hour of a tenant as a flush makes it: 720 samples of a few metrics, with a little variation. */
function hourAcc(k: number, h: number): ReturnType<typeof newAcc> {
  const acc = newAcc(TENANT_WIDTH);
  const row = new Float64Array(TENANT_WIDTH).fill(Number.NaN);
  for (let s = 0; s < 720; s += 60) {
    const busy = (k + h) % 17 === 0;
    row[TENANT_INDEX.cpu_percent] = Math.round((busy ? 180 : 5 + ((k * 7 + s) % 40)) * 1000);
    row[TENANT_INDEX.memory_current] = (256 + ((k * 13 + h) % 1024)) * 1048576;
    row[TENANT_INDEX.memory_anon] = 200 * 1048576;
    row[TENANT_INDEX.memory_file] = 56 * 1048576;
    row[TENANT_INDEX.io_read_bps] = (k * 31 + s) % 100_000;
    row[TENANT_INDEX.io_write_bps] = (k * 17 + s) % 200_000;
    row[TENANT_INDEX.io_read_iops] = 1000;
    row[TENANT_INDEX.io_write_iops] = 2500;
    row[TENANT_INDEX.processes] = 10 + (k % 30);
    row[TENANT_INDEX.pressure_cpu_some] = busy ? 1250 : 10;
    row[TENANT_INDEX.pressure_memory_some] = 0;
    row[TENANT_INDEX.pressure_io_some] = 25;
    row[TENANT_INDEX.share_cpu] = Math.round(row[TENANT_INDEX.cpu_percent]! / 6400);
    row[TENANT_INDEX.share_memory] = 2000 + (k % 500);
    row[TENANT_INDEX.dominant_share] = Math.max(row[TENANT_INDEX.share_cpu]!, row[TENANT_INDEX.share_memory]!);
    row[TENANT_INDEX.fair_share] = 4000;
    row[TENANT_INDEX.debt] = (k % 50) * 1e7 - 2e8;
    row[TENANT_INDEX.active] = 1;
    accAdd(acc, row, 0, TENANT_WIDTH);
  }
  // 12 distinct samples, each standing for 60 (5 s apart): counts and sums as for 720 samples.
  acc.n *= 60;
  for (let i = 0; i < TENANT_WIDTH; i++) {
    acc.v[3 * i]! *= 60;
    acc.v[3 * i + 1]! *= 60;
  }
  return acc;
}

/** Hosts and tenants from real reports (4 hosts), into any store. */
async function seedReports(store: Store, tenants: number, now: number): Promise<void> {
  const hosts = 4;
  const perHost = Math.ceil(tenants / hosts);
  for (let h = 0; h < hosts; h++) {
    const samples = Array.from({ length: Math.min(perHost, tenants - h * perHost) }, (_, i) => ({ tenant: `tenant${String(h * perHost + i).padStart(4, '0')}`, cpu: { percent: 1 } }));
    const body = { version: 1, host: `web${h}`, seq: 1, at: new Date(now - HOUR).toISOString(), sent_at: new Date(now).toISOString(), interval: 5, host_stats: { cores: 64, memory_bytes: 2 ** 38 }, samples };
    const p = prepareReport(Buffer.from(JSON.stringify(body)));
    if (!p.ok) throw new Error(p.message);
    await store.ingest(p.report);
  }
  await store.flush({ all: true });
}

/** The reads of the bench on one store: median and p99 ms (and the points of the last answer). */
async function timeReads(store: Store, names: string[], q: { from: number; to: number; stepMs: number }, reads: number): Promise<{ times: number[]; points: number }> {
  const pick = (i: number) => names[(i * 7919) % names.length]!;
  for (let i = 0; i < 20; i++) await store.tenantHistory(pick(i), q); // warm-up
  const times: number[] = [];
  let points = 0;
  for (let i = 0; i < reads; i++) {
    const t0 = performance.now();
    const r = await store.tenantHistory(pick(i), q);
    times.push(performance.now() - t0);
    points = r?.times.length ?? 0;
    if (r?.source !== 'hour') throw new Error(`expected hour rows, got ${r?.source}`);
  }
  return { times: times.sort((a, b) => a - b), points };
}

/** The PostgreSQL part: the same history in the PostgreSQL store, the same reads through it. */
async function benchHistoryPostgres(tenants: number, days: number, reads: number, now: number): Promise<NonNullable<HistoryBenchResult['postgres']>> {
  const missing = postgresMissing();
  if (missing) return { skipped: missing };
  const cluster = await startPostgres({ settings: PG_BENCH_SETTINGS });
  let store: PgStore | undefined;
  try {
    const url = cluster.url(await cluster.createDatabase());
    store = await PgStore.open({ url, passwordFile: undefined, caFile: undefined, poolSize: 4 }, { now: () => now });
    await seedReports(store, tenants, now);
    const hoursBack = (days + 5) * 24;
    const t0 = performance.now();
    // 17 distinct hours (the SQLite part's variation repeats with (k + h) % 17), written server-side as the
    // codec's blobs in `hour`, the rows the store's drains write.
    const w = new Writer(1024);
    const templates = Array.from({ length: 17 }, (_, j) => Buffer.from(hourRow(j, 0, w)));
    const client = await store.db.pool.connect();
    try {
      await client.query('CREATE TEMP TABLE bench_tpl (k INT PRIMARY KEY, data BYTEA)');
      await client.query('INSERT INTO bench_tpl SELECT k - 1, d FROM unnest($1::bytea[]) WITH ORDINALITY AS t(d, k)', [templates]);
      await client.query(
        `INSERT INTO hour (series, bucket, data)
         SELECT t.id, $1::bigint - h::bigint * ${HOUR}, p.data FROM tenants t CROSS JOIN generate_series(2, $2::int) AS h JOIN bench_tpl p ON p.k = (t.id + h) % 17
         ON CONFLICT (series, bucket) DO UPDATE SET data = excluded.data`,
        [now, hoursBack],
      );
      // Host rows are left out: a tenant's read never touches them.
      await client.query('ANALYZE hour');
    } finally {
      client.release();
    }
    const loadSeconds = (performance.now() - t0) / 1000;
    const [{ n }] = (await store.db.query<{ n: string }>('SELECT count(*) AS n FROM hour')) as [{ n: string }];
    const names = (await store.db.query<{ name: string }>('SELECT name FROM tenants ORDER BY name')).map((r) => r.name);
    const { times } = await timeReads(store, names, { from: now - days * DAY, to: now, stepMs: HOUR }, reads);
    const dbBytes = (await store.stats()).bytes;
    return { hourRows: Number(n), loadSeconds, storeMedianMs: quantile(times, 0.5), storeP99Ms: quantile(times, 0.99), dbBytes };
  } finally {
    await store?.close();
    await cluster.stop();
  }
}

export async function benchHistory(opts: HistoryBenchOptions = {}): Promise<HistoryBenchResult> {
  const tenants = opts.tenants ?? 1000;
  const days = opts.days ?? 30;
  const reads = opts.reads ?? 300;
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'hw-bench-history-'));
  const now = Math.floor(Date.now() / HOUR) * HOUR;
  const store = new SqliteStore({ file: join(dir, 'controller.db'), now: () => now });
  try {
    // Hosts and tenants, from real reports.
    await seedReports(store, tenants, now);
    // 35 days of hour rows per tenant (and per host).
    const ids = store.db.prepare<[], { id: number; name: string }>('SELECT id, name FROM tenants ORDER BY name').all();
    const hostIds = store.db.prepare<[], { id: number }>('SELECT id FROM hosts').all();
    const insert = store.db.prepare<[number, number, Buffer]>('INSERT OR REPLACE INTO hour (series, bucket, data) VALUES (?, ?, ?)');
    const w = new Writer(1024);
    const hoursBack = (days + 5) * 24;
    let hourRows = 0;
    // Time-major, as flushes append them: every tenant's hour h, then h + 1.
    for (let h = hoursBack; h > 1; h -= 24) {
      store.db.transaction(() => {
        for (let hh = h; hh > Math.max(1, h - 24); hh--) {
          const bucket = now - hh * HOUR;
          ids.forEach(({ id }, k) => {
            insert.run(id, bucket, hourRow(k, hh, w));
            hourRows++;
          });
          const hacc = newAcc(HOST_WIDTH);
          hacc.n = 720;
          for (const { id } of hostIds) insert.run(-id, bucket, encodeAcc(hacc, HOST_WIDTH, w));
        }
      })();
    }
    store.db.pragma('wal_checkpoint(TRUNCATE)');

    // Reads through the store.
    const names = ids.map((r) => r.name);
    const pick = (i: number) => names[(i * 7919) % names.length]!;
    const { times: storeTimes, points } = await timeReads(store, names, { from: now - days * DAY, to: now, stepMs: HOUR }, reads);

    // Reads through HTTP.
    const tokens = new TokenRegistry();
    tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    const app = await buildApp({ store, tokens, now: () => now });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const path = (name: string) => `/v1/tenants/${name}/usage?from=${days}d&step=1h`;
    for (let i = 0; i < 20; i++) await get(port, path(pick(i)));
    const httpTimes: number[] = [];
    let responseBytes = 0;
    for (let i = 0; i < reads; i++) {
      const t0 = performance.now();
      const r = await get(port, path(pick(i)));
      httpTimes.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`GET ${path(pick(i))}: ${r.status}`);
      responseBytes = r.bytes;
    }
    await app.close();

    // Baseline: raw rows indexed by (tenant, time), grouped at read time.
    const naive = new Database(join(dir, 'naive.db'));
    naive.pragma('journal_mode = WAL');
    naive.pragma('synchronous = NORMAL');
    naive.exec(`CREATE TABLE samples (tenant TEXT NOT NULL, at INTEGER NOT NULL, cpu REAL, mem_current INTEGER, mem_anon INTEGER, mem_file INTEGER,
      io_rbps REAL, io_wbps REAL, io_riops REAL, io_wiops REAL, processes INTEGER, psi_cpu REAL, psi_mem REAL, psi_io REAL);
      CREATE INDEX samples_tenant_at ON samples (tenant, at);`);
    const ins = naive.prepare('INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const target = 'tenant0500';
    let baselineRows = 0;
    naive.transaction(() => {
      for (let t = now - days * DAY; t < now; t += 5000) {
        ins.run(target, t, (t / 5000) % 100, 268435456, 209715200, 58720256, 1000, 2000, 10, 25, 12, 0.1, 0, 0.25);
        baselineRows++;
      }
    })();
    naive.pragma('wal_checkpoint(TRUNCATE)');
    const sel = naive.prepare(`SELECT at / ${HOUR} AS h, count(*) AS n, avg(cpu), max(cpu), avg(mem_current), max(mem_current), avg(mem_anon), max(mem_anon), avg(mem_file), max(mem_file),
      avg(io_rbps), max(io_rbps), avg(io_wbps), max(io_wbps), avg(io_riops), max(io_riops), avg(io_wiops), max(io_wiops), avg(processes), max(processes),
      avg(psi_cpu), max(psi_cpu), avg(psi_mem), max(psi_mem), avg(psi_io), max(psi_io)
      FROM samples WHERE tenant = ? AND at >= ? AND at < ? GROUP BY h ORDER BY h`);
    sel.all(target, now - days * DAY, now);
    const baseTimes: number[] = [];
    for (let i = 0; i < Math.max(5, Math.min(30, reads / 10)); i++) {
      const t0 = performance.now();
      const rows = sel.all(target, now - days * DAY, now);
      baseTimes.push(performance.now() - t0);
      if (rows.length !== days * 24) throw new Error(`baseline: ${rows.length} hours`);
    }
    naive.close();

    httpTimes.sort((a, b) => a - b);
    baseTimes.sort((a, b) => a - b);
    return {
      tenants: ids.length,
      hourRows,
      points,
      storeMedianMs: quantile(storeTimes, 0.5),
      storeP99Ms: quantile(storeTimes, 0.99),
      httpMedianMs: quantile(httpTimes, 0.5),
      httpP99Ms: quantile(httpTimes, 0.99),
      responseBytes,
      baselineRows,
      baselineMedianMs: quantile(baseTimes, 0.5),
      baselineP99Ms: quantile(baseTimes, 0.99),
      ratio: quantile(baseTimes, 0.5) / quantile(storeTimes, 0.5),
      postgres: await benchHistoryPostgres(tenants, days, reads, now),
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printHistory(r: HistoryBenchResult): void {
  console.log(
    `history read: 30 days of one tenant at 1 h step (${r.points} points), ${r.tenants} tenants of history (${r.hourRows.toLocaleString('en')} hour rows): ` +
      `store median ${r.storeMedianMs.toFixed(2)} ms, p99 ${r.storeP99Ms.toFixed(2)} ms; HTTP GET median ${r.httpMedianMs.toFixed(2)} ms, p99 ${r.httpP99Ms.toFixed(2)} ms ` +
      `(${Math.round(r.responseBytes / 1024)} KiB JSON) (goal < 10 ms)`,
  );
  console.log(
    `  baseline (${r.baselineRows.toLocaleString('en')} raw rows indexed by (tenant, time), GROUP BY hour): median ${r.baselineMedianMs.toFixed(1)} ms, p99 ${r.baselineP99Ms.toFixed(1)} ms; ` +
      `store is ${r.ratio.toFixed(0)}x faster`,
  );
  const pg = r.postgres;
  if (pg && 'skipped' in pg) console.log(`  postgres: not measured (${pg.skipped})`);
  else if (pg)
    console.log(
      `  postgres store (${pg.hourRows.toLocaleString('en')} hour rows written in ${pg.loadSeconds.toFixed(0)} s, db ${(pg.dbBytes / 1048576).toFixed(0)} MiB): ` +
        `median ${pg.storeMedianMs.toFixed(2)} ms, p99 ${pg.storeP99Ms.toFixed(2)} ms (goal < 20); ${(pg.storeMedianMs / r.storeMedianMs).toFixed(1)}x the SQLite store's median`,
    );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printHistory(await benchHistory());
