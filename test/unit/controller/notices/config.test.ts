// The smtp and notices sections of controller.yaml: defaults, every key read, errors naming the key; the
// SMTP transport options built from them (STARTTLS modes, login from a file, CA file).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseControllerConfig } from '../../../../controller/config.js';
import { smtpTransportOptions } from '../../../../controller/notices/mailer.js';
import { outboxDirOf } from '../../../../controller/notices/service.js';
import { ConfigError } from '../../../../shared/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-notices-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const parse = (yaml: string) => parseControllerConfig(parseYaml(yaml));

describe('notices configuration', () => {
  it('has a default for every key', () => {
    const c = parseControllerConfig({});
    expect(c.smtp).toBeUndefined();
    expect(c.notices).toEqual({
      enabled: true,
      intervalMs: 12 * 3_600_000,
      outboxDir: undefined,
      templatesDir: undefined,
      serverName: undefined,
      from: 'hostwarden <hostwarden@localhost>',
      replyTo: undefined,
      adminBcc: [],
      support: { email: undefined, url: undefined },
      usageUrl: undefined,
      usageCommand: 'hostwardenctl usage {tenant} --since 24h',
      retry: { minMs: 30_000, maxMs: 30 * 60_000, giveUpMs: 7 * 86_400_000 },
      keepMs: 90 * 86_400_000,
      caps: { perHostHour: { warning: 50, throttle: 50, quarantine: 30, release: 50, digest: 50, remediation: 30 }, perReport: 20 },
    });
    expect(outboxDirOf(c)).toBe('/var/lib/hostwarden/outbox');
    expect(outboxDirOf(parse('state_dir: /srv/hw'))).toBe('/srv/hw/outbox');
    expect(outboxDirOf(parse('notices: { outbox_dir: /srv/mail }'))).toBe('/srv/mail');
  });

  it('reads every key', () => {
    const c = parse(`
smtp:
  url: smtp://mail.example.com:587
  from: "Hosting <noreply@example.com>"
  starttls: required
  user: notices
  password_file: ${join(dir, 'pw')}
  tls: { reject_unauthorized: false, ca_file: ${join(dir, 'ca.pem')}, servername: mail.example.com }
  timeout: 10s
notices:
  enabled: false
  interval: 6h
  outbox_dir: /srv/outbox
  templates_dir: /etc/hostwarden/templates
  server_name: shared-7.example.net
  from: "Ops <ops@example.com>"
  reply_to: support@example.com
  admin_bcc: [abuse@example.com, "Ops <ops@example.com>"]
  support: { email: help@example.com, url: https://example.com/help }
  usage_url: https://panel.example.com/usage/{tenant}
  usage_command: "ask us"
  retry: { min: 1s, max: 10s, give_up: 1d }
  keep: 30d
  caps: { per_host_hour: { warning: 1, throttle: 2, quarantine: 3, release: 4, digest: 5 }, per_report: 6 }
`);
    expect(c.smtp).toEqual({
      url: 'smtp://mail.example.com:587',
      from: 'Hosting <noreply@example.com>',
      starttls: 'required',
      user: 'notices',
      passwordFile: join(dir, 'pw'),
      tls: { rejectUnauthorized: false, caFile: join(dir, 'ca.pem'), servername: 'mail.example.com' },
      timeoutMs: 10_000,
    });
    expect(c.notices).toEqual({
      enabled: false,
      intervalMs: 6 * 3_600_000,
      outboxDir: '/srv/outbox',
      templatesDir: '/etc/hostwarden/templates',
      serverName: 'shared-7.example.net',
      from: 'Ops <ops@example.com>',
      replyTo: 'support@example.com',
      adminBcc: ['abuse@example.com', 'Ops <ops@example.com>'],
      support: { email: 'help@example.com', url: 'https://example.com/help' },
      usageUrl: 'https://panel.example.com/usage/{tenant}',
      usageCommand: 'ask us',
      retry: { minMs: 1000, maxMs: 10_000, giveUpMs: 86_400_000 },
      keepMs: 30 * 86_400_000,
      caps: { perHostHour: { warning: 1, throttle: 2, quarantine: 3, release: 4, digest: 5, remediation: 30 }, perReport: 6 },
    });
    // Keys left out keep their defaults.
    expect(parse('notices: { caps: { per_host_hour: { quarantine: 5 } } }').notices.caps).toEqual({ perHostHour: { warning: 50, throttle: 50, quarantine: 5, release: 50, digest: 50, remediation: 30 }, perReport: 20 });
    // null values are defaults, not unknown keys
    expect(parse('smtp: { url: "smtp://m", from: a@b, starttls: , tls: , timeout: }').smtp).toEqual({ url: 'smtp://m', from: 'a@b' });
  });

  it.each([
    ['smtp: { url: "smtp://m", from: "not an address" }', 'smtp.from', /not an email address/],
    ['smtp: { url: "smtps://m", from: a@b, starttls: required }', 'smtp.starttls', /smtp:\/\/ only/],
    ['smtp: { url: "smtp://m", from: a@b, starttls: sometimes }', 'smtp.starttls', /one of opportunistic, required, never/],
    ['smtp: { url: "smtp://m", from: a@b, user: x }', 'smtp.password_file', /both user and password_file/],
    ['smtp: { url: "smtp://m", from: a@b, tls: { verify: false } }', 'smtp.tls.verify', /unknown key/],
    ['smtp: { url: "smtp://m", from: a@b, timeout: 10ms }', 'smtp.timeout', /at least/],
    ['notices: { interval: soon }', 'notices.interval', /invalid duration/],
    ['notices: { admin_bcc: [ops] }', 'notices.admin_bcc[0]', /not an email address/],
    ['notices: { reply_to: "a@b, c@d" }', 'notices.reply_to', /one address only/],
    ['notices: { support: { email: nobody } }', 'notices.support.email', /not an email address/],
    ['notices: { support: { phone: 1 } }', 'notices.support.phone', /unknown key/],
    ['notices: { usage_url: "panel/{tenant}" }', 'notices.usage_url', /http/],
    ['notices: { retry: { min: 1m, max: 10s } }', 'notices.retry.max', /at least retry.min/],
    ['notices: { keep: 2h, interval: 12h }', 'notices.keep', /at least notices.interval/],
    ['notices: { server_name: "" }', 'notices.server_name', /one non-empty line/],
    ['notices: { caps: { per_report: 0 } }', 'notices.caps.per_report', /at least 1/],
    ['notices: { caps: { per_report: 2.5 } }', 'notices.caps.per_report', /whole number/],
    ['notices: { caps: { per_host_hour: { quarantine: 1e9 } } }', 'notices.caps.per_host_hour.quarantine', /at most 1000000/],
    ['notices: { caps: { per_host_hour: { relase: 5 } } }', 'notices.caps.per_host_hour.relase', /unknown key/],
    ['notices: { caps: { per_hour: 5 } }', 'notices.caps.per_hour', /unknown key/],
  ])('%s -> names %s', (yaml, key, message) => {
    let err: unknown;
    try {
      parse(yaml);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe(key);
    expect((err as ConfigError).message).toMatch(message);
  });

  it('builds the SMTP transport options with their defaults, reading the password and CA files', () => {
    writeFileSync(join(dir, 'pw'), 's3cret\n');
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
    expect(smtpTransportOptions({ url: 'smtp://m:25', from: 'a@b' })).toEqual({
      url: 'smtp://m:25',
      tls: { rejectUnauthorized: true },
      connectionTimeout: 30_000,
      greetingTimeout: 30_000,
      socketTimeout: 30_000,
      socketCloseTimeout: 1000,
    });
    const o = smtpTransportOptions({ url: 'smtp://m:587', from: 'a@b', starttls: 'required', user: 'u', passwordFile: join(dir, 'pw'), tls: { caFile: join(dir, 'ca.pem') }, timeoutMs: 5000 });
    expect(o).toMatchObject({ requireTLS: true, auth: { user: 'u', pass: 's3cret' }, tls: { rejectUnauthorized: true, ca: '-----BEGIN CERTIFICATE-----\n' }, socketTimeout: 5000 });
    expect(smtpTransportOptions({ url: 'smtp://m', from: 'a@b', starttls: 'never' })).toMatchObject({ ignoreTLS: true });
    expect(() => smtpTransportOptions({ url: 'smtp://m', from: 'a@b', user: 'u', passwordFile: join(dir, 'nope') })).toThrow(/config key "smtp.password_file": cannot read/);
  });
});
