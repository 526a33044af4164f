// A real SMTP server on loopback (the smtp-server package) that keeps what it receives: the envelope (where
// Bcc recipients show) and the message parsed by mailparser. It listens on a port the kernel picks at the
// first start and can be stopped and started again on that port, offer STARTTLS or TLS from the start with a
// certificate, and require a login.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { IncidentEvent, Report, TenantInfoWire } from '../../../../shared/wire/agent.js';

export interface Received {
  from: string;
  to: string[];
  raw: Buffer;
  mail: ParsedMail;
  secure: boolean;
  user: string | undefined;
}

export interface SmtpOptions {
  /** TLS from the start (smtps). */
  secure?: boolean;
  /** Offer STARTTLS (with `cert`); off by default. */
  starttls?: boolean;
  cert?: { key: string; cert: string };
  /** Require this login. */
  auth?: { user: string; pass: string };
  /** No TLS at all: STARTTLS is an unknown command (without it, smtp-server would still upgrade on request). */
  noTls?: boolean;
}

export class TestSmtp {
  readonly received: Received[] = [];
  private server: SMTPServer | undefined;
  private bound = 0;

  constructor(private readonly opts: SmtpOptions = {}) {}

  /** The port it listens on: known after the first start(). */
  get port(): number {
    if (this.bound === 0) throw new Error('TestSmtp: no port before the first start()');
    return this.bound;
  }

  async start(): Promise<void> {
    const o = this.opts;
    const server = new SMTPServer({
      secure: o.secure ?? false,
      ...(o.cert ? { key: o.cert.key, cert: o.cert.cert } : {}),
      hideSTARTTLS: !o.starttls,
      ...(o.starttls ? {} : { disabledCommands: [...(o.auth ? [] : ['AUTH']), ...(o.noTls ? ['STARTTLS'] : [])] }),
      authOptional: !o.auth,
      logger: false,
      onAuth: (auth, _session, cb) => {
        if (o.auth && auth.username === o.auth.user && auth.password === o.auth.pass) return cb(null, { user: auth.username });
        return cb(new Error('Invalid username or password'));
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          simpleParser(raw).then(
            (mail) => {
              this.received.push({
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                to: session.envelope.rcptTo.map((r) => r.address),
                raw,
                mail,
                secure: session.secure,
                user: session.user as string | undefined,
              });
              cb();
            },
            (err: Error) => cb(err),
          );
        });
      },
    });
    // First start: port 0, the kernel picks a free port while binding it (no race with other processes).
    // A restart binds that port again, where the controller's config points: free since our stop(), it is
    // taken only if a bind to port 0 elsewhere drew exactly this one in between, and then listen() fails
    // loudly (EADDRINUSE) rather than a test passing wrongly.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.bound, '127.0.0.1', () => resolve());
    });
    this.bound = (server.server.address() as { port: number }).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Messages whose subject matches. */
  with(subject: RegExp | string): Received[] {
    return this.received.filter((r) => (typeof subject === 'string' ? r.mail.subject === subject : subject.test(r.mail.subject ?? '')));
  }
}

/** A self-signed certificate for 127.0.0.1 and localhost (it is its own CA), made with openssl in `dir`. */
export function selfSignedCert(dir: string): { key: string; cert: string; certFile: string } {
  const key = join(dir, 'smtp-key.pem');
  const cert = join(dir, 'smtp-cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'pipe' });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8'), certFile: cert };
}

/** A report of host web01 as its agent sends it: incident events, and the tenant directory when given. */
export function agentReport(seq: number, events: IncidentEvent[], tenants?: TenantInfoWire[]): Report {
  const now = new Date().toISOString();
  return { version: 1, host: 'web01', seq, at: now, sent_at: now, interval: 5, host_stats: { cores: 2, memory_bytes: 8 << 30 }, samples: [], events, ...(tenants ? { tenants } : {}) };
}

/** POST /v1/reports with the agent's token; the HTTP status. */
export async function postReport(url: string, token: string, report: Report): Promise<number> {
  const res = await fetch(`${url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(report) });
  await res.arrayBuffer();
  return res.status;
}
