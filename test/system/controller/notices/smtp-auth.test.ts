// A login to the mail server goes over TLS unless smtp.allow_insecure_auth says otherwise. Against a real SMTP
// server on loopback (smtp-server) that requires a login: without TLS on the server the notice waits with an
// error that says what to do and nothing is sent; with the key set the same server takes it in clear; with
// STARTTLS and a certificate of a test CA (openssl, smtp.tls.ca_file) the login goes encrypted under the
// default starttls. The controller runs in-process (startController) on a real port.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { startController } from '../../../../controller/server.js';
import { describeWith, missing } from '../../../helpers/env.js';
import { Cleanup, tempDir, waitFor, writeToken } from '../../../helpers/system.js';
import { HAS_OPENSSL, makeCa, makeServerCert, type TestCa, type TestCert } from '../../../helpers/tls.js';
import { queuedManualEvents, storeQueue } from '../../../unit/controller/notices/events.js';
import { agentReport, postReport, TestSmtp, type SmtpOptions } from './smtp.js';

const LOGIN = { user: 'notices', pass: 'correct horse' };

describeWith(missing([[HAS_OPENSSL, 'needs openssl (a test CA)']]), 'SMTP login requires TLS', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let ca: TestCa;
  let cert: TestCert;

  beforeAll(() => {
    dir = tempDir(cleanup, 'hw-smtp-auth-');
    ca = makeCa(dir, 'mail');
    cert = makeServerCert(dir, ca, 'mail');
    writeFileSync(join(dir, 'smtp.password'), `${LOGIN.pass}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  async function run(name: string, smtp: Record<string, unknown>, tenant: string): Promise<() => Promise<Record<string, unknown>>> {
    const token = writeToken(join(dir, `${name}.token`));
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, name),
      admin_token_file: join(dir, `${name}-admin.token`),
      agents: [{ host: 'web01', token_file: join(dir, `${name}.token`) }],
      ingest: { parser_threads: 0 },
      smtp: { from: 'Hosting <noreply@example.com>', timeout: '5s', user: LOGIN.user, password_file: join(dir, 'smtp.password'), ...smtp },
      notices: { retry: { min: '200ms', max: '1s' } },
    });
    const c = await startController(config, { log: pino({ level: 'silent' }) });
    cleanup.add(`stop controller ${name}`, () => c.close());
    expect(await postReport(c.url, token, agentReport(1, await queuedManualEvents(storeQueue(c.store), 'throttle', { tenant, now: Date.now() - 1000 }), [{ name: tenant, email: `${tenant}@example.com` }]))).toBe(202);
    return async () => (await c.notices.outbox.list({ tenant }))[0] as unknown as Record<string, unknown>;
  }

  async function server(name: string, opts: SmtpOptions): Promise<TestSmtp> {
    const smtp = new TestSmtp({ auth: LOGIN, ...opts });
    await smtp.start();
    cleanup.add(`stop smtp ${name}`, () => smtp.stop());
    return smtp;
  }

  it('a server without TLS gets no login: the notice waits with an error that names the key', async () => {
    const smtp = await server('plain', { noTls: true });
    const notice = await run('plain', { url: `smtp://127.0.0.1:${smtp.port}` }, 'ivan');
    const n = await waitFor('a failed attempt', async () => {
      const r = await notice();
      return (r.attempts as number) >= 1 && r.state === 'queued' ? r : undefined;
    });
    expect(n.error).toMatch(/^the mail server at smtp:\/\/127\.0\.0\.1:\d+\/? offers no STARTTLS \(it answered: 5\d\d .*\), and the login \(smtp\.user\) is sent only over TLS: .*set smtp\.allow_insecure_auth: true/);
    await new Promise((r) => setTimeout(r, 500)); // a retry or two more
    expect(smtp.received).toEqual([]);
  });

  it('smtp.allow_insecure_auth: true lets the same kind of server take the login in clear', async () => {
    const smtp = await server('insecure', { noTls: true });
    const notice = await run('insecure', { url: `smtp://127.0.0.1:${smtp.port}`, allow_insecure_auth: true }, 'judy');
    await waitFor('the message', () => smtp.received.length === 1, 20_000);
    expect(smtp.received[0]).toMatchObject({ secure: false, user: 'notices', to: ['judy@example.com'] });
    await waitFor('sent', async () => (await notice()).state === 'sent');
  });

  it('with STARTTLS and the test CA in smtp.tls.ca_file the login goes encrypted (starttls left at its default)', async () => {
    const smtp = await server('starttls', { starttls: true, cert });
    const notice = await run('starttls', { url: `smtp://127.0.0.1:${smtp.port}`, tls: { ca_file: ca.certFile } }, 'kevin');
    await waitFor('the message', () => smtp.received.length === 1, 20_000);
    expect(smtp.received[0]).toMatchObject({ secure: true, user: 'notices', to: ['kevin@example.com'] });
    await waitFor('sent', async () => (await notice()).state === 'sent');
  });
});
