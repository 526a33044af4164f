// The `smtp:` and `notices:` sections of controller.yaml. Every key has a default (documented in
// CONTROLLER_CONFIG_REFERENCE, controller/README.md and the packaged controller.yaml); bad values are
// ConfigErrors naming the key.
//
// `smtp` keeps the shape DESIGN section 5 fixes ({ url, from }); its optional keys are left out of the parsed
// object when not given (their defaults are applied where the transport is built, smtpTransportOptions()).
import addressparser from 'nodemailer/lib/addressparser';
import type { Section } from '../../shared/config.js';
import { EMAIL_RULE, isEmail } from '../../shared/email.js';
import { parseCaps, type NoticeCaps } from './caps.js';
import { smtpHasLogin } from './smtp-tls.js';

export const DEFAULT_NOTICE_FROM = 'hostwarden <hostwarden@localhost>';
export const DEFAULT_USAGE_COMMAND = 'hostwardenctl usage {tenant} --since 24h';
export const STARTTLS_MODES = ['opportunistic', 'required', 'never'] as const;
export type StartTlsMode = (typeof STARTTLS_MODES)[number];

export interface SmtpConfig {
  /** smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://... (TLS from the start). */
  url: string;
  from: string;
  /** Default opportunistic: STARTTLS when the server offers it. */
  starttls?: StartTlsMode | undefined;
  /** Login, instead of user:password in the url. */
  user?: string | undefined;
  passwordFile?: string | undefined;
  /** true: a login may go without TLS (default false: STARTTLS is required for it; notices/smtp-tls.ts). */
  allowInsecureAuth?: boolean | undefined;
  /** TLS: verify the server's certificate (default true) against the system CAs or `caFile`. */
  tls?: { rejectUnauthorized?: boolean | undefined; caFile?: string | undefined; servername?: string | undefined } | undefined;
  /** Connect, greeting and idle timeouts, ms (default 30 s). */
  timeoutMs?: number | undefined;
}

export interface NoticesConfig {
  enabled: boolean;
  /** At most one email per (tenant, resource, level, event type) and one digest per tenant per interval. */
  intervalMs: number;
  /** Where messages go when no `smtp` is configured; undefined = <state_dir>/outbox. */
  outboxDir: string | undefined;
  /** Admin overrides of the built-in templates (<name>.txt, <name>.html, <name>.subject). */
  templatesDir: string | undefined;
  /** The server's name in notices; undefined = the host of the incident. */
  serverName: string | undefined;
  /** From of messages written to the outbox directory (with SMTP, smtp.from). */
  from: string;
  replyTo: string | undefined;
  /** Admin copy of every notice (Bcc; the only recipient when the tenant has no address). */
  adminBcc: string[];
  support: { email: string | undefined; url: string | undefined };
  /** Link to the tenant's usage; {tenant} is replaced. */
  usageUrl: string | undefined;
  /** Shown when there is no usage_url; {tenant} is replaced. */
  usageCommand: string;
  retry: { minMs: number; maxMs: number; giveUpMs: number };
  /** Sent, failed and digested notices older than this are dropped. */
  keepMs: number;
  /** Per host and hour by category, and per report: what holds the rest back (caps.ts). */
  caps: NoticeCaps;
}

/** True when `text` is one or more addresses nodemailer can parse ("Name <a@b>", "a@b, c@d"). */
export function parseAddresses(text: string): string[] | undefined {
  const list = addressparser(text, { flatten: true });
  const out: string[] = [];
  for (const a of list) {
    if (!('address' in a) || !a.address || !/^[^\s@<>]+@[^\s@<>]+$/.test(a.address)) return undefined;
    out.push(a.address);
  }
  return out.length ? out : undefined;
}

function address(s: Section, name: string, def: string | undefined): string | undefined {
  const v = def === undefined ? s.string(name) : s.string(name, def);
  if (v === undefined) return undefined;
  const parsed = parseAddresses(v);
  if (!parsed) s.fail(name, `not an email address: "${v}" (use "Name <user@example.com>" or user@example.com)`);
  if (parsed.length > 1) s.fail(name, `one address only, got ${parsed.length}`);
  return v;
}

export function parseSmtpConfig(s: Section): SmtpConfig {
  // Read every key first, so that a misspelt key is reported as such rather than as a value it left out.
  const url = s.string('url');
  const from = s.string('from');
  const starttls = s.string('starttls') === undefined ? undefined : s.oneOf('starttls', STARTTLS_MODES, 'opportunistic');
  const user = s.string('user');
  const passwordFile = s.string('password_file');
  const allowInsecureAuth = s.has('allow_insecure_auth') ? s.boolean('allow_insecure_auth', false) : undefined;
  const t = s.section('tls');
  let tls: SmtpConfig['tls'];
  if (s.has('tls')) {
    tls = {};
    if (t.has('reject_unauthorized')) tls.rejectUnauthorized = t.boolean('reject_unauthorized', true);
    const caFile = t.string('ca_file');
    if (caFile !== undefined) tls.caFile = caFile;
    const servername = t.string('servername');
    if (servername !== undefined) tls.servername = servername;
  }
  t.boolean('reject_unauthorized', true);
  t.done();
  const timeoutMs = s.duration('timeout', undefined, { min: 1000 });
  s.done();

  if (!url) s.fail('url', 'required when smtp is given (smtp://host:25 or smtps://user:pass@host:465)');
  if (!/^smtps?:\/\//.test(url)) s.fail('url', `must start with smtp:// or smtps://, got "${url}"`);
  try {
    new URL(url);
  } catch {
    s.fail('url', `not a valid URL: "${url}"`);
  }
  if (!from) s.fail('from', 'required when smtp is given ("Hosting <noreply@example.com>")');
  address(s, 'from', from);
  if (starttls !== undefined && url.startsWith('smtps:')) s.fail('starttls', 'smtps:// is TLS from the start; starttls applies to smtp:// only');
  if ((user === undefined) !== (passwordFile === undefined)) s.fail(user === undefined ? 'user' : 'password_file', 'give both user and password_file (or put user:password in the url)');
  if (starttls === 'never' && allowInsecureAuth !== true && smtpHasLogin({ url, user })) {
    s.fail('starttls', 'never would send the login unencrypted: use STARTTLS (opportunistic or required) or smtps://, or set smtp.allow_insecure_auth: true');
  }
  const out: SmtpConfig = { url, from };
  if (starttls !== undefined) out.starttls = starttls;
  if (user !== undefined) out.user = user;
  if (passwordFile !== undefined) out.passwordFile = passwordFile;
  if (allowInsecureAuth !== undefined) out.allowInsecureAuth = allowInsecureAuth;
  if (tls !== undefined) out.tls = tls;
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  return out;
}

export function parseNoticesConfig(n: Section): NoticesConfig {
  const enabled = n.boolean('enabled', true);
  const intervalMs = n.duration('interval', '12h', { min: 1000 });
  const outboxDir = n.string('outbox_dir');
  const templatesDir = n.string('templates_dir');
  const serverName = n.string('server_name');
  if (serverName !== undefined && (serverName.trim() === '' || /[\r\n]/.test(serverName))) n.fail('server_name', 'must be one non-empty line');
  const from = address(n, 'from', DEFAULT_NOTICE_FROM)!;
  const replyTo = address(n, 'reply_to', undefined);
  const adminBcc = n.scalars('admin_bcc').map((v, i) => {
    const text = String(v);
    const parsed = parseAddresses(text);
    if (!parsed || parsed.length !== 1 || !isEmail(parsed[0]!) || /\p{Cc}/u.test(text)) n.fail(`admin_bcc[${i}]`, `not an email address: "${text}" (${EMAIL_RULE})`);
    return text;
  });
  const sup = n.section('support');
  const supportEmail = address(sup, 'email', undefined);
  const supportUrl = sup.string('url');
  if (supportUrl !== undefined && !/^https?:\/\//.test(supportUrl)) sup.fail('url', `must start with http:// or https://, got "${supportUrl}"`);
  sup.done();
  const usageUrl = n.string('usage_url');
  if (usageUrl !== undefined && !/^https?:\/\//.test(usageUrl)) n.fail('usage_url', `must start with http:// or https://, got "${usageUrl}"`);
  const usageCommand = n.string('usage_command', DEFAULT_USAGE_COMMAND);
  const r = n.section('retry');
  const retry = {
    minMs: r.duration('min', '30s', { min: 100 }),
    maxMs: r.duration('max', '30m', { min: 100 }),
    giveUpMs: r.duration('give_up', '7d', { min: 60_000 }),
  };
  if (retry.maxMs < retry.minMs) r.fail('max', 'must be at least retry.min');
  r.done();
  const keepMs = n.duration('keep', '90d', { min: 3_600_000 });
  if (keepMs < intervalMs) n.fail('keep', 'must be at least notices.interval (the rate limit looks back that far)');
  const caps = parseCaps(n.section('caps'));
  n.done();
  return {
    enabled,
    intervalMs,
    outboxDir,
    templatesDir,
    serverName,
    from,
    replyTo,
    adminBcc,
    support: { email: supportEmail, url: supportUrl },
    usageUrl,
    usageCommand,
    retry,
    keepMs,
    caps,
  };
}

/** The reference lines of the two sections (CONTROLLER_CONFIG_REFERENCE), every key with its default. */
export const NOTICES_CONFIG_REFERENCE = `# smtp:                                     # absent: notices are written to notices.outbox_dir as .eml files
#   url: smtp://127.0.0.1:25                # smtp:// (STARTTLS when offered) or smtps:// (TLS from the start); user:password@ allowed
#   from: "Hosting <noreply@example.com>"   # required with smtp
#   starttls: opportunistic                 # opportunistic, required or never (smtp:// only); with a login: required
#   user: notices                           # login (with password_file), instead of user:password in the url
#   password_file: /etc/hostwarden/smtp.password
#   allow_insecure_auth: false              # true: a login may go unencrypted (no STARTTLS needed, starttls: never allowed)
#   tls: { reject_unauthorized: true, ca_file: /etc/ssl/private-ca.pem, servername: mail.example.com }
#   timeout: 30s                            # connect, greeting and idle timeouts
notices:
  enabled: true                              # tenants' notices from incident events
  interval: 12h                              # at most one email per tenant, resource, level and event kind, and one digest per tenant
  # outbox_dir: /var/lib/hostwarden/outbox   # without smtp: one .eml file per message; default <state_dir>/outbox
  # templates_dir: /etc/hostwarden/templates # overrides: notice.txt, notice.html, notice.subject, digest.txt, digest.html, digest.subject
  # server_name: web01.example.com           # the server's name in notices; default the host of the incident
  from: "hostwarden <hostwarden@localhost>"  # From of messages in the outbox directory (with smtp: smtp.from)
  # reply_to: "Support <support@example.com>"
  admin_bcc: []                              # admin copy of every notice (Bcc), e.g. [abuse@example.com]
  support: {}                                # { email: support@example.com, url: https://example.com/support }
  # usage_url: https://panel.example.com/usage/{tenant}   # used when public_url is not set (with it: the signed /t/ link)
  usage_command: "hostwardenctl usage {tenant} --since 24h"   # shown when there is no usage_url
  retry:
    min: 30s                                 # first retry after a failed send; doubles each time
    max: 30m                                 # longest wait between retries
    give_up: 7d                              # a notice not accepted by then is marked failed
  keep: 90d                                  # sent, failed and digested notices are dropped after this
  caps:                                      # what one host can make the controller send; over a cap a notice is held
    per_host_hour:                           # notices per host and sliding hour, by category; held warnings and
      warning: 50                            # throttles go into the tenant's digest, held quarantines, releases
      throttle: 50                           # and digests go out as soon as the hour frees a slot, oldest first
      quarantine: 30
      release: 50
      digest: 50
      remediation: 30                        # remediation cases' notices (opened, reminder, overdue, resolved)
    per_report: 20                           # the most notices one report sends at once
`;
