// What people see: every command's rendering of real-shaped API answers, with a fixed clock and width.
import { describe, expect, it } from 'vitest';
import { renderAction, renderActions, renderQueued } from '../../../ctl/commands/actions.js';
import { renderAudit } from '../../../ctl/commands/audit.js';
import { renderFairness } from '../../../ctl/commands/fairness.js';
import { renderHost, renderHosts, renderPlans, renderTenant, renderTenants } from '../../../ctl/commands/fleet.js';
import { renderIncidents } from '../../../ctl/commands/incidents.js';
import { CHARTS, defaultStep, renderUsage } from '../../../ctl/commands/usage.js';
import { renderExplain } from '../../../ctl/explain.js';
import type { IncidentDetail } from '../../../shared/wire/api.js';
import { visibleLength } from '../../../ctl/format.js';
import {
  ActionStatusSchema,
  AuditEntrySchema,
  FairnessRankingSchema,
  HostInfoSchema,
  IncidentDetailSchema,
  IncidentSummarySchema,
  PlanEntrySchema,
  SeriesResponseSchema,
  TenantDetailSchema,
  TenantListSchema,
} from '../../../shared/wire/api.js';
import { validator } from '../../../shared/validate.js';
import { ACTIONS, FAIRNESS, HOSTS, INCIDENT, MANUAL_INCIDENT, NOW, PLANS, TENANT, TENANTS, USAGE } from './fixtures.js';
import type { TSchema } from 'typebox';

const view = (width: number) => ({ width, color: false, now: NOW });
const lines = (...l: string[]) => `${l.join('\n')}\n`;
const fits = (text: string, width: number) => text.split('\n').every((l) => visibleLength(l) <= width);

describe('fixtures', () => {
  it.each([
    ['hosts', HostInfoSchema, HOSTS],
    ['tenants', TenantListSchema, [TENANTS]],
    ['tenant', TenantDetailSchema, [TENANT]],
    ['plans', PlanEntrySchema, PLANS],
    ['usage', SeriesResponseSchema, [USAGE]],
    ['fairness', FairnessRankingSchema, [FAIRNESS]],
    ['incident', IncidentDetailSchema, [INCIDENT, MANUAL_INCIDENT]],
    ['actions', ActionStatusSchema, ACTIONS],
  ] as Array<[string, TSchema, unknown[]]>)('%s are what the API answers', (_name, schema, values) => {
    const v = validator(schema);
    for (const value of values) expect(v.problems(value)).toEqual([]);
  });
});

describe('hosts and tenants', () => {
  it('hosts: a row per host; the failing collectors go under the row when the table is too wide', () => {
    expect(renderHosts(HOSTS, view(100))).toBe(
      lines(
        'HOST   LAST REPORT  TENANTS  INCIDENTS  CORES   CPU  MEMORY               PSI CPU/MEM/IO  JAIN',
        'web01  5s ago           120          2      8  413%  20.0 GiB / 32.0 GiB  31.2/-/2.5      0.67',
        '    failing: bandwidth',
        'web02  -                  1          0      -     -  -                    -                  -',
      ),
    );
    expect(renderHosts(HOSTS, view(120)).split('\n')[1]).toBe('web01  5s ago           120          2      8  413%  20.0 GiB / 32.0 GiB  31.2/-/2.5      0.67  bandwidth');
    expect(renderHosts([], view(80))).toContain('no hosts yet');
  });

  it('host: every fact in words, the collectors in a table', () => {
    const out = renderHost(HOSTS[0]!, view(80));
    expect(out).toContain('last report:     2025-01-31 11:59Z (5s ago), seq 4242\n');
    expect(out).toContain('cpu:             413% of one core, out of 800% (8 cores)\n');
    expect(out).toContain('memory:          20.0 GiB used of 32.0 GiB\n');
    expect(out).toContain('io pressure:     some 2.5%, full 1.0% (avg10)\n');
    expect(out).toContain("fairness:        Jain's index 0.671, fair share 5.0%, 20 active tenants\n");
    expect(out).toContain(lines('NAME       STATUS    TIME  ERROR', 'cpu        ok       0.4ms', 'bandwidth  FAILED   3.1ms  nft: command not found', 'inodes     no data    0ms'));
    expect(renderHost(HOSTS[1]!, view(80))).toContain('last report:     never\n');
  });

  it('tenants: plan, weight, debt signed, and how many there are in all', () => {
    expect(renderTenants(TENANTS, view(80))).toBe(
      lines(
        'TENANT  HOST   PLAN   WEIGHT  MANAGED    DEBT  INCIDENTS  LAST SEEN',
        'alice   web01  basic       1  yes      +0.125          1  5s ago',
        'bob     web01  -           1  no       -0.050          0  3m ago',
        '(2 of 5 tenants; --limit shows more)',
      ),
    );
  });

  it('tenant: spec, what its agent reported and the newest sample in units', () => {
    const out = renderTenant(TENANT, view(80));
    expect(out).toContain('users:           alice, 1001\n');
    expect(out).toContain('fairness debt:   +0.125 share-hours\n');
    expect(out).toContain('latest sample, 2025-01-31 11:59Z (5s ago):\n');
    expect(out).toContain('  cpu:             188% of one core\n');
    expect(out).toContain('  memory:          1.50 GiB (anon 1.00 GiB, page cache 512 MiB)\n');
    expect(out).toContain('  io:              read 2.00 MiB/s, write 512 KiB/s, 12/5.5 ops/s\n');
    expect(out).toContain('  share:           dominant 23.4% against a fair share of 5.0%\n');
    expect(out).not.toContain('bandwidth'); // no data, no line
    const unmanaged = renderTenant({ ...TENANT, managed: false, spec: null, debt: -0.5, latest: null }, view(80));
    expect(unmanaged).toContain('managed:         no (reported by its agent, controller)\n');
    expect(unmanaged).toContain('users:           uids 1001\n');
    expect(unmanaged).toContain('-0.500 share-hours (credit)');
  });

  it('plans: caps in units, "-" where there is none', () => {
    expect(renderPlans(PLANS, view(100))).toBe(
      lines(
        'PLAN    CPU    MEMORY     IO READ  IO WRITE  IOPS  PROCESSES  WEIGHT  TENANTS  UPDATED',
        'basic  100%  1.00 GiB  10.0 MiB/s         -  1000        100       1       12  2d ago',
        'pro    400%         -           -         -     -          -       4        0  1h ago',
        '(cpu in % of one core; "-": no cap)',
      ),
    );
  });

  it('plans: an API/MIN column only when a plan caps API calls', () => {
    const withApi = [{ ...PLANS[0]!, plan: { ...PLANS[0]!.plan, api: 600 } }, PLANS[1]!];
    const out = renderPlans(withApi, view(120)).split('\n');
    expect(out[0]).toMatch(/PROCESSES {2}API\/MIN {2}WEIGHT/);
    expect(out[1]).toMatch(/ 100 {6}600 {7}1 /);
    expect(out[2]).toMatch(/ - {8}- {7}4 /);
  });

  it('plans: an INODES column only when a plan caps inodes', () => {
    expect(renderPlans(PLANS, view(120))).not.toMatch(/INODES/);
    const withInodes = [{ ...PLANS[0]!, plan: { ...PLANS[0]!.plan, inodes: 250_000 } }, PLANS[1]!];
    const out = renderPlans(withInodes, view(140)).split('\n');
    expect(out[0]).toMatch(/PROCESSES {2}INODES {2}WEIGHT/);
    expect(out[1]).toMatch(/ 100 +250,?000 +1 /);
    expect(out[2]).toMatch(/ - +- +4 /);
  });
});

describe('usage', () => {
  it('a table of the points with the resources that have data, and a chart with the gap of the missing hour', () => {
    expect(renderUsage(USAGE, CHARTS.cpu, view(60))).toBe(
      lines(
        'alice on web01, 2025-01-31 08:00Z to 2025-01-31 12:00Z, per 1h (hour rollups)',
        'TIME               CPU AVG  CPU MAX   MEM AVG   MEM MAX        READ  WRITE  PROCS  THROTTLE  SAMPLES',
        '2025-01-31 08:00Z    50.0%    80.0%  1.00 GiB  1.00 GiB  1.00 MiB/s  0 B/s     11         0      720',
        '2025-01-31 09:00Z     188%     250%  1.50 GiB  1.75 GiB           -      -     14         1      720',
        '2025-01-31 11:00Z     300%     390%  2.00 GiB  2.00 GiB       0 B/s  0 B/s     17         1      360',
        '',
        'cpu, % of one core: bars are the average per 1h, dots the maximum',
        '500% ┤',
        '     │                                       ············',
        '     │',
        '250% ┤             ············              ▆▆▆▆▆▆▆▆▆▆▆▆',
        '     │                                       ████████████',
        '     │             ████████████              ████████████',
        '     │············ ████████████              ████████████',
        '  0% ┤▆▆▆▆▆▆▆▆▆▆▆▆ ████████████              ████████████',
        '     └────────────────────────────────────────────────────',
        '      2025-01-31 08:00Z                  2025-01-31 11:00Z',
      ),
    );
  });

  it('charts another series on request, or says there is nothing to chart', () => {
    const mem = renderUsage(USAGE, CHARTS.memory, view(60));
    expect(mem).toContain('memory: bars are the average per 1h, dots the maximum\n2.00 GiB ┤');
    expect(renderUsage(USAGE, undefined, view(60))).not.toContain('┤');
    const noCpu = { ...USAGE, series: { memory_current: USAGE.series.memory_current! } };
    expect(renderUsage(noCpu, CHARTS.cpu, view(60))).toContain('no cpu, % of one core data to chart');
    expect(renderUsage({ ...USAGE, times: [], samples: [], series: {} }, CHARTS.cpu, view(60))).toBe(
      lines('alice on web01, 2025-01-31 08:00Z to 2025-01-31 12:00Z, per 1h (hour rollups)', 'no samples in this range'),
    );
  });

  it('shows seconds for raw points and keeps the chart within any width', () => {
    const times = Array.from({ length: 300 }, (_, i) => new Date(NOW - (300 - i) * 5000).toISOString());
    const raw = { ...USAGE, step_seconds: 5, source: 'raw' as const, times, samples: times.map(() => 1), series: { cpu_percent: { unit: '%', avg: times.map((_, i) => i % 50), max: times.map((_, i) => i % 50) } } };
    const out = renderUsage(raw, CHARTS.cpu, view(72));
    expect(out).toContain('per 5s (raw samples)');
    expect(out).toContain('TIME                  CPU AVG  CPU MAX  SAMPLES\n2025-01-31 11:35:00Z       0%       0%        1\n2025-01-31 11:35:05Z     1.0%     1.0%        1\n');
    const chart = out.slice(out.indexOf('cpu, %'));
    expect(fits(chart, 72)).toBe(true);
  });

  it('picks a step that gives at most 30 points', () => {
    expect([defaultStep(3_600_000), defaultStep(86_400_000), defaultStep(7 * 86_400_000), defaultStep(5 * 60_000), defaultStep(400 * 86_400_000)]).toEqual(['2m', '1h', '6h', '10s', '30d']);
  });
});

describe('fairness, incidents, explain, actions', () => {
  it("fairness: Jain's index per host, tenants by debt, shares in percent", () => {
    const out = renderFairness(FAIRNESS, view(140));
    expect(out).toContain(lines('HOST   JAIN NOW  JAIN AVG  JAIN MAX  FAIR SHARE  ACTIVE  ACTIVE AVG', 'web01     0.671       0.7      0.95        5.0%      20        19.5'));
    expect(out).toContain(
      lines(
        'RANK  TENANT  HOST   PLAN   WEIGHT    DEBT  DOMINANT AVG  DOMINANT MAX  FAIR    CPU  MEMORY  IO    NET  INODES    API',
        '   1  alice   web01  basic       1  +0.125         23.4%         41.0%  5.0%  23.4%    4.7%   -  40.0%   30.0%  50.0%',
        '   2  bob     web01  -           1  -0.050          1.0%          2.0%  5.0%   1.0%   0.20%   -      -   10.0%      -',
      ),
    );
    expect(out.startsWith('window 1h (2025-01-31 11:00Z to 2025-01-31 12:00Z), debt half-life 1d\n')).toBe(true);
  });

  it('incidents: the summary cut to the width, or under the row on a narrow terminal', () => {
    const summary = { ...INCIDENT } as Record<string, unknown>;
    delete summary.explanation;
    delete summary.history;
    expect(validator(IncidentSummarySchema).problems(summary)).toEqual([]);
    const wide = renderIncidents([INCIDENT], view(120)).split('\n');
    expect(wide[0]).toBe('ID  STATE  TENANT  HOST   RESOURCE  RULE            STEP        OPENED  UNTIL   SUMMARY');
    expect(wide[1]).toMatch(/^ 7  open   alice   web01  cpu       cpu-fair-share  throttle 1  2h ago  in 30m  alice used 375% of one core over .*…$/);
    expect(wide[1]).toHaveLength(120);
    expect(renderIncidents([INCIDENT], view(80))).toBe(
      lines(
        'ID  STATE  TENANT  HOST   RESOURCE  RULE            STEP        OPENED  UNTIL',
        ' 7  open   alice   web01  cpu       cpu-fair-share  throttle 1  2h ago  in 30m',
        "    summary: alice used 375% of one core over the last 30s, 62% of the server's…",
      ),
    );
    expect(renderIncidents([], view(80))).toBe('no incidents match\n');
  });

  it("explain: whose pressure was seen and the tenant's fairness debt, for the admin", () => {
    const x = {
      ...INCIDENT.explanation,
      contention: {
        contended: true,
        signals: [{ resource: 'cpu', metric: 'others_psi_some_avg10', value: 41, threshold: 20 }],
        detail: '3 other tenants stalled 41% of the time on cpu (weighted by their activity; threshold 20%); the busiest: bob 58%',
      },
      fairness: { debt: 0.42, half_life_seconds: 86_400, text: 'fairness debt of alice: 0.42 share-hours (it has used more than its fair share lately; half-life 1d)' },
    };
    const out = renderExplain({ ...INCIDENT, explanation: x }, view(200));
    expect(out).toContain("Contention\n  Others were kept waiting: other tenants' cpu pressure 41.0% (some avg10, weighted by their activity; threshold 20.0%).\n");
    expect(out).toContain('  Whose pressure: 3 other tenants stalled 41% of the time on cpu (weighted by their activity; threshold 20%); the busiest: bob 58%.\n');
    expect(out).toContain('Fairness\n  Fairness debt of alice: 0.42 share-hours (it has used more than its fair share lately; half-life 1d).\n');
  });

  it("explain: an api_cap incident's contention is the web server's saturation, or says it could not be read", () => {
    const api = (contention: IncidentDetail['explanation']['contention']) =>
      renderExplain({ ...INCIDENT, resource: 'api', rule: 'api_cap', explanation: { ...INCIDENT.explanation, resource: 'api', rule: 'api_cap', contention } }, view(200));
    expect(api({ contended: true, signals: [{ resource: 'api', metric: 'listen_queue', value: 12, threshold: 8 }], detail: 'longest accept queue 12 connection(s) at /run/php/php8.2-fpm.sock (threshold 8)' })).toContain(
      'Contention\n  The web server was saturated: web server accept queue 12 connection(s) waiting (saturated from 8).\n',
    );
    expect(api({ contended: false, signals: [{ resource: 'api', metric: 'listen_queue', value: 0, threshold: 8 }] })).toContain('The web server was not saturated: web server accept queue 0 connection(s) waiting');
    expect(api({ contended: false, signals: [] })).toContain("The web server's saturation could not be read (no contention signal; the plan's cap alone decides).");
  });

  it('explain: every part of the explanation in words, and the history', () => {
    const out = renderExplain(INCIDENT, view(80));
    expect(fits(out, 80)).toBe(true);
    expect(out.startsWith('Incident 7: alice on web01, cpu, rule cpu-fair-share\nstate:     open, throttle level 1\n')).toBe(true);
    expect(out).toContain('until:     2025-01-31 12:30Z (in 30m)\n');
    expect(out).toContain('\nWhat happened\n  alice used 375% of one core over the last 30s,');
    expect(out).toContain(
      lines('Measured against the threshold', '  measured:   375% of one core on average over 30s', '  threshold:  150% of one core, the fair-share threshold, 2.5 x the threshold'),
    );
    expect(out).toContain("Share of the host\n  alice took 62.0% of the tenants' cpu use, against a fair share of 25.0% (plan\n  weight 1); up to 2 x that (50.0%) is allowed while the host is contended.");
    expect(out).toContain('Contention\n  The host was contended: cpu pressure 42.5% (some avg10; threshold 20.0%).\n');
    expect(out).toContain(
      lines(
        'Top processes at that moment',
        '   PID   CPU       RSS  USER   COMMAND',
        '  4242  180%   100 MiB  alice  php-fpm: pool alice',
        '  4243  151%  50.0 MiB  -      /usr/bin/php /home/alice/public_html/wp-cron.php',
      ),
    );
    expect(out).toContain('What was done\n  Throttled (level 1): cpu limited to 187.5% of one core, and its scheduling\n  weight lowered.\n  Until 2025-01-31 12:30Z (in 30m).\n  Limits: cpu_percent 187.5.\n');
    expect(out).toContain('What would have avoided it\n  Keeping cpu use below about 150% of one core');
    expect(out).toContain(
      lines(
        'History (2 events)',
        '  2025-01-31 10:00:00Z  opened     notice',
        '      alice used 375% of one core while the server was contended.',
        '  2025-01-31 11:00:00Z  escalated  throttle level 1, until 2025-01-31 12:30Z',
      ),
    );
  });

  it('explain: a manual action says who and why instead of a measurement', () => {
    const out = renderExplain(MANUAL_INCIDENT, view(100));
    expect(out).toContain('Incident 8: alice on web01, cpu, rule manual (manual)\nstate:     released 2025-01-31 11:50Z (10m ago)\n');
    expect(out).toContain('Why\n  An administrator applied this by hand: "abuse ticket 4711" (by admin).\n');
    expect(out).not.toContain('Measured against');
    expect(out).not.toContain('Contention');
    expect(out).toContain('  2025-01-31 11:00:00Z  escalated  throttle level 1, until 2025-01-31 12:30Z\n      by admin: abuse ticket 4711\n');
  });

  it('actions: short ids, the state, the reason (with the agent\'s message when it failed)', () => {
    expect(renderActions(ACTIONS, view(120))).toBe(
      lines(
        'ID        TENANT  HOST   ACTION      STATE    SINCE    EXPIRES  BY     REASON',
        '5cac64da  alice   web01  throttle 2  applied  30s ago  in 1h    admin  abuse ticket 4711: the wp-cron job loops',
        '01db9eca  bob     web01  quarantine  failed   59m ago  -        ops    malware found [cgroup.freeze: no such file]',
      ),
    );
    expect(renderQueued({ ...ACTIONS[0]!, state: 'pending' }, true, view(200))).toBe(
      lines(
        'queued throttle level 2 of alice on web01 until 2025-01-31 13:59Z (in 1h): "abuse ticket 4711: the wp-cron job loops"',
        'action 5cac64da-a7b7-42a2-a0d6-8e8c45ce517e is pending: the agent applies it when it next pulls its policy ("hostwardenctl actions --tenant alice" shows its state)',
      ),
    );
    expect(renderQueued({ ...ACTIONS[0]!, expires_at: undefined }, false, view(200))).toContain("for the agent's default time (no --ttl)");
    const one = renderAction(ACTIONS[1]!, view(80));
    expect(one).toContain('state:    failed since 2025-01-31 11:01Z (59m ago): the agent could not apply it\n');
    expect(one).toContain('message:  cgroup.freeze: no such file\n');
  });

  it('audit: who did what, when, with what answer', () => {
    const entry = { id: 1, at: '2025-01-31T11:59:58.000Z', who: 'admin', method: 'POST', path: '/v1/tenants/alice/actions', status: 201, ip: '127.0.0.1', detail: '{"action":"throttle"}' };
    expect(validator(AuditEntrySchema).problems(entry)).toEqual([]);
    expect(renderAudit([entry], view(120))).toBe(
      lines('TIME                  WHO    STATUS  METHOD  PATH                       FROM       DETAIL', '2025-01-31 11:59:58Z  admin     201  POST    /v1/tenants/alice/actions  127.0.0.1  {"action":"throttle"}'),
    );
  });
});
