// Access-log lines parsed and attributed per CPU-second, per format (goal: >= 300k lines/s per core for
// vhost_combined). What is timed is the agent's own collector (agent/weblogs/weblogs.ts) reading a file of
// generated lines: read in chunks, split, parse, attribute by virtual host (1,000 tenants with exact and
// wildcard domains), API-path match, count per tenant and minute. Baseline in the same run: the same bytes
// read with the same chunk size and only split into lines. CPU time (user + system) of this process, so the
// figure is per core whatever else loads the machine.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../shared/log.js';
import type { CollectContext } from '../agent/collectors/collector.js';
import type { Tenant } from '../agent/tenants.js';
import { DEFAULT_API_PATHS } from '../agent/weblogs/attribute.js';
import type { LogFormat } from '../agent/weblogs/parse.js';
import { WebLogs } from '../agent/weblogs/weblogs.js';

const LINES = 400_000;
const TENANTS = 1000;
const CHUNK = 1024 * 1024;
const GOAL = 300_000;
const PATHS = ['/', '/index.php?p=12', '/wp-json/wp/v2/posts', '/api/v1/orders/1234', '/static/app.3f2a.js', '/xmlrpc.php', '/images/logo.png', '/graphql'];
const AGENTS = ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36', 'curl/8.5.0', 'Googlebot/2.1 (+http://www.google.com/bot.html)'];

export interface LogsBenchRow {
  format: LogFormat;
  lines: number;
  bytes: number;
  linesPerCpuSecond: number;
  baselinePerCpuSecond: number;
  ratio: number;
}

function tenants(): Tenant[] {
  return Array.from({ length: TENANTS }, (_, i) => ({ name: `t${i}`, uids: [], homes: [], domains: [`site${i}.example`, `*.site${i}.example`], source: 'config' as const }));
}

function generate(format: LogFormat): string {
  const out: string[] = [];
  const t0 = Date.UTC(2026, 11, 6, 13, 0, 0);
  for (let i = 0; i < LINES; i++) {
    const host = i % 3 === 0 ? `www.site${i % TENANTS}.example` : `site${(i * 7) % TENANTS}.example`;
    const path = PATHS[i % PATHS.length]!;
    const status = i % 50 === 0 ? 502 : 200;
    const bytes = 200 + ((i * 37) % 20_000);
    const at = new Date(t0 + Math.floor(i / 2000) * 1000); // 200 s: ~4 minutes x 1,000 tenants of rows
    const time = `${String(at.getUTCDate()).padStart(2, '0')}/Dec/2026:${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}:${String(at.getUTCSeconds()).padStart(2, '0')} +0000`;
    const client = `10.${i % 256}.${(i >> 8) % 256}.${(i >> 16) % 256}`;
    const rest = `${client} - - [${time}] "GET ${path} HTTP/1.1" ${status} ${bytes} "https://site${i % TENANTS}.example/" "${AGENTS[i % AGENTS.length]}"`;
    if (format === 'vhost_combined') out.push(`${host}:443 ${rest}`);
    else if (format === 'combined') out.push(rest);
    else out.push(JSON.stringify({ time: at.toISOString(), host, uri: path, status: String(status), bytes: String(bytes), remote_addr: client, user_agent: AGENTS[i % AGENTS.length] }));
  }
  return `${out.join('\n')}\n`;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The baseline: read the file in chunks of the same size and split into lines (count them), nothing else. */
function splitOnly(file: string): number {
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(file, 'r');
  let off = 0;
  let lines = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, CHUNK, off);
    if (n === 0) break;
    const last = buf.lastIndexOf(0x0a, n - 1);
    const text = buf.toString('latin1', 0, last);
    for (let i = 0; i <= text.length; ) {
      let e = text.indexOf('\n', i);
      if (e < 0) e = text.length;
      if (e > i) lines++;
      i = e + 1;
    }
    off += last + 1;
  }
  closeSync(fd);
  return lines;
}

function collectAll(file: string, format: LogFormat, list: Tenant[]): number {
  const log = createLogger('bench', 'silent');
  const web = new WebLogs(
    { sources: [{ path: file, format, ...(format === 'combined' ? { tenant: 't1' } : {}), startAtEnd: false }], apiPaths: [...DEFAULT_API_PATHS], tenantApiPaths: {}, chunkBytes: CHUNK, tickBytes: 1 << 30, tickMs: 1e9 },
    undefined,
    log,
  );
  const ctx: CollectContext = { mono: performance.now(), tenants: list, stats: new Map(), samples: new Map(), host: { cores: 1, memory_bytes: 1 } };
  web.collect(ctx);
  const batch = web.pending()!;
  web.close();
  return batch.stats.lines;
}

function best(fn: () => number, runs: number): { ms: number; lines: number } {
  let ms = Infinity;
  let lines = 0;
  for (let i = 0; i < runs; i++) {
    const c0 = cpuMs();
    lines = fn();
    ms = Math.min(ms, cpuMs() - c0);
  }
  return { ms, lines };
}

export async function benchLogs(runs = 5): Promise<LogsBenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hw-bench-logs-'));
  const rows: LogsBenchRow[] = [];
  try {
    const list = tenants();
    for (const format of ['vhost_combined', 'combined', 'json'] as const) {
      const text = generate(format);
      const file = join(dir, `${format}.log`);
      writeFileSync(file, text);
      best(() => collectAll(file, format, list), 1); // warm-up
      const parsed = best(() => collectAll(file, format, list), runs);
      const base = best(() => splitOnly(file), runs);
      if (parsed.lines !== LINES || base.lines !== LINES) throw new Error(`${format}: read ${parsed.lines} and ${base.lines} lines of ${LINES}`);
      const linesPerCpuSecond = LINES / (parsed.ms / 1000);
      const baselinePerCpuSecond = LINES / (base.ms / 1000);
      rows.push({ format, lines: LINES, bytes: text.length, linesPerCpuSecond, baselinePerCpuSecond, ratio: parsed.ms / base.ms });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function printLogs(rows: LogsBenchRow[]): void {
  for (const r of rows) {
    const goal = r.format === 'vhost_combined' ? `; goal >= ${GOAL / 1000}k lines/s per core: ${r.linesPerCpuSecond >= GOAL ? 'met' : 'NOT met'}` : '';
    console.log(
      `access logs, ${r.format}: ${Math.round(r.linesPerCpuSecond / 1000)}k lines/s per core parsed and attributed (${r.lines} lines, ${(r.bytes / r.lines).toFixed(0)} bytes each, ${TENANTS} tenants); ` +
        `baseline (split into lines only) ${Math.round(r.baselinePerCpuSecond / 1000)}k lines/s, ratio ${r.ratio.toFixed(2)}x${goal}`,
    );
  }
}
