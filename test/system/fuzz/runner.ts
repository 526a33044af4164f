// The fuzz run: batches of generated requests sent with a few in flight, each answer checked (no 5xx, a 4xx says
// `{error, message}`, accepted values read back as sent), /healthz after every batch. When requests go
// unanswered and the controller is hung or gone, it is killed, started again on the state it left (or on a
// fresh one when that fails: a finding of its own), and the requests that were in flight are sent again one
// at a time to find the one that stops it. After `maxFaults` such faults the run stops and says so.
import fc from 'fast-check';
import { NAME_RE } from '../../../shared/names.js';
import { FuzzController, HOST_A, HOST_B, tail, type Who } from './fuzz-controller.js';
import { Findings, normalize, printable, type Witness } from './findings.js';
import { INVALID_UTF8, isFaithful, isPlainObject, textBytes, toText } from './json-ish.js';
import { sendRaw, type RawOutcome, type RawRequest } from './raw-http.js';
import { readBack } from './readback.js';
import { bulkReportArb, HTML_ROUTES, opRequestArb, otherRequestArb, readBackArb, type FuzzRequest } from './requests.js';
import { emptyPools, FRESH, type Operation, type Pools } from './routes.js';
import { refreshPools, seedFixtures } from './seed.js';

export interface RunOptions {
  seed: number;
  runs: number;
  batch: number;
  concurrency: number;
  timeoutMs: number;
  maxFaults: number;
  /** Stop sending new batches after this long (the run then says it fell short). */
  deadlineMs: number;
  /** Only operations whose `METHOD /path` matches (all when absent). */
  routes?: RegExp | undefined;
  /** Told after every batch. */
  progress?: (line: string) => void;
}

interface Sent {
  req: FuzzRequest;
  raw: RawRequest;
  fresh: string | undefined;
  outcome: RawOutcome;
}

export class FuzzRun {
  readonly pools: Pools = emptyPools();
  readonly findings = new Findings();
  /** Hung or dead controllers seen (each killed and started again). */
  faults = 0;
  /** Accepted values read back. */
  readBacks = 0;
  stopped: string | undefined;
  private freshCount = 0;
  private readonly tag: string;
  private logOffset = 0;
  private pending5xx: Sent[] = [];
  private readonly waited = new WeakMap<Sent, number>();
  /** The last accepted writes: what a hang that comes after the answer (a rollup flush) is looked for in. */
  private recentWrites: Sent[] = [];

  constructor(
    readonly ctl: FuzzController,
    readonly ops: Operation[],
    readonly opts: RunOptions,
  ) {
    this.tag = `rb${(opts.seed >>> 0).toString(36)}`;
  }

  /** The bytes of a request, its FRESH placeholder filled in with a name never used before. */
  toRaw(req: FuzzRequest): { raw: RawRequest; fresh: string | undefined } {
    const text = req.body ? (req.body.text ?? toText(req.body.value)) : undefined;
    const fresh = req.target.includes(FRESH) || text?.includes(FRESH) ? `${this.tag}n${++this.freshCount}` : undefined;
    const fill = (s: string) => (fresh ? s.replaceAll(FRESH, fresh) : s);
    const headers: Array<[string, string]> = [];
    const token = req.who === 'none' ? undefined : this.ctl.tokens[req.who];
    if (req.auth !== undefined) headers.push(['Authorization', req.auth]);
    else if (token) headers.push(['Authorization', `Bearer ${token}`]);
    if (req.body?.contentType !== undefined && req.body.contentType !== null) headers.push(['Content-Type', req.body.contentType]);
    headers.push(...req.headers);
    const body = req.body && text !== undefined ? textBytes(fill(text), INVALID_UTF8[req.body.bad]) : undefined;
    return { raw: { method: req.method, target: fill(req.target), headers, body }, fresh };
  }

  private witness(s: Sent, detail: string): Witness {
    return { route: s.req.route, who: s.req.who, request: s.raw, notes: s.req.notes, detail };
  }

  /** Send one request as part of the run: counted, its answer checked, pools and read-backs updated. */
  async exchange(req: FuzzRequest): Promise<Sent> {
    const { raw, fresh } = this.toRaw(req);
    const outcome = await sendRaw(this.ctl.port, raw, this.opts.timeoutMs);
    const s: Sent = { req, raw, fresh, outcome };
    this.findings.count(req.route, outcome.kind === 'answer' ? outcome.status : undefined);
    if (outcome.kind !== 'answer') return s;
    const { status } = outcome;
    if (status >= 500) this.pending5xx.push(s);
    else if (status >= 400 && req.method !== 'HEAD') {
      const problem = htmlRefusal(req, outcome) ? undefined : errorShapeProblem(outcome);
      if (problem) this.findings.add(`4xx not {error, message}: ${status} ${problem}`, this.witness(s, `${status} ${printable(outcome.body.toString('utf8'), 300)}`));
    } else if (status >= 200 && status < 300) {
      if (req.method !== 'GET') this.recentWrites = [...this.recentWrites.slice(-15), s];
      await this.accepted(s, outcome.body);
    }
    return s;
  }

  /** A 2xx: remember the names it made, and read back what it set. */
  private async accepted(s: Sent, body: Buffer): Promise<void> {
    let answer: unknown;
    try {
      answer = body.length ? JSON.parse(body.toString('utf8')) : undefined;
    } catch {
      answer = undefined;
    }
    const { req } = s;
    const value = req.body?.value;
    const hostOf = (who: Who) => (who === 'hostB' ? HOST_B : HOST_A);
    if (req.route === 'PUT /v1/plans/{plan}' && isPlainObject(answer) && typeof answer.name === 'string') this.pools.plans.add(answer.name);
    if (req.route === 'PUT /v1/tenants/{tenant}' && isPlainObject(answer) && typeof answer.name === 'string') {
      const host = typeof answer.host === 'string' && this.pools.tenants[answer.host] ? answer.host : HOST_A;
      this.pools.tenants[host]!.add(answer.name);
    }
    if (req.route === 'POST /v1/tenants/{tenant}/actions' && isPlainObject(answer) && typeof answer.id === 'string') this.pools.actions.add(answer.id);
    if (req.route === 'POST /v1/tenants/{tenant}/links' && isPlainObject(answer) && typeof answer.url === 'string') {
      const token = /\/t\/([^/?#]+)$/.exec(answer.url)?.[1];
      if (token) this.pools.links.add(token);
    }
    if (req.route === 'POST /v1/reports' && isPlainObject(value) && Array.isArray(value.samples)) {
      for (const sample of value.samples.slice(0, 20)) {
        if (isPlainObject(sample) && typeof sample.tenant === 'string' && NAME_RE.test(sample.tenant)) this.pools.tenants[hostOf(req.who)]!.add(sample.tenant);
      }
      if (s.fresh) this.pools.tenants[hostOf(req.who)]!.add(s.fresh);
    }
    if (!req.readBack || value === undefined) return;
    const get = async (target: string) => {
      const r = await this.exchange({ route: routeOf(target), method: 'GET', target, who: 'admin', headers: [], notes: ['read-back'] });
      if (r.outcome.kind !== 'answer') return undefined;
      try {
        return { status: r.outcome.status, json: JSON.parse(r.outcome.body.toString('utf8')) as unknown };
      } catch {
        return { status: r.outcome.status, json: undefined };
      }
    };
    if (isFaithful(value)) this.readBacks++;
    const problems = await readBack(req, value, s.fresh, answer, get);
    for (const p of problems) this.findings.add(`read-back ${p.cause}`, this.witness(s, p.detail));
  }

  /** 5xx answers, each with the error the controller logged for it. */
  private drain5xx(final = false): void {
    const out = this.ctl.allOutput();
    const lines = out.slice(this.logOffset).split('\n');
    this.logOffset = out.length - (lines.at(-1)?.length ?? 0);
    const errors: Array<{ method: string; url: string; message: string }> = [];
    for (const line of lines.slice(0, -1)) {
      if (!line.includes('request failed')) continue;
      try {
        const j = JSON.parse(line) as { method?: string; url?: string; err?: { message?: string; type?: string } };
        errors.push({ method: j.method ?? '', url: j.url ?? '', message: `${j.err?.type ?? 'Error'}: ${j.err?.message ?? '?'}` });
      } catch {
        /* not a log line */
      }
    }
    const waiting: Sent[] = [];
    for (const s of this.pending5xx) {
      const i = errors.findIndex((e) => e.method === s.raw.method && e.url === s.raw.target);
      const j = i >= 0 ? i : errors.findIndex((e) => e.method === s.raw.method);
      // The log line may still be on its way: kept for the next look, unless this is the last.
      if (j < 0 && !final && (this.waited.get(s) ?? 0) < 2) {
        this.waited.set(s, (this.waited.get(s) ?? 0) + 1);
        waiting.push(s);
        continue;
      }
      const logged = j >= 0 ? errors.splice(j, 1)[0]!.message : 'no log line';
      const status = s.outcome.kind === 'answer' ? s.outcome.status : 0;
      this.findings.add(`5xx ${s.req.route} ${status}: ${normalize(logged)}`, this.witness(s, `${status} ${s.outcome.kind === 'answer' ? printable(s.outcome.body.toString('utf8'), 200) : ''}; log: ${logged}`));
    }
    this.pending5xx = waiting;
  }

  /** Baseline rows every batch can reach: plans, managed tenants on both hosts, reports, incidents, an action. */
  async seed(): Promise<void> {
    await seedFixtures(this);
  }

  /** The generated requests of batch `n`. */
  batchRequests(n: number, size: number): FuzzRequest[] {
    const now = Date.now();
    const ops = this.ops.filter((o) => !this.opts.routes || this.opts.routes.test(o.route));
    const byOp = ops.map((o) => ({ weight: o.route === 'POST /v1/reports' ? 8 : 2, arbitrary: opRequestArb(o, this.pools, now) }));
    const all = fc.oneof(...byOp, { weight: 2, arbitrary: otherRequestArb }, { weight: 8, arbitrary: readBackArb(this.pools, now) }, { weight: n % 4 === 1 ? 1 : 0, arbitrary: bulkReportArb(now) });
    const reqs = fc.sample(all, { seed: this.opts.seed + n, numRuns: size });
    // At most one bulk report per batch: each is thousands of notices. With HW_FUZZ_ROUTES, its routes only
    // (read-backs of those routes included).
    let bulk = 0;
    return reqs.filter((r) => (!this.opts.routes || this.opts.routes.test(r.route)) && (!r.notes.some((x) => x.startsWith('bulk:')) || bulk++ === 0));
  }

  /** Send a batch with `concurrency` in flight; stops taking new ones while the controller is in trouble. */
  async runBatch(reqs: FuzzRequest[]): Promise<void> {
    let next = 0;
    while (next < reqs.length && !this.stopped) {
      const unanswered: Sent[] = [];
      const worker = async () => {
        while (next < reqs.length && unanswered.length === 0) {
          const s = await this.exchange(reqs[next++]!);
          if (s.outcome.kind !== 'answer') unanswered.push(s);
        }
      };
      await Promise.all(Array.from({ length: this.opts.concurrency }, worker));
      this.drain5xx();
      if (unanswered.length) await this.trouble(unanswered);
    }
  }

  /** Requests went unanswered: a slow answer, or a hung or dead controller (then find the request that did it). */
  async trouble(unanswered: Sent[]): Promise<void> {
    const alive = this.ctl.running && (await this.ctl.healthy(3000));
    if (alive) {
      for (const s of unanswered) this.findings.add(`unanswered ${s.req.route} (${describe(s.outcome)}) while /healthz answered`, this.witness(s, describe(s.outcome)));
      return;
    }
    this.faults++;
    const how = this.ctl.running ? 'hung (no /healthz answer)' : 'exited';
    const log = tail(this.ctl.output(), 3);
    await this.ctl.killAndWait();
    await this.restartOnSameState(`after the controller ${how}`);
    // Each suspect alone, writes first, smallest first: the first that leaves the controller unanswering is
    // the culprit.
    const rank = (s: Sent) => (s.req.method === 'GET' ? 1e9 : 0) + s.raw.target.length + (s.raw.body?.length ?? 0);
    const suspects = [...unanswered.sort((a, b) => rank(a) - rank(b)), ...this.recentWrites.reverse()];
    this.recentWrites = [];
    for (const s of suspects) {
      const again = await this.exchange(replayable(s.req));
      const stillAlive = again.outcome.kind === 'answer' && this.ctl.running && (await this.ctl.healthy(5000));
      if (stillAlive) continue;
      this.findings.add(`controller ${how} after ${s.req.route}`, this.witness(s, `sent alone again: ${describe(again.outcome)}; before the kill: ${log}`));
      await this.ctl.killAndWait();
      await this.restartOnSameState(`after ${s.req.route} hung it`);
      return this.countFault();
    }
    this.findings.add(`controller ${how}; no single request in flight or just before does it again alone`, this.witness(suspects[0]!, `${unanswered.length} in flight: ${unanswered.map((s) => s.req.route).join(', ')}; log: ${log}`));
    this.countFault();
  }

  private countFault(): void {
    if (this.faults >= this.opts.maxFaults) this.stopped = `stopped after ${this.faults} hung or dead controllers (HW_FUZZ_MAX_FAULTS)`;
  }

  /** Start again on the state the controller left; when that fails (a finding), on a fresh state dir. */
  async restartOnSameState(why: string): Promise<void> {
    const r = await this.ctl.start();
    if (r.ok) return;
    this.findings.add(`restart refused on the state left ${why}: ${normalize(r.why ?? '').replace(/^exited with N: /, '')}`, {
      route: 'restart',
      who: '-',
      request: { method: 'START', target: this.ctl.stateDir, headers: [] },
      notes: [],
      detail: r.why ?? '',
    });
    await this.ctl.killAndWait();
    this.ctl.fresh();
    const again = await this.ctl.start();
    if (!again.ok) throw new Error(`the controller does not start even on a fresh state dir: ${again.why}`);
    await this.seed();
  }

  /** The whole run: batches until `runs` requests were sent, the deadline passed or the run stopped. */
  async run(): Promise<void> {
    const end = Date.now() + this.opts.deadlineMs;
    for (let n = 0; this.findings.total < this.opts.runs && !this.stopped; n++) {
      if (Date.now() > end) {
        this.stopped = `deadline (${this.opts.deadlineMs / 1000} s) passed after ${this.findings.total} requests`;
        break;
      }
      await this.runBatch(this.batchRequests(n, Math.min(this.opts.batch, this.opts.runs - this.findings.total)));
      if (this.stopped) break;
      if (!(await this.ctl.healthy(this.opts.timeoutMs))) {
        this.findings.add('/healthz not answering after a batch', { route: 'GET /healthz', who: 'none', request: { method: 'GET', target: '/healthz', headers: [] }, notes: [`batch ${n}`], detail: tail(this.ctl.output(), 3) });
        this.faults++;
        await this.ctl.killAndWait();
        await this.restartOnSameState('after /healthz stopped answering');
        this.countFault();
      }
      if (!this.stopped) await refreshPools(this);
      this.opts.progress?.(`batch ${n}: ${this.findings.total} requests, ${this.findings.violations} violations in ${this.findings.findings.size} groups, ${this.faults} hung or dead controllers, ${Math.round((Date.now() - end + this.opts.deadlineMs) / 1000)} s`);
    }
    this.drain5xx(true);
  }
}

/**
 * True for a refusal a person's browser asked for: a tenant's page (HTML_ROUTES) requested with `Accept: text/html`
 * answers an HTML page that says why (what `{error, message}` says to every other client), escaped, never a
 * script.
 */
export function htmlRefusal(req: FuzzRequest, outcome: Extract<RawOutcome, { kind: 'answer' }>): boolean {
  const text = outcome.body.toString('utf8');
  return (
    HTML_ROUTES.has(req.route) &&
    req.headers.some(([k, v]) => k.toLowerCase() === 'accept' && v.includes('text/html')) &&
    /^text\/html; charset=utf-8$/.test(outcome.headers['content-type'] ?? '') &&
    text.startsWith('<!DOCTYPE html>') &&
    /<p>[^<]{10,}<\/p>/.test(text) &&
    !/<script/i.test(text)
  );
}

/** Why a 4xx body is not `{ "error": code, "message": text }` as JSON, or undefined when it is. */
export function errorShapeProblem(outcome: Extract<RawOutcome, { kind: 'answer' }>): string | undefined {
  const text = outcome.body.toString('utf8');
  if (!text.length) return 'empty body';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `not JSON (${(outcome.headers['content-type'] ?? 'no content-type').split(';')[0]})`;
  }
  if (!isPlainObject(body)) return 'not an object';
  const keys = Object.keys(body).sort().join(',');
  const code = typeof body.code === 'string' ? ` (${body.code})` : '';
  if (keys !== 'error,message') return `keys ${keys}${code}`;
  if (typeof body.error !== 'string' || typeof body.message !== 'string' || !body.message) return 'error or message not a string';
  if (!/^[a-z][a-z0-9_]*$/.test(body.error)) return `error is not a code: ${JSON.stringify(body.error)}`;
  if (!/^application\/json/.test(outcome.headers['content-type'] ?? '')) return `content-type ${outcome.headers['content-type'] ?? 'absent'}`;
  return undefined;
}

/** The request again, as a new one: a report under a new seq (the old one would be a duplicate), no read-back. */
function replayable(req: FuzzRequest): FuzzRequest {
  const value = req.body?.value;
  const again: FuzzRequest = { ...req, readBack: undefined };
  if (req.route === 'POST /v1/reports' && isPlainObject(value) && typeof value.seq === 'number' && req.body) {
    again.body = { ...req.body, value: { ...value, seq: 1 + Math.floor(Math.random() * 2 ** 40) } };
  }
  return again;
}

function describe(o: RawOutcome): string {
  return o.kind === 'answer' ? `answered ${o.status}` : o.kind === 'timeout' ? `no answer within ${o.ms} ms` : `${o.message} after ${o.ms} ms`;
}

/** The operation a read-back target belongs to. */
function routeOf(target: string): string {
  const path = target.split('?')[0]!;
  if (path === '/v1/plans') return 'GET /v1/plans';
  if (/^\/v1\/tenants\/[^/]+\/usage$/.test(path)) return 'GET /v1/tenants/{tenant}/usage';
  if (/^\/v1\/tenants\/[^/]+$/.test(path)) return 'GET /v1/tenants/{tenant}';
  if (/^\/v1\/actions\/[^/]+$/.test(path)) return 'GET /v1/actions/{id}';
  return `GET ${path}`;
}
