// A login to the mail server goes over TLS only. With `smtps://` the connection is TLS from the start; with
// `smtp://` and a login (smtp.user, or user:password in the url) STARTTLS is required (nodemailer
// `requireTLS`), whatever smtp.starttls says short of `never`, so a server that does not offer STARTTLS, or a
// man in the middle that strips it, gets no password in clear: the notice waits with an error that says so.
// `smtp.allow_insecure_auth: true` restores opportunistic STARTTLS (and permits `starttls: never`) for a
// server that cannot do TLS. Without a login nothing changes: STARTTLS when offered.

/** The keys of the smtp section this rule reads (config.ts SmtpConfig has them). */
export interface SmtpLogin {
  url: string;
  user?: string | undefined;
  allowInsecureAuth?: boolean | undefined;
}

/** True when the smtp section logs in: smtp.user, or a user name in the url. */
export function smtpHasLogin(smtp: Pick<SmtpLogin, 'url' | 'user'>): boolean {
  if (smtp.user !== undefined) return true;
  try {
    return new URL(smtp.url).username !== '';
  } catch {
    return false;
  }
}

/** True when a login must wait for STARTTLS (smtp://, a login, and no allow_insecure_auth). */
export function loginRequiresStartTls(smtp: SmtpLogin): boolean {
  return smtp.url.startsWith('smtp:') && smtpHasLogin(smtp) && smtp.allowInsecureAuth !== true;
}

/** The nodemailer options this rule adds to the transport's (none when it does not apply). */
export function loginTlsOptions(smtp: SmtpLogin): { requireTLS?: true } {
  return loginRequiresStartTls(smtp) ? { requireTLS: true } : {};
}

/**
 * What to tell the admin when a delivery failed because STARTTLS could not be had while a login waited for it;
 * undefined for every other failure.
 */
export function explainLoginTlsFailure(err: unknown, smtp: SmtpLogin, target: string): string | undefined {
  const e = err as { code?: string; command?: string; response?: unknown };
  // nodemailer: the server answered STARTTLS with an error (a certificate problem has no response and says so itself).
  if (!loginRequiresStartTls(smtp) || e.code !== 'ETLS' || e.command !== 'STARTTLS' || typeof e.response !== 'string') return undefined;
  return (
    `the mail server at ${target} offers no STARTTLS (it answered: ${e.response.replace(/\s+/g, ' ').trim()}), and the login (smtp.user) is sent only over TLS: ` +
    'enable STARTTLS on the server, use smtps://, or set smtp.allow_insecure_auth: true to send the password unencrypted'
  );
}
