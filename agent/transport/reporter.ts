// Reporting to the controller: spooled reports are posted oldest first with the host's bearer token and
// leave the spool only on 2xx. The policy (tenants, plans, manual actions) is pulled with an ETag; the last
// copy is kept in the spool database so a restarted agent keeps governing while the controller is down.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { HostwardenError } from '../../shared/errors.js';
import type { Policy } from '../../shared/wire/agent.js';
import { MAX_POLICY_BYTES, MAX_REPORT_ANSWER_BYTES } from '../bounds.js';
import type { AgentConfig } from '../config.js';
import { ControllerHttp, ControllerRequestError, describeRequestError, type HttpResponse } from './http-client.js';
import { parsePolicy } from './policy-intake.js';
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
  private readonly http: ControllerHttp;

  constructor(
    private readonly cfg: NonNullable<AgentConfig['controller']>,
    private readonly host: string,
    private readonly spool: Spool,
    private readonly log: Logger,
  ) {
    this.http = new ControllerHttp(cfg, log);
  }

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
  private async request(method: string, path: string, opts: { body?: string | Buffer; headers?: Record<string, string>; cancel?: AbortSignal | undefined; maxBytes: number; truncate?: boolean }): Promise<HttpResponse> {
    const token = this.token ?? this.readToken();
    if (!token) throw new AgentTokenError(this.tokenError ?? 'no agent token');
    return this.http.request(method, path, {
      headers: { authorization: `Bearer ${token}`, ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      body: opts.body,
      signal: opts.cancel,
      maxResponseBytes: opts.maxBytes,
      truncate: opts.truncate,
    });
  }

  /** Post up to `max` pending reports, oldest first; stops at the first transient failure. */
  async sendPending(max = 100): Promise<SendResult> {
    let sent = 0;
    let buried = 0;
    for (const { seq, body } of this.spool.pending(max)) {
      const stamp = `{"sent_at":${JSON.stringify(new Date().toISOString())},`;
      const stamped = typeof body === 'string' ? `${stamp}${body.slice(1)}` : Buffer.concat([Buffer.from(stamp), body.subarray(1)]);
      let res: HttpResponse;
      try {
        res = await this.request('POST', '/v1/reports', { body: stamped, maxBytes: MAX_REPORT_ANSWER_BYTES, truncate: true });
      } catch (err) {
        return { sent, buried, pending: this.spool.size(), error: describeRequestError(err, this.cfg).message };
      }
      const text = await res.text();
      if (res.ok) {
        this.spool.acknowledge(seq);
        sent++;
        this.logRefusedItems(seq, text);
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
    let res: HttpResponse;
    try {
      res = await this.request('GET', `/v1/hosts/${encodeURIComponent(this.host)}/policy`, { headers: etag && stored ? { 'if-none-match': etag } : {}, cancel, maxBytes: MAX_POLICY_BYTES });
    } catch (err) {
      if (err instanceof ControllerRequestError && err.kind === 'cancelled') return { policy: stored, changed: false, error: 'policy: pull cancelled' };
      if (err instanceof ControllerRequestError && err.kind === 'too_large') {
        const error = `policy: the controller's answer is larger than ${MAX_POLICY_BYTES} bytes (the agent's limit); reading stopped, the agent keeps the policy it had`;
        this.log.error({ limit: MAX_POLICY_BYTES }, error);
        return { policy: stored, changed: false, error };
      }
      return { policy: stored, changed: false, error: describeRequestError(err, this.cfg).message };
    }
    if (res.status === 304) return { policy: stored, changed: false };
    const text = await res.text();
    if (!res.ok) {
      if (res.status === 401) this.token = undefined;
      return { policy: stored, changed: false, error: `policy: controller answered ${res.status}: ${text.slice(0, 300)}` };
    }
    const parsed = parsePolicy(text);
    if (!parsed.ok) return { policy: stored, changed: false, error: `policy: ${parsed.error}` };
    this.spool.setMeta('policy', text);
    this.spool.setMeta('policy_etag', res.headers.get('etag') ?? '');
    return { policy: parsed.policy, changed: true };
  }

  /** A 202 that names samples, events or directory entries the controller refused alone (out of range). */
  private logRefusedItems(seq: number, text: string): void {
    let answer: { rejected?: Record<string, unknown>; problems?: unknown };
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      return;
    }
    const rejected = answer?.rejected;
    if (!rejected || !Object.values(rejected).some((n) => typeof n === 'number' && n > 0)) return;
    const problems = Array.isArray(answer.problems) ? answer.problems.slice(0, 5).map((p) => String(p).slice(0, 300)) : [];
    this.log.warn({ seq, rejected, problems }, 'the controller refused some items of a report (out of range or malformed); the rest was stored');
  }

  storedPolicy(): Policy | undefined {
    const text = this.spool.getMeta('policy');
    if (!text) return undefined;
    const parsed = parsePolicy(text);
    return parsed.ok ? parsed.policy : undefined;
  }
}
