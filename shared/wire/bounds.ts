// The range of every number on the wire (agent.ts), in the admin API (api.ts), in plans and in the store: one
// catalog, so a bound is changed in one place and the schemas, the agent's config reader, the controller's
// fast report scanner and README's "Security and reliability" table all say the same.
//
// Why these ranges: every value an agent reports is quantized with its catalog scale
// (controller/history/catalog.ts) into an integer the history codec stores exactly (|stored| <= 2^52 - 1,
// history/codec.ts), so nothing that passes a schema can stop the codec. The maxima are far above any real
// machine (4096 cores, 1 PiB), so no honest agent meets them; a value beyond one is refused (its sample,
// event or directory entry alone: controller/ingest/items.ts), never clamped.
import { Type, type TInteger, type TNumber } from 'typebox';

/** Online CPUs of a host: a fraction for a CPU-quota-limited container, at most 4096. */
export const MIN_CORES = 0.01;
export const MAX_CORES = 4096;
/** CPU use in percent of one core (100 = one core): at most every core of the largest host. */
export const MAX_CPU_PERCENT = 100 * MAX_CORES;
/** Bytes and bytes per second (memory, disk and network rates, RSS): 2^50 = 1 PiB. */
export const MAX_BYTES = 2 ** 50;
/** Operations per second (iops) and API calls per minute: 2^40 (about 1.1e12). */
export const MAX_OPS = 2 ** 40;
/** Tasks (processes, threads, PIDs, strays): the kernel's PID_MAX_LIMIT, 2^22. */
export const MAX_TASKS = 4_194_304;
/** Inodes owned: 2^50. */
export const MAX_INODES = 2 ** 50;
/** Linux UIDs: 0 .. 2^32 - 2 ((uid_t) -1 means "no user"). */
export const MAX_UID = 4_294_967_294;
/** The agent's default `uid_min`: UIDs below it are system accounts, never governed. */
export const DEFAULT_UID_MIN = 1000;
/** Fair-share weight of a plan. */
export const MIN_WEIGHT = 0.01;
export const MAX_WEIGHT = 10_000;
/** Any integer a JSON number carries exactly (seq, ids, cumulative counters). */
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Durations in seconds: ten years. */
export const MAX_SECONDS = 10 * 365 * 86_400;
/** Fractions of a host (shares, dominant share, fair share) as the ledger keeps them (controller/fairness.ts). */
export const MAX_SHARE = 1e6;
/** Fairness debt, share-hours, either sign. */
export const MAX_DEBT = 1e6;
/** A value the store holds, read back (series points, explanation values): any finite number this size. */
export const MAX_VALUE = MAX_SAFE;

const NAMED: ReadonlyMap<number, string> = new Map([
  [MAX_SAFE, '2^53-1'],
  [-MAX_SAFE, '-(2^53-1)'],
  [MAX_BYTES, '2^50'],
  [MAX_OPS, '2^40'],
  [MAX_TASKS, '2^22'],
]);

/** A bound as README and the descriptions write it: 2^50, 2^53-1, 409600. */
export function formatBound(n: number): string {
  return NAMED.get(n) ?? String(n);
}

/** "0..409600": the range text every description ends with. */
export function rangeText(min: number, max: number): string {
  return `${formatBound(min)}..${formatBound(max)}`;
}

const describe = (description: string | undefined, min: number, max: number) => (description ? `${description} (${rangeText(min, max)})` : `${rangeText(min, max)}`);

/** A finite number in [min, max], its range said in its description. */
export function NumberIn(min: number, max: number, description?: string, extra: { default?: number; exclusiveMinimum?: number } = {}): TNumber {
  const lower = extra.exclusiveMinimum === undefined ? { minimum: min } : { exclusiveMinimum: extra.exclusiveMinimum };
  return Type.Number({ ...lower, maximum: max, ...(extra.default === undefined ? {} : { default: extra.default }), description: describe(description, min, max) });
}

/** A safe integer in [min, max], its range said in its description. */
export function IntegerIn(min: number, max: number, description?: string, extra: { default?: number } = {}): TInteger {
  return Type.Integer({ minimum: min, maximum: max, ...(extra.default === undefined ? {} : { default: extra.default }), description: describe(description, min, max) });
}

// --- plans ---------------------------------------------------------------------------------------------------
/**
 * The one rule for a plan's values, in base units: what the agent accepts in agent.yaml (agent/config.ts
 * readPlan) and what the API accepts (PUT /v1/plans, PlanPutSchema). Lower bounds are what the kernel can
 * enforce (a CPU quota under 1% of a core, a memory cap under 4 MiB or a weight under 0.01 leave a tenant
 * uncapped or unfreezable in practice).
 */
export const PLAN_LIMITS = {
  cpu: { min: 1, max: MAX_CPU_PERCENT, integer: false, unit: 'percent of one core (100 = one core)' },
  memory: { min: 4 * 1024 * 1024, max: MAX_BYTES, integer: true, unit: 'bytes' },
  io_read: { min: 1, max: MAX_BYTES, integer: true, unit: 'bytes/s' },
  io_write: { min: 1, max: MAX_BYTES, integer: true, unit: 'bytes/s' },
  iops: { min: 1, max: MAX_OPS, integer: true, unit: 'operations/s' },
  processes: { min: 1, max: MAX_TASKS, integer: true, unit: 'tasks (threads count)' },
  api: { min: 1, max: MAX_OPS, integer: true, unit: 'API calls/minute (held at the web server)' },
  bandwidth: { min: 1000, max: MAX_BYTES, integer: true, unit: 'bytes/s sent (own sockets by an HTB class; each web response at the web server)' },
  inodes: { min: 1, max: MAX_INODES, integer: true, unit: 'inodes (files and directories owned)' },
  weight: { min: MIN_WEIGHT, max: MAX_WEIGHT, integer: false, unit: 'fair-share weight' },
} as const;
export type PlanKey = keyof typeof PLAN_LIMITS;

/** Why `value` cannot be the plan's `key`, in words naming the range; undefined when it can. */
export function planValueProblem(key: PlanKey, value: number): string | undefined {
  const rule = PLAN_LIMITS[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a finite number (${rangeText(rule.min, rule.max)} ${rule.unit})`;
  if (rule.integer && !Number.isInteger(value)) return `must be a whole number of ${rule.unit}, got ${value}`;
  if (value < rule.min || value > rule.max) return `must be within ${rangeText(rule.min, rule.max)} ${rule.unit}, got ${value}`;
  return undefined;
}

/** The schema of a plan value under the one rule (PUT /v1/plans). */
export function planValueSchema(key: PlanKey): TNumber | TInteger {
  const rule = PLAN_LIMITS[key];
  return rule.integer ? IntegerIn(rule.min, rule.max, rule.unit) : NumberIn(rule.min, rule.max, rule.unit);
}

/** Why a UID cannot be a tenant's (below `uidMin`: a system account; beyond MAX_UID: no such UID). */
export function uidProblem(uid: number, uidMin = DEFAULT_UID_MIN): string | undefined {
  if (!Number.isInteger(uid) || uid > MAX_UID) return `UID ${uid} is not a Linux UID (0..${MAX_UID})`;
  if (uid < uidMin) return `UID ${uid} is below uid_min ${uidMin}: system accounts are never governed`;
  return undefined;
}
