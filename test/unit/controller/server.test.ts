// startController in-process on a free loopback port: the beforeListen hook sees the first report's incident
// events inside their transaction, tokens come from files and hashes, close() flushes and releases the store.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../controller/config.js';
import { startController } from '../../../controller/server.js';
import type { NewIncidentEvent } from '../../../controller/store/store.js';
import { event, report } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('startController', () => {
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
        store.onIncidentEvents((events: NewIncidentEvent[]) => seen.push({ events: events.map((e) => e.event.id), inTransaction: store.db.inTransaction }));
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
});
