// Turning a report body into what the store ingests: parse, validate against the wire schema, quantize the
// samples into one flat vector per tenant. Pure and self-contained, so it runs either inline or in a parser
// worker thread (parse-worker.ts) with the result's typed arrays transferred back without copying.
// A report whose envelope is valid is accepted with its valid items; the others are refused alone and
// named (items.ts).
import { describeJsonError } from '../../shared/json-error.js';
import { validator } from '../../shared/validate.js';
import { ReportSchema, type ActionAck, type CollectorStatus, type HostInventory, type HostStats, type IncidentEvent, type RejectedItems, type Report, type TenantInfoWire, type WebLogStats, type WebMinute } from '../../shared/wire/agent.js';
import { HOST_WIDTH, quantizeHostStats, quantizeTenantSample, TENANT_WIDTH } from '../history/catalog.js';
import type { FileAck, QuarantinedFileWire } from '../../shared/wire/files.js';
import { scanReport } from './fast-report.js';
import { checkReport, NO_REJECTS, reportTimesValid } from './items.js';

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
  /** File quarantine entries whose state changed, and the answers to file and scan requests (issue 16). */
  files: QuarantinedFileWire[];
  fileAcks: FileAck[];
  /** Access-log counts per tenant and minute, and the reader's own counts (the web tier). */
  web: WebMinute[] | undefined;
  webLogs: WebLogStats | undefined;
  /** Size of the body in bytes. */
  bytes: number;
  /** Read by the fast scanner (false: JSON.parse and the schema, because the scanner gave up). */
  fast: boolean;
  /** Items refused alone (out of range or malformed); the rest is what this holds. */
  rejected: RejectedItems;
  /** Why, one line each, at most MAX_REPORT_PROBLEMS. */
  problems: string[];
}

export type PrepareResult = { ok: true; report: PreparedReport } | { ok: false; message: string };

const reportValidator = validator(ReportSchema);
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Parse, validate and quantize a report body: the fast scanner when it can, JSON.parse and the schema else. */
export function prepareReport(body: Uint8Array | string): PrepareResult {
  if (typeof body !== 'string') {
    const fast = scanReport(body);
    // Anything the fast path would have to refuse an item for (a second sample of a tenant, an event with a
    // time that is none, an invalid event or entry in the rest) goes the reference way, which names it.
    if (fast && reportValidator.check(fast.rest) && unique(fast.tenants) && reportTimesValid(fast.rest)) {
      return finish(fast.rest, fast.tenants, fast.values, body.byteLength, true, { ...NO_REJECTS }, []);
    }
  }
  return prepareSlow(body);
}

function unique(names: readonly string[]): boolean {
  return new Set(names).size === names.length;
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
  const checked = checkReport(raw);
  if (!checked.ok) return checked;
  const r = checked.report;
  const n = r.samples.length;
  const tenants = new Array<string>(n);
  const values = new Float64Array(n * TENANT_WIDTH);
  for (let k = 0; k < n; k++) {
    const s = r.samples[k]!;
    tenants[k] = s.tenant;
    quantizeTenantSample(s, values, k * TENANT_WIDTH);
  }
  return finish(r, tenants, values, bytes, false, checked.rejected, checked.problems);
}

function finish(r: Report, tenants: string[], values: Float64Array, bytes: number, fast: boolean, rejected: RejectedItems, problems: string[]): PrepareResult {
  const hostValues = new Float64Array(HOST_WIDTH);
  quantizeHostStats(r.host_stats, hostValues);
  const at = Date.parse(r.at);
  const sentAt = Date.parse(r.sent_at);
  const events = r.events ?? [];
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
      files: r.files ?? [],
      fileAcks: r.file_acks ?? [],
      web: r.web,
      webLogs: r.web_logs,
      bytes,
      fast,
      rejected,
      problems,
    },
  };
}
