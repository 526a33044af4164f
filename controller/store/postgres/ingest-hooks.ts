// The ingest hooks on PostgreSQL: they run synchronously inside the report's transaction (store.ts), so what
// they may read of the notices' outbox is loaded first into a SnapshotNoticeTx (notice-snapshot.ts): the
// contacts of the events' tenants, the notice levels of their incidents, the tenants' rate marks, the cap
// slots and queues, the notices of these events that exist, and ids for the new ones. What the hooks wrote is
// written before the transaction commits (writeSnapshot).
import type pg from 'pg';
import { SnapshotNoticeTx } from '../notice-snapshot.js';
import { contactFromRow } from '../notice-keys.js';
import type { IncidentEventsHook, NewIncidentEvent } from '../store.js';
import { takeNoticeIds, writeSnapshot, type PgNotices } from './notices.js';

/**
 * Rate marks loaded by key prefix: a key under a loaded prefix that has no row is known to be absent (so the
 * snapshot answers undefined rather than "not loaded"). The outbox's keys of a tenant start with
 * `step<US>tenant<US>` and `digest<US>tenant` (controller/notices/rate.ts).
 */
class PrefixMarks extends Map<string, number> {
  constructor(
    rows: Iterable<[string, number]>,
    private readonly prefixes: readonly string[],
  ) {
    super(rows);
  }
  override has(key: string): boolean {
    return super.has(key) || this.prefixes.some((p) => key.startsWith(p));
  }
}

const US = '\u001f';

export async function runIncidentHooks(
  c: pg.PoolClient,
  hooks: ReadonlySet<IncidentEventsHook>,
  notices: PgNotices,
  hostName: string,
  events: NewIncidentEvent[],
  now: number,
  afterCommit: Array<() => void>,
): Promise<void> {
  if (!hooks.size || !events.length) return;
  const tenants = [...new Set(events.map((e) => e.event.tenant))];
  const contacts = new Map(tenants.map((t) => [t, contactFromRow(undefined)]));
  for (const r of (await c.query<{ name: string; spec: string | null; reported: string | null }>('SELECT name, spec, reported FROM tenants WHERE name = ANY($1::text[])', [tenants])).rows) {
    contacts.set(r.name, contactFromRow(r));
  }
  const incidentIds = [...new Set(events.map((e) => e.incident.id))];
  const levels = new Map(incidentIds.map((id) => [id, -1]));
  for (const r of (await c.query<{ incident_id: number; m: number }>("SELECT incident_id, max(level) AS m FROM notices WHERE kind = 'event' AND incident_id = ANY($1::bigint[]) GROUP BY incident_id", [incidentIds])).rows) {
    levels.set(r.incident_id, r.m);
  }
  const prefixes = tenants.flatMap((t) => [`step${US}${t}${US}`, `digest${US}${t}`]);
  const marks = await c.query<{ key: string; last_at: number }>('SELECT key, last_at FROM notice_limits WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS p WHERE starts_with(key, p))', [prefixes]);
  const prefix = `event:${hostName}:`;
  const sources = events.map((e) => `${prefix}${e.event.id}`);
  const existing = new Set((await c.query<{ source: string }>('SELECT source FROM notices WHERE source = ANY($1::text[])', [sources])).rows.map((r) => r.source));
  const tx = new SnapshotNoticeTx({
    contacts,
    levels,
    marks: new PrefixMarks(marks.rows.map((r) => [r.key, r.last_at]), prefixes),
    ...(await notices.capState(c)),
    enqueue: { prefix, existing, ids: await takeNoticeIds(c, events.length) },
  });
  for (const hook of hooks) hook(events, { now, notices: tx, afterCommit: (fn) => void afterCommit.push(fn) });
  await writeSnapshot(c, tx);
}
