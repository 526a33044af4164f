// A report as the reference path takes it (JSON.parse done): unknown fields stripped, the envelope checked
// whole, each sample, incident event and tenant directory entry checked alone.
//
//   unknown fields  a newer agent's additions (DESIGN section 5, compatibility) are dropped at every level
//                   before anything is checked (typebox Value.Clean), so a report is judged only on what this
//                   controller knows, as strictly as before: a known field out of range is still refused.
//   envelope        everything but the three item arrays (version, host, seq, times, interval, host_stats,
//                   acks, collectors, the arrays' lengths): one problem refuses the report (400), since
//                   nothing of it could be filed correctly.
//   items           a sample, event or directory entry that is malformed or has a value out of range is
//                   refused alone, counted and named (`samples/3/cpu/percent: must be <= 409600`); so is a
//                   second sample of a tenant in one report, and an event whose time is not a real time.
//                   The rest of the report is stored: an agent drops a report answered 400, and one bad value
//                   must not cost a host its whole interval.
import { Type, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { validator, type Validator } from '../../shared/validate.js';
import {
  IncidentEventSchema,
  MAX_REPORT_PROBLEMS,
  ReportSchema,
  TenantInfoWireSchema,
  TenantSampleSchema,
  type IncidentEvent,
  type RejectedItems,
  type Report,
  type TenantInfoWire,
  type TenantSample,
} from '../../shared/wire/agent.js';

const maxItems = (name: 'samples' | 'events' | 'tenants'): number => {
  const schema = ReportSchema.properties[name] as { maxItems?: unknown };
  if (typeof schema.maxItems !== 'number') throw new Error(`ReportSchema ${name} has no maxItems`);
  return schema.maxItems;
};

/** The report with its item arrays taken as they come: what refuses a report whole. */
const EnvelopeSchema = Type.Object(
  {
    ...ReportSchema.properties,
    samples: Type.Array(Type.Unknown(), { maxItems: maxItems('samples') }),
    events: Type.Optional(Type.Array(Type.Unknown(), { maxItems: maxItems('events') })),
    tenants: Type.Optional(Type.Array(Type.Unknown(), { maxItems: maxItems('tenants') })),
  },
  { additionalProperties: false },
);

const envelope = validator(EnvelopeSchema);
const sampleCheck = validator(TenantSampleSchema);
const eventCheck = validator(IncidentEventSchema);
const tenantCheck = validator(TenantInfoWireSchema);

export const NO_REJECTS: Readonly<RejectedItems> = Object.freeze({ samples: 0, events: 0, tenants: 0 });

export type CheckedReport = { ok: true; report: Report; rejected: RejectedItems; problems: string[] } | { ok: false; message: string };

/** Problems of refused items, at most MAX_REPORT_PROBLEMS lines. */
class Problems {
  readonly lines: string[] = [];
  add(line: string): void {
    if (this.lines.length < MAX_REPORT_PROBLEMS) this.lines.push(line);
  }
  /** The first problem of an item, its path from the report's root ("samples/3/cpu/percent: ..."). */
  item<T extends TSchema>(check: Validator<T>, value: unknown, at: string): void {
    if (this.lines.length >= MAX_REPORT_PROBLEMS) return;
    const first = check.problems(value, 1)[0] ?? 'does not match the schema';
    const m = /^at (\/[^:]*): (.*)$/s.exec(first);
    this.add(m ? `${at}${m[1] === '/' ? '' : m[1]}: ${m[2]}` : `${at}: ${first}`);
  }
}

/** Strip unknown fields, check the envelope, keep the items that are valid. */
export function checkReport(raw: unknown): CheckedReport {
  // Clean changes the parsed value in place: it is ours alone (JSON.parse made it).
  const cleaned = Value.Clean(ReportSchema, raw);
  if (!envelope.check(cleaned)) return { ok: false, message: envelope.problems(cleaned).join('; ') || 'report does not match the schema' };
  for (const key of ['at', 'sent_at'] as const) {
    const t = cleaned[key];
    if (t !== undefined && !isRealTime(t)) return { ok: false, message: `at /${key}: "${t}" is not a valid time` };
  }
  const problems = new Problems();
  const rejected: RejectedItems = { samples: 0, events: 0, tenants: 0 };

  const samples: TenantSample[] = [];
  const seen = new Set<string>();
  cleaned.samples.forEach((s, k) => {
    if (!sampleCheck.check(s)) {
      rejected.samples++;
      problems.item(sampleCheck, s, `samples/${k}`);
    } else if (seen.has(s.tenant)) {
      rejected.samples++;
      problems.add(`samples/${k}/tenant: "${s.tenant}" appears more than once in this report (the first is kept)`);
    } else {
      seen.add(s.tenant);
      samples.push(s);
    }
  });

  let events: IncidentEvent[] | undefined;
  if (cleaned.events) {
    events = [];
    for (const [k, e] of cleaned.events.entries()) {
      if (!eventCheck.check(e)) {
        rejected.events++;
        problems.item(eventCheck, e, `events/${k}`);
      } else if (!isRealTime(e.at) || (e.until !== undefined && !isRealTime(e.until))) {
        rejected.events++;
        const [field, value] = isRealTime(e.at) ? ['until', e.until] : ['at', e.at];
        problems.add(`events/${k}/${field}: "${value}" is not a valid time`);
      } else events.push(e);
    }
  }

  let tenants: TenantInfoWire[] | undefined;
  if (cleaned.tenants) {
    tenants = [];
    for (const [k, t] of cleaned.tenants.entries()) {
      if (tenantCheck.check(t)) tenants.push(t);
      else {
        rejected.tenants++;
        problems.item(tenantCheck, t, `tenants/${k}`);
      }
    }
  }

  // An acknowledgement or an inventory whose time is none (the date-time format lets "23:59:60" through, which
  // Date cannot hold) is left out with a problem line: the rest of the report is stored.
  if (cleaned.acks) {
    cleaned.acks = cleaned.acks.filter((a, k) => {
      if (isRealTime(a.at)) return true;
      problems.add(`acks/${k}/at: "${a.at}" is not a valid time`);
      return false;
    });
  }
  if (cleaned.inventory && !isRealTime(cleaned.inventory.gathered_at)) {
    problems.add(`inventory/gathered_at: "${cleaned.inventory.gathered_at}" is not a valid time`);
    delete cleaned.inventory;
  }

  const report: Report = { ...(cleaned as Omit<Report, 'samples' | 'events' | 'tenants'>), samples };
  if (events) report.events = events;
  else delete report.events;
  if (tenants) report.tenants = tenants;
  else delete report.tenants;
  return { ok: true, report, rejected, problems: problems.lines };
}

/** A time Date can hold (the schema's date-time format also lets a leap second "…T23:59:60Z" through). */
function isRealTime(text: string): boolean {
  return Number.isFinite(Date.parse(text));
}

/**
 * True when every time of a report is one Date can hold: the report's own, its events' (at, until), its
 * acknowledgements' and its inventory's (the fast path falls back to checkReport otherwise, which names them).
 */
export function reportTimesValid(rest: Pick<Report, 'at' | 'sent_at' | 'events' | 'acks' | 'inventory'>): boolean {
  if (!isRealTime(rest.at) || (rest.sent_at !== undefined && !isRealTime(rest.sent_at))) return false;
  if (rest.events) for (const e of rest.events) if (!isRealTime(e.at) || (e.until !== undefined && !isRealTime(e.until))) return false;
  if (rest.acks) for (const a of rest.acks) if (!isRealTime(a.at)) return false;
  return rest.inventory === undefined || isRealTime(rest.inventory.gathered_at);
}
