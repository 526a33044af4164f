// The tenant page's speed (issue 14): in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), from navigation start until every chart has drawn, for a tenant page with 30 days of
// 1 h points and 24 h of minute points (5 resources each: 10 charts, 10,800 plotted points); goal under 1 s.
// Baseline in the same run: the same page whose usage answers hold no point (same requests, same scripts,
// nothing to draw). Also the total gzip size of the built UI (goal <= 200 KB).
//
// The page is the built one (dist/ui) served with the contract's headers; its API is answered here from
// series made up in memory, in the API's shape, so the figure is the page's own cost (reading the history is
// the history bench's).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { sendAsset, sendJson, sendPage } from './ui-static.js';

const UI_DIR = resolve(import.meta.dirname, '../ui');
const CHROMIUM = '/usr/bin/chromium';
const GOAL_MS = 1000;
const GOAL_GZIP = 200 * 1024;
const METRICS: Record<string, { unit: string; base: number; spread: number }> = {
  cpu_percent: { unit: '% of one core', base: 40, spread: 60 },
  memory_current: { unit: 'bytes', base: 300e6, spread: 200e6 },
  io_read_bps: { unit: 'bytes/s', base: 2e6, spread: 8e6 },
  io_write_bps: { unit: 'bytes/s', base: 1e6, spread: 4e6 },
  processes: { unit: 'tasks', base: 20, spread: 30 },
};

export interface UiBenchResult {
  runs: number;
  points: number;
  medianMs: number;
  p90Ms: number;
  baselineMedianMs: number;
  baselineP90Ms: number;
  /** A static page with nothing in it, to its load event: what the machine allows at the time. */
  plainMedianMs: number;
  gzipBytes: number;
  rawBytes: number;
  files: number;
}

/** A usage answer of `n` points of `stepS` seconds ending now (empty: no point). */
function usage(n: number, stepS: number, empty: boolean): string {
  const to = Math.floor(Date.now() / 1000 / stepS) * stepS;
  const times: string[] = [];
  const series: Record<string, { unit: string; avg: number[]; max: number[] }> = {};
  if (!empty) for (let i = 0; i < n; i++) times.push(new Date((to - (n - i) * stepS) * 1000).toISOString());
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const [m, d] of Object.entries(METRICS)) {
    const avg = times.map((_, i) => Math.round(d.base + d.spread * (0.5 + 0.4 * Math.sin(i / 37)) * rnd()));
    series[m] = { unit: d.unit, avg, max: avg.map((v) => Math.round(v * (1 + rnd()))) };
  }
  // A throttle now and then, so the shading is drawn too.
  const level = times.map((_, i) => (i % 200 < 12 ? 1 : 0));
  series.throttle_level = { unit: 'level', avg: level, max: level };
  series.frozen = { unit: '0/1', avg: times.map(() => 0), max: times.map(() => 0) };
  return JSON.stringify({ tenant: 'bench', host: 'bench-host', from: new Date((to - n * stepS) * 1000).toISOString(), to: new Date(to * 1000).toISOString(), step_seconds: stepS, source: stepS >= 3600 ? 'hour' : 'minute', times, samples: times.map(() => stepS / 5), series });
}

export async function serve(): Promise<{ server: Server; url: string }> {
  const answers = {
    full: { '1m': usage(1440, 60, false), '1h': usage(720, 3600, false) },
    empty: { '1m': usage(1440, 60, true), '1h': usage(720, 3600, true) },
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/t\/(full|empty)(?:\/api\/(\w+))?$/.exec(url.pathname);
    const a = /^\/t\/assets\/([^/]+)$/.exec(url.pathname);
    if (a) return sendAsset(res, UI_DIR, a[1]!);
    if (url.pathname === '/plain') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<!doctype html><title>plain</title><p>a page with nothing in it</p>');
    }
    if (!m) return sendJson(res, 404, { error: 'not_found', message: url.pathname });
    const kind = m[1] as 'full' | 'empty';
    switch (m[2]) {
      case undefined:
        return sendPage(res, UI_DIR, 'tenant.html');
      case 'summary':
        return sendJson(res, 200, { tenant: 'bench', plan: { name: 'basic', cpu: 100, memory: 1 << 30, io_read: 20e6, io_write: 10e6, processes: 100, weight: 1 }, contact: { email: 'support@example.net' }, hosts: ['bench-host'] });
      case 'incidents':
        return sendJson(res, 200, { incidents: [] });
      case 'remediation':
        return sendJson(res, 200, { cases: [] });
      case 'usage': {
        const body = answers[kind][url.searchParams.get('step') === '1h' ? '1h' : '1m'];
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        return void res.end(body);
      }
      default:
        return sendJson(res, 404, { error: 'not_found', message: url.pathname });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

/**
 * Every chart drawn: the time since navigation start, read in the page at the first frame that sees it. A
 * function, not a string: a string would be eval'ed in the page, which its CSP forbids (no DOM types here).
 */
function drawn(): number | false {
  const d = (globalThis as unknown as { document: { querySelector(s: string): unknown; querySelectorAll(s: string): ArrayLike<{ dataset: Record<string, string> }> } }).document;
  const charts = Array.from(d.querySelectorAll('figure.chart'));
  return d.querySelector('#page[data-loaded="1"]') && charts.length === 10 && charts.every((c) => c.dataset.ready === '1') ? performance.now() : false;
}

export function uiAssetSizes(dir = UI_DIR): { gzipBytes: number; rawBytes: number; files: number } {
  const files = [...['index.html', 'tenant.html'].map((f) => join(dir, f)), ...readdirSync(join(dir, 'assets')).map((f) => join(dir, 'assets', f))].filter((f) => statSync(f).isFile());
  let gzipBytes = 0;
  let rawBytes = 0;
  for (const f of files) {
    const b = readFileSync(f);
    rawBytes += b.length;
    gzipBytes += gzipSync(b, { level: 9 }).length;
  }
  return { gzipBytes, rawBytes, files: files.length };
}

export async function benchUi(runs = 12): Promise<UiBenchResult> {
  const sizes = uiAssetSizes();
  const { server, url } = await serve();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const times: Record<'full' | 'empty' | 'plain', number[]> = { full: [], empty: [], plain: [] };
  try {
    // One warm-up each (the browser's own start), then alternating runs, each in a fresh context (no cache).
    for (let i = -1; i < runs; i++) {
      for (const kind of ['full', 'empty'] as const) {
        const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
        const page = await context.newPage();
        await page.goto(`${url}/t/${kind}`);
        const ms = (await (await page.waitForFunction(drawn, null, { polling: 'raf', timeout: 30_000 })).jsonValue()) as number;
        if (i >= 0) times[kind].push(ms);
        await context.close();
      }
      // The floor of this machine at this moment: a static page with nothing to load, to its load event.
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${url}/plain`);
      const plain = (await page.evaluate(() => performance.now())) as number;
      if (i >= 0) times.plain.push(plain);
      await context.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  return {
    runs,
    points: 5 * (1440 + 720),
    medianMs: q(times.full, 0.5),
    p90Ms: q(times.full, 0.9),
    baselineMedianMs: q(times.empty, 0.5),
    baselineP90Ms: q(times.empty, 0.9),
    plainMedianMs: q(times.plain, 0.5),
    ...sizes,
  };
}

export function printUi(r: UiBenchResult): void {
  console.log(
    `tenant page, 10 charts (30 d of 1 h points + 24 h of minute points, ${r.points} points): navigation start to charts drawn median ${r.medianMs.toFixed(0)} ms, p90 ${r.p90Ms.toFixed(0)} ms (${r.runs} runs, headless chromium); ` +
      `baseline (same page, no point to draw) median ${r.baselineMedianMs.toFixed(0)} ms, p90 ${r.baselineP90Ms.toFixed(0)} ms; ratio ${(r.medianMs / r.baselineMedianMs).toFixed(2)}x; a static page with nothing in it: ${r.plainMedianMs.toFixed(0)} ms; goal < ${GOAL_MS} ms: ${r.medianMs < GOAL_MS ? 'met' : 'NOT met'}`,
  );
  console.log(`UI assets: ${(r.gzipBytes / 1024).toFixed(1)} KB gzip in all (${r.files} files, ${(r.rawBytes / 1024).toFixed(1)} KB raw); goal <= ${GOAL_GZIP / 1024} KB: ${r.gzipBytes <= GOAL_GZIP ? 'met' : 'NOT met'}`);
}
