// Reporting to the controller: spooled reports are posted oldest first with the host's bearer token and
// leave the spool only on 2xx. The policy (tenants, plans, manual actions) is pulled with an ETag; the last
// copy is kept in the spool database so a restarted agent keeps governing while the controller is down.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { HostwardenError } from '../../shared/errors.js';
import type { Policy } from '../../shared/wire/agent.js';
import { BodyTooLargeError, MAX_POLICY_BYTES, readAnswerText, readBodyLimited } from '../bounds.js';
import type { AgentConfig } from '../config.js';
import { parsePolicy } from '../policy-intake.js';
import type { Spool } from './spool.js';

/** The agent's bearer token cannot be read (missing, unreadable or empty file): nothing can be sent. */
export class AgentTokenError extends HostwardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HW_AGENT_TOKEN', message, options);
  }
}

/** What a policy pull gives: the last good policy, whether it changed, and why the controller did not answer. */
export interface PolicyPullResult {
  policy: Policy | undefined;
  changed: boolean;
  error?: string;
}

export interface SendResult {
  sent: number;
  buried: number;
  pending: number;
  /** The error that stopped sending, if any (network, 401, 5xx). */
  error?: string;
}

export class ControllerClient {
  private token: string | undefined;
  private tokenError: string | undefined;

  constructor(
    private readonly cfg: NonNullable<AgentConfig['controller']>,
    private readonly host: string,
    private readonly spool: Spool,
    private readonly log: Logger,
  ) {}

  private readToken(): string | undefined {
    try {
      const t = readFileSync(this.cfg.tokenFile, 'utf8').trim();
      if (!t) throw new AgentTokenError('the file is empty');
      this.token = t;
      this.tokenError = undefined;
    } catch (err) {
      this.token = undefined;
      const msg = `cannot read agent token from ${this.cfg.tokenFile}: ${(err as Error).message}`;
      if (msg !== this.tokenError) this.log.error(msg);
      this.tokenError = msg;
    }
    return this.token;
  }

  /** One request, given up after the configured timeout or when `cancel` aborts (the agent stopping). */
  private async request(method: string, path: string, body?: string, headers: Record<string, string> = {}, cancel?: AbortSignal): Promise<Response> {
    const token = this.token ?? this.readToken();
    if (!token) throw new AgentTokenError(this.tokenError ?? 'no agent token');
    const timeout = AbortSignal.timeout(this.cfg.timeoutMs);
    return fetch(`${this.cfg.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body } : {}),
      signal: cancel ? AbortSignal.any([timeout, cancel]) : timeout,
    });
  }

  /** Post up to `max` pending reports, oldest first; stops at the first transient failure. */
  async sendPending(max = 100): Promise<SendResult> {
    let sent = 0;
    let buried = 0;
    for (const { seq, body } of this.spool.pending(max)) {
      const stamped = `{"sent_at":${JSON.stringify(new Date().toISOString())},${body.slice(1)}`;
      let res: Response;
      try {
        res = await this.request('POST', '/v1/reports', stamped);
      } catch (err) {
        return { sent, buried, pending: this.spool.size(), error: describeFetchError(err, this.cfg.url) };
      }
      const text = await readAnswerText(res);
      if (res.ok) {
        this.spool.acknowledge(seq);
        sent++;
        continue;
      }
      if (res.status === 401) this.token = undefined; // re-read the token file next time
      if (res.status === 400 || res.status === 409 || res.status === 413 || res.status === 422) {
        // The controller will never take this report (malformed, or its seq already holds another report,
        // as after a lost spool): keep it aside and go on with the next. On 409 later reports are numbered
        // from now on, past whatever the controller holds.
        this.log.error({ seq, status: res.status, body: text.slice(0, 500) }, 'controller refused the report for good; moved to dead letters');
        this.spool.bury(seq, res.status, text.slice(0, 2000));
        if (res.status === 409) this.spool.skipAhead();
        buried++;
        continue;
      }
      return { sent, buried, pending: this.spool.size(), error: `controller answered ${res.status}: ${text.slice(0, 300)}` };
    }
    return { sent, buried, pending: this.spool.size() };
  }

  /**
   * The last good policy: fetched when changed (ETag), else the stored copy; undefined if never had one.
   * `cancel` gives up early (the agent stopping): the stored copy is returned with an error, nothing is stored.
   */
  async pullPolicy(cancel?: AbortSignal): Promise<PolicyPullResult> {
    const stored = this.storedPolicy();
    const etag = this.spool.getMeta('policy_etag');
    let res: Response;
    try {
      res = await this.request('GET', `/v1/hosts/${encodeURIComponent(this.host)}/policy`, undefined, etag && stored ? { 'if-none-match': etag } : {}, cancel);
    } catch (err) {
      return { policy: stored, changed: false, error: describeFetchError(err, this.cfg.url) };
    }
    if (res.status === 304) return { policy: stored, changed: false };
    if (cancel?.aborted) return { policy: stored, changed: false, error: 'policy: pull cancelled' };
    if (!res.ok) {
      const text = await readAnswerText(res);
      if (res.status === 401) this.token = undefined;
      return { policy: stored, changed: false, error: `policy: controller answered ${res.status}: ${text.slice(0, 300)}` };
    }
    let text: string;
    try {
      text = (await readBodyLimited(res, MAX_POLICY_BYTES)).text;
    } catch (err) {
      const error = err instanceof BodyTooLargeError
        ? `policy: the controller's answer is larger than ${MAX_POLICY_BYTES} bytes (the agent's limit); reading stopped, the agent keeps the policy it had`
        : `policy: cannot read the controller's answer: ${describeFetchError(err, this.cfg.url)}`;
      this.log.error({ limit: MAX_POLICY_BYTES }, error);
      return { policy: stored, changed: false, error };
    }
    const parsed = parsePolicy(text);
    if (!parsed.ok) return { policy: stored, changed: false, error: `policy: ${parsed.error}` };
    this.spool.setMeta('policy', text);
    this.spool.setMeta('policy_etag', res.headers.get('etag') ?? '');
    return { policy: parsed.policy, changed: true };
  }

  storedPolicy(): Policy | undefined {
    const text = this.spool.getMeta('policy');
    if (!text) return undefined;
    const parsed = parsePolicy(text);
    return parsed.ok ? parsed.policy : undefined;
  }
}

function describeFetchError(err: unknown, url: string): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `controller at ${url} did not answer in time`;
  const cause = e.cause?.code ?? e.cause?.message;
  return `cannot reach controller at ${url}: ${cause ?? e.message}`;
}
