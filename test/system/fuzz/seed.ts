// Baseline rows for a fuzz run (and again on a fresh state dir): two plans, a managed tenant on each host, a
// report from each host with samples, a tenant directory and an incident (so incidents and notices exist), and
// a manual action. Sent through the run like any request, so they are counted and checked too.
import { EXPLANATION } from '../../unit/ctl/fixtures.js';
import { HOST_A, HOST_B, type Who } from './fuzz-controller.js';
import type { JsonIsh } from './json-ish.js';
import type { RawOutcome } from './raw-http.js';
import type { FuzzRequest } from './requests.js';
import type { Pools } from './routes.js';

/** What seeding needs of a run: to send a request as part of it, and its pools of known ids. */
export interface Exchanger {
  exchange(req: FuzzRequest): Promise<{ outcome: RawOutcome }>;
  readonly pools: Pools;
}

const json = (value: JsonIsh) => ({ value, contentType: 'application/json', bad: 0 });
const req = (route: string, method: string, target: string, who: Who, body?: JsonIsh): FuzzRequest => ({ route, method, target, who, headers: [], ...(body !== undefined ? { body: json(body) } : {}), notes: ['seed'] });

function report(host: string, seq: number, tenants: [string, string]): JsonIsh {
  const now = Date.now();
  const at = new Date(now - 60_000).toISOString();
  return {
    version: 1,
    host,
    seq,
    at,
    sent_at: new Date(now).toISOString(),
    interval: 5,
    host_stats: { cores: 4, memory_bytes: 16 * 1024 ** 3, cpu_percent: 250, pressure: { cpu: { some: { avg10: 30, avg60: 20, avg300: 10, total: 12345 } } } },
    samples: tenants.map((tenant, i) => ({ tenant, cpu: { percent: 100 + i * 50 }, memory: { current: 1024 ** 3, anon: 512 * 1024 ** 2, file: 512 * 1024 ** 2 }, processes: { count: 10 } })),
    tenants: tenants.map((name) => ({ name, email: `${name}@example.com`, plan: 'basic', source: 'config' })),
    events: [{ id: `seed-${host}-${seq}`, incident: `seed-${host}-${seq}`, tenant: tenants[1], resource: 'cpu', rule: 'cpu-fair-share', type: 'opened', step: 'throttle', level: 1, at, explanation: EXPLANATION as unknown as JsonIsh }],
  };
}

export async function seedFixtures(run: Exchanger): Promise<void> {
  const seq = Date.now() % 2 ** 40;
  const steps: FuzzRequest[] = [
    req('PUT /v1/plans/{plan}', 'PUT', '/v1/plans/basic', 'admin', { cpu: 100, memory: 1024 ** 3, weight: 1 }),
    req('PUT /v1/plans/{plan}', 'PUT', '/v1/plans/gold', 'admin', { cpu: 400, processes: 500, weight: 4 }),
    req('PUT /v1/tenants/{tenant}', 'PUT', '/v1/tenants/alice', 'admin', { users: ['alice'], plan: 'basic', host: HOST_A, email: 'alice@example.com' }),
    req('PUT /v1/tenants/{tenant}', 'PUT', '/v1/tenants/bob', 'admin', { users: ['bob', 1001], plan: 'gold', host: HOST_B, email: 'bob@example.com' }),
    req('POST /v1/reports', 'POST', '/v1/reports', 'hostA', report(HOST_A, seq, ['alice', 'carol'])),
    req('POST /v1/reports', 'POST', '/v1/reports', 'hostB', report(HOST_B, seq, ['bob', 'dave'])),
    req('POST /v1/tenants/{tenant}/actions', 'POST', '/v1/tenants/alice/actions', 'admin', { action: 'throttle', level: 1, reason: 'fuzz seed', ttl: '1h' }),
    // Signed links to two tenants' pages, so /t/{token} requests reach the tenant pages' handlers.
    req('POST /v1/tenants/{tenant}/links', 'POST', '/v1/tenants/alice/links', 'admin', {}),
    req('POST /v1/tenants/{tenant}/links', 'POST', '/v1/tenants/bob/links', 'admin', {}),
  ];
  for (const r of steps) {
    const s = await run.exchange(r);
    if (s.outcome.kind !== 'answer' || s.outcome.status >= 300) {
      throw new Error(`seeding: ${r.method} ${r.target} answered ${s.outcome.kind === 'answer' ? `${s.outcome.status} ${s.outcome.body.toString('utf8').slice(0, 300)}` : s.outcome.kind}`);
    }
  }
  if (run.pools.links.size === 0) throw new Error('seeding: no tenant link token came back from POST /v1/tenants/{tenant}/links');
  await refreshPools(run);
}

/** Incident and notice ids as they are now (reports of the run open incidents and queue notices). */
export async function refreshPools(run: Exchanger): Promise<void> {
  const ids = async (target: string, route: string, key: string): Promise<number[]> => {
    const s = await run.exchange(req(route, 'GET', target, 'admin'));
    if (s.outcome.kind !== 'answer' || s.outcome.status !== 200) return [];
    const list = (JSON.parse(s.outcome.body.toString('utf8')) as Record<string, Array<{ id: number }>>)[key] ?? [];
    return list.map((x) => x.id);
  };
  for (const id of await ids('/v1/incidents?limit=200', 'GET /v1/incidents', 'incidents')) run.pools.incidents.add(id);
  for (const id of await ids('/v1/notices?limit=200', 'GET /v1/notices', 'notices')) run.pools.notices.add(id);
}
