// A controller that stops while a send hangs (a mail server that accepts the connection and never answers)
// does not hang with it: the send in flight is aborted after the grace period, the notice goes back to the
// queue with the reason, and the next controller on the same state directory sends it.
import { createServer, type Socket } from 'node:net';
import { pino } from 'pino';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { startController } from '../../../../controller/server.js';
import { Cleanup, tempDir, waitFor, writeToken } from '../../../helpers/system.js';
import { queuedManualEvents, storeQueue } from '../../../unit/controller/notices/events.js';
import { agentReport, postReport, TestSmtp } from './smtp.js';

describe('notices when the controller stops mid-send', () => {
  const cleanup = new Cleanup();
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('aborts a hanging send on close and sends the notice after the restart', async () => {
    const dir = tempDir(cleanup, 'hw-notices-stop-');
    const sockets = new Set<Socket>();
    const silent = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const silentPort = (silent.address() as { port: number }).port;
    const closeSilent = () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        silent.close(() => r());
      });
    cleanup.add('close the silent server', closeSilent);
    const token = writeToken(join(dir, 'agent.token'));
    const configWith = (smtpPort: number) => parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, 'state'),
      admin_token_file: join(dir, 'admin.token'),
      agents: [{ host: 'web01', token_file: join(dir, 'agent.token') }],
      ingest: { parser_threads: 0 },
      smtp: { url: `smtp://127.0.0.1:${smtpPort}`, from: 'Hosting <noreply@example.com>', timeout: '60s' },
      notices: { retry: { min: '200ms', max: '1s' } },
    });
    const c = await startController(configWith(silentPort), { log: pino({ level: 'silent' }) });
    expect(await postReport(c.url, token, agentReport(1, await queuedManualEvents(storeQueue(c.store), 'quarantine', { tenant: 'ivan', now: Date.now() - 1000 }), [{ name: 'ivan', email: 'ivan@example.com' }]))).toBe(202);
    await waitFor('the send in flight', async () => (await c.notices.outbox.list())[0]?.state === 'sending' && sockets.size > 0);
    await c.close(); // would wait for the 60 s timeout without the abort

    await closeSilent();
    // The mail server that answers: on a port of its own, given to the next controller (same state directory).
    const smtp = new TestSmtp();
    await smtp.start();
    cleanup.add('stop smtp', () => smtp.stop());
    const again = await startController(configWith(smtp.port), { log: pino({ level: 'silent' }) });
    cleanup.add('stop the second controller', () => again.close());
    const [row] = await again.notices.outbox.list();
    expect(row!.attempts).toBe(1);
    expect(row!.error).toMatch(/stopping|abort/i);
    await waitFor('the message', () => smtp.received.length === 1, 20_000);
    expect(smtp.received[0]!.mail.messageId).toBe(row!.message_id);
    await waitFor('sent', async () => (await again.notices.outbox.list())[0]?.state === 'sent');
  });
});
