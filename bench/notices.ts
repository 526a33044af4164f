// What notices cost the controller (issue 6): (1) the ingest of reports that carry incident events, with the
// notices hook writing and rendering a row per event inside the transaction, against the same ingest without
// the hook, measured in the same run on fresh databases; (2) delivery into the outbox directory (compose with
// nodemailer, write, fsync, rename) against writing and fsyncing the same number of same-size files. Both
// with notices.caps out of the way (every notice goes out, as before caps existed). (3) The flood of one report
// (2,000 tenants and 2,000 quarantines): its ingest with the default caps against caps out of the way, and
// how many notices each queued at once.
//
//   node dist/bench/notices.js [--reports N] [--events N] [--deliveries N]
import { closeSync, fsyncSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseControllerConfig } from '../controller/config.js';
import { prepareReport } from '../controller/ingest/prepare.js';
import { MAX_CAP } from '../controller/notices/caps.js';
import { OutboxDirMailer } from '../controller/notices/mailer.js';
import { NoticeOutbox } from '../controller/notices/outbox.js';
import { NoticeSender } from '../controller/notices/sender.js';
import { loadTemplates } from '../controller/notices/templates.js';
import { SqliteStore } from '../controller/store/sqlite/sqlite-store.js';
import type { IncidentEvent, Report } from '../shared/wire/agent.js';

export interface NoticesBenchResult {
  reports: number;
  eventsPerReport: number;
  baselineEventsPerSecond: number;
  noticesEventsPerSecond: number;
  /** Extra time per event with the hook, microseconds. */
  addedMicrosPerEvent: number;
  ratio: number;
  deliveries: number;
  deliveriesPerSecond: number;
  fileWritesPerSecond: number;
  averageMessageBytes: number;
  flood: { events: number; bytes: number; cappedMs: number; cappedQueued: number; cappedHeld: number; uncappedMs: number; uncappedQueued: number };
}

/** notices.caps so high that nothing is held (the measurements made before caps existed). */
const NO_CAPS = { per_host_hour: { warning: MAX_CAP, throttle: MAX_CAP, quarantine: MAX_CAP, release: MAX_CAP, digest: MAX_CAP }, per_report: MAX_CAP };

function event(tenant: string, n: number, at: number, quarantine = false): IncidentEvent {
  const level = quarantine ? 3 : n % 3;
  return {
    id: `${tenant}-cpu-${at}:${n}`,
    incident: `${tenant}-cpu-${at}`,
    tenant,
    resource: 'cpu',
    rule: 'contention_disproportion',
    type: level === 0 ? 'opened' : 'escalated',
    step: level === 0 ? 'notice' : level === 3 ? 'quarantine' : 'throttle',
    level,
    at: new Date(at).toISOString(),
    explanation: {
      summary: `${tenant} used 152.3% of one core over the last 30s, 61.2% of the server's cpu use, against a fair share of 12.5% (x2 allowed = 25%), while the server was contended: cpu pressure 42% (threshold 20%).`,
      rule: 'contention_disproportion',
      resource: 'cpu',
      measured: { value: 152.3, unit: '% of one core' },
      threshold: { value: 62.2, unit: '% of one core', kind: 'fair_share' },
      share: { tenant: 0.612, fair: 0.125, dominant: 0.612, weight: 1, factor: 2 },
      window_seconds: 30,
      contention: { contended: true, signals: [{ resource: 'cpu', metric: 'psi_some_avg10', value: 42, threshold: 20 }] },
      top_processes: [
        { pid: 4242, command: `php-fpm: pool ${tenant}`, cpu_percent: 91.5, rss_bytes: 104_857_600, user: tenant },
        { pid: 4243, command: `/usr/bin/php /home/${tenant}/cron/import.php --all`, cpu_percent: 40, rss_bytes: 52_428_800, user: tenant },
      ],
      action: 'Throttled (level 1): cpu limited to 76.2% of one core, and its scheduling weight lowered.',
      avoid: 'Keeping cpu use below about 62.2% of one core (your fair share x2) while the server is busy would have avoided this.',
    },
  };
}

function reports(n: number, perReport: number, t0: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const at = t0 + i * 5000;
    const events = Array.from({ length: perReport }, (_, k) => event(`t${(i * perReport + k) % 500}`, i * perReport + k, at));
    const r: Report = {
      version: 1,
      host: 'web01',
      seq: i + 1,
      at: new Date(at).toISOString(),
      sent_at: new Date(at).toISOString(),
      interval: 5,
      host_stats: { cores: 8, memory_bytes: 32 << 30 },
      samples: [{ tenant: 't0', cpu: { percent: 10 } }],
      events,
      ...(i === 0 ? { tenants: Array.from({ length: 500 }, (_, k) => ({ name: `t${k}`, email: `t${k}@example.com` })) } : {}),
    };
    out.push(Buffer.from(JSON.stringify(r)));
  }
  return out;
}

async function ingestRun(dir: string, bodies: Buffer[], withNotices: boolean, t0: number): Promise<number> {
  const store = new SqliteStore({ file: join(dir, `${withNotices ? 'notices' : 'baseline'}.db`), now: () => t0 + 3_600_000 });
  try {
    if (withNotices) {
      const config = parseControllerConfig({ state_dir: dir, notices: { caps: NO_CAPS } });
      const outbox = new NoticeOutbox({ store: store.notices, config: config.notices, templates: loadTemplates(), domain: 'example.com' });
      store.onIncidentEvents((events, tx) => outbox.enqueueEvents(events, tx));
    }
    const started = performance.now();
    for (const b of bodies) {
      const p = prepareReport(b);
      if (!p.ok) throw new Error(p.message);
      await store.ingest(p.report);
    }
    return performance.now() - started;
  } finally {
    await store.close();
  }
}

export async function benchNotices(opts: { reports?: number; eventsPerReport?: number; deliveries?: number } = {}): Promise<NoticesBenchResult> {
  const n = opts.reports ?? 400;
  const k = opts.eventsPerReport ?? 10;
  const deliveries = opts.deliveries ?? 300;
  const dir = mkdtempSync(join(tmpdir(), 'hw-bench-notices-'));
  try {
    const t0 = Date.UTC(2026, 0, 1);
    const bodies = reports(n, k, t0);
    // Alternate the two, best of three, each on a fresh database.
    let base = Number.POSITIVE_INFINITY;
    let withNotices = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 3; round++) {
      for (const f of ['baseline.db', 'baseline.db-wal', 'baseline.db-shm', 'notices.db', 'notices.db-wal', 'notices.db-shm']) rmSync(join(dir, f), { force: true });
      base = Math.min(base, await ingestRun(dir, bodies, false, t0));
      withNotices = Math.min(withNotices, await ingestRun(dir, bodies, true, t0));
    }
    const events = n * k;

    // Delivery into the outbox directory.
    const store = new SqliteStore({ file: join(dir, 'deliver.db'), now: () => t0 + 3_600_000 });
    let deliveredMs = 0;
    let bytes = 0;
    try {
      const config = parseControllerConfig({ state_dir: dir, notices: { caps: NO_CAPS } });
      const outbox = new NoticeOutbox({ store: store.notices, config: config.notices, templates: loadTemplates(), domain: 'example.com' });
      store.onIncidentEvents((evs, tx) => outbox.enqueueEvents(evs, tx));
      const per = 10;
      for (const b of reports(Math.ceil(deliveries / per), per, t0)) {
        const p = prepareReport(b);
        if (!p.ok) throw new Error(p.message);
        await store.ingest(p.report);
      }
      const sender = new NoticeSender({ outbox, mailer: new OutboxDirMailer(join(dir, 'outbox'), { from: 'Hosting <noreply@example.com>' }), now: () => t0 + 3_600_000, retry: config.notices.retry });
      const started = performance.now();
      const sent = await sender.runOnce();
      deliveredMs = performance.now() - started;
      if (sent !== Math.ceil(deliveries / per) * per) throw new Error(`delivered ${sent}`);
      for (const r of await outbox.list({ limit: 10 })) bytes += (r.body_text?.length ?? 0) + (r.body_html?.length ?? 0);
      bytes = Math.round((bytes / Math.min(10, sent)) * 1.1);
      await sender.close();
    } finally {
      await store.close();
    }
    // Baseline: the same number of files of the same size, written, fsynced and renamed.
    const payload = Buffer.alloc(bytes, 'x');
    const started = performance.now();
    for (let i = 0; i < deliveries; i++) {
      const tmp = join(dir, `.f${i}.tmp`);
      const fd = openSync(tmp, 'w');
      writeSync(fd, payload);
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, join(dir, `f${i}.eml`));
    }
    const filesMs = performance.now() - started;
    const flood = await floodRun(dir, t0);
    return {
      reports: n,
      eventsPerReport: k,
      baselineEventsPerSecond: events / (base / 1000),
      noticesEventsPerSecond: events / (withNotices / 1000),
      addedMicrosPerEvent: ((withNotices - base) * 1000) / events,
      ratio: withNotices / base,
      deliveries,
      deliveriesPerSecond: deliveries / (deliveredMs / 1000),
      fileWritesPerSecond: deliveries / (filesMs / 1000),
      averageMessageBytes: bytes,
      flood,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The item-3 report: 2,000 tenants with addresses and a quarantine each, in one report of one host. */
async function floodRun(dir: string, t0: number): Promise<NoticesBenchResult['flood']> {
  const n = 2000;
  const at = t0;
  const r: Report = {
    version: 1,
    host: 'web01',
    seq: 1,
    at: new Date(at).toISOString(),
    sent_at: new Date(at).toISOString(),
    interval: 5,
    host_stats: { cores: 8, memory_bytes: 32 << 30 },
    samples: [],
    events: Array.from({ length: n }, (_, k) => event(`f${k}`, k, at, true)),
    tenants: Array.from({ length: n }, (_, k) => ({ name: `f${k}`, email: `f${k}@example.com` })),
  };
  const body = Buffer.from(JSON.stringify(r));
  const run = async (capped: boolean, round: number) => {
    let counts = { queued: 0, held: 0 };
    const store = new SqliteStore({ file: join(dir, `flood-${capped}-${round}.db`), now: () => at + 1000 });
    try {
      const config = parseControllerConfig({ state_dir: dir, ...(capped ? {} : { notices: { caps: NO_CAPS } }) });
      const outbox = new NoticeOutbox({ store: store.notices, config: config.notices, templates: loadTemplates(), domain: 'example.com' });
      store.onIncidentEvents((evs, tx) => void (counts = outbox.enqueueEvents(evs, tx)));
      const started = performance.now();
      const p = prepareReport(body);
      if (!p.ok) throw new Error(p.message);
      await store.ingest(p.report);
      return { ms: performance.now() - started, queued: counts.queued, held: counts.held };
    } finally {
      await store.close();
    }
  };
  // Alternate the two, best of three, each on a fresh database.
  let capped = { ms: Number.POSITIVE_INFINITY, queued: 0, held: 0 };
  let uncapped = { ms: Number.POSITIVE_INFINITY, queued: 0, held: 0 };
  for (let round = 0; round < 3; round++) {
    const u = await run(false, round);
    if (u.ms < uncapped.ms) uncapped = u;
    const c = await run(true, round);
    if (c.ms < capped.ms) capped = c;
  }
  return { events: n, bytes: body.length, cappedMs: capped.ms, cappedQueued: capped.queued, cappedHeld: capped.held, uncappedMs: uncapped.ms, uncappedQueued: uncapped.queued };
}

export function printNotices(r: NoticesBenchResult): void {
  const f = (v: number) => Math.round(v).toLocaleString('en-US');
  console.log(`ingest of ${r.reports} reports x ${r.eventsPerReport} incident events (500 tenants), best of 3:`);
  console.log(`  without notices (baseline)  ${f(r.baselineEventsPerSecond)} events/s`);
  console.log(`  with notices                ${f(r.noticesEventsPerSecond)} events/s   (+${r.addedMicrosPerEvent.toFixed(1)} us per event: classify, rate limit, render text+HTML, insert; x${r.ratio.toFixed(2)} the baseline time)`);
  console.log(`delivery of ${r.deliveries} notices into the outbox directory (~${f(r.averageMessageBytes)} bytes each):`);
  console.log(`  notices (compose, write, fsync, rename, mark sent)  ${f(r.deliveriesPerSecond)} /s`);
  console.log(`  baseline: write, fsync, rename same-size files      ${f(r.fileWritesPerSecond)} /s   (x${(r.fileWritesPerSecond / r.deliveriesPerSecond).toFixed(2)})`);
  const x = r.flood;
  console.log(`one report of ${f(x.events)} tenants and ${f(x.events)} quarantines (${(x.bytes / 1e6).toFixed(1)} MB), ingest best of 3:`);
  console.log(`  default notices.caps   ${f(x.cappedMs)} ms   ${f(x.cappedQueued)} queued at once, ${f(x.cappedHeld)} held (sent as the hour frees slots)`);
  console.log(`  caps out of the way    ${f(x.uncappedMs)} ms   ${f(x.uncappedQueued)} queued at once`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { reports: { type: 'string' }, events: { type: 'string' }, deliveries: { type: 'string' } } });
  printNotices(
    await benchNotices({
      ...(values.reports ? { reports: Number(values.reports) } : {}),
      ...(values.events ? { eventsPerReport: Number(values.events) } : {}),
      ...(values.deliveries ? { deliveries: Number(values.deliveries) } : {}),
    }),
  );
}
