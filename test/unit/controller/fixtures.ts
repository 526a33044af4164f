// Builders for controller tests: wire reports and events as an agent sends them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareReport, type PreparedReport } from '../../../controller/ingest/prepare.js';
import { SqliteStore, type SqliteStoreOptions } from '../../../controller/store/sqlite/sqlite-store.js';
import type { Explanation, IncidentEvent, Report, TenantSample } from '../../../shared/wire/agent.js';

export const GiB = 1024 ** 3;
export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export function report(host: string, seq: number, at: number, samples: TenantSample[], extra: Partial<Report> = {}): Report {
  return {
    version: 1,
    host,
    seq,
    at: new Date(at).toISOString(),
    sent_at: new Date(at + 100).toISOString(),
    interval: 5,
    host_stats: { cores: 4, memory_bytes: 16 * GiB },
    samples,
    ...extra,
  };
}

export function prepared(r: Report): PreparedReport {
  const res = prepareReport(Buffer.from(JSON.stringify(r)));
  if (!res.ok) throw new Error(res.message);
  return res.report;
}

export function explanation(summary = 'alice used 380% CPU while the host was contended'): Explanation {
  return {
    summary,
    rule: 'cpu-fair-share',
    resource: 'cpu',
    measured: { value: 380, unit: '%' },
    threshold: { value: 100, unit: '%', kind: 'fair_share' },
    window_seconds: 60,
    contention: { contended: true, signals: [{ resource: 'cpu', metric: 'psi_some_avg10', value: 42, threshold: 20 }] },
    top_processes: [{ pid: 4242, command: 'php-fpm: pool alice', cpu_percent: 180, rss_bytes: 104857600 }],
    action: 'throttled to 200% CPU',
    avoid: 'keep CPU under 100% while the host is busy',
  };
}

export function event(id: string, incident: string, type: IncidentEvent['type'], at: number, extra: Partial<IncidentEvent> = {}): IncidentEvent {
  return {
    id,
    incident,
    tenant: 'alice',
    resource: 'cpu',
    rule: 'cpu-fair-share',
    type,
    step: type === 'released' ? 'release' : type === 'opened' ? 'notice' : 'throttle',
    level: type === 'escalated' ? 1 : 0,
    at: new Date(at).toISOString(),
    explanation: explanation(`${type} at ${new Date(at).toISOString()}`),
    ...extra,
  };
}

/** A clock tests move by hand. */
export class Clock {
  constructor(public t: number) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A store on a fresh SQLite file; `dispose` closes it and removes the directory. */
export function tempStore(opts: Partial<SqliteStoreOptions> = {}): { store: SqliteStore; dir: string; file: string; reopen: (o?: Partial<SqliteStoreOptions>) => Promise<SqliteStore>; dispose: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'hw-store-'));
  const file = join(dir, 'controller.db');
  let store = new SqliteStore({ file, ...opts });
  return {
    get store() {
      return store;
    },
    dir,
    file,
    reopen: async (o = {}) => {
      await store.close();
      store = new SqliteStore({ file, ...opts, ...o });
      return store;
    },
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
