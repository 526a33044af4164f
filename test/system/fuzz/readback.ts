// Read-backs: a valid value that the controller accepted (2xx) must read back as sent. Checked where the API
// makes it checkable: a plan (PUT /v1/plans/{plan} -> GET /v1/plans), a tenant's spec (PUT -> GET
// /v1/tenants/{tenant}), a manual action (POST -> GET /v1/actions/{id}) and a report's sample of a fresh tenant
// (POST /v1/reports -> GET /v1/tenants/{tenant}/usage at the sample's time, raw tier).
import { TENANT_METRICS } from '../../../controller/history/catalog.js';
import { isFaithful, isPlainObject, RawNumber, sameNumber, toText, type JsonIsh } from './json-ish.js';
import { BODY_SCHEMAS, type FuzzRequest } from './requests.js';
import type { SchemaNode } from './schema-arb.js';

/** Sends a GET as part of the run (counted and checked like every other request); its parsed answer, or undefined
 *  when it went unanswered (counted as such by the run, not read back). */
export type Get = (target: string) => Promise<{ status: number; json: unknown } | undefined>;

/** The scale each history series is stored in (value = round(sent * scale) / scale), from the store's catalog. */
const SCALE: Record<string, number> = Object.fromEntries(TENANT_METRICS.map((m) => [m.name, m.scale]));

/** The schema of a value at a path of properties (undefined where the schema does not say). */
function schemaAt(s: SchemaNode | undefined, path: string[]): SchemaNode | undefined {
  let at = s;
  for (const k of path) at = at?.properties?.[k] ?? at?.items;
  return at;
}

/** An integer field (a union that takes integers and no other numbers counts). */
function isInteger(s: SchemaNode | undefined): boolean {
  if (!s) return false;
  if (s.type === 'integer') return true;
  return (s.anyOf?.some((b) => b.type === 'integer') ?? false) && !(s.anyOf?.some((b) => b.type === 'number') ?? false);
}

/** A sample's fields and the usage series that shows each. */
const SAMPLE_SERIES: Array<[path: string[], series: string]> = [
  [['cpu', 'percent'], 'cpu_percent'],
  [['memory', 'current'], 'memory_current'],
  [['memory', 'anon'], 'memory_anon'],
  [['memory', 'file'], 'memory_file'],
  [['io', 'read_bps'], 'io_read_bps'],
  [['io', 'write_bps'], 'io_write_bps'],
  [['io', 'read_iops'], 'io_read_iops'],
  [['io', 'write_iops'], 'io_write_iops'],
  [['processes', 'count'], 'processes'],
  [['bandwidth', 'tx_bps'], 'bandwidth_tx_bps'],
  [['bandwidth', 'rx_bps'], 'bandwidth_rx_bps'],
  [['inodes', 'count'], 'inodes'],
  [['api', 'per_minute'], 'api_per_minute'],
  [['pressure', 'cpu', 'some', 'avg10'], 'pressure_cpu_some'],
  [['pressure', 'cpu', 'full', 'avg10'], 'pressure_cpu_full'],
  [['pressure', 'memory', 'some', 'avg10'], 'pressure_memory_some'],
  [['pressure', 'memory', 'full', 'avg10'], 'pressure_memory_full'],
  [['pressure', 'io', 'some', 'avg10'], 'pressure_io_some'],
  [['pressure', 'io', 'full', 'avg10'], 'pressure_io_full'],
  [['strays'], 'strays'],
  [['frozen'], 'frozen'],
  [['throttle_level'], 'throttle_level'],
];

function dig(v: JsonIsh | undefined, path: string[]): JsonIsh | undefined {
  let at: JsonIsh | undefined = v;
  for (const k of path) at = isPlainObject(at) ? at[k] : undefined;
  return at;
}

const show = (v: unknown): string => (v === undefined ? 'undefined' : toText(v as JsonIsh));

/** An integer written as digits that no double holds (2^53+1): accepted, it can only read back rounded. */
function unsafeInteger(v: JsonIsh): boolean {
  if (v instanceof RawNumber) return /^-?\d+$/.test(v.text) && !Number.isSafeInteger(Number(v.text));
  if (Array.isArray(v)) return v.some(unsafeInteger);
  if (isPlainObject(v)) return Object.values(v).some(unsafeInteger);
  return false;
}

/** What did not read back: the cause (the same for every instance of it, for grouping) and the details. */
export interface ReadBackProblem {
  cause: string;
  detail: string;
}

/** A value in history is the one sent, quantized to the series' scale (an integer field written as digits: exactly). */
function inHistory(sent: number | RawNumber, got: unknown, series: string, integer: boolean): boolean {
  if (typeof got !== 'number' || !Number.isFinite(got)) return false;
  const scale = SCALE[series] ?? 1;
  if (integer && scale === 1) return sameNumber(sent, got, true);
  const v = sent instanceof RawNumber ? sent.value : sent;
  const expected = Math.round(v * scale) / scale;
  return Math.abs(got - expected) <= 1e-12 * Math.abs(expected);
}

/** Whether `got` is `sent` (as its schema reads it): numbers by sameNumber, strings and booleans exactly, arrays and objects in depth. */
function same(sent: JsonIsh, got: unknown, schema: SchemaNode | undefined): boolean {
  if (typeof sent === 'number' || sent instanceof RawNumber) return sameNumber(sent, got, isInteger(schema));
  if (Array.isArray(sent)) return Array.isArray(got) && got.length === sent.length && sent.every((x, i) => same(x, got[i], schema?.items));
  if (isPlainObject(sent)) return typeof got === 'object' && got !== null && Object.entries(sent).every(([k, x]) => same(x, (got as Record<string, unknown>)[k], schema?.properties?.[k]));
  return sent === got;
}

/** What does not read back as sent, in words (empty: all did, or nothing was checkable). */
export async function readBack(req: FuzzRequest, sent: JsonIsh, name: string | undefined, answer: unknown, get: Get): Promise<ReadBackProblem[]> {
  if (!isFaithful(sent) || !isPlainObject(sent)) return [];
  const problems: ReadBackProblem[] = [];
  const problem = (cause: string, detail: string) => problems.push({ cause: `${req.readBack}: ${cause}`, detail });
  const schema = BODY_SCHEMAS[req.route];
  const compare = (what: string, expected: Record<string, JsonIsh>, got: unknown) => {
    for (const [k, v] of Object.entries(expected)) {
      const read = (got as Record<string, unknown> | undefined)?.[k];
      if (same(v, read, schema?.properties?.[k])) continue;
      const cause = unsafeInteger(v) ? 'an integer beyond 2^53 was accepted and reads back rounded' : `${k} does not read back as sent`;
      problem(cause, `${what}.${k}: sent ${show(v)}, read ${show(read)}`);
    }
  };
  switch (req.readBack) {
    case 'plan': {
      const expected = { weight: 1, ...sent };
      compare('PUT answer plan', expected, (answer as { plan?: unknown })?.plan);
      const list = await get('/v1/plans');
      const entry = (list?.json as { plans?: Array<{ name: string; plan: unknown }> } | undefined)?.plans?.find((p) => p.name === name);
      if (!list) break;
      if (!entry) problem('an accepted plan is not listed', `plan ${name} not listed by GET /v1/plans (status ${list.status})`);
      else compare('GET /v1/plans plan', expected, entry.plan);
      break;
    }
    case 'tenant': {
      const expected: Record<string, JsonIsh> = { ...sent };
      delete expected.name;
      const got = await get(`/v1/tenants/${name}`);
      if (!got) break;
      if (got.status !== 200) problem(`GET /v1/tenants/{tenant} answered ${got.status}`, `GET /v1/tenants/${name} answered ${got.status}`);
      else compare('spec', expected, (got.json as { spec?: unknown }).spec);
      break;
    }
    case 'action': {
      const id = (answer as { id?: string }).id;
      const got = await get(`/v1/actions/${encodeURIComponent(String(id))}`);
      if (!got) break;
      const expected: Record<string, JsonIsh> = { action: sent.action!, reason: sent.reason! };
      if (sent.level !== undefined) expected.level = sent.level;
      if (got.status !== 200) problem(`GET /v1/actions/{id} answered ${got.status}`, `GET /v1/actions/${id} answered ${got.status}`);
      else compare('action', expected, got.json);
      break;
    }
    case 'report': {
      const a = answer as Record<string, unknown>;
      if (a.duplicate === true) break;
      // An answer that names rejected items (a report partly refused) says which samples were not stored.
      const extra = JSON.stringify(Object.fromEntries(Object.entries(a).filter(([k]) => !['accepted', 'duplicate', 'seq'].includes(k))));
      if (name === undefined || extra.includes(name) || extra.includes('samples')) break;
      const sample = (sent.samples as JsonIsh[] | undefined)?.[0];
      const at = Date.parse(String(sent.at));
      const got = await get(`/v1/tenants/${name}/usage?from=${new Date(at - 1000).toISOString()}&to=${new Date(at + 1000).toISOString()}`);
      if (!got) break;
      if (got.status !== 200) {
        problem(`the usage of the sample's tenant answered ${got.status}`, `usage of ${name} answered ${got.status}`);
        break;
      }
      const usage = got.json as { times: string[]; series: Record<string, { avg: unknown[]; max: unknown[] }> };
      const i = usage.times.indexOf(new Date(at).toISOString());
      if (i < 0) {
        problem('an accepted sample has no point in the usage', `usage of ${name} has no point at ${new Date(at).toISOString()} (times ${JSON.stringify(usage.times)})`);
        break;
      }
      for (const [path, series] of SAMPLE_SERIES) {
        let v = dig(sample, path);
        if (v === undefined) continue;
        if (typeof v === 'boolean') v = v ? 1 : 0;
        if (typeof v !== 'number' && !(v instanceof RawNumber)) continue;
        const avg = usage.series[series]?.avg[i];
        const max = usage.series[series]?.max[i];
        const integer = isInteger(schemaAt(schema?.properties?.samples?.items, path));
        if (inHistory(v, avg, series, integer) && inHistory(v, max, series, integer)) continue;
        const cause = unsafeInteger(v) ? 'an integer beyond 2^53 was accepted and reads back rounded' : `usage ${series} does not read back as sent`;
        problem(cause, `usage ${series}: sent ${show(v)}, read avg ${show(avg)} max ${show(max)}`);
      }
      break;
    }
    default:
      break;
  }
  return problems;
}
