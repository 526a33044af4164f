// Delivery of one notice: over SMTP with nodemailer (TLS, STARTTLS, auth), or, with no `smtp` configured,
// into the outbox directory as one .eml file per message (written to a temporary file, then renamed, so a
// reader never sees half a message and a repeated attempt replaces the file instead of adding one).
//
// Every message carries the notice's stable Message-ID, so a message that is sent again after a crash (see
// sender.ts) is recognisably the same one.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createTransport, type Transporter } from 'nodemailer';
import type { SendMailOptions } from 'nodemailer';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, HostwardenError } from '../../shared/errors.js';
import type { SmtpConfig } from './config.js';
import type { NoticeRow } from './outbox.js';
import { explainLoginTlsFailure, loginTlsOptions } from './smtp-tls.js';

export const DEFAULT_SMTP_TIMEOUT_MS = 30_000;

/** A failed delivery; `permanent` when the mail server refused the message or its recipients for good. */
export class DeliveryError extends HostwardenError {
  constructor(
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super('HW_NOTICE_DELIVERY', message, options);
  }
}

export interface Delivered {
  /** Something worth keeping with the notice (recipients the server refused while it took the others). */
  note: string | null;
}

export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  /** Where messages go, for logs (no password). */
  readonly target: string;
  send(row: NoticeRow, signal?: AbortSignal): Promise<Delivered>;
  close(): void;
}

export interface MessageOptions {
  from: string;
  replyTo?: string | undefined;
}

function msgIdPart(s: string): string {
  return s.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 120) || 'x';
}

/** The message of a notice row: multipart/alternative (text and HTML) with the headers of an automatic notice. */
export function composeMessage(row: NoticeRow, opts: MessageOptions): SendMailOptions {
  const bcc = JSON.parse(row.bcc) as string[];
  const domain = /@([^>]+)>$/.exec(row.message_id)?.[1] ?? 'localhost';
  const headers: Record<string, string> = {
    'Auto-Submitted': 'auto-generated',
    'X-Auto-Response-Suppress': 'All',
    'X-Hostwarden-Notice': `${row.id} ${row.kind} ${row.category}`,
    'X-Hostwarden-Tenant': row.tenant,
  };
  const mail: SendMailOptions = {
    from: opts.from,
    subject: row.recipient === null ? `[no address for ${row.tenant}] ${row.subject}` : row.subject,
    text: row.body_text ?? '',
    html: row.body_html ?? '',
    messageId: row.message_id,
    date: new Date(row.created_at),
    headers,
  };
  if (row.recipient !== null) {
    mail.to = row.recipient;
    if (bcc.length) mail.bcc = bcc;
  } else mail.to = bcc;
  if (opts.replyTo) mail.replyTo = opts.replyTo;
  if (row.host !== null && row.incident_key !== null) {
    headers['X-Hostwarden-Incident'] = `${row.host}/${row.incident_key}`;
    // Notices of one incident form one thread in mail readers.
    mail.references = `<incident.${msgIdPart(row.host)}.${msgIdPart(row.incident_key)}@${domain}>`;
  }
  return mail;
}

interface NodemailerErrorLike {
  code?: string;
  responseCode?: number;
  response?: string;
  permanent?: boolean;
  message?: string;
}

/** Refused for good: the server rejected the sender, the recipients or the message with a 5xx reply. */
export function isPermanent(err: NodemailerErrorLike): boolean {
  if (err.code !== 'EENVELOPE' && err.code !== 'EMESSAGE') return false;
  if (err.permanent !== undefined) return err.permanent;
  return err.responseCode !== undefined && err.responseCode >= 500 && err.responseCode !== 503;
}

export function describeError(err: unknown): string {
  const e = err as NodemailerErrorLike;
  const text = (e.response ?? e.message ?? String(err)).replace(/\s+/g, ' ').trim();
  return e.code && !text.includes(e.code) ? `${e.code}: ${text}` : text;
}

function readConfigFile(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(key, `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** nodemailer's SMTP options from the smtp section, its defaults applied; files read now (ConfigError if not). */
export function smtpTransportOptions(smtp: SmtpConfig) {
  const timeout = smtp.timeoutMs ?? DEFAULT_SMTP_TIMEOUT_MS;
  const tls: ConnectionOptions = { rejectUnauthorized: smtp.tls?.rejectUnauthorized ?? true };
  if (smtp.tls?.caFile !== undefined) tls.ca = readConfigFile(smtp.tls.caFile, 'smtp.tls.ca_file');
  if (smtp.tls?.servername !== undefined) tls.servername = smtp.tls.servername;
  const starttls = smtp.starttls ?? 'opportunistic';
  return {
    url: smtp.url,
    ...(starttls === 'required' ? { requireTLS: true } : starttls === 'never' ? { ignoreTLS: true } : {}),
    ...loginTlsOptions(smtp), // a login waits for STARTTLS (smtp-tls.ts)
    ...(smtp.user !== undefined ? { auth: { user: smtp.user, pass: readConfigFile(smtp.passwordFile!, 'smtp.password_file').replace(/\r?\n$/, '') } } : {}),
    tls,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    socketCloseTimeout: 1000,
  };
}

/** The url without its password, for logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

export class SmtpMailer implements Mailer {
  readonly kind = 'smtp' as const;
  readonly target: string;
  private readonly transport: Transporter;

  constructor(
    private readonly smtp: SmtpConfig,
    private readonly message: MessageOptions,
  ) {
    this.target = safeUrl(smtp.url);
    this.transport = createTransport(smtpTransportOptions(smtp));
  }

  async send(row: NoticeRow, signal?: AbortSignal): Promise<Delivered> {
    let info;
    try {
      info = await this.transport.sendMail({ ...composeMessage(row, this.message), ...(signal ? { signal } : {}) });
    } catch (err) {
      throw new DeliveryError(explainLoginTlsFailure(err, this.smtp, this.target) ?? describeError(err), isPermanent(err as NodemailerErrorLike), { cause: err });
    }
    const rejected = (info.rejected ?? []).map((a: string | { address: string }) => (typeof a === 'string' ? a : a.address));
    return { note: rejected.length ? `refused by the mail server: ${rejected.join(', ')}` : null };
  }

  close(): void {
    this.transport.close();
  }
}

/** One .eml file per message in `dir`, named by time, notice id and tenant (a repeat replaces it). */
export class OutboxDirMailer implements Mailer {
  readonly kind = 'outbox' as const;
  private readonly transport: Transporter;

  constructor(
    readonly target: string,
    private readonly message: MessageOptions,
  ) {
    this.transport = createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  }

  static fileName(row: NoticeRow): string {
    const t = new Date(row.created_at).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    return `${t}-${String(row.id).padStart(6, '0')}-${row.tenant}-${row.kind}.eml`;
  }

  async send(row: NoticeRow): Promise<Delivered> {
    let message: Buffer;
    try {
      const info = await this.transport.sendMail(composeMessage(row, this.message));
      message = info.message as Buffer;
    } catch (err) {
      throw new DeliveryError(`cannot compose the message: ${describeError(err)}`, true, { cause: err });
    }
    const name = OutboxDirMailer.fileName(row);
    const tmp = join(this.target, `.${name}.tmp`);
    try {
      mkdirSync(this.target, { recursive: true, mode: 0o750 });
      const fd = openSync(tmp, 'w', 0o640);
      try {
        writeSync(fd, message);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(this.target, name));
    } catch (err) {
      throw new DeliveryError(`cannot write ${join(this.target, name)}: ${(err as Error).message}`, false, { cause: err });
    }
    return { note: null };
  }

  close(): void {
    this.transport.close();
  }
}
