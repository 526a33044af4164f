// Trust boundaries between hosts (DESIGN 8): what an agent's report may touch, and the limits on the tenants
// agents add on their own. The rules themselves are applied by the store (store/sqlite/trust.ts); this module
// holds their vocabulary and the `tenants` section of controller.yaml.
//
// A tenant of host H is
//   - a managed tenant (PUT /v1/tenants/{t} by an admin) whose host is H: only an admin moves it (PUT host);
//   - an unmanaged tenant (reported by an agent, never PUT) that H reported first. It stays H's while H is
//     quiet; it expires after `tenants.unmanaged_ttl` unseen, after which any host may report it again.
// A report of host A is taken item by item: samples, directory entries, incident events and action
// acknowledgements for another host's tenants are refused (kind cross_host), new unmanaged tenants past
// `tenants.max_per_host` are refused (unmanaged_cap), an event whose `manual` field does not name an action the
// controller queued for that tenant on host A is refused (forged_manual). The rest of the report is stored.
import type { Section } from '../shared/config.js';

/** Why one item of a report was refused (the label `kind` of hostwarden_report_items_rejected_total). */
export const REJECTION_KINDS = ['cross_host', 'unmanaged_cap', 'forged_manual'] as const;
export type RejectionKind = (typeof REJECTION_KINDS)[number];

/** One refused item: its JSON pointer in the report (/samples/3, /tenants/0, /events/2, /acks/1) and why. */
export interface ItemRejection {
  kind: RejectionKind;
  path: string;
  message: string;
}

/** The items of one report that were refused: counts by kind, and the first MAX_LISTED_REJECTIONS named. */
export interface Rejections {
  counts: Record<RejectionKind, number>;
  items: ItemRejection[];
}

/** How many refused items a report's answer names (all are counted). */
export const MAX_LISTED_REJECTIONS = 100;

export interface TenantLimits {
  /** An unmanaged tenant no report has mentioned for this long is deleted (0: never). */
  unmanagedTtlMs: number;
  /** Unmanaged tenants one host may have; new names past it are refused. */
  maxUnmanagedPerHost: number;
}

export const DEFAULT_TENANT_LIMITS: TenantLimits = { unmanagedTtlMs: 30 * 86_400_000, maxUnmanagedPerHost: 5000 };

export const TENANTS_CONFIG_REFERENCE = `tenants:                                     # tenants agents report without an admin's PUT /v1/tenants (unmanaged)
  unmanaged_ttl: 30d                         # deleted after this long unseen (no sample, directory entry); 0 = never;
                                             # their history stays until retention drops it
  max_per_host: 5000                         # unmanaged tenants per host; new names past it are refused and counted
`;

/** The `tenants` section of controller.yaml. */
export function parseTenantsConfig(s: Section): TenantLimits {
  const limits: TenantLimits = {
    unmanagedTtlMs: s.duration('unmanaged_ttl', '30d', { min: 0 }),
    maxUnmanagedPerHost: s.number('max_per_host', DEFAULT_TENANT_LIMITS.maxUnmanagedPerHost, { min: 1, max: 1_000_000, integer: true }),
  };
  if (limits.unmanagedTtlMs !== 0 && limits.unmanagedTtlMs < 3_600_000) s.fail('unmanaged_ttl', 'must be 0 (never) or at least 1h (an agent sends its directory hourly)');
  s.done();
  return limits;
}

/** An empty tally of refused items. */
export function noRejections(): Rejections {
  return { counts: { cross_host: 0, unmanaged_cap: 0, forged_manual: 0 }, items: [] };
}

/** The number of refused items in a tally. */
export function rejectedTotal(r: Rejections | undefined): number {
  if (!r) return 0;
  let n = 0;
  for (const k of REJECTION_KINDS) n += r.counts[k];
  return n;
}
