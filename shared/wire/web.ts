// The web tier's wire: what the agent read from access logs (per tenant and minute, exact counts) and what a
// platform that meters API calls itself pushes (POST /v1/usage/api). Apart from agent.ts only for its size.
import { Type, type Static } from 'typebox';
import { NAME_PATTERN } from '../names.js';
import { IntegerIn, MAX_SAFE } from './bounds.js';

const Count = (max: number, description?: string) => IntegerIn(0, max, description);
const TenantNameSchema = Type.String({ pattern: NAME_PATTERN, description: 'tenant name' });
const TimestampSchema = Type.String({ format: 'date-time', description: 'ISO-8601 UTC timestamp' });

/** Most minute rows one report carries (the agent stops reading for the tick before it has more). */
export const MAX_WEB_MINUTES = 20_000;

/** What a tenant's web sites served in one minute (by the log lines' own times), counted exactly. */
export const WebMinuteSchema = Type.Object(
  {
    tenant: TenantNameSchema,
    minute: TimestampSchema,
    requests: Count(MAX_SAFE, 'requests (log lines) attributed to the tenant'),
    api_calls: Count(MAX_SAFE, "requests whose path matched the tenant's api_paths"),
    bytes: Count(MAX_SAFE, 'response bytes sent (%O / $bytes_sent)'),
    errors_5xx: Count(MAX_SAFE, 'responses with a 5xx status'),
  },
  { additionalProperties: false, description: "counts added to the minute's totals: a report carries what was read since the previous one" },
);
export type WebMinute = Static<typeof WebMinuteSchema>;

/** The access-log reader's own counts since the previous report (added up by the controller). */
export const WebLogStatsSchema = Type.Object(
  {
    lines: Count(MAX_SAFE, 'lines read'),
    unparsed: Count(MAX_SAFE, 'lines that did not parse (counted and skipped)'),
    unattributed: Count(MAX_SAFE, "lines whose virtual host is in no tenant's domains"),
    rotations: Count(MAX_SAFE, 'rotations by rename followed'),
    truncations: Count(MAX_SAFE, 'truncations (copytruncate) seen: what was written between the copy and the truncation is lost'),
    lost_files: Count(MAX_SAFE, 'rotated files gone before they were read to the end'),
    lost_bytes: Count(MAX_SAFE, 'bytes known to be lost (truncated unread, no copy found)'),
    backlog_bytes: Count(MAX_SAFE, 'bytes written to the logs and not read yet, at the report'),
  },
  { additionalProperties: false },
);
export type WebLogStats = Static<typeof WebLogStatsSchema>;

// --- POST /v1/usage/api: API calls a platform counted itself ----------------------------------------------
export const MAX_PUSHED_COUNTS = 10_000;

export const ApiUsagePushSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: 'idempotency key: a push repeated with the same id is counted once' })),
    counts: Type.Array(
      Type.Object(
        {
          tenant: TenantNameSchema,
          minute: Type.Optional(Type.String({ format: 'date-time', description: 'the minute the calls were made in (default: now); floored to the minute' })),
          calls: Count(1_000_000_000, 'API calls'),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_PUSHED_COUNTS },
    ),
  },
  { additionalProperties: false },
);
export type ApiUsagePush = Static<typeof ApiUsagePushSchema>;

export const ApiUsagePushAnswerSchema = Type.Object(
  {
    accepted: Count(MAX_PUSHED_COUNTS, 'counts added'),
    duplicate: Type.Boolean({ description: 'true: a push with this id was counted before; nothing was added' }),
  },
  { additionalProperties: false },
);
export type ApiUsagePushAnswer = Static<typeof ApiUsagePushAnswerSchema>;

// --- GET /v1/tenants/{tenant}/web: exact totals over a range ----------------------------------------------
const WebTotalsProps = {
  requests: Count(MAX_SAFE, 'requests from the access logs'),
  api_calls: Count(MAX_SAFE, 'API calls from the access logs'),
  pushed_api_calls: Count(MAX_SAFE, 'API calls pushed by platforms (POST /v1/usage/api)'),
  bytes: Count(MAX_SAFE, 'response bytes sent by the web server'),
  errors_5xx: Count(MAX_SAFE, '5xx responses'),
};

export const WebUsageSchema = Type.Object(
  {
    tenant: TenantNameSchema,
    from: TimestampSchema,
    to: TimestampSchema,
    ...WebTotalsProps,
    minutes: Type.Array(Type.Object({ minute: TimestampSchema, ...WebTotalsProps }, { additionalProperties: false }), {
      description: 'the minutes with counts in [from, to), oldest first (at most 1440: the totals cover the whole range)',
    }),
  },
  { additionalProperties: false },
);
export type WebUsage = Static<typeof WebUsageSchema>;
export type WebTotals = Omit<WebUsage, 'tenant' | 'from' | 'to' | 'minutes'>;

export const HostWebStatsSchema = Type.Object(
  {
    host: Type.String({ maxLength: 253 }),
    lines: Count(MAX_SAFE),
    unparsed: Count(MAX_SAFE),
    unattributed: Count(MAX_SAFE),
    rotations: Count(MAX_SAFE),
    truncations: Count(MAX_SAFE),
    lost_files: Count(MAX_SAFE),
    lost_bytes: Count(MAX_SAFE),
    backlog_bytes: Count(MAX_SAFE, 'at the latest report'),
  },
  { additionalProperties: false, description: "the access-log reader's counts on a host since the controller first heard of it" },
);
export type HostWebStats = Static<typeof HostWebStatsSchema>;
