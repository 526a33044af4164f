// The web-logs collector with a real spool: counts per tenant and minute, a burst read over several ticks within
// the byte budget, cursors committed with the batch in the spool's transaction (a new collector from the spool
// goes on where the last spooled batch ended: nothing twice, nothing lost), a rollback re-reads.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Section } from '../../../../shared/config.js';
import { ConfigError } from '../../../../shared/errors.js';
import { createLogger } from '../../../../shared/log.js';
import type { CollectContext } from '../../../../agent/collectors/collector.js';
import type { Tenant } from '../../../../agent/tenants.js';
import { Spool } from '../../../../agent/transport/spool.js';
import { readWebConfig, type WebConfig } from '../../../../agent/weblogs/config.js';
import { WEBLOGS_META_KEY, WebLogs } from '../../../../agent/weblogs/weblogs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const log = createLogger('test', 'silent');
const TENANTS: Tenant[] = [
  { name: 'alice', uids: [], homes: [], domains: ['alice.test', '*.alice.test'], source: 'config' },
  { name: 'bob', uids: [], homes: [], domains: ['bob.test'], source: 'config' },
];
const line = (host: string, path: string, status: number, bytes: number, minute = 7) => `${host}:80 10.0.0.1 - - [06/Dec/2026:13:${String(minute).padStart(2, '0')}:30 +0000] "GET ${path} HTTP/1.1" ${status} ${bytes} "-" "t"\n`;

function setup(overrides: Partial<WebConfig> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hw-weblogs-'));
  dirs.push(dir);
  const path = join(dir, 'access.log');
  writeFileSync(path, '');
  const config: WebConfig = { sources: [{ path, format: 'vhost_combined', startAtEnd: true }], apiPaths: ['/api/'], tenantApiPaths: { bob: ['/rest/'] }, chunkBytes: 4096, tickBytes: 1 << 20, tickMs: 10_000, ...overrides };
  const spool = new Spool(join(dir, 'state'));
  let mono = 0;
  const collect = (w: WebLogs, samples: CollectContext['samples'] = new Map()) => {
    const ctx: CollectContext = { mono: (mono += 1000), tenants: TENANTS, stats: new Map(), samples, host: { cores: 1, memory_bytes: 1 } };
    w.collect(ctx);
    return ctx;
  };
  /** A tick's spool step: the batch and its cursors in one transaction. */
  const spoolTick = (w: WebLogs) => {
    const b = w.pending()!;
    spool.enqueue((seq) => ({ version: 1, host: 'h', seq, at: new Date().toISOString(), interval: 1, host_stats: { cores: 1, memory_bytes: 1 }, samples: [], web: b.web, web_logs: b.stats }), b.meta);
    w.commit(b);
    return b;
  };
  const reported = () => spool.pending(1000).map((r) => JSON.parse(String(r.body)) as { web: Array<{ tenant: string; requests: number; api_calls: number; bytes: number; errors_5xx: number }>; web_logs: { lines: number; unparsed: number } });
  const totals = (tenant: string) =>
    reported()
      .flatMap((r) => r.web)
      .filter((m) => m.tenant === tenant)
      .reduce((a, m) => ({ requests: a.requests + m.requests, api_calls: a.api_calls + m.api_calls, bytes: a.bytes + m.bytes, errors_5xx: a.errors_5xx + m.errors_5xx }), { requests: 0, api_calls: 0, bytes: 0, errors_5xx: 0 });
  const fresh = () => new WebLogs(config, spool.getMeta(WEBLOGS_META_KEY), log);
  return { path, config, spool, collect, spoolTick, reported, totals, fresh };
}

describe('WebLogs', () => {
  it('counts per tenant and minute: requests, API calls by the tenant\'s paths, bytes, 5xx; unattributed and unparsed apart', () => {
    const s = setup();
    const w = s.fresh();
    s.collect(w);
    appendFileSync(s.path, line('www.alice.test', '/api/x', 200, 100) + line('alice.test', '/', 503, 50, 8) + line('bob.test', '/api/x', 200, 7) + line('bob.test', '/rest/y', 502, 3) + line('other.test', '/', 200, 1) + 'junk\n');
    const ctx = s.collect(w);
    const b = s.spoolTick(w);
    expect(b.web.sort((x, y) => (x.tenant + x.minute).localeCompare(y.tenant + y.minute))).toEqual([
      { tenant: 'alice', minute: '2026-12-06T13:07:00.000Z', requests: 1, api_calls: 1, bytes: 100, errors_5xx: 0 },
      { tenant: 'alice', minute: '2026-12-06T13:08:00.000Z', requests: 1, api_calls: 0, bytes: 50, errors_5xx: 1 },
      { tenant: 'bob', minute: '2026-12-06T13:07:00.000Z', requests: 2, api_calls: 1, bytes: 10, errors_5xx: 1 },
    ]);
    expect(b.stats).toMatchObject({ lines: 6, unparsed: 1, unattributed: 1 });
    expect(ctx.samples.get('alice')?.api?.per_minute).toBe(60); // one API call in one second
    w.close();
  });

  it("the web server's bytes join the tenant's sent bytes in a new object: the bandwidth collector's is shared and frozen", () => {
    const s = setup();
    const w = s.fresh();
    s.collect(w);
    appendFileSync(s.path, line('alice.test', '/', 200, 3000));
    const held = Object.freeze({ tx_bps: 500, rx_bps: 20 });
    const ctx = s.collect(w, new Map([['alice', { tenant: 'alice', bandwidth: held }]]));
    expect(ctx.samples.get('alice')?.bandwidth).toEqual({ tx_bps: 3500, rx_bps: 20, web_tx_bps: 3000 });
    expect(held).toEqual({ tx_bps: 500, rx_bps: 20 });
    w.close();
  });

  it('a burst of 100k lines is read within the byte budget per tick, all of it over the following ticks', () => {
    const s = setup({ chunkBytes: 64 * 1024, tickBytes: 1024 * 1024 });
    const w = s.fresh();
    s.collect(w);
    let burst = '';
    for (let i = 0; i < 100_000; i++) burst += line(i % 2 ? 'alice.test' : 'bob.test', i % 3 ? '/' : '/api/', 200, i % 1000);
    appendFileSync(s.path, burst);
    const perTick: number[] = [];
    for (let i = 0; i < 100 && s.totals('alice').requests + s.totals('bob').requests < 100_000; i++) {
      s.collect(w);
      perTick.push(s.spoolTick(w).stats.lines);
    }
    expect(Math.max(...perTick)).toBeLessThanOrEqual(Math.ceil((1024 * 1024) / line('bob.test', '/', 200, 0).length));
    expect(perTick.length).toBeGreaterThan(5);
    expect(s.totals('alice').requests + s.totals('bob').requests).toBe(100_000);
    w.close();
  });

  it('a collector started from the spool goes on where the last spooled batch ended; a rollback reads again', () => {
    const s = setup({ chunkBytes: 4096, tickBytes: 8192 });
    let w = s.fresh();
    s.collect(w);
    s.spoolTick(w);
    let n = 0;
    const write = (k: number) => {
      let t = '';
      for (let i = 0; i < k; i++, n++) t += line('alice.test', `/p${n}`, 200, 1);
      appendFileSync(s.path, t);
    };
    write(300);
    s.collect(w);
    s.spoolTick(w);
    s.collect(w); // read, never spooled: a crash here loses nothing
    w.close();
    w = s.fresh();
    write(100);
    s.collect(w);
    w.rollback(); // the spool refused: read again
    for (let i = 0; i < 20; i++) {
      s.collect(w);
      s.spoolTick(w);
    }
    expect(s.totals('alice').requests).toBe(400);
    w.close();
  });
});

describe('access_logs config', () => {
  const read = (raw: Record<string, unknown>) => readWebConfig(Section.root(raw), [{ name: 'alice' }]);
  it('defaults and errors naming the key', () => {
    expect(read({ access_logs: [{ path: '/var/log/nginx/access.log' }] })).toMatchObject({ sources: [{ format: 'vhost_combined', startAtEnd: true }], apiPaths: ['/api/', '/wp-json/', '/xmlrpc.php', '/graphql'], tickBytes: 16 * 1024 * 1024 });
    expect(read({}).apiCapacity).toBeUndefined(); // no API share in the fairness ledger without it
    expect(read({ api_capacity: 6000 }).apiCapacity).toBe(6000);
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ api_capacity: 0 }, 'api_capacity'],
      [{ api_capacity: 'lots' }, 'api_capacity'],
      [{ access_logs: [{ path: 'relative.log' }] }, 'access_logs[0].path'],
      [{ access_logs: [{ path: '/a', format: 'common' }] }, 'access_logs[0].format'],
      [{ access_logs: [{ path: '/a', format: 'combined' }] }, 'access_logs[0].tenant'],
      [{ access_logs: [{ path: '/a', format: 'combined', tenant: 'nobody' }] }, 'access_logs[0].tenant'],
      [{ access_logs: [{ path: '/a' }, { path: '/a' }] }, 'access_logs[1].path'],
      [{ access_logs: [{ path: '/a', color: 1 }] }, 'access_logs[0].color'],
      [{ api_paths: ['api/'] }, 'api_paths[0]'],
      [{ access_log_budget: { bytes: '1K' } }, 'access_log_budget.bytes'],
    ];
    for (const [raw, key] of bad) {
      let err: unknown;
      try {
        const root = Section.root(raw);
        readWebConfig(root, [{ name: 'alice' }]);
        root.done();
      } catch (e) {
        err = e;
      }
      expect(err, key).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message, key).toContain(key);
    }
  });
});
