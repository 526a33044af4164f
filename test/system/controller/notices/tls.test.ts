// Notices over an encrypted, authenticated connection: STARTTLS required with a login from a password file
// and the server's certificate checked against a CA file; TLS from the start (smtps://); and a certificate
// that is not trusted, which keeps the notice queued with the TLS error for the admin to see. The controller
// runs in-process (startController) on a real port; the SMTP server is real, on loopback.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { startController, type RunningController } from '../../../../controller/server.js';
import { describeWith, hasCommand, missing } from '../../../helpers/env.js';
import { Cleanup, tempDir, waitFor, writeToken } from '../../../helpers/system.js';
import { queuedManualEvents, storeQueue } from '../../../unit/controller/notices/events.js';
import { agentReport, postReport, selfSignedCert, TestSmtp } from './smtp.js';

describeWith(missing([[hasCommand('openssl'), 'needs openssl (a test certificate)']]), 'notices over TLS with a login', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let cert: ReturnType<typeof selfSignedCert>;

  beforeAll(() => {
    dir = tempDir(cleanup, 'hw-notices-tls-');
    cert = selfSignedCert(dir);
    writeFileSync(join(dir, 'smtp.password'), 'correct horse\n', { mode: 0o600 });
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  /** A controller with this smtp section, one report with a manual throttle of `tenant`; returns its notice. */
  async function run(name: string, smtp: Record<string, unknown>, tenant: string): Promise<{ c: RunningController; notice: () => Promise<Record<string, unknown>> }> {
    const token = writeToken(join(dir, `${name}.token`));
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, name),
      admin_token_file: join(dir, `${name}-admin.token`),
      agents: [{ host: 'web01', token_file: join(dir, `${name}.token`) }],
      ingest: { parser_threads: 0 },
      smtp: { from: 'Hosting <noreply@example.com>', timeout: '5s', ...smtp },
      notices: { retry: { min: '200ms', max: '1s' } },
    });
    const c = await startController(config, { log: pino({ level: 'silent' }) });
    cleanup.add(`stop controller ${name}`, () => c.close());
    expect(await postReport(c.url, token, agentReport(1, await queuedManualEvents(storeQueue(c.store), 'throttle', { tenant, now: Date.now() - 1000 }), [{ name: tenant, email: `${tenant}@example.com` }]))).toBe(202);
    return { c, notice: async () => (await c.notices.outbox.list({ tenant }))[0] as unknown as Record<string, unknown> };
  }

  it('STARTTLS (required) with a login, the certificate checked against the CA file', async () => {
    const smtp = new TestSmtp({ starttls: true, cert, auth: { user: 'notices', pass: 'correct horse' } });
    await smtp.start();
    cleanup.add('stop smtp starttls', () => smtp.stop());
    const { notice } = await run('starttls', { url: `smtp://127.0.0.1:${smtp.port}`, starttls: 'required', user: 'notices', password_file: join(dir, 'smtp.password'), tls: { ca_file: cert.certFile } }, 'frank');
    await waitFor('the message', () => smtp.received.length === 1, 20_000);
    expect(smtp.received[0]).toMatchObject({ secure: true, user: 'notices', to: ['frank@example.com'] });
    expect(smtp.received[0]!.mail.subject).toBe('[web01] frank: all resources throttled by an administrator (level 1)');
    await waitFor('sent', async () => (await notice()).state === 'sent');
  });

  it('TLS from the start (smtps://)', async () => {
    const smtp = new TestSmtp({ secure: true, cert });
    await smtp.start();
    cleanup.add('stop smtps', () => smtp.stop());
    await run('smtps', { url: `smtps://127.0.0.1:${smtp.port}`, tls: { ca_file: cert.certFile } }, 'grace');
    await waitFor('the message', () => smtp.received.length === 1, 20_000);
    expect(smtp.received[0]).toMatchObject({ secure: true, to: ['grace@example.com'] });
  });

  it('an untrusted certificate is refused: the notice waits with the TLS error, nothing is sent in clear', async () => {
    const smtp = new TestSmtp({ starttls: true, cert });
    await smtp.start();
    cleanup.add('stop smtp untrusted', () => smtp.stop());
    const { notice } = await run('untrusted', { url: `smtp://127.0.0.1:${smtp.port}`, starttls: 'required' }, 'heidi');
    const n = await waitFor('a failed attempt', async () => {
      const r = await notice();
      return r.attempts as number >= 1 && r.state === 'queued' ? r : undefined;
    });
    expect(n.error).toMatch(/self[- ]signed certificate/);
    expect(smtp.received).toEqual([]);
  });
});
