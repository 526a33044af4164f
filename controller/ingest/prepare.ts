// Turning a report body into what the store ingests: parse, validate against the wire schema, quantize the
// samples into one flat vector per tenant. Pure and self-contained, so it runs either inline or in a parser
// worker thread (parse-worker.ts) with the result's typed arrays transferred back without copying.
import { describeJsonError } from '../../shared/json-error.js';
import { validator } from '../../shared/validate.js';
import { ReportSchema, type ActionAck, type CollectorStatus, type HostInventory, type HostStats, type IncidentEvent, type Report, type TenantInfoWire } from '../../shared/wire/agent.js';
import { HOST_WIDTH, quantizeHostStats, quantizeTenantSample, TENANT_WIDTH } from '../history/catalog.js';
import { scanReport } from './fast-report.js';

export interface PreparedReport {
  host: string;
  seq: number;
  /** report.at in ms since the epoch. */
  at: number;
  sentAt: number;
  intervalMs: number;
  hostStats: HostStats;
  /** Tenant names, in sample order. */
  tenants: string[];
  /** Quantized sample values, tenants.length x TENANT_WIDTH, NaN = not measured. */
  values: Float64Array;
  /** Quantized host values, HOST_WIDTH. */
  hostValues: Float64Array;
  events: IncidentEvent[];
  acks: ActionAck[];
  collectors: CollectorStatus[] | undefined;
  /** The agent's directory of the tenants it governs (sent when it changes, and hourly). */
  directory: TenantInfoWire[] | undefined;
  agentVersion: string | undefined;
  /** The host's inventory, in the report after each gathering (at the agent's start and daily). */
  inventory: HostInventory | undefined;
  /** Size of the body in bytes. */
  bytes: number;
  /** Read by the fast scanner (false: JSON.parse and the schema, because the scanner gave up). */
  fast: boolean;
}

export type PrepareResult = { ok: true; report: PreparedReport } | { ok: false; message: string };

const reportValidator = validator(ReportSchema);
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Parse, validate and quantize a report body: the fast scanner when it can, JSON.parse and the schema else. */
export function prepareReport(body: Uint8Array | string): PrepareResult {
  if (typeof body !== 'string') {
    const fast = scanReport(body);
    if (fast && reportValidator.check(fast.rest)) return finish(fast.rest, fast.tenants, fast.values, body.byteLength, true);
  }
  return prepareSlow(body);
}

/** The reference path: JSON.parse, then the schema. */
export function prepareSlow(body: Uint8Array | string): PrepareResult {
  let text: string;
  try {
    text = typeof body === 'string' ? body : decoder.decode(body);
  } catch {
    return { ok: false, message: 'body is not valid UTF-8' };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `body is not valid JSON: ${describeJsonError(text, err)}` };
  }
  return prepareParsed(raw, typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
}

export function prepareParsed(raw: unknown, bytes: number): PrepareResult {
  if (!reportValidator.check(raw)) return { ok: false, message: reportValidator.problems(raw).join('; ') || 'report does not match the schema' };
  const n = raw.samples.length;
  const tenants = new Array<string>(n);
  const values = new Float64Array(n * TENANT_WIDTH);
  for (let k = 0; k < n; k++) {
    const s = raw.samples[k]!;
    tenants[k] = s.tenant;
    quantizeTenantSample(s, values, k * TENANT_WIDTH);
  }
  return finish(raw, tenants, values, bytes, false);
}

function finish(r: Report, tenants: string[], values: Float64Array, bytes: number, fast: boolean): PrepareResult {
  const seen = new Set<string>();
  for (let k = 0; k < tenants.length; k++) {
    const name = tenants[k]!;
    if (seen.has(name)) return { ok: false, message: `at /samples/${k}/tenant: "${name}" appears more than once in this report` };
    seen.add(name);
  }
  const hostValues = new Float64Array(HOST_WIDTH);
  quantizeHostStats(r.host_stats, hostValues);
  const at = Date.parse(r.at);
  const sentAt = Date.parse(r.sent_at);
  const events = r.events ?? [];
  for (let k = 0; k < events.length; k++) {
    if (!Number.isFinite(Date.parse(events[k]!.at))) return { ok: false, message: `at /events/${k}/at: not a valid time` };
  }
  if (!Number.isFinite(at)) return { ok: false, message: 'at /at: not a valid time' };
  return {
    ok: true,
    report: {
      host: r.host,
      seq: r.seq,
      at,
      sentAt: Number.isFinite(sentAt) ? sentAt : at,
      intervalMs: Math.round(r.interval * 1000),
      hostStats: r.host_stats,
      tenants,
      values,
      hostValues,
      events,
      acks: r.acks ?? [],
      collectors: r.collectors,
      directory: r.tenants,
      agentVersion: r.agent_version,
      inventory: r.inventory,
      bytes,
      fast,
    },
  };
}
