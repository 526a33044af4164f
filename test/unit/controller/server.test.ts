// startController in-process on a free loopback port: the beforeListen hook sees the first report's incident
// events inside their transaction, tokens come from files and hashes, close() flushes and releases the store;
// the app and the periodic job share one rollup flusher.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseControllerConfig } from '../../../controller/config.js';
import { startController } from '../../../controller/server.js';
import type { SqliteStore } from '../../../controller/store/sqlite/sqlite-store.js';
import type { NewIncidentEvent } from '../../../controller/store/store.js';
import { event, report } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('startController', () => {
  it('with database.url, refuses to start while PostgreSQL cannot be reached, naming the database', async () => {
    // Its own admin token file: the default, /etc/hostwarden/admin.token, is made when missing (the machine's).
    const config = parseControllerConfig({ state_dir: join(dir, 'pg-state'), admin_token_file: join(dir, 'pg-admin.token'), database: { url: 'postgresql://hw@127.0.0.1:1/hw' } });
    const err = await startController(config, { log: pino({ level: 'silent' }) }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^database postgresql:\/\/hw@127\.0\.0\.1:1\/hw: .*ECONNREFUSED/);
  });

  it('runs the API with the hooks registered before it listens', async () => {
    writeFileSync(join(dir, 'web01.token'), 'token-of-web01-agent-0001\n');
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, 'state'),
      admin_token_file: join(dir, 'admin.token'),
      agents: [
        { host: 'web01', token_file: join(dir, 'web01.token') },
        { host: 'web02', token_sha256: createHash('sha256').update('token-of-web02-agent-0002').digest('hex') },
      ],
      ingest: { parser_threads: 0 },
    });
    const seen: Array<{ events: string[]; inTransaction: boolean }> = [];
    const running = await startController(config, {
      log: pino({ level: 'silent' }),
      beforeListen: (store) => {
        store.onIncidentEvents((events: NewIncidentEvent[]) => seen.push({ events: events.map((e) => e.event.id), inTransaction: (store as SqliteStore).db.inTransaction }));
      },
    });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const at = Date.now() - 60_000;
      for (const [host, token] of [
        ['web01', 'token-of-web01-agent-0001'],
        ['web02', 'token-of-web02-agent-0002'],
      ] as const) {
        const body = report(host, 1, at, [{ tenant: `${host}-alice`, cpu: { percent: 50 } }], { events: [event(`${host}-e1`, 'i1', 'opened', at, { tenant: `${host}-alice` })] });
        const res = await fetch(`${running.url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(res.status).toBe(202);
      }
      expect(seen).toEqual([
        { events: ['web01-e1'], inTransaction: true },
        { events: ['web02-e1'], inTransaction: true },
      ]);
    } finally {
      await running.close();
    }
    // closed: the database is free for the next controller, and what was in memory was written
    const again = await startController(config, { log: pino({ level: 'silent' }) });
    try {
      expect((await again.store.stats()).bufferedBuckets).toBe(0);
      expect((await again.store.listHosts()).map((h) => h.host)).toEqual(['web01', 'web02']);
    } finally {
      await again.close();
    }
  });

  it('kicks the rollup flush after reports again once the periodic pass followed a failed one', async () => {
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, 'flush-state'),
      admin_token_file: join(dir, 'admin.token'),
      agents: [{ host: 'web01', token_sha256: createHash('sha256').update('token-of-web01-agent-0001').digest('hex') }],
      ingest: { parser_threads: 0 },
    });
    // The store says a host is due when the test says so; its first flush fails as on a full disk.
    const flushes = { due: false, calls: 0, failures: 1 };
    const running = await startController(config, {
      log: pino({ level: 'silent' }),
      periodicFlushMs: 3_600_000, // the test runs the periodic pass itself
      beforeListen: (store) => {
        const flush = store.flush.bind(store);
        store.flushDue = () => flushes.due;
        store.flush = async (opts) => {
          flushes.calls++;
          if (flushes.failures > 0) {
            flushes.failures--;
            throw new Error('SQLITE_FULL: database or disk is full');
          }
          flushes.due = false;
          return flush(opts);
        };
      },
    });
    let seq = 0;
    const post = async () => {
      const body = report('web01', ++seq, Date.now() - 60_000 + seq, [{ tenant: 'alice', cpu: { percent: 5 } }]);
      const res = await fetch(`${running.url}/v1/reports`, { method: 'POST', headers: { authorization: 'Bearer token-of-web01-agent-0001', 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(202);
    };
    try {
      flushes.due = true;
      await post();
      await vi.waitFor(() => expect(flushes.calls).toBe(1)); // failed
      await post();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(flushes.calls).toBe(1); // no retry on every report while failing
      await running.flusher.periodic(); // what the periodic job runs
      const afterPeriodic = flushes.calls;
      expect(afterPeriodic).toBeGreaterThan(1);
      flushes.due = true;
      await post();
      await vi.waitFor(() => expect(flushes.calls).toBe(afterPeriodic + 1)); // the app's kick flushes again
      expect(flushes.due).toBe(false);
    } finally {
      await running.close();
    }
  });
});
