// A login to the mail server waits for TLS unless smtp.allow_insecure_auth says otherwise: the config keys and
// the transport options they make. (Against a real SMTP server: test/system/controller/notices/smtp-auth.test.ts.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { smtpTransportOptions } from '../../../../controller/notices/mailer.js';
import { explainLoginTlsFailure, loginRequiresStartTls, smtpHasLogin } from '../../../../controller/notices/smtp-tls.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-smtp-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pw = join(dir, 'pw');
writeFileSync(pw, 'pass\n');

const smtp = (extra: Record<string, unknown>) => parseControllerConfig({ smtp: { from: 'a@example.com', ...extra } }).smtp!;

describe('a login over SMTP', () => {
  it('is a login with smtp.user or a user in the url', () => {
    expect(smtpHasLogin({ url: 'smtp://m:25' })).toBe(false);
    expect(smtpHasLogin({ url: 'smtp://u:p@m:25' })).toBe(true);
    expect(smtpHasLogin({ url: 'smtp://m:25', user: 'u' })).toBe(true);
  });

  it.each([
    ['smtp:// without a login: STARTTLS when offered (as before)', { url: 'smtp://m:25' }, false],
    ['smtp:// with user and password_file', { url: 'smtp://m:587', user: 'u', password_file: pw }, true],
    ['smtp:// with user:password in the url', { url: 'smtp://u:p@m:587' }, true],
    ['smtp:// with a login, starttls: opportunistic', { url: 'smtp://u:p@m:587', starttls: 'opportunistic' }, true],
    ['smtp:// with a login and allow_insecure_auth', { url: 'smtp://u:p@m:587', allow_insecure_auth: true }, false],
    ['smtps:// with a login (TLS from the start)', { url: 'smtps://u:p@m:465' }, false],
  ])('%s: requireTLS %s', (_what, section, required) => {
    const s = smtp(section);
    expect(loginRequiresStartTls(s)).toBe(required);
    const o = smtpTransportOptions(s) as { requireTLS?: boolean; ignoreTLS?: boolean };
    expect(o.requireTLS === true).toBe(required);
    expect(o.ignoreTLS).toBeUndefined();
  });

  it('starttls: never with a login needs allow_insecure_auth (a config error naming the key otherwise)', () => {
    expect(() => smtp({ url: 'smtp://u:p@m:25', starttls: 'never' })).toThrow(/config key "smtp.starttls": never would send the login unencrypted: .*smtp.allow_insecure_auth: true/);
    expect(() => smtp({ url: 'smtp://m:25', starttls: 'never', user: 'u', password_file: pw })).toThrow(/config key "smtp.starttls"/);
    const s = smtp({ url: 'smtp://u:p@m:25', starttls: 'never', allow_insecure_auth: true });
    expect(s.allowInsecureAuth).toBe(true);
    expect(smtpTransportOptions(s)).toMatchObject({ ignoreTLS: true });
    expect(smtp({ url: 'smtp://m:25', starttls: 'never' }).starttls).toBe('never'); // no login: as before
    expect(() => smtp({ url: 'smtp://m:25', allow_insecure_auth: 'yes' })).toThrow(/config key "smtp.allow_insecure_auth": must be true or false/);
  });

  it('explains a server that refuses STARTTLS while a login waits; leaves other failures alone', () => {
    const s = smtp({ url: 'smtp://u:p@m:25' });
    const refused = Object.assign(new Error('Error upgrading connection with STARTTLS: 502 5.5.2 Error: command not recognized'), { code: 'ETLS', command: 'STARTTLS', response: '502 5.5.2 Error: command not recognized' });
    expect(explainLoginTlsFailure(refused, s, 'smtp://u:***@m:25')).toBe(
      'the mail server at smtp://u:***@m:25 offers no STARTTLS (it answered: 502 5.5.2 Error: command not recognized), and the login (smtp.user) is sent only over TLS: enable STARTTLS on the server, use smtps://, or set smtp.allow_insecure_auth: true to send the password unencrypted',
    );
    const certificate = Object.assign(new Error('Error initiating TLS - self-signed certificate'), { code: 'ETLS', command: 'STARTTLS', response: false });
    expect(explainLoginTlsFailure(certificate, s, 'x')).toBeUndefined();
    expect(explainLoginTlsFailure(refused, smtp({ url: 'smtp://m:25' }), 'x')).toBeUndefined();
  });
});
